// Two real gateway processes sharing one real Redis, and one callback receiver checking Sign. Node 2 runs a pull task
// alone in its room; its source disappears and node 2 is SIGKILLed at once. The survivor that sweeps node 2 resumes
// the task (701 Status 2), every attempt fails (the source answers 404) and the task ends (702) before it ever
// re-joined the room — and still its user leaves (104, Reason 1 as after a one-node restart) and the room closes
// (102), each once. Before the fix the survivor never counted the resumed session, so nobody left it.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { makeMedia, startMediaServer } from '../helpers/media-server.js';
import { clusterNode } from '../helpers/cluster-node.js';
import { startRedis } from '../helpers/redis-server.js';

t.setTimeout(180_000);
const { sdkAppId } = TEST_APP;
const LEASE_MS = 1500;
const ROOM = 'gone-source';

const redis = await startRedis();
t.teardown(() => redis.close());
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());
const media = await startMediaServer();
t.teardown(() => media.close());

const node = (id: string) =>
  clusterNode(t, {
    id, redisUrl: redis.url, prefix: 'rg-gone:', callbackUrl: rx.url, leaseMs: LEASE_MS,
    config: {
      callbacks: { retryIntervalMs: 500, flushOnCloseMs: 300 },
      pull: { allow: ['127.0.0.1'], startRetryDelaysMs: [0, 200, 400] },
    },
  });
const [n1, n2] = await Promise.all([node('n1'), node('n2')]);

const roomEvents = (): any[] => rx.received.map((r) => r.body).filter((b) => String(b.EventInfo?.RoomId) === ROOM);
const count = (type: number) => roomEvents().filter((e) => e.EventType === type).length;

t.test('a taken-over pull task whose source is gone ends on the survivor with 702, and its user leaves (104, 102)', async (t) => {
  const file = await makeMedia('flv-h264-aac', 4);
  const { TaskId } = await n2.client.StartStreamIngest({
    SdkAppId: sdkAppId, RoomId: ROOM, RoomIdType: 0, UserId: 'puller', UserSig: officialUserSig('puller'),
    StreamUrl: `${media.base}/${file}?task=gone-source`, RepeatNum: -1,
  });
  const statuses = () => rx.events(701, TaskId!).map((e) => e.EventInfo.Status as number);
  await waitFor(() => statuses().includes(0) && count(103) === 1, 30_000, 'the pull task in its room on node 2');

  // the source is gone from now on; node 2 dies in the same tick, so it cannot end the task itself first
  media.intercept = (req, res) => {
    if (!req.url?.includes('task=gone-source')) return false;
    res.writeHead(404).end('gone');
    return true;
  };
  n2.kill('SIGKILL');
  await n2.exited;

  await waitFor(() => rx.events(702, TaskId!).length > 0, 30_000, '702 from the survivor');
  await waitFor(() => count(102) > 0, 30_000, 'the room dismissed after its only user left');
  t.ok(n1.logs.some((l) => l.msg === 'pull task resumed after a restart' && l.taskId === TaskId), 'the survivor resumed the task');
  t.match(statuses().join(','), /^0,2(,2)*$/, `701 Status 0 on node 2, then 2 on the survivor: ${statuses().join(',')}`);

  await new Promise((r) => setTimeout(r, 2 * LEASE_MS)); // a later sweep must report nothing again
  t.equal(rx.events(702, TaskId!).length, 1, '702 once');
  const exits = roomEvents().filter((e) => e.EventType === 104);
  t.equal(exits.length, 1, '104 once');
  t.equal(exits[0]?.EventInfo.UserId, 'puller', "the task's user left");
  t.equal(exits[0]?.EventInfo.Reason, 1, 'Reason 1, as when a resumed task ends after a one-node restart');
  t.same(roomEvents().filter((e) => [101, 102, 103, 104].includes(e.EventType)).map((e) => e.EventType), [101, 103, 104, 102], 'the room story: 101, 103, 104, 102 once each');
  const all = rx.received.map((r) => r.body);
  const lastRestart = all.map((b) => b.EventType === 701 && b.EventInfo.Status === 2).lastIndexOf(true);
  t.ok(lastRestart >= 0 && lastRestart < all.indexOf(rx.events(702, TaskId!)[0]), '701 Status 2 before 702');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
});
