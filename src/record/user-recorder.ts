// The recorder of one user in a single-stream task: a consumer of that user's publisher, like a viewer, whose tracks
// (RecordedTrack: HLS video and audio, MP4, AAC as the task asks) write files instead of sending RTP. A user who
// leaves and comes back within the resume window goes on in the same files; after the window the files are closed.
// ModifyCloudRecording changes which tracks are wanted: a track no longer wanted stops taking frames but keeps its
// files open, so wanting it again continues them (a playlist is never started twice under one name).

import type { Consumer, ConsumerStats, Feed } from '../room/consumer.js';
import type { RecordedTrack } from './track.js';

export interface UserRecorderOptions {
  /** A track that records both audio and video waits this long for the second kind after the first arrives. */
  mergeWaitMs: number;
  /** How long the files stay open for a user who left (TRTC's resumption timeout). */
  resumeMs: number;
  /** The resume window passed: the tracks are finished; the task forgets the user. */
  onGone: (r: UserRecorder) => void;
}

/** A track the task wants for the user, by a key that names its files; `make` builds it the first time. */
export interface WantedTrack {
  key: string;
  make: () => RecordedTrack;
}

export class UserRecorder implements Consumer {
  readonly kind = 'recorder';
  feed: Feed | null = null;
  /** Every track ever made for the user, by key; `wanted` holds the keys taking frames now. */
  readonly tracks = new Map<string, RecordedTrack>();
  private wanted = new Set<string>();
  private mergeTimer: NodeJS.Timeout | null = null;
  private resumeTimer: NodeJS.Timeout | null = null;
  private finishing: Promise<void> | null = null;

  constructor(
    readonly userId: string,
    private readonly o: UserRecorderOptions,
  ) {}

  /** The tracks the task wants now (Create, then each Modify). */
  want(list: WantedTrack[]): void {
    this.wanted = new Set(list.map((w) => w.key));
    for (const w of list) if (!this.tracks.has(w.key)) this.tracks.set(w.key, w.make());
    for (const [key, t] of this.tracks) if (!this.wanted.has(key)) t.detach();
    if (this.feed) this.attach(this.feed);
  }

  attach(feed: Feed): void {
    if (this.finishing) return;
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
    const fresh = this.feed !== feed;
    this.feed = feed;
    for (const t of this.active()) if (t.started) t.attach(feed.pipe, feed);
    // a WHIP publisher can send a keyframe now, so the first segment does not wait a whole GOP
    if (fresh) feed.requestKeyframe();
    this.media();
  }

  /** The feed's first frame of a kind arrived: tracks waiting for its config can start. */
  media(): void {
    const feed = this.feed;
    if (!feed || this.finishing) return;
    for (const t of this.active()) {
      if (t.started) continue;
      const haveVideo = !t.video || feed.video !== null;
      const haveAudio = !t.audio || feed.audio !== null;
      if (haveVideo && haveAudio) t.attach(feed.pipe, feed);
      else if (!this.mergeTimer) {
        // a publisher may never send the other kind: start with what there is after a short wait
        this.mergeTimer = setTimeout(() => {
          this.mergeTimer = null;
          for (const x of this.active()) if (!x.started && this.feed === feed) x.attach(feed.pipe, feed);
        }, this.o.mergeWaitMs);
        this.mergeTimer.unref();
      }
    }
  }

  detach(): void {
    this.feed = null;
    for (const t of this.tracks.values()) t.detach();
    if (this.finishing || this.resumeTimer) return;
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = null;
      void this.finish().then(() => this.o.onGone(this));
    }, this.o.resumeMs);
    this.resumeTimer.unref();
  }

  stats(): ConsumerStats {
    return { video: null, audio: null, keyframeRequests: 0 };
  }

  close(): void {
    void this.finish();
  }

  /** Closes every track's files; resolves when they are on disk. */
  finish(): Promise<void> {
    if (this.mergeTimer) clearTimeout(this.mergeTimer);
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.mergeTimer = this.resumeTimer = null;
    this.feed = null;
    this.finishing ??= Promise.all([...this.tracks.values()].map((t) => t.finish())).then(() => {});
    return this.finishing;
  }

  private active(): RecordedTrack[] {
    return [...this.wanted].map((k) => this.tracks.get(k)!);
  }
}
