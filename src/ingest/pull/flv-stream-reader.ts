// Reads an FLV byte stream (ffmpeg's `-f flv pipe:1`) as it arrives and hands out whole tags. Chunks are kept as
// they come and joined only when a tag straddles two of them, so a tag inside one chunk costs no copy; the body
// handed out is only valid during the callback (FlvToMedia copies what it keeps).

export class FlvStreamError extends Error {
  override name = 'FlvStreamError';
}

/** A 1080p keyframe is well under 2 MiB; a tag larger than this means the stream is garbage, not media. */
export const MAX_TAG_BYTES = 8 * 1024 * 1024;
const TAG_HEADER_BYTES = 11;
const PREVIOUS_TAG_SIZE_BYTES = 4;

type Phase = 'file-header' | 'header-rest' | 'tag-header' | 'tag-body';

export class FlvStreamReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private phase: Phase = 'file-header';
  private need = 9;
  private tagType = 0;
  private tagTs = 0;
  private failed = false;
  /** Flags from the FLV header: the stream announces audio and/or video. */
  hasAudio = false;
  hasVideo = false;
  /** The caller reuses its read buffer: bytes kept past a push are copied. */
  reusesInput = false;
  /** The header of the tag whose body is being read, for a hand-over in the middle of a tag. */
  private tagHeader = Buffer.alloc(TAG_HEADER_BYTES);

  constructor(private readonly onTag: (type: number, timestampMs: number, body: Buffer) => void) {}

  /** Feeds bytes; throws FlvStreamError once the stream is not FLV (later pushes throw too). */
  push(chunk: Buffer): void {
    if (this.failed) throw new FlvStreamError('the FLV stream is already broken');
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    try {
      while (this.buffered >= this.need) this.step(this.take(this.need));
    } catch (e) {
      this.failed = true;
      throw e;
    }
    if (this.reusesInput && this.chunks.length > 0) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
  }

  /**
   * Hands over the rest of the stream: the bytes read of the next tag (its header included), or null while still in
   * the file header. The reader is left at a tag boundary, empty: pushing the rest back goes on as before.
   */
  takeRest(): Buffer | null {
    if (this.phase === 'file-header' || this.phase === 'header-rest') return null;
    const rest = Buffer.concat([...(this.phase === 'tag-body' ? [this.tagHeader] : []), ...this.chunks]);
    this.chunks = [];
    this.buffered = 0;
    this.phase = 'tag-header';
    this.need = TAG_HEADER_BYTES;
    return rest;
  }

  private step(bytes: Buffer): void {
    switch (this.phase) {
      case 'file-header': {
        if (bytes.toString('latin1', 0, 3) !== 'FLV') throw new FlvStreamError('the output does not start with an FLV header');
        this.hasAudio = (bytes[4]! & 4) !== 0;
        this.hasVideo = (bytes[4]! & 1) !== 0;
        const headerSize = bytes.readUInt32BE(5);
        if (headerSize < 9 || headerSize > 1024) throw new FlvStreamError(`FLV header size ${headerSize} is not plausible`);
        this.phase = 'header-rest';
        this.need = headerSize - 9 + PREVIOUS_TAG_SIZE_BYTES;
        return;
      }
      case 'header-rest':
        this.phase = 'tag-header';
        this.need = TAG_HEADER_BYTES;
        return;
      case 'tag-header': {
        bytes.copy(this.tagHeader, 0, 0, TAG_HEADER_BYTES);
        this.tagType = bytes[0]! & 0x1f;
        const size = bytes.readUIntBE(1, 3);
        // 24-bit timestamp plus its 8-bit extension as the high byte.
        this.tagTs = (bytes.readUIntBE(4, 3) | (bytes[7]! << 24)) >>> 0;
        if (size > MAX_TAG_BYTES) throw new FlvStreamError(`FLV tag of ${size} bytes is too large`);
        this.phase = 'tag-body';
        this.need = size + PREVIOUS_TAG_SIZE_BYTES;
        return;
      }
      case 'tag-body':
        this.phase = 'tag-header';
        this.need = TAG_HEADER_BYTES;
        this.onTag(this.tagType, this.tagTs, bytes.subarray(0, bytes.length - PREVIOUS_TAG_SIZE_BYTES));
        return;
    }
  }

  /** Removes and returns the next `n` bytes (n ≤ buffered). */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      this.buffered -= n;
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let pos = 0;
    while (pos < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - pos);
      c.copy(out, pos, 0, k);
      pos += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}
