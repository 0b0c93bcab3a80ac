// Who is in each room, counted as TRTC counts users, and the room events that follow from it (101–105). A userid is
// one member however many sessions it has there: an anchor while any of them publishes (RTMP, WHIP, a pull task), an
// audience member while it only watches (a WHEP viewer, the agent user of a recording or a relay). 101 marks the
// room's first member in, 102 its last out, 103 a userid's first session, 104 its last, and 105 a change of role in
// between (a viewer who starts publishing in the same room, or an anchor whose publishing ended while it still
// watches). WHEP viewers count only in apps that want viewer events (apps[].viewerEvents); recording and relay agents
// always do, as TRTC's robots enter the room. Rooms are keyed by type: integer 123 ≠ string "123" (room-ref.ts).
//
// This is the only membership count: src/room/rooms.ts reports every join and leave here and emits none of 101–105.
//
// Every session is also written to the store's member ledger, so a restart knows who was in which room: restore()
// puts them back without a word (the app was told 101/103 already), a resumed task takes its session up again, and
// expireRestored() makes the rest leave with 104 Reason 2 (and 102), as TRTC does for a client that vanished.
//
// With many nodes sharing one store (store.kind 'redis'), the counts here are this node's sessions only (the door's
// create check and /api/rooms read them); which of 101–105 follows from a join or leave is decided by the store's
// census across every node (RoomCensus), one room's decisions in the order they were made.

import type { ExitReason, RoomEventSink, RoomRole } from '../events/room-events.js';
import type { Logger } from '../log.js';
import type { CensusJoin, CensusLeave, MemberLedger, MemberRecord, RoomCensus } from '../store/store.js';
import { roomKey, type RoomRef } from './room-ref.js';

export interface Occupancy {
  /** Whether the room has a member: a join now would not create it. */
  occupied(room: RoomRef): boolean;
}

type RoomEventBase = { sdkAppId: number; roomId: string; numericRoom: boolean; at: number };

/** A member's sessions by id, each with its role. */
type Member = Map<string, RoomRole>;

export class RoomMembers implements Occupancy {
  /** By room key, then userid, then session id. */
  private readonly rooms = new Map<string, Map<string, Member>>();
  /** Sessions put back by restore() that nobody has taken up since, with what the ledger said of them. */
  private readonly restored = new Map<string, MemberRecord>();

  constructor(
    private readonly events: RoomEventSink,
    /** Whether the app's WHEP viewers enter rooms as audience (and so raise 103/104 and keep a room open). */
    private readonly countsViewers: (sdkAppId: number) => boolean,
    /** Where sessions are written so a restart finds them (none: nothing is kept). */
    private readonly ledger?: { sessions: MemberLedger; log: Logger },
    /** Many nodes: the census that decides the events, and this node's id to file sessions under. */
    private readonly cluster?: { census: RoomCensus; node: string; log: Logger },
  ) {}

  /** Census calls per room key, chained so one room's events keep the order of its joins and leaves. */
  private readonly pending = new Map<string, Promise<void>>();

  /** The sessions a previous run left in the ledger, counted again without any event (start-up, before any join). */
  restore(records: readonly MemberRecord[]): void {
    for (const r of records) {
      const k = roomKey(r);
      let room = this.rooms.get(k);
      if (!room) this.rooms.set(k, (room = new Map()));
      let member = room.get(r.userId);
      if (!member) room.set(r.userId, (member = new Map()));
      member.set(r.sessionId, r.role);
      this.restored.set(r.sessionId, r);
    }
  }

  /**
   * Restored sessions that no resumed task took up (`keep`) died with the previous process: each leaves with
   * 104 Reason 2 (timeout), and its room with 102 when it was the last. Returns what left.
   */
  expireRestored(keep: ReadonlySet<string>): MemberRecord[] {
    const gone = [...this.restored.values()].filter((r) => !keep.has(r.sessionId));
    for (const r of gone) this.leave(r, r.userId, r.sessionId, 'timeout');
    return gone;
  }

  occupied(room: RoomRef): boolean {
    return this.rooms.has(roomKey(room));
  }

  join(ref: RoomRef, userId: string, sessionId: string, role: RoomRole, source: string, address?: string, at = Date.now()): void {
    if (source === 'whep' && !this.countsViewers(ref.sdkAppId)) return;
    const k = roomKey(ref);
    const base = { sdkAppId: ref.sdkAppId, roomId: ref.roomId, numericRoom: ref.numericRoom, at };
    let room = this.rooms.get(k);
    const created = !room;
    if (!room) this.rooms.set(k, (room = new Map()));
    this.restored.delete(sessionId); // taken up again (a resumed task): it no longer expires
    const rec = { sessionId, sdkAppId: ref.sdkAppId, roomId: ref.roomId, numericRoom: ref.numericRoom, userId, role, source };
    this.write(() => this.ledger!.sessions.put(this.cluster ? { ...rec, node: this.cluster.node } : rec));
    if (this.cluster) {
      let member = room.get(userId);
      if (!member) room.set(userId, (member = new Map()));
      member.set(sessionId, role);
      const { census, node } = this.cluster;
      this.inOrder(k, () => census.join({ ...rec, node }).then((r) => this.joined(r, base, userId, role, source, address)));
      return;
    }
    if (created) this.events.emit({ ...base, type: 'room-created', userId });
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
    this.restored.delete(sessionId);
    this.write(() => this.ledger!.sessions.remove(sessionId));
    if (this.cluster) {
      if (member.size === 0) room.delete(userId);
      if (room.size === 0) this.rooms.delete(k);
      this.leaveCluster({ ...ref, userId, sessionId, node: this.cluster.node }, reason, at);
      return;
    }
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

  /**
   * Many nodes: the session moves to another node (a draining node hands a pull task over). It leaves this node's
   * count and ledger without a word; the census keeps it in its room, no longer filed under this node, so the
   * taker's join of the same session raises no 103 and a later sweep of this node no 104.
   */
  handOver(ref: RoomRef, userId: string, sessionId: string): void {
    const k = roomKey(ref);
    const room = this.rooms.get(k);
    const member = room?.get(userId);
    if (!room || !member?.has(sessionId)) return;
    member.delete(sessionId);
    if (member.size === 0) room.delete(userId);
    if (room.size === 0) this.rooms.delete(k);
    this.restored.delete(sessionId);
    this.write(() => this.ledger!.sessions.remove(sessionId));
    if (!this.cluster) return;
    const { census, node } = this.cluster;
    this.inOrder(k, () => census.release(node, sessionId));
  }

  /**
   * Many nodes: a session another node held, which died with it (the node's lease expired), leaves with `reason`.
   * The census reports each session's leave once, whichever survivors try.
   */
  leaveForeign(rec: MemberRecord & { node: string }, reason: ExitReason, at = Date.now()): void {
    this.leaveCluster(rec, reason, at);
  }

  /**
   * Resolves once every census call made so far has been answered (a clean shutdown waits for its leaves). `final`:
   * the process is closing, so a call the census cannot answer is given up instead of retried.
   */
  async settled(final = false): Promise<void> {
    if (final) this.closing = true;
    await Promise.all([...this.pending.values()]);
  }

  private closing = false;

  private leaveCluster(rec: { sdkAppId: number; roomId: string; numericRoom: boolean; userId: string; sessionId: string; node: string }, reason: ExitReason, at: number): void {
    const base = { sdkAppId: rec.sdkAppId, roomId: rec.roomId, numericRoom: rec.numericRoom, at };
    this.inOrder(roomKey(rec), () => this.cluster!.census.leave(rec).then((r) => this.left(r, base, rec.userId, reason)));
  }

  private joined(r: CensusJoin, base: RoomEventBase, userId: string, role: RoomRole, source: string, address?: string): void {
    if (r.roomCreated) this.events.emit({ ...base, type: 'room-created', userId });
    if (r.roleBefore === '') this.events.emit({ ...base, type: 'user-entered', userId, role, source, ...(address ? { address } : {}) });
    else if (r.roleBefore !== r.roleAfter) this.events.emit({ ...base, type: 'role-changed', userId, role: r.roleAfter });
  }

  private left(r: CensusLeave, base: RoomEventBase, userId: string, reason: ExitReason): void {
    if (!r.left || r.role === '') return; // another node reported it already
    if (r.roleAfter !== '') {
      if (r.roleAfter !== r.roleBefore) this.events.emit({ ...base, type: 'role-changed', userId, role: r.roleAfter });
      return;
    }
    this.events.emit({ ...base, type: 'user-exited', userId, role: r.role, reason });
    if (r.roomEmptied) this.events.emit({ ...base, type: 'room-dismissed' });
  }

  /**
   * Runs `op` after the room's earlier census calls. While the census is unreachable (Redis away) the call is tried
   * again every second, and the room's later calls wait behind it, so its events come late but in order. (A call
   * whose reply was lost after Redis ran it finds its own write on the retry and reports nothing: that event is lost.)
   */
  private inOrder(k: string, op: () => Promise<void>): void {
    const { log } = this.cluster!;
    const attempt = async (): Promise<void> => {
      for (let tries = 0; ; tries++) {
        try {
          return await op();
        } catch (err) {
          if (this.closing) return log.error({ err: String(err), room: k }, 'room census unreachable at shutdown: this join or leave raised no callback');
          if (tries === 0) log.warn({ err: String(err), room: k }, "room census unreachable: the room's events wait until it answers");
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    };
    const next = (this.pending.get(k) ?? Promise.resolve()).then(attempt);
    this.pending.set(k, next);
    void next.then(() => {
      if (this.pending.get(k) === next) this.pending.delete(k);
    });
  }

  /** A ledger write, in call order; a failure is logged and the count in memory goes on. */
  private write(op: () => Promise<void>): void {
    if (!this.ledger) return;
    const { log } = this.ledger;
    op().catch((err: unknown) => log.warn({ err }, 'room member ledger write failed; a restart may not know this session'));
  }
}

/** A member publishing in any session is an anchor. */
function roleOf(member: Member): RoomRole {
  for (const role of member.values()) if (role === 'anchor') return 'anchor';
  return 'audience';
}
