// The delay maths of scripts/bench/relay: frames are matched by a hash of their coded slices, which must survive what
// a copying relay does (ffmpeg re-muxing FLV → MPEG-TS → FLV adds access unit delimiters and re-stamps timestamps),
// and each arrival is paired with the last send of that frame before it, across the publisher's loops. The file is
// made by Debian's ffmpeg; sends and arrivals are synthetic, with known delays, so every expected figure is exact.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoPath } from '../../src/paths.js';

const lib = (name: string) => import(pathToFileURL(repoPath(`scripts/bench/lib/${name}`)).href);
const { fileFrameKeys, frameDelays } = await lib('relay-delay.mjs');
const { frameKey, nalLengthSize, isAvcConfig } = await lib('h264-frame-key.mjs');
const { readFlvTags } = await lib('flv-file.mjs');

const dir = mkdtempSync(join(tmpdir(), 'rg-relay-delay-'));
const source = join(dir, 'source.flv');
const relayed = join(dir, 'relayed.flv');
const ff = (...args: string[]) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
// 2 s, 25 fps, noisy (every picture differs), 1 s GOP, no B-frames: like the benchmark's file, smaller
ff('-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25,noise=alls=12:allf=t', '-t', '2', '-pix_fmt', 'yuv420p',
  '-c:v', 'libx264', '-profile:v', 'baseline', '-g', '25', '-sc_threshold', '0', '-f', 'flv', source);
// what a relay's ffmpeg does to it: MPEG-TS in between (AUDs added), timestamps re-based
ff('-i', source, '-c', 'copy', '-f', 'mpegts', join(dir, 'mid.ts'));
ff('-i', join(dir, 'mid.ts'), '-c', 'copy', '-f', 'flv', relayed);

/** Frame keys of a file's video tags that hold a picture, in order. */
function keysOf(file: string): string[] {
  const tags = readFlvTags(readFileSync(file)).filter((x: any) => x.type === 9);
  const size = tags.map((x: any) => nalLengthSize(x.body)).find(Boolean) ?? 4;
  return tags.filter((x: any) => !isAvcConfig(x.body)).map((x: any) => frameKey(x.body, size)).filter(Boolean);
}

t.test('a frame keeps its key through a copying re-mux', async (t) => {
  const a = keysOf(source);
  const b = keysOf(relayed);
  t.equal(a.length, 50, '50 pictures published');
  t.same(b, a, 'the same keys in the same order after FLV → MPEG-TS → FLV');
  t.equal(new Set(a).size, 50, 'every picture has its own key');
});

t.test('each arrival is paired with the last send of its frame, across loops', async (t) => {
  const file = fileFrameKeys(source);
  const n = file.keys.length; // video tags per loop, the end-of-sequence tag included (it has no key)
  t.equal(file.keys.filter((k: string | null) => k === null).length, n - 50, 'only tags without a picture have no key');
  // three loops sent 40 ms apart, from t = 1000 ms
  const sentAt = Float64Array.from({ length: 3 * n }, (_, k) => 1000 + 40 * k);
  // arrivals: every picture of the loops 2 and 3, 25 ms late, 100 ms late for each keyframe-like 10th
  const received = { key: [] as string[], at: [] as number[] };
  const expected: number[] = [];
  for (let k = n; k < 3 * n; k++) {
    const key = file.keys[k % n];
    if (!key) continue;
    const delay = k % 10 === 0 ? 100 : 25;
    received.key.push(key);
    received.at.push(sentAt[k]! + delay);
    expected.push(delay);
  }
  received.key.push('not-a-picture-of-the-file');
  received.at.push(sentAt[2 * n]! + 1);
  const d = frameDelays(file, sentAt, received, sentAt[n]!, sentAt[3 * n - 1]! + 200);
  t.same(d.delays, expected, 'each delay exactly as made, never paired with an earlier loop');
  t.equal(d.foreign, 1, 'a frame that is not the file\'s is counted apart');
  t.equal(d.lost, 0, 'nothing lost');
  t.equal(d.p50, 25);
  t.equal(d.max, 100);

  const missing = { key: received.key.slice(0, 10), at: received.at.slice(0, 10) };
  const partial = frameDelays(file, sentAt, missing, sentAt[n]!, sentAt[2 * n - 1]! + 2000); // sends of loop 2 only
  t.equal(partial.lost, 50 - 10, 'the frames of loop 2 that never arrived are lost');
});
