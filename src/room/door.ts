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
// door asks the room members, in memory, whether the room is open.

import { authenticate, type AppTable, type AuthAction, type AuthRequest, type AuthResult, type Principal } from '../auth/authenticate.js';
import { missingPrivileges, PRIV } from '../auth/privileges.js';
import type { Occupancy } from './members.js';

declare const issued: unique symbol;

export interface Ticket {
  /** Only Door.enter makes one (the type cannot be written by hand). */
  readonly [issued]: true;
  readonly sdkAppId: number;
  readonly roomId: string;
  readonly userId: string;
  readonly action: AuthAction;
  readonly principal: Principal;
}

export type Entry = { ok: true; ticket: Ticket } | Extract<AuthResult, { ok: false }>;

export type EntryRequest = Omit<AuthRequest, 'now'>;

/** Without a room list every room counts as open: no join creates one (tests of auth alone). */
const EVERY_ROOM_OPEN: Occupancy = { occupied: () => true };

export class Door {
  constructor(
    private readonly apps: AppTable,
    private readonly rooms: Occupancy = EVERY_ROOM_OPEN,
  ) {}

  enter(req: EntryRequest): Entry {
    const r = authenticate(this.apps, req);
    if (!r.ok) return r;
    const refusal = this.creationRefusal(req, r.principal);
    if (refusal) return refusal;
    const ticket = { sdkAppId: req.sdkAppId, roomId: String(req.roomId), userId: req.userId, action: req.action, principal: r.principal };
    return { ok: true, ticket: ticket as Ticket };
  }

  /**
   * A publisher who would open the room in an app that requires a PrivateMapKey needs the create bit (1); joining
   * an open room does not. A viewer never creates one (it needs a publisher to watch).
   */
  private creationRefusal(req: EntryRequest, principal: Principal): Extract<AuthResult, { ok: false }> | null {
    if (req.action !== 'publish' || !this.apps.get(req.sdkAppId)?.requirePrivateMapKey) return null;
    if (this.rooms.occupied(req.sdkAppId, String(req.roomId))) return null;
    const missing = missingPrivileges(principal.privileges, PRIV.CREATE);
    if (!missing) return null;
    const credential = principal.via === 'jwt' ? 'room token' : 'privatemapkey';
    return {
      ok: false,
      status: 403,
      code: 'privatemapkey-missing-privilege',
      reason: `room '${req.roomId}' is not open yet and this user would create it, but the ${credential} ${missing}`,
    };
  }

  /** Whether the SDKAppID is an application of this gateway (the API names an unknown one before anything else). */
  knows(sdkAppId: number): boolean {
    return this.apps.get(sdkAppId) !== undefined;
  }
}

/** A ticket for another action is a wiring mistake, not a refusal: it must never reach a user. */
export function requireAction(ticket: Ticket, action: AuthAction): void {
  if (ticket.action !== action) throw new Error(`a '${ticket.action}' ticket cannot ${action}`);
}
