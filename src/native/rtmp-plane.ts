// Typed loader for the media engine's native plane (native/src/plane/; src/room/engine.ts wraps it in typed handles):
// every publisher's pipe and every consumer's sinks and taps, and one thread per gateway that reads handed-over
// inputs (RTMP sockets, pull tasks' ffmpeg output) and runs each frame from there to viewers (chunks or FLV tags →
// RTP / AAC → Opus → per-viewer numbering → SRTP → sendmmsg) without waking the event loop. JavaScript keeps
// everything else: the handshake and commands up to Publish.Start, auth, the messages the plane hands back (sequence
// headers, anything unusual), ICE/DTLS, picture-loss and NACK requests, sender reports. `loadRtmpPlane()` returns
// null when the addon is not built.

import { requireAddon } from './load-addon.js';
import type { NativeSrtpSender } from './srtp-send.js';

/**
 * What the plane tells JavaScript, decoded from the addon's raw events (decodePlaneEvent, below — the only place that
 * knows native/src/plane/pipe.h's Event::Kind numbers and which raw fields each kind fills).
 */
export type PlaneEvent =
  /** An audio/video message for JavaScript to parse; the pipe waits for resume(pipe). */
  | { kind: 'media'; pipe: number; type: 8 | 9; timestamp: number; body: Buffer }
  /** A command (AMF0 20 / AMF3 17 invoke) message. */
  | { kind: 'message'; pipe: number; type: number; timestamp: number; body: Buffer }
  /** The socket was closed by the peer or failed. */
  | { kind: 'ended'; pipe: number; reason: string }
  /** The chunk stream broke a rule (text: the sentence). */
  | { kind: 'protocol-error'; pipe: number; text: string }
  | { kind: 'first-video'; pipe: number }
  | { kind: 'first-audio'; pipe: number }
  /** AAC frames the decoder refused since the last such event, and the last error. */
  | { kind: 'decoder-errors'; pipe: number; count: number; text: string };

export type PlaneEventKind = PlaneEvent['kind'];

/** One event as the addon hands it over (addon.cc Deliver): every field always present. */
export interface RawPlaneEvent {
  kind: number;
  pipe: number;
  type: number;
  timestamp: number;
  body: Buffer;
  text: string;
  number: number;
}

/** native/src/plane/pipe.h Event::Kind. */
const RAW_KINDS: Record<number, PlaneEventKind> = {
  1: 'media',
  2: 'message',
  3: 'ended',
  4: 'protocol-error',
  5: 'first-video',
  6: 'first-audio',
  7: 'decoder-errors',
};

/**
 * The addon's raw event as a PlaneEvent, or null for a kind this side does not know (an addon newer than the
 * JavaScript: ignored, as the consumers' switches did before the events were typed).
 */
export function decodePlaneEvent(e: RawPlaneEvent): PlaneEvent | null {
  const kind = RAW_KINDS[e.kind];
  if (kind === undefined) return null;
  const { pipe } = e;
  switch (kind) {
    case 'media':
      return { kind, pipe, type: e.type as 8 | 9, timestamp: e.timestamp, body: e.body };
    case 'message':
      return { kind, pipe, type: e.type, timestamp: e.timestamp, body: e.body };
    case 'ended':
      return { kind, pipe, reason: e.text };
    case 'protocol-error':
      return { kind, pipe, text: e.text };
    case 'first-video':
    case 'first-audio':
      return { kind, pipe };
    case 'decoder-errors':
      return { kind, pipe, count: e.number, text: e.text };
    default: {
      const unknown: never = kind;
      return unknown;
    }
  }
}

export interface ChunkStreamState {
  csid: number;
  timestamp: number;
  length: number;
  type: number;
  streamId: number;
  clock: number;
}

export interface PipeStats {
  videoFrames: number;
  audioFrames: number;
  keyframes: number;
  maxGopMs: number;
  /** Plane clock of the last bytes read from the input fd (0: never). */
  lastInputAt: number;
  /** An FLV input's last tag: its own timestamp (-1: none since attachFlv) and as it went on, rebased (-1: none ever). */
  lastSourceTs: number;
  lastOutTs: number;
}

export interface SinkInfo {
  packetCount: number;
  octetCount: number;
  rtpTimestamp: number;
  /** Plane clock (now()) of the last send, 0 before. */
  lastSendAt: number;
}

export interface SinkOptions {
  video: boolean;
  sender: NativeSrtpSender;
  ssrc: number;
  payloadType: number;
  clockRate: number;
  fd: number;
  host: string;
  port: number;
  consent: boolean;
  /** Numbering to continue (-1: nothing sent yet); lastWall on the plane clock. */
  lastSeq: number;
  lastTs: number;
  lastWall: number;
  /** Start with the cached GOP (a live viewer joining). */
  replay: boolean;
}

/** A tap (native/src/plane/tap.h): the publisher's source frames, muxed, written to a file descriptor the caller owns. */
export interface TapOptions {
  /** A file, a pipe or a socket; made non-blocking. The tap writes through its own dup (closed at removeTap), never closing this one. */
  fd: number;
  video: boolean;
  /** The publisher's audio codec as it arrives ('' for none): taps mux source frames, they do not transcode. */
  audio: 'aac' | 'opus' | '';
  format: 'mpegts' | 'matroska';
  /** Matroska's track header (from H264Config); MPEG-TS needs none. */
  width?: number;
  height?: number;
}

export interface TapStats {
  /** Frames given to the muxer. */
  videoFrames: number;
  audioFrames: number;
  /** Bytes the fd took. */
  bytesWritten: number;
  /** Frames dropped because the reader fell a queue (shared-limits tapQueueBytes) behind. */
  droppedFrames: number;
  /** Muxed bytes waiting for the fd (retried on the next frame). */
  pendingBytes: number;
  /** '' while it runs; a write error (e.g. "Broken pipe") stops the tap, a muxer error costs one frame. */
  lastError: string;
}

export interface RtmpPlane {
  createPipe(opts: { opusBitrate: number; opusComplexity: number }): number;
  attachSocket(
    pipe: number,
    opts: { fd: number; chunkSize: number; streams: ChunkStreamState[]; maxChunkSize: number; maxMessageSize: number; maxChunkStreams: number },
  ): void;
  /** A pull task's ffmpeg output (FLV), at a tag boundary: `leftover` is what was read of the next tag(s). */
  attachFlv(pipe: number, opts: { fd: number; leftover: Buffer; base: number; firstTs: number; maxTagSize: number }): void;
  /** Stops reading the pipe's input; the pipe and its consumers stay. The fd may be closed afterwards. */
  detachInput(pipe: number): void;
  closePipe(pipe: number): void;
  /** Continue after a media event was handled. */
  resume(pipe: number): void;
  setVideoConfig(pipe: number, naluLengthSize: number, sps: Buffer[], pps: Buffer[]): void;
  /** Returns '' or why the decoder refused the config (audio is then dropped). */
  setAudioConfig(pipe: number, asc: Buffer | null, volume: number): string;
  setVolume(pipe: number, percent: number): void;
  pushVideo(pipe: number, nalus: Buffer[], ptsMs: number, keyframe: boolean): void;
  pushAac(pipe: number, data: Buffer, dtsMs: number): void;
  pushOpus(pipe: number, data: Buffer, rtpTimestamp: number): void;
  pipeStats(pipe: number): PipeStats | null;
  addSink(pipe: number, opts: SinkOptions): number;
  /** Returns [lastSeq, lastTs, lastWall] (plane clock), or null for an unknown sink. */
  removeSink(sink: number): [number, number, number] | null;
  /** The viewer transport's current SRTP session, ICE pair and consent. */
  sinkTarget(sink: number, sender: NativeSrtpSender, fd: number, host: string, port: number, consent: boolean): void;
  sinkReplay(sink: number): boolean;
  sinkRetransmit(sink: number, seqs: number[]): void;
  sinkInfo(sink: number): SinkInfo | null;
  /** Throws an Error with a sentence for an unknown pipe, a bad format or a muxer that refuses the streams. */
  addTap(pipe: number, opts: TapOptions): number;
  /** Trailer, a last non-blocking flush; null for an unknown tap. */
  removeTap(tap: number): { leftBytes: number } | null;
  tapStats(tap: number): TapStats | null;
  recordLatency(on: boolean): void;
  /** [video 1/0, receivedAt, sentAt, …] on the plane clock since the last call. */
  takeLatency(): Float64Array;
  /** The plane clock (CLOCK_MONOTONIC, ms). */
  now(): number;
  close(): void;
}

interface RtmpPlaneModule {
  RtmpPlane: new (onEvents: (events: PlaneEvent[]) => void) => RtmpPlane;
}

/** The addon's own export: its callback gets raw events. */
interface RawRtmpPlaneModule {
  RtmpPlane: new (onEvents: (events: RawPlaneEvent[]) => void) => RtmpPlane;
}

let mod: RtmpPlaneModule | null | undefined;
export let rtmpPlaneLoadError = '';

/** The addon's RtmpPlane with its events decoded (decodePlaneEvent) before they reach `onEvents`. */
function typed(raw: RawRtmpPlaneModule): RtmpPlaneModule {
  const Raw = raw.RtmpPlane;
  const RtmpPlane = function (onEvents: (events: PlaneEvent[]) => void): RtmpPlane {
    return new Raw((events) => {
      const out: PlaneEvent[] = [];
      for (const e of events) {
        const d = decodePlaneEvent(e);
        if (d) out.push(d);
      }
      if (out.length > 0) onEvents(out);
    });
  } as unknown as RtmpPlaneModule['RtmpPlane'];
  return { RtmpPlane };
}

export function loadRtmpPlane(): RtmpPlaneModule | null {
  if (mod === undefined) {
    const r = requireAddon<RawRtmpPlaneModule>('media');
    rtmpPlaneLoadError = r.error;
    mod = r.mod ? typed(r.mod) : null;
  }
  return mod;
}
