// The pull tasks of this gateway: the StreamIngestService the API 3.0 actions call. It enforces one running task per
// (app, user) and the task limit, issues opaque TaskIds, records tasks in the store (so Stop can tell "already
// finished" from "never existed"), and stops every task — and so every ffmpeg child — on shutdown.
//
// A task's record keeps what a restart needs to resume it (the spec, the user's credentials and room session): after
// a SIGKILL the record still says it runs, and resume() starts it again as TRTC restarts a pull (701 Status 2, then
// 0), or ends it (702, and its user's 104) when its user cannot be let in again.

import type { Logger } from '../../log.js';
import type { Rooms } from '../../room/rooms.js';
import type { IngestEventSink } from '../../events/ingest-events.js';
import type { MemberRecord, TaskRecord, TaskStore } from '../../store/store.js';
import { newTaskId } from '../../store/task-id.js';
import type {
  IngestTaskSpec, IngestTaskUpdate, StartResult, StreamIngestService, TaskCall, TaskCredentials,
} from '../../api/stream-ingest-service.js';
import type { Door, Ticket } from '../../room/door.js';
import { compileHostRules, type HostRules } from './host-rules.js';
import { streamUrlRefusal, type Resolver } from './url-check.js';
import { PullTask, type PullTaskConfig, type PullTaskView } from './pull-task.js';

export interface PullTasksOptions {
  rooms: Rooms;
  events: IngestEventSink;
  tasks: TaskStore;
  maxTasks: number;
  allow: readonly string[];
  deny: readonly string[];
  task: PullTaskConfig;
  log: Logger;
  resolve?: Resolver;
  /** Many nodes: this node's id, written into the tasks it runs so a survivor can take them over. */
  node?: string;
  /** Many nodes: runs Stop/Update on the node that runs the task (src/cluster). */
  elsewhere?: (node: string, call: TaskCall) => Promise<unknown>;
}

/** The room session of a task's user, as the room members count it. */
function memberOf(rec: TaskRecord, sessionId: string): MemberRecord {
  return {
    sessionId, sdkAppId: rec.sdkAppId, roomId: rec.roomId, numericRoom: rec.roomIdType === 1, userId: rec.userId, role: 'anchor', source: 'pull',
  };
}

/** What a task's record keeps for a restart (TaskRecord.resume, JSON). */
interface ResumeState {
  spec: IngestTaskSpec;
  credentials: TaskCredentials;
  sessionId: string;
}

export class PullTasks implements StreamIngestService {
  private readonly live = new Map<string, PullTask>();
  /** Tasks being handed to another node by a drain, until the taker answered. */
  private readonly handing = new Map<string, { sdkAppId: number; done: Promise<void> }>();
  private readonly rules: HostRules;
  private readonly log: Logger;

  constructor(private readonly o: PullTasksOptions) {
    this.rules = compileHostRules(o.allow, o.deny);
    this.log = o.log.child({ component: 'pull' });
  }

  checkStreamUrl(url: string): Promise<string | null> {
    return streamUrlRefusal(url, this.rules, this.o.resolve);
  }

  async start(spec: IngestTaskSpec, ticket: Ticket, credentials?: TaskCredentials): Promise<StartResult> {
    // Checked and claimed without an await in between, so two concurrent Starts cannot both pass.
    for (const t of this.live.values()) {
      if (t.spec.sdkAppId === spec.sdkAppId && t.spec.userId === spec.userId) return { ok: false, error: 'task-exists', taskId: t.taskId };
    }
    if (this.live.size >= this.o.maxTasks) return { ok: false, error: 'limit', limit: this.o.maxTasks };
    const taskId = newTaskId();
    const task = this.makeTask(taskId, spec, ticket);
    this.live.set(taskId, task);
    try {
      await this.o.tasks.create({
        taskId,
        sdkAppId: spec.sdkAppId,
        roomId: spec.roomId,
        roomIdType: spec.roomIdType,
        userId: spec.userId,
        streamUrl: spec.streamUrl,
        state: task.state,
        createdAt: task.createdAt.getTime(),
        ...(this.o.node ? { node: this.o.node } : {}),
        ...(credentials ? { resume: JSON.stringify({ spec, credentials, sessionId: task.sessionId } satisfies ResumeState) } : {}),
      });
    } catch (err) {
      // not recorded (the shared store is away): the task never ran, and the caller is told
      this.live.delete(taskId);
      throw err;
    }
    task.start();
    return { ok: true, taskId };
  }

  /**
   * Start-up: the tasks a previous run left running (it was killed) start again under their TaskIds and room
   * sessions: 701 Status 2, then Status 0 with the first frame. One whose user the door no longer lets in (an
   * expired UserSig), or that kept no credentials, ends: 702, its record ended. Resolves the room sessions taken up
   * again; the caller ends the others (104 Reason 2).
   *
   * With many nodes, only the tasks of `owner` are taken: this node's own at start-up (a stable node.id), or a dead
   * node's when the survivor that swept it takes them over (the same 701 Status 2, then 0). They become this node's.
   */
  async resume(door: Door, owner = this.o.node): Promise<Set<string>> {
    const kept = new Set<string>();
    for (const rec of await this.o.tasks.list()) {
      if (rec.state === 'ended' || rec.node !== owner) continue;
      const sessionId = await this.resumeRecord(door, rec, 'pull task resumed after a restart');
      if (sessionId) kept.add(sessionId);
    }
    return kept;
  }

  /**
   * Many nodes: a draining node `from` stopped the task (PullTask.handOff) and asks this node to run it: the same
   * TaskId and room session, 701 Status 2, then 0. False when this node will not (it drains too, or the task is not
   * `from`'s to give); then the giver ends it. True once taken — also when it ended here at once (702 and its user's
   * 104: the user could not enter again).
   */
  async takeOver(door: Door, taskId: string, from: string): Promise<boolean> {
    if (door.isDraining) return false;
    const rec = await this.o.tasks.get(taskId);
    if (!rec || rec.state === 'ended' || rec.node !== from || this.live.has(taskId)) return false;
    const saved = rec.resume ? (JSON.parse(rec.resume) as ResumeState) : null;
    // counted here at once, so the task ending before it joins again still makes its user leave
    if (saved) this.o.rooms.takeUp(memberOf(rec, saved.sessionId));
    const sessionId = await this.resumeRecord(door, rec, `pull task taken over from node ${from}, which drains`);
    if (saved && !sessionId) this.o.rooms.leaveRestored(memberOf(rec, saved.sessionId), rec.userId, saved.sessionId, 'normal');
    return true;
  }

  /**
   * A drain with many nodes: every running task stops here without a 702 and `take` asks node `to` to run it
   * (src/cluster: over the node bus), one task after another's ffmpeg exited. A task `to` did not take ends here as
   * at a close (702, its user's 104). Describe answers InProgress meanwhile; Stop and Update wait for the move.
   */
  async handOverAll(to: string, take: (taskId: string) => Promise<boolean>): Promise<void> {
    const moves = [...this.live.values()].map((task) => {
      const move = this.handOverOne(task, to, take).finally(() => this.handing.delete(task.taskId));
      this.handing.set(task.taskId, { sdkAppId: task.spec.sdkAppId, done: move });
      return move;
    });
    await Promise.all(moves);
  }

  private async handOverOne(task: PullTask, to: string, take: (taskId: string) => Promise<boolean>): Promise<void> {
    this.live.delete(task.taskId);
    await task.handOff(to);
    let taken = false;
    try {
      taken = await take(task.taskId);
    } catch (err) {
      this.log.warn({ err: String(err), taskId: task.taskId, to }, 'pull task hand-over: the taker did not answer');
    }
    if (taken) return;
    // Not taken: unless the taker did take it after all (its answer was lost: the record names it), it ends here.
    const rec = await this.o.tasks.get(task.taskId);
    if (!rec || rec.state === 'ended' || rec.node !== this.o.node) return;
    this.log.warn({ taskId: task.taskId, to }, `pull task not taken over by node ${to}: it ends here`);
    this.o.rooms.leaveUntaken({ ...memberOf(rec, task.sessionId), node: this.o.node! });
    this.o.events.ingest(rec.sdkAppId, rec.roomId, 702, rec.taskId, 0);
    await this.o.tasks.update(rec.taskId, { state: 'ended', endedAt: Date.now(), endReason: `the node drained and node ${to} did not take the task over` });
  }

  /** Starts a recorded task here again under its TaskId and room session; resolves that session, or null when it ended (702). */
  private async resumeRecord(door: Door, rec: TaskRecord, logMsg: string): Promise<string | null> {
    const saved = rec.resume ? (JSON.parse(rec.resume) as ResumeState) : null;
    const entry = saved && door.reenter(rec, saved.credentials, 'publish');
    if (!saved || !entry?.ok) {
      const why = entry && !entry.ok ? `its user cannot enter again: ${entry.reason}` : 'it kept no credentials to enter again';
      this.log.warn({ taskId: rec.taskId, sdkAppId: rec.sdkAppId, roomId: rec.roomId, userId: rec.userId }, `pull task not resumed after the restart: ${why}`);
      this.o.events.ingest(rec.sdkAppId, rec.roomId, 702, rec.taskId, 0);
      await this.o.tasks.update(rec.taskId, { state: 'ended', endedAt: Date.now(), endReason: `the gateway restarted and ${why}` });
      return null;
    }
    // A dead node's task (many nodes): its user's session was counted on that node, not here, so count it here
    // before the task starts; else a task that ends before it joins again (its source gone) leaves nobody and its
    // user never gets a 104. At start-up restoreMembers counted it already; a drain's takeOver too (idempotent).
    if (rec.node !== this.o.node) this.o.rooms.takeUp(memberOf(rec, saved.sessionId));
    const task = this.makeTask(rec.taskId, saved.spec, entry.ticket, { sessionId: saved.sessionId });
    this.live.set(rec.taskId, task);
    if (rec.node !== this.o.node) await this.o.tasks.update(rec.taskId, { node: this.o.node });
    this.log.info({ taskId: rec.taskId, sdkAppId: rec.sdkAppId, roomId: rec.roomId, userId: rec.userId }, logMsg);
    task.start();
    return saved.sessionId;
  }

  private makeTask(taskId: string, spec: IngestTaskSpec, ticket: Ticket, resume?: { sessionId: string }): PullTask {
    return new PullTask(taskId, spec, ticket, {
      rooms: this.o.rooms,
      events: this.o.events,
      config: this.o.task,
      log: this.log,
      checkUrl: (url) => this.checkStreamUrl(url),
      onStateChange: (t) => this.record(t.taskId, { state: t.state }),
      onEnded: (t, reason) => {
        this.live.delete(t.taskId);
        this.record(t.taskId, { state: 'ended', endedAt: Date.now(), endReason: reason });
      },
    }, resume);
  }

  async stop(sdkAppId: number, taskId: string): Promise<'stopped' | 'finished' | 'not-found'> {
    await this.handing.get(taskId)?.done; // moving to another node: Stop reaches it there
    const task = this.find(sdkAppId, taskId);
    if (task) {
      task.end('stopped by StopStreamIngest');
      return 'stopped';
    }
    const owner = await this.runsElsewhere(sdkAppId, taskId);
    if (owner) return (await this.o.elsewhere!(owner, { op: 'stop', sdkAppId, taskId })) as 'stopped' | 'finished' | 'not-found';
    const rec = await this.o.tasks.get(taskId);
    return rec && rec.sdkAppId === sdkAppId && rec.state === 'ended' ? 'finished' : 'not-found';
  }

  async describe(sdkAppId: number, taskId: string): Promise<'InProgress' | 'NotExist'> {
    // many nodes: another node may be running it, or be about to (a drain is handing it over)
    if (this.handing.get(taskId)?.sdkAppId === sdkAppId) return 'InProgress';
    return this.find(sdkAppId, taskId) || (await this.runsElsewhere(sdkAppId, taskId)) ? 'InProgress' : 'NotExist';
  }

  /** Many nodes: the node running the task when it is not this one. */
  private async runsElsewhere(sdkAppId: number, taskId: string): Promise<string | null> {
    if (!this.o.elsewhere) return null;
    const rec = await this.o.tasks.get(taskId);
    return rec && rec.sdkAppId === sdkAppId && rec.state !== 'ended' && rec.node && rec.node !== this.o.node ? rec.node : null;
  }

  async update(sdkAppId: number, taskId: string, changes: IngestTaskUpdate): Promise<'updated' | 'not-found'> {
    await this.handing.get(taskId)?.done;
    const task = this.find(sdkAppId, taskId);
    if (!task) {
      const owner = await this.runsElsewhere(sdkAppId, taskId);
      return owner ? ((await this.o.elsewhere!(owner, { op: 'update', sdkAppId, taskId, changes })) as 'updated' | 'not-found') : 'not-found';
    }
    if (changes.volume !== undefined) task.setVolume(changes.volume);
    task.setOptions(changes);
    if (changes.streamUrl !== undefined && changes.streamUrl !== task.spec.streamUrl) {
      task.switchUrl(changes.streamUrl);
      this.record(taskId, { streamUrl: changes.streamUrl });
    }
    if (changes.isPause !== undefined) task.setPaused(changes.isPause);
    await this.keepSpec(task);
    return 'updated';
  }

  /** Running tasks first, then the ones that ended recently (from the store). */
  async list(): Promise<{ running: PullTaskView[]; ended: unknown[] }> {
    const running = [...this.live.values()].map((t) => t.view());
    const ended = (await this.o.tasks.list())
      .filter((r) => r.state === 'ended')
      .map((r) => ({
        taskId: r.taskId,
        sdkAppId: r.sdkAppId,
        roomId: r.roomId,
        userId: r.userId,
        state: r.state,
        endedAt: r.endedAt ? new Date(r.endedAt).toISOString() : null,
        endReason: r.endReason ?? null,
      }));
    return { running, ended };
  }

  get size(): number {
    return this.live.size;
  }

  /** Each running task's app and state, for the metrics (read at scrape time). */
  states(): { sdkAppId: number; state: string }[] {
    return [...this.live.values()].map((t) => ({ sdkAppId: t.spec.sdkAppId, state: t.state }));
  }

  /** Ends every task (shutdown): children killed, users leave their rooms, 702 for each. */
  closeAll(reason: string): void {
    for (const t of [...this.live.values()]) t.end(reason);
  }

  /** A resumed task starts from its spec as updated (source, volume, options), not as first started. */
  private async keepSpec(task: PullTask): Promise<void> {
    const rec = await this.o.tasks.get(task.taskId);
    if (!rec?.resume || rec.state === 'ended') return;
    const saved = JSON.parse(rec.resume) as ResumeState;
    this.record(task.taskId, { resume: JSON.stringify({ ...saved, spec: task.spec } satisfies ResumeState) });
  }

  private find(sdkAppId: number, taskId: string): PullTask | undefined {
    const t = this.live.get(taskId);
    return t && t.spec.sdkAppId === sdkAppId && !t.ended ? t : undefined;
  }

  private record(taskId: string, patch: Parameters<TaskStore['update']>[1]): void {
    this.o.tasks.update(taskId, patch).catch((err: unknown) => this.log.warn({ err, taskId }, 'task record update failed'));
  }
}
