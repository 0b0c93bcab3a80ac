// The cluster's room census in Redis (store.kind 'redis'): every node files its sessions here, and one Lua script per
// join or leave decides atomically what the app hears, so 101/102 fire once per room lifetime and 103/104 once per
// userid however many nodes hold the room's sessions, and two nodes ending the same session never both report it.
//
// Keys, under the store's prefix:
//   room:<roomKey>             hash  sessionId → the session's record (JSON)
//   room:<roomKey>:u:<userId>  hash  sessionId → role, for the userid's role across its sessions (105)
//   node-sessions:<node>       hash  sessionId → record, so survivors find a dead node's sessions
//   rooms                      set   of room keys with sessions

import { roomKey } from '../room/room-ref.js';
import type { RedisConnection } from './redis-connection.js';
import type { CensusJoin, CensusLeave, MemberRecord, RoomCensus } from './store.js';

type Role = 'anchor' | 'audience' | '';

const ROLE_OF = `
local function roleOf(key)
  local r = ''
  for _, v in ipairs(redis.call('HVALS', key)) do
    if v == 'anchor' then return 'anchor' end
    r = 'audience'
  end
  return r
end
`;

// KEYS: room, user, node, rooms. ARGV: sessionId, role, record, roomKey.
const JOIN = `${ROLE_OF}
local created = 0
if redis.call('HLEN', KEYS[1]) == 0 then created = 1 end
local before = roleOf(KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
return {created, before, roleOf(KEYS[2])}
`;

// KEYS: room, user, node, rooms. ARGV: sessionId, roomKey.
const LEAVE = `${ROLE_OF}
redis.call('HDEL', KEYS[3], ARGV[1])
local role = redis.call('HGET', KEYS[2], ARGV[1])
if not role then return {0, '', '', '', 0} end
local before = roleOf(KEYS[2])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
local emptied = 0
if redis.call('HLEN', KEYS[1]) == 0 then
  emptied = 1
  redis.call('SREM', KEYS[4], ARGV[2])
end
return {1, role, before, roleOf(KEYS[2]), emptied}
`;

export class RedisCensus implements RoomCensus {
  constructor(private readonly c: RedisConnection) {}

  private keys(rk: string, userId: string, node: string): string[] {
    return [this.c.key('room', rk), this.c.key('room', rk, 'u', userId), this.c.key('node-sessions', node), this.c.key('rooms')];
  }

  async join(rec: MemberRecord & { node: string }): Promise<CensusJoin> {
    const rk = roomKey(rec);
    const [created, before, after] = (await this.c.lua(JOIN, this.keys(rk, rec.userId, rec.node), [rec.sessionId, rec.role, JSON.stringify(rec), rk])) as [number, Role, Role];
    return { roomCreated: created === 1, roleBefore: before, roleAfter: after as 'anchor' | 'audience' };
  }

  async leave(rec: { sdkAppId: number; roomId: string; numericRoom: boolean; userId: string; sessionId: string; node: string }): Promise<CensusLeave> {
    const rk = roomKey(rec);
    const [left, role, before, after, emptied] = (await this.c.lua(LEAVE, this.keys(rk, rec.userId, rec.node), [rec.sessionId, rk])) as [number, Role, Role, Role, number];
    return { left: left === 1, role, roleBefore: before, roleAfter: after, roomEmptied: emptied === 1 };
  }

  /** A session moving to another node leaves this node's list only: the taker's join files it under itself. */
  async release(node: string, sessionId: string): Promise<void> {
    await this.c.run((r) => r.hdel(this.c.key('node-sessions', node), sessionId));
  }

  async sessionsOf(node: string): Promise<MemberRecord[]> {
    const all = await this.c.run((r) => r.hvals(this.c.key('node-sessions', node)));
    return all.map((j) => JSON.parse(j) as MemberRecord);
  }

  /** The sessions in one room, on every node. */
  async sessionsIn(ref: { sdkAppId: number; roomId: string; numericRoom: boolean }): Promise<Array<MemberRecord & { node: string }>> {
    return (await this.c.run((r) => r.hvals(this.c.key('room', roomKey(ref))))).map((j) => JSON.parse(j) as MemberRecord & { node: string });
  }

  /** Drops what is left filed under a swept node (sessions a survivor took over are filed under it now). */
  async forgetNode(node: string): Promise<void> {
    await this.c.run((r) => r.del(this.c.key('node-sessions', node)));
  }

  /** The cluster's rooms: each user's session count, and the sessions by role (anchors publish, the audience views). */
  async rooms(): Promise<Array<{ sdkAppId: number; roomId: string; numericRoom: boolean; users: Record<string, number>; anchors: number; audience: number }>> {
    const out = [];
    for (const rk of await this.c.run((r) => r.smembers(this.c.key('rooms')))) {
      const recs = (await this.c.run((r) => r.hvals(this.c.key('room', rk)))).map((j) => JSON.parse(j) as MemberRecord);
      if (recs.length === 0) continue;
      const users: Record<string, number> = {};
      for (const r of recs) users[r.userId] = (users[r.userId] ?? 0) + 1;
      const anchors = recs.filter((r) => r.role === 'anchor').length;
      out.push({ sdkAppId: recs[0].sdkAppId, roomId: recs[0].roomId, numericRoom: recs[0].numericRoom, users, anchors, audience: recs.length - anchors });
    }
    return out;
  }
}
