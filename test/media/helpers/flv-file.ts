// Real encoder output for the media tests: runs Debian's ffmpeg to make short files (cached under the OS temp
// directory, keyed by the exact arguments) and reads the FLV container into the (type, timestamp, body) triples
// an RTMP message stream delivers.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const CACHE_DIR = join(tmpdir(), 'roomgate-media-test');

export interface FlvTagRecord {
  /** 8 audio, 9 video, 18 script data. */
  type: number;
  /** Milliseconds (24-bit timestamp with its 8-bit extension). */
  timestamp: number;
  body: Buffer;
}

export interface FlvFile {
  hasAudio: boolean;
  hasVideo: boolean;
  tags: FlvTagRecord[];
}

/** Reads an FLV file: the 9-byte header, then PreviousTagSize + tag, repeated. */
export function readFlv(buf: Buffer): FlvFile {
  if (buf.length < 13 || buf.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV file');
  const flags = buf[4]!;
  let off = buf.readUInt32BE(5) + 4; // header, PreviousTagSize0
  const tags: FlvTagRecord[] = [];
  while (off + 11 <= buf.length) {
    const type = buf[off]! & 0x1f;
    const size = buf.readUIntBE(off + 1, 3);
    const timestamp = (buf.readUIntBE(off + 4, 3) | (buf[off + 7]! << 24)) >>> 0;
    const start = off + 11;
    if (start + size > buf.length) break; // truncated final tag
    tags.push({ type, timestamp, body: buf.subarray(start, start + size) });
    off = start + size + 4;
  }
  return { hasAudio: (flags & 4) !== 0, hasVideo: (flags & 1) !== 0, tags };
}

/** Runs ffmpeg with `args` (inputs and options, without the output file) writing `<hash>.<ext>`; returns its path. */
export async function ffmpegFile(args: string[], ext: string, format = ext): Promise<string> {
  mkdirSync(CACHE_DIR, { recursive: true });
  const key = createHash('sha256').update(JSON.stringify([args, format])).digest('hex').slice(0, 16);
  const path = join(CACHE_DIR, `${key}.${ext}`);
  try {
    if (statSync(path).size > 0) return path;
  } catch {
    // not cached yet
  }
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await execFileP('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args, '-f', format, tmp], {
    timeout: 120_000,
  });
  renameSync(tmp, path); // atomic: concurrent test files may make the same file
  return path;
}

/** Makes (or reuses) an FLV file and returns its tags. */
export async function flvTags(args: string[]): Promise<FlvFile> {
  return readFlv(readFileSync(await ffmpegFile(args, 'flv')));
}

export interface AvOptions {
  size?: string;
  rate?: number;
  seconds?: number;
  /** ffmpeg video codec options, e.g. ['-c:v', 'libx264', '-profile:v', 'baseline']; null = no video (-vn). */
  video?: string[] | null;
  /** ffmpeg audio codec options; null = no audio (-an). */
  audio?: string[] | null;
  pixFmt?: string;
  sampleRate?: number;
}

export const X264_BASELINE = ['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'baseline', '-g', '30'];

/** testsrc2 + sine through the given encoders. */
export function avArgs(o: AvOptions = {}): string[] {
  const args: string[] = [];
  const video = o.video === undefined ? X264_BASELINE : o.video;
  const audio = o.audio === undefined ? ['-c:a', 'aac'] : o.audio;
  if (video !== null) args.push('-f', 'lavfi', '-i', `testsrc2=size=${o.size ?? '320x240'}:rate=${o.rate ?? 30}`);
  if (audio !== null) args.push('-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${o.sampleRate ?? 44100}`);
  args.push('-t', String(o.seconds ?? 2));
  if (video !== null) args.push('-pix_fmt', o.pixFmt ?? 'yuv420p', ...video);
  else args.push('-vn');
  if (audio !== null) args.push(...audio);
  else args.push('-an');
  return args;
}

/** Convenience: an FLV from avArgs(o). */
export function avFlv(o: AvOptions = {}): Promise<FlvFile> {
  return flvTags(avArgs(o));
}

/** Splits an Annex-B byte stream into NAL units (without start codes). */
export function splitAnnexB(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  let start = -1;
  while (i + 2 < buf.length) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      if (start >= 0) out.push(trimZeros(buf.subarray(start, i)));
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start >= 0) out.push(buf.subarray(start));
  return out.filter((n) => n.length > 0);
}

function trimZeros(b: Buffer): Buffer {
  let e = b.length;
  while (e > 0 && b[e - 1] === 0) e--;
  return b.subarray(0, e);
}

/** NAL units of a raw HEVC stream from libx265 (no B-frames, so decode order is presentation order). */
export async function hevcNalUnits(): Promise<Buffer[]> {
  const path = await ffmpegFile(
    ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-t', '0.5', '-pix_fmt', 'yuv420p', '-c:v', 'libx265',
      '-x265-params', 'bframes=0:log-level=error', '-g', '15'],
    'hevc',
  );
  return splitAnnexB(readFileSync(path));
}

/** Length-prefixes NAL units (AVCC / HVCC sample format). */
export function lengthPrefixed(nalus: readonly Uint8Array[], size = 4): Buffer {
  const parts: Buffer[] = [];
  for (const n of nalus) {
    const len = Buffer.alloc(size);
    len.writeUIntBE(n.length, 0, size);
    parts.push(len, Buffer.from(n));
  }
  return Buffer.concat(parts);
}

/** NAL unit types in a legacy AVC NALU tag (4-byte lengths), read independently of the code under test. */
export function avcTagNalTypes(body: Buffer): number[] {
  const types: number[] = [];
  if ((body[0]! & 0x0f) !== 7 || body[1] !== 1) return types;
  for (let off = 5; off + 4 <= body.length; ) {
    const len = body.readUInt32BE(off);
    if (len > 0) types.push(body[off + 4]! & 0x1f);
    off += 4 + len;
  }
  return types;
}

/** True for a legacy AVC NALU tag (frames, not the sequence header). */
export function isAvcNaluTag(t: FlvTagRecord): boolean {
  return t.type === 9 && (t.body[0]! & 0x0f) === 7 && t.body[1] === 1;
}

/** True for a legacy AAC raw tag. */
export function isAacRawTag(t: FlvTagRecord): boolean {
  return t.type === 8 && t.body[0]! >>> 4 === 10 && t.body[1] === 1;
}
