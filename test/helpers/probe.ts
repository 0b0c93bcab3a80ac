// Reading recorded files back with Debian's ffprobe and ffmpeg: stream facts, durations, and the average colour of a
// region of a decoded frame (a picture scaled down to one pixel is the region's mean, computed by ffmpeg).

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface ProbedStream {
  codec_type: 'video' | 'audio';
  codec_name: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  start_time?: string;
  duration?: string;
}

export interface Probed {
  streams: ProbedStream[];
  format: { format_name: string; duration?: string; start_time?: string };
}

export async function ffprobe(file: string): Promise<Probed> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file], { maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as Probed;
}

/**
 * Input options for `file`: a playlist without #EXT-X-ENDLIST (a recording cut off by a crash) is live to ffmpeg,
 * which would start 3 segments from the end and wait for more forever; read it from its first segment and give up
 * after two reloads that bring nothing new (ffmpeg 5.1 fails the first segment with fewer). No effect on an ended one.
 */
function inputOptions(file: string): string[] {
  return file.endsWith('.m3u8') ? ['-live_start_index', '0', '-m3u8_hold_counters', '2'] : [];
}

/** Decoded duration in seconds: the last packet's end minus the first's start, over all streams (what a player plays). */
export async function playedSeconds(file: string): Promise<number> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', ...inputOptions(file), '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', file], { maxBuffer: 64 << 20 });
  let first = Infinity;
  let last = -Infinity;
  for (const line of stdout.split('\n')) {
    // MPEG-TS packets print their side data on a line of its own: an empty line, which Number() would read as 0
    if (line.trim() === '') continue;
    const [pts, dur] = line.split(',').map(Number);
    if (pts === undefined || !Number.isFinite(pts)) continue;
    first = Math.min(first, pts);
    last = Math.max(last, pts + (Number.isFinite(dur) ? dur! : 0));
  }
  return last - first;
}

/** How many video packets (frames) a file holds, counted by reading them all. */
export async function videoFrames(file: string): Promise<number> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-count_packets', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', file]);
  return Number(stdout.trim());
}

/**
 * The mean RGB of a region (fractions of the picture: x, y, w, h) of the frame at `atSeconds`. Input may be a file
 * or a playlist.
 */
export async function regionColour(file: string, atSeconds: number, r = { x: 0.25, y: 0.25, w: 0.5, h: 0.5 }): Promise<[number, number, number]> {
  const crop = `crop=iw*${r.w}:ih*${r.h}:iw*${r.x}:ih*${r.y},scale=1:1`;
  const { stdout } = await exec(
    'ffmpeg',
    ['-v', 'error', '-ss', String(atSeconds), '-i', file, '-frames:v', '1', '-vf', crop, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
    { encoding: 'buffer', maxBuffer: 1 << 20 },
  );
  const b = stdout as unknown as Buffer;
  if (b.length < 3) throw new Error(`no frame decoded from ${file} at ${atSeconds} s`);
  return [b[0]!, b[1]!, b[2]!];
}

/** Which of red, green, blue dominates a colour clearly (each solid test colour maps to one), or null. */
export function dominant([r, g, b]: [number, number, number]): 'red' | 'green' | 'blue' | null {
  if (r > 150 && g < 90 && b < 90) return 'red';
  if (g > 150 && r < 90 && b < 90) return 'green';
  if (b > 150 && r < 90 && g < 90) return 'blue';
  return null;
}

/** Euclidean distance between two RGB colours. */
export function colourDistance(a: readonly number[], b: readonly number[]): number {
  return Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!);
}

/** The types of an MP4 file's top-level boxes, in order ('ftyp', 'moov', then a 'moof' + 'mdat' per fragment). */
export async function mp4TopBoxes(file: string): Promise<string[]> {
  const b = await readFile(file);
  const types: string[] = [];
  for (let at = 0; at + 8 <= b.length; ) {
    let size = b.readUInt32BE(at);
    if (size === 1) size = Number(b.readBigUInt64BE(at + 8)); // a 64-bit size follows the type
    types.push(b.toString('latin1', at + 4, at + 8));
    if (size < 8) break; // 0 = to the end of the file
    at += size;
  }
  return types;
}

/** What ffmpeg says while decoding every frame of `file` (a playlist reads its segments): '' when it plays cleanly. */
export async function decodeErrors(file: string): Promise<string> {
  try {
    const { stderr } = await exec('ffmpeg', ['-v', 'error', '-nostdin', ...inputOptions(file), '-i', file, '-f', 'null', '-'], { maxBuffer: 16 << 20 });
    return stderr.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    return (e.stderr || e.message).trim() || 'ffmpeg failed';
  }
}

/** The segments an HLS playlist lists: name and #EXTINF seconds, in order. */
export function playlistSegments(text: string): { name: string; seconds: number }[] {
  const out: { name: string; seconds: number }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^#EXTINF:([\d.]+),/.exec(lines[i]!);
    if (m && lines[i + 1]) out.push({ name: lines[i + 1]!.trim(), seconds: Number(m[1]) });
  }
  return out;
}
