// A drain with many nodes (issue 21): two real gateway processes share one real Redis; node A runs a pull task and
// gets SIGTERM. Its task moves to node B without a 702: B reports 701 Status 2, then 0, under the same TaskId, the
// task's user never leaves the room (no 104/103), Describe says InProgress on either node throughout, never two
// ffmpeg pull the source at once, A closes before its drain timeout (nothing was left to wait for), and a Chromium
// WHEP viewer posting to B decodes the task's stream afterwards. Then B is drained with no other node alive: its
// task ends at the close with 702, as on one node.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { makeMedia, startMediaServer } from '../helpers/media-server.js';
import type { GatewayProcess } from '../helpers/gateway-process.js';
import { clusterNode } from '../helpers/cluster-node.js';
import { startRedis } from '../helpers/redis-server.js';
import { ffmpegsWith } from '../helpers/processes.js';
import { launchChromium, openWhepViewer } from '../helpers/chromium.js';

t.setTimeout(180_000);
const { sdkAppId } = TEST_APP;
const DRAIN_MS = 8000;

const redis = await startRedis();
t.teardown(() => redis.close());
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());
const media = await startMediaServer();
t.teardown(() => media.close());

async function node(id: string): Promise<GatewayProcess> {
  return clusterNode(t, {
    id, redisUrl: redis.url, prefix: 'rg-drain:', callbackUrl: rx.url, leaseMs: 1500,
    config: {
      // the close delivers its callbacks before the exit (a loaded machine needs more than a few hundred ms)
      callbacks: { retryIntervalMs: 500, flushOnCloseMs: 5000 },
      pull: { allow: ['127.0.0.1'], startRetryDelaysMs: [0, 200, 400] },
      drain: { timeoutMs: DRAIN_MS },
    },
    logged: (l) => l.level >= 30,
  });
}

const [a, b] = await Promise.all([node('drain-a'), node('drain-b')]);
/** The room's 101–104 that concern the task's user (a WHEP viewer's own 103/104 are left out). */
const roomEvents = (room: string): number[] =>
  rx.received
    .map((r) => r.body)
    .filter((e) => String(e.EventInfo?.RoomId) === room && [101, 102, 103, 104].includes(e.EventType) && [undefined, 'puller'].includes(e.EventInfo.UserId))
    .map((e) => e.EventType);

t.test('SIGTERM on the node running a pull task: the task moves to the other node without a 702', async (t) => {
  const file = await makeMedia('flv-h264-aac', 4);
  const { TaskId } = await a.client.StartStreamIngest({
    SdkAppId: sdkAppId, RoomId: 'handover', RoomIdType: 0, UserId: 'puller', UserSig: officialUserSig('puller'),
    StreamUrl: `${media.base}/${file}?task=handover`, RepeatNum: -1,
  });
  const statuses = () => rx.events(701, TaskId!).map((e) => e.EventInfo.Status as number);
  await waitFor(() => statuses().includes(0), 30_000, 'the pull task running on node A');
  t.ok(a.logs.some((l) => l.msg === 'first frame reached the room'), 'it runs on node A');

  // sampled until the end of the test: ffmpeg processes pulling the task's URL, and Describe's answers on each node
  let most = 0;
  const answers: string[] = [];
  let sampling = true;
  const sampleLoop = (async () => {
    while (sampling) {
      most = Math.max(most, ffmpegsWith('task=handover').length);
      for (const g of [a, b]) {
        // node A stops answering once it has closed: only answers count
        const r = await g.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: TaskId! }).catch(() => null);
        if (r) answers.push(r.Status!);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  t.teardown(() => void (sampling = false));

  a.kill('SIGTERM');
  const exit = await a.exited;
  t.equal(exit.code, 0, 'node A exited cleanly');
  t.ok(a.logs.some((l) => l.msg === 'drained: every session ended'), 'node A closed once its task had moved, not at the drain timeout');
  t.ok(a.logs.some((l) => l.msg === 'pull task handed over: stopped here for another node to resume it'), 'node A handed the task over');
  t.same(a.logs.filter((l) => /^draining: the .* move to another node$/.test(l.msg ?? '')).map((l) => l.msg), ['draining: the pull tasks move to another node'],
    'node A spoke of moving its pull tasks only: it ran no recording or relay');

  await waitFor(() => statuses().filter((s) => s === 0).length >= 2, 30_000, 'the task running again on node B');
  t.ok(b.logs.some((l) => l.msg === 'pull task taken over from node drain-a, which drains' && l.taskId === TaskId), 'node B took it over');
  t.match(statuses().join(','), /^0,2,0$/, `701 Status 0 on A, then 2 and 0 on B: ${statuses().join(',')}`);
  t.equal(rx.events(702, TaskId!).length, 0, 'no 702');
  t.same(roomEvents('handover'), [101, 103], 'the task user never left the room: no 104, no second 103');

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const viewer = await openWhepViewer(browser, b.httpBase, `/v2/sub/${sdkAppId}/handover?SessionID=after-drain`, officialUserSig('after-drain'));
  t.teardown(() => viewer.close());
  t.equal(viewer.status, 201, 'node B answers the WHEP offer');
  await waitFor(async () => (await viewer.stats()).framesDecoded > 10, 30_000, 'the viewer decoding the task on node B');

  sampling = false;
  await sampleLoop;
  t.ok(answers.length > 0, `Describe was asked ${answers.length} times`);
  t.same([...new Set(answers)], ['InProgress'], 'Describe said InProgress on either node throughout');
  t.equal(most, 1, 'never two ffmpeg pulling the task at once');
  t.equal((await b.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: TaskId! })).Status, 'InProgress', 'InProgress on node B after the move');

  // now B drains with no other node alive: today's behaviour, the task ends at the close (702, 104, 102)
  await viewer.close();
  b.kill('SIGTERM');
  t.equal((await b.exited).code, 0, 'node B exited cleanly');
  t.ok(b.logs.some((l) => l.msg === 'draining: no other node is alive, so the tasks stay here until the close'), 'node B found no node to take its task');
  t.equal(rx.events(702, TaskId!).length, 1, 'its 702 came at the close');
  t.same(roomEvents('handover'), [101, 103, 104, 102], 'and its user left the room then');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
});
