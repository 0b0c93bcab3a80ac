// Real RTMP publishers for tests: Debian's ffmpeg and GStreamer, run as child processes.

import { spawn, type ChildProcess } from 'node:child_process';

export interface Run {
  child: ChildProcess;
  /** Everything the client printed on stderr (and stdout) so far. */
  output(): string;
  /** Resolves with the exit code (or the signal name) once the client has exited. */
  exited: Promise<number | string>;
  /** SIGINT to the client's whole process group (clients that spawn helpers, like xvfb-run, too). */
  stop(): void;
  /** SIGKILL to the whole process group. */
  kill(): void;
}

/** Process groups still running; killed when the test process exits, so no client outlives a failed test. */
const live = new Set<number>();
process.once('exit', () => {
  for (const pid of live) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export function run(cmd: string, args: string[], timeoutMs = 60000): Run {
  // Its own process group, so stop/kill reach everything it started (xvfb-run → Xvfb + obs).
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => signalGroup('SIGKILL'), timeoutMs);
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  live.add(child.pid!);
  child.on('exit', () => live.delete(child.pid!));
  return { child, output: () => out, exited, stop: () => signalGroup('SIGINT'), kill: () => signalGroup('SIGKILL') };
}

export interface FfmpegPushOptions {
  seconds?: number;
  video?: 'baseline' | 'high-bf0' | 'high-bf2' | 'none';
  audio?: boolean;
  size?: string;
  gop?: number;
  /** Real-time pacing (-re): needed for long-lived publishers; off for short bursts. */
  realtime?: boolean;
}

/** `ffmpeg` pushing a test pattern (and a tone) over RTMP with the given encoder settings. */
export function ffmpegPush(url: string, o: FfmpegPushOptions = {}): Run {
  const seconds = o.seconds ?? 3;
  const video = o.video ?? 'baseline';
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'info'];
  if (o.realtime) args.push('-re');
  if (video !== 'none') args.push('-f', 'lavfi', '-i', `testsrc2=size=${o.size ?? '320x240'}:rate=30`);
  if (o.realtime && o.audio !== false) args.push('-re');
  if (o.audio !== false) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100');
  args.push('-t', String(seconds));
  if (video !== 'none') {
    // ultrafast turns CABAC and 8x8dct off, which makes x264 emit a lower profile than asked; veryfast keeps High.
    const preset = video === 'baseline' ? 'ultrafast' : 'veryfast';
    args.push('-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', preset, '-g', String(o.gop ?? 30));
    if (video === 'baseline') args.push('-profile:v', 'baseline');
    if (video === 'high-bf0') args.push('-profile:v', 'high', '-bf', '0');
    if (video === 'high-bf2') args.push('-profile:v', 'high', '-bf', '2');
  } else {
    args.push('-vn');
  }
  if (o.audio !== false) args.push('-c:a', 'aac', '-b:a', '64k');
  else args.push('-an');
  args.push('-f', 'flv', url);
  return run('ffmpeg', args, (seconds + 30) * 1000);
}

export interface ColourPushOptions {
  /** The tone's frequency (Hz); 440 by default. */
  hz?: number;
  /** Frames per second, also the GOP in frames (a keyframe a second); 30 by default. */
  fps?: number;
  sampleRate?: number;
  audioBitrate?: string;
}

/**
 * ffmpeg publishing a solid colour (320×240) and a tone over RTMP in real time for `seconds`: a publisher whose
 * recording or relay can be told from others' by one decoded pixel and one frequency.
 */
export function ffmpegPushColour(url: string, colour: string, seconds: number, o: ColourPushOptions = {}): Run {
  const fps = o.fps ?? 30;
  return run('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `color=c=${colour}:size=320x240:rate=${fps}`,
    '-re', '-f', 'lavfi', '-i', `sine=frequency=${o.hz ?? 440}:sample_rate=${o.sampleRate ?? 44100}`, '-t', String(seconds),
    '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(fps), '-c:a', 'aac', '-b:a', o.audioBitrate ?? '64k',
    '-f', 'flv', url,
  ], (seconds + 30) * 1000);
}
