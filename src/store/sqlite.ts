// The gateway's one SQLite file (store.file): state that must outlive a restart. The history keeps its tables here, and
// with store.kind 'sqlite' so does the rest of the store (sqlite-store.ts: presence, tasks, room members, the callback
// outbox). Each module that keeps
// tables here brings them up to date with migrate(module, steps): its own version line in `schema_versions`, so
// modules are added and evolved independently and an older file is upgraded in place.
//
// better-sqlite3 is synchronous: a statement runs on the event loop. The writes are single-row inserts, updates and
// deletes on indexed keys (microseconds in WAL mode); the history's reads are bounded by the API's paging.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

/** The file cannot be opened or is not a roomgate store: one line that names the file and what to do. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(file: string, why: string) {
    super(`roomgate: the store file ${file} cannot be used (${why}); set store.file to a writable path, or move the file away to start empty`);
  }
}

export type SqliteDatabase = Database.Database;

export class SqliteFile {
  private constructor(
    readonly db: SqliteDatabase,
    /** The absolute path, or ':memory:'. */
    readonly path: string,
  ) {}

  /** Opens (creating it and its directory if need be) the file; ':memory:' keeps everything in memory only. */
  static open(file: string): SqliteFile {
    const path = file === ':memory:' ? file : resolve(file);
    let db: SqliteDatabase | undefined;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path);
      // WAL: readers never wait for the writer, and a crash loses at most the last transaction, never the file.
      if (path !== ':memory:') db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode syncs at checkpoints, not every commit: a power cut may lose the last commits, a crash
      // of the process loses none.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      db.exec('CREATE TABLE IF NOT EXISTS schema_versions (module TEXT PRIMARY KEY, version INTEGER NOT NULL)');
    } catch (err) {
      db?.close();
      throw new StoreUnavailableError(path, (err as Error).message);
    }
    return new SqliteFile(db, path);
  }

  /**
   * Runs the steps of `module` that this file has not had yet, each in a transaction with its version bump. Step i
   * takes the module from version i to i + 1; steps are only ever appended. A file from a newer roomgate (more steps
   * than this one knows) is refused rather than misread.
   */
  migrate(module: string, steps: readonly string[]): void {
    const row = this.db.prepare('SELECT version FROM schema_versions WHERE module = ?').get(module) as { version: number } | undefined;
    const have = row?.version ?? 0;
    if (have > steps.length) {
      throw new StoreUnavailableError(this.path, `its ${module} tables are at version ${have}, newer than this roomgate's ${steps.length}`);
    }
    const bump = this.db.prepare('INSERT INTO schema_versions (module, version) VALUES (?, ?) ON CONFLICT(module) DO UPDATE SET version = excluded.version');
    for (let v = have; v < steps.length; v++) {
      this.db.transaction(() => {
        this.db.exec(steps[v]!);
        bump.run(module, v + 1);
      })();
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
