#!/usr/bin/env node
// Micro-benchmark of the RTMP/FLV media hot path: every tag of a 720p30 2.5 Mb/s baseline H.264 + AAC FLV made by
// ffmpeg goes through FlvToMedia (parse, policy, B-frame check, NAL split, one copy) into a no-op sink.
// Prints ns per tag, the median of several runs. Needs `npx tsc -p tsconfig.json` first.
//   node scripts/bench/flv-parse.mjs [runs=9] [seconds of media=10]

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answerHelp } from '../lib/usage.mjs';

answerHelp(import.meta.url);

const root = new URL('../../', import.meta.url);
const { FlvToMedia } = await import(new URL('dist/src/media/flv-to-media.js', root).href);

const runs = Number(process.argv[2] ?? 9);
const seconds = Number(process.argv[3] ?? 10);

function makeFlv() {
  const dir = join(tmpdir(), 'roomgate-bench');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `720p30-2500k-baseline-aac-${seconds}s.flv`);
  if (existsSync(path)) return path;
  const tmp = `${path}.${process.pid}.tmp`;
  execFileSync('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
    '-t', String(seconds), '-pix_fmt', 'yuv420p',
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'baseline', '-g', '60',
    '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '5000k',
    '-c:a', 'aac', '-b:a', '128k', '-f', 'flv', tmp,
  ]);
  renameSync(tmp, path);
  return path;
}

function readFlv(buf) {
  const tags = [];
  let off = buf.readUInt32BE(5) + 4;
  while (off + 11 <= buf.length) {
    const type = buf[off] & 0x1f;
    const size = buf.readUIntBE(off + 1, 3);
    const timestamp = (buf.readUIntBE(off + 4, 3) | (buf[off + 7] << 24)) >>> 0;
    if (off + 11 + size > buf.length) break;
    if (type === 8 || type === 9) tags.push({ type, timestamp, body: buf.subarray(off + 11, off + 11 + size) });
    off += 11 + size + 4;
  }
  return tags;
}

const noop = () => {};
const sink = { setVideoConfig: noop, setAudioConfig: noop, pushFrame: noop, end: noop };

function pass(tags) {
  const conv = new FlvToMedia(sink);
  for (let i = 0; i < tags.length; i++) {
    const t = tags[i];
    if (conv.push(t.type, t.timestamp, t.body) !== null) throw new Error('refused: ' + conv.refusal.reason);
  }
}

function measure(tags, repeat) {
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < repeat; r++) pass(tags);
  return Number(process.hrtime.bigint() - t0) / (repeat * tags.length);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const path = makeFlv();
const file = readFileSync(path);
const all = readFlv(file);
const video = all.filter((t) => t.type === 9);
const audio = all.filter((t) => t.type === 8);
const bytes = all.reduce((n, t) => n + t.body.length, 0);

// Warm up, then pick a repeat count giving runs of about 250 ms.
for (let i = 0; i < 20; i++) pass(all);
const probe = measure(all, 5);
const repeat = Math.max(1, Math.round(250e6 / (probe * all.length)));

const result = (tags) => median(Array.from({ length: runs }, () => measure(tags, repeat)));
const nsAll = result(all);
const nsVideo = result(video);
const nsAudio = result(audio);

console.log(`file: ${path} (${(file.length / 1e6).toFixed(2)} MB, ${all.length} tags: ${video.length} video, ${audio.length} audio, avg ${Math.round(bytes / all.length)} B/tag)`);
console.log(`node ${process.version}, ${runs} runs × ${repeat} passes`);
console.log(`all tags:   ${nsAll.toFixed(0)} ns/tag (median)`);
console.log(`video tags: ${nsVideo.toFixed(0)} ns/tag`);
console.log(`audio tags: ${nsAudio.toFixed(0)} ns/tag`);
const tagsPerSecond = all.length / seconds;
console.log(`≈ ${((nsAll * tagsPerSecond) / 1e9 * 100).toFixed(4)} % of one core per 720p30 publisher (${tagsPerSecond.toFixed(0)} tags/s)`);
