// TRTC callback bodies, field for field as Tencent sends them (trtc-wire.md §6): room events (group 1: 101–105),
// media events (group 2: 201–206) with CallbackTs, cloud-recording events (group 3: 301–312, trtc-egress.md §3) with
// CallbackTs, relay-to-CDN events (group 4: 401, §4.8) with CallbackTs, stream-ingest events (group 7: 701/702) with
// CallbackMsTs.
// Bodies are compact JSON; receivers verify `Sign` over the bytes as received, so the layout does not matter.

import type { ExitReason, RoomEvent } from './room-events.js';
import type { RecordEvent } from './record-events.js';
import type { RelayEvent } from './relay-events.js';

export const EVENT_GROUP_ROOM = 1;
export const EVENT_GROUP_MEDIA = 2;
export const EVENT_GROUP_RECORDING = 3;
export const EVENT_GROUP_CLOUD_PUBLISH = 4;
export const EVENT_GROUP_STREAM_INGEST = 7;

export const CLOUD_PUBLISH_CDN_STATUS = 401;

export const STREAM_INGEST_START = 701;
export const STREAM_INGEST_STOP = 702;

/** 701 Status: started (once), failed to start (once), retrying. 702 Status 0: stopped. */
export type IngestStartStatus = 0 | 1 | 2;

const ROLE_ANCHOR = 20;
const ROLE_AUDIENCE = 21;

/** EXIT_ROOM reasons: 1 normal, 2 timeout, 3 kicked. */
const EXIT_REASON: Record<ExitReason, number> = { normal: 1, timeout: 2, kicked: 3 };
/** ENTER_ROOM reason 1: a normal entry. */
const ENTER_NORMAL = 1;

const ROOM_EVENT_TYPE: Record<RoomEvent['type'], number> = {
  'room-created': 101,
  'room-dismissed': 102,
  'user-entered': 103,
  'user-exited': 104,
  'role-changed': 105,
  'video-started': 201,
  'video-stopped': 202,
  'audio-started': 203,
  'audio-stopped': 204,
};

export interface CallbackBody {
  eventType: number;
  body: string;
}

/** The group 1/2 body for a room event; `now` is the CallbackTs (ms). */
export function roomEventBody(e: RoomEvent, now: number): CallbackBody {
  const eventType = ROOM_EVENT_TYPE[e.type];
  // RoomId in the client's type: a number for an integer room, a string for a string room (trtc-wire.md §6.2)
  const info: Record<string, unknown> = { RoomId: e.numericRoom ? Number(e.roomId) : e.roomId, EventTs: Math.floor(e.at / 1000), EventMsTs: e.at };
  switch (e.type) {
    case 'room-created':
      info.UserId = e.userId;
      break;
    case 'room-dismissed':
      break;
    case 'user-entered':
      Object.assign(info, { UserId: e.userId, Role: e.role === 'anchor' ? ROLE_ANCHOR : ROLE_AUDIENCE, Reason: ENTER_NORMAL });
      break;
    case 'user-exited':
      Object.assign(info, { UserId: e.userId, Role: e.role === 'anchor' ? ROLE_ANCHOR : ROLE_AUDIENCE, Reason: EXIT_REASON[e.reason] });
      break;
    case 'role-changed':
      // the role the user has now: the reference's one example (Role 21) does not say old or new (trtc-egress.md §9.20)
      Object.assign(info, { UserId: e.userId, Role: e.role === 'anchor' ? ROLE_ANCHOR : ROLE_AUDIENCE });
      break;
    case 'video-started':
    case 'audio-started':
      info.UserId = e.userId;
      break;
    case 'video-stopped':
    case 'audio-stopped':
      Object.assign(info, { UserId: e.userId, Reason: 0 });
      break;
  }
  const group = eventType < 200 ? EVENT_GROUP_ROOM : EVENT_GROUP_MEDIA;
  return {
    eventType,
    body: JSON.stringify({ EventGroupId: group, EventType: eventType, CallbackTs: now, EventInfo: info }),
  };
}

/** The group 7 body for 701/702. */
export function ingestEventBody(
  eventType: typeof STREAM_INGEST_START | typeof STREAM_INGEST_STOP,
  taskId: string,
  status: number,
  at: number,
  now: number,
): CallbackBody {
  return {
    eventType,
    body: JSON.stringify({
      EventGroupId: EVENT_GROUP_STREAM_INGEST,
      EventType: eventType,
      CallbackMsTs: now,
      EventInfo: { EventMsTs: at, TaskId: taskId, Status: status },
    }),
  };
}

/** The group 3 body for 301–312: RoomId in the client's type, the recording user as UserId, the task's Payload. */
export function recordEventBody(e: RecordEvent, now: number): CallbackBody {
  const info = {
    RoomId: e.numericRoom ? Number(e.roomId) : e.roomId,
    EventTs: Math.floor(e.at / 1000),
    EventMsTs: e.at,
    UserId: e.userId,
    TaskId: e.taskId,
    Payload: e.payload,
  };
  return {
    eventType: e.eventType,
    body: JSON.stringify({ EventGroupId: EVENT_GROUP_RECORDING, EventType: e.eventType, CallbackTs: now, EventInfo: info }),
  };
}

/**
 * The group 4 body for 401: RoomId in the client's type with RoomType (0 integer, 1 string), the agent as UserId.
 * The reference's table says EventMsTs and its example EventTsMs (trtc-egress.md §9.11): both are sent.
 */
export function relayEventBody(e: RelayEvent, now: number): CallbackBody {
  const info = {
    RoomId: e.numericRoom ? Number(e.roomId) : e.roomId,
    RoomType: e.numericRoom ? 0 : 1,
    EventMsTs: e.at,
    EventTsMs: e.at,
    UserId: e.userId,
    TaskId: e.taskId,
    Payload: { Url: e.url, Status: e.status, ErrorCode: e.errorCode, ErrorMsg: e.errorMsg },
  };
  return {
    eventType: CLOUD_PUBLISH_CDN_STATUS,
    body: JSON.stringify({ EventGroupId: EVENT_GROUP_CLOUD_PUBLISH, EventType: CLOUD_PUBLISH_CDN_STATUS, CallbackTs: now, EventInfo: info }),
  };
}
