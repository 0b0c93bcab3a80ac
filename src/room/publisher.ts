// One user publishing into a room: the MediaSink every ingest drives, and the Feed its consumers attach to. Its
// frames go to its pipe on the media engine (src/room/engine.ts), which packetizes them once, turns AAC into Opus,
// caches the GOP and counts frames; this object keeps the codec facts the status API shows.

import type { AudioConfig, MediaFrame, MediaSink, MediaSource, VideoConfig } from '../media/model.js';
import { TrackAnnouncer, type RoomEventSink } from '../events/room-events.js';
import type { MediaKind, TrackRefusals } from '../auth/privileges.js';
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
  /** Tracks the user's credential does not let into the room, each with the reason; absent when none. */
  refusedTracks?: Partial<Record<MediaKind, string>>;
  /** What SetUserBlocked keeps from everyone in the room. */
  blocked: MediaBlock;
}

const NOTHING_REFUSED: TrackRefusals = { video: null, audio: null };

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
   * Set before end() when the session moves to another node (a draining node hands its pull task, or the mixed relay
   * it publishes for, over): it leaves this node only, and the cluster goes on counting it in the room (no 104).
   */
  handedOver = false;
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
  /** What the room has been told of each track (201–204): the one place those callbacks are decided. */
  readonly tracks: TrackAnnouncer;
  private gain = 100;
  private opus = false;
  /** Frames of a refused kind that arrived and were dropped (the refusal is logged at the first). */
  private readonly dropped = { video: 0, audio: 0 };
  private blocked: MediaBlock = { ...NOTHING_BLOCKED };

  constructor(
    readonly id: PublisherIdentity,
    /** Ends the ingest session that feeds this publisher (kick, room closing); the ingest then calls end(). */
    readonly kick: (reason: string) => void,
    private readonly onEnd: (publisher: Publisher, reason: string) => void,
    events: RoomEventSink,
    readonly pipe: Pipe,
    private readonly log: Logger,
    /** From the door's ticket: the PrivateMapKey's send-audio (4) and send-video (16) bits. */
    readonly refused: TrackRefusals = NOTHING_REFUSED,
  ) {
    pipe.onEvent = (e) => this.onPipeEvent(e);
    this.tracks = new TrackAnnouncer(events, id);
  }

  /**
   * Whether the user may send `kind` into the room. Ingests ask before they parse a frame of that kind, so a refused
   * track costs no policy check and no engine work; the first refusal of each kind is logged with its reason.
   */
  takes(kind: MediaKind): boolean {
    const reason = this.refused[kind];
    if (reason === null) return true;
    if (this.dropped[kind]++ === 0) this.log.info({ kind, reason }, `${kind} is not taken into the room: the user ${reason}`);
    return false;
  }

  /** Frames dropped because their kind is refused, for an ingest that finds nothing else arriving. */
  droppedFrames(): number {
    return this.dropped.video + this.dropped.audio;
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
    if (!this.takes('video')) return;
    this.video = config;
    this.pipe.setVideoConfig(config);
    this.onMedia('video');
  }

  setAudioConfig(config: AudioConfig): void {
    if (!this.takes('audio')) return;
    this.audio = config;
    this.opus = config.codec === 'Opus'; // forwarded as it is
    const refused = this.pipe.setAudioConfig(config.codec === 'AAC' ? config.asc : null, this.gain);
    if (refused) this.log.warn({ err: refused }, 'AAC config refused by the decoder: audio dropped');
    this.onMedia('audio');
  }

  pushFrame(frame: MediaFrame): void {
    if (!this.takes(frame.kind)) return;
    this.pipe.push(frame, this.opus);
  }

  requestKeyframe(): boolean {
    if (!this.keyframeSource) return false;
    this.keyframeSource();
    return true;
  }

  /**
   * SetUserBlocked: the blocked kinds stop at the pipe (no viewer, recorder or relay gets them; the publisher stays
   * connected and its frames are still counted, so the WHIP track watch does not take a mute for a stopped track).
   * The room hears of it through the same announcer as a stopped track: 202/204 when a kind it sees is blocked,
   * 201/203 when unblocked, and nothing when the kind is not seen anyway (not started yet, or stopped), so a mute and
   * a stop that overlap say 202/204 once. Video comes back at the next keyframe, which a WHIP publisher is asked for
   * at once.
   */
  block(wanted: MediaBlock): void {
    const before = this.blocked;
    this.blocked = { audio: wanted.audio, video: wanted.video };
    this.pipe.setBlocked(wanted.audio, wanted.video);
    for (const kind of ['video', 'audio'] as const) {
      if (before[kind] !== wanted[kind]) this.tracks.hold(kind, 'blocked', wanted[kind]);
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
      case 'first-audio':
        this.tracks.started(e.kind === 'first-video' ? 'video' : 'audio');
        return;
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
      ...(this.refused.video || this.refused.audio ? { refusedTracks: refusedOnly(this.refused) } : {}),
      blocked: { ...this.blocked },
    };
  }
}

function refusedOnly(r: TrackRefusals): Partial<Record<MediaKind, string>> {
  const out: Partial<Record<MediaKind, string>> = {};
  for (const kind of ['video', 'audio'] as const) if (r[kind]) out[kind] = r[kind];
  return out;
}
