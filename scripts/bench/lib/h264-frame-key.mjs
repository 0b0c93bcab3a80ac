// A key for "the same picture" across servers that copy H.264 without re-encoding: a hash of the frame's coded
// slices (VCL NAL units, types 1 and 5) taken from an FLV video tag. Relays may add or drop the other NAL units
// (access unit delimiters, parameter sets re-sent before keyframes, SEI) and re-stamp timestamps, but they pass the
// slices on byte for byte, so the same frame has the same key at the publisher and at the receiver.

import { createHash } from 'node:crypto';

/** NAL length size (1, 2 or 4) from an FLV AVC sequence header tag body; null if `body` is not one. */
export function nalLengthSize(body) {
  if ((body[0] & 0x0f) !== 7 || body[1] !== 0 || body.length < 10) return null;
  return (body[9] & 0x03) + 1; // AVCDecoderConfigurationRecord.lengthSizeMinusOne, after the 5-byte tag header
}

/** True for an FLV AVC sequence header (codec configuration, no picture). */
export const isAvcConfig = (body) => (body[0] & 0x0f) === 7 && body[1] === 0;

/** The key of an FLV AVC video tag body holding a coded frame; null for other tags or a frame without slices. */
export function frameKey(body, lengthSize = 4) {
  if ((body[0] & 0x0f) !== 7 || body[1] !== 1) return null;
  const h = createHash('sha1');
  let slices = 0;
  for (let p = 5; p + lengthSize <= body.length; ) {
    const n = body.readUIntBE(p, lengthSize);
    p += lengthSize;
    if (n === 0 || p + n > body.length) break;
    const type = body[p] & 0x1f;
    if (type === 1 || type === 5) {
      h.update(body.subarray(p, p + n));
      slices++;
    }
    p += n;
  }
  return slices ? h.digest('hex').slice(0, 20) : null;
}
