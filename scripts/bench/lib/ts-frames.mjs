// The H.264 frames of an MPEG-TS byte stream as it arrives (scripts/bench/mix-link reads the internal feed link with
// it): 188-byte packets, the PAT and the PMT to find the H.264 elementary stream, then each video PES packet — one
// access unit in Annex B, as the engine's tap writes it — with its frame key (h264-frame-key.mjs) and the time the
// chunk holding its LAST byte arrived. A PES packet that states its length is complete with that byte; one that does
// not (a keyframe over 64 KiB) is complete when the next one starts, but its time is still that of its own last
// packet, so the next frame's arrival is never charged to it. Sections are taken to fit one packet (libavformat's
// PAT and PMT do); audio is skipped.

import { annexBFrameKey } from './h264-frame-key.mjs';

const PACKET = 188;
const STREAM_TYPE_H264 = 0x1b;

/**
 * A demuxer: `push(chunk, at)` with each chunk as it came and its arrival time; `onFrame({ key, at, bytes })` once per
 * complete video PES packet (key null for one without slices). `stats()` counts packets, resyncs and frames.
 */
export function tsVideoFrames(onFrame) {
  let rest = null; // the first bytes of a packet split across chunks
  let pmtPid = -1;
  let videoPid = -1;
  let pes = null; // { parts: Buffer[], size, want (ES bytes, 0: unknown), at }
  const stats = { packets: 0, resyncs: 0, frames: 0, unkeyed: 0 };

  const finish = () => {
    if (!pes) return;
    const es = pes.parts.length === 1 ? pes.parts[0] : Buffer.concat(pes.parts, pes.size);
    const key = annexBFrameKey(es);
    stats.frames++;
    if (!key) stats.unkeyed++;
    onFrame({ key, at: pes.at, bytes: pes.size });
    pes = null;
  };

  /** The section a PSI packet's payload starts (after the pointer field), or null. */
  const section = (payload) => (payload.length > 1 ? payload.subarray(1 + payload[0]) : null);

  const onPacket = (p, at) => {
    stats.packets++;
    const pid = ((p[1] & 0x1f) << 8) | p[2];
    const start = (p[1] & 0x40) !== 0;
    const afc = (p[3] >> 4) & 3;
    if (!(afc & 1)) return; // adaptation field only (PCR, stuffing)
    const offset = afc & 2 ? 5 + p[4] : 4;
    if (offset >= PACKET) return;
    const payload = p.subarray(offset);
    if (pid === 0 && start) {
      const s = section(payload);
      if (!s || s[0] !== 0x00) return;
      const end = Math.min(s.length, 3 + (((s[1] & 0x0f) << 8) | s[2]) - 4);
      for (let i = 8; i + 4 <= end; i += 4) {
        const program = (s[i] << 8) | s[i + 1];
        if (program !== 0) {
          pmtPid = ((s[i + 2] & 0x1f) << 8) | s[i + 3];
          break;
        }
      }
    } else if (pid === pmtPid && start) {
      const s = section(payload);
      if (!s || s[0] !== 0x02) return;
      const end = Math.min(s.length, 3 + (((s[1] & 0x0f) << 8) | s[2]) - 4);
      for (let i = 12 + (((s[10] & 0x0f) << 8) | s[11]); i + 5 <= end; i += 5 + (((s[i + 3] & 0x0f) << 8) | s[i + 4])) {
        if (s[i] === STREAM_TYPE_H264) videoPid = ((s[i + 1] & 0x1f) << 8) | s[i + 2];
      }
    } else if (pid === videoPid) {
      if (start) {
        finish(); // a PES without a length ends where the next begins
        if (payload.length < 9 || payload[0] !== 0 || payload[1] !== 0 || payload[2] !== 1) return;
        const length = (payload[4] << 8) | payload[5];
        const headerEnd = 9 + payload[8];
        pes = { parts: [], size: 0, want: length ? length - 3 - payload[8] : 0, at };
        add(payload.subarray(headerEnd), at);
      } else if (pes) add(payload, at);
    }
  };

  const add = (bytes, at) => {
    pes.parts.push(Buffer.from(bytes)); // a copy: the caller may reuse its chunk, and a PES is kept until whole
    pes.size += bytes.length;
    pes.at = at;
    if (pes.want && pes.size >= pes.want) finish();
  };

  const push = (chunk, at) => {
    let buf = rest ? Buffer.concat([rest, chunk]) : chunk;
    rest = null;
    let i = 0;
    while (i + PACKET <= buf.length) {
      if (buf[i] !== 0x47) {
        stats.resyncs++;
        const next = buf.indexOf(0x47, i + 1);
        if (next < 0) {
          i = buf.length;
          break;
        }
        i = next;
        continue;
      }
      onPacket(buf.subarray(i, i + PACKET), at);
      i += PACKET;
    }
    if (i < buf.length) rest = Buffer.from(buf.subarray(i));
  };

  return { push, stats: () => ({ ...stats }) };
}
