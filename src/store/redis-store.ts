// store.kind 'redis': presence, room members, the three task kinds and the callback outbox in a Redis that every
// gateway node shares (store.redisUrl, keys under store.redisPrefix). The history of rooms stays in each node's
// SQLite store file for now (the API 3.0 queries answer from it).

import type { Logger } from '../log.js';
import type { HistoryStore } from './history.js';
import { RedisConnection } from './redis-connection.js';
import { RedisMembers } from './redis-members.js';
import { RedisOutbox } from './redis-outbox.js';
import { RedisPresence } from './redis-presence.js';
import { RedisTasks } from './redis-tasks.js';
import type { RecordingRecord, RelayRecord, Store, TaskRecord } from './store.js';

export interface RedisStoreOptions {
  redisUrl: string;
  redisPrefix: string;
  history: { store: HistoryStore; close: () => void };
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
    history: o.history.store,
    problem: () => c.problem(),
    redis: c,
    close: async () => {
      await c.close();
      o.history.close();
    },
  };
}
