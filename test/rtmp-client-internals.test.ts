// The seam into node-media-server's RTMP client (src/rtmp-client-internals.ts): its start-up shape check, and a
// publish driven against real servers — Debian's nginx-rtmp, a port that refuses, and one that never answers.

import t from 'tap';
import { createServer, type Socket } from 'node:net';
import RtmpClient from 'node-media-server/src/protocol/rtmp_client.js';
import { decodeAmf0Cmd } from 'node-media-server/src/protocol/amf.js';
import { publishRtmp, rtmpClientProblem, splitPushUrl, type PublishStep } from '../src/rtmp-client-internals.js';
import { refusingPort, startRtmpReceiver } from './relay/rtmp-receiver.js';

t.test('the installed client is the shape relied on; another shape is named', async (t) => {
  t.equal(rtmpClientProblem(), null);
  class NoPublish extends RtmpClient {}
  Object.defineProperty(NoPublish.prototype, 'sendPublish', { value: undefined });
  t.match(rtmpClientProblem(NoPublish), /RtmpClient.prototype.sendPublish is undefined, not a function/);
  class OwnWrites extends RtmpClient {
    constructor() {
      super();
      (this as unknown as { setChunkSize(n: number): void }).setChunkSize = () => {};
    }
  }
  t.match(rtmpClientProblem(OwnWrites), /does not write through its onOutputCallback/);
});

t.test('a push URL splits as OBS sends it: tcUrl up to the application, the key with the stream name', async (t) => {
  t.same(splitPushUrl('rtmp://cdn.example:1936/live/room_1?txSecret=abc&txTime=1'), {
    host: 'cdn.example', port: 1936, app: 'live', tcUrl: 'rtmp://cdn.example:1936/live', name: 'room_1?txSecret=abc&txTime=1',
  });
  t.equal(splitPushUrl('rtmp://cdn.example/live/a/b').port, 1935);
  t.throws(() => splitPushUrl('rtmp://cdn.example/live'), /names an application and a stream/);
  t.throws(() => splitPushUrl('rtmps://cdn.example/live/x'), /not an rtmp:\/\/ URL/);
});

t.test('against nginx-rtmp: every step, then the hand-over takes every byte the client writes', async (t) => {
  const cdn = await startRtmpReceiver();
  t.teardown(() => cdn.close());
  const steps: PublishStep[] = [];
  const s = await publishRtmp(cdn.url('seam'), 5000, (step) => steps.push(step));
  t.same(steps, ['tcp', 'handshake', 'connect', 'publish'], 'the steps in order');
  t.ok(s.streamId > 0, `createStream gave message stream ${s.streamId}`);
  t.equal(s.chunkSize, 0xffff, 'the chunk size the client announced');
  const written: Buffer[] = [];
  s.handOver((b) => written.push(b));
  s.unpublish();
  const cmds = written.map((b) => decodeAmf0Cmd(b.subarray(12)).cmd);
  t.same(cmds, ['FCUnpublish', 'deleteStream'], 'the closing commands went to the hand-over writer, not the socket');
  let ended = '';
  s.onEnd((why) => (ended = why));
  s.close();
  await new Promise((r) => setTimeout(r, 50));
  t.ok(ended, `the end is reported: ${ended}`);
});

t.test('an application the server lacks fails at connect; a refused port at tcp', async (t) => {
  const cdn = await startRtmpReceiver();
  t.teardown(() => cdn.close());
  const steps: PublishStep[] = [];
  const url = cdn.url('x').replace('/live/', '/nosuchapp/');
  await t.rejects(publishRtmp(url, 5000, (step) => steps.push(step)));
  t.equal(steps.at(-1), 'connect', 'the server let the TCP connection in and refused the application');
  const refused: PublishStep[] = [];
  await t.rejects(publishRtmp(`rtmp://127.0.0.1:${await refusingPort()}/live/x`, 5000, (step) => refused.push(step)), /ECONNREFUSED/);
  t.same(refused, ['tcp']);
});

t.test('a server that takes the connection and never answers is given up after the timeout', async (t) => {
  const held: Socket[] = [];
  const silent = createServer((c) => void held.push(c));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    held.forEach((c) => c.destroy());
    silent.close();
  });
  const port = (silent.address() as { port: number }).port;
  const steps: PublishStep[] = [];
  await t.rejects(publishRtmp(`rtmp://127.0.0.1:${port}/live/x`, 500, (step) => steps.push(step)), /no answer from the server in 0.5 s/);
  t.same(steps, ['tcp', 'handshake'], 'it stopped in the handshake');
});
