// Room control, the RoomControlService behind the API 3.0 room-management actions: RemoveUser and DismissRoom end
// sessions and tasks through their handles in the room (src/room/rooms.ts), SetUserBlocked mutes at the publisher's
// pipe.
// A removed session's credential is revoked at the door for that room, so the user comes back only with a new
// UserSig (an encoder reconnecting on its own would otherwise undo the removal at once).

import type { Logger } from '../log.js';
import type { MediaBlock, RoomControlService } from '../api/room-control-service.js';
import type { RemovalCause, RoomHandle, Rooms } from './rooms.js';
import { describeRoomRef, type RoomRef } from './room-ref.js';

export class RoomControl implements RoomControlService {
  constructor(
    private readonly rooms: Rooms,
    private readonly log: Logger,
  ) {}

  removeUsers(room: RoomRef, userIds: readonly string[]): 'removed' | 'no-room' {
    const handles = this.rooms.handlesOf(room);
    if (handles.length === 0) return 'no-room';
    const wanted = new Set(userIds);
    const removed = this.remove(handles.filter((m) => wanted.has(m.ticket.userId)), `removed from ${describeRoomRef(room)} by RemoveUser`, 'removed');
    this.log.info({ room: describeRoomRef(room), userIds, sessions: removed }, 'users removed');
    return 'removed';
  }

  dismiss(room: RoomRef): 'dismissed' | 'no-room' {
    const handles = this.rooms.handlesOf(room);
    if (handles.length === 0) return 'no-room';
    this.rooms.forgetBlocks(room);
    const removed = this.remove(handles, `${describeRoomRef(room)} was dismissed by DismissRoom`, 'dismissed');
    // Every member leaves synchronously, so 102 has gone out already; one that did not is a bug worth a line.
    const left = this.rooms.handlesOf(room).length;
    if (left > 0) this.log.warn({ room: describeRoomRef(room), left }, 'members still in a dismissed room');
    this.log.info({ room: describeRoomRef(room), sessions: removed }, 'room dismissed');
    return 'dismissed';
  }

  setBlocked(room: RoomRef, userId: string, block: MediaBlock): 'set' | 'no-room' | 'no-user' {
    const handles = this.rooms.handlesOf(room);
    if (handles.length === 0) return 'no-room';
    if (!handles.some((m) => m.ticket.userId === userId)) return 'no-user';
    this.rooms.setBlocked(room, userId, block);
    this.log.info({ room: describeRoomRef(room), userId, ...block }, 'user blocked');
    return 'set';
  }

  /** Publishers first, so the tasks whose users they are (pull) end as kicked, then the audience and bound tasks. */
  private remove(handles: RoomHandle[], reason: string, cause: RemovalCause): number {
    const order = { publisher: 0, audience: 1, task: 2 } as const;
    handles.sort((a, b) => order[a.kind] - order[b.kind]);
    for (const h of handles) {
      this.rooms.door.revoke(h.ticket);
      h.remove(reason, cause);
    }
    return handles.length;
  }
}
