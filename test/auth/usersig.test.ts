// UserSig: the reference vector byte for byte, interop with Tencent's official tls-sig-api-v2 in both directions,
// and every refusal with its exact reason.

import t from 'tap';
import { VECTOR_APP as APP, VECTOR_KEY as KEY, VECTOR_T0 as T0, withClock } from '../helpers/official-lib.js';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { deflateSync, inflateSync } from 'node:zlib';
import { genUserSig, verifyUserSig } from '../../src/auth/usersig.js';

const require = createRequire(import.meta.url);
const TLSSigAPIv2 = require('tls-sig-api-v2') as {
  Api: new (sdkappid: number, key: string) => {
    genUserSig(userid: string, expire: number): string;
    genSig(userid: string, expire: number, userBuf?: Buffer | null): string;
  };
};

const VECTOR =
  'eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwhWZiflZpXlQqeKU7MSCgswUJStDEwMogMiUZOamKlkZmqOKplYUZBalKllZmJnAhIoz05WslIL93EzccsOcA0qT8yOKnfwLksLcjNPcnNNMzb0Ccg1Sq6IMs1LDPH1ywpJtlWoBGRkxcA__';


/** Independent decoder written from the published algorithm, to check our output without our own code. */
function decodeByHand(sig: string): Record<string, unknown> {
  const b64 = sig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
  return JSON.parse(inflateSync(Buffer.from(b64, 'base64')).toString('utf8'));
}
function encodeByHand(doc: unknown): string {
  return deflateSync(Buffer.from(JSON.stringify(doc))).toString('base64').replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_');
}
function hmacByHand(key: string, doc: Record<string, unknown>): string {
  let content = `TLS.identifier:${doc['TLS.identifier']}\nTLS.sdkappid:${doc['TLS.sdkappid']}\n`;
  content += `TLS.time:${doc['TLS.time']}\nTLS.expire:${doc['TLS.expire']}\n`;
  if (doc['TLS.userbuf'] !== undefined) content += `TLS.userbuf:${doc['TLS.userbuf']}\n`;
  return createHmac('sha256', key).update(content).digest('base64');
}

const base = { sdkAppId: APP, secretKey: KEY, userId: 'xiaojun' };

t.test('reproduces the reference vector byte for byte', async (t) => {
  const sig = genUserSig({ ...base, expireSeconds: 86400, now: T0 });
  t.equal(sig, VECTOR);
  const doc = decodeByHand(sig);
  t.equal(doc['TLS.sig'], 'SNF4FmVCPucoXsBOpbVF3fFCf57JPm0ezZ1jeVILlVc=');
  t.same(Object.keys(doc), ['TLS.ver', 'TLS.identifier', 'TLS.sdkappid', 'TLS.time', 'TLS.expire', 'TLS.sig']);
  const b64 = VECTOR.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
  t.equal(Buffer.from(b64, 'base64').subarray(0, 2).toString('hex'), '789c', 'zlib header of Node default deflate');
});

t.test('verifies the reference vector inside its window, up to and including time+expire', async (t) => {
  t.same(verifyUserSig({ ...base, userSig: VECTOR, now: T0 }), { ok: true, time: T0, expire: 86400 });
  t.same(verifyUserSig({ ...base, userSig: VECTOR, now: T0 + 86400 }), { ok: true, time: T0, expire: 86400 });
  t.equal(verifyUserSig({ ...base, userSig: VECTOR, now: T0 + 86401 }).ok, false);
});

t.test('official tls-sig-api-v2 and ours agree in both directions', async (t) => {
  const cases: Array<[number, string, string, number]> = [
    [APP, KEY, 'xiaojun', 86400],
    [1400000001, 'another-secret', 'user_1-A', 180 * 86400],
    [20000000, 'k', 'a', 1],
  ];
  for (const [app, key, user, expire] of cases) {
    const official = withClock(T0, () => new TLSSigAPIv2.Api(app, key).genUserSig(user, expire));
    const ours = genUserSig({ sdkAppId: app, secretKey: key, userId: user, expireSeconds: expire, now: T0 });
    t.equal(ours, official, `byte-identical for ${user}@${app}`);
    t.same(verifyUserSig({ userSig: official, sdkAppId: app, secretKey: key, userId: user, now: T0 + expire }), {
      ok: true,
      time: T0,
      expire,
    });
    // Ours checked by the published algorithm, not by our verifier.
    const doc = decodeByHand(ours);
    t.equal(doc['TLS.sig'], hmacByHand(key, doc));
  }
  // Unpinned clock (fractional Date.now): the official sig still verifies with our default clock.
  const live = new TLSSigAPIv2.Api(APP, KEY).genUserSig('live_user', 600);
  t.equal(verifyUserSig({ ...base, userId: 'live_user', userSig: live }).ok, true);
});

t.test('userbuf: same bytes as the official genSig, returned on verify, and expectUserbuf enforced', async (t) => {
  const userbuf = Buffer.from('00010203fffe', 'hex');
  const official = withClock(T0, () => new TLSSigAPIv2.Api(APP, KEY).genSig('xiaojun', 300, userbuf));
  const ours = genUserSig({ ...base, expireSeconds: 300, now: T0, userbuf });
  t.equal(ours, official);
  t.same(Object.keys(decodeByHand(ours)), [
    'TLS.ver', 'TLS.identifier', 'TLS.sdkappid', 'TLS.time', 'TLS.expire', 'TLS.userbuf', 'TLS.sig',
  ]);
  const r = verifyUserSig({ ...base, userSig: ours, now: T0, expectUserbuf: true });
  t.ok(r.ok && r.userbuf?.equals(userbuf));
  t.same(verifyUserSig({ ...base, userSig: ours, now: T0, expectUserbuf: false }), {
    ok: false,
    code: 'userbuf-mismatch',
    reason: 'usersig carries a userbuf, but none is expected here',
  });
  t.same(verifyUserSig({ ...base, userSig: VECTOR, now: T0, expectUserbuf: true }), {
    ok: false,
    code: 'userbuf-mismatch',
    reason: 'usersig carries no userbuf, but one is required here',
  });
  t.equal(verifyUserSig({ ...base, userSig: VECTOR, now: T0, expectUserbuf: false }).ok, true);
});

t.test('refusals carry exact, readable reasons', async (t) => {
  const badSig = {
    ok: false,
    code: 'bad-signature',
    reason:
      'usersig signature does not match: wrong secret key for sdkappid 1400000000, or the usersig was altered',
  };
  t.same(verifyUserSig({ ...base, secretKey: 'not-the-key', userSig: VECTOR, now: T0 }), badSig, 'wrong key');

  const doc = decodeByHand(VECTOR);
  const longer = encodeByHand({ ...doc, 'TLS.expire': 86400 * 365 });
  t.same(verifyUserSig({ ...base, userSig: longer, now: T0 }), badSig, 'expire extended without re-signing');
  const flipped = Buffer.from(doc['TLS.sig'] as string, 'base64');
  flipped[0] ^= 1;
  t.same(
    verifyUserSig({ ...base, userSig: encodeByHand({ ...doc, 'TLS.sig': flipped.toString('base64') }), now: T0 }),
    badSig,
    'one bit of TLS.sig flipped',
  );

  t.same(verifyUserSig({ ...base, userSig: VECTOR, now: T0 + 86401 }), {
    ok: false,
    code: 'expired',
    reason: 'usersig expired at 2023-11-15T22:13:20Z',
  });
  t.same(verifyUserSig({ ...base, userId: 'alice', userSig: VECTOR, now: T0 }), {
    ok: false,
    code: 'wrong-user',
    reason: "usersig was signed for user 'xiaojun', not 'alice'",
  });
  t.same(verifyUserSig({ ...base, sdkAppId: 1400000002, userSig: VECTOR, now: T0 }), {
    ok: false,
    code: 'wrong-app',
    reason: 'usersig was signed for sdkappid 1400000000, not 1400000002',
  });
});

t.test('malformed inputs, including an inflate bomb, are refused with what is wrong', async (t) => {
  const malformed = (userSig: string) => {
    const r = verifyUserSig({ ...base, userSig, now: T0 });
    return r.ok ? 'accepted!' : `${r.code}: ${r.reason}`;
  };
  const doc = decodeByHand(VECTOR);
  const cases: Array<[string, string]> = [
    ['', 'usersig is malformed: it is empty'],
    ['not a usersig!', 'usersig is malformed: it has characters outside A-Z a-z 0-9 * - _'],
    ['ab_cd', "usersig is malformed: its '_' padding is not at the end"],
    ['aGVsbG8gd29ybGQ_', 'usersig is malformed: it is not zlib-compressed data'],
    [encodeByHand('just a string'), 'usersig is malformed: its content is not a JSON object'],
    [
      deflateSync(Buffer.from('{not json')).toString('base64').replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_'),
      'usersig is malformed: its content is not JSON',
    ],
    [encodeByHand([1, 2]), 'usersig is malformed: its content is not a JSON object'],
    [encodeByHand({ ...doc, 'TLS.identifier': 7 }), 'usersig is malformed: TLS.identifier is missing or not a string'],
    [encodeByHand({ ...doc, 'TLS.sdkappid': '1400000000' }), 'usersig is malformed: TLS.sdkappid is missing or not a non-negative integer'],
    [encodeByHand({ ...doc, 'TLS.time': 1.5 }), 'usersig is malformed: TLS.time is missing or not a non-negative integer'],
    [encodeByHand({ ...doc, 'TLS.expire': -1 }), 'usersig is malformed: TLS.expire is missing or not a non-negative integer'],
    [encodeByHand({ ...doc, 'TLS.sig': 'c2hvcnQ=' }), 'usersig is malformed: TLS.sig is missing or not a base64 HMAC-SHA256'],
    [encodeByHand({ ...doc, 'TLS.userbuf': 'not base64!' }), 'usersig is malformed: TLS.userbuf is not standard base64'],
  ];
  for (const [input, reason] of cases) t.equal(malformed(input), `malformed: ${reason}`, reason);

  // 16 MiB of spaces deflates to ~16 KiB: small on the wire, refused without inflating it all.
  const bomb = deflateSync(Buffer.alloc(16 * 1024 * 1024, 0x20), { level: 9 });
  const bombSig = bomb.toString('base64').replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_');
  t.ok(bombSig.length < 64 * 1024, 'the bomb fits under the encoded-size cap');
  t.equal(malformed(bombSig), 'malformed: usersig is malformed: it inflates to more than 65536 bytes');
  t.equal(
    malformed('A'.repeat(64 * 1024 + 1)),
    'malformed: usersig is malformed: it is 65537 characters long; the limit is 65536',
  );
});
