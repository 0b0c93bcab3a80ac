// Parameter checks for CreateCloudRecording / DescribeCloudRecording / ModifyCloudRecording / DeleteCloudRecording
// (trtc-egress.md §1), with the codes the reference lists (§1.8) and messages that say what to send instead. The
// mix structs are in cloud-recording-mix-params.ts, the typed readers in cloud-recording-fields.ts.
//
// Decisions:
// - StorageParams {} (neither CloudStorage nor CloudVod) records to the gateway's own directory, roomgate's embedded
//   default (TRTC would refuse). StorageParams with other keys but no CloudStorage is a misspelt request, refused
//   with MissingParameter.CloudStorage rather than quietly recorded locally.
// - CloudVod is refused with FailedOperation.CRUnsupportMethod, Tencent's "unsupported on-cloud recording method"
//   (storage to VOD is exactly that), which all four actions may return; UnsupportedOperation is a generic code
//   that Create alone lists. Both CloudStorage and CloudVod set is refused as TRTC does (OutOfRange).
// - RoomIdType 1 (the default) with a RoomId that is not a room number, and every other bad value, is
//   InvalidParameter.OutOfRange: the recording actions list no InvalidParameter.RoomId / .UserId.
// - Fields TRTC documents for one mode only (AvMerge, MixTranscodeParams, MixLayoutParams in single-stream mode) are
//   checked and not used, as TRTC does, so one request shape works for both modes.
// - SubscribeAbility (also record TRTC's mix push-back robot) is checked; roomgate has no such robot, so 0 and 1
//   record the same streams.

import { checkNumericRoomId, checkStringRoomId, checkUserId, quote } from '../auth/ids.js';
import { prefixOf } from '../record/subscribe.js';
import { Api3Error } from './api3-envelope.js';
import type { Allow, RecordingChanges, RecordingSpec, StorageSpec, Subscription } from './cloud-recording-service.js';
import {
  asObject, at, choice, int, list, need, OUT_OF_RANGE, outOfRange, present, show, string, UNSUPPORTED, type Obj,
} from './cloud-recording-fields.js';
import { layoutParams, mixParams } from './cloud-recording-mix-params.js';
import { sdkAppIdParam } from './stream-ingest-params.js';

export { sdkAppIdParam };

const MAX_SUBSCRIBE_IDS = 32;
const MAX_TASK_ID_LENGTH = 256;
/** Undocumented bounds on FileNamePrefix; they keep object keys far below S3's 1024 bytes. */
const MAX_PREFIX_LEVELS = 16;
const MAX_PREFIX_LEVEL_CHARS = 64;
const ID_CHARS = /^[A-Za-z0-9_-]+$/;
const LOCAL_OR_S3 = 'send CloudStorage (Vendor, Region, Bucket, AccessKey, SecretKey) for an S3-compatible store, or an empty StorageParams {} to keep the files in the gateway\'s recording directory';

export interface CreateParams {
  spec: RecordingSpec;
  userSig: string;
  privateMapKey?: string;
}

export function createParams(p: Obj): CreateParams {
  const sdkAppId = sdkAppIdParam(p);
  const room = roomParams(p);
  const userId = need(p, 'UserId', '', 'MissingParameter.UserId', 'send the UserId the recording enters the room as (one no one else in the room uses)');
  if (typeof userId !== 'string') throw outOfRange('UserId', 'a string', userId);
  const userWhy = checkUserId(userId);
  if (userWhy) throw new Api3Error(OUT_OF_RANGE, `UserId: ${userWhy}.`);
  const userSig = need(p, 'UserSig', '', 'MissingParameter.UserSig', `send a UserSig made for the recording user ${quote(userId)}`);
  if (typeof userSig !== 'string') throw new Api3Error(OUT_OF_RANGE, `UserSig must be a string, the UserSig made for ${quote(userId)}.`);
  const privateMapKey = string(p, 'PrivateMapKey', '');
  const record = asObject(need(p, 'RecordParams', '', 'MissingParameter.RecordParams', 'send RecordParams with at least RecordMode (1 single-stream, 2 mixed)'), 'RecordParams');
  need(record, 'RecordMode', 'RecordParams', 'MissingParameter.RecordMode', 'send 1 (single-stream: a file set per user) or 2 (mixed: one file of the room)');
  const mode = choice<1 | 2>(record, 'RecordMode', 'RecordParams', { 1: 'single-stream', 2: 'mixed' })!;
  const storage = storageParams(p);
  const mix = mixParams(p, mode === 2);
  const spec: RecordingSpec = {
    sdkAppId,
    ...room,
    userId,
    recordMode: mode,
    ...recordParams(record, mode),
    storage,
    mix: mode === 2 ? mix : null,
    resourceExpiredHour: int(p, 'ResourceExpiredHour', '', 6, 720, 'hours') ?? 72,
  };
  return { spec, userSig, ...(privateMapKey ? { privateMapKey } : {}) };
}

/** RecordParams other than RecordMode, with their defaults. */
function recordParams(o: Obj, mode: 1 | 2): Omit<RecordingSpec, 'sdkAppId' | 'roomId' | 'roomIdType' | 'userId' | 'recordMode' | 'storage' | 'mix' | 'resourceExpiredHour'> {
  const path = 'RecordParams';
  choice(o, 'SubscribeAbility', path, { 0: 'publishers only', 1: 'also the mix push-back robot' });
  const avMerge = choice<0 | 1>(o, 'AvMerge', path, { 0: 'separate audio and video files', 1: 'one file' }) ?? 0;
  return {
    maxIdleTimeSec: int(o, 'MaxIdleTime', path, 5, 86400, 'seconds') ?? 30,
    streamType: choice<0 | 1 | 2>(o, 'StreamType', path, { 0: 'audio and video', 1: 'audio only', 2: 'video only' }) ?? 0,
    subscribe: subscriptionParam(o, 'SubscribeStreamUserIds', path),
    outputFormat: choice<0 | 1 | 2 | 3 | 4>(o, 'OutputFormat', path, { 0: 'hls', 1: 'hls+mp4', 2: 'hls+aac', 3: 'mp4', 4: 'aac' }) ?? 0,
    // A mixed recording is one stream, so always one file (TRTC: "mixed mode always merged").
    avMerge: mode === 2 ? 1 : avMerge,
    maxMediaFileDurationMin: int(o, 'MaxMediaFileDuration', path, 1, 1440, 'minutes') ?? 1440,
    mediaId: choice<0 | 1 | 2>(o, 'MediaId', path, { 0: 'main and aux streams', 1: 'main stream only', 2: 'aux stream only' }) ?? 0,
    fillType: choice<0 | 1>(o, 'FillType', path, { 0: 'repeat the last frame', 1: 'black frames' }) ?? 0,
  };
}

/** RoomId with RoomIdType: 0 string, 1 integer (the default; note StartPublishCdnStream numbers them the other way). */
function roomParams(p: Obj): { roomId: string; roomIdType: 0 | 1 } {
  const type = choice<0 | 1>(p, 'RoomIdType', '', { 0: 'string room id', 1: 'integer room id, the default' }) ?? 1;
  const raw = need(p, 'RoomId', '', 'MissingParameter.RoomId', 'send the room to record, as a string ("1234" for room 1234)');
  if (typeof raw !== 'string' && typeof raw !== 'number') throw outOfRange('RoomId', 'a string, e.g. "1234" or (with RoomIdType 0) "my-room"', raw);
  if (type === 1) {
    const n = typeof raw === 'number' ? raw : /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
    const why = Number.isNaN(n) ? 'send the digits of a room number from 1 to 4294967294' : checkNumericRoomId(n);
    if (why) {
      throw new Api3Error(OUT_OF_RANGE, `RoomId ${show(raw)} is not a room number, as RoomIdType 1 (the default) requires: ${why}. For a string room, send RoomIdType 0.`);
    }
    return { roomId: String(n), roomIdType: 1 };
  }
  const why = checkStringRoomId(String(raw));
  if (why) throw new Api3Error(OUT_OF_RANGE, `RoomId: ${why}.`);
  return { roomId: String(raw), roomIdType: 0 };
}

function storageParams(p: Obj): StorageSpec {
  const o = asObject(need(p, 'StorageParams', '', 'MissingParameter.StorageParams', LOCAL_OR_S3), 'StorageParams');
  const cloud = present(o, 'CloudStorage');
  if (cloud && present(o, 'CloudVod')) {
    throw new Api3Error(OUT_OF_RANGE, 'StorageParams sets both CloudStorage and CloudVod; one storage may be set, and this gateway supports CloudStorage (or {} for its recording directory).');
  }
  if (present(o, 'CloudVod')) {
    throw new Api3Error(UNSUPPORTED, `StorageParams.CloudVod (Tencent VOD) is not supported by this gateway: ${LOCAL_OR_S3}.`);
  }
  if (!cloud) {
    const others = Object.keys(o).filter((k) => present(o, k));
    if (others.length === 0) return { kind: 'local' };
    throw new Api3Error('MissingParameter.CloudStorage', `StorageParams has ${others.map((k) => quote(k)).join(', ')} but no CloudStorage: ${LOCAL_OR_S3}.`);
  }
  return cloudStorage(asObject(o.CloudStorage, 'StorageParams.CloudStorage'));
}

function cloudStorage(o: Obj): StorageSpec {
  const path = 'StorageParams.CloudStorage';
  need(o, 'Vendor', path, 'MissingParameter.Vendor', 'send 0 for Tencent COS or 1 for AWS S3 (each S3-compatible endpoint is set in the gateway\'s recording.storageEndpoints)');
  const vendor = choice<0 | 1>(o, 'Vendor', path, { 0: 'Tencent COS', 1: 'AWS S3' })!;
  const region = need(o, 'Region', path, 'MissingParameter.Region', 'send the bucket\'s region, e.g. ap-guangzhou or us-east-1');
  // The region goes into the endpoint's host name: letters, digits, '-' and '_' only.
  if (typeof region !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(region)) {
    throw outOfRange(at(path, 'Region'), 'a region name of 1 to 64 letters, digits, - or _ (e.g. ap-guangzhou)', region);
  }
  const bucket = need(o, 'Bucket', path, 'MissingParameter.Bucket', 'send the name of the bucket to write to');
  // S3's legacy rule (also Ceph's and MinIO's loosest): a path-style bucket never needs escaping.
  if (typeof bucket !== 'string' || !/^[A-Za-z0-9._-]{1,255}$/.test(bucket) || bucket === '.' || bucket === '..') {
    throw outOfRange(at(path, 'Bucket'), 'a bucket name of 1 to 255 letters, digits, ., - or _', bucket);
  }
  const accessKey = secret(o, 'AccessKey', path, 'MissingParameter.AccessKey', 'the COS SecretId or S3 access key id');
  const secretKey = secret(o, 'SecretKey', path, 'MissingParameter.SecretKey', 'the COS SecretKey or S3 secret access key');
  return { kind: 's3', vendor, region, bucket, accessKey, secretKey, prefix: fileNamePrefix(o, path) };
}

/** Credentials: checked, never repeated in a message (answers and their logs are not the place for them). */
function secret(o: Obj, key: string, path: string, code: string, what: string): string {
  const v = need(o, key, path, code, `send ${what}`);
  if (typeof v !== 'string' || !/^[\x21-\x7e]{1,256}$/.test(v)) {
    throw new Api3Error(OUT_OF_RANGE, `${at(path, key)} must be ${what}: 1 to 256 printable ASCII characters without spaces (the value is not shown).`);
  }
  return v;
}

function fileNamePrefix(o: Obj, path: string): string[] {
  const levels = list(o, 'FileNamePrefix', path, MAX_PREFIX_LEVELS) ?? [];
  return levels.map((level, i) => {
    if (typeof level !== 'string' || level.length > MAX_PREFIX_LEVEL_CHARS || !ID_CHARS.test(level)) {
      throw outOfRange(`${path}.FileNamePrefix[${i}]`, `a folder name of 1 to ${MAX_PREFIX_LEVEL_CHARS} characters A-Z a-z 0-9 _ -`, level);
    }
    return level;
  });
}

/** SubscribeStreamUserIds at o[key]: absent or empty lists mean everyone. */
export function subscriptionParam(o: Obj, key: string, parent: string): Subscription {
  const path = at(parent, key);
  const s = present(o, key) ? asObject(o[key], path) : {};
  return {
    audio: allowParam(s, path, 'SubscribeAudioUserIds', 'UnSubscribeAudioUserIds', 'audio'),
    video: allowParam(s, path, 'SubscribeVideoUserIds', 'UnSubscribeVideoUserIds', 'video'),
  };
}

function allowParam(o: Obj, path: string, allowKey: string, blockKey: string, kind: string): Allow {
  const allow = idList(o, allowKey, path);
  const block = idList(o, blockKey, path);
  if (allow.length > 0 && block.length > 0) {
    throw new Api3Error(OUT_OF_RANGE, `${path} sets both ${allowKey} and ${blockKey}; send one of them: a list of whose ${kind} to record, or of whose ${kind} to leave out.`);
  }
  if (allow.length > 0) return { allow };
  return block.length > 0 ? { block } : null;
}

function idList(o: Obj, key: string, path: string): string[] {
  const entries = list(o, key, path, MAX_SUBSCRIBE_IDS) ?? [];
  return entries.map((e, i) => {
    const prefix = typeof e === 'string' ? prefixOf(e) : null;
    const ok = typeof e === 'string' && (prefix === null ? checkUserId(e) === null : prefix === '' || checkUserId(prefix) === null);
    if (!ok) throw outOfRange(`${at(path, key)}[${i}]`, 'a user id (up to 32 bytes of A-Z a-z 0-9 _ -) or a prefix pattern such as "1.*$" (user ids starting with 1)', e);
    return e as string;
  });
}

export function taskIdParam(p: Obj): string {
  const v = need(p, 'TaskId', '', 'MissingParameter.TaskId', 'send the TaskId that CreateCloudRecording returned');
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TASK_ID_LENGTH || !/^[A-Za-z0-9+/=_.-]+$/.test(v)) {
    throw outOfRange('TaskId', 'the TaskId string that CreateCloudRecording returned', v);
  }
  return v;
}

/** ModifyCloudRecording: a full overwrite, so what is absent goes back to its default (cloud-recording-service.ts). */
export function modifyParams(p: Obj): RecordingChanges {
  return {
    subscribe: subscriptionParam(p, 'SubscribeStreamUserIds', ''),
    layout: present(p, 'MixLayoutParams') ? layoutParams(p.MixLayoutParams, 'MixLayoutParams', null) : null,
  };
}

/** DescribeCloudRecording's RecorderKey names a relay (CDN) recording, which roomgate does not run. */
export function describeParams(p: Obj): { sdkAppId: number; taskId: string } {
  const sdkAppId = sdkAppIdParam(p);
  const taskId = taskIdParam(p);
  const key = string(p, 'RecorderKey', '');
  if (key) throw new Api3Error(UNSUPPORTED, 'RecorderKey names a relay-to-CDN recording, which this gateway does not run; send SdkAppId and TaskId alone.');
  return { sdkAppId, taskId };
}
