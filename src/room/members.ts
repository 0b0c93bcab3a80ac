// Who is in each room, counted as TRTC counts users, and the room events that follow from it (101–105). A userid is
// one member however many sessions it has there: an anchor while any of them publishes (RTMP, WHIP, a pull task), an
// audience member while it only watches (WHEP). 101 marks the room's first member in, 102 its last out, 103 a
// userid's first session, 104 its last, and 105 a change of role in between (a viewer who starts publishing in the
// same room, or an anchor whose publishing ended while it still watches). Viewers count only in apps that want
// viewer events (apps[].viewerEvents); elsewhere a room is its publishers, as before.

import type { ExitReason, RoomEventSink, RoomRole } from '../events/room-events.js';

export interface Occupancy {
  /** Whether the room has a member: a join now would not create it. */
  occupied(sdkAppId: number, roomId: string): boolean;
}

/** A member's sessions by id, each with its role. */
type Member = Map<string, RoomRole>;

export class RoomMembers implements Occupancy {
  /** By room key, then userid, then session id. */
  private readonly rooms = new Map<string, Map<string, Member>>();

  constructor(
    private readonly events: RoomEventSink,
    /** Whether the app's viewers enter rooms as audience (and so raise 103/104 and keep a room open). */
    private readonly countsViewers: (sdkAppId: number) => boolean,
  ) {}

  occupied(sdkAppId: number, roomId: string): boolean {
    return this.rooms.has(key(sdkAppId, roomId));
  }

  join(sdkAppId: number, roomId: string, userId: string, sessionId: string, role: RoomRole, source: string, address?: string, at = Date.now()): void {
    if (role === 'audience' && !this.countsViewers(sdkAppId)) return;
    const k = key(sdkAppId, roomId);
    const base = { sdkAppId, roomId, at };
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
  leave(sdkAppId: number, roomId: string, userId: string, sessionId: string, reason: ExitReason, at = Date.now()): void {
    const k = key(sdkAppId, roomId);
    const room = this.rooms.get(k);
    const member = room?.get(userId);
    const role = member?.get(sessionId);
    if (!room || !member || !role) return; // not counted (a viewer without viewer events), or already gone
    const base = { sdkAppId, roomId, at };
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

function key(sdkAppId: number, roomId: string): string {
  return `${sdkAppId}/${roomId}`;
}
