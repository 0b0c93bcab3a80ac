#!/usr/bin/env node
// Benchmark of the native AAC → Opus transcoder (native/build/Release/media.node).
//
//   scripts/setup && node scripts/bench/aac-opus.mjs [options]
//     --seconds N        length of the test stream (default 60)
//     --application A    lowdelay | audio | voip (default: the addon's default)
//     --complexity N     0..10 (default: the addon's default)
//     --bitrate N        bit/s (default 64000)
//     --matrix           compare application × complexity (lowdelay/audio × 5/10)
//     --paced S          also push S seconds of frames at real-time pace (one per 23.2 ms, idle between) and
//                        print that CPU: what the transcoder costs in a gateway, where caches go cold between
//                        frames, against the back-to-back figure (default 0: off)
//
// Makes a 44.1 kHz stereo AAC-LC stream with ffmpeg (two tones + a little noise so the encoders
// have real work), splits the ADTS frames, pushes them all in a loop and prints the per-push
// latency (p50/p99/max, µs) and the CPU time as % of one core for one real-time stream
// (CPU seconds / stream seconds).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { answerHelp } from '../lib/usage.mjs';

answerHelp(import.meta.url);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Through the typed wrapper the room uses (dist/, from `npx tsc`), so its per-call cost is in the figures.
const { AacToOpus: AacOpusTranscoder, aacOpusLibraryVersions: libraryVersions } = await import(join(root, 'dist', 'test', 'helpers', 'aac-to-opus.js'));

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const seconds = Number(arg('seconds', 60));
const bitrate = Number(arg('bitrate', 64000));
const matrix = process.argv.includes('--matrix');

// ---- make the stream
const dir = mkdtempSync(join(tmpdir(), 'roomgate-bench-aac-'));
const aacPath = join(dir, 'in.aac');
execFileSync('ffmpeg', [
  '-hide_banner', '-loglevel', 'error', '-y',
  '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`,
  '-f', 'lavfi', '-i', `sine=frequency=1250:sample_rate=44100:duration=${seconds}`,
  '-f', 'lavfi', '-i', `anoisesrc=color=pink:amplitude=0.05:sample_rate=44100:duration=${seconds}`,
  '-filter_complex', '[0][1]amerge=inputs=2[st];[2]aformat=channel_layouts=mono,pan=stereo|c0=c0|c1=c0[n];[st][n]amix=inputs=2:normalize=0[a]',
  '-map', '[a]', '-ac', '2', '-c:a', 'aac', '-b:a', '128k', '-f', 'adts', aacPath,
]);
const adts = readFileSync(aacPath);
rmSync(dir, { recursive: true, force: true });

// ---- split ADTS → raw frames + AudioSpecificConfig
const frames = [];
let asc;
let rate = 0;
for (let off = 0; off + 7 <= adts.length; ) {
  if (adts[off] !== 0xff || (adts[off + 1] & 0xf0) !== 0xf0) throw new Error(`ADTS sync lost at ${off}`);
  const protectionAbsent = adts[off + 1] & 1;
  const profile = adts[off + 2] >> 6;
  const sfi = (adts[off + 2] >> 2) & 15;
  const ch = ((adts[off + 2] & 1) << 2) | (adts[off + 3] >> 6);
  const len = ((adts[off + 3] & 3) << 11) | (adts[off + 4] << 3) | (adts[off + 5] >> 5);
  const hdr = protectionAbsent ? 7 : 9;
  if (!asc) {
    const aot = profile + 1;
    asc = Buffer.from([(aot << 3) | (sfi >> 1), ((sfi & 1) << 7) | (ch << 3)]);
    rate = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350][sfi];
  }
  frames.push(adts.subarray(off + hdr, off + len));
  off += len;
}

function run(opts) {
  const t = new AacOpusTranscoder({ asc, bitrate, ...opts });
  // warm-up on a separate instance so page faults / lazy table init are not in the figures
  const w = new AacOpusTranscoder({ asc, bitrate, ...opts });
  for (let i = 0; i < 50; i++) w.push(frames[i], (i * 1024 * 1000) / rate);
  w.close();

  const lat = new Float64Array(frames.length);
  const configs = new Set();
  let packets = 0;
  let bytes = 0;
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  for (let i = 0; i < frames.length; i++) {
    const t0 = process.hrtime.bigint();
    const out = t.push(frames[i], (i * 1024 * 1000) / rate);
    lat[i] = Number(process.hrtime.bigint() - t0) / 1000;
    packets += out.length;
    for (const p of out) {
      bytes += p.data.length;
      configs.add(p.data[0] >> 3);
    }
  }
  for (const p of t.flush()) {
    packets++;
    bytes += p.data.length;
  }
  const wall = Number(process.hrtime.bigint() - wall0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const stats = t.stats;
  const application = t.application;
  const lookahead = t.lookahead;
  t.close();
  lat.sort();
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  const cpuSec = (cpu.user + cpu.system) / 1e6;
  return {
    application: opts.application ? application : `${application} (default)`,
    lookahead,
    complexity: opts.complexity ?? '5 (default)',
    tocConfigs: [...configs].sort((a, b) => a - b).join(','),
    frames: frames.length,
    packets,
    kbps: +((bytes * 8) / seconds / 1000).toFixed(1),
    p50us: +q(0.5).toFixed(1),
    p99us: +q(0.99).toFixed(1),
    maxus: +lat[lat.length - 1].toFixed(1),
    cpuSec: +cpuSec.toFixed(3),
    cpuPctOfCore: +((cpuSec / seconds) * 100).toFixed(3),
    wallSec: +wall.toFixed(3),
    errors: stats.errors,
  };
}

const v = libraryVersions();
console.log(`aac-opus bench: ${seconds} s of 44.1 kHz stereo AAC-LC (${frames.length} frames) → 48 kHz stereo Opus ${bitrate / 1000} kb/s, 20 ms`);
console.log(`node ${process.version}, avcodec ${v.avcodec}, swresample ${v.swresample}, ${v.opus}`);
const configs = matrix
  ? [
      { application: 'lowdelay', complexity: 5 },
      { application: 'audio', complexity: 5 },
      { application: 'lowdelay', complexity: 10 },
      { application: 'audio', complexity: 10 },
    ]
  : [{ ...(arg('application') ? { application: arg('application') } : {}), ...(arg('complexity') ? { complexity: Number(arg('complexity')) } : {}) }];
const rows = configs.map(run);
console.table(rows);
if (!matrix) {
  const r = rows[0];
  console.log(`push() p50 ${r.p50us} µs, p99 ${r.p99us} µs, max ${r.maxus} µs; CPU ${r.cpuSec} s per ${seconds} s = ${r.cpuPctOfCore} % of one core per real-time stream`);
}

const paced = Number(arg('paced', 0));
if (paced > 0) {
  // The same pushes one frame at a time with the process idle in between, CPU counted around each push only.
  const t = new AacOpusTranscoder({ asc, bitrate, ...configs[0] });
  const frameMs = (1024 * 1000) / rate;
  const n = Math.min(frames.length, Math.round((paced * 1000) / frameMs));
  let cpuUs = 0;
  let next = performance.now();
  for (let i = 0; i < n; i++) {
    next += frameMs;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    const c0 = process.cpuUsage();
    t.push(frames[i], i * frameMs);
    const c = process.cpuUsage(c0);
    cpuUs += c.user + c.system;
  }
  t.close();
  const pct = (cpuUs / 1e6 / ((n * frameMs) / 1000)) * 100;
  console.log(`paced at real time (${n} frames, idle between): ${pct.toFixed(3)} % of one core, ${(pct / rows[0].cpuPctOfCore).toFixed(1)}× the back-to-back figure`);
}
