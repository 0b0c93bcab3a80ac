// What a pull task is configured with, what it needs from the gateway, and what the API shows of it.

import type { Logger } from '../../log.js';
import type { Rooms } from '../../room/rooms.js';
import type { IngestEventSink } from '../../events/ingest-events.js';
import type { TaskState } from '../../store/store.js';
import type { PullTask } from './pull-task.js';

export interface PullTaskConfig {
  ffmpegPath: string;
  ffprobePath: string;
  /** Retry offsets from the first failure of a start (or of a broken run). */
  startRetryDelaysMs: readonly number[];
  startTimeoutMs: number;
  stallTimeoutMs: number;
  maxPauseMs: number;
  /** Length of MaxDuration's minute (tests shorten it). */
  minuteMs: number;
}

export interface PullTaskDeps {
  rooms: Rooms;
  events: IngestEventSink;
  config: PullTaskConfig;
  log: Logger;
  /** The host rules, asked again before every attempt. */
  checkUrl(url: string): Promise<string | null>;
  onStateChange(task: PullTask): void;
  onEnded(task: PullTask, reason: string): void;
}

export interface PullTaskView {
  taskId: string;
  sdkAppId: number;
  roomId: string;
  userId: string;
  state: TaskState;
  /** Scheme, host and path of the StreamUrl (the query may hold a token). */
  source: string;
  plan: { video: string; audio: string; why: string } | null;
  createdAt: string;
  /** When the first frame reached the room. */
  startedAt: string | null;
  repeat: { done: number; of: number };
  restarts: number;
  volume: number;
  paused: boolean;
  lastError: string | null;
}
