// The user an API 3.0 task enters a room as (a pull task's publisher, a recording's recording user): checked at the
// same door as every RTMP, WHIP and WHEP user, with the request's UserSig and PrivateMapKey. A refusal becomes the
// API error that names the field (auth-errors.ts).

import type { AuthAction } from '../auth/authenticate.js';
import type { Door, Ticket } from '../room/door.js';
import { Api3Error } from './api3-envelope.js';
import { authError } from './auth-errors.js';

/** The API names an unknown SdkAppId before anything else. */
export function requireKnownApp(door: Door, sdkAppId: number): void {
  if (!door.knows(sdkAppId)) {
    throw new Api3Error('InvalidParameter.SdkAppId', `SdkAppId ${sdkAppId} is not an application of this service; check the SDKAppID.`);
  }
}

export interface TaskUser {
  sdkAppId: number;
  userId: string;
  /** As roomgate names rooms ("1234" for the integer room 1234). */
  roomId: string;
  /** Whether the request named an integer room. */
  numericRoom: boolean;
  userSig: string;
  privateMapKey?: string | undefined;
}

/** A ticket for the task's user, or the Api3Error that says why not. */
export function enterTaskUser(door: Door, u: TaskUser, action: AuthAction): Ticket {
  const auth = door.enter({
    sdkAppId: u.sdkAppId,
    userId: u.userId,
    roomId: u.numericRoom ? Number(u.roomId) : u.roomId,
    credential: { kind: 'usersig', value: u.userSig },
    ...(u.privateMapKey ? { privateMapKey: u.privateMapKey } : {}),
    action,
  });
  if (!auth.ok) throw authError(auth);
  return auth.ticket;
}
