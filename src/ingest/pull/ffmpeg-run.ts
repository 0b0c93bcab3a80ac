// One ffmpeg child of a pull task: its FLV output read tag by tag, its complaints kept for the task's error, its end
// reported once (after stdout is drained, so no tag is lost at EOF). Once the task's first frame is in the room its
// stdout can be handed to the media engine, which reads the rest on its own thread (handOver); the engine then
// reports the end of the output and a broken stream (inputEnded, inputBroken).

import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { killChild, spawnTracked } from './child-processes.js';
import { FlvStreamReader } from './flv-stream-reader.js';
import { lastLine } from './probe.js';
import { readSocket } from '../../net/socket-reader.js';
import { tcpSocketFd } from '../../node-internals.js';

export interface FfmpegRunHandlers {
  onTag(type: number, timestampMs: number, body: Buffer): void;
  /** Exactly once. `detail` is ffmpeg's last complaint, a reader error, or ''. */
  onEnd(code: number | null, signal: string | null, detail: string): void;
}

/**
 * Takes stdout's fd and the bytes read of the next tag; returns how to stop the engine reading it (called before
 * the fd is closed), or null to keep reading in JavaScript.
 */
export type TakeOutput = (fd: number, rest: Buffer) => (() => void) | null;

export class FfmpegRun {
  private readonly child: ChildProcess;
  private readonly reader: FlvStreamReader;
  private readonly reusedBuffer: boolean;
  private stderrTail = '';
  private detail = '';
  private ended = false;
  private takeOutput: TakeOutput | null = null;
  /** Set while the engine reads stdout: stops it, before the fd is closed. */
  private release: (() => void) | null = null;
  /** Resolves once the child process is gone (a drain hands the task over only then: never two pulls at once). */
  readonly exited: Promise<void>;

  constructor(ffmpegPath: string, args: readonly string[], private readonly handlers: FfmpegRunHandlers) {
    this.reader = new FlvStreamReader((type, ts, body) => handlers.onTag(type, ts, body));
    this.child = spawnTracked(ffmpegPath, args);
    const child = this.child;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve()); // never started
    });
    // one reused read buffer (no Readable machinery per read), which also stops at once when paused: a hand-over
    // to the engine loses nothing
    this.reusedBuffer = readSocket(this.child.stdout as Socket, (chunk) => this.onData(chunk)) === 'reused-buffer';
    this.reader.reusesInput = this.reusedBuffer;
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-2000);
    });
    this.child.once('error', (e) => this.end(null, null, `cannot run ${ffmpegPath}: ${e.message}`));
    this.child.once('close', (code, signal) => this.end(code, signal, ''));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** After the read under way: stdout goes to `take` (see TakeOutput). Ignored where stdout cannot be handed over. */
  handOver(take: TakeOutput): void {
    if (this.reusedBuffer && !this.release && !this.ended) this.takeOutput = take;
  }

  /** The engine read the end of stdout: close it, so that the child's end is reported. */
  inputEnded(): void {
    this.closeOutput();
  }

  /** The engine found the output is not FLV: this run ends with why. */
  inputBroken(why: string): void {
    if (!this.detail) this.detail = `ffmpeg output could not be read: ${why}`;
    this.kill();
  }

  /** Kills the child; onEnd still follows (with the signal). */
  kill(): void {
    killChild(this.child);
    this.closeOutput();
  }

  /** With the engine reading, stdout is closed here (the engine stopped first), or the child's end never comes. */
  private closeOutput(): void {
    if (!this.release) return;
    this.release();
    this.release = () => {}; // still set, so that no later read hands stdout over again
    this.child.stdout?.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.ended || this.detail) return;
    try {
      this.reader.push(chunk);
    } catch (e) {
      // A broken FLV stream (or a handler error) ends this run; the task decides what happens next.
      this.detail = `ffmpeg output could not be read: ${(e as Error).message}`;
      this.kill();
      return;
    }
    if (this.takeOutput) this.giveOutput(this.takeOutput);
  }

  private giveOutput(take: TakeOutput): void {
    this.takeOutput = null;
    const stdout = this.child.stdout as Socket;
    const fd = tcpSocketFd(stdout);
    if (fd < 0) return;
    stdout.pause(); // in the reused-buffer mode this stops reading at once
    const rest = this.reader.takeRest();
    const release = rest ? take(fd, rest) : null;
    if (!release) {
      // nothing taken: go on in JavaScript (takeRest is only refused inside the file header, before any tag)
      if (rest) this.reader.push(rest);
      stdout.resume();
      return;
    }
    this.release = release;
  }

  private end(code: number | null, signal: string | null, detail: string): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.onEnd(code, signal, this.detail || detail || lastLine(this.stderrTail));
  }
}
