// Room membership as TRTC counts users (101–105), the one place 201–204 are decided (TrackAnnouncer) for a WHIP
// track stop and a SetUserBlocked mute alike, the track watch's rule (one kind stops while the other flows), and
// the door's room-creation check. The event sink is a list the test reads and the publisher's pipe a stub; everything
// else is the real code.

import t from 'tap';
import { RoomMembers } from '../../src/room/members.js';
import type { RoomRef } from '../../src/room/room-ref.js';
import { TrackAnnouncer, type RoomEvent } from '../../src/events/room-events.js';
import { TrackWatch } from '../../src/room/track-watch.js';
import { Door } from '../../src/room/door.js';
import { genPrivateMapKey, PRIV } from '../../src/auth/privatemapkey.js';
import { genUserSig } from '../../src/auth/usersig.js';
import { trackRefusals } from '../../src/auth/privileges.js';
import type { AppEntry } from '../../src/auth/authenticate.js';
import { Publisher } from '../../src/room/publisher.js';
import type { Pipe } from '../../src/room/engine.js';
import type { PipeEvent } from '../../src/native/rtmp-plane.js';
import { createLogger } from '../../src/log.js';

const APP = 1400000001;
const QUIET = 1400000002; // an app without viewer events

/** A string room, as RTMP, WHIP and WHEP name them. */
const str = (sdkAppId: number, roomId: string): RoomRef => ({ sdkAppId, roomId, numericRoom: false });

function recorder() {
  const events: RoomEvent[] = [];
  const said = () => events.splice(0).map(describe);
  return { sink: { emit: (e: RoomEvent) => void events.push(e) }, said, events };
}

/** "103 bob anchor whip", "104 bob audience timeout", "105 bob anchor", "101 bob", "102", "202 bob". */
function describe(e: RoomEvent): string {
  switch (e.type) {
    case 'room-created':
      return `101 ${e.userId}`;
    case 'room-dismissed':
      return '102';
    case 'user-entered':
      return `103 ${e.userId} ${e.role} ${e.source}`;
    case 'user-exited':
      return `104 ${e.userId} ${e.role} ${e.reason}`;
    case 'role-changed':
      return `105 ${e.userId} ${e.role}`;
    default:
      return `${{ 'video-started': 201, 'video-stopped': 202, 'audio-started': 203, 'audio-stopped': 204 }[e.type]} ${e.userId}`;
  }
}

t.test('members: first in 101, each userid 103/104 once, role changes 105, last out 102', async (t) => {
  const { sink, said } = recorder();
  const m = new RoomMembers(sink, (id) => id !== QUIET);
  t.notOk(m.occupied(str(APP, 'r')));
  m.join(str(APP, 'r'), 'alice', 's1', 'anchor', 'rtmp');
  t.same(said(), ['101 alice', '103 alice anchor rtmp']);
  t.ok(m.occupied(str(APP, 'r')));
  t.notOk(m.occupied(str(APP, 'other')), 'rooms are apart');
  m.join(str(APP, 'r'), 'bob', 'v1', 'audience', 'whep');
  m.join(str(APP, 'r'), 'bob', 'v2', 'audience', 'whep');
  t.same(said(), ['103 bob audience whep'], "a userid's second viewer session is the same member");
  m.join(str(APP, 'r'), 'bob', 'p1', 'anchor', 'whip');
  t.same(said(), ['105 bob anchor'], 'a viewer who starts publishing switches role');
  m.leave(str(APP, 'r'), 'bob', 'p1', 'normal');
  t.same(said(), ['105 bob audience'], '…and back when the publishing ends while it still watches');
  m.leave(str(APP, 'r'), 'alice', 's1', 'timeout');
  t.same(said(), ['104 alice anchor timeout'], 'the room stays open while a viewer is in');
  m.leave(str(APP, 'r'), 'bob', 'v1', 'normal');
  t.same(said(), []);
  m.leave(str(APP, 'r'), 'bob', 'v2', 'timeout');
  t.same(said(), ['104 bob audience timeout', '102'], "the last session's exit, then the room");
  t.notOk(m.occupied(str(APP, 'r')));
  m.leave(str(APP, 'r'), 'bob', 'v2', 'normal');
  t.same(said(), [], 'a second leave of a session says nothing');
});

t.test('members: an app without viewer events counts publishers only', async (t) => {
  const { sink, said } = recorder();
  const m = new RoomMembers(sink, (id) => id !== QUIET);
  m.join(str(QUIET, 'r'), 'alice', 's1', 'anchor', 'whip');
  m.join(str(QUIET, 'r'), 'bob', 'v1', 'audience', 'whep');
  m.join(str(QUIET, 'r'), 'alice', 'v2', 'audience', 'whep');
  m.leave(str(QUIET, 'r'), 'alice', 's1', 'normal');
  m.leave(str(QUIET, 'r'), 'bob', 'v1', 'timeout');
  t.same(said(), ['101 alice', '103 alice anchor whip', '104 alice anchor normal', '102']);
});

t.test('track announcer: each change of what the room sees is said once, whatever its causes', async (t) => {
  const { sink, said } = recorder();
  const tracks = new TrackAnnouncer(sink, { sdkAppId: APP, roomId: 'r', numericRoom: false, userId: 'cam' });
  tracks.hold('video', 'blocked', true);
  t.same(said(), [], 'a mute before any video says nothing');
  tracks.started('video');
  tracks.started('audio');
  t.same(said(), ['203 cam'], 'video that starts muted stays off');
  tracks.hold('video', 'blocked', false);
  t.same(said(), ['201 cam'], 'unmute: 201');
  tracks.hold('video', 'stopped', true);
  t.same(said(), ['202 cam'], 'the track stopped: 202');
  tracks.hold('video', 'blocked', true);
  tracks.hold('video', 'blocked', false);
  t.same(said(), [], 'mute and unmute of a stopped track say nothing');
  tracks.started('video');
  t.same(said(), ['201 cam'], 'it flows again: 201');
  tracks.hold('audio', 'blocked', true);
  tracks.hold('audio', 'stopped', true);
  tracks.started('audio');
  t.same(said(), ['204 cam'], 'audio muted, then stopped and back while muted: one 204');
  t.notOk(tracks.isOn('audio'));
  t.ok(tracks.isOn('video'));
});

t.test('track watch: one kind silent while the other flows is a stop; both silent is not', async (t) => {
  const { sink, said, events } = recorder();
  const tracks = new TrackAnnouncer(sink, { sdkAppId: APP, roomId: 'r', numericRoom: false, userId: 'cam' });
  const watch = new TrackWatch(tracks, 4000);
  tracks.started('video');
  tracks.started('audio');
  said();
  let now = 1_000_000;
  let v = 0;
  let a = 0;
  const tick = (video: boolean, audio: boolean) => {
    if (video) v += 30;
    if (audio) a += 50;
    watch.tick({ video: v, audio: a }, (now += 1000));
  };
  tick(true, true);
  const lastVideoAt = now;
  for (let i = 0; i < 3; i++) tick(false, true);
  t.same(said(), [], '3 s without video: not yet');
  tick(false, true);
  t.equal(events[0]?.at, lastVideoAt, 'the 202 is dated when the last video came');
  t.same(said(), ['202 cam'], '4 s without video while audio flows: 202');
  tick(false, true);
  t.same(said(), [], 'said once');
  tick(true, true);
  t.same(said(), ['201 cam'], 'video again: 201');
  for (let i = 0; i < 10; i++) tick(false, false);
  t.same(said(), [], 'both silent: the publisher is gone, not muted (its 104 comes from the session)');
});

t.test('door: where the app requires a PrivateMapKey, the user who opens the room needs the create bit', async (t) => {
  const STRICT: AppEntry = { sdkAppId: APP, secretKey: 'strict-key', requirePrivateMapKey: true };
  const OPEN: AppEntry = { sdkAppId: QUIET, secretKey: 'open-key' };
  const apps = new Map([STRICT, OPEN].map((a) => [a.sdkAppId, a]));
  const open = new Set<string>();
  const door = new Door(apps, { occupied: (r) => !r.numericRoom && open.has(`${r.sdkAppId}/${r.roomId}`) });
  const enter = (app: AppEntry, userId: string, privileges: number, action: 'publish' | 'subscribe' = 'publish') => {
    const userSig = genUserSig({ sdkAppId: app.sdkAppId, secretKey: app.secretKey, userId, expireSeconds: 600 });
    const privateMapKey = genPrivateMapKey({ sdkAppId: app.sdkAppId, secretKey: app.secretKey, userId, expireSeconds: 600, room: 'r', privileges });
    const e = door.enter({ sdkAppId: app.sdkAppId, userId, roomId: 'r', credential: { kind: 'usersig', value: userSig }, privateMapKey, action });
    return e.ok ? 'ok' : `${e.status} ${e.code}: ${e.reason}`;
  };
  const publisher = PRIV.ENTER | PRIV.SEND_AUDIO | PRIV.SEND_VIDEO;
  t.equal(
    enter(STRICT, 'alice', publisher),
    "403 privatemapkey-missing-privilege: room 'r' is not open yet and this user would create it, but the privatemapkey lacks the privilege to create the room (has enter, send audio, send video)",
  );
  t.equal(enter(STRICT, 'alice', publisher | PRIV.CREATE), 'ok', 'with the create bit');
  open.add(`${APP}/r`);
  t.equal(enter(STRICT, 'bob', publisher), 'ok', 'an open room is joined without it');
  open.clear();
  t.equal(enter(OPEN, 'carol', publisher), 'ok', 'an app that does not require a key creates rooms freely');
  t.equal(enter(STRICT, 'dave', PRIV.ENTER | PRIV.RECV_VIDEO, 'subscribe'), 'ok', 'a viewer opens no room');
});

t.test('trackRefusals: per kind, what the key lets through and why not', async (t) => {
  t.same(trackRefusals(PRIV.ALL, 'publish'), { video: null, audio: null });
  t.same(trackRefusals(PRIV.ENTER | PRIV.SEND_AUDIO, 'publish'), { video: 'lacks the privilege to send video (has enter, send audio)', audio: null });
  t.same(trackRefusals(PRIV.ENTER | PRIV.SEND_VIDEO | PRIV.RECV_AUDIO, 'subscribe'), {
    video: 'lacks the privilege to receive video (has enter, receive audio, send video)',
    audio: null,
  });
});

t.test('members: integer and string rooms with the same digits are two rooms; agents count where viewers do not', async (t) => {
  const { sink, said, events } = recorder();
  const m = new RoomMembers(sink, (id) => id !== QUIET);
  const int = (roomId: string): RoomRef => ({ sdkAppId: QUIET, roomId, numericRoom: true });
  m.join(int('4321'), 'alice', 's1', 'anchor', 'rtmp');
  m.join(str(QUIET, '4321'), 'alice', 's2', 'anchor', 'whip');
  t.same(said(), ['101 alice', '103 alice anchor rtmp', '101 alice', '103 alice anchor whip'], 'two rooms, two members');
  m.join(int('4321'), 'rec', 'a1', 'audience', 'record');
  m.join(int('4321'), 'cdn', 'a2', 'audience', 'relay');
  m.join(int('4321'), 'bob', 'v1', 'audience', 'whep');
  t.same(said(), ['103 rec audience record', '103 cdn audience relay'], 'recording and relay agents enter without viewer events; a WHEP viewer does not');
  m.leave(int('4321'), 'alice', 's1', 'normal');
  m.leave(int('4321'), 'rec', 'a1', 'kicked');
  t.same(said(), ['104 alice anchor normal', '104 rec audience kicked'], 'the agent keeps the integer room open');
  m.leave(int('4321'), 'cdn', 'a2', 'normal');
  t.same(events.map((e) => e.numericRoom), [true, true], '104 and 102 of the integer room say so');
  t.same(said(), ['104 cdn audience normal', '102']);
  t.ok(m.occupied(str(QUIET, '4321')), 'the string room is still open');
  t.notOk(m.occupied(int('4321')));
});

t.test('publisher: a mute and a stopped WHIP track that overlap say 202 once, through the one announcer', async (t) => {
  const { sink, said } = recorder();
  // the pipe's side the publisher uses here: events in, blocks out, frame counters (a blocked kind is still counted)
  const blockedAt: { audio: boolean; video: boolean }[] = [];
  const pipe = {
    onEvent: (_e: PipeEvent) => {},
    setBlocked: (audio: boolean, video: boolean) => void blockedAt.push({ audio, video }),
    stats: () => null,
    close: () => {},
  };
  const id = { sdkAppId: APP, roomId: '77', numericRoom: true, userId: 'cam', source: 'whip' as const, remote: '127.0.0.1:1', sessionId: 's' };
  const log = createLogger('silent', process.stderr);
  const p = new Publisher(id, () => {}, () => {}, sink, pipe as unknown as Pipe, log);
  const watch = new TrackWatch(p.tracks, 4000);
  pipe.onEvent({ kind: 'first-video' } as PipeEvent);
  pipe.onEvent({ kind: 'first-audio' } as PipeEvent);
  t.same(said(), ['201 cam', '203 cam']);
  let now = 2_000_000;
  let v = 0;
  let a = 0;
  const tick = (video: boolean) => {
    if (video) v += 30;
    a += 50;
    watch.tick({ video: v, audio: a }, (now += 1000));
  };
  tick(true);
  p.block({ audio: false, video: true });
  t.same(said(), ['202 cam'], 'SetUserBlocked: 202');
  t.same(blockedAt, [{ audio: false, video: true }], 'applied at the pipe');
  for (let i = 0; i < 6; i++) tick(false);
  t.same(said(), [], 'the track then stops too: no second 202');
  p.block({ audio: false, video: false });
  t.same(said(), [], 'unmuted while stopped: still nothing to see, so no 201');
  tick(true);
  t.same(said(), ['201 cam'], 'video flows again: 201 once');
  for (let i = 0; i < 5; i++) tick(false);
  t.same(said(), ['202 cam'], 'stopped: 202');
  p.block({ audio: true, video: true });
  t.same(said(), ['204 cam'], 'a mute of the stopped video says nothing, of the flowing audio 204');
});
