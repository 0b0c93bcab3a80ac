// The pull plan and the ffmpeg command line. H.264 without B-frames (4:2:0, 8 bit, so browsers decode it) is
// copied; anything else is transcoded to baseline H.264 with a 1 s GOP, tuned for latency. AAC is copied; other
// audio (Opus, MP3, …) becomes AAC for the FLV pipe, and the room turns AAC into Opus (and applies Volume) natively.

import type { SourceInfo } from './probe.js';
import type { TrackRefusals } from '../../auth/privileges.js';

export type TrackPlan = 'copy' | 'transcode' | 'none';

export interface PullPlan {
  video: TrackPlan;
  audio: TrackPlan;
  /** Frames per second for the transcoder's GOP (1 s). */
  fps: number;
  /** More than two audio channels are mixed down to stereo when transcoding. */
  downmix: boolean;
  /** Why video is transcoded, for logs and the task view. */
  why: string;
}

/** Network I/O that stalls this long fails the run (µs, ffmpeg's unit), so no child waits forever. */
const RW_TIMEOUT_US = 10_000_000;
/**
 * How long ffmpeg's muxer may hold one kind back waiting for the other (µs). Its default, 10 s, makes a source whose
 * audio pauses (a muted segment, an ad break with no sound) freeze its video too: the muxer queues the video until
 * audio comes back, then sends the held seconds in one burst. Viewers then see a frozen picture, and the room's track
 * watch (src/room/track-watch.ts) sees both kinds stop — no 204 — or, by chance of its 1 s poll landing between the
 * burst and the returning audio, a late 204. 0.5 s still interleaves sources of 2 fps and more as before; only a
 * kind that pauses lets the other through, at most this late.
 */
const MAX_INTERLEAVE_DELTA_US = 500_000;
/** Only network protocols: an HLS playlist must not make ffmpeg open file:// or other local resources. */
const PROTOCOL_WHITELIST = 'http,https,tcp,tls,crypto,rtmp,httpproxy';
/** Larger pictures are scaled down when transcoding anyway (TRTC's limit for pulled streams is 1080p). */
const MAX_WIDTH = 1920;
const MAX_HEIGHT = 1080;

const BROWSER_PIX_FMTS = new Set(['yuv420p', 'yuvj420p']);
const COPYABLE_PROFILES = /^(constrained baseline|baseline|main|high|extended)?$/i;

/**
 * Options that go before `-i` for ffprobe and ffmpeg alike. `-fpsprobesize 0`: estimating the frame rate makes
 * both wait for many frames, which on a live source costs over a second each (measured: live HTTP-FLV probe
 * 1255 → 84 ms); the rate is only needed for the transcoder's GOP and comes from the container when it is known.
 */
export function inputOptions(): string[] {
  return ['-protocol_whitelist', PROTOCOL_WHITELIST, '-rw_timeout', String(RW_TIMEOUT_US), '-fpsprobesize', '0'];
}

/** The plan for a probed source, or a sentence saying why it cannot be pulled. */
export function planFor(info: SourceInfo): PullPlan | string {
  if (!info.video && !info.audio) return 'the source has neither audio nor video';
  let video: TrackPlan = 'none';
  let why = '';
  const v = info.video;
  if (v) {
    if (v.codec !== 'h264') why = `${v.codec} video`;
    else if (v.hasBFrames) why = 'H.264 with B-frames';
    else if (v.pixFmt && !BROWSER_PIX_FMTS.has(v.pixFmt)) why = `H.264 in ${v.pixFmt}`;
    else if (!COPYABLE_PROFILES.test(v.profile)) why = `H.264 ${v.profile} profile`;
    else if (v.width > MAX_WIDTH || v.height > MAX_HEIGHT) why = `H.264 larger than ${MAX_WIDTH}x${MAX_HEIGHT}`;
    video = why ? 'transcode' : 'copy';
  }
  const a = info.audio;
  const audio: TrackPlan = !a ? 'none' : a.codec === 'aac' ? 'copy' : 'transcode';
  const fps = v && v.fps > 0 && v.fps <= 120 ? Math.round(v.fps) : 30;
  return { video, audio, fps, why, downmix: (a?.channels ?? 0) > 2 };
}

/**
 * The plan without the tracks the task's user may not send (its PrivateMapKey lacks send-video or send-audio): ffmpeg
 * then never reads them. A sentence instead when nothing the source has is left.
 */
export function withoutRefusedTracks(plan: PullPlan, refused: TrackRefusals): PullPlan | string {
  const out = { ...plan };
  for (const kind of ['video', 'audio'] as const) if (refused[kind]) out[kind] = 'none';
  if (out.video !== 'none' || out.audio !== 'none') return out;
  const had = (['video', 'audio'] as const).filter((k) => plan[k] !== 'none');
  return `the source has ${had.join(' and ')} only, and the task's user ${had.map((k) => refused[k]).join('; and ')}`;
}

/** The ffmpeg arguments for one run: read `url` in real time from `seekMs`, write FLV to stdout. */
export function ffmpegArgs(url: string, plan: PullPlan, seekMs: number): string[] {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', ...inputOptions(), '-re'];
  if (seekMs > 0) args.push('-ss', (seekMs / 1000).toFixed(3));
  args.push('-i', url);
  if (plan.video !== 'none') args.push('-map', '0:v:0');
  if (plan.audio !== 'none') args.push('-map', '0:a:0');
  if (plan.video === 'copy') args.push('-c:v', 'copy');
  if (plan.video === 'transcode') {
    const gop = String(plan.fps);
    args.push(
      '-vf', `scale='min(${MAX_WIDTH},iw)':'min(${MAX_HEIGHT},ih)':force_original_aspect_ratio=decrease:force_divisible_by=2`,
      '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p',
      '-g', gop, '-keyint_min', gop, '-sc_threshold', '0', '-bf', '0',
    );
  }
  if (plan.video === 'none') args.push('-vn');
  if (plan.audio === 'copy') args.push('-c:a', 'copy');
  if (plan.audio === 'transcode') args.push('-c:a', 'aac', '-b:a', '128k', ...(plan.downmix ? ['-ac', '2'] : []));
  if (plan.audio === 'none') args.push('-an');
  args.push('-sn', '-dn', '-max_interleave_delta', String(MAX_INTERLEAVE_DELTA_US), '-f', 'flv', '-flvflags', 'no_duration_filesize', '-flush_packets', '1', 'pipe:1');
  return args;
}
