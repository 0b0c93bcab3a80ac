// Redis stopped under a running gateway (store.kind 'redis'): the stream already flowing keeps reaching its viewer
// (nothing on the media path awaits Redis), /healthz turns 503 and names the unreachable Redis, a new publish is
// refused, the callbacks of a publisher who leaves meanwhile wait in memory, and once Redis is back everything works
// again without a restart and those callbacks arrive, in order.

import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { apiError } from '../helpers/api3.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { spawnGateway } from '../helpers/gateway-process.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { startRedis } from '../helpers/redis-server.js';
import { weriftViewer, whepTarget } from '../helpers/viewers.js';

t.setTimeout(180_000);

t.test('Redis stopped: media keeps flowing, /healthz says why, a new publish is refused, all recovers', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const dir = await mkdtemp(join(tmpdir(), 'rg-outage-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const rx = await startCallbackReceiver(CALLBACK_KEY);
  t.teardown(() => rx.close());
  const gw = await spawnGateway({
    apps: [{ ...TEST_APP, callbackUrl: rx.url, callbackKey: CALLBACK_KEY }],
    store: { kind: 'redis', file: join(dir, 'roomgate.db'), redisUrl: redis.url, redisPrefix: 'outage:' },
    pull: { allow: ['127.0.0.1'] },
  });
  t.teardown(() => {
    gw.kill('SIGKILL');
    if (!t.passing()) t.comment(gw.output());
  });
  const health = async () => {
    const res = await fetch(`${gw.httpBase}/healthz`);
    return { code: res.status, body: (await res.json()) as { status: string; problems?: string[] } };
  };
  t.same(await health(), { code: 200, body: { status: 'ready' } }, 'healthy with Redis up');

  const alice = ffmpegPushColour(gw.pushUrl('outage-1', 'alice'), 'red', 90);
  t.teardown(() => alice.kill());
  await waitFor(() => gw.logs.some((l) => l.msg === 'user joined' && l.userId === 'alice'), 30_000, 'alice joined');
  const viewer = weriftViewer(whepTarget(gw.httpBase, 'outage-1', 'viewer-1'));
  t.teardown(() => viewer.kill());
  await viewer.waitLine((l) => l.firstKeyframeAt > 0 && l.frames > 0, 30_000);
  // dave is in a room of his own, and leaves while Redis is down
  const dave = ffmpegPushColour(gw.pushUrl('outage-3', 'dave'), 'yellow', 90);
  t.teardown(() => dave.kill());
  await waitFor(() => rx.events(103).some((e) => e.EventInfo.UserId === 'dave'), 30_000, "dave's 103 delivered");

  await redis.stop();
  const down = await waitFor(async () => {
    const h = await health();
    return h.code === 503 ? h : undefined;
  }, 30_000, '/healthz turned 503');
  t.equal(down.body.status, 'ready', 'the node itself is up');
  t.match(down.body.problems?.[0], `store: redis unreachable at redis://127.0.0.1:${redis.port}`, `/healthz says why: ${down.body.problems?.[0]}`);

  dave.kill();
  await waitFor(() => gw.logs.some((l) => l.msg === 'user left' && l.userId === 'dave'), 30_000, 'dave left');

  // a publish needs its presence claim in Redis: refused
  const bob = ffmpegPushColour(gw.pushUrl('outage-2', 'bob'), 'blue', 20);
  t.teardown(() => bob.kill());
  const bobExit = await bob.exited;
  t.not(bobExit, 0, `the new publish is refused (ffmpeg exit ${bobExit})`);
  t.notOk(gw.logs.some((l) => l.msg === 'user joined' && l.userId === 'bob'), 'bob never joined');
  t.match(bob.output(), /store: redis unreachable at redis:\/\/127\.0\.0\.1:\d+.*publish again shortly/, 'the encoder is told why');
  // an API 3.0 call that needs the store is refused with a code and a reason, and leaves no half-made task behind
  const api = await apiError(gw.client.StartStreamIngest({
    SdkAppId: TEST_APP.sdkAppId, RoomId: 'outage-api', RoomIdType: 0, UserId: 'puller', UserSig: officialUserSig('puller'),
    StreamUrl: 'http://127.0.0.1:9/a.flv',
  }));
  t.equal(api.code, 'ResourceUnavailable', 'StartStreamIngest while Redis is down: ResourceUnavailable');
  t.match(api.message, /store: redis unreachable at .*retry the request once it is back/);

  // meanwhile alice's stream keeps reaching the viewer
  const before = viewer.latest()!.frames;
  await viewer.waitLine((l) => l.frames >= before + 60, 30_000);
  t.equal((await health()).code, 503, 'two more seconds of frames reached the viewer while Redis was still down');

  await redis.start();
  await waitFor(async () => (await health()).code === 200, 30_000, '/healthz back to 200');
  const tasks = await (await fetch(`${gw.httpBase}/api/tasks`)).json();
  t.notOk(tasks.running.some((r: any) => r.roomId === 'outage-api'), 'the refused StartStreamIngest left no task running');
  const carol = ffmpegPushColour(gw.pushUrl('outage-2', 'carol'), 'green', 20);
  t.teardown(() => carol.kill());
  await waitFor(() => gw.logs.some((l) => l.msg === 'user joined' && l.userId === 'carol'), 30_000, 'a new publish is taken again');
  const after = viewer.latest()!.frames;
  await viewer.waitLine((l) => l.frames >= after + 30, 30_000);
  t.pass('the viewer still receives frames after the recovery');
  const story = () => rx.received.map((r) => r.body).filter((b) => b.EventInfo?.RoomId === 'outage-3');
  await waitFor(() => story().some((e) => e.EventType === 102), 30_000, "outage-3's 102 delivered");
  const types = story().map((e) => e.EventType).filter((x) => [101, 102, 103, 104].includes(x));
  t.same(types, [101, 103, 104, 102], `dave's room, told while Redis was down, arrives after it, in order: ${types.join(',')}`);
  t.ok(rx.received.every((r) => r.signOk), 'signed');
  t.ok(gw.logs.some((l) => l.msg === 'store: redis reachable again'), 'the store logged its recovery');
  viewer.stop();
  gw.kill('SIGTERM');
  await gw.exited;
});

t.test('a gateway started while its Redis is down stops with one line naming it', async (t) => {
  const redis = await startRedis();
  const url = redis.url;
  await redis.close();
  const dir = await mkdtemp(join(tmpdir(), 'rg-outage-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const err = await spawnGateway({
    apps: [TEST_APP],
    store: { kind: 'redis', file: join(dir, 'roomgate.db'), redisUrl: url, redisPrefix: 'outage:' },
  }).catch((e: unknown) => e as Error);
  t.type(err, Error, 'the gateway does not start');
  t.match(
    (err as Error).message,
    `roomgate: store: redis unreachable at ${url} (connect ECONNREFUSED 127.0.0.1:${redis.port}); start that Redis or set store.redisUrl to one that runs`,
    'it says which Redis and what to do',
  );
});
