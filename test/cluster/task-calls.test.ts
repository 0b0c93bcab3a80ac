// UpdateStreamIngest sent to a node that does not run the pull task is handed to the node that does (src/cluster's node
// bus, PullTasks.update → elsewhere). Two real gateway processes share one real redis-server; a pull task runs on
// node A, and every Update goes through the official tencentcloud-sdk-nodejs to node B:
// - IsPause true: A's ffmpeg pulling the source exits, the room's publisher on A gets no new frames, A lists the task
//   paused, and both nodes still describe it InProgress; IsPause false: frames grow again on A;
// - StreamUrl: A pulls the second source instead of the first (its ffmpeg, its plan, its log);
// - an unknown TaskId, and bad fields (Volume 300, an ftp StreamUrl), get the same API errors from B as from A.

import t, { type Test } from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { makeMedia, startMediaServer } from '../helpers/media-server.js';
import type { GatewayProcess } from '../helpers/gateway-process.js';
import { clusterNode } from '../helpers/cluster-node.js';
import { startRedis } from '../helpers/redis-server.js';
import { ffmpegsWith } from '../helpers/processes.js';
import { apiError } from '../helpers/api3.js';

t.setTimeout(180_000);
const { sdkAppId } = TEST_APP;
const ROOM = 'updated-elsewhere';

const redis = await startRedis();
t.teardown(() => redis.close());
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());
const media = await startMediaServer();
t.teardown(() => media.close());

async function node(t: Test, id: string): Promise<GatewayProcess> {
  return clusterNode(t, {
    id, redisUrl: redis.url, prefix: 'rg-task-calls:', callbackUrl: rx.url, leaseMs: 1500,
    config: { pull: { allow: ['127.0.0.1'], startRetryDelaysMs: [0, 200, 400] } },
    // the pull task's own lines too: a failure shows what A did with each Update
    logged: (l) => l.level >= 40 || l.component === 'pull',
  });
}

const [a, b] = await Promise.all([node(t, 'ta'), node(t, 'tb')]);

/** What node A says of the task's user in the room: its video frames so far (-1 when not in the room). */
async function framesOnA(userId: string): Promise<number> {
  const r = await fetch(`${a.httpBase}/api/rooms/${sdkAppId}/${ROOM}`);
  if (r.status !== 200) return -1;
  const users = ((await r.json()) as { users: any[] }).users;
  return users.find((u) => u.userId === userId)?.frames?.video ?? -1;
}

/** Node A's view of a running task (GET /api/tasks). */
async function taskOnA(taskId: string): Promise<Record<string, any> | undefined> {
  const r = await (await fetch(`${a.httpBase}/api/tasks`)).json() as { running: Array<Record<string, any>> };
  return r.running.find((x) => x.taskId === taskId);
}

t.test('UpdateStreamIngest sent to node B pauses, resumes and switches the source of a task node A runs', async (t) => {
  const flv = await makeMedia('flv-h264-aac', 4);
  const mkv = await makeMedia('mkv-vp8-opus', 4);
  const first = `${media.base}/${flv}?task=upd-first`;
  const second = `${media.base}/${mkv}?task=upd-second`;
  const { TaskId } = await a.client.StartStreamIngest({
    SdkAppId: sdkAppId, RoomId: ROOM, RoomIdType: 0, UserId: 'puller', UserSig: officialUserSig('puller'), StreamUrl: first, RepeatNum: -1,
  });
  const taskId = TaskId!;
  t.teardown(() => a.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId }).catch(() => {}));
  await waitFor(() => rx.events(701, taskId).some((e) => e.EventInfo.Status === 0), 30_000, 'the pull task running on node A');
  await waitFor(async () => (await framesOnA('puller')) > 10, 20_000, "the task's frames in node A's room");
  const onB = await (await fetch(`${b.httpBase}/api/tasks`)).json() as { running: Array<{ taskId: string }> };
  t.notOk(onB.running.some((x) => x.taskId === taskId), 'node B does not run the task');

  // pause, asked of B
  const paused = await b.client.UpdateStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId, IsPause: true });
  t.equal(paused.Status, 'InProgress', "B answers the Update with the owner's result");
  t.equal((await taskOnA(taskId))?.state, 'paused', 'node A lists the task paused');
  await waitFor(() => ffmpegsWith('task=upd-first').length === 0, 10_000, "node A's ffmpeg for the source exited");
  const pausedAt = await framesOnA('puller');
  t.ok(pausedAt > 10, `the user stays in node A's room while paused (${pausedAt} frames)`);
  // no ffmpeg pulls for it now, so nothing can add frames; read again after a while to show none came
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(await framesOnA('puller'), pausedAt, 'no new frames while paused');
  for (const g of [a, b]) {
    t.equal((await g.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId })).Status, 'InProgress', 'a paused task is InProgress on either node');
  }

  // resume, asked of B
  await b.client.UpdateStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId, IsPause: false });
  await waitFor(async () => (await framesOnA('puller')) > pausedAt + 15, 20_000, 'frames on node A again after IsPause false');
  t.equal(ffmpegsWith('task=upd-first').length, 1, 'one ffmpeg pulls the first source again');

  // switch the source, asked of B
  await b.client.UpdateStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId, StreamUrl: second });
  await waitFor(async () => {
    const task = await taskOnA(taskId);
    return task?.state === 'running' && task.plan?.video === 'transcode' && task.source === `${media.base}/${mkv}`;
  }, 20_000, 'node A running the task from the second source (VP8: transcoded; the listed source has no query)');
  t.ok(a.logs.some((l) => l.msg === 'pull task switched its source' && taskId.startsWith(l.task) && l.source === `${media.base}/${mkv}`), "node A's log shows the switch");
  await waitFor(() => ffmpegsWith('task=upd-first').length === 0 && ffmpegsWith('task=upd-second').length === 1, 10_000, 'node A pulling the second source only');
  const switchedAt = await framesOnA('puller');
  await waitFor(async () => (await framesOnA('puller')) > switchedAt + 15, 20_000, "the second source's frames on node A");
  t.same(rx.events(701, taskId).map((e) => e.EventInfo.Status), [0], 'one 701 Status 0: pause and switch are no restart');
  t.notOk(rx.received.some((r) => r.body.EventType === 104 && r.body.EventInfo?.UserId === 'puller'), "the task's user never left the room");

  await b.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => rx.events(702, taskId).length === 1, 20_000, '702 for the task stopped through B');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
});

t.test('an Update that fails gets the same API error from node B as from node A', async (t) => {
  const flv = await makeMedia('flv-h264-aac', 4);
  const { TaskId } = await a.client.StartStreamIngest({
    SdkAppId: sdkAppId, RoomId: ROOM, RoomIdType: 0, UserId: 'puller2', UserSig: officialUserSig('puller2'),
    StreamUrl: `${media.base}/${flv}?task=upd-errors`, RepeatNum: -1,
  });
  const taskId = TaskId!;
  t.teardown(() => a.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId }).catch(() => {}));
  await waitFor(() => rx.events(701, taskId).some((e) => e.EventInfo.Status === 0), 30_000, 'the pull task running on node A');

  const calls: Array<[string, { TaskId: string; Volume?: number; StreamUrl?: string }, string]> = [
    ['an unknown TaskId', { TaskId: 'abcdef.', Volume: 10 }, 'FailedOperation.TaskNotExist'],
    ['Volume 300', { TaskId: taskId, Volume: 300 }, 'InvalidParameter.Volume'],
    ['an ftp StreamUrl', { TaskId: taskId, StreamUrl: 'ftp://127.0.0.1/a.flv' }, 'InvalidParameter.StreamUrl'],
  ];
  for (const [name, fields, code] of calls) {
    const req = { SdkAppId: sdkAppId, ...fields };
    const [onA, onB] = [await apiError(a.client.UpdateStreamIngest(req)), await apiError(b.client.UpdateStreamIngest(req))];
    t.equal(onB.code, code, `${name} sent to B: ${code} (${onB.message})`);
    t.same([onB.code, onB.message], [onA.code, onA.message], `${name}: B answers as A does`);
  }
  t.equal((await taskOnA(taskId))?.volume, 100, 'the refused Volume changed nothing on A');
  t.equal(ffmpegsWith('task=upd-errors').length, 1, 'and the task still pulls its source');

  // a task that ended is not found through B either, as on one node
  await a.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => rx.events(702, taskId).length === 1, 20_000, '702 for the stopped task');
  const ended = { SdkAppId: sdkAppId, TaskId: taskId, IsPause: true };
  const [endedA, endedB] = [await apiError(a.client.UpdateStreamIngest(ended)), await apiError(b.client.UpdateStreamIngest(ended))];
  t.equal(endedB.code, 'FailedOperation.TaskNotExist', 'an ended task: TaskNotExist from B');
  t.same([endedB.code, endedB.message], [endedA.code, endedA.message], 'the same as from A');
});
