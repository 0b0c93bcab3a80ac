// The six room-management actions (trtc-egress.md §5): RemoveUser, DismissRoom, SetUserBlocked, each for an integer
// room and, as …ByStrRoomId, for a string room. Parameters checked (room-control-params.ts), the app known, then the
// service asked. Responses carry only RequestId, as Tencent's do.
//
// Codes, from the reference's table: an unknown SdkAppId is UnauthorizedOperation.SdkAppId for RemoveUser and
// DismissRoom and FailedOperation.SdkAppIdNotExist for SetUserBlocked; a room nobody is in is
// FailedOperation.RoomNotExist; SetUserBlocked on a user not in the room is FailedOperation.UserNotExist. The
// InternalError.* codes the reference also lists name Tencent's own cache and storage failures, which this gateway
// does not have; an unexpected failure here is the plain InternalError (tencent-api.ts).

import type { Door } from '../room/door.js';
import { describeRoomRef, type RoomRef } from '../room/room-ref.js';
import { Api3Error } from './api3-envelope.js';
import { isMuteParam, roomParam, userIdParam, userIdsParam, type RoomKind } from './room-control-params.js';
import type { RoomControlService } from './room-control-service.js';
import type { ActionHandler } from './stream-ingest-actions.js';

export function roomControlActions(deps: { door: Door; service: RoomControlService }): Record<string, ActionHandler> {
  const { door, service } = deps;

  const knownApp = (room: RoomRef, code: string): void => {
    if (!door.knows(room.sdkAppId)) {
      throw new Api3Error(code, `SdkAppId ${room.sdkAppId} is not an application of this service; check the SDKAppID.`);
    }
  };
  const noRoom = (room: RoomRef): Api3Error =>
    new Api3Error('FailedOperation.RoomNotExist', `${describeRoomRef(room)} of SdkAppId ${room.sdkAppId} does not exist: nobody is in it.`);

  const removeUser = (kind: RoomKind, action: string): ActionHandler => async (p) => {
    const room = roomParam(p, kind, 'RoomId', action);
    const userIds = userIdsParam(p);
    knownApp(room, 'UnauthorizedOperation.SdkAppId');
    if (service.removeUsers(room, userIds) === 'no-room') throw noRoom(room);
    return {};
  };

  const dismissRoom = (kind: RoomKind, action: string): ActionHandler => async (p) => {
    const room = roomParam(p, kind, 'RoomId', action);
    knownApp(room, 'UnauthorizedOperation.SdkAppId');
    if (service.dismiss(room) === 'no-room') throw noRoom(room);
    return {};
  };

  const setUserBlocked = (kind: RoomKind, action: string): ActionHandler => async (p) => {
    // SetUserBlockedByStrRoomId names the room StrRoomId, and its list has no InvalidParameterValue.RoomId
    const room = kind === 'integer' ? roomParam(p, kind, 'RoomId', action) : roomParam(p, kind, 'StrRoomId', action, 'InvalidParameter.RoomId');
    const userId = userIdParam(p);
    const block = isMuteParam(p);
    knownApp(room, 'FailedOperation.SdkAppIdNotExist');
    const r = service.setBlocked(room, userId, block);
    if (r === 'no-room') throw noRoom(room);
    if (r === 'no-user') {
      throw new Api3Error('FailedOperation.UserNotExist', `User ${userId} is not in ${describeRoomRef(room)}; only someone in the room can be blocked.`);
    }
    return {};
  };

  return {
    RemoveUser: removeUser('integer', 'RemoveUser'),
    RemoveUserByStrRoomId: removeUser('string', 'RemoveUserByStrRoomId'),
    DismissRoom: dismissRoom('integer', 'DismissRoom'),
    DismissRoomByStrRoomId: dismissRoom('string', 'DismissRoomByStrRoomId'),
    SetUserBlocked: setUserBlocked('integer', 'SetUserBlocked'),
    SetUserBlockedByStrRoomId: setUserBlocked('string', 'SetUserBlockedByStrRoomId'),
  };
}
