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
