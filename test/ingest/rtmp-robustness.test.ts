// What the RTMP listener does with input no encoder here produces: H.265 tags, sockets that never publish,
// malformed chunk streams and random bytes — while a healthy ffmpeg publisher keeps flowing.

import t from 'tap';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { startTestGateway, officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { connectScripted, legacyHevcSequenceHeader, enhancedHevcSequenceStart } from '../helpers/scripted-rtmp.js';

const g = await startTestGateway({
  rtmp: { port: 0, publishTimeoutMs: 800, maxConnections: 40, authFailureDelayMinMs: 300, authFailureDelayMaxMs: 400 },
});
t.teardown(() => g.close());
const { sdkAppId } = TEST_APP;
const key = (room: string, user: string) => `${room}?sdkappid=${sdkAppId}&userid=${user}&usersig=${officialUserSig(user)}`;
const port = g.gw.rtmp.port;

async function videoFrames(room: string): Promise<number> {
  const r = await g.getJson(`/api/rooms/${sdkAppId}/${room}`);
  return r.status === 200 ? (r.body.users[0]?.frames.video ?? 0) : 0;
}

for (const [name, tag] of [
  ['legacy codec id 12', legacyHevcSequenceHeader()],
  ['Enhanced RTMP hvc1', enhancedHevcSequenceStart('hvc1')],
  ['Enhanced RTMP hev1', enhancedHevcSequenceStart('hev1')],
] as const) {
  t.test(`H.265 as ${name} is refused with the H.265 reason`, async (t) => {
    const pub = await connectScripted(g.rtmpBase);
    await pub.publish(key('room-hevc', 'hank'));
    t.equal(pub.statuses[0]?.code, 'NetStream.Publish.Start');
    pub.sendVideo(0, tag);
    await pub.closed;
    const refusal = pub.statuses.find((s) => s.code === 'NetStream.Publish.Rejected');
    t.equal(refusal?.description, 'H.265 is not supported: set the encoder to H.264 (x264)');
  });
}

t.test('AV1 over Enhanced RTMP is refused naming AV1', async (t) => {
  const pub = await connectScripted(g.rtmpBase);
  await pub.publish(key('room-av1', 'ivan'));
  pub.sendVideo(0, enhancedHevcSequenceStart('av01'));
  await pub.closed;
  t.match(pub.statuses.find((s) => s.code === 'NetStream.Publish.Rejected')?.description ?? '', /^AV1 video is not supported: set the encoder to H\.264/);
});

t.test('corrupt AAC frames are dropped without harming the gateway', async (t) => {
  const pub = await connectScripted(g.rtmpBase);
  t.teardown(() => pub.close());
  await pub.publish(key('room-badaac', 'ola'));
  pub.sendAudio(0, Buffer.from([0xaf, 0x00, 0x12, 0x10])); // AAC-LC, 44.1 kHz, stereo
  for (let i = 1; i <= 200; i++) pub.sendAudio(i * 23, Buffer.concat([Buffer.from([0xaf, 0x01]), randomBytes(20 + (i % 300))]));
  const users = await waitFor(async () => {
    const r = await g.getJson(`/api/rooms/${sdkAppId}/room-badaac`);
    return r.status === 200 && r.body.users[0]?.frames.audio >= 200 ? r.body.users : null;
  }, 10000, 'all 200 frames taken in');
  t.equal(users[0].audio.codec, 'AAC');
  t.equal((await fetch(`${g.httpBase}/healthz`)).status, 200, 'the gateway is fine');
});

t.test('a failed auth is delayed without delaying another publisher', async (t) => {
  const bad = await connectScripted(g.rtmpBase);
  const good = await connectScripted(g.rtmpBase);
  const order: string[] = [];
  const badDone = bad.publish(`room-delay?sdkappid=${sdkAppId}&userid=jo&usersig=garbage`).then(
    () => order.push('bad accepted'),
    (e: Error) => order.push(`bad refused: ${e.message}`),
  );
  const goodDone = good.publish(key('room-delay', 'kim')).then(() => order.push('good accepted'));
  await Promise.all([badDone, goodDone]);
  t.equal(order[0], 'good accepted', 'the good publisher was answered first');
  t.match(order[1], /^bad refused/);
  t.equal(bad.statuses[0].code, 'NetStream.Publish.Unauthorized');
  t.match(bad.statuses[0].description, /^usersig is malformed/);
  good.close();
});

t.test('a socket that never publishes is closed after the publish timeout', async (t) => {
  const sock = connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const closedAt = await new Promise<number>((r) => sock.once('close', () => r(Date.now())));
  t.ok(closedAt, 'closed by the gateway');
});

t.test('connections beyond rtmp.maxConnections are refused at once', async (t) => {
  const g2 = await startTestGateway({ rtmp: { port: 0, maxConnections: 2, publishTimeoutMs: 5000 } });
  t.teardown(() => g2.close());
  const socks: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = connect(g2.gw.rtmp.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    socks.push(s);
  }
  await waitFor(() => true);
  const third = connect(g2.gw.rtmp.port, '127.0.0.1');
  await new Promise((r) => third.once('close', r));
  t.pass('third connection closed');
  for (const s of socks) t.equal(s.destroyed, false, 'the first two stay open');
  socks.forEach((s) => s.destroy());
});

/** A valid C0+C1 so the parser gets past the handshake and into chunk parsing. */
function handshake(): Buffer {
  const c1 = Buffer.alloc(1536);
  return Buffer.concat([Buffer.from([3]), c1, c1]);
}

t.test('malformed chunk streams and random bytes close only their own connection', async (t) => {
  const healthy = ffmpegPush(g.pushUrl('room-healthy', 'lee'), { seconds: 40, realtime: true });
  t.teardown(() => healthy.stop());
  await waitFor(async () => (await videoFrames('room-healthy')) > 10, 15000, 'healthy publisher');

  const inputs: Buffer[] = [
    // SetChunkSize 0 (would make a naive parser spin forever)
    Buffer.concat([handshake(), Buffer.from('02000000000004010000000000000000', 'hex')]),
    // SetChunkSize 0x7fffffff
    Buffer.concat([handshake(), Buffer.from('0200000000000401000000007fffffff', 'hex')]),
    // A 16 MB message announced on many chunk streams
    Buffer.concat([handshake(), ...Array.from({ length: 80 }, (_, i) => Buffer.from([0x00 | 0x3f & (i + 3), 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0]))]),
    // An AMF command that is garbage
    Buffer.concat([handshake(), Buffer.from('030000000000101400000000', 'hex'), randomBytes(16)]),
  ];
  for (let i = 0; i < 150; i++) inputs.push(i % 2 ? randomBytes(200 + (i % 7) * 500) : Buffer.concat([handshake(), randomBytes(3000)]));
  const before = await videoFrames('room-healthy');
  let closedByGateway = 0;
  await Promise.all(
    inputs.map(
      (bytes) =>
        new Promise<void>((resolve) => {
          const s = connect(port, '127.0.0.1', () => s.write(bytes));
          s.on('error', () => {});
          s.on('data', () => {});
          s.on('close', () => {
            closedByGateway++;
            resolve();
          });
        }),
    ),
  );
  t.equal(closedByGateway, inputs.length, 'every bad connection was closed (by a protocol error or the publish timeout)');
  const health = await fetch(`${g.httpBase}/healthz`);
  t.equal(health.status, 200, 'the gateway is still healthy');
  const after = await waitFor(async () => {
    const n = await videoFrames('room-healthy');
    return n > before + 30 ? n : 0;
  }, 10000, 'healthy publisher still flowing');
  t.ok(after > before, `healthy publisher kept flowing (${before} → ${after} frames)`);
});
