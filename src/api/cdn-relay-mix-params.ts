// WithTranscoding 1 (a mixed relay): AudioParams.AudioEncode, VideoParams.VideoEncode and VideoParams.LayoutParams
// (trtc-egress.md §4.2) read into the same MixSpec a mixed recording uses, so one compositor serves both.
//
// Decisions: the compositor makes LC-AAC at 48000, 44100 or 16000 Hz and always a picture, so other sample rates,
// HE-AAC and an audio-only mixed relay (no VideoParams) are refused with CRUnsupportMethod, as are images and
// watermarks. Template RenderMode 0 crop → crop, 1/2 scale → fit with bars (the bars are the background colour).
// Without RenderMode, the screen-share template fits its big picture whole and crops the small ones, as TRTC's MCU
// documents it ("左侧大画面为了保持内容的完整性采用缩放方式处理，右侧小画面采用裁剪方式处理"); the other templates crop.
// Templates show at most 16 pictures, the MCU's limit (1 big + 15 small; 16 in the grid).
// MaxVideoUser (the big picture of the floating and screen-share templates) becomes the layout's
// maxResolutionUserId, as CreateCloudRecording's MaxResolutionUserId does; a user named by MaxVideoUser or a custom
// picture must be of the task's room (cdn-relay-room.ts) and their camera stream (StreamType 0): one stream per user.

import { checkUserId } from '../auth/ids.js';
import { Api3Error } from './api3-envelope.js';
import type { MixLayoutSpec, MixRect, MixSpec } from './cloud-recording-service.js';
import { asObject, at, choice, int, list, need, object, present, show, string, type Obj } from './cloud-recording-fields.js';
import { defaultMixLayout } from './cloud-recording-mix-params.js';
import { collectRoom, type NamedRoom } from './cdn-relay-room.js';

const UNSUPPORTED = 'FailedOperation.CRUnsupportMethod';
const MAX_RECTS = 16;
/** TRTC's MCU mixes at most 16 streams (trtc-egress.md §4.5). */
const MAX_TEMPLATE_PICTURES = 16;

/** `rooms` collects the rooms the pictures' users are named with, for the caller to judge (cdn-relay-room.ts). */
export function relayMixParams(p: Obj, rooms: NamedRoom[]): MixSpec {
  const audio = asObject(need(p, 'AudioParams', '', 'MissingParameter', 'a mixed relay needs AudioParams.AudioEncode (SampleRate, Channel, BitRate)'), 'AudioParams');
  const ae = asObject(need(audio, 'AudioEncode', 'AudioParams', 'MissingParameter', 'send SampleRate, Channel and BitRate'), 'AudioParams.AudioEncode');
  const apath = 'AudioParams.AudioEncode';
  need(ae, 'SampleRate', apath, 'MissingParameter', 'send 48000, 44100 or 16000');
  const rate = choice<48000 | 44100 | 32000 | 24000 | 16000 | 8000>(ae, 'SampleRate', apath, { 48000: 'Hz', 44100: 'Hz', 32000: 'Hz', 24000: 'Hz', 16000: 'Hz', 8000: 'Hz' })!;
  if (rate !== 48000 && rate !== 44100 && rate !== 16000) throw new Api3Error(UNSUPPORTED, `${apath}.SampleRate ${rate} is not made by this gateway's mixer; send 48000, 44100 or 16000.`);
  need(ae, 'Channel', apath, 'MissingParameter', 'send 1 or 2');
  const channels = choice<1 | 2>(ae, 'Channel', apath, { 1: 'mono', 2: 'stereo' })!;
  need(ae, 'BitRate', apath, 'MissingParameter', 'send kbps, 8 to 500');
  const kbps = int(ae, 'BitRate', apath, 8, 500, 'kbps')!;
  if ((choice(ae, 'Codec', apath, { 0: 'LC-AAC', 1: 'HE-AAC', 2: 'HE-AACv2' }) ?? 0) !== 0) throw new Api3Error(UNSUPPORTED, `${apath}.Codec: this gateway's mixer makes LC-AAC only; send 0 or leave it out.`);
  if (!present(p, 'VideoParams')) throw new Api3Error(UNSUPPORTED, 'An audio-only mixed relay is not supported by this gateway: send VideoParams with VideoEncode.');
  const video = asObject(p.VideoParams, 'VideoParams');
  const ve = asObject(need(video, 'VideoEncode', 'VideoParams', 'MissingParameter', 'send Width, Height, Fps, BitRate and Gop'), 'VideoParams.VideoEncode');
  const vpath = 'VideoParams.VideoEncode';
  for (const k of ['Width', 'Height', 'Fps', 'BitRate', 'Gop']) need(ve, k, vpath, 'MissingParameter', 'Width, Height, Fps, BitRate and Gop are all required');
  const side = (k: string): number => {
    const v = int(ve, k, vpath, 2, 1920, 'pixels')!;
    if (v % 2 !== 0) throw new Api3Error('InvalidParameter', `${vpath}.${k} must be even (H.264 in 4:2:0); got ${v}.`);
    return v;
  };
  const spec: MixSpec = {
    video: { width: side('Width'), height: side('Height'), fps: int(ve, 'Fps', vpath, 1, 60)!, bitrate: int(ve, 'BitRate', vpath, 1, 10000, 'kbps')! * 1000, gopSec: int(ve, 'Gop', vpath, 1, 5, 's')! },
    audio: { sampleRate: rate, channels, bitrate: Math.min(Math.max(kbps * 1000, 32000), 128000) },
    layout: relayLayout(video, null, []),
  };
  spec.layout = relayLayout(video, spec.video, rooms);
  return spec;
}

/** VideoParams' layout (LayoutParams, BackGroundColor); `canvas` checks custom pictures fit; `rooms` as above. */
export function relayLayout(video: Obj, canvas: { width: number; height: number } | null, rooms: NamedRoom[]): MixLayoutSpec {
  for (const k of ['BackgroundImageUrl']) if (present(video, k) && video[k] !== '') throw new Api3Error(UNSUPPORTED, `VideoParams.${k}: this gateway composes without images; leave it out.`);
  if ((list(video, 'WaterMarkList', 'VideoParams', 25) ?? []).length > 0) throw new Api3Error(UNSUPPORTED, 'VideoParams.WaterMarkList: this gateway does not draw watermarks; leave it out.');
  const d = defaultMixLayout();
  const l = object(video, 'LayoutParams', 'VideoParams') ?? {};
  const path = 'VideoParams.LayoutParams';
  const mode = choice<1 | 2 | 3 | 4>(l, 'MixLayoutMode', path, { 1: 'floating', 2: 'screen-share', 3: 'grid', 4: 'custom' }) ?? 1;
  const templateRender = choice<0 | 1 | 2>(l, 'RenderMode', path, { 0: 'crop', 1: 'scale', 2: 'scale with black' }) ?? 0;
  const hold = choice<0 | 1>(l, 'PureAudioHoldPlaceMode', path, { 0: 'audio-only users take no slot', 1: 'they take a slot' }) ?? 0;
  const entries = list(l, 'MixLayoutList', path, MAX_RECTS) ?? [];
  if (mode === 4 && entries.length === 0) throw new Api3Error('MissingParameter', `${path}.MixLayoutList is missing: MixLayoutMode 4 (custom) needs 1 to ${MAX_RECTS} pictures.`);
  const maxUser = object(l, 'MaxVideoUser', path);
  return {
    ...d,
    mode,
    rects: mode === 4 ? entries.map((e, i) => rect(e, `${path}.MixLayoutList[${i}]`, canvas, rooms)) : [],
    background: colour(video),
    maxResolutionUserId: maxUser ? maxVideoUser(maxUser, `${path}.MaxVideoUser`, rooms) : null,
    renderMode: templateRender === 0 ? 1 : 2,
    ...(mode === 2 && !present(l, 'RenderMode') ? { bigRenderMode: 2 as const } : {}),
    maxPictures: MAX_TEMPLATE_PICTURES,
    pureAudioDisableLayout: hold === 0,
  };
}

function rect(v: unknown, path: string, canvas: { width: number; height: number } | null, rooms: NamedRoom[]): MixRect {
  const o = asObject(v, path);
  const n = (k: string): number => int(o, k, path, 0, 1920, 'pixels') ?? 0;
  const r = { x: n('LocationX'), y: n('LocationY'), width: n('ImageWidth'), height: n('ImageHeight') };
  if (r.width === 0 || r.height === 0) throw new Api3Error('InvalidParameter', `${path} needs ImageWidth and ImageHeight above 0.`);
  if (canvas && (r.x + r.width > canvas.width || r.y + r.height > canvas.height)) {
    throw new Api3Error('InvalidParameter', `${path} reaches past the ${canvas.width}×${canvas.height} canvas: LocationX + ImageWidth and LocationY + ImageHeight must fit it.`);
  }
  const render = choice<0 | 1 | 2>(o, 'RenderMode', path, { 0: 'crop', 1: 'scale with background', 2: 'scale with black' }) ?? 0;
  return {
    ...r,
    userId: present(o, 'UserMediaStream') ? streamUser(asObject(o.UserMediaStream, at(path, 'UserMediaStream')), at(path, 'UserMediaStream'), UNSUPPORTED, rooms) : null,
    alpha: 0,
    renderMode: render === 0 ? 1 : 2,
    mediaId: 0,
    zOrder: int(o, 'ZOrder', path, 0, 100) ?? 0,
  };
}

/** MaxVideoUser: its UserMediaStream names the big picture's user (none: the template's default). */
function maxVideoUser(o: Obj, path: string, rooms: NamedRoom[]): string | null {
  const stream = object(o, 'UserMediaStream', path);
  return stream ? streamUser(stream, at(path, 'UserMediaStream'), 'InvalidParameter', rooms) : null;
}

/**
 * A UserMediaStream's user (null without UserInfo.UserId: filled by entry order), its room collected into `rooms`
 * with the code a foreign one gets. Only the camera stream (StreamType 0) exists here.
 */
function streamUser(s: Obj, path: string, foreignCode: NamedRoom['code'], rooms: NamedRoom[]): string | null {
  const type = choice<0 | 1>(s, 'StreamType', path, { 0: 'camera (main) stream', 1: 'screen share' }) ?? 0;
  if (type === 1) throw new Api3Error(UNSUPPORTED, `${path}.StreamType 1 (screen share) is not supported: this gateway has one stream per user, the camera's; send 0 or leave it out.`);
  const info = object(s, 'UserInfo', path);
  if (!info) return null;
  const upath = at(path, 'UserInfo');
  const id = string(info, 'UserId', upath);
  if (id === undefined) return null;
  const why = checkUserId(id);
  if (why) throw new Api3Error('InvalidParameter', `${upath}.UserId: ${why}.`);
  collectRoom(info, upath, foreignCode, rooms);
  return id;
}

function colour(video: Obj): string {
  const v = string(video, 'BackGroundColor', 'VideoParams');
  if (v === undefined) return '#000000';
  const m = /^(?:0x|#)([0-9a-f]{6})$/i.exec(v);
  if (!m) throw new Api3Error('InvalidParameter', `VideoParams.BackGroundColor must be 0xRRGGBB, e.g. 0xcc0033; got ${show(v)}.`);
  return `#${m[1]!.toUpperCase()}`;
}
