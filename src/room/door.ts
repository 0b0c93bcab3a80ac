// One door in. Every publisher and viewer — RTMP, WHIP, WHEP, a pull task — is authenticated here, the same way,
// before its protocol does any work for it (no ICE, no DTLS, no Publish.Start, no ffmpeg). What passes gets a
// ticket, and a ticket is the only thing the room takes a publisher or a viewer for (Rooms.addPublisher,
// Rooms.addViewer), so no protocol can let anyone in another way. Protocols only translate a refusal into their own
// error: RTMP onStatus, an HTTP status, an API 3.0 code.
//
// The decision itself is src/auth/authenticate.ts: synchronous and I/O-free. The ticket keeps the principal it
// granted (the PrivateMapKey's privilege bits), for the checks that act on what a user sends: which tracks a
// publisher may send and a viewer receive (trackRefusals). One check needs the room: where the app requires a
// PrivateMapKey, the user who would create the room needs the create bit (TRTC's "room creation" privilege); the
// door asks the room members (src/room/members.ts), in memory, whether the room is open.
//
// A user removed from a room (RemoveUser, DismissRoom) may come back with a new UserSig, as in TRTC, but not with the
// credential of the removed session: an encoder that reconnects on its own (OBS) would otherwise undo the removal at
// once. The door remembers those credentials, by digest, for the room they were removed from.

import { createHash } from 'node:crypto';
import { authenticate, type AppTable, type AuthAction, type AuthRequest, type AuthResult, type Principal } from '../auth/authenticate.js';
import { missingPrivileges, PRIV } from '../auth/privileges.js';
import type { Occupancy } from './members.js';
import { describeRoomRef, roomKey, type RoomRef } from './room-ref.js';

declare const issued: unique symbol;

export interface Ticket extends RoomRef {
  /** Only Door.enter makes one (the type cannot be written by hand). */
  readonly [issued]: true;
  readonly sdkAppId: number;
  readonly roomId: string;
  readonly userId: string;
  readonly action: AuthAction;
  readonly principal: Principal;
  /** A digest of the credential (UserSig or bearer) the ticket was granted for: what revoke() remembers. */
  readonly credential: string;
}

/** Why someone is not let in: an HTTP-like status, a short code and a sentence for the user. */
export type EntryRefusal = Extract<AuthResult, { ok: false }>;

/** A publish refused because this node is draining (SIGTERM, POST /api/drain): the encoder should reconnect. */
export type DrainRefusal = { ok: false; status: 503; code: 'draining'; reason: string };

export type Refusal = EntryRefusal | DrainRefusal;

export type Entry = { ok: true; ticket: Ticket } | Refusal;

export type EntryRequest = Omit<AuthRequest, 'now'>;

/** How long a removed session's credential stays refused in that room: longer than any encoder's reconnect loop. */
const REVOKED_FOR_MS = 24 * 3600_000;
/** The most credentials remembered; the oldest are forgotten first (each RemoveUser adds at most 10 users' few). */
const MAX_REVOKED = 100_000;

/** Without a room list every room counts as open: no join creates one (tests of auth alone). */
const EVERY_ROOM_OPEN: Occupancy = { occupied: () => true };

export class Door {
  /** Revoked credentials by room, user and digest → when they may be used again (ms since the epoch). */
  private readonly revoked = new Map<string, number>();
  /** Set by drain(): why new publishers are turned away. */
  private draining: string | null = null;

  constructor(
    private readonly apps: AppTable,
    private readonly rooms: Occupancy = EVERY_ROOM_OPEN,
    /** Told each refusal's action and code (the refusal counters behind GET /api/limits and /metrics). */
    private readonly onRefused: (action: AuthAction, code: string) => void = () => {},
  ) {}

  enter(req: EntryRequest): Entry {
    const e = this.decide(req);
    if (!e.ok) this.onRefused(req.action, e.code);
    return e;
  }

  /**
   * A task's user entering again from its stored record (a restart, a dead node's task taken over, a drain's
   * hand-over): the room as the record names it, the credentials the task kept.
   */
  reenter(
    rec: { sdkAppId: number; userId: string; roomId: string; roomIdType: number },
    credentials: { userSig: string; privateMapKey?: string },
    action: AuthAction,
  ): Entry {
    return this.enter({
      sdkAppId: rec.sdkAppId,
      userId: rec.userId,
      roomId: rec.roomIdType === 1 ? Number(rec.roomId) : rec.roomId,
      credential: { kind: 'usersig', value: credentials.userSig },
      ...(credentials.privateMapKey ? { privateMapKey: credentials.privateMapKey } : {}),
      action,
    });
  }

  /** Whether drain() was called: a draining node takes no task over from another. */
  get isDraining(): boolean {
    return this.draining !== null;
  }

  /**
   * From now on every new publisher (RTMP, WHIP, a pull task's user) is refused with `reason`, which should tell the
   * encoder to reconnect (a load balancer then sends it to another node); viewers and task agents still enter.
   */
  drain(reason: string): void {
    this.draining = reason;
  }

  private decide(req: EntryRequest): Entry {
    const r = authenticate(this.apps, req);
    if (!r.ok) return r;
    // after the credential check: only a user who could publish here learns that this node is going away
    if (this.draining !== null && req.action === 'publish') return { ok: false, status: 503, code: 'draining', reason: this.draining };
    const ref: RoomRef = { sdkAppId: req.sdkAppId, roomId: String(req.roomId), numericRoom: typeof req.roomId === 'number' };
    const credential = digest(req.credential.value);
    if (this.isRevoked(revokedKey(ref, req.userId, credential))) {
      return {
        ok: false,
        status: 403,
        code: 'credential-revoked',
        reason: `user '${req.userId}' was removed from ${describeRoomRef(ref)} and this credential belonged to the removed session; make a new UserSig to enter again`,
      };
    }
    const refusal = this.creationRefusal(ref, req.action, r.principal);
    if (refusal) return refusal;
    const ticket = { ...ref, userId: req.userId, action: req.action, principal: r.principal, credential };
    return { ok: true, ticket: ticket as Ticket };
  }

  /**
   * The room-creation check once more, at the moment the ticket's session joins the room: Rooms.addPublisher asks in
   * the same synchronous step as the join, so nothing can open or close the room between this answer and the join,
   * and two first joins of a room cannot both find it closed and both pass. The check at enter() is the early answer
   * (a refusal there costs no ICE, DTLS or ffmpeg work); between the two the room may have closed (its last member
   * left while this session was being answered or its source probed), and then this user would be the one to create
   * it.
   */
  joinRefusal(ticket: Ticket): EntryRefusal | null {
    return this.creationRefusal(ticket, ticket.action, ticket.principal);
  }

  /**
   * A publisher who would open the room in an app that requires a PrivateMapKey needs the create bit (1); joining
   * an open room does not. A viewer never creates one (it needs a publisher to watch).
   */
  private creationRefusal(ref: RoomRef, action: AuthAction, principal: Principal): EntryRefusal | null {
    if (action !== 'publish' || !this.apps.get(ref.sdkAppId)?.requirePrivateMapKey) return null;
    if (this.rooms.occupied(ref)) return null;
    const missing = missingPrivileges(principal.privileges, PRIV.CREATE);
    if (!missing) return null;
    const credential = principal.via === 'jwt' ? 'room token' : 'privatemapkey';
    return {
      ok: false,
      status: 403,
      code: 'privatemapkey-missing-privilege',
      reason: `room '${ref.roomId}' is not open yet and this user would create it, but the ${credential} ${missing}`,
    };
  }

  /** Whether the SDKAppID is an application of this gateway (the API names an unknown one before anything else). */
  knows(sdkAppId: number): boolean {
    return this.apps.get(sdkAppId) !== undefined;
  }

  /** The ticket's credential no longer enters the ticket's room (its user was removed from it). */
  revoke(ticket: Ticket, now = Date.now()): void {
    const key = revokedKey(ticket, ticket.userId, ticket.credential);
    this.revoked.delete(key); // re-inserted last: the map's order is the order of expiry
    this.revoked.set(key, now + REVOKED_FOR_MS);
    for (const [k, until] of this.revoked) {
      if (this.revoked.size <= MAX_REVOKED && until > now) break;
      this.revoked.delete(k);
    }
  }

  private isRevoked(key: string): boolean {
    const until = this.revoked.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.revoked.delete(key);
    return false;
  }
}

function digest(credential: string): string {
  return createHash('sha256').update(credential).digest('base64url');
}

function revokedKey(room: RoomRef, userId: string, credential: string): string {
  return `${roomKey(room)}|${userId}|${credential}`;
}

/** A ticket for another action is a wiring mistake, not a refusal: it must never reach a user. */
export function requireAction(ticket: Ticket, action: AuthAction): void {
  if (ticket.action !== action) throw new Error(`a '${ticket.action}' ticket cannot ${action}`);
}
