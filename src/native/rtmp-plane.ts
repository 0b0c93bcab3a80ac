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
  | { kind: 'decoder-errors'; pipe: number; count: number; text: string }
  /**
   * A WHIP publisher's access unit that needs JavaScript (new SPS/PPS, a slice the policy rules on): its NAL units,
   * AUD and filler left out, and its time on the session's clock. Later frames wait for resume(pipe).
   */
  | { kind: 'rtp-video'; pipe: number; nalus: Buffer[]; ms: number; keyframe: boolean }
  /** A datagram off a WHIP publisher's socket that is werift's: STUN, DTLS, SRTCP. */
  | { kind: 'datagram'; pipe: number; body: Buffer; address: string; port: number }
  /** WHIP video packets to ask the publisher for again (generic NACK for `ssrc`). */
  | { kind: 'nack'; pipe: number; ssrc: number; seqs: number[] }
  /** A WHIP publisher's frames are being dropped until its next keyframe. */
  | { kind: 'keyframe-wanted'; pipe: number }
  /** A file-mode tap closed a file (removeTap's own file also comes back from removeTap). */
  | ({ kind: 'tap-file'; tap: number; cause: TapFileCause } & TapFile)
  /** A file-mode tap could not open or write `path` (ENOSPC, EACCES, …): it writes nothing more. */
  | { kind: 'tap-failed'; tap: number; path: string; message: string };

export type PlaneEventKind = PlaneEvent['kind'];
/** The events about a file-mode tap (it may have outlived its pipe: they name the tap, not a pipe). */
export type TapEvent = Extract<PlaneEvent, { kind: 'tap-file' | 'tap-failed' }>;
/** The events about a pipe. */
export type PipeEvent = Exclude<PlaneEvent, TapEvent>;

/** One event as the addon hands it over (addon.cc Deliver): every field always present, the tap's on tap events only. */
export interface RawPlaneEvent {
  kind: number;
  pipe: number;
  type: number;
  timestamp: number;
  body: Buffer;
  text: string;
  number: number;
  tap?: number;
  path?: string;
  startWallMs?: number;
  durationMs?: number;
  bytes?: number;
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
  8: 'tap-file',
  9: 'tap-failed',
  10: 'rtp-video',
  11: 'datagram',
  12: 'nack',
  13: 'keyframe-wanted',
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
    case 'keyframe-wanted':
      return { kind, pipe };
    case 'rtp-video':
      return { kind, pipe, nalus: splitLengthPrefixed(e.body), ms: e.number, keyframe: e.type === 1 };
    case 'datagram':
      return { kind, pipe, body: e.body, address: e.text, port: e.number };
    case 'nack': {
      const seqs: number[] = [];
      for (let o = 0; o + 2 <= e.body.length; o += 2) seqs.push(e.body.readUInt16BE(o));
      return { kind, pipe, ssrc: e.number, seqs };
    }
    case 'decoder-errors':
      return { kind, pipe, count: e.number, text: e.text };
    case 'tap-file':
      return {
        kind,
        tap: e.tap ?? 0,
        path: e.path ?? '',
        startWallMs: e.startWallMs ?? 0,
        durationMs: e.durationMs ?? 0,
        bytes: e.bytes ?? 0,
        cause: e.text as TapFileCause,
      };
    case 'tap-failed':
      return { kind, tap: e.tap ?? 0, path: e.path ?? '', message: e.text };
    default: {
      const unknown: never = kind;
      return unknown;
    }
  }
}

/** NAL units each after a 4-byte length (the 'rtp-video' event's body). */
function splitLengthPrefixed(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o + 4 <= body.length; ) {
    const n = body.readUInt32BE(o);
    o += 4;
    out.push(body.subarray(o, o + n));
    o += n;
  }
  return out;
}

/** What attachRtp needs: werift's socket, the publisher's SRTP keys and the negotiated payload types. */
export interface RtpInputOptions {
  /** werift's UDP socket (the engine reads it from now on), or -1: only pushSrtp. */
  fd: number;
  /** DTLS-SRTP profile id (1 AES_CM_128_HMAC_SHA1_80, 7 AEAD_AES_128_GCM). */
  profile: number;
  key: Buffer;
  salt: Buffer;
  videoPayloadTypes: number[];
  audioPayloadTypes: number[];
  /** Plane clock (ms) the frames' timestamps count from. */
  clockStart: number;
}

/** One SSRC's reception, as an RTCP receiver report block states it (RFC 3550 §6.4.1). */
export interface RtpSourceReport {
  ssrc: number;
  video: boolean;
  received: number;
  extendedHighest: number;
  cumulativeLost: number;
  /** Since the previous report (8-bit fixed point). */
  fractionLost: number;
  jitter: number;
}

export interface RtpReport {
  packets: number;
  bytes: number;
  /** Failed SRTP authentication or not RTP. */
  rejected: number;
  unknownPayload: number;
  nacked: number;
  recovered: number;
  gaveUp: number;
  tooLate: number;
  /** Plane clock of the last authentic RTP packet (0: none yet). */
  lastRtpAt: number;
  sources: RtpSourceReport[];
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
  /** Encoded payload taken in, bytes: NAL units (without length prefixes), AAC or Opus frames. */
  videoBytes: number;
  audioBytes: number;
  maxGopMs: number;
  /** Plane clock of the last bytes read from the input fd (0: never). */
  lastInputAt: number;
  /** An FLV input's last tag: its own timestamp (-1: none since attachFlv) and as it went on, rebased (-1: none ever). */
  lastSourceTs: number;
  lastOutTs: number;
}

/**
 * RTP packets all sinks lost on the way out since the plane started (native/src/plane/send_counters.h); each lost
 * packet is in exactly one of the four.
 */
export interface SendStats {
  /** The kernel refused them: the socket's send buffer was full (EAGAIN, EWOULDBLOCK, ENOBUFS). */
  bufferFull: number;
  /** The kernel refused them for another reason (ECONNREFUSED, ENETUNREACH, EPERM, …). */
  otherError: number;
  /** Never tried: the rest of a frame after a failed send, and video skipped to the next keyframe after one. */
  droppedBehind: number;
  /** Never tried: the viewer's transport had no ICE consent (RFC 7675) or no socket, and video skipped after that. */
  droppedNoConsent: number;
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

/** A tap (native/src/plane/tap.h): the publisher's source frames, muxed, written to a file descriptor the caller owns or to recording files. */
export interface TapOptions {
  /**
   * fd mode: a file, a pipe or a socket; made non-blocking. The tap writes through its own dup (closed at removeTap),
   * never closing this one.
   */
  fd?: number;
  /** File mode (instead of fd): the tap writes and cuts the files itself. */
  file?: TapFileOptions;
  video: boolean;
  /**
   * The publisher's audio codec as it arrives ('' for none): taps mux source frames as they are, except
   * 'opus-to-aac', which makes AAC of a publisher's Opus (native/src/opus_aac_core.h) for containers and players
   * that want AAC (HLS segments, ADTS).
   */
  audio: 'aac' | 'opus' | 'opus-to-aac' | '';
  /**
   * 'mp4' is fragmented MP4 (a fragment per keyframe, playable when cut off); 'adts' is AAC alone (.aac); 'rtmp'
   * writes FLV tags as RTMP messages onto a socket on which JavaScript has published (native/src/plane/rtmp_out.h).
   */
  format: 'mpegts' | 'matroska' | 'mp4' | 'adts' | 'rtmp';
  /**
   * format 'rtmp' with fd: the message stream createStream gave and the chunk size the client announced. Without fd
   * (and this), the tap keeps the messages since the last keyframe until tapConnect.
   */
  rtmp?: { streamId: number; chunkSize: number };
  /** fd mode: Matroska's / MP4's track header (from H264Config); MPEG-TS needs none. File mode reads each file's SPS. */
  width?: number;
  height?: number;
}

/**
 * Where and how a file-mode tap writes. A new file starts at a cut point — a video keyframe, or any frame of an
 * audio-only tap — once `segmentMs` of media time is in the current one, once it nears `maxBytes` (it is cut at the
 * first cut point where its size plus the largest GOP so far plus 64 KiB would pass the limit), or when the pipe's
 * codec config changes under a container that keeps it in its header (MP4, Matroska: SPS/PPS; any format: the AAC
 * config). Every file starts with its container's header and a keyframe. MP4 and Matroska files each start at time 0;
 * MPEG-TS files (HLS segments) continue one timeline.
 */
export interface TapFileOptions {
  /** The path before `_<UTC>` / `_<n>`; its directory must exist (the caller makes it). */
  prefix: string;
  /** 'stamp': `<prefix>_<YYYYMMDDhhmmssSSS>.<ext>`, UTC+0 wall clock of the file's first frame; 'index': `<prefix>_<n>.<ext>`, n = 1, 2, … */
  naming: 'stamp' | 'index';
  /** Without the dot: 'ts', 'mp4', 'aac', 'mkv'. */
  ext: string;
  /** 0: never cut by time. */
  segmentMs: number;
  /** 0: no size limit. */
  maxBytes: number;
}

export type TapFileCause = 'segment' | 'size' | 'config' | 'finish';

/** A closed recording file. */
export interface TapFile {
  path: string;
  /** Unix time (ms) its first frame was written (also its name's UTC stamp). */
  startWallMs: number;
  /** Media time: the last frame's timestamp − the first's + one frame. */
  durationMs: number;
  bytes: number;
}

/** What removeTap leaves: the bytes the fd did not take (fd mode), and the last file closed by it (file mode, null when none was open). */
export interface TapRemoval {
  leftBytes: number;
  file: TapFile | null;
}

export interface TapStats {
  /** Frames given to the muxer. */
  videoFrames: number;
  audioFrames: number;
  /** Bytes the fd took (fd mode), or written to the files (file mode). */
  bytesWritten: number;
  /** Frames dropped because the reader fell a queue (shared-limits tapQueueBytes) behind, or audio of a changed config waiting for the next file. */
  droppedFrames: number;
  /** Muxed bytes waiting for the fd (retried on the next frame). */
  pendingBytes: number;
  /** '' while it runs; a write error (e.g. "Broken pipe") stops the tap, a muxer error costs one frame. */
  lastError: string;
  /** File mode: the file being written ('' when none: before the first frame, after a failure). */
  path: string;
  /** File mode: files closed so far. */
  files: number;
}

export interface RtmpPlane {
  createPipe(opts: { opusBitrate: number; opusComplexity: number }): number;
  attachSocket(
    pipe: number,
    opts: { fd: number; chunkSize: number; streams: ChunkStreamState[]; maxChunkSize: number; maxMessageSize: number; maxChunkStreams: number },
  ): void;
  /** A pull task's ffmpeg output (FLV), at a tag boundary: `leftover` is what was read of the next tag(s). */
  attachFlv(pipe: number, opts: { fd: number; leftover: Buffer; base: number; firstTs: number; maxTagSize: number }): void;
  /** A WHIP publisher's RTP from now on; throws for keys or a profile the SRTP code refuses. */
  attachRtp(pipe: number, opts: RtpInputOptions): void;
  /** An SRTP packet werift read itself (decrypted in place). */
  pushSrtp(pipe: number, packet: Buffer): void;
  /** Null when the pipe has no RTP input; `advance` starts the next fraction-lost interval. */
  rtpReport(pipe: number, advance: boolean): RtpReport | null;
  /** Stops reading the pipe's input; the pipe and its consumers stay. The fd may be closed afterwards. */
  detachInput(pipe: number): void;
  closePipe(pipe: number): void;
  /** Continue after a media event was handled. */
  resume(pipe: number): void;
  setVideoConfig(pipe: number, naluLengthSize: number, sps: Buffer[], pps: Buffer[]): void;
  /** Returns '' or why the decoder refused the config (audio is then dropped). */
  setAudioConfig(pipe: number, asc: Buffer | null, volume: number): string;
  setVolume(pipe: number, percent: number): void;
  /** SetUserBlocked: the blocked kinds reach no sink and no tap (still counted); video resumes at a keyframe. */
  setBlocked(pipe: number, audio: boolean, video: boolean): void;
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
  /** Throws an Error with a sentence for an unknown pipe, a bad format or file options, or a muxer that refuses the streams. */
  addTap(pipe: number, opts: TapOptions): number;
  /** Trailer, a last non-blocking flush (fd mode) or the last file closed (file mode); null for an unknown tap. */
  removeTap(tap: number): TapRemoval | null;
  tapStats(tap: number): TapStats | null;
  /** A file-mode or 'rtmp' tap off its pipe, its file (session) left open; false for an unknown tap, throws for another. */
  detachTap(tap: number): boolean;
  /**
   * A file-mode or 'rtmp' tap onto a pipe (off its own first): its timeline goes on one frame after the last, video
   * from a keyframe. Throws for an unknown tap or pipe, or another fd-mode tap.
   */
  attachTap(tap: number, pipe: number): void;
  /** Whole RTMP messages onto an 'rtmp' tap's socket, behind the media queued; false once it failed or unknown. */
  tapSend(tap: number, bytes: Buffer): boolean;
  /** An 'rtmp' tap made without fd gets its published socket; what it kept goes first. False for an unknown tap. */
  tapConnect(tap: number, fd: number, streamId: number, chunkSize: number): boolean;
  recordLatency(on: boolean): void;
  /** [video 1/0, receivedAt, sentAt, …] on the plane clock since the last call. */
  takeLatency(): Float64Array;
  /** Packets lost on the way out, over all sinks; read without the plane's lock. */
  sendStats(): SendStats;
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
