// Strict envelope decoding: every UserSig and PrivateMapKey made by Tencent's official tls-sig-api-v2 verifies as
// issued, and no other spelling of it does — junk appended, padding changed, unused base64 bits set, bytes after the
// zlib stream. (Node's base64 and zlib are lenient, so before this about half of such spellings verified.)

import t from 'tap';
import { VECTOR_APP as APP, VECTOR_KEY as KEY, VECTOR_T0 as T0, withClock } from '../helpers/official-lib.js';
import { createRequire } from 'node:module';
import { deflateSync, inflateSync } from 'node:zlib';
import { verifyUserSig } from '../../src/auth/usersig.js';
import { PRIV, verifyPrivateMapKey } from '../../src/auth/privatemapkey.js';

const require = createRequire(import.meta.url);
const TLSSigAPIv2 = require('tls-sig-api-v2') as {
  Api: new (sdkappid: number, key: string) => {
    genUserSig(userid: string, expire: number): string;
    genPrivateMapKey(userid: string, expire: number, roomid: number, privilegeMap: number): string;
    genPrivateMapKeyWithStringRoomID(userid: string, expire: number, roomstr: string, privilegeMap: number): string;
  };
};
const official = new TLSSigAPIv2.Api(APP, KEY);
const COUNT = 210;

const toStd = (s: string) => s.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
const fromStd = (s: string) => s.replace(/\+/g, '*').replace(/\//g, '-').replace(/=/g, '_');
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Every altered spelling of `sig` the tests try; all decode to the same signed content under a lenient decoder. */
function variants(sig: string): Array<[string, string]> {
  const out: Array<[string, string]> = ['x', 'xx', '=', '*', '_', '-', ' ', '\n'].map((s) => [
    `'${s}' appended`,
    sig + s,
  ]);
  const pad = /_*$/.exec(sig)![0].length;
  // Padding changed: one '_' fewer ('_' appended above is one more).
  if (pad > 0) out.push(['one padding character removed', sig.slice(0, -1)]);
  if (pad > 0) {
    // The last data character carries 2 (one '_') or 4 (two '_') unused bits; setting one keeps the bytes the same.
    const i = sig.length - pad - 1;
    const std = toStd(sig[i]!);
    const altered = fromStd(B64[B64.indexOf(std) ^ 1]!);
    out.push(['an unused bit set in the last character', sig.slice(0, i) + altered + sig.slice(i + 1)]);
  }
  // Bytes after the zlib stream, spelt canonically: only the zlib layer can notice them.
  const bytes = Buffer.from(toStd(sig), 'base64');
  out.push(['a byte after the zlib stream', fromStd(Buffer.concat([bytes, Buffer.from([0])]).toString('base64'))]);
  out.push(['three bytes after the zlib stream', fromStd(Buffer.concat([bytes, Buffer.from('abc')]).toString('base64'))]);
  return out;
}

t.test('official UserSigs verify as issued; every altered spelling is refused as malformed', async (t) => {
  let accepted = 0;
  let refused = 0;
  const tried = new Set<string>();
  const paddings = new Set<number>();
  const reasons = new Set<string>();
  for (let i = 0; i < COUNT; i++) {
    const userId = `user_${i.toString(36)}${'x'.repeat(i % 7)}`;
    const expire = 60 + i * 37;
    const sig = withClock(T0 + i, () => official.genUserSig(userId, expire));
    paddings.add(/_*$/.exec(sig)![0].length);
    const args = { sdkAppId: APP, secretKey: KEY, userId, now: T0 + i };
    const r = verifyUserSig({ ...args, userSig: sig });
    if (r.ok) accepted++;
    else t.fail(`untouched official sig for ${userId} refused: ${r.reason}`);
    for (const [what, bad] of variants(sig)) {
      tried.add(what);
      const v = verifyUserSig({ ...args, userSig: bad });
      if (!v.ok && v.code === 'malformed') {
        refused++;
        reasons.add(v.reason.replace(/\d+/g, 'N'));
      } else t.fail(`${what} to the sig for ${userId}: ${v.ok ? 'accepted' : v.reason}`);
    }
  }
  t.equal(accepted, COUNT, 'every untouched official UserSig verifies');
  t.ok(refused >= COUNT * 10, `${refused} altered spellings refused`);
  t.same([...paddings].sort(), [0, 1, 2], 'the sample has every padding length');
  t.ok(tried.has('an unused bit set in the last character'));
  t.comment([...reasons].sort().join('\n'));
});

t.test('official PrivateMapKeys (string and numeric rooms) verify as issued; altered spellings are refused', async (t) => {
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < COUNT; i++) {
    const userId = `viewer_${i}`;
    const stringRoom = i % 2 === 0;
    const room = stringRoom ? `room_${i.toString(36)}${'r'.repeat(i % 5)}` : 1000 + i;
    const key = withClock(T0 + i, () =>
      stringRoom
        ? official.genPrivateMapKeyWithStringRoomID(userId, 300 + i, room as string, PRIV.ALL)
        : official.genPrivateMapKey(userId, 300 + i, room as number, PRIV.ALL),
    );
    const args = { sdkAppId: APP, secretKey: KEY, userId, room, need: PRIV.ENTER, now: T0 + i };
    const r = verifyPrivateMapKey({ ...args, privateMapKey: key });
    if (r.ok) accepted++;
    else t.fail(`untouched official privatemapkey for ${userId} refused: ${r.reason}`);
    for (const [what, bad] of variants(key)) {
      const v = verifyPrivateMapKey({ ...args, privateMapKey: bad });
      if (!v.ok && v.code === 'malformed' && v.reason.startsWith('privatemapkey is malformed: ')) refused++;
      else t.fail(`${what} to the privatemapkey for ${userId}: ${v.ok ? 'accepted' : v.reason}`);
    }
  }
  t.equal(accepted, COUNT, 'every untouched official PrivateMapKey verifies');
  t.ok(refused >= COUNT * 10, `${refused} altered spellings refused`);
});

t.test('each kind of alteration is named in the reason', async (t) => {
  /** An official sig whose text ends in exactly `pad` '_' characters. */
  const officialPadded = (pad: number) => {
    for (let expire = 600; ; expire++) {
      const s = withClock(T0, () => official.genUserSig('xiaojun', expire));
      if (/_*$/.exec(s)![0].length === pad) return s;
    }
  };
  const sig = officialPadded(0);
  const reason = (userSig: string) => {
    const r = verifyUserSig({ sdkAppId: APP, secretKey: KEY, userId: 'xiaojun', now: T0, userSig });
    return r.ok ? 'accepted!' : r.reason;
  };
  const bytes = Buffer.from(toStd(sig), 'base64');
  const withPadding = (b: Buffer) => fromStd(b.toString('base64'));
  t.match(reason(sig + 'x'), /^usersig is malformed: it is \d+ characters long, not a multiple of 4: characters were cut off or appended, or its '_' padding is wrong$/);
  t.equal(
    reason(withPadding(Buffer.concat([bytes, Buffer.from('junk')]))),
    'usersig is malformed: it has 4 bytes after the end of its zlib data: something was appended',
  );
  t.equal(reason(withPadding(bytes.subarray(0, bytes.length - 3))), 'usersig is malformed: its zlib data ends early: it was cut short');

  // Padding present: the last data character has unused bits, and setting one is refused.
  const padded = officialPadded(1);
  t.equal(reason(padded.slice(0, -1)), 'usersig is malformed: it is ' + (padded.length - 1) + " characters long, not a multiple of 4: characters were cut off or appended, or its '_' padding is wrong");
  t.equal(reason(padded + 'x'), "usersig is malformed: its '_' padding is not at the end");
  const pad = /_*$/.exec(padded)![0].length;
  const i = padded.length - pad - 1;
  const altered = padded.slice(0, i) + fromStd(B64[B64.indexOf(toStd(padded[i]!)) ^ 1]!) + padded.slice(i + 1);
  t.equal(
    reason(altered),
    'usersig is malformed: its last characters are not the canonical encoding: it was altered or has characters appended',
  );

  // Inside the JSON: TLS.sig spelt with an unused bit set decodes to the same 32 bytes, and is refused too.
  const doc = JSON.parse(inflateSync(bytes).toString('utf8'));
  const s = doc['TLS.sig'] as string; // 44 characters, one '=': the 43rd carries 2 unused bits
  const oddSig = s.slice(0, 42) + B64[B64.indexOf(s[42]!) ^ 1] + '=';
  t.same(Buffer.from(oddSig, 'base64'), Buffer.from(s, 'base64'), 'a lenient decoder reads the same HMAC');
  t.equal(
    reason(withPadding(deflateSync(Buffer.from(JSON.stringify({ ...doc, 'TLS.sig': oddSig }))))),
    'usersig is malformed: TLS.sig is missing or not a base64 HMAC-SHA256',
  );
  // Re-compressed differently (other libraries do): still the same credential, still accepted.
  t.equal(reason(withPadding(deflateSync(Buffer.from(JSON.stringify(doc) + '\n'), { level: 0 }))), 'accepted!');
});
