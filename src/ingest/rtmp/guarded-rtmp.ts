// node-media-server's low-level RTMP protocol class (handshake, chunk stream, AMF commands) with the limits it
// lacks and a typed hand-off of audio/video messages. Its own FLV parse is bypassed: we parse tags ourselves
// (signed composition time, Enhanced RTMP) in src/media, and skip the AVPacket it would allocate per message.

import Rtmp from 'node-media-server/src/protocol/rtmp.js';
import { decodeAmf0Cmd } from 'node-media-server/src/protocol/amf.js';
import nmsLogger from 'node-media-server/src/core/logger.js';
import { RtmpProtocolError, type RtmpErrorKind } from './parse-errors.js';
import { amf0Status } from './amf0-status.js';

export { RtmpProtocolError };

// node-media-server's logger writes unstructured lines to stdout (our JSON log) for every unknown AMF type or
// command a peer sends: a peer could fill the log at will. What matters is counted and logged by the connection.
nmsLogger.log = () => {};

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

export class GuardedRtmp extends Rtmp {
  /** Audio (8) and video (9) message bodies; `body` is reused by the parser after the call returns. */
  onMedia: (type: 8 | 9, timestamp: number, body: Buffer) => void = () => {};
  /** AMF data messages (@setDataFrame/onMetaData): counted, not parsed. */
  onData: () => void = () => {};

  constructor(private readonly limits: RtmpLimits) {
    super();
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
