// Parameter checks for the room-management actions (trtc-egress.md §5), with the codes the reference lists for each:
// RemoveUser / DismissRoom / SetUserBlocked name an integer room by `RoomId` (a JSON number), RemoveUserByStrRoomId /
// DismissRoomByStrRoomId a string room by `RoomId` (a string), and SetUserBlockedByStrRoomId by `StrRoomId`
// (§9.2). null counts as absent: the official SDK drops nulls.

import { checkNumericRoomId, checkStringRoomId, checkUserId } from '../auth/ids.js';
import type { RoomRef } from '../room/room-ref.js';
import { Api3Error } from './api3-envelope.js';
import { present, show, type Obj } from './cloud-recording-fields.js';
import type { MediaBlock } from './room-control-service.js';
import { sdkAppIdParam } from './stream-ingest-params.js';

/** RemoveUser takes at most this many users per call (the SDK model's "最多10个"). */
export const MAX_REMOVED_USERS = 10;

/** Which action family: the integer-room actions, or their …ByStrRoomId twins. */
export type RoomKind = 'integer' | 'string';

/** IsMute (doc 51289): 0 unmutes, 1 mutes audio and video, 2 audio only, 3 video only. Each call sets the whole state. */
const IS_MUTE: Readonly<Record<number, MediaBlock>> = {
  0: { audio: false, video: false },
  1: { audio: true, video: true },
  2: { audio: true, video: false },
  3: { audio: false, video: true },
};

/**
 * The room of a request. `field` is RoomId, except SetUserBlockedByStrRoomId's StrRoomId. A value of the wrong JSON
 * type is InvalidParameter.RoomId, one out of the room rules InvalidParameterValue.RoomId (`badValue` for the action
 * whose list lacks that code).
 */
export function roomParam(p: Obj, kind: RoomKind, field: 'RoomId' | 'StrRoomId', action: string, badValue = 'InvalidParameterValue.RoomId'): RoomRef {
  const sdkAppId = sdkAppIdParam(p);
  if (!present(p, field)) {
    throw new Api3Error('MissingParameter.RoomId', `${field} is missing: send the ${kind === 'integer' ? 'integer' : 'string'} room ${action} acts on.`);
  }
  const raw = p[field];
  const twin = kind === 'integer' ? `${action}ByStrRoomId` : action.replace(/ByStrRoomId$/, '');
  if (kind === 'integer') {
    if (typeof raw !== 'number') {
      throw new Api3Error('InvalidParameter.RoomId', `${field} must be an integer room number; got ${show(raw)}. For a string room, call ${twin}.`);
    }
    const why = checkNumericRoomId(raw);
    if (why) throw new Api3Error(badValue, `${field}: ${why}.`);
    return { sdkAppId, roomId: String(raw), numericRoom: true };
  }
  if (typeof raw !== 'string') {
    throw new Api3Error('InvalidParameter.RoomId', `${field} must be a string room id; got ${show(raw)}. For an integer room, call ${twin}.`);
  }
  const why = checkStringRoomId(raw);
  if (why) throw new Api3Error(badValue, `${field}: ${why}.`);
  return { sdkAppId, roomId: raw, numericRoom: false };
}

/** RemoveUser's UserIds: 1 to 10 valid user ids. */
export function userIdsParam(p: Obj): string[] {
  if (!present(p, 'UserIds')) throw new Api3Error('MissingParameter.UserIds', 'UserIds is missing: send the user ids to remove, at most 10.');
  const v = p.UserIds;
  if (!Array.isArray(v) || v.length === 0) {
    throw new Api3Error('InvalidParameter.UserIds', `UserIds must be a list of 1 to ${MAX_REMOVED_USERS} user ids; got ${show(v)}.`);
  }
  if (v.length > MAX_REMOVED_USERS) {
    throw new Api3Error('InvalidParameter.UserIds', `UserIds holds ${v.length} users; the limit is ${MAX_REMOVED_USERS} per call: split the list.`);
  }
  return v.map((u, i) => {
    const why = typeof u === 'string' ? checkUserId(u) : `user id must be a string, got ${show(u)}`;
    if (why) throw new Api3Error('InvalidParameter.UserIds', `UserIds[${i}]: ${why}.`);
    return u as string;
  });
}

/** SetUserBlocked's UserId. */
export function userIdParam(p: Obj): string {
  if (!present(p, 'UserId')) throw new Api3Error('MissingParameter.UserId', 'UserId is missing: send the user whose audio or video to block.');
  const v = p.UserId;
  const why = typeof v === 'string' ? checkUserId(v) : `user id must be a string, got ${show(v)}`;
  if (why) throw new Api3Error('InvalidParameter.UserId', `UserId: ${why}.`);
  return v as string;
}

/** SetUserBlocked's IsMute as what it blocks. */
export function isMuteParam(p: Obj): MediaBlock {
  if (!present(p, 'IsMute')) {
    throw new Api3Error('MissingParameter', 'IsMute is missing: send 0 to unblock, 1 to block audio and video, 2 audio only, 3 video only.');
  }
  const v = p.IsMute;
  const block = typeof v === 'number' && Object.hasOwn(IS_MUTE, v) ? IS_MUTE[v] : undefined;
  if (!block) {
    throw new Api3Error('InvalidParameter', `IsMute must be 0 (unblock), 1 (block audio and video), 2 (audio only) or 3 (video only); got ${show(v)}.`);
  }
  return block;
}
