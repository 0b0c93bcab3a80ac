// Real media in and out of compositor tests: ffmpeg encoders feeding inputs in real time, and what ffmpeg/ffprobe
// decode from the compositor's FLV (pixels at a time, a tone's amplitude over a window, packet timestamps).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Feed {
  colour: string;
  /** Hz of its sine tone. */
  tone: number;
  audio: 'aac' | 'opus';
  size?: string;
}

/**
 * An ffmpeg encoder writing a solid colour and a tone as MPEG-TS (H.264 + AAC/Opus) into `path`, paced at real
 * time. The top-left quarter of the picture turns white every other second, so a tile that stops following its
 * input (frozen, or showing frames the compositor judged late) is seen.
 */
export function startFeed(path: string, f: Feed, seconds = 40): ChildProcess {
  const audio = f.audio === 'aac' ? ['-c:a', 'aac', '-b:a', '96k'] : ['-c:a', 'libopus', '-b:a', '64k'];
  // -muxdelay 0 and -flush_packets 1: each frame written at once, as the gateway's tap writes them (ffmpeg's CLI
  // holds audio up to 0.7 s and writes in 32 KiB blocks by default).
  const args = ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `color=c=${f.colour}:s=${f.size ?? '320x180'}:r=30`,
    '-f', 'lavfi', '-i', `sine=frequency=${f.tone}:sample_rate=48000`, '-t', String(seconds),
    '-vf', 'drawbox=x=0:y=0:w=iw/2:h=ih/2:color=white:t=fill:enable=lt(mod(t\\,2)\\,1)',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p', ...audio,
    '-muxdelay', '0', '-flush_packets', '1', '-f', 'mpegts', '-y', path];
  return spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** A red picture with a blue band over its left quarter (no audio), to tell the render modes apart. */
export function startBandFeed(path: string, seconds = 20): ChildProcess {
  const args = ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'color=c=red:s=320x180:r=30', '-t', String(seconds),
    '-vf', 'drawbox=x=0:y=0:w=80:h=180:color=blue:t=fill', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30',
    '-pix_fmt', 'yuv420p', '-muxdelay', '0', '-flush_packets', '1', '-f', 'mpegts', '-y', path];
  return spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** MPEG-2 video in MPEG-TS: a valid stream of a codec the compositor does not mix. */
export function startWrongCodecFeed(path: string, seconds = 20): ChildProcess {
  const args = ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=s=320x180:r=30', '-t', String(seconds),
    '-c:v', 'mpeg2video', '-f', 'mpegts', '-y', path];
  return spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The decoded frame nearest `seconds` into the file, as packed RGB. */
export async function frameAt(file: string, seconds: number, width: number): Promise<(x: number, y: number) => [number, number, number]> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-ss', String(seconds), '-i', file, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], {
    encoding: 'buffer', maxBuffer: 64 << 20,
  });
  return (x, y) => {
    const i = (Math.round(y) * width + Math.round(x)) * 3;
    return [stdout[i], stdout[i + 1], stdout[i + 2]];
  };
}

/** Every frame of the file at `fps`, as `width`-wide packed RGB pictures, with their times. */
export async function framesOf(file: string, fps: number, width: number, height: number): Promise<{ t: number; px: (x: number, y: number) => number[] }[]> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', file, '-vf', `fps=${fps},scale=${width}:${height}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], {
    encoding: 'buffer', maxBuffer: 256 << 20,
  });
  const size = width * height * 3;
  return Array.from({ length: Math.floor(stdout.length / size) }, (_, n) => ({
    t: n / fps,
    px: (x: number, y: number) => {
      const i = n * size + (Math.round(y) * width + Math.round(x)) * 3;
      return [stdout[i], stdout[i + 1], stdout[i + 2]];
    },
  }));
}

/** Mono 48 kHz samples of [from, from + seconds). */
export async function pcmAt(file: string, from: number, seconds: number): Promise<Float32Array> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-ss', String(from), '-t', String(seconds), '-i', file, '-vn', '-ac', '1', '-ar', '48000', '-f', 'f32le', '-'], {
    encoding: 'buffer', maxBuffer: 64 << 20,
  });
  return new Float32Array(stdout.buffer, stdout.byteOffset, stdout.length / 4);
}

/** The amplitude of the `hz` component (Goertzel); a whole second of samples puts every integer frequency on a bin. */
export function toneAmplitude(samples: Float32Array, hz: number, rate = 48000): number {
  const k = 2 * Math.cos((2 * Math.PI * hz) / rate);
  let s1 = 0;
  let s2 = 0;
  for (const x of samples) {
    const s0 = x + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (2 * Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - k * s1 * s2))) / samples.length;
}

/** Each stream's packet timestamps in seconds, in file order. */
export async function packetTimes(file: string, stream: 'v' | 'a'): Promise<number[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', stream, '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file], {
    maxBuffer: 64 << 20,
  });
  return stdout.split('\n').filter(Boolean).map(Number);
}

/** The largest step between consecutive timestamps, and where. */
export function largestGap(times: number[]): { gap: number; at: number } {
  let worst = { gap: 0, at: 0 };
  for (let i = 1; i < times.length; i++) if (times[i] - times[i - 1] > worst.gap) worst = { gap: times[i] - times[i - 1], at: times[i - 1] };
  return worst;
}
