// How a door refusal (src/auth/authenticate.ts) reads as an API 3.0 error, for every action that lets a task's user
// into a room (stream ingest, cloud recording). The reason already says what is wrong; the code says which field.

import type { Refusal } from '../room/door.js';
import { Api3Error } from './api3-envelope.js';

export function authError(auth: Refusal): Api3Error {
  switch (auth.code) {
    case 'draining':
      // API 3.0's common code for a service that cannot take the call now; the caller retries (on another node)
      return new Api3Error('ResourceUnavailable', `${auth.reason}.`);
    case 'invalid-sdkappid':
    case 'unknown-sdkappid':
      return new Api3Error('InvalidParameter.SdkAppId', `SdkAppId: ${auth.reason}.`);
    case 'invalid-userid':
      return new Api3Error('InvalidParameter.UserId', `UserId: ${auth.reason}.`);
    case 'invalid-roomid':
      return new Api3Error('InvalidParameter.RoomId', `RoomId: ${auth.reason}.`);
    default:
      // UserSig and PrivateMapKey refusals; the reason names which one and what is wrong with it.
      return new Api3Error('InvalidParameter.UserSig', `${auth.reason}.`);
  }
}
