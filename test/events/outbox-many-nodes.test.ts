// Many nodes, one outbox: three real gateway processes share one real redis-server (store.kind 'redis'). The
// callback receiver is down while ffmpeg publishers come and go on the nodes, one node is restarted with SIGTERM and
// another SIGKILLed and started again (the dead process's partition leases must run out before anyone delivers its
// rooms). Then the receiver comes up: every event arrives exactly once, in order per room, with a correct Sign,
// delivered by whichever nodes are alive. Each room lives on one node (room membership is still counted per node).

import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from '../helpers/gateway.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway-process.js';
import { startRedis } from '../helpers/redis-server.js';
import { TEST_APP } from '../helpers/gateway.js';
import { assertRoomStory, roomEvents } from '../helpers/room-story.js';

t.setTimeout(240_000);

t.test('three nodes, one Redis: the receiver down, two nodes restarted, then every callback once, in order, signed', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const raw = new Redis(redis.url);
  t.teardown(() => raw.quit());
  const rx = await startCallbackReceiver(CALLBACK_KEY);
  t.teardown(() => rx.close());
  await rx.setMode('down');
  const dir = await mkdtemp(join(tmpdir(), 'rg-many-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  const node = async (name: string): Promise<GatewayProcess> => {
    const gw = await spawnGateway({
      apps: [{ ...TEST_APP, callbackUrl: rx.url, callbackKey: CALLBACK_KEY }],
      // each node its own history file; the state in the shared Redis
      store: { kind: 'redis', file: join(dir, `${name}.db`), redisUrl: redis.url, redisPrefix: 'many:' },
      // the receiver stays down for the whole story: nothing may age out of the retry window meanwhile
      callbacks: { timeoutMs: 2000, retryIntervalMs: 500, maxAgeMs: 600_000, flushOnCloseMs: 300 },
    });
    t.teardown(() => {
      gw.kill('SIGKILL');
      if (!t.passing()) t.comment(`${name}:\n` + gw.logs.filter((l) => l.level >= 40).map((l) => JSON.stringify(l)).join('\n'));
    });
    return gw;
  };
  const n1 = await node('n1');
  const n2 = await node('n2');
  const n3 = await node('n3');
  /** The callback bodies waiting in the shared outbox. */
  const queuedEvents = async () => (await raw.hvals('many:outbox:entries')).map((e) => JSON.parse(JSON.parse(e).body));
  const joined = (gw: GatewayProcess, userId: string) => gw.logs.some((l) => l.msg === 'user joined' && l.userId === userId);
  const leftCount = (gw: GatewayProcess) => gw.logs.filter((l) => l.msg === 'user left').length;

  // room many-1 on node 1, many-2 on node 2: publishers come and go; frank is still publishing on node 2
  const short = [
    ffmpegPushColour(n1.pushUrl('many-1', 'alice'), 'red', 2),
    ffmpegPushColour(n1.pushUrl('many-1', 'bob'), 'green', 3),
    ffmpegPushColour(n2.pushUrl('many-2', 'carol'), 'blue', 2),
  ];
  const frank = ffmpegPushColour(n2.pushUrl('many-2', 'frank'), 'white', 60);
  t.teardown(() => [...short, frank].forEach((p) => p.kill()));
  await Promise.all(short.map((p) => p.exited));
  await waitFor(() => leftCount(n1) >= 2 && leftCount(n2) >= 1, 30_000, 'three publishers left');
  await waitFor(() => joined(n2, 'frank'), 30_000, 'frank joined on node 2');

  // node 2 restarted with SIGTERM: frank leaves with the shutdown (104, 102 queued in Redis)
  n2.kill('SIGTERM');
  await n2.exited;
  frank.kill();
  const n2b = await node('n2b');

  // room many-3 on node 3: dave comes and goes, erin is publishing when node 3 is SIGKILLed
  const dave = ffmpegPushColour(n3.pushUrl('many-3', 'dave'), 'yellow', 2);
  const erin = ffmpegPushColour(n3.pushUrl('many-3', 'erin'), 'black', 60);
  t.teardown(() => [dave, erin].forEach((p) => p.kill()));
  await dave.exited;
  await waitFor(() => leftCount(n3) >= 1 && joined(n3, 'erin'), 30_000, 'dave left, erin joined on node 3');
  // a leave is decided by the cluster's census in Redis before its 104 is queued: wait for the queue to have it
  // (a node killed within those two round trips loses it, as any process loses what it had not yet written)
  await waitFor(async () => (await queuedEvents()).some((b) => b.EventType === 104 && b.EventInfo.UserId === 'dave'), 30_000, "dave's 104 queued");
  // node 3 dies holding the leases of what it was retrying; once its node lease expires, a survivor tells erin's
  // 104 Reason 2 and 102
  await waitFor(async () => (await raw.keys('many:outbox:lease:*')).length > 0, 30_000, 'some partition is leased');
  n3.kill('SIGKILL');
  await n3.exited;
  erin.kill();
  const n3b = await node('n3b');

  // erin's 104 Reason 2 and many-3's 102 are queued by whichever node sweeps node 3 once its lease has expired
  await waitFor(async () => (await queuedEvents()).some((b) => b.EventType === 102 && b.EventInfo.RoomId === 'many-3'), 30_000, 'node 3 swept: its room dismissed');
  t.equal(rx.received.length, 0, 'nothing was delivered while the receiver was down');
  const queued = await raw.hlen('many:outbox:entries');
  t.ok(queued >= 18, `the events of the three rooms wait in Redis (${queued})`);

  await rx.setMode('up');
  await waitFor(async () => (await raw.hlen('many:outbox:entries')) === 0, 60_000, 'the shared outbox emptied');
  // the processes that queued many-2's and most of many-3's events are gone: the live ones delivered them
  t.equal(rx.received.length, queued, 'as many callbacks arrived as were queued');
  const bodies = rx.received.map((r) => r.raw);
  t.equal(new Set(bodies).size, bodies.length, 'none arrived twice');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
  assertRoomStory(t, roomEvents(rx, 'many-1'), ['alice', 'bob'], 'many-1 (node 1, never restarted)');
  assertRoomStory(t, roomEvents(rx, 'many-2'), ['carol', 'frank'], 'many-2 (node 2, SIGTERM)');
  assertRoomStory(t, roomEvents(rx, 'many-3'), ['dave', 'erin'], 'many-3 (node 3, SIGKILL)');
  const erinExit = roomEvents(rx, 'many-3').find((e) => e.EventType === 104 && e.EventInfo.UserId === 'erin');
  t.equal(erinExit?.EventInfo.Reason, 2, "erin, who died with node 3, left with 104 Reason 2");
  t.same(await raw.keys('many:outbox:lease:*'), [], 'every lease given up');
  for (const gw of [n1, n2b, n3b]) gw.kill('SIGTERM');
  await Promise.all([n1.exited, n2b.exited, n3b.exited]);
});
