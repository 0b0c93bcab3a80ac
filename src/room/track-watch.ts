// Notices a publisher that stops sending one kind of media while the other goes on: a browser whose camera track
// ended, whose sender's track was replaced by none, or whose transceiver was stopped; an RTMP encoder whose audio
// source was removed (OBS) or whose muted track sends nothing; a pull task whose source's audio ends before its
// video. That is TRTC's "user turned their video (audio) off", callback 202 (204), and 201 (203) when it flows again.
// Every publisher (RTMP, WHIP, pull) is watched the same way, from the room (rooms.ts, watchTracks): polled from the
// engine's frame counters, as RTMP's idle watch is, because frames never reach JavaScript. When both kinds stop the
// publisher is gone or idle, not muted: that is the session's own deadline (RTMP idle, WHIP silence, a pull task's
// stall) and 104 alone, so a kind is only called stopped while the other is still arriving.

import type { TrackAnnouncer, TrackKind } from '../events/room-events.js';

/** One kind silent this long while the other flows: that track stopped. */
export const TRACK_STOP_MS = 4000;
/** The other kind counts as still flowing when it advanced this recently (two ticks of a 1 s poll). */
const STILL_FLOWING_MS = 2000;

interface KindState {
  count: number;
  /** Date.now() of the last count that advanced (0: never flowed). */
  lastAdvanceAt: number;
  stopped: boolean;
}

export class TrackWatch {
  private readonly kinds: Record<TrackKind, KindState> = {
    video: { count: 0, lastAdvanceAt: 0, stopped: false },
    audio: { count: 0, lastAdvanceAt: 0, stopped: false },
  };

  constructor(
    private readonly tracks: TrackAnnouncer,
    private readonly stopAfterMs = TRACK_STOP_MS,
  ) {}

  /** One poll: the engine's frame counters for the publisher now. */
  tick(counts: Record<TrackKind, number>, now = Date.now()): void {
    for (const kind of ['video', 'audio'] as const) {
      const k = this.kinds[kind];
      if (counts[kind] === k.count) continue;
      k.count = counts[kind];
      k.lastAdvanceAt = now;
      if (k.stopped) {
        k.stopped = false;
        this.tracks.started(kind, now); // the first start is the engine's first-frame event
      }
    }
    for (const kind of ['video', 'audio'] as const) {
      const k = this.kinds[kind];
      const other = this.kinds[kind === 'video' ? 'audio' : 'video'];
      if (k.stopped || k.lastAdvanceAt === 0 || now - k.lastAdvanceAt < this.stopAfterMs) continue;
      if (other.lastAdvanceAt === 0 || now - other.lastAdvanceAt > STILL_FLOWING_MS) continue;
      k.stopped = true;
      this.tracks.hold(kind, 'stopped', true, k.lastAdvanceAt); // it stopped when its last frame came
    }
  }
}

/** How often the room polls each publisher's counters. */
const POLL_MS = 1000;

/**
 * Watches one publisher's tracks until the returned stop is called: `counts` reads its frame counters (null once
 * its pipe is closed).
 */
export function watchTracks(tracks: TrackAnnouncer, counts: () => Record<TrackKind, number> | null): () => void {
  const watch = new TrackWatch(tracks);
  const timer = setInterval(() => {
    const c = counts();
    if (c) watch.tick(c);
  }, POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
