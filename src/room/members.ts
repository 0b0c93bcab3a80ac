// Who is in each room, counted as TRTC counts users, and the room events that follow from it (101–105). A userid is
// one member however many sessions it has there: an anchor while any of them publishes (RTMP, WHIP, a pull task), an
// audience member while it only watches (a WHEP viewer, the agent user of a recording or a relay). 101 marks the
// room's first member in, 102 its last out, 103 a userid's first session, 104 its last, and 105 a change of role in
// between (a viewer who starts publishing in the same room, or an anchor whose publishing ended while it still
// watches). WHEP viewers count only in apps that want viewer events (apps[].viewerEvents); recording and relay agents
// always do, as TRTC's robots enter the room. Rooms are keyed by type: integer 123 ≠ string "123" (room-ref.ts).
//
// This is the only membership count: src/room/rooms.ts reports every join and leave here and emits none of 101–105.

import type { ExitReason, RoomEventSink, RoomRole } from '../events/room-events.js';
import { roomKey, type RoomRef } from './room-ref.js';

export interface Occupancy {
  /** Whether the room has a member: a join now would not create it. */
  occupied(room: RoomRef): boolean;
}

/** A member's sessions by id, each with its role. */
type Member = Map<string, RoomRole>;

export class RoomMembers implements Occupancy {
  /** By room key, then userid, then session id. */
  private readonly rooms = new Map<string, Map<string, Member>>();

  constructor(
    private readonly events: RoomEventSink,
    /** Whether the app's WHEP viewers enter rooms as audience (and so raise 103/104 and keep a room open). */
    private readonly countsViewers: (sdkAppId: number) => boolean,
  ) {}

  occupied(room: RoomRef): boolean {
    return this.rooms.has(roomKey(room));
  }

  join(ref: RoomRef, userId: string, sessionId: string, role: RoomRole, source: string, address?: string, at = Date.now()): void {
    if (source === 'whep' && !this.countsViewers(ref.sdkAppId)) return;
    const k = roomKey(ref);
    const base = { sdkAppId: ref.sdkAppId, roomId: ref.roomId, numericRoom: ref.numericRoom, at };
    let room = this.rooms.get(k);
    if (!room) {
      this.rooms.set(k, (room = new Map()));
      this.events.emit({ ...base, type: 'room-created', userId });
    }
    let member = room.get(userId);
    if (!member) {
      room.set(userId, (member = new Map()));
      member.set(sessionId, role);
      this.events.emit({ ...base, type: 'user-entered', userId, role, source, ...(address ? { address } : {}) });
      return;
    }
    const before = roleOf(member);
    member.set(sessionId, role);
    const after = roleOf(member);
    if (after !== before) this.events.emit({ ...base, type: 'role-changed', userId, role: after });
  }

  /** The session ended; `reason` is the 104's when it was the userid's last session in the room. */
  leave(ref: RoomRef, userId: string, sessionId: string, reason: ExitReason, at = Date.now()): void {
    const k = roomKey(ref);
    const room = this.rooms.get(k);
    const member = room?.get(userId);
    const role = member?.get(sessionId);
    if (!room || !member || !role) return; // not counted (a viewer without viewer events), or already gone
    const base = { sdkAppId: ref.sdkAppId, roomId: ref.roomId, numericRoom: ref.numericRoom, at };
    const before = roleOf(member);
    member.delete(sessionId);
    if (member.size > 0) {
      const after = roleOf(member);
      if (after !== before) this.events.emit({ ...base, type: 'role-changed', userId, role: after });
      return;
    }
    room.delete(userId);
    this.events.emit({ ...base, type: 'user-exited', userId, role, reason });
    if (room.size === 0) {
      this.rooms.delete(k);
      this.events.emit({ ...base, type: 'room-dismissed' });
    }
  }
}

/** A member publishing in any session is an anchor. */
function roleOf(member: Member): RoomRole {
  for (const role of member.values()) if (role === 'anchor') return 'anchor';
  return 'audience';
}
