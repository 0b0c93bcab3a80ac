// WHEP playback: POST /v2/sub/{SdkAppId}/{RoomId}?SessionID={viewerUserId}[&Publisher={userId}] with an SDP offer
// and `Authorization: Bearer <UserSig of SessionID | JWT>`; 201 + answer + Location. The resource answers PATCH
// (trickle ICE) and DELETE. Auth and offer checks come before any ICE or DTLS work.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RTCRtpSender } from 'werift';
import type { Rooms } from '../room/rooms.js';
import { Viewer } from '../room/viewer.js';
import type { WebRtcOptions } from '../room/peer.js';
import type { Logger } from '../log.js';
import { refuse, registerPreflight, withCors } from './cors.js';
import { acceptOffer, admitAndAnswer, carriedKinds, patchTrickle, refuseBadOffer, type OfferRoute } from './offer-request.js';
import type { WebRtcSessions } from './webrtc-sessions.js';
import type { RefusalCounters } from '../events/refusal-counters.js';

export interface WhepDeps {
  rooms: Rooms;
  webrtc: WebRtcOptions;
  sessions: WebRtcSessions;
  counters: RefusalCounters;
  log: Logger;
  /** Told each viewer's join time: offer POST to the first keyframe sent (the metrics' histogram). */
  observeJoin?: (ms: number) => void;
}

const RESOURCE_PREFIX = '/v2/whep';

export function registerWhep(app: FastifyInstance, deps: WhepDeps): void {
  /** WHEP resources by id, for PATCH and DELETE (the room knows its viewers by publisher). */
  const sessions = new Map<string, Viewer>();
  registerPreflight(app, '/v2/sub');
  registerPreflight(app, RESOURCE_PREFIX);

  app.post('/v2/sub/:sdkAppId/:roomId', async (req: OfferRoute, reply) => {
    const postedAt = performance.now();
    const accepted = acceptOffer(req, reply, deps.rooms.door, 'subscribe');
    if (!accepted) return reply;
    const { sdkAppId, roomId, userId: viewerId, offer } = accepted;
    const feed = deps.rooms.feedFor(accepted.ticket, req.query.Publisher);
    if (!feed.ok) return refuse(reply, feed.status, feed.reason);
    const { publisher } = feed;
    if (refuseBadOffer(reply, offer, 'this room sends H.264')) return reply;
    const log = deps.log.child({ sdkAppId, roomId, viewer: viewerId });
    const kinds = carriedKinds(reply, accepted, log);
    if (!kinds) return reply;

    const admitted = await admitAndAnswer(reply, accepted, 'sendonly', deps.webrtc, deps.sessions, kinds);
    if (!admitted) return reply;
    const { answered, slot } = admitted;
    // only the kinds the viewer may receive have a transceiver here, so only they get a sink on the publisher's pipe
    const senders: { video?: RTCRtpSender; audio?: RTCRtpSender } = {};
    for (const t of answered.transceivers) senders[t.kind as 'video' | 'audio'] ??= t.sender;
    const viewer = new Viewer(answered.pc, senders, publisher.id.userId, log, (v, reason) => {
      slot.release();
      sessions.delete(v.id);
      deps.rooms.removeViewer(accepted.ticket, v);
      log.info({ reason }, 'viewer left');
    }, {
      connectTimeoutMs: deps.webrtc.connectTimeoutMs,
      onConnectTimeout: () => deps.counters.inc('webrtc.connectTimeout', 'whep'),
      postedAt,
      ...(deps.observeJoin ? { onJoined: deps.observeJoin } : {}),
    });
    sessions.set(viewer.id, viewer);
    deps.rooms.addViewer(accepted.ticket, viewer, publisher);
    log.info({ publisher: publisher.id.userId, resource: viewer.id }, 'viewer joined');
    return withCors(reply)
      .code(201)
      .type('application/sdp')
      .header('Location', `${RESOURCE_PREFIX}/${viewer.id}`)
      .header('ETag', `"${viewer.id}"`)
      .header('Accept-Patch', 'application/trickle-ice-sdpfrag')
      .send(answered.answer);
  });

  const findViewer = (req: FastifyRequest<{ Params: { id: string } }>) => sessions.get(req.params.id);

  app.delete<{ Params: { id: string } }>(`${RESOURCE_PREFIX}/:id`, async (req, reply) => {
    const viewer = findViewer(req);
    if (!viewer) return refuse(reply, 404, 'no such WHEP session (it ended, or the URL is wrong)');
    viewer.close('the viewer sent DELETE');
    return withCors(reply).code(200).send();
  });

  app.patch<{ Params: { id: string } }>(`${RESOURCE_PREFIX}/:id`, async (req, reply) => {
    const viewer = findViewer(req);
    if (!viewer) return refuse(reply, 404, 'no such WHEP session (it ended, or the URL is wrong)');
    return patchTrickle(req, reply, viewer.pc);
  });
}
