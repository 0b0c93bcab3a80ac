// What cloud-recording tasks report about themselves: callbacks 301–312 (EventGroupId 3, trtc-egress.md §3). Only
// src/events turns them into signed callbacks; tasks neither know nor wait for who listens.

export type RecordEventType = 301 | 302 | 303 | 304 | 305 | 306 | 307 | 308 | 309 | 310 | 311 | 312;

export interface RecordEvent {
  sdkAppId: number;
  /** The room as roomgate names it; `numericRoom` says whether callbacks carry it as a number (the client's type). */
  roomId: string;
  numericRoom: boolean;
  eventType: RecordEventType;
  taskId: string;
  /** The recording user (TRTC's "robot"). */
  userId: string;
  payload: Record<string, unknown>;
  /** Milliseconds since the epoch when it happened. */
  at: number;
}

export interface RecordEventSink {
  /** Delivered in order with the room's other callbacks. */
  record(event: RecordEvent): void;
}

export const noRecordEvents: RecordEventSink = { record: () => {} };
