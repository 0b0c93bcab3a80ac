// H.264 SEI NAL units (ITU-T H.264 7.3.2.3 / D.1), as a mixed relay inserts them into the stream it encodes
// (StartPublishCdnStream's SeiParams, trtc-egress.md §4.3): one SEI message per NAL unit, its payload type and size
// coded in 0xFF-prefixed bytes, the RBSP ended by its stop bit, and emulation prevention bytes inserted so no start
// code can appear inside. Type 5 (user_data_unregistered) carries a 16-byte UUID before the content.

import { escapeRbsp, unescapeRbsp } from './bits.js';

const NAL_SEI = 6;

/** An SEI NAL unit (header byte included, no start code) holding one message of `payloadType`. */
export function seiNal(payloadType: number, payload: Uint8Array): Buffer {
  const rbsp: number[] = [];
  const coded = (v: number) => {
    for (; v >= 255; v -= 255) rbsp.push(0xff);
    rbsp.push(v);
  };
  coded(payloadType);
  coded(payload.length);
  rbsp.push(...payload);
  rbsp.push(0x80); // rbsp_trailing_bits: the stop bit, then alignment zeros
  return Buffer.concat([Buffer.from([NAL_SEI]), escapeRbsp(Uint8Array.from(rbsp))]);
}

/** The payload of a user_data_unregistered message (type 5): the UUID (32 hex digits), then the content. */
export function userDataUnregistered(uuidHex: string, content: Uint8Array): Buffer {
  if (!/^[0-9a-fA-F]{32}$/.test(uuidHex)) throw new Error('the UUID of a user_data_unregistered SEI is 32 hex digits');
  return Buffer.concat([Buffer.from(uuidHex, 'hex'), content]);
}

/** The messages of an SEI NAL unit (emulation prevention removed): type and payload each. */
export function parseSei(nal: Uint8Array): { type: number; payload: Buffer }[] {
  const b = unescapeRbsp(nal.subarray(1));
  const out: { type: number; payload: Buffer }[] = [];
  let i = 0;
  const coded = () => {
    let v = 0;
    while (b[i] === 0xff) (v += 255), i++;
    return v + (b[i++] ?? 0);
  };
  while (i < b.length && !(b[i] === 0x80 && i === b.length - 1)) {
    const type = coded();
    const size = coded();
    out.push({ type, payload: Buffer.from(b.subarray(i, i + size)) });
    i += size;
  }
  return out;
}
