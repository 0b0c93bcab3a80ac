// H.264 / AVC: NAL unit types, the AVCDecoderConfigurationRecord (avcC), the parts of the SPS the room shows and
// needs (profile, level, size, frame rate), the first two fields of a slice header (for B-frame detection), and
// splitting AVCC (length-prefixed) samples. Parsers return subarrays of their input, never copies.

import { BitReader, unescapeRbsp, unescapeRbspInto } from './bits.js';
import { MediaError } from './errors.js';

export const NAL_SLICE = 1;
export const NAL_SLICE_DPA = 2;
export const NAL_SLICE_DPB = 3;
export const NAL_SLICE_DPC = 4;
export const NAL_IDR = 5;
export const NAL_SEI = 6;
export const NAL_SPS = 7;
export const NAL_PPS = 8;
export const NAL_AUD = 9;
export const NAL_END_OF_SEQUENCE = 10;
export const NAL_END_OF_STREAM = 11;
export const NAL_FILLER = 12;
export const NAL_SPS_EXT = 13;
export const NAL_PREFIX = 14;
export const NAL_SUBSET_SPS = 15;
export const NAL_SLICE_AUX = 19;
export const NAL_SLICE_EXT = 20;

/** slice_type % 5 values. */
export const SLICE_P = 0;
export const SLICE_B = 1;
export const SLICE_I = 2;
export const SLICE_SP = 3;
export const SLICE_SI = 4;

export function nalType(nal: Uint8Array): number {
  return nal[0]! & 0x1f;
}

export interface AvcDecoderConfigurationRecord {
  /** AVCProfileIndication (profile_idc). */
  profile: number;
  /** profile_compatibility byte (the constraint_set flags). */
  profileCompatibility: number;
  /** AVCLevelIndication (level_idc). */
  level: number;
  /** 1, 2 or 4. */
  naluLengthSize: number;
  /** SPS NAL units, subarrays of the input. */
  sps: Buffer[];
  /** PPS NAL units, subarrays of the input. */
  pps: Buffer[];
}

/** Parses an avcC record (ISO/IEC 14496-15 §5.3.3.1). The optional high-profile trailer is ignored. */
export function parseAvcDecoderConfigurationRecord(buf: Buffer): AvcDecoderConfigurationRecord {
  if (buf.length < 7) throw new MediaError(`AVC sequence header is ${buf.length} bytes, shorter than the 7-byte minimum`);
  if (buf[0] !== 1) throw new MediaError(`AVC sequence header has configurationVersion ${buf[0]}, expected 1`);
  const lengthSizeMinusOne = buf[4]! & 3;
  if (lengthSizeMinusOne === 2) throw new MediaError('AVC sequence header declares 3-byte NAL lengths (only 1, 2 or 4 are valid)');
  const sps: Buffer[] = [];
  const pps: Buffer[] = [];
  let off = 6;
  const numSps = buf[5]! & 0x1f;
  for (let i = 0; i < numSps; i++) off = readParameterSet(buf, off, sps, 'SPS');
  if (off >= buf.length) throw new MediaError('AVC sequence header ends before its PPS count');
  const numPps = buf[off++]!;
  for (let i = 0; i < numPps; i++) off = readParameterSet(buf, off, pps, 'PPS');
  return { profile: buf[1]!, profileCompatibility: buf[2]!, level: buf[3]!, naluLengthSize: lengthSizeMinusOne + 1, sps, pps };
}

function readParameterSet(buf: Buffer, off: number, into: Buffer[], what: string): number {
  if (off + 2 > buf.length) throw new MediaError(`AVC sequence header ends inside the ${what} list`);
  const len = buf.readUInt16BE(off);
  off += 2;
  if (len === 0 || off + len > buf.length) {
    throw new MediaError(`AVC sequence header: ${what} length ${len} does not fit the ${buf.length - off} bytes left`);
  }
  into.push(buf.subarray(off, off + len));
  return off + len;
}

export interface SpsInfo {
  spsId: number;
  /** profile_idc. */
  profile: number;
  profileName: string;
  /** constraint_set0..5 flags as the byte after profile_idc. */
  constraintFlags: number;
  /** level_idc (31 = level 3.1). */
  level: number;
  chromaFormatIdc: number;
  bitDepth: number;
  frameMbsOnly: boolean;
  /** Displayed size, after cropping. */
  width: number;
  height: number;
  /** From the VUI timing info when present (time_scale / 2·num_units_in_tick), else 0. */
  fps: number;
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Human name of an H.264 profile, using the constraint flags where they name a sub-profile. */
export function profileName(profileIdc: number, constraintFlags = 0): string {
  const set1 = (constraintFlags & 0x40) !== 0;
  const set3 = (constraintFlags & 0x10) !== 0;
  switch (profileIdc) {
    case 66: return set1 ? 'Constrained Baseline' : 'Baseline';
    case 77: return 'Main';
    case 88: return 'Extended';
    case 100: return 'High';
    case 110: return set3 ? 'High 10 Intra' : 'High 10';
    case 122: return set3 ? 'High 4:2:2 Intra' : 'High 4:2:2';
    case 244: return set3 ? 'High 4:4:4 Intra' : 'High 4:4:4';
    case 44: return 'CAVLC 4:4:4 Intra';
    case 83: return 'Scalable Baseline';
    case 86: return 'Scalable High';
    case 118: return 'Multiview High';
    case 128: return 'Stereo High';
    default: return `Profile ${profileIdc}`;
  }
}

/** Parses an SPS NAL unit (with its one-byte header). Throws a MediaError when the fields that matter don't fit. */
export function parseSps(nal: Uint8Array): SpsInfo {
  if (nal.length < 4) throw new MediaError(`SPS is ${nal.length} bytes, too short`);
  if ((nal[0]! & 0x1f) !== NAL_SPS) throw new MediaError(`expected an SPS, got NAL type ${nal[0]! & 0x1f}`);
  const rbsp = unescapeRbsp(nal);
  const r = new BitReader(rbsp, 1);
  const profile = r.readBits(8);
  const constraintFlags = r.readBits(8);
  const level = r.readBits(8);
  const spsId = r.readUe();
  if (spsId > 31) throw new MediaError(`SPS id ${spsId} is out of range`);
  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  let bitDepth = 8;
  if (HIGH_PROFILES.has(profile)) {
    chromaFormatIdc = r.readUe();
    if (chromaFormatIdc > 3) throw new MediaError(`SPS chroma_format_idc ${chromaFormatIdc} is invalid`);
    if (chromaFormatIdc === 3) separateColourPlane = r.readFlag();
    bitDepth = r.readUe() + 8;
    r.readUe(); // bit_depth_chroma_minus8
    r.readBit(); // qpprime_y_zero_transform_bypass_flag
    if (r.readFlag()) {
      // seq_scaling_matrix_present_flag
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) {
        if (r.readFlag()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
  }
  r.readUe(); // log2_max_frame_num_minus4
  const pocType = r.readUe();
  if (pocType === 0) {
    r.readUe(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    r.readBit(); // delta_pic_order_always_zero_flag
    r.readSe(); // offset_for_non_ref_pic
    r.readSe(); // offset_for_top_to_bottom_field
    const n = r.readUe();
    if (n > 255) throw new MediaError(`SPS num_ref_frames_in_pic_order_cnt_cycle ${n} is out of range`);
    for (let i = 0; i < n; i++) r.readSe();
  } else if (pocType !== 2) {
    throw new MediaError(`SPS pic_order_cnt_type ${pocType} is invalid`);
  }
  r.readUe(); // max_num_ref_frames
  r.readBit(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.readUe() + 1;
  const heightMapUnits = r.readUe() + 1;
  const frameMbsOnly = r.readFlag();
  if (!frameMbsOnly) r.readBit(); // mb_adaptive_frame_field_flag
  r.readBit(); // direct_8x8_inference_flag
  let cropLeft = 0, cropRight = 0, cropTop = 0, cropBottom = 0;
  if (r.readFlag()) {
    cropLeft = r.readUe();
    cropRight = r.readUe();
    cropTop = r.readUe();
    cropBottom = r.readUe();
  }
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 3 ? 1 : 2;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
  const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (frameMbsOnly ? 1 : 2);
  const codedWidth = widthMbs * 16;
  const codedHeight = heightMapUnits * 16 * (frameMbsOnly ? 1 : 2);
  const width = codedWidth - (cropLeft + cropRight) * cropUnitX;
  const height = codedHeight - (cropTop + cropBottom) * cropUnitY;
  if (width <= 0 || height <= 0 || codedWidth > 16384 || codedHeight > 16384) {
    throw new MediaError(`SPS gives an impossible picture size ${width}x${height}`);
  }
  let fps = 0;
  if (r.bitsLeft > 0 && r.readFlag()) {
    // A VUI that is cut short only costs us the frame rate.
    try {
      fps = readVuiFps(r);
    } catch (e) {
      if (!(e instanceof MediaError)) throw e;
    }
  }
  return {
    spsId, profile, profileName: profileName(profile, constraintFlags), constraintFlags, level,
    chromaFormatIdc, bitDepth, frameMbsOnly, width, height, fps,
  };
}

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.readSe();
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

function readVuiFps(r: BitReader): number {
  if (r.readFlag()) {
    // aspect_ratio_info_present_flag
    if (r.readBits(8) === 255) r.skipBits(32); // Extended_SAR: sar_width, sar_height
  }
  if (r.readFlag()) r.readBit(); // overscan_info_present_flag → overscan_appropriate_flag
  if (r.readFlag()) {
    // video_signal_type_present_flag
    r.skipBits(4); // video_format, video_full_range_flag
    if (r.readFlag()) r.skipBits(24); // colour_primaries, transfer_characteristics, matrix_coefficients
  }
  if (r.readFlag()) {
    // chroma_loc_info_present_flag
    r.readUe();
    r.readUe();
  }
  if (!r.readFlag()) return 0; // timing_info_present_flag
  const numUnitsInTick = r.readBits(32);
  const timeScale = r.readBits(32);
  if (numUnitsInTick === 0 || timeScale === 0) return 0;
  return Math.round((timeScale / (2 * numUnitsInTick)) * 1000) / 1000;
}

/** pic_parameter_set_id and seq_parameter_set_id of a PPS NAL unit. */
export function parsePpsIds(nal: Uint8Array): { ppsId: number; spsId: number } {
  if (nal.length < 2) throw new MediaError('PPS is too short');
  const r = new BitReader(unescapeRbsp(nal, 16), 1);
  const ppsId = r.readUe();
  const spsId = r.readUe();
  if (ppsId > 255 || spsId > 31) throw new MediaError(`PPS ids ${ppsId}/${spsId} are out of range`);
  return { ppsId, spsId };
}

// Scratch for slice headers: first_mb_in_slice and slice_type fit in a few bytes; 24 leaves room for escapes.
const sliceScratch = new Uint8Array(24);
const sliceReader = new BitReader(sliceScratch);

/**
 * slice_type (0–9) of a coded slice NAL unit (types 1 and 5), or -1 for any other NAL type. The NAL unit is
 * `nal[start, end)` (default: all of it), so a caller scanning a sample needs no subarray. Reads only the first
 * bytes of the header and allocates nothing. `slice_type % 5` is SLICE_P, SLICE_B, SLICE_I, SLICE_SP or SLICE_SI.
 */
export function sliceType(nal: Uint8Array, start = 0, end: number = nal.length): number {
  if (start >= end) throw new MediaError('empty NAL unit');
  const t = nal[start]! & 0x1f;
  if (t !== NAL_SLICE && t !== NAL_IDR) return -1;
  // The NAL header byte is never 0, so unescaping from it finds the same escapes as from the byte after it.
  const n = unescapeRbspInto(nal, sliceScratch, sliceScratch.length, start, end);
  const r = sliceReader.reset(sliceScratch, 1, n);
  r.readUe(); // first_mb_in_slice
  const st = r.readUe();
  if (st > 9) throw new MediaError(`slice_type ${st} is invalid`);
  return st;
}

/** Reads a big-endian NAL length of 1, 2 or 4 bytes. The caller checks the bounds. */
export function readNalLength(buf: Uint8Array, off: number, size: number): number {
  switch (size) {
    case 4: return ((buf[off]! << 24) >>> 0) + (buf[off + 1]! << 16) + (buf[off + 2]! << 8) + buf[off + 3]!;
    case 2: return (buf[off]! << 8) | buf[off + 1]!;
    case 1: return buf[off]!;
    case 3: return (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
    default: throw new MediaError(`NAL length size ${size} is invalid`);
  }
}

/**
 * Splits an AVCC sample (NAL units each preceded by a big-endian length of `naluLengthSize` bytes) into subarrays.
 * Zero-length entries are skipped; a length running past the end throws a MediaError.
 */
export function splitLengthPrefixed(buf: Buffer, naluLengthSize: number): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + naluLengthSize > buf.length) {
      throw new MediaError(`NAL length prefix cut short at offset ${off} of ${buf.length}`);
    }
    const len = readNalLength(buf, off, naluLengthSize);
    off += naluLengthSize;
    if (len > buf.length - off) {
      throw new MediaError(`NAL length ${len} at offset ${off - naluLengthSize} runs past the end (${buf.length - off} bytes left)`);
    }
    if (len > 0) out.push(buf.subarray(off, off + len));
    off += len;
  }
  return out;
}

/** True when the access unit holds an IDR slice. */
export function isKeyframe(nalus: readonly Uint8Array[]): boolean {
  for (const nal of nalus) if ((nal[0]! & 0x1f) === NAL_IDR) return true;
  return false;
}
