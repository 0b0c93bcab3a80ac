// A mixed recording (RecordMode 2): the subscribed publishers go into the compositor child (src/mix/compositor.ts),
// each through an fd-mode tap writing MPEG-TS into the FIFO of its input; the compositor's output comes back as a
// MixedFeed, and one UserRecorder (user '') writes it as `<SdkAppId>_<RoomId>` files. A publisher joining or leaving
// changes the inputs and the layout while the compositor runs: its output, and so the files, never stop.
//
// With many nodes, the room's publishers on other nodes come in too (`remote`): each through the internal feed link
// (src/mix/feed-link.ts), whose MPEG-TS goes into its input's FIFO where a local tap would write.

import type { Logger } from '../log.js';
import type { MediaEngine } from '../room/engine.js';
import type { Publisher } from '../room/publisher.js';
import type { MixSpec, MixLayoutSpec } from '../api/cloud-recording-service.js';
import { Compositor, tilesFromRects, type CompositorStats } from '../mix/compositor.js';
import { layoutRects, type MixRect } from '../mix/layout.js';
import type { LayoutRegions } from '../relay/sei-inserter.js';
import { MixedFeed } from './mixed-feed.js';
import type { Feed } from '../room/consumer.js';
import type { RoomRef } from '../room/room-ref.js';
import { RemotePublisher } from '../mix/feed-link.js';

/** Hears a room's publishers on other nodes come and go (src/cluster/remote-publishers.ts). */
export interface RemoteWatcher {
  joined(p: RemotePublisher): void;
  left(p: RemotePublisher): void;
}

/** The room's publishers held by other nodes, with their feeds open; only those `wants` names are linked. */
export interface RemoteRooms {
  watch(room: RoomRef, wants: (userId: string) => boolean, w: RemoteWatcher): () => void;
}

/** A publisher the mix takes: on this node (tapped on the engine) or on another (its feed). */
type Source = Publisher | RemotePublisher;

/** Who takes the compositor's output: a mixed recording's UserRecorder, or a mixed relay (src/relay). */
export interface MixedOutput {
  attach(feed: MixedFeed): void;
  /** The output's first video or audio config is known. */
  media(): void;
}

export interface MixedRecordingOptions {
  mix: MixSpec;
  engine: MediaEngine;
  /** Writes the mixed feed (its tracks are the mixed stems). */
  output: MixedOutput;
  /** Which of a user's kinds the task subscribes to now. */
  wants: (userId: string) => { video: boolean; audio: boolean };
  /**
   * How loud a user's audio is in the mix now, 0–100 (100 as published, 0 silent; TRTC's SoundLevel); every user at
   * 100 without it. A mixed relay's audio lists: a change (relevel) takes effect at once, without re-adding the input.
   */
  level?: (userId: string) => number;
  /** A track of both kinds waits this long for a publisher's second config. */
  mergeWaitMs: number;
  /** The compositor could not start or died: the task ends with this sentence. */
  onFailed: (message: string) => void;
  /** Many nodes: the room's publishers elsewhere join the mix too. */
  remote?: { rooms: RemoteRooms; room: RoomRef };
  /** A publisher on another node joined or left the mix (the task's idle check). */
  onRemote?: () => void;
  log: Logger;
}

/** One publisher in the mix. */
interface Input {
  publisher: Source;
  /** The compositor's id for it: unique per join, so a returning user is a new input. */
  id: string;
  fd: number | null;
  /** The local tap, or the remote feed's copy into the FIFO. */
  tap: { remove(): unknown } | null;
  video: boolean;
  audio: boolean;
  /** The gain last sent to the compositor (0–1). */
  volume: number;
  wait: NodeJS.Timeout | null;
}

export class MixedRecording {
  private readonly compositor: Compositor;
  private readonly inputs = new Map<string, Input>();
  private feed: MixedFeed | null = null;
  private layout: MixLayoutSpec;
  private serial = 0;
  private stopping = false;
  /** The tiles as last laid out, and each input's loudness from the compositor's stats (by input id). */
  private rects: MixRect[] = [];
  private readonly levels = new Map<string, number>();
  private mixedOnce = false;
  private readonly remotes = new Set<RemotePublisher>();
  private unwatchRemote: () => void = () => {};

  constructor(private readonly o: MixedRecordingOptions) {
    const { video, audio, layout } = o.mix;
    this.layout = layout;
    this.compositor = new Compositor({
      width: video.width, height: video.height, fps: video.fps, videoBitrate: video.bitrate, gop: video.gopSec,
      background: layout.background, sampleRate: audio.sampleRate, channels: audio.channels, audioBitrate: audio.bitrate,
    });
    this.compositor.on('exit', (e) => {
      for (const p of this.remotes) p.close(); // the child's exit closed their FIFOs' fds: no byte may follow
      if (!this.stopping) o.onFailed(`the compositor stopped: ${e.reason || `exit ${e.code ?? e.signal}`}`);
    });
    this.compositor.on('input-failed', ({ id, reason }) => {
      const input = [...this.inputs.values()].find((i) => i.id === id);
      const p = input?.publisher;
      if (!(p instanceof RemotePublisher)) return o.log.warn({ input: id }, `a publisher left the mix: ${reason}`);
      // The compositor has closed the input's FIFO (its fd number may be reused at once): the feed stops writing now,
      // and its end takes the input out (the room's census poll may link the publisher again, after a while).
      o.log.warn({ userId: p.id.userId, node: p.node, input: id, reason }, 'a publisher on another node left the mix: its feed could not be mixed');
      p.close(reason);
    });
    this.compositor.on('stats', (s: CompositorStats) => {
      this.levels.clear();
      for (const [id, input] of Object.entries(s.inputs)) this.levels.set(id, input.level ?? 0);
    });
  }

  async start(): Promise<void> {
    const { stdout } = await this.compositor.start();
    const pipe = this.o.engine.openPipe({ opusBitrate: 64000, opusComplexity: 5 });
    const feed = new MixedFeed(pipe);
    feed.onConfig = () => this.o.output.media();
    feed.read(stdout, (why) => this.o.onFailed(`the compositor's output is broken: ${why}`));
    this.feed = feed;
    this.o.output.attach(feed);
    const { remote } = this.o;
    if (!remote) return;
    const wanted = (userId: string): boolean => {
      const w = this.o.wants(userId);
      return w.video || w.audio;
    };
    this.unwatchRemote = remote.rooms.watch(remote.room, wanted, {
      joined: (p) => {
        this.remotes.add(p);
        this.join(p);
        this.o.onRemote?.();
      },
      left: (p) => {
        this.remotes.delete(p);
        this.leave(p);
        this.o.onRemote?.();
      },
    });
  }

  /** Publishers on other nodes in the mix now. */
  get remoteCount(): number {
    return this.remotes.size;
  }

  /** The canvas and each user's tile with its loudness now (a mixed relay's volume-layout SEI). */
  regions(): LayoutRegions {
    const { width: w, height: h } = this.o.mix.video;
    const regions = this.rects.flatMap((r) => {
      if (!r.userId) return [];
      const input = this.inputs.get(r.userId);
      const volume = input ? this.levels.get(input.id) ?? 0 : 0;
      return [{ uid: r.userId, zorder: r.zOrder, volume, x: r.x, y: r.y, w: r.width, h: r.height }];
    });
    return { canvas: { w, h }, regions };
  }

  /** Whether some publisher's media goes into the mix now (or went: Describe stays InProgress once it started). */
  mixing(): boolean {
    if (!this.mixedOnce) this.mixedOnce = [...this.inputs.values()].some((i) => i.tap !== null);
    return this.mixedOnce;
  }

  join(p: Source): void {
    if (this.stopping || !this.feed) return;
    const want = this.o.wants(p.id.userId);
    if (!want.video && !want.audio) return this.leave(p);
    const current = this.inputs.get(p.id.userId);
    if (current?.publisher === p && current.video === want.video && current.audio === want.audio) return;
    if (current) this.drop(current);
    const volume = this.volumeOf(p.id.userId);
    const input: Input = { publisher: p, id: `${p.id.userId}#${++this.serial}`, fd: null, tap: null, ...want, volume, wait: null };
    this.inputs.set(p.id.userId, input);
    this.compositor.addInput(input.id, { ...want, volume }).then(
      ({ fd }) => {
        if (this.inputs.get(p.id.userId) !== input) return;
        input.fd = fd;
        this.relevel(); // the level may have changed while the input was being added
        this.media(p);
        this.relayout();
      },
      (err: Error) => this.o.log.warn({ userId: p.id.userId, err: err.message }, 'publisher not mixed'),
    );
  }

  /** A publisher's config is known: its tap starts once it has every kind wanted (or after a short wait). */
  media(p: Source): void {
    const input = this.inputs.get(p.id.userId);
    if (!input || input.publisher !== p || input.fd === null || input.tap) return;
    const ready = (!input.video || p.video) && (!input.audio || p.audio);
    if (ready) return this.tapInput(input);
    input.wait ??= setTimeout(() => this.tapInput(input), this.o.mergeWaitMs);
  }

  leave(p: Source): void {
    const input = this.inputs.get(p.id.userId);
    if (!input || input.publisher !== p) return;
    this.drop(input);
    this.inputs.delete(p.id.userId);
    this.relayout();
  }

  /** ModifyCloudRecording's layout (full overwrite: null goes back to the template given at Create). */
  setLayout(layout: MixLayoutSpec | null): void {
    if (layout) this.layout = layout;
    this.relayout();
  }

  /** The audio levels changed (level()): every input's gain follows now. */
  relevel(): void {
    for (const input of this.inputs.values()) {
      const volume = this.volumeOf(input.publisher.id.userId);
      if (input.fd === null || volume === input.volume) continue;
      input.volume = volume;
      this.compositor.setVolume(input.id, volume);
    }
  }

  /** The subscribe lists changed: inputs follow. */
  resubscribe(publishers: Publisher[]): void {
    for (const p of [...publishers, ...this.remotes]) this.join(p);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unwatchRemote();
    for (const input of this.inputs.values()) this.drop(input);
    this.inputs.clear();
    await this.compositor.stop().catch((err: Error) => {
      this.o.log.warn({ err: err.message }, 'compositor stop');
      this.compositor.kill();
    });
    this.feed?.pipe.close();
  }

  private volumeOf(userId: string): number {
    return (this.o.level?.(userId) ?? 100) / 100;
  }

  private tapInput(input: Input): void {
    if (input.wait) clearTimeout(input.wait);
    input.wait = null;
    const p = input.publisher;
    if (input.tap || input.fd === null || p.ended || this.inputs.get(p.id.userId) !== input) return;
    if (p instanceof RemotePublisher) {
      input.tap = p.link(input.fd);
      return this.relayout();
    }
    const audio = input.audio && p.audio ? (p.audio.codec === 'AAC' ? 'aac' : 'opus') : '';
    const video = input.video && p.video !== null;
    if (!video && !audio) return;
    try {
      input.tap = p.pipe.addTap({ fd: input.fd, video, audio, format: 'mpegts' });
    } catch (err) {
      this.o.log.warn({ userId: p.id.userId, err: (err as Error).message }, 'publisher not mixed');
    }
    this.relayout(); // an audio-only slot may now have a picture
    // a WHIP publisher can send a keyframe now, so its tile fills without waiting a GOP
    p.requestKeyframe();
  }

  private drop(input: Input): void {
    if (input.wait) clearTimeout(input.wait);
    input.wait = null;
    input.tap?.remove();
    input.tap = null;
    void this.compositor.removeInput(input.id);
  }

  private relayout(): void {
    if (this.stopping) return;
    const present = [...this.inputs.values()]
      .filter((i) => i.fd !== null)
      .sort((a, b) => a.publisher.since.getTime() - b.publisher.since.getTime());
    const idOf = new Map(present.map((i) => [i.publisher.id.userId, i.id]));
    const rects = layoutRects(this.layout, this.o.mix.video, present.map((i) => ({ userId: i.publisher.id.userId, hasVideo: i.video && Boolean(i.publisher.video) })));
    this.rects = rects;
    this.compositor.setLayout(tilesFromRects(rects, (r) => (r.userId ? idOf.get(r.userId) ?? null : null)), this.layout.background);
  }
}
