// authenticate(): every status/code path of the one entry the ingest pipeline calls.

import t from 'tap';
import { authenticate, type AppEntry, type AppTable, type AuthRequest } from '../../src/auth/authenticate.js';
import { signRoomToken } from '../../src/auth/jwt.js';
import { genPrivateMapKey, PRIV } from '../../src/auth/privatemapkey.js';
import { genUserSig } from '../../src/auth/usersig.js';

const T0 = 1700000000;
const OPEN: AppEntry = { sdkAppId: 1400000001, secretKey: 'open-app-key' };
const STRICT: AppEntry = { sdkAppId: 1400000002, secretKey: 'strict-app-key', requirePrivateMapKey: true };
const apps: AppTable = new Map([OPEN, STRICT].map((a) => [a.sdkAppId, a]));

const userSig = (app: AppEntry, userId = 'alice', now = T0) =>
  genUserSig({ sdkAppId: app.sdkAppId, secretKey: app.secretKey, userId, expireSeconds: 3600, now });
const pmk = (app: AppEntry, room: string | number, privileges: number) =>
  genPrivateMapKey({ sdkAppId: app.sdkAppId, secretKey: app.secretKey, userId: 'alice', expireSeconds: 300, room, privileges, now: T0 });
const token = (app: AppEntry, room: string | number, privileges: number, expireSeconds = 60) =>
  signRoomToken({ sdkAppId: app.sdkAppId, secretKey: app.secretKey, userId: 'alice', room, privileges, expireSeconds, now: T0 });

function req(over: Partial<AuthRequest> = {}): AuthRequest {
  return {
    sdkAppId: OPEN.sdkAppId,
    userId: 'alice',
    roomId: 'room-1',
    credential: { kind: 'usersig', value: userSig(OPEN) },
    action: 'publish',
    now: T0 + 1,
    ...over,
  };
}
/** status code: reason, or the principal on success. */
function outcome(r: ReturnType<typeof authenticate>): unknown {
  return r.ok ? r.principal : `${r.status} ${r.code}: ${r.reason}`;
}

t.test('400: ids are checked first', async (t) => {
  t.equal(outcome(authenticate(apps, req({ sdkAppId: 0 }))), '400 invalid-sdkappid: sdkappid 0 is out of range; it must be an integer from 1 to 4294967295');
  t.equal(outcome(authenticate(apps, req({ userId: 'a b' }))), "400 invalid-userid: user id 'a b' has a character other than A-Z a-z 0-9 _ -");
  t.equal(outcome(authenticate(apps, req({ roomId: 'a b' }))), "400 invalid-roomid: room id 'a b' has a character other than A-Z a-z 0-9 _ -");
  t.equal(outcome(authenticate(apps, req({ roomId: 0 }))), '400 invalid-roomid: room id 0 is out of range; numeric room ids are integers from 1 to 4294967294');
  t.equal(outcome(authenticate(apps, req({ sdkAppId: 1400000999, userId: '' }))), '400 invalid-userid: user id is empty', 'before the app lookup');
});

t.test('404: unknown sdkappid', async (t) => {
  t.equal(outcome(authenticate(apps, req({ sdkAppId: 1400000999 }))), '404 unknown-sdkappid: unknown sdkappid 1400000999');
});

t.test('UserSig path', async (t) => {
  t.same(outcome(authenticate(apps, req())), { sdkAppId: OPEN.sdkAppId, userId: 'alice', roomId: 'room-1', privileges: 255, via: 'usersig' });
  t.same(
    outcome(authenticate(apps, req({ roomId: 1234, action: 'subscribe', credential: { kind: 'bearer', value: userSig(OPEN) } }))),
    { sdkAppId: OPEN.sdkAppId, userId: 'alice', roomId: 1234, privileges: 255, via: 'usersig' },
    'a bearer value that is not a JWT is a UserSig (WHIP Authorization: Bearer <usersig>)',
  );
  t.equal(outcome(authenticate(apps, req({ credential: { kind: 'usersig', value: '' } }))), '401 missing-credential: no usersig was given');
  t.equal(outcome(authenticate(apps, req({ credential: { kind: 'bearer', value: '' } }))), '401 missing-credential: no bearer token was given');
  t.equal(
    outcome(authenticate(apps, req({ credential: { kind: 'usersig', value: userSig(STRICT) } }))),
    '401 usersig-wrong-app: usersig was signed for sdkappid 1400000002, not 1400000001',
  );
  t.equal(
    outcome(authenticate(apps, req({ credential: { kind: 'usersig', value: userSig(OPEN, 'bob') } }))),
    "401 usersig-wrong-user: usersig was signed for user 'bob', not 'alice'",
  );
  t.equal(outcome(authenticate(apps, req({ now: T0 + 3601 }))), '401 usersig-expired: usersig expired at 2023-11-14T23:13:20Z');
  const forged = genUserSig({ sdkAppId: OPEN.sdkAppId, secretKey: 'guessed', userId: 'alice', expireSeconds: 3600, now: T0 });
  t.equal(
    outcome(authenticate(apps, req({ credential: { kind: 'usersig', value: forged } }))),
    '401 usersig-bad-signature: usersig signature does not match: wrong secret key for sdkappid 1400000001, or the usersig was altered',
  );
  t.match(
    outcome(authenticate(apps, req({ credential: { kind: 'usersig', value: token(OPEN, 'room-1', 255) } }))),
    /^401 usersig-malformed: usersig is malformed: /,
    'a JWT given as a usersig is not routed to the JWT path',
  );
});

t.test('PrivateMapKey: required by the app, or checked whenever given', async (t) => {
  const strict = (over: Partial<AuthRequest>) =>
    outcome(authenticate(apps, req({ sdkAppId: STRICT.sdkAppId, credential: { kind: 'usersig', value: userSig(STRICT) }, ...over })));
  t.equal(strict({}), '403 privatemapkey-required: sdkappid 1400000002 requires a privatemapkey for room access, and none was given');
  const publisher = PRIV.ENTER | PRIV.SEND_AUDIO | PRIV.SEND_VIDEO;
  t.same(strict({ privateMapKey: pmk(STRICT, 'room-1', publisher) }), {
    sdkAppId: STRICT.sdkAppId, userId: 'alice', roomId: 'room-1', privileges: publisher, via: 'usersig',
  });
  t.same(strict({ privateMapKey: pmk(STRICT, 'room-1', PRIV.ENTER | PRIV.SEND_AUDIO) }), {
    sdkAppId: STRICT.sdkAppId, userId: 'alice', roomId: 'room-1', privileges: PRIV.ENTER | PRIV.SEND_AUDIO, via: 'usersig',
  }, 'audio-only publisher');
  t.equal(
    strict({ privateMapKey: pmk(STRICT, 'room-1', 42) }),
    '403 privatemapkey-missing-privilege: privatemapkey lacks the privilege to send audio or send video (has enter, receive audio, receive video)',
  );
  t.same(strict({ privateMapKey: pmk(STRICT, 'room-1', 42), action: 'subscribe' }), {
    sdkAppId: STRICT.sdkAppId, userId: 'alice', roomId: 'room-1', privileges: 42, via: 'usersig',
  });
  t.equal(
    strict({ privateMapKey: pmk(STRICT, 'room-1', PRIV.SEND_AUDIO | PRIV.SEND_VIDEO) }),
    '403 privatemapkey-missing-privilege: privatemapkey lacks the privilege to enter the room (has send audio, send video)',
  );
  t.equal(
    strict({ privateMapKey: pmk(STRICT, 'room-1', PRIV.ENTER | PRIV.SEND_SUB), action: 'publish' }),
    '403 privatemapkey-missing-privilege: privatemapkey lacks the privilege to send audio or send video (has enter, send sub-stream)',
  );
  t.equal(strict({ privateMapKey: pmk(STRICT, 'room-2', 255) }), "403 privatemapkey-wrong-room: privatemapkey is for room 'room-2', not 'room-1'");
  t.equal(strict({ privateMapKey: pmk(STRICT, 'room-1', 255), now: T0 + 301 }), '403 privatemapkey-expired: privatemapkey expired at 2023-11-14T22:18:20Z');
  t.equal(
    strict({ privateMapKey: pmk(OPEN, 'room-1', 255) }),
    '403 privatemapkey-wrong-app: privatemapkey was signed for sdkappid 1400000001, not 1400000002',
  );
  t.equal(
    strict({ privateMapKey: userSig(STRICT) }),
    '403 privatemapkey-malformed: privatemapkey is malformed: it carries no userbuf (is this a usersig?)',
  );
  // Optional on OPEN, but a given one is still checked.
  t.equal(
    outcome(authenticate(apps, req({ privateMapKey: pmk(OPEN, 'room-9', 255) }))),
    "403 privatemapkey-wrong-room: privatemapkey is for room 'room-9', not 'room-1'",
  );
  t.match(outcome(authenticate(apps, req({ privateMapKey: pmk(OPEN, 'room-1', 42), action: 'subscribe' }))), { privileges: 42 });
  // A bad UserSig is reported before anything about the PrivateMapKey.
  t.match(strict({ credential: { kind: 'usersig', value: 'x' } }), /^401 usersig-malformed/);
});

t.test('JWT path', async (t) => {
  const bearer = (value: string, over: Partial<AuthRequest> = {}) => outcome(authenticate(apps, req({ credential: { kind: 'bearer', value }, ...over })));
  const sendVideo = PRIV.ENTER | PRIV.SEND_VIDEO;
  t.same(bearer(token(OPEN, 'room-1', sendVideo)), { sdkAppId: OPEN.sdkAppId, userId: 'alice', roomId: 'room-1', privileges: sendVideo, via: 'jwt' });
  t.same(bearer(token(OPEN, '*', 255), { roomId: 77, action: 'subscribe' }), {
    sdkAppId: OPEN.sdkAppId, userId: 'alice', roomId: 77, privileges: 255, via: 'jwt',
  });
  t.equal(
    bearer(token(OPEN, 'room-1', sendVideo), { action: 'subscribe' }),
    '403 jwt-missing-privilege: room token lacks the privilege to receive audio or receive video (has enter, send video)',
  );
  t.equal(bearer(token(OPEN, 'room-2', 255)), "403 jwt-wrong-room: room token is for room 'room-2', not 'room-1'");
  t.equal(bearer(token(OPEN, 'room-1', 255), { now: T0 + 60 }), '401 jwt-expired: room token expired at 2023-11-14T22:14:20Z');
  t.equal(bearer(token(STRICT, 'room-1', 255)), '401 jwt-wrong-app: room token was issued for sdkappid 1400000002, not 1400000001');
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const none = `${b64({ alg: 'none' })}.${b64({ sdkappid: OPEN.sdkAppId, sub: 'alice', room: 'room-1', priv: 255, exp: T0 + 60 })}.`;
  t.equal(bearer(none), "401 jwt-bad-algorithm: room token uses alg 'none'; only HS256 is accepted");
  const wrongKey = signRoomToken({ sdkAppId: OPEN.sdkAppId, secretKey: 'nope', userId: 'alice', room: 'room-1', privileges: 255, expireSeconds: 60, now: T0 });
  t.equal(
    bearer(wrongKey),
    '401 jwt-bad-signature: room token signature does not match: wrong secret key for sdkappid 1400000001, or the token was altered',
  );
  // The JWT carries room and privileges itself, so it satisfies an app that requires a PrivateMapKey …
  t.match(bearer(token(STRICT, 'room-1', sendVideo), { sdkAppId: STRICT.sdkAppId }), { via: 'jwt', privileges: sendVideo });
  // … and a PrivateMapKey given alongside narrows what the JWT grants.
  t.match(
    bearer(token(STRICT, 'room-1', 255), { sdkAppId: STRICT.sdkAppId, privateMapKey: pmk(STRICT, 'room-1', PRIV.ENTER | PRIV.SEND_AUDIO) }),
    { via: 'jwt', privileges: PRIV.ENTER | PRIV.SEND_AUDIO },
  );
  t.equal(
    bearer(token(OPEN, 'room-1', PRIV.ENTER | PRIV.SEND_AUDIO), { privateMapKey: pmk(OPEN, 'room-1', PRIV.ENTER | PRIV.SEND_VIDEO) }),
    '403 privatemapkey-missing-privilege: what both the room token and the privatemapkey grant lacks the privilege to send audio or send video (has enter)',
    'each grants publishing alone, their overlap does not',
  );
});
