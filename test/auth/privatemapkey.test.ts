// PrivateMapKey: both reference userbuf vectors byte for byte, interop with the official library, the binary
// decoder's bounds checks, and every refusal of verifyPrivateMapKey with its reason.

import t from 'tap';
import { VECTOR_APP as APP, VECTOR_KEY as KEY, VECTOR_T0 as T0, withClock } from '../helpers/official-lib.js';
import { createRequire } from 'node:module';
import {
  decodePrivateMapUserbuf,
  describePrivileges,
  encodePrivateMapUserbuf,
  genPrivateMapKey,
  missingPrivileges,
  PRIV,
  verifyPrivateMapKey,
} from '../../src/auth/privatemapkey.js';
import { genUserSig, verifyUserSig } from '../../src/auth/usersig.js';

const require = createRequire(import.meta.url);
const TLSSigAPIv2 = require('tls-sig-api-v2') as {
  Api: new (sdkappid: number, key: string) => {
    genPrivateMapKey(userid: string, expire: number, roomid: number, privilegeMap: number): string;
    genPrivateMapKeyWithStringRoomID(userid: string, expire: number, roomstr: string, privilegeMap: number): string;
  };
};

const STRING_ROOM_VECTOR = '0100077869616f6a756e53724e00000000006553f22c000000ff000000000008726f6f6d5f616263';
const NUMERIC_ROOM_VECTOR = '0000077869616f6a756e53724e00000004d26553f22c0000002a00000000';


const base = { sdkAppId: APP, secretKey: KEY, userId: 'xiaojun' };

t.test('privilege constants are the TRTC bits', async (t) => {
  t.same(PRIV, {
    CREATE: 1, ENTER: 2, SEND_AUDIO: 4, RECV_AUDIO: 8, SEND_VIDEO: 16, RECV_VIDEO: 32, SEND_SUB: 64, RECV_SUB: 128, ALL: 255,
  });
  t.equal(describePrivileges(42), 'enter, receive audio, receive video');
  t.equal(describePrivileges(0), 'none');
  t.equal(missingPrivileges(42, PRIV.ENTER | PRIV.RECV_AUDIO), null);
  t.equal(missingPrivileges(42, PRIV.SEND_VIDEO | PRIV.CREATE), 'lacks the privileges to create the room and send video (has enter, receive audio, receive video)');
  t.equal(missingPrivileges(2, PRIV.ENTER, PRIV.SEND_AUDIO | PRIV.SEND_VIDEO), 'lacks the privilege to send audio or send video (has enter)');
  t.equal(missingPrivileges(6, PRIV.ENTER, PRIV.SEND_AUDIO | PRIV.SEND_VIDEO), null);
});

t.test('userbuf encoding reproduces both reference vectors', async (t) => {
  const str = encodePrivateMapUserbuf({ userId: 'xiaojun', sdkAppId: APP, room: 'room_abc', expiresAt: T0 + 300, privileges: 255 });
  t.equal(str.toString('hex'), STRING_ROOM_VECTOR);
  t.equal(str.length, 40);
  const num = encodePrivateMapUserbuf({ userId: 'xiaojun', sdkAppId: APP, room: 1234, expiresAt: T0 + 300, privileges: 42 });
  t.equal(num.toString('hex'), NUMERIC_ROOM_VECTOR);
  t.equal(num.length, 30);

  t.same(decodePrivateMapUserbuf(Buffer.from(STRING_ROOM_VECTOR, 'hex')), {
    ok: true,
    record: { userId: 'xiaojun', sdkAppId: APP, room: 'room_abc', expiresAt: T0 + 300, privileges: 255, accountType: 0 },
  });
  t.same(decodePrivateMapUserbuf(Buffer.from(NUMERIC_ROOM_VECTOR, 'hex')), {
    ok: true,
    record: { userId: 'xiaojun', sdkAppId: APP, room: 1234, expiresAt: T0 + 300, privileges: 42, accountType: 0 },
  });

  // The full key carries exactly that userbuf.
  const pmk = genPrivateMapKey({ ...base, expireSeconds: 300, room: 'room_abc', privileges: 255, now: T0 });
  const env = verifyUserSig({ ...base, userSig: pmk, now: T0, expectUserbuf: true });
  t.ok(env.ok && env.userbuf?.toString('hex') === STRING_ROOM_VECTOR);
});

t.test('official library: byte-identical keys, and its keys verify with ours', async (t) => {
  const api = new TLSSigAPIv2.Api(APP, KEY);
  const officialNum = withClock(T0, () => api.genPrivateMapKey('xiaojun', 300, 1234, 42));
  const officialStr = withClock(T0, () => api.genPrivateMapKeyWithStringRoomID('xiaojun', 300, 'room_abc', 255));
  t.equal(genPrivateMapKey({ ...base, expireSeconds: 300, room: 1234, privileges: 42, now: T0 }), officialNum);
  t.equal(genPrivateMapKey({ ...base, expireSeconds: 300, room: 'room_abc', privileges: 255, now: T0 }), officialStr);

  const num = verifyPrivateMapKey({ ...base, privateMapKey: officialNum, room: 1234, need: PRIV.ENTER | PRIV.RECV_VIDEO, now: T0 + 300 });
  t.same(num.ok && [num.privileges, num.expiresAt, num.record.room], [42, T0 + 300, 1234]);
  const str = verifyPrivateMapKey({ ...base, privateMapKey: officialStr, room: 'room_abc', need: PRIV.ALL, now: T0 + 1 });
  t.same(str.ok && [str.privileges, str.record.room], [255, 'room_abc']);

  // Unpinned clock (fractional Date.now in the official userbuf arithmetic) still verifies now.
  const live = api.genPrivateMapKeyWithStringRoomID('live_user', 600, 'live-room', PRIV.ENTER | PRIV.SEND_AUDIO);
  t.equal(verifyPrivateMapKey({ ...base, userId: 'live_user', privateMapKey: live, room: 'live-room', need: PRIV.ENTER }).ok, true);
});

t.test('verifyPrivateMapKey refusals', async (t) => {
  const num = genPrivateMapKey({ ...base, expireSeconds: 300, room: 1234, privileges: 42, now: T0 });
  const str = genPrivateMapKey({ ...base, expireSeconds: 300, room: 'x', privileges: 255, now: T0 });
  const check = (privateMapKey: string, over: Partial<Parameters<typeof verifyPrivateMapKey>[0]>) => {
    const r = verifyPrivateMapKey({ ...base, privateMapKey, room: 1234, need: PRIV.ENTER, now: T0, ...over });
    return r.ok ? 'accepted' : `${r.code}: ${r.reason}`;
  };

  t.equal(check(str, { room: 'y' }), "wrong-room: privatemapkey is for room 'x', not 'y'");
  t.equal(check(num, { room: 4321 }), 'wrong-room: privatemapkey is for room 1234, not 4321');
  t.equal(check(num, { room: '1234' }), "wrong-room: privatemapkey is for numeric room 1234, not string room '1234'");
  t.equal(check(num, { now: T0 + 301 }), 'expired: privatemapkey expired at 2023-11-14T22:18:20Z');
  t.equal(check(num, { now: T0 + 300 }), 'accepted', 'valid through its last second');
  t.equal(
    check(num, { need: PRIV.SEND_VIDEO }),
    'missing-privilege: privatemapkey lacks the privilege to send video (has enter, receive audio, receive video)',
  );
  t.equal(
    check(num, { need: PRIV.ENTER, needAnyOf: PRIV.SEND_AUDIO | PRIV.SEND_VIDEO }),
    'missing-privilege: privatemapkey lacks the privilege to send audio or send video (has enter, receive audio, receive video)',
  );
  t.equal(check(num, { userId: 'bob' }), "wrong-user: privatemapkey was signed for user 'xiaojun', not 'bob'");
  t.equal(check(num, { sdkAppId: 1400000001 }), 'wrong-app: privatemapkey was signed for sdkappid 1400000000, not 1400000001');
  t.equal(
    check(num, { secretKey: 'other' }),
    'bad-signature: privatemapkey signature does not match: wrong secret key for sdkappid 1400000000, or the privatemapkey was altered',
  );
  t.equal(check('%%%', {}), 'malformed: privatemapkey is malformed: it has characters outside A-Z a-z 0-9 * - _');
  const plainUserSig = genUserSig({ ...base, expireSeconds: 300, now: T0 });
  t.equal(check(plainUserSig, {}), 'malformed: privatemapkey is malformed: it carries no userbuf (is this a usersig?)');

  // Properly signed envelopes around bad or inconsistent records.
  const signedWith = (userbuf: Buffer) => genUserSig({ ...base, expireSeconds: 300, now: T0, userbuf });
  t.equal(
    check(signedWith(Buffer.from('0001', 'hex')), {}),
    'malformed: privatemapkey is malformed: userbuf is 2 bytes long, shorter than the 23-byte minimum',
  );
  const forBob = encodePrivateMapUserbuf({ userId: 'bob', sdkAppId: APP, room: 1234, expiresAt: T0 + 300, privileges: 255 });
  t.equal(check(signedWith(forBob), {}), "wrong-user: privatemapkey userbuf was issued for user 'bob', not 'xiaojun'");
  const otherApp = encodePrivateMapUserbuf({ userId: 'xiaojun', sdkAppId: 7, room: 1234, expiresAt: T0 + 300, privileges: 255 });
  t.equal(check(signedWith(otherApp), {}), 'wrong-app: privatemapkey userbuf was issued for sdkappid 7, not 1400000000');
  // Record expiry earlier than the envelope's: the earlier one wins and is the one reported.
  const early = encodePrivateMapUserbuf({ userId: 'xiaojun', sdkAppId: APP, room: 1234, expiresAt: T0 + 10, privileges: 255 });
  t.equal(check(signedWith(early), { now: T0 + 11 }), 'expired: privatemapkey expired at 2023-11-14T22:13:30Z');
});

t.test('decodePrivateMapUserbuf is bounds-checked', async (t) => {
  const num = Buffer.from(NUMERIC_ROOM_VECTOR, 'hex');
  const str = Buffer.from(STRING_ROOM_VECTOR, 'hex');
  const reason = (buf: Buffer) => {
    const r = decodePrivateMapUserbuf(buf);
    return r.ok ? 'accepted' : r.reason;
  };
  t.equal(reason(Buffer.alloc(0)), 'userbuf is 0 bytes long, shorter than the 23-byte minimum');
  t.equal(reason(Buffer.concat([Buffer.from([2]), num.subarray(1)])), 'userbuf version 2 is unknown (expected 0 or 1)');
  t.equal(reason(num.subarray(0, 29)), 'userbuf is 29 bytes long, too short for its 7-byte user id');
  const hugeAccount = Buffer.from(num);
  hugeAccount.writeUInt16BE(0xffff, 1);
  t.equal(reason(hugeAccount), 'userbuf is 30 bytes long, too short for its 65535-byte user id');
  t.equal(reason(str.subarray(0, 31)), 'userbuf is 31 bytes long, too short for its 7-byte user id');
  t.equal(reason(str.subarray(0, 39)), 'userbuf is 39 bytes long, too short for its 8-byte room id');
  t.equal(reason(Buffer.concat([num, Buffer.from([0])])), 'userbuf has 1 unexpected trailing bytes');
  const badUtf8 = Buffer.from(num);
  badUtf8[3] = 0xff;
  t.equal(reason(badUtf8), 'userbuf user id is not valid UTF-8');
  const badRoomUtf8 = Buffer.from(str);
  badRoomUtf8[32] = 0xc3;
  t.equal(reason(badRoomUtf8), 'userbuf room id is not valid UTF-8');
  t.equal(reason(Buffer.from(STRING_ROOM_VECTOR, 'hex')), 'accepted');
});

t.test('encodePrivateMapUserbuf refuses values that do not fit their fields', async (t) => {
  const ok = { userId: 'u', sdkAppId: APP, room: 1, expiresAt: T0, privileges: 2 };
  t.throws(() => encodePrivateMapUserbuf({ ...ok, room: 2 ** 32 }), RangeError);
  t.throws(() => encodePrivateMapUserbuf({ ...ok, sdkAppId: -1 }), RangeError);
  t.throws(() => encodePrivateMapUserbuf({ ...ok, expiresAt: 1.5 }), RangeError);
  t.throws(() => encodePrivateMapUserbuf({ ...ok, room: 'r'.repeat(0x10000) }), RangeError);
  t.throws(() => encodePrivateMapUserbuf({ ...ok, userId: 'u'.repeat(0x10000) }), RangeError);
  t.equal(encodePrivateMapUserbuf({ ...ok, room: 'é' }).readUInt16BE(24 + 0), 2, 'room length is in UTF-8 bytes');
});
