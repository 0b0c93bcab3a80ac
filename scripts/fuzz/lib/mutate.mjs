// Mutations of a recorded publish: byte flips, length fields set wrong, header bytes, duplicated / deleted ranges,
// inserted random bytes, truncation, and (rarely) a damaged handshake. A case stacks 1–3 of them. Aimed mutations
// (which read the chunk map of the unmutated recording) run before the ones that move bytes around.

const LENGTH_VALUES = (len) => [0, 1, 2, 3, 4, len - 1, len + 1, len * 2, 0x7fff, 0xffff, 0xffffff];
const WIDE_VALUES = [0, 1, 2, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff];

const AIMED = ['flip', 'flip', 'length', 'header', 'field'];
const MOVING = ['truncate', 'duplicate', 'delete', 'insert'];

/**
 * @param {{ c0c1: Buffer, c2: Buffer, rest: Buffer, map: ReturnType<import('./chunks.mjs').mapChunks> }} rec
 * @param {() => number} rand
 */
export function mutate(rec, rand) {
  const int = (n) => Math.floor(rand() * n);
  const pick = (a) => a[int(a.length)];
  let rest = Buffer.from(rec.rest);
  let c0c1 = rec.c0c1;
  let c2 = rec.c2;
  const ops = [];
  // A third of the aim goes at the commands (connect … publish): they are a few hundred bytes among megabytes.
  const at = (len) => (rand() < 0.3 ? int(Math.min(rec.map.firstMedia, len)) : int(len));
  const n = 1 + int(3);
  const chosen = Array.from({ length: n }, () => (rand() < 0.6 ? pick(AIMED) : pick(MOVING)));
  chosen.sort((a, b) => Number(MOVING.includes(a)) - Number(MOVING.includes(b)));
  if (rand() < 0.03) chosen.unshift('handshake');
  for (const op of chosen) {
    if (rest.length === 0) break;
    ops.push(op);
    switch (op) {
      case 'flip': {
        const flips = 1 + int(8);
        for (let i = 0; i < flips; i++) {
          const p = at(rest.length);
          rest[p] = rand() < 0.5 ? rest[p] ^ (1 << int(8)) : int(256);
        }
        break;
      }
      case 'length': { // a message length in a type 0/1 chunk header
        const hs = rec.map.headers.filter((h) => h.lengthOffset >= 0 && h.lengthOffset + 3 <= rest.length);
        const h = hs.length && (rand() < 0.3 ? hs[int(Math.min(hs.length, 8))] : pick(hs));
        if (h) rest.writeUIntBE(Math.max(0, Math.min(0xffffff, pick(LENGTH_VALUES(h.length)))), h.lengthOffset, 3);
        break;
      }
      case 'header': { // fmt / chunk stream id byte, or the message type
        const h = pick(rec.map.headers);
        if (!h || h.offset >= rest.length) break;
        if (h.typeOffset >= 0 && h.typeOffset < rest.length && rand() < 0.5) rest[h.typeOffset] = pick([1, 2, 3, 4, 5, 6, 8, 9, 15, 17, 18, 20, 22, int(256)]);
        else rest[h.offset] = int(256);
        break;
      }
      case 'field': { // a 2- or 4-byte big-endian field inside a message: NAL unit, AMF string, avcC lengths
        const wide = rand() < 0.5;
        const p = at(rest.length);
        if (wide && p + 4 <= rest.length) rest.writeUInt32BE(pick(WIDE_VALUES), p);
        else if (p + 2 <= rest.length) rest.writeUInt16BE(pick(WIDE_VALUES) & 0xffff, p);
        break;
      }
      case 'truncate':
        rest = rest.subarray(0, at(rest.length));
        break;
      case 'duplicate': {
        const a = at(rest.length);
        const len = 1 + int(Math.min(4096, rest.length - a));
        const b = int(rest.length + 1);
        rest = Buffer.concat([rest.subarray(0, b), rest.subarray(a, a + len), rest.subarray(b)]);
        break;
      }
      case 'delete': {
        const a = at(rest.length);
        const len = 1 + int(Math.min(4096, rest.length - a));
        rest = Buffer.concat([rest.subarray(0, a), rest.subarray(a + len)]);
        break;
      }
      case 'insert': {
        const a = at(rest.length + 1);
        const bytes = Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256)));
        rest = Buffer.concat([rest.subarray(0, a), bytes, rest.subarray(a)]);
        break;
      }
      case 'handshake':
        c0c1 = Buffer.from(c0c1);
        c2 = Buffer.from(c2);
        if (rand() < 0.3) c0c1 = c0c1.subarray(0, int(c0c1.length));
        else for (let i = 0; i < 16; i++) (rand() < 0.5 ? c0c1 : c2)[int(1536)] = int(256);
        break;
    }
  }
  return { c0c1, c2, rest, ops };
}
