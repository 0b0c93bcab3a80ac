// Parameter checks for StartStreamIngest / StopStreamIngest / DescribeStreamIngest / UpdateStreamIngest, with the
// codes Tencent documents (MissingParameter.X, InvalidParameter.X) and messages that say what to send instead.
// Fields follow the official SDK models (trtc_models.d.ts); null counts as absent because the SDK drops nulls.

import { checkNumericRoomId, checkStringRoomId, checkUserId, quote } from '../auth/ids.js';
import { Api3Error } from './api3-envelope.js';
import type { IngestTaskSpec, IngestTaskUpdate } from './stream-ingest-service.js';

type Params = Record<string, unknown>;

const TEMPOS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0];
const MAX_URL_LENGTH = 4096;
const MAX_TASK_ID_LENGTH = 256;

function present(p: Params, name: string): boolean {
  return p[name] !== undefined && p[name] !== null;
}

function show(v: unknown): string {
  if (typeof v === 'string') return quote(v);
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

function integer(p: Params, name: string, min: number, max: number, rule: string): number | undefined {
  if (!present(p, name)) return undefined;
  const v = p[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new Api3Error(`InvalidParameter.${name}`, `${name} must be ${rule}; got ${show(v)}.`);
  }
  return v;
}

function boolean(p: Params, name: string): boolean | undefined {
  if (!present(p, name)) return undefined;
  if (typeof p[name] !== 'boolean') throw new Api3Error(`InvalidParameter.${name}`, `${name} must be true or false; got ${show(p[name])}.`);
  return p[name] as boolean;
}

function tempo(p: Params): number | undefined {
  if (!present(p, 'Tempo')) return undefined;
  const v = p.Tempo;
  if (typeof v !== 'number' || !TEMPOS.includes(v)) {
    throw new Api3Error('InvalidParameter.Tempo', `Tempo must be one of ${TEMPOS.join(', ')}; got ${show(v)}.`);
  }
  return v;
}

function volume(p: Params): number | undefined {
  return integer(p, 'Volume', 0, 200, 'an integer from 0 to 200 (percent; 100 keeps the source level, 0 mutes)');
}

export function sdkAppIdParam(p: Params): number {
  if (!present(p, 'SdkAppId')) throw new Api3Error('MissingParameter.SdkAppId', 'SdkAppId is missing: send the SDKAppID of your TRTC application.');
  const v = p.SdkAppId;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 0xffffffff) {
    throw new Api3Error('InvalidParameter.SdkAppId', `SdkAppId must be a positive integer (the SDKAppID); got ${show(v)}.`);
  }
  return v;
}

export function taskIdParam(p: Params): string {
  if (!present(p, 'TaskId')) throw new Api3Error('MissingParameter.TaskId', 'TaskId is missing: send the TaskId that StartStreamIngest returned.');
  const v = p.TaskId;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TASK_ID_LENGTH || !/^[A-Za-z0-9+/=_.-]+$/.test(v)) {
    throw new Api3Error('InvalidParameter.TaskId', `TaskId ${show(v)} is not a TaskId this service issued: send the TaskId that StartStreamIngest returned.`);
  }
  return v;
}

function streamUrl(v: unknown, name: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new Api3Error('InvalidParameter.StreamUrl', `${name} must be a non-empty URL string; got ${show(v)}.`);
  if (v.length > MAX_URL_LENGTH) throw new Api3Error('InvalidParameter.StreamUrl', `${name} is ${v.length} characters long; the limit is ${MAX_URL_LENGTH}.`);
  let url: URL;
  try {
    url = new URL(v.trim());
  } catch {
    throw new Api3Error('InvalidParameter.StreamUrl', `${name} ${show(v)} is not a URL: send e.g. https://example.com/live.flv or rtmp://example.com/live/stream.`);
  }
  if (!['http:', 'https:', 'rtmp:'].includes(url.protocol)) {
    throw new Api3Error(
      'InvalidParameter.StreamUrl',
      `${name} uses ${url.protocol.replace(/:$/, '')}://, which is not supported: use http://, https:// (FLV, MP4, HLS, MPEG-TS, …) or rtmp://.`,
    );
  }
  if (!url.hostname) throw new Api3Error('InvalidParameter.StreamUrl', `${name} ${show(v)} has no host.`);
  return v.trim();
}

/** StreamUrl, or the deprecated SourceUrl[0] when StreamUrl is absent. */
function startStreamUrl(p: Params): string {
  if (present(p, 'StreamUrl')) return streamUrl(p.StreamUrl, 'StreamUrl');
  if (present(p, 'SourceUrl')) {
    const s = p.SourceUrl;
    if (!Array.isArray(s) || s.length === 0) {
      throw new Api3Error('InvalidParameter.StreamUrl', `SourceUrl must be an array holding one URL; got ${show(s)}. Prefer StreamUrl.`);
    }
    if (s.length > 1) throw new Api3Error('InvalidParameter.StreamUrl', `SourceUrl holds ${s.length} URLs; one is supported. Prefer StreamUrl.`);
    return streamUrl(s[0], 'SourceUrl[0]');
  }
  throw new Api3Error('InvalidParameter.StreamUrl', 'StreamUrl is missing: send the URL of the stream or file to pull into the room.');
}

function roomParams(p: Params): { roomId: string; roomIdType: 0 | 1 } {
  const type = integer(p, 'RoomIdType', 0, 1, '0 (string room id) or 1 (integer room id)') ?? 0;
  if (!present(p, 'RoomId')) throw new Api3Error('MissingParameter.RoomId', 'RoomId is missing: send the room to pull the stream into (as a string).');
  const raw = p.RoomId;
  if (typeof raw !== 'string' && typeof raw !== 'number') {
    throw new Api3Error('InvalidParameter.RoomId', `RoomId must be a string (e.g. "my-room", or "1234" with RoomIdType 1); got ${show(raw)}.`);
  }
  if (type === 1) {
    const n = typeof raw === 'number' ? raw : /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
    const why = checkNumericRoomId(n);
    if (why) throw new Api3Error('InvalidParameter.RoomId', `RoomId ${show(raw)} with RoomIdType 1: ${why}.`);
    return { roomId: String(n), roomIdType: 1 };
  }
  const why = checkStringRoomId(String(raw));
  if (why) throw new Api3Error('InvalidParameter.StrRoomId', `RoomId: ${why}.`);
  return { roomId: String(raw), roomIdType: 0 };
}

export interface StartParams {
  spec: IngestTaskSpec;
  userSig: string;
  privateMapKey?: string;
}

export function startParams(p: Params): StartParams {
  const sdkAppId = sdkAppIdParam(p);
  const room = roomParams(p);
  if (!present(p, 'UserId')) throw new Api3Error('MissingParameter.UserId', 'UserId is missing: send the user id the stream appears as in the room.');
  const userId = String(p.UserId);
  const userWhy = typeof p.UserId === 'string' ? checkUserId(userId) : `user id must be a string, got ${show(p.UserId)}`;
  if (userWhy) throw new Api3Error('InvalidParameter.UserId', `UserId: ${userWhy}.`);
  if (!present(p, 'UserSig')) throw new Api3Error('MissingParameter.UserSig', `UserSig is missing: send a UserSig made for user ${quote(userId)}.`);
  if (typeof p.UserSig !== 'string') throw new Api3Error('InvalidParameter.UserSig', `UserSig must be a string; got ${show(p.UserSig)}.`);
  if (present(p, 'PrivateMapKey') && typeof p.PrivateMapKey !== 'string') {
    throw new Api3Error('InvalidParameter.UserSig', `PrivateMapKey must be a string; got ${show(p.PrivateMapKey)}.`);
  }
  const url = startStreamUrl(p);
  const repeatNum = integer(p, 'RepeatNum', -1, 1000, 'an integer from -1 to 1000 other than 0 (-1 loops until MaxDuration)') ?? 1;
  if (repeatNum === 0) throw new Api3Error('InvalidParameter.RepeatNum', 'RepeatNum 0 is not valid: send 1 to play once, up to 1000, or -1 to loop until MaxDuration.');
  const maxDuration = integer(p, 'MaxDuration', 1, 10080, 'an integer number of minutes from 1 to 10080');
  integer(p, 'IdleTimeout', 0, 600, 'an integer number of seconds from 0 to 600');
  if (boolean(p, 'AutoPush') === true) {
    // TRTC would also relay the pulled stream to its CDN; roomgate has no CDN of its own: a relay is a task of its own
    throw new Api3Error(
      'InvalidParameter.AutoPush',
      'AutoPush true is not supported: this gateway has no CDN of its own. Send AutoPush false (or leave it out) and relay the task\'s user with StartPublishCdnStream to your CDN\'s RTMP URL.',
    );
  }
  const spec: IngestTaskSpec = {
    sdkAppId,
    ...room,
    userId,
    streamUrl: url,
    seekSecond: integer(p, 'SeekSecond', 0, 365 * 86400, 'a whole number of seconds, 0 or more') ?? 0,
    repeatNum,
    maxDurationMinutes: repeatNum === -1 ? (maxDuration ?? null) : null,
    volume: volume(p) ?? 100,
    enableProgress: boolean(p, 'EnableProgress') ?? false,
    tempo: tempo(p) ?? 1,
  };
  return {
    spec,
    userSig: p.UserSig,
    ...(typeof p.PrivateMapKey === 'string' && p.PrivateMapKey ? { privateMapKey: p.PrivateMapKey } : {}),
  };
}

export function updateParams(p: Params): IngestTaskUpdate {
  const out: IngestTaskUpdate = {};
  if (present(p, 'StreamUrl')) out.streamUrl = streamUrl(p.StreamUrl, 'StreamUrl');
  const v = volume(p);
  if (v !== undefined) out.volume = v;
  const pause = boolean(p, 'IsPause');
  if (pause !== undefined) out.isPause = pause;
  const progress = boolean(p, 'EnableProgress');
  if (progress !== undefined) out.enableProgress = progress;
  const t = tempo(p);
  if (t !== undefined) out.tempo = t;
  return out;
}
