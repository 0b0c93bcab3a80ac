// A fake viewer transport for driving the native data plane's sinks (native/src/plane/sink.cc) in-process: a
// node:dgram socket on 127.0.0.1 whose fd the plane sends on (as src/room/srtp-transport.ts hands a viewer's ICE
// socket to it), a second socket that receives, SRTP-decrypts with the native receiver (independent of the sender's
// state) and parses every RTP packet. Also: the real encoder output the tests push (an ffmpeg/libx264 clip through
// FlvToMedia, as an RTMP publisher's tags would go), and small helpers around the plane's API.

import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { udpSocketFd } from '../../src/node-internals.js';
import { loadRtmpPlane, rtmpPlaneLoadError, type PlaneEvent, type RtmpPlane, type SinkOptions } from '../../src/native/rtmp-plane.js';
import { loadSrtpSend, SRTP_AEAD_AES_128_GCM, srtpSendLoadError, type NativeSrtpSender } from '../../src/native/srtp-send.js';
import { srtpReceiverClass, type NativeSrtpReceiver } from './srtp-receiver.js';
import { requireAddon } from '../../src/native/load-addon.js';
import { FlvToMedia } from '../../src/media/flv-to-media.js';
import type { AacConfig, AudioFrame, H264Config, VideoFrame } from '../../src/media/model.js';
import { SHARED_LIMITS } from '../../src/media/shared-limits.js';
import { avArgs, flvTags } from '../media/helpers/flv-file.js';
import { feed, RecordingSink } from '../media/helpers/sink.js';

// ---- the addons -----------------------------------------------------------------------------------------------------

/** The plane module, the SRTP sender and (test-only) receiver; throws with the load error when the addon is not built. */
export function addons() {
  const plane = loadRtmpPlane();
  const send = loadSrtpSend();
  if (!plane || !send) {
    throw new Error(`native addon not built (node scripts/build-native.mjs): ${rtmpPlaneLoadError || srtpSendLoadError}`);
  }
  return { RtmpPlane: plane.RtmpPlane, SrtpSender: send.SrtpSender, SrtpReceiver: srtpReceiverClass() };
}

/** A plane whose events are collected; close() is idempotent. */
export function openPlane(): { plane: RtmpPlane; events: PlaneEvent[]; close(): void } {
  const events: PlaneEvent[] = [];
  const plane = new (addons().RtmpPlane)((es) => events.push(...es));
  let closed = false;
  return {
    plane,
    events,
    close: () => {
      if (!closed) plane.close();
      closed = true;
    },
  };
}

type Packetize = (nalus: Buffer[], keyframe: boolean, sps: Buffer[], pps: Buffer[], maxPayload: number) => Buffer[];
let nativePacketize: Packetize | undefined;

/** The RTP payloads the plane's packetizer (h264_rtp.cc, through the addon's testing export) makes of a frame. */
export function payloadsOf(frame: VideoFrame, config: H264Config): Buffer[] {
  if (!nativePacketize) {
    const { mod, error } = requireAddon<{ testing: { packetize: Packetize } }>('media');
    if (!mod) throw new Error(`native addon not built: ${error}`);
    nativePacketize = mod.testing.packetize;
  }
  return nativePacketize(frame.nalus, frame.keyframe, config.sps, config.pps, SHARED_LIMITS.rtpMaxPayload);
}

/** How many RTP packets the pipe makes of a frame. */
export function packetCount(frame: VideoFrame, config: H264Config): number {
  return payloadsOf(frame, config).length;
}

export interface SinkSample {
  packetCount: number;
  lastSendAt: number;
}

/**
 * Watches a sink's counters without yielding to the event loop (received packets wait in the kernel meanwhile):
 * one sample per change of sinkInfo().packetCount, until `until(count)` or `timeoutMs`. The counters change under the
 * plane's lock, one whole send at a time, so each step is one or more complete sends; lastSendAt is the plane's own
 * time of the newest one. Sleeps 0.1 ms between looks (Atomics.wait) to leave the plane's thread its lock.
 */
export function watchSink(plane: RtmpPlane, sink: number, until: (count: number) => boolean, timeoutMs = 2000): SinkSample[] {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const samples: SinkSample[] = [];
  const end = performance.now() + timeoutMs;
  let last = -1;
  for (;;) {
    const info = plane.sinkInfo(sink);
    if (!info) break;
    if (info.packetCount !== last) {
      last = info.packetCount;
      samples.push({ packetCount: info.packetCount, lastSendAt: info.lastSendAt });
    }
    if (until(last) || performance.now() > end) break;
    Atomics.wait(nap, 0, 0, 0.1);
  }
  return samples;
}

// ---- the fake transport ---------------------------------------------------------------------------------------------

/** The fd behind a node:dgram socket, as the gateway finds it (udpSocketFd, src/node-internals.ts). */
export function dgramFd(socket: Socket): number {
  const fd = udpSocketFd(socket);
  if (fd < 0) throw new Error('no fd on this node:dgram socket');
  return fd;
}

export interface RtpRecord {
  ssrc: number;
  seq: number;
  ts: number;
  marker: boolean;
  payloadType: number;
  payload: Buffer;
  /** performance.now() when the 'message' event ran (coarse: the event loop may be late). */
  at: number;
}

/** Parses a plain RTP packet (RFC 3550 §5.1); the plane sends no CSRCs, extensions or padding, which is checked. */
export function parseRtp(b: Buffer, at = 0): RtpRecord {
  if (b.length < 12 || b[0]! >>> 6 !== 2) throw new Error('not RTP version 2');
  if ((b[0]! & 0x3f) !== 0) throw new Error(`unexpected RTP flags 0x${b[0]!.toString(16)}`);
  return {
    marker: (b[1]! & 0x80) !== 0,
    payloadType: b[1]! & 0x7f,
    seq: b.readUInt16BE(2),
    ts: b.readUInt32BE(4),
    ssrc: b.readUInt32BE(8),
    payload: Buffer.from(b.subarray(12)),
    at,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class FakeTransport {
  /** Every packet received, decrypted, in arrival order. */
  readonly packets: RtpRecord[] = [];
  /** Datagrams that failed SRTP authentication (should stay 0). */
  authFailures = 0;
  readonly host = '127.0.0.1';

  private constructor(
    /** The socket the plane sends on (like the viewer's ICE socket). */
    readonly tx: Socket,
    readonly rx: Socket,
    readonly sender: NativeSrtpSender,
    private readonly receiver: NativeSrtpReceiver,
  ) {
    rx.on('message', (m) => {
      const n = this.receiver.unprotect(m);
      if (n < 12) this.authFailures++;
      else this.packets.push(parseRtp(m.subarray(0, n), performance.now()));
    });
  }

  /** A send/receive socket pair on loopback with a fresh AES-GCM SRTP key (the profile browsers prefer). */
  static async open(): Promise<FakeTransport> {
    const { SrtpSender, SrtpReceiver } = addons();
    const key = randomBytes(16);
    const salt = randomBytes(12);
    const profile = SRTP_AEAD_AES_128_GCM;
    // A big receive buffer: a replayed GOP arrives in bursts of replayBurst packets while the test may be busy.
    const rx = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    const tx = createSocket('udp4');
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
    await new Promise<void>((r) => tx.bind(0, '127.0.0.1', r));
    return new FakeTransport(tx, rx, new SrtpSender({ profile, key, salt }), new SrtpReceiver({ profile, key, salt }));
  }

  get fd(): number {
    return dgramFd(this.tx);
  }

  get port(): number {
    return this.rx.address().port;
  }

  /** SinkOptions for this transport; numbering fresh (lastSeq −1) and no replay unless overridden. */
  sink(over: Partial<SinkOptions> & Pick<SinkOptions, 'video'>): SinkOptions {
    return {
      sender: this.sender,
      ssrc: over.video ? 0x1234abcd : 0x5678ef01,
      payloadType: over.video ? 102 : 111,
      clockRate: over.video ? 90000 : 48000,
      fd: this.fd,
      host: this.host,
      port: this.port,
      consent: true,
      lastSeq: -1,
      lastTs: 0,
      lastWall: 0,
      replay: false,
      ...over,
    };
  }

  /** Waits until `count` packets have arrived in all (false after `timeoutMs`). */
  async waitCount(count: number, timeoutMs = 1000): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    while (this.packets.length < count) {
      if (performance.now() > end) return false;
      await sleep(2);
    }
    return true;
  }

  /** Lets whatever is in flight arrive: resolves after `ms` without a new packet. */
  async settle(ms = 30): Promise<void> {
    let seen = -1;
    while (seen !== this.packets.length) {
      seen = this.packets.length;
      await sleep(ms);
    }
  }

  /** The packets received from index `from` on (and forgets nothing). */
  since(from: number): RtpRecord[] {
    return this.packets.slice(from);
  }

  close(): void {
    this.rx.close();
    this.tx.close();
    this.sender.close();
    this.receiver.close();
  }
}

// ---- real encoder output --------------------------------------------------------------------------------------------

export interface Clip {
  config: H264Config;
  /** Access units in decode order (no B-frames: pts == dts). */
  video: VideoFrame[];
  /** Indexes into `video` of the IDR access units. */
  keyIndexes: number[];
  audioConfig: AacConfig;
  /** Raw AAC frames with their dts (ms). */
  audio: AudioFrame[];
}

/**
 * Two seconds of ffmpeg testsrc2 + sine: libx264 baseline 640x360, 30 fps, an IDR every 30 frames, no B-frames; AAC-LC
 * 44.1 kHz. The same arguments as test/native/plane-parse.test.ts's baseline clip, so both share one cached file
 * (test/media/helpers/flv-file.ts: under the OS temp directory). Parsed by FlvToMedia as the RTMP path would.
 */
export function baselineClip(): Promise<Clip> {
  return clipOfSize('640x360');
}

/** Pushes a video frame, its pts moved by `shiftMs` (a publisher's clock going on past the clip). */
export function pushFrame(plane: RtmpPlane, pipe: number, f: VideoFrame, shiftMs = 0): void {
  plane.pushVideo(pipe, f.nalus, f.pts + shiftMs, f.keyframe);
}

/** A pipe with the clip's video config set. */
export function videoPipe(plane: RtmpPlane, c: Clip): number {
  const pipe = plane.createPipe({ opusBitrate: 64000, opusComplexity: 5 });
  plane.setVideoConfig(pipe, c.config.naluLengthSize, c.config.sps, c.config.pps);
  return pipe;
}

/** 90 kHz RTP timestamp of a pts in ms, as the plane computes it (llround). */
export const ts90 = (ms: number) => Math.round(ms * 90) >>> 0;

/** Sequence-number distance b − a modulo 2^16. */
export const seqDelta = (a: number, b: number) => (b - a + 0x10000) & 0xffff;

/** Timestamp distance b − a modulo 2^32. */
export const tsDelta = (a: number, b: number) => (b - a + 0x100000000) % 0x100000000;

/** A plane and a fake transport for one test, both closed at its end. */
export async function planeSetUp(t: { teardown(fn: () => unknown): void }): Promise<{ p: ReturnType<typeof openPlane>; net: FakeTransport }> {
  const p = openPlane();
  t.teardown(p.close);
  const net = await FakeTransport.open();
  t.teardown(() => net.close());
  return { p, net };
}

/** planeSetUp and a pipe with the clip's video config. */
export async function videoSetUp(t: { teardown(fn: () => unknown): void }, c: Clip): Promise<{ p: ReturnType<typeof openPlane>; net: FakeTransport; pipe: number }> {
  const { p, net } = await planeSetUp(t);
  return { p, net, pipe: videoPipe(p.plane, c) };
}

// ---- more encoder output, and pushing it in order --------------------------------------------------------------------

const clips = new Map<string, Promise<Clip>>();

/**
 * The baseline clip's encoding (libx264 baseline, 30 fps, an IDR every 30 frames, no B-frames; AAC-LC 44.1 kHz; two
 * seconds) at any picture size: another size is a publisher whose SPS differs.
 */
export function clipOfSize(size: string): Promise<Clip> {
  let c = clips.get(size);
  if (!c) {
    c = (async () => {
      const X264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-g', '30'];
      const flv = await flvTags(avArgs({ size, video: [...X264, '-profile:v', 'baseline', '-bf', '0'] }));
      const sink = new RecordingSink();
      const r = feed(new FlvToMedia(sink), flv.tags);
      if (r.refusal) throw new Error(`clip refused: ${JSON.stringify(r.refusal)}`);
      const config = sink.videoConfigs[0] as H264Config;
      const audioConfig = sink.audioConfigs[0] as AacConfig;
      if (!config || !audioConfig || sink.video.length < 60) throw new Error('clip lacks video or audio');
      const keyIndexes = sink.video.flatMap((f, i) => (f.keyframe ? [i] : []));
      return { config, video: sink.video, keyIndexes, audioConfig, audio: sink.audio };
    })();
    clips.set(size, c);
  }
  return c;
}

/** One frame of a clip in push order: video frame `i` or audio frame `i`, at `ms`. */
export interface ClipItem {
  kind: 'video' | 'audio';
  i: number;
  ms: number;
}

/** A/V of a clip in push order (by timestamp, video first on a tie), from video frame `from` on, shifted by `shift` ms. */
export function clipSchedule(c: Clip, from = 0, shift = 0): ClipItem[] {
  const start = c.video[from]!.pts;
  const items: ClipItem[] = [
    ...c.video.slice(from).map((f, k) => ({ kind: 'video' as const, i: from + k, ms: f.pts + shift })),
    ...c.audio.flatMap((f, i) => (f.dts >= start ? [{ kind: 'audio' as const, i, ms: f.dts + shift }] : [])),
  ];
  return items.sort((a, b) => a.ms - b.ms || (a.kind === 'video' ? -1 : 1));
}

/** Pushes scheduled frames of `c` into a pipe as a WHIP or pull publisher would, each moved by `shift` ms. */
export function pushClipItems(plane: RtmpPlane, pipe: number, c: Clip, items: readonly ClipItem[], shift = 0): void {
  for (const x of items) {
    if (x.kind === 'video') pushFrame(plane, pipe, c.video[x.i]!, shift);
    else plane.pushAac(pipe, c.audio[x.i]!.data, c.audio[x.i]!.dts + shift);
  }
}
