// Any node answers the room queries for the whole cluster (store.kind 'redis': the history lives in the shared
// Redis, src/store/redis-history.ts). Two real gateway processes share one real redis-server; an ffmpeg RTMP publisher
// and a Chromium WHEP viewer are both on node 1, and node 2, which holds nobody, answers:
// - GET /api/rooms lists the room with its publisher and its viewer (from the census);
// - DescribeRoomInfo and DescribeUserInfo through the official tencentcloud-sdk-nodejs return the room and both users,
//   the same as node 1 answers, and as the signed callbacks tell it.

import t, { type Test } from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import type { GatewayProcess } from '../helpers/gateway-process.js';
import { clusterNode } from '../helpers/cluster-node.js';
import { startRedis } from '../helpers/redis-server.js';
import { launchChromium, openWhepViewer } from '../helpers/chromium.js';

t.setTimeout(180_000);
const { sdkAppId } = TEST_APP;
const ROOM = 'asked-anywhere';
const sec = (ms: number) => Math.floor(ms / 1000);

const redis = await startRedis();
t.teardown(() => redis.close());
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());

async function node(t: Test, id: string): Promise<GatewayProcess> {
  return clusterNode(t, {
    id, redisUrl: redis.url, prefix: 'rg-queries:', callbackUrl: rx.url, leaseMs: 1500,
    config: { history: { sampleSeconds: 1 } },
  });
}

const [n1, n2] = await Promise.all([node(t, 'q1'), node(t, 'q2')]);
const inRoom = (type: number) => rx.received.map((r) => r.body).filter((b) => b.EventType === type && b.EventInfo?.RoomId === ROOM);

t.test('node 2 lists and describes a room whose publisher and viewer are both on node 1', async (t) => {
  const anchor = ffmpegPush(n1.pushUrl(ROOM, 'anchor1'), { seconds: 90, realtime: true, size: '320x240' });
  t.teardown(() => anchor.stop());
  await waitFor(() => inRoom(103).some((e) => e.EventInfo.UserId === 'anchor1'), 20_000, 'anchor1 publishing on node 1');

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const viewer = await openWhepViewer(browser, n1.httpBase, `/v2/sub/${sdkAppId}/${ROOM}?SessionID=viewer1`, officialUserSig('viewer1'));
  t.teardown(() => viewer.close());
  t.equal(viewer.status, 201, 'node 1 answers the WHEP offer');
  await waitFor(async () => (await viewer.stats()).framesDecoded > 10, 30_000, 'the viewer decoding on node 1');
  await waitFor(() => inRoom(103).some((e) => e.EventInfo.UserId === 'viewer1'), 20_000, 'viewer1 entered');
  t.notOk(n2.logs.some((l) => l.msg === 'user joined' || l.msg === 'viewer joined'), 'node 2 holds nobody');

  const listed = await (await fetch(`${n2.httpBase}/api/rooms`)).json() as { rooms: Array<Record<string, unknown>> };
  t.same(listed.rooms.filter((r) => r.roomId === ROOM), [{ sdkAppId, roomId: ROOM, type: 'string', users: 1, audience: 1 }],
    "node 2's /api/rooms lists the room with node 1's publisher and viewer");

  const created = inRoom(101)[0].EventInfo;
  const commId = `${sdkAppId}_${ROOM}_${sec(created.EventMsTs)}`;
  const range = { StartTime: sec(created.EventMsTs) - 60, EndTime: sec(Date.now()) + 60 };
  const ask = (gw: GatewayProcess) => Promise.all([
    gw.client.DescribeRoomInfo({ SdkAppId: sdkAppId, RoomId: ROOM, ...range }),
    gw.client.DescribeUserInfo({ SdkAppId: sdkAppId, CommId: commId, ...range }),
  ]);
  // The history is written after the callbacks are queued; wait until node 2 hears both users.
  await waitFor(async () => (await ask(n2))[1].UserList?.length === 2, 20_000, 'node 2 describing both users');
  const [rooms, users] = await ask(n2);
  t.same(rooms.RoomList, [{ CommId: commId, RoomString: ROOM, CreateTime: sec(created.EventMsTs), DestroyTime: 0, IsFinished: false, UserId: 'anchor1' }],
    'DescribeRoomInfo on node 2: the room as 101 tells it, still open, created by anchor1');
  const entered = (u: string) => sec(inRoom(103).find((e) => e.EventInfo.UserId === u).EventInfo.EventMsTs);
  // (a WHEP viewer's entry carries no client address on one node either, so its ClientIp is not compared)
  t.same((users.UserList ?? []).map((u) => [u.UserId, u.DeviceType, u.JoinTs, u.Finished]), [
    ['anchor1', 'rtmp', entered('anchor1'), false],
    ['viewer1', 'whep', entered('viewer1'), false],
  ], 'DescribeUserInfo on node 2: both users of node 1, as 103 tells it');
  t.equal(users.UserList?.[0].ClientIp, '127.0.0.1', "the publisher's address, written on node 1");

  // A user still in has LeaveTs "now", which moves between the two asks; the rest is the same.
  const still = (list: typeof users.UserList) => (list ?? []).map(({ LeaveTs: _now, ...u }) => u);
  const [rooms1, users1] = await ask(n1);
  t.same([rooms1.RoomList, still(users1.UserList)], [rooms.RoomList, still(users.UserList)], 'node 1 answers the same');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a valid Sign');
});
