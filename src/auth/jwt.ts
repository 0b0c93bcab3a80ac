// Bearer JWT: our own alternative to UserSig(+PrivateMapKey) for clients that already speak JWT. HS256 only, keyed
// with the application's SDKSecretKey, so no new secret has to be distributed. One token states who (sub), where
// (room, "*" = any), what (priv, the PrivateMapKey bit layout) and until when (exp, required).
//
// Room claims are strings; a numeric room matches the claim equal to its decimal text. JWT cannot tell numeric
// 123 from string "123" apart — issue tokens for the room id form your clients actually use.

import jwt from 'jsonwebtoken';
import { describeRoom, quote, type RoomId } from './ids.js';
import { missingPrivileges, PRIV } from './privileges.js';
import { isoSeconds, nowSeconds } from './time.js';

export const ANY_ROOM = '*';

export interface RoomTokenClaims {
  sdkappid: number;
  sub: string;
  room: string;
  priv: number;
  exp: number;
  iat?: number;
  nbf?: number;
}

export interface SignRoomTokenArgs {
  sdkAppId: number;
  secretKey: string;
  userId: string;
  /** A room id, or "*" for any room. */
  room: RoomId;
  privileges: number;
  expireSeconds: number;
  now?: number;
}

export function signRoomToken(args: SignRoomTokenArgs): string {
  const now = args.now ?? nowSeconds();
  const claims: RoomTokenClaims = {
    sdkappid: args.sdkAppId,
    sub: args.userId,
    room: String(args.room),
    priv: args.privileges,
    iat: now,
    exp: now + args.expireSeconds,
  };
  return jwt.sign(claims, args.secretKey, { algorithm: 'HS256' });
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function decodePart(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Three base64url parts whose header is a JSON object with an `alg` — how a bearer value is routed to JWT. */
export function looksLikeJwt(value: string): boolean {
  if (!JWT_SHAPE.test(value)) return false;
  const header = decodePart(value.slice(0, value.indexOf('.')));
  return header !== undefined && typeof header.alg === 'string';
}

export type RoomTokenFailureCode =
  | 'malformed'
  | 'bad-algorithm'
  | 'wrong-app'
  | 'unknown-app'
  | 'bad-signature'
  | 'expired'
  | 'not-yet-valid'
  | 'wrong-user'
  | 'wrong-room'
  | 'missing-privilege';

export type RoomTokenResult =
  | { ok: true; claims: RoomTokenClaims; privileges: number }
  | { ok: false; code: RoomTokenFailureCode; reason: string };

export interface VerifyRoomTokenArgs {
  token: string;
  sdkAppId: number;
  /** The app's secret key, or a lookup from sdkappid to it (undefined = unknown app). */
  secretKey: string | ((sdkAppId: number) => string | undefined);
  userId: string;
  room: RoomId;
  /** Every one of these bits is required. */
  need: number;
  /** When given and non-zero, at least one of these bits is required too. */
  needAnyOf?: number;
  now?: number;
}

/** Checks the claim types we rely on; returns what is wrong, or the typed claims. */
function readClaims(payload: Record<string, unknown>): RoomTokenClaims | string {
  const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (!isUint(payload.sdkappid)) return 'claim sdkappid is missing or not an integer';
  if (typeof payload.sub !== 'string') return 'claim sub (the user id) is missing or not a string';
  if (typeof payload.room !== 'string') return 'claim room is missing or not a string ("*" means any room)';
  if (!isUint(payload.priv)) return 'claim priv (privilege bitmask) is missing or not an integer';
  if (payload.exp === undefined) return 'claim exp is missing; room tokens must expire';
  if (!isTime(payload.exp)) return 'claim exp is not a number of Unix seconds';
  if (payload.nbf !== undefined && !isTime(payload.nbf)) return 'claim nbf is not a number of Unix seconds';
  return payload as unknown as RoomTokenClaims;
}

export function verifyRoomToken(args: VerifyRoomTokenArgs): RoomTokenResult {
  const fail = (code: RoomTokenFailureCode, reason: string): RoomTokenResult => ({ ok: false, code, reason });
  const token = args.token;
  if (typeof token !== 'string' || !JWT_SHAPE.test(token)) {
    return fail('malformed', 'room token is malformed: it is not three base64url parts separated by dots');
  }
  const [headerPart, payloadPart] = token.split('.');
  const header = decodePart(headerPart!);
  if (!header) return fail('malformed', 'room token is malformed: its header is not a JSON object');
  // Decide on the algorithm ourselves, before any library sees the token: alg "none" and asymmetric or
  // other HMAC algorithms are refused outright.
  if (header.alg !== 'HS256') {
    return fail('bad-algorithm', `room token uses alg ${quote(String(header.alg))}; only HS256 is accepted`);
  }
  const payload = decodePart(payloadPart!);
  if (!payload) return fail('malformed', 'room token is malformed: its payload is not a JSON object');
  const claims = readClaims(payload);
  if (typeof claims === 'string') return fail('malformed', `room token is malformed: ${claims}`);

  if (claims.sdkappid !== args.sdkAppId) {
    return fail('wrong-app', `room token was issued for sdkappid ${claims.sdkappid}, not ${args.sdkAppId}`);
  }
  const secretKey = typeof args.secretKey === 'function' ? args.secretKey(args.sdkAppId) : args.secretKey;
  if (secretKey === undefined) return fail('unknown-app', `unknown sdkappid ${args.sdkAppId}`);
  try {
    // Signature only: time claims are checked below against the caller's `now`, with our own wording.
    jwt.verify(token, secretKey, { algorithms: ['HS256'], ignoreExpiration: true, ignoreNotBefore: true });
  } catch (err) {
    const message = (err as Error).message;
    if (message === 'invalid signature') {
      return fail(
        'bad-signature',
        `room token signature does not match: wrong secret key for sdkappid ${args.sdkAppId}, or the token was altered`,
      );
    }
    return fail('malformed', `room token is malformed: ${message}`);
  }

  const now = args.now ?? nowSeconds();
  if (now >= claims.exp) return fail('expired', `room token expired at ${isoSeconds(claims.exp)}`);
  if (claims.nbf !== undefined && now < claims.nbf) {
    return fail('not-yet-valid', `room token is not valid before ${isoSeconds(claims.nbf)}`);
  }
  if (claims.sub !== args.userId) {
    return fail('wrong-user', `room token was issued for user ${quote(claims.sub)}, not ${quote(args.userId)}`);
  }
  if (claims.room !== ANY_ROOM && claims.room !== String(args.room)) {
    return fail('wrong-room', `room token is for room ${quote(claims.room)}, not ${describeRoom(args.room)}`);
  }
  const missing = missingPrivileges(claims.priv, args.need, args.needAnyOf);
  if (missing) return fail('missing-privilege', `room token ${missing}`);
  return { ok: true, claims, privileges: claims.priv & PRIV.ALL };
}
