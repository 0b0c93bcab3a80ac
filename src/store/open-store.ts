// The store the gateway runs with (config store.kind): 'sqlite' keeps presence, tasks, room members, the callback
// outbox and the history in the store file (store.file), so a restart finds them; 'memory' keeps all but the
// history in memory. Redis (issue 20, many nodes) will be a third kind behind the same interface.

import { SqliteFile } from './sqlite.js';
import { SqliteHistory } from './sqlite-history.js';
import { createMemoryStore } from './memory.js';
import { migrateState, SqliteMembers, SqliteOutbox, SqlitePresence, SqliteTasks } from './sqlite-store.js';
import type { RecordingRecord, RelayRecord, Store, StoreKind, TaskRecord } from './store.js';

/** Throws StoreUnavailableError (one line: the file and what to do) when the file cannot be used. */
export function openStore(o: { kind: StoreKind; file: string }): Store {
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
