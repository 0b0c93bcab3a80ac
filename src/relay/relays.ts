// The relay-to-CDN tasks of this gateway: the CdnRelayService the API 3.0 actions call. It enforces the task limit
// (FailedOperation.RestrictedConcurrency, config relay.maxTasks), checks every push URL against the same
// pull.allow / pull.deny rules as pull sources (no loopback or private targets unless allowed there), keeps the
// tasks in the store, and ends every task — each URL saying 5 then 0 — on shutdown. A task the gateway was killed under
// ends at the next start-up (endInterrupted): 401 Status 0 with ErrorCode 2 (a running push dropped) per URL.
// Many nodes: a dead node's relays are started again here (relay-failover.ts calls adopt), a draining node hands its
// relays to another (handOverAll; the taker adopts them the same way), and an Update or Stop of a relay another node
// runs is handed to that node (the `elsewhere` callback).

import type { Logger } from '../log.js';
import type { RemoteRooms } from '../record/mixed-recording.js';
import type { Rooms } from '../room/rooms.js';
import type { MediaEngine } from '../room/engine.js';
import type { Ticket } from '../room/door.js';
import type { TaskCall } from '../api/stream-ingest-service.js';
import { enterTaskUser } from '../api/task-user.js';
import type { RelayEventSink } from '../events/relay-events.js';
import type { MemberRecord, RelayRecord, TaskStore } from '../store/store.js';
import { TakenSessions } from '../room/taken-sessions.js';
import { newTaskId } from '../store/task-id.js';
import type {
  CdnRelayService, RelayChanges, RelayCredentials, RelaySpec, StartResult, UpdateResult,
} from '../api/cdn-relay-service.js';
import { compileHostRules, type HostRules } from '../ingest/pull/host-rules.js';
import { streamUrlRefusal, type Resolver } from '../ingest/pull/url-check.js';
import { agentKey, RelayTask } from './relay-task.js';
import { redact } from './cdn-push.js';
import { decodeResume, encodeResume } from './relay-resume.js';

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
  /** Many nodes: a mix takes the room's publishers on other nodes too (src/cluster/remote-publishers.ts). */
  remote?: RemoteRooms;
  /** Many nodes: this node's id, written into the tasks it runs. */
  node?: string;
  /** Many nodes: runs Update/Stop on the node that runs the relay (src/cluster). */
  elsewhere?: (node: string, call: TaskCall) => Promise<unknown>;
}

export class Relays implements CdnRelayService {
  private readonly live = new Map<string, RelayTask>();
  /** What let each live task's users in (absent: not kept, and the task cannot resume elsewhere). */
  private readonly credentials = new Map<string, RelayCredentials>();
  private readonly rules: HostRules;
  private readonly log: Logger;

  constructor(private readonly o: RelaysOptions) {
    this.rules = compileHostRules(o.config.allow, o.config.deny);
    this.log = o.log.child({ component: 'relay' });
  }

  async start(spec: RelaySpec, ticket: Ticket, feedback: readonly Ticket[] = [], credentials?: RelayCredentials): Promise<StartResult> {
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
    const task = this.makeTask(taskId, spec, ticket, feedback, credentials);
    try {
      await this.o.store.create({
        taskId, sdkAppId: spec.sdkAppId, roomId: spec.roomId, roomIdType: spec.numericRoom ? 0 : 1, userId: spec.agentUserId,
        relayedUserId: spec.userId, urls: spec.urls.length, state: 'running', createdAt: Date.now(), ...(this.o.node ? { node: this.o.node } : {}),
        resume: encodeResume(spec, credentials, -1),
      });
    } catch (err) {
      // not recorded (the shared store is away): the task never ran, and the caller is told
      this.forget(taskId);
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

  /**
   * Many nodes: a dead or draining node's relay, run here under its TaskId from its record's spec (relay-failover.ts
   * let its users in; `handed`: their room sessions a draining node handed over, which they enter under). Its pushes
   * start again as a Start's do (401 Status 1, then 2 once the relayed stream is here), and the record names this
   * node. 'limit' when this node is full (the caller ends the task).
   */
  async adopt(
    taskId: string,
    was: { spec: RelaySpec; credentials: RelayCredentials; sequence: number },
    ticket: Ticket,
    feedback: readonly Ticket[],
    logMsg = 'relay resumed from a dead node',
    handed: readonly MemberRecord[] = [],
  ): Promise<'adopted' | 'limit'> {
    if (this.live.size >= this.o.config.maxTasks) return 'limit';
    // counted here from now on: a relay that fails to start below still makes its users leave (104)
    const taken = handed.length > 0 ? new TakenSessions(this.o.rooms, handed) : undefined;
    const task = this.makeTask(taskId, was.spec, ticket, feedback, was.credentials, was.sequence, taken);
    try {
      await this.o.store.update(taskId, { ...(this.o.node ? { node: this.o.node } : {}) });
      await task.start();
    } catch (err) {
      const reason = `the relay could not start again on node ${this.o.node}: ${(err as Error).message}`;
      this.log.error({ taskId }, reason);
      await task.stop(reason);
      return 'adopted'; // ended with its callbacks, as any relay that fails
    }
    this.log.info({ taskId, sdkAppId: was.spec.sdkAppId, roomId: was.spec.roomId, userId: was.spec.userId, urls: was.spec.urls.map(redact) }, logMsg);
    return 'adopted';
  }

  private makeTask(taskId: string, spec: RelaySpec, ticket: Ticket, feedback: readonly Ticket[], credentials?: RelayCredentials, sequence?: number, taken?: TakenSessions): RelayTask {
    const task = new RelayTask({
      taskId,
      spec,
      ticket,
      feedback,
      rooms: this.o.rooms,
      engine: this.o.engine,
      ...(this.o.remote ? { remote: this.o.remote } : {}),
      events: this.o.events,
      ffmpegPath: this.o.config.ffmpegPath,
      pushWith: this.o.config.pushWith,
      retryMs: this.o.config.retrySeconds * 1000,
      giveUpMs: this.o.config.giveUpSeconds * 1000,
      mergeWaitMs: 2000,
      // a drain handed it to another node, which rewrote the record
      onMoved: () => this.forget(taskId),
      onEnded: (reason) => {
        this.forget(taskId);
        this.o.store.update(taskId, { state: 'ended', endedAt: Date.now(), endReason: reason }).catch((err: unknown) => this.log.warn({ err, taskId }, 'relay record update failed'));
      },
      log: this.log,
      ...(sequence !== undefined ? { sequence } : {}),
      ...(taken ? { taken } : {}),
    });
    this.live.set(taskId, task);
    if (credentials) this.credentials.set(taskId, credentials);
    return task;
  }

  private forget(taskId: string): void {
    this.live.delete(taskId);
    this.credentials.delete(taskId);
  }

  async update(sdkAppId: number, taskId: string, changes: RelayChanges): Promise<UpdateResult> {
    const t = this.find(sdkAppId, taskId);
    if (!t) {
      const owner = await this.runsElsewhere(sdkAppId, taskId);
      if (!owner) return 'not-found';
      // tickets are this node's: the owner's door lets feedbackUsers in again (this node's door already checked them)
      const { feedback: _tickets, ...portable } = changes;
      return (await this.o.elsewhere!(owner, { op: 'relay-update', sdkAppId, taskId, changes: portable })) as UpdateResult;
    }
    if (changes.feedbackUsers && !changes.feedback) {
      changes.feedback = changes.feedbackUsers.map((u) => enterTaskUser(this.o.rooms.door, { sdkAppId, ...u }, 'publish'));
    }
    if (changes.urls) {
      const refused = await this.refusedUrl(changes.urls);
      if (refused) return { refused };
    }
    const r = t.update(changes);
    if (r === 'updated') this.keepSpec(t, changes);
    return r;
  }

  /** After an Update: the record keeps the spec as it now is, for a resume elsewhere (and the URLs for the last 401s). */
  private keepSpec(t: RelayTask, changes: RelayChanges): void {
    const had = this.credentials.get(t.taskId);
    const credentials = had && changes.feedbackUsers ? { ...had, feedback: changes.feedbackUsers } : had;
    if (credentials) this.credentials.set(t.taskId, credentials);
    const { spec, sequence } = t.resumable;
    this.o.store.update(t.taskId, { urls: spec.urls.length, relayedUserId: spec.userId, resume: encodeResume(spec, credentials, sequence) })
      .catch((err: unknown) => this.log.warn({ err, taskId: t.taskId }, 'relay record update failed'));
  }

  /** Many nodes: the node running the relay when it is not this one. */
  private async runsElsewhere(sdkAppId: number, taskId: string): Promise<string | null> {
    if (!this.o.elsewhere) return null;
    const rec = await this.o.store.get(taskId);
    return rec && rec.sdkAppId === sdkAppId && rec.state === 'running' && rec.node && rec.node !== this.o.node ? rec.node : null;
  }

  /** Each live task's app and each of its pushes' last 401 status (none yet: 'starting'), for the metrics. */
  states(): { sdkAppId: number; taskId: string; state: string }[] {
    return [...this.live.values()].flatMap((t) => t.pushStates().map((state) => ({ sdkAppId: t.sdkAppId, taskId: t.taskId, state })));
  }

  async stop(sdkAppId: number, taskId: string): Promise<'stopped' | 'not-found'> {
    const t = this.find(sdkAppId, taskId);
    if (t) {
      await t.stop('StopPublishCdnStream');
      return 'stopped';
    }
    const owner = await this.runsElsewhere(sdkAppId, taskId);
    return owner ? ((await this.o.elsewhere!(owner, { op: 'relay-stop', sdkAppId, taskId })) as 'stopped' | 'not-found') : 'not-found';
  }

  /** How many relays run here, not counting those ending (a drain hands over only when there is one). */
  get size(): number {
    return [...this.live.values()].filter((t) => !t.ended).length;
  }

  /** Whether this node runs the relay now. */
  runs(taskId: string): boolean {
    return this.live.has(taskId);
  }

  /**
   * A drain with many nodes: every relay here stops pushing (no 5/0) and `take` asks node `to` to push it again
   * (relay-failover.ts takeRelayFromDrain), with its users' room sessions, one after another. One `to` does not take
   * ends as at a close (its users' 104, 5 then 0 per URL). Resolves how many moved.
   */
  async handOverAll(to: string, take: (taskId: string, sessions: MemberRecord[]) => Promise<true | string>): Promise<number> {
    let moved = 0;
    for (const task of [...this.live.values()]) {
      if (task.ended) continue;
      if (await this.move(task, (sessions) => take(task.taskId, sessions), (why) => `the gateway drained and node ${to} did not take the relay over (${why})`)) moved++;
    }
    return moved;
  }

  /**
   * Hands `task` over (RelayTask.handOver: stopped here, then `take` asks the other node); true once it runs there.
   * Not taken, it ends with `untaken(why)` as its reason: the taker's refusal, or the error of a request not answered.
   */
  private move(task: RelayTask, take: (sessions: MemberRecord[]) => Promise<true | string>, untaken: (why: string) => string): Promise<boolean> {
    let refusal = 'it did not answer';
    const ask = async (sessions: MemberRecord[]) => {
      const r = await take(sessions);
      if (r !== true) refusal = r;
      return r === true;
    };
    return task.handOver(ask, (err) => untaken(err ? String(err) : refusal));
  }

  /**
   * Many nodes: a single-stream relay goes where its user publishes. One whose user has published on no stream of
   * this node for `graceMs` while the census finds the user on another node (the API call landed here, or the user
   * reconnected elsewhere after a failover) is handed to that node as a drain hands it over: the pushes stop here,
   * then start there (401 Status 1, then 2). A node that refuses it ends it with the usual 401s and the reason.
   * Returns the stop.
   */
  followPublishers(o: {
    where: (room: { sdkAppId: number; roomId: string; numericRoom: boolean }, userId: string) => Promise<string | null>;
    take: (node: string, taskId: string, sessions: MemberRecord[]) => Promise<true | string>;
    graceMs: number;
  }): () => void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.followOnce(o).catch((err: unknown) => this.log.debug({ err: String(err) }, 'relays: where the users publish could not be read')).finally(() => (busy = false));
    }, Math.max(200, Math.floor(o.graceMs / 2)));
    timer.unref();
    return () => clearInterval(timer);
  }

  private async followOnce(o: Parameters<Relays['followPublishers']>[0]): Promise<void> {
    for (const task of [...this.live.values()]) {
      const wait = task.awaiting;
      if (!wait || Date.now() - wait.since < o.graceMs) continue;
      const { sdkAppId, roomId, numericRoom } = task.resumable.spec;
      const node = await o.where({ sdkAppId, roomId, numericRoom }, wait.userId);
      if (!node || !task.awaiting) continue;
      this.log.info({ taskId: task.taskId, userId: wait.userId, to: node }, 'the relayed user publishes on another node: the relay moves there');
      await this.move(task, (sessions) => o.take(node, task.taskId, sessions), (why) => `${wait.userId} publishes on node ${node}, which did not take the relay over (${why})`);
    }
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
      const msg = owner && owner !== this.o.node
        ? `gateway node ${owner} died while relaying; a surviving node ended the task`
        : 'the gateway stopped while relaying; the task ended when it started again';
      await this.endRecord(rec, msg);
      n++;
    }
    return n;
  }

  /** A relay no node runs any more ends: each URL's 401 Status 0 with ErrorCode 2 and `msg`, its record ended. */
  async endRecord(rec: RelayRecord, msg: string): Promise<void> {
    const { urls } = decodeResume(rec.resume);
    for (const url of urls) {
      this.o.events.relay({
        sdkAppId: rec.sdkAppId, roomId: rec.roomId, numericRoom: rec.roomIdType === 0, taskId: rec.taskId, userId: rec.userId,
        url, status: 0, errorCode: 2, errorMsg: msg, at: Date.now(),
      });
    }
    await this.o.store.update(rec.taskId, { state: 'ended', endedAt: Date.now(), endReason: msg });
    this.log.warn({ taskId: rec.taskId, sdkAppId: rec.sdkAppId, roomId: rec.roomId, urls: urls.map(redact) }, `relay ended: ${msg}`);
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
