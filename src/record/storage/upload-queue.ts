// One per recording task: hands the recorder's finished files to a Storage while recording goes on, and keeps
// trying while the store is down, so a recording outlives a storage outage without losing a file.
//
// - In order, at most `concurrency` (2) puts at once: segments reach the store before the playlist naming them.
// - A failed put is retried with exponential backoff (1 s doubling, capped at 30 s), for as long as the queue is
//   open. While puts fail, the whole queue pauses too, so a store that is down sees one round of attempts per
//   backoff step rather than one per waiting file (each failure is a 308 callback).
// - The same key enqueued again while its earlier put is still waiting replaces it, and moves to the back: a
//   playlist is re-enqueued on every segment and only its newest content matters. A put already in flight is never
//   cut short; the newer one waits for it, so the store always ends with the newest content.
// - `removeAfter` deletes the local file once the store has confirmed it, and never before; never with a
//   LocalStorage (there the local file is the stored copy), and not while another waiting put still reads it.
// - The file is read when its put starts: writers should replace a file they rewrite (a playlist) atomically
//   (write elsewhere, rename), so a put never reads half a file.

import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import { checkKey, StorageError, type Storage } from './storage.js';

export interface UploadQueueOptions {
  /** Puts at once; default 2. */
  concurrency?: number;
  /** First retry delay; default 1000 ms, doubling on every further failure. */
  retryBaseMs?: number;
  /** Longest retry delay; default 30 000 ms. */
  retryMaxMs?: number;
}

export interface UploadedEvent {
  key: string;
  localPath: string;
  /** The local file was deleted (removeAfter, after the store confirmed it). */
  removed: boolean;
  /** Why removing it failed (the file stays, stored all the same): worth a log line naming the path. */
  removeError?: string;
}

export interface FailedEvent {
  key: string;
  localPath: string;
  /** The store's code, e.g. 'AccessDenied', 'NoSuchBucket', 'ECONNREFUSED' (callback 308's `Code`). */
  code: string;
  message: string;
  /** 1 for this key's first failure. */
  attempt: number;
  /** null when the queue gave this file up: trying again cannot help (its local file is gone). */
  retryInMs: number | null;
}

export interface DrainResult {
  /** Everything enqueued is stored (callback 305 Status 0). */
  complete: boolean;
  /** Keys not stored: still waiting, in flight, or given up (305 Status 1). */
  left: string[];
}

interface UploadQueueEvents {
  uploaded: [UploadedEvent];
  failed: [FailedEvent];
  /** The first success after one or more failures: the store is back. */
  recovered: [{ key: string }];
  /** Nothing waiting or in flight. */
  idle: [];
}

interface Item {
  key: string;
  localPath: string;
  removeAfter: boolean;
  /** Enqueue order; a replaced key takes a new one. */
  seq: number;
  attempts: number;
  notBefore: number;
  startedAt: number;
  /** Code of the last failure, to tell an outage from a problem with this one file. */
  lastCode: string | null;
}

/** Codes that mean "the store could not be reached or was unwell", not "this request was refused". */
function isOutage(code: string): boolean {
  return (
    /^E[A-Z]+$/.test(code) || /^HTTP5\d\d$/.test(code) || /^(TimeoutError|ServiceUnavailable|SlowDown|InternalError)$/.test(code)
  );
}

export class UploadQueue extends EventEmitter<UploadQueueEvents> {
  private readonly concurrency: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private waiting: Item[] = [];
  private readonly inFlight = new Map<string, Item>();
  /** Keys given up on (permanent failures); reported by drain() until the key is stored after all. */
  private readonly abandoned = new Set<string>();
  private seq = 0;
  /** Failure rounds in a row; a round is a set of puts that started before the previous failure was seen. */
  private streak = 0;
  private lastFailureAt = -Infinity;
  private pausedUntil = 0;
  private failing = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly drainWaiters = new Set<() => void>();
  private closing: Promise<DrainResult> | null = null;
  private closed = false;
  private readonly abort = new AbortController();

  constructor(
    readonly storage: Storage,
    options: UploadQueueOptions = {},
  ) {
    super();
    this.concurrency = Math.max(1, options.concurrency ?? 2);
    this.baseMs = options.retryBaseMs ?? 1000;
    this.maxMs = options.retryMaxMs ?? 30_000;
  }

  /** Queues `localPath` to be stored as `key`. Throws when the key is malformed or the queue is closing. */
  enqueue(localPath: string, key: string, opts: { removeAfter: boolean }): void {
    if (this.closing) {
      throw new Error(`upload queue is closed: ${localPath} was not queued for ${this.storage.describe(key)}`);
    }
    checkKey(key);
    if (typeof localPath !== 'string' || localPath === '') throw new Error(`no local file given for key '${key}'`);
    this.abandoned.delete(key);
    const item: Item = {
      key,
      localPath,
      removeAfter: opts.removeAfter && this.storage.kind !== 'local',
      seq: this.seq++,
      attempts: 0,
      notBefore: 0,
      startedAt: 0,
      lastCode: null,
    };
    const older = this.waiting.findIndex((w) => w.key === key);
    if (older >= 0) {
      const [old] = this.waiting.splice(older, 1);
      this.inherit(item, old!);
    }
    this.waiting.push(item);
    this.pump();
  }

  /** Files waiting or in flight. */
  pending(): number {
    return this.waiting.length + this.inFlight.size;
  }

  /** Waits until nothing is waiting or in flight, or `timeoutMs` passes; says what is not stored. */
  drain(timeoutMs: number): Promise<DrainResult> {
    if (this.pending() === 0) return Promise.resolve(this.result());
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.drainWaiters.delete(done);
        resolve(this.result());
      };
      const timer = setTimeout(done, timeoutMs);
      this.drainWaiters.add(done);
    });
  }

  /**
   * Takes no more files, waits up to `timeoutMs` for the queued ones (retrying as usual), then gives up: puts in
   * flight are cancelled and nothing is retried. The result says what was left unstored.
   */
  close(timeoutMs: number): Promise<DrainResult> {
    this.closing ??= this.drain(timeoutMs).then((result) => {
      this.closed = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.waiting = [];
      this.abort.abort();
      return result;
    });
    return this.closing;
  }

  private result(): DrainResult {
    const left = [...this.inFlight.keys(), ...this.waiting.map((w) => w.key), ...this.abandoned.keys()];
    return { complete: left.length === 0, left: [...new Set(left)] };
  }

  /** A replacement keeps the retry state of what it replaces, so a failing key does not restart its backoff. */
  private inherit(item: Item, old: Item): void {
    item.attempts = Math.max(item.attempts, old.attempts);
    item.notBefore = Math.max(item.notBefore, old.notBefore);
    item.lastCode = old.lastCode;
  }

  private backoff(n: number): number {
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.max(0, n - 1));
  }

  /** Starts what may start now, and sets a timer for when the next waiting file may. */
  private pump(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const now = Date.now();
    while (this.inFlight.size < this.concurrency && now >= this.pausedUntil) {
      const i = this.waiting.findIndex((w) => w.notBefore <= now && !this.inFlight.has(w.key));
      if (i < 0) break;
      this.start(this.waiting.splice(i, 1)[0]!, now);
    }
    if (this.inFlight.size >= this.concurrency) return; // a finishing put pumps again
    const startable = this.waiting.filter((w) => !this.inFlight.has(w.key));
    if (startable.length === 0) return;
    const wake = Math.max(this.pausedUntil, Math.min(...startable.map((w) => w.notBefore)));
    this.timer = setTimeout(() => this.pump(), Math.max(0, wake - now));
  }

  private start(item: Item, now: number): void {
    item.attempts++;
    item.startedAt = now;
    this.inFlight.set(item.key, item);
    // A listener that throws surfaces as an unhandled rejection, like any emitter's; the queue itself goes on.
    void Promise.resolve()
      .then(() => this.storage.put(item.localPath, item.key, this.abort.signal))
      .then(
        () => this.succeeded(item),
        (err) => this.failedPut(item, err),
      );
  }

  private async succeeded(item: Item): Promise<void> {
    // Another put may still read the same file (the same playlist path re-enqueued): it stays until that one is done.
    const stillRead = this.waiting.some((w) => w.localPath === item.localPath);
    let removed = false;
    let removeError: string | undefined;
    if (item.removeAfter && !stillRead) {
      try {
        await fs.rm(item.localPath, { force: true });
        removed = true;
      } catch (err) {
        removeError = (err as Error).message;
      }
    }
    this.inFlight.delete(item.key);
    this.abandoned.delete(item.key);
    const recovered = this.failing;
    if (recovered) {
      this.failing = false;
      this.streak = 0;
      this.pausedUntil = 0;
      // The store is back: files that failed only because it was away go now, not at the end of their backoff.
      for (const w of this.waiting) if (w.lastCode && isOutage(w.lastCode)) w.notBefore = 0;
    }
    try {
      if (recovered) this.emit('recovered', { key: item.key });
      this.emit('uploaded', { key: item.key, localPath: item.localPath, removed, ...(removeError && { removeError }) });
    } finally {
      this.settle();
    }
  }

  private failedPut(item: Item, err: unknown): void {
    this.inFlight.delete(item.key);
    if (this.closed) return; // cancelled by close(); close's result already lists it
    const e =
      err instanceof StorageError
        ? err
        : new StorageError('Error', `could not store ${item.localPath} as ${this.storage.describe(item.key)}: ${err}`);
    const now = Date.now();
    item.lastCode = e.code;
    let retryInMs: number | null = null;
    const newer = this.waiting.find((w) => w.key === item.key);
    if (e.permanent) {
      if (!newer) this.abandoned.add(item.key);
    } else {
      this.failing = true;
      if (item.startedAt >= this.lastFailureAt) this.streak++;
      this.lastFailureAt = now;
      this.pausedUntil = Math.max(this.pausedUntil, now + this.backoff(this.streak));
      item.notBefore = now + this.backoff(item.attempts);
      retryInMs = Math.max(this.pausedUntil, item.notBefore) - now;
      // Only the newest content of a key matters: a newer waiting put takes over this one's retry state.
      if (newer) this.inherit(newer, item);
      else this.waiting.splice(this.insertAt(item.seq), 0, item);
    }
    try {
      const { key, localPath, attempts: attempt } = item;
      this.emit('failed', { key, localPath, code: e.code, message: e.message, attempt, retryInMs });
    } finally {
      this.settle();
    }
  }

  private insertAt(seq: number): number {
    const i = this.waiting.findIndex((w) => w.seq > seq);
    return i < 0 ? this.waiting.length : i;
  }

  private settle(): void {
    this.pump();
    if (this.pending() > 0) return;
    for (const done of [...this.drainWaiters]) done();
    this.emit('idle');
  }
}
