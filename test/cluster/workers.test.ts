// `roomgate serve --workers 2` with a real Redis: two worker processes share the public RTMP and HTTP ports (Node's
// cluster module), publishers spread over both, a Chromium viewer of each worker's publisher decodes through the
// shared HTTP port (forwarded to the right worker when it lands on the other), and a SIGKILLed worker is started
// again by the primary while the other worker's viewer goes on decoding; its publisher leaves with 104 Reason 2.
// Without Redis, --workers 2 is refused with what to set.

import t from 'tap';
import { spawn } from 'node:child_process';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { spawnGateway } from '../helpers/gateway-process.js';
import { startRedis } from '../helpers/redis-server.js';
import { launchChromium, openWhepViewer, type WhepViewer } from '../helpers/chromium.js';
import { repoPath } from '../../src/paths.js';

t.setTimeout(180_000);
const { sdkAppId } = TEST_APP;

t.test('without Redis, --workers 2 is refused with what to set', async (t) => {
  const child = spawn(process.execPath, [repoPath('bin/roomgate'), 'serve', '--workers', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.on('exit', r));
  t.equal(code, 2);
  t.match(err, /--workers 2 runs 2 gateway nodes, which must share their state: set store.kind to "redis" and store.redisUrl/);
});

t.test('two workers share the ports; publishers spread; a killed worker comes back', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const rx = await startCallbackReceiver(CALLBACK_KEY);
  t.teardown(() => rx.close());
  const gw = await spawnGateway({
    apps: [{ ...TEST_APP, callbackUrl: rx.url, callbackKey: CALLBACK_KEY }],
    store: { kind: 'redis', redisUrl: redis.url, redisPrefix: 'rg-workers:' },
    node: { id: 'box', leaseMs: 1500 },
    webrtc: { hostAddresses: ['127.0.0.1'], udpPortMin: 43000, udpPortMax: 43099 },
  }, ['--workers', '2']);
  t.teardown(() => gw.kill('SIGKILL'));
  const browser = await launchChromium();
  t.teardown(() => browser.close());

  const workerOf = (userId: string) => gw.logs.find((l) => l.msg === 'user joined' && l.userId === userId)?.pid as number | undefined;
  const pubs = ['p0', 'p1', 'p2', 'p3'].map((u) => {
    const p = ffmpegPush(gw.pushUrl(`room-${u}`, u), { seconds: 90, realtime: true, size: '320x240' });
    t.teardown(() => p.stop());
    return p;
  });
  await waitFor(() => ['p0', 'p1', 'p2', 'p3'].every((u) => workerOf(u)), 30_000, 'four publishers joined');
  const pids = new Set(['p0', 'p1', 'p2', 'p3'].map(workerOf));
  t.equal(pids.size, 2, 'the publishers are spread over both workers');
  const workers = gw.logs.filter((l) => l.msg === 'joined the cluster').map((l) => l.node).sort();
  t.same(workers, ['box-w0', 'box-w1'], 'each worker is a node with a stable id');

  // one publisher of each worker, one viewer each, both through the shared HTTP port
  const [a, b] = [...pids] as number[];
  const onA = ['p0', 'p1', 'p2', 'p3'].find((u) => workerOf(u) === a)!;
  const onB = ['p0', 'p1', 'p2', 'p3'].find((u) => workerOf(u) === b)!;
  const viewers: WhepViewer[] = [];
  for (const u of [onA, onB]) {
    const v = await openWhepViewer(browser, gw.httpBase, `/v2/sub/${sdkAppId}/room-${u}?SessionID=v-${u}`, officialUserSig(`v-${u}`));
    t.teardown(() => v.close());
    t.equal(v.status, 201, `the viewer of ${u} is answered`);
    viewers.push(v);
  }
  for (const [i, v] of viewers.entries()) {
    await waitFor(async () => (await v.stats()).framesDecoded > 10, 30_000, `viewer ${i} decoding`);
  }
  t.pass("both workers' publishers decode in Chromium");

  // worker B dies the hard way; the primary starts it again
  process.kill(b, 'SIGKILL');
  await waitFor(() => gw.logs.some((l) => l.msg === 'worker started' && l.pid !== a && l.pid !== b), 20_000, 'the worker started again');
  await waitFor(() => rx.events(104).some((e) => e.EventInfo.UserId === onB), 30_000, `${onB} left`);
  t.equal(rx.events(104).find((e) => e.EventInfo.UserId === onB).EventInfo.Reason, 2, '104 Reason 2 for the dead worker\'s publisher');
  const before = (await viewers[0].stats()).framesDecoded;
  await waitFor(async () => (await viewers[0].stats()).framesDecoded > before + 30, 20_000, 'the other worker\'s viewer still decoding');
  t.equal(pubs.filter((p) => p.child.exitCode === null).length >= 2, true, "the other worker's publishers go on");
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
});
