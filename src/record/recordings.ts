// The recording tasks of this gateway: the CloudRecordingService the API 3.0 actions call. It enforces the task limit
// (FailedOperation.RestrictedConcurrency) and TRTC's rule that a recording user is in a room once (a second task with
// the same recording user in the same room interrupts the first, 302 LeaveCode 101), records tasks in the store, picks
// the storage, and ends every task — closing every file — on shutdown. A task the gateway was killed under (its record
// still running at start-up) cannot be continued honestly — its open files lost their trailers, its uploads their
// state — so endInterrupted() ends it with 302 LeaveCode 3 and a reason saying where the files are; with S3 storage
// those files are uploaded once the node is ready (uploadLeftovers, recording-leftovers.ts: 305, 310). With many
// nodes, a dead node's task continues on the survivor that swept it (takeOver, recording-failover.ts), a draining node's on
// the node it hands it to (handOverAll there, takeFromDrain here), and Describe, Modify and Delete of a task another
// node runs are answered there (over the node bus).

import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { RemoteRooms } from './mixed-recording.js';
import type { Rooms } from '../room/rooms.js';
import type { MediaEngine } from '../room/engine.js';
import type { Ticket } from '../room/door.js';
import type { RecordEventSink } from '../events/record-events.js';
import type { MemberRecord, RecordingRecord, TaskStore } from '../store/store.js';
import { newTaskId } from '../store/task-id.js';
import type {
  CloudRecordingService, CreateResult, RecordingChanges, RecordingSpec, StorageFileInfo,
} from '../api/cloud-recording-service.js';
import type { RecordingCall, TaskCall, TaskCredentials } from '../api/stream-ingest-service.js';
import type { Door } from '../room/door.js';
import { haPrefix, readResume, resumeText, takeOverOne, takeOverRecordings, type TakeOverHost } from './recording-failover.js';
import { LeftoverUpload } from './recording-leftovers.js';
import { LEAVE, RecordingTask } from './recording-task.js';
import { TakenSessions } from '../room/taken-sessions.js';
import { S3Storage } from './storage/s3-storage.js';
import { UploadQueue } from './storage/upload-queue.js';

export interface RecordingConfig {
  dir: string;
  maxTasks: number;
  hlsSegmentSeconds: number;
  resumeSeconds: number;
  uploadDrainSeconds: number;
  /** Vendor number → endpoint template with {Region} and {Bucket}. */
  storageEndpoints: Record<string, string>;
}

export interface RecordingsOptions {
  rooms: Rooms;
  engine: MediaEngine;
  events: RecordEventSink;
  store: TaskStore<RecordingRecord>;
  config: RecordingConfig;
  log: Logger;
  /** Many nodes: a mix takes the room's publishers on other nodes too (src/cluster/remote-publishers.ts). */
  remote?: RemoteRooms;
  /** Many nodes: this node's id, written into the tasks it runs. */
  node?: string;
  /** Many nodes: runs Describe/Modify/Delete on the node that runs the task (src/cluster). */
  elsewhere?: (node: string, call: TaskCall) => Promise<unknown>;
}

type Described = { status: 'Idle' | 'InProgress' | 'Exited'; files: StorageFileInfo[] };

export class Recordings implements CloudRecordingService {
  private readonly live = new Map<string, RecordingTask>();
  /** Media bytes written to files and uploaded since start, by every task (the metrics). */
  readonly bytes = { written: 0, uploaded: 0 };
  /** Upload queues of ended tasks that still hold files (retried until they are empty or the gateway stops), with their store clients. */
  private readonly queues = new Map<UploadQueue, S3Storage>();
  /** Killed tasks' files to upload (endInterrupted), from when the node is ready (uploadLeftovers) until reported. */
  private readonly leftovers = new Set<LeftoverUpload>();
  private readonly log: Logger;

  constructor(private readonly o: RecordingsOptions) {
    this.log = o.log.child({ component: 'recording' });
  }

  /**
   * `credentials`: what let the recording user in; with many nodes they are kept in the record (with the spec) so
   * a survivor can continue the task if this node dies.
   */
  async create(spec: RecordingSpec, ticket: Ticket, credentials?: TaskCredentials): Promise<CreateResult> {
    if (this.live.size >= this.o.config.maxTasks) return { ok: false, error: 'limit', limit: this.o.config.maxTasks };
    const taskId = newTaskId();
    // TRTC: the same recording user entering the same room again interrupts the earlier task
    for (const t of this.live.values()) {
      const s = t.spec;
      if (s.sdkAppId === spec.sdkAppId && s.roomId === spec.roomId && s.roomIdType === spec.roomIdType && s.userId === spec.userId) {
        void t.stop(LEAVE.sameUser, `the recording user ${spec.userId} entered the room again (task ${taskId})`);
      }
    }
    const task = this.makeTask(taskId, spec, ticket, 0);
    const rec: RecordingRecord = {
      taskId, sdkAppId: spec.sdkAppId, roomId: spec.roomId, roomIdType: spec.roomIdType, userId: spec.userId,
      recordMode: spec.recordMode, state: 'running', createdAt: Date.now(), ...(this.o.node ? { node: this.o.node } : {}),
      // One record on one node or many: a survivor continues the task from it (spec and credentials), and a restart
      // of this node uploads the files the task left to the spec's storage (uploadLeftovers). The spec holds the
      // storage's secret key: the store is kept as private as the config.
      ...(credentials ? { resume: resumeText({ spec, credentials, moves: 0 }) } : {}),
    };
    try {
      await this.o.store.create(rec);
    } catch (err) {
      // not recorded (the shared store is away): the task never ran, and the caller is told
      this.live.delete(taskId);
      throw err;
    }
    await task.start();
    // a task whose directory could not be made has already ended (301 Status 1, 302)
    if (task.status !== 'Exited') this.log.info({ taskId, sdkAppId: spec.sdkAppId, roomId: spec.roomId, userId: spec.userId, storage: spec.storage.kind }, 'recording started');
    return { ok: true, taskId };
  }

  /**
   * A task of this node, counted live; `moves` > 0: it came from another node (ha<N>_ files, 306 instead of 301);
   * `taken`: from a draining one, with its user's session.
   */
  private makeTask(taskId: string, spec: RecordingSpec, ticket: Ticket, moves: number, taken?: TakenSessions): RecordingTask {
    const s3 = spec.storage.kind === 's3' ? this.s3For(spec.storage, taskId) : null;
    const uploads = s3 ? new UploadQueue(s3) : null;
    const task = new RecordingTask({
      taskId,
      spec,
      ticket,
      rooms: this.o.rooms,
      engine: this.o.engine,
      ...(this.o.remote ? { remote: this.o.remote } : {}),
      dir: this.o.config.dir,
      uploads,
      events: this.o.events,
      hlsSegmentMs: this.o.config.hlsSegmentSeconds * 1000,
      resumeMs: this.o.config.resumeSeconds * 1000,
      mergeWaitMs: 2000,
      maxUsers: 25,
      uploadDrainMs: this.o.config.uploadDrainSeconds * 1000,
      namePrefix: haPrefix(moves),
      movedHere: moves > 0,
      ...(taken ? { taken } : {}),
      onBytes: (what, n) => (this.bytes[what] += n),
      onEnded: (leaveCode) => {
        this.live.delete(taskId);
        this.record(taskId, { state: 'ended', endedAt: Date.now(), leaveCode });
        // what the drain did not get up keeps being retried until the gateway stops
        if (uploads && s3) this.keepUploading(uploads, s3);
      },
      // the taker rewrote the record (its node, the moves): only the files closed here are still this node's
      onMoved: () => {
        this.live.delete(taskId);
        if (uploads && s3) this.keepUploading(uploads, s3);
      },
      log: this.log,
    });
    this.live.set(taskId, task);
    return task;
  }

  async describe(sdkAppId: number, taskId: string): Promise<Described | null> {
    const here = this.describeHere(sdkAppId, taskId);
    if (here) return here;
    const owner = await this.runsElsewhere(sdkAppId, taskId);
    if (!owner) return null;
    try {
      return (await this.o.elsewhere!(owner, { op: 'record-describe', sdkAppId, taskId })) as Described | null;
    } catch {
      // The owner died (no lease) or did not answer, and no survivor had taken the task up. While the record says it
      // runs, it is moving to a survivor (recording-failover.ts): TRTC's back-end says InProgress then, not Idle
      // (nothing to record) nor an end. Read again, as the bus's wait may have outlasted the move (or the end). The
      // dead node's files are not known here.
      const rec = await this.o.store.get(taskId);
      if (rec?.node === this.o.node) return this.describeHere(sdkAppId, taskId);
      return rec?.state === 'running' ? { status: 'InProgress', files: [] } : null;
    }
  }

  async modify(sdkAppId: number, taskId: string, changes: RecordingChanges): Promise<'modified' | 'not-found'> {
    const owner = this.find(sdkAppId, taskId) ? null : await this.runsElsewhere(sdkAppId, taskId);
    if (owner) return (await this.o.elsewhere!(owner, { op: 'record-modify', sdkAppId, taskId, changes })) as 'modified' | 'not-found';
    return this.modifyHere(sdkAppId, taskId, changes);
  }

  async delete(sdkAppId: number, taskId: string): Promise<'deleted' | 'not-found'> {
    const owner = this.find(sdkAppId, taskId) ? null : await this.runsElsewhere(sdkAppId, taskId);
    if (owner) return (await this.o.elsewhere!(owner, { op: 'record-delete', sdkAppId, taskId })) as 'deleted' | 'not-found';
    return this.deleteHere(sdkAppId, taskId);
  }

  /** A call another node handed here (the record names this node): answered from this node's tasks alone. */
  answer(call: RecordingCall): Promise<unknown> {
    if (call.op === 'record-describe') return Promise.resolve(this.describeHere(call.sdkAppId, call.taskId));
    if (call.op === 'record-modify') return this.modifyHere(call.sdkAppId, call.taskId, call.changes);
    return Promise.resolve(this.deleteHere(call.sdkAppId, call.taskId));
  }

  private describeHere(sdkAppId: number, taskId: string): Described | null {
    const t = this.find(sdkAppId, taskId);
    return t ? { status: t.status, files: t.storageFiles() } : null;
  }

  private async modifyHere(sdkAppId: number, taskId: string, changes: RecordingChanges): Promise<'modified' | 'not-found'> {
    const t = this.find(sdkAppId, taskId);
    if (!t || t.status === 'Exited') return 'not-found';
    t.modify(changes);
    // a task that moves to another node later starts with these lists and this layout
    const rec = this.o.node ? await this.o.store.get(taskId) : undefined;
    const saved = rec && readResume(rec);
    // stored before the answer: a node dying right after it has already kept the change for its successor
    if (saved) await this.o.store.update(taskId, { resume: resumeText({ ...saved, modified: changes }) }).catch((err: unknown) => this.log.warn({ err, taskId }, 'recording record update failed'));
    return 'modified';
  }

  private deleteHere(sdkAppId: number, taskId: string): 'deleted' | 'not-found' {
    const t = this.find(sdkAppId, taskId);
    if (!t || t.status === 'Exited') return 'not-found';
    void t.stop(LEAVE.api);
    return 'deleted';
  }

  /** Many nodes: the node running the task when it is not this one. */
  private async runsElsewhere(sdkAppId: number, taskId: string): Promise<string | null> {
    if (!this.o.elsewhere) return null;
    const rec = await this.o.store.get(taskId);
    return rec && rec.sdkAppId === sdkAppId && rec.state === 'running' && rec.node && rec.node !== this.o.node ? rec.node : null;
  }

  /** How many tasks record here, not counting those ending (a drain hands over only when there is one). */
  get size(): number {
    return [...this.live.values()].filter((t) => t.status !== 'Exited').length;
  }

  /** Each live task's app and Describe status, for the metrics (read at scrape time). */
  states(): { sdkAppId: number; taskId: string; roomId: string; state: string; localFiles: string[] }[] {
    return [...this.live.values()].map((t) => ({
      sdkAppId: t.spec.sdkAppId,
      taskId: t.taskId,
      roomId: t.spec.roomId,
      state: t.status,
      // the index files (playlists, first MP4 or AAC) of a recording kept in the directory, for the console's links
      localFiles: t.keptLocally ? t.storageFiles().map((f) => f.fileName) : [],
    }));
  }

  /** The task's local directory, for the playback route (null: no such running task). */
  directoryOf(taskId: string): string | null {
    return this.live.get(taskId)?.dir ?? null;
  }

  /**
   * Shutdown: every file closed and every playlist ended before the process exits; uploads get `uploadMs` more (not
   * recording.uploadDrainSeconds, which may be longer than a supervisor waits for a stop), and the local files of
   * those that did not finish stay where they are.
   */
  async closeAll(uploadMs: number): Promise<void> {
    await Promise.all([
      ...[...this.live.values()].map((t) => t.stop(LEAVE.serverKicked, 'the gateway is shutting down', uploadMs)),
      ...[...this.leftovers].map((l) => l.cut(uploadMs)),
    ]);
    await Promise.all([...this.queues.keys()].map((q) => this.closeQueue(q, uploadMs)));
  }

  /**
   * Start-up: every recording a previous run left running ends with 302 (LeaveCode 3, server kicked the robot) and a
   * Reason; its user, counted since then, leaves with the other dead sessions (104 Reason 2). Resolves how many.
   * With many nodes, only `owner`'s: this node's own at start-up, or a dead node's when a survivor sweeps it.
   * This node's own S3 tasks have their files uploaded from when uploadLeftovers() is called (the 302 says so).
   */
  async endInterrupted(owner = this.o.node): Promise<number> {
    let n = 0;
    for (const rec of await this.o.store.list()) {
      if (rec.state !== 'running' || rec.node !== owner) continue;
      const leftover = owner === this.o.node ? this.leftoverUpload(rec) : null;
      await this.endOne(rec, owner, undefined, leftover?.where);
      if (leftover) this.leftovers.add(leftover.job);
      n++;
    }
    return n;
  }

  /**
   * Once the node is ready: the files the tasks ended by endInterrupted() left go to their storage in the background
   * (recording-leftovers.ts), each followed by 305 and its 310s. Start-up never waits for a store.
   */
  uploadLeftovers(): void {
    for (const job of this.leftovers) void job.run();
  }

  /** A killed task's files to upload, and where they go; null when it kept no S3 spec (local files stay as they are). */
  private leftoverUpload(rec: RecordingRecord): { job: LeftoverUpload; where: string } | null {
    const spec = readResume(rec)?.spec;
    if (spec?.storage.kind !== 's3') return null;
    let s3: S3Storage;
    try {
      s3 = this.s3For(spec.storage, rec.taskId);
    } catch (err) {
      this.log.warn({ err, taskId: rec.taskId }, 'the files of a killed recording cannot be uploaded: its storage is not usable now');
      return null;
    }
    const uploads = new UploadQueue(s3);
    const job: LeftoverUpload = new LeftoverUpload({
      taskId: rec.taskId,
      spec,
      createdAt: rec.createdAt,
      dir: join(this.o.config.dir, rec.taskId),
      uploads,
      drainMs: this.o.config.uploadDrainSeconds * 1000,
      events: this.o.events,
      onBytes: (n) => (this.bytes.uploaded += n),
      onDone: () => {
        this.leftovers.delete(job);
        // what the drain did not get up keeps being retried until the gateway stops, as after a normal end
        this.keepUploading(uploads, s3);
      },
      log: this.log,
    });
    return { job, where: s3.describe('') };
  }

  /**
   * Many nodes: the running recordings of `owner`, a dead node this one swept, continue here under their TaskIds
   * (recording-failover.ts: `ha<N>_` files, 306 Status 0); the ones that cannot end as endInterrupted() ends them.
   * Resolves how many continue here.
   */
  takeOver(door: Door, owner: string): Promise<number> {
    return takeOverRecordings({ ...this.takeOverHost(owner, 'recording taken over from a dead node'), list: () => this.o.store.list(), end: (rec, why) => this.endOne(rec, owner, why) }, door, owner);
  }

  /**
   * Many nodes: node `from` drains, stopped the task (RecordingTask.handOver: its files closed, no 302) and asks
   * this node to continue it — as a dead node's (306 Status 0, `ha<N>_` files), its user seated again under the
   * session `from` handed over (`sessions`: no 104 there, no 103 here). Resolves true once it runs here, or why not
   * (this node drains too or is full, the record is not `from`'s running task, its user cannot enter): the giver
   * then ends it.
   */
  async takeFromDrain(door: Door, taskId: string, from: string, sessions: readonly MemberRecord[] = []): Promise<true | string> {
    if (door.isDraining) return `node ${this.o.node} drains too`;
    const rec = await this.o.store.get(taskId);
    if (!rec || rec.state !== 'running' || rec.node !== from || this.live.has(taskId)) return `node ${this.o.node} found no running recording of node ${from} under that TaskId`;
    return (await takeOverOne(this.takeOverHost(from, `recording taken over from node ${from}, which drains`, sessions), door, rec)) ?? true;
  }

  /**
   * A drain with many nodes: every recording here stops (files closed, no 302) and `take` asks node `to` to
   * continue it, with its user's room session, one after another. One `to` does not take ends here as at a close
   * (its user's 104, 302 LeaveCode 3 saying why). Resolves how many moved.
   */
  async handOverAll(to: string, take: (taskId: string, sessions: MemberRecord[]) => Promise<true | string>, uploadMs: number): Promise<number> {
    let moved = 0;
    for (const task of [...this.live.values()]) {
      let refusal = 'it did not answer';
      const ask = async (sessions: MemberRecord[]) => {
        const r = await take(task.taskId, sessions);
        if (r !== true) refusal = r;
        return r === true;
      };
      const untaken = (err?: unknown) =>
        `the gateway drained and node ${to} did not take the recording over (${err ? String(err) : refusal}); what was written until then is in ${this.o.config.dir}/${task.taskId} on node ${this.o.node}`;
      if (await task.handOver(ask, untaken, uploadMs)) moved++;
    }
    return moved;
  }

  /**
   * How a task taken from node `from` runs here; `logMsg` says how it came; `handed`: the room sessions of its user
   * that a draining `from` handed over with it.
   */
  private takeOverHost(from: string, logMsg: string, handed: readonly MemberRecord[] = []): Pick<TakeOverHost, 'full' | 'run'> {
    const { maxTasks } = this.o.config;
    return {
      full: () => (this.live.size >= maxTasks ? `this node already runs ${maxTasks} recordings, its limit` : null),
      run: async (rec, spec, ticket, resume) => {
        // the record names this node before the task runs: Describe/Modify/Delete on any node reach it from now on
        await this.o.store.update(rec.taskId, { node: this.o.node!, resume: resumeText(resume) });
        // counted here from now on (not before: a record not updated fails the take, and the giver makes the user leave)
        const taken = handed.length > 0 ? new TakenSessions(this.o.rooms, handed) : undefined;
        const task = this.makeTask(rec.taskId, spec, ticket, resume.moves, taken);
        await task.start();
        if (resume.modified && spec.recordMode === 2) task.modify(resume.modified);
        this.log.warn({ taskId: rec.taskId, sdkAppId: rec.sdkAppId, roomId: rec.roomId, from, moves: resume.moves }, logMsg);
      },
    };
  }

  /**
   * 302 (LeaveCode 3) with a reason saying where the files are; `why`: why it could not continue here; `uploadingTo`:
   * the storage the files are being uploaded to (305 and 310 follow).
   */
  private async endOne(rec: RecordingRecord, owner: string | undefined, why?: string, uploadingTo?: string): Promise<void> {
    const who = owner && owner !== this.o.node ? `gateway node ${owner} died` : 'the gateway stopped';
    const where = `${this.o.config.dir}/${rec.taskId}${owner ? ` on node ${owner}` : ''}`;
    const files = uploadingTo ? `what was written until then, left in ${where}, is being uploaded to ${uploadingTo}` : `what was written until then is in ${where}`;
    const reason = `${who} while recording; ${files}${why ? `; it could not continue here: ${why}` : ''}`;
    this.o.events.record({
      sdkAppId: rec.sdkAppId, roomId: rec.roomId, numericRoom: rec.roomIdType === 1, eventType: 302, taskId: rec.taskId,
      userId: rec.userId, payload: { LeaveCode: LEAVE.serverKicked, Reason: reason }, at: Date.now(),
    });
    await this.o.store.update(rec.taskId, { state: 'ended', endedAt: Date.now(), leaveCode: LEAVE.serverKicked });
    this.log.warn({ taskId: rec.taskId, sdkAppId: rec.sdkAppId, roomId: rec.roomId }, `recording ended: ${reason}`);
  }

  private find(sdkAppId: number, taskId: string): RecordingTask | undefined {
    const t = this.live.get(taskId);
    return t && t.spec.sdkAppId === sdkAppId ? t : undefined;
  }

  private s3For(s: Extract<RecordingSpec['storage'], { kind: 's3' }>, taskId: string): S3Storage {
    const params = { Vendor: s.vendor, Region: s.region, Bucket: s.bucket, AccessKey: s.accessKey, SecretKey: s.secretKey, FileNamePrefix: s.prefix };
    return new S3Storage(params, taskId, this.o.config.storageEndpoints);
  }

  /** An upload queue whose task is over here: retried until it is empty (then closed) or the gateway stops. */
  private keepUploading(uploads: UploadQueue, s3: S3Storage): void {
    this.queues.set(uploads, s3);
    if (uploads.pending() === 0) void this.closeQueue(uploads);
    else uploads.once('idle', () => void this.closeQueue(uploads));
  }

  private async closeQueue(q: UploadQueue, timeoutMs = 0): Promise<void> {
    const s3 = this.queues.get(q);
    if (!s3) return;
    this.queues.delete(q);
    await q.close(timeoutMs);
    s3.destroy();
  }


  private record(taskId: string, patch: Partial<Omit<RecordingRecord, 'taskId'>>): void {
    this.o.store.update(taskId, patch).catch((err: unknown) => this.log.warn({ err, taskId }, 'recording record update failed'));
  }
}
