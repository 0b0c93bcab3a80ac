// Bit-level reading of H.264 RBSP data: a big-endian bit reader with Exp-Golomb codes, and emulation-prevention
// removal that stops as soon as the caller has the bytes it needs; and the escaping for NAL units roomgate writes.

import { MediaError } from './errors.js';

/** Inserts emulation-prevention bytes (RBSP → NAL payload, 7.4.1.1): 00 00 0x with x ≤ 3 becomes 00 00 03 0x. */
export function escapeRbsp(rbsp: Uint8Array): Buffer {
  const out: number[] = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Buffer.from(out);
}

/**
 * Copies `src` into `out` without its emulation-prevention bytes (the 0x03 in every 0x00 0x00 0x03 sequence),
 * stopping once `maxBytes` output bytes are written or the input ends. Returns the written part of `out`.
 * Without `out` (or when it is too small) a new array is allocated.
 */
export function unescapeRbsp(src: Uint8Array, maxBytes: number = src.length, out?: Uint8Array): Uint8Array {
  const limit = Math.min(maxBytes, src.length);
  const dst = out !== undefined && out.length >= limit ? out : new Uint8Array(limit);
  return dst.subarray(0, unescapeRbspInto(src, dst, limit));
}

/**
 * Allocation-free form of unescapeRbsp over `src[start, end)`: writes at most min(maxBytes, out.length) bytes to
 * `out` and returns how many.
 */
export function unescapeRbspInto(
  src: Uint8Array, out: Uint8Array, maxBytes: number = out.length, start = 0, end: number = src.length,
): number {
  const limit = Math.min(maxBytes, out.length);
  const stop = Math.min(end, src.length);
  let n = 0;
  let zeros = 0;
  for (let i = start; i < stop && n < limit; i++) {
    const b = src[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    zeros = b === 0 ? zeros + 1 : 0;
    out[n++] = b;
  }
  return n;
}

/** Reads bits MSB-first from an RBSP (already unescaped). Every read past the end throws a MediaError. */
export class BitReader {
  private data: Uint8Array;
  private pos: number; // bit position
  private end: number; // bit position of the end

  /** Reads `data` from byte `startByte` up to byte `endByte` (default: its length). */
  constructor(data: Uint8Array, startByte = 0, endByte = data.length) {
    this.data = data;
    this.pos = startByte * 8;
    this.end = Math.min(endByte, data.length) * 8;
  }

  /** Points the reader at new data (lets a hot path reuse one reader). */
  reset(data: Uint8Array, startByte = 0, endByte = data.length): this {
    this.data = data;
    this.pos = startByte * 8;
    this.end = Math.min(endByte, data.length) * 8;
    return this;
  }

  get bitsLeft(): number {
    return this.end - this.pos;
  }

  get bitPosition(): number {
    return this.pos;
  }

  readBit(): number {
    if (this.pos >= this.end) throw new MediaError('bitstream ends early');
    const bit = (this.data[this.pos >>> 3]! >>> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return bit;
  }

  readFlag(): boolean {
    return this.readBit() === 1;
  }

  /** Reads an unsigned value of up to 32 bits. */
  readBits(n: number): number {
    if (n > 32) throw new RangeError('readBits: at most 32 bits');
    if (this.end - this.pos < n) throw new MediaError('bitstream ends early');
    let v = 0;
    for (let i = 0; i < n; i++) {
      const p = this.pos++;
      v = v * 2 + ((this.data[p >>> 3]! >>> (7 - (p & 7))) & 1);
    }
    return v;
  }

  skipBits(n: number): void {
    if (this.end - this.pos < n) throw new MediaError('bitstream ends early');
    this.pos += n;
  }

  /** ue(v): unsigned Exp-Golomb. Values need at most 31 leading zeros here (anything longer is garbage). */
  readUe(): number {
    let zeros = 0;
    while (this.readBit() === 0) {
      if (++zeros > 31) throw new MediaError('invalid Exp-Golomb code');
    }
    return zeros === 0 ? 0 : 2 ** zeros - 1 + this.readBits(zeros);
  }

  /** se(v): signed Exp-Golomb (1 → 1, 2 → -1, 3 → 2, …). */
  readSe(): number {
    const k = this.readUe();
    return k & 1 ? (k + 1) / 2 : -(k / 2);
  }
}
