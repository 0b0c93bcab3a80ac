// Issue 20's two probes against real gateway processes sharing one store file (store.kind 'sqlite', the default): a
// callback receiver that is down while the first run works (so its callbacks queue) and up after the restart.
// - SIGTERM: publishers came and went; every callback the first run could not deliver arrives after the restart, in
//   order per room, signed, none twice.
// - SIGKILL: a pull task whose source is still there resumes (701 Status 2, then 0; DescribeStreamIngest answers
//   InProgress); one whose source is gone ends with its user's 104 and 702; an RTMP publisher who died with the
//   process leaves with 104 Reason 2, and its room with 102.
// - SIGKILL under a recording and a relay: both end at the restart with their callbacks (302, 401).

import t, { type Test } from 'tap';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { apiError } from '../helpers/api3.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { startCallbackReceiver, type CallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { makeMedia, startMediaServer } from '../helpers/media-server.js';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway-process.js';
import { startRtmpReceiver } from '../relay/rtmp-receiver.js';
import { assertRoomStory, roomEvents } from '../helpers/room-story.js';

t.setTimeout(180_000);
const { sdkAppId } = TEST_APP;

async function gateway(t: Test, rx: CallbackReceiver, storeFile: string, extra: Record<string, unknown> = {}): Promise<GatewayProcess> {
  const gw = await spawnGateway({
    apps: [{ ...TEST_APP, callbackUrl: rx.url, callbackKey: CALLBACK_KEY }],
    store: { kind: 'sqlite', file: storeFile },
    callbacks: { retryIntervalMs: 500, flushOnCloseMs: 300 },
    ...extra,
  });
  t.teardown(() => {
    gw.kill('SIGKILL');
    if (!t.passing()) t.comment(gw.logs.filter((l) => l.level >= 40).map((l) => JSON.stringify(l)).join('\n'));
  });
  return gw;
}

t.test('SIGTERM with the receiver down: every queued callback is delivered after the restart, in order, signed', async (t) => {
  const rx = await startCallbackReceiver(CALLBACK_KEY);
  t.teardown(() => rx.close());
  await rx.setMode('down');
  const storeFile = join(await mkdtemp(join(tmpdir(), 'rg-term-')), 'roomgate.db');
  const gw1 = await gateway(t, rx, storeFile);

  // publishers come and go in two rooms, and one is still publishing at the SIGTERM
  const short = [
    ffmpegPushColour(gw1.pushUrl('term-a', 'alice'), 'red', 2),
    ffmpegPushColour(gw1.pushUrl('term-a', 'bob'), 'green', 3),
    ffmpegPushColour(gw1.pushUrl('term-b', 'carol'), 'blue', 2),
  ];
  const long = ffmpegPushColour(gw1.pushUrl('term-b', 'dave'), 'white', 60);
  t.teardown(() => [...short, long].forEach((p) => p.kill()));
  await Promise.all(short.map((p) => p.exited));
  await waitFor(() => gw1.logs.filter((l) => l.msg === 'user left').length >= 3, 30_000, 'three publishers left');
  await waitFor(() => gw1.logs.some((l) => l.msg === 'user joined' && l.userId === 'dave'), 30_000, 'dave joined');

  gw1.kill('SIGTERM');
  await gw1.exited;
  const left = gw1.logs.find((l) => l.msg === 'callbacks left undelivered at shutdown');
  t.ok(left, 'the first run says callbacks were left undelivered');
  const undelivered = left!.undelivered as number;
  t.ok(undelivered >= 18, `at least the 18 callbacks of the probe were queued (${undelivered})`);
  t.equal(rx.received.length, 0, 'nothing was delivered during the first run');

  await rx.setMode('up');
  const gw2 = await gateway(t, rx, storeFile);
  t.equal(gw2.logs.find((l) => l.msg === 'delivering the callbacks a previous run left queued')?.queued, undelivered, 'the restart found them all');
  await waitFor(() => rx.received.length >= undelivered, 30_000, `${undelivered} callbacks delivered`);
  t.equal(rx.received.length, undelivered, 'every queued callback arrived, none twice');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
  assertRoomStory(t, roomEvents(rx, 'term-a'), ['alice', 'bob'], 'term-a');
  assertRoomStory(t, roomEvents(rx, 'term-b'), ['carol', 'dave'], 'term-b');
  const daveExit = roomEvents(rx, 'term-b').find((e) => e.EventType === 104 && e.EventInfo.UserId === 'dave');
  t.ok(daveExit, 'the publisher cut off by the shutdown left with 104');
  gw2.kill('SIGTERM');
  await gw2.exited;
});

t.test('SIGKILL: a pull task resumes (701 Status 2 then 0), one whose source is gone ends with 104 and 702, a dead publisher leaves with 104 Reason 2', async (t) => {
  const rx = await startCallbackReceiver(CALLBACK_KEY);
  t.teardown(() => rx.close());
  await rx.setMode('down');
  const media = await startMediaServer();
  t.teardown(() => media.close());
  const file = await makeMedia('flv-h264-aac', 4);
  const storeFile = join(await mkdtemp(join(tmpdir(), 'rg-kill-')), 'roomgate.db');
  const config = { pull: { allow: ['127.0.0.1'], startRetryDelaysMs: [0, 200, 400] } };
  const gw1 = await gateway(t, rx, storeFile, config);

  const start = async (gw: GatewayProcess, room: string, userId: string, url: string) =>
    (await gw.client.StartStreamIngest({
      SdkAppId: sdkAppId, RoomId: room, RoomIdType: 0, UserId: userId, UserSig: officialUserSig(userId), StreamUrl: url, RepeatNum: -1,
    })).TaskId!;
  const kept = await start(gw1, 'kill-a', 'puller_a', `${media.base}/${file}`);
  const gone = await start(gw1, 'kill-b', 'puller_b', `${media.base}/${file}?then=gone`);
  const pusher = ffmpegPushColour(gw1.pushUrl('kill-c', 'rtmp_c'), 'red', 60);
  t.teardown(() => pusher.kill());
  await waitFor(() => gw1.logs.filter((l) => l.msg === 'first frame reached the room').length >= 2, 30_000, 'both pulls in their rooms');
  await waitFor(() => gw1.logs.some((l) => l.msg === 'user joined' && l.userId === 'rtmp_c'), 30_000, 'rtmp_c joined');

  gw1.kill('SIGKILL');
  await gw1.exited;
  pusher.kill();
  // the second task's source is gone by the time the gateway is back
  media.intercept = (req, res) => {
    if (!req.url?.includes('then=gone')) return false;
    res.writeHead(404).end('gone');
    return true;
  };
  await rx.setMode('up');
  const gw2 = await gateway(t, rx, storeFile, config);

  // the task whose source is there runs again, under the same TaskId, answered by the official SDK
  const described = await gw2.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: kept });
  t.equal(described.Status, 'InProgress', 'DescribeStreamIngest answers InProgress after the restart');
  const statuses = () => rx.events(701, kept).map((e) => e.EventInfo.Status as number);
  await waitFor(() => statuses().length >= 3 && statuses().at(-1) === 0, 30_000, 'the resumed task started again');
  // [0, 2, 0]; on a loaded machine an attempt may time out first, and is retried as a restart (another 2, never a 1)
  t.match(statuses().join(','), /^0,2(,2)*,0$/, `701 Status 0 (first run), then 2 and 0 (the restart): ${statuses().join(',')}`);
  t.equal(rx.events(702, kept).length, 0, 'no 702 for the resumed task');
  const roomA = roomEvents(rx, 'kill-a');
  t.same(roomA.filter((e) => [101, 102, 103, 104].includes(e.EventType)).map((e) => e.EventType), [101, 103], 'its user never left the room');

  // the history has the resumed user in the room's life as it stands after the restart (DescribeUserInfo)
  const now = Math.floor(Date.now() / 1000);
  const lives = (await gw2.client.DescribeRoomInfo({ SdkAppId: sdkAppId, StartTime: now - 600, EndTime: now + 1, RoomId: 'kill-a' })).RoomList ?? [];
  const current = lives.find((r) => !r.DestroyTime);
  t.ok(current, 'the room has an open life in the history');
  const users = await gw2.client.DescribeUserInfo({ SdkAppId: sdkAppId, CommId: current!.CommId!, StartTime: now - 600, EndTime: now + 1 });
  t.ok(users.UserList?.some((u) => u.UserId === 'puller_a' && u.DeviceType === 'pull'), 'DescribeUserInfo lists the resumed pull user');

  // the task whose source is gone ends: its user leaves (104, then 102 for the empty room), then 702
  await waitFor(() => rx.events(702, gone).length > 0, 30_000, '702 for the task whose source is gone');
  const roomB = roomEvents(rx, 'kill-b');
  const exitB = roomB.find((e) => e.EventType === 104 && e.EventInfo.UserId === 'puller_b');
  t.ok(exitB, 'its user left with 104');
  const all = rx.received.map((r) => r.body);
  t.ok(all.indexOf(exitB) < all.indexOf(rx.events(702, gone)[0]), '104 before 702');
  assertRoomStory(t, roomB.filter((e) => e.EventGroupId === 1), ['puller_b'], 'kill-b');
  t.same(rx.events(701, gone).map((e) => e.EventInfo.Status).slice(0, 2), [0, 2], '701 Status 0 (first run), then 2 for the attempt to resume');
  t.equal((await gw2.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: gone })).Status, 'NotExist', 'the ended task is NotExist');

  // the RTMP publisher died with the process: 104 Reason 2, then 102
  await waitFor(() => roomEvents(rx, 'kill-c').some((e) => e.EventType === 102), 30_000, '102 for kill-c');
  const roomC = roomEvents(rx, 'kill-c');
  assertRoomStory(t, roomC, ['rtmp_c'], 'kill-c');
  t.equal(roomC.find((e) => e.EventType === 104).EventInfo.Reason, 2, 'the dead session left with Reason 2 (timeout)');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');

  // the resumed task is a task like any other: Stop ends it with 104 and 702
  await gw2.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: kept });
  await waitFor(() => rx.events(702, kept).length > 0, 30_000, '702 for the stopped task');
  assertRoomStory(t, roomEvents(rx, 'kill-a').filter((e) => e.EventGroupId === 1), ['puller_a'], 'kill-a');
  gw2.kill('SIGTERM');
  await gw2.exited;
});

t.test('SIGKILL under a recording and a relay: after the restart, 302 LeaveCode 3, 401 Status 0 per URL, and their users leave with 104 Reason 2', async (t) => {
  const rx = await startCallbackReceiver(CALLBACK_KEY);
  t.teardown(() => rx.close());
  const cdn = await startRtmpReceiver();
  t.teardown(() => cdn.close());
  const dir = await mkdtemp(join(tmpdir(), 'rg-kill-rec-'));
  const storeFile = join(dir, 'roomgate.db');
  const config = { pull: { allow: ['127.0.0.1'] }, recording: { dir: join(dir, 'rec') } };
  const gw1 = await gateway(t, rx, storeFile, config);
  const room = 'kill-egress';
  const anchor = ffmpegPushColour(gw1.pushUrl(room, 'anchor'), 'red', 60);
  t.teardown(() => anchor.kill());
  const rec = (await gw1.client.CreateCloudRecording({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 0, UserId: 'recorder', UserSig: officialUserSig('recorder'),
    RecordParams: { RecordMode: 1, OutputFormat: 0 }, StorageParams: {},
  })).TaskId!;
  const url = cdn.url('kill-egress');
  const relay = (await gw1.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: 'relayer', UserSig: officialUserSig('relayer'), MaxIdleTime: 30 },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: 'anchor' } } },
    AudioParams: { AudioEncode: { SampleRate: 44100, Channel: 1, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 320, Height: 240, Fps: 25, BitRate: 500, Gop: 1 } },
    PublishCdnParams: [{ PublishCdnUrl: url, IsTencentCdn: 0 }],
  })).TaskId!;
  // both running with media: the recording's first playlist segment (307), the relay's push taken (401 Status 2)
  await waitFor(() => rx.events(307, rec).length > 0, 40_000, '307 for the recording');
  await waitFor(() => rx.events(401, relay).some((e) => e.EventInfo.Payload.Status === 2), 40_000, '401 Status 2 for the relay');
  await rx.setMode('down'); // what happens from here on queues, and the kill comes with it queued

  gw1.kill('SIGKILL');
  await gw1.exited;
  anchor.kill();
  await rx.setMode('up');
  const gw2 = await gateway(t, rx, storeFile, config);

  await waitFor(() => rx.events(302, rec).length > 0, 30_000, '302 for the recording');
  t.match(rx.events(302, rec)[0].EventInfo.Payload, { LeaveCode: 3, Reason: new RegExp(`gateway stopped while recording.*${rec}`) }, '302 LeaveCode 3 says where the files are');
  await waitFor(() => rx.events(401, relay).some((e) => e.EventInfo.Payload.Status === 0), 30_000, '401 Status 0 for the relay');
  t.match(rx.events(401, relay).at(-1).EventInfo.Payload, { Url: url, Status: 0, ErrorCode: 2, ErrorMsg: /gateway stopped while relaying/ }, '401 Status 0 for its URL, ErrorCode 2');
  await waitFor(() => roomEvents(rx, room).some((e) => e.EventType === 102), 30_000, '102 for the room');
  const events = roomEvents(rx, room).filter((e) => e.EventGroupId === 1);
  assertRoomStory(t, events, ['anchor', 'recorder', 'relayer'], room);
  for (const u of ['anchor', 'recorder', 'relayer']) {
    t.equal(events.find((e) => e.EventType === 104 && e.EventInfo.UserId === u).EventInfo.Reason, 2, `${u} left with Reason 2`);
  }
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
  const gone = await apiError(gw2.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: rec }));
  t.match(gone.code, /^(InvalidParameter|FailedOperation|ResourceNotFound)/, `the ended recording is not described (${gone.code})`);
  gw2.kill('SIGTERM');
  await gw2.exited;
});
