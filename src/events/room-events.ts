// Typed events the pipeline emits about rooms and their media. Only src/events turns them into TRTC callbacks
// (101–105, 201–206); the pipeline neither knows nor waits for who listens.

export type ExitReason = 'normal' | 'timeout' | 'kicked';

interface Base {
  sdkAppId: number;
  roomId: string;
  /** Milliseconds since the epoch when it happened. */
  at: number;
}

export type RoomEvent =
  | (Base & { type: 'room-created'; userId: string })
  | (Base & { type: 'room-dismissed' })
  | (Base & {
      type: 'user-entered';
      userId: string;
      role: 'anchor' | 'audience';
      source: string;
      /** The client's IP address, for the history (absent where there is no client: a pull task). */
      address?: string;
    })
  | (Base & { type: 'user-exited'; userId: string; role: 'anchor' | 'audience'; reason: ExitReason })
  | (Base & { type: 'video-started' | 'video-stopped' | 'audio-started' | 'audio-stopped'; userId: string });

export interface RoomEventSink {
  emit(event: RoomEvent): void;
}

export const noRoomEvents: RoomEventSink = { emit: () => {} };

/** One sink that hands every event to each of `sinks` in turn (the callbacks, the history). */
export function roomEventsTo(...sinks: RoomEventSink[]): RoomEventSink {
  return { emit: (event) => sinks.forEach((s) => s.emit(event)) };
}
