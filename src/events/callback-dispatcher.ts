// Turns room events, pull-task, recording-task and relay-task events into signed TRTC callbacks and delivers them through the store's outbox.
// emit() only builds, signs and queues, so the media path never waits for a receiver. Each partition (one per
// room) has at most one delivery in flight, which keeps callbacks in order per room. A failed POST is retried at
// once, then every retryIntervalMs after the first try, until maxAgeMs after the first try; then it is dropped with
// a log line and counted. An event that waited in the queue longer than maxAgeMs (behind one that kept failing) is
// dropped without a try, so a long outage cannot build an ever-growing backlog of stale events.
//
// With a durable outbox (store.kind 'sqlite') what was queued when the process stopped — after a SIGTERM's flush ran
// out, or at a SIGKILL — is still there: resume() delivers it at start-up, with the attempts and retry times each
// entry had, before anything new of its room.
//
// With a shared outbox (store.kind 'redis') several nodes append to it and deliver from it. A node delivers a
// partition only while it holds the partition's lease in the store (taken before each head is read and sent, renewed
// while it works on the partition, given up after), so each entry goes out once and in order whichever node queued
// it. Every sweepIntervalMs each node looks for partitions with entries: what a dead node queued (or a node that lost
// the lease to another) is picked up by a survivor once the dead node's lease expires.
//
// An event the store cannot take (Redis unreachable) is held in memory, with every later event of its room behind
// it, and appended again every second until the store takes it: an outage delays callbacks instead of losing them
// (unless this process ends meanwhile; held-callbacks.ts).

import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { CallbackOutbox, OutboxEntry } from '../store/store.js';
import { signCallbackBody } from '../auth/callback-sign.js';
import type { RoomEvent, RoomEventSink } from './room-events.js';
import type { IngestEventSink, IngestEventType } from './ingest-events.js';
import type { RecordEvent, RecordEventSink } from './record-events.js';
import type { RelayEvent, RelayEventSink } from './relay-events.js';
import { ingestEventBody, recordEventBody, relayEventBody, roomEventBody, type CallbackBody } from './callback-bodies.js';
import { postCallback, type CallbackRequest } from './callback-post.js';
import { HeldCallbacks } from './held-callbacks.js';

export interface CallbackTarget {
  callbackUrl: string;
  callbackKey: string;
}

export interface CallbackDispatcherOptions {
  outbox: CallbackOutbox;
  /** The app's callback settings; no URL means the app gets no callbacks. */
  target: (sdkAppId: number) => CallbackTarget | undefined;
  timeoutMs: number;
  retryIntervalMs: number;
  maxAgeMs: number;
  maxQueued: number;
  log: Logger;
  /** The outbox outlives the process (store.kind 'sqlite'): what is left at shutdown goes out at the next start. */
  durable?: boolean;
  /** Delivery function (tests replace it); resolves null when delivered, else why not. */
  post?: (req: CallbackRequest, timeoutMs: number, abort: AbortSignal) => Promise<string | null>;
  /** Told each delivery attempt's round trip (the metrics' histogram); delivered or not. */
  onAttempt?: (ms: number, delivered: boolean) => void;
  /** A shared outbox: how often to look for partitions with entries (default 2000 ms). */
  sweepIntervalMs?: number;
}

/**
 * How long a partition's delivery lease lasts unless renewed: longer than one head read plus one POST at its
 * timeout, so a lease taken before a send is still held when the answer comes; also how long a dead node's
 * partitions wait for a survivor.
 */
function leaseMsFor(timeoutMs: number): number {
  return Math.max(10_000, 2 * timeoutMs + 5000);
}

/** One failed delivery attempt or drop, as the console lists it; the URL without its query (it may carry keys). */
export interface CallbackFailure {
  at: string;
  event: string;
  url: string;
  failure: string;
}

/** How many failures the console can list. */
const RECENT_FAILURES = 20;

export interface CallbackStats {
  queued: number;
  delivered: number;
  failedAttempts: number;
  dropped: number;
}

/** One partition per room; pull-task events ride in their room's, so 701/702 keep their order with 103/104. */
export function roomPartition(sdkAppId: number, roomId: string): string {
  return `${sdkAppId}/${roomId}`;
}

export class CallbackDispatcher implements RoomEventSink, IngestEventSink, RecordEventSink, RelayEventSink {
  private readonly o: CallbackDispatcherOptions;
  private readonly post: NonNullable<CallbackDispatcherOptions['post']>;
  private readonly active = new Set<string>();
  /** Partitions that got an entry while their pump was running; the pump looks again before it stops. */
  private readonly dirty = new Set<string>();
  private readonly timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private readonly abort = new AbortController();
  private readonly idleWaiters: Array<() => void> = [];
  private closed = false;
  private counters: CallbackStats = { queued: 0, delivered: 0, failedAttempts: 0, dropped: 0 };
  /** The newest failed attempts and drops, newest last (the console shows them). */
  private readonly failures: CallbackFailure[] = [];
  private readonly leaseMs: number;
  private readonly sweeper: NodeJS.Timeout | undefined;
  /** Entries the store refused while it was unreachable, appended again when it is back. */
  private readonly held: HeldCallbacks;

  constructor(options: CallbackDispatcherOptions) {
    this.o = options;
    this.post = options.post ?? postCallback;
    this.leaseMs = leaseMsFor(options.timeoutMs);
    this.held = new HeldCallbacks(options.outbox, options.log, (partition) => this.kick(partition));
    if (options.outbox.shared) {
      this.sweeper = setInterval(() => void this.sweep(), options.sweepIntervalMs ?? 2000);
      this.sweeper.unref();
    }
  }

  /** RoomEventSink: rooms call this synchronously on the media path. */
  emit(event: RoomEvent): void {
    this.enqueue(event.sdkAppId, roomPartition(event.sdkAppId, event.roomId), (now) => roomEventBody(event, now), event.type);
  }

  /** IngestEventSink: 701 (Status 0/1/2) or 702 (Status 0) for a pull task, in its room's order. */
  ingest(sdkAppId: number, roomId: string, eventType: IngestEventType, taskId: string, status: number, at = Date.now()): void {
    const label = `${eventType} Status ${status}`;
    const partition = roomPartition(sdkAppId, roomId);
    this.enqueue(sdkAppId, partition, (now) => ingestEventBody(eventType, taskId, status, at, now), label);
  }

  /** RecordEventSink: 301–312 for a recording task, in its room's order. */
  record(event: RecordEvent): void {
    const partition = roomPartition(event.sdkAppId, event.roomId);
    this.enqueue(event.sdkAppId, partition, (now) => recordEventBody(event, now), `${event.eventType} task ${event.taskId}`);
  }

  /** RelayEventSink: 401 for one URL of a relay task, in its room's order. */
  relay(event: RelayEvent): void {
    const partition = roomPartition(event.sdkAppId, event.roomId);
    this.enqueue(event.sdkAppId, partition, (now) => relayEventBody(event, now), `401 Status ${event.status} task ${event.taskId}`);
  }

  /**
   * Start-up: delivers what a previous run left in the outbox, each room's entries in order. Call it before anything
   * emits, so the queued count it adds is exact. Resolves the number of entries found.
   */
  async resume(): Promise<number> {
    const left = await this.o.outbox.size();
    if (left === 0) return 0;
    this.counters.queued += left;
    const partitions = await this.o.outbox.partitions();
    this.o.log.info({ queued: left, rooms: partitions.length }, 'delivering the callbacks a previous run left queued');
    for (const p of partitions) this.kick(p);
    return left;
  }

  stats(): CallbackStats {
    return { ...this.counters };
  }

  /** Keeps delivering for up to `flushMs` (or until the outbox is empty), then stops all work. */
  async close(flushMs: number): Promise<void> {
    if (this.closed) return;
    if (!this.idle() && flushMs > 0) {
      await new Promise<void>((resolve) => {
        // Not unref'd: the process must stay up for the flush even after the listeners closed.
        const t = setTimeout(resolve, flushMs);
        this.idleWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    const held = this.held.close();
    if (held > 0) this.o.log.warn({ lost: held }, 'callbacks held in memory while the store was unreachable are lost at shutdown');
    this.abort.abort();
    for (const t of this.timers) {
      clearTimeout(t.timer);
      t.resolve();
    }
    this.timers.clear();
    if (this.counters.queued > 0) {
      const fate = this.o.outbox.shared
        ? 'kept in the shared store; another node or the next start delivers them'
        : this.o.durable ? 'kept in the store; delivered at the next start' : 'lost: the outbox is in memory';
      this.o.log.warn({ undelivered: this.counters.queued, fate }, 'callbacks left undelivered at shutdown');
    }
  }

  private enqueue(sdkAppId: number, partition: string, build: (now: number) => CallbackBody, label: string): void {
    if (this.closed) return;
    const target = this.o.target(sdkAppId);
    if (!target?.callbackUrl) return;
    const now = Date.now();
    const { eventType, body } = build(now);
    const fullLabel = label.startsWith(String(eventType)) ? label : `${eventType} ${label}`;
    if (this.counters.queued >= this.o.maxQueued) {
      this.counters.dropped++;
      this.o.log.warn({ sdkAppId, partition, event: fullLabel, maxQueued: this.o.maxQueued }, 'callback dropped: outbox full');
      return;
    }
    const entry: OutboxEntry = {
      id: randomUUID(),
      partition,
      sdkAppId,
      url: target.callbackUrl,
      body,
      sign: target.callbackKey ? signCallbackBody(target.callbackKey, body) : '',
      label: fullLabel,
      createdAt: now,
      attempts: 0,
      firstTryAt: null,
      nextTryAt: now,
    };
    this.counters.queued++;
    // behind its room's events that wait for the store, to keep the room's order
    if (this.held.queueBehind(entry)) return;
    // counted until its pump is running, so a close right after emit() (a 702 at shutdown) waits for it
    this.appending++;
    this.o.outbox.append(entry).then(
      () => {
        this.appending--;
        this.kick(partition);
        if (this.idle()) this.idleWaiters.splice(0).forEach((f) => f());
      },
      (err: unknown) => {
        this.appending--;
        this.held.hold(entry, err);
      },
    );
  }

  /** Entries being written to the outbox, not yet handed to a pump. */
  private appending = 0;

  private kick(partition: string): void {
    if (this.closed) return;
    if (this.active.has(partition)) {
      this.dirty.add(partition);
      return;
    }
    this.active.add(partition);
    this.pump(partition)
      .catch((err: unknown) => this.o.log.error({ err, partition }, 'callback delivery loop failed'))
      .finally(() => {
        this.active.delete(partition);
        if (this.dirty.delete(partition)) this.kick(partition);
        else if (this.idle()) this.idleWaiters.splice(0).forEach((f) => f());
      });
  }

  /**
   * Nothing left for this node to do: its outbox is empty, or, when shared, it delivers no partition now (what is
   * left there is another node's to deliver, or the next start's).
   */
  private idle(): boolean {
    return this.o.outbox.shared ? this.active.size === 0 && this.appending === 0 : this.counters.queued <= 0;
  }

  /** A shared outbox: every partition with entries gets a pump here unless one runs (its lease decides who sends). */
  private async sweep(): Promise<void> {
    if (this.closed) return;
    try {
      const [partitions, size] = await Promise.all([this.o.outbox.partitions(), this.o.outbox.size()]);
      // the cluster's count: other nodes deliver what this one queued, and this one what they queued
      this.counters.queued = size;
      for (const p of partitions) this.kick(p);
    } catch (err) {
      // the store is away (the health check says so); the next sweep tries again
      this.o.log.debug({ err }, 'callback sweep failed');
    }
  }

  /** Delivers the partition while this node holds its lease; gives the lease up when done. */
  private async pump(partition: string): Promise<void> {
    const outbox = this.o.outbox;
    if (!outbox.shared) return this.deliver(partition);
    if (!(await outbox.claimPartition(partition, this.leaseMs))) return; // another node delivers it
    // Renewed while this node works on it (a retry may sleep for retryIntervalMs), so others leave it alone.
    const renew = setInterval(() => void outbox.claimPartition(partition, this.leaseMs).catch(() => {}), this.leaseMs / 3);
    renew.unref();
    try {
      await this.deliver(partition);
    } finally {
      clearInterval(renew);
      await outbox.releasePartition(partition).catch(() => {});
    }
  }

  private async deliver(partition: string): Promise<void> {
    const outbox = this.o.outbox;
    for (;;) {
      this.dirty.delete(partition);
      // Before each head is read and sent: the lease is this node's for leaseMs more, longer than the POST may take.
      if (outbox.shared && !(await outbox.claimPartition(partition, this.leaseMs))) return;
      const e = await outbox.head(partition);
      if (!e || this.closed) return;
      const wait = e.nextTryAt - Date.now();
      if (wait > 0) {
        // the head is read again after the wait: with a shared outbox another node may have sent it meanwhile
        await this.sleep(wait);
        if (this.closed) return;
        if (outbox.shared) continue;
      }
      if (e.firstTryAt === null && Date.now() > e.createdAt + this.o.maxAgeMs) {
        await this.drop(e, 'it waited in the queue longer than the retry window');
        continue;
      }
      const sentAt = performance.now();
      const failure = await this.post(e, this.o.timeoutMs, this.abort.signal);
      this.o.onAttempt?.(performance.now() - sentAt, failure === null);
      if (this.closed) return;
      if (failure === null) {
        await this.o.outbox.remove(partition, e.id);
        this.counters.queued = Math.max(0, this.counters.queued - 1);
        this.counters.delivered++;
        continue;
      }
      const now = Date.now();
      this.counters.failedAttempts++;
      this.noteFailure(e, failure);
      e.attempts++;
      e.firstTryAt ??= now;
      // Retry at once after the first failure, then on a fixed grid from the first try.
      e.nextTryAt = e.attempts === 1 ? now : e.firstTryAt + (e.attempts - 1) * this.o.retryIntervalMs;
      if (e.attempts === 1) {
        this.o.log.warn({ partition, event: e.label, url: redact(e.url), failure }, 'callback delivery failed; retrying');
      }
      if (e.nextTryAt > e.firstTryAt + this.o.maxAgeMs) {
        await this.drop(e, `the last attempt failed: ${failure}`);
        continue;
      }
      await this.o.outbox.update(e);
    }
  }

  /** The newest failed attempts and drops, newest first. */
  recentFailures(): CallbackFailure[] {
    return [...this.failures].reverse();
  }

  private noteFailure(e: OutboxEntry, failure: string): void {
    this.failures.push({ at: new Date().toISOString(), event: e.label, url: redact(e.url), failure });
    if (this.failures.length > RECENT_FAILURES) this.failures.shift();
  }

  private async drop(e: OutboxEntry, why: string): Promise<void> {
    await this.o.outbox.remove(e.partition, e.id);
    this.counters.queued = Math.max(0, this.counters.queued - 1);
    this.counters.dropped++;
    this.noteFailure(e, `dropped after ${e.attempts} attempts: ${why}`);
    this.o.log.warn(
      { partition: e.partition, event: e.label, url: redact(e.url), attempts: e.attempts, ageMs: Date.now() - e.createdAt },
      `callback dropped after ${e.attempts} attempts: ${why}`,
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = {
        timer: setTimeout(() => {
          this.timers.delete(t);
          resolve();
        }, ms),
        resolve,
      };
      t.timer.unref();
      this.timers.add(t);
    });
  }
}

/** Callback URLs may carry a token in the query; logs show scheme, host and path only. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}
