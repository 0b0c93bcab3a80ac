// The history through its public interface, as one contract kept by both kinds: a real SQLite file
// (src/store/sqlite-history.ts) and a real redis-server (src/store/redis-history.ts). What is written comes back
// after the file or the connection is closed and opened again, retention prunes what ended before the window, a day's
// scale counts right, and integer and string rooms of one name stay apart. SQLite alone: sessions and rooms a stopped
// gateway left open are closed at the last moment they are known to have been in progress, and a file that is not a
// roomgate store (or is from a newer one) is refused with one line. Redis alone: two nodes writing one room's entries,
// in an order the census allows, both answer the same.

import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { SqliteFile } from '../../src/store/sqlite.js';
import { HISTORY_MIGRATIONS, SqliteHistory } from '../../src/store/sqlite-history.js';
import type { HistoryStore, MediaSample } from '../../src/store/history.js';
import { RedisConnection } from '../../src/store/redis-connection.js';
import { RedisHistory } from '../../src/store/redis-history.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

const APP = 1400000001;
const T = Date.UTC(2030, 0, 15, 9, 0, 0, 250);
const dir = mkdtempSync(join(tmpdir(), 'rg-history-'));

function open(file: string): { h: SqliteHistory; close: () => void } {
  const f = SqliteFile.open(file);
  return { h: new SqliteHistory(f), close: () => f.close() };
}

let redis: TestRedis;
t.before(async () => {
  redis = await startRedis();
});
t.teardown(() => redis.close());

/** A Redis history on its own connection: `name` picks the key prefix, so each test has its own history. */
function openRedis(name: string): { h: RedisHistory; close: () => Promise<void> } {
  const c = new RedisConnection({ url: redis.url, prefix: `hist-${name}:` });
  return { h: new RedisHistory(c, 14), close: () => c.close() };
}

/** Both kinds, each opened by a name (a file in the test's directory, or a Redis key prefix). */
const kinds: Array<{ kind: string; open(name: string): { h: HistoryStore; close: () => unknown } }> = [
  { kind: 'sqlite', open: (name) => open(join(dir, `${name}.db`)) },
  { kind: 'redis', open: (name) => openRedis(name) },
];

/** Runs a contract case against each kind. */
function contract(name: string, fn: (t: Test, open: (name: string) => { h: HistoryStore; close: () => unknown }) => Promise<void>): void {
  for (const k of kinds) t.test(`${k.kind}: ${name}`, (t) => fn(t, k.open));
}

const call = (roomId: string, createdAt: number, numericRoom = false) => ({ sdkAppId: APP, roomId, numericRoom, createdSec: Math.floor(createdAt / 1000) });
const sample = (userId: string, at: number, width: number, loss: number | null): MediaSample => ({
  sdkAppId: APP, roomId: 'r1', numericRoom: false, userId, at,
  video: { codec: 'H264', width, height: (width * 9) / 16, fps: 25, bitrate: 800_000, loss },
  audio: { codec: 'AAC', bitrate: 64_000, loss },
});

contract('written, closed, opened again: the same answers', async (t, open) => {
  let { h, close } = open('kept');
  await h.write({ kind: 'room-created', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T, userId: 'alice' });
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T, userId: 'alice', role: 'anchor', source: 'rtmp', address: '10.0.0.1' });
  await h.write({ kind: 'track', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T + 10, userId: 'alice', track: 'video', on: true });
  await h.sample(sample('alice', T + 1000, 640, null));
  await h.sample(sample('alice', T + 2000, 1280, null));
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T + 500, userId: 'bob', role: 'audience', source: 'whep', address: '10.0.0.2' });
  await h.write({ kind: 'user-exited', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T + 3000, userId: 'bob', reason: 'kicked' });
  await h.write({ kind: 'user-exited', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T + 4000, userId: 'alice', reason: 'normal' });
  await h.write({ kind: 'room-dismissed', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T + 4000 });
  // an exit of someone never in, and a track of nobody: ignored
  await h.write({ kind: 'user-exited', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T + 5000, userId: 'carol', reason: 'normal' });
  await h.write({ kind: 'track', sdkAppId: APP, roomId: 'nowhere', numericRoom: false, at: T + 5000, userId: 'carol', track: 'audio', on: true });

  const read = async () => ({
    rooms: await h.rooms({ sdkAppId: APP, from: T - 60_000, to: T + 60_000, offset: 0, limit: 10 }),
    call: await h.call(call('r1', T)),
    sessions: await h.sessions({ call: call('r1', T), from: T, to: T + 60_000, offset: 0, limit: 10 }),
    alice: await h.userEvents({ call: call('r1', T), userId: 'alice', from: T, to: T + 60_000 }),
    samples: await h.samples({ call: call('r1', T), userIds: ['alice', 'bob'], from: T, to: T + 60_000 }),
  });
  const before = await read();
  t.same(before.rooms, { total: 1, items: [{ sdkAppId: APP, roomId: 'r1', numericRoom: false, createdAt: T, destroyedAt: T + 4000, creator: 'alice' }] });
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
  await close();
  ({ h, close } = open('kept'));
  t.same(await read(), before, 'the same after the file is opened again');
  await close();
});

t.test('rows a stopped gateway left open are closed at the last moment known', async (t) => {
  const file = join(dir, 'dangling.db');
  let { h, close } = open(file);
  await h.write({ kind: 'room-created', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T, userId: 'alice' });
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T, userId: 'alice', role: 'anchor', source: 'rtmp', address: '' });
  await h.sample(sample('alice', T + 7000, 640, null));
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T + 1000, userId: 'bob', role: 'anchor', source: 'whip', address: '' });
  await h.write({ kind: 'track', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T + 9000, userId: 'bob', track: 'audio', on: false });
  close(); // as if the process were killed: no exits, no dismissal
  ({ h, close } = open(file));
  const s = await h.sessions({ call: call('r1', T), from: T, to: T + 60_000, offset: 0, limit: 10 });
  t.same(s.items.map((x) => [x.userId, x.leftAt, x.exitReason]), [['alice', T + 7000, null], ['bob', T + 9000, null]],
    'a session at its last sample or event, with no exit reason');
  t.same(await h.call(call('r1', T)), { createdAt: T, destroyedAt: T + 9000 }, 'the room at its last session');
  // the room can live again: a new life, a new call
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: T + 60_000, userId: 'carol', role: 'anchor', source: 'pull', address: '' });
  const rooms = await h.rooms({ sdkAppId: APP, from: T, to: T + 120_000, offset: 0, limit: 10 });
  t.same(rooms.items.map((r) => [r.createdAt, r.destroyedAt, r.creator]), [[T, T + 9000, 'alice'], [T + 60_000, null, 'carol']],
    'an entry into a room with no open life creates one, its user the creator');
  close();
});

contract('retention: prune forgets what ended before the window, keeps what goes on', async (t, open) => {
  const { h, close } = open('prune');
  const DAY = 86_400_000;
  const old = T - 20 * DAY;
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'old', numericRoom: false, at: old, userId: 'a', role: 'anchor', source: 'rtmp', address: '' });
  await h.write({ kind: 'user-exited', sdkAppId: APP, roomId: 'old', numericRoom: false, at: old + 1000, userId: 'a', reason: 'normal' });
  await h.write({ kind: 'room-dismissed', sdkAppId: APP, roomId: 'old', numericRoom: false, at: old + 1000 });
  // a long session: it started before the window and is still on
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: 'long', numericRoom: false, at: old, userId: 'b', role: 'anchor', source: 'rtmp', address: '' });
  await h.write({ kind: 'track', sdkAppId: APP, roomId: 'long', numericRoom: false, at: old + 10, userId: 'b', track: 'video', on: true });
  await h.write({ kind: 'track', sdkAppId: APP, roomId: 'long', numericRoom: false, at: T, userId: 'b', track: 'video', on: false });
  await h.prune(T - 14 * DAY);
  const all = await h.rooms({ sdkAppId: APP, from: 0, to: T + DAY, offset: 0, limit: 10 });
  t.same(all.items.map((r) => r.roomId), ['long'], 'the room that ended before the window is gone');
  const events = await h.userEvents({ call: call('long', old), userId: 'b', from: 0, to: T + DAY });
  t.same(events.map((e) => e.kind), ['video-off'], 'the long session stays, its events from before the window do not');
  t.same((await h.sessions({ call: call('old', old), from: 0, to: T + DAY, offset: 0, limit: 10 })).total, 0);
  await close();
});

contract('a day\'s scale: distinct (room, user) pairs, entries, rooms', async (t, open) => {
  const { h, close } = open('scale');
  const day = Date.UTC(2030, 0, 15);
  const enter = (roomId: string, userId: string, at: number, numericRoom = false) =>
    h.write({ kind: 'user-entered', sdkAppId: APP, roomId, numericRoom, at, userId, role: 'anchor', source: 'rtmp', address: '' });
  const exit = (roomId: string, userId: string, at: number, numericRoom = false) =>
    h.write({ kind: 'user-exited', sdkAppId: APP, roomId, numericRoom, at, userId, reason: 'normal' });
  await enter('r1', 'a', day + 1000);
  await exit('r1', 'a', day + 2000);
  await enter('r1', 'a', day + 3000); // back in the same room: one user, two entries
  await exit('r1', 'a', day + 4000);
  await h.write({ kind: 'room-dismissed', sdkAppId: APP, roomId: 'r1', numericRoom: false, at: day + 4000 });
  await enter('r2', 'a', day + 5000); // another room: another pair
  await enter('r2', 'b', day + 86_400_000 - 1000); // across midnight: both days
  await exit('r2', 'b', day + 86_400_000 + 1000);
  await h.write({ kind: 'room-dismissed', sdkAppId: APP, roomId: 'r2', numericRoom: false, at: day + 86_400_000 + 1000 });
  // integer room 7 and string room "7": two rooms, and the same user in each is two pairs
  await enter('7', 'a', day + 6000, true);
  await exit('7', 'a', day + 7000, true);
  await enter('7', 'a', day + 6000, false);
  await exit('7', 'a', day + 7000, false);
  for (const numericRoom of [true, false]) await h.write({ kind: 'room-dismissed', sdkAppId: APP, roomId: '7', numericRoom, at: day + 7000 });
  t.same(await h.scale({ sdkAppId: APP, from: day, to: day + 2 * 86_400_000 }), [
    { day, users: 5, entries: 6, rooms: 4 },
    { day: day + 86_400_000, users: 2, entries: 2, rooms: 1 },
  ]);
  await close();
});

t.test('a file that is not a roomgate store, or from a newer one, is refused with the file named', async (t) => {
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'not a database, just some text that is long enough to look like a header'.repeat(20));
  t.throws(() => SqliteFile.open(text), { name: 'StoreUnavailableError' });
  t.throws(() => SqliteFile.open(text), { message: /the store file .*notes\.txt cannot be used \(file is not a database\); set store\.file/ });

  const newer = join(dir, 'newer.db');
  open(newer).close();
  const db = new Database(newer);
  t.same(db.prepare('SELECT module, version FROM schema_versions').all(), [{ module: 'history', version: 2 }], 'the history\'s version is kept');
  db.prepare("UPDATE schema_versions SET version = 9 WHERE module = 'history'").run();
  db.close();
  const f = SqliteFile.open(newer);
  t.throws(() => new SqliteHistory(f), { message: /its history tables are at version 9, newer than this roomgate's 2/ });
  f.close();

  t.throws(() => SqliteFile.open(join(text, 'sub', 'x.db')), { name: 'StoreUnavailableError' }, 'a directory that cannot be made (under a file)');
});

contract('integer room 123 and string room "123": two rooms, each with its own users, events and samples', async (t, open) => {
  const { h, close } = open('types');
  const room = (numericRoom: boolean) => ({ sdkAppId: APP, roomId: '123', numericRoom });
  for (const numericRoom of [true, false]) {
    const user = numericRoom ? 'int_user' : 'str_user';
    await h.write({ ...room(numericRoom), kind: 'room-created', at: T, userId: user });
    await h.write({ ...room(numericRoom), kind: 'user-entered', at: T, userId: user, role: 'anchor', source: numericRoom ? 'pull' : 'rtmp', address: '' });
    // the same userid in both rooms: each session is its room's
    await h.write({ ...room(numericRoom), kind: 'user-entered', at: T + 100, userId: 'both', role: 'audience', source: 'record', address: '' });
  }
  await h.write({ ...room(true), kind: 'track', at: T + 200, userId: 'both', track: 'audio', on: true });
  await h.sample({ ...room(false), at: T + 1000, userId: 'str_user', video: null, audio: { codec: 'AAC', bitrate: 1, loss: null } });
  await h.write({ ...room(false), kind: 'user-exited', at: T + 2000, userId: 'both', reason: 'kicked' });
  await h.write({ ...room(true), kind: 'room-dismissed', at: T + 3000 });

  const rooms = await h.rooms({ sdkAppId: APP, roomId: '123', from: T, to: T + 60_000, offset: 0, limit: 10 });
  t.same(rooms.items.map((r) => [r.numericRoom, r.creator, r.destroyedAt]), [[true, 'int_user', T + 3000], [false, 'str_user', null]],
    'RoomId "123" lists both rooms, each with its creator; dismissing the integer room leaves the string room open');
  for (const numericRoom of [true, false]) {
    const c = call('123', T, numericRoom);
    const sessions = await h.sessions({ call: c, from: T, to: T + 60_000, offset: 0, limit: 10 });
    t.same(sessions.items.map((s) => [s.userId, s.source, s.leftAt, s.exitReason]), numericRoom
      ? [['int_user', 'pull', T + 3000, null], ['both', 'record', T + 3000, null]]
      : [['str_user', 'rtmp', null, null], ['both', 'record', T + 2000, 'kicked']], `${numericRoom ? 'integer' : 'string'} room: its own sessions`);
    const both = await h.userEvents({ call: c, userId: 'both', from: T, to: T + 60_000 });
    t.same(both.map((e) => e.kind), numericRoom ? ['entered', 'audio-on'] : ['entered', 'exited'], `${numericRoom ? 'integer' : 'string'} room: its own events of the shared userid`);
    const samples = await h.samples({ call: c, userIds: ['str_user', 'int_user'], from: T, to: T + 60_000 });
    t.same(samples.map((s) => [s.userId, s.numericRoom]), numericRoom ? [] : [['str_user', false]], 'samples stay with their room');
  }
  await close();
});

t.test('a version-1 file (rooms keyed by name only) is upgraded in place and stays readable', async (t) => {
  const file = join(dir, 'v1.db');
  const f = SqliteFile.open(file);
  f.migrate('history', HISTORY_MIGRATIONS.slice(0, 1));
  const room = f.db.prepare('INSERT INTO history_rooms (sdk_app_id, room_id, created_at, destroyed_at, creator) VALUES (?, ?, ?, ?, ?)');
  const session = f.db.prepare('INSERT INTO history_sessions (room, user_id, source, role, address, joined_at, left_at, exit_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const rows: [string, string][] = [['named', 'rtmp'], ['0042', 'pull'], ['55', 'whip'], ['66', 'pull']];
  rows.forEach(([roomId, source], i) => {
    const id = Number(room.run(APP, roomId, T + i, T + 5000, 'u').lastInsertRowid);
    session.run(id, 'u', source, 'anchor', '', T + i, T + 5000, 'normal');
  });
  f.close();

  const { h, close } = open(file);
  const listed = await h.rooms({ sdkAppId: APP, from: T, to: T + 60_000, offset: 0, limit: 10 });
  t.same(listed.items.map((r) => [r.roomId, r.numericRoom]), [['named', false], ['0042', false], ['55', false], ['66', null]],
    'a name no integer has, or a room an RTMP/WHIP/WHEP user was in, was a string room; digits entered by API tasks only: unknown');
  const users = async (roomId: string, createdAt: number, numericRoom: boolean) =>
    (await h.sessions({ call: call(roomId, createdAt, numericRoom), from: T, to: T + 60_000, offset: 0, limit: 10 })).items.map((s) => s.source);
  t.same(await users('55', T + 2, false), ['whip'], 'the string room answers as one');
  t.same(await users('55', T + 2, true), [], 'and not as an integer room');
  t.same(await users('66', T + 3, true), ['pull'], 'a room of unknown type answers as an integer room (its CommId unquoted)');
  t.same(await users('66', T + 3, false), [], 'not as the string room');
  // new writes after the upgrade keep the type
  await h.write({ kind: 'user-entered', sdkAppId: APP, roomId: '66', numericRoom: true, at: T + 10_000, userId: 'v', role: 'anchor', source: 'pull', address: '' });
  t.same(await users('66', T + 10_000, true), ['pull']);
  const db = new Database(file);
  t.same(db.prepare('SELECT version FROM schema_versions WHERE module = ?').get('history'), { version: 2 });
  db.close();
  close();
});

t.test('redis: two nodes write one room (created on one, a user and the dismissal on the other); both answer the same', async (t) => {
  const a = openRedis('two-nodes');
  const b = openRedis('two-nodes');
  const at = (roomId: string, ms: number) => ({ sdkAppId: APP, roomId, numericRoom: false, at: T + ms });
  // In order: node A decides the room's creation (101) and holds alice; node B holds bob and decides the dismissal.
  // Each node writes its own entries in order; the two nodes' writes interleave however they land.
  await Promise.all([
    (async () => {
      await a.h.write({ ...at('ordered', 0), kind: 'room-created', userId: 'alice' });
      await a.h.write({ ...at('ordered', 0), kind: 'user-entered', userId: 'alice', role: 'anchor', source: 'rtmp', address: '10.0.0.1' });
      await a.h.sample({ ...at('ordered', 1500), userId: 'alice', video: { codec: 'H264', width: 640, height: 360, fps: 25, bitrate: 1, loss: null }, audio: null });
      await a.h.write({ ...at('ordered', 2000), kind: 'user-exited', userId: 'alice', reason: 'normal' });
    })(),
    (async () => {
      await b.h.write({ ...at('ordered', 100), kind: 'user-entered', userId: 'bob', role: 'audience', source: 'whep', address: '10.0.0.2' });
      await b.h.write({ ...at('ordered', 1000), kind: 'user-exited', userId: 'bob', reason: 'normal' });
    })(),
  ]);
  await b.h.write({ ...at('ordered', 3000), kind: 'room-dismissed' });

  // Raced: node B's entry is written before node A's creation, and A's last exit after B's dismissal.
  await b.h.write({ ...at('raced', 100), kind: 'user-entered', userId: 'bob', role: 'audience', source: 'whep', address: '10.0.0.2' });
  await a.h.write({ ...at('raced', 0), kind: 'room-created', userId: 'alice' });
  await a.h.write({ ...at('raced', 0), kind: 'user-entered', userId: 'alice', role: 'anchor', source: 'rtmp', address: '10.0.0.1' });
  await b.h.write({ ...at('raced', 1000), kind: 'user-exited', userId: 'bob', reason: 'normal' });
  await b.h.write({ ...at('raced', 3000), kind: 'room-dismissed' });
  await a.h.write({ ...at('raced', 2000), kind: 'user-exited', userId: 'alice', reason: 'kicked' });

  const read = async (h: HistoryStore, roomId: string) => ({
    rooms: await h.rooms({ sdkAppId: APP, roomId, from: T - 60_000, to: T + 60_000, offset: 0, limit: 10 }),
    call: await h.call(call(roomId, T)),
    sessions: (await h.sessions({ call: call(roomId, T), from: T, to: T + 60_000, offset: 0, limit: 10 })).items
      .map((s) => [s.userId, s.source, s.joinedAt - T, s.leftAt === null ? null : s.leftAt - T, s.exitReason]),
    bob: (await h.userEvents({ call: call(roomId, T), userId: 'bob', from: T, to: T + 60_000 })).map((e) => [e.at - T, e.kind]),
    samples: (await h.samples({ call: call(roomId, T), userIds: ['alice', 'bob'], from: T, to: T + 60_000 })).map((s) => [s.userId, s.video?.width]),
  });
  for (const roomId of ['ordered', 'raced']) {
    const fromA = await read(a.h, roomId);
    t.same(fromA.rooms, { total: 1, items: [{ sdkAppId: APP, roomId, numericRoom: false, createdAt: T, destroyedAt: T + 3000, creator: 'alice' }] },
      `${roomId}: one room life, created by alice on A, dismissed on B`);
    t.same(fromA.call, { createdAt: T, destroyedAt: T + 3000 });
    t.same(fromA.sessions, [['alice', 'rtmp', 0, 2000, roomId === 'raced' ? 'kicked' : 'normal'], ['bob', 'whep', 100, 1000, 'normal']],
      `${roomId}: both users, each exit with its reason`);
    t.same(fromA.bob, [[100, 'entered'], [1000, 'exited']]);
    t.same(fromA.samples, roomId === 'ordered' ? [['alice', 640]] : []);
    t.same(await read(b.h, roomId), fromA, `${roomId}: node B answers the same`);
  }
  t.same((await a.h.scale({ sdkAppId: APP, from: Date.UTC(2030, 0, 15), to: Date.UTC(2030, 0, 16) }))[0], { day: Date.UTC(2030, 0, 15), users: 4, entries: 4, rooms: 2 });

  // Retention needs no node: every key but the id counter expires within history.retentionDays (14) of its last write.
  const r = new Redis(redis.url);
  const keys = (await r.keys('hist-two-nodes:h:*')).filter((k) => k !== 'hist-two-nodes:h:seq');
  const ttls = await Promise.all(keys.map((k) => r.pttl(k)));
  t.ok(keys.length > 10, `the history's keys (${keys.length})`);
  t.same(keys.filter((_k, i) => !(ttls[i] > 13 * 86_400_000 && ttls[i] <= 14 * 86_400_000)), [], 'each with a TTL of 14 days');
  r.disconnect();
  await a.close();
  await b.close();
});
