// The Lua scripts that write the Redis history (redis-history.ts). Every write finds the call (room life) or session
// it belongs to and changes it in one script, so two nodes writing one room's entries at once never both open a call,
// never both close one session, and never see a half-written session.
//
// Keys, under the store's prefix and 'h:' (ids come from one counter, h:seq):
//   h:apps                    set    apps with history (prune walks them)
//   h:open-call:<app>         hash   '<1|0>:<roomId>' → the room's open call id (1: integer room)
//   h:room:<app>:<1|0>:<room> zset   call id by creation time: a room's lives (call() and rooms(roomId) read it)
//   h:call-end:<app>          zset   call id by dismissal time, +inf while open: rooms() and scale() take those
//                                    that ended after the range's start, prune() those that ended before the window
//   h:call:<id>               hash   sdkAppId roomId numeric createdAt creator implicit [destroyedAt]
//   h:sessions:<call>         zset   session id by joining time
//   h:session-end:<app>       zset   session id by leaving time, +inf while in
//   h:session:<id>            hash   call sdkAppId room userId source role address joinedAt [leftAt exitReason w h]
//   h:open:<call>:<userId>    list   the userid's open sessions in the call, oldest first (exits leave in order)
//   h:ev:<session>            zset   events by time; member '<seq>|kind|reason|width|height' (seq keeps order)
//   h:smp:<session>           zset   media samples by time; member '<seq>|<facts JSON>'
//
// Every key a script touches gets a TTL of history.retentionDays from that write, and a sample refreshes the keys of
// its session and call: a key nobody wrote for the retention window expires on its own, even if no node ever prunes.

/** Skew allowed between two nodes' clocks and write queues when matching a late entry to a room life (ms). */
export const SKEW_MS = 5000;

/** ARGV: prefix (with 'h:'), ttl ms, the entry's JSON (history.ts HistoryEntry, or a sample header). */
const COMMON = `
local P, TTL = ARGV[1], tonumber(ARGV[2])
local e = cjson.decode(ARGV[3])
local SKEW = ${SKEW_MS}
local function key(...) return P .. table.concat({...}, ':') end
local function touch(k) redis.call('PEXPIRE', k, TTL) end
local n = e.numericRoom and '1' or '0'
local app = string.format('%d', e.sdkAppId)
local at = e.at
local roomIndex = key('room', app, n, e.roomId)
local openCalls = key('open-call', app)
local field = n .. ':' .. e.roomId
local callEnds = key('call-end', app)
local sessionEnds = key('session-end', app)

local function seq() return string.format('%015d', redis.call('INCR', key('seq'))) end
local function openCall() return redis.call('HGET', openCalls, field) end

local function newCall(creator, implicit)
  local id = tostring(redis.call('INCR', key('seq')))
  local ck = key('call', id)
  redis.call('HSET', ck, 'sdkAppId', app, 'roomId', e.roomId, 'numeric', n, 'createdAt', at, 'creator', creator, 'implicit', implicit)
  redis.call('ZADD', roomIndex, at, id)
  redis.call('ZADD', callEnds, '+inf', id)
  redis.call('HSET', openCalls, field, id)
  redis.call('SADD', key('apps'), app)
  touch(ck) touch(roomIndex) touch(callEnds) touch(openCalls) touch(key('apps'))
  return id
end

-- Nobody stays in a room that ends: sessions still open leave with it (no reason). Their open lists stay, so an
-- exit written late by another node still finds its session and records its reason.
local function endCall(id)
  for _, sid in ipairs(redis.call('ZRANGE', key('sessions', id), 0, -1)) do
    local sk = key('session', sid)
    if redis.call('EXISTS', sk) == 1 and redis.call('HEXISTS', sk, 'leftAt') == 0 then
      redis.call('HSET', sk, 'leftAt', at)
      redis.call('ZADD', sessionEnds, at, sid)
      touch(sk)
    end
  end
  local ck = key('call', id)
  redis.call('HSET', ck, 'destroyedAt', at)
  redis.call('ZADD', callEnds, at, id)
  touch(ck) touch(callEnds)
  if redis.call('HGET', openCalls, field) == id then redis.call('HDEL', openCalls, field) end
end

local function latestCall() return redis.call('ZREVRANGE', roomIndex, 0, 0)[1] end

-- The call an exit or a track change belongs to: the open one, else the last one if it ended just now (the
-- dismissal, decided on another node, was written before this node's last entries of it).
local function callOfLate()
  local id = openCall()
  if id then return id end
  id = latestCall()
  if not id then return nil end
  local ended = tonumber(redis.call('HGET', key('call', id), 'destroyedAt'))
  if ended and at <= ended + SKEW then return id end
  return nil
end

local function addEvent(sid, kind, reason, w, h)
  local ek = key('ev', sid)
  redis.call('ZADD', ek, at, seq() .. '|' .. kind .. '|' .. reason .. '|' .. w .. '|' .. h)
  touch(ek)
end
`;

/** Applies one HistoryEntry. Returns nothing the caller needs. */
export const WRITE_ENTRY = `${COMMON}
if e.kind == 'room-created' then
  -- The room's creation is decided once across nodes (the census), but another node's first entry may be written
  -- before it and create the life implicitly: that life is this one, so it is adopted, not ended.
  local last = latestCall()
  if last then
    local ck = key('call', last)
    local c = redis.call('HMGET', ck, 'implicit', 'createdAt', 'destroyedAt')
    local ended = tonumber(c[3])
    if c[1] == '1' and tonumber(c[2]) >= at - SKEW and (ended == nil or ended >= at) then
      redis.call('HSET', ck, 'implicit', '0', 'creator', e.userId)
      if tonumber(c[2]) > at then
        redis.call('HSET', ck, 'createdAt', at)
        redis.call('ZADD', roomIndex, at, last)
      end
      return 1
    end
  end
  -- A room has one life at a time: one still open was never dismissed (its nodes died), and ends now.
  local open = openCall()
  if open then endCall(open) end
  newCall(e.userId, '0')
  return 1
elseif e.kind == 'room-dismissed' then
  local open = openCall()
  if open then endCall(open) end
  return 1
elseif e.kind == 'user-entered' then
  -- A user can only enter a room that exists: without its creation on record, the entry creates it.
  local id = openCall() or newCall(e.userId, '1')
  local sid = tostring(redis.call('INCR', key('seq')))
  local sk = key('session', sid)
  redis.call('HSET', sk, 'call', id, 'sdkAppId', app, 'room', field, 'userId', e.userId, 'source', e.source, 'role', e.role,
    'address', e.address, 'joinedAt', at)
  local sessions, open = key('sessions', id), key('open', id, e.userId)
  redis.call('ZADD', sessions, at, sid)
  redis.call('ZADD', sessionEnds, '+inf', sid)
  redis.call('RPUSH', open, sid)
  touch(sk) touch(sessions) touch(open) touch(sessionEnds)
  addEvent(sid, 'entered', '', '', '')
  return 1
elseif e.kind == 'user-exited' then
  local id = callOfLate()
  if not id then return 0 end
  local sid = redis.call('LPOP', key('open', id, e.userId))
  if not sid then return 0 end
  local sk = key('session', sid)
  if redis.call('EXISTS', sk) == 0 then return 0 end
  redis.call('HSET', sk, 'leftAt', at, 'exitReason', e.reason)
  redis.call('ZADD', sessionEnds, at, sid)
  touch(sk)
  addEvent(sid, 'exited', e.reason, '', '')
  return 1
elseif e.kind == 'track' then
  local id = callOfLate()
  if not id then return 0 end
  local sid = redis.call('LINDEX', key('open', id, e.userId), 0)
  if not sid then return 0 end
  addEvent(sid, e.track .. (e.on and '-on' or '-off'), '', '', '')
  return 1
end
return redis.error_reply('unknown history entry kind ' .. tostring(e.kind))
`;

/**
 * Files one media sample with its session (ARGV[3]: sdkAppId roomId numericRoom userId at width height, width -1
 * without video; ARGV[4]: the facts to keep), and a 'resolution' event when the picture size changed.
 */
export const WRITE_SAMPLE = `${COMMON}
local id = openCall()
if not id then return 0 end
local open = key('open', id, e.userId)
local sid = redis.call('LINDEX', open, 0)
if not sid then return 0 end
local sk = key('session', sid)
if e.width >= 0 then
  local last = redis.call('HMGET', sk, 'w', 'h')
  local w, h = tostring(e.width), tostring(e.height)
  if last[1] and (last[1] ~= w or last[2] ~= h) then addEvent(sid, 'resolution', '', w, h) end
  redis.call('HSET', sk, 'w', w, 'h', h)
end
local mk = key('smp', sid)
redis.call('ZADD', mk, at, seq() .. '|' .. ARGV[4])
-- a long room with no new call or session keeps its indexes alive through its samples
touch(mk) touch(sk) touch(open) touch(key('call', id)) touch(key('sessions', id)) touch(key('ev', sid)) touch(roomIndex)
touch(openCalls) touch(callEnds) touch(sessionEnds) touch(key('apps'))
return 1
`;
