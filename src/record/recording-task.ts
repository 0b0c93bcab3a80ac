// One cloud-recording task (CreateCloudRecording): the recording user follows a room's publishers and records the
// subscribed ones, each through a UserRecorder, into `<recording dir>/<TaskId>/`, uploading as it goes when the
// task names a CloudStorage. It reports itself by callbacks 301–310 in TRTC's order: 301 (started) and 303 (upload
// module, S3 only) first, 307 per playlist's first segment, 304 when that playlist is uploaded, 308 on an upload
// error; at the end 302 (with the LeaveCode), 305 (uploads done, S3 only) and 310 per MP4/AAC file.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { Publisher } from '../room/publisher.js';
import type { MediaEngine } from '../room/engine.js';
import type { RoomWatcher, Rooms, Seat } from '../room/rooms.js';
import type { Ticket } from '../room/door.js';
import type { RoomRef } from '../room/room-ref.js';
import type { RecordEventSink, RecordEventType } from '../events/record-events.js';
import type { RecordingChanges, RecordingSpec, StorageFileInfo } from '../api/cloud-recording-service.js';
import type { MemberRecord } from '../store/store.js';
import type { TakenSessions } from '../room/taken-sessions.js';
import { recordedKinds } from './subscribe.js';
import { hlsStem, mixedStem, userStem, type NameBase, type TrackKind } from './names.js';
import { MixedRecording, type RemoteRooms } from './mixed-recording.js';
import { RecordedTrack, type FinishedFile, type TrackFormat } from './track.js';
import { UserRecorder, type WantedTrack } from './user-recorder.js';
import type { UploadQueue } from './storage/upload-queue.js';

/** 302 LeaveCode values (trtc-egress.md §3.2). */
export const LEAVE = { api: 0, robotKicked: 1, roomDismissed: 2, serverKicked: 3, idle: 99, sameUser: 101 } as const;

export interface RecordingTaskOptions {
  taskId: string;
  spec: RecordingSpec;
  /** The recording user, let in by the room's door: it sits in the room's audience while the task runs. */
  ticket: Ticket;
  rooms: Rooms;
  /** Mixed recordings read the compositor's output into a pipe of their own. */
  engine: MediaEngine;
  /** Many nodes: a mix takes the room's publishers on other nodes too (src/cluster/remote-publishers.ts). */
  remote?: RemoteRooms;

  /** The gateway's recording directory; the task writes in `<dir>/<TaskId>`. */
  dir: string;
  /** Null for local storage: the files stay in the directory. */
  uploads: UploadQueue | null;
  events: RecordEventSink;
  hlsSegmentMs: number;
  resumeMs: number;
  mergeWaitMs: number;
  /** Most users recorded at once (TRTC: 25). */
  maxUsers: number;
  /** How long the end waits for uploads before 305 says some are left. Keys are file names: the storage adds `<prefix>/<TaskId>/`. */
  uploadDrainMs: number;
  /** Before every file name: `ha<N>_` on a node the task moved to (recording-failover.ts), else ''. */
  namePrefix?: string;
  /** The task came from a dead node: it announces itself with 306 Status 0 (FAILOVER, migration done), not 301. */
  movedHere?: boolean;
  /** A drain's taker: the recording user's session the giver handed over; the user sits under it (no 103 here). */
  taken?: TakenSessions;
  /** The task ended (after its last callback). */
  onEnded: (leaveCode: number) => void;
  /** A drain handed the task to another node (handOver): it is no longer this node's, and did not end. */
  onMoved?: () => void;
  /** A media file (segment, MP4, AAC) was closed with this many bytes, or one was uploaded (the metrics). */
  onBytes?: (what: 'written' | 'uploaded', bytes: number) => void;
  log: Logger;
}

const SPLIT_BYTES = 2 * 1024 ** 3;

export class RecordingTask implements RoomWatcher {
  private readonly users = new Map<string, UserRecorder>();
  private readonly files: Array<{ userId: string; track: RecordedTrack; kind: TrackKind }> = [];
  private readonly mediaFiles: Array<FinishedFile & { userId: string; kind: TrackKind }> = [];
  private readonly announced = new Set<string>();
  private subscribe: RecordingChanges['subscribe'];
  private idleTimer: NodeJS.Timeout | null = null;
  private unwatch: (() => void) | null = null;
  /** The recording user's place in the room (103/104 Role 21), where RemoveUser and DismissRoom find it. */
  private seat: Seat | null = null;
  private readonly room: RoomRef;
  private ending: Promise<void> | null = null;
  /** RecordMode 2: the compositor's side, and the recorder of its output. */
  private mixed: MixedRecording | null = null;
  private mixedOutput: UserRecorder | null = null;
  readonly dir: string;
  /** Media files queued for upload by name, with their size: counted as uploaded bytes when their upload is done. */
  private readonly uploadSizes = new Map<string, number>();

  constructor(private readonly o: RecordingTaskOptions) {
    this.subscribe = o.spec.subscribe;
    this.dir = join(o.dir, o.taskId);
    this.room = { sdkAppId: o.spec.sdkAppId, roomId: o.spec.roomId, numericRoom: o.spec.roomIdType === 1 };
  }

  get taskId(): string {
    return this.o.taskId;
  }

  get spec(): RecordingSpec {
    return this.o.spec;
  }

  /** Describe's Status: Idle until some media is recorded, InProgress then, Exited once ending. */
  get status(): 'Idle' | 'InProgress' | 'Exited' {
    // in progress from the moment a track takes media (its tap exists), not only once a file is closed
    // (a mix: once a publisher's media goes into it; its canvas runs from the start, with or without anyone)
    if (this.ending) return 'Exited';
    const taking = this.mixed ? this.mixed.mixing() : this.files.some((f) => f.track.started || f.track.beginTimeStamp > 0);
    return taking ? 'InProgress' : 'Idle';
  }

  /** The files stay in the recording directory (no cloud storage): the console links them. */
  get keptLocally(): boolean {
    return this.o.uploads === null;
  }

  /** Describe's StorageFileList: each track's index file (playlist, or first MP4/AAC file) once it has one. */
  storageFiles(): StorageFileInfo[] {
    return this.files
      .filter((f) => f.track.beginTimeStamp > 0)
      .map((f) => ({ userId: f.userId, fileName: f.track.indexName, trackType: f.kind, beginTimeStamp: f.track.beginTimeStamp }));
  }

  async start(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (err) {
      return this.failToStart(`cannot create the recording directory ${this.dir}: ${(err as Error).message}`);
    }
    if (this.o.spec.recordMode === 2) {
      try {
        await this.startMixed();
      } catch (err) {
        return this.failToStart(`the mixed recording could not start: ${(err as Error).message}`);
      }
    }
    // the recording user enters the room; removed from it, the task ends with TRTC's LeaveCode for that
    const { ticket } = this.o;
    this.seat = this.o.rooms.seat(ticket, 'record', (reason, cause) => {
      void this.stop(cause === 'dismissed' ? LEAVE.roomDismissed : LEAVE.robotKicked, reason);
    }, this.o.taken?.claim(ticket, ticket.userId, 'audience'));
    this.o.taken?.release();
    if (this.o.movedHere) this.emit(306, { Status: 0 });
    else this.emit(301, { Status: 0 });
    if (this.o.uploads) {
      this.emit(303, { Status: 0 });
      this.watchUploads(this.o.uploads);
    }
    this.unwatch = this.o.rooms.watch(this.room, this);
    for (const p of this.o.rooms.publishersOf(this.room)) this.publisherJoined(p);
    this.checkIdle();
  }

  /** 301 Status 1, then the end (302 with the reason). */
  private failToStart(message: string): void {
    this.o.log.error({ taskId: this.taskId }, message);
    this.emit(301, { Status: 1 });
    void this.stop(LEAVE.serverKicked, message);
  }

  /**
   * ModifyCloudRecording: the subscribe lists are replaced whole. A kind no longer subscribed stops being written
   * (its files stay open and go on if it is subscribed again); a newly subscribed one starts.
   */
  modify(changes: RecordingChanges): void {
    this.subscribe = changes.subscribe;
    if (this.mixed) {
      this.mixed.setLayout(changes.layout);
      this.mixed.resubscribe(this.o.rooms.publishersOf(this.room));
      return;
    }
    for (const r of this.users.values()) r.want(this.tracksFor(r.userId, this.plan(r.userId)));
    for (const p of this.o.rooms.publishersOf(this.room)) this.publisherJoined(p);
  }

  publisherJoined(p: Publisher): void {
    if (this.ending) return;
    this.checkIdle();
    const userId = p.id.userId;
    if (userId === this.o.spec.userId) return; // the recording user itself is not recorded
    if (this.mixed) return this.mixed.join(p);
    let r = this.users.get(userId);
    if (!r) {
      const plan = this.plan(userId);
      if (!plan.video && !plan.audio) return;
      if (this.users.size >= this.o.maxUsers) {
        this.o.log.warn({ taskId: this.taskId, userId, max: this.o.maxUsers }, 'not recorded: the task records at most this many users');
        return;
      }
      r = new UserRecorder(userId, {
        mergeWaitMs: this.o.mergeWaitMs,
        resumeMs: this.o.resumeMs,
        onGone: (gone) => {
          if (this.users.get(gone.userId) === gone) this.users.delete(gone.userId);
        },
      });
      this.users.set(userId, r);
      r.want(this.tracksFor(userId, plan));
    }
    r.attach(p);
  }

  publisherLeft(p: Publisher): void {
    this.mixed?.leave(p);
    const r = this.users.get(p.id.userId);
    if (r?.feed === p) r.detach();
    this.checkIdle();
  }

  publisherMedia(p: Publisher): void {
    this.mixed?.media(p);
    const r = this.users.get(p.id.userId);
    if (r?.feed === p) r.media();
  }

  /**
   * Ends the task: files closed, 302, uploads drained (305), 310 per MP4/AAC file. Idempotent. `drainMs` replaces
   * recording.uploadDrainSeconds: a gateway shutting down waits only its own budget for a store that is down.
   */
  stop(leaveCode: number, reason?: string, drainMs = this.o.uploadDrainMs): Promise<void> {
    this.ending ??= this.end(leaveCode, reason, drainMs);
    return this.ending;
  }

  private async end(leaveCode: number, reason: string | undefined, drainMs: number): Promise<void> {
    await this.closeFiles();
    await this.report(leaveCode, reason, drainMs);
  }

  /**
   * A drain with many nodes (recording-failover.ts takes it): the task stops recording here without ending — its files are
   * closed and its playlists ended, and no 302 goes out — and its recording user's session goes with it (no 104:
   * the taker seats the user under the same session), then `take` asks another node to continue it (306, `ha<N>_`
   * files there). Taken: onMoved (its finished files keep uploading meanwhile); not taken: the user leaves (104) and
   * the task ends as stop() ends it (302 with `untaken`, 305, 310). Resolves whether it moved.
   */
  handOver(take: (sessions: MemberRecord[]) => Promise<boolean>, untaken: (err?: unknown) => string, drainMs = this.o.uploadDrainMs): Promise<boolean> {
    let moved = false;
    this.ending ??= (async () => {
      const sessions = await this.closeFiles(true);
      let why: unknown;
      try {
        moved = await take(sessions);
      } catch (err) {
        why = err;
      }
      if (moved) {
        this.o.log.info({ taskId: this.taskId }, 'recording handed over: stopped here for another node to continue it');
        this.o.onMoved?.();
        return;
      }
      for (const s of sessions) this.o.rooms.leaveUntaken(s);
      await this.report(LEAVE.serverKicked, untaken(why), drainMs);
    })();
    return this.ending.then(() => moved);
  }

  /**
   * The first half of an end: nothing is recorded any more, and every file is closed. The recording user leaves the
   * room first, or, `moving` (a drain's hand-over), its session is handed over and resolved for the taker.
   */
  private async closeFiles(moving = false): Promise<MemberRecord[]> {
    this.unwatch?.();
    // at once: DismissRoom's 102 follows everyone's 104, the files are closed after
    const handed: MemberRecord[] = [];
    if (!moving) this.seat?.leave('normal');
    else {
      const user = this.seat?.handOver();
      if (user) handed.push(user);
    }
    this.seat = null;
    this.o.taken?.release(); // taken from a drain, the task ended before its user sat down here: it leaves (104)
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.mixed) await this.mixed.stop(); // the compositor's last frames reach the files first
    // settled, not all: whatever one user's files did, 302 and the rest of the end must still go out
    await Promise.allSettled([...this.users.values(), ...(this.mixedOutput ? [this.mixedOutput] : [])].map((r) => r.finish()));
    this.users.clear();
    return handed;
  }

  /** The second half: 302, the uploads drained (305), 310 per MP4/AAC file, then onEnded. */
  private async report(leaveCode: number, reason: string | undefined, drainMs: number): Promise<void> {
    this.emit(302, reason ? { LeaveCode: leaveCode, Reason: reason } : { LeaveCode: leaveCode });
    let left: string[] = [];
    if (this.o.uploads) {
      const r = await this.o.uploads.drain(drainMs);
      if (!r.complete) this.o.log.warn({ taskId: this.taskId, left: r.left }, 'recording files not uploaded when the task ended');
      this.emit(305, { Status: r.complete ? 0 : 1 });
      left = r.left;
    }
    for (const f of this.mediaFiles) {
      this.emit(310, {
        Status: left.includes(f.name) ? 1 : 0, // 1: the file is still on this server, not in the store
        FileList: [f.name],
        FileMessage: [{ FileName: f.name, UserId: f.userId, TrackType: f.kind, MediaId: 'main', StartTimeStamp: f.startWallMs, EndTimeStamp: f.startWallMs + f.durationMs }],
      });
    }
    this.o.log.info({ taskId: this.taskId, leaveCode, reason }, 'recording ended');
    this.o.onEnded(leaveCode);
  }

  /** RecordMode 2: the compositor and the recorder of its output. Throws when the compositor cannot start. */
  private async startMixed(): Promise<void> {
    const spec = this.o.spec;
    const output = new UserRecorder('', { mergeWaitMs: this.o.mergeWaitMs, resumeMs: Number.MAX_SAFE_INTEGER, onGone: () => {} });
    const kind: TrackKind = spec.streamType === 1 ? 'audio' : spec.streamType === 2 ? 'video' : 'audio_video';
    const stem = mixedStem({ sdkAppId: spec.sdkAppId, roomId: spec.roomId, numericRoom: spec.roomIdType === 1 });
    const wanted: Array<{ format: TrackFormat; kind: TrackKind; stem: string }> = [];
    if (spec.outputFormat <= 2) wanted.push({ format: 'hls', kind, stem });
    if (spec.outputFormat === 1 || spec.outputFormat === 3) wanted.push({ format: 'mp4', kind, stem });
    if (spec.outputFormat === 2 || spec.outputFormat === 4) wanted.push({ format: 'aac', kind: 'audio', stem });
    output.want(wanted.map((w) => ({ key: `${w.format}:${w.stem}`, make: () => this.makeTrack('', w) })));
    this.mixedOutput = output;
    this.mixed = new MixedRecording({
      mix: spec.mix!,
      engine: this.o.engine,
      output,
      wants: (userId) => this.plan(userId),
      mergeWaitMs: this.o.mergeWaitMs,
      ...(this.o.remote ? { remote: { rooms: this.o.remote, room: this.room }, onRemote: () => this.checkIdle() } : {}),
      onFailed: (message) => {
        this.o.log.error({ taskId: this.taskId }, message);
        void this.stop(LEAVE.serverKicked, message);
      },
      log: this.o.log.child({ taskId: this.taskId }),
    });
    await this.mixed.start();
  }

  private plan(userId: string): { video: boolean; audio: boolean } {
    return recordedKinds(this.o.spec.streamType, this.subscribe, userId);
  }

  /**
   * The tracks OutputFormat and AvMerge ask for: HLS (one merged or one per kind), MP4, AAC. A merged track (MP4,
   * AvMerge 1) keeps the kinds it was made with: its muxer's streams are fixed when its first file starts.
   */
  private tracksFor(userId: string, plan: { video: boolean; audio: boolean }): WantedTrack[] {
    if (!plan.video && !plan.audio) return [];
    const { outputFormat, avMerge } = this.o.spec;
    const both: TrackKind = plan.video && plan.audio ? 'audio_video' : plan.video ? 'video' : 'audio';
    const base: NameBase = { sdkAppId: this.o.spec.sdkAppId, roomId: this.o.spec.roomId, numericRoom: this.o.spec.roomIdType === 1 };
    const wanted: Array<{ format: TrackFormat; kind: TrackKind; stem: string }> = [];
    if (outputFormat <= 2) {
      if (avMerge === 1 || both !== 'audio_video') wanted.push({ format: 'hls', kind: both, stem: hlsStem(base, userId, both) });
      else {
        wanted.push({ format: 'hls', kind: 'video', stem: hlsStem(base, userId, 'video') });
        wanted.push({ format: 'hls', kind: 'audio', stem: hlsStem(base, userId, 'audio') });
      }
    }
    if (outputFormat === 1 || outputFormat === 3) wanted.push({ format: 'mp4', kind: both, stem: userStem(base, userId) });
    if ((outputFormat === 2 || outputFormat === 4) && plan.audio) wanted.push({ format: 'aac', kind: 'audio', stem: userStem(base, userId) });
    return wanted.map((w) => ({ key: `${w.format}:${w.stem}`, make: () => this.makeTrack(userId, w) }));
  }

  private makeTrack(userId: string, w: { format: TrackFormat; kind: TrackKind; stem: string }): RecordedTrack {
    const track: RecordedTrack = new RecordedTrack({
      format: w.format,
      kind: w.kind,
      stem: join(this.dir, (this.o.namePrefix ?? '') + w.stem),
      hlsSegmentMs: this.o.hlsSegmentMs,
      splitMs: this.o.spec.maxMediaFileDurationMin * 60_000,
      splitBytes: SPLIT_BYTES,
      onFile: (f, playlist) => this.fileDone(userId, w.kind, f, playlist),
      onFailed: (message) => {
        this.o.log.error({ taskId: this.taskId, userId }, message);
        void this.stop(LEAVE.serverKicked, message);
      },
      log: this.o.log,
    });
    this.files.push({ userId, track, kind: w.kind });
    return track;
  }

  private fileDone(userId: string, kind: TrackKind, f: FinishedFile, playlist: FinishedFile | null): void {
    const uploads = this.o.uploads;
    if (f.bytes > 0) this.o.onBytes?.('written', f.bytes);
    if (f.bytes > 0 && uploads) {
      this.uploadSizes.set(f.name, f.bytes);
      uploads.enqueue(f.path, f.name, { removeAfter: true });
    }
    if (f.format === 'mp4' || f.format === 'aac') this.mediaFiles.push({ ...f, userId, kind });
    if (!playlist) return;
    // the playlist stays on disk until the end: it is rewritten after every segment
    if (uploads) uploads.enqueue(playlist.path, playlist.name, { removeAfter: this.ending !== null });
    if (!this.announced.has(playlist.name)) {
      this.announced.add(playlist.name);
      this.emit(307, { FileName: playlist.name, UserId: userId, TrackType: kind, BeginTimeStamp: playlist.startWallMs });
    }
  }

  private watchUploads(uploads: UploadQueue): void {
    const told = new Set<string>();
    let failing = false;
    uploads.on('uploaded', ({ key }: { key: string }) => {
      failing = false;
      const name = key.slice(key.lastIndexOf('/') + 1);
      const bytes = this.uploadSizes.get(name);
      if (bytes !== undefined) {
        this.uploadSizes.delete(name);
        this.o.onBytes?.('uploaded', bytes);
      }
      if (key.endsWith('.m3u8') && !told.has(key)) {
        told.add(key);
        this.emit(304, { FileList: key.slice(key.lastIndexOf('/') + 1) });
      }
    });
    uploads.on('failed', ({ key, code, message }: { key: string; code: string; message: string }) => {
      this.o.log.warn({ taskId: this.taskId, key, code }, `upload failed: ${message}`);
      if (failing) return; // once per outage, not once per retry
      failing = true;
      this.emit(308, { Code: code, Message: message });
    });
  }

  /** MaxIdleTime: the task ends when the room has had no publisher for that long (silent publishers count). */
  private checkIdle(): void {
    const empty = this.o.rooms.publishersOf(this.room).length === 0 && !this.mixed?.remoteCount;
    if (!empty || this.ending) {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = null;
      return;
    }
    if (this.idleTimer) return;
    this.idleTimer = setTimeout(() => void this.stop(LEAVE.idle), this.o.spec.maxIdleTimeSec * 1000);
    this.idleTimer.unref();
  }

  private emit(eventType: RecordEventType, payload: Record<string, unknown>): void {
    const { sdkAppId, roomId, roomIdType, userId } = this.o.spec;
    this.o.events.record({ sdkAppId, roomId, numericRoom: roomIdType === 1, eventType, taskId: this.taskId, userId, payload, at: Date.now() });
  }
}
