// A drain with many nodes hands recordings and relays over (issue 21): two real gateway processes share one real
// Redis; an ffmpeg RTMP publisher is on node A, and a cloud recording (local directory) and a relay to nginx-rtmp run
// there, started with the official SDK; a callback receiver checks every Sign. Media does not cross nodes, so the
// publisher is on the node that records it: A gets SIGTERM, and once A has handed its tasks over the encoder
// reconnects to node B, as an encoder behind a load balancer would.
// - A stops each task first and sends it to B: no 302 for the recording and no 5/0 for the relay's URL from A;
// - B continues them: 306 Status 0 and `ha1_` files (ffprobe reads H.264), 401 Status 1 then 2 and the CDN plays
//   H.264 again; DescribeCloudRecording on B says InProgress;
// - never two pushes of the URL at once; A exits cleanly before its drain timeout;
// - then B drains with no other node alive: both end at its close as on one node (302 LeaveCode 3; 5 then 0);
// - a taker that refuses (its recording and relay limits are 0): the giver ends them at once, 302 LeaveCode 3 saying
//   why, and 5 then 0;
// - a drain speaks only of the kinds of task the node runs: none of pull tasks on A, nothing at all on a node with
//   no task (D), which looks for no taker.

import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import type { GatewayProcess } from '../helpers/gateway-process.js';
import { clusterNode } from '../helpers/cluster-node.js';
import { startRedis } from '../helpers/redis-server.js';
import { startRtmpReceiver } from '../relay/rtmp-receiver.js';
import { ffprobe } from '../helpers/probe.js';

t.setTimeout(240_000);
const exec = promisify(execFile);
const { sdkAppId } = TEST_APP;
const DRAIN_MS = 60_000;
const ROOM = 'drain-egress';

const redis = await startRedis();
t.teardown(() => redis.close());
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());
const cdn = await startRtmpReceiver();
t.teardown(() => cdn.close());

async function node(id: string, prefix = 'rg-drain-egress:', limits: { maxTasks?: number } = {}): Promise<{ gw: GatewayProcess; dir: string }> {
  // each node its own recording directory, as on two machines
  const dir = await mkdtemp(join(tmpdir(), `rec-${id}-`));
  const gw = await clusterNode(t, {
    id, redisUrl: redis.url, prefix, callbackUrl: rx.url, leaseMs: 1500,
    config: {
      callbacks: { retryIntervalMs: 500, flushOnCloseMs: 5000 },
      recording: { dir, hlsSegmentSeconds: 2, ...limits },
      // the CDN is on loopback: push URLs obey the pull sources' host rules
      pull: { allow: ['127.0.0.1'] },
      relay: { retrySeconds: 1, giveUpSeconds: 30, ...limits },
      drain: { timeoutMs: DRAIN_MS },
    },
    logged: (l) => l.level >= 30,
  });
  return { gw, dir };
}

/** Connections to the CDN's RTMP port held by gateway processes (the engine pushes from within them). */
async function pushConnections(): Promise<number> {
  const { stdout } = await exec('ss', ['-tnpH', 'state', 'established', `( dport = :${cdn.rtmpPort} )`]);
  return stdout.split('\n').filter((l) => /users:\(\("node"/.test(l)).length;
}

/** A recording of `room` into the node's directory (the speaker's video and audio as HLS). */
async function record(gw: GatewayProcess, room: string): Promise<string> {
  return (await gw.client.CreateCloudRecording({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 0, UserId: 'recorder', UserSig: officialUserSig('recorder'),
    RecordParams: { RecordMode: 1, OutputFormat: 0, MaxIdleTime: 120 }, StorageParams: {},
  })).TaskId!;
}

/** A relay of the speaker in `room` to `url`. */
async function relay(gw: GatewayProcess, room: string, url: string): Promise<string> {
  return (await gw.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: 'relay_agent', UserSig: officialUserSig('relay_agent'), MaxIdleTime: 60 },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: 'speaker' } } },
    AudioParams: { AudioEncode: { SampleRate: 44100, Channel: 1, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 320, Height: 240, Fps: 30, BitRate: 500, Gop: 1 } },
    PublishCdnParams: [{ PublishCdnUrl: url, IsTencentCdn: 0 }],
  } as any)).TaskId!;
}

const joined = (gw: GatewayProcess, userId: string) => gw.logs.some((l) => l.msg === 'user joined' && l.userId === userId);
/** What a draining node logged of handing its tasks over: no taker found, or each kind of task it moves. */
const handOverLines = (gw: GatewayProcess): string[] =>
  gw.logs.map((l) => String(l.msg ?? '')).filter((m) => /^draining: (the .* move to another node|no other node is alive|no node to hand)/.test(m));

t.test('SIGTERM on the node running a recording and a relay: both continue on the other node', async (t) => {
  const [{ gw: a }, { gw: b, dir: dirB }] = await Promise.all([node('drain-a'), node('drain-b')]);
  const pubA = ffmpegPush(a.pushUrl(ROOM, 'speaker'), { seconds: 120, realtime: true, size: '320x240' });
  t.teardown(() => pubA.stop());
  await waitFor(() => joined(a, 'speaker'), 20_000, 'the publisher on node A');

  const taskId = await record(a, ROOM);
  const relayId = await relay(a, ROOM, cdn.url('drained'));
  const relayStatuses = () => rx.events(401, relayId).map((e) => e.EventInfo.Payload.Status as number);
  await waitFor(() => relayStatuses().includes(2), 30_000, '401 Status 2 from node A');
  await waitFor(() => rx.events(307, taskId).length > 0, 30_000, "node A's first playlist (307)");
  t.equal(rx.events(301, taskId).length, 1, 'the recording started on node A (301)');

  // gateway connections pushing to the CDN, sampled until the end: one at most (the taker starts after the giver stopped)
  let most = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      most = Math.max(most, await pushConnections());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  t.teardown(() => void (sampling = false));

  const relayBefore = relayStatuses().length;
  a.kill('SIGTERM');
  await waitFor(() => a.logs.some((l) => l.msg === 'relay handed over: stopped here for another node to push it again'), 30_000, 'node A handing its relay over');
  t.ok(a.logs.some((l) => l.msg === 'recording handed over: stopped here for another node to continue it' && l.taskId === taskId), 'node A handed the recording over');
  t.ok(b.logs.some((l) => l.msg === 'recording taken over from node drain-a, which drains' && l.taskId === taskId), 'node B took the recording');
  t.ok(b.logs.some((l) => l.msg === 'relay taken over from node drain-a, which drains' && l.taskId === relayId), 'node B took the relay');

  // the encoder reconnects to the node that is not going away; node A then has nothing left and closes
  pubA.stop();
  await pubA.exited;
  const pubB = ffmpegPush(b.pushUrl(ROOM, 'speaker'), { seconds: 120, realtime: true, size: '320x240' });
  t.teardown(() => pubB.stop());
  const exit = await a.exited;
  t.equal(exit.code, 0, 'node A exited cleanly');
  t.ok(a.logs.some((l) => l.msg === 'drained: every session ended'), 'node A closed once its sessions had ended, not at the drain timeout');
  t.same(handOverLines(a), ['draining: the recordings move to another node', 'draining: the relays move to another node'], 'node A ran no pull task: it said nothing of moving pull tasks');

  await waitFor(() => relayStatuses().slice(relayBefore).includes(2), 30_000, 'the relay running again from node B');
  await waitFor(() => rx.events(306, taskId).length > 0, 30_000, '306 from node B');
  t.match(rx.events(306, taskId).map((e) => e.EventInfo.Payload), [{ Status: 0 }], 'one 306 Status 0: migration done');
  t.same(relayStatuses().slice(relayBefore), [1, 2], 'the URL\'s 401s after the SIGTERM: Status 1 then 2 from node B (no 5 or 0 from node A)');
  t.equal(rx.events(302, taskId).length, 0, 'no 302: the recording never ended');
  t.ok(rx.events(401, relayId).every((e) => e.EventInfo.Payload.ErrorCode === 0), 'no 401 with an ErrorCode');

  const probed = await cdn.probe('drained');
  t.match(probed.streams.find((s: any) => s.codec_type === 'video'), { codec_name: 'h264', width: 320, height: 240 }, 'the CDN plays H.264 from node B');

  const described = await b.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  t.equal(described.Status, 'InProgress', 'DescribeCloudRecording on node B: InProgress');
  t.ok(described.StorageFileList!.every((f) => f.FileName!.startsWith('ha1_')), `B's files are named ha1_: ${described.StorageFileList!.map((f) => f.FileName).join(', ')}`);
  const haSegments = async () => (await readdir(join(dirB, taskId))).filter((n) => n.startsWith('ha1_') && /_video_\d{17}\.ts$/.test(n));
  // a segment is closed at the next keyframe after the segment's length: the second one means the first is whole
  await waitFor(async () => (await haSegments()).length >= 2, 30_000, "two of node B's ha1_ segments");
  const first = (await haSegments()).sort()[0]!;
  const video = (await ffprobe(join(dirB, taskId, first))).streams.find((s) => s.codec_type === 'video');
  t.match(video, { codec_name: 'h264', width: 320, height: 240 }, `${first} on node B: H.264 320x240`);

  // the task users are seats of the node running the task: they leave on A and enter on B
  const story = (userId: string) => rx.received.map((r) => r.body).filter((e) => [103, 104].includes(e.EventType) && e.EventInfo.UserId === userId).map((e) => e.EventType);
  t.same(story('recorder'), [103, 104, 103], 'the recording user: 103 on A, 104 when A stopped the task, 103 on B');
  t.same(story('relay_agent'), [103, 104, 103], 'the relay agent: the same');

  sampling = false;
  await sampler;
  t.ok(most === 1, `never two pushes of the URL at once (at most ${most} gateway connection)`);

  // now B drains with no other node alive: today's behaviour, both end at the close with the usual callbacks
  pubB.stop();
  await pubB.exited;
  b.kill('SIGTERM');
  t.equal((await b.exited).code, 0, 'node B exited cleanly');
  t.ok(b.logs.some((l) => l.msg === 'draining: no other node is alive, so the tasks stay here until the close'), 'node B found no node to take its tasks');
  await waitFor(() => rx.events(302, taskId).length > 0 && relayStatuses().at(-1) === 0, 20_000, "the recording's 302 and the relay's last 401");
  t.match(rx.events(302, taskId).map((e) => e.EventInfo.Payload), [{ LeaveCode: 3 }], 'the recording ended at the close: one 302, LeaveCode 3');
  t.same(relayStatuses().slice(-2), [5, 0], 'the relay\'s URL ended at the close: 5 then 0');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
});

t.test('a taker that refuses (it runs no recordings or relays): the giver ends them at once with the usual callbacks', async (t) => {
  // a cluster of its own (another key prefix), whose node D may run no recording and no relay
  const [{ gw: c }, { gw: d }] = await Promise.all([node('drain-c', 'rg-drain-refuse:'), node('drain-d', 'rg-drain-refuse:', { maxTasks: 0 })]);
  const room = 'drain-refused';
  const pubC = ffmpegPush(c.pushUrl(room, 'speaker'), { seconds: 120, realtime: true, size: '320x240' });
  t.teardown(() => pubC.stop());
  await waitFor(() => joined(c, 'speaker'), 20_000, 'the publisher on node C');
  const taskId = await record(c, room);
  const relayId = await relay(c, room, cdn.url('refused'));
  const relayStatuses = () => rx.events(401, relayId).map((e) => e.EventInfo.Payload.Status as number);
  await waitFor(() => relayStatuses().includes(2), 30_000, '401 Status 2 from node C');
  await waitFor(() => rx.events(307, taskId).length > 0, 30_000, "node C's first playlist (307)");

  c.kill('SIGTERM');
  await waitFor(() => rx.events(302, taskId).length > 0 && relayStatuses().at(-1) === 0, 30_000, "the recording's 302 and the relay's last 401 from node C");
  t.match(rx.events(302, taskId).map((e) => e.EventInfo.Payload), [{
    LeaveCode: 3,
    Reason: /^the gateway drained and node drain-d did not take the recording over \(this node already runs 0 recordings, its limit\)/,
  }], 'one 302, LeaveCode 3, saying why the other node did not take it');
  t.same(relayStatuses().slice(-2), [5, 0], "the relay's URL ended: 5 then 0");
  t.equal(rx.events(306, taskId).length, 0, 'no 306');
  t.ok(c.logs.some((l) => l.taskId === relayId && l.msg === 'relay ended' && /did not take the relay over \(the surviving node runs as many relays as relay.maxTasks allows\)/.test(l.reason)), 'node C logged why the relay ended');
  t.notOk(d.logs.some((l) => /taken over from node drain-c/.test(l.msg ?? '')), 'node D runs neither');

  pubC.stop();
  await pubC.exited;
  t.equal((await c.exited).code, 0, 'node C exited cleanly');

  // node D runs no task: its drain looks for no node to hand tasks to, and says nothing of it
  d.kill('SIGTERM');
  t.equal((await d.exited).code, 0, 'node D exited cleanly');
  t.ok(d.logs.some((l) => /^draining: new publishers are refused/.test(l.msg ?? '')), 'node D drained');
  t.same(handOverLines(d), [], 'with no task, no hand-over line');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
});
