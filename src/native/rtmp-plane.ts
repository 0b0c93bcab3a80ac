// Typed loader for the native RTMP data plane (native/src/plane/): one thread per gateway that reads handed-over
// RTMP sockets and runs each frame from socket to viewers (chunks → FLV → RTP / AAC → Opus → per-viewer numbering →
// SRTP → sendmmsg) without waking the event loop. JavaScript keeps everything else: the handshake and commands up
// to Publish.Start, auth, the messages the plane hands back (sequence headers, anything unusual), ICE/DTLS,
// picture-loss and NACK requests, sender reports. `loadRtmpPlane()` returns null when the addon is not built.

import { requireAddon } from './load-addon.js';
import type { NativeSrtpSender } from './srtp-send.js';

/** Event kinds (native/src/plane/pipe.h Event::Kind). */
export const PLANE_MEDIA = 1;
export const PLANE_MESSAGE = 2;
export const PLANE_ENDED = 3;
export const PLANE_PROTOCOL_ERROR = 4;
export const PLANE_FIRST_VIDEO = 5;
export const PLANE_FIRST_AUDIO = 6;
export const PLANE_DECODER_ERRORS = 7;

export interface PlaneEvent {
  kind: number;
  pipe: number;
  /** RTMP message type (media and command events). */
  type: number;
  timestamp: number;
  body: Buffer;
  text: string;
  number: number;
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

export interface RtmpPlane {
  createPipe(opts: { opusBitrate: number; opusComplexity: number }): number;
  attachSocket(
    pipe: number,
    opts: { fd: number; chunkSize: number; streams: ChunkStreamState[]; maxChunkSize: number; maxMessageSize: number; maxChunkStreams: number },
  ): void;
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

let mod: RtmpPlaneModule | null | undefined;
export let rtmpPlaneLoadError = '';

export function loadRtmpPlane(): RtmpPlaneModule | null {
  if (mod === undefined) ({ mod, error: rtmpPlaneLoadError } = requireAddon<RtmpPlaneModule>('media'));
  return mod;
}
