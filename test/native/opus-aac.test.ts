// Opus → AAC core (native/src/opus_aac_core.cc) through `testing.opusToAac`: real Opus from ffmpeg's libopus in,
// AAC-LC out, written as ADTS and checked by ffprobe and ffmpeg (codec, rate, duration, the tones' frequencies), plus
// the timeline rules: a gap is filled so later frames stay on the input clock, a jump beyond 10 s is re-timed, a
// duplicate is dropped, and packets the decoder rejects are counted without harm.
// Needs the addon: node scripts/build-native.mjs

import t, { type TAP } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireAddon } from '../../src/native/load-addon.js';
import { mulberry32 } from '../helpers/random.js';
import { analyse } from './fixtures/aac.js';
import {
  correlation,
  decodeToPcm,
  makeOpus,
  opusPacketSamples,
  probeAudio,
  probeDuration,
  writeAdts,
  type OpusPacket,
} from './fixtures/opus-aac.js';

interface AacFrame {
  data: Buffer;
  pts48k: number;
}
interface OpusToAacResult {
  asc: Buffer;
  frames: AacFrame[];
  errors: number;
  priming: number;
  stats: { packetsIn: number; framesOut: number; errors: number; gapFills: number; filledSamples: number; late: number; resyncs: number; lastError: string };
}
interface Testing {
  opusToAac(packets: OpusPacket[], bitrate?: number, channels?: number): OpusToAacResult;
}

const { mod, error: loadError } = requireAddon<{ testing: Testing }>('media');
if (!mod) {
  t.fail(`native addon media not built: ${loadError}`);
  process.exit(1);
}
const { opusToAac } = mod.testing;

const dir = mkdtempSync(join(tmpdir(), 'roomgate-opus-aac-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const SECONDS = 3;
// Left 440 Hz, right 1 kHz: a swapped or mixed-down channel shows as a wrong frequency.
const twoTones = makeOpus(
  `aevalsrc=0.5*sin(2*PI*440*t)|0.5*sin(2*PI*1000*t):s=48000:d=${SECONDS}`,
  2,
);
const oggPath = join(dir, 'two-tones.ogg');
writeFileSync(oggPath, twoTones.ogg);

function writeAac(name: string, r: OpusToAacResult): string {
  const path = join(dir, name);
  writeFileSync(path, writeAdts(r.asc, r.frames.map((f) => f.data)));
  return path;
}

/** Index of the first frame whose pts is not the previous one + 1024, or -1. */
function firstDiscontinuity(frames: AacFrame[]): number {
  return frames.findIndex((f, i) => i > 0 && f.pts48k - frames[i - 1].pts48k !== 1024);
}

/** The frames must cover the input timeline from its first sample (less the priming) to its last. */
function checkCoversInput(t: Pick<TAP, 'equal' | 'ok'>, r: OpusToAacResult, packets: OpusPacket[]) {
  t.equal(r.frames[0].pts48k, packets[0].pts48k - r.priming, `first frame at the first packet's pts less the priming (${r.priming})`);
  t.equal(firstDiscontinuity(r.frames), -1, 'every next frame 1024 samples later');
  const last = packets[packets.length - 1];
  const inputEnd = last.pts48k + opusPacketSamples(last.data);
  const outputEnd = r.frames[r.frames.length - 1].pts48k + 1024;
  t.ok(outputEnd >= inputEnd && outputEnd < inputEnd + 1024, `frames end at ${outputEnd}, the input at ${inputEnd}`);
}

t.test('stereo Opus → AAC-LC 48 kHz: ffprobe reads it, the duration holds, each channel keeps its tone', async (t) => {
  const r = opusToAac(twoTones.packets);
  t.equal(twoTones.packets.length, 151, '151 Opus packets of 20 ms from ffmpeg');
  t.equal(r.errors, 0, 'no errors');
  t.same(r.stats, { packetsIn: 151, framesOut: r.frames.length, errors: 0, gapFills: 0, filledSamples: 0, late: 0, resyncs: 0, lastError: '' }, 'stats');
  t.equal(r.asc.subarray(0, 2).toString('hex'), '1190', 'ASC: AAC-LC, 48 kHz, 2 channels');
  t.equal(r.priming, 1024, 'priming of FFmpeg\'s AAC encoder');
  checkCoversInput(t, r, twoTones.packets);

  const aacPath = writeAac('two-tones.aac', r);
  const probe = probeAudio(aacPath);
  t.same(probe, { codec: 'aac', profile: 'LC', sampleRate: 48000, channels: 2, packets: r.frames.length }, 'ffprobe: AAC-LC, 48 kHz, stereo');
  const inSeconds = probeDuration(oggPath);
  // ADTS carries no timestamps: its duration is its frames, less the priming the frames' pts declare.
  const outSeconds = (probe.packets * 1024 - r.priming) / 48000;
  t.ok(Math.abs(outSeconds - inSeconds) < 0.03, `duration ${outSeconds.toFixed(4)} s ≈ input ${inSeconds.toFixed(4)} s (±30 ms)`);
  const bytes = r.frames.reduce((n, f) => n + f.data.length, 0);
  const kbps = (bytes * 8) / outSeconds / 1000;
  t.ok(kbps > 90 && kbps < 170, `bitrate ${kbps.toFixed(0)} kb/s near the 128 kb/s default`);

  const pcm = decodeToPcm(aacPath, 2);
  t.equal(pcm.length / 2, probe.packets * 1024, 'ffmpeg decodes every frame');
  for (const [ch, hz] of [[0, 440], [1, 1000]]) {
    const a = analyse(pcm, 2, ch);
    t.ok(a.rms > 8000, `channel ${ch}: RMS ${a.rms.toFixed(0)} (a 0.5 sine is 11585)`);
    t.ok(Math.abs(a.frequency - hz) < 2, `channel ${ch}: ${a.frequency.toFixed(1)} Hz ≈ ${hz} Hz`);
  }
});

t.test('mono output at 64 kb/s: channel configuration 1, the tone survives', async (t) => {
  const mono = makeOpus(`sine=frequency=440:sample_rate=48000:duration=2`, 1, '48k');
  const r = opusToAac(mono.packets, 64000, 1);
  t.equal(r.errors, 0, 'no errors');
  t.equal(r.asc.subarray(0, 2).toString('hex'), '1188', 'ASC: AAC-LC, 48 kHz, 1 channel');
  checkCoversInput(t, r, mono.packets);
  const aacPath = writeAac('mono.aac', r);
  const probe = probeAudio(aacPath);
  t.same([probe.codec, probe.sampleRate, probe.channels], ['aac', 48000, 1], 'ffprobe: AAC, 48 kHz, mono');
  const a = analyse(decodeToPcm(aacPath, 1), 1, 0);
  t.ok(Math.abs(a.frequency - 440) < 2, `${a.frequency.toFixed(1)} Hz ≈ 440 Hz`);
});

t.test('a gap of 10 lost packets is filled: later frames stay on the input timeline', async (t) => {
  // A chirp (300 → 900 Hz): unlike a steady tone, audio shifted by 200 ms no longer lines up with the original.
  const chirp = makeOpus(`aevalsrc=0.5*sin(2*PI*(300*t+100*t*t)):s=48000:d=${SECONDS}`, 2);
  const full = opusToAac(chirp.packets);
  const lost = chirp.packets.filter((_, i) => i < 50 || i >= 60); // 1.0 s .. 1.2 s
  const gapped = opusToAac(lost);
  t.equal(gapped.errors, 0, 'a gap is no error');
  t.same([gapped.stats.gapFills, gapped.stats.filledSamples], [1, 9600], 'one gap of 9600 samples filled');
  t.same(gapped.frames.map((f) => f.pts48k), full.frames.map((f) => f.pts48k), 'the same frames at the same pts as without loss');
  checkCoversInput(t, gapped, lost);

  const a = decodeToPcm(writeAac('chirp-full.aac', full), 2);
  const b = decodeToPcm(writeAac('chirp-gapped.aac', gapped), 2);
  t.equal(b.length, a.length, 'as many samples decoded as without loss');
  const start = 1.3 * 48000 + full.priming;
  const length = 1.5 * 48000;
  const aligned = correlation(a, b, 2, 0, start, length);
  const shifted = correlation(a, b, 2, 0, start, length, -9600);
  t.ok(aligned > 0.95, `after the gap the audio matches the lossless run sample for sample (correlation ${aligned.toFixed(3)})`);
  t.ok(shifted < 0.5, `(it would not, shifted by the gap: ${shifted.toFixed(3)})`);
});

t.test('a jump beyond 10 s is re-timed; a duplicate packet is dropped', async (t) => {
  const jump = 20 * 48000;
  const jumped = twoTones.packets.map((p, i) => (i < 75 ? p : { data: p.data, pts48k: p.pts48k + jump }));
  const r = opusToAac(jumped);
  t.same([r.errors, r.stats.resyncs, r.stats.gapFills], [0, 1, 0], 'one resync, nothing filled');
  const k = firstDiscontinuity(r.frames);
  t.ok(k > 0, `a discontinuity at frame ${k}`);
  t.equal(firstDiscontinuity(r.frames.slice(k)), -1, 'only one');
  const step = r.frames[k].pts48k - r.frames[k - 1].pts48k;
  t.ok(step > jump && step <= jump + 1024, `the pts jump by ${step} (input: ${jump}, plus the padding of the last frame before it)`);
  const last = jumped[jumped.length - 1];
  const inputEnd = last.pts48k + 960;
  const outputEnd = r.frames[r.frames.length - 1].pts48k + 1024;
  t.ok(outputEnd >= inputEnd && outputEnd < inputEnd + 2048, `frames end at ${outputEnd} on the new clock (input ${inputEnd})`);

  const clean = opusToAac(twoTones.packets);
  const dup = [...twoTones.packets.slice(0, 31), twoTones.packets[30], ...twoTones.packets.slice(31)];
  const d = opusToAac(dup);
  t.same([d.errors, d.stats.late], [0, 1], 'the duplicate counted as late');
  t.same(d.frames, clean.frames, 'frames identical to the run without the duplicate');
});

t.test('packets the decoder rejects are counted and concealed; the rest of the stream is unharmed', async (t) => {
  const clean = opusToAac(twoTones.packets);
  const invalid = [
    Buffer.alloc(0), // empty
    Buffer.from([0xfb]), // code 3 without its frame count byte
    Buffer.from([0xfb, 0x00]), // code 3, zero frames
    Buffer.from([0xf9, 0x01]), // code 1 (two equal frames) with an odd payload
    Buffer.from([0x1b, 0x03, 0, 0, 0]), // code 3, three 60 ms SILK frames: 180 ms > 120 ms
  ];
  const at = [20, 40, 60, 80, 100];
  const bad = twoTones.packets.map((p, i) => (at.includes(i) ? { data: invalid[at.indexOf(i)], pts48k: p.pts48k } : p));
  const r = opusToAac(bad);
  t.equal(r.errors, 5, 'each invalid packet counted');
  t.match(r.stats.lastError, /Opus/, `lastError says what was wrong: "${r.stats.lastError}"`);
  t.same([r.stats.gapFills, r.stats.filledSamples], [5, 5 * 960], 'each one\'s place concealed when the next packet came');
  t.same(r.frames.map((f) => f.pts48k), clean.frames.map((f) => f.pts48k), 'the same frames at the same pts');
  const pcm = decodeToPcm(writeAac('invalid.aac', r), 2);
  for (const [ch, hz] of [[0, 440], [1, 1000]]) {
    const a = analyse(pcm, 2, ch);
    t.ok(Math.abs(a.frequency - hz) < 2, `channel ${ch}: still ${a.frequency.toFixed(1)} Hz`);
  }

  // Random bytes in place of 20 packets: some parse as Opus (and decode to noise), the rest are rejected.
  const rand = mulberry32(0x0a5c);
  const garbled = new Set<number>();
  while (garbled.size < 20) garbled.add(5 + Math.floor(rand() * 140));
  const noisy = twoTones.packets.map((p, i) => {
    if (!garbled.has(i)) return p;
    const data = Buffer.alloc(1 + Math.floor(rand() * 300));
    for (let j = 0; j < data.length; j++) data[j] = Math.floor(rand() * 256);
    return { data, pts48k: p.pts48k };
  });
  const g = opusToAac(noisy);
  t.ok(g.errors > 0 && g.errors <= 20, `${g.errors} of 20 random packets rejected`);
  t.equal(g.stats.resyncs, 0, 'the timeline never jumped');
  // A random packet that parses as a longer one (up to 120 ms) takes the place of the real packets after it, which
  // then arrive "late" and are dropped: at most 5 for each random packet accepted.
  t.ok(g.stats.late <= 5 * (20 - g.errors), `${g.stats.late} real packets displaced by random ones that parsed`);
  checkCoversInput(t, g, noisy);
  t.equal(probeAudio(writeAac('random.aac', g)).packets, g.frames.length, 'ffprobe reads every frame');
});

t.test('bad arguments throw sentences naming the option', async (t) => {
  t.throws(() => opusToAac([], 8000), { name: 'RangeError', message: /bitrate must be 0 \(64 kb\/s per channel\) or between 16000 and 320000 bit\/s \(got 8000\)/ });
  t.throws(() => opusToAac([], 0, 6), { name: 'RangeError', message: /channels must be 1 or 2 \(got 6\)/ });
  t.throws(() => opusToAac([{ data: Buffer.from([0xfc]), pts48k: 0.5 }]), { name: 'TypeError', message: /packets\[0\] must be/ });
  const empty = opusToAac([]);
  t.same([empty.frames.length, empty.errors], [0, 0], 'no packets: no frames');
  t.equal(empty.asc.subarray(0, 2).toString('hex'), '1190', 'the ASC is known before any packet');
});
