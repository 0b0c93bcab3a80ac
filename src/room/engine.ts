// The media engine: the native plane (native/src/plane/, loaded by src/native/rtmp-plane.ts), one per gateway, used
// through typed handles. Every publisher — RTMP, WHIP or pull — is a Pipe: its frames are packetized once there, AAC
// becomes Opus there, and its GOP is cached there. Every consumer of a publisher's media is a Sink on that pipe: it
// numbers, encrypts and sends from the plane, whichever thread pushed the frame (the plane's own for a handed-over
// RTMP socket, the event loop for everything else). A Tap is the other kind of consumer: the publisher's source
// frames muxed (MPEG-TS, Matroska, fragmented MP4, ADTS) onto a file descriptor or into recording files it cuts
// itself, in that same thread, for relays and recorders. The engine routes the plane's events to each pipe's (or
// tap's) owner and converts between the plane's clock and performance.now().

import { loadRtmpPlane, rtmpPlaneLoadError, type PipeEvent, type RtpInputOptions, type RtpReport, type PipeStats, type RtmpPlane, type SendStats, type SinkInfo, type SinkOptions, type ChunkStreamState, type TapEvent, type TapOptions, type TapRemoval, type TapStats } from '../native/rtmp-plane.js';
import { OPUS_CLOCK, type H264Config, type MediaFrame } from '../media/model.js';
import type { Logger } from '../log.js';

/** The native addon is not built: nothing can carry media. */
export class EngineUnavailableError extends Error {
  constructor(why: string) {
    super(`roomgate: the native media engine is not available (${why || 'the addon did not load'}); run scripts/setup`);
  }
}

/** Where a consumer's RTP numbering stands on one track, so the next sink (another publisher) continues it. */
export interface Numbering {
  /** -1: nothing sent yet. */
  lastSeq: number;
  lastTs: number;
  /** Plane clock of the last send. */
  lastWall: number;
}

export const NOTHING_SENT: Numbering = { lastSeq: -1, lastTs: 0, lastWall: 0 };

export class MediaEngine {
  private readonly pipes = new Map<number, Pipe>();
  /** Taps by id, for their events (a file-mode tap outlives its pipe): registered by Pipe.addTap, gone at remove(). */
  readonly taps = new Map<number, Tap>();
  /** plane clock − performance.now(): both read CLOCK_MONOTONIC, performance.now() from the process's start. */
  private readonly clockOffset: number;
  readonly native: RtmpPlane;
  private closed = false;
  private lastSendStats: SendStats = { bufferFull: 0, otherError: 0, droppedBehind: 0, droppedNoConsent: 0 };

  private constructor(log: Logger) {
    const mod = loadRtmpPlane();
    if (!mod) throw new EngineUnavailableError(rtmpPlaneLoadError);
    this.native = new mod.RtmpPlane((events) => {
      for (const e of events) {
        try {
          if (e.kind === 'tap-file' || e.kind === 'tap-failed') this.taps.get(e.tap)?.onEvent(e);
          else this.pipes.get(e.pipe)?.onEvent(e);
        } catch (err) {
          // a bug in one publisher's (or recorder's) handler must not take the process (this runs outside any request)
          log.error({ err, ...('tap' in e ? { tap: e.tap } : { pipe: e.pipe }), kind: e.kind }, 'media engine event handler failed');
        }
      }
    });
    this.clockOffset = this.native.now() - performance.now();
  }

  /** The engine; throws EngineUnavailableError when the addon is not built. */
  static start(log: Logger): MediaEngine {
    return new MediaEngine(log);
  }

  openPipe(opts: { opusBitrate: number; opusComplexity: number }): Pipe {
    const pipe = new Pipe(this, this.native.createPipe(opts), () => this.pipes.delete(pipe.id));
    this.pipes.set(pipe.id, pipe);
    return pipe;
  }

  /** RTP packets every viewer's sinks lost on the way out since the engine started (for /metrics). */
  sendStats(): SendStats {
    // after close the plane is gone: a scrape during shutdown gets the last figures, which are final
    if (!this.closed) this.lastSendStats = this.native.sendStats();
    return this.lastSendStats;
  }

  /** A performance.now() time on the plane clock. */
  toPlane(performanceMs: number): number {
    return performanceMs + this.clockOffset;
  }

  /** A plane clock reading as performance.now() time. */
  toPerformance(planeMs: number): number {
    return planeMs - this.clockOffset;
  }

  close(): void {
    if (!this.closed) this.sendStats();
    this.closed = true;
    this.pipes.clear();
    this.taps.clear();
    this.native.close();
  }
}

/** One publisher on the plane. Owners set `onEvent` for the events it raises. */
export class Pipe {
  onEvent: (e: PipeEvent) => void = () => {};
  private closed = false;

  constructor(
    readonly engine: MediaEngine,
    readonly id: number,
    private readonly forget: () => void,
  ) {}

  private get n(): RtmpPlane {
    return this.engine.native;
  }

  setVideoConfig(config: H264Config): void {
    if (!this.closed) this.n.setVideoConfig(this.id, config.naluLengthSize, config.sps, config.pps);
  }

  /** AAC's AudioSpecificConfig (null for Opus, forwarded as it is); returns '' or why the decoder refused it. */
  setAudioConfig(asc: Buffer | null, volume: number): string {
    return this.closed ? '' : this.n.setAudioConfig(this.id, asc, volume);
  }

  setVolume(percent: number): void {
    if (!this.closed) this.n.setVolume(this.id, percent);
  }

  /**
   * Keeps the publisher's audio and/or video from every sink and tap (SetUserBlocked); frames are still taken in and
   * counted. Unblocked video resumes at the next keyframe.
   */
  setBlocked(audio: boolean, video: boolean): void {
    if (!this.closed) this.n.setBlocked(this.id, audio, video);
  }

  /** One frame of the media model; `opus` when the audio is Opus (its dts becomes the 48 kHz RTP timestamp). */
  push(frame: MediaFrame, opus: boolean): void {
    if (this.closed) return;
    if (frame.kind === 'video') this.n.pushVideo(this.id, frame.nalus, frame.pts, frame.keyframe);
    else if (opus) this.n.pushOpus(this.id, frame.data, Math.round(frame.dts * (OPUS_CLOCK / 1000)) >>> 0);
    else this.n.pushAac(this.id, frame.data, frame.dts);
  }

  stats(): PipeStats | null {
    return this.closed ? null : this.n.pipeStats(this.id);
  }

  /** An RTMP socket at a message boundary: the plane reads it from now on (src/ingest/rtmp/connection.ts). */
  attachSocket(opts: { fd: number; chunkSize: number; streams: ChunkStreamState[]; maxChunkSize: number; maxMessageSize: number; maxChunkStreams: number }): void {
    if (!this.closed) this.n.attachSocket(this.id, opts);
  }

  /**
   * A pull task's ffmpeg output from a tag boundary on (src/ingest/pull/ffmpeg-run.ts): read on the engine's thread,
   * its timestamps going on as `base + max(0, ts - firstTs)`. Events come as for an RTMP socket ('media' pauses).
   */
  attachFlv(opts: { fd: number; leftover: Buffer; base: number; firstTs: number; maxTagSize: number }): void {
    if (!this.closed) this.n.attachFlv(this.id, opts);
  }

  /**
   * A WHIP publisher's RTP (src/ingest/whip/rtp-intake.ts): werift's socket read on the engine's thread, depacketized
   * there; 'rtp-video' (then resume()), 'datagram', 'nack' and 'keyframe-wanted' events come back.
   */
  attachRtp(opts: RtpInputOptions): void {
    if (!this.closed) this.n.attachRtp(this.id, opts);
  }

  /** An SRTP packet werift read itself; decrypted in place. */
  pushSrtp(packet: Buffer): void {
    if (!this.closed) this.n.pushSrtp(this.id, packet);
  }

  /** The RTP input's counters and per-SSRC reception (null without one); `advance` for an RTCP report. */
  rtpReport(advance = false): RtpReport | null {
    return this.closed ? null : this.n.rtpReport(this.id, advance);
  }

  /** Stops reading the input attached last; its fd may be closed once this returns. */
  detachInput(): void {
    if (!this.closed) this.n.detachInput(this.id);
  }

  /** Milliseconds since the engine last read bytes from the input (Infinity when it never did). */
  msSinceInput(): number {
    const at = this.stats()?.lastInputAt ?? 0;
    return at > 0 ? performance.now() - this.engine.toPerformance(at) : Infinity;
  }

  /** Continue reading the socket after a 'media' event was handled. */
  resume(): void {
    if (!this.closed) this.n.resume(this.id);
  }

  /** A consumer's track on this pipe; `replay` starts video with the cached GOP. Null once the pipe is closed. */
  addSink(opts: Omit<SinkOptions, 'lastSeq' | 'lastTs' | 'lastWall' | 'replay'>, from: Numbering, replay: boolean): Sink | null {
    if (this.closed) return null;
    const id = this.n.addSink(this.id, { ...opts, lastSeq: from.lastSeq, lastTs: from.lastTs, lastWall: from.lastWall, replay });
    return new Sink(this.n, id);
  }

  /**
   * The publisher's source frames, muxed, written to `opts.fd` (which stays the caller's) or, with `opts.file`, to
   * recording files the tap cuts itself (TapFileOptions). An fd-mode tap's muxer header is made from the pipe's
   * current configs, so a caller re-creates it when a codec or config changes; a file-mode tap starts a new file.
   * Throws an Error with a sentence when the pipe lacks the config asked for, the options are wrong or the muxer
   * refuses; null once the pipe is closed.
   */
  addTap(opts: TapOptions): Tap | null {
    if (this.closed) return null;
    const tap = new Tap(this.engine, this.n.addTap(this.id, opts));
    this.engine.taps.set(tap.id, tap);
    return tap;
  }

  /** Whether the pipe is closed (a file-mode tap can then only be attached elsewhere). */
  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.forget();
    this.n.closePipe(this.id);
  }
}

/** One consumer track on a pipe. Removing it hands back its numbering. */
export class Sink {
  constructor(
    private readonly n: RtmpPlane,
    readonly id: number,
  ) {}

  /** The transport's current SRTP session, ICE pair and consent (re-sent on every sender-report tick). */
  retarget(to: Pick<SinkOptions, 'sender' | 'fd' | 'host' | 'port' | 'consent'>): void {
    this.n.sinkTarget(this.id, to.sender, to.fd, to.host, to.port, to.consent);
  }

  /** Sends the pipe's cached GOP ahead of live video (a picture-loss request); false when the pipe is gone. */
  replay(): boolean {
    return this.n.sinkReplay(this.id);
  }

  retransmit(seqs: number[]): void {
    this.n.sinkRetransmit(this.id, seqs);
  }

  info(): SinkInfo | null {
    return this.n.sinkInfo(this.id);
  }

  /** Stops sending; returns where the numbering stands (NOTHING_SENT when nothing was). */
  remove(): Numbering {
    const r = this.n.removeSink(this.id);
    return r && r[0] >= 0 ? { lastSeq: r[0], lastTs: r[1], lastWall: r[2] } : NOTHING_SENT;
  }
}

/**
 * A tap on a pipe: its frames go on being written, off the event loop, until remove(). A file-mode tap outlives its
 * pipe: closing the pipe (or detach()) leaves its file open, and attach() puts it on the publisher's next pipe, the
 * recording going on as one timeline.
 */
export class Tap {
  /** File mode: a file closed ('tap-file', cause 'segment' | 'size' | 'config'), or the tap stopped ('tap-failed'). */
  onEvent: (e: TapEvent) => void = () => {};

  constructor(
    private readonly engine: MediaEngine,
    readonly id: number,
  ) {}

  private get n(): RtmpPlane {
    return this.engine.native;
  }

  /** Null once removed. */
  stats(): TapStats | null {
    return this.n.tapStats(this.id);
  }

  /**
   * File mode and 'rtmp': off its pipe, the file (the RTMP session) left open (a publisher who left may come back).
   * Throws for another fd-mode tap.
   */
  detach(): void {
    this.n.detachTap(this.id);
  }

  /**
   * File mode and 'rtmp': onto `pipe` (off its own first). Timestamps go on one frame after the last, video from the
   * next keyframe; a changed codec config starts a new file where the container needs it ('rtmp': new sequence
   * headers). Throws for a closed pipe, a removed tap or another fd-mode tap.
   */
  attach(pipe: Pipe): void {
    if (pipe.isClosed) throw new Error('Tap.attach: the pipe is closed');
    this.n.attachTap(this.id, pipe.id);
  }

  /** 'rtmp' made without fd: the published socket; the messages kept since the last keyframe go first. */
  connect(fd: number, streamId: number, chunkSize: number): void {
    this.n.tapConnect(this.id, fd, streamId, chunkSize);
  }

  /** 'rtmp': whole RTMP messages (the client's pongs, acknowledgements) after the media queued; false once failed. */
  send(bytes: Buffer): boolean {
    return this.n.tapSend(this.id, bytes);
  }

  /**
   * Writes the trailer and stops. fd mode: `leftBytes` the fd did not take (0 when all went, or when already
   * removed); the tap's dup of the fd is closed now, so a reader sees end of file once the caller has closed its fd
   * too. File mode: `file` is the last file, closed now (null when none was open) — returned here because a process
   * finishing on SIGTERM cannot wait for its 'tap-file' event, which onEvent no longer receives.
   */
  remove(): TapRemoval {
    this.engine.taps.delete(this.id);
    return this.n.removeTap(this.id) ?? { leftBytes: 0, file: null };
  }
}
