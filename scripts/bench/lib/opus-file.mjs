// Opus audio for benchmarks that publish over WebRTC (werift cannot encode Opus): the bench file's audio encoded
// once by Debian's ffmpeg (libopus, 20 ms frames) into Ogg, cached beside it, and read back as bare Opus packets.

import { existsSync, readFileSync, renameSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { benchMedia } from './media.mjs';

/** Opus packet duration in the cached file, ms (ffmpeg's libopus default, asked for explicitly). */
export const OPUS_FRAME_MS = 20;

/** The bench FLV's audio as Opus 48 kHz stereo 64 kb/s in Ogg; made on first use. */
export function benchOpus(root) {
  const flv = benchMedia(root);
  const file = flv.replace(/\.flv$/, '-opus64k.ogg');
  if (existsSync(file)) return file;
  const tmp = file + '.part.ogg';
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-i', flv, '-vn',
    '-c:a', 'libopus', '-b:a', '64k', '-ar', '48000', '-ac', '2', '-frame_duration', String(OPUS_FRAME_MS), '-f', 'ogg', tmp,
  ], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('ffmpeg could not make the benchmark Opus file');
  renameSync(tmp, file);
  return file;
}

/**
 * The Opus packets of an Ogg file (RFC 7845), in order, without the OpusHead and OpusTags header packets. Packets
 * may span pages: a lacing value of 255 means the packet continues in the next segment.
 */
export function readOggOpus(buf) {
  const packets = [];
  let pending = [];
  for (let p = 0; p + 27 <= buf.length; ) {
    if (buf.toString('latin1', p, p + 4) !== 'OggS') throw new Error(`not an Ogg page at byte ${p}`);
    const nseg = buf[p + 26];
    let body = p + 27 + nseg;
    for (let i = 0; i < nseg; i++) {
      const len = buf[p + 27 + i];
      pending.push(buf.subarray(body, body + len));
      body += len;
      if (len < 255) {
        packets.push(pending.length === 1 ? pending[0] : Buffer.concat(pending));
        pending = [];
      }
    }
    p = body;
  }
  const isHeader = (b) => b.length >= 8 && /^Opus(Head|Tags)$/.test(b.toString('latin1', 0, 8));
  return packets.filter((b) => b.length > 0 && !isHeader(b));
}
