// The WHEP viewers of every room, by the publisher they watch (WHEP keeps its own map by resource id). A viewer whose publisher leaves
// stays connected for a grace window: if the same userid publishes again (an OBS reconnect) it resumes on the new
// stream without renegotiating; otherwise it is closed and its tracks end.

import type { Viewer } from './viewer.js';
import type { Feed } from './consumer.js';

export class Viewers {
  private readonly byRoom = new Map<string, Set<Viewer>>();
  private readonly graceTimers = new Map<Viewer, NodeJS.Timeout>();

  constructor(private readonly graceMs: number) {}

  add(roomKey: string, viewer: Viewer): void {
    let set = this.byRoom.get(roomKey);
    if (!set) this.byRoom.set(roomKey, (set = new Set()));
    set.add(viewer);
  }

  /** Forget a closed viewer. */
  remove(roomKey: string, viewer: Viewer): void {
    this.cancelGrace(viewer);
    const set = this.byRoom.get(roomKey);
    set?.delete(viewer);
    if (set?.size === 0) this.byRoom.delete(roomKey);
  }

  *all(): IterableIterator<Viewer> {
    for (const set of this.byRoom.values()) yield* set;
  }

  /** The viewers of one room (for the metrics' bytes out). */
  *of(roomKey: string): IterableIterator<Viewer> {
    yield* this.byRoom.get(roomKey) ?? [];
  }

  count(roomKey: string, userId?: string): number {
    let n = 0;
    for (const v of this.byRoom.get(roomKey) ?? []) if (userId === undefined || v.userId === userId) n++;
    return n;
  }

  /** A publisher (re)joined: its waiting viewers switch to its feed. */
  publisherJoined(roomKey: string, userId: string, feed: Feed): void {
    for (const v of this.byRoom.get(roomKey) ?? []) {
      if (v.userId !== userId) continue;
      this.cancelGrace(v);
      v.attach(feed);
    }
  }

  /** A publisher left: its viewers wait for a reconnect, then close. */
  publisherLeft(roomKey: string, userId: string, feed: Feed): void {
    for (const v of this.byRoom.get(roomKey) ?? []) {
      if (v.userId !== userId || v.feed !== feed) continue;
      v.detach();
      this.awaitPublisher(v);
    }
  }

  /** A viewer without a publisher waits for one (a reconnect) for the grace window, then closes. */
  awaitPublisher(v: Viewer): void {
    this.cancelGrace(v);
    const t = setTimeout(() => {
      this.graceTimers.delete(v);
      if (!v.feed) v.close('the publisher left');
    }, this.graceMs);
    t.unref();
    this.graceTimers.set(v, t);
  }

  closeAll(reason: string): void {
    for (const v of [...this.all()]) v.close(reason);
  }

  private cancelGrace(v: Viewer): void {
    const t = this.graceTimers.get(v);
    if (t) clearTimeout(t);
    this.graceTimers.delete(v);
  }
}
