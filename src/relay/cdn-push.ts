// One push URL of a relay task, through its attempts: a session that drops or is refused is tried again. Its states
// are callback 401's (trtc-egress.md §4.8):
//   1 CONNECTING  at each attempt until the URL first runs; a failed attempt is retried `retryMs` (5 s) later;
//   2 RUNNING     once bytes of the stream have reached the server;
//   3 RECOVERING  at each attempt after a running push dropped;
//   4 FAILURE     once: `giveUpMs` (60 s) of attempts since the series' first failure without running again —
//                 the URL then stays down until UpdatePublishCdnStream replaces or re-sends it;
//   5 DISCONNECTING, then 0 IDLE, when the URL is removed (Update, Stop, the task's end).
// ErrorCode and ErrorMsg say which step of the RTMP session failed and why (push-attempt.ts, push-diagnosis.ts).
//
// An attempt pushes through the engine (engine-push.ts: no process, one send() a frame) for rtmp:// URLs, or through
// an ffmpeg child (ffmpeg-push.ts) for rtmps:// URLs, whose TLS is ffmpeg's, and for every URL when the config says
// `relay.pushWith: "ffmpeg"`. One push's failure touches nobody else's.

import type { Logger } from '../log.js';
import type { RelayStatus } from '../events/relay-events.js';
import { EnginePush } from './engine-push.js';
import { FfmpegPush } from './ffmpeg-push.js';
import { PUSH_ERROR, redact, type PushAttempt, type TapSource } from './push-attempt.js';

export { PUSH_ERROR, redact, type TapSource };

export interface CdnPushOptions {
  url: string;
  ffmpegPath: string;
  /** 'engine' pushes rtmp:// URLs from the engine; 'ffmpeg' pushes every URL through an ffmpeg child. */
  pushWith: 'engine' | 'ffmpeg';
  source: TapSource;
  retryMs: number;
  giveUpMs: number;
  onStatus: (status: RelayStatus, errorCode: number, errorMsg: string) => void;
  log: Logger;
}

export class CdnPush {
  private attempt: PushAttempt | null = null;
  private running = false;
  /** Whether this URL has run at all: attempts after that are RECOVERING, before it CONNECTING. */
  private everRan = false;
  private failingSince = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private failed = false;
  private stopped = false;

  constructor(private readonly o: CdnPushOptions) {}

  get url(): string {
    return this.o.url;
  }

  /** The first attempt (the task's source is there), or nothing if one runs already. */
  start(): void {
    if (this.attempt || this.retryTimer || this.failed || this.stopped) return;
    this.next();
  }

  /** UpdatePublishCdnStream sent this URL again: a URL that had failed (4) gets a fresh series of attempts. */
  revive(sourceReady: boolean): void {
    if (!this.failed || this.stopped) return;
    this.failed = false;
    this.failingSince = 0;
    if (sourceReady) this.start();
  }

  /** The relayed publisher changed (joined, returned, left): the tap moves to the new pipe, the RTMP session stays. */
  sourceChanged(): void {
    if (this.stopped || this.failed) return;
    if (!this.attempt) return this.start();
    this.attempt.sourceChanged();
  }

  /**
   * 5 then 0; the session ends cleanly. `quiet`: without the 401s — a draining node's relay handed to another node,
   * which pushes the URL again (relay-failover.ts takes it), so for the app the URL never ended.
   */
  async stop(quiet = false): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (!quiet) this.o.onStatus(5, PUSH_ERROR.none, '');
    const attempt = this.attempt;
    this.attempt = null;
    await attempt?.stop();
    if (!quiet) this.o.onStatus(0, PUSH_ERROR.none, '');
  }

  private next(): void {
    this.retryTimer = null;
    if (this.stopped) return;
    // later attempts were announced by the failure before them, with its reason
    if (this.failingSince === 0 && !this.everRan) this.o.onStatus(1, PUSH_ERROR.none, '');
    const hooks = {
      running: () => {
        if (this.attempt === attempt) this.nowRunning();
      },
      ended: (code: number, why: string) => {
        if (this.attempt === attempt) this.ended(code, why);
      },
    };
    const viaFfmpeg = this.o.pushWith === 'ffmpeg' || !this.o.url.startsWith('rtmp://');
    const attempt: PushAttempt = viaFfmpeg
      ? new FfmpegPush(this.o.url, this.o.ffmpegPath, this.o.source, hooks, this.o.log)
      : new EnginePush(this.o.url, this.o.source, hooks, this.o.log);
    this.attempt = attempt;
    attempt.start();
  }

  private nowRunning(): void {
    this.running = true;
    this.everRan = true;
    this.failingSince = 0;
    this.o.log.info({ url: redact(this.o.url) }, 'relay push running');
    this.o.onStatus(2, PUSH_ERROR.none, '');
  }

  private ended(code: number, why: string): void {
    this.attempt = null;
    const wasRunning = this.running;
    this.running = false;
    if (this.stopped) return;
    // the message may quote the URL with its stream key: the log gets it without
    const logged = why.split(this.o.url).join(redact(this.o.url));
    this.o.log.warn({ url: redact(this.o.url), code, why: logged }, wasRunning ? 'relay push dropped' : 'relay push attempt failed');
    const now = Date.now();
    if (this.failingSince === 0) this.failingSince = now;
    if (code === PUSH_ERROR.spawn || now - this.failingSince >= this.o.giveUpMs) {
      this.failed = true;
      this.o.onStatus(4, code, why);
      return;
    }
    // one announcement per attempt (every retryMs), carrying the reason of the failure before it
    this.o.onStatus(this.everRan ? 3 : 1, code, why);
    const wait = wasRunning ? 0 : this.o.retryMs;
    this.retryTimer = setTimeout(() => this.next(), wait);
    this.retryTimer.unref();
  }
}
