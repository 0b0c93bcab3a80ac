// Drain: a real `roomgate serve` process with an ffmpeg RTMP publisher, a werift WHEP viewer and a pull task gets
// SIGTERM. /healthz turns 503, the running publisher goes on (its frames keep coming), a second ffmpeg is refused
// with a reason that tells it to reconnect elsewhere, StartStreamIngest is refused with ResourceUnavailable; at
// drain.timeoutMs everything is closed with the usual signed callbacks (104, 102, 702) delivered before the exit,
// and no ffmpeg child is left. Then POST /api/drain on an in-process gateway: it closes as soon as its only
// publisher stops on its own, long before its timeout.

import t from 'tap';
import { officialUserSig, startTestGateway, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { spawnGateway } from '../helpers/gateway-process.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { makeMedia, startMediaServer } from '../helpers/media-server.js';
import { weriftViewer, whepTarget } from '../helpers/viewers.js';
import { apiError } from '../helpers/api3.js';
import { ffmpegsWith } from '../helpers/processes.js';

const CALLBACK_KEY = 'drainCallbackKey7';
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());
const media = await startMediaServer();
t.teardown(() => media.close());
const app = TEST_APP.sdkAppId;


t.test('SIGTERM drains: 503, the running publisher goes on, new ones are told to reconnect, then all closes with callbacks', async (t) => {
  const gw = await spawnGateway({
    apps: [{ ...TEST_APP, callbackUrl: rx.url, callbackKey: CALLBACK_KEY }],
    pull: { allow: ['127.0.0.1'] },
    drain: { timeoutMs: 6000 },
  });
  t.teardown(() => gw.kill('SIGKILL'));
  const users = async (room: string) => {
    const r = await fetch(`${gw.httpBase}/api/rooms/${app}/${room}`).catch(() => null);
    return r?.status === 200 ? ((await r.json()) as any).users : [];
  };

  const pub = ffmpegPush(gw.pushUrl('drain-room', 'anchor'), { seconds: 120, realtime: true });
  t.teardown(() => pub.kill());
  await waitFor(async () => (await users('drain-room'))[0]?.frames.video > 10, 15000, 'the anchor publishing');
  const viewer = weriftViewer({ ...whepTarget(gw.httpBase, 'drain-room', 'watcher'), seconds: 120 });
  t.teardown(() => viewer.kill());
  await viewer.waitLine((l) => (l.fps ?? 0) > 0, 15000);
  const needle = 'drain-pull-needle';
  const file = await makeMedia('flv-h264-aac', 60);
  const started = await gw.client.StartStreamIngest({
    SdkAppId: app, RoomId: 'drain-pull', RoomIdType: 0, UserId: 'puller', UserSig: officialUserSig('puller'),
    StreamUrl: `${media.base}/${file}?${needle}`,
  });
  await waitFor(async () => (await users('drain-pull')).length === 1, 15000, 'the pull task publishing');

  gw.kill('SIGTERM');
  const health = await waitFor(async () => {
    const s = (await fetch(`${gw.httpBase}/healthz`)).status;
    return s === 200 ? null : s;
  }, 5000, '/healthz to leave 200');
  t.equal(health, 503, '/healthz is 503 while draining');

  // a new publisher is refused with the reason; the running one goes on
  const late = ffmpegPush(gw.pushUrl('drain-room-2', 'late'), { seconds: 10 });
  await late.exited;
  t.match(late.output(), /this node is draining \(going out of service\): reconnect to publish on another node/, 'the new encoder is told to reconnect elsewhere');
  const refusedTask = await apiError(gw.client.StartStreamIngest({
    SdkAppId: app, RoomId: 'drain-pull-2', RoomIdType: 0, UserId: 'puller2', UserSig: officialUserSig('puller2'),
    StreamUrl: `${media.base}/${file}`,
  }));
  t.equal(refusedTask.code, 'ResourceUnavailable', 'a new pull task is refused');
  t.match(refusedTask.message, /draining/);
  const before = (await users('drain-room'))[0]?.frames.video ?? 0;
  await waitFor(async () => ((await users('drain-room'))[0]?.frames.video ?? 0) > before + 10, 5000, 'the anchor still publishing');
  t.pass('the running publisher goes on during the drain');

  const exit = await gw.exited;
  t.equal(exit.code, 0, 'the gateway exits 0 once the drain is over');
  t.ok(gw.logs.some((l) => l.msg === 'drain timeout: closing the sessions left'), 'the sessions left were closed at drain.timeoutMs');
  await pub.exited;
  t.match(pub.output(), /the gateway is shutting down \(drained\)/, 'the anchor was told why at the end');

  const delivered = rx.received.filter((r) => r.at <= exit.at);
  const event = (type: number, room: string, user?: string) =>
    delivered.find((r) => r.body.EventType === type && r.body.EventInfo.RoomId === room && (user === undefined || r.body.EventInfo.UserId === user));
  t.ok(event(104, 'drain-room', 'anchor'), '104 for the anchor before the exit');
  t.ok(event(104, 'drain-room', 'watcher'), '104 for the viewer before the exit');
  t.ok(event(102, 'drain-room'), '102 for its room before the exit');
  t.ok(delivered.some((r) => r.body.EventType === 702 && r.body.EventInfo.TaskId === started.TaskId), '702 for the pull task before the exit');
  t.ok(event(102, 'drain-pull'), '102 for the pull task\'s room before the exit');
  t.notOk(rx.received.some((r) => r.body.EventInfo?.UserId === 'late'), 'the refused publisher never entered a room');
  t.ok(rx.received.every((r) => r.signOk), 'every callback is signed');
  await waitFor(() => ffmpegsWith(needle).length === 0, 2000, 'no pull ffmpeg left');
  t.pass('no ffmpeg child is left');
});

t.test('POST /api/drain: the gateway closes as soon as its sessions end on their own', async (t) => {
  const g = await startTestGateway({ drain: { timeoutMs: 600_000 } });
  t.teardown(() => g.close());
  const pub = ffmpegPush(g.pushUrl('drain-api', 'anchor'), { seconds: 120, realtime: true });
  t.teardown(() => pub.kill());
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/drain-api`)).body.users?.[0]?.frames.video > 10, 15000, 'the anchor publishing');

  const res = await fetch(`${g.httpBase}/api/drain`, { method: 'POST' });
  t.equal(res.status, 202);
  t.same(await res.json(), { status: 'draining', timeoutMs: 600_000 });
  t.equal((await fetch(`${g.httpBase}/healthz`)).status, 503, '/healthz is 503 at once');
  const whip = await fetch(`${g.httpBase}/v2/pub/${app}/drain-api-2?SessionID=late`, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', authorization: `Bearer ${officialUserSig('late')}` },
    body: 'v=0\r\n',
  });
  t.equal(whip.status, 503, 'a WHIP publish is refused with 503');
  t.match(await whip.text(), /reconnect to publish on another node/);

  let closed = false;
  void g.gw.closed.then(() => (closed = true));
  t.equal((await g.getJson(`/api/rooms/${app}/drain-api`)).body.users.length, 1, 'the anchor is still in its room');
  t.notOk(closed, 'not closed while a session runs');
  pub.stop(); // the encoder's operator stops it
  await waitFor(() => closed, 30000, 'the gateway closed once the anchor left');
  t.pass('closed when the last session ended, without waiting for drain.timeoutMs');
});
