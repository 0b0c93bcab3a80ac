// Builds bitstreams by hand for parser tests (SPS, AudioSpecificConfig).

export class BitWriter {
  private bits: number[] = [];

  u(n: number, v: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(v / 2 ** i) % 2);
    return this;
  }

  flag(b: boolean): this {
    return this.u(1, b ? 1 : 0);
  }

  ue(v: number): this {
    const x = v + 1;
    const len = Math.floor(Math.log2(x));
    this.u(len, 0);
    return this.u(len + 1, x);
  }

  se(v: number): this {
    return this.ue(v <= 0 ? -2 * v : 2 * v - 1);
  }

  /** rbsp_trailing_bits: a 1 then zeros to the byte boundary. */
  trailing(): this {
    this.bits.push(1);
    while (this.bits.length % 8) this.bits.push(0);
    return this;
  }

  bytes(): Buffer {
    const out = Buffer.alloc(Math.ceil(this.bits.length / 8));
    this.bits.forEach((b, i) => {
      if (b) out[i >>> 3]! |= 0x80 >>> (i & 7);
    });
    return out;
  }
}

/** Inserts emulation-prevention bytes (RBSP → NAL payload): the product's own (an SEI a mixed relay inserts uses it). */
export { escapeRbsp } from '../../../src/media/bits.js';
