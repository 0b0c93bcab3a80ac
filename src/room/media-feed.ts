// Per publisher, done once: H.264 access units become RTP packets, AAC frames become Opus RTP packets, and the
// current GOP (from the last IDR) is kept so a late viewer starts at once. Viewers subscribe as listeners;
// everything per viewer lives in the viewer.

import { RtpHeader, RtpPacket } from 'werift';
import type { AudioConfig, H264Config, MediaFrame, VideoFrame } from '../media/model.js';
import { H264RtpPacketizer } from '../media/rtp-h264.js';
import { SHARED_LIMITS } from '../media/shared-limits.js';
import { AacToOpus } from '../native/aac-opus.js';
import type { Logger } from '../log.js';
import type { DataPlane, PipeEventHandler } from './data-plane.js';

export const OPUS_CLOCK = 48000;

/** One access unit's packets; `keyframe` when it starts with an IDR. */
export interface VideoUnit {
  packets: RtpPacket[];
  keyframe: boolean;
  /** Gateway receive time (performance.now()) of the frame, for latency measurement. */
  receivedAt: number;
}

export interface FeedListener {
  onVideo(unit: VideoUnit): void;
  /** `receivedAt`: gateway receive time (performance.now()) of the source audio frame. */
  onAudio(packet: RtpPacket, receivedAt: number): void;
  /** The feed moved onto the data plane: frames no longer pass through listeners. */
  onPlane(): void;
}

/** A GOP bigger than this is not cached (late viewers then wait for the next IDR instead). */
const GOP_CACHE_MAX_PACKETS = SHARED_LIMITS.gopCacheMaxPackets; // and native/src/plane/pipe.cc, from the same JSON

export interface MediaFeedOptions {
  opusBitrate: number;
  opusComplexity?: number;
  log: Logger;
}

export class MediaFeed {
  readonly listeners = new Set<FeedListener>();
  /** Access units since the last IDR; empty before the first IDR or after an oversized GOP. */
  gop: VideoUnit[] = [];
  private gopPackets = 0;
  private readonly packetizer = new H264RtpPacketizer();
  private video: H264Config | null = null;
  private transcoder: AacToOpus | null = null;
  private audioSeq = Math.floor(Math.random() * 0x10000);
  private volume = 100;
  private opusSource = false;
  private loggedErrors = 0;
  private lastErrorLog = -Infinity;
  private closed = false;
  /**
   * Set by ingests whose publisher can make a keyframe on request (WHIP). Viewers then ask for one when they join
   * or lose a picture; without it (RTMP, pull) the cached GOP is all there is.
   */
  requestKeyframe: (() => void) | null = null;
  /**
   * Set when this publisher runs on the native RTMP data plane: packetizing, transcoding, the GOP cache and the
   * fan-out to viewers happen there, and the frames JavaScript still parses (sequence headers, the first frames
   * before the socket is handed over, anything unusual) are pushed to it. Viewers then send through native sinks.
   */
  native: { plane: DataPlane; pipe: number } | null = null;
  private audioConfig: AudioConfig | null = null;

  constructor(private readonly opts: MediaFeedOptions) {}

  /**
   * Moves this feed onto a new pipe of the data plane (before any viewer subscribes through it); `onEvent` gets the
   * pipe's events. Returns the pipe.
   */
  useNativePlane(plane: DataPlane, onEvent: PipeEventHandler): number {
    const pipe = plane.createPipe({ opusBitrate: this.opts.opusBitrate, opusComplexity: this.opts.opusComplexity ?? 5 }, onEvent);
    this.native = { plane, pipe };
    for (const l of [...this.listeners]) l.onPlane(); // viewers waiting for a reconnecting publisher
    this.listeners.clear();
    this.transcoder?.close();
    this.transcoder = null;
    this.gop = [];
    if (this.video) this.setVideoConfig(this.video);
    if (this.audioConfig) this.setAudioConfig(this.audioConfig);
    return pipe;
  }

  setVideoConfig(config: H264Config): void {
    this.video = config;
    this.native?.plane.native.setVideoConfig(this.native.pipe, config.naluLengthSize, config.sps, config.pps);
  }

  setAudioConfig(config: AudioConfig): void {
    this.transcoder?.close();
    this.transcoder = null;
    this.loggedErrors = 0;
    this.audioConfig = config;
    this.opusSource = config.codec === 'Opus';
    if (this.native) {
      const { plane, pipe } = this.native;
      const refused = plane.native.setAudioConfig(pipe, config.codec === 'AAC' ? config.asc : null, this.volume);
      if (refused) this.opts.log.warn({ err: refused }, 'AAC config refused by the decoder: audio dropped');
      return;
    }
    if (config.codec !== 'AAC') return; // Opus is forwarded as it is
    try {
      this.transcoder = new AacToOpus({ asc: config.asc, bitrate: this.opts.opusBitrate, complexity: this.opts.opusComplexity, volume: this.volume });
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'AAC config refused by the decoder: audio dropped');
    }
  }

  setVolume(percent: number): void {
    this.volume = percent;
    this.transcoder?.setVolume(percent);
    if (this.native) this.native.plane.native.setVolume(this.native.pipe, percent);
  }

  push(frame: MediaFrame): void {
    if (this.closed) return;
    if (this.native) return this.pushNative(frame);
    const receivedAt = performance.now();
    if (frame.kind === 'video') this.pushVideo(frame, receivedAt);
    else if (this.opusSource) this.emitOpus(frame.data, Math.round(frame.dts * (OPUS_CLOCK / 1000)), receivedAt);
    else this.pushAac(frame.data, frame.dts, receivedAt);
  }

  private pushNative(frame: MediaFrame): void {
    const { plane, pipe } = this.native!;
    if (frame.kind === 'video') plane.native.pushVideo(pipe, frame.nalus, frame.pts, frame.keyframe);
    else if (this.opusSource) plane.native.pushOpus(pipe, frame.data, Math.round(frame.dts * (OPUS_CLOCK / 1000)) >>> 0);
    else plane.native.pushAac(pipe, frame.data, frame.dts);
  }

  /** Logs AAC frames the data plane's decoder refused (it reports at most one batch per 5 s). */
  noteNativeDecoderErrors(dropped: number, lastError: string): void {
    this.opts.log.warn({ dropped, lastError }, 'corrupt AAC frames dropped');
  }

  private pushVideo(frame: VideoFrame, receivedAt: number): void {
    if (!this.video) return;
    const unit: VideoUnit = { packets: this.packetizer.packetize(frame, this.video), keyframe: frame.keyframe, receivedAt };
    if (unit.keyframe) {
      this.gop = [unit];
      this.gopPackets = unit.packets.length;
    } else if (this.gop.length > 0) {
      this.gopPackets += unit.packets.length;
      if (this.gopPackets > GOP_CACHE_MAX_PACKETS) this.gop = [];
      else this.gop.push(unit);
    }
    for (const l of this.listeners) l.onVideo(unit);
  }

  private pushAac(data: Buffer, dts: number, receivedAt: number): void {
    // Nobody listens: decoding and encoding would be wasted (it is most of an idle publisher's cost). The
    // transcoder resyncs its timeline to the source clock when frames come again.
    if (!this.transcoder || this.listeners.size === 0) return;
    // A corrupt frame yields no packets and is counted in the transcoder's stats; it never throws.
    const packets = this.transcoder.push(data, dts);
    if (packets.length === 0) this.noteDecoderErrors();
    for (const opus of packets) this.emitOpus(opus.data, opus.timestamp, receivedAt);
  }

  /** Logs AAC frames the decoder refused: at most one line per 5 s (decoderErrorReportMs) per publisher, with the count since the last. */
  private noteDecoderErrors(): void {
    const { errors, lastError } = this.transcoder!.stats;
    const now = performance.now();
    if (errors === this.loggedErrors || now - this.lastErrorLog < SHARED_LIMITS.decoderErrorReportMs) return;
    this.opts.log.warn({ dropped: errors - this.loggedErrors, lastError }, 'corrupt AAC frames dropped');
    this.loggedErrors = errors;
    this.lastErrorLog = now;
  }

  private emitOpus(data: Buffer, timestamp: number, receivedAt: number): void {
    const header = new RtpHeader({ payloadType: 111, sequenceNumber: this.audioSeq, timestamp: timestamp >>> 0, marker: false });
    this.audioSeq = (this.audioSeq + 1) & 0xffff;
    const packet = new RtpPacket(header, data);
    for (const l of this.listeners) l.onAudio(packet, receivedAt);
  }

  close(): void {
    this.closed = true;
    if (this.native) this.native.plane.closePipe(this.native.pipe);
    this.transcoder?.close();
    this.transcoder = null;
    this.gop = [];
  }
}
