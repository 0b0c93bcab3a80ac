// MixTranscodeParams and MixLayoutParams of CreateCloudRecording / ModifyCloudRecording, checked against
// trtc-egress.md §1.5–1.6 and turned into a MixSpec with every default applied.
//
// Decisions:
// - MixLayoutMode is required in the SDK's typings, but the product documents call the grid the default; a request
//   without MixLayoutParams, or without MixLayoutMode in it, gets the grid (3).
// - "If a sub-object is given, all its fields are required" (VideoParams, AudioParams): a missing one is refused
//   with the common MissingParameter, naming the defaults that omitting the whole sub-object gives.
// - Images (BackgroundImageUrl, DefaultSubBackgroundImage, MixLayout.SubBackgroundImage) and watermarks are refused
//   with FailedOperation.CRUnsupportMethod: the recorder would need to fetch and composite remote images, which it
//   does not. BackgroundImageRenderMode is checked but has nothing to act on without a background image.
// - MixLayoutList outside the custom mode (4) is checked and not used, as TRTC documents it for mode 4 only; mode 4
//   without entries is refused, since it would record an empty canvas.

import { checkUserId } from '../auth/ids.js';
import { Api3Error } from './api3-envelope.js';
import type { MixLayoutSpec, MixRect, MixSpec } from './cloud-recording-service.js';
import {
  asObject, at, bool, choice, int, list, need, object, OUT_OF_RANGE, outOfRange, present, refuseIfSet, string, type Obj,
} from './cloud-recording-fields.js';

const MAX_SIDE = 1920;
const MAX_PIXELS = 1920 * 1080;
const MAX_RECTS = 25;
const MAX_WATERMARKS = 25;
const RENDER_MODES = { 0: 'stretch', 1: 'crop', 2: 'fit with bars', 3: 'crop at most 20 %' } as const;
const STREAMS = { 0: 'main stream', 1: 'aux stream' } as const;
const SAMPLE_RATES = { 1: 48000, 2: 44100, 3: 16000 } as const;
const IMAGES_WHY = 'this gateway composes recordings from the room\'s streams and a background colour only, without images';

export function defaultMixLayout(): MixLayoutSpec {
  return {
    mode: 3, rects: [], background: '#000000', maxResolutionUserId: null, maxResolutionMediaId: 0,
    maxResolutionUserAlign: 0, renderMode: 1, pureAudioDisableLayout: false, placeHolderMode: 0,
  };
}

/**
 * Create's mix: MixTranscodeParams and MixLayoutParams of the request `p`, defaults for what is absent. `fitCanvas`:
 * check that custom pictures fit the canvas (mixed mode; in single-stream mode there is no canvas to fit).
 */
export function mixParams(p: Obj, fitCanvas: boolean): MixSpec {
  const t = object(p, 'MixTranscodeParams', '') ?? {};
  const video = videoParams(object(t, 'VideoParams', 'MixTranscodeParams'));
  const audio = audioParams(object(t, 'AudioParams', 'MixTranscodeParams'));
  const layout = present(p, 'MixLayoutParams') ? layoutParams(p.MixLayoutParams, 'MixLayoutParams', fitCanvas ? video : null) : defaultMixLayout();
  return { video, audio, layout };
}

function allOf(o: Obj, path: string, keys: readonly string[], defaults: string): void {
  for (const key of keys) {
    need(o, key, path, 'MissingParameter', `when ${path} is sent, ${keys.slice(0, -1).join(', ')} and ${keys[keys.length - 1]} are all required (omit ${path} for the defaults: ${defaults})`);
  }
}

function videoParams(o: Obj | undefined): MixSpec['video'] {
  if (!o) return { width: 360, height: 640, fps: 15, bitrate: 550000, gopSec: 10 };
  const path = 'MixTranscodeParams.VideoParams';
  allOf(o, path, ['Width', 'Height', 'Fps', 'BitRate', 'Gop'], '360×640, 15 fps, 550000 bit/s, a key frame every 10 s');
  const width = side(o, 'Width', path);
  const height = side(o, 'Height', path);
  if (width * height > MAX_PIXELS) {
    throw new Api3Error(OUT_OF_RANGE, `${path} asks for ${width}×${height}; Width × Height may be at most 1920 × 1080 (${MAX_PIXELS} pixels).`);
  }
  return {
    width,
    height,
    fps: int(o, 'Fps', path, 1, 60, 'frames per second')!,
    bitrate: int(o, 'BitRate', path, 64000, 8192000, 'bit/s')!,
    // Undocumented range: HLS segments are cut at key frames, so a minute is already far past useful.
    gopSec: int(o, 'Gop', path, 1, 60, 'seconds between key frames')!,
  };
}

/** H.264 in 4:2:0 needs even sides; TRTC states only the 1920 maximum. */
function side(o: Obj, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 2 || v > MAX_SIDE || v % 2 !== 0) {
    throw outOfRange(at(path, key), `an even number of pixels from 2 to ${MAX_SIDE}`, v);
  }
  return v;
}

function audioParams(o: Obj | undefined): MixSpec['audio'] {
  if (!o) return { sampleRate: 48000, channels: 2, bitrate: 64000 };
  const path = 'MixTranscodeParams.AudioParams';
  allOf(o, path, ['SampleRate', 'Channel', 'BitRate'], 'SampleRate 1 (48000 Hz), 2 channels, 64000 bit/s');
  const rate = choice<1 | 2 | 3>(o, 'SampleRate', path, { 1: '48000 Hz', 2: '44100 Hz', 3: '16000 Hz' })!;
  return {
    sampleRate: SAMPLE_RATES[rate],
    channels: choice<1 | 2>(o, 'Channel', path, { 1: 'mono', 2: 'stereo' })!,
    bitrate: int(o, 'BitRate', path, 32000, 128000, 'bit/s')!,
  };
}

/**
 * MixLayoutParams at `path`. `canvas`: the canvas the rects must fit in, when known (Create); ModifyCloudRecording
 * does not repeat the canvas, so there the task checks the fit.
 */
export function layoutParams(v: unknown, path: string, canvas: { width: number; height: number } | null): MixLayoutSpec {
  const o = asObject(v, path);
  refuseIfSet(o, 'BackgroundImageUrl', path, IMAGES_WHY);
  refuseIfSet(o, 'DefaultSubBackgroundImage', path, IMAGES_WHY);
  list(o, 'WaterMarkList', path, MAX_WATERMARKS);
  refuseIfSet(o, 'WaterMarkList', path, 'this gateway does not draw watermarks');
  choice(o, 'BackgroundImageRenderMode', path, RENDER_MODES);
  const mode = choice<1 | 2 | 3 | 4>(o, 'MixLayoutMode', path, { 1: 'floating', 2: 'screen-share', 3: 'grid', 4: 'custom, with MixLayoutList' }) ?? 3;
  const entries = list(o, 'MixLayoutList', path, MAX_RECTS) ?? [];
  const rects = entries.map((e, i) => rect(e, `${path}.MixLayoutList[${i}]`, canvas));
  if (mode === 4 && rects.length === 0) {
    throw new Api3Error(OUT_OF_RANGE, `${path}.MixLayoutMode 4 (custom) needs MixLayoutList with 1 to ${MAX_RECTS} pictures; send them, or choose a template mode (1 floating, 2 screen-share, 3 grid).`);
  }
  const d = defaultMixLayout();
  return {
    mode,
    rects: mode === 4 ? rects : [],
    background: color(o, 'BackGroundColor', path) ?? d.background,
    maxResolutionUserId: userId(o, 'MaxResolutionUserId', path),
    maxResolutionMediaId: choice<0 | 1>(o, 'MediaId', path, STREAMS) ?? d.maxResolutionMediaId,
    maxResolutionUserAlign: choice<0 | 1>(o, 'MaxResolutionUserAlign', path, { 0: 'big picture left', 1: 'big picture right' }) ?? d.maxResolutionUserAlign,
    renderMode: choice<0 | 1 | 2 | 3>(o, 'RenderMode', path, RENDER_MODES) ?? d.renderMode,
    pureAudioDisableLayout: bool(o, 'PureAudioDisableLayout', path) ?? d.pureAudioDisableLayout,
    placeHolderMode: choice<0 | 1>(o, 'PlaceHolderMode', path, { 0: 'off', 1: 'placeholder for silent slots' }) ?? d.placeHolderMode,
  };
}

function rect(v: unknown, path: string, canvas: { width: number; height: number } | null): MixRect {
  const o = asObject(v, path);
  for (const key of ['Top', 'Left', 'Width', 'Height']) {
    need(o, key, path, 'MissingParameter', 'each MixLayoutList entry needs Top, Left, Width and Height, in canvas pixels');
  }
  refuseIfSet(o, 'SubBackgroundImage', path, IMAGES_WHY);
  const r: MixRect = {
    y: int(o, 'Top', path, 0, MAX_SIDE, 'pixels')!,
    x: int(o, 'Left', path, 0, MAX_SIDE, 'pixels')!,
    width: int(o, 'Width', path, 0, MAX_SIDE, 'pixels')!,
    height: int(o, 'Height', path, 0, MAX_SIDE, 'pixels')!,
    userId: userId(o, 'UserId', path),
    alpha: int(o, 'Alpha', path, 0, 255, '0 opaque, 255 fully transparent') ?? 0,
    renderMode: choice<0 | 1 | 2 | 3>(o, 'RenderMode', path, RENDER_MODES) ?? 1,
    mediaId: choice<0 | 1>(o, 'MediaId', path, STREAMS) ?? 0,
    // Undocumented range; a bound keeps nonsense out of the compositor.
    zOrder: int(o, 'ImageLayer', path, 0, 1000, 'smaller is further back') ?? 0,
  };
  if (canvas && (r.x + r.width > canvas.width || r.y + r.height > canvas.height)) {
    throw new Api3Error(
      OUT_OF_RANGE,
      `${path} (Left ${r.x}, Top ${r.y}, Width ${r.width}, Height ${r.height}) does not fit the ${canvas.width}×${canvas.height} canvas: Left + Width must be at most ${canvas.width} and Top + Height at most ${canvas.height}.`,
    );
  }
  return r;
}

function color(o: Obj, key: string, path: string): string | undefined {
  const v = string(o, key, path);
  if (v === undefined) return undefined;
  if (!/^#[0-9A-Fa-f]{6}$/.test(v)) throw outOfRange(at(path, key), 'a colour written #RRGGBB, e.g. #FFA500 for orange', v);
  return v.toUpperCase();
}

function userId(o: Obj, key: string, path: string): string | null {
  const v = string(o, key, path);
  if (v === undefined || v === '') return null;
  const why = checkUserId(v);
  if (why) throw new Api3Error(OUT_OF_RANGE, `${at(path, key)}: ${why}.`);
  return v;
}
