// Relay delivery faults: the receiving RTMP server (nginx-rtmp) crashes and is started again 15 s later. Callback 401 shows
// the drop and each retry (Status 3, RECOVERING, with the reason), then RUNNING again, and the receiver plays the
// relayed stream again — without the anchor noticing.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { run } from '../helpers/clients.js';
import { startRelayFixture } from './rtmp-receiver.js';

// attempts every 2 s (TRTC's 5 s would only make the test longer); the 60 s give-up is TRTC's
const { cdn: srs, f } = await startRelayFixture({ relay: { retrySeconds: 2, giveUpSeconds: 60 } });
const { sdkAppId } = TEST_APP;

t.test('the receiver is down for 15 s: RECOVERING every attempt, then RUNNING, and it plays again', async (t) => {
  const room = 'relay-outage';
  const url = srs.url('outage');
  const { TaskId } = await f.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: 'relay_agent', UserSig: officialUserSig('relay_agent') },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: 'anchor' } } },
    AudioParams: {}, VideoParams: {},
    PublishCdnParams: [{ PublishCdnUrl: url }],
  });
  const taskId = TaskId!;
  const payloads = () => f.rx.events(401, taskId).map((e) => e.EventInfo.Payload);
  const anchor = run('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25',
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '60',
    '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'aac', '-b:a', '64k',
    '-f', 'flv', f.g.pushUrl(room, 'anchor'),
  ], 90_000);
  await waitFor(() => payloads().some((p) => p.Status === 2), 20000, 'RUNNING');
  plays(t, await srs.probe('outage'), 'the receiver plays');

  await srs.kill();
  const downAt = Date.now();
  await waitFor(() => payloads().filter((p) => p.Status === 3).length >= 3, 20000, 'RECOVERING announced at each attempt');
  const wait = 15000 - (Date.now() - downAt);
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  await srs.restart();
  await waitFor(() => payloads().filter((p) => p.Status === 2).length === 2, 20000, 'RUNNING again');
  plays(t, await srs.probe('outage'), 'the receiver plays again');
  const left = f.rx.events(104).filter((e) => e.EventInfo.RoomId === room && e.EventInfo.UserId === 'anchor');
  t.same(left, [], 'the anchor never noticed: no 104 (exit room) for it');

  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  anchor.stop();
  await anchor.exited;
  await waitFor(() => payloads().some((p) => p.Status === 0), 10000, 'IDLE');
  const s = payloads().map((p) => p.Status as number);
  t.same(s.slice(0, 2), [1, 2], 'connecting, running');
  const recovering = s.slice(2, s.lastIndexOf(2));
  t.ok(recovering.length >= 3 && recovering.every((x) => x === 3), `only RECOVERING while the receiver was down (${recovering.length} attempts)`);
  t.same(s.slice(s.lastIndexOf(2)), [2, 5, 0], 'running again, then removed at Stop');
  const drop = payloads()[2];
  t.match(drop, { Status: 3, ErrorCode: 2, ErrorMsg: /^the server ended the session while the stream was flowing \(\S/ }, `the first RECOVERING says the push dropped, and why: ${drop.ErrorMsg}`);
  const retries = payloads().slice(3, -3);
  t.ok(retries.every((p) => p.ErrorCode === 1 && /^could not connect to the server \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/.test(p.ErrorMsg)), `the next ones say the server refused the connection: ${retries[0]?.ErrorMsg}`);
  t.ok(f.rx.received.filter((x) => x.body?.EventInfo?.TaskId === taskId).every((x) => x.signOk), 'every 401 is signed');
});

function plays(t: { match: (found: unknown, want: unknown, what: string) => unknown }, probed: { streams: any[] }, what: string): void {
  t.match(probed.streams.find((s) => s.codec_type === 'video'), { codec_name: 'h264', width: 320, height: 240 }, `${what}: H.264 320x240`);
  t.match(probed.streams.find((s) => s.codec_type === 'audio'), { codec_name: 'aac' }, `${what}: AAC`);
}
