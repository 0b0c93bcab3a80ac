// A drain with many nodes hands recordings and relays over (issue 21): two real gateway processes share one real
// Redis; an ffmpeg RTMP publisher is on node A, and a cloud recording (local directory) and a relay to nginx-rtmp run
// there, started with the official SDK; a callback receiver checks every Sign. Media does not cross nodes, so the
// publisher is on the node that records it: A gets SIGTERM, and once A has handed its tasks over the encoder
// reconnects to node B, as an encoder behind a load balancer would.
// - A stops each task first and sends it to B: no 302 for the recording and no 5/0 for the relay's URL from A;
// - B continues them: 306 Status 0 and `ha1_` files (ffprobe reads H.264), 401 Status 1 then 2 and the CDN plays
//   H.264 again; DescribeCloudRecording on B says InProgress;
// - the tasks' room users move with them as a pull task's user does: the recording user, the relay agents and a
//   mixed relay's FeedBackRoomParams user get no 104 from A and no second 103 from B, their rooms no 102 or second
//   101, and the census files their sessions under B;
// - never two pushes of the URL at once; A exits cleanly before its drain timeout;
// - then B drains with no other node alive: both end at its close as on one node (302 LeaveCode 3; 5 then 0), and
//   each task user leaves once (104), its room with 102;
// - a taker that refuses (its recording and relay limits are 0), or that does not answer (stopped with SIGSTOP): the
//   giver ends them at once, 302 LeaveCode 3 saying why, and 5 then 0, and their users leave once (104);
// - a drain speaks only of the kinds of task the node runs: none of pull tasks on A, nothing at all on a node with
//   no task (D), which looks for no taker.

import { execFile } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { Redis } from 'ioredis';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import type { GatewayProcess } from '../helpers/gateway-process.js';
import { clusterNode } from '../helpers/cluster-node.js';
import { startRedis } from '../helpers/redis-server.js';
import { startRtmpReceiver } from '../relay/rtmp-receiver.js';
import { ffprobe } from '../helpers/probe.js';
import { assertRoomStory, roomEvents } from '../helpers/room-story.js';

t.setTimeout(360_000);
const exec = promisify(execFile);
const { sdkAppId } = TEST_APP;
const DRAIN_MS = 60_000;
const ROOM = 'drain-egress';
/** The room a mixed relay of ROOM brings its picture into (FeedBackRoomParams). */
const FB_ROOM = 'drain-egress-fb';

const redis = await startRedis();
t.teardown(() => redis.close());
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());
const cdn = await startRtmpReceiver();
t.teardown(() => cdn.close());
// reads the census as the nodes left it in Redis (which node each session is filed under)
const raw = new Redis(redis.url);
t.teardown(() => void raw.quit());

async function node(id: string, prefix = 'rg-drain-egress:', limits: { maxTasks?: number } = {}, leaseMs = 1500): Promise<{ gw: GatewayProcess; dir: string }> {
  // each node its own recording directory, as on two machines
  const dir = await mkdtemp(join(tmpdir(), `rec-${id}-`));
  const gw = await clusterNode(t, {
    id, redisUrl: redis.url, prefix, callbackUrl: rx.url, leaseMs,
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

/**
 * A mixed relay of `room` with no CDN URL: the mix enters FB_ROOM as `mix_out` (FeedBackRoomParams). A small canvas:
 * the mix is here for its users, not its picture.
 */
async function mixBack(gw: GatewayProcess, room: string): Promise<string> {
  return (await gw.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 1,
    AgentParams: { UserId: 'mix_agent', UserSig: officialUserSig('mix_agent'), MaxIdleTime: 60 },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 1, BitRate: 32 } },
    VideoParams: { VideoEncode: { Width: 160, Height: 120, Fps: 10, BitRate: 100, Gop: 2 } },
    FeedBackRoomParams: [{ RoomId: FB_ROOM, RoomIdType: 1, UserId: 'mix_out', UserSig: officialUserSig('mix_out') }],
  } as any)).TaskId!;
}

const joined = (gw: GatewayProcess, userId: string) => gw.logs.some((l) => l.msg === 'user joined' && l.userId === userId);
/** What a draining node logged of handing its tasks over: no taker found, or each kind of task it moves. */
const handOverLines = (gw: GatewayProcess): string[] =>
  gw.logs.map((l) => String(l.msg ?? '')).filter((m) => /^draining: (the .* move to another node|no other node is alive|no node to hand)/.test(m));
/** The room's 101–104 in the order delivered (the tasks' own callbacks name the room too). */
const membership = (room: string): any[] => roomEvents(rx, room).filter((e) => [101, 102, 103, 104].includes(e.EventType));
/** A user's 103s and 104s in one room. */
const story = (room: string, userId: string): number[] =>
  membership(room).filter((e) => [103, 104].includes(e.EventType) && e.EventInfo.UserId === userId).map((e) => e.EventType);
/** The room's 101s and 102s. */
const lifetime = (room: string): number[] => membership(room).map((e) => e.EventType).filter((x) => x === 101 || x === 102);
/** The userids of the census's sessions filed under `node`. */
const filedUnder = async (prefix: string, node: string): Promise<string[]> =>
  (await raw.hvals(`${prefix}node-sessions:${node}`)).map((j) => JSON.parse(j).userId as string).sort();

t.test('SIGTERM on the node running a recording and a relay: both continue on the other node', async (t) => {
  const [{ gw: a }, { gw: b, dir: dirB }] = await Promise.all([node('drain-a'), node('drain-b')]);
  const pubA = ffmpegPush(a.pushUrl(ROOM, 'speaker'), { seconds: 120, realtime: true, size: '320x240' });
  t.teardown(() => pubA.stop());
  await waitFor(() => joined(a, 'speaker'), 20_000, 'the publisher on node A');

  const taskId = await record(a, ROOM);
  const relayId = await relay(a, ROOM, cdn.url('drained'));
  const mixId = await mixBack(a, ROOM);
  const relayStatuses = () => rx.events(401, relayId).map((e) => e.EventInfo.Payload.Status as number);
  await waitFor(() => relayStatuses().includes(2), 30_000, '401 Status 2 from node A');
  await waitFor(() => rx.events(307, taskId).length > 0, 30_000, "node A's first playlist (307)");
  t.equal(rx.events(301, taskId).length, 1, 'the recording started on node A (301)');
  await waitFor(() => story(FB_ROOM, 'mix_out').length > 0, 30_000, "the mix's user entering its room (103)");
  await waitFor(() => ['recorder', 'relay_agent', 'mix_agent'].every((u) => story(ROOM, u).length > 0), 30_000, 'the task users entering the room (103)');

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
  const handedOver = (id: string) => a.logs.some((l) => l.msg === 'relay handed over: stopped here for another node to push it again' && l.taskId === id);
  await waitFor(() => handedOver(relayId) && handedOver(mixId), 30_000, 'node A handing its relays over');
  t.ok(a.logs.some((l) => l.msg === 'recording handed over: stopped here for another node to continue it' && l.taskId === taskId), 'node A handed the recording over');
  t.ok(b.logs.some((l) => l.msg === 'recording taken over from node drain-a, which drains' && l.taskId === taskId), 'node B took the recording');
  t.ok(b.logs.some((l) => l.msg === 'relay taken over from node drain-a, which drains' && l.taskId === relayId), 'node B took the relay');
  t.ok(b.logs.some((l) => l.msg === 'relay taken over from node drain-a, which drains' && l.taskId === mixId), 'node B took the mixed relay');

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

  // The task users moved with their tasks, as a pull task's user does. B took the tasks (their users joined there)
  // before the publisher reconnected to B, and one room's callbacks are delivered in order: once the publisher's
  // 103 from B is in, so is anything B said of the task users before it.
  await waitFor(() => story(ROOM, 'speaker').length >= 3, 30_000, "the publisher's 103 from node B");
  t.same(story(ROOM, 'speaker'), [103, 104, 103], 'the publisher: 103 on A, 104 when it left A, 103 on B');
  t.same(story(ROOM, 'recorder'), [103], 'the recording user: no 104 from A, no second 103 from B');
  t.same(story(ROOM, 'relay_agent'), [103], 'the relay agent: the same');
  t.same(story(ROOM, 'mix_agent'), [103], "the mixed relay's agent: the same");
  t.same(lifetime(ROOM), [101], 'the room: one 101, no 102');
  t.same(await filedUnder('rg-drain-egress:', 'drain-a'), [], 'the census files no session under node A');
  const onB = await filedUnder('rg-drain-egress:', 'drain-b');
  t.ok(['mix_agent', 'mix_out', 'recorder', 'relay_agent'].every((u) => onB.includes(u)), `the census files the task users under node B: ${onB.join(', ')}`);

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
  // the task users left once each, at B's close, and their rooms closed then
  await waitFor(() => lifetime(ROOM).includes(102) && lifetime(FB_ROOM).includes(102), 20_000, 'the rooms\' 102');
  assertRoomStory(t, membership(ROOM), ['recorder', 'relay_agent', 'mix_agent'], ROOM);
  assertRoomStory(t, membership(FB_ROOM), ['mix_out'], FB_ROOM);
  t.same(story(FB_ROOM, 'mix_out'), [103, 104], "the mix's user: 103 on A, 104 at B's close, nothing in between");
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
  // each task user entered once and left once, and D said nothing of them
  await waitFor(() => lifetime(room).includes(102), 20_000, "the room's 102");
  assertRoomStory(t, membership(room), ['speaker', 'recorder', 'relay_agent'], room);
  t.same(await filedUnder('rg-drain-refuse:', 'drain-d'), [], 'the census files nothing under node D');

  // node D runs no task: its drain looks for no node to hand tasks to, and says nothing of it
  d.kill('SIGTERM');
  t.equal((await d.exited).code, 0, 'node D exited cleanly');
  t.ok(d.logs.some((l) => /^draining: new publishers are refused/.test(l.msg ?? '')), 'node D drained');
  t.same(handOverLines(d), [], 'with no task, no hand-over line');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
});

t.test('a taker that does not answer (stopped): the giver ends them after the wait, and their users leave once', async (t) => {
  // node F is stopped (SIGSTOP) just before E drains; a lease of 5 s keeps it among the live nodes when E looks for a taker
  const [{ gw: e }, { gw: f }] = await Promise.all([node('drain-e', 'rg-drain-silent:', {}, 5000), node('drain-f', 'rg-drain-silent:', {}, 5000)]);
  const room = 'drain-silent';
  const pubE = ffmpegPush(e.pushUrl(room, 'speaker'), { seconds: 120, realtime: true, size: '320x240' });
  t.teardown(() => pubE.stop());
  await waitFor(() => joined(e, 'speaker'), 20_000, 'the publisher on node E');
  const taskId = await record(e, room);
  const relayId = await relay(e, room, cdn.url('silent'));
  const relayStatuses = () => rx.events(401, relayId).map((x) => x.EventInfo.Payload.Status as number);
  await waitFor(() => relayStatuses().includes(2), 30_000, '401 Status 2 from node E');
  await waitFor(() => rx.events(307, taskId).length > 0, 30_000, "node E's first playlist (307)");

  f.kill('SIGSTOP');
  e.kill('SIGTERM');
  // each hand-over waits for F's answer (5 s), then ends the task here
  await waitFor(() => rx.events(302, taskId).length > 0 && relayStatuses().at(-1) === 0, 40_000, "the recording's 302 and the relay's last 401 from node E");
  t.ok(e.logs.some((l) => l.msg === 'draining: the recordings move to another node' && l.to === 'drain-f'), 'node E chose node F to take its tasks');
  t.match(rx.events(302, taskId).map((x) => x.EventInfo.Payload), [{
    LeaveCode: 3,
    Reason: /^the gateway drained and node drain-f did not take the recording over \(Error: node drain-f, which runs the task, did not answer within 5 s\)/,
  }], 'one 302, LeaveCode 3, saying that the other node did not answer');
  t.same(relayStatuses().slice(-2), [5, 0], "the relay's URL ended: 5 then 0");
  t.equal(rx.events(306, taskId).length, 0, 'no 306');

  pubE.stop();
  await pubE.exited;
  t.equal((await e.exited).code, 0, 'node E exited cleanly');
  await waitFor(() => lifetime(room).includes(102), 20_000, "the room's 102");
  assertRoomStory(t, membership(room), ['speaker', 'recorder', 'relay_agent'], room);
  t.same(await filedUnder('rg-drain-silent:', 'drain-e'), [], 'the census files nothing under node E');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
});
