// WHIP publishing, TRTC's OBS format: POST /v2/pub/{SdkAppId}/{RoomId}?SessionID={UserId}[&PrivateMapKey=…] with
// an SDP offer and `Authorization: Bearer <UserSig of UserId | JWT>` → 201 + answer (every server candidate in it:
// OBS sends none of its own) + Location. The resource answers GET (state, or why it ended), PATCH (trickle ICE)
// and DELETE (the user leaves the room). Auth and the offer check finish before any ICE/DTLS work starts.

import type { FastifyInstance } from 'fastify';
import { JoinRefused, type Rooms } from '../room/rooms.js';
import type { Publisher } from '../room/publisher.js';
import type { WebRtcOptions } from '../room/peer.js';
import { WhipSession } from '../ingest/whip/session.js';
import type { Logger } from '../log.js';
import { refuse, registerPreflight, withCors } from './cors.js';
import { acceptOffer, admitAndAnswer, carriedKinds, patchTrickle, refuseBadOffer, type OfferRoute } from './offer-request.js';
import type { WebRtcSessions } from './webrtc-sessions.js';
import type { RefusalCounters } from '../events/refusal-counters.js';

export interface IceServerConfig {
  urls: string;
  username: string;
  credential: string;
}

export interface WhipDeps {
  rooms: Rooms;
  webrtc: WebRtcOptions;
  iceServers: IceServerConfig[];
  sessions: WebRtcSessions;
  counters: RefusalCounters;
  log: Logger;
}

const RESOURCE_PREFIX = '/v2/whip';
/** Ended sessions stay readable (GET) this long, so a client can learn why it was stopped. */
const KEEP_ENDED_MS = 5 * 60 * 1000;

/** RFC 9725 Link headers announcing the configured STUN/TURN servers. */
function linkHeaders(servers: IceServerConfig[]): string[] {
  return servers.map((s) => {
    const creds = s.username ? `; username="${s.username}"; credential="${s.credential}"; credential-type="password"` : '';
    return `<${s.urls}>; rel="ice-server"${creds}`;
  });
}

export function registerWhip(app: FastifyInstance, deps: WhipDeps): void {
  const sessions = new Map<string, { session: WhipSession; sdkAppId: number; roomId: string; userId: string }>();
  const links = linkHeaders(deps.iceServers);
  registerPreflight(app, '/v2/pub', links);
  registerPreflight(app, RESOURCE_PREFIX, links);

  app.post('/v2/pub/:sdkAppId/:roomId', async (req: OfferRoute, reply) => {
    const accepted = acceptOffer(req, reply, deps.rooms.door, 'publish');
    if (!accepted) return reply;
    const { sdkAppId, roomId, userId, offer } = accepted;
    if (refuseBadOffer(reply, offer, 'select H.264 in the encoder')) return reply;
    const log = deps.log.child({ sdkAppId, roomId, userId });
    const kinds = carriedKinds(reply, accepted, log);
    if (!kinds) return reply;

    const admitted = await admitAndAnswer(reply, accepted, 'recvonly', deps.webrtc, deps.sessions, kinds);
    if (!admitted) return reply;
    const { answered, slot } = admitted;
    const session = new WhipSession(answered.pc, answered.transceivers, log, (s) => {
      slot.release();
      setTimeout(() => sessions.delete(s.id), KEEP_ENDED_MS).unref();
    }, {
      connectTimeoutMs: deps.webrtc.connectTimeoutMs,
      onConnectTimeout: () => deps.counters.inc('webrtc.connectTimeout', 'whip'),
      onRefused: (code) => deps.counters.inc('whip.publishRefused', code),
    });
    sessions.set(session.id, { session, sdkAppId, roomId, userId });
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
    let publisher: Publisher;
    try {
      publisher = await deps.rooms.addPublisher(accepted.ticket, { source: 'whip', remote, sessionId: session.id }, (reason) => session.end(reason));
    } catch (err) {
      if (!(err instanceof JoinRefused)) throw err;
      // the room closed while the offer was answered, and this user may not create it
      session.end(err.refusal.reason);
      return refuse(reply, err.refusal.status, err.refusal.reason);
    }
    session.attach(publisher);
    log.info({ resource: session.id }, 'WHIP publisher joined');
    const r = withCors(reply)
      .code(201)
      .type('application/sdp')
      .header('Location', `${RESOURCE_PREFIX}/${session.id}`)
      .header('ETag', `"${session.id}"`)
      .header('Accept-Patch', 'application/trickle-ice-sdpfrag');
    if (links.length) r.header('Link', links);
    return r.send(answered.answer);
  });

  app.get<{ Params: { id: string } }>(`${RESOURCE_PREFIX}/:id`, async (req, reply) => {
    const entry = sessions.get(req.params.id);
    if (!entry) return refuse(reply, 404, 'no such WHIP session (it ended long ago, or the URL is wrong)');
    const { session, sdkAppId, roomId, userId } = entry;
    return withCors(reply).send({
      sdkAppId, roomId, userId, state: session.state, endReason: session.endReason || null,
      since: new Date(session.startedAt).toISOString(), stats: session.stats, videoLoss: session.videoLoss, srtp: session.srtp,
    });
  });

  app.delete<{ Params: { id: string } }>(`${RESOURCE_PREFIX}/:id`, async (req, reply) => {
    const entry = sessions.get(req.params.id);
    if (!entry || entry.session.state === 'ended') return refuse(reply, 404, 'no such WHIP session (it ended, or the URL is wrong)');
    entry.session.end('the publisher sent DELETE');
    return withCors(reply).code(200).send();
  });

  app.patch<{ Params: { id: string } }>(`${RESOURCE_PREFIX}/:id`, async (req, reply) => {
    const entry = sessions.get(req.params.id);
    if (!entry || entry.session.state === 'ended') return refuse(reply, 404, 'no such WHIP session (it ended, or the URL is wrong)');
    return patchTrickle(req, reply, entry.session.pc);
  });

  app.addHook('onClose', async () => {
    for (const { session } of sessions.values()) session.end('the gateway is shutting down');
  });
}
