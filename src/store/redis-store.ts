// store.kind 'redis': presence, room members, the three task kinds, the callback outbox and the history of rooms
// (redis-history.ts, which the API 3.0 queries answer from) in a Redis that every gateway node shares
// (store.redisUrl, keys under store.redisPrefix).

import type { Logger } from '../log.js';
import { RedisConnection } from './redis-connection.js';
import { RedisHistory } from './redis-history.js';
import { RedisMembers } from './redis-members.js';
import { RedisOutbox } from './redis-outbox.js';
import { RedisPresence } from './redis-presence.js';
import { RedisTasks } from './redis-tasks.js';
import type { RecordingRecord, RelayRecord, Store, TaskRecord } from './store.js';

export interface RedisStoreOptions {
  redisUrl: string;
  redisPrefix: string;
  /** history.retentionDays: the history's keys expire this long after their last write. */
  historyRetentionDays: number;
  log?: Logger;
}

export function createRedisStore(o: RedisStoreOptions): Store {
  const c = new RedisConnection({ url: o.redisUrl, prefix: o.redisPrefix, log: o.log });
  return {
    kind: 'redis',
    presence: new RedisPresence(c),
    members: new RedisMembers(c),
    tasks: new RedisTasks<TaskRecord>(c, 'pull'),
    recordings: new RedisTasks<RecordingRecord>(c, 'recording'),
    relays: new RedisTasks<RelayRecord>(c, 'relay'),
    outbox: new RedisOutbox(c),
    history: new RedisHistory(c, o.historyRetentionDays),
    problem: () => c.problem(),
    redis: c,
    close: () => c.close(),
  };
}
