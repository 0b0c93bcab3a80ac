// The three relay-to-CDN actions (trtc-egress.md §4): parameters checked, the agent user let in by the room's door
// like any user who only receives (action 'subscribe', UserSig verified), then the service asked. Codes follow §4.4;
// a refused UserSig is InvalidParameter.UserSig as for the other task actions (auth-errors.ts), naming the field.

import type { Door } from '../room/door.js';
import { Api3Error } from './api3-envelope.js';
import { enterTaskUser, requireKnownApp } from './task-user.js';
import { startParams, stopParams, updateParams } from './cdn-relay-params.js';
import type { CdnRelayService, FeedBackUser } from './cdn-relay-service.js';
import type { Ticket } from '../room/door.js';
import type { ActionHandler } from './stream-ingest-actions.js';

export function cdnRelayActions(deps: { door: Door; service: CdnRelayService }): Record<string, ActionHandler> {
  const { door, service } = deps;
  // FeedBackRoomParams' users publish into their rooms: each UserSig checked by the door, as any publisher's
  const feedbackTickets = (sdkAppId: number, users: FeedBackUser[]): Ticket[] =>
    users.map((u) => enterTaskUser(door, { sdkAppId, ...u }, 'publish'));
  const notFound = (sdkAppId: number, taskId: string): Api3Error =>
    new Api3Error('ResourceNotFound', `There is no running relay task ${taskId} for SdkAppId ${sdkAppId}: it has ended or never existed.`);

  return {
    async StartPublishCdnStream(p) {
      const { spec, userSig, feedback } = startParams(p);
      requireKnownApp(door, spec.sdkAppId);
      const ticket = enterTaskUser(door, { sdkAppId: spec.sdkAppId, userId: spec.agentUserId, roomId: spec.roomId, numericRoom: spec.numericRoom, userSig }, 'subscribe');
      const r = await service.start(spec, ticket, feedbackTickets(spec.sdkAppId, feedback), { userSig, feedback });
      if (r.ok) return { TaskId: r.taskId };
      if (r.error === 'limit') {
        throw new Api3Error('FailedOperation.RestrictedConcurrency', `This gateway runs at most ${r.limit} relay tasks at once and is full; stop a relay or retry later.`);
      }
      if (r.error === 'url') throw new Api3Error('InvalidParameter', r.reason);
      if (r.error === 'failed') throw new Api3Error('InternalError.CRInternalError', `The relay could not start: ${r.reason}. Retry the request.`);
      throw new Api3Error('FailedOperation', r.reason);
    },

    async UpdatePublishCdnStream(p) {
      const { sdkAppId, taskId, changes, feedback } = updateParams(p);
      if (feedback) {
        changes.feedback = feedbackTickets(sdkAppId, feedback);
        changes.feedbackUsers = feedback;
      }
      const r = await service.update(sdkAppId, taskId, changes);
      if (r === 'not-found') throw notFound(sdkAppId, taskId);
      if (r === 'outdated') {
        throw new Api3Error('FailedOperation.OutdateRequest', `SequenceNumber ${changes.sequence} is not larger than the one of this task's last update; this request is stale and was ignored.`);
      }
      if (r !== 'updated') throw new Api3Error(r.code ?? 'InvalidParameter', r.refused);
      return { TaskId: taskId };
    },

    async StopPublishCdnStream(p) {
      const { sdkAppId, taskId } = stopParams(p);
      if ((await service.stop(sdkAppId, taskId)) === 'not-found') throw notFound(sdkAppId, taskId);
      return { TaskId: taskId };
    },
  };
}
