// What the API 3.0 room-management actions (RemoveUser, DismissRoom, SetUserBlocked and their string-room twins,
// trtc-egress.md §5) need from whoever runs rooms. The API checks every field; the service (src/room/room-control.ts,
// wired in main.ts) ends sessions and tasks and mutes publishers. Keeping the contract here keeps the API a side room.

import type { RoomRef } from '../room/room-ref.js';
import type { MediaBlock } from '../room/publisher.js';

export type { MediaBlock, RoomRef };

export interface RoomControlService {
  /**
   * Ends every session of the named users in the room, whatever carries it (RTMP, WHIP, a pull task, a WHEP viewer, a
   * recording's or a relay's agent): each leaves with 104 Reason 3, a task with its own callbacks too. Users not in
   * the room are passed over. 'no-room' when nobody is in it.
   */
  removeUsers(room: RoomRef, userIds: readonly string[]): 'removed' | 'no-room';
  /** Everyone out (each 104 Reason 3), then 102; tasks bound to the room end with their own callbacks. */
  dismiss(room: RoomRef): 'dismissed' | 'no-room';
  /** What of the user reaches no viewer, recorder or relay from now on; the user stays connected. */
  setBlocked(room: RoomRef, userId: string, block: MediaBlock): 'set' | 'no-room' | 'no-user';
}
