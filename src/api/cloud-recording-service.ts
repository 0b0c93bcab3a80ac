// What the API 3.0 cloud-recording actions need from whoever runs recordings. The API validates every field,
// applies the documented defaults and authenticates the recording user; the service (src/record, wired in main.ts)
// owns tasks, files and storage. Values here are already checked: the service never sees a raw request.

import type { Ticket } from '../room/door.js';
import type { TaskCredentials } from './stream-ingest-service.js';

/** Whose streams of one kind (audio or video) are recorded. null = everyone in the room. */
export type Allow = { allow: string[] } | { block: string[] } | null;

/** Entries are user ids or prefix patterns like "1.*$": read them with subscribes() (src/record/subscribe.ts). */
export interface Subscription {
  audio: Allow;
  video: Allow;
}

/** One picture of a custom layout (MixLayout), in canvas pixels. */
export interface MixRect {
  x: number;
  y: number;
  width: number;
  height: number;
  /** null: the slot is filled by publishers in the order they entered the room. */
  userId: string | null;
  /** 0 opaque … 255 fully transparent (TRTC's convention, the reverse of a usual alpha). */
  alpha: number;
  /** 0 stretch, 1 crop (default), 2 fit with bars, 3 crop at most 20 % of each side. */
  renderMode: 0 | 1 | 2 | 3;
  /** 0 main stream, 1 aux (screen share). */
  mediaId: 0 | 1;
  /** ImageLayer: smaller is further back. */
  zOrder: number;
}

export interface MixLayoutSpec {
  /** 1 floating, 2 screen-share, 3 grid, 4 custom (rects); geometry in trtc-egress.md §2.5. */
  mode: 1 | 2 | 3 | 4;
  /** Custom layout only (mode 4, 1–25 rects); [] for the template modes. */
  rects: MixRect[];
  /** '#RRGGBB', upper case. */
  background: string;
  /** The big picture of modes 1 and 2; null = first publisher to enter (mode 1), background colour (mode 2). */
  maxResolutionUserId: string | null;
  /** Added beside the lead's list (MixLayoutParams.MediaId): which stream of maxResolutionUserId, 0 main, 1 aux. */
  maxResolutionMediaId: 0 | 1;
  /** Screen-share only: 1 puts the big picture on the right. */
  maxResolutionUserAlign: 0 | 1;
  /** Template modes: how a picture fills its slot, as MixRect.renderMode. */
  renderMode: 0 | 1 | 2 | 3;
  /** Template modes: audio-only publishers take no slot. */
  pureAudioDisableLayout: boolean;
  /**
   * Screen-share: the big picture's render mode, where it differs from renderMode (a mixed relay without RenderMode:
   * TRTC's MCU fits the shared screen whole and crops the small pictures). Absent: renderMode.
   */
  bigRenderMode?: 0 | 1 | 2 | 3;
  /** Template modes: at most this many pictures, the big one counted (TRTC's MCU: 16). Absent: 25, as recordings. */
  maxPictures?: number;
  /** 1: a preset slot whose user sends nothing still shows a placeholder (no images here: its background). */
  placeHolderMode: 0 | 1;
}

export interface MixSpec {
  /** bitrate in bit/s, gopSec in seconds. */
  video: { width: number; height: number; fps: number; bitrate: number; gopSec: number };
  audio: { sampleRate: 48000 | 44100 | 16000; channels: 1 | 2; bitrate: number };
  layout: MixLayoutSpec;
}

export type StorageSpec =
  | { kind: 'local' }
  /** vendor 0 COS, 1 AWS (endpoint from recording.storageEndpoints). secretKey is a secret: never log the spec whole. */
  | { kind: 's3'; vendor: 0 | 1; region: string; bucket: string; accessKey: string; secretKey: string; prefix: string[] };

export interface RecordingSpec {
  sdkAppId: number;
  /** As roomgate names rooms: a numeric room 1234 is "1234". */
  roomId: string;
  /** CreateCloudRecording's convention: 0 string, 1 integer (the default). */
  roomIdType: 0 | 1;
  /** The recording user (the ticket's user). */
  userId: string;
  /** 1 single-stream, 2 mixed. */
  recordMode: 1 | 2;
  maxIdleTimeSec: number;
  /** 0 audio+video, 1 audio only, 2 video only. */
  streamType: 0 | 1 | 2;
  subscribe: Subscription;
  /** 0 hls, 1 hls+mp4, 2 hls+aac, 3 mp4, 4 aac. */
  outputFormat: 0 | 1 | 2 | 3 | 4;
  /** Single-stream: 1 = audio and video in one file. Always 1 for mixed recordings. */
  avMerge: 0 | 1;
  /** MP4/AAC files are split at this length (HLS is not). */
  maxMediaFileDurationMin: number;
  /** 0 main+aux, 1 main only, 2 aux only. */
  mediaId: 0 | 1 | 2;
  /** When a publisher's video stops: 0 repeat the last frame, 1 black. */
  fillType: 0 | 1;
  storage: StorageSpec;
  /** recordMode 2 only, with every default applied; null for single-stream. */
  mix: MixSpec | null;
  /** Describe/Modify/Delete answer for this long after Create; the task itself may run on. */
  resourceExpiredHour: number;
}

/**
 * ModifyCloudRecording is a full overwrite (trtc-egress.md §1.7): an absent SubscribeStreamUserIds arrives as
 * everyone. layout null = MixLayoutParams not sent: a mixed task goes back to defaultMixLayout()
 * (cloud-recording-mix-params.ts), a single-stream task has no layout and ignores it either way.
 */
export interface RecordingChanges {
  subscribe: Subscription;
  layout: MixLayoutSpec | null;
}

export interface StorageFileInfo {
  /** '' for a mixed recording's files. */
  userId: string;
  /** The index file (m3u8, or mp4/aac when that is all there is). */
  fileName: string;
  trackType: 'audio' | 'video' | 'audio_video';
  /** Unix ms. */
  beginTimeStamp: number;
}

export type CreateResult =
  | { ok: true; taskId: string }
  | { ok: false; error: 'limit'; limit: number }
  /** reason: a sentence, e.g. that the recording UserId is already in the room. */
  | { ok: false; error: 'user-busy'; reason: string };

export interface CloudRecordingService {
  /**
   * `ticket`: the recording user, let in by the room's door for 'subscribe'. `credentials`: what let it in, so that
   * with many nodes a survivor can let it in again and continue the task when its node dies.
   */
  create(spec: RecordingSpec, ticket: Ticket, credentials?: TaskCredentials): Promise<CreateResult>;
  /** null when there is no such task of this app (never was, ended, or past its ResourceExpiredHour). */
  describe(sdkAppId: number, taskId: string): Promise<{ status: 'Idle' | 'InProgress' | 'Exited'; files: StorageFileInfo[] } | null>;
  /**
   * Added beside the lead's list: `{ refused }` when the changes cannot apply to this task (a custom rect outside its
   * canvas, which only the task knows); `refused` is a sentence for the caller. Returning only the first two is fine.
   */
  modify(sdkAppId: number, taskId: string, changes: RecordingChanges): Promise<'modified' | 'not-found' | { refused: string }>;
  delete(sdkAppId: number, taskId: string): Promise<'deleted' | 'not-found'>;
}
