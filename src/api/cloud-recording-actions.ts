// The four cloud-recording actions: parameters checked, the recording user let in by the room's door like any user
// who only receives (action 'subscribe': UserSig, PrivateMapKey with a receive privilege), then the service asked.
// Each returns the Response fields, or throws an Api3Error.
//
// Codes follow trtc-egress.md §1.8: the unknown-SdkAppId check is made where the reference lists
// InvalidParameter.SdkAppId (Create, Describe); for Modify and Delete a task of an unknown app is simply not found.
// A refused UserSig / PrivateMapKey is InvalidParameter.UserSig, as for the stream-ingest actions (auth-errors.ts):
// the reference lists no code for a refused signature, and that one names the field to fix.

import type { Door } from '../room/door.js';
import { Api3Error } from './api3-envelope.js';
import { enterTaskUser, requireKnownApp } from './task-user.js';
import { createParams, describeParams, modifyParams, sdkAppIdParam, taskIdParam } from './cloud-recording-params.js';
import type { CloudRecordingService } from './cloud-recording-service.js';
import { OUT_OF_RANGE } from './cloud-recording-fields.js';
import type { ActionHandler } from './stream-ingest-actions.js';

export function cloudRecordingActions(deps: { door: Door; service: CloudRecordingService }): Record<string, ActionHandler> {
  const { door, service } = deps;

  const notFound = (sdkAppId: number, taskId: string): Api3Error =>
    new Api3Error(
      'ResourceNotFound',
      `There is no cloud recording task ${taskId} for SdkAppId ${sdkAppId}: it has ended, its ResourceExpiredHour has passed, or it never existed.`,
    );

  return {
    async CreateCloudRecording(p) {
      const { spec, userSig, privateMapKey } = createParams(p);
      requireKnownApp(door, spec.sdkAppId);
      const ticket = enterTaskUser(door, { ...spec, numericRoom: spec.roomIdType === 1, userSig, privateMapKey }, 'subscribe');
      const r = await service.create(spec, ticket, { userSig, ...(privateMapKey ? { privateMapKey } : {}) });
      if (r.ok) return { TaskId: r.taskId };
      if (r.error === 'limit') {
        throw new Api3Error(
          'FailedOperation.RestrictedConcurrency',
          `This gateway runs at most ${r.limit} cloud recording tasks at once and is full; delete a task or retry later.`,
        );
      }
      throw new Api3Error(
        'FailedOperation',
        `UserId ${spec.userId} cannot record room ${spec.roomId}: ${r.reason}. Give the recording a UserId no one else in the room uses.`,
      );
    },

    async DescribeCloudRecording(p) {
      const { sdkAppId, taskId } = describeParams(p);
      requireKnownApp(door, sdkAppId);
      const r = await service.describe(sdkAppId, taskId);
      if (!r) throw notFound(sdkAppId, taskId);
      return {
        TaskId: taskId,
        Status: r.status,
        StorageFileList: r.files.map((f) => ({ UserId: f.userId, FileName: f.fileName, TrackType: f.trackType, BeginTimeStamp: f.beginTimeStamp })),
      };
    },

    async ModifyCloudRecording(p) {
      const sdkAppId = sdkAppIdParam(p);
      const taskId = taskIdParam(p);
      const r = await service.modify(sdkAppId, taskId, modifyParams(p));
      if (r === 'not-found') throw notFound(sdkAppId, taskId);
      if (r !== 'modified') throw new Api3Error(OUT_OF_RANGE, `Task ${taskId} cannot take these changes: ${r.refused}.`);
      return { TaskId: taskId };
    },

    async DeleteCloudRecording(p) {
      const sdkAppId = sdkAppIdParam(p);
      const taskId = taskIdParam(p);
      if ((await service.delete(sdkAppId, taskId)) === 'not-found') throw notFound(sdkAppId, taskId);
      return { TaskId: taskId };
    },
  };
}
