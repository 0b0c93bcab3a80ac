// What WHIP and WHEP share before any ICE or DTLS work: the offer's content type, the SessionID user's credential
// for the action, and whether we can serve the offer. Refusals go out as text a person reads.

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RTCPeerConnection } from 'werift';
import type { AuthAction } from '../auth/authenticate.js';
import type { Door, Ticket } from '../room/door.js';
import { checkOffer, parseOffer } from '../room/sdp-offer.js';
import { answerOffer, NoUdpPortError, type AnsweredPeer, type CarriedKinds, type WebRtcOptions } from '../room/peer.js';
import { trackRefusals } from '../auth/privileges.js';
import type { Logger } from '../log.js';
import type { SessionSlot, WebRtcSessions } from './webrtc-sessions.js';
import { addCandidates, restartIce } from '../room/ice-restart.js';
import { bearerToken } from './bearer.js';
import { refuse, withCors } from './cors.js';

export type OfferRoute = FastifyRequest<{ Params: { sdkAppId: string; roomId: string }; Querystring: Record<string, string> }>;

export interface AcceptedOffer {
  sdkAppId: number;
  roomId: string;
  /** The SessionID: the publishing user (WHIP) or the viewer (WHEP). */
  userId: string;
  offer: string;
  /** What the room takes the user in for. */
  ticket: Ticket;
}

/** Returns the authenticated request, or null after replying with the refusal. The offer is checked separately. */
export function acceptOffer(req: OfferRoute, reply: FastifyReply, door: Door, action: AuthAction): AcceptedOffer | null {
  if (!/^application\/sdp\b/i.test(req.headers['content-type'] ?? '')) {
    refuse(reply, 415, 'the offer must be sent as Content-Type: application/sdp');
    return null;
  }
  const sdkAppId = Number(req.params.sdkAppId);
  const roomId = req.params.roomId;
  const userId = req.query.SessionID ?? '';
  const privateMapKey = req.query.PrivateMapKey || req.query.privatemapkey;
  const auth = door.enter({
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
  return { sdkAppId, roomId, userId, offer: String(req.body ?? ''), ticket: auth.ticket };
}

/** Replies 400/406 and returns true when we cannot serve the offer. `hint` ends a 406 reason. */
export function refuseBadOffer(reply: FastifyReply, offer: string, hint: string): boolean {
  const bad = checkOffer(offer, hint);
  if (bad) refuse(reply, bad.status, bad.reason);
  return bad !== null;
}

/**
 * Which kinds of the (checked) offer's media the user's credential lets through: the PrivateMapKey's send-audio (4)
 * and send-video (16) bits for WHIP, receive-audio (8) and receive-video (32) for WHEP. A refused kind is answered
 * inactive, and logged once here with the reason. When nothing the offer asks for is left, replies 403 with the
 * reasons and returns null.
 */
export function carriedKinds(reply: FastifyReply, accepted: AcceptedOffer, log: Logger): CarriedKinds | null {
  const refused = trackRefusals(accepted.ticket.principal.privileges, accepted.ticket.action);
  const offered = new Set(parseOffer(accepted.offer).map((m) => m.kind));
  const kinds = { video: refused.video === null, audio: refused.audio === null };
  const left = (['video', 'audio'] as const).filter((k) => offered.has(k) && kinds[k]);
  for (const kind of ['video', 'audio'] as const) {
    if (offered.has(kind) && refused[kind]) log.info({ kind, reason: refused[kind] }, `${kind} answered inactive: the user ${refused[kind]}`);
  }
  if (left.length > 0) return kinds;
  const asked = (['video', 'audio'] as const).filter((k) => offered.has(k));
  refuse(reply, 403, `the offer has ${asked.join(' and ')} only, and the user ${asked.map((k) => refused[k]).join('; and ')}`);
  return null;
}

/**
 * Takes a session place for the user and answers the offer; or replies 429/503 (a session cap, no free UDP port) or
 * 400 (why werift could not) and returns null. The caller releases `slot` when the session ends.
 */
export async function admitAndAnswer(
  reply: FastifyReply,
  accepted: AcceptedOffer,
  direction: 'sendonly' | 'recvonly',
  webrtc: WebRtcOptions,
  sessions: WebRtcSessions,
  kinds?: CarriedKinds,
): Promise<{ answered: AnsweredPeer; slot: SessionSlot } | null> {
  const slot = sessions.admit(reply, accepted.sdkAppId, accepted.userId);
  if (!slot) return null;
  try {
    return { answered: await answerOffer(accepted.offer, direction, webrtc, kinds), slot };
  } catch (e) {
    slot.release();
    if (e instanceof NoUdpPortError) sessions.refuseNoPort(reply, e.message, accepted.sdkAppId);
    else refuse(reply, 400, `cannot answer the offer: ${(e as Error).message}`);
    return null;
  }
}

/**
 * PATCH with an `application/trickle-ice-sdpfrag`. Candidates for the current ICE session are added (204). A new
 * ufrag/pwd is an ICE restart: answered 200 with our new credentials and candidates in a fragment, and a new ETag.
 */
export async function patchTrickle(req: FastifyRequest, reply: FastifyReply, pc: RTCPeerConnection): Promise<FastifyReply> {
  if (!/^application\/trickle-ice-sdpfrag\b/i.test(req.headers['content-type'] ?? '')) {
    return refuse(reply, 415, 'PATCH takes Content-Type: application/trickle-ice-sdpfrag');
  }
  const fragment = String(req.body ?? '');
  const ufrag = /^a=ice-ufrag:(\S+)/m.exec(fragment)?.[1];
  const pwd = /^a=ice-pwd:(\S+)/m.exec(fragment)?.[1];
  const current = /^a=ice-ufrag:(\S+)/m.exec(pc.remoteDescription?.sdp ?? '')?.[1];
  if (!ufrag || ufrag === current) {
    await addCandidates(pc, fragment);
    return withCors(reply).code(204).send();
  }
  if (!pwd) return refuse(reply, 400, 'an ICE restart needs a=ice-pwd with the new a=ice-ufrag');
  let answer: string;
  try {
    answer = await restartIce(pc, fragment, { ufrag, pwd });
  } catch (e) {
    return refuse(reply, 400, `cannot restart ICE: ${(e as Error).message}`);
  }
  return withCors(reply).code(200).type('application/trickle-ice-sdpfrag').header('ETag', `"${ufrag}"`).send(answer);
}
