// The single authentication entry every ingest path calls (RTMP connect/publish, WHIP, pulls started by API), in
// the spirit of MediaMTX's auth manager: one synchronous, I/O-free decision with an HTTP-like status and a reason
// a user can act on. Protocol adapters only translate the status (e.g. RTMP error vs WHIP 401/403).
//
// Order: ids (400) → app (404) → credential (401): a bearer that looks like a JWT goes to the JWT path, anything
// else is a UserSig → PrivateMapKey (403) when one is given, or required by the app for UserSig logins.

import { checkRoomId, checkSdkAppId, checkUserId, type RoomId } from './ids.js';
import { looksLikeJwt, verifyRoomToken, type RoomTokenFailureCode } from './jwt.js';
import { verifyPrivateMapKey, type PrivateMapKeyFailureCode } from './privatemapkey.js';
import { missingPrivileges, PRIV } from './privileges.js';
import { verifyUserSig, type UserSigFailureCode } from './usersig.js';

export interface AppEntry {
  sdkAppId: number;
  secretKey: string;
  /** Like TRTC's "advanced permission control": UserSig logins must also present a valid PrivateMapKey. */
  requirePrivateMapKey?: boolean;
}

export interface AppTable {
  get(sdkAppId: number): AppEntry | undefined;
}

export type AuthAction = 'publish' | 'subscribe';

export interface AuthRequest {
  sdkAppId: number;
  userId: string;
  roomId: RoomId;
  credential: { kind: 'usersig' | 'bearer'; value: string };
  privateMapKey?: string;
  action: AuthAction;
  now?: number;
}

export interface Principal {
  sdkAppId: number;
  userId: string;
  roomId: RoomId;
  /** Granted bits (PRIV); a plain UserSig grants everything in any room. */
  privileges: number;
  via: 'usersig' | 'jwt';
}

export type AuthFailureCode =
  | 'invalid-sdkappid'
  | 'invalid-userid'
  | 'invalid-roomid'
  | 'unknown-sdkappid'
  | 'missing-credential'
  | `usersig-${UserSigFailureCode}`
  | `jwt-${RoomTokenFailureCode}`
  | 'privatemapkey-required'
  /** Not decided here: the room's door (src/room/door.ts) refuses the credential of a session removed by RemoveUser. */
  | 'credential-revoked'
  | `privatemapkey-${PrivateMapKeyFailureCode}`;

export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; status: 400 | 401 | 403 | 404; code: AuthFailureCode; reason: string };

/**
 * Publishing needs to enter the room and send audio or video; subscribing needs to enter and receive audio or video.
 * Sub-stream bits alone do neither: our ingest publishes, and our viewers receive, the main stream. A credential
 * that grants one kind only gets that track (trackRefusals in privileges.ts).
 */
export const ACTION_NEEDS: Readonly<Record<AuthAction, { all: number; anyOf: number }>> = {
  publish: { all: PRIV.ENTER, anyOf: PRIV.SEND_AUDIO | PRIV.SEND_VIDEO },
  subscribe: { all: PRIV.ENTER, anyOf: PRIV.RECV_AUDIO | PRIV.RECV_VIDEO },
};

/** JWT refusals about room or privileges are authorization (403); the rest mean "who are you?" (401). */
const JWT_FORBIDDEN: ReadonlySet<RoomTokenFailureCode> = new Set(['wrong-room', 'missing-privilege']);

export function authenticate(apps: AppTable, req: AuthRequest): AuthResult {
  const idChecks: Array<[AuthFailureCode, string | null]> = [
    ['invalid-sdkappid', checkSdkAppId(req.sdkAppId)],
    ['invalid-userid', checkUserId(req.userId)],
    ['invalid-roomid', checkRoomId(req.roomId)],
  ];
  for (const [code, reason] of idChecks) {
    if (reason !== null) return { ok: false, status: 400, code, reason };
  }

  const app = apps.get(req.sdkAppId);
  if (!app) return { ok: false, status: 404, code: 'unknown-sdkappid', reason: `unknown sdkappid ${req.sdkAppId}` };

  const value = req.credential?.value;
  if (typeof value !== 'string' || value.length === 0) {
    const what = req.credential?.kind === 'bearer' ? 'bearer token' : 'usersig';
    return { ok: false, status: 401, code: 'missing-credential', reason: `no ${what} was given` };
  }

  const needs = ACTION_NEEDS[req.action];
  // What every verifier is asked: whose credential, signed with which key; room credentials also say for which room
  // and with what privileges.
  const whose = { sdkAppId: req.sdkAppId, secretKey: app.secretKey, userId: req.userId, now: req.now };
  const forRoom = { ...whose, room: req.roomId, need: needs.all, needAnyOf: needs.anyOf };
  let privileges: number;
  let via: Principal['via'];

  if (req.credential.kind === 'bearer' && looksLikeJwt(value)) {
    const r = verifyRoomToken({ token: value, ...forRoom });
    if (!r.ok) {
      return { ok: false, status: JWT_FORBIDDEN.has(r.code) ? 403 : 401, code: `jwt-${r.code}`, reason: r.reason };
    }
    privileges = r.privileges;
    via = 'jwt';
  } else {
    const r = verifyUserSig({ userSig: value, ...whose });
    if (!r.ok) return { ok: false, status: 401, code: `usersig-${r.code}`, reason: r.reason };
    privileges = PRIV.ALL;
    via = 'usersig';
    if (app.requirePrivateMapKey && !req.privateMapKey) {
      return {
        ok: false,
        status: 403,
        code: 'privatemapkey-required',
        reason: `sdkappid ${req.sdkAppId} requires a privatemapkey for room access, and none was given`,
      };
    }
  }

  // A PrivateMapKey that is present is always checked, even where it is optional: a bad one is never ignored.
  if (req.privateMapKey) {
    const r = verifyPrivateMapKey({ privateMapKey: req.privateMapKey, ...forRoom });
    if (!r.ok) return { ok: false, status: 403, code: `privatemapkey-${r.code}`, reason: r.reason };
    privileges &= r.privileges;
    // Each credential may satisfy the action alone while their overlap does not (JWT: send audio, PMK: send video).
    const missing = missingPrivileges(privileges, needs.all, needs.anyOf);
    if (missing) {
      return {
        ok: false,
        status: 403,
        code: 'privatemapkey-missing-privilege',
        reason: `what both the room token and the privatemapkey grant ${missing}`,
      };
    }
  }

  return {
    ok: true,
    principal: { sdkAppId: req.sdkAppId, userId: req.userId, roomId: req.roomId, privileges, via },
  };
}
