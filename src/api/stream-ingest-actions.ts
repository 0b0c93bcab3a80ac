// The four stream-ingest actions: parameters checked, the task's user authenticated like any publisher (UserSig,
// PrivateMapKey), then the service asked. Each returns the Response fields, or throws an Api3Error.

import type { Door } from '../room/door.js';
import { Api3Error } from './api3-envelope.js';
import { enterTaskUser, requireKnownApp } from './task-user.js';
import { sdkAppIdParam, startParams, taskIdParam, updateParams } from './stream-ingest-params.js';
import type { StreamIngestService } from './stream-ingest-service.js';

export type ActionHandler = (params: Record<string, unknown>) => Promise<Record<string, unknown>>;

export function streamIngestActions(deps: { door: Door; service: StreamIngestService }): Record<string, ActionHandler> {
  const { door, service } = deps;


  return {
    async StartStreamIngest(p) {
      const { spec, userSig, privateMapKey } = startParams(p);
      requireKnownApp(door, spec.sdkAppId);
      const ticket = enterTaskUser(door, { ...spec, numericRoom: spec.roomIdType === 1, userSig, privateMapKey }, 'publish');
      const refusal = await service.checkStreamUrl(spec.streamUrl);
      if (refusal) throw new Api3Error('InvalidParameter.StreamUrl', `StreamUrl: ${refusal}.`);
      const r = await service.start(spec, ticket, { userSig, ...(privateMapKey ? { privateMapKey } : {}) });
      if (r.ok) return { TaskId: r.taskId };
      if (r.error === 'task-exists') {
        throw new Api3Error(
          'FailedOperation.TaskExist',
          `User ${spec.userId} of SdkAppId ${spec.sdkAppId} already has a running task (${r.taskId}); stop it first or use another UserId.`,
        );
      }
      throw new Api3Error(
        'ResourceInsufficient.RequestRejection',
        `This gateway runs at most ${r.limit} pull tasks at once and is full; stop a task or retry later.`,
      );
    },

    async StopStreamIngest(p) {
      const sdkAppId = sdkAppIdParam(p);
      const taskId = taskIdParam(p);
      requireKnownApp(door, sdkAppId);
      const r = await service.stop(sdkAppId, taskId);
      if (r === 'finished') throw new Api3Error('FailedOperation.TaskFinished', `Task ${taskId} has already ended.`);
      if (r === 'not-found') throw new Api3Error('InvalidParameter.TaskId', `There is no task ${taskId} for SdkAppId ${sdkAppId}.`);
      return {};
    },

    async DescribeStreamIngest(p) {
      const sdkAppId = sdkAppIdParam(p);
      const taskId = taskIdParam(p);
      return { Status: await service.describe(sdkAppId, taskId) };
    },

    async UpdateStreamIngest(p) {
      const sdkAppId = sdkAppIdParam(p);
      const taskId = taskIdParam(p);
      const changes = updateParams(p);
      if (changes.streamUrl !== undefined) {
        const refusal = await service.checkStreamUrl(changes.streamUrl);
        if (refusal) throw new Api3Error('InvalidParameter.StreamUrl', `StreamUrl: ${refusal}.`);
      }
      const r = await service.update(sdkAppId, taskId, changes);
      if (r === 'not-found') {
        throw new Api3Error('FailedOperation.TaskNotExist', `There is no running task ${taskId} for SdkAppId ${sdkAppId}; it may have ended.`);
      }
      return { Status: 'InProgress' };
    },
  };
}
