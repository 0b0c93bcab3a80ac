// WHEP playback: POST /v2/sub/{SdkAppId}/{RoomId}?SessionID={viewerUserId}[&Publisher={userId}] with an SDP offer
// and `Authorization: Bearer <UserSig of SessionID | JWT>`; 201 + answer + Location. The resource answers PATCH
// (trickle ICE) and DELETE. Auth and offer checks come before any ICE or DTLS work.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RTCRtpSender } from 'werift';
import { authenticate, type AppTable } from '../auth/authenticate.js';
import type { Rooms } from '../room/rooms.js';
import { Viewer } from '../room/viewer.js';
import { answerOffer, type WebRtcOptions } from '../room/peer.js';
import { checkOffer } from '../room/sdp-offer.js';
import type { Logger } from '../log.js';
import { refuse, registerPreflight, withCors } from './cors.js';
import { bearerToken } from './bearer.js';

export interface WhepDeps {
  rooms: Rooms;
  apps: AppTable;
  webrtc: WebRtcOptions;
  log: Logger;
}

const RESOURCE_PREFIX = '/v2/whep';

export function registerWhep(app: FastifyInstance, deps: WhepDeps): void {
  registerPreflight(app, '/v2/sub');
  registerPreflight(app, RESOURCE_PREFIX);

  app.post<{ Params: { sdkAppId: string; roomId: string }; Querystring: Record<string, string> }>(
    '/v2/sub/:sdkAppId/:roomId',
    async (req, reply) => {
      if (!/^application\/sdp\b/i.test(req.headers['content-type'] ?? '')) {
        return refuse(reply, 415, 'the offer must be sent as Content-Type: application/sdp');
      }
      const sdkAppId = Number(req.params.sdkAppId);
      const roomId = req.params.roomId;
      const viewerId = req.query.SessionID ?? '';
      const auth = authenticate(deps.apps, {
        sdkAppId,
        userId: viewerId,
        roomId,
        credential: { kind: 'bearer', value: bearerToken(req) },
        action: 'subscribe',
      });
      if (!auth.ok) return refuse(reply, auth.status, auth.reason);

      const room = deps.rooms.get(sdkAppId, roomId);
      const wanted = req.query.Publisher;
      const publisher = room?.pickPublisher(wanted);
      if (!publisher) {
        const reason = wanted ? `user '${wanted}' is not publishing in room '${roomId}'` : `room '${roomId}' has no publisher`;
        return refuse(reply, 404, reason);
      }

      const offer = String(req.body ?? '');
      const bad = checkOffer(offer, 'this room sends H.264');
      if (bad) return refuse(reply, bad.status, bad.reason);

      let answered;
      try {
        answered = await answerOffer(offer, 'sendonly', deps.webrtc);
      } catch (e) {
        return refuse(reply, 400, `cannot answer the offer: ${(e as Error).message}`);
      }
      const senders: { video?: RTCRtpSender; audio?: RTCRtpSender } = {};
      for (const t of answered.transceivers) senders[t.kind as 'video' | 'audio'] ??= t.sender;
      const log = deps.log.child({ sdkAppId, roomId, viewer: viewerId });
      const viewer = new Viewer(answered.pc, senders, publisher.id.userId, log, (v, reason) => {
        deps.rooms.removeViewer(sdkAppId, roomId, v);
        log.info({ reason }, 'viewer left');
      });
      deps.rooms.addViewer(sdkAppId, roomId, viewer);
      viewer.attach(publisher.feed);
      log.info({ publisher: publisher.id.userId, resource: viewer.id }, 'viewer joined');
      return withCors(reply)
        .code(201)
        .type('application/sdp')
        .header('Location', `${RESOURCE_PREFIX}/${viewer.id}`)
        .header('ETag', `"${viewer.id}"`)
        .header('Accept-Patch', 'application/trickle-ice-sdpfrag')
        .send(answered.answer);
    },
  );

  const findViewer = (req: FastifyRequest<{ Params: { id: string } }>) => deps.rooms.viewers.get(req.params.id);

  app.delete<{ Params: { id: string } }>(`${RESOURCE_PREFIX}/:id`, async (req, reply) => {
    const viewer = findViewer(req);
    if (!viewer) return refuse(reply, 404, 'no such WHEP session (it ended, or the URL is wrong)');
    viewer.close('the viewer sent DELETE');
    return withCors(reply).code(200).send();
  });

  app.patch<{ Params: { id: string } }>(`${RESOURCE_PREFIX}/:id`, async (req, reply) => {
    const viewer = findViewer(req);
    if (!viewer) return refuse(reply, 404, 'no such WHEP session (it ended, or the URL is wrong)');
    if (!/^application\/trickle-ice-sdpfrag\b/i.test(req.headers['content-type'] ?? '')) {
      return refuse(reply, 415, 'PATCH takes Content-Type: application/trickle-ice-sdpfrag');
    }
    await addTrickledCandidates(viewer, String(req.body ?? ''));
    return withCors(reply).code(204).send();
  });
}

/** Each `a=candidate:` line of the fragment, for the media section it follows (a=mid). */
export async function addTrickledCandidates(viewer: { pc: Viewer['pc'] }, fragment: string): Promise<void> {
  let mid: string | undefined;
  for (const line of fragment.split(/\r?\n/)) {
    const m = /^a=mid:(\S+)/.exec(line);
    if (m) mid = m[1];
    const c = /^a=(candidate:.*)$/.exec(line);
    if (c) await viewer.pc.addIceCandidate({ candidate: c[1], sdpMid: mid ?? '0' }).catch(() => {});
  }
}
