// The pull tasks of this gateway: the StreamIngestService the API 3.0 actions call. It enforces one running task per
// (app, user) and the task limit, issues opaque TaskIds, records tasks in the store (so Stop can tell "already
// finished" from "never existed"), and stops every task — and so every ffmpeg child — on shutdown.

import type { Logger } from '../../log.js';
import type { Rooms } from '../../room/rooms.js';
import type { IngestEventSink } from '../../events/ingest-events.js';
import type { TaskStore } from '../../store/store.js';
import { newTaskId } from '../../store/task-id.js';
import type { IngestTaskSpec, IngestTaskUpdate, StartResult, StreamIngestService } from '../../api/stream-ingest-service.js';
import type { Ticket } from '../../room/door.js';
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
}


export class PullTasks implements StreamIngestService {
  private readonly live = new Map<string, PullTask>();
  private readonly rules: HostRules;
  private readonly log: Logger;

  constructor(private readonly o: PullTasksOptions) {
    this.rules = compileHostRules(o.allow, o.deny);
    this.log = o.log.child({ component: 'pull' });
  }

  checkStreamUrl(url: string): Promise<string | null> {
    return streamUrlRefusal(url, this.rules, this.o.resolve);
  }

  async start(spec: IngestTaskSpec, ticket: Ticket): Promise<StartResult> {
    // Checked and claimed without an await in between, so two concurrent Starts cannot both pass.
    for (const t of this.live.values()) {
      if (t.spec.sdkAppId === spec.sdkAppId && t.spec.userId === spec.userId) return { ok: false, error: 'task-exists', taskId: t.taskId };
    }
    if (this.live.size >= this.o.maxTasks) return { ok: false, error: 'limit', limit: this.o.maxTasks };
    const taskId = newTaskId();
    const task = new PullTask(taskId, spec, ticket, {
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
    });
    this.live.set(taskId, task);
    await this.o.tasks.create({
      taskId,
      sdkAppId: spec.sdkAppId,
      roomId: spec.roomId,
      roomIdType: spec.roomIdType,
      userId: spec.userId,
      streamUrl: spec.streamUrl,
      state: task.state,
      createdAt: task.createdAt.getTime(),
    });
    task.start();
    return { ok: true, taskId };
  }

  async stop(sdkAppId: number, taskId: string): Promise<'stopped' | 'finished' | 'not-found'> {
    const task = this.find(sdkAppId, taskId);
    if (task) {
      task.end('stopped by StopStreamIngest');
      return 'stopped';
    }
    const rec = await this.o.tasks.get(taskId);
    return rec && rec.sdkAppId === sdkAppId && rec.state === 'ended' ? 'finished' : 'not-found';
  }

  async describe(sdkAppId: number, taskId: string): Promise<'InProgress' | 'NotExist'> {
    return this.find(sdkAppId, taskId) ? 'InProgress' : 'NotExist';
  }

  async update(sdkAppId: number, taskId: string, changes: IngestTaskUpdate): Promise<'updated' | 'not-found'> {
    const task = this.find(sdkAppId, taskId);
    if (!task) return 'not-found';
    if (changes.volume !== undefined) task.setVolume(changes.volume);
    task.setOptions(changes);
    if (changes.streamUrl !== undefined && changes.streamUrl !== task.spec.streamUrl) {
      task.switchUrl(changes.streamUrl);
      this.record(taskId, { streamUrl: changes.streamUrl });
    }
    if (changes.isPause !== undefined) task.setPaused(changes.isPause);
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

  private find(sdkAppId: number, taskId: string): PullTask | undefined {
    const t = this.live.get(taskId);
    return t && t.spec.sdkAppId === sdkAppId && !t.ended ? t : undefined;
  }

  private record(taskId: string, patch: Parameters<TaskStore['update']>[1]): void {
    this.o.tasks.update(taskId, patch).catch((err: unknown) => this.log.warn({ err, taskId }, 'task record update failed'));
  }
}
