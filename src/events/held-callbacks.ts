// Callbacks the outbox refused because the store was unreachable (store.kind 'redis' with Redis away). They wait
// here, per partition in the order they were made, and are appended again every second until the store takes them;
// while a partition has entries waiting, its new entries queue behind them, so a room's order survives the outage.
// They live in this process's memory only: a node that stops during the outage loses them (and says so).

import type { Logger } from '../log.js';
import type { CallbackOutbox, OutboxEntry } from '../store/store.js';

const RETRY_MS = 1000;

export class HeldCallbacks {
  private readonly held = new Map<string, OutboxEntry[]>();
  private timer: NodeJS.Timeout | undefined;
  private retrying = false;
  private closed = false;

  /** `stored` is told each partition whose held entries are all in the outbox now (so it can be delivered). */
  constructor(
    private readonly outbox: CallbackOutbox,
    private readonly log: Logger,
    private readonly stored: (partition: string) => void,
  ) {}

  /** Takes the entry when its partition already waits for the store (it must go behind); false otherwise. */
  queueBehind(entry: OutboxEntry): boolean {
    const q = this.held.get(entry.partition);
    if (!q) return false;
    q.push(entry);
    return true;
  }

  /** The store refused the entry: it waits, and is appended again. */
  hold(entry: OutboxEntry, err: unknown): void {
    if (this.closed) return;
    if (this.held.size === 0) {
      this.log.warn({ err: (err as Error)?.message ?? String(err) }, 'callbacks held in memory until the store takes them again');
    }
    let q = this.held.get(entry.partition);
    if (!q) this.held.set(entry.partition, (q = []));
    q.push(entry);
    this.retrySoon();
  }

  /** Stops retrying; returns how many entries were still held (lost with the process). */
  close(): number {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    return [...this.held.values()].reduce((n, q) => n + q.length, 0);
  }

  private retrySoon(): void {
    if (this.timer || this.retrying || this.closed) return;
    this.timer = setTimeout(() => void this.retry(), RETRY_MS);
    this.timer.unref();
  }

  /** One round at a time: entries held meanwhile join the queues the round works through. */
  private async retry(): Promise<void> {
    this.timer = undefined;
    this.retrying = true;
    let done = false;
    try {
      done = await this.appendAll();
    } finally {
      this.retrying = false;
    }
    if (done) this.log.info('the store took the held callbacks');
    else this.retrySoon();
  }

  /** True when every held entry is in the store; false at the first one it still refuses. */
  private async appendAll(): Promise<boolean> {
    for (const [partition, q] of this.held) {
      while (q.length > 0) {
        if (this.closed) return true;
        try {
          await this.outbox.append(q[0]!);
        } catch {
          return false;
        }
        q.shift();
      }
      this.held.delete(partition);
      this.stored(partition);
    }
    return true;
  }
}
