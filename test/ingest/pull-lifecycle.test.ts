// A pull task's life as callbacks tell it: a normal run, an unreachable source (retries at 0, 1 and 3 s), loops,
// a source that breaks or stalls mid-stream (restart without leaving the room), a kick by the same userid, and Stop
// killing the ffmpeg child.

import t from 'tap';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { makeMedia, PULL_MEDIA_DIR } from '../helpers/media-server.js';
import { freePort } from '../helpers/rtmp-source.js';
import { startPullFixture, CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { verifyCallbackSign } from '../../src/auth/callback-sign.js';

const f = await startPullFixture({ pull: { stallTimeoutMs: 2000, startTimeoutMs: 8000 } });
t.teardown(() => f.close());
const { sdkAppId } = TEST_APP;

/** Running ffmpeg (or ffprobe) processes whose command line mentions `needle`. */
function ffmpegsWith(needle: string, program = 'ffmpeg'): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue; // a zombie is already dead
      if (cmd.some((a) => a.endsWith(program)) && cmd.some((a) => a.includes(needle))) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function roomEvents(room: string): any[] {
  return f.rx.received.map((r) => r.body).filter((b) => b.EventInfo?.RoomId === room);
}

t.test('a normal run: 101, 103, 201/203, 701 Status 0 … EOF → 104, 102, 702, all signed', async (t) => {
  const file = await makeMedia('flv-h264-aac', 3);
  const started = Date.now();
  const taskId = await f.start('life-normal', 'normal_user', `${f.media.base}/${file}`);
  await f.ended(taskId, 15000);
  const took = Date.now() - started;
  t.ok(took >= 2800 && took < 6000, `EOF ended the task after the file's 3 s (${took} ms)`);
  const mine = f.rx.received.filter((r) => r.body.EventInfo?.RoomId === 'life-normal' || r.body.EventInfo?.TaskId === taskId);
  const types = mine.map((r) => r.body.EventType);
  t.same(types.slice(0, 2), [101, 103]);
  t.same(types.slice(2, 5).sort(), [201, 203, 701]);
  t.same(types.slice(5), [104, 102, 702]);
  for (const r of mine) {
    t.ok(r.signOk && verifyCallbackSign(CALLBACK_KEY, r.raw, r.sign!), `${r.body.EventType}: Sign verifies`);
    t.equal(r.contentType, 'application/json');
    t.equal(r.sdkAppId, String(sdkAppId));
  }
  const byType = new Map(mine.map((r) => [r.body.EventType, r.body]));
  t.match(byType.get(103), { EventGroupId: 1, CallbackTs: Number, EventInfo: { RoomId: 'life-normal', UserId: 'normal_user', Role: 20, EventTs: Number, EventMsTs: Number } });
  t.match(byType.get(104), { EventGroupId: 1, EventInfo: { UserId: 'normal_user', Role: 20, Reason: 1 } });
  t.notOk('UserId' in byType.get(102).EventInfo, '102 has no UserId');
  t.same(Object.keys(byType.get(701)).sort(), ['CallbackMsTs', 'EventGroupId', 'EventInfo', 'EventType']);
  t.match(byType.get(701), { EventGroupId: 7, EventInfo: { TaskId: taskId, Status: 0, EventMsTs: Number } });
  t.match(byType.get(702), { EventGroupId: 7, EventType: 702, EventInfo: { TaskId: taskId, Status: 0 } });
  t.equal((await f.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId })).Status, 'NotExist');
  const ended = (await f.g.getJson('/api/tasks')).body.ended.find((x: any) => x.taskId === taskId);
  t.equal(ended.endReason, 'the source ended');
});

t.test('an unreachable source: each failed start 701 Status 1 and its retry (0, 1, 3 s) Status 2, as FAILURE → AGAIN; the last failure, then 702', async (t) => {
  const port = await freePort(); // nothing listens there
  const taskId = await f.start('life-unreachable', 'unreachable_user', `http://127.0.0.1:${port}/live.flv`);
  await f.ended(taskId, 15000);
  const ev = f.rx.received.map((r) => r.body).filter((b) => b.EventInfo?.TaskId === taskId);
  t.same(ev.map((b) => `${b.EventType}/${b.EventInfo.Status}`), ['701/1', '701/2', '701/1', '701/2', '701/1', '701/2', '701/1', '702/0']);
  const failures = ev.filter((b) => b.EventType === 701 && b.EventInfo.Status === 1);
  const t0 = failures[0].EventInfo.EventMsTs;
  const offsets = failures.map((b) => b.EventInfo.EventMsTs - t0);
  // The schedule: an immediate retry, then 1 s and 3 s later. The lower bounds are the rule; the upper ones only say
  // that the next attempt came rather than another step of the schedule (a loaded machine delays each a little).
  t.ok(offsets[1]! < 1000 && offsets[2]! >= 1000 && offsets[2]! < 3000 && offsets[3]! >= 3000 && offsets[3]! < 6000, `failures at ${offsets.join(', ')} ms`);
  const times = ev.map((b) => b.EventInfo.EventMsTs);
  t.same(times, [...times].sort((x, y) => x - y), 'sorted by EventMsTs (as Tencent tells receivers to) the order is the same');
  t.same(roomEvents('life-unreachable'), [], 'the user never entered the room');
  const ended = (await f.g.getJson('/api/tasks')).body.ended.find((x: any) => x.taskId === taskId);
  t.match(ended.endReason, /could not start pulling: .*(refused|Connection)/i);
});

t.test('retries happen at 0, 1 and 3 s after the first failure (seen by the source)', async (t) => {
  const hits: number[] = [];
  f.media.intercept = (req, res) => {
    if (!req.url?.startsWith('/missing.flv')) return false;
    hits.push(Date.now());
    res.writeHead(404).end();
    return true;
  };
  t.teardown(() => void (f.media.intercept = null));
  const taskId = await f.start('life-404', 'missing_user', `${f.media.base}/missing.flv`);
  await f.ended(taskId, 15000);
  const offsets = hits.map((h) => h - hits[0]!);
  t.equal(hits.length, 4, `4 attempts (${offsets.join(', ')} ms)`);
  // Never early; late by as long as starting ffprobe takes on a busy machine (each attempt spawns one), so the
  // upper bounds leave room for that and still tell 0, 1 and 3 s apart.
  const within = (x: number, at: number) => x >= at - 100 && x < at + 1500;
  t.ok(offsets[1]! < 1000 && within(offsets[2]!, 1000) && within(offsets[3]!, 3000), `at 0, 0, 1 and 3 s (${offsets.join(', ')} ms)`);
  const ended = (await f.g.getJson('/api/tasks')).body.ended.find((x: any) => x.taskId === taskId);
  t.match(ended.endReason, /404/);
});

t.test('RepeatNum 2 plays the file twice without leaving the room, then ends', async (t) => {
  const file = await makeMedia('flv-h264-aac', 3);
  const started = Date.now();
  const taskId = await f.start('life-repeat', 'repeat_user', `${f.media.base}/${file}`, { RepeatNum: 2 });
  const view = await waitFor(async () => (await f.g.getJson('/api/tasks')).body.running.find((x: any) => x.taskId === taskId && x.repeat.done === 1), 10000, 'first play done');
  t.equal(view.state, 'running');
  const u = (await f.users('life-repeat'))[0];
  t.ok(u.frames.video > 80, `video frames kept coming into the second play (${u.frames.video})`);
  await f.ended(taskId, 15000);
  const took = Date.now() - started;
  t.ok(took >= 5800 && took < 9000, `two plays of 3 s (${took} ms)`);
  t.same(roomEvents('life-repeat').map((b) => b.EventType).filter((x) => x === 103 || x === 104), [103, 104], 'entered and left once');
});

/**
 * Serves `file` under `name`: the probe (request 1) and every request after the second get the file; the second
 * request — the first ffmpeg run — gets `share` of it and then `after` happens to the connection.
 */
function misbehave(name: string, file: string, share: number, after: 'close' | 'stall'): () => void {
  const path = join(PULL_MEDIA_DIR, file);
  const size = statSync(path).size;
  let n = 0;
  const open: import('node:http').ServerResponse[] = [];
  f.media.intercept = (req, res) => {
    if (!req.url?.startsWith(`/${name}`)) return false;
    if (++n !== 2) {
      req.url = `/${file}`;
      return false;
    }
    res.writeHead(200, { 'content-type': 'video/x-flv', 'content-length': size });
    res.write(readFileSync(path).subarray(0, Math.floor(size * share)), () => {
      if (after === 'close') setTimeout(() => res.destroy(), 50);
    });
    open.push(res);
    return true;
  };
  return () => {
    f.media.intercept = null;
    for (const r of open) r.destroy();
  };
}

t.test('a source that breaks mid-file is resumed where it broke (701 Status 2), in the same room session', async (t) => {
  const file = await makeMedia('flv-h264-aac', 12);
  t.teardown(misbehave('breaking.flv', file, 0.4, 'close'));
  const taskId = await f.start('life-break', 'break_user', `${f.media.base}/breaking.flv`);
  await waitFor(() => f.rx.events(701, taskId).some((e) => e.EventInfo.Status === 2), 15000, '701 Status 2');
  t.same(f.rx.events(701, taskId).map((e) => e.EventInfo.Status).slice(0, 2), [0, 2], 'started, then retrying');
  const before = (await f.users('life-break'))[0].frames.video;
  await waitFor(async () => (await f.users('life-break'))[0]?.frames.video > before + 30, 10000, 'frames after the restart');
  t.notOk(roomEvents('life-break').some((b) => b.EventType === 104), 'the user did not leave');
  const view = (await f.g.getJson('/api/tasks')).body.running.find((x: any) => x.taskId === taskId);
  t.equal(view.state, 'running');
  t.ok(view.restarts >= 1);
  await f.ended(taskId, 20000);
  const took = f.rx.events(702, taskId)[0].EventInfo.EventMsTs - f.rx.events(701, taskId)[0].EventInfo.EventMsTs;
  t.ok(took < 12000 + 3000, `resumed near where it broke, not from the start (${took} ms for a 12 s file)`);
});

t.test('a source that stalls is restarted after pull.stallTimeoutMs', async (t) => {
  const file = await makeMedia('flv-h264-aac', 12);
  t.teardown(misbehave('stalling.flv', file, 0.3, 'stall'));
  const taskId = await f.start('life-stall', 'stall_user', `${f.media.base}/stalling.flv`);
  await waitFor(() => f.rx.events(701, taskId).some((e) => e.EventInfo.Status === 2), 20000, '701 Status 2 after the stall');
  const view = await waitFor(async () => (await f.g.getJson('/api/tasks')).body.running.find((x: any) => x.taskId === taskId && x.state === 'running' && x.restarts >= 1), 10000, 'running again');
  t.match(view.lastError, /sent nothing for 2000 ms/);
  t.notOk(roomEvents('life-stall').some((b) => b.EventType === 104), 'the user did not leave');
  await f.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId });
  await f.ended(taskId);
});

t.test('the same userid publishing elsewhere kicks the task: 104 Reason 3, 702', async (t) => {
  const file = await makeMedia('flv-h264-aac', 30);
  const taskId = await f.start('life-kick', 'kick_user', `${f.media.base}/${file}?kick`);
  await waitFor(() => f.rx.events(701, taskId).length > 0, 10000, 'task started');
  await waitFor(() => ffmpegsWith(`${file}?kick`).length === 1, 5000, 'one ffmpeg child');
  const push = ffmpegPush(f.g.pushUrl('kick-elsewhere', 'kick_user'), { seconds: 10, realtime: true });
  t.teardown(() => push.stop());
  await f.ended(taskId, 10000);
  const exit = roomEvents('life-kick').find((b) => b.EventType === 104);
  t.match(exit, { EventInfo: { UserId: 'kick_user', Reason: 3 } }, 'exit reason 3 (kicked)');
  t.equal((await f.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId })).Status, 'NotExist');
  await waitFor(() => ffmpegsWith(`${file}?kick`).length === 0, 3000, 'the child is gone');
  push.stop();
});

t.test('Stop kills the ffmpeg child at once', async (t) => {
  const file = await makeMedia('flv-h264-aac', 30);
  const url = `${f.media.base}/${file}?stop-test`;
  const taskId = await f.start('life-stop', 'stop_user', url);
  await waitFor(() => ffmpegsWith('?stop-test').length === 1, 10000, 'the ffmpeg child');
  await f.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => ffmpegsWith('?stop-test').length === 0, 2000, 'no ffmpeg child left');
  await f.ended(taskId);
  t.pass('child gone');
});


t.test('Stop while the source is still being probed kills ffprobe too', async (t) => {
  const held: import('node:http').ServerResponse[] = [];
  f.media.intercept = (req, res) => {
    if (!req.url?.startsWith('/hanging.flv')) return false;
    held.push(res); // never answered
    return true;
  };
  t.teardown(() => {
    f.media.intercept = null;
    for (const r of held) r.destroy();
  });
  const taskId = await f.start('life-probe', 'probe_user', `${f.media.base}/hanging.flv?probe-stop`);
  await waitFor(() => ffmpegsWith('probe-stop', 'ffprobe').length === 1, 5000, 'ffprobe running');
  t.equal((await f.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId })).Status, 'InProgress', 'a starting task is in progress');
  await f.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => ffmpegsWith('probe-stop', 'ffprobe').length === 0, 2000, 'ffprobe gone');
  await f.ended(taskId);
  t.same(f.rx.events(701, taskId), [], 'no 701 for a task stopped before it started');
});
