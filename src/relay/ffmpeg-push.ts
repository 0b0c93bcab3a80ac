// One attempt of a push URL through an ffmpeg child: it reads MPEG-TS on its stdin (written by an fd-mode tap on the
// relayed feed's pipe) and pushes it as FLV over RTMP(S), copying both codecs. The relay's pushes to rtmps:// URLs go
// this way (TLS is ffmpeg's); rtmp:// URLs go through the engine (engine-push.ts) unless `relay.pushWith` is
// 'ffmpeg'. Why an attempt ended is read from ffmpeg's log (push-diagnosis.ts). A child never outlives the gateway
// (child-processes.ts).

import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import type { Tap } from '../room/engine.js';
import { killChild, spawnTracked } from '../ingest/pull/child-processes.js';
import { tcpSocketFd } from '../node-internals.js';
import { PushDiagnosis } from './push-diagnosis.js';
import { PUSH_ERROR, redact, type AttemptHooks, type PushAttempt, type TapSource } from './push-attempt.js';

export class FfmpegPush implements PushAttempt {
  private child: ChildProcess | null = null;
  private tap: Tap | null = null;
  private fd = -1;
  private running = false;
  private stopped = false;
  private readonly diagnosis: PushDiagnosis;

  constructor(
    private readonly url: string,
    private readonly ffmpegPath: string,
    private readonly source: TapSource,
    private readonly hooks: AttemptHooks,
    private readonly log: Logger,
  ) {
    this.diagnosis = new PushDiagnosis(url);
  }

  start(): void {
    const child = spawnTracked(this.ffmpegPath, ffmpegArgs(this.url), { stdin: 'pipe' });
    this.child = child;
    child.stdin!.on('error', () => {}); // EPIPE when ffmpeg exits: its exit says why
    this.fd = tcpSocketFd(child.stdin!);
    lines(child.stdout!, (line) => {
      if (line.startsWith('total_size=') && Number(line.slice(11)) > 0 && !this.running && this.child === child) {
        this.running = true;
        this.diagnosis.running();
        this.hooks.running();
      }
    });
    lines(child.stderr!, (line) => this.diagnosis.line(line));
    child.once('error', (e) => this.ended(child, PUSH_ERROR.spawn, `cannot run ${this.ffmpegPath}: ${e.message}`));
    child.once('exit', (code, signal) => {
      this.ended(child, this.running ? PUSH_ERROR.dropped : PUSH_ERROR.connect, this.diagnosis.reason(String(code ?? signal)));
    });
    this.sourceChanged();
  }

  /** A new MPEG-TS tap on the current feed (ffmpeg re-bases a returning publisher's timestamps). */
  sourceChanged(): void {
    this.tap?.remove();
    this.tap = null;
    if (this.fd < 0 || !this.child) return;
    const feed = this.source.current();
    if (!feed) return;
    try {
      this.tap = feed.pipe.addTap({ fd: this.fd, video: feed.video, audio: feed.audio, format: 'mpegts' });
      feed.requestKeyframe(); // a WHIP publisher can send one now, so the CDN's picture does not wait a whole GOP
    } catch (err) {
      this.log.warn({ url: redact(this.url), err: (err as Error).message }, 'relay tap not added');
    }
  }

  /** The child's stdin closed, so ffmpeg flushes and closes the RTMP session; killed if it lingers. */
  async stop(): Promise<void> {
    this.stopped = true;
    const child = this.child;
    this.tap?.remove();
    this.tap = null;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin?.destroy();
    const t = setTimeout(() => killChild(child), 3000);
    await exited;
    clearTimeout(t);
  }

  private ended(child: ChildProcess, code: number, why: string): void {
    if (this.child !== child) return;
    this.child = null;
    this.tap?.remove();
    this.tap = null;
    this.fd = -1;
    if (!this.stopped) this.hooks.ended(code, why);
  }
}

/**
 * `-c copy` from MPEG-TS to FLV. The log level tags each line and shows the RTMP session's steps (push-diagnosis.ts);
 * -nostats keeps the once-a-second status line (an info line) out of it: -progress reports on stdout instead.
 * Without -copyts, ffmpeg re-bases input timestamps that jump by more than -dts_delta_threshold seconds (MPEG-TS is a
 * "discontinuous" format), so when the tap moves to a returning publisher whose clock restarted, the CDN sees one
 * continuous timeline; 1 s catches any reconnect.
 */
export function ffmpegArgs(url: string): string[] {
  return [
    '-hide_banner', '-loglevel', 'level+debug', '-nostats', '-nostdin', '-progress', 'pipe:1', '-stats_period', '0.5',
    '-analyzeduration', '1000000', '-dts_delta_threshold', '1',
    '-f', 'mpegts', '-i', 'pipe:0',
    '-map', '0', '-c', 'copy', '-rw_timeout', '10000000', '-f', 'flv', url,
  ];
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
