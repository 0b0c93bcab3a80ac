// Typed events the pipeline emits about rooms and their media. Only src/events turns them into TRTC callbacks
// (101–105, 201–206); the pipeline neither knows nor waits for who listens.

export type ExitReason = 'normal' | 'timeout' | 'kicked';

interface Base {
  sdkAppId: number;
  roomId: string;
  /** An integer room: callbacks carry RoomId as a number, as the client named it (trtc-wire.md §6.2). */
  numericRoom: boolean;
  /** Milliseconds since the epoch when it happened. */
  at: number;
}

export type TrackKind = 'video' | 'audio';

export type RoomEvent =
  | (Base & { type: 'room-created'; userId: string })
  | (Base & { type: 'room-dismissed' })
  | (Base & { type: 'user-entered'; userId: string; role: 'anchor' | 'audience'; source: string })
  | (Base & { type: 'user-exited'; userId: string; role: 'anchor' | 'audience'; reason: ExitReason })
  | (Base & { type: `${TrackKind}-started` | `${TrackKind}-stopped`; userId: string });

export interface RoomEventSink {
  emit(event: RoomEvent): void;
}

export const noRoomEvents: RoomEventSink = { emit: () => {} };

/** Whose track it is. */
export interface TrackOwner {
  sdkAppId: number;
  roomId: string;
  numericRoom: boolean;
  userId: string;
}

/**
 * The one place a user's track is reported as started (201 video, 203 audio) or stopped (202, 204): its first media,
 * a mute or unmute by SetUserBlocked, a WHIP track that ended. Leaving the room is not a track stop: TRTC sends only
 * 104 then (trtc-egress.md §7).
 */
export function emitTrackChange(sink: RoomEventSink, owner: TrackOwner, kind: TrackKind, change: 'started' | 'stopped', at = Date.now()): void {
  const { sdkAppId, roomId, numericRoom, userId } = owner;
  sink.emit({ type: `${kind}-${change}`, sdkAppId, roomId, numericRoom, userId, at });
}
