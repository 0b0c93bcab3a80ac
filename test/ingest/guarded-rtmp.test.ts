// The start-up check of node-media-server's internals (src/ingest/rtmp/guarded-rtmp.ts): it passes on the installed
// version, and a shape that differs (shown on classes derived from node-media-server's Rtmp, never on Rtmp itself)
// is reported in one sentence naming the version and what differs. Also GuardedRtmp's typed way in for commands the
// native plane hands back.

import t from 'tap';
import Rtmp from 'node-media-server/src/protocol/rtmp.js';
import { encodeAmf0Cmd } from 'node-media-server/src/protocol/amf.js';
import {
  assertNodeMediaServer,
  checkNodeMediaServer,
  GuardedRtmp,
  NMS_TESTED_WITH,
  nodeMediaServerProblem,
  nodeMediaServerVersion,
  RtmpProtocolError,
} from '../../src/ingest/rtmp/guarded-rtmp.js';

const LIMITS = { maxChunkSize: 1048576, maxMessageSize: 16 * 1024 * 1024 - 1, maxChunkStreams: 64 };

t.test('the installed node-media-server has every shape roomgate relies on', async (t) => {
  t.equal(nodeMediaServerVersion(), NMS_TESTED_WITH, 'the version is read from node-media-server/package.json');
  t.equal(nodeMediaServerProblem(Rtmp), null, 'no problem');
  t.doesNotThrow(() => checkNodeMediaServer(), 'the start-up check passes');
  t.doesNotThrow(() => checkNodeMediaServer(), 'and again (once per process)');
  t.equal(new GuardedRtmp(LIMITS).flv.parserTagData.length, 0, 'the unused FLV parser allocates no tag buffer');
});

t.test('a method node-media-server no longer defines is named with the version', async (t) => {
  class NoInvoke extends Rtmp {}
  Object.defineProperty(NoInvoke.prototype, 'invokeHandler', { value: undefined });
  t.throws(() => assertNodeMediaServer(NoInvoke, '4.9.0'), {
    message: `roomgate: node-media-server 4.9.0 is not the shape roomgate relies on: Rtmp.prototype.invokeHandler is undefined, not a function (tested with ${NMS_TESTED_WITH})`,
  });
  t.equal(nodeMediaServerProblem(Rtmp), null, 'Rtmp itself is untouched');
});

t.test('a constructor field renamed', async (t) => {
  class Renamed extends Rtmp {
    constructor() {
      super();
      const fields = this as unknown as Record<string, unknown>;
      fields['chunkParserState'] = fields['parserState'];
      delete fields['parserState'];
    }
  }
  t.equal(nodeMediaServerProblem(Renamed), 'a new Rtmp\'s parserState is undefined, not a number');
});

t.test('an override that node-media-server no longer calls by name', async (t) => {
  // A version whose packetHandler applies SetChunkSize itself: GuardedRtmp's chunk-size limit would never run.
  class Inlined extends Rtmp {
    override packetHandler(): void {
      if (this.parserPacket.header.type === 1) this.inChunkSize = this.parserPacket.payload.readUInt32BE(0);
      else super.packetHandler();
    }
  }
  t.equal(nodeMediaServerProblem(Inlined), 'a publish did not call Rtmp.prototype.controlHandler');
});

t.test('a message counter that no longer says a message is half read', async (t) => {
  // `bytes` no longer kept between chunks: the hand-over would start the plane inside a message.
  class NoBytes extends Rtmp {
    override chunkRead(data: Buffer, p: number, bytes: number): string | null {
      const r = super.chunkRead(data, p, bytes);
      for (const packet of this.inPackets.values()) packet.bytes = 0;
      return r;
    }
  }
  t.equal(nodeMediaServerProblem(NoBytes), 'a half-read message is not seen in inPackets[csid].bytes');
});

t.test('dispatchCommand: a command the native plane hands back takes the fenced dispatch', async (t) => {
  const rtmp = new GuardedRtmp(LIMITS);
  rtmp.streamId = 1;
  let deleted = 0;
  rtmp.onDeleteStream = () => deleted++;
  rtmp.dispatchCommand(20, 5000, encodeAmf0Cmd({ cmd: 'deleteStream', transId: 4, cmdObj: null, streamId: 1 }));
  t.equal(deleted, 1, 'deleteStream reaches its handler');
  let published: unknown = null;
  rtmp.onPublish = (msg) => (published = [msg.streamName, rtmp.commandStreamId()]);
  rtmp.dispatchCommand(20, 5000, encodeAmf0Cmd({ cmd: 'publish', transId: 5, cmdObj: null, streamName: 'room?userid=u' }));
  t.same(published, ['room?userid=u', 1], 'publish, on the publish\'s message stream');
  const cutShort = Buffer.from([0x02, 0x00, 0x07, ...Buffer.from('connect'), 0x00, 0x3f]); // inside a number
  t.throws(() => rtmp.dispatchCommand(20, 5000, cutShort), RtmpProtocolError, 'an AMF0 body that does not decode');
});
