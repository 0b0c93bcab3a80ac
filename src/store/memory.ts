// store.kind 'memory': plain maps, answers at once, forgets everything at exit (tests, or a gateway that must keep
// nothing). The history is still SQLite (in the store file when openStore gives one, else in memory).

import type {
  CallbackOutbox, MemberLedger, MemberRecord, OutboxEntry, PresenceRecord, PresenceStore, Store, TaskStore,
} from './store.js';
import type { HistoryStore } from './history.js';
import { SqliteFile } from './sqlite.js';
import { SqliteHistory } from './sqlite-history.js';

/** What the memory task store needs of a record: an id, and whether (and when) it ended. */
interface TaskLike {
  taskId: string;
  state: string;
  endedAt?: number;
}

/** Ended tasks are remembered this long (Stop then answers "already finished" instead of "unknown task"). */
const ENDED_TASK_RETENTION_MS = 3600_000;
const MAX_ENDED_TASKS = 10_000;

class MemoryPresence implements PresenceStore {
  private readonly users = new Map<string, PresenceRecord>();

  async claim(rec: PresenceRecord): Promise<PresenceRecord | undefined> {
    const key = `${rec.sdkAppId}/${rec.userId}`;
    const previous = this.users.get(key);
    this.users.set(key, { ...rec });
    return previous;
  }

  async release(sdkAppId: number, userId: string, sessionId: string): Promise<boolean> {
    const key = `${sdkAppId}/${userId}`;
    if (this.users.get(key)?.sessionId !== sessionId) return false;
    this.users.delete(key);
    return true;
  }

  async get(sdkAppId: number, userId: string): Promise<PresenceRecord | undefined> {
    return this.users.get(`${sdkAppId}/${userId}`);
  }
}

class MemoryTasks<R extends TaskLike> implements TaskStore<R> {
  private readonly tasks = new Map<string, R>();
  /** Ended task ids, oldest first, for pruning. */
  private readonly ended: string[] = [];

  async create(rec: R): Promise<boolean> {
    this.prune();
    if (this.tasks.has(rec.taskId)) return false;
    this.tasks.set(rec.taskId, { ...rec });
    return true;
  }

  async update(taskId: string, patch: Partial<Omit<R, 'taskId'>>): Promise<void> {
    const rec = this.tasks.get(taskId);
    if (!rec) return;
    const wasEnded = rec.state === 'ended';
    Object.assign(rec, patch);
    if (!wasEnded && rec.state === 'ended') this.ended.push(taskId);
  }

  async get(taskId: string): Promise<R | undefined> {
    const rec = this.tasks.get(taskId);
    return rec && { ...rec };
  }

  async list(): Promise<R[]> {
    this.prune();
    return [...this.tasks.values()].map((r) => ({ ...r }));
  }

  private prune(): void {
    const cutoff = Date.now() - ENDED_TASK_RETENTION_MS;
    while (this.ended.length > 0) {
      const rec = this.tasks.get(this.ended[0]!);
      if (rec && this.ended.length <= MAX_ENDED_TASKS && (rec.endedAt ?? 0) > cutoff) break;
      this.tasks.delete(this.ended.shift()!);
    }
  }
}

class MemoryOutbox implements CallbackOutbox {
  // One process alone delivers from this outbox: every partition's lease is its own.
  readonly shared = false;

  async claimPartition(): Promise<boolean> {
    return true;
  }

  async releasePartition(): Promise<void> {}

  private readonly queues = new Map<string, OutboxEntry[]>();
  private count = 0;

  // Synchronous inside: entries appended in call order stay in that order.
  async append(entry: OutboxEntry): Promise<void> {
    let q = this.queues.get(entry.partition);
    if (!q) this.queues.set(entry.partition, (q = []));
    q.push({ ...entry });
    this.count++;
  }

  async head(partition: string): Promise<OutboxEntry | undefined> {
    const e = this.queues.get(partition)?.[0];
    return e && { ...e };
  }

  async update(entry: OutboxEntry): Promise<void> {
    const q = this.queues.get(entry.partition);
    const i = q?.findIndex((e) => e.id === entry.id) ?? -1;
    if (q && i >= 0) q[i] = { ...entry };
  }

  async remove(partition: string, id: string): Promise<void> {
    const q = this.queues.get(partition);
    if (!q) return;
    const i = q.findIndex((e) => e.id === id);
    if (i < 0) return;
    q.splice(i, 1);
    this.count--;
    if (q.length === 0) this.queues.delete(partition);
  }

  async partitions(): Promise<string[]> {
    return [...this.queues.keys()];
  }

  async size(): Promise<number> {
    return this.count;
  }
}

class MemoryMembers implements MemberLedger {
  private readonly sessions = new Map<string, MemberRecord>();

  async put(rec: MemberRecord): Promise<void> {
    this.sessions.set(rec.sessionId, { ...rec });
  }

  async remove(sessionId: string): Promise<void> {
    this.sessions.delete(sessionId);
  }

  async all(): Promise<MemberRecord[]> {
    return [...this.sessions.values()].map((r) => ({ ...r }));
  }
}

/**
 * The single-node store. Its history is the one given (openStore: in the store file), else an SQLite database in
 * memory, which keeps the same queries and forgets everything at close.
 */
export function createMemoryStore(history?: { store: HistoryStore; close: () => void }): Store {
  const h = history ?? inMemoryHistory();
  return {
    kind: 'memory',
    presence: new MemoryPresence(),
    members: new MemoryMembers(),
    tasks: new MemoryTasks(),
    recordings: new MemoryTasks(),
    relays: new MemoryTasks(),
    outbox: new MemoryOutbox(),
    history: h.store,
    close: async () => h.close(),
  };
}

function inMemoryHistory(): { store: HistoryStore; close: () => void } {
  const file = SqliteFile.open(':memory:');
  return { store: new SqliteHistory(file), close: () => file.close() };
}
