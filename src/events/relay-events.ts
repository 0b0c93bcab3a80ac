// What relay-to-CDN tasks report: callback 401 (EventGroupId 4, trtc-egress.md §4.8), one per state change of one
// push URL. Only src/events turns them into signed callbacks.

/** 401 Payload.Status: 0 idle/ended, 1 connecting, 2 running, 3 recovering, 4 failed, 5 disconnecting. */
export type RelayStatus = 0 | 1 | 2 | 3 | 4 | 5;

/** The statuses by name, for the metrics' state label. */
export const RELAY_STATE_NAMES: Record<RelayStatus, string> = {
  0: 'idle', 1: 'connecting', 2: 'running', 3: 'recovering', 4: 'failed', 5: 'disconnecting',
};

export interface RelayEvent {
  sdkAppId: number;
  /** The room as roomgate names it; numericRoom: RoomType 0 and RoomId a number in the callback. */
  roomId: string;
  numericRoom: boolean;
  taskId: string;
  /** AgentParams.UserId. */
  userId: string;
  url: string;
  status: RelayStatus;
  /** 0 when there is no error; otherwise a code of this gateway's (see src/relay/cdn-push.ts). */
  errorCode: number;
  errorMsg: string;
  /** Milliseconds since the epoch. */
  at: number;
}

export interface RelayEventSink {
  /** Delivered in order with the room's other callbacks. */
  relay(event: RelayEvent): void;
}

export const noRelayEvents: RelayEventSink = { relay: () => {} };
