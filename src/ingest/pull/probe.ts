// What a source holds, asked of ffprobe before the pull starts: the first video and audio stream's codec facts and
// whether the source has a duration (a file) or not (live). The plan (copy or transcode) is decided from this.

import { spawnTracked, killChild } from './child-processes.js';
import { inputOptions } from './ffmpeg-args.js';

export interface SourceInfo {
  video: { codec: string; profile: string; hasBFrames: boolean; pixFmt: string; width: number; height: number; fps: number } | null;
  audio: { codec: string; channels: number; sampleRate: number } | null;
  /** Seconds, or null for a live source. */
  durationSec: number | null;
  formatName: string;
}

const MAX_OUTPUT_BYTES = 1024 * 1024;

/** Runs ffprobe on `url`; rejects with an Error whose message is ffprobe's complaint (or the timeout, or the abort). */
export function probeSource(ffprobePath: string, url: string, timeoutMs: number, signal?: AbortSignal): Promise<SourceInfo> {
  const args = ['-hide_banner', '-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', ...inputOptions(), '-i', url];
  return new Promise((resolve, reject) => {
    const child = spawnTracked(ffprobePath, args);
    let out = '';
    let err = '';
    let settled = false;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killChild(child);
      f();
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`ffprobe found no media within ${timeoutMs} ms`))), timeoutMs);
    // A task that is stopped while probing must not leave ffprobe running until its timeout.
    signal?.addEventListener('abort', () => finish(() => reject(new Error('probe cancelled'))), { once: true });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (out.length < MAX_OUTPUT_BYTES) out += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err = (err + d).slice(-2000);
    });
    child.once('error', (e) => finish(() => reject(new Error(`cannot run ${ffprobePath}: ${e.message}`))));
    child.once('close', (code) => {
      finish(() => {
        if (code !== 0) return reject(new Error(lastLine(err) || `ffprobe exited with code ${code}`));
        try {
          resolve(parseProbe(JSON.parse(out)));
        } catch (e) {
          reject(new Error(`ffprobe output was not understood: ${(e as Error).message}`));
        }
      });
    });
  });
}

export function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  profile?: string;
  has_b_frames?: number;
  pix_fmt?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  channels?: number;
  sample_rate?: string;
  disposition?: { attached_pic?: number };
}

export function parseProbe(json: { streams?: ProbeStream[]; format?: { duration?: string; format_name?: string } }): SourceInfo {
  const streams = json.streams ?? [];
  // Cover art in MP3/M4A files is a "video" stream of one picture; it is not video to pull.
  const v = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const a = streams.find((s) => s.codec_type === 'audio');
  const duration = Number(json.format?.duration);
  return {
    video: v
      ? {
          codec: v.codec_name ?? 'unknown',
          profile: v.profile ?? '',
          hasBFrames: (v.has_b_frames ?? 0) > 0,
          pixFmt: v.pix_fmt ?? '',
          width: v.width ?? 0,
          height: v.height ?? 0,
          fps: rate(v.avg_frame_rate) || rate(v.r_frame_rate),
        }
      : null,
    audio: a ? { codec: a.codec_name ?? 'unknown', channels: a.channels ?? 0, sampleRate: Number(a.sample_rate ?? 0) } : null,
    durationSec: Number.isFinite(duration) && duration > 0 ? duration : null,
    formatName: json.format?.format_name ?? '',
  };
}

function rate(r: string | undefined): number {
  const [n, d] = (r ?? '').split('/').map(Number);
  return n && d ? n / d : 0;
}
