// The compositor child (native/mix/compositor.py): every input's picture in its tile, all audio mixed, H.264 + AAC
// in FLV on its stdout, in real time, with inputs added and removed and tiles moved while it runs. This class
// spawns it, owns the FIFOs its inputs arrive through (in a private temp dir, removed at exit), sends it orders on
// stdin and turns its fd-3 events into promises and events.
//
// An input is a FIFO the child reads MPEG-TS from (H.264 with AAC or Opus: the tap's format, tsdemux handles both
// and resynchronises after garbage, and libavformat's MPEG-TS muxer writes each frame at once where Matroska holds
// a cluster back). addInput resolves only once the child has the reading end open, so the writing end can then be
// opened without blocking and without ENXIO; it hands back such an fd too, which this class keeps open until
// removeInput. While it is open, a writer that goes away (a tap removed, a publisher reconnecting) leaves the input
// stalled (its last picture stays) instead of ended.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, closeSync, constants, openSync, rmSync } from 'node:fs';
import { mkdtemp, unlink } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { repoPath } from '../paths.js';
import { orderLine, type CompositorEvent, type CompositorOrder, type CompositorStats, type CompositorTile } from './compositor-protocol.js';

export { tilesFromRects, type CompositorStats, type CompositorTile, type InputStats } from './compositor-protocol.js';

export interface CompositorOptions {
  width: number;
  height: number;
  fps: number;
  /** Bits per second. */
  videoBitrate: number;
  /** Seconds between keyframes (x264's key-int = fps × gop). */
  gop: number;
  /** '#RRGGBB'. */
  background: string;
  sampleRate: 48000 | 44100 | 16000;
  channels: 1 | 2;
  /** Bits per second. */
  audioBitrate: number;
  /** What the inputs carry (default 'mpegts', see above; 'matroska' works too, a cluster later). */
  inputFormat?: 'mpegts' | 'matroska';
  /** How long the mix waits for an input's late frame before going on without it (default 300 ms). */
  latencyMs?: number;
  /** x264's speed preset (default superfast: 4 × 360p into 720p30 in real time on 2 cores, see scripts/bench/mix). */
  preset?: string;
  statsIntervalMs?: number;
  /** Default /usr/bin/python3: a pyenv or venv python3 first on PATH usually lacks Debian's python3-gi. */
  python?: string;
  /** Added to the child's environment (e.g. GST_DEBUG). */
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  stopTimeoutMs?: number;
}

export interface CompositorExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The child's fatal message or last complaint; '' after a clean stop. */
  reason: string;
}

export interface CompositorEvents {
  stats: [CompositorStats];
  'input-stream': [{ id: string; kind: 'video' | 'audio'; codec: 'h264' | 'aac' | 'opus' }];
  /** Every writer closed and the input's streams ended; it stays in the mix (empty) until removeInput. */
  'input-ended': [{ id: string }];
  /** An input the child dropped (garbage, an unsupported codec, nothing decodable): the output goes on. */
  'input-failed': [{ id: string; reason: string }];
  /** An order the child refused (a bad layout); nothing changed. */
  refused: [{ op?: string; id?: string; message: string }];
  exit: [CompositorExit];
}

type Waiter = { resolve: () => void; reject: (e: Error) => void };

const run = promisify(execFile);

export class Compositor extends EventEmitter<CompositorEvents> {
  private child: ChildProcess | null = null;
  private dir = '';
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'exited' = 'new';
  private readonly inputs = new Map<string, { path: string; fd: number }>();
  private readonly waiters = new Map<string, Waiter>(); // 'add:<id>', 'remove:<id>'
  private serial = 0;
  private fatal = '';
  private stderrTail = '';
  private exitInfo: Promise<CompositorExit> | null = null;

  constructor(private readonly options: CompositorOptions) {
    super();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawns the child; resolves once its pipeline runs, with the FLV output to read (read it: a full pipe stalls the mix). */
  async start(): Promise<{ stdout: Socket; pid: number }> {
    if (this.state !== 'new') throw new Error('the compositor was already started');
    this.state = 'starting';
    const o = this.options;
    this.dir = await mkdtemp(join(tmpdir(), 'roomgate-mix-'));
    const python = o.python ?? defaultPython();
    const args = [repoPath('native/mix/compositor.py'), '--width', o.width, '--height', o.height, '--fps', o.fps,
      '--video-bitrate', o.videoBitrate, '--gop', o.gop, '--background', o.background, '--sample-rate', o.sampleRate,
      '--channels', o.channels, '--audio-bitrate', o.audioBitrate, '--input-format', o.inputFormat ?? 'mpegts', '--latency-ms', o.latencyMs ?? 300,
      '--preset', o.preset ?? 'superfast', '--stats-interval-ms', o.statsIntervalMs ?? 1000].map(String);
    // No __pycache__ beside the script: a checkout stays clean and a read-only install does not try.
    const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...o.env };
    const child = spawn(python, args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env });
    this.child = child;
    child.stdin!.on('error', () => {}); // a dead child: its exit says why
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderrTail = (this.stderrTail + d).slice(-4000)));
    const events = createInterface({ input: child.stdio[3] as NodeJS.ReadableStream });
    events.on('line', (line) => this.onEvent(line));
    const eventsDone = new Promise<void>((r) => events.once('close', r));
    const spawnError = new Promise<string>((r) => child.once('error', (e) => r(`cannot run ${python}: ${e.message} (install the Debian package python3, or pass the python option)`)));
    this.exitInfo = new Promise<CompositorExit>((resolve) => {
      let once = false; // a child that could not be spawned may report both 'error' and 'exit'
      const done = (code: number | null, signal: NodeJS.Signals | null, why = '') =>
        void eventsDone.then(() => {
          if (!once) resolve(this.finish(code, signal, why));
          once = true;
        });
      child.once('exit', (code, signal) => done(code, signal));
      void spawnError.then((why) => (events.close(), done(null, null, why)));
    });
    const ready = new Promise<void>((resolve, reject) => this.waiters.set('ready', { resolve, reject }));
    const timer = setTimeout(() => this.kill(), o.readyTimeoutMs ?? 15000);
    try {
      await ready;
    } catch (e) {
      this.kill();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    this.state = 'running';
    return { stdout: child.stdout as Socket, pid: child.pid! };
  }

  /**
   * A new input; resolves with its FIFO's path and a writing fd (both valid until removeInput). `volume` is its audio's
   * gain in the mix from the first sample (1 as it comes, 0 silent).
   */
  async addInput(id: string, kinds: { video?: boolean; audio?: boolean; volume?: number } = {}): Promise<{ path: string; fd: number }> {
    if (this.state !== 'running') throw new Error(`cannot add input ${id}: the compositor is not running`);
    if (this.inputs.has(id) || this.waiters.has(`add:${id}`)) throw new Error(`input ${id} is already in the mix`);
    const path = join(this.dir, `input-${++this.serial}.fifo`);
    await run('mkfifo', ['-m', '600', path]).catch((e: Error) => {
      throw new Error(`cannot make the FIFO for input ${id} (mkfifo, from coreutils): ${e.message}`);
    });
    const added = this.wait(`add:${id}`);
    this.send({ op: 'add', id, path, video: kinds.video ?? true, audio: kinds.audio ?? true, volume: kinds.volume ?? 1 });
    try {
      await added;
    } catch (e) {
      await unlink(path).catch(() => {});
      throw new Error(`input ${id} was refused: ${(e as Error).message}`);
    }
    // The child holds the reading end now, so this open neither blocks nor fails with ENXIO (unless the child died
    // this instant: its exit says why).
    let fd: number;
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      await unlink(path).catch(() => {});
      throw new Error(`input ${id}: cannot open its FIFO for writing: ${(e as Error).message}`);
    }
    this.inputs.set(id, { path, fd });
    return { path, fd };
  }

  /** Takes the input out of the mix (its tile empties, its audio stops); no-op for one that has failed or gone. */
  async removeInput(id: string): Promise<void> {
    if (!this.inputs.has(id) || this.state !== 'running') return;
    const removed = this.wait(`remove:${id}`);
    this.send({ op: 'remove', id });
    await removed.catch(() => {}); // refused only when the child had already dropped it
    this.forget(id);
  }

  /** Changes an input's audio gain in the mix (1 as it comes, 0 silent) while it plays. */
  setVolume(id: string, volume: number): void {
    if (this.state === 'running' && this.inputs.has(id)) this.send({ op: 'volume', id, volume });
  }

  /** Places the inputs' pictures; inputs without a tile are not shown (their audio is still mixed). */
  setLayout(tiles: readonly CompositorTile[], background: string): void {
    if (this.state === 'running') this.send({ op: 'layout', rects: tiles, background });
  }

  /** Ends the output cleanly (the FLV is complete) and waits for the child to exit; kills it past stopTimeoutMs. */
  async stop(): Promise<void> {
    if (!this.exitInfo || this.state === 'exited') return;
    if (this.state !== 'stopping') {
      this.state = 'stopping';
      this.send({ op: 'stop' });
      this.child!.stdin!.end();
    }
    const timer = setTimeout(() => this.kill(), this.options.stopTimeoutMs ?? 10000);
    const exit = await this.exitInfo.finally(() => clearTimeout(timer));
    if (exit.code !== 0) throw new Error(`the compositor did not stop cleanly: ${exit.reason || `exit ${exit.code ?? exit.signal}`}`);
  }

  kill(): void {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  private send(order: CompositorOrder): void {
    this.child?.stdin?.write(orderLine(order));
  }

  private wait(key: string): Promise<void> {
    if (this.state === 'exited') return Promise.reject(new Error('the compositor has exited'));
    return new Promise((resolve, reject) => this.waiters.set(key, { resolve, reject }));
  }

  private settle(key: string, error?: string): boolean {
    const w = this.waiters.get(key);
    if (!w) return false;
    this.waiters.delete(key);
    if (error === undefined) w.resolve();
    else w.reject(new Error(error));
    return true;
  }

  private onEvent(line: string): void {
    let e: CompositorEvent;
    try {
      e = JSON.parse(line) as CompositorEvent;
    } catch {
      return; // not ours (nothing else writes fd 3)
    }
    switch (e.event) {
      case 'ready':
        this.settle('ready');
        break;
      case 'fatal':
        this.fatal = e.message;
        this.settle('ready', e.message);
        break;
      case 'input-added':
        this.settle(`add:${e.id}`);
        break;
      case 'input-failed':
        if (!this.settle(`add:${e.id}`, e.reason) && this.inputs.has(e.id)) {
          this.forget(e.id);
          this.emit('input-failed', { id: e.id, reason: e.reason });
        }
        break;
      case 'input-removed':
        this.settle(`remove:${e.id}`);
        break;
      case 'error':
        if (!(e.op === 'remove' && this.settle(`remove:${e.id}`, e.message))) this.emit('refused', { op: e.op, id: e.id, message: e.message });
        break;
      case 'input-stream':
        this.emit('input-stream', { id: e.id, kind: e.kind, codec: e.codec });
        break;
      case 'input-ended':
        this.emit('input-ended', { id: e.id });
        break;
      case 'stats': {
        const { event: _, ...stats } = e;
        this.emit('stats', stats);
        break;
      }
    }
  }

  private forget(id: string): void {
    const input = this.inputs.get(id);
    if (!input) return;
    this.inputs.delete(id);
    closeSync(input.fd);
    void unlink(input.path).catch(() => {});
  }

  private finish(code: number | null, signal: NodeJS.Signals | null, why: string): CompositorExit {
    this.state = 'exited';
    const lastLine = this.stderrTail.trim().split('\n').pop() ?? '';
    const reason = this.fatal || why || (code === 0 ? '' : lastLine || `exit ${code ?? signal}`);
    for (const key of [...this.waiters.keys()]) this.settle(key, `the compositor exited: ${reason || 'stopped'}`);
    for (const id of [...this.inputs.keys()]) this.forget(id);
    // Synchronously: a caller that exits as soon as stop() resolves would otherwise leave the directory behind.
    rmSync(this.dir, { recursive: true, force: true });
    const exit = { code, signal, reason };
    this.emit('exit', exit);
    return exit;
  }
}

function defaultPython(): string {
  try {
    accessSync('/usr/bin/python3', constants.X_OK);
    return '/usr/bin/python3';
  } catch {
    return 'python3';
  }
}
