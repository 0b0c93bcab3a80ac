// Parameter checks shared by the room/user query actions (DescribeRoomInfo, DescribeUserInfo, DescribeUserEvent,
// DescribeCallDetailInfo, DescribeScaleInfo; trtc-egress.md §6), with the codes the reference lists for each action
// and messages that say what to send instead. null counts as absent (the official SDK drops nulls).
//
// Decisions:
// - Times are Unix seconds; a range covers [StartTime, EndTime] inclusive, to the end of EndTime's second.
// - StartTime older than history.retentionDays (TRTC: 14 days) is InvalidParameter.StartTsOversize: the history
//   has nothing from before then, so an answer would look complete and be wrong.
// - A time that looks like milliseconds (past the year 5138) is refused as such, not answered with nothing.
// - Paging: PageNumber counts from 0. As TRTC documents, unless both PageNumber and PageSize are sent the first page
//   of the default size comes back; each one sent is still checked.

import { checkStringRoomId, checkUserId, quote } from '../auth/ids.js';
import { Api3Error } from './api3-envelope.js';

type Params = Record<string, unknown>;

const DAY_S = 86_400;
/** Seconds past this are milliseconds sent by mistake (year 5138). */
const MAX_UNIX_SECONDS = 1e11;

export function present(p: Params, name: string): boolean {
  return p[name] !== undefined && p[name] !== null;
}

export function show(v: unknown): string {
  if (typeof v === 'string') return quote(v);
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/** The codes an action uses where the reference gives the actions different ones. */
export interface QueryCodes {
  /** The action's name, for messages. */
  action: string;
  missingSdkAppId: string;
  invalidSdkAppId: string;
  /** For a bad EndTime: InvalidParameter.EndTs where the action lists it, else the bare InvalidParameter. */
  invalidEndTs: string;
}

export function sdkAppIdParam(p: Params, c: QueryCodes): number {
  if (!present(p, 'SdkAppId')) throw new Api3Error(c.missingSdkAppId, 'SdkAppId is missing: send the SDKAppID of your TRTC application.');
  const v = p.SdkAppId;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 0xffffffff) {
    throw new Api3Error(c.invalidSdkAppId, `SdkAppId must be a positive integer (the SDKAppID); got ${show(v)}.`);
  }
  return v;
}

export interface Range {
  /** Unix seconds, as sent. */
  startSec: number;
  endSec: number;
  /** Milliseconds: the first of StartTime's second and the last of EndTime's. */
  from: number;
  to: number;
}

export interface RangeRules {
  retentionDays: number;
  /** The longest range the action answers, seconds (none: no limit besides the retention). */
  maxSeconds?: number;
  /** How the limit is said in the message: "24 hours". */
  maxText?: string;
  now: number;
}

export function timeRange(p: Params, c: QueryCodes, r: RangeRules): Range {
  const startSec = unixSeconds(p, 'StartTime', 'MissingParameter.StartTs', 'InvalidParameter.StartTs', 'the start of the range');
  const endSec = unixSeconds(p, 'EndTime', 'MissingParameter.EndTs', c.invalidEndTs, 'the end of the range');
  if (endSec < startSec) {
    throw new Api3Error(c.invalidEndTs, `EndTime ${endSec} is before StartTime ${startSec}: send a range that ends after it starts.`);
  }
  const oldest = Math.floor(r.now / 1000) - r.retentionDays * DAY_S;
  if (startSec < oldest) {
    throw new Api3Error(
      'InvalidParameter.StartTsOversize',
      `StartTime ${startSec} is more than ${r.retentionDays} days ago; this gateway keeps ${r.retentionDays} days of history (history.retentionDays): send a StartTime from ${oldest} on.`,
    );
  }
  if (r.maxSeconds !== undefined && endSec - startSec > r.maxSeconds) {
    throw new Api3Error(
      'InvalidParameter.QueryScaleOversize',
      `EndTime − StartTime is ${endSec - startSec} s; ${c.action} covers at most ${r.maxText} (${r.maxSeconds} s) at a time: split the range.`,
    );
  }
  return { startSec, endSec, from: startSec * 1000, to: endSec * 1000 + 999 };
}

function unixSeconds(p: Params, name: string, missing: string, invalid: string, what: string): number {
  if (!present(p, name)) throw new Api3Error(missing, `${name} is missing: send ${what} as a Unix time in seconds.`);
  const v = p[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new Api3Error(invalid, `${name} must be a Unix time in whole seconds; got ${show(v)}.`);
  }
  if (v > MAX_UNIX_SECONDS) throw new Api3Error(invalid, `${name} ${v} looks like milliseconds: send seconds (${Math.floor(v / 1000)}).`);
  return v;
}

export interface Paging {
  offset: number;
  limit: number;
}

/** PageNumber (from 0) and PageSize in [1, max]; the first page of `defaultSize` unless both are sent. */
export function paging(p: Params, defaultSize: number, max: number, why = ''): Paging {
  let page: number | undefined;
  let size: number | undefined;
  if (present(p, 'PageNumber')) {
    const v = p.PageNumber;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new Api3Error('InvalidParameter.PageNumber', `PageNumber must be an integer from 0 (the first page); got ${show(v)}.`);
    }
    page = v;
  }
  if (present(p, 'PageSize')) {
    const v = p.PageSize;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new Api3Error('InvalidParameter.PageSize', `PageSize must be an integer from 1 to ${max}; got ${show(v)}.`);
    }
    if (v > max) throw new Api3Error('InvalidParameter.PageSizeOversize', `PageSize ${v} is over ${max}${why}: send at most ${max} and page with PageNumber.`);
    size = v;
  }
  if (page === undefined || size === undefined) return { offset: 0, limit: defaultSize };
  return { offset: page * size, limit: size };
}

/**
 * TRTC's CommId, `<SdkAppId>_<RoomId>_<CreateTime s>` (the room id may itself hold underscores). Integer room 123 and
 * string room "123" are two rooms (src/room/room-ref.ts), so their calls need two names: an integer room's CommId is
 * TRTC's documented form (`1400000000_123_1700000000`, like the reference's example), and so is a string room's whose
 * name has a character other than a digit (`1400000000_my-room_1700000000`: no integer room reads like it); a string
 * room whose name is only digits would read like the integer room, so its CommId quotes it, as roomgate's messages
 * name it (`1400000000_'123'_1700000000`). A quote cannot occur in a room id (src/auth/ids.ts).
 */
export interface CommId {
  sdkAppId: number;
  roomId: string;
  numericRoom: boolean;
  createdSec: number;
}

const DIGITS = /^\d+$/;

export function commIdParam(p: Params, sdkAppId: number): CommId {
  if (!present(p, 'CommId')) {
    throw new Api3Error('MissingParameter.CommId', 'CommId is missing: send the CommId of the call, as DescribeRoomInfo lists it (<SdkAppId>_<RoomId>_<CreateTime>).');
  }
  const v = p.CommId;
  const m = typeof v === 'string' ? /^(\d{1,10})_(.+)_(\d{1,11})$/.exec(v) : null;
  const quoted = m ? /^'(.+)'$/.exec(m[2]!) : null;
  const roomId = quoted ? quoted[1]! : m?.[2];
  if (!m || roomId === undefined || checkStringRoomId(roomId) !== null) {
    throw new Api3Error('InvalidParameter', `CommId ${show(v)} is not a CommId: send one as DescribeRoomInfo lists it, <SdkAppId>_<RoomId>_<CreateTime>, e.g. "${sdkAppId}_room1_1700000000".`);
  }
  const commApp = Number(m[1]);
  if (commApp !== sdkAppId) {
    throw new Api3Error('InvalidParameter', `CommId ${show(v)} is a call of SdkAppId ${commApp}, not of SdkAppId ${sdkAppId}: send the SdkAppId the call belongs to.`);
  }
  return { sdkAppId, roomId, numericRoom: !quoted && DIGITS.test(roomId), createdSec: Number(m[3]) };
}

/** The CommId of a room's life; `numericRoom` null (a room of unknown type, history schema 1) is named as an integer room. */
export function commIdOf(sdkAppId: number, roomId: string, numericRoom: boolean | null, createdAt: number): string {
  const name = numericRoom === false && DIGITS.test(roomId) ? `'${roomId}'` : roomId;
  return `${sdkAppId}_${name}_${Math.floor(createdAt / 1000)}`;
}

/** An optional list of user ids, at most `max` (its code and reason when over), each a valid user id. */
export function userIdsParam(p: Params, max: number, overCode: string, overWhy: string): string[] | undefined {
  if (!present(p, 'UserIds')) return undefined;
  const v = p.UserIds;
  if (!Array.isArray(v) || v.length === 0) throw new Api3Error('InvalidParameter', `UserIds must be a list of 1 to ${max} user ids; got ${show(v)}.`);
  if (v.length > max) throw new Api3Error(overCode, `UserIds names ${v.length} users; ${overWhy}: send at most ${max} and ask again for the rest.`);
  for (const id of v) {
    const why = typeof id === 'string' ? checkUserId(id) : `${show(id)} is not a string`;
    if (why) throw new Api3Error('InvalidParameter', `UserIds: ${why}.`);
  }
  return [...new Set(v as string[])];
}

export function userIdParam(p: Params): string {
  if (!present(p, 'UserId')) throw new Api3Error('MissingParameter.UserId', 'UserId is missing: send the user whose events you want.');
  const v = p.UserId;
  const why = typeof v === 'string' ? checkUserId(v) : `UserId must be a string; got ${show(v)}`;
  if (why) throw new Api3Error('InvalidParameter.UserId', `UserId: ${why}.`);
  return v as string;
}

/** A room id sent as a string (a number is taken as its digits: the SDK's type is string, hand-made bodies vary). */
export function roomIdParam(p: Params, missingCode: string, invalidCode: string): string | undefined {
  if (!present(p, 'RoomId')) {
    if (missingCode) throw new Api3Error(missingCode, 'RoomId is missing: send the room of the call, as a string ("1234" for room 1234).');
    return undefined;
  }
  const v = p.RoomId;
  const id = typeof v === 'number' && Number.isInteger(v) ? String(v) : v;
  const why = typeof id === 'string' ? checkStringRoomId(id) : `RoomId must be a string; got ${show(v)}`;
  if (why) throw new Api3Error(invalidCode, `RoomId: ${why}.`);
  return id as string;
}
