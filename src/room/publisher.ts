// One user publishing into a room: the MediaSink every ingest drives, and the Feed its consumers attach to. Its
// frames go to its pipe on the media engine (src/room/engine.ts), which packetizes them once, turns AAC into Opus,
// caches the GOP and counts frames; this object keeps the codec facts the status API shows.

import type { AudioConfig, MediaFrame, MediaSink, MediaSource, VideoConfig } from '../media/model.js';
import { emitTrackChange, type RoomEventSink, type TrackKind } from '../events/room-events.js';
import type { Logger } from '../log.js';
import type { PipeEvent, PlaneEvent } from '../native/rtmp-plane.js';
import type { Feed } from './consumer.js';
import type { Pipe } from './engine.js';

/** A GOP longer than this makes late viewers wait; the session info says so. */
const LONG_GOP_MS = 4000;

export interface PublisherIdentity {
  sdkAppId: number;
  roomId: string;
  /** An integer room (src/room/room-ref.ts). */
  numericRoom: boolean;
  userId: string;
  source: MediaSource;
  /** "ip:port" of the publisher's connection, for logs and kick messages. */
  remote: string;
  sessionId: string;
}

export interface PublisherStatus {
  userId: string;
  source: MediaSource;
  video: {
    codec: 'H264';
    profile: string;
    level: number;
    width: number;
    height: number;
    fps: number;
    longGop: boolean;
    maxGopMs: number;
  } | null;
  audio: { codec: string; sampleRate: number; channels: number } | null;
  since: string;
  frames: { video: number; audio: number; keyframes: number };
  /** What SetUserBlocked keeps from everyone in the room. */
  blocked: MediaBlock;
}

/** SetUserBlocked's effect on one user: which of their kinds reach no viewer, recorder or relay. */
export interface MediaBlock {
  audio: boolean;
  video: boolean;
}

export const NOTHING_BLOCKED: Readonly<MediaBlock> = { audio: false, video: false };

/** Events of the pipe's RTMP socket, for the connection that handed it over. */
export type SocketEvent = Extract<PlaneEvent, { kind: 'media' | 'message' | 'ended' | 'protocol-error' }>;
/** Events of the pipe's WHIP input (src/ingest/whip/session.ts). */
export type RtpEvent = Extract<PlaneEvent, { kind: 'rtp-video' | 'datagram' | 'nack' | 'keyframe-wanted' }>;

export class Publisher implements MediaSink, Feed {
  readonly since = new Date();
  video: VideoConfig | null = null;
  audio: AudioConfig | null = null;
  ended = false;
  /** Set before end() when the session was replaced by the same userid (exit reason "kicked"). */
  kicked = false;
  /** Set before end() when the session was lost to a timeout (exit reason "timeout"). */
  timedOut = false;
  /**
   * Set by ingests whose publisher can make a keyframe on request (WHIP). Consumers then ask for one when they join
   * or lose a picture; without it (RTMP, pull) the cached GOP is all there is.
   */
  keyframeSource: (() => void) | null = null;
  /**
   * Set by the room: a video or audio config became known. Called before the frames it describes reach the pipe (an
   * RTMP socket's reading waits for its sequence header to be handled), so a recorder's tap made now gets the first
   * keyframe.
   */
  onMedia: (kind: 'video' | 'audio') => void = () => {};
  /** Set by the RTMP connection whose socket the pipe reads. */
  onSocketEvent: (e: SocketEvent) => void = () => {};
  /** Set by the WHIP session whose RTP the pipe reads. */
  onRtpEvent: (e: RtpEvent) => void = () => {};
  private gain = 100;
  private opus = false;
  private blocked: MediaBlock = { ...NOTHING_BLOCKED };
  /** The kinds whose first frame has come (201/203 were due then). */
  private readonly started = { video: false, audio: false };

  constructor(
    readonly id: PublisherIdentity,
    /** Ends the ingest session that feeds this publisher (kick, room closing); the ingest then calls end(). */
    readonly kick: (reason: string) => void,
    private readonly onEnd: (publisher: Publisher, reason: string) => void,
    private readonly events: RoomEventSink,
    readonly pipe: Pipe,
    private readonly log: Logger,
  ) {
    pipe.onEvent = (e) => this.onPipeEvent(e);
  }

  /** Audio gain in percent (0–200), applied where AAC is transcoded to Opus; pull tasks set it (Volume). */
  get volume(): number {
    return this.gain;
  }

  set volume(percent: number) {
    this.gain = percent;
    this.pipe.setVolume(percent);
  }

  setVideoConfig(config: VideoConfig): void {
    this.video = config;
    this.pipe.setVideoConfig(config);
    this.onMedia('video');
  }

  setAudioConfig(config: AudioConfig): void {
    this.audio = config;
    this.opus = config.codec === 'Opus'; // forwarded as it is
    const refused = this.pipe.setAudioConfig(config.codec === 'AAC' ? config.asc : null, this.gain);
    if (refused) this.log.warn({ err: refused }, 'AAC config refused by the decoder: audio dropped');
    this.onMedia('audio');
  }

  pushFrame(frame: MediaFrame): void {
    this.pipe.push(frame, this.opus);
  }

  requestKeyframe(): boolean {
    if (!this.keyframeSource) return false;
    this.keyframeSource();
    return true;
  }

  /**
   * SetUserBlocked: the blocked kinds stop at the pipe (no viewer, recorder or relay gets them; the publisher stays
   * connected and counted as sending). A kind that had started is reported stopped (202/204) when blocked and started
   * (201/203) when unblocked; video comes back at the next keyframe, which a WHIP publisher is asked for at once.
   */
  block(wanted: MediaBlock): void {
    const before = this.blocked;
    this.blocked = { audio: wanted.audio, video: wanted.video };
    this.pipe.setBlocked(wanted.audio, wanted.video);
    for (const kind of ['video', 'audio'] as const) {
      if (before[kind] === wanted[kind] || !this.started[kind]) continue;
      this.trackChanged(kind, wanted[kind] ? 'stopped' : 'started');
    }
    if (before.video && !wanted.video) this.requestKeyframe();
  }

  /** Audio and video frames taken in so far, counted by the engine. Cheap enough to poll once a second (RTMP's idle watch does). */
  framesIn(): number {
    const s = this.pipe.stats();
    return s ? s.videoFrames + s.audioFrames : 0;
  }

  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.pipe.close();
    this.onEnd(this, reason);
  }

  private onPipeEvent(e: PipeEvent): void {
    switch (e.kind) {
      case 'first-video':
      case 'first-audio': {
        const kind = e.kind === 'first-video' ? 'video' : 'audio';
        this.started[kind] = true;
        // a muted kind's start is reported when it is unmuted
        if (!this.blocked[kind]) this.trackChanged(kind, 'started');
        return;
      }
      case 'decoder-errors':
        // the engine reports at most one batch per 5 s (decoderErrorReportMs) per publisher
        this.log.warn({ dropped: e.count, lastError: e.text }, 'corrupt AAC frames dropped');
        return;
      case 'rtp-video':
      case 'datagram':
      case 'nack':
      case 'keyframe-wanted':
        this.onRtpEvent(e);
        return;
      default:
        this.onSocketEvent(e);
    }
  }

  private trackChanged(kind: TrackKind, change: 'started' | 'stopped'): void {
    emitTrackChange(this.events, this.id, kind, change);
  }

  status(): PublisherStatus {
    const v = this.video;
    const a = this.audio;
    const s = this.pipe.stats() ?? { videoFrames: 0, audioFrames: 0, keyframes: 0, maxGopMs: 0 };
    return {
      userId: this.id.userId,
      source: this.id.source,
      video: v && {
        codec: 'H264',
        profile: v.profileName,
        level: v.level / 10,
        width: v.width,
        height: v.height,
        fps: v.fps,
        longGop: s.maxGopMs > LONG_GOP_MS,
        maxGopMs: s.maxGopMs,
      },
      audio: a && { codec: a.codec, sampleRate: a.sampleRate, channels: a.channels },
      since: this.since.toISOString(),
      frames: { video: s.videoFrames, audio: s.audioFrames, keyframes: s.keyframes },
      blocked: { ...this.blocked },
    };
  }
}
