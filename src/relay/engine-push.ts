// One attempt of an rtmp:// push URL without a child process: node-media-server's RTMP client connects and publishes
// (src/rtmp-client-internals.ts), then hands the socket to a tap of format 'rtmp' on the relayed feed's pipe, and the
// engine writes each frame as RTMP messages from its own thread (native/src/plane/rtmp_out.h) — one send() a frame.
// The client keeps reading the socket: it answers the server's pings through the tap's queue (tap.send), so its
// messages never land inside one of the engine's, and it hears the server close the session.
//
// The tap outlives the relayed user's pipe: when the user leaves it is detached, and when they return it is attached
// to the new pipe, so the CDN's session and its timeline go on (the tap starts the returning stream one frame after
// the last, from a keyframe, with new sequence headers if the codec config changed). Only a change of the kinds
// relayed (audio that was AAC becoming Opus: the user came back over WHIP) needs a new session.

import type { Logger } from '../log.js';
import type { Pipe, Tap } from '../room/engine.js';
import { tcpSocketFd } from '../node-internals.js';
import { publishRtmp, type PublishedSession } from '../rtmp-client-internals.js';
import { PushDiagnosis } from './push-diagnosis.js';
import { PUSH_ERROR, redact, type AttemptHooks, type PushAttempt, type PushFeed, type TapSource } from './push-attempt.js';

/** A server that answers no step of the session in this long is given up on (ffmpeg's -rw_timeout, the same). */
const STEP_TIMEOUT_MS = 10_000;
/** How often, until the first bytes reach the server, the tap's counter is read to announce RUNNING. */
const RUNNING_POLL_MS = 100;
/** A clean end: how long the server gets to close the session after our deleteStream. */
const CLOSE_WAIT_MS = 2000;

export class EnginePush implements PushAttempt {
  private session: PublishedSession | null = null;
  private tap: Tap | null = null;
  private tapPipe: Pipe | null = null;
  private tapKinds = '';
  private fd = -1;
  private running = false;
  private over = false;
  private poll: NodeJS.Timeout | null = null;
  private readonly diagnosis: PushDiagnosis;

  constructor(
    private readonly url: string,
    private readonly source: TapSource,
    private readonly hooks: AttemptHooks,
    private readonly log: Logger,
  ) {
    this.diagnosis = new PushDiagnosis(url);
  }

  /** The tap first (it keeps the frames since the last keyframe while the session is set up), then the session. */
  start(): void {
    this.sourceChanged();
    void this.open();
  }

  private async open(): Promise<void> {
    let session: PublishedSession;
    try {
      session = await publishRtmp(this.url, STEP_TIMEOUT_MS, (step, app) => this.diagnosis.at(step, app));
    } catch (err) {
      this.diagnosis.failed((err as Error).message);
      return this.end(PUSH_ERROR.connect, this.diagnosis.reason());
    }
    if (this.over) return session.close();
    this.session = session;
    session.socket.setNoDelay(true); // a frame is one write: Nagle would hold small audio messages back
    this.fd = tcpSocketFd(session.socket);
    if (this.fd < 0) return this.end(PUSH_ERROR.spawn, 'the RTMP socket has no file descriptor to hand to the engine');
    try {
      this.tap?.connect(this.fd, session.streamId, session.chunkSize);
    } catch (err) {
      return this.end(PUSH_ERROR.spawn, `the engine could not take the RTMP socket: ${(err as Error).message}`);
    }
    // the client's own messages from now on: behind the engine's, or straight out while no tap exists
    session.handOver((bytes) => {
      if (this.tap) this.tap.send(bytes);
      else if (!session.socket.destroyed) session.socket.write(bytes);
    });
    session.onEnd((why) => {
      this.diagnosis.failed(why);
      this.end(this.running ? PUSH_ERROR.dropped : PUSH_ERROR.connect, this.diagnosis.reason());
    });
    this.sourceChanged();
    this.poll = setInterval(() => this.checkRunning(), RUNNING_POLL_MS);
    this.poll.unref();
  }

  sourceChanged(): void {
    if (this.over) return;
    const feed = this.source.current();
    if (!feed) {
      this.tap?.detach(); // the session stays for the user's return
      this.tapPipe = null;
      return;
    }
    if (this.tap && kindsOf(feed) !== this.tapKinds) {
      return this.end(PUSH_ERROR.dropped, `the relayed stream's tracks changed (${this.tapKinds} → ${kindsOf(feed)}): a new session carries them`);
    }
    if (this.tap && this.tapPipe === feed.pipe) return;
    try {
      if (this.tap) this.tap.attach(feed.pipe);
      else this.tap = this.newTap(feed);
      this.tapPipe = feed.pipe;
      feed.requestKeyframe();
    } catch (err) {
      this.log.warn({ url: redact(this.url), err: (err as Error).message }, 'relay tap not added');
    }
  }

  /** On the published socket, or (still connecting) keeping what it gets until tap.connect. */
  private newTap(feed: PushFeed): Tap | null {
    const s = this.session;
    const kinds = { video: feed.video, audio: feed.audio, format: 'rtmp' as const };
    const tap = s ? feed.pipe.addTap({ ...kinds, fd: this.fd, rtmp: { streamId: s.streamId, chunkSize: s.chunkSize } }) : feed.pipe.addTap(kinds);
    this.tapKinds = kindsOf(feed);
    return tap;
  }

  private checkRunning(): void {
    if (this.running || !this.tap) return;
    if ((this.tap.stats()?.bytesWritten ?? 0) === 0) return;
    this.running = true;
    this.diagnosis.running();
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    this.hooks.running();
  }

  /** Flushes what the socket takes now, says FCUnpublish/deleteStream when the stream ended on a message boundary. */
  async stop(): Promise<void> {
    if (this.over) return;
    this.over = true;
    const session = this.session;
    const whole = this.release();
    if (!session) return;
    if (session.socket.destroyed) return;
    if (!whole) return session.close(); // the stream stops inside a message: nothing more can be said on it
    let t: NodeJS.Timeout | undefined;
    const closed = new Promise<void>((resolve) => {
      session.socket.once('close', () => resolve());
      t = setTimeout(resolve, CLOSE_WAIT_MS);
    });
    session.unpublish();
    session.socket.end();
    await closed;
    clearTimeout(t);
    session.close();
  }

  /** The tap off (its trailer-less flush); true when every byte it had reached the socket. */
  private release(): boolean {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    const left = this.tap?.remove().leftBytes ?? 0;
    this.tap = null;
    this.tapPipe = null;
    return left === 0;
  }

  private end(code: number, why: string): void {
    if (this.over) return;
    this.over = true;
    this.release();
    this.session?.close();
    this.session = null;
    this.hooks.ended(code, why);
  }
}

/** The kinds a tap was made for: it can move to another pipe only with the same. */
function kindsOf(feed: PushFeed): string {
  return `${feed.video ? 'video' : 'no video'}, ${feed.audio || 'no audio'}`;
}
