// store.kind 'redis' against a real redis-server (AOF on): the contract the other kinds keep (presence claims that
// return what they replaced, tasks with ended ones remembered, the member ledger, the outbox in order per partition),
// what only a shared store needs (two nodes claiming at once, partition leases that exclude and expire), a store
// call failing at once with a clear sentence while Redis is down, and a Redis restart losing nothing.

import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { openStore } from '../../src/store/open-store.js';
import { StoreUnreachableError } from '../../src/store/redis-connection.js';
import type { PresenceRecord, Store } from '../../src/store/store.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { entry, task } from '../helpers/store-records.js';

let redis: TestRedis;
let dir: string;
let prefixes = 0;

t.before(async () => {
  redis = await startRedis();
  dir = await mkdtemp(join(tmpdir(), 'rg-redis-store-'));
});
t.teardown(async () => {
  await redis.close();
  await rm(dir, { recursive: true, force: true });
});

/** A node's store; `prefix` shared by the nodes of one test, apart from every other test's. */
function node(t: Test, prefix: string): Store {
  const store = openStore({ kind: 'redis', file: join(dir, `${prefix}-${++prefixes}.db`), redisUrl: redis.url, redisPrefix: `${prefix}:` });
  t.teardown(() => store.close());
  return store;
}

function presence(sessionId: string, node: string): PresenceRecord {
  return { sdkAppId: 1400000001, userId: 'alice', roomId: 'r1', sessionId, source: 'rtmp', since: 1000, node };
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

t.test('presence: a claim returns the record it replaced, a release needs the current session', async (t) => {
  const a = node(t, 'presence');
  const b = node(t, 'presence');
  t.equal(await a.presence.claim(presence('s1', 'node-a')), undefined, 'the first claim replaces nothing');
  t.same(await b.presence.claim(presence('s2', 'node-b')), presence('s1', 'node-a'), "node b's claim returns node a's record, node and all");
  t.equal(await a.presence.release(1400000001, 'alice', 's1'), false, 'the replaced session cannot release it');
  t.same(await a.presence.get(1400000001, 'alice'), presence('s2', 'node-b'));
  t.equal(await b.presence.release(1400000001, 'alice', 's2'), true);
  t.equal(await a.presence.get(1400000001, 'alice'), undefined, 'gone');
  t.equal(await a.presence.release(1400000001, 'alice', 's2'), false, 'nothing to release twice');
});

t.test('presence: two nodes claiming the same user at once, one of them learns about the other', async (t) => {
  const a = node(t, 'race');
  const b = node(t, 'race');
  for (let i = 0; i < 20; i++) {
    const [ra, rb] = await Promise.all([a.presence.claim(presence(`a${i}`, 'node-a')), b.presence.claim(presence(`b${i}`, 'node-b'))]);
    const previous = i === 0 ? [] : [`a${i - 1}`, `b${i - 1}`];
    const seen = [ra?.sessionId, rb?.sessionId];
    // one claim ran first and replaced the previous round's winner; the second replaced the first
    t.ok(seen.includes(`a${i}`) || seen.includes(`b${i}`), `round ${i}: one claim returned the other's record (${seen.join(', ')})`);
    if (i > 0) t.ok(seen.some((s) => previous.includes(s!)), `round ${i}: the other returned the previous owner`);
  }
});

t.test('tasks: create once, patch, list in order, ended ones kept for an hour then forgotten', async (t) => {
  const a = node(t, 'tasks');
  const b = node(t, 'tasks');
  t.equal(await a.tasks.create(task('t1', { createdAt: 10 })), true);
  t.equal(await b.tasks.create(task('t1', { createdAt: 10, streamUrl: 'http://other/' })), false, 'the same id again is refused, from any node');
  await a.tasks.create(task('t2', { createdAt: 20, resume: '{"x":1}' }));
  await b.tasks.update('t1', { state: 'paused' });
  t.same(await a.tasks.get('t1'), task('t1', { createdAt: 10, state: 'paused' }), 'the patch is seen from the other node');
  await a.tasks.update('nope', { state: 'running' });
  t.equal(await a.tasks.get('nope'), undefined, 'an update does not create a task');
  t.same((await b.tasks.list()).map((r) => r.taskId), ['t1', 't2'], 'listed in creation order');
  t.equal((await a.tasks.list())[1]!.resume, '{"x":1}', 'opaque resume data kept');

  await a.tasks.update('t1', { state: 'ended', endedAt: 30, endReason: 'stopped' });
  const raw = new Redis(redis.url);
  t.teardown(() => raw.quit());
  const ttl = await raw.pttl('tasks:task:pull:t1');
  t.ok(ttl > 3_590_000 && ttl <= 3_600_000, `the ended task expires in an hour (${ttl} ms)`);
  t.match(await b.tasks.get('t1'), { state: 'ended', endReason: 'stopped' }, 'ended, still answered');
  t.equal(await raw.pttl('tasks:task:pull:t2'), -1, 'a running task never expires');

  // the hour passes for t1
  await raw.pexpire('tasks:task:pull:t1', 1);
  await until('t1 expired', async () => (await raw.exists('tasks:task:pull:t1')) === 0);
  t.same((await a.tasks.list()).map((r) => r.taskId), ['t2'], 'an expired task is no longer listed');
  t.same(await raw.zrange('tasks:tasks:pull', 0, -1), ['t2'], 'and its id is gone from the order');

  t.equal(await a.recordings.create({ taskId: 't1', sdkAppId: 1, roomId: 'r', roomIdType: 1, userId: 'rec', recordMode: 1, state: 'running', createdAt: 5 }), true, 'recordings are apart from pull tasks');
  t.equal(await a.relays.create({ taskId: 't1', sdkAppId: 1, roomId: 'r', roomIdType: 1, userId: 'agent', relayedUserId: 'u', urls: 1, state: 'running', createdAt: 5 }), true, 'and relays from both');
});

t.test('members: sessions of every node, with the node named', async (t) => {
  const a = node(t, 'members');
  const b = node(t, 'members');
  const m = (sessionId: string, n: string, role: 'anchor' | 'audience' = 'anchor') =>
    ({ sessionId, sdkAppId: 1, roomId: 'r', numericRoom: false, userId: sessionId, role, source: 'rtmp', node: n });
  await a.members.put(m('s1', 'node-a'));
  await b.members.put(m('s2', 'node-b'));
  await b.members.put(m('s2', 'node-b', 'audience'));
  const all = (await a.members.all()).sort((x, y) => x.sessionId.localeCompare(y.sessionId));
  t.same(all, [m('s1', 'node-a'), m('s2', 'node-b', 'audience')], 'both nodes, the role updated');
  await a.members.remove('s2');
  t.same(await b.members.all(), [m('s1', 'node-a')]);
});

t.test('outbox: two nodes appending, one order per partition, retry state kept, nothing brought back', async (t) => {
  const a = node(t, 'outbox');
  const b = node(t, 'outbox');
  await a.outbox.append(entry('a1', 'room-a'));
  await b.outbox.append(entry('b1', 'room-b'));
  await b.outbox.append(entry('a2', 'room-a'));
  await a.outbox.append(entry('a3', 'room-a'));
  await a.outbox.append(entry('b2', 'room-b'));
  t.equal(await b.outbox.size(), 5);
  t.same(await b.outbox.partitions(), ['room-a', 'room-b'], 'partitions, oldest backlog first');
  await b.outbox.update({ ...entry('a1', 'room-a'), attempts: 2, firstTryAt: 5000, nextTryAt: 15000 });
  t.match(await a.outbox.head('room-a'), { id: 'a1', attempts: 2, firstTryAt: 5000, nextTryAt: 15000 }, 'the head with its retry state');
  await a.outbox.remove('room-a', 'a1');
  await b.outbox.update({ ...entry('a1', 'room-a'), attempts: 3 });
  t.equal((await a.outbox.head('room-a'))?.id, 'a2', 'a late update of a removed entry does not bring it back');
  t.equal(await a.outbox.size(), 4);
  await a.outbox.remove('room-a', 'a2');
  await a.outbox.remove('room-a', 'a3');
  t.same(await a.outbox.partitions(), ['room-b'], 'an emptied partition is no longer listed');
  t.equal(await a.outbox.head('room-a'), undefined);
  await b.outbox.append(entry('a4', 'room-a'));
  t.same(await a.outbox.partitions(), ['room-b', 'room-a'], 'it comes back behind the older backlog');
  t.equal((await a.outbox.head('room-b'))?.id, 'b1', 'room-b untouched');
});

t.test('outbox: a partition lease is held by one node at a time, renewed by its holder, and expires', async (t) => {
  const a = node(t, 'lease');
  const b = node(t, 'lease');
  t.equal(a.outbox.shared, true, 'a shared outbox');
  t.equal(await a.outbox.claimPartition('room-a', 60_000), true, 'node a takes room-a');
  t.equal(await b.outbox.claimPartition('room-a', 60_000), false, 'node b cannot');
  t.equal(await b.outbox.claimPartition('room-b', 60_000), true, 'other rooms are free');
  t.equal(await a.outbox.claimPartition('room-a', 60_000), true, 'its holder renews it');
  await b.outbox.releasePartition('room-a');
  t.equal(await b.outbox.claimPartition('room-a', 60_000), false, 'a release by another node does nothing');
  await a.outbox.releasePartition('room-a');
  t.equal(await b.outbox.claimPartition('room-a', 300), true, 'released: node b takes it, for 300 ms');
  t.equal(await a.outbox.claimPartition('room-a', 60_000), false, 'node a waits');
  // node b stops renewing (it died): the lease runs out and node a may take the partition
  await until('the lease expired', () => a.outbox.claimPartition('room-a', 60_000));
  t.equal(await b.outbox.claimPartition('room-a', 60_000), false, 'and node b has lost it');
});

t.test('Redis down: calls fail at once with a sentence naming it; a restart with AOF loses nothing', async (t) => {
  const a = node(t, 'restart');
  await a.presence.claim(presence('s1', 'node-a'));
  await a.tasks.create(task('t1', { createdAt: 1 }));
  await a.members.put({ sessionId: 's1', sdkAppId: 1, roomId: 'r', numericRoom: false, userId: 'alice', role: 'anchor', source: 'rtmp', node: 'node-a' });
  for (const id of ['a1', 'a2', 'a3']) await a.outbox.append(entry(id, 'room-a'));
  await a.outbox.update({ ...entry('a1', 'room-a'), attempts: 1, firstTryAt: 2000 });
  t.equal(a.problem?.(), undefined, 'no problem while Redis answers');

  await redis.stop();
  await until('the store noticed', async () => a.problem?.() !== undefined);
  t.match(a.problem?.(), `store: redis unreachable at redis://127.0.0.1:${redis.port}`, 'problem() names the Redis');
  const err = await a.outbox.append(entry('a4', 'room-a')).catch((e: unknown) => e);
  t.type(err, StoreUnreachableError, 'an append fails');
  t.match((err as Error).message, `store: redis unreachable at redis://127.0.0.1:${redis.port}`, 'with the sentence');
  await t.rejects(a.presence.claim(presence('s2', 'node-a')), StoreUnreachableError, 'a presence claim fails too');

  await redis.start();
  await until('the store reconnected', async () => a.problem?.() === undefined);
  t.same(await a.presence.get(1400000001, 'alice'), presence('s1', 'node-a'), 'presence kept');
  t.match(await a.tasks.get('t1'), { taskId: 't1', state: 'running' }, 'task kept');
  t.equal((await a.members.all()).length, 1, 'member kept');
  t.equal(await a.outbox.size(), 3, 'the outbox kept its three entries, not the refused one');
  t.match(await a.outbox.head('room-a'), { id: 'a1', attempts: 1, firstTryAt: 2000 }, 'in order, with the retry state');
  t.equal(await a.outbox.claimPartition('room-a', 1000), true, 'leases work again (scripts loaded again after the restart)');
});
