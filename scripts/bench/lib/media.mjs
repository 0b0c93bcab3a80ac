// Test media for benchmarks, made once by Debian's ffmpeg and cached under .cache/bench/.

import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * 720p30 H.264 baseline (no B-frames, 1 s GOP) at 2.5 Mb/s + AAC 44.1 kHz stereo, in FLV. Noise on the test
 * pattern makes x264 really spend the bitrate, as a camera would. Scene-cut detection is off: with the noise it
 * fired every ~20 frames (x264 caps keyint_min at keyint/2 + 1), which made the GOP 0.65 s, not 1 s.
 */
export function benchMedia(root, seconds = 30) {
  const dir = join(root, '.cache', 'bench');
  const file = join(dir, `720p30-baseline-2500k-gop30-${seconds}s.flv`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const tmp = file + '.part.flv';
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
    '-t', String(seconds), '-pix_fmt', 'yuv420p',
    '-c:v', 'libx264', '-profile:v', 'baseline', '-preset', 'veryfast', '-g', '30', '-keyint_min', '30', '-sc_threshold', '0',
    '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '2500k',
    '-c:a', 'aac', '-b:a', '128k', '-ac', '2', '-f', 'flv', tmp,
  ], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('ffmpeg could not make the benchmark media');
  renameSync(tmp, file);
  return file;
}

/**
 * A light publisher for benchmarks that need many rooms but not their bitrate (scripts/bench/metrics --media light):
 * 320x180 at 15 fps, 150 kb/s H.264 baseline, 1 s GOP, no audio (a hundred AAC → Opus transcodes alone take about
 * a core of a small machine). Cached under .cache/bench/ like benchMedia.
 */
export function lightBenchMedia(root, seconds = 30) {
  const dir = join(root, '.cache', 'bench');
  const file = join(dir, `180p15-baseline-150k-gop15-noaudio-${seconds}s.flv`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const tmp = file + '.part.flv';
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=15',
    '-t', String(seconds), '-pix_fmt', 'yuv420p',
    '-c:v', 'libx264', '-profile:v', 'baseline', '-preset', 'veryfast', '-g', '15', '-keyint_min', '15', '-sc_threshold', '0',
    '-b:v', '150k', '-maxrate', '150k', '-bufsize', '150k', '-an', '-f', 'flv', tmp,
  ], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('ffmpeg could not make the light benchmark media');
  renameSync(tmp, file);
  return file;
}
