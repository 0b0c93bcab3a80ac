// The store the gateway runs with: presence, tasks and the outbox in memory (one node), the history in the store
// file (store.file), so a restart keeps it. Issue 20 moves the rest into the same file.

import { SqliteFile } from './sqlite.js';
import { SqliteHistory } from './sqlite-history.js';
import { createMemoryStore } from './memory.js';
import type { Store } from './store.js';

/** Throws StoreUnavailableError (one line: the file and what to do) when the file cannot be used. */
export function openStore(file: string): Store {
  const sqlite = SqliteFile.open(file);
  try {
    return createMemoryStore({ store: new SqliteHistory(sqlite), close: () => sqlite.close() });
  } catch (err) {
    sqlite.close();
    throw err;
  }
}
