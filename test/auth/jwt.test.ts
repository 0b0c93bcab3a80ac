// Bearer room tokens: round trip, each refusal with its reason, and algorithm confusion (alg "none", other
// algorithms) refused before any signature check.

import t from 'tap';
import { createHmac } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { looksLikeJwt, signRoomToken, verifyRoomToken } from '../../src/auth/jwt.js';
import { PRIV } from '../../src/auth/privileges.js';

const APP = 1400000000;
const KEY = 'app-secret-key';
const T0 = 1700000000;
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** Hand-built HS-style token, so the header and claims can be anything. */
function handToken(header: unknown, payload: unknown, key = KEY): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

const claims = { sdkappid: APP, sub: 'alice', room: 'room-1', priv: PRIV.ENTER | PRIV.SEND_AUDIO, exp: T0 + 60 };
const verifyArgs = { sdkAppId: APP, secretKey: KEY, userId: 'alice', room: 'room-1', need: PRIV.ENTER, now: T0 };
const outcome = (r: ReturnType<typeof verifyRoomToken>) => (r.ok ? 'accepted' : `${r.code}: ${r.reason}`);

t.test('round trip', async (t) => {
  const token = signRoomToken({ sdkAppId: APP, secretKey: KEY, userId: 'alice', room: 'room-1', privileges: 6, expireSeconds: 60, now: T0 });
  t.ok(looksLikeJwt(token));
  t.same(jwt.decode(token, { complete: true })?.header, { alg: 'HS256', typ: 'JWT' });
  const r = verifyRoomToken({ ...verifyArgs, token, needAnyOf: PRIV.SEND_AUDIO | PRIV.SEND_VIDEO });
  t.same(r, { ok: true, privileges: 6, claims: { sdkappid: APP, sub: 'alice', room: 'room-1', priv: 6, iat: T0, exp: T0 + 60 } });
  // A secret lookup works like a fixed key.
  t.equal(verifyRoomToken({ ...verifyArgs, token, secretKey: (id) => (id === APP ? KEY : undefined) }).ok, true);
  // Numeric rooms match their decimal text; "*" matches any room.
  const numeric = signRoomToken({ sdkAppId: APP, secretKey: KEY, userId: 'alice', room: 1234, privileges: 255, expireSeconds: 60, now: T0 });
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token: numeric, room: 1234 })), 'accepted');
  const any = signRoomToken({ sdkAppId: APP, secretKey: KEY, userId: 'alice', room: '*', privileges: 255, expireSeconds: 60, now: T0 });
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token: any, room: 'whatever' })), 'accepted');
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token: any, room: 99 })), 'accepted');
});

t.test('refusals with reasons', async (t) => {
  const token = handToken({ alg: 'HS256', typ: 'JWT' }, claims);
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token })), 'accepted', 'hand-built HS256 token is valid');
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token, now: T0 + 60 })), 'expired: room token expired at 2023-11-14T22:14:20Z');
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token, room: 'room-2' })), "wrong-room: room token is for room 'room-1', not 'room-2'");
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token, room: 7 })), "wrong-room: room token is for room 'room-1', not 7");
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token, userId: 'bob' })), "wrong-user: room token was issued for user 'alice', not 'bob'");
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token, sdkAppId: 1400000001 })), 'wrong-app: room token was issued for sdkappid 1400000000, not 1400000001');
  t.equal(
    outcome(verifyRoomToken({ ...verifyArgs, token, secretKey: 'wrong-key' })),
    'bad-signature: room token signature does not match: wrong secret key for sdkappid 1400000000, or the token was altered',
  );
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token, secretKey: () => undefined })), 'unknown-app: unknown sdkappid 1400000000');
  t.equal(
    outcome(verifyRoomToken({ ...verifyArgs, token, need: PRIV.ENTER | PRIV.SEND_VIDEO })),
    'missing-privilege: room token lacks the privilege to send video (has enter, send audio)',
  );
  t.equal(
    outcome(verifyRoomToken({ ...verifyArgs, token, need: PRIV.ENTER, needAnyOf: PRIV.RECV_AUDIO | PRIV.RECV_VIDEO })),
    'missing-privilege: room token lacks the privilege to receive audio or receive video (has enter, send audio)',
  );
  const [h, , s] = token.split('.');
  const altered = `${h}.${b64url({ ...claims, priv: 255 })}.${s}`;
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token: altered })).split(':')[0], 'bad-signature', 'claims altered after signing');

  const notYet = handToken({ alg: 'HS256' }, { ...claims, nbf: T0 + 10 });
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token: notYet })), 'not-yet-valid: room token is not valid before 2023-11-14T22:13:30Z');
  const { exp: _exp, ...noExp } = claims;
  t.equal(
    outcome(verifyRoomToken({ ...verifyArgs, token: handToken({ alg: 'HS256' }, noExp) })),
    'malformed: room token is malformed: claim exp is missing; room tokens must expire',
  );
  t.equal(
    outcome(verifyRoomToken({ ...verifyArgs, token: handToken({ alg: 'HS256' }, { ...claims, priv: 'all' }) })),
    'malformed: room token is malformed: claim priv (privilege bitmask) is missing or not an integer',
  );
  t.equal(
    outcome(verifyRoomToken({ ...verifyArgs, token: handToken({ alg: 'HS256' }, { ...claims, room: 1234 }) })),
    'malformed: room token is malformed: claim room is missing or not a string ("*" means any room)',
  );
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token: 'abc' })), 'malformed: room token is malformed: it is not three base64url parts separated by dots');
});

t.test('only HS256 is accepted', async (t) => {
  const none = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
  t.ok(looksLikeJwt(none), 'an unsigned token is still routed to the JWT path, to be refused there');
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token: none })), "bad-algorithm: room token uses alg 'none'; only HS256 is accepted");
  const noneWithSig = handToken({ alg: 'none' }, claims);
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token: noneWithSig })), "bad-algorithm: room token uses alg 'none'; only HS256 is accepted");
  const hs512 = jwt.sign(claims, KEY, { algorithm: 'HS512' });
  t.equal(outcome(verifyRoomToken({ ...verifyArgs, token: hs512 })), "bad-algorithm: room token uses alg 'HS512'; only HS256 is accepted");
  // RS256 header with an HMAC over the secret key: the classic key-confusion attempt.
  t.equal(
    outcome(verifyRoomToken({ ...verifyArgs, token: handToken({ alg: 'RS256' }, claims) })),
    "bad-algorithm: room token uses alg 'RS256'; only HS256 is accepted",
  );
});

t.test('looksLikeJwt', async (t) => {
  t.equal(looksLikeJwt(handToken({ alg: 'HS256' }, claims)), true);
  t.equal(looksLikeJwt('eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwhWZiflZpXlQqeKU7MSCgswUJStDEwMog'), false, 'a UserSig');
  t.equal(looksLikeJwt(`${b64url({ typ: 'JWT' })}.${b64url(claims)}.sig`), false, 'header without alg');
  t.equal(looksLikeJwt('a.b.c'), false, 'parts that do not decode to JSON');
  t.equal(looksLikeJwt(`${b64url({ alg: 'HS256' })}.x`), false, 'two parts');
});
