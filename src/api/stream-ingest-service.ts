// What the API 3.0 stream-ingest actions need from whoever runs pull tasks. The API validates and authenticates;
// the service (src/ingest/pull, wired in main.ts) owns tasks. Keeping the contract here keeps the API a side room.

import type { Ticket } from '../room/door.js';
import type { RecordingChanges } from './cloud-recording-service.js';
import type { RelayChanges } from './cdn-relay-service.js';

export interface IngestTaskSpec {
  sdkAppId: number;
  /** The room as roomgate names it (a numeric TRTC room 1234 is room "1234"). */
  roomId: string;
  roomIdType: 0 | 1;
  userId: string;
  streamUrl: string;
  /** Start playback this many seconds into the source (first run only). */
  seekSecond: number;
  /** Plays this often; -1 loops until maxDurationMinutes. */
  repeatNum: number;
  /** Only with repeatNum -1; null = no limit. */
  maxDurationMinutes: number | null;
  /** Percent, 0–200. */
  volume: number;
  /** Accepted for compatibility; not applied (see README). */
  enableProgress: boolean;
  tempo: number;
}

export interface IngestTaskUpdate {
  streamUrl?: string;
  volume?: number;
  isPause?: boolean;
  enableProgress?: boolean;
  tempo?: number;
}

/** Many nodes: a Stop or Update of a task, handed to the node that runs it. */
export type TaskCall =
  | RecordingCall
  | { op: 'stop'; sdkAppId: number; taskId: string }
  | { op: 'update'; sdkAppId: number; taskId: string; changes: IngestTaskUpdate }
  // relay to CDN (src/relay/relays.ts); `changes` without `feedback` tickets (their users ride in feedbackUsers)
  | { op: 'relay-stop'; sdkAppId: number; taskId: string }
  | { op: 'relay-update'; sdkAppId: number; taskId: string; changes: RelayChanges };

/** Many nodes: Describe/Modify/DeleteCloudRecording of a recording another node runs, answered by that node. */
export type RecordingCall =
  | { op: 'record-describe'; sdkAppId: number; taskId: string }
  | { op: 'record-modify'; sdkAppId: number; taskId: string; changes: RecordingChanges }
  | { op: 'record-delete'; sdkAppId: number; taskId: string };

/** The task user's credentials, kept with the task so a restarted gateway can let the user in again and resume it. */
export interface TaskCredentials {
  userSig: string;
  privateMapKey?: string;
}

export type StartResult =
  | { ok: true; taskId: string }
  | { ok: false; error: 'task-exists'; taskId: string }
  | { ok: false; error: 'limit'; limit: number };

export interface StreamIngestService {
  /** null when the URL may be pulled, else a sentence saying why not. */
  checkStreamUrl(url: string): Promise<string | null>;
  /**
   * `ticket`: the task's user, let in by the room's door (the API authenticated its UserSig there). `credentials`:
   * what let it in, so a restart can resume the task (without them a restart ends it).
   */
  start(spec: IngestTaskSpec, ticket: Ticket, credentials?: TaskCredentials): Promise<StartResult>;
  /** 'finished' when the task existed but has already ended. */
  stop(sdkAppId: number, taskId: string): Promise<'stopped' | 'finished' | 'not-found'>;
  describe(sdkAppId: number, taskId: string): Promise<'InProgress' | 'NotExist'>;
  update(sdkAppId: number, taskId: string, changes: IngestTaskUpdate): Promise<'updated' | 'not-found'>;
}
