// Three real gateway processes sharing one real Redis (store.kind 'redis'), each with its own node id and a short
// lease, and one callback receiver checking Sign:
// - any node lists the cluster's nodes and rooms (GET /api/cluster, the console);
// - WHEP and WHIP reach the node that holds the media: Chromium playing through node 1 decodes a publisher on node 2,
//   and a Chromium WHIP publisher answered by node 2 restarts ICE (PATCH) and leaves (DELETE) through node 3;
// - the one-userid-one-place rule holds across nodes: a second publish of alice on node 2 kicks node 1's, whose
//   ffmpeg prints the reason;
// - a room spread over two nodes raises 101 and 102 once, and 103/104 once per user;
// - node 3 is SIGKILLed: after its lease expires its publisher leaves with 104 Reason 2 (once, though two nodes
//   survive), and its pull task runs on a survivor (701 Status 2, then 0), answered InProgress from any node (also
//   before a survivor took it up), with never two ffmpeg pulling it at once, and a Chromium viewer posting to the
//   survivor decodes it again; StopStreamIngest sent to the other survivor stops it.

import t, { type Test } from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { makeMedia, startMediaServer } from '../helpers/media-server.js';
import type { GatewayProcess } from '../helpers/gateway-process.js';
import { clusterNode } from '../helpers/cluster-node.js';
import { startRedis } from '../helpers/redis-server.js';
import { ffmpegsWith } from '../helpers/processes.js';
import { launchChromium, openWhepViewer, openWhipPublisher, restartIceByPatch } from '../helpers/chromium.js';

t.setTimeout(240_000);
const { sdkAppId } = TEST_APP;
const LEASE_MS = 1500;

const redis = await startRedis();
t.teardown(() => redis.close());
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());

async function node(t: Test, id: string): Promise<GatewayProcess> {
  return clusterNode(t, {
    id, redisUrl: redis.url, prefix: 'rg-nodes:', callbackUrl: rx.url, leaseMs: LEASE_MS,
    config: {
      callbacks: { retryIntervalMs: 500, flushOnCloseMs: 300 },
      pull: { allow: ['127.0.0.1'], startRetryDelaysMs: [0, 200, 400] },
    },
  });
}

/** The delivered callbacks of one room, in arrival order. */
const roomEvents = (room: string): any[] => rx.received.map((r) => r.body).filter((b) => String(b.EventInfo?.RoomId) === room);
const count = (room: string, type: number, userId?: string) =>
  roomEvents(room).filter((e) => e.EventType === type && (userId === undefined || e.EventInfo.UserId === userId)).length;
const joined = (gw: GatewayProcess, userId: string) => gw.logs.some((l) => l.msg === 'user joined' && l.userId === userId);

const [n1, n2, n3] = await Promise.all([node(t, 'n1'), node(t, 'n2'), node(t, 'n3')]);

t.test('a second publish of the same userid on another node kicks the first, which is told why', async (t) => {
  const first = ffmpegPush(n1.pushUrl('kick-a', 'alice'), { seconds: 60, realtime: true, size: '320x240' });
  t.teardown(() => first.stop());
  await waitFor(() => joined(n1, 'alice'), 20_000, 'alice publishing on node 1');
  const second = ffmpegPush(n2.pushUrl('kick-b', 'alice'), { seconds: 60, realtime: true, size: '320x240' });
  t.teardown(() => second.stop());
  t.not(await first.exited, 0, 'the first ffmpeg stopped');
  t.match(first.output(), /kicked: the same userid published again from 127\.0\.0\.1/, 'with the same reason as on one node');
  t.ok(n2.logs.some((l) => l.node === 'n1' && /the old session is on node n1/.test(l.msg)), 'node 2 sent the kick to node 1');
  await waitFor(() => count('kick-a', 102) === 1, 20_000, 'kick-a dismissed');
  t.equal(second.child.exitCode, null, 'the second publish goes on');
  t.same(roomEvents('kick-a').filter((e) => e.EventGroupId === 1).map((e) => e.EventType), [101, 103, 104, 102], 'the first room: one life');
});

t.test('a room spread over two nodes raises 101 and 102 once, 103 and 104 once per user', async (t) => {
  const bob = ffmpegPush(n1.pushUrl('shared', 'bob'), { seconds: 60, realtime: true, size: '320x240' });
  t.teardown(() => bob.stop());
  await waitFor(() => count('shared', 103, 'bob') === 1, 20_000, 'bob entered');
  const carol = ffmpegPush(n2.pushUrl('shared', 'carol'), { seconds: 60, realtime: true, size: '320x240' });
  t.teardown(() => carol.stop());
  await waitFor(() => count('shared', 103, 'carol') === 1, 20_000, 'carol entered');
  t.equal(count('shared', 101), 1, 'one 101: the second node found the room open');
  bob.stop();
  await waitFor(() => count('shared', 104, 'bob') === 1, 20_000, 'bob left');
  t.equal(count('shared', 102), 0, 'no 102 while carol is in the room on the other node');
  carol.stop();
  await waitFor(() => count('shared', 102) === 1, 20_000, 'the room dismissed');
  t.same(roomEvents('shared').filter((e) => e.EventGroupId === 1).map((e) => `${e.EventType}${e.EventInfo.UserId ? ' ' + e.EventInfo.UserId : ''}`),
    ['101 bob', '103 bob', '103 carol', '104 bob', '104 carol', '102'], 'the room story, across two nodes');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
});

t.test('WHEP and WHIP requests reach the node holding the media, whichever node they are sent to', async (t) => {
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const pub = ffmpegPush(n2.pushUrl('routed', 'anchor2'), { seconds: 60, realtime: true, size: '320x240' });
  t.teardown(() => pub.stop());
  await waitFor(() => count('routed', 103, 'anchor2') === 1, 20_000, 'the publisher on node 2');

  // any node shows the whole cluster: GET /api/cluster, and the console's cluster section
  const cluster = await (await fetch(`${n3.httpBase}/api/cluster`)).json();
  t.same(cluster.nodes.map((n: any) => n.id), ['n1', 'n2', 'n3'], 'GET /api/cluster on node 3 lists the three nodes');
  t.ok(cluster.nodes.find((n: any) => n.id === 'n3').self, 'and knows which one it is');
  t.same(cluster.rooms.find((r: any) => r.roomId === 'routed')?.users, { anchor2: 1 }, "and node 2's room");
  const consolePage = await browser.newPage();
  t.teardown(() => consolePage.close());
  await consolePage.goto(`${n1.httpBase}/console`);
  await consolePage.waitForSelector('#cluster tr.node');
  const rows = await consolePage.$$eval('#cluster tr.node', (trs) => trs.map((tr) => tr.textContent ?? ''));
  t.equal(rows.length, 3, "node 1's console shows three nodes");
  t.ok(rows.some((r) => r.startsWith('n1 (this one)')), 'itself marked');
  t.match(await consolePage.textContent('#cluster'), /anchor2 \(1\)/, "and the room on node 2 with its user");

  const viewer = await openWhepViewer(browser, n1.httpBase, `/v2/sub/${sdkAppId}/routed?SessionID=watcher1`, officialUserSig('watcher1'));
  t.teardown(() => viewer.close());
  t.equal(viewer.status, 201, 'node 1 answers the WHEP offer (node 2 made the answer)');
  t.ok(n2.logs.some((l) => l.msg === 'viewer joined' && l.viewer === 'watcher1'), 'the viewer joined on node 2, where the publisher is');
  await waitFor(async () => (await viewer.stats()).framesDecoded > 10, 30_000, 'the viewer decoding through node 1');
  const del = await fetch(n3.httpBase + viewer.location!, { method: 'DELETE' });
  t.equal(del.status, 200, "the viewer's DELETE, sent to node 3, ended it on node 2");
  await waitFor(() => n2.logs.some((l) => l.msg === 'viewer left' && l.viewer === 'watcher1'), 10_000, 'the viewer left on node 2');

  const whip = await openWhipPublisher(browser, n2.httpBase, `/v2/pub/${sdkAppId}/routed-whip?SessionID=whipper`, officialUserSig('whipper'));
  t.teardown(() => whip.close());
  t.equal(whip.status, 201, 'node 2 answers the WHIP offer');
  await waitFor(async () => (await whip.stats()).framesEncoded > 10 && count('routed-whip', 103, 'whipper') === 1, 30_000, 'publishing over WHIP on node 2');
  const restart = await restartIceByPatch(whip.page, n3.httpBase + whip.location!);
  t.equal(restart.status, 200, `an ICE restart PATCHed to node 3 is answered by node 2: ${restart.status} ${restart.body}`);
  t.not(restart.newUfrag, restart.oldUfrag, 'with new ICE credentials');
  const before = (await whip.stats()).framesEncoded;
  await waitFor(async () => (await whip.stats()).connectionState === 'connected' && (await whip.stats()).framesEncoded > before + 30, 30_000, 'still publishing after the restart');
  const state = await (await fetch(n1.httpBase + whip.location!)).json();
  t.equal(state.state, 'live', 'GET of the resource through node 1 reads it on node 2');
  const gone = await fetch(n3.httpBase + whip.location!, { method: 'DELETE' });
  t.equal(gone.status, 200, 'DELETE through node 3');
  await waitFor(() => count('routed-whip', 102) === 1, 20_000, 'the WHIP publisher left: 104, 102');
  t.equal((await fetch(n1.httpBase + '/v2/whip/no-such-resource', { method: 'DELETE' })).status, 404, 'an unknown resource is 404 on any node');
});

t.test('node 3 dies: its publisher leaves once after its lease, its pull task runs on a survivor', async (t) => {
  const media = await startMediaServer();
  t.teardown(() => media.close());
  const file = await makeMedia('flv-h264-aac', 4);
  const url = `${media.base}/${file}?task=failover`;
  const erin = ffmpegPush(n1.pushUrl('doomed', 'erin'), { seconds: 90, realtime: true, size: '320x240' });
  t.teardown(() => erin.stop());
  await waitFor(() => count('doomed', 103, 'erin') === 1, 20_000, 'erin entered on node 1');
  const dave = ffmpegPush(n3.pushUrl('doomed', 'dave'), { seconds: 90, realtime: true, size: '320x240' });
  t.teardown(() => dave.stop());
  await waitFor(() => count('doomed', 103, 'dave') === 1, 20_000, 'dave entered on node 3');
  const { TaskId } = await n3.client.StartStreamIngest({
    SdkAppId: sdkAppId, RoomId: 'failover', RoomIdType: 0, UserId: 'puller', UserSig: officialUserSig('puller'), StreamUrl: url, RepeatNum: -1,
  });
  const statuses = () => rx.events(701, TaskId!).map((e) => e.EventInfo.Status as number);
  await waitFor(() => statuses().includes(0), 30_000, 'the pull task running on node 3');
  // its user's 101/103 follow the 701 (they wait for the first frames): delivered before the kill, so the survivor
  // has nothing of them to send again
  await waitFor(() => count('failover', 103, 'puller') === 1, 30_000, "the task user's 103 delivered");

  // how many ffmpeg pull the task's URL, sampled until the end of the test
  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, ffmpegsWith('task=failover').length)), 100);
  t.teardown(() => clearInterval(sampler));

  n3.kill('SIGKILL');
  const killedAt = (await n3.exited).at;
  // until a survivor takes the task up (node 3's lease runs on for up to a lease, then the sweep comes) the task is
  // moving and its record says it runs: both survivors say InProgress, at once
  const early = await Promise.all([n1, n2].map((g) => g.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: TaskId! })));
  const earlyAt = Date.now();
  t.same(early.map((r) => r.Status), ['InProgress', 'InProgress'], 'Describe on either survivor right after the kill: InProgress');
  await waitFor(() => count('doomed', 104, 'dave') >= 1, 20_000, "dave's 104 after node 3's lease expired");
  const exit = roomEvents('doomed').find((e) => e.EventType === 104 && e.EventInfo.UserId === 'dave');
  t.equal(exit.EventInfo.Reason, 2, '104 Reason 2: timeout');
  // the lease was renewed at most a third of it before the kill
  t.ok(exit.EventInfo.EventMsTs >= killedAt + LEASE_MS / 2, `not before the lease could expire (${exit.EventInfo.EventMsTs - killedAt} ms after the kill)`);

  await waitFor(() => statuses().filter((s) => s === 0).length >= 2, 30_000, 'the task running again on a survivor');
  t.match(statuses().join(','), /^0,2(,2)*,0$/, `701 Status 0, then 2 and 0 on the survivor: ${statuses().join(',')}`);
  t.equal(rx.events(702, TaskId!).length, 0, 'no 702');
  const owner = [n1, n2].find((g) => g.logs.some((l) => l.msg === 'pull task resumed after a restart' && l.taskId === TaskId))!;
  t.ok(owner, 'one survivor took it over');
  t.equal([n1, n2].filter((g) => g.logs.some((l) => l.msg === 'pull task resumed after a restart')).length, 1, 'only one did');
  const sweptAt = owner.logs.find((l) => l.msg === 'a node died (its lease expired): ending what it held' && l.node === 'n3')?.time;
  t.ok(earlyAt < sweptAt, `those Describes were answered before the survivor swept node 3 (${sweptAt - earlyAt} ms before)`);
  for (const g of [n1, n2]) {
    t.equal((await g.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: TaskId! })).Status, 'InProgress', 'InProgress, asked of either survivor');
  }
  // A callback whose POST was under way at the kill is sent again by the survivor, the same body (its outcome was
  // unknown); what must not happen is a second decision: another 101, or a 104/103 for the user.
  const story = roomEvents('failover').filter((e) => [101, 102, 103, 104].includes(e.EventType));
  const decisions = [...new Map(story.map((e) => [JSON.stringify(e), e])).values()];
  t.same(decisions.map((e) => e.EventType), [101, 103], `its user never left the room: ${JSON.stringify(story.map((e) => [e.EventType, e.EventInfo.EventMsTs, e.EventInfo.UserId]))}`);

  // a viewer posting to the survivor decodes the task's stream again
  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const viewer = await openWhepViewer(browser, owner.httpBase, `/v2/sub/${sdkAppId}/failover?SessionID=after-failover`, officialUserSig('after-failover'));
  t.teardown(() => viewer.close());
  t.equal(viewer.status, 201, 'the survivor answers the WHEP offer');
  await waitFor(async () => (await viewer.stats()).framesDecoded > 10, 30_000, 'a Chromium viewer decoding the task on the survivor');
  await viewer.close();

  await new Promise((r) => setTimeout(r, 2 * LEASE_MS)); // a later sweep must not report dave again
  t.equal(count('doomed', 104, 'dave'), 1, "dave's 104 reported once, though two nodes survived");
  t.equal(count('doomed', 102), 0, 'the room stays: erin is in it on node 1');
  erin.stop();
  await waitFor(() => count('doomed', 102) === 1, 20_000, 'doomed dismissed when erin leaves');

  // Stop sent to the survivor that does not run it is handed to the one that does
  const other = owner === n1 ? n2 : n1;
  await other.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: TaskId! });
  await waitFor(() => rx.events(702, TaskId!).length === 1, 20_000, '702 for the stopped task');
  clearInterval(sampler);
  t.equal(most, 1, 'never two ffmpeg pulling the task at once');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
});
