// The history in a real SQLite file (src/store/sqlite-history.ts) through its public interface: what is written comes
// back after the file is closed and opened again, sessions and rooms a stopped gateway left open are closed at the
// last moment they are known to have been in progress, retention prunes what ended before the window, and a file
// that is not a roomgate store (or is from a newer one) is refused with one line.

import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteFile } from '../../src/store/sqlite.js';
import { SqliteHistory } from '../../src/store/sqlite-history.js';
import type { MediaSample } from '../../src/store/history.js';

const APP = 1400000001;
const T = Date.UTC(2030, 0, 15, 9, 0, 0, 250);
const dir = mkdtempSync(join(tmpdir(), 'rg-history-'));

function open(file: string): { h: SqliteHistory; close: () => void } {
  const f = SqliteFile.open(file);
  return { h: new SqliteHistory(f), close: () => f.close() };
}

const call = (roomId: string, createdAt: number) => ({ sdkAppId: APP, roomId, createdSec: Math.floor(createdAt / 1000) });
const sample = (userId: string, at: number, width: number, loss: number | null): MediaSample => ({
  sdkAppId: APP, roomId: 'r1', userId, at,
  video: { codec: 'H264', width, height: (width * 9) / 16, fps: 25, bitrate: 800_000, loss },
  audio: { codec: 'AAC', bitrate: 64_000, loss },
});

t.test('written, closed, opened again: the same answers', async (t) => {
  const file = join(dir, 'kept.db');
  let { h, close } = open(file);
  await h.write({ kind: 'room-created', sdkAppId: APP, roomId: 'r1', at: T, userId: 'alice' });
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'r1', at: T, userId: 'alice', role: 'anchor', source: 'rtmp', address: '10.0.0.1' });
  await h.write({ kind: 'track', sdkAppId: APP, roomId: 'r1', at: T + 10, userId: 'alice', track: 'video', on: true });
  await h.sample(sample('alice', T + 1000, 640, null));
  await h.sample(sample('alice', T + 2000, 1280, null));
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'r1', at: T + 500, userId: 'bob', role: 'audience', source: 'whep', address: '10.0.0.2' });
  await h.write({ kind: 'user-exited', sdkAppId: APP, roomId: 'r1', at: T + 3000, userId: 'bob', reason: 'kicked' });
  await h.write({ kind: 'user-exited', sdkAppId: APP, roomId: 'r1', at: T + 4000, userId: 'alice', reason: 'normal' });
  await h.write({ kind: 'room-dismissed', sdkAppId: APP, roomId: 'r1', at: T + 4000 });
  // an exit of someone never in, and a track of nobody: ignored
  await h.write({ kind: 'user-exited', sdkAppId: APP, roomId: 'r1', at: T + 5000, userId: 'carol', reason: 'normal' });
  await h.write({ kind: 'track', sdkAppId: APP, roomId: 'nowhere', at: T + 5000, userId: 'carol', track: 'audio', on: true });

  const read = async () => ({
    rooms: await h.rooms({ sdkAppId: APP, from: T - 60_000, to: T + 60_000, offset: 0, limit: 10 }),
    call: await h.call(call('r1', T)),
    sessions: await h.sessions({ call: call('r1', T), from: T, to: T + 60_000, offset: 0, limit: 10 }),
    alice: await h.userEvents({ call: call('r1', T), userId: 'alice', from: T, to: T + 60_000 }),
    samples: await h.samples({ call: call('r1', T), userIds: ['alice', 'bob'], from: T, to: T + 60_000 }),
  });
  const before = await read();
  t.same(before.rooms, { total: 1, items: [{ sdkAppId: APP, roomId: 'r1', createdAt: T, destroyedAt: T + 4000, creator: 'alice' }] });
  t.same(before.call, { createdAt: T, destroyedAt: T + 4000 });
  t.same(before.sessions.items.map((s) => [s.userId, s.source, s.role, s.address, s.joinedAt, s.leftAt, s.exitReason]), [
    ['alice', 'rtmp', 'anchor', '10.0.0.1', T, T + 4000, 'normal'],
    ['bob', 'whep', 'audience', '10.0.0.2', T + 500, T + 3000, 'kicked'],
  ]);
  t.same(before.alice.map((e) => [e.at, e.kind, e.reason, e.width, e.height]), [
    [T, 'entered', null, null, null],
    [T + 10, 'video-on', null, null, null],
    [T + 2000, 'resolution', null, 1280, 720],
    [T + 4000, 'exited', 'normal', null, null],
  ], 'events in time order; a new picture size is an event');
  t.same(before.samples.map((s) => [s.userId, s.at, s.video?.width, s.audio?.bitrate, s.source]), [
    ['alice', T + 1000, 640, 64000, 'rtmp'],
    ['alice', T + 2000, 1280, 64000, 'rtmp'],
  ]);
  close();
  ({ h, close } = open(file));
  t.same(await read(), before, 'the same after the file is opened again');
  close();
});

t.test('rows a stopped gateway left open are closed at the last moment known', async (t) => {
  const file = join(dir, 'dangling.db');
  let { h, close } = open(file);
  await h.write({ kind: 'room-created', sdkAppId: APP, roomId: 'r1', at: T, userId: 'alice' });
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'r1', at: T, userId: 'alice', role: 'anchor', source: 'rtmp', address: '' });
  await h.sample(sample('alice', T + 7000, 640, null));
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'r1', at: T + 1000, userId: 'bob', role: 'anchor', source: 'whip', address: '' });
  await h.write({ kind: 'track', sdkAppId: APP, roomId: 'r1', at: T + 9000, userId: 'bob', track: 'audio', on: false });
  close(); // as if the process were killed: no exits, no dismissal
  ({ h, close } = open(file));
  const s = await h.sessions({ call: call('r1', T), from: T, to: T + 60_000, offset: 0, limit: 10 });
  t.same(s.items.map((x) => [x.userId, x.leftAt, x.exitReason]), [['alice', T + 7000, null], ['bob', T + 9000, null]],
    'a session at its last sample or event, with no exit reason');
  t.same(await h.call(call('r1', T)), { createdAt: T, destroyedAt: T + 9000 }, 'the room at its last session');
  // the room can live again: a new life, a new call
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'r1', at: T + 60_000, userId: 'carol', role: 'anchor', source: 'pull', address: '' });
  const rooms = await h.rooms({ sdkAppId: APP, from: T, to: T + 120_000, offset: 0, limit: 10 });
  t.same(rooms.items.map((r) => [r.createdAt, r.destroyedAt, r.creator]), [[T, T + 9000, 'alice'], [T + 60_000, null, 'carol']],
    'an entry into a room with no open life creates one, its user the creator');
  close();
});

t.test('retention: prune forgets what ended before the window, keeps what goes on', async (t) => {
  const { h, close } = open(join(dir, 'prune.db'));
  const DAY = 86_400_000;
  const old = T - 20 * DAY;
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'old', at: old, userId: 'a', role: 'anchor', source: 'rtmp', address: '' });
  await h.write({ kind: 'user-exited', sdkAppId: APP, roomId: 'old', at: old + 1000, userId: 'a', reason: 'normal' });
  await h.write({ kind: 'room-dismissed', sdkAppId: APP, roomId: 'old', at: old + 1000 });
  // a long session: it started before the window and is still on
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'long', at: old, userId: 'b', role: 'anchor', source: 'rtmp', address: '' });
  await h.write({ kind: 'track', sdkAppId: APP, roomId: 'long', at: old + 10, userId: 'b', track: 'video', on: true });
  await h.write({ kind: 'track', sdkAppId: APP, roomId: 'long', at: T, userId: 'b', track: 'video', on: false });
  await h.prune(T - 14 * DAY);
  const all = await h.rooms({ sdkAppId: APP, from: 0, to: T + DAY, offset: 0, limit: 10 });
  t.same(all.items.map((r) => r.roomId), ['long'], 'the room that ended before the window is gone');
  const events = await h.userEvents({ call: call('long', old), userId: 'b', from: 0, to: T + DAY });
  t.same(events.map((e) => e.kind), ['video-off'], 'the long session stays, its events from before the window do not');
  t.same((await h.sessions({ call: call('old', old), from: 0, to: T + DAY, offset: 0, limit: 10 })).total, 0);
  close();
});

t.test('a day\'s scale: distinct (room, user) pairs, entries, rooms', async (t) => {
  const { h, close } = open(join(dir, 'scale.db'));
  const day = Date.UTC(2030, 0, 15);
  const enter = (roomId: string, userId: string, at: number) =>
    h.write({ kind: 'user-entered', sdkAppId: APP, roomId, at, userId, role: 'anchor', source: 'rtmp', address: '' });
  const exit = (roomId: string, userId: string, at: number) => h.write({ kind: 'user-exited', sdkAppId: APP, roomId, at, userId, reason: 'normal' });
  await enter('r1', 'a', day + 1000);
  await exit('r1', 'a', day + 2000);
  await enter('r1', 'a', day + 3000); // back in the same room: one user, two entries
  await exit('r1', 'a', day + 4000);
  await h.write({ kind: 'room-dismissed', sdkAppId: APP, roomId: 'r1', at: day + 4000 });
  await enter('r2', 'a', day + 5000); // another room: another pair
  await enter('r2', 'b', day + 86_400_000 - 1000); // across midnight: both days
  await exit('r2', 'b', day + 86_400_000 + 1000);
  await h.write({ kind: 'room-dismissed', sdkAppId: APP, roomId: 'r2', at: day + 86_400_000 + 1000 });
  t.same(await h.scale({ sdkAppId: APP, from: day, to: day + 2 * 86_400_000 }), [
    { day, users: 3, entries: 4, rooms: 2 },
    { day: day + 86_400_000, users: 2, entries: 2, rooms: 1 },
  ]);
  close();
});

t.test('a file that is not a roomgate store, or from a newer one, is refused with the file named', async (t) => {
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'not a database, just some text that is long enough to look like a header'.repeat(20));
  t.throws(() => SqliteFile.open(text), { name: 'StoreUnavailableError' });
  t.throws(() => SqliteFile.open(text), { message: /the store file .*notes\.txt cannot be used \(file is not a database\); set store\.file/ });

  const newer = join(dir, 'newer.db');
  open(newer).close();
  const db = new Database(newer);
  t.same(db.prepare('SELECT module, version FROM schema_versions').all(), [{ module: 'history', version: 1 }], 'the history\'s version is kept');
  db.prepare("UPDATE schema_versions SET version = 9 WHERE module = 'history'").run();
  db.close();
  const f = SqliteFile.open(newer);
  t.throws(() => new SqliteHistory(f), { message: /its history tables are at version 9, newer than this roomgate's 1/ });
  f.close();

  t.throws(() => SqliteFile.open(join(text, 'sub', 'x.db')), { name: 'StoreUnavailableError' }, 'a directory that cannot be made (under a file)');
});
