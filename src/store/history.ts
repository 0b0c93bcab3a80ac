// The history of rooms, users and their media that the API 3.0 query actions (DescribeRoomInfo, DescribeUserInfo,
// DescribeUserEvent, DescribeCallDetailInfo, DescribeScaleInfo) answer from. It is told what happened, with the time
// it happened (src/events/history-feed.ts turns the room's events into entries; a sampler in main.ts adds media
// facts), and it answers ranges. Times are milliseconds since the epoch throughout.
//
// Like every store interface the methods return promises: the embedded one is SQLite (sqlite-history.ts) in the
// gateway's store file (store.kind 'sqlite' and 'memory'); with store.kind 'redis' it is redis-history.ts, in the
// Redis every node shares, so any node answers for the whole cluster.

export type HistoryRole = 'anchor' | 'audience';
export type HistoryExitReason = 'normal' | 'timeout' | 'kicked';
export type HistoryTrack = 'video' | 'audio';

interface At {
  sdkAppId: number;
  roomId: string;
  /** An integer room (RoomIdType 1): integer 123 and string "123" are two rooms with separate histories. */
  numericRoom: boolean;
  /** When it happened. */
  at: number;
}

/** One thing that happened in a room. */
export type HistoryEntry =
  | (At & { kind: 'room-created'; userId: string })
  | (At & { kind: 'room-dismissed' })
  | (At & {
      kind: 'user-entered';
      userId: string;
      role: HistoryRole;
      /** rtmp, whip, pull, whep, record or relay. */
      source: string;
      /** The client's IP address, '' when there is none (a pull task's source is not a client). */
      address: string;
    })
  | (At & { kind: 'user-exited'; userId: string; reason: HistoryExitReason })
  | (At & { kind: 'track'; userId: string; track: HistoryTrack; on: boolean });

/** What a publisher's media was like at one moment, as measured where it arrives. */
export interface MediaSample extends At {
  userId: string;
  video: VideoFacts | null;
  audio: AudioFacts | null;
}

export interface VideoFacts {
  codec: string;
  width: number;
  height: number;
  /** Frames per second that arrived since the previous sample. */
  fps: number;
  /** Bits per second of encoded video that arrived since the previous sample. */
  bitrate: number;
  /** Fraction (0–1) of RTP packets lost since the previous sample; null where nothing measures it (RTMP, pull: TCP). */
  loss: number | null;
}

export interface AudioFacts {
  codec: string;
  bitrate: number;
  loss: number | null;
}

export interface RoomRecord {
  sdkAppId: number;
  roomId: string;
  /**
   * An integer room; null for a room written by a roomgate that did not keep the type (before history schema 2) and
   * that cannot be told from its id or its users: digits only, entered only by API tasks.
   */
  numericRoom: boolean | null;
  createdAt: number;
  /** null while the room is open. */
  destroyedAt: number | null;
  /** The user whose entry created the room. */
  creator: string;
}

export interface SessionRecord {
  sdkAppId: number;
  roomId: string;
  /** When the session's room was created: with sdkAppId and roomId it names the call (TRTC's CommId). */
  roomCreatedAt: number;
  userId: string;
  source: string;
  role: HistoryRole;
  address: string;
  joinedAt: number;
  /** null while the user is in the room. */
  leftAt: number | null;
  /** null while in, and for a session the gateway lost track of (it stopped without saying who left). */
  exitReason: HistoryExitReason | null;
}

export type UserEventKind = 'entered' | 'exited' | 'video-on' | 'video-off' | 'audio-on' | 'audio-off' | 'resolution';

export interface UserEventRecord {
  at: number;
  kind: UserEventKind;
  /** 'exited' only. */
  reason: HistoryExitReason | null;
  /** 'resolution' only: the new picture size. */
  width: number | null;
  height: number | null;
}

export interface SampleRecord extends MediaSample {
  source: string;
}

export interface DayScale {
  /** The day's first millisecond (00:00 UTC). */
  day: number;
  /** Distinct (room, user) pairs in a room that day: a user back in the same room counts once. */
  users: number;
  /** Sessions in a room that day: every entry counts. */
  entries: number;
  /** Distinct rooms open that day. */
  rooms: number;
}

export interface Page<T> {
  /** Matches on all pages. */
  total: number;
  items: T[];
}

/** A call: one life of a room, from its creation to its dismissal. */
export interface CallKey {
  sdkAppId: number;
  roomId: string;
  /** An integer room (a room of unknown type, RoomRecord.numericRoom null, answers as one). */
  numericRoom: boolean;
  /** The creation time in whole seconds, as a CommId carries it: calls created in the same second are one. */
  createdSec: number;
}

export interface TimeRange {
  from: number;
  to: number;
}

export interface HistoryStore {
  write(entry: HistoryEntry): Promise<void>;
  sample(s: MediaSample): Promise<void>;
  /**
   * Rooms of an app open at some time in the range (optionally those named `roomId`: the integer room and the string
   * room of that name, whichever exist), earliest created first.
   */
  rooms(q: TimeRange & { sdkAppId: number; roomId?: string; offset: number; limit: number }): Promise<Page<RoomRecord>>;
  /** Sessions of a call that overlap the range (optionally only some users), earliest joined first. */
  sessions(q: TimeRange & { call: CallKey; userIds?: readonly string[]; offset: number; limit: number }): Promise<Page<SessionRecord>>;
  /** Whether the call exists, and when it ended (null: still open). */
  call(key: CallKey): Promise<{ createdAt: number; destroyedAt: number | null } | undefined>;
  /** One user's events in a call, in time order. */
  userEvents(q: TimeRange & { call: CallKey; userId: string }): Promise<UserEventRecord[]>;
  /** Media samples of some users of a call, in time order. */
  samples(q: TimeRange & { call: CallKey; userIds: readonly string[] }): Promise<SampleRecord[]>;
  /** Per UTC day of the range (whole days: `from` and `to` on day boundaries), the app's room and user counts. */
  scale(q: TimeRange & { sdkAppId: number }): Promise<DayScale[]>;
  /** Forgets what ended before `before`: rooms and sessions that closed, events and samples taken. */
  prune(before: number): Promise<void>;
}
