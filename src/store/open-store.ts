// The store the gateway runs with (config store.kind). Where each part lives:
//   'sqlite': presence, tasks, room members, the callback outbox and the history in the store file (store.file), so a
//             restart finds them;
//   'memory': all but the history in memory; the history in the store file (sqlite-history.ts);
//   'redis':  everything, the history too (redis-history.ts), in the Redis at store.redisUrl, shared by every node,
//             so any node answers /api/rooms and the Describe* queries for the whole cluster. store.file is not
//             opened.

import type { Logger } from '../log.js';
import { SqliteFile } from './sqlite.js';
import { SqliteHistory } from './sqlite-history.js';
import { createMemoryStore } from './memory.js';
import { createRedisStore } from './redis-store.js';
import { migrateState, SqliteMembers, SqliteOutbox, SqlitePresence, SqliteTasks } from './sqlite-store.js';
import type { RecordingRecord, RelayRecord, Store, StoreKind, TaskRecord } from './store.js';

export interface OpenStoreOptions {
  kind: StoreKind;
  file: string;
  /** store.kind 'redis': where, and the prefix of every key (default 'roomgate:'). */
  redisUrl?: string;
  redisPrefix?: string;
  /** Where the Redis store reports losing and regaining its connection. */
  log?: Logger;
  /** history.retentionDays: how long the Redis history's keys live after their last write (default 14). */
  historyRetentionDays?: number;
}

/**
 * Throws StoreUnavailableError (one line: the file and what to do) when the file cannot be used. A Redis that is
 * not reachable is no error here: the store's calls fail until it is (Store.problem says why).
 */
export function openStore(o: OpenStoreOptions): Store {
  if (o.kind === 'redis') {
    return createRedisStore({
      redisUrl: o.redisUrl ?? '',
      redisPrefix: o.redisPrefix ?? 'roomgate:',
      historyRetentionDays: o.historyRetentionDays ?? 14,
      ...(o.log ? { log: o.log } : {}),
    });
  }
  const sqlite = SqliteFile.open(o.file);
  try {
    const history = new SqliteHistory(sqlite);
    if (o.kind === 'memory') return createMemoryStore({ store: history, close: () => sqlite.close() });
    migrateState(sqlite);
    const db = sqlite.db;
    return {
      kind: 'sqlite',
      presence: new SqlitePresence(db),
      members: new SqliteMembers(db),
      tasks: new SqliteTasks<TaskRecord>(db, 'pull'),
      recordings: new SqliteTasks<RecordingRecord>(db, 'recording'),
      relays: new SqliteTasks<RelayRecord>(db, 'relay'),
      outbox: new SqliteOutbox(db),
      history,
      close: async () => sqlite.close(),
    };
  } catch (err) {
    sqlite.close();
    throw err;
  }
}
