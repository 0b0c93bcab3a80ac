// node-media-server's low-level RTMP protocol class (handshake, chunk stream, AMF commands) with the limits it
// lacks and a typed hand-off of audio/video messages. Its own FLV parse is bypassed: we parse tags ourselves
// (signed composition time, Enhanced RTMP) in src/media, and skip the AVPacket it would allocate per message.
//
// This is the one seam into node-media-server, as src/werift-internals.ts is for werift: no other file outside
// tests reads its parser's state, calls its handlers or patches its classes. The connection asks GuardedRtmp for
// the hand-over state, command dispatch and publish acceptance through typed methods. node-media-server may change
// these internals in any release, so `checkNodeMediaServer()` (below, run once at start-up) drives a parser through
// a handshake and a publish and verifies every shape relied on; another shape stops the gateway with one line.

import Rtmp from 'node-media-server/src/protocol/rtmp.js';
import Flv from 'node-media-server/src/protocol/flv.js';
import { decodeAmf0Cmd, encodeAmf0Cmd } from 'node-media-server/src/protocol/amf.js';
import nmsLogger from 'node-media-server/src/core/logger.js';
import { createRequire } from 'node:module';
import type { ChunkStreamState } from '../../native/rtmp-plane.js';
import { RtmpProtocolError, type RtmpErrorKind } from './parse-errors.js';
import { amf0Status } from './amf0-status.js';

export { RtmpProtocolError };

// node-media-server's logger writes unstructured lines to stdout (our JSON log) for every unknown AMF type or
// command a peer sends: a peer could fill the log at will. What matters is counted and logged by the connection.
nmsLogger.log = () => {};

// node-media-server's Rtmp constructor makes an FLV parser (`this.flv = new Flv()`) that allocates a zero-filled
// 1 MiB tag buffer up front. We never use that parser (GuardedRtmp takes the messages before its FLV step), yet every
// accepted socket paid for it. Measured with scripts/bench/idle-connections (docs/reliability.md): 0.8–0.9 ms of
// gateway CPU per accept against 0.2 ms without it (V8 counts the buffer as external memory and collects garbage to
// match), and twice the RSS per idle connection; on a gateway that had already taken a few floods, 1.8 ms and
// ~97 KiB per connection, and 4 s instead of 0.3 s to shed 1,000 of them.
//
// Flv grows that buffer on demand (parserTagAlloc runs before every copy into it), so starting it empty is safe for
// any Flv: the constructor's first assignment of parserTagCapacity is read as 0, later ones (growth) are kept.
// Applied when this module loads, before any parser is made; checkNodeMediaServer() verifies it took effect.
const capacity = Symbol('parserTagCapacity');
type WithCapacity = { [capacity]?: number };
if (!Object.getOwnPropertyDescriptor(Flv.prototype, 'parserTagCapacity')) {
  Object.defineProperty(Flv.prototype, 'parserTagCapacity', {
    get(this: WithCapacity): number {
      return this[capacity] ?? 0;
    },
    set(this: WithCapacity, bytes: number) {
      this[capacity] = this[capacity] === undefined ? 0 : bytes; // the first set is the constructor's 1 MiB
    },
  });
}

/** Longest tcUrl / app accepted in connect: real ones are tens of bytes; this bounds the URL parse. */
const MAX_CONNECT_STRING = 4096;

export interface RtmpLimits {
  /** Largest chunk size a peer may announce, and largest message it may send. */
  maxChunkSize: number;
  maxMessageSize: number;
  /** Distinct chunk stream ids a peer may open (each keeps a reassembly buffer). */
  maxChunkStreams: number;
}

const TYPE_SET_CHUNK_SIZE = 1;
const TYPE_WINDOW_ACK_SIZE = 5;
const TYPE_FLEX_MESSAGE = 17;
const TYPE_INVOKE = 20;
const CHANNEL_INVOKE = 3;
const TYPE_AUDIO = 8;
const TYPE_VIDEO = 9;
/** node-media-server's handshakeState once C2 has been read (RTMP_HANDSHAKE_2): chunks follow. */
const HANDSHAKE_DONE = 3;
/** node-media-server's parserState between chunks (RTMP_PARSE_INIT). */
const PARSE_INIT = 0;

/** The publish command as node-media-server decodes it. */
export type PublishCommand = Parameters<Rtmp['onPublish']>[0];
type RtmpPacket = Rtmp['parserPacket'];

/** Where the chunk stream stands at a message boundary: what the native plane needs to continue it. */
export interface HandOverState {
  chunkSize: number;
  /** Each chunk stream's last header and clock (later chunks may carry compressed headers relative to them). */
  streams: ChunkStreamState[];
}

export class GuardedRtmp extends Rtmp {
  /** Audio (8) and video (9) message bodies; `body` is reused by the parser after the call returns. */
  onMedia: (type: 8 | 9, timestamp: number, body: Buffer) => void = () => {};
  /** AMF data messages (@setDataFrame/onMetaData): counted, not parsed. */
  onData: () => void = () => {};

  constructor(private readonly limits: RtmpLimits) {
    super();
  }

  /** The handshake is done (C2 read): chunks follow. */
  handshakeDone(): boolean {
    return this.handshakeState === HANDSHAKE_DONE;
  }

  /**
   * The chunk size and each chunk stream's last header and clock, for the native plane to continue the stream;
   * null inside a chunk or while a message is half read (the hand-over waits for a message boundary).
   */
  handOverState(): HandOverState | null {
    return handOverStateOf(this);
  }

  /**
   * Runs a command message (AMF0 20 / AMF3 17) that arrived another way, the native plane's after the hand-over,
   * through the same fenced dispatch as one parsed here; it stands on the publish's message stream.
   */
  dispatchCommand(type: number, timestamp: number, body: Buffer): void {
    dispatch(this, type, timestamp, body, this.streamId ?? 0);
  }

  /** The message stream of the command being dispatched (read in onPublish: the stream later statuses go to). */
  commandStreamId(): number {
    return this.parserPacket.header.stream_id;
  }

  /**
   * node-media-server's own publish answer, for a publish the connection held back (onPublish is replaced by the
   * connection's auth): records the stream and sends NetStream.Publish.Start.
   */
  acceptPublish(msg: PublishCommand): void {
    super.onPublish(msg);
  }

  override packetParse(): void {
    super.packetParse();
    if (this.inPackets.size > this.limits.maxChunkStreams) {
      throw new RtmpProtocolError(`more than ${this.limits.maxChunkStreams} chunk streams opened`);
    }
  }

  /**
   * node-media-server allocates a zero-filled buffer of the announced length at once: a 12-byte chunk header made
   * the gateway write 16 MB (64 times over with as many chunk streams), which the RTMP fuzz found to be most of its
   * CPU. Unfilled memory costs nothing until the peer's bytes arrive, and nothing reads a payload beyond
   * header.length, which the parser has filled before any handler runs.
   */
  override packetAlloc(): void {
    const packet = this.parserPacket;
    const length = packet.header.length;
    if (length > this.limits.maxMessageSize) {
      throw new RtmpProtocolError(`message of ${length} bytes exceeds the ${this.limits.maxMessageSize}-byte limit`);
    }
    if (packet.capacity < length) {
      packet.payload = Buffer.allocUnsafe(length + 1024);
      packet.capacity = length + 1024;
    }
  }

  override controlHandler(): void {
    const packet = this.parserPacket;
    // node-media-server reads a 32-bit value from these two whatever their length (a stale or short buffer)
    if ((packet.header.type === TYPE_SET_CHUNK_SIZE || packet.header.type === TYPE_WINDOW_ACK_SIZE) && packet.header.length < 4) {
      const name = packet.header.type === TYPE_SET_CHUNK_SIZE ? 'SetChunkSize' : 'WindowAcknowledgementSize';
      throw new RtmpProtocolError(`${name} message is too short`, 'control');
    }
    if (packet.header.type === TYPE_SET_CHUNK_SIZE) {
      // The top bit must be 0 (RFC-less spec, Adobe §5.4.1); 0 would make the parser spin forever.
      const size = packet.payload.readUInt32BE(0);
      if (size < 1 || size > this.limits.maxChunkSize) {
        throw new RtmpProtocolError(`chunk size ${size} is outside 1–${this.limits.maxChunkSize}`);
      }
    }
    super.controlHandler();
  }

  /**
   * onStatus with a correct AMF0 encoding (amf0-status.ts): reasons are for people and may hold any character.
   */
  override sendStatusMessage(sid: number, level: string, code: string, description: string): void {
    const payload = amf0Status('onStatus', 0, level, code, description);
    const header = { fmt: 0, cid: CHANNEL_INVOKE, timestamp: 0, length: payload.length, type: TYPE_INVOKE, stream_id: sid };
    this.onOutputCallback(Rtmp.chunksCreate({ header, payload }));
  }

  /**
   * node-media-server's command dispatch, with its AMF0 decode fenced (it throws on unknown type markers and reads
   * past the end) and each command's arguments checked before node-media-server or the connection uses them: a
   * connect whose tcUrl is not a URL, or whose app is not a string, would throw later or in an async path.
   */
  override invokeHandler(): void {
    const packet = this.parserPacket;
    const body = packet.payload.subarray(packet.header.type === TYPE_FLEX_MESSAGE ? 1 : 0, packet.header.length);
    let msg: Parameters<Rtmp['onConnect']>[0];
    try {
      msg = decodeAmf0Cmd(body) as typeof msg;
    } catch (err) {
      throw new RtmpProtocolError(`an AMF0 command does not decode (${(err as Error).message})`, 'amf');
    }
    switch (msg.cmd) {
      case 'connect': {
        const refusal = connectRefusal(msg.cmdObj);
        if (refusal) {
          this.sendCommandError(msg.transId, 'NetConnection.Connect.Rejected', refusal.reason);
          throw new RtmpProtocolError(refusal.reason, refusal.kind);
        }
        return this.onConnect(msg);
      }
      case 'createStream':
        return this.onCreateStream(msg);
      case 'publish':
        if (typeof msg.streamName !== 'string') {
          const reason = 'the publish command has no stream name: publish <RoomId>?sdkappid=…&userid=…&usersig=…';
          this.sendStatusMessage(packet.header.stream_id, 'error', 'NetStream.Publish.BadName', reason);
          throw new RtmpProtocolError(reason, 'bad-command');
        }
        return this.onPublish(msg);
      case 'play':
        return this.onPlay(msg);
      case 'deleteStream':
        return this.onDeleteStream(msg);
      // anything else (releaseStream, FCPublish, _checkbw…) needs no answer, as in node-media-server
    }
  }

  /** `_error` for a command (ffmpeg prints "Server error: <description>"). */
  private sendCommandError(transId: unknown, code: string, description: string): void {
    const payload = amf0Status('_error', typeof transId === 'number' ? transId : 0, 'error', code, description);
    const header = { fmt: 0, cid: CHANNEL_INVOKE, timestamp: 0, length: payload.length, type: TYPE_INVOKE, stream_id: 0 };
    this.onOutputCallback(Rtmp.chunksCreate({ header, payload }));
  }

  override dataHandler(): void {
    const packet = this.parserPacket;
    const type = packet.header.type;
    if (type === TYPE_AUDIO || type === TYPE_VIDEO) {
      this.onMedia(type, packet.clock, packet.payload.subarray(0, packet.header.length));
    } else {
      this.onData();
    }
  }
}

/** Why a connect command is refused, or null: what node-media-server and the publish path read must be there. */
function connectRefusal(cmdObj: unknown): { reason: string; kind: RtmpErrorKind } | null {
  if (typeof cmdObj !== 'object' || cmdObj === null || Array.isArray(cmdObj)) {
    return { reason: 'the connect command has no command object', kind: 'bad-command' };
  }
  const { app, tcUrl, flashVer, objectEncoding } = cmdObj as Record<string, unknown>;
  if (typeof app !== 'string' || app.length > MAX_CONNECT_STRING) {
    return { reason: 'the connect command has no app name of up to 4096 characters: connect to rtmp://HOST/push', kind: 'bad-command' };
  }
  if (typeof tcUrl !== 'string' || tcUrl.length > MAX_CONNECT_STRING || !URL.canParse(tcUrl)) {
    return { reason: 'the connect command\'s tcUrl is not a URL of up to 4096 characters: connect to rtmp://HOST/push', kind: 'invalid-url' };
  }
  if ((flashVer !== undefined && typeof flashVer !== 'string') || (objectEncoding != null && typeof objectEncoding !== 'number')) {
    return { reason: 'the connect command has a flashVer or objectEncoding of the wrong type', kind: 'bad-command' };
  }
  return null;
}

/** node-media-server's parser state as HandOverState, or null away from a message boundary. */
function handOverStateOf(rtmp: Rtmp): HandOverState | null {
  if (rtmp.parserState !== PARSE_INIT) return null;
  const streams: ChunkStreamState[] = [];
  for (const [csid, p] of rtmp.inPackets) {
    if (p.bytes !== 0) return null; // a message is half read
    streams.push({ csid, timestamp: p.header.timestamp, length: p.header.length, type: p.header.type, streamId: p.header.stream_id, clock: p.clock });
  }
  return { chunkSize: rtmp.inChunkSize, streams };
}

/** node-media-server's handlers read the message in progress from parserPacket: the command is put there. */
function dispatch(rtmp: Rtmp, type: number, timestamp: number, body: Buffer, streamId: number): void {
  const packet: RtmpPacket = {
    header: { fmt: 0, cid: CHANNEL_INVOKE, timestamp, length: body.length, type, stream_id: streamId },
    clock: timestamp,
    payload: body,
    capacity: body.length,
    bytes: 0,
  };
  rtmp.parserPacket = packet;
  rtmp.invokeHandler();
}

// ---- the start-up check ----------------------------------------------------------------------------------------

/** The node-media-server version these shapes were read from (package.json pins it). */
export const NMS_TESTED_WITH = '4.4.3';

/** Methods GuardedRtmp overrides or calls: node-media-server must define them and call the overrides by name. */
const RELIED_ON = [
  'packetParse',
  'packetAlloc',
  'controlHandler',
  'dataHandler',
  'invokeHandler',
  'onConnect',
  'onCreateStream',
  'onPublish',
  'sendStatusMessage',
] as const;

export function nodeMediaServerVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('node-media-server/package.json') as { version: string }).version;
}

/** The gateway refuses to start: the installed node-media-server is not the shape GuardedRtmp relies on. */
export class NodeMediaServerShapeError extends Error {
  constructor(problem: string, version = nodeMediaServerVersion()) {
    super(`roomgate: node-media-server ${version} is not the shape roomgate relies on: ${problem} (tested with ${NMS_TESTED_WITH})`);
  }
}

let checked = false;

/** Throws NodeMediaServerShapeError when the installed node-media-server differs; once per process (a few ms). */
export function checkNodeMediaServer(): void {
  if (checked) return;
  assertNodeMediaServer(Rtmp);
  checked = true;
}

/** Throws NodeMediaServerShapeError naming what differs in `Base` (node-media-server's Rtmp, or a class derived from it). */
export function assertNodeMediaServer(Base: typeof Rtmp, version?: string): void {
  const problem = nodeMediaServerProblem(Base);
  if (problem) throw new NodeMediaServerShapeError(problem, version);
}

/** What differs ("Rtmp.prototype.invokeHandler is undefined, not a function"), or null when nothing. */
export function nodeMediaServerProblem(Base: typeof Rtmp): string | null {
  for (const name of [...RELIED_ON, 'parserData'] as const) {
    if (typeof Base.prototype[name] !== 'function') return `Rtmp.prototype.${name} is ${typeof Base.prototype[name]}, not a function`;
  }
  if (typeof Base.chunksCreate !== 'function') return 'Rtmp.chunksCreate is not a function';
  // the FLV tag buffer starts empty and grows through it
  if (typeof Flv.prototype.parserTagAlloc !== 'function') return 'Flv.prototype.parserTagAlloc is not a function';
  // A subclass that records which of the methods node-media-server calls, each still running node-media-server's own.
  const called = new Set<string>();
  class Probe extends Base {}
  for (const name of RELIED_ON) {
    const own = Base.prototype[name] as (...args: unknown[]) => unknown;
    Object.defineProperty(Probe.prototype, name, {
      value(this: Rtmp, ...args: unknown[]) {
        called.add(name);
        return own.apply(this, args);
      },
    });
  }
  try {
    const rtmp = new Probe();
    for (const field of ['handshakeState', 'parserState', 'inChunkSize'] as const) {
      if (typeof rtmp[field] !== 'number') return `a new Rtmp's ${field} is ${typeof rtmp[field]}, not a number`;
    }
    if (!(rtmp.inPackets instanceof Map)) return 'a new Rtmp\'s inPackets is not a Map';
    const tagBuffer = rtmp.flv?.parserTagData;
    if (!Buffer.isBuffer(tagBuffer) || tagBuffer.length !== 0) {
      return `a new Rtmp's FLV parser holds a tag buffer of ${tagBuffer?.length} bytes, not an empty one`;
    }
    return publishProblem(rtmp, called);
  } catch (err) {
    return `a scripted publish threw: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * Handshake, SetChunkSize, connect and createStream through the chunk parser, the publish through dispatch() as
 * the native plane's commands go, then one audio message: every field the connection and the hand-over read is
 * checked where it is read in a session.
 */
function publishProblem(rtmp: Rtmp, called: Set<string>): string | null {
  const chunkSize = Buffer.alloc(4);
  chunkSize.writeUInt32BE(4096);
  const connect = encodeAmf0Cmd({ cmd: 'connect', transId: 1, cmdObj: { app: 'push', tcUrl: 'rtmp://127.0.0.1/push' } });
  const createStream = encodeAmf0Cmd({ cmd: 'createStream', transId: 2, cmdObj: null });
  const handshake = Buffer.concat([Buffer.from([3]), Buffer.alloc(1536 * 2)]); // C0, C1, C2
  rtmp.parserData(
    Buffer.concat([handshake, chunk(2, TYPE_SET_CHUNK_SIZE, 0, 0, chunkSize), chunk(3, TYPE_INVOKE, 0, 0, connect), chunk(3, TYPE_INVOKE, 0, 0, createStream)]),
  );
  if (rtmp.handshakeState !== HANDSHAKE_DONE) return `handshakeState is ${rtmp.handshakeState} after C0, C1 and C2, not ${HANDSHAKE_DONE}`;
  if (rtmp.inChunkSize !== 4096) return `inChunkSize is ${rtmp.inChunkSize} after SetChunkSize(4096)`;
  if (rtmp.streamApp !== 'push' || rtmp.connectCmdObj?.['app'] !== 'push') return 'connect did not set streamApp and connectCmdObj';
  const publish = encodeAmf0Cmd({ cmd: 'publish', transId: 3, cmdObj: null, streamName: 'room?userid=u' });
  dispatch(rtmp, TYPE_INVOKE, 0, publish, 1);
  if (rtmp.streamId !== 1) return `publish on message stream 1 set streamId to ${rtmp.streamId}`;
  rtmp.parserData(chunk(4, TYPE_AUDIO, 1, 1000, Buffer.from([0xaf, 0x01, 0x21, 0x00])));
  const missed = RELIED_ON.filter((name) => !called.has(name));
  if (missed.length > 0) return `a publish did not call ${missed.map((m) => `Rtmp.prototype.${m}`).join(', ')}`;
  const want = JSON.stringify({
    chunkSize: 4096,
    streams: [
      { csid: 2, timestamp: 0, length: 4, type: TYPE_SET_CHUNK_SIZE, streamId: 0, clock: 0 },
      { csid: 3, timestamp: 0, length: createStream.length, type: TYPE_INVOKE, streamId: 0, clock: 0 },
      { csid: 4, timestamp: 1000, length: 4, type: TYPE_AUDIO, streamId: 1, clock: 1000 },
    ],
  } satisfies HandOverState);
  const got = JSON.stringify(handOverStateOf(rtmp));
  if (got !== want) return `the parser state at a message boundary reads as ${got}, not ${want}`;
  // A video message of 5000 bytes, its first chunk read: between chunks, but inside a message.
  const video = chunk(6, TYPE_VIDEO, 1, 1000, Buffer.alloc(5000));
  rtmp.parserData(video.subarray(0, 12 + 4096));
  if (rtmp.parserState !== PARSE_INIT) return `parserState is ${rtmp.parserState} between two chunks, not ${PARSE_INIT}`;
  if (handOverStateOf(rtmp) !== null) return 'a half-read message is not seen in inPackets[csid].bytes';
  return null;
}

/** One message as a type-0 chunk on `csid` (< 64), continued by type-3 chunks of 4096 bytes. */
function chunk(csid: number, type: number, streamId: number, timestamp: number, body: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header[0] = csid;
  header.writeUIntBE(timestamp, 1, 3);
  header.writeUIntBE(body.length, 4, 3);
  header[7] = type;
  header.writeUInt32LE(streamId, 8);
  const parts = [header, body.subarray(0, 4096)];
  for (let o = 4096; o < body.length; o += 4096) parts.push(Buffer.from([0xc0 | csid]), body.subarray(o, o + 4096));
  return Buffer.concat(parts);
}
