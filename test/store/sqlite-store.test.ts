// The durable store (store.kind 'sqlite') on a real file, closed and opened again as a restart does: the outbox keeps
// each partition's order and each entry's retry state, tasks keep their records (ended ones for an hour), the member
// ledger and presence keep their sessions. store.kind 'memory' on the same file keeps none of it.

import t from 'tap';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/open-store.js';
import { entry, task } from '../helpers/store-records.js';

const file = async () => join(await mkdtemp(join(tmpdir(), 'rg-store-')), 'roomgate.db');

t.test('the outbox keeps each room in order, with its retry state, across a reopen', async (t) => {
  const path = await file();
  const a = openStore({ kind: 'sqlite', file: path });
  for (const [id, p] of [['a1', 'room-a'], ['b1', 'room-b'], ['a2', 'room-a'], ['a3', 'room-a'], ['b2', 'room-b']] as const) await a.outbox.append(entry(id, p));
  await a.outbox.update({ ...entry('a1', 'room-a'), attempts: 2, firstTryAt: 5000, nextTryAt: 15000 });
  await a.outbox.remove('room-b', 'b1');
  await a.close();

  const b = openStore({ kind: 'sqlite', file: path });
  t.teardown(() => b.close());
  t.equal(await b.outbox.size(), 4, 'four entries left');
  t.same(await b.outbox.partitions(), ['room-a', 'room-b'], 'partitions, oldest backlog first');
  t.match(await b.outbox.head('room-a'), { id: 'a1', attempts: 2, firstTryAt: 5000, nextTryAt: 15000 }, 'the head kept its retry state');
  await b.outbox.remove('room-a', 'a1');
  t.equal((await b.outbox.head('room-a'))?.id, 'a2', 'then the next in order');
  await b.outbox.remove('room-a', 'a2');
  t.equal((await b.outbox.head('room-a'))?.id, 'a3');
  t.equal((await b.outbox.head('room-b'))?.id, 'b2', 'the other room untouched');
});

t.test('tasks, members and presence survive a reopen; ended tasks are kept an hour', async (t) => {
  const path = await file();
  const a = openStore({ kind: 'sqlite', file: path });
  t.equal(await a.tasks.create(task('t1', { resume: '{"x":1}' })), true);
  t.equal(await a.tasks.create(task('t1')), false, 'a taskId is created once');
  await a.tasks.create(task('old', { state: 'ended', endedAt: Date.now() - 2 * 3600_000 }));
  await a.tasks.update('t1', { state: 'reconnecting' });
  await a.recordings.create({ taskId: 't1', sdkAppId: 1, roomId: 'r', roomIdType: 0, userId: 'rec', recordMode: 1, state: 'running', createdAt: 1 });
  await a.members.put({ sessionId: 's1', sdkAppId: 1, roomId: 'r', numericRoom: false, userId: 'u', role: 'anchor', source: 'rtmp' });
  await a.members.put({ sessionId: 's2', sdkAppId: 1, roomId: '7', numericRoom: true, userId: 'v', role: 'audience', source: 'record' });
  await a.members.put({ sessionId: 's1', sdkAppId: 1, roomId: 'r', numericRoom: false, userId: 'u', role: 'audience', source: 'rtmp' });
  await a.members.remove('s2');
  await a.presence.claim({ sdkAppId: 1, userId: 'u', roomId: 'r', sessionId: 's1', source: 'rtmp', since: 1 });
  await a.close();

  const b = openStore({ kind: 'sqlite', file: path });
  t.teardown(() => b.close());
  t.same((await b.tasks.list()).map((r) => [r.taskId, r.state, r.resume]), [['t1', 'reconnecting', '{"x":1}']], 'the running task, updated; the old ended one pruned');
  t.equal((await b.recordings.get('t1'))?.userId, 'rec', 'recordings are their own kind beside pull tasks of the same id');
  t.same(await b.members.all(), [{ sessionId: 's1', sdkAppId: 1, roomId: 'r', numericRoom: false, userId: 'u', role: 'audience', source: 'rtmp' }], 'the ledger');
  const previous = await b.presence.claim({ sdkAppId: 1, userId: 'u', roomId: 'r', sessionId: 's3', source: 'whip', since: 2 });
  t.equal(previous?.sessionId, 's1', 'presence names the previous run\'s session');
  t.equal(await b.presence.release(1, 'u', 's1'), false, 'an old session cannot release the new one');
  t.equal(await b.presence.release(1, 'u', 's3'), true);
});

t.test("store.kind 'memory' keeps none of it across a reopen of the same file", async (t) => {
  const path = await file();
  const a = openStore({ kind: 'memory', file: path });
  await a.outbox.append(entry('a1', 'room-a'));
  await a.tasks.create(task('t1'));
  await a.close();
  const b = openStore({ kind: 'memory', file: path });
  t.teardown(() => b.close());
  t.equal(await b.outbox.size(), 0);
  t.same(await b.tasks.list(), []);
  t.equal(b.kind, 'memory');
});
