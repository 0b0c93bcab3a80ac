// Keeps the history (src/store/history.ts) from the room's events: rooms created and dismissed (101/102), users'
// entries and exits (103/104) with their source, role and address, tracks started and stopped (201–204). Media
// samples come from main.ts's sampler through sample().
//
// emit() is called on the media path, so it only queues; the queue is written on the next turn of the event loop in
// order, a batch at a time. A write that fails is logged (once a minute at most) and the gateway goes on: the history
// is a record, not something the rooms depend on.

import type { Logger } from '../log.js';
import type { HistoryEntry, HistoryStore, MediaSample } from '../store/history.js';
import type { RoomEvent, RoomEventSink } from './room-events.js';

const FAILURE_LOG_INTERVAL_MS = 60_000;

type Write = { entry: HistoryEntry } | { sample: MediaSample };

export class HistoryFeed implements RoomEventSink {
  private queue: Write[] = [];
  private flushing: Promise<void> | null = null;
  private lastFailureLog = 0;

  constructor(
    private readonly history: HistoryStore,
    private readonly log: Logger,
  ) {}

  emit(event: RoomEvent): void {
    const entry = historyEntry(event);
    if (entry) this.push({ entry });
  }

  sample(s: MediaSample): void {
    this.push({ sample: s });
  }

  /** Resolves once everything emitted so far is written (before the store closes). */
  async flush(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await (this.flushing ?? this.startFlush());
  }

  private push(w: Write): void {
    this.queue.push(w);
    if (!this.flushing) setImmediate(() => void this.startFlush());
  }

  private startFlush(): Promise<void> {
    this.flushing ??= (async () => {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        for (const w of batch) {
          try {
            await ('entry' in w ? this.history.write(w.entry) : this.history.sample(w.sample));
          } catch (err) {
            const now = Date.now();
            if (now - this.lastFailureLog >= FAILURE_LOG_INTERVAL_MS) {
              this.lastFailureLog = now;
              this.log.warn({ err }, 'history write failed: the room and user queries will miss it');
            }
          }
        }
      }
    })().finally(() => {
      this.flushing = null;
      // pushed between the loop's last look and now
      if (this.queue.length > 0) setImmediate(() => void this.startFlush());
    });
    return this.flushing;
  }
}

/** The history's record of a room event; null for one the queries do not answer about (a role change, 105). */
function historyEntry(e: RoomEvent): HistoryEntry | null {
  const at = { sdkAppId: e.sdkAppId, roomId: e.roomId, numericRoom: e.numericRoom, at: e.at };
  switch (e.type) {
    case 'room-created':
      return { ...at, kind: 'room-created', userId: e.userId };
    case 'room-dismissed':
      return { ...at, kind: 'room-dismissed' };
    case 'user-entered':
      return { ...at, kind: 'user-entered', userId: e.userId, role: e.role, source: e.source, address: e.address ?? '' };
    case 'user-exited':
      return { ...at, kind: 'user-exited', userId: e.userId, reason: e.reason };
    case 'video-started':
    case 'video-stopped':
    case 'audio-started':
    case 'audio-stopped': {
      const [track, what] = e.type.split('-') as ['video' | 'audio', 'started' | 'stopped'];
      return { ...at, kind: 'track', userId: e.userId, track, on: what === 'started' };
    }
    case 'role-changed':
      return null;
  }
}
