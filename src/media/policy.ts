// The codec policy: which publisher media the gateway forwards to WebRTC rooms, and in what words it refuses the
// rest. One function per decision; each returns null (forward) or a Refusal whose reason tells the streamer what to
// change. Nothing here allocates on the accepting path.

import type { AacConfig } from './model.js';
import type { FlvAudioTag, FlvVideoTag } from './flv.js';
import { aacObjectTypeName } from './aac.js';
import { SLICE_B } from './h264.js';

export type RefusalCode = 'h265' | 'video-codec' | 'bframes' | 'audio-codec' | 'malformed';
export type Refusal = { code: RefusalCode; reason: string };

export const H265_REASON = 'H.265 is not supported: set the encoder to H.264 (x264)';
export const BFRAMES_REASON =
  'B-frames are not supported: in OBS set Output → Advanced → x264 options bframes=0, or Profile baseline; ' +
  'in ffmpeg use -bf 0 or -profile:v baseline';

const H265_REFUSAL: Refusal = Object.freeze({ code: 'h265', reason: H265_REASON });
const BFRAMES_REFUSAL: Refusal = Object.freeze({ code: 'bframes', reason: BFRAMES_REASON });

export function videoCodecReason(codecName: string): string {
  return `${codecName} video is not supported: set the encoder to H.264 (x264)`;
}

export function audioCodecReason(codecName: string): string {
  return `${codecName} audio is not supported: set the audio encoder to AAC`;
}

/**
 * Video codec: H.264 is forwarded (legacy codec id 7 or Enhanced RTMP 'avc1'); H.265 (legacy id 12, 'hvc1',
 * 'hev1') and every other codec are refused. Command frames carry no codec data and pass.
 */
export function videoCodecPolicy(tag: FlvVideoTag): Refusal | null {
  if (tag.packet === 'command') return null;
  switch (tag.codec) {
    case 'avc':
      if (tag.packet === 'multitrack') {
        return { code: 'video-codec', reason: 'Multitrack video (Enhanced RTMP) is not supported: send one H.264 video track' };
      }
      return null;
    case 'hevc':
      return H265_REFUSAL;
    default:
      return { code: 'video-codec', reason: videoCodecReason(tag.codecName) };
  }
}

/** Composition time: any H.264 frame whose pts ≠ dts means frame reordering, i.e. B-frames. */
export function compositionTimePolicy(cts: number): Refusal | null {
  return cts === 0 ? null : BFRAMES_REFUSAL;
}

/** Slice type (from the first slice of each access unit): B slices are refused even when the CTS is 0. */
export function sliceTypePolicy(sliceType: number): Refusal | null {
  return sliceType >= 0 && sliceType % 5 === SLICE_B ? BFRAMES_REFUSAL : null;
}

/** Audio codec: AAC is forwarded (legacy sound format 10 or Enhanced RTMP 'mp4a'); everything else is refused. */
export function audioCodecPolicy(tag: FlvAudioTag): Refusal | null {
  if (tag.codec === 'aac') {
    if (tag.packet === 'multitrack') {
      return { code: 'audio-codec', reason: 'Multitrack audio (Enhanced RTMP) is not supported: send one AAC audio track' };
    }
    return null;
  }
  return { code: 'audio-codec', reason: audioCodecReason(tag.codecName) };
}

/** AAC object types the AAC→Opus decoder (libavcodec) handles. */
const DECODABLE_AAC = new Set([1, 2, 4, 5, 17, 19, 23, 29, 39]);

/** AAC flavour: the common object types pass; the rest (SSR, Scalable, xHE-AAC/USAC, …) are refused. */
export function aacConfigPolicy(config: AacConfig): Refusal | null {
  if (DECODABLE_AAC.has(config.objectType)) return null;
  return {
    code: 'audio-codec',
    reason: `${aacObjectTypeName(config.objectType)} audio is not supported: set the audio encoder to AAC-LC`,
  };
}

/** Bytes that are not what they claim to be. */
export function malformedRefusal(message: string): Refusal {
  return { code: 'malformed', reason: `Malformed stream: ${message}` };
}
