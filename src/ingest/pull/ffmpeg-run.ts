// One ffmpeg child of a pull task: its FLV output read tag by tag, its complaints kept for the task's error, its end
// reported once (after stdout is drained, so no tag is lost at EOF).

import type { ChildProcess } from 'node:child_process';
import { killChild, spawnTracked } from './child-processes.js';
import { FlvStreamReader } from './flv-stream-reader.js';
import { lastLine } from './probe.js';

export interface FfmpegRunHandlers {
  onTag(type: number, timestampMs: number, body: Buffer): void;
  /** Exactly once. `detail` is ffmpeg's last complaint, a reader error, or ''. */
  onEnd(code: number | null, signal: string | null, detail: string): void;
}

export class FfmpegRun {
  private readonly child: ChildProcess;
  private readonly reader: FlvStreamReader;
  private stderrTail = '';
  private detail = '';
  private ended = false;

  constructor(ffmpegPath: string, args: readonly string[], private readonly handlers: FfmpegRunHandlers) {
    this.reader = new FlvStreamReader((type, ts, body) => handlers.onTag(type, ts, body));
    this.child = spawnTracked(ffmpegPath, args);
    this.child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-2000);
    });
    this.child.once('error', (e) => this.end(null, null, `cannot run ${ffmpegPath}: ${e.message}`));
    this.child.once('close', (code, signal) => this.end(code, signal, ''));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Kills the child; onEnd still follows (with the signal). */
  kill(): void {
    killChild(this.child);
  }

  private onData(chunk: Buffer): void {
    if (this.ended || this.detail) return;
    try {
      this.reader.push(chunk);
    } catch (e) {
      // A broken FLV stream (or a handler error) ends this run; the task decides what happens next.
      this.detail = `ffmpeg output could not be read: ${(e as Error).message}`;
      this.kill();
    }
  }

  private end(code: number | null, signal: string | null, detail: string): void {
    if (this.ended) return;
    this.ended = true;
    this.handlers.onEnd(code, signal, this.detail || detail || lastLine(this.stderrTail));
  }
}
