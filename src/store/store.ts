// State that must outlive this process, or that a second gateway node would need to share, goes through these
// interfaces. store.kind 'sqlite' (the default) keeps all of it in the store file (sqlite-store.ts), so a restart
// finds the queued callbacks, the tasks and who was in which room; 'memory' keeps it in maps (tests); 'redis'
// (redis-*.ts) keeps it in a Redis that several gateway nodes share. The SQLite store answers synchronously inside
// its promises, and one Redis connection runs commands in the order they were sent, so calls made in order are
// applied in order either way.

import type { HistoryStore } from './history.js';
import type { RedisConnection } from './redis-connection.js';

export interface PresenceRecord {
  sdkAppId: number;
  userId: string;
  roomId: string;
  /** Identifies one publishing session; a newer session for the same user replaces (kicks) it. */
  sessionId: string;
  source: string;
  /** Milliseconds since the epoch. */
  since: number;
  /** The gateway node holding the session (config node.id), so a claim on another node knows whom to tell. */
  node?: string;
}

/** Who is publishing as which user of an app: TRTC lets one userid be in one place at a time. */
export interface PresenceStore {
  /** Records `rec` as the user's current session and returns the record it replaced, if any. */
  claim(rec: PresenceRecord): Promise<PresenceRecord | undefined>;
  /** Removes the user's record if it still belongs to `sessionId`; false when another session owns it now. */
  release(sdkAppId: number, userId: string, sessionId: string): Promise<boolean>;
  get(sdkAppId: number, userId: string): Promise<PresenceRecord | undefined>;
}

export type TaskState = 'starting' | 'retrying' | 'running' | 'reconnecting' | 'paused' | 'ended';

/** A pull-ingest task as the API sees it; the node running it holds the process and the room session. */
export interface TaskRecord {
  taskId: string;
  sdkAppId: number;
  roomId: string;
  roomIdType: 0 | 1;
  userId: string;
  streamUrl: string;
  state: TaskState;
  /** Milliseconds since the epoch. */
  createdAt: number;
  endedAt?: number;
  endReason?: string;
  /** What the owner needs to resume or end the task after a restart (JSON of its own making; opaque to the store). */
  resume?: string;
  /** The node running it (many nodes); a survivor takes over a dead node's tasks. */
  node?: string;
}

/** A cloud-recording task as the API sees it; the node running it holds the taps, files and uploads. */
export interface RecordingRecord {
  taskId: string;
  sdkAppId: number;
  roomId: string;
  roomIdType: 0 | 1;
  /** The recording user. */
  userId: string;
  recordMode: 1 | 2;
  state: 'running' | 'ended';
  createdAt: number;
  endedAt?: number;
  /** TRTC's 302 LeaveCode, once ended. */
  leaveCode?: number;
  /** What the owner needs to end the task after a restart (opaque to the store). */
  resume?: string;
  /** The node running it (many nodes). */
  node?: string;
}

/** A relay-to-CDN task as the API sees it; the node running it holds the taps and the RTMP clients. */
export interface RelayRecord {
  taskId: string;
  sdkAppId: number;
  roomId: string;
  /** StartPublishCdnStream's RoomIdType: 0 integer, 1 string. */
  roomIdType: 0 | 1;
  /** AgentParams.UserId. */
  userId: string;
  /** The relayed user (SingleSubscribeParams). */
  relayedUserId: string;
  /** How many push URLs (the URLs themselves hold stream keys and stay on the running node). */
  urls: number;
  state: 'running' | 'ended';
  createdAt: number;
  endedAt?: number;
  endReason?: string;
  /** What the owner needs to end the task after a restart, push URLs included (opaque to the store). */
  resume?: string;
  /** The node running it (many nodes). */
  node?: string;
}

/** One session of a user in a room, as the room members count it (src/room/members.ts). */
export interface MemberRecord {
  sessionId: string;
  sdkAppId: number;
  roomId: string;
  numericRoom: boolean;
  userId: string;
  role: 'anchor' | 'audience';
  source: string;
  /** The gateway node holding the session; with many nodes, survivors end a dead node's sessions. */
  node?: string;
}

/**
 * Who is in which room, session by session, as last reported: after a restart these are the sessions that died with
 * the process (or that a resumed task takes up again), so their users can leave with 104 instead of staying forever.
 */
export interface MemberLedger {
  /** Adds the session, or updates its role. */
  put(rec: MemberRecord): Promise<void>;
  remove(sessionId: string): Promise<void>;
  all(): Promise<MemberRecord[]>;
}

/** What the cluster's census says a join changed: TRTC's 101/103/105 follow from it, whichever node holds whom. */
export interface CensusJoin {
  /** The room had no session on any node before this one (101). */
  roomCreated: boolean;
  /** The userid's role across its sessions before and after ('' = not in the room: 103 when it was). */
  roleBefore: 'anchor' | 'audience' | '';
  roleAfter: 'anchor' | 'audience';
}

/** What a leave changed; `left` is false when the session was not (or no longer) counted, so nothing follows. */
export interface CensusLeave {
  left: boolean;
  /** The leaving session's own role (104's Role). */
  role: 'anchor' | 'audience' | '';
  roleBefore: 'anchor' | 'audience' | '';
  /** '' when it was the userid's last session in the room (104). */
  roleAfter: 'anchor' | 'audience' | '';
  /** It was the room's last session on any node (102). */
  roomEmptied: boolean;
}

/**
 * Who is in which room across every node sharing one store, decided atomically in the store so that 101/102 fire once
 * per room lifetime and 103/104 once per userid, however the sessions are spread. Each session is filed under the
 * node holding it, so survivors can end a dead node's sessions (each exactly once: a second leave finds nothing).
 */
export interface RoomCensus {
  join(rec: MemberRecord & { node: string }): Promise<CensusJoin>;
  leave(rec: { sdkAppId: number; roomId: string; numericRoom: boolean; userId: string; sessionId: string; node: string }): Promise<CensusLeave>;
  /** The session stays in its room but is no longer filed under `node` (it moves to another node). */
  release(node: string, sessionId: string): Promise<void>;
  /** The sessions filed under `node`. */
  sessionsOf(node: string): Promise<MemberRecord[]>;
  /** Rooms with sessions on any node, each with its userids and how many sessions each has. */
  rooms(): Promise<Array<{ sdkAppId: number; roomId: string; numericRoom: boolean; users: Record<string, number> }>>;
}

/** Tasks of one kind: live ones, and ended ones for a while so Stop can answer "already finished". */
export interface TaskStore<R extends { taskId: string } = TaskRecord> {
  /** Adds a task unless one with the same taskId exists (false then). */
  create(rec: R): Promise<boolean>;
  update(taskId: string, patch: Partial<Omit<R, 'taskId'>>): Promise<void>;
  get(taskId: string): Promise<R | undefined>;
  list(): Promise<R[]>;
}

/** One callback waiting for delivery. */
export interface OutboxEntry {
  id: string;
  /** Delivery order is kept within a partition (one per room). */
  partition: string;
  sdkAppId: number;
  url: string;
  /** The exact body to POST and its Sign header value ('' when the app has no callback key). */
  body: string;
  sign: string;
  /** What the entry is, for logs: "103 user-entered", "701 Status 2". */
  label: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  attempts: number;
  firstTryAt: number | null;
  /** Earliest time of the next attempt. */
  nextTryAt: number;
}

/** Callbacks not yet delivered, ordered per partition, so a restart of the sender (or a second node) loses none. */
export interface CallbackOutbox {
  append(entry: OutboxEntry): Promise<void>;
  /** The oldest entry of a partition. */
  head(partition: string): Promise<OutboxEntry | undefined>;
  update(entry: OutboxEntry): Promise<void>;
  remove(partition: string, id: string): Promise<void>;
  /** Partitions that hold entries. */
  partitions(): Promise<string[]>;
  size(): Promise<number>;
  /**
   * True when other processes append to and deliver from the same outbox (store.kind 'redis'): the dispatcher then
   * takes a partition's lease before delivering its head, and looks for partitions now and then, since entries a
   * dead node appended are nobody's to kick.
   */
  readonly shared: boolean;
  /**
   * Takes, or renews, this process's delivery lease on a partition for `ttlMs`; false while another process holds
   * it. A store only this process uses grants it always.
   */
  claimPartition(partition: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up (when this process holds it), so another node may deliver the partition at once. */
  releasePartition(partition: string): Promise<void>;
}

export type StoreKind = 'sqlite' | 'memory' | 'redis';

export interface Store {
  /** 'sqlite': durable in the store file; 'memory': forgotten at exit; 'redis': shared by the nodes of a cluster. */
  kind: StoreKind;
  presence: PresenceStore;
  members: MemberLedger;
  tasks: TaskStore;
  recordings: TaskStore<RecordingRecord>;
  relays: TaskStore<RelayRecord>;
  outbox: CallbackOutbox;
  history: HistoryStore;
  /** Why the store cannot be used right now (GET /healthz says it), or undefined; a local file has no such state. */
  /** store.kind 'redis': the store's one connection, which the cluster (src/cluster) uses for its own keys. */
  redis?: RedisConnection;
  problem?(): string | undefined;
  close(): Promise<void>;
}
