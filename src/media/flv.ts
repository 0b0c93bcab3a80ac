// One FLV tag body — what an RTMP audio (8) or video (9) message carries — parsed into a typed header. The payload
// itself is not copied or split: `offset` says where it starts in the body (it runs to the end of the body).
// Covers legacy FLV (AVC with its signed composition time, the unofficial HEVC id 12) and Enhanced RTMP v1/v2
// (FourCC video and audio, ModEx, single-track Multitrack). Malformed headers throw a MediaError.

import { MediaError } from './errors.js';

export const TAG_AUDIO = 8;
export const TAG_VIDEO = 9;
export const TAG_SCRIPT = 18;

/** Legacy FLV video codec ids. 12 (HEVC) and 13 (AV1) are unofficial extensions used by some Chinese CDNs. */
export const VIDEO_CODEC_JPEG = 1;
export const VIDEO_CODEC_H263 = 2;
export const VIDEO_CODEC_SCREEN = 3;
export const VIDEO_CODEC_VP6 = 4;
export const VIDEO_CODEC_VP6A = 5;
export const VIDEO_CODEC_SCREEN2 = 6;
export const VIDEO_CODEC_AVC = 7;
export const VIDEO_CODEC_HEVC = 12;
export const VIDEO_CODEC_AV1 = 13;

/** Legacy AVCPacketType. */
export const AVC_SEQUENCE_HEADER = 0;
export const AVC_NALU = 1;
export const AVC_END_OF_SEQUENCE = 2;

/** Enhanced RTMP VideoPacketType. */
export const EX_VIDEO_SEQUENCE_START = 0;
export const EX_VIDEO_CODED_FRAMES = 1;
export const EX_VIDEO_SEQUENCE_END = 2;
export const EX_VIDEO_CODED_FRAMES_X = 3;
export const EX_VIDEO_METADATA = 4;
export const EX_VIDEO_MPEG2TS_SEQUENCE_START = 5;
export const EX_VIDEO_MULTITRACK = 6;
export const EX_VIDEO_MODEX = 7;

/** Enhanced RTMP AudioPacketType. */
export const EX_AUDIO_SEQUENCE_START = 0;
export const EX_AUDIO_CODED_FRAMES = 1;
export const EX_AUDIO_SEQUENCE_END = 2;
export const EX_AUDIO_MULTICHANNEL_CONFIG = 4;
export const EX_AUDIO_MULTITRACK = 5;
export const EX_AUDIO_MODEX = 7;

/** SoundFormat values. 9 is Enhanced RTMP's ExHeader; 13 is an unofficial Opus id used by some Chinese CDNs. */
export const SOUND_PCM = 0;
export const SOUND_ADPCM = 1;
export const SOUND_MP3 = 2;
export const SOUND_PCM_LE = 3;
export const SOUND_NELLYMOSER_16K = 4;
export const SOUND_NELLYMOSER_8K = 5;
export const SOUND_NELLYMOSER = 6;
export const SOUND_G711_ALAW = 7;
export const SOUND_G711_MULAW = 8;
export const SOUND_EX_HEADER = 9;
export const SOUND_AAC = 10;
export const SOUND_SPEEX = 11;
export const SOUND_OPUS_NONSTANDARD = 13;
export const SOUND_MP3_8K = 14;
export const SOUND_DEVICE_SPECIFIC = 15;

/** Legacy AACPacketType. */
export const AAC_SEQUENCE_HEADER = 0;
export const AAC_RAW = 1;

/** Multitrack types (Enhanced RTMP v2). */
const ONE_TRACK = 0;
const MANY_TRACKS_MANY_CODECS = 2;

const FOURCC_AVC1 = 0x61766331;
const FOURCC_HVC1 = 0x68766331;
const FOURCC_HEV1 = 0x68657631;
const FOURCC_AV01 = 0x61763031;
const FOURCC_VP09 = 0x76703039;
const FOURCC_VP08 = 0x76703038;
const FOURCC_VVC1 = 0x76766331;
const FOURCC_OPUS = 0x4f707573;
const FOURCC_FLAC = 0x664c6143;
const FOURCC_AC3 = 0x61632d33;
const FOURCC_EAC3 = 0x65632d33;
const FOURCC_MP3 = 0x2e6d7033;
const FOURCC_MP4A = 0x6d703461;

export type VideoCodec =
  | 'avc' | 'hevc' | 'av1' | 'vp9' | 'vp8' | 'vvc' | 'vp6' | 'vp6a' | 'h263' | 'screen' | 'screen2' | 'jpeg' | 'unknown';

/**
 * What the tag carries: a decoder configuration (avcC / hvcC / av1C…), coded frames, the end of the sequence,
 * Enhanced RTMP metadata, a video info/command frame (no codec data), a multi-track bundle, or something else.
 */
export type VideoPacket =
  | 'sequence-header' | 'frame' | 'end-of-sequence' | 'metadata' | 'command' | 'multitrack' | 'other';

export interface FlvVideoTag {
  type: 9;
  timestamp: number;
  /** 1 keyframe, 2 inter frame, 3 disposable inter frame, 4 generated keyframe, 5 video info/command frame. */
  frameType: number;
  /** Enhanced RTMP (ExVideoTagHeader, bit 0x80 of the first byte). */
  enhanced: boolean;
  /** Legacy FLV CodecID; 0 for Enhanced RTMP. */
  codecId: number;
  /** Enhanced RTMP FourCC ('avc1', 'hvc1', 'av01', …); '' for legacy tags and command frames. */
  fourcc: string;
  codec: VideoCodec;
  /** For people: "H.264", "H.265", "AV1", "Sorenson H.263", … */
  codecName: string;
  /** Legacy AVC/HEVC: AVCPacketType (0 sequence header, 1 NALU, 2 end of sequence); Enhanced: VideoPacketType; else -1. */
  packetType: number;
  packet: VideoPacket;
  /** Composition time offset in ms (pts − dts), signed. 0 when the tag has none (e.g. CodedFramesX). */
  cts: number;
  /** Where the payload (decoder configuration or length-prefixed NAL units) starts in the body. */
  offset: number;
}

export type AudioCodec =
  | 'aac' | 'mp3' | 'speex' | 'nellymoser' | 'g711a' | 'g711u' | 'pcm' | 'adpcm' | 'opus' | 'flac' | 'ac3' | 'eac3'
  | 'device' | 'unknown';

export type AudioPacket = 'sequence-header' | 'frame' | 'end-of-sequence' | 'multichannel-config' | 'multitrack' | 'other';

export interface FlvAudioTag {
  type: 8;
  timestamp: number;
  /** The 4-bit SoundFormat (10 AAC, 2 MP3, 9 Enhanced RTMP ExHeader, …). */
  soundFormat: number;
  enhanced: boolean;
  /** Enhanced RTMP FourCC ('mp4a', 'Opus', …); '' for legacy tags. */
  fourcc: string;
  codec: AudioCodec;
  /** For people: "AAC", "MP3", "G.711 A-law", … */
  codecName: string;
  /** Legacy AAC: AACPacketType (0 sequence header, 1 raw); Enhanced: AudioPacketType; else -1. */
  packetType: number;
  packet: AudioPacket;
  /** Where the payload (AudioSpecificConfig or the coded frame) starts in the body. */
  offset: number;
}

export type FlvTag = FlvVideoTag | FlvAudioTag;

/** Parses the header of an audio (8) or video (9) tag body. Throws a MediaError on anything malformed. */
export function parseFlvTag(type: number, timestamp: number, body: Buffer): FlvTag {
  if (type === TAG_VIDEO) return parseVideoTag(timestamp, body);
  if (type === TAG_AUDIO) return parseAudioTag(timestamp, body);
  throw new MediaError(`FLV tag type ${type} is neither audio (8) nor video (9)`);
}

function tooShort(what: string, body: Buffer, need: number): MediaError {
  return new MediaError(`${what} tag is ${body.length} bytes, too short for its ${need}-byte header`);
}

const LEGACY_VIDEO: readonly (readonly [VideoCodec, string])[] = [
  ['unknown', ''], ['jpeg', 'JPEG'], ['h263', 'Sorenson H.263'], ['screen', 'ScreenVideo'], ['vp6', 'VP6'],
  ['vp6a', 'VP6 with alpha'], ['screen2', 'ScreenVideo v2'], ['avc', 'H.264'], ['unknown', ''], ['unknown', ''],
  ['unknown', ''], ['unknown', ''], ['hevc', 'H.265'], ['av1', 'AV1'], ['unknown', ''], ['unknown', ''],
];

export function parseVideoTag(timestamp: number, body: Buffer): FlvVideoTag {
  if (body.length < 1) throw tooShort('video', body, 1);
  const b0 = body[0]!;
  if (b0 & 0x80) return parseExVideoTag(timestamp, body);
  const frameType = b0 >>> 4;
  const codecId = b0 & 0x0f;
  const [codec, name] = LEGACY_VIDEO[codecId]!;
  const tag: FlvVideoTag = {
    type: 9, timestamp, frameType, enhanced: false, codecId, fourcc: '', codec,
    codecName: codec === 'unknown' ? `Unknown (FLV codec id ${codecId})` : name,
    packetType: -1, packet: 'frame', cts: 0, offset: 1,
  };
  if (frameType === 5) {
    tag.packet = 'command';
    return tag;
  }
  if (codecId === VIDEO_CODEC_AVC || codecId === VIDEO_CODEC_HEVC || codecId === VIDEO_CODEC_AV1) {
    if (body.length < 5) throw tooShort(name, body, 5);
    const pt = body[1]!;
    tag.packetType = pt;
    tag.packet = pt === 0 ? 'sequence-header' : pt === 1 ? 'frame' : pt === 2 ? 'end-of-sequence' : 'other';
    tag.cts = (((body[2]! << 16) | (body[3]! << 8) | body[4]!) << 8) >> 8;
    tag.offset = 5;
  }
  return tag;
}

/** Enhanced RTMP FourCCs we can name: [fourcc text, codec, name a person reads]. */
const VIDEO_FOURCCS = new Map<number, [string, VideoCodec, string]>([
  [FOURCC_AVC1, ['avc1', 'avc', 'H.264']],
  [FOURCC_HVC1, ['hvc1', 'hevc', 'H.265']],
  [FOURCC_HEV1, ['hev1', 'hevc', 'H.265']],
  [FOURCC_AV01, ['av01', 'av1', 'AV1']],
  [FOURCC_VP09, ['vp09', 'vp9', 'VP9']],
  [FOURCC_VP08, ['vp08', 'vp8', 'VP8']],
  [FOURCC_VVC1, ['vvc1', 'vvc', 'H.266']],
]);

const AUDIO_FOURCCS = new Map<number, [string, AudioCodec, string]>([
  [FOURCC_MP4A, ['mp4a', 'aac', 'AAC']],
  [FOURCC_OPUS, ['Opus', 'opus', 'Opus']],
  [FOURCC_FLAC, ['fLaC', 'flac', 'FLAC']],
  [FOURCC_AC3, ['ac-3', 'ac3', 'AC-3']],
  [FOURCC_EAC3, ['ec-3', 'eac3', 'E-AC-3']],
  [FOURCC_MP3, ['.mp3', 'mp3', 'MP3']],
]);

/**
 * What audio and video Enhanced RTMP tags share after the packet type: an optional multitrack prefix, the FourCC
 * (named on `tag`), and for a one-track bundle its track id. Returns the offset and packet type that follow, or
 * null when the tag is a bundle of several tracks (then marked 'multitrack').
 */
function trackHeader<C extends string>(
  kind: 'audio' | 'video',
  tag: { fourcc: string; codec: C | 'unknown'; codecName: string; packetType: number; packet: string; offset: number },
  known: Map<number, [string, C, string]>,
  multitrackPacket: number,
  body: Buffer,
  off: number,
  pt: number,
): { off: number; pt: number } | null {
  let multitrackType = -1;
  if (pt === multitrackPacket) {
    if (off + 1 > body.length) throw tooShort(`Enhanced RTMP multitrack ${kind}`, body, off + 1);
    multitrackType = body[off]! >>> 4;
    pt = body[off]! & 0x0f;
    off++;
  }
  if (multitrackType !== MANY_TRACKS_MANY_CODECS) {
    if (off + 4 > body.length) throw tooShort(`Enhanced RTMP ${kind}`, body, off + 4);
    nameFourcc(tag, known, body.readUInt32BE(off), body, off);
    off += 4;
  }
  tag.packetType = pt;
  if (multitrackType >= 0) {
    if (multitrackType !== ONE_TRACK) {
      tag.packet = 'multitrack';
      tag.offset = off;
      return null;
    }
    if (off + 1 > body.length) throw tooShort(`Enhanced RTMP multitrack ${kind}`, body, off + 1);
    off++; // trackId: one track, so it is the stream
  }
  return { off, pt };
}

/** Sets fourcc/codec/codecName of an Enhanced RTMP tag from the FourCC `v` read at `off`. */
function nameFourcc<C extends string>(
  tag: { fourcc: string; codec: C | 'unknown'; codecName: string },
  known: Map<number, [string, C, string]>,
  v: number,
  body: Buffer,
  off: number,
): void {
  const k = known.get(v);
  if (k) {
    [tag.fourcc, tag.codec, tag.codecName] = k;
    return;
  }
  tag.fourcc = fourccString(body, off);
  tag.codec = 'unknown';
  tag.codecName = `Unknown (FourCC '${tag.fourcc}')`;
}

function fourccString(body: Buffer, off: number): string {
  let s = '';
  for (let i = off; i < off + 4; i++) {
    const c = body[i]!;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

/** Skips ModEx blocks; returns (offset after them << 4) | the packet type they end with. */
function skipModEx(what: string, body: Buffer, off: number): number {
  let pt = 7;
  while (pt === 7) {
    if (off + 1 > body.length) throw new MediaError(`${what} ModEx block is cut short`);
    let size = body[off++]! + 1;
    if (size === 256) {
      if (off + 2 > body.length) throw new MediaError(`${what} ModEx block is cut short`);
      size = body.readUInt16BE(off) + 1;
      off += 2;
    }
    if (off + size + 1 > body.length) throw new MediaError(`${what} ModEx data (${size} bytes) runs past the end`);
    off += size;
    pt = body[off++]! & 0x0f;
  }
  return (off << 4) | pt;
}

function parseExVideoTag(timestamp: number, body: Buffer): FlvVideoTag {
  const b0 = body[0]!;
  const frameType = (b0 >>> 4) & 7;
  let pt = b0 & 0x0f;
  let off = 1;
  const tag: FlvVideoTag = {
    type: 9, timestamp, frameType, enhanced: true, codecId: 0, fourcc: '', codec: 'unknown', codecName: 'Unknown',
    packetType: pt, packet: 'other', cts: 0, offset: 1,
  };
  if (pt === EX_VIDEO_MODEX) {
    const r = skipModEx('Enhanced RTMP video', body, off);
    off = r >>> 4;
    pt = r & 0x0f;
  }
  if (pt !== EX_VIDEO_METADATA && frameType === 5) {
    // Video command frame: one UI8 command, no FourCC, no codec data.
    if (off + 1 > body.length) throw tooShort('Enhanced RTMP video command', body, off + 1);
    tag.packetType = pt;
    tag.packet = 'command';
    tag.offset = off;
    return tag;
  }
  const head = trackHeader('video', tag, VIDEO_FOURCCS, EX_VIDEO_MULTITRACK, body, off, pt);
  if (head === null) return tag;
  ({ off, pt } = head);
  switch (pt) {
    case EX_VIDEO_SEQUENCE_START: tag.packet = 'sequence-header'; break;
    case EX_VIDEO_CODED_FRAMES:
      tag.packet = 'frame';
      if (tag.codec === 'avc' || tag.codec === 'hevc' || tag.codec === 'vvc') {
        if (off + 3 > body.length) throw tooShort(`Enhanced RTMP ${tag.codecName}`, body, off + 3);
        tag.cts = (((body[off]! << 16) | (body[off + 1]! << 8) | body[off + 2]!) << 8) >> 8;
        off += 3;
      }
      break;
    case EX_VIDEO_CODED_FRAMES_X: tag.packet = 'frame'; break;
    case EX_VIDEO_SEQUENCE_END: tag.packet = 'end-of-sequence'; break;
    case EX_VIDEO_METADATA: tag.packet = 'metadata'; break;
    default: tag.packet = 'other';
  }
  tag.offset = off;
  return tag;
}

const LEGACY_AUDIO: readonly (readonly [AudioCodec, string])[] = [
  ['pcm', 'Linear PCM'], ['adpcm', 'ADPCM'], ['mp3', 'MP3'], ['pcm', 'Linear PCM'], ['nellymoser', 'Nellymoser'],
  ['nellymoser', 'Nellymoser'], ['nellymoser', 'Nellymoser'], ['g711a', 'G.711 A-law'], ['g711u', 'G.711 µ-law'],
  ['unknown', ''], ['aac', 'AAC'], ['speex', 'Speex'], ['unknown', 'Unknown (FLV sound format 12)'],
  ['opus', 'Opus'], ['mp3', 'MP3'], ['device', 'Device-specific'],
];

export function parseAudioTag(timestamp: number, body: Buffer): FlvAudioTag {
  if (body.length < 1) throw tooShort('audio', body, 1);
  const soundFormat = body[0]! >>> 4;
  if (soundFormat === SOUND_EX_HEADER) return parseExAudioTag(timestamp, body);
  const [codec, codecName] = LEGACY_AUDIO[soundFormat]!;
  const tag: FlvAudioTag = {
    type: 8, timestamp, soundFormat, enhanced: false, fourcc: '', codec, codecName,
    packetType: -1, packet: 'frame', offset: 1,
  };
  if (soundFormat === SOUND_AAC) {
    if (body.length < 2) throw tooShort('AAC', body, 2);
    const pt = body[1]!;
    tag.packetType = pt;
    tag.packet = pt === AAC_SEQUENCE_HEADER ? 'sequence-header' : pt === AAC_RAW ? 'frame' : 'other';
    tag.offset = 2;
  }
  return tag;
}

function parseExAudioTag(timestamp: number, body: Buffer): FlvAudioTag {
  let pt = body[0]! & 0x0f;
  let off = 1;
  const tag: FlvAudioTag = {
    type: 8, timestamp, soundFormat: SOUND_EX_HEADER, enhanced: true, fourcc: '', codec: 'unknown',
    codecName: 'Unknown', packetType: pt, packet: 'other', offset: 1,
  };
  if (pt === EX_AUDIO_MODEX) {
    const r = skipModEx('Enhanced RTMP audio', body, off);
    off = r >>> 4;
    pt = r & 0x0f;
  }
  const head = trackHeader('audio', tag, AUDIO_FOURCCS, EX_AUDIO_MULTITRACK, body, off, pt);
  if (head === null) return tag;
  ({ off, pt } = head);
  switch (pt) {
    case EX_AUDIO_SEQUENCE_START: tag.packet = 'sequence-header'; break;
    case EX_AUDIO_CODED_FRAMES: tag.packet = 'frame'; break;
    case EX_AUDIO_SEQUENCE_END: tag.packet = 'end-of-sequence'; break;
    case EX_AUDIO_MULTICHANNEL_CONFIG: tag.packet = 'multichannel-config'; break;
    default: tag.packet = 'other';
  }
  tag.offset = off;
  return tag;
}
