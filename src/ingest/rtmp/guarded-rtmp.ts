// node-media-server's low-level RTMP protocol class (handshake, chunk stream, AMF commands) with the limits it
// lacks and a typed hand-off of audio/video messages. Its own FLV parse is bypassed: we parse tags ourselves
// (signed composition time, Enhanced RTMP) in src/media, and skip the AVPacket it would allocate per message.

import Rtmp from 'node-media-server/src/protocol/rtmp.js';

/** Thrown from inside the parser; the connection catches it and closes that one socket. */
export class RtmpProtocolError extends Error {
  override name = 'RtmpProtocolError';
}

export interface RtmpLimits {
  /** Largest chunk size a peer may announce, and largest message it may send. */
  maxChunkSize: number;
  maxMessageSize: number;
  /** Distinct chunk stream ids a peer may open (each keeps a reassembly buffer). */
  maxChunkStreams: number;
}

const TYPE_SET_CHUNK_SIZE = 1;
const TYPE_INVOKE = 20;
const CHANNEL_INVOKE = 3;
const AMF_NUMBER = 0x00;
const AMF_STRING = 0x02;
const AMF_OBJECT = 0x03;
const AMF_NULL = 0x05;
const AMF_OBJECT_END = 0x09;
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

  override packetAlloc(): void {
    const length = this.parserPacket.header.length;
    if (length > this.limits.maxMessageSize) {
      throw new RtmpProtocolError(`message of ${length} bytes exceeds the ${this.limits.maxMessageSize}-byte limit`);
    }
    super.packetAlloc();
  }

  override controlHandler(): void {
    const packet = this.parserPacket;
    if (packet.header.type === TYPE_SET_CHUNK_SIZE) {
      if (packet.header.length < 4) throw new RtmpProtocolError('SetChunkSize message is too short');
      // The top bit must be 0 (RFC-less spec, Adobe §5.4.1); 0 would make the parser spin forever.
      const size = packet.payload.readUInt32BE(0);
      if (size < 1 || size > this.limits.maxChunkSize) {
        throw new RtmpProtocolError(`chunk size ${size} is outside 1–${this.limits.maxChunkSize}`);
      }
    }
    super.controlHandler();
  }

  /**
   * onStatus with a correct AMF0 encoding. node-media-server writes string lengths in UTF-16 units, so a reason
   * with "→" reaches ffmpeg short by two bytes per arrow; reasons are for people and may hold any character.
   */
  override sendStatusMessage(sid: number, level: string, code: string, description: string): void {
    const payload = Buffer.concat([
      amfString('onStatus'),
      amfNumber(0),
      Buffer.from([AMF_NULL]),
      Buffer.from([AMF_OBJECT]),
      amfProperty('level', level),
      amfProperty('code', code),
      amfProperty('description', description),
      Buffer.from([0, 0, AMF_OBJECT_END]),
    ]);
    const header = { fmt: 0, cid: CHANNEL_INVOKE, timestamp: 0, length: payload.length, type: TYPE_INVOKE, stream_id: sid };
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

/** AMF0 UTF-8 string body: 16-bit BYTE length, then the bytes (cut at 65535 bytes). */
function utf8(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8').subarray(0, 0xffff);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

function amfString(s: string): Buffer {
  return Buffer.concat([Buffer.from([AMF_STRING]), utf8(s)]);
}

function amfNumber(n: number): Buffer {
  const b = Buffer.alloc(9);
  b[0] = AMF_NUMBER;
  b.writeDoubleBE(n, 1);
  return b;
}

function amfProperty(name: string, value: string): Buffer {
  return Buffer.concat([utf8(name), amfString(value)]);
}
