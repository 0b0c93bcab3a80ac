// Reads an FLV file into its tags (type, timestamp in ms, body) — how RTMP would deliver them.

export function readFlvTags(buf) {
  if (buf.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV file');
  let p = buf.readUInt32BE(5) + 4; // header, then PreviousTagSize0
  const tags = [];
  while (p + 11 <= buf.length) {
    const type = buf[p] & 0x1f;
    const size = buf.readUIntBE(p + 1, 3);
    const timestamp = buf.readUIntBE(p + 4, 3) | (buf[p + 7] << 24);
    if (p + 11 + size > buf.length) break;
    tags.push({ type, timestamp, body: buf.subarray(p + 11, p + 11 + size) });
    p += 11 + size + 4;
  }
  return tags;
}
