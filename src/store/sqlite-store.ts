// The durable single-node store (store.kind 'sqlite'): presence, tasks, room members and the callback outbox in the
// store file beside the history, so a restart (SIGTERM or SIGKILL) finds what the previous run left. Records are kept
// as JSON in a row keyed by what the queries need, so a new field needs no migration.
//
// Every method runs its statement synchronously inside its promise: a call is in the file (WAL, committed) before it
// returns, and calls made in order are applied in order. A crash of the process loses nothing that was appended.

import type { SqliteDatabase, SqliteFile } from './sqlite.js';
import type {
  CallbackOutbox, MemberLedger, MemberRecord, OutboxEntry, PresenceRecord, PresenceStore, TaskStore,
} from './store.js';

/** Schema steps (sqlite.ts migrate): append, never edit. */
const MIGRATIONS = [
  `CREATE TABLE state_presence (
     sdk_app_id INTEGER NOT NULL,
     user_id TEXT NOT NULL,
     session_id TEXT NOT NULL,
     rec TEXT NOT NULL,
     PRIMARY KEY (sdk_app_id, user_id)
   );
   CREATE TABLE state_tasks (
     kind TEXT NOT NULL,
     task_id TEXT NOT NULL,
     state TEXT NOT NULL,
     ended_at INTEGER,
     rec TEXT NOT NULL,
     PRIMARY KEY (kind, task_id)
   );
   CREATE INDEX state_tasks_ended ON state_tasks (kind, ended_at) WHERE state = 'ended';
   CREATE TABLE state_members (
     session_id TEXT PRIMARY KEY,
     rec TEXT NOT NULL
   );
   CREATE TABLE state_outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     partition TEXT NOT NULL,
     entry TEXT NOT NULL
   );
   CREATE INDEX state_outbox_by_partition ON state_outbox (partition, seq);`,
];

/** Ended tasks are remembered this long (Stop then answers "already finished"), as in the memory store. */
const ENDED_TASK_RETENTION_MS = 3600_000;

export function migrateState(file: SqliteFile): void {
  file.migrate('state', MIGRATIONS);
}

export class SqlitePresence implements PresenceStore {
  private readonly q;

  constructor(db: SqliteDatabase) {
    this.q = {
      get: db.prepare<[number, string], { rec: string }>('SELECT rec FROM state_presence WHERE sdk_app_id = ? AND user_id = ?'),
      put: db.prepare('INSERT OR REPLACE INTO state_presence (sdk_app_id, user_id, session_id, rec) VALUES (?, ?, ?, ?)'),
      release: db.prepare('DELETE FROM state_presence WHERE sdk_app_id = ? AND user_id = ? AND session_id = ?'),
    };
  }

  async claim(rec: PresenceRecord): Promise<PresenceRecord | undefined> {
    const previous = await this.get(rec.sdkAppId, rec.userId);
    this.q.put.run(rec.sdkAppId, rec.userId, rec.sessionId, JSON.stringify(rec));
    return previous;
  }

  async release(sdkAppId: number, userId: string, sessionId: string): Promise<boolean> {
    return this.q.release.run(sdkAppId, userId, sessionId).changes > 0;
  }

  async get(sdkAppId: number, userId: string): Promise<PresenceRecord | undefined> {
    const row = this.q.get.get(sdkAppId, userId);
    return row && (JSON.parse(row.rec) as PresenceRecord);
  }
}

/** What the task store needs of a record: an id, and whether (and when) it ended. */
interface TaskLike {
  taskId: string;
  state: string;
  endedAt?: number;
}

export class SqliteTasks<R extends TaskLike> implements TaskStore<R> {
  private readonly q;

  /** `kind` names the task table's rows of this store: 'pull', 'recording', 'relay'. */
  constructor(db: SqliteDatabase, private readonly kind: string) {
    this.q = {
      insert: db.prepare('INSERT OR IGNORE INTO state_tasks (kind, task_id, state, ended_at, rec) VALUES (?, ?, ?, ?, ?)'),
      get: db.prepare<[string, string], { rec: string }>('SELECT rec FROM state_tasks WHERE kind = ? AND task_id = ?'),
      put: db.prepare('UPDATE state_tasks SET state = ?, ended_at = ?, rec = ? WHERE kind = ? AND task_id = ?'),
      list: db.prepare<[string], { rec: string }>('SELECT rec FROM state_tasks WHERE kind = ? ORDER BY rowid'),
      prune: db.prepare("DELETE FROM state_tasks WHERE kind = ? AND state = 'ended' AND ended_at < ?"),
    };
  }

  async create(rec: R): Promise<boolean> {
    this.prune();
    return this.q.insert.run(this.kind, rec.taskId, rec.state, rec.endedAt ?? null, JSON.stringify(rec)).changes > 0;
  }

  async update(taskId: string, patch: Partial<Omit<R, 'taskId'>>): Promise<void> {
    const row = this.q.get.get(this.kind, taskId);
    if (!row) return;
    const rec = { ...(JSON.parse(row.rec) as R), ...patch };
    this.q.put.run(rec.state, rec.endedAt ?? null, JSON.stringify(rec), this.kind, taskId);
  }

  async get(taskId: string): Promise<R | undefined> {
    const row = this.q.get.get(this.kind, taskId);
    return row && (JSON.parse(row.rec) as R);
  }

  async list(): Promise<R[]> {
    this.prune();
    return this.q.list.all(this.kind).map((r) => JSON.parse(r.rec) as R);
  }

  private prune(): void {
    this.q.prune.run(this.kind, Date.now() - ENDED_TASK_RETENTION_MS);
  }
}

export class SqliteMembers implements MemberLedger {
  private readonly q;

  constructor(db: SqliteDatabase) {
    this.q = {
      put: db.prepare('INSERT OR REPLACE INTO state_members (session_id, rec) VALUES (?, ?)'),
      remove: db.prepare('DELETE FROM state_members WHERE session_id = ?'),
      all: db.prepare<[], { rec: string }>('SELECT rec FROM state_members ORDER BY rowid'),
    };
  }

  async put(rec: MemberRecord): Promise<void> {
    this.q.put.run(rec.sessionId, JSON.stringify(rec));
  }

  async remove(sessionId: string): Promise<void> {
    this.q.remove.run(sessionId);
  }

  async all(): Promise<MemberRecord[]> {
    return this.q.all.all().map((r) => JSON.parse(r.rec) as MemberRecord);
  }
}

export class SqliteOutbox implements CallbackOutbox {
  // One process alone delivers from this outbox: every partition's lease is its own.
  readonly shared = false;

  async claimPartition(): Promise<boolean> {
    return true;
  }

  async releasePartition(): Promise<void> {}

  private readonly q;

  constructor(db: SqliteDatabase) {
    this.q = {
      append: db.prepare('INSERT INTO state_outbox (id, partition, entry) VALUES (?, ?, ?)'),
      head: db.prepare<[string], { entry: string }>('SELECT entry FROM state_outbox WHERE partition = ? ORDER BY seq LIMIT 1'),
      update: db.prepare('UPDATE state_outbox SET entry = ? WHERE id = ?'),
      remove: db.prepare('DELETE FROM state_outbox WHERE partition = ? AND id = ?'),
      // in the order their oldest entries were queued, so a restart delivers the oldest rooms' backlog first
      partitions: db.prepare<[], { partition: string }>('SELECT partition FROM state_outbox GROUP BY partition ORDER BY min(seq)'),
      size: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM state_outbox'),
    };
  }

  async append(entry: OutboxEntry): Promise<void> {
    this.q.append.run(entry.id, entry.partition, JSON.stringify(entry));
  }

  async head(partition: string): Promise<OutboxEntry | undefined> {
    const row = this.q.head.get(partition);
    return row && (JSON.parse(row.entry) as OutboxEntry);
  }

  async update(entry: OutboxEntry): Promise<void> {
    this.q.update.run(JSON.stringify(entry), entry.id);
  }

  async remove(partition: string, id: string): Promise<void> {
    this.q.remove.run(partition, id);
  }

  async partitions(): Promise<string[]> {
    return this.q.partitions.all().map((r) => r.partition);
  }

  async size(): Promise<number> {
    return this.q.size.get()!.n;
  }
}
