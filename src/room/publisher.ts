// One user publishing into a room. It is the MediaSink every ingest drives; it keeps the codec facts the status API
// shows. (Packetizing and fan-out to WebRTC viewers hang off this object.)

import type { AudioConfig, MediaFrame, MediaSink, MediaSource, VideoConfig } from '../media/model.js';
import type { RoomEventSink } from '../events/room-events.js';
import type { MediaFeed } from './media-feed.js';

/** A GOP longer than this makes late viewers wait; the session info says so. */
const LONG_GOP_MS = 4000;

export interface PublisherIdentity {
  sdkAppId: number;
  roomId: string;
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
}

export class Publisher implements MediaSink {
  readonly since = new Date();
  video: VideoConfig | null = null;
  audio: AudioConfig | null = null;
  ended = false;
  /** Set before end() when the session was replaced by the same userid (exit reason "kicked"). */
  kicked = false;
  /** Set before end() when the session was lost to a timeout (exit reason "timeout"). */
  timedOut = false;
  private gain = 100;
  private videoFrames = 0;
  private audioFrames = 0;
  private keyframes = 0;
  private lastKeyDts = -1;
  private maxGopMs = 0;

  constructor(
    readonly id: PublisherIdentity,
    /** Ends the ingest session that feeds this publisher (kick, room closing); the ingest then calls end(). */
    readonly kick: (reason: string) => void,
    private readonly onEnd: (publisher: Publisher, reason: string) => void,
    private readonly events: RoomEventSink,
    /** Packetizes and transcodes once for every viewer of this publisher. */
    readonly feed: MediaFeed,
  ) {}

  /** Audio gain in percent (0–200), applied where AAC is transcoded to Opus; pull tasks set it (Volume). */
  get volume(): number {
    return this.gain;
  }

  set volume(percent: number) {
    this.gain = percent;
    this.feed.setVolume(percent);
  }

  setVideoConfig(config: VideoConfig): void {
    this.video = config;
    this.feed.setVideoConfig(config);
  }

  setAudioConfig(config: AudioConfig): void {
    this.audio = config;
    this.feed.setAudioConfig(config);
  }

  pushFrame(frame: MediaFrame): void {
    this.feed.push(frame);
    if (this.feed.native) return; // the data plane counts frames and reports the first of each kind (nativeStarted)
    if (frame.kind === 'audio') {
      if (this.audioFrames++ === 0) this.announce('audio-started');
      return;
    }
    if (this.videoFrames++ === 0) this.announce('video-started');
    if (frame.keyframe) {
      this.keyframes++;
      if (this.lastKeyDts >= 0) this.maxGopMs = Math.max(this.maxGopMs, frame.dts - this.lastKeyDts);
      this.lastKeyDts = frame.dts;
    }
  }

  /**
   * Audio and video frames taken in so far — the data plane's count when it carries this publisher, since its frames
   * never reach pushFrame. Cheap enough to poll once a second (RTMP's idle watch does).
   */
  framesIn(): number {
    const native = this.feed.native ? this.feed.native.plane.native.pipeStats(this.feed.native.pipe) : null;
    return native ? native.videoFrames + native.audioFrames : this.videoFrames + this.audioFrames;
  }

  /** The data plane handed on this publisher's first frame of a kind. */
  nativeStarted(kind: 'video' | 'audio'): void {
    this.announce(kind === 'video' ? 'video-started' : 'audio-started');
  }

  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.feed.close();
    this.onEnd(this, reason);
  }

  private announce(type: 'video-started' | 'audio-started'): void {
    const { sdkAppId, roomId, userId } = this.id;
    this.events.emit({ type, sdkAppId, roomId, userId, at: Date.now() });
  }

  status(): PublisherStatus {
    const v = this.video;
    const a = this.audio;
    const native = this.feed.native ? this.feed.native.plane.native.pipeStats(this.feed.native.pipe) : null;
    if (native) {
      this.videoFrames = native.videoFrames;
      this.audioFrames = native.audioFrames;
      this.keyframes = native.keyframes;
      this.maxGopMs = native.maxGopMs;
    }
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
        longGop: this.maxGopMs > LONG_GOP_MS,
        maxGopMs: this.maxGopMs,
      },
      audio: a && { codec: a.codec, sampleRate: a.sampleRate, channels: a.channels },
      since: this.since.toISOString(),
      frames: { video: this.videoFrames, audio: this.audioFrames, keyframes: this.keyframes },
    };
  }
}
