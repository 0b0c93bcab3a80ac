// Everything roomgate reads or changes inside werift that werift does not offer as public API, declared once.
// Like src/node-internals.ts for Node, this is the one seam: no other file casts a werift object. werift keeps
// these fields private (TypeScript `private`, or not in its types at all) and may rename them in any release,
// so `checkWerift()` connects two werift peers at start-up and verifies every shape below; a werift of another
// shape stops the gateway with one line naming the version and the field, instead of failing later in a session.
// After that check the accessors trust the shapes: what they may still answer `undefined` for is state that is
// legitimately absent at runtime (DTLS not finished, no selected ICE pair yet, a TURN pair without a UDP socket).

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import {
  RTCPeerConnection,
  RtpHeader,
  RtpPacket,
  useH264,
  useOPUS,
  type GenericNack,
  type RTCRtpReceiver,
  type RTCRtpSender,
  type RTCRtpTransceiver,
  type RtcpPacket,
} from 'werift';

/** The werift version these shapes were read from. */
export const WERIFT_TESTED_WITH = '0.25.2';

/** A candidate pair of werift's ICE agent (the selected one is `nominated`). */
export interface IcePair {
  remoteAddr: [string, number];
  /** A UDP pair's protocol holds werift's UDP transport (the native sender writes on its socket); TURN has none. */
  protocol: { transport?: { type: string; socket?: object; closed: boolean } };
}

/** werift's ICE agent (`Connection`). */
export interface IceConnection {
  /** werift queries stun.l.google.com even with `iceServers: []`; peer.ts clears it (no 5 s gathering wait). */
  stunServer?: unknown;
  /** The selected pair; undefined until ICE selects one, and again during an ICE restart. */
  nominated?: IcePair;
  state: string;
  /** RFC 7675 consent: false while the peer has stopped answering checks. */
  canSendApplicationData(): boolean;
}

/** werift's RTCIceTransport; `start()` runs its checks again after an ICE restart (ice-restart.ts). */
export interface IceTransport {
  state: string;
  start(): Promise<void>;
  connection: IceConnection;
}

/** The SRTP session werift derives when DTLS completes: its keys feed the native sender and receiver. */
export interface SrtpSession {
  config: {
    keys: { localMasterKey: Buffer; localMasterSalt: Buffer; remoteMasterKey: Buffer; remoteMasterSalt: Buffer };
    profile: number;
  };
  /** Replaced by rtp-intake.ts: what werift reads goes to the media engine. */
  decrypt(packet: Buffer): Buffer;
}

/** werift's DTLS socket: goodbye.ts encrypts a close_notify record with its cipher and numbering. */
export interface DtlsSocket {
  sessionType: number;
  dtls: { version: { major: number; minor: number }; epoch: number; recordSequenceNumber: number };
  /** `cipher.cipher` is undefined until the handshake has keys. */
  cipher: { cipher?: { encrypt(type: number, data: Buffer, header: { type: number; version: number; epoch: number; sequenceNumber: number }): Buffer } };
  transport: { send(buf: Buffer): Promise<unknown> | unknown };
}

/** werift's RTCDtlsTransport, with the fields its types keep private or loose. */
export interface DtlsTransport {
  /** 'server' makes our answer `a=setup:passive` (peer.ts: the browser starts the handshake at once). */
  role: string;
  state: string;
  iceTransport: IceTransport;
  /** Undefined until DTLS completes. */
  srtp?: SrtpSession;
  /** Undefined until the DTLS handshake starts. */
  dtls?: DtlsSocket;
  /** werift derives `srtp` here (RTCDtlsTransport.startSrtp); rtp-intake.ts wraps it to learn of the keys. */
  updateSrtpSession(): void;
  sendRtcp(packets: { serialize(): Buffer }[]): Promise<unknown>;
}

/** The fields of werift's RTCRtpSender that ViewerTrack reads and fills (the engine's sinks number the stream, it reports). */
export interface SenderInternals {
  dtlsTransport: DtlsTransport;
  ssrc: number;
  seqOffset: number;
  timestampOffset: number;
  codec?: { payloadType: number };
  // RTCP sender report inputs; werift's stats read them, its runRtcp loop reports them on the fallback path
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  cname?: string;
  stopped: boolean;
  // werift's report loop, stopped while the native path reports, and what it keeps to turn RRs into a round-trip
  rtcpRunning: boolean;
  rtcpCancel: AbortController;
  lastSRtimestamp?: number;
  lastSentSRTimestamp?: number;
  onGenericNack: { subscribe(f: (nack: { lost: number[] }) => void): unknown };
}

/** The part of werift's RTCRtpReceiver that sends a WHIP publisher's NACKs and receiver reports (rtp-intake.ts). */
export interface ReceiverRtcp {
  rtcpSsrc: number;
  dtlsTransport: { sendRtcp(packets: RtcpPacket[]): Promise<unknown> };
  /** The middle 32 bits of the NTP time of each SSRC's last sender report, and when (Date.now() / 1000) it came. */
  lastSRtimestamp: Record<number, number>;
  receiveLastSRTimestamp: Record<number, number>;
}

// ---- accessors -------------------------------------------------------------------------------------------------

/** The DTLS transport of a transceiver or sender (one per PeerConnection when bundled). */
export function dtlsTransportOf(t: RTCRtpTransceiver | RTCRtpSender): DtlsTransport {
  return (t as unknown as { dtlsTransport: DtlsTransport }).dtlsTransport;
}

/** Every DTLS transport of `pc`. */
export function dtlsTransportsOf(pc: RTCPeerConnection): DtlsTransport[] {
  return pc.dtlsTransports as unknown as DtlsTransport[];
}

/** Sets our DTLS role before the answer is created ('server': `a=setup:passive`). */
export function setDtlsRole(t: RTCRtpTransceiver, role: 'server' | 'client'): void {
  dtlsTransportOf(t).role = role;
}

export function iceTransportOf(dtls: DtlsTransport): IceTransport {
  return dtls.iceTransport;
}

export function iceConnectionOf(dtls: DtlsTransport): IceConnection {
  return dtls.iceTransport.connection;
}

/** The SRTP session and its keys, or undefined before DTLS has completed. */
export function srtpSessionOf(dtls: DtlsTransport): SrtpSession | undefined {
  return dtls.srtp;
}

/** The DTLS socket, or undefined before the handshake started. */
export function dtlsSocketOf(dtls: DtlsTransport): DtlsSocket | undefined {
  return dtls.dtls;
}

export function senderInternals(sender: RTCRtpSender): SenderInternals {
  return sender as unknown as SenderInternals;
}

export function receiverRtcp(receiver: RTCRtpReceiver): ReceiverRtcp {
  return receiver as unknown as ReceiverRtcp;
}

/**
 * LSR and DLSR for a receiver report block about `ssrc` (RFC 3550 §6.4.1), from the sender reports werift's
 * receiver took in; 0 and 0 before the first.
 */
export function receiverReportClock(receiver: RTCRtpReceiver): (ssrc: number) => { lsr: number; dlsr: number } {
  const r = receiverRtcp(receiver);
  return (ssrc) => {
    const lsr = r.lastSRtimestamp[ssrc];
    if (!lsr) return { lsr: 0, dlsr: 0 };
    const delay = Date.now() / 1000 - r.receiveLastSRTimestamp[ssrc]!;
    return { lsr, dlsr: delay > 0 && delay < 65536 ? Math.floor(delay * 65536) : 0 };
  };
}

// ---- shapes and the start-up check ---------------------------------------------------------------------------

type Kind = 'number' | 'string' | 'boolean' | 'bigint' | 'function' | 'object' | 'buffer' | 'AbortController' | 'present';
/** A field's expected kind, or the shape of the object it holds. 'present': the field exists (may be undefined). */
export interface Shape {
  [field: string]: Kind | Shape;
}

const ICE_CONNECTION: Shape = {
  stunServer: 'present',
  state: 'string',
  canSendApplicationData: 'function',
  nominated: { remoteAddr: 'object', protocol: { transport: { type: 'string', socket: 'object', closed: 'boolean' } } },
};

/** A connected RTCDtlsTransport. */
export const DTLS_TRANSPORT_SHAPE: Shape = {
  role: 'string',
  state: 'string',
  updateSrtpSession: 'function',
  sendRtcp: 'function',
  iceTransport: { state: 'string', start: 'function', connection: ICE_CONNECTION },
  srtp: {
    decrypt: 'function',
    config: {
      profile: 'number',
      keys: { localMasterKey: 'buffer', localMasterSalt: 'buffer', remoteMasterKey: 'buffer', remoteMasterSalt: 'buffer' },
    },
  },
  dtls: {
    sessionType: 'number',
    dtls: { version: { major: 'number', minor: 'number' }, epoch: 'number', recordSequenceNumber: 'number' },
    cipher: { cipher: { encrypt: 'function' } },
    transport: { send: 'function' },
  },
};

/** An RTCRtpSender that has sent. */
export const SENDER_SHAPE: Shape = {
  dtlsTransport: 'object',
  ssrc: 'number',
  seqOffset: 'number',
  timestampOffset: 'number',
  codec: { payloadType: 'number' },
  ntpTimestamp: 'bigint',
  rtpTimestamp: 'number',
  packetCount: 'number',
  octetCount: 'number',
  cname: 'present',
  stopped: 'boolean',
  rtcpRunning: 'boolean',
  rtcpCancel: 'AbortController',
  lastSRtimestamp: 'present',
  lastSentSRTimestamp: 'present',
  onGenericNack: { subscribe: 'function' },
};

/** A video RTCRtpReceiver. */
export const RECEIVER_SHAPE: Shape = {
  rtcpSsrc: 'number',
  dtlsTransport: { sendRtcp: 'function' },
  lastSRtimestamp: 'object',
  receiveLastSRTimestamp: 'object',
};

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Buffer.isBuffer(v)) return 'buffer';
  if (v instanceof AbortController) return 'AbortController';
  return typeof v;
}

/** What differs between `value` and `shape` ("RTCDtlsTransport.dtls.cipher is missing"), or null when nothing. */
export function shapeProblem(name: string, value: unknown, shape: Shape): string | null {
  for (const [field, want] of Object.entries(shape)) {
    const path = `${name}.${field}`;
    const obj = value as Record<string, unknown>;
    if (!(field in obj)) return `${path} is missing`;
    if (want === 'present') continue;
    const v = obj[field];
    const got = kindOf(v);
    if (typeof want === 'object') {
      if (got !== 'object' && got !== 'function' && got !== 'buffer') return `${path} is ${got}, not an object`;
      const inner = shapeProblem(path, v, want);
      if (inner) return inner;
    } else if (got !== want && !(want === 'object' && (got === 'buffer' || got === 'AbortController'))) {
      return `${path} is ${got}, not ${want}`;
    }
  }
  return null;
}

/** The installed werift's version (its package `exports` may hide package.json, so it is found by path). */
export function weriftVersion(): string {
  const require = createRequire(import.meta.url);
  try {
    return (require('werift/package.json') as { version: string }).version;
  } catch {
    let dir = dirname(require.resolve('werift'));
    for (;;) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'werift') return pkg.version ?? 'unknown';
      }
      const up = dirname(dir);
      if (up === dir) return 'unknown';
      dir = up;
    }
  }
}

/** The gateway refuses to start: the installed werift is not the shape these accessors rely on. */
export class WeriftShapeError extends Error {
  constructor(problem: string, version = weriftVersion()) {
    super(`roomgate: werift ${version} is not the shape roomgate relies on: ${problem} (tested with ${WERIFT_TESTED_WITH})`);
  }
}

/** Throws WeriftShapeError when a shape differs. */
export function assertShape(name: string, value: unknown, shape: Shape, version?: string): void {
  const problem = shapeProblem(name, value, shape);
  if (problem) throw new WeriftShapeError(problem, version);
}

/**
 * Connecting over loopback takes 0.2–0.5 s (werift's DTLS client waits 100 ms). The bound is generous: on two cores
 * shared with browsers and encoders a 3 s bound was once exceeded, and at a load average of 30 a 10 s one: that must
 * not stop a gateway. Only a werift that cannot connect at all waits the whole bound before failing.
 */
const CHECK_TIMEOUT_MS = 30000;

let checked: Promise<void> | null = null;

/**
 * Connects two werift peers over 127.0.0.1 (one video transceiver), sends one packet each way, and verifies every
 * shape above on both ends. Once per process: later calls answer the same promise.
 */
export function checkWerift(): Promise<void> {
  checked ??= runCheck();
  return checked;
}

async function runCheck(): Promise<void> {
  const opts = {
    codecs: { video: [useH264()], audio: [useOPUS()] },
    iceServers: [],
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceUseTcp: false,
  };
  const a = new RTCPeerConnection(opts);
  const b = new RTCPeerConnection(opts);
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new WeriftShapeError(`two werift peers did not connect over 127.0.0.1 within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
    });
    await Promise.race([connect(a, b), timeout]);
  } catch (err) {
    if (err instanceof WeriftShapeError) throw err;
    throw new WeriftShapeError(`connecting two werift peers over 127.0.0.1 failed: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
    await Promise.allSettled([a.close(), b.close()]);
  }
}

async function connect(a: RTCPeerConnection, b: RTCPeerConnection): Promise<void> {
  const video = a.addTransceiver('video', { direction: 'sendrecv' });
  assertShape('RTCIceTransport.connection', iceConnectionOf(dtlsTransportOf(video)), { stunServer: 'present' });
  for (const t of a.getTransceivers()) iceConnectionOf(dtlsTransportOf(t)).stunServer = undefined;
  await a.setLocalDescription(await a.createOffer());
  await gathered(a);
  await b.setRemoteDescription(a.localDescription!);
  for (const t of b.getTransceivers()) {
    setDtlsRole(t, 'server');
    iceConnectionOf(dtlsTransportOf(t)).stunServer = undefined;
  }
  await b.setLocalDescription(await b.createAnswer());
  await gathered(b);
  await a.setRemoteDescription(b.localDescription!);
  await Promise.all([connected(a), connected(b)]);

  // One video packet through werift's sender, so that its counters and codec are set as in a session.
  const sender = video.sender;
  await sender.sendRtp(new RtpPacket(new RtpHeader({ sequenceNumber: 1, timestamp: 1, marker: true }), Buffer.from([0x65, 0])));
  for (const pc of [b, a]) for (const dtls of dtlsTransportsOf(pc)) assertShape('RTCDtlsTransport', dtls, DTLS_TRANSPORT_SHAPE);
  assertShape('RTCRtpSender', sender, SENDER_SHAPE);
  const bVideo = b.getTransceivers().find((t) => t.kind === 'video');
  if (!bVideo) throw new WeriftShapeError('the answer has no video transceiver');
  assertShape('RTCRtpReceiver', bVideo.receiver, RECEIVER_SHAPE);
  const pair = iceConnectionOf(dtlsTransportOf(bVideo)).nominated!;
  if (pair.protocol.transport?.type !== 'udp') throw new WeriftShapeError(`the selected ICE pair's transport type is ${pair.protocol.transport?.type}, not udp`);
}

/** Resolves once `event` reports `state`, or at once when `current` already is it (werift's state events). */
export function whenState<S>(current: S, event: { subscribe(fn: (s: S) => void): { unSubscribe(): void } }, state: S): Promise<void> {
  if (current === state) return Promise.resolve();
  return new Promise((resolve) => {
    const { unSubscribe } = event.subscribe((s) => {
      if (s === state) {
        unSubscribe();
        resolve();
      }
    });
  });
}

const gathered = (pc: RTCPeerConnection) => whenState(pc.iceGatheringState, pc.iceGatheringStateChange, 'complete');
const connected = (pc: RTCPeerConnection) => whenState(pc.connectionState, pc.connectionStateChange, 'connected');
