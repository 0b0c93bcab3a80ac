// One relay task (StartPublishCdnStream): the agent user follows a room and relays, to each push URL through its own
// CdnPush, either
// - one user's stream as it is (WithTranscoding 0): H.264 copied, AAC copied, WHIP's Opus made AAC by the tap
//   ('opus-to-aac'). The user may leave and return (a reconnect): each push keeps its RTMP session and its tap moves
//   to the new pipe;
// - or the room mixed (WithTranscoding 1): the mixed recordings' compositor (src/record/mixed-recording.ts) composes
//   every publisher but the agent, and the pushes tap its output feed, which never stops while publishers come and go.
//   Every publisher's audio goes in; AudioParams' lists set how loud each is (0 for those not mixed), so an Update of
//   them is heard at once. FeedBackRoomParams' users bring the mix into rooms as publishers (feedback-rooms.ts); the
//   mix leaves them out of itself.
// The task ends on Stop, on shutdown, or after MaxIdleTime away (the relayed user; for a mix, every publisher).

import { KeyframePacer } from '../room/keyframe-pacer.js';
import type { Logger } from '../log.js';
import type { Publisher } from '../room/publisher.js';
import type { MediaEngine, Tap } from '../room/engine.js';
import type { Feed } from '../room/consumer.js';
import { MixedRecording, type RemoteRooms } from '../record/mixed-recording.js';
import type { RoomWatcher, Rooms, Seat } from '../room/rooms.js';
import type { Ticket } from '../room/door.js';
import { roomKey, type RoomRef } from '../room/room-ref.js';
import { RELAY_STATE_NAMES, type RelayEventSink, type RelayStatus } from '../events/relay-events.js';
import { FEEDBACK_NEEDS_MIX, type RelayChanges, type RelaySpec, type SeiSpec, type UpdateResult } from '../api/cdn-relay-service.js';
import { applyAudioLists, mixLevel } from '../api/cdn-relay-audio-lists.js';
import { foreignRoom } from '../api/cdn-relay-room.js';
import { CdnPush, PUSH_ERROR } from './cdn-push.js';
import { FeedBackRooms } from './feedback-rooms.js';
import { SeiInserter } from './sei-inserter.js';
import type { PushFeed, TapSource } from './push-attempt.js';
import type { TakenSessions } from '../room/taken-sessions.js';
import type { MemberRecord } from '../store/store.js';

export interface RelayTaskOptions {
  taskId: string;
  spec: RelaySpec;
  /** The agent user, let in by the room's door: it sits in the room's audience while the task runs. */
  ticket: Ticket;
  /** FeedBackRoomParams: the users the mix enters rooms as (mixed relays only), let in by the door as publishers. */
  feedback: readonly Ticket[];
  rooms: Rooms;
  /** Mixed relays read the compositor's output into a pipe of their own. */
  engine: MediaEngine;
  /** Many nodes: a mix takes the room's publishers on other nodes too (src/cluster/remote-publishers.ts). */
  remote?: RemoteRooms;

  events: RelayEventSink;
  ffmpegPath: string;
  /** rtmp:// URLs pushed by the engine, or every URL through ffmpeg (config relay.pushWith). */
  pushWith: 'engine' | 'ffmpeg';
  /** 401 timing (trtc-egress.md §4.8): an attempt every retryMs, FAILURE after giveUpMs. */
  retryMs: number;
  giveUpMs: number;
  /** A publisher that sends only one of the kinds relayed is relayed with that kind after this wait. */
  mergeWaitMs: number;
  onEnded: (reason: string) => void;
  /** A drain handed the task to another node (handOver): it is no longer this node's, and did not end. */
  onMoved?: () => void;
  log: Logger;
  /** A task resumed on another node: the last SequenceNumber applied there (an Update must still exceed it). */
  sequence?: number;
  /** A drain's taker: the sessions of the agent and the FeedBackRoomParams users the giver handed over (no 103 here). */
  taken?: TakenSessions;
}

/** One relay task per agent user in a room (integer and string rooms apart). */
export function agentKey(room: RoomRef, agentUserId: string): string {
  return `${roomKey(room)}|${agentUserId}`;
}

/** The keyframe interval a relay asks of a publisher that keyframes only on request (WHIP). */
const CDN_GOP_MS = 2000;

export class RelayTask implements RoomWatcher, TapSource {
  /**
   * A WHIP publisher keyframes only on request: a CDN's players need one every GOP (and a server without a GOP cache,
   * like nginx-rtmp, starts a player at the next one), so the relay asks every CDN_GOP_MS. RTMP and pull publishers
   * have their own GOP and are not asked again.
   */
  private readonly pacer = new KeyframePacer(CDN_GOP_MS, CDN_GOP_MS);
  private readonly pushes = new Map<string, CdnPush>();
  private spec: RelaySpec;
  private publisher: Publisher | null = null;
  /** Mixed relays: the compositor's side, and its output feed once attached. */
  private mixed: MixedRecording | null = null;
  private mixedFeed: Feed | null = null;
  /** The feed's kinds are settled (both wanted configs known, or the merge wait passed): taps may start. */
  private ready = false;
  private mergeTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private unwatch: (() => void) | null = null;
  /** The agent user's place in the room (103/104 Role 21), where RemoveUser and DismissRoom find it. */
  private seat: Seat | null = null;
  private readonly room: RoomRef;
  private lastSequence: number;
  /** Each push URL's last status (callback 401), for the metrics. */
  private readonly pushStatus = new Map<string, RelayStatus>();
  private ending: Promise<void> | null = null;
  private awaitingSince = Date.now();
  private readonly log: Logger;
  private readonly feedback: FeedBackRooms;
  /** SeiParams of a mixed relay; null without. */
  private sei: SeiInserter | null = null;

  constructor(private readonly o: RelayTaskOptions) {
    this.spec = o.spec;
    this.lastSequence = o.sequence ?? -1;
    this.room = { sdkAppId: o.spec.sdkAppId, roomId: o.spec.roomId, numericRoom: o.spec.numericRoom };
    this.log = o.log.child({ taskId: o.taskId });
    this.feedback = new FeedBackRooms({ rooms: o.rooms, taskId: o.taskId, log: this.log });
  }

  get taskId(): string {
    return this.o.taskId;
  }

  get sdkAppId(): number {
    return this.spec.sdkAppId;
  }

  /** Room and agent user: one relay task per agent user in a room. */
  get agent(): string {
    return agentKey(this.room, this.spec.agentUserId);
  }

  /** The spec as the Updates have left it, and the last SequenceNumber: what a resume elsewhere starts from. */
  get resumable(): { spec: RelaySpec; sequence: number } {
    return { spec: this.spec, sequence: this.lastSequence };
  }

  get ended(): boolean {
    return this.ending !== null;
  }

  /**
   * A single-stream relay whose user publishes on no stream here: the user, and since when it has waited (many nodes:
   * Relays.followPublishers moves the relay to the user's node). Null for a mix or a relay that has its publisher.
   */
  get awaiting(): { userId: string; since: number } | null {
    if (this.spec.mix || this.publisher || this.ending) return null;
    return { userId: this.spec.userId, since: this.awaitingSince };
  }

  /** Each push's state by the name of its last 401 status ('starting' before the first). */
  pushStates(): string[] {
    return [...this.pushes.keys()].map((url) => {
      const s = this.pushStatus.get(url);
      return s === undefined ? 'starting' : RELAY_STATE_NAMES[s];
    });
  }

  /** Throws when a mixed relay's compositor cannot start (the task is then over before it began). */
  async start(): Promise<void> {
    const { ticket, taken } = this.o;
    if (this.spec.mix) {
      this.feedback.set(this.o.feedback, taken); // before the mix takes the room's publishers: it leaves these out
      if (this.spec.sei) this.setSei(this.spec.sei);
      await this.startMixed();
    }
    this.seat = this.o.rooms.seat(ticket, 'relay', (reason) => void this.stop(reason), taken?.claim(ticket, ticket.userId, 'audience'));
    taken?.release();
    for (const url of this.spec.urls) this.addPush(url);
    this.unwatch = this.o.rooms.watch(this.room, this);
    if (this.mixed) {
      for (const p of this.o.rooms.publishersOf(this.room)) this.publisherJoined(p);
    } else this.follow();
    // MaxIdleTime also counts for a user who is not there yet (setPublisher(null) changes nothing then)
    this.checkIdle();
  }

  private async startMixed(): Promise<void> {
    const agent = this.spec.agentUserId;
    this.mixed = new MixedRecording({
      mix: this.spec.mix!,
      engine: this.o.engine,
      output: {
        attach: (feed) => {
          this.mixedFeed = feed;
          this.feedback.attach(feed);
          feed.rewriteVideo = (frame) => this.sei?.apply(frame) ?? frame;
        },
        media: () => this.checkReady(),
      },
      wants: (userId) => {
        const mixed = userId !== agent && !this.feedback.isFeedback(this.room, userId);
        return { video: mixed, audio: mixed };
      },
      level: (userId) => mixLevel(this.spec.audioLists, userId),
      mergeWaitMs: this.o.mergeWaitMs,
      ...(this.o.remote ? { remote: { rooms: this.o.remote, room: this.room }, onRemote: () => this.checkIdle() } : {}),
      onFailed: (message) => {
        this.log.error(message);
        void this.stop(message);
      },
      log: this.log,
    });
    await this.mixed.start();
  }

  update(c: RelayChanges): UpdateResult {
    if (this.ending) return 'not-found';
    if (c.sequence <= this.lastSequence) return 'outdated';
    const mixed = this.mixed !== null;
    if (c.withTranscoding !== (mixed ? 1 : 0)) {
      return { refused: `WithTranscoding must stay ${mixed ? 1 : 0}: a relay cannot switch between relaying one stream and mixing; start a new task for that.` };
    }
    if (!mixed && c.feedback?.length) return { refused: FEEDBACK_NEEDS_MIX };
    if (mixed && c.userId !== undefined) return { refused: 'SingleSubscribeParams applies to single-stream relays (WithTranscoding 0) only; leave it out.' };
    if (c.video && !this.spec.video) return { refused: 'VideoParams cannot be added to an audio-only relay: a relay cannot switch between audio only and audio with video; start a new task.' };
    if (c.audio && !this.spec.audio) return { refused: 'AudioParams cannot be added to a video-only relay: a relay cannot switch between video only and audio with video; start a new task.' };
    // users of other rooms are refused as Start refuses them (same code, same sentence)
    const foreign = c.rooms ? foreignRoom(c.rooms, this.spec) : null;
    if (foreign) return { refused: foreign.message, code: foreign.code };
    this.lastSequence = c.sequence;
    if (c.urls) {
      // URLs that stay keep their sessions; removed ones say 5 then 0; new ones connect
      for (const [url, push] of this.pushes) {
        if (!c.urls.includes(url)) {
          this.pushes.delete(url);
          void push.stop();
        }
      }
      for (const url of c.urls) {
        const kept = this.pushes.get(url);
        if (kept) kept.revive(this.ready);
        else this.addPush(url);
      }
      this.spec = { ...this.spec, urls: c.urls };
    }
    if (c.layout && this.mixed) {
      this.mixed.setLayout(c.layout);
      this.spec = { ...this.spec, mix: { ...this.spec.mix!, layout: c.layout } };
    }
    if (c.feedback) this.feedback.set(c.feedback);
    if (c.sei) {
      this.setSei(c.sei);
      const { sei: _gone, ...rest } = this.spec;
      this.spec = c.sei.layoutVolume || c.sei.passThrough ? { ...rest, sei: c.sei } : rest;
    }
    if (c.audioLists && this.mixed) {
      this.spec = { ...this.spec, audioLists: applyAudioLists(this.spec.audioLists, c.audioLists) };
      this.mixed.relevel();
    }
    if (c.userId !== undefined && c.userId !== this.spec.userId) {
      this.spec = { ...this.spec, userId: c.userId };
      this.setPublisher(null);
      this.follow();
    } else if (this.ready) for (const p of this.pushes.values()) p.start();
    return 'updated';
  }

  publisherJoined(p: Publisher): void {
    if (this.ending) return;
    if (this.mixed) {
      this.checkIdle();
      if (this.mixes(p.id.userId)) this.mixed.join(p);
      return;
    }
    if (p.id.userId === this.spec.userId) this.setPublisher(p);
  }

  publisherLeft(p: Publisher): void {
    if (this.mixed) {
      this.mixed.leave(p);
      this.checkIdle();
      return;
    }
    if (p === this.publisher) this.setPublisher(null);
  }

  publisherMedia(p: Publisher): void {
    if (this.mixed) return this.mixed.media(p);
    if (p === this.publisher && !this.ready) this.checkReady();
  }

  /** What the pushes tap: the relayed user's publisher, or the compositor's output. */
  private feed(): Feed | null {
    if (this.mixed) return this.mixedFeed;
    const p = this.publisher;
    return p && !p.ended ? p : null;
  }

  /** TapSource: what the pushes tap now — the feed's pipe and the relayed kinds (WHIP's Opus made AAC). */
  current(): PushFeed | null {
    const p = this.feed();
    if (!p || !this.ready) return null;
    const video = this.spec.video && p.video !== null;
    const audio = this.spec.audio && p.audio ? (p.audio.codec === 'AAC' ? 'aac' : 'opus-to-aac') : '';
    if (!video && !audio) return null;
    return { pipe: p.pipe, video, audio, requestKeyframe: () => void p.requestKeyframe() };
  }

  stop(reason: string): Promise<void> {
    this.ending ??= this.end(reason);
    return this.ending;
  }

  private async end(reason: string): Promise<void> {
    await this.halt(false, reason);
    this.log.info({ reason }, 'relay ended');
    this.o.onEnded(reason);
  }

  /**
   * A drain with many nodes (relay-failover.ts takes it): the pushes stop here without their 401s, the agent's and
   * the FeedBackRoomParams users' sessions go with the task (no 104: the taker's users enter under them), then
   * `take` asks another node to push again (401 Status 1, then 2 there). Taken: onMoved; not taken: the users leave
   * (104), each URL says 5 then 0 as at a close, and the task ends with `untaken`. Resolves whether it moved.
   */
  handOver(take: (sessions: MemberRecord[]) => Promise<boolean>, untaken: (err?: unknown) => string): Promise<boolean> {
    let moved = false;
    this.ending ??= (async () => {
      const urls = [...this.pushes.keys()];
      const sessions = await this.halt(true, 'the relay moved to another node');
      let why: unknown;
      try {
        moved = await take(sessions);
      } catch (err) {
        why = err;
      }
      if (moved) {
        this.log.info('relay handed over: stopped here for another node to push it again');
        this.o.onMoved?.();
        return;
      }
      for (const s of sessions) this.o.rooms.leaveUntaken(s);
      const reason = untaken(why);
      for (const url of urls) {
        this.emit(url, 5, PUSH_ERROR.none, '');
        this.emit(url, 0, PUSH_ERROR.none, '');
      }
      this.log.info({ reason }, 'relay ended');
      this.o.onEnded(reason);
    })();
    return this.ending.then(() => moved);
  }

  /**
   * Everything the task runs here stops: its users leave, each push ends its session, the mix. `moving` (a drain's
   * hand-over): no 5/0, and the users' sessions are handed over instead, resolved for the taker.
   */
  private async halt(moving: boolean, reason: string): Promise<MemberRecord[]> {
    this.unwatch?.();
    // at once: DismissRoom's 102 follows everyone's 104, the pushes end after
    const handed: MemberRecord[] = [];
    if (moving) {
      const agent = this.seat?.handOver();
      if (agent) handed.push(agent);
      handed.push(...this.feedback.handOver(reason));
    } else {
      this.seat?.leave('normal');
      this.feedback.stop(reason);
    }
    this.seat = null;
    this.o.taken?.release(); // taken from a drain, the task ended before its agent sat down here: it leaves (104)
    this.pacer.stop();
    for (const t of [this.mergeTimer, this.idleTimer]) if (t) clearTimeout(t);
    // the pushes end first (each ffmpeg flushes what it has), then the compositor
    await Promise.allSettled([...this.pushes.values()].map((p) => p.stop(moving)));
    this.pushes.clear();
    await this.mixed?.stop();
    this.publisher = null;
    return handed;
  }

  /** SeiParams: from the next picture on (an empty spec: none any more). */
  private setSei(spec: SeiSpec): void {
    if (!spec.layoutVolume && !spec.passThrough) {
      this.sei = null;
      return;
    }
    if (this.sei) this.sei.set(spec);
    else this.sei = new SeiInserter(spec, () => this.mixed?.regions() ?? { canvas: { w: 0, h: 0 }, regions: [] });
  }

  /** A mixed relay's input: every publisher of the room but the agent and the relay's own users fed back into it. */
  private mixes(userId: string): boolean {
    return userId !== this.spec.agentUserId && !this.feedback.isFeedback(this.room, userId);
  }

  /** The relayed user's current publisher, if in the room now. */
  private follow(): void {
    const p = this.o.rooms.publishersOf(this.room).find((x) => x.id.userId === this.spec.userId);
    this.setPublisher(p ?? null);
  }

  private setPublisher(p: Publisher | null): void {
    if (p === this.publisher) return;
    this.publisher = p;
    if (!p) this.awaitingSince = Date.now();
    this.ready = false;
    this.pacer.stop();
    if (this.mergeTimer) clearTimeout(this.mergeTimer);
    this.mergeTimer = null;
    this.checkIdle();
    if (p) this.checkReady();
    // gone: the taps come off the old pipe now; each push keeps its session for the user's return
    else for (const push of this.pushes.values()) push.sourceChanged();
  }

  private checkReady(): void {
    const p = this.feed();
    if (!p || this.ready) return;
    const all = (!this.spec.video || p.video !== null) && (!this.spec.audio || p.audio !== null);
    const some = (this.spec.video && p.video !== null) || (this.spec.audio && p.audio !== null);
    if (all) return this.nowReady();
    if (some && !this.mergeTimer) {
      this.mergeTimer = setTimeout(() => {
        this.mergeTimer = null;
        if (this.feed() === p) this.nowReady();
      }, this.o.mergeWaitMs);
      this.mergeTimer.unref();
    }
  }

  private nowReady(): void {
    if (this.mergeTimer) clearTimeout(this.mergeTimer);
    this.mergeTimer = null;
    this.ready = true;
    const p = this.feed();
    if (p && !this.mixed) this.pacer.follow(p);
    for (const push of this.pushes.values()) push.sourceChanged();
  }

  private addPush(url: string): void {
    const push = new CdnPush({
      url,
      ffmpegPath: this.o.ffmpegPath,
      pushWith: this.o.pushWith,
      source: this,
      retryMs: this.o.retryMs,
      giveUpMs: this.o.giveUpMs,
      onStatus: (status, errorCode, errorMsg) => this.emit(url, status, errorCode, errorMsg),
      log: this.log,
    });
    this.pushes.set(url, push);
    if (this.ready) push.start();
  }

  /** AgentParams.MaxIdleTime: counted while the relayed user is away (a mix: while nobody but the agent publishes). */
  private checkIdle(): void {
    const someone = this.mixed
      ? this.o.rooms.publishersOf(this.room).some((p) => this.mixes(p.id.userId)) || this.mixed.remoteCount > 0
      : this.publisher !== null;
    if (someone || this.ending) {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = null;
      return;
    }
    if (this.idleTimer) return;
    const who = this.mixed ? 'the room had no publisher' : `${this.spec.userId} was away`;
    this.idleTimer = setTimeout(() => void this.stop(`${who} for MaxIdleTime (${this.spec.maxIdleTimeSec} s)`), this.spec.maxIdleTimeSec * 1000);
    this.idleTimer.unref();
  }

  private emit(url: string, status: RelayStatus, errorCode: number, errorMsg: string): void {
    const s = this.spec;
    this.pushStatus.set(url, status);
    this.o.events.relay({
      sdkAppId: s.sdkAppId, roomId: s.roomId, numericRoom: s.numericRoom, taskId: this.o.taskId, userId: s.agentUserId,
      url, status, errorCode, errorMsg, at: Date.now(),
    });
  }
}
