// PrivateMapKey: a TLS sig v2 (same envelope as a UserSig) whose TLS.userbuf is a big-endian binary record that
// pins the key to one room and a privilege bitmask, with its own absolute expiry:
//   u8 cVer (0 numeric room, 1 string room) | u16 accountLen | account bytes | u32 sdkappid | u32 authId (numeric
//   room, 0 for string rooms) | u32 expTime (absolute Unix s) | u32 privilegeMap | u32 accountType (0)
//   | cVer 1 only: u16 roomLen | room bytes
// Tencent's Node library measures lengths in UTF-16 units; we use UTF-8 byte lengths like the Go/PHP libraries
// (identical for the ASCII ids our rules allow).

import { describeRoom, quote, type RoomId } from './ids.js';
import { missingPrivileges, PRIV } from './privileges.js';
import { encodeTlsSig, verifyTlsSig } from './tls-sig.js';
import { isoSeconds, nowSeconds } from './time.js';

export { PRIV, describePrivileges, missingPrivileges } from './privileges.js';

export interface PrivateMapRecord {
  userId: string;
  sdkAppId: number;
  /** number → numeric room (cVer 0); string → string room (cVer 1). */
  room: RoomId;
  /** Absolute expiry, Unix seconds (dwExpTime). */
  expiresAt: number;
  privileges: number;
  /** dwAccountType; always 0 in Tencent's libraries. */
  accountType?: number;
}

const FIXED_TAIL_BYTES = 20; // sdkappid, authId, expTime, privilegeMap, accountType
const MIN_USERBUF_BYTES = 1 + 2 + FIXED_TAIL_BYTES;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function requireUint(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${name} ${value} does not fit the PrivateMapKey field (integer 0..${max})`);
  }
}

export function encodePrivateMapUserbuf(record: PrivateMapRecord): Buffer {
  const account = Buffer.from(record.userId, 'utf8');
  const roomText = typeof record.room === 'string' ? Buffer.from(record.room, 'utf8') : undefined;
  requireUint('user id byte length', account.length, 0xffff);
  requireUint('sdkappid', record.sdkAppId, 0xffffffff);
  requireUint('expiry time', record.expiresAt, 0xffffffff);
  requireUint('privilege map', record.privileges, 0xffffffff);
  requireUint('account type', record.accountType ?? 0, 0xffffffff);
  if (typeof record.room === 'number') requireUint('numeric room id', record.room, 0xffffffff);
  if (roomText) requireUint('room id byte length', roomText.length, 0xffff);

  const buf = Buffer.alloc(MIN_USERBUF_BYTES + account.length + (roomText ? 2 + roomText.length : 0));
  let off = buf.writeUInt8(roomText ? 1 : 0, 0);
  off = buf.writeUInt16BE(account.length, off);
  off += account.copy(buf, off);
  off = buf.writeUInt32BE(record.sdkAppId, off);
  off = buf.writeUInt32BE(typeof record.room === 'number' ? record.room : 0, off);
  off = buf.writeUInt32BE(record.expiresAt, off);
  off = buf.writeUInt32BE(record.privileges, off);
  off = buf.writeUInt32BE(record.accountType ?? 0, off);
  if (roomText) {
    off = buf.writeUInt16BE(roomText.length, off);
    roomText.copy(buf, off);
  }
  return buf;
}

export type DecodeUserbufResult = { ok: true; record: PrivateMapRecord } | { ok: false; reason: string };

/** Bounds-checked parse; every length is checked before it is used, and trailing bytes are refused. */
export function decodePrivateMapUserbuf(buf: Buffer): DecodeUserbufResult {
  const fail = (reason: string): DecodeUserbufResult => ({ ok: false, reason });
  if (buf.length < MIN_USERBUF_BYTES) {
    return fail(`userbuf is ${buf.length} bytes long, shorter than the ${MIN_USERBUF_BYTES}-byte minimum`);
  }
  const version = buf.readUInt8(0);
  if (version !== 0 && version !== 1) return fail(`userbuf version ${version} is unknown (expected 0 or 1)`);
  const accountLen = buf.readUInt16BE(1);
  const tailStart = 3 + accountLen;
  if (buf.length < tailStart + FIXED_TAIL_BYTES + (version === 1 ? 2 : 0)) {
    return fail(`userbuf is ${buf.length} bytes long, too short for its ${accountLen}-byte user id`);
  }
  let userId: string;
  try {
    userId = UTF8.decode(buf.subarray(3, tailStart));
  } catch {
    return fail('userbuf user id is not valid UTF-8');
  }
  const sdkAppId = buf.readUInt32BE(tailStart);
  const authId = buf.readUInt32BE(tailStart + 4);
  const expiresAt = buf.readUInt32BE(tailStart + 8);
  const privileges = buf.readUInt32BE(tailStart + 12);
  const accountType = buf.readUInt32BE(tailStart + 16);
  let end = tailStart + FIXED_TAIL_BYTES;

  let room: RoomId = authId;
  if (version === 1) {
    const roomLen = buf.readUInt16BE(end);
    end += 2;
    if (buf.length < end + roomLen) {
      return fail(`userbuf is ${buf.length} bytes long, too short for its ${roomLen}-byte room id`);
    }
    try {
      room = UTF8.decode(buf.subarray(end, end + roomLen));
    } catch {
      return fail('userbuf room id is not valid UTF-8');
    }
    end += roomLen;
  }
  if (end !== buf.length) return fail(`userbuf has ${buf.length - end} unexpected trailing bytes`);
  return { ok: true, record: { userId, sdkAppId, room, expiresAt, privileges, accountType } };
}

export interface GenPrivateMapKeyArgs {
  sdkAppId: number;
  secretKey: string;
  userId: string;
  /** Validity in seconds; the record stores now + expireSeconds, the envelope stores expireSeconds. */
  expireSeconds: number;
  room: RoomId;
  privileges: number;
  now?: number;
}

export function genPrivateMapKey(args: GenPrivateMapKeyArgs): string {
  const now = args.now ?? nowSeconds();
  const userbuf = encodePrivateMapUserbuf({
    userId: args.userId,
    sdkAppId: args.sdkAppId,
    room: args.room,
    expiresAt: now + args.expireSeconds,
    privileges: args.privileges,
  });
  return encodeTlsSig({
    sdkAppId: args.sdkAppId,
    secretKey: args.secretKey,
    userId: args.userId,
    time: now,
    expire: args.expireSeconds,
    userbuf,
  });
}

export type PrivateMapKeyFailureCode =
  | 'malformed'
  | 'wrong-app'
  | 'wrong-user'
  | 'wrong-room'
  | 'expired'
  | 'bad-signature'
  | 'missing-privilege';

export type PrivateMapKeyResult =
  | { ok: true; privileges: number; expiresAt: number; record: PrivateMapRecord }
  | { ok: false; code: PrivateMapKeyFailureCode; reason: string };

export interface VerifyPrivateMapKeyArgs {
  privateMapKey: string;
  sdkAppId: number;
  secretKey: string;
  userId: string;
  room: RoomId;
  /** Every one of these bits is required. */
  need: number;
  /** When given and non-zero, at least one of these bits is required too (e.g. send audio OR send video). */
  needAnyOf?: number;
  now?: number;
}

function roomMismatch(granted: RoomId, wanted: RoomId): string {
  if (typeof granted === typeof wanted) {
    return `privatemapkey is for room ${describeRoom(granted)}, not ${describeRoom(wanted)}`;
  }
  const kind = (r: RoomId) => (typeof r === 'number' ? 'numeric' : 'string');
  return (
    `privatemapkey is for ${kind(granted)} room ${describeRoom(granted)}, ` +
    `not ${kind(wanted)} room ${describeRoom(wanted)}`
  );
}

/**
 * Order: envelope (format, app, user, signature) → record (format, app, user) → room → expiry → privileges.
 * Expiry is the earlier of the record's absolute dwExpTime and the envelope's time + expire (equal when issued
 * by the official libraries).
 */
export function verifyPrivateMapKey(args: VerifyPrivateMapKeyArgs): PrivateMapKeyResult {
  const env = verifyTlsSig('privatemapkey', {
    sig: args.privateMapKey,
    sdkAppId: args.sdkAppId,
    secretKey: args.secretKey,
    userId: args.userId,
    now: args.now,
    checkExpiry: false,
  });
  if (!env.ok) {
    // With checkExpiry off and no userbuf expectation, only these codes can come back.
    return { ok: false, code: env.code as PrivateMapKeyFailureCode, reason: env.reason };
  }
  if (!env.userbuf) {
    return {
      ok: false,
      code: 'malformed',
      reason: 'privatemapkey is malformed: it carries no userbuf (is this a usersig?)',
    };
  }
  const decoded = decodePrivateMapUserbuf(env.userbuf);
  if (!decoded.ok) return { ok: false, code: 'malformed', reason: `privatemapkey is malformed: ${decoded.reason}` };
  const rec = decoded.record;

  if (rec.sdkAppId !== args.sdkAppId) {
    return {
      ok: false,
      code: 'wrong-app',
      reason: `privatemapkey userbuf was issued for sdkappid ${rec.sdkAppId}, not ${args.sdkAppId}`,
    };
  }
  if (rec.userId !== args.userId) {
    return {
      ok: false,
      code: 'wrong-user',
      reason: `privatemapkey userbuf was issued for user ${quote(rec.userId)}, not ${quote(args.userId)}`,
    };
  }
  if (typeof rec.room !== typeof args.room || rec.room !== args.room) {
    return { ok: false, code: 'wrong-room', reason: roomMismatch(rec.room, args.room) };
  }
  const expiresAt = Math.min(rec.expiresAt, env.time + env.expire);
  if ((args.now ?? nowSeconds()) > expiresAt) {
    return { ok: false, code: 'expired', reason: `privatemapkey expired at ${isoSeconds(expiresAt)}` };
  }
  const missing = missingPrivileges(rec.privileges, args.need, args.needAnyOf);
  if (missing) return { ok: false, code: 'missing-privilege', reason: `privatemapkey ${missing}` };
  return { ok: true, privileges: rec.privileges & PRIV.ALL, expiresAt, record: rec };
}
