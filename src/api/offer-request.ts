// What WHIP and WHEP share before any ICE or DTLS work: the offer's content type, the SessionID user's credential
// for the action, and whether we can serve the offer. Refusals go out as text a person reads.

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RTCPeerConnection } from 'werift';
import { authenticate, type AppTable, type AuthAction } from '../auth/authenticate.js';
import { checkOffer } from '../room/sdp-offer.js';
import { bearerToken } from './bearer.js';
import { refuse, withCors } from './cors.js';

export type OfferRoute = FastifyRequest<{ Params: { sdkAppId: string; roomId: string }; Querystring: Record<string, string> }>;

export interface AcceptedOffer {
  sdkAppId: number;
  roomId: string;
  /** The SessionID: the publishing user (WHIP) or the viewer (WHEP). */
  userId: string;
  offer: string;
}

/** Returns the authenticated request, or null after replying with the refusal. The offer is checked separately. */
export function acceptOffer(req: OfferRoute, reply: FastifyReply, apps: AppTable, action: AuthAction): AcceptedOffer | null {
  if (!/^application\/sdp\b/i.test(req.headers['content-type'] ?? '')) {
    refuse(reply, 415, 'the offer must be sent as Content-Type: application/sdp');
    return null;
  }
  const sdkAppId = Number(req.params.sdkAppId);
  const roomId = req.params.roomId;
  const userId = req.query.SessionID ?? '';
  const privateMapKey = req.query.PrivateMapKey || req.query.privatemapkey;
  const auth = authenticate(apps, {
    sdkAppId,
    userId,
    roomId,
    credential: { kind: 'bearer', value: bearerToken(req) },
    ...(privateMapKey ? { privateMapKey } : {}),
    action,
  });
  if (!auth.ok) {
    refuse(reply, auth.status, auth.reason);
    return null;
  }
  return { sdkAppId, roomId, userId, offer: String(req.body ?? '') };
}

/** Replies 400/406 and returns true when we cannot serve the offer. `hint` ends a 406 reason. */
export function refuseBadOffer(reply: FastifyReply, offer: string, hint: string): boolean {
  const bad = checkOffer(offer, hint);
  if (bad) refuse(reply, bad.status, bad.reason);
  return bad !== null;
}

/**
 * PATCH with an `application/trickle-ice-sdpfrag`: each `a=candidate:` line is added for the media section it
 * follows (a=mid). An ICE restart (another ufrag) is refused: werift cannot restart ICE on a live session.
 */
export async function patchTrickle(req: FastifyRequest, reply: FastifyReply, pc: RTCPeerConnection): Promise<FastifyReply> {
  if (!/^application\/trickle-ice-sdpfrag\b/i.test(req.headers['content-type'] ?? '')) {
    return refuse(reply, 415, 'PATCH takes Content-Type: application/trickle-ice-sdpfrag');
  }
  const fragment = String(req.body ?? '');
  const ufrag = /^a=ice-ufrag:(\S+)/m.exec(fragment)?.[1];
  const current = /^a=ice-ufrag:(\S+)/m.exec(pc.remoteDescription?.sdp ?? '')?.[1];
  if (ufrag && current && ufrag !== current) return refuse(reply, 405, 'ICE restart is not supported: stop and start again');
  let mid: string | undefined;
  for (const line of fragment.split(/\r?\n/)) {
    const m = /^a=mid:(\S+)/.exec(line);
    if (m) mid = m[1];
    const c = /^a=(candidate:.*)$/.exec(line);
    if (c) await pc.addIceCandidate({ candidate: c[1], sdpMid: mid ?? '0' }).catch(() => {});
  }
  return withCors(reply).code(204).send();
}
