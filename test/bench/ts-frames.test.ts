// The MPEG-TS side of scripts/bench/mix-link: the frames of the internal feed link are found by demuxing the bytes as
// they arrive (lib/ts-frames.mjs) and keyed like the publisher's FLV tags (lib/h264-frame-key.mjs), and each frame's
// time is when its last byte came. Debian's ffmpeg makes the file and muxes it to MPEG-TS with the options the
// engine's tap uses (a video PES states its length when it fits 16 bits; keyframes here do not), and ffprobe says
// where each frame starts and how big it is.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoPath } from '../../src/paths.js';

const lib = (name: string) => import(pathToFileURL(repoPath(`scripts/bench/lib/${name}`)).href);
const { tsVideoFrames } = await lib('ts-frames.mjs');
const { frameKey, nalLengthSize, isAvcConfig } = await lib('h264-frame-key.mjs');
const { readFlvTags } = await lib('flv-file.mjs');

const dir = mkdtempSync(join(tmpdir(), 'rg-ts-frames-'));
const flv = join(dir, 'source.flv');
const ts = join(dir, 'feed.ts');
const ff = (...args: string[]) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
// 2 s of 720p at 25 fps, 1 s GOP, nearly lossless: keyframes over 64 KiB (a PES without its length), P-frames under
ff('-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=25', '-t', '2', '-pix_fmt', 'yuv420p',
  '-c:v', 'libx264', '-profile:v', 'baseline', '-g', '25', '-sc_threshold', '0', '-crf', '4', '-f', 'flv', flv);
ff('-i', flv, '-c', 'copy', '-f', 'mpegts', '-pes_payload_size', '0', '-omit_video_pes_length', '0', ts);
const bytes = readFileSync(ts);
const probed = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pos,size,flags', '-of', 'csv=p=0', ts], { encoding: 'utf8' })
  .split('\n').filter(Boolean).map((l) => {
    const [size, pos, flags] = l.split(',');
    return { size: Number(size), pos: Number(pos), key: flags!.startsWith('K') };
  });

const flvTags = readFlvTags(readFileSync(flv)).filter((x: any) => x.type === 9);
const lengthSize = flvTags.map((x: any) => nalLengthSize(x.body)).find(Boolean) ?? 4;
const flvKeys = flvTags.filter((x: any) => !isAvcConfig(x.body)).map((x: any) => frameKey(x.body, lengthSize)).filter(Boolean);

/** Demuxes `parts` ([bytes, arrival time] in order); the frames, each with the part during which it was emitted. */
function demux(parts: [Buffer, number][]) {
  const frames: { key: string | null; at: number; bytes: number; emittedIn: number }[] = [];
  let current = 0;
  const d = tsVideoFrames((f: { key: string | null; at: number; bytes: number }) => frames.push({ ...f, emittedIn: current }));
  for (const [chunk, at] of parts) {
    current = at;
    d.push(chunk, at);
  }
  return { frames, stats: d.stats() };
}

const chunks = (size: number): [Buffer, number][] =>
  Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => [bytes.subarray(i * size, (i + 1) * size), i]);

t.test('the frames of the MPEG-TS have the keys of the FLV tags they came from', async (t) => {
  t.equal(flvKeys.length, 50, '50 pictures in the FLV');
  t.equal(probed.length, 50, 'ffprobe finds 50 video packets in the MPEG-TS');
  t.ok(probed.some((p) => p.key && p.size > 65535) && probed.some((p) => p.size < 60000), 'keyframes over 64 KiB and frames under it');
  const whole = demux([[bytes, 0]]);
  t.same(whole.frames.map((f) => f.key), flvKeys, 'the same keys in the same order, from one chunk');
  t.same(whole.frames.map((f) => f.bytes), probed.map((p) => p.size), "each frame's bytes as ffprobe counts them");
  t.equal(whole.stats.resyncs, 0, 'never out of step with the packets');
  for (const size of [1000, 187, 65536]) {
    t.same(demux(chunks(size)).frames.map((f) => f.key), flvKeys, `the same from chunks of ${size} bytes`);
  }
});

t.test("a frame's time is that of its last byte, even when it is known whole only later", async (t) => {
  // cut right before the frame after each keyframe: the keyframe (no PES length) is whole only once the next PES
  // starts, in the second part; it must still carry the first part's time
  const cuts = probed.map((p, i) => ({ p, i })).filter(({ p, i }) => p.key && i + 1 < probed.length);
  t.ok(cuts.length >= 1, `${cuts.length} keyframe(s) to cut after`);
  for (const { i } of cuts) {
    const x = probed[i + 1]!.pos;
    const { frames } = demux([[bytes.subarray(0, x), 1], [bytes.subarray(x), 2]]);
    t.equal(frames[i]!.emittedIn, 2, `keyframe ${i} (${probed[i]!.size} bytes) is emitted when frame ${i + 1} starts`);
    t.equal(frames[i]!.at, 1, 'with the time of the part that held its last byte');
    t.equal(frames[i + 1]!.at, 2, `frame ${i + 1}: the second part's`);
  }
  // a frame that states its length is emitted with its last byte
  const small = probed.findIndex((p, i) => i > 0 && p.size < 60000 && i + 1 < probed.length);
  const { frames } = demux([[bytes.subarray(0, probed[small + 1]!.pos), 1], [bytes.subarray(probed[small + 1]!.pos), 2]]);
  t.equal(frames[small]!.emittedIn, 1, `frame ${small} (${probed[small]!.size} bytes, its length stated) is emitted at its last byte`);
  t.equal(frames[small]!.at, 1);
});
