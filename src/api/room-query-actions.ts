// The room and user query actions (trtc-egress.md §6), answered from the gateway's history (src/store/history.ts):
// DescribeRoomInfo, DescribeUserInfo, DescribeUserEvent, DescribeCallDetailInfo and DescribeScaleInfo. Each returns the
// Response fields, or throws an Api3Error. Times in answers are Unix seconds except EventMessage.Time (ms).
//
// Decisions:
// - Total is the number of matches on all pages (TRTC's field comment is ambiguous), so a caller can page.
// - A CommId names a life of a room; a CommId the history does not know answers an empty list, as for a call that
//   had no one in the range. Integer room 123 and string room "123" are two rooms with their own CommIds
//   (room-query-params.ts: the digit-only string room's is quoted); DescribeRoomInfo's RoomId, a string in TRTC's
//   API with no type beside it, lists the calls of both.
// - UserInformation: one row per session (a user who entered twice is listed twice); DeviceType is how the user came
//   in (rtmp, whip, pull, whep, record, relay); SdkVersion is '' (no TRTC SDK is involved); ClientIp is '' for a pull
//   task, which has no client. A room still open has DestroyTime 0; a user still in has LeaveTs now (as TRTC says).
// - DescribeScaleInfo counts whole UTC days that have ended (TRTC: "data for the current day cannot be queried").
// - DescribeCallDetailInfo answers the DataTypes the gateway measures (room-query-trtc.ts); "all" means those. One it
//   does not measure is refused with UnsupportedOperation, naming what is missing, never answered with a made-up figure.

import type { Door } from '../room/door.js';
import type { HistoryStore, SessionRecord } from '../store/history.js';
import { Api3Error } from './api3-envelope.js';
import {
  commIdOf, commIdParam, paging, present, roomIdParam, sdkAppIdParam, show, timeRange, userIdParam, userIdsParam, type QueryCodes,
} from './room-query-params.js';
import { eventMessage, MEASURED, NOT_MEASURED } from './room-query-trtc.js';
import type { ActionHandler } from './stream-ingest-actions.js';

const HOUR_S = 3600;
const DAY_S = 86_400;

export interface RoomQueryDeps {
  door: Door;
  history: HistoryStore;
  /** history.retentionDays: how far back StartTime may go. */
  retentionDays: number;
  now?: () => number;
}

const STANDARD = { missingSdkAppId: 'MissingParameter.SdkAppId', invalidSdkAppId: 'InvalidParameter.SdkAppId' };

export function roomQueryActions(deps: RoomQueryDeps): Record<string, ActionHandler> {
  const { door, history, retentionDays } = deps;
  const now = deps.now ?? Date.now;
  const sec = (ms: number) => Math.floor(ms / 1000);

  /** SdkAppId, checked and known to this gateway. */
  const app = (p: Record<string, unknown>, c: QueryCodes): number => {
    const sdkAppId = sdkAppIdParam(p, c);
    if (!door.knows(sdkAppId)) {
      throw new Api3Error(c.invalidSdkAppId, `SdkAppId ${sdkAppId} is not an application of this service; check the SDKAppID.`);
    }
    return sdkAppId;
  };
  const rangeOf = (p: Record<string, unknown>, c: QueryCodes, maxSeconds?: number, maxText?: string) =>
    timeRange(p, c, { retentionDays, now: now(), ...(maxSeconds !== undefined ? { maxSeconds, maxText } : {}) });
  /** SdkAppId, then the time range. */
  const common = (p: Record<string, unknown>, c: QueryCodes, maxSeconds?: number, maxText?: string) => {
    const sdkAppId = app(p, c);
    return { sdkAppId, range: rangeOf(p, c, maxSeconds, maxText) };
  };

  const userInformation = (s: SessionRecord) => ({
    RoomStr: s.roomId,
    UserId: s.userId,
    JoinTs: sec(s.joinedAt),
    LeaveTs: sec(s.leftAt ?? now()),
    DeviceType: s.source,
    SdkVersion: '',
    ClientIp: s.address,
    Finished: s.leftAt !== null,
  });

  return {
    async DescribeRoomInfo(p) {
      const c = { action: 'DescribeRoomInfo', ...STANDARD, invalidEndTs: 'InvalidParameter.EndTs' };
      const { sdkAppId, range } = common(p, c, DAY_S, '24 hours');
      const roomId = roomIdParam(p, '', 'InvalidParameter.BodyParamsError');
      const page = await history.rooms({ sdkAppId, from: range.from, to: range.to, ...(roomId !== undefined ? { roomId } : {}), ...paging(p, 10, 100) });
      return {
        Total: page.total,
        RoomList: page.items.map((r) => ({
          CommId: commIdOf(r.sdkAppId, r.roomId, r.numericRoom, r.createdAt),
          RoomString: r.roomId,
          CreateTime: sec(r.createdAt),
          DestroyTime: r.destroyedAt === null ? 0 : sec(r.destroyedAt),
          IsFinished: r.destroyedAt !== null,
          UserId: r.creator,
        })),
      };
    },

    async DescribeUserInfo(p) {
      const c = { action: 'DescribeUserInfo', ...STANDARD, invalidEndTs: 'InvalidParameter' };
      const { sdkAppId, range } = common(p, c, 4 * HOUR_S, '4 hours');
      const call = commIdParam(p, sdkAppId);
      const userIds = userIdsParam(p, 100, 'InvalidParameter', 'DescribeUserInfo takes at most 100');
      const page = await history.sessions({ call, from: range.from, to: range.to, ...(userIds ? { userIds } : {}), ...paging(p, 6, 100) });
      return { Total: page.total, UserList: page.items.map(userInformation) };
    },

    async DescribeUserEvent(p) {
      const c = { action: 'DescribeUserEvent', missingSdkAppId: 'MissingParameter.AppId', invalidSdkAppId: 'InvalidParameter', invalidEndTs: 'InvalidParameter.EndTs' };
      const { sdkAppId, range } = common(p, c);
      const call = commIdParam(p, sdkAppId);
      const userId = userIdParam(p);
      const roomId = roomIdParam(p, 'MissingParameter.RoomId', 'InvalidParameter')!;
      if (roomId !== call.roomId) {
        throw new Api3Error('InvalidParameter', `RoomId ${show(roomId)} is not the room of CommId ${show(p.CommId)} (${show(call.roomId)}): send the room the call was in.`);
      }
      const life = await history.call(call);
      if (!life) return { Data: [] };
      // "A query time after the room's end is taken as the room's end."
      const to = life.destroyedAt === null ? range.to : Math.min(range.to, life.destroyedAt);
      const events = await history.userEvents({ call, userId, from: range.from, to });
      return { Data: events.length === 0 ? [] : [{ Content: events.map(eventMessage), PeerId: userId }] };
    },

    async DescribeCallDetailInfo(p) {
      const c = { action: 'DescribeCallDetailInfo', ...STANDARD, invalidEndTs: 'InvalidParameter' };
      const sdkAppId = app(p, c);
      const dataTypes = dataTypeParam(p);
      const limited = dataTypes !== null;
      const range = limited ? rangeOf(p, c, HOUR_S, '1 hour with DataType') : rangeOf(p, c, 4 * HOUR_S, '4 hours');
      const call = commIdParam(p, sdkAppId);
      const userIds = limited
        ? userIdsParam(p, 6, 'InvalidParameter.UserIdsMorethanSix', 'with DataType, DescribeCallDetailInfo takes at most 6')
        : userIdsParam(p, 100, 'InvalidParameter', 'DescribeCallDetailInfo takes at most 100');
      const pages = limited ? paging(p, 6, 6, ' (with DataType, 6 users a page)') : paging(p, 6, 100);
      const page = await history.sessions({ call, from: range.from, to: range.to, ...(userIds ? { userIds } : {}), ...pages });
      const out: Record<string, unknown> = { Total: page.total, UserList: page.items.map(userInformation) };
      if (!dataTypes) return out;
      const users = userIds ?? [...new Set(page.items.map((s) => s.userId))];
      const samples = users.length === 0 ? [] : await history.samples({ call, userIds: users, from: range.from, to: range.to });
      out.Data = users.flatMap((userId) =>
        dataTypes.flatMap((dataType) => {
          const content = samples
            .filter((s) => s.userId === userId)
            .map((s) => ({ Time: sec(s.at), Value: MEASURED[dataType]!(s) }))
            .filter((x): x is { Time: number; Value: number } => x.Value !== null);
          return content.length === 0 ? [] : [{ Content: content, UserId: userId, PeerId: '', DataType: dataType }];
        }),
      );
      return out;
    },

    async DescribeScaleInfo(p) {
      const c = { action: 'DescribeScaleInfo', ...STANDARD, invalidEndTs: 'InvalidParameter.EndTs' };
      const { sdkAppId, range } = common(p, c);
      // Whole UTC days that touch the range and have ended.
      const first = Math.floor(range.startSec / DAY_S) * DAY_S;
      const lastEnded = Math.floor(now() / 1000 / DAY_S) * DAY_S; // today's start: days before it have ended
      const end = Math.min(Math.floor(range.endSec / DAY_S) * DAY_S + DAY_S, lastEnded);
      const days = end > first ? await history.scale({ sdkAppId, from: first * 1000, to: end * 1000 }) : [];
      return {
        Total: days.length,
        ScaleList: days.map((d) => ({ Time: sec(d.day), UserNumber: d.users, UserCount: d.entries, RoomNumbers: d.rooms })),
      };
    },
  };
}

/** DataType: null when absent (the user list only), else the DataTypes asked, "all" being every measured one. */
function dataTypeParam(p: Record<string, unknown>): string[] | null {
  if (!present(p, 'DataType')) return null;
  const v = p.DataType;
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string')) {
    throw new Api3Error('InvalidParameter', `DataType must be a list of metric names (e.g. ["bigvBit","aBit"]) or ["all"]; got ${show(v)}.`);
  }
  const names = v as string[];
  if (names.includes('all')) return Object.keys(MEASURED);
  const unknown = names.find((n) => !Object.hasOwn(MEASURED, n) && !Object.hasOwn(NOT_MEASURED, n));
  if (unknown !== undefined) {
    throw new Api3Error('InvalidParameter', `DataType ${show(unknown)} is not a TRTC metric; this gateway measures ${Object.keys(MEASURED).join(', ')}.`);
  }
  const missing = names.filter((n) => Object.hasOwn(NOT_MEASURED, n));
  if (missing.length > 0) {
    throw new Api3Error(
      'UnsupportedOperation',
      `This gateway cannot answer DataType ${missing.join(', ')}: ${missing.map((n) => `${n} is ${NOT_MEASURED[n]}`).join('; ')}. It measures ${Object.keys(MEASURED).join(', ')} (or send "all" for those).`,
    );
  }
  return [...new Set(names)];
}
