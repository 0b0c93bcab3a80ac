// Samples every publisher's media as it arrives, for the history (DescribeCallDetailInfo): codec, picture size,
// frames per second and bitrate from the engine's per-pipe counters, and for WHIP publishers the fraction of RTP
// packets lost from the engine's reception report. Each figure covers the time since the publisher's previous sample
// (or since it joined): measured, never estimated. main.ts hands the samples to the history; the room never calls it.

import type { MediaSample } from '../store/history.js';
import type { Publisher } from './publisher.js';
import type { Rooms } from './rooms.js';

interface Snapshot {
  at: number;
  videoFrames: number;
  videoBytes: number;
  audioBytes: number;
  /** Per track: RTP packets received and lost so far (WHIP only). */
  rtp: { video: Reception | null; audio: Reception | null } | null;
}

interface Reception {
  received: number;
  lost: number;
}

export class MediaSampler {
  private readonly last = new WeakMap<Publisher, Snapshot>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly rooms: Rooms,
    private readonly sink: (s: MediaSample) => void,
  ) {}

  /** Samples every `intervalMs` until stop(). */
  start(intervalMs: number): void {
    this.timer ??= setInterval(() => this.sampleAll(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  sampleAll(now = Date.now()): void {
    for (const room of this.rooms.list()) {
      for (const p of room.publishers.values()) {
        const s = this.sample(p, now);
        if (s) this.sink(s);
      }
    }
  }

  private sample(p: Publisher, now: number): MediaSample | null {
    const stats = p.pipe.stats();
    if (!stats || p.ended) return null;
    const snap: Snapshot = {
      at: now,
      videoFrames: stats.videoFrames,
      videoBytes: stats.videoBytes,
      audioBytes: stats.audioBytes,
      rtp: p.id.source === 'whip' ? reception(p) : null,
    };
    const prev = this.last.get(p) ?? { at: p.since.getTime(), videoFrames: 0, videoBytes: 0, audioBytes: 0, rtp: snap.rtp && { video: null, audio: null } };
    this.last.set(p, snap);
    const seconds = (now - prev.at) / 1000;
    if (seconds <= 0) return null;
    const { sdkAppId, roomId, numericRoom, userId } = p.id;
    const v = p.video;
    const a = p.audio;
    return {
      sdkAppId,
      roomId,
      numericRoom,
      userId,
      at: now,
      video: v && {
        codec: 'H264',
        width: v.width,
        height: v.height,
        fps: round2((snap.videoFrames - prev.videoFrames) / seconds),
        bitrate: Math.round(((snap.videoBytes - prev.videoBytes) * 8) / seconds),
        loss: lossBetween(prev.rtp?.video ?? null, snap.rtp?.video ?? null),
      },
      audio: a && {
        codec: a.codec,
        bitrate: Math.round(((snap.audioBytes - prev.audioBytes) * 8) / seconds),
        loss: lossBetween(prev.rtp?.audio ?? null, snap.rtp?.audio ?? null),
      },
    };
  }
}

function reception(p: Publisher): Snapshot['rtp'] {
  const report = p.pipe.rtpReport(false);
  if (!report) return null;
  const of = (video: boolean): Reception | null => {
    const s = report.sources.filter((x) => x.video === video);
    if (s.length === 0) return null;
    return { received: s.reduce((n, x) => n + x.received, 0), lost: s.reduce((n, x) => n + Math.max(0, x.cumulativeLost), 0) };
  };
  return { video: of(true), audio: of(false) };
}

/** Lost / expected over the interval; null when the track has no RTP reception (not WHIP) or no packet was due. */
function lossBetween(before: Reception | null, after: Reception | null): number | null {
  if (!after) return null;
  const b = before ?? { received: 0, lost: 0 };
  const lost = Math.max(0, after.lost - b.lost);
  const expected = Math.max(0, after.received - b.received) + lost;
  return expected === 0 ? null : round4(lost / expected);
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const round4 = (x: number) => Math.round(x * 10000) / 10000;
