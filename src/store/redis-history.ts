// The history (history.ts) in the Redis every node shares (store.kind 'redis'): any node writes what happened on it,
// and any node answers for the whole cluster, even for a room created on one node, dismissed on another, with users
// on both. The keys and the write scripts are in redis-history-scripts.ts.
//
// Costs: an entry (101–104, 201–204) is one EVALSHA. A media sample is one EVALSHA too (find the open session, note
// a new picture size, add the sample, refresh TTLs, all inside the script), so one publisher costs 60 /
// history.sampleSeconds commands a minute: 12 at the default 5 s. Reads go through sorted sets bounded by time (the
// calls and sessions that ended after the range's start, or one room's lives, or one call's sessions), never a SCAN.
//
// Retention: each key expires history.retentionDays after its last write, so Redis forgets on its own; prune() (run
// hourly by history-retention.ts) still trims the sorted-set indexes, whose members have no TTL of their own, and the
// old events and samples of sessions that are still going on. Unlike the SQLite history, nothing is closed "at the
// last moment known" when a node starts: the other nodes' rooms are still going on, and a dead node's users leave
// through the census sweep (104 Reason 2), which writes their exits here like any other.

import type { Redis } from 'ioredis';
import type {
  CallKey, DayScale, HistoryEntry, HistoryExitReason, HistoryRole, HistoryStore, MediaSample, Page, RoomRecord, SampleRecord,
  SessionRecord, TimeRange, UserEventKind, UserEventRecord,
} from './history.js';
import type { RedisConnection } from './redis-connection.js';
import { WRITE_ENTRY, WRITE_SAMPLE } from './redis-history-scripts.js';

const DAY_MS = 86_400_000;

interface CallRow {
  id: string;
  sdkAppId: number;
  roomId: string;
  numericRoom: boolean;
  createdAt: number;
  destroyedAt: number | null;
  creator: string;
}

interface SessionRow {
  id: string;
  call: string;
  room: string;
  userId: string;
  source: string;
  role: HistoryRole;
  address: string;
  joinedAt: number;
  leftAt: number | null;
  exitReason: HistoryExitReason | null;
}

export class RedisHistory implements HistoryStore {
  private readonly ttlMs: number;

  constructor(private readonly c: RedisConnection, retentionDays: number) {
    this.ttlMs = retentionDays * DAY_MS;
  }

  private key(...parts: string[]): string {
    return this.c.key('h', ...parts);
  }

  async write(e: HistoryEntry): Promise<void> {
    await this.c.lua(WRITE_ENTRY, [], [this.c.key('h', ''), this.ttlMs, JSON.stringify(e)]);
  }

  async sample(s: MediaSample): Promise<void> {
    const head = { sdkAppId: s.sdkAppId, roomId: s.roomId, numericRoom: s.numericRoom, userId: s.userId, at: s.at, width: s.video?.width ?? -1, height: s.video?.height ?? -1 };
    await this.c.lua(WRITE_SAMPLE, [], [this.c.key('h', ''), this.ttlMs, JSON.stringify(head), JSON.stringify({ v: s.video, a: s.audio })]);
  }

  async rooms(q: TimeRange & { sdkAppId: number; roomId?: string; offset: number; limit: number }): Promise<Page<RoomRecord>> {
    const app = String(q.sdkAppId);
    // One room's lives of both types, or the app's calls that ended after the range began (open ones: +inf).
    const ids = await this.c.run((r) =>
      q.roomId !== undefined
        ? Promise.all(['1', '0'].map((n) => r.zrangebyscore(this.key('room', app, n, q.roomId!), '-inf', q.to))).then((l) => l.flat())
        : r.zrangebyscore(this.key('call-end', app), q.from, '+inf'));
    const calls = (await this.calls(ids)).filter((c) => c.createdAt <= q.to && (c.destroyedAt === null || c.destroyedAt >= q.from));
    calls.sort((a, b) => a.createdAt - b.createdAt || Number(a.id) - Number(b.id));
    return {
      total: calls.length,
      items: calls.slice(q.offset, q.offset + q.limit).map(({ id: _id, ...room }) => room),
    };
  }

  async call(key: CallKey): Promise<{ createdAt: number; destroyedAt: number | null } | undefined> {
    const calls = await this.callsOf(key);
    if (calls.length === 0) return undefined;
    const open = calls.some((c) => c.destroyedAt === null);
    return { createdAt: Math.min(...calls.map((c) => c.createdAt)), destroyedAt: open ? null : Math.max(...calls.map((c) => c.destroyedAt!)) };
  }

  async sessions(q: TimeRange & { call: CallKey; userIds?: readonly string[]; offset: number; limit: number }): Promise<Page<SessionRecord>> {
    const calls = await this.callsOf(q.call);
    const created = new Map(calls.map((c) => [c.id, c.createdAt]));
    const users = q.userIds && new Set(q.userIds);
    const rows = (await this.sessionsOf(calls, q.to)).filter(
      (s) => (s.leftAt === null || s.leftAt >= q.from) && (!users || users.has(s.userId)));
    rows.sort((a, b) => a.joinedAt - b.joinedAt || Number(a.id) - Number(b.id));
    return {
      total: rows.length,
      items: rows.slice(q.offset, q.offset + q.limit).map((s) => ({
        sdkAppId: q.call.sdkAppId,
        roomId: q.call.roomId,
        roomCreatedAt: created.get(s.call)!,
        userId: s.userId,
        source: s.source,
        role: s.role,
        address: s.address,
        joinedAt: s.joinedAt,
        leftAt: s.leftAt,
        exitReason: s.exitReason,
      })),
    };
  }

  async userEvents(q: TimeRange & { call: CallKey; userId: string }): Promise<UserEventRecord[]> {
    const sessions = (await this.sessionsOf(await this.callsOf(q.call), q.to)).filter((s) => s.userId === q.userId);
    const lists = await this.ranges(sessions.map((s) => this.key('ev', s.id)), q);
    const events = lists.flat().map(({ at, member }) => {
      const [seq, kind, reason, width, height] = member.split('|');
      return { seq, at, kind: kind as UserEventKind, reason: (reason || null) as HistoryExitReason | null, width: width ? Number(width) : null, height: height ? Number(height) : null };
    });
    events.sort((a, b) => a.at - b.at || (a.seq < b.seq ? -1 : 1));
    return events.map(({ seq: _seq, ...e }) => e);
  }

  async samples(q: TimeRange & { call: CallKey; userIds: readonly string[] }): Promise<SampleRecord[]> {
    const users = new Set(q.userIds);
    const sessions = (await this.sessionsOf(await this.callsOf(q.call), q.to)).filter((s) => users.has(s.userId));
    const lists = await this.ranges(sessions.map((s) => this.key('smp', s.id)), q);
    const out = lists.flatMap((list, i) =>
      list.map(({ at, member }) => {
        const bar = member.indexOf('|');
        const facts = JSON.parse(member.slice(bar + 1)) as { v: SampleRecord['video']; a: SampleRecord['audio'] };
        const s = sessions[i];
        return {
          seq: member.slice(0, bar),
          sample: { sdkAppId: q.call.sdkAppId, roomId: q.call.roomId, numericRoom: q.call.numericRoom, userId: s.userId, source: s.source, at, video: facts.v, audio: facts.a },
        };
      }));
    out.sort((a, b) => a.sample.at - b.sample.at || (a.seq < b.seq ? -1 : 1));
    return out.map((x) => x.sample);
  }

  async scale(q: TimeRange & { sdkAppId: number }): Promise<DayScale[]> {
    const app = String(q.sdkAppId);
    const [callIds, sessionIds] = await this.c.run((r) => Promise.all([
      r.zrangebyscore(this.key('call-end', app), q.from, '+inf'),
      r.zrangebyscore(this.key('session-end', app), q.from, '+inf'),
    ]));
    const calls = (await this.calls(callIds)).filter((c) => c.createdAt < q.to);
    const sessions = (await this.sessionRows(sessionIds)).filter((s) => s.joinedAt < q.to);
    const out: DayScale[] = [];
    for (let day = q.from; day < q.to; day += DAY_MS) {
      const end = day + DAY_MS;
      const daySessions = sessions.filter((s) => s.joinedAt < end && (s.leftAt === null || s.leftAt >= day));
      const dayCalls = calls.filter((c) => c.createdAt < end && (c.destroyedAt === null || c.destroyedAt >= day));
      const rooms = new Set(dayCalls.map((c) => `${c.numericRoom ? 1 : 0}:${c.roomId}`));
      out.push({ day, users: new Set(daySessions.map((s) => `${s.room}\0${s.userId}`)).size, entries: daySessions.length, rooms: rooms.size });
    }
    return out;
  }

  async prune(before: number): Promise<void> {
    const bound = `(${before}`;
    for (const app of await this.c.run((r) => r.smembers(this.key('apps')))) {
      // Calls that ended before the window, with everything of theirs.
      const callEnds = this.key('call-end', app);
      const calls = await this.calls(await this.c.run((r) => r.zrangebyscore(callEnds, '-inf', bound)));
      const sessionIds = (await this.c.run((r) => pipelined(r, calls.map((c) => ['zrange', this.key('sessions', c.id), 0, -1])))).flat() as string[];
      const callSessions = await this.sessionRows(sessionIds);
      await this.c.run((r) => {
        const p = r.multi();
        for (const c of calls) {
          p.del(this.key('call', c.id), this.key('sessions', c.id));
          p.zrem(this.key('room', app, c.numericRoom ? '1' : '0', c.roomId), c.id);
        }
        for (const s of callSessions) this.dropSession(p, app, s);
        p.zremrangebyscore(callEnds, '-inf', bound);
        return p.exec();
      });
      // Sessions that ended before the window in calls still going on.
      const sessionEnds = this.key('session-end', app);
      const ended = await this.sessionRows(await this.c.run((r) => r.zrangebyscore(sessionEnds, '-inf', bound)));
      // Sessions still in: their events and samples from before the window.
      const open = await this.c.run((r) => r.zrangebyscore(sessionEnds, '+inf', '+inf'));
      await this.c.run((r) => {
        const p = r.multi();
        for (const s of ended) this.dropSession(p, app, s);
        p.zremrangebyscore(sessionEnds, '-inf', bound);
        for (const id of open) {
          p.zremrangebyscore(this.key('ev', id), '-inf', bound);
          p.zremrangebyscore(this.key('smp', id), '-inf', bound);
        }
        return p.exec();
      });
    }
  }

  private dropSession(p: ReturnType<Redis['multi']>, app: string, s: SessionRow): void {
    p.del(this.key('session', s.id), this.key('ev', s.id), this.key('smp', s.id));
    p.zrem(this.key('sessions', s.call), s.id);
    p.zrem(this.key('session-end', app), s.id);
  }

  /** The lives of one call's room created in its second (calls created in the same second are one CommId). */
  private async callsOf(k: CallKey): Promise<CallRow[]> {
    const from = k.createdSec * 1000;
    const ids = await this.c.run((r) => r.zrangebyscore(this.key('room', String(k.sdkAppId), k.numericRoom ? '1' : '0', k.roomId), from, from + 999));
    return this.calls(ids);
  }

  /** The calls' hashes; ids whose hash expired are left out. */
  private async calls(ids: string[]): Promise<CallRow[]> {
    const hashes = await this.c.run((r) => pipelined(r, ids.map((id) => ['hgetall', this.key('call', id)])));
    const out: CallRow[] = [];
    hashes.forEach((h, i) => {
      const f = h as Record<string, string> | null;
      if (!f?.createdAt) return;
      out.push({
        id: ids[i],
        sdkAppId: Number(f.sdkAppId),
        roomId: f.roomId,
        numericRoom: f.numeric === '1',
        createdAt: Number(f.createdAt),
        destroyedAt: f.destroyedAt === undefined ? null : Number(f.destroyedAt),
        creator: f.creator,
      });
    });
    return out;
  }

  /** The sessions of some calls that joined by `to`. */
  private async sessionsOf(calls: CallRow[], to: number): Promise<SessionRow[]> {
    const ids = (await this.c.run((r) => pipelined(r, calls.map((c) => ['zrangebyscore', this.key('sessions', c.id), '-inf', to])))).flat() as string[];
    return this.sessionRows(ids);
  }

  private async sessionRows(ids: string[]): Promise<SessionRow[]> {
    const hashes = await this.c.run((r) => pipelined(r, ids.map((id) => ['hgetall', this.key('session', id)])));
    const out: SessionRow[] = [];
    hashes.forEach((h, i) => {
      const f = h as Record<string, string> | null;
      if (!f?.joinedAt) return;
      out.push({
        id: ids[i],
        call: f.call,
        room: f.room,
        userId: f.userId,
        source: f.source,
        role: f.role as HistoryRole,
        address: f.address,
        joinedAt: Number(f.joinedAt),
        leftAt: f.leftAt === undefined ? null : Number(f.leftAt),
        exitReason: (f.exitReason ?? null) as HistoryExitReason | null,
      });
    });
    return out;
  }

  /** Members of some sorted sets with scores in the range, per set. */
  private async ranges(keys: string[], q: TimeRange): Promise<Array<Array<{ at: number; member: string }>>> {
    const replies = await this.c.run((r) => pipelined(r, keys.map((k) => ['zrangebyscore', k, q.from, q.to, 'WITHSCORES'])));
    return replies.map((reply) => {
      const flat = (reply ?? []) as string[];
      const out = [];
      for (let i = 0; i < flat.length; i += 2) out.push({ member: flat[i], at: Number(flat[i + 1]) });
      return out;
    });
  }
}

/** Runs commands in one round trip; a failed one throws (a reply error is a bug, not missing data). */
async function pipelined(r: Redis, commands: Array<Array<string | number>>): Promise<unknown[]> {
  if (commands.length === 0) return [];
  const replies = (await r.pipeline(commands as string[][]).exec()) ?? [];
  return replies.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
