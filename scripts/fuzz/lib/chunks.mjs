// Where the chunk headers are in a recorded client→server RTMP chunk stream, so mutations can aim at length fields,
// header bytes and the command messages instead of only at random offsets. Enough of the chunk format for what
// ffmpeg sends (no extended timestamps on continuation chunks); it is a map for aiming, not a parser under test.

/**
 * @param {Buffer} buf the chunk stream after the handshake
 * @returns {{ headers: {offset:number, fmt:number, lengthOffset:number, typeOffset:number, type:number, length:number}[], firstMedia:number }}
 */
export function mapChunks(buf) {
  const headers = [];
  const streams = new Map();
  let chunkSize = 128;
  let pos = 0;
  let firstMedia = buf.length;
  while (pos < buf.length) {
    const offset = pos;
    const fmt = buf[pos] >> 6;
    let csid = buf[pos++] & 0x3f;
    if (csid === 0) csid = 64 + buf[pos++];
    else if (csid === 1) (csid = 64 + buf[pos] + buf[pos + 1] * 256), (pos += 2);
    const st = streams.get(csid) ?? { length: 0, type: 0, remaining: 0, ts: 0 };
    streams.set(csid, st);
    let lengthOffset = -1;
    let typeOffset = -1;
    if (fmt <= 2) (st.ts = buf.readUIntBE(pos, 3)), (pos += 3);
    if (fmt <= 1) {
      lengthOffset = pos;
      typeOffset = pos + 3;
      st.length = buf.readUIntBE(pos, 3);
      st.type = buf[pos + 3];
      pos += 4;
    }
    if (fmt === 0) pos += 4;
    if (fmt <= 2 && st.ts === 0xffffff) pos += 4;
    if (st.remaining === 0) st.remaining = st.length;
    const n = Math.min(chunkSize, st.remaining);
    if (st.type === 1 && st.remaining === st.length && n >= 4 && pos + 4 <= buf.length) chunkSize = buf.readUInt32BE(pos) & 0x7fffffff;
    if ((st.type === 8 || st.type === 9) && firstMedia === buf.length) firstMedia = offset;
    headers.push({ offset, fmt, lengthOffset, typeOffset, type: st.type, length: st.length });
    pos += n;
    st.remaining -= n;
  }
  return { headers, firstMedia };
}
