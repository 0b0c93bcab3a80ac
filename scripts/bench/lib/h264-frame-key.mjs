// A key for "the same picture" across servers that copy H.264 without re-encoding: a hash of the frame's coded
// slices (VCL NAL units, types 1 and 5) taken from an FLV video tag. Relays may add or drop the other NAL units
// (access unit delimiters, parameter sets re-sent before keyframes, SEI) and re-stamp timestamps, but they pass the
// slices on byte for byte, so the same frame has the same key at the publisher and at the receiver. The key is the
// same whether the frame comes as an FLV tag (length-prefixed NAL units) or in Annex B (start codes: MPEG-TS).

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
  const nals = [];
  for (let p = 5; p + lengthSize <= body.length; ) {
    const n = body.readUIntBE(p, lengthSize);
    p += lengthSize;
    if (n === 0 || p + n > body.length) break;
    nals.push(body.subarray(p, p + n));
    p += n;
  }
  return sliceKey(nals);
}

const START_CODE = Buffer.from([0, 0, 1]);

/**
 * The same key from an access unit in Annex B (start codes, as MPEG-TS carries H.264): the NAL units between start
 * codes, each without the zero bytes before the next start code (a NAL unit never ends in 0x00, so they are the
 * 4-byte start code's first byte or trailing_zero_8bits). Null for an access unit without slices.
 */
export function annexBFrameKey(es) {
  const nals = [];
  let at = es.indexOf(START_CODE);
  while (at >= 0) {
    const from = at + 3;
    const next = es.indexOf(START_CODE, from);
    let end = next < 0 ? es.length : next;
    while (end > from && es[end - 1] === 0) end--;
    if (end > from) nals.push(es.subarray(from, end));
    at = next;
  }
  return sliceKey(nals);
}

/** sha1 of the coded slices (NAL types 1 and 5) in order, 20 hex digits; null when there is none. */
function sliceKey(nals) {
  const h = createHash('sha1');
  let slices = 0;
  for (const nal of nals) {
    const type = nal[0] & 0x1f;
    if (type === 1 || type === 5) {
      h.update(nal);
      slices++;
    }
  }
  return slices ? h.digest('hex').slice(0, 20) : null;
}
