// Parameter checks for StartPublishCdnStream / UpdatePublishCdnStream / StopPublishCdnStream (trtc-egress.md §4).
//
// Codes: the reference lists only the plain InvalidParameter and MissingParameter for these actions (§4.4), so every
// refusal here carries one of those two, with a message naming the field by its path and what to send instead.
//
// Decisions:
// - RoomIdType is required as in the SDK, and here 0 = integer room, 1 = string room (the inverse of
//   CreateCloudRecording's).
// - AgentParams.UserSig is required (the SDK marks it optional, seed 003 required): the agent enters the room through
//   the same door as any user, so it needs a credential.
// - WithTranscoding 1 (mixed relay) mixes every publisher of the room but the agent (cdn-relay-mix-params.ts), their
//   audio as AudioParams' allow/block lists say (cdn-relay-audio-lists.ts).
// - FeedBackRoomParams (≤ 10 rooms) brings a mixed relay's picture into rooms as a user; a task needs it or
//   PublishCdnParams. With WithTranscoding 0 it is refused (the user relayed is in a room already).
// - SeiParams (LayoutVolume, PassThrough) puts SEI messages into a mixed relay's stream; a single stream is relayed
//   as it is, so there it is refused (CRUnsupportMethod).
// - RecordParams with recording and a screen-share stream (StreamType 1) are not run by this gateway: refused with
//   FailedOperation.CRUnsupportMethod naming what works, never accepted and ignored.
// - A MixUserInfo (SingleSubscribeParams, AudioParams' lists, MaxVideoUser, custom pictures) may name only the task's
//   room, by RoomId or RoomIdType: one rule for all, in Start and Update alike (cdn-relay-room.ts).
// - PublishCdnUrl: rtmp:// or rtmps://, at most 1024 characters; the same URL twice is refused (two pushes of one
//   stream name fight over it at the CDN: the 3↔2 flapping the reference warns about).

import { checkUserId, quote } from '../auth/ids.js';
import { Api3Error } from './api3-envelope.js';
import { FEEDBACK_NEEDS_MIX, type FeedBackUser, type RelayChanges, type RelaySpec, type SeiSpec } from './cdn-relay-service.js';
import { asObject, at, choice, int, list, need, object, present, show, string, type Obj } from './cloud-recording-fields.js';
import { checkedRoom, collectRoom, foreignRoom, type NamedRoom, type TaskRoom } from './cdn-relay-room.js';
import { relayLayout, relayMixParams } from './cdn-relay-mix-params.js';
import { applyAudioLists, audioListsParam, EVERYONE, refuseListsWithoutMix, type AudioListsParam } from './cdn-relay-audio-lists.js';
import { sdkAppIdParam } from './stream-ingest-params.js';


export { sdkAppIdParam };

export const UNSUPPORTED = 'FailedOperation.CRUnsupportMethod';
const MAX_URLS = 10;
const MAX_FEEDBACK_ROOMS = 10;
const MAX_URL_LENGTH = 1024;
const MAX_TASK_ID_LENGTH = 256;

/** Runs a check with the shared readers, giving their refusals the two codes these actions use. */
export function relayCodes<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (!(err instanceof Api3Error)) throw err;
    if (err.code.startsWith('MissingParameter')) throw new Api3Error('MissingParameter', err.message);
    if (err.code.startsWith('InvalidParameter')) throw new Api3Error('InvalidParameter', err.message);
    throw err;
  }
}

export interface StartParams {
  spec: RelaySpec;
  userSig: string;
  /** FeedBackRoomParams (mixed relays); [] when absent. */
  feedback: FeedBackUser[];
}

export function startParams(p: Obj): StartParams {
  const sdkAppId = sdkAppIdParam(p);
  return relayCodes(() => {
    const room = checkedRoom(p);
    const agent = asObject(need(p, 'AgentParams', '', 'MissingParameter', 'send AgentParams with the relay user\'s UserId and UserSig'), 'AgentParams');
    const agentUserId = userIdAt(agent, 'AgentParams', 'the UserId the relay enters the room as (one no one else uses)');
    const userSig = need(agent, 'UserSig', 'AgentParams', 'MissingParameter', `send a UserSig made for ${quote(agentUserId)}`);
    if (typeof userSig !== 'string') throw new Api3Error('InvalidParameter', `AgentParams.UserSig must be a string, the UserSig made for ${quote(agentUserId)}.`);
    const maxIdleTimeSec = int(agent, 'MaxIdleTime', 'AgentParams', 5, 86400, 'seconds') ?? 30;
    need(p, 'WithTranscoding', '', 'MissingParameter', 'send 0 to relay one user\'s stream as it is, or 1 for a mixed relay');
    const transcoding = choice<0 | 1>(p, 'WithTranscoding', '', { 0: 'relay one stream as it is', 1: 'mixed relay' })!;
    refuseExtras(p);
    const rooms: NamedRoom[] = [];
    const task = { roomId: room.roomId, numericRoom: room.numeric };
    if (transcoding === 1) {
      const mix = relayMixParams(p, rooms);
      const lists = audioParams(p.AudioParams, rooms);
      refuseForeign(rooms, task);
      const feedback = feedBackParams(p) ?? [];
      const urls = urlParams(p) ?? [];
      if (urls.length === 0 && feedback.length === 0) {
        throw new Api3Error('MissingParameter', 'PublishCdnParams is missing: send 1 to 10 entries with the rtmp:// URL to push to in PublishCdnUrl, or FeedBackRoomParams to bring the mix into rooms.');
      }
      const sei = seiParams(p);
      return {
        spec: {
          sdkAppId, roomId: room.roomId, numericRoom: room.numeric, agentUserId, maxIdleTimeSec, userId: '', audio: true, video: true, urls, mix,
          audioLists: applyAudioLists(EVERYONE, lists), ...(sei ? { sei } : {}),
        },
        userSig,
        feedback,
      };
    }
    if (feedBackParams(p)?.length) throw new Api3Error(UNSUPPORTED, FEEDBACK_NEEDS_MIX);
    if (seiParams(p)) throw new Api3Error(UNSUPPORTED, SEI_NEEDS_MIX);
    const single = asObject(need(p, 'SingleSubscribeParams', '', 'MissingParameter', 'WithTranscoding 0 relays one user: send SingleSubscribeParams.UserMediaStream.UserInfo.UserId'), 'SingleSubscribeParams');
    const userId = singleUser(single, rooms);
    refuseForeign(rooms, task);
    const audio = present(p, 'AudioParams');
    const video = present(p, 'VideoParams');
    if (audio) refuseListsWithoutMix(audioParams(p.AudioParams, []));
    if (video) asObject(p.VideoParams, 'VideoParams');
    if (!audio && !video) {
      throw new Api3Error('MissingParameter', 'AudioParams is missing: send AudioParams (and VideoParams for audio and video; VideoParams alone relays video only).');
    }
    const urls = urlParams(p);
    if (!urls) throw new Api3Error('MissingParameter', 'PublishCdnParams is missing: send 1 to 10 entries with the rtmp:// URL to push to in PublishCdnUrl.');
    return {
      spec: { sdkAppId, roomId: room.roomId, numericRoom: room.numeric, agentUserId, maxIdleTimeSec, userId, audio, video, urls, mix: null, audioLists: EVERYONE },
      userSig,
      feedback: [],
    };
  });
}

export function updateParams(p: Obj): { sdkAppId: number; taskId: string; changes: RelayChanges; feedback?: FeedBackUser[] } {
  const sdkAppId = sdkAppIdParam(p);
  return relayCodes(() => {
    const taskId = taskIdParam(p);
    need(p, 'SequenceNumber', '', 'MissingParameter', 'send a number larger than the one of this task\'s last update (1 for the first)');
    const sequence = int(p, 'SequenceNumber', '', 0, Number.MAX_SAFE_INTEGER)!;
    need(p, 'WithTranscoding', '', 'MissingParameter', 'send the WithTranscoding the task was started with');
    const withTranscoding = choice<0 | 1>(p, 'WithTranscoding', '', { 0: 'relay one stream as it is', 1: 'mixed relay' })!;
    refuseExtras(p);
    const changes: RelayChanges = { sequence, withTranscoding };
    // the task's room is not known here: the rooms named go with the changes, for the task to judge
    const rooms: NamedRoom[] = [];
    if (present(p, 'SingleSubscribeParams')) changes.userId = singleUser(asObject(p.SingleSubscribeParams, 'SingleSubscribeParams'), rooms);
    if (present(p, 'AudioParams')) {
      const lists = audioParams(p.AudioParams, rooms);
      if (withTranscoding === 0) refuseListsWithoutMix(lists);
      else if (lists.allow || lists.block) changes.audioLists = lists;
      changes.audio = true;
    }
    if (present(p, 'VideoParams')) {
      const video = asObject(p.VideoParams, 'VideoParams');
      changes.video = true;
      if (withTranscoding === 1 && (present(video, 'LayoutParams') || present(video, 'BackGroundColor'))) changes.layout = relayLayout(video, null, rooms);
    }
    if (rooms.length > 0) changes.rooms = rooms;
    const urls = urlParams(p);
    if (urls) changes.urls = urls;
    const feedback = feedBackParams(p);
    const sei = seiParams(p);
    if (present(p, 'SeiParams')) {
      if (withTranscoding === 0 && sei) throw new Api3Error(UNSUPPORTED, SEI_NEEDS_MIX);
      changes.sei = sei ?? {};
    }
    return { sdkAppId, taskId, changes, ...(feedback ? { feedback } : {}) };
  });
}

export function stopParams(p: Obj): { sdkAppId: number; taskId: string } {
  const sdkAppId = sdkAppIdParam(p);
  return relayCodes(() => {
    const taskId = taskIdParam(p);
    if (present(p, 'RecordKey') && typeof p.RecordKey !== 'string') throw new Api3Error('InvalidParameter', `RecordKey must be a string; got ${show(p.RecordKey)}.`);
    return { sdkAppId, taskId };
  });
}

function taskIdParam(p: Obj): string {
  const v = need(p, 'TaskId', '', 'MissingParameter', 'send the TaskId that StartPublishCdnStream returned');
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TASK_ID_LENGTH || !/^[A-Za-z0-9+/=_.-]+$/.test(v)) {
    throw new Api3Error('InvalidParameter', `TaskId must be the TaskId string that StartPublishCdnStream returned; got ${show(v)}.`);
  }
  return v;
}

function userIdAt(o: Obj, path: string, what: string): string {
  const v = need(o, 'UserId', path, 'MissingParameter', `send ${what}`);
  if (typeof v !== 'string') throw new Api3Error('InvalidParameter', `${at(path, 'UserId')} must be a string; got ${show(v)}.`);
  const why = checkUserId(v);
  if (why) throw new Api3Error('InvalidParameter', `${at(path, 'UserId')}: ${why}.`);
  return v;
}

/** SingleSubscribeParams.UserMediaStream: the user and stream (camera only) to relay; the room named, into `rooms`. */
function singleUser(single: Obj, rooms: NamedRoom[]): string {
  const path = 'SingleSubscribeParams.UserMediaStream';
  const stream = asObject(need(single, 'UserMediaStream', 'SingleSubscribeParams', 'MissingParameter', 'send UserInfo.UserId, the user to relay'), path);
  const info = asObject(need(stream, 'UserInfo', path, 'MissingParameter', 'send UserId, the user to relay'), at(path, 'UserInfo'));
  const userId = userIdAt(info, at(path, 'UserInfo'), 'the user whose stream is relayed');
  collectRoom(info, at(path, 'UserInfo'), UNSUPPORTED, rooms);
  const type = choice<0 | 1>(stream, 'StreamType', path, { 0: 'camera (main) stream', 1: 'screen share' }) ?? 0;
  if (type === 1) throw new Api3Error(UNSUPPORTED, `${path}.StreamType 1 (screen share) is not supported: this gateway has one stream per user; send 0 or leave it out.`);
  return userId;
}

/** FeedBackRoomParams: undefined when absent; else ≤ 10 distinct users, each with RoomId, RoomIdType, UserId, UserSig. */
function feedBackParams(p: Obj): FeedBackUser[] | undefined {
  const entries = list(p, 'FeedBackRoomParams', '', MAX_FEEDBACK_ROOMS);
  if (!entries) return undefined;
  const users = entries.map((e, i) => {
    const path = `FeedBackRoomParams[${i}]`;
    const o = asObject(e, path);
    const room = roomAt(o, path);
    const userId = userIdAt(o, path, 'the UserId the mix enters that room as');
    const userSig = need(o, 'UserSig', path, 'MissingParameter', `send a UserSig made for ${quote(userId)}`);
    if (typeof userSig !== 'string') throw new Api3Error('InvalidParameter', `${path}.UserSig must be a string, the UserSig made for ${quote(userId)}.`);
    return { roomId: room.roomId, numericRoom: room.numeric, userId, userSig };
  });
  const key = (u: FeedBackUser) => `${u.numericRoom ? 'int' : 'str'}:${u.roomId}|${u.userId}`;
  const dup = users.find((u, i) => users.findIndex((v) => key(v) === key(u)) !== i);
  if (dup) throw new Api3Error('InvalidParameter', `FeedBackRoomParams names user ${quote(dup.userId)} in room ${show(dup.roomId)} twice; one user can enter a room once.`);
  return users;
}

const SEI_NEEDS_MIX = 'SeiParams puts SEI messages into the stream a mixed relay (WithTranscoding 1) encodes; a single stream is relayed as it is: leave SeiParams out.';

/** SeiParams: undefined when absent or empty; else its LayoutVolume and PassThrough, checked (§4.3's rules). */
function seiParams(p: Obj): SeiSpec | undefined {
  const o = object(p, 'SeiParams', '');
  if (!o) return undefined;
  const sei: SeiSpec = {};
  const lv = object(o, 'LayoutVolume', 'SeiParams');
  if (lv) {
    const path = 'SeiParams.LayoutVolume';
    const appData = string(lv, 'AppData', path);
    if (appData !== undefined && appData.length >= 4096) throw new Api3Error('InvalidParameter', `${path}.AppData must be shorter than 4096 characters; got ${appData.length}.`);
    sei.layoutVolume = { ...(appData !== undefined ? { appData } : {}), payloadType: payloadType(lv, path, false) ?? 100, ...timing(lv, path) };
  }
  const pt = object(o, 'PassThrough', 'SeiParams');
  if (pt) {
    const path = 'SeiParams.PassThrough';
    const content = need(pt, 'PayloadContent', path, 'MissingParameter', 'send the payload to insert, as a string');
    if (typeof content !== 'string' || content.length === 0 || content.length > 4096) {
      throw new Api3Error('InvalidParameter', `${path}.PayloadContent must be a string of 1 to 4096 characters; got ${show(content)}.`);
    }
    need(pt, 'PayloadType', path, 'MissingParameter', 'send 5 (with PayloadUuid) or 100–254 but 244');
    const type = payloadType(pt, path, true)!;
    const uuid = string(pt, 'PayloadUuid', path);
    if (type === 5 && (uuid === undefined || !/^[0-9a-fA-F]{32}$/.test(uuid))) {
      throw new Api3Error('InvalidParameter', `${path}.PayloadUuid must be 32 hex digits when PayloadType is 5; got ${show(uuid)}.`);
    }
    if (type !== 5 && uuid !== undefined) throw new Api3Error('InvalidParameter', `${path}.PayloadUuid goes with PayloadType 5 only; leave it out for type ${type}.`);
    sei.passThrough = { content, payloadType: type, ...(uuid ? { uuid } : {}), ...timing(pt, path) };
  }
  return sei.layoutVolume || sei.passThrough ? sei : undefined;
}

/** An SEI payload type: 100–254 but 244 (which H.264 reserves), or 5 where `five` is allowed. */
function payloadType(o: Obj, path: string, five: boolean): number | undefined {
  const v = int(o, 'PayloadType', path, five ? 5 : 100, 254);
  if (v !== undefined && (v === 244 || (v < 100 && v !== 5))) {
    throw new Api3Error('InvalidParameter', `${path}.PayloadType must be ${five ? '5 or ' : ''}100–254 except 244; got ${v}.`);
  }
  return v;
}

function timing(o: Obj, path: string): { intervalMs: number; followIdr: boolean } {
  const intervalMs = int(o, 'Interval', path, 100, 60000, 'ms') ?? 1000;
  const followIdr = choice<0 | 1>(o, 'FollowIdr', path, { 0: 'at the interval only', 1: 'also with every IDR frame' }) === 1;
  return { intervalMs, followIdr };
}

/** RoomId / RoomIdType of an entry (0 integer room, 1 string room, as the task's own), refusals naming the path. */
function roomAt(o: Obj, path: string): { roomId: string; numeric: boolean } {
  try {
    return checkedRoom(o);
  } catch (err) {
    if (err instanceof Api3Error) throw new Api3Error(err.code, `${path}.${err.message}`);
    throw err;
  }
}

/** Start: a user named with another room than the task's is refused (cdn-relay-room.ts says with which code). */
function refuseForeign(rooms: readonly NamedRoom[], task: TaskRoom): void {
  const foreign = foreignRoom(rooms, task);
  if (foreign) throw new Api3Error(foreign.code, foreign.message);
}

/**
 * AudioParams: AudioEncode is checked (a single-stream relay copies the audio, so its values apply to mixes only);
 * the lists, read, are for mixing.
 */
function audioParams(v: unknown, rooms: NamedRoom[]): AudioListsParam {
  const o = asObject(v, 'AudioParams');
  const enc = object(o, 'AudioEncode', 'AudioParams');
  if (enc) {
    const path = 'AudioParams.AudioEncode';
    need(enc, 'SampleRate', path, 'MissingParameter', 'send 48000, 44100, 32000, 24000, 16000 or 8000');
    choice(enc, 'SampleRate', path, { 48000: 'Hz', 44100: 'Hz', 32000: 'Hz', 24000: 'Hz', 16000: 'Hz', 8000: 'Hz' });
    need(enc, 'Channel', path, 'MissingParameter', 'send 1 (mono) or 2 (stereo)');
    choice(enc, 'Channel', path, { 1: 'mono', 2: 'stereo' });
    need(enc, 'BitRate', path, 'MissingParameter', 'send the bitrate in kbps, 8 to 500');
    int(enc, 'BitRate', path, 8, 500, 'kbps');
    choice(enc, 'Codec', path, { 0: 'LC-AAC', 1: 'HE-AAC', 2: 'HE-AACv2' });
  }
  return audioListsParam(o, rooms);
}

/** PublishCdnParams: undefined when absent; else 1–10 distinct rtmp:// or rtmps:// URLs. */
function urlParams(p: Obj): string[] | undefined {
  const entries = list(p, 'PublishCdnParams', '', MAX_URLS);
  if (!entries) return undefined;
  if (entries.length === 0) throw new Api3Error('InvalidParameter', 'PublishCdnParams is empty: send 1 to 10 entries, each with the rtmp:// URL to push to in PublishCdnUrl.');
  const urls = entries.map((e, i) => {
    const path = `PublishCdnParams[${i}]`;
    const o = asObject(e, path);
    const url = need(o, 'PublishCdnUrl', path, 'MissingParameter', 'send the rtmp:// URL to push to');
    choice(o, 'IsTencentCdn', path, { 0: 'another CDN', 1: 'Tencent CDN' });
    if (typeof url !== 'string' || url.length > MAX_URL_LENGTH || !/^rtmps?:\/\/[^\s/]+\/\S+$/i.test(url)) {
      throw new Api3Error('InvalidParameter', `${path}.PublishCdnUrl must be an rtmp:// or rtmps:// URL of at most ${MAX_URL_LENGTH} characters with a host and a path (rtmp://host/app/stream); got ${show(url)}.`);
    }
    return url;
  });
  const dup = urls.find((u, i) => urls.indexOf(u) !== i);
  if (dup) throw new Api3Error('InvalidParameter', `PublishCdnParams names ${show(dup)} twice; each URL may be pushed once per task.`);
  return urls;
}

/** Fields this gateway does not run: refused rather than silently ignored (an empty list or object asks for nothing). */
function refuseExtras(p: Obj): void {
  const set = (k: string): boolean => {
    const v = p[k];
    if (!present(p, k)) return false;
    if (Array.isArray(v)) return v.length > 0;
    return typeof v !== 'object' || Object.keys(v as Obj).length > 0;
  };
  const rec = present(p, 'RecordParams') ? asObject(p.RecordParams, 'RecordParams') : null;
  if (rec && present(rec, 'UniRecord') && rec.UniRecord !== 0 && rec.UniRecord !== 1) {
    throw new Api3Error(UNSUPPORTED, 'RecordParams.UniRecord 2 or 3 (recording the relay) is not supported; record the room with CreateCloudRecording instead, or send UniRecord 1.');
  }
}
