// RoomId with RoomIdType for the relay actions: 0 = integer room, 1 = string room (StartPublishCdnStream's
// convention, the inverse of CreateCloudRecording's; trtc-egress.md §9.1). Both are required, as in the SDK.
//
// MixUserInfo (inside UserMediaStream: SingleSubscribeParams, MaxVideoUser, custom pictures) may name the user's
// room too; absent, it is the task's room (trtc-egress.md §4.2). This gateway relays and mixes users of the task's
// own room only, so a MixUserInfo naming another room is refused. Start knows the task's room while reading the
// request; Update does not (it names only the TaskId), so the rooms named are collected (NamedRoom) and judged by
// whoever holds the task (foreignRoom), with the same code and sentence either way.

import { checkNumericRoomId, checkStringRoomId } from '../auth/ids.js';
import { Api3Error } from './api3-envelope.js';
import { at, choice, need, present, show, UNSUPPORTED, type Obj } from './cloud-recording-fields.js';

export function checkedRoom(p: Obj): { roomId: string; numeric: boolean } {
  need(p, 'RoomIdType', '', 'MissingParameter', 'send 0 for an integer room or 1 for a string room');
  const type = choice<0 | 1>(p, 'RoomIdType', '', { 0: 'integer room', 1: 'string room' })!;
  const raw = need(p, 'RoomId', '', 'MissingParameter', 'send the room to relay, as a string ("1234" for room 1234)');
  if (typeof raw !== 'string' && typeof raw !== 'number') throw new Api3Error('InvalidParameter', `RoomId must be a string; got ${show(raw)}.`);
  if (type === 0) {
    const n = typeof raw === 'number' ? raw : /^\d{1,10}$/.test(raw) ? Number(raw) : NaN;
    const why = Number.isNaN(n) ? 'send the digits of a room number from 1 to 4294967294' : checkNumericRoomId(n);
    if (why) throw new Api3Error('InvalidParameter', `RoomId ${show(raw)} is not a room number, as RoomIdType 0 requires: ${why}. For a string room, send RoomIdType 1.`);
    return { roomId: String(n), numeric: true };
  }
  const why = checkStringRoomId(String(raw));
  if (why) throw new Api3Error('InvalidParameter', `RoomId: ${why}.`);
  return { roomId: String(raw), numeric: false };
}

/** The task's room as the relay names it (RelaySpec's roomId and numericRoom). */
export interface TaskRoom {
  roomId: string;
  numericRoom: boolean;
}

/** A MixUserInfo's room as the request sent it: each part undefined where absent (then the task's). */
export interface NamedRoom {
  /** Where it was sent, e.g. SingleSubscribeParams.UserMediaStream.UserInfo. */
  path: string;
  roomId?: string;
  numeric?: boolean;
  /**
   * The code of a refusal: FailedOperation.CRUnsupportMethod where TRTC relays or mixes users of other rooms and
   * this gateway does not; InvalidParameter where TRTC itself requires the task's room (the big picture of a
   * floating or screen-share layout: "动态布局时房间信息必须和主房间信息保持一致", MixUserInfo.RoomId in the SDK).
   */
  code: 'InvalidParameter' | typeof UNSUPPORTED;
}

/** Reads MixUserInfo.RoomId / RoomIdType at `path` (the UserInfo object) into `into`, when either is sent. */
export function collectRoom(info: Obj, path: string, code: NamedRoom['code'], into: NamedRoom[]): void {
  const numeric = choice<0 | 1>(info, 'RoomIdType', path, { 0: 'integer room', 1: 'string room' });
  const raw = present(info, 'RoomId') ? info.RoomId : undefined;
  if (raw !== undefined && typeof raw !== 'string' && typeof raw !== 'number') {
    throw new Api3Error('InvalidParameter', `${at(path, 'RoomId')} must be a string; got ${show(raw)}.`);
  }
  if (raw === undefined && numeric === undefined) return;
  into.push({
    path,
    ...(raw !== undefined ? { roomId: String(raw) } : {}),
    ...(numeric !== undefined ? { numeric: numeric === 0 } : {}),
    code,
  });
}

/** The first named room that is not the task's, as the refusal to send; null when all are the task's. */
export function foreignRoom(named: readonly NamedRoom[], task: TaskRoom): { code: NamedRoom['code']; message: string } | null {
  for (const n of named) {
    const numeric = n.numeric ?? task.numericRoom;
    // an integer room's id as digits: "01234" is room 1234
    const id = n.roomId === undefined ? task.roomId : numeric && /^\d{1,10}$/.test(n.roomId) ? String(Number(n.roomId)) : n.roomId;
    if (numeric === task.numericRoom && id === task.roomId) continue;
    const why = n.code === UNSUPPORTED
      ? 'this gateway relays and mixes users of the task\'s own room only'
      : 'the big picture of a floating or screen-share layout must be a user of the task\'s room';
    return {
      code: n.code,
      message: `${n.path} names ${describe(id, numeric)}, not the task's ${describe(task.roomId, task.numericRoom)}: ${why}; leave RoomId and RoomIdType out (or send the task's).`,
    };
  }
  return null;
}

function describe(roomId: string, numeric: boolean): string {
  return `${numeric ? 'integer room' : 'string room'} ${show(roomId)} (RoomIdType ${numeric ? 0 : 1})`;
}
