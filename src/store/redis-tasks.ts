// Tasks of one kind (pull, recording, relay) in Redis (store.kind 'redis'). Each task is a hash, one field per
// record field holding that field's JSON, so an update is a plain HSET of the patched fields: atomic with no
// read-modify-write, whichever node makes it. A sorted set by creation time lists them in order. An ended task's hash
// expires an hour after it ended (Stop then answers "already finished", as the other kinds do); list() forgets the
// ids whose hash expired.

import type { RedisConnection } from './redis-connection.js';
import type { TaskStore } from './store.js';

/** Ended tasks are remembered this long, as in the memory and SQLite stores. */
const ENDED_TASK_RETENTION_MS = 3600_000;

/** KEYS: the task's hash, the kind's ordered set. ARGV: task id, creation time, expiry ms or '', field/value pairs. */
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if ARGV[3] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`;

/** KEYS: the task's hash. ARGV: expiry ms or '', field/value pairs. A task that is gone stays gone. */
const UPDATE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
if ARGV[1] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1`;

interface TaskLike {
  taskId: string;
  state: string;
  createdAt: number;
}

export class RedisTasks<R extends TaskLike> implements TaskStore<R> {
  private readonly order: string;

  /** `kind` names this store's keys: 'pull', 'recording', 'relay'. */
  constructor(private readonly c: RedisConnection, private readonly kind: string) {
    this.order = c.key('tasks', kind);
  }

  private keyOf(taskId: string): string {
    return this.c.key('task', this.kind, taskId);
  }

  async create(rec: R): Promise<boolean> {
    const expiry = rec.state === 'ended' ? ENDED_TASK_RETENTION_MS : '';
    const done = await this.c.lua(CREATE, [this.keyOf(rec.taskId), this.order], [rec.taskId, rec.createdAt, expiry, ...fieldPairs(rec)]);
    return done === 1;
  }

  async update(taskId: string, patch: Partial<Omit<R, 'taskId'>>): Promise<void> {
    const expiry = patch.state === 'ended' ? ENDED_TASK_RETENTION_MS : '';
    await this.c.lua(UPDATE, [this.keyOf(taskId)], [expiry, ...fieldPairs(patch)]);
  }

  async get(taskId: string): Promise<R | undefined> {
    const fields = await this.c.run((r) => r.hgetall(this.keyOf(taskId)));
    return fromFields<R>(fields);
  }

  async list(): Promise<R[]> {
    const ids = await this.c.run((r) => r.zrange(this.order, 0, -1));
    if (ids.length === 0) return [];
    const replies = await this.c.run((r) => {
      const p = r.pipeline();
      for (const id of ids) p.hgetall(this.keyOf(id));
      return p.exec();
    });
    const out: R[] = [];
    const expired: string[] = [];
    ids.forEach((id, i) => {
      const [err, fields] = replies?.[i] ?? [null, {}];
      const rec = err ? undefined : fromFields<R>(fields as Record<string, string>);
      if (rec) out.push(rec);
      else if (!err) expired.push(id);
    });
    if (expired.length > 0) await this.c.run((r) => r.zrem(this.order, ...expired));
    return out;
  }
}

/** A record's defined fields as HSET's field/value list, each value its JSON. */
function fieldPairs(rec: object): string[] {
  const pairs: string[] = [];
  for (const [k, v] of Object.entries(rec)) if (v !== undefined) pairs.push(k, JSON.stringify(v));
  return pairs;
}

function fromFields<R>(fields: Record<string, string>): R | undefined {
  const entries = Object.entries(fields);
  if (entries.length === 0) return undefined;
  return Object.fromEntries(entries.map(([k, v]) => [k, JSON.parse(v) as unknown])) as R;
}
