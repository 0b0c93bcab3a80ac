// Room membership across a restart, through the member ledger of a real store file: a first RoomMembers writes its
// sessions, a second one (the restarted gateway) counts them again without a word, a session taken up again (a
// resumed pull task) stays without 103, and the rest leave with 104 Reason timeout and their rooms with 102. The
// event sink is a list the test reads; the store is the real SQLite one.

import t from 'tap';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RoomMembers } from '../../src/room/members.js';
import type { RoomRef } from '../../src/room/room-ref.js';
import type { RoomEvent } from '../../src/events/room-events.js';
import { openStore } from '../../src/store/open-store.js';
import { createLogger } from '../../src/log.js';

const APP = 1400000001;
const log = createLogger('silent', process.stderr);
const str = (roomId: string): RoomRef => ({ sdkAppId: APP, roomId, numericRoom: false });
const int = (roomId: string): RoomRef => ({ sdkAppId: APP, roomId, numericRoom: true });

function recorder() {
  const events: RoomEvent[] = [];
  const said = () =>
    events.splice(0).map((e) => {
      if (e.type === 'user-entered') return `103 ${e.userId}`;
      if (e.type === 'user-exited') return `104 ${e.userId} ${e.reason}`;
      if (e.type === 'room-created') return `101 ${e.roomId}`;
      if (e.type === 'room-dismissed') return `102 ${e.roomId}`;
      return e.type;
    });
  return { sink: { emit: (e: RoomEvent) => void events.push(e) }, said };
}

t.test('a restart counts the ledger again silently; what nobody takes up leaves with 104 timeout and 102', async (t) => {
  const file = join(await mkdtemp(join(tmpdir(), 'rg-members-')), 'roomgate.db');
  const first = openStore({ kind: 'sqlite', file });
  const before = recorder();
  const m1 = new RoomMembers(before.sink, () => true, { sessions: first.members, log });
  m1.join(str('a'), 'puller', 'task-session', 'anchor', 'pull');
  m1.join(str('a'), 'alice', 'rtmp-1', 'anchor', 'rtmp');
  m1.join(int('7'), 'bob', 'whip-1', 'anchor', 'whip');
  m1.join(int('7'), 'carol', 'whep-1', 'audience', 'whep');
  m1.leave(int('7'), 'carol', 'whep-1', 'normal');
  t.same(before.said(), ['101 a', '103 puller', '103 alice', '101 7', '103 bob', '103 carol', '104 carol normal']);
  await first.close(); // the process dies here: nobody left

  const second = openStore({ kind: 'sqlite', file });
  t.teardown(() => second.close());
  const after = recorder();
  const m2 = new RoomMembers(after.sink, () => true, { sessions: second.members, log });
  m2.restore(await second.members.all());
  t.ok(m2.occupied(str('a')) && m2.occupied(int('7')), 'the rooms are open again');
  t.notOk(m2.occupied(str('7')), 'integer room 7 is not string room "7"');
  m2.join(str('a'), 'puller', 'task-session', 'anchor', 'pull');
  t.same(after.said(), [], 'the resumed session takes its place again without 101/103');
  const gone = m2.expireRestored(new Set(['task-session']));
  t.same(gone.map((r) => r.userId), ['alice', 'bob']);
  t.same(after.said(), ['104 alice timeout', '104 bob timeout', '102 7'], 'the dead sessions leave with Reason 2; the emptied room closes after');
  t.ok(m2.occupied(str('a')), 'the room with the resumed task stays open');
  t.same((await second.members.all()).map((r) => r.sessionId), ['task-session'], 'the ledger holds the one session left');
  m2.expireRestored(new Set());
  t.same(after.said(), [], 'a second expiry finds nothing');
  m2.leave(str('a'), 'puller', 'task-session', 'normal');
  t.same(after.said(), ['104 puller normal', '102 a']);
  t.same(await second.members.all(), [], 'the ledger is empty');
});
