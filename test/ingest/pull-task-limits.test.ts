// Time limits of a pull task, with the minute shortened: RepeatNum -1 loops until MaxDuration, and a paused task
// ends after pull.maxPauseSeconds. Real ffmpeg, real rooms; only the clock unit is small.

import t from 'tap';
import { createMemoryStore } from '../../src/store/memory.js';
import { Rooms } from '../../src/room/rooms.js';
import { createLogger } from '../../src/log.js';
import { PullTasks } from '../../src/ingest/pull/pull-tasks.js';
import type { IngestEventSink } from '../../src/events/ingest-events.js';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { MediaEngine } from '../../src/room/engine.js';
import { Door } from '../../src/room/door.js';
import type { IngestTaskSpec } from '../../src/api/stream-ingest-service.js';
import { makeMedia, startMediaServer } from '../helpers/media-server.js';

const log = createLogger(process.env.ROOMGATE_TEST_LOG ?? 'silent', process.stderr);
const media = await startMediaServer();
t.teardown(() => media.close());

function setup(o: { minuteMs?: number; maxPauseMs?: number }) {
  const store = createMemoryStore();
  const door = new Door({ get: (id) => (id === TEST_APP.sdkAppId ? TEST_APP : undefined) });
  const engine = MediaEngine.start(log);
  t.teardown(() => engine.close());
  const rooms = new Rooms({ store, engine, door, log });
  const events: string[] = [];
  const sink: IngestEventSink = { ingest: (_a, _r, type, _id, status) => void events.push(`${type}/${status}`) };
  const tasks = new PullTasks({
    rooms, events: sink, tasks: store.tasks, maxTasks: 10, allow: ['127.0.0.1'], deny: [], log,
    task: {
      ffmpegPath: 'ffmpeg', ffprobePath: 'ffprobe', startRetryDelaysMs: [0, 1000, 3000], startTimeoutMs: 8000,
      stallTimeoutMs: 5000, maxPauseMs: o.maxPauseMs ?? 60_000, minuteMs: o.minuteMs ?? 60_000,
    },
  });
  t.teardown(() => tasks.closeAll('test over'));
  // The task's user comes in through the room's door, as StartStreamIngest lets it in.
  const start = (s: IngestTaskSpec) => {
    const e = door.enter({ sdkAppId: s.sdkAppId, userId: s.userId, roomId: s.roomId, credential: { kind: 'usersig', value: officialUserSig(s.userId) }, action: 'publish' });
    if (!e.ok) throw new Error(e.reason);
    return tasks.start(s, e.ticket);
  };
  return { rooms, tasks, start, events };
}

const spec = (url: string, extra: Record<string, unknown> = {}) => ({
  sdkAppId: TEST_APP.sdkAppId, roomId: 'limits', roomIdType: 0 as const, userId: 'looper', streamUrl: url, seekSecond: 0,
  repeatNum: 1, maxDurationMinutes: null, volume: 100, enableProgress: false, tempo: 1, ...extra,
});

t.test('RepeatNum -1 loops a 1 s file until MaxDuration (1 "minute" = 3.5 s here)', async (t) => {
  const { tasks, start, events } = setup({ minuteMs: 3500 });
  const file = await makeMedia('flv-h264-aac', 1);
  const started = Date.now();
  const r = await start(spec(`${media.base}/${file}`, { repeatNum: -1, maxDurationMinutes: 1 }));
  t.ok(r.ok);
  const taskId = (r as { taskId: string }).taskId;
  await waitFor(() => events.includes('702/0'), 10000, '702');
  const took = Date.now() - started;
  t.ok(took >= 3400 && took < 4500, `ended at MaxDuration (${took} ms)`);
  const list = await tasks.list();
  const ended = list.ended.find((x: any) => x.taskId === taskId) as any;
  t.match(ended.endReason, /MaxDuration of 1 min reached/);
  t.same(events.filter((e) => e.startsWith('701')), ['701/0'], 'loops are not restarts: no 701 Status 2');
});

t.test('MaxDuration is ignored unless RepeatNum is -1: the file plays once', async (t) => {
  const { tasks, start, events } = setup({ minuteMs: 500 });
  const file = await makeMedia('flv-h264-aac', 1);
  const started = Date.now();
  await start(spec(`${media.base}/${file}`, { repeatNum: 2, maxDurationMinutes: 1 }));
  await waitFor(() => events.includes('702/0'), 10000, '702');
  t.ok(Date.now() - started >= 1900, 'two plays of 1 s');
});

t.test('a task paused for longer than the pause limit ends', async (t) => {
  const { tasks, start, events, rooms } = setup({ maxPauseMs: 1000 });
  const file = await makeMedia('flv-h264-aac', 30);
  const r = (await start(spec(`${media.base}/${file}`))) as { taskId: string };
  await waitFor(() => events.includes('701/0'), 10000, 'started');
  await tasks.update(1400000001, r.taskId, { isPause: true });
  t.equal(rooms.get(1400000001, 'limits')?.publishers.size, 1, 'paused: still in the room');
  await waitFor(() => events.includes('702/0'), 5000, '702 after the pause limit');
  t.equal(rooms.get(1400000001, 'limits'), undefined, 'the room is gone with its only user');
  const ended = (await tasks.list()).ended.find((x: any) => x.taskId === r.taskId) as any;
  t.match(ended.endReason, /paused for longer than 1 s/);
});

t.test('SeekSecond starts the file later', async (t) => {
  const { tasks, start, events } = setup({});
  const file = await makeMedia('flv-h264-aac', 4);
  const started = Date.now();
  await start(spec(`${media.base}/${file}`, { seekSecond: 2, userId: 'seeker' }));
  await waitFor(() => events.includes('702/0'), 10000, '702');
  const took = Date.now() - started;
  t.ok(took >= 1500 && took < 3200, `2 s of a 4 s file played (${took} ms)`);
});
