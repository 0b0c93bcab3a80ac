// Many nodes, a drain's taker: the room sessions a draining node handed over with a recording or a relay — its users:
// the recording user, a relay's agent and a mixed relay's FeedBackRoomParams users. The giver ended them without a
// 104 (Rooms.handOver, Seat.handOver: the census keeps them in their rooms); here they are counted at once
// (Rooms.takeUp), as a pull task's session is, so that the task ending before its users are back still makes them
// leave (104). Each user then joins under its own session (Rooms.seat, Rooms.addPublisher): the census knows it, so
// no 103. A session no user of the task claims (the giver had a user this task no longer has) leaves at release().

import type { MemberRecord } from '../store/store.js';
import type { Rooms } from './rooms.js';
import { roomKey, type RoomRef } from './room-ref.js';

function keyOf(room: RoomRef, userId: string, role: MemberRecord['role']): string {
  return `${roomKey(room)}|${userId}|${role}`;
}

export class TakenSessions {
  /** Taken up here and not claimed yet, by room, user and role. */
  private readonly waiting = new Map<string, MemberRecord>();

  constructor(
    private readonly rooms: Rooms,
    handed: readonly MemberRecord[],
  ) {
    for (const s of handed) {
      rooms.takeUp(s);
      this.waiting.set(keyOf(s, s.userId, s.role), s);
    }
  }

  /** The session the user joins under as `role`, if one was handed over; from now on its join (or leave) is the caller's. */
  claim(room: RoomRef, userId: string, role: MemberRecord['role']): string | undefined {
    const k = keyOf(room, userId, role);
    const s = this.waiting.get(k);
    this.waiting.delete(k);
    return s?.sessionId;
  }

  /** The sessions nobody claimed leave their rooms (104), once: the task has started, or ended before its users joined. */
  release(): void {
    for (const s of this.waiting.values()) this.rooms.leaveRestored(s, s.userId, s.sessionId, 'normal');
    this.waiting.clear();
  }
}
