// One pull-ingest task: ffprobe → ffmpeg child (real-time FLV on stdout) → FLV tag reader → FlvToMedia (the same
// codec policy as RTMP) → the task's Publisher in the room. Once a run's first frame is in the room, the media engine
// reads the rest of that run's output on its own thread, as it reads an RTMP socket: what it does not handle itself
// comes back here as for RTMP (FlvToMedia and the policy decide). The task joins the room with its first tag and keeps
// that Publisher across child restarts (loops, hiccups, pause/resume, a StreamUrl switch), with timestamps made
// continuous, so viewers see one stream. Events: 701 Status 1 for each attempt to start that failed, then Status 2
// for its retry (FAILURE → AGAIN, as Tencent's example orders them), Status 2 alone for the restart of a running
// pull that broke, Status 0 when the first frame reaches the room (once), and 702 Status 0 when the task ends for
// any reason (once). A task refused for good (a codec, a track its user may not send) gets Status 1 and 702.

import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log.js';
import type { Publisher, SocketEvent } from '../../room/publisher.js';
import type { AudioConfig, MediaFrame, MediaSink, VideoConfig } from '../../media/model.js';
import { FlvToMedia } from '../../media/flv-to-media.js';
import type { Refusal } from '../../media/policy.js';
import type { TaskState } from '../../store/store.js';
import type { IngestTaskSpec } from '../../api/stream-ingest-service.js';
import type { Ticket } from '../../room/door.js';
import { JoinRefused } from '../../room/rooms.js';
import { probeSource, type SourceInfo } from './probe.js';
import { ffmpegArgs, planFor, withoutRefusedTracks, type PullPlan } from './ffmpeg-args.js';
import { trackRefusals } from '../../auth/privileges.js';
import { FfmpegRun } from './ffmpeg-run.js';
import { MAX_TAG_BYTES } from './flv-stream-reader.js';
import type { PullTaskDeps, PullTaskView } from './pull-task-types.js';
import { RetrySchedule } from './retry-schedule.js';
import { redactUrl, safeUrl } from './source-url.js';

export type { PullTaskConfig, PullTaskDeps, PullTaskView } from './pull-task-types.js';
export { redactUrl } from './source-url.js';

/** Tags that arrive while the room join is in flight are held, up to this many bytes. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;
/** A run that ends this far before the file's duration lost its connection: resume there instead of looping. */
const EARLY_EOF_MS = 3000;
/** Gap put between the last timestamp of one run and the first of the next. */
const RUN_GAP_MS = 40;
const STALL_CHECK_MS = 1000;

interface RunState {
  run: FfmpegRun;
  media: FlvToMedia;
  seekMs: number;
  firstTs: number | null;
  base: number;
  lastSrcTs: number;
  gotFrame: boolean;
  lastDataAt: number;
  stalled: boolean;
  /** The engine reads this run's output (after its first frame). */
  engine: boolean;
}

export class PullTask {
  readonly taskId: string;
  readonly spec: IngestTaskSpec;
  readonly createdAt = new Date();
  state: TaskState = 'starting';
  private readonly deps: PullTaskDeps;
  private readonly log: Logger;
  /** The user's session in the room; a task resumed after a restart keeps the one its user was counted under. */
  readonly sessionId: string;
  /** Resumed after a restart: its user is still counted in the room from the previous run, under `sessionId`. */
  private readonly resumed: boolean;
  /** RemoveUser or DismissRoom ended the task (its user leaves with 104 Reason 3). */
  private removed = false;
  private generation = 0;
  private info: SourceInfo | null = null;
  private plan: PullPlan | null = null;
  private runState: RunState | null = null;
  private publisher: Publisher | null = null;
  private joining = false;
  private pending: { type: 8 | 9; ts: number; body: Buffer }[] = [];
  private pendingBytes = 0;
  private announcedStart = false;
  private startedAt: Date | null = null;
  private readonly retries: RetrySchedule;
  private loopsDone = 0;
  private restarts = 0;
  /** Where in the source the next run starts (ms). */
  private positionMs: number;
  private lastOutTs = -1;
  private paused = false;
  private lastError: string | null = null;
  /** Aborts the probe of the attempt under way. */
  private attemptAbort: AbortController | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private startTimer: NodeJS.Timeout | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  private pauseTimer: NodeJS.Timeout | null = null;
  private maxDurationTimer: NodeJS.Timeout | null = null;
  /** The task's place among the room's members from its start, so RemoveUser and DismissRoom reach it before it joins. */
  private unbind: (() => void) | null = null;

  constructor(
    taskId: string,
    spec: IngestTaskSpec,
    private readonly ticket: Ticket,
    deps: PullTaskDeps,
    resume?: { sessionId: string },
  ) {
    this.taskId = taskId;
    this.sessionId = resume?.sessionId ?? randomUUID();
    this.resumed = resume !== undefined;
    this.spec = { ...spec };
    this.deps = deps;
    this.positionMs = spec.seekSecond * 1000;
    this.retries = new RetrySchedule(deps.config.startRetryDelaysMs);
    this.log = deps.log.child({ task: taskId.slice(0, 12), sdkAppId: spec.sdkAppId, roomId: spec.roomId, userId: spec.userId });
  }

  get ended(): boolean {
    return this.state === 'ended';
  }

  start(): void {
    if (this.spec.repeatNum === -1 && this.spec.maxDurationMinutes) {
      const ms = this.spec.maxDurationMinutes * this.deps.config.minuteMs;
      this.maxDurationTimer = setTimeout(() => this.end(`MaxDuration of ${this.spec.maxDurationMinutes} min reached`), ms);
      this.maxDurationTimer.unref();
    }
    this.unbind = this.deps.rooms.bindTask(this.ticket, (reason) => {
      if (this.publisher) this.publisher.kicked = true; // its user leaves with 104 Reason 3
      this.removed = true;
      this.end(reason);
    });
    this.log.info({ source: redactUrl(this.spec.streamUrl), resumed: this.resumed }, 'pull task started');
    // TRTC's restart of a pull: 701 Status 2, then Status 0 with the first frame in the room again
    if (this.resumed) this.deps.events.ingest(this.spec.sdkAppId, this.spec.roomId, 701, this.taskId, 2);
    void this.launch();
  }

  // ---- control (API) ----------------------------------------------------------------------------------------

  setVolume(volume: number): void {
    this.spec.volume = volume;
    if (this.publisher) this.publisher.volume = volume;
  }

  setOptions(o: { enableProgress?: boolean; tempo?: number }): void {
    if (o.enableProgress !== undefined) this.spec.enableProgress = o.enableProgress;
    if (o.tempo !== undefined) this.spec.tempo = o.tempo;
  }

  /** Pausing stops the child and keeps the user in the room; resuming continues where it stopped (files). */
  setPaused(paused: boolean): void {
    if (this.ended || paused === this.paused) return;
    this.paused = paused;
    if (paused) {
      this.cancelAttempt();
      this.setState('paused');
      this.pauseTimer = setTimeout(() => this.end(`paused for longer than ${this.deps.config.maxPauseMs / 1000} s`), this.deps.config.maxPauseMs);
      this.pauseTimer.unref();
      this.log.info({ positionMs: this.positionMs }, 'pull task paused');
      return;
    }
    clearTimer(this.pauseTimer);
    this.pauseTimer = null;
    this.retries.reset();
    this.log.info({ positionMs: this.positionMs }, 'pull task resumed');
    void this.launch();
  }

  /** Switches the source without leaving the room: same Publisher, new child, from the new source's start. */
  switchUrl(url: string): void {
    if (this.ended) return;
    this.spec.streamUrl = url;
    this.info = null;
    this.plan = null;
    this.positionMs = 0;
    this.loopsDone = 0;
    this.retries.reset();
    this.cancelAttempt();
    this.log.info({ source: redactUrl(url) }, 'pull task switched its source');
    if (!this.paused) void this.launch();
  }

  /** Ends the task (Stop, kick, RemoveUser, DismissRoom, EOF, failure): child killed, user leaves the room, 702 sent once. */
  end(reason: string): void {
    if (this.ended) return;
    this.cancelAttempt();
    this.setState('ended');
    for (const t of [this.pauseTimer, this.maxDurationTimer]) clearTimer(t);
    this.unbind?.();
    this.pending = [];
    const p = this.publisher;
    this.publisher = null;
    p?.end(reason);
    // a resumed task that never got back into the room: its user, counted since the previous run, leaves now
    if (!p && this.resumed) this.deps.rooms.leaveRestored(this.ticket, this.spec.userId, this.sessionId, this.removed ? 'kicked' : 'normal');
    this.deps.events.ingest(this.spec.sdkAppId, this.spec.roomId, 702, this.taskId, 0);
    this.log.info({ reason }, 'pull task ended');
    this.deps.onEnded(this, reason);
  }

  /**
   * A draining node hands the task to another (many nodes): it stops here without ending — no 702, its record left
   * as it is, its user still in the room for the cluster — for the taker to resume it under the same TaskId and room
   * session. Resolves once the ffmpeg child has exited, so that the taker never pulls while this node still does.
   */
  async handOff(to: string): Promise<void> {
    if (this.ended) return;
    const child = this.runState?.run.exited;
    this.cancelAttempt();
    // ended here, not in the record (setState would write it): the taker goes on from the record
    this.state = 'ended';
    for (const t of [this.pauseTimer, this.maxDurationTimer]) clearTimer(t);
    this.unbind?.();
    this.pending = [];
    const p = this.publisher;
    this.publisher = null;
    if (p) this.deps.rooms.handOver(p, `the pull task moved to node ${to}`);
    else if (this.resumed) this.deps.rooms.handOverRestored(this.ticket, this.spec.userId, this.sessionId);
    this.log.info({ to }, 'pull task handed over: stopped here for another node to resume it');
    await child;
  }

  view(): PullTaskView {
    return {
      taskId: this.taskId,
      sdkAppId: this.spec.sdkAppId,
      roomId: this.spec.roomId,
      userId: this.spec.userId,
      state: this.state,
      source: redactUrl(this.spec.streamUrl),
      plan: this.plan && { video: this.plan.video, audio: this.plan.audio, why: this.plan.why },
      createdAt: this.createdAt.toISOString(),
      startedAt: this.startedAt?.toISOString() ?? null,
      repeat: { done: this.loopsDone, of: this.spec.repeatNum },
      restarts: this.restarts,
      volume: this.spec.volume,
      paused: this.paused,
      lastError: this.lastError,
    };
  }

  // ---- attempts ---------------------------------------------------------------------------------------------

  /** Stops whatever attempt is under way (child, timers, pending continuations); the task itself goes on. */
  private cancelAttempt(): void {
    this.generation++;
    this.attemptAbort?.abort();
    this.attemptAbort = null;
    clearTimer(this.retryTimer);
    this.retryTimer = null;
    this.detachRun();
  }

  /** Forgets the current run (its late output and end are ignored), keeps its position, kills its child. */
  private detachRun(): void {
    clearTimer(this.startTimer);
    clearTimer(this.stallTimer);
    this.startTimer = this.stallTimer = null;
    const rs = this.runState;
    this.runState = null;
    if (!rs) return;
    this.notePosition(rs);
    rs.run.kill();
  }

  private async launch(): Promise<void> {
    const gen = ++this.generation;
    if (this.ended || this.paused) return;
    try {
      const refusal = await this.deps.checkUrl(this.spec.streamUrl);
      if (gen !== this.generation) return;
      if (refusal) return this.attemptFailed(refusal);
      if (!this.plan) {
        const abort = (this.attemptAbort = new AbortController());
        const info = await probeSource(this.deps.config.ffprobePath, this.spec.streamUrl, this.deps.config.startTimeoutMs, abort.signal);
        if (gen !== this.generation) return;
        const probed = planFor(info);
        if (typeof probed === 'string') return this.attemptFailed(probed);
        const plan = this.withoutRefused(probed);
        if (typeof plan === 'string') return this.refusedForGood(plan);
        this.info = info;
        this.plan = plan;
        this.log.info({ video: info.video, audio: info.audio, durationSec: info.durationSec, plan }, 'source probed');
      }
      this.startRun(gen);
    } catch (err) {
      if (gen === this.generation) this.attemptFailed((err as Error).message);
    }
  }

  private startRun(gen: number): void {
    this.detachRun();
    const plan = this.plan!;
    const seekMs = this.seekable() ? this.positionMs : 0;
    const sink = this.runSink();
    const rs: RunState = {
      run: undefined as unknown as FfmpegRun,
      media: new FlvToMedia(sink),
      seekMs,
      firstTs: null,
      base: this.lastOutTs < 0 ? 0 : this.lastOutTs + RUN_GAP_MS,
      lastSrcTs: 0,
      gotFrame: false,
      lastDataAt: Date.now(),
      stalled: false,
      engine: false,
    };
    rs.run = new FfmpegRun(this.deps.config.ffmpegPath, ffmpegArgs(this.spec.streamUrl, plan, seekMs), {
      onTag: (type, ts, body) => {
        if (this.runState === rs) this.onTag(rs, type, ts, body);
      },
      onEnd: (code, signal, detail) => {
        if (this.runState === rs && gen === this.generation) this.onRunEnd(rs, code, signal, detail);
      },
    });
    this.runState = rs;
    this.startTimer = setTimeout(() => {
      if (this.runState !== rs || rs.gotFrame) return;
      this.detachRun();
      this.attemptFailed(`no media arrived within ${this.deps.config.startTimeoutMs} ms`);
    }, this.deps.config.startTimeoutMs);
    this.startTimer.unref();
    this.stallTimer = setInterval(() => this.checkStall(rs), STALL_CHECK_MS);
    this.stallTimer.unref();
  }

  private checkStall(rs: RunState): void {
    if (this.runState !== rs || !rs.gotFrame) return;
    const quietMs = rs.engine && this.publisher ? this.publisher.pipe.msSinceInput() : Date.now() - rs.lastDataAt;
    if (quietMs < this.deps.config.stallTimeoutMs) return;
    rs.stalled = true;
    rs.run.kill(); // onRunEnd treats it as a hiccup
  }

  private onRunEnd(rs: RunState, code: number | null, signal: string | null, detail: string): void {
    this.detachRun();
    const why = rs.stalled
      ? `the source sent nothing for ${this.deps.config.stallTimeoutMs} ms`
      : detail || (signal ? `ffmpeg was killed by ${signal}` : `ffmpeg exited with code ${code}`);
    if (!rs.gotFrame) return this.attemptFailed(why);
    if (code !== 0 || rs.stalled) return this.hiccup(why);
    const duration = this.info?.durationSec;
    if (this.seekable() && duration && this.positionMs < duration * 1000 - EARLY_EOF_MS) {
      return this.hiccup(`the source ended at ${Math.round(this.positionMs / 1000)} s of ${Math.round(duration)} s`);
    }
    this.loopsDone++;
    if (this.spec.repeatNum === -1 || this.loopsDone < this.spec.repeatNum) {
      this.positionMs = 0;
      void this.launch();
      return;
    }
    this.end(this.spec.repeatNum > 1 ? `the source ended after ${this.loopsDone} plays` : 'the source ended');
  }

  /** A running pull broke: restart it (701 Status 2) on the retry schedule. */
  private hiccup(why: string): void {
    this.log.info({ why, positionMs: this.positionMs }, 'pull interrupted; restarting');
    this.attemptFailed(why);
  }

  /**
   * An attempt failed. One that was to start the task is START_FAILURE (701 Status 1), and the retry that follows is
   * START_AGAIN (Status 2): the order of Tencent's example, FAILURE → AGAIN → SUCCESS (trtc-wire.md §6.3), and why
   * its docs say "if you receive failure status three times, check the source URL". A running pull that broke is
   * only restarted: AGAIN alone.
   */
  private attemptFailed(why: string): void {
    if (this.ended) return;
    this.lastError = why;
    // a resumed task was running: its failed attempts are restarts (Status 2 alone), as for a pull that broke
    if (!this.announcedStart && !this.resumed) this.deps.events.ingest(this.spec.sdkAppId, this.spec.roomId, 701, this.taskId, 1);
    const next = this.retries.failed(Date.now());
    if (next) {
      this.deps.events.ingest(this.spec.sdkAppId, this.spec.roomId, 701, this.taskId, 2);
      this.setState(this.announcedStart || this.resumed ? 'reconnecting' : 'retrying');
      this.restarts++;
      this.log.info({ why, attempt: next.attempt, retryInMs: next.waitMs }, 'pull attempt failed; retrying');
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        void this.launch();
      }, next.waitMs);
      this.retryTimer.unref();
      return;
    }
    this.end(this.announcedStart ? `the source broke and could not be resumed: ${why}` : `could not start pulling: ${why}`);
  }

  // ---- media ------------------------------------------------------------------------------------------------

  /** The sink FlvToMedia drives for one run: forwards to the Publisher and notices the first frame. */
  private runSink(): MediaSink {
    return {
      setVideoConfig: (c: VideoConfig) => this.publisher?.setVideoConfig(c),
      setAudioConfig: (c: AudioConfig) => this.publisher?.setAudioConfig(c),
      pushFrame: (f: MediaFrame) => {
        const p = this.publisher;
        if (!p) return;
        p.pushFrame(f);
        const rs = this.runState;
        if (rs && !rs.gotFrame) {
          this.onFirstFrame(rs);
          this.toEngine(rs, p);
        }
      },
      end: () => {},
    };
  }

  private onFirstFrame(rs: RunState): void {
    rs.gotFrame = true;
    clearTimer(this.startTimer);
    this.startTimer = null;
    this.retries.reset();
    this.setState('running');
    if (this.announcedStart) return;
    this.announcedStart = true;
    this.startedAt = new Date();
    this.deps.events.ingest(this.spec.sdkAppId, this.spec.roomId, 701, this.taskId, 0);
    this.log.info({ afterMs: Date.now() - this.createdAt.getTime() }, 'first frame reached the room');
  }

  /** After the read under way, the engine reads the rest of this run's output into `publisher`'s pipe. */
  private toEngine(rs: RunState, publisher: Publisher): void {
    rs.run.handOver((fd, rest) => {
      if (this.runState !== rs || this.publisher !== publisher || rs.firstTs === null) return null;
      publisher.pipe.attachFlv({ fd, leftover: rest, base: rs.base, firstTs: rs.firstTs, maxTagSize: MAX_TAG_BYTES });
      publisher.onSocketEvent = (e) => this.onEngineEvent(rs, publisher, e);
      rs.engine = true;
      return () => publisher.pipe.detachInput();
    });
  }

  /** What the engine hands back while it reads a run's output (as connection.ts handles an RTMP socket's). */
  private onEngineEvent(rs: RunState, publisher: Publisher, e: SocketEvent): void {
    if (this.runState !== rs) return;
    switch (e.kind) {
      case 'media': {
        // a tag the engine does not handle itself (a sequence header, anything unusual): the policy decides; its
        // timestamp is already on the task's clock
        try {
          this.pushTag(rs, e.type, e.timestamp, e.body);
        } finally {
          if (this.runState === rs) publisher.pipe.resume(); // the pipe waits for this
        }
        return;
      }
      case 'ended':
        rs.run.inputEnded();
        return;
      case 'protocol-error':
        rs.run.inputBroken(e.text);
        return;
      case 'message':
        return; // FLV carries no commands
      default: {
        const unhandled: never = e;
        return unhandled;
      }
    }
  }

  private onTag(rs: RunState, type: number, ts: number, body: Buffer): void {
    if (type !== 8 && type !== 9) return; // script data (onMetaData)
    rs.lastDataAt = Date.now();
    if (rs.firstTs === null) rs.firstTs = ts;
    rs.lastSrcTs = ts;
    // One clock across runs: each run continues after the last timestamp the room saw.
    const out = rs.base + Math.max(0, ts - rs.firstTs);
    if (out > this.lastOutTs) this.lastOutTs = out;
    if (!this.publisher) return this.hold(type, out, body);
    this.pushTag(rs, type, out, body);
  }

  private pushTag(rs: RunState, type: 8 | 9, ts: number, body: Buffer): void {
    const refusal = rs.media.push(type, ts, body);
    if (refusal) this.onRefusal(refusal);
  }

  private hold(type: 8 | 9, ts: number, body: Buffer): void {
    if (this.pendingBytes + body.length <= MAX_PENDING_BYTES) {
      this.pending.push({ type, ts, body: Buffer.from(body) }); // the reader reuses its chunks
      this.pendingBytes += body.length;
    }
    if (!this.joining) {
      this.join().catch((err: unknown) => {
        // JoinRefused: the room closed since StartStreamIngest let the user in, and this user may not create it
        if (!(err instanceof JoinRefused)) this.log.error({ err }, 'joining the room failed');
        this.end(`could not join the room: ${(err as Error).message}`);
      });
    }
  }

  private async join(): Promise<void> {
    this.joining = true;
    const url = safeUrl(this.spec.streamUrl);
    const remote = `pull task ${this.taskId.slice(0, 12)} (${url?.host ?? '?'})`;
    const publisher = await this.deps.rooms.addPublisher(this.ticket, { source: 'pull', remote, sessionId: this.sessionId }, (reason) => this.end(reason));
    this.joining = false;
    if (this.ended) {
      publisher.end('the pull task ended while joining');
      return;
    }
    publisher.volume = this.spec.volume;
    this.publisher = publisher;
    const held = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const t of held) {
      const rs = this.runState;
      if (!rs || this.ended) break;
      this.pushTag(rs, t.type, t.ts, t.body);
    }
  }

  /**
   * The codec policy refused something. When that track was copied, ffprobe missed it (B-frames that the SPS did
   * not announce, an unusual AAC flavour): transcode that track and go on from here. Otherwise the source cannot
   * be pulled.
   */
  private onRefusal(refusal: Refusal): void {
    const plan = this.plan!;
    const track = refusal.code === 'audio-codec' ? 'audio' : refusal.code === 'malformed' ? null : 'video';
    if (track && plan[track] === 'copy') {
      this.log.info({ reason: refusal.reason }, `switching ${track} from copy to transcode`);
      plan[track] = 'transcode';
      if (track === 'video') plan.why = 'B-frames or a profile found in the stream';
      this.cancelAttempt();
      void this.launch();
      return;
    }
    this.detachRun();
    if (refusal.code === 'malformed') return this.attemptFailed(refusal.reason);
    this.refusedForGood(refusal.reason);
  }

  /** The plan less the tracks the user's key does not let in, each refusal logged (once: a plan is made once). */
  private withoutRefused(plan: PullPlan): PullPlan | string {
    const refused = trackRefusals(this.ticket.principal.privileges, 'publish');
    for (const kind of ['video', 'audio'] as const) {
      if (refused[kind] && plan[kind] !== 'none') this.log.info({ kind, reason: refused[kind] }, `${kind} is not pulled: the task's user ${refused[kind]}`);
    }
    return withoutRefusedTracks(plan, refused);
  }

  /** Nothing a retry could change (a refused track is all the source has): 701 Status 1 unless started, then 702. */
  private refusedForGood(reason: string): void {
    this.lastError = reason;
    if (!this.announcedStart) this.deps.events.ingest(this.spec.sdkAppId, this.spec.roomId, 701, this.taskId, 1);
    this.end(reason);
  }

  // ---- helpers ----------------------------------------------------------------------------------------------

  /** Files (with a duration) resume where they stopped; live sources restart live. */
  private seekable(): boolean {
    return this.info?.durationSec != null && !this.spec.streamUrl.toLowerCase().startsWith('rtmp:');
  }

  private notePosition(rs: RunState): void {
    const s = rs.engine ? this.publisher?.pipe.stats() : null;
    if (s && s.lastSourceTs >= 0) rs.lastSrcTs = s.lastSourceTs; // the engine read this run's later tags
    if (s && s.lastOutTs > this.lastOutTs) this.lastOutTs = s.lastOutTs;
    if (rs.firstTs !== null) this.positionMs = rs.seekMs + Math.max(0, rs.lastSrcTs - rs.firstTs);
  }

  private setState(state: TaskState): void {
    if (this.state === state || this.state === 'ended') return;
    this.state = state;
    this.deps.onStateChange(this);
  }
}

function clearTimer(t: NodeJS.Timeout | null): void {
  if (t) clearTimeout(t);
}
