// One push URL of a relay task: an ffmpeg child that reads MPEG-TS on its stdin (written by an fd-mode tap on the
// relayed publisher's pipe) and pushes it as FLV over RTMP(S), copying both codecs. Its states are callback 401's
// (trtc-egress.md §4.8):
//   1 CONNECTING  at each attempt until the URL first runs; a failed attempt is retried `retryMs` (5 s) later;
//   2 RUNNING     once ffmpeg has written bytes to the server (its -progress total_size rises above 0);
//   3 RECOVERING  at each attempt after a running push dropped;
//   4 FAILURE     once: `giveUpMs` (60 s) of attempts since the series' first failure without running again —
//                 the URL then stays down until UpdatePublishCdnStream replaces or re-sends it;
//   5 DISCONNECTING, then 0 IDLE, when the URL is removed (Update, Stop, the task's end).
// ErrorCode (the reference lists no values, §9.11): 0 none, 1 the attempt ended before the server took the stream
// (refused, unreachable, bad app/key), 2 a running push dropped, 3 ffmpeg itself could not run. ErrorMsg says which
// step of the RTMP session failed and why (push-diagnosis.ts), e.g. that the server has no such application.
//
// A push never outlives the gateway (child-processes.ts) and one push's failure touches nobody else's.

import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import type { Tap } from '../room/engine.js';
import type { RelayStatus } from '../events/relay-events.js';
import { killChild, spawnTracked } from '../ingest/pull/child-processes.js';
import { tcpSocketFd } from '../node-internals.js';
import { PushDiagnosis } from './push-diagnosis.js';

export const PUSH_ERROR = { none: 0, connect: 1, dropped: 2, spawn: 3 } as const;

export interface TapSource {
  /** An fd-mode MPEG-TS tap into `fd` on the relayed publisher's pipe; null while there is none (away, no config yet). */
  tapInto(fd: number): Tap | null;
}

export interface CdnPushOptions {
  url: string;
  ffmpegPath: string;
  source: TapSource;
  retryMs: number;
  giveUpMs: number;
  onStatus: (status: RelayStatus, errorCode: number, errorMsg: string) => void;
  log: Logger;
}

export class CdnPush {
  private child: ChildProcess | null = null;
  private tap: Tap | null = null;
  private fd = -1;
  private running = false;
  /** Whether this URL has run at all: attempts after that are RECOVERING, before it CONNECTING. */
  private everRan = false;
  private failingSince = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private failed = false;
  private stopped = false;
  /** Follows the current attempt's log, to say why it ended. */
  private diagnosis: PushDiagnosis | null = null;

  constructor(private readonly o: CdnPushOptions) {}

  get url(): string {
    return this.o.url;
  }

  /** The first attempt (the task's source is there), or nothing if one runs already. */
  start(): void {
    if (this.child || this.retryTimer || this.failed || this.stopped) return;
    this.attempt();
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
    if (!this.child) return this.start();
    this.retap();
  }

  /** 5 then 0, the child ends (its stdin closed, so ffmpeg flushes; killed if it lingers). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.o.onStatus(5, PUSH_ERROR.none, '');
    await this.endChild();
    this.o.onStatus(0, PUSH_ERROR.none, '');
  }

  private attempt(): void {
    this.retryTimer = null;
    if (this.stopped) return;
    // later attempts were announced by the failure before them, with its reason
    if (this.failingSince === 0 && !this.everRan) this.o.onStatus(1, PUSH_ERROR.none, '');
    const child = spawnTracked(this.o.ffmpegPath, ffmpegArgs(this.o.url), { stdin: 'pipe' });
    this.child = child;
    const diagnosis = (this.diagnosis = new PushDiagnosis(this.o.url));
    child.stdin!.on('error', () => {}); // EPIPE when ffmpeg exits: its exit says why
    this.fd = tcpSocketFd(child.stdin!);
    lines(child.stdout!, (line) => {
      if (line.startsWith('total_size=') && Number(line.slice(11)) > 0 && !this.running && this.child === child) this.nowRunning();
    });
    lines(child.stderr!, (line) => diagnosis.line(line));
    child.once('error', (e) => this.childEnded(child, PUSH_ERROR.spawn, `cannot run ${this.o.ffmpegPath}: ${e.message}`));
    child.once('exit', (code, signal) => {
      this.childEnded(child, this.running ? PUSH_ERROR.dropped : PUSH_ERROR.connect, diagnosis.reason(String(code ?? signal)));
    });
    this.retap();
  }

  private retap(): void {
    this.tap?.remove();
    this.tap = null;
    if (this.fd < 0 || !this.child) return;
    try {
      this.tap = this.o.source.tapInto(this.fd);
    } catch (err) {
      this.o.log.warn({ url: redact(this.o.url), err: (err as Error).message }, 'relay tap not added');
    }
  }

  private nowRunning(): void {
    this.running = true;
    this.diagnosis?.running();
    this.everRan = true;
    this.failingSince = 0;
    this.o.log.info({ url: redact(this.o.url) }, 'relay push running');
    this.o.onStatus(2, PUSH_ERROR.none, '');
  }

  private childEnded(child: ChildProcess, code: number, why: string): void {
    if (this.child !== child) return;
    this.child = null;
    this.tap?.remove();
    this.tap = null;
    this.fd = -1;
    const wasRunning = this.running;
    this.running = false;
    if (this.stopped) return;
    // ffmpeg's message may quote the URL with its stream key: the log gets it without
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
    this.retryTimer = setTimeout(() => this.attempt(), wait);
    this.retryTimer.unref();
  }

  private async endChild(): Promise<void> {
    const child = this.child;
    this.tap?.remove();
    this.tap = null;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin?.destroy(); // EOF: ffmpeg writes what it has and closes the RTMP session
    const t = setTimeout(() => killChild(child), 3000);
    await exited;
    clearTimeout(t);
  }
}

/**
 * `-c copy` from MPEG-TS to FLV. The log level tags each line and shows the RTMP session's steps (push-diagnosis.ts);
 * -nostats keeps the once-a-second status line (an info line) out of it: -progress reports on stdout instead. Without -copyts, ffmpeg re-bases input timestamps that jump by more than
 * -dts_delta_threshold seconds (MPEG-TS is a "discontinuous" format), so when the tap moves to a returning
 * publisher whose clock restarted, the CDN sees one continuous timeline; 1 s catches any reconnect.
 */
export function ffmpegArgs(url: string): string[] {
  return [
    '-hide_banner', '-loglevel', 'level+debug', '-nostats', '-nostdin', '-progress', 'pipe:1', '-stats_period', '0.5',
    '-analyzeduration', '1000000', '-dts_delta_threshold', '1',
    '-f', 'mpegts', '-i', 'pipe:0',
    '-map', '0', '-c', 'copy', '-rw_timeout', '10000000', '-f', 'flv', url,
  ];
}

/** A push URL for logs: its stream key (the path's last part, often a secret) is not written out. */
export function redact(url: string): string {
  const i = url.lastIndexOf('/');
  return i > url.indexOf('//') + 1 ? `${url.slice(0, i + 1)}…` : url;
}

function lines(stream: Readable, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split(/\r?\n|\r/);
    rest = parts.pop() ?? '';
    if (rest.length > 4096) rest = '';
    for (const p of parts) onLine(p);
  });
}
