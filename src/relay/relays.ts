// The relay-to-CDN tasks of this gateway: the CdnRelayService the API 3.0 actions call. It enforces the task limit
// (FailedOperation.RestrictedConcurrency, config relay.maxTasks), checks every push URL against the same
// pull.allow / pull.deny rules as pull sources (no loopback or private targets unless allowed there), keeps the
// tasks in the store, and ends every task — each URL saying 5 then 0 — on shutdown. A task the gateway was killed under
// ends at the next start-up (endInterrupted): 401 Status 0 with ErrorCode 2 (a running push dropped) per URL.

import type { Logger } from '../log.js';
import type { Rooms } from '../room/rooms.js';
import type { MediaEngine } from '../room/engine.js';
import type { Ticket } from '../room/door.js';
import type { RelayEventSink } from '../events/relay-events.js';
import type { RelayRecord, TaskStore } from '../store/store.js';
import { newTaskId } from '../store/task-id.js';
import type { CdnRelayService, RelayChanges, RelaySpec, StartResult, UpdateResult } from '../api/cdn-relay-service.js';
import { compileHostRules, type HostRules } from '../ingest/pull/host-rules.js';
import { streamUrlRefusal, type Resolver } from '../ingest/pull/url-check.js';
import { agentKey, RelayTask } from './relay-task.js';
import { redact } from './cdn-push.js';

export interface RelayConfig {
  maxTasks: number;
  ffmpegPath: string;
  /** 401 timing: an attempt every retrySeconds, FAILURE after giveUpSeconds without running (TRTC: 5 and 60). */
  retrySeconds: number;
  giveUpSeconds: number;
  pushWith: 'engine' | 'ffmpeg';
  allow: string[];
  deny: string[];
}

export interface RelaysOptions {
  rooms: Rooms;
  engine: MediaEngine;
  events: RelayEventSink;
  store: TaskStore<RelayRecord>;
  config: RelayConfig;
  /** Tests resolve names without DNS. */
  resolve?: Resolver;
  log: Logger;
  /** Many nodes: this node's id, written into the tasks it runs. */
  node?: string;
}

/** What a relay's record keeps for a restart (RelayRecord.resume, JSON): the push URLs, for their last 401. */
interface RelayResume {
  urls: string[];
}

export class Relays implements CdnRelayService {
  private readonly live = new Map<string, RelayTask>();
  private readonly rules: HostRules;
  private readonly log: Logger;

  constructor(private readonly o: RelaysOptions) {
    this.rules = compileHostRules(o.config.allow, o.config.deny);
    this.log = o.log.child({ component: 'relay' });
  }

  async start(spec: RelaySpec, ticket: Ticket, feedback: readonly Ticket[] = []): Promise<StartResult> {
    const { maxTasks } = this.o.config;
    if (this.live.size >= maxTasks) return { ok: false, error: 'limit', limit: maxTasks };
    const refused = await this.refusedUrl(spec.urls);
    if (refused) return { ok: false, error: 'url', reason: refused };
    // re-checked after the await: another Start may have taken the last place meanwhile
    if (this.live.size >= maxTasks) return { ok: false, error: 'limit', limit: maxTasks };
    for (const t of this.live.values()) {
      if (t.agent === agentKey({ sdkAppId: spec.sdkAppId, roomId: spec.roomId, numericRoom: spec.numericRoom }, spec.agentUserId)) {
        return { ok: false, error: 'user-busy', reason: `AgentParams.UserId ${spec.agentUserId} already relays room ${spec.roomId} (task ${t.taskId}); give each relay task its own agent UserId` };
      }
    }
    const taskId = newTaskId();
    const task = new RelayTask({
      taskId,
      spec,
      ticket,
      feedback,
      rooms: this.o.rooms,
      engine: this.o.engine,
      events: this.o.events,
      ffmpegPath: this.o.config.ffmpegPath,
      pushWith: this.o.config.pushWith,
      retryMs: this.o.config.retrySeconds * 1000,
      giveUpMs: this.o.config.giveUpSeconds * 1000,
      mergeWaitMs: 2000,
      onEnded: (reason) => {
        this.live.delete(taskId);
        this.o.store.update(taskId, { state: 'ended', endedAt: Date.now(), endReason: reason }).catch((err: unknown) => this.log.warn({ err, taskId }, 'relay record update failed'));
      },
      log: this.log,
    });
    this.live.set(taskId, task);
    try {
      await this.o.store.create({
        taskId, sdkAppId: spec.sdkAppId, roomId: spec.roomId, roomIdType: spec.numericRoom ? 0 : 1, userId: spec.agentUserId,
        relayedUserId: spec.userId, urls: spec.urls.length, state: 'running', createdAt: Date.now(), ...(this.o.node ? { node: this.o.node } : {}),
        resume: JSON.stringify({ urls: spec.urls } satisfies RelayResume),
      });
    } catch (err) {
      // not recorded (the shared store is away): the task never ran, and the caller is told
      this.live.delete(taskId);
      throw err;
    }
    try {
      await task.start();
    } catch (err) {
      const reason = `the mixer could not start: ${(err as Error).message}`;
      this.log.error({ taskId }, reason);
      await task.stop(reason);
      return { ok: false, error: 'failed', reason };
    }
    this.log.info({ taskId, sdkAppId: spec.sdkAppId, roomId: spec.roomId, userId: spec.userId, urls: spec.urls.map(redact) }, 'relay started');
    return { ok: true, taskId };
  }

  async update(sdkAppId: number, taskId: string, changes: RelayChanges): Promise<UpdateResult> {
    const t = this.find(sdkAppId, taskId);
    if (!t) return 'not-found';
    if (changes.urls) {
      const refused = await this.refusedUrl(changes.urls);
      if (refused) return { refused };
    }
    const r = t.update(changes);
    if (r === 'updated' && changes.urls) {
      this.o.store.update(taskId, { urls: changes.urls.length, resume: JSON.stringify({ urls: changes.urls } satisfies RelayResume) }).catch((err: unknown) => this.log.warn({ err, taskId }, 'relay record update failed'));
    }
    return r;
  }

  /** Each live task's app and each of its pushes' last 401 status (none yet: 'starting'), for the metrics. */
  states(): { sdkAppId: number; taskId: string; state: string }[] {
    return [...this.live.values()].flatMap((t) => t.pushStates().map((state) => ({ sdkAppId: t.sdkAppId, taskId: t.taskId, state })));
  }

  async stop(sdkAppId: number, taskId: string): Promise<'stopped' | 'not-found'> {
    const t = this.find(sdkAppId, taskId);
    if (!t) return 'not-found';
    await t.stop('StopPublishCdnStream');
    return 'stopped';
  }

  /** Shutdown: every push's stdin closed (ffmpeg flushes and ends its RTMP session), 5 then 0 per URL. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.live.values()].map((t) => t.stop('the gateway is shutting down')));
  }

  /**
   * Start-up: every relay a previous run left running ends, each of its URLs with 401 Status 0, ErrorCode 2 (its
   * push dropped) and a message; its agent user leaves with the other dead sessions (104 Reason 2). Resolves how many.
   * With many nodes, only `owner`'s: this node's own at start-up, or a dead node's when a survivor sweeps it.
   */
  async endInterrupted(owner = this.o.node): Promise<number> {
    let n = 0;
    for (const rec of await this.o.store.list()) {
      if (rec.state !== 'running' || rec.node !== owner) continue;
      const { urls } = rec.resume ? (JSON.parse(rec.resume) as RelayResume) : { urls: [] };
      const msg = owner && owner !== this.o.node
        ? `gateway node ${owner} died while relaying; a surviving node ended the task`
        : 'the gateway stopped while relaying; the task ended when it started again';
      for (const url of urls) {
        this.o.events.relay({
          sdkAppId: rec.sdkAppId, roomId: rec.roomId, numericRoom: rec.roomIdType === 0, taskId: rec.taskId, userId: rec.userId,
          url, status: 0, errorCode: 2, errorMsg: msg, at: Date.now(),
        });
      }
      await this.o.store.update(rec.taskId, { state: 'ended', endedAt: Date.now(), endReason: msg });
      this.log.warn({ taskId: rec.taskId, sdkAppId: rec.sdkAppId, roomId: rec.roomId, urls: urls.map(redact) }, `relay ended at start-up: ${msg}`);
      n++;
    }
    return n;
  }

  private find(sdkAppId: number, taskId: string): RelayTask | undefined {
    const t = this.live.get(taskId);
    return t && t.sdkAppId === sdkAppId && !t.ended ? t : undefined;
  }

  /** The first URL the host rules refuse, as a sentence; null when all may be pushed to. */
  private async refusedUrl(urls: string[]): Promise<string | null> {
    for (const url of urls) {
      // the rules judge the host; rtmps is rtmp over TLS to the same host
      const why = await streamUrlRefusal(url.replace(/^rtmps:/i, 'rtmp:'), this.rules, this.o.resolve);
      if (why) return `PublishCdnUrl ${redact(url)} may not be pushed to: ${why}. Push to a public host, or have the gateway's operator list the host in pull.allow.`;
    }
    return null;
  }
}
