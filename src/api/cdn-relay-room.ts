// RoomId with RoomIdType for the relay actions: 0 = integer room, 1 = string room (StartPublishCdnStream's
// convention, the inverse of CreateCloudRecording's; trtc-egress.md §9.1). Both are required, as in the SDK.

import { checkNumericRoomId, checkStringRoomId } from '../auth/ids.js';
import { Api3Error } from './api3-envelope.js';
import { choice, need, show, type Obj } from './cloud-recording-fields.js';

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
