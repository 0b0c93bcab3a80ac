// A cloud recording outlives its node (issue 20, TRTC's HA): two real gateway processes share one real Redis, the
// recording uploads to a real s3rver, ffmpeg publishes over RTMP, the official SDK drives the task, and a callback
// receiver checks every Sign.
// - Describe, Modify and Delete sent to node B answer for tasks node A runs (handed to A over the node bus);
// - node A is SIGKILLed: until a survivor takes its task up, Describe on B answers InProgress, at once when A's lease
//   has expired, after the bus's wait while the lease still runs;
// - the publisher reconnects to node B, which continues the task once it sweeps A: the same TaskId (306 Status 0),
//   records the publisher as last modified into `ha1_` files beside A's, answers Describe, and stops it on
//   DeleteCloudRecording; what both nodes stored plays as H.264, and nothing but B records after the kill;
// - a task whose recording user's UserSig has expired cannot continue: the survivor (node C) ends it with 302
//   LeaveCode 3 and says why.

import t, { type Test } from 'tap';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import type { GatewayProcess } from '../helpers/gateway-process.js';
import { clusterNode } from '../helpers/cluster-node.js';
import { startRedis } from '../helpers/redis-server.js';
import { S3RVER_KEYS, startS3rver } from '../helpers/s3rver.js';
import { ffprobe } from '../helpers/probe.js';
import { Redis } from 'ioredis';

t.setTimeout(180_000);
const { sdkAppId } = TEST_APP;
const LEASE_MS = 1500;
const BUCKET = 'failover-1250000000';
const ROOM = 'ha-room';

const redis = await startRedis();
t.teardown(() => redis.close());
const s3 = await startS3rver([BUCKET]);
t.teardown(() => s3.close());
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());

async function node(t: Test, id: string): Promise<GatewayProcess> {
  return clusterNode(t, {
    id, redisUrl: redis.url, prefix: 'rg-rec-ha:', callbackUrl: rx.url, leaseMs: LEASE_MS,
    config: {
      callbacks: { retryIntervalMs: 500, flushOnCloseMs: 300 },
      // each node its own recording directory, as on two machines
      recording: { dir: await mkdtemp(join(tmpdir(), `rec-${id}-`)), hlsSegmentSeconds: 2, storageEndpoints: { '1': s3.endpoint } },
    },
  });
}

const [a, b] = await Promise.all([node(t, 'node-a'), node(t, 'node-b')]);
const joined = (gw: GatewayProcess, userId: string) => gw.logs.some((l) => l.msg === 'user joined' && l.userId === userId);
/** The task's object keys the store saw written, in order, without the `ha/<TaskId>/` prefix. */
const written = (taskId: string) => s3.writes.filter((w) => w.key.startsWith(`ha/${taskId}/`)).map((w) => w.key.slice(`ha/${taskId}/`.length));
const videoSegments = (names: string[], prefix: string) => names.filter((n) => n.startsWith(prefix) && /_video_\d{17}\.ts$/.test(n));

t.test('a recording of a dead node continues on the survivor with ha1_ files and 306', async (t) => {
  const pubA = ffmpegPush(a.pushUrl(ROOM, 'speaker'), { seconds: 120, realtime: true });
  t.teardown(() => pubA.stop());
  await waitFor(() => joined(a, 'speaker'), 20_000, 'the publisher on node A');
  const { TaskId } = await a.client.CreateCloudRecording({
    SdkAppId: sdkAppId, RoomId: ROOM, RoomIdType: 0, UserId: 'recorder', UserSig: officialUserSig('recorder'),
    RecordParams: { RecordMode: 1, OutputFormat: 0, MaxIdleTime: 120 },
    StorageParams: { CloudStorage: { Vendor: 1, Region: 'us-east-1', Bucket: BUCKET, ...S3RVER_KEYS, FileNamePrefix: ['ha'] } },
  });
  const taskId = TaskId!;
  await waitFor(() => videoSegments(written(taskId), '').length >= 2, 30_000, "two of node A's video segments in the bucket");

  // Describe and Modify sent to B are answered by A, which runs the task
  const seen = await b.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  t.equal(seen.Status, 'InProgress', 'Describe on node B: InProgress (asked of node A)');
  t.match(seen.StorageFileList!.map((f) => f.FileName).sort(), [/_main_audio\.m3u8$/, /_main_video\.m3u8$/], "A's playlists, named as TRTC does");
  // from now on the speaker's audio is not recorded: A stops writing it, and B starts without it
  await b.client.ModifyCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId, SubscribeStreamUserIds: { UnSubscribeAudioUserIds: ['speaker'] } });

  // a second task of A's, deleted through B
  const other = (await a.client.CreateCloudRecording({
    SdkAppId: sdkAppId, RoomId: ROOM, RoomIdType: 0, UserId: 'recorder2', UserSig: officialUserSig('recorder2'),
    RecordParams: { RecordMode: 1, OutputFormat: 0, MaxIdleTime: 120 }, StorageParams: {},
  })).TaskId!;
  await b.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: other });
  await waitFor(() => rx.events(302, other).length === 1, 20_000, "the second task's 302");
  t.match(rx.events(302, other)[0].EventInfo.Payload, { LeaveCode: 0 }, 'Delete on node B ended the task node A ran (LeaveCode 0)');
  await t.rejects(b.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: other }), { code: 'ResourceNotFound' }, 'and it is gone');

  // Between A's death and B's sweep the task is moving, and its record says it runs: Describe says InProgress, as
  // TRTC's back-end does while its HA moves a task. To ask inside that window (≤ lease + half a lease on its own) the
  // test holds the sweep claim of node A, as a survivor that claimed it and died too would (the claim lasts a
  // minute): B sees A dead and leaves it alone until the claim goes.
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  const sweepClaim = 'rg-rec-ha:sweep:node-a';
  t.equal(await raw.set(sweepClaim, 'a-survivor-that-died', 'PX', 60_000, 'NX'), 'OK', "the test holds the sweep claim of node A");
  const describe = () => b.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  a.kill('SIGKILL');
  const killedAt = (await a.exited).at;
  const writtenBeforeKill = written(taskId).length;
  // asked at once: A's lease runs on for up to a lease, so B asks A over the bus, which never answers
  let unanswered = true;
  const asked = describe().finally(() => (unanswered = false));
  const listed = async () => ((await (await fetch(`${b.httpBase}/api/cluster`)).json()).nodes as Array<{ id: string }>).map((n) => n.id);
  await waitFor(async () => !(await listed()).includes('node-a'), LEASE_MS + 10_000, "node A's lease expired (B lists it no more)");
  // asked once A holds no lease: B knows A is dead from the lease, without waiting for the bus
  const inWindow = await describe();
  t.equal(inWindow.Status, 'InProgress', "Describe on B once A's lease expired, before any node took the task up: InProgress");
  t.ok(unanswered, "answered from A's expired lease, while the Describe sent to A's live lease still waits for the bus");
  t.equal((await asked).Status, 'InProgress', 'the Describe A never answered: InProgress once the bus gave up');
  t.notOk(b.logs.some((l) => l.msg === 'recording taken over from a dead node'), 'asked before B took the task up');
  await raw.del(sweepClaim);
  await pubA.exited;
  const pubB = ffmpegPush(b.pushUrl(ROOM, 'speaker'), { seconds: 120, realtime: true });
  t.teardown(() => pubB.stop());
  await waitFor(() => joined(b, 'speaker'), 20_000, 'the publisher reconnected to node B');

  await waitFor(() => rx.events(306, taskId).length > 0, LEASE_MS + 10_000, '306 within the lease + 10 s of the kill');
  const failover = rx.events(306, taskId);
  t.equal(failover.length, 1, 'one 306');
  t.match(failover[0].EventInfo.Payload, { Status: 0 }, '306 Status 0: migration done');
  t.ok(failover[0].EventInfo.EventMsTs >= killedAt + LEASE_MS / 2, 'not before A\'s lease could expire');
  t.equal(b.logs.filter((l) => l.msg === 'recording taken over from a dead node' && l.taskId === taskId).length, 1, 'node B took it over once');

  await waitFor(() => videoSegments(written(taskId), 'ha1_').length >= 2, 30_000, "two of node B's ha1_ video segments in the bucket");
  const now = await b.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  t.equal(now.Status, 'InProgress', 'Describe on node B: InProgress');
  t.match(now.StorageFileList!.map((f) => f.FileName), [/^ha1_\d+_.*_main_video\.m3u8$/], "B's one playlist: video only, as modified, named ha1_");

  await b.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => rx.events(305, taskId).length > 0, 60_000, '305 once B uploaded everything');
  t.match(rx.events(302, taskId).map((e) => e.EventInfo.Payload), [{ LeaveCode: 0 }], 'one 302: Delete\'s (the failover ended nothing)');
  t.equal(rx.events(301, taskId).length, 1, 'one 301: the task started once');
  // the recording user entered on B before A's session of it expired: the room saw it enter once and leave once
  await waitFor(() => rx.received.some((r) => r.body.EventType === 104 && r.body.EventInfo?.UserId === 'recorder'), 20_000, "the recording user's 104");
  t.same(rx.received.map((r) => r.body).filter((e) => [103, 104].includes(e.EventType) && e.EventInfo?.UserId === 'recorder').map((e) => e.EventType), [103, 104], 'the recording user entered once and left once, at the end');

  // what the bucket holds: A's files and B's ha1_ files, each playing as H.264
  const names = (await s3.list(BUCKET, `ha/${taskId}/`)).map((o) => o.key.slice(`ha/${taskId}/`.length));
  const local = await mkdtemp(join(tmpdir(), 'rec-ha-back-'));
  for (const n of names) await writeFile(join(local, n), (await s3.get(BUCKET, `ha/${taskId}/${n}`)).body);
  const fromA = names.filter((n) => !n.startsWith('ha'));
  const fromB = names.filter((n) => n.startsWith('ha1_'));
  t.same(names.filter((n) => !fromA.includes(n) && !fromB.includes(n)), [], 'no other files (no ha2_: it moved once)');
  t.ok(fromA.some((n) => n.endsWith('_main_audio.m3u8')) && fromA.some((n) => n.endsWith('_main_video.m3u8')), "A's two playlists");
  t.same(fromB.filter((n) => n.endsWith('.m3u8')).map((n) => n.replace(/^ha1_\d+_[^_]+__/, '')), ['UserId_s_c3BlYWtlcg..__UserId_e_main_video.m3u8'], "B's video playlist, the speaker's");
  t.notOk(fromB.some((n) => n.includes('_audio')), 'B records no audio (the Modify sent to B before the kill holds)');
  for (const file of [fromA.find((n) => n.endsWith('_main_video.m3u8'))!, fromB.find((n) => n.endsWith('.m3u8'))!, videoSegments(fromA, '')[0]!, videoSegments(fromB, 'ha1_')[0]!]) {
    const probed = await ffprobe(join(local, file));
    t.ok(probed.streams.some((s) => s.codec_name === 'h264'), `${file} reads as H.264 video`);
  }
  // only B recorded after the kill: every object written since names B's files
  t.same(written(taskId).slice(writtenBeforeKill).filter((n) => !n.startsWith('ha1_')), [], 'nothing but ha1_ files written after the kill');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
});

t.test('a recording whose UserSig expired ends on the survivor with 302 LeaveCode 3, saying why', async (t) => {
  const c = await node(t, 'node-c');
  const { TaskId } = await b.client.CreateCloudRecording({
    SdkAppId: sdkAppId, RoomId: 'ha-expired', RoomIdType: 0, UserId: 'short_sig', UserSig: officialUserSig('short_sig', 2),
    RecordParams: { RecordMode: 1, OutputFormat: 0, MaxIdleTime: 120 }, StorageParams: {},
  });
  await waitFor(() => rx.events(301, TaskId!).length === 1, 20_000, '301 from node B');
  await new Promise((r) => setTimeout(r, 4000)); // the UserSig (2 s) expires while the task runs
  b.kill('SIGKILL');
  await waitFor(() => rx.events(302, TaskId!).length === 1, LEASE_MS + 10_000, '302 from node C');
  t.match(rx.events(302, TaskId!)[0].EventInfo.Payload, {
    LeaveCode: 3,
    Reason: /gateway node node-b died while recording.*could not continue here: its recording user cannot enter the room again/,
  });
  t.equal(rx.events(306, TaskId!).length, 0, 'no 306');
  t.notOk(c.logs.some((l) => l.msg === 'recording taken over from a dead node'), 'node C runs nothing of it');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
});
