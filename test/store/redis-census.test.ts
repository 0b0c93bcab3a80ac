// The cluster's room census (src/store/redis-census.ts) against a real redis-server, driven as two nodes would drive
// it (two connections): a room's first join anywhere creates it, its last leave anywhere empties it, a userid's role
// spans its sessions on every node, and a session's leave is reported once however many nodes try.

import t from 'tap';
import { RedisCensus } from '../../src/store/redis-census.js';
import { RedisConnection } from '../../src/store/redis-connection.js';
import { startRedis } from '../helpers/redis-server.js';

const redis = await startRedis();
t.teardown(() => redis.close());
const a = new RedisConnection({ url: redis.url, prefix: 'census-test:' });
const b = new RedisConnection({ url: redis.url, prefix: 'census-test:' });
t.teardown(() => Promise.all([a.close(), b.close()]));
const onA = new RedisCensus(a);
const onB = new RedisCensus(b);

const room = { sdkAppId: 1400000001, roomId: 'r1', numericRoom: false };
const rec = (userId: string, sessionId: string, role: 'anchor' | 'audience', node: string) => ({ ...room, userId, sessionId, role, source: 'rtmp', node });

t.test('joins and leaves over two nodes', async (t) => {
  t.same(await onA.join(rec('bob', 's1', 'anchor', 'A')), { roomCreated: true, roleBefore: '', roleAfter: 'anchor' }, 'first join anywhere: 101, 103');
  t.same(await onB.join(rec('carol', 's2', 'anchor', 'B')), { roomCreated: false, roleBefore: '', roleAfter: 'anchor' }, 'on the other node: 103 only');
  t.same(await onB.join(rec('bob', 's3', 'audience', 'B')), { roomCreated: false, roleBefore: 'anchor', roleAfter: 'anchor' }, "bob's second session, elsewhere: nothing");
  t.same(await onA.leave({ ...room, userId: 'bob', sessionId: 's1', node: 'A' }),
    { left: true, role: 'anchor', roleBefore: 'anchor', roleAfter: 'audience', roomEmptied: false }, 'bob only watches now: 105');
  t.same((await onA.rooms()).find((r) => r.roomId === 'r1')?.users, { carol: 1, bob: 1 }, 'the room across both nodes');
  t.same((await onA.sessionsOf('B')).map((s) => s.sessionId).sort(), ['s2', 's3'], "node B's sessions");
  // node B died: both survivors try to end its sessions; each leave is reported once
  const tries = await Promise.all(['s2', 's3'].flatMap((sessionId) => [onA, onB].map((c) => {
    const userId = sessionId === 's2' ? 'carol' : 'bob';
    return c.leave({ ...room, userId, sessionId, node: 'B' }).then((r) => ({ sessionId, ...r }));
  })));
  t.equal(tries.filter((r) => r.left).length, 2, 'two leaves reported, not four');
  t.equal(tries.filter((r) => r.roomEmptied).length, 1, 'the room emptied once: one 102');
  t.same(await onA.rooms(), [], 'no room left');
  await onA.forgetNode('B');
  t.same(await onA.sessionsOf('B'), []);
});

t.test('integer room 7 and string room "7" are two rooms', async (t) => {
  const int = { sdkAppId: 1400000001, roomId: '7', numericRoom: true };
  const str = { sdkAppId: 1400000001, roomId: '7', numericRoom: false };
  t.equal((await onA.join({ ...int, userId: 'u', sessionId: 'i1', role: 'anchor', source: 'pull', node: 'A' })).roomCreated, true);
  t.equal((await onB.join({ ...str, userId: 'u', sessionId: 'x1', role: 'anchor', source: 'rtmp', node: 'B' })).roomCreated, true);
  t.equal((await onA.leave({ ...int, userId: 'u', sessionId: 'i1', node: 'A' })).roomEmptied, true);
  t.equal((await onB.leave({ ...str, userId: 'u', sessionId: 'x1', node: 'B' })).roomEmptied, true);
});

t.test('many joins at once from two nodes create the room once', async (t) => {
  const r = { sdkAppId: 1400000001, roomId: 'race', numericRoom: false };
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) =>
    (i % 2 ? onA : onB).join({ ...r, userId: `u${i}`, sessionId: `race${i}`, role: 'anchor', source: 'whip', node: i % 2 ? 'A' : 'B' })));
  t.equal(results.filter((x) => x.roomCreated).length, 1, 'one 101 of 40 concurrent joins');
  t.equal(results.filter((x) => x.roleBefore === '').length, 40, 'forty 103s');
});
