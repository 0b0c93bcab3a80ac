// Typed events the pipeline emits about rooms and their media. Only src/events turns them into TRTC callbacks
// (101–105, 201–206); the pipeline neither knows nor waits for who listens.

export type ExitReason = 'normal' | 'timeout' | 'kicked';

/** TRTC's two roles: an anchor publishes (Role 20), an audience member only watches (Role 21). */
export type RoomRole = 'anchor' | 'audience';

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
  | (Base & {
      type: 'user-entered';
      userId: string;
      role: RoomRole;
      source: string;
      /** The client's IP address, for the history (absent where there is no client: a pull task). */
      address?: string;
    })
  | (Base & { type: 'user-exited'; userId: string; role: RoomRole; reason: ExitReason })
  /** 105: the user's role in the room is now `role` (a viewer who started publishing, an anchor who only watches now). */
  | (Base & { type: 'role-changed'; userId: string; role: RoomRole })
  | (Base & { type: `${TrackKind}-started` | `${TrackKind}-stopped`; userId: string });

export interface RoomEventSink {
  emit(event: RoomEvent): void;
}

export const noRoomEvents: RoomEventSink = { emit: () => {} };

/**
 * Why a track that could flow is kept from the room: `stopped` — the publisher stopped sending that kind (a WHIP
 * track ended while the other goes on); `blocked` — the API muted it (SetUserBlocked).
 */
export type TrackHold = 'stopped' | 'blocked';

/** Whose track it is. */
export interface TrackOwner {
  sdkAppId: number;
  roomId: string;
  numericRoom: boolean;
  userId: string;
}

/** The one place 201–204 are emitted (only TrackAnnouncer calls it): `on` true is 201 (video) / 203 (audio), false 202 / 204. */
function emitTrack(events: RoomEventSink, who: TrackOwner, kind: TrackKind, on: boolean, at: number): void {
  const { sdkAppId, roomId, numericRoom, userId } = who;
  events.emit({ type: `${kind}-${on ? 'started' : 'stopped'}`, sdkAppId, roomId, numericRoom, userId, at });
}

/**
 * What a publisher's tracks look like to the room, so each change is announced once whatever its causes: a track
 * is on once media of its kind has arrived and while nothing holds it; 201/203 when it goes on, 202/204 when it goes
 * off. A mute of a track that has stopped sending, or a track that stops while muted, changes nothing the room sees
 * and says nothing. Leaving the room does not come here: that is 104 alone ("Room exit will trigger only the 104
 * callback and not the 202 or 204 callback", trtc-egress.md §7).
 */
export class TrackAnnouncer {
  private readonly flowing = { video: false, audio: false };
  private readonly holds = { video: new Set<TrackHold>(), audio: new Set<TrackHold>() };

  constructor(
    private readonly events: RoomEventSink,
    private readonly who: TrackOwner,
  ) {}

  /** Media of this kind arrived for the first time (or again after a stop). */
  started(kind: TrackKind, at = Date.now()): void {
    this.change(kind, at, () => {
      this.flowing[kind] = true;
      this.holds[kind].delete('stopped');
    });
  }

  /** Held (`on`) or released: the publisher stopped sending the kind, or the API blocked it. */
  hold(kind: TrackKind, cause: TrackHold, on: boolean, at = Date.now()): void {
    this.change(kind, at, () => (on ? this.holds[kind].add(cause) : this.holds[kind].delete(cause)));
  }

  /** Whether the room sees the track now. */
  isOn(kind: TrackKind): boolean {
    return this.flowing[kind] && this.holds[kind].size === 0;
  }

  private change(kind: TrackKind, at: number, apply: () => void): void {
    const before = this.isOn(kind);
    apply();
    const after = this.isOn(kind);
    if (before !== after) emitTrack(this.events, this.who, kind, after, at);
  }
}

/** One sink that hands every event to each of `sinks` in turn (the callbacks, the history). */
export function roomEventsTo(...sinks: RoomEventSink[]): RoomEventSink {
  return { emit: (event) => sinks.forEach((s) => s.emit(event)) };
}
