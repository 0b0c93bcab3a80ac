// One door in. Every publisher and viewer — RTMP, WHIP, WHEP, a pull task — is authenticated here, the same way,
// before its protocol does any work for it (no ICE, no DTLS, no Publish.Start, no ffmpeg). What passes gets a
// ticket, and a ticket is the only thing the room takes a publisher or a viewer for (Rooms.addPublisher,
// Rooms.addViewer), so no protocol can let anyone in another way. Protocols only translate a refusal into their own
// error: RTMP onStatus, an HTTP status, an API 3.0 code.
//
// The decision itself is src/auth/authenticate.ts: synchronous and I/O-free. The ticket keeps the principal it
// granted (the PrivateMapKey's privilege bits), for the checks that act on what a user sends.

import { authenticate, type AppTable, type AuthAction, type AuthRequest, type AuthResult, type Principal } from '../auth/authenticate.js';

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

export class Door {
  constructor(private readonly apps: AppTable) {}

  enter(req: EntryRequest): Entry {
    const r = authenticate(this.apps, req);
    if (!r.ok) return r;
    const ticket = { sdkAppId: req.sdkAppId, roomId: String(req.roomId), userId: req.userId, action: req.action, principal: r.principal };
    return { ok: true, ticket: ticket as Ticket };
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
