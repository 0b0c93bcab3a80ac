// Fuzz: random bytes and mutations of real tags (bit flips, truncation, huge length fields, header bytes) go to one
// FlvToMedia; a second, healthy one is fed the real stream in the same loop. The fuzzed one may only return a
// Refusal or skip, never throw, and whatever it does hand its sink must still be well formed. The healthy one must
// produce exactly the frames of a clean run.

import t from 'tap';
import { performance } from 'node:perf_hooks';
import { FlvToMedia } from '../../src/media/flv-to-media.js';
import type { Refusal } from '../../src/media/policy.js';
import type { VideoFrame } from '../../src/media/model.js';
import { avFlv, type FlvTagRecord } from './helpers/flv-file.js';
import { feed, RecordingSink } from './helpers/sink.js';
import { mulberry32 } from '../helpers/random.js';

// 10⁵ like the other parser fuzzers (test/media/parser-fuzz.test.ts): about 2 s here.
const ITERATIONS = Number(process.env['FUZZ_ITERATIONS'] ?? 100_000);
const SEED = Number(process.env['FUZZ_SEED'] ?? 0x5eed);


/** Checks what a (possibly fuzzed) converter handed its sink. */
class CheckingSink extends RecordingSink {
  problems: string[] = [];
  override pushFrame(frame: VideoFrame | { kind: 'audio'; dts: number; data: Buffer }): void {
    if (frame.kind === 'video') {
      if (this.videoConfigs.length === 0) this.problems.push('video frame before a video config');
      if (frame.nalus.length === 0) this.problems.push('video frame without NAL units');
      for (const n of frame.nalus) {
        if (n.length === 0) this.problems.push('empty NAL unit');
        else if ((n[0]! & 0x1f) === 9 || (n[0]! & 0x1f) === 12) this.problems.push('AUD or filler left in');
      }
      if (frame.pts !== frame.dts) this.problems.push('pts != dts got through');
    } else {
      if (this.audioConfigs.length === 0) this.problems.push('audio frame before an audio config');
      if (frame.data.length === 0) this.problems.push('empty audio frame');
    }
    // Keep memory flat over thousands of iterations: only the checks matter here.
  }
  override setVideoConfig(config: Parameters<RecordingSink['setVideoConfig']>[0]): void {
    if (!(config.width > 0 && config.height > 0) || config.sps.length === 0 || config.pps.length === 0) {
      this.problems.push(`bad video config ${config.width}x${config.height}`);
    }
    if (![1, 2, 4].includes(config.naluLengthSize)) this.problems.push(`naluLengthSize ${config.naluLengthSize}`);
    super.setVideoConfig(config);
  }
}

const CODES = new Set(['h265', 'video-codec', 'bframes', 'audio-codec', 'malformed']);

t.test('fuzzed tags only ever yield a Refusal or a skip; a healthy neighbour is unaffected', async (t) => {
  const flv = await avFlv({ seconds: 1 });
  const real = flv.tags.filter((x) => x.type === 8 || x.type === 9);
  const headers = real.filter((x) => x.body[1] === 0);
  t.equal(headers.length, 2, 'one video and one audio sequence header');

  // The reference: one clean pass.
  const ref = new RecordingSink();
  t.equal(feed(new FlvToMedia(ref), real).refusal, null);

  const rand = mulberry32(SEED);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(a: readonly T[]) => a[int(a.length)]!;

  const healthySink = new RecordingSink();
  const healthy = new FlvToMedia(healthySink);
  let healthyPos = 0;
  let healthyPushes = 0;

  let fuzzSink = new CheckingSink();
  let fuzz = new FlvToMedia(fuzzSink);
  const prime = () => {
    fuzzSink = new CheckingSink();
    fuzz = new FlvToMedia(fuzzSink);
    for (const h of headers) fuzz.push(h.type as 8 | 9, h.timestamp, h.body);
  };
  prime();

  const counts: Record<string, number> = { null: 0 };
  const problems: string[] = [];
  const thrown: string[] = [];

  const mutate = (src: FlvTagRecord): FlvTagRecord => {
    let body = Buffer.from(src.body);
    let type = src.type;
    switch (int(8)) {
      case 0: { // bit flips
        const flips = 1 + int(8);
        for (let i = 0; i < flips && body.length; i++) body[int(body.length)]! ^= 1 << int(8);
        break;
      }
      case 1: // truncation
        body = body.subarray(0, int(body.length + 1));
        break;
      case 2: { // a length field set huge (or just wrong): NAL lengths in frames, SPS/PPS lengths in avcC
        const at = body.length > 9 ? 5 + int(Math.min(body.length - 9, 16)) : 0;
        if (body.length >= at + 4) body.writeUInt32BE(pick([0xffffffff, 0x7fffffff, body.length, body.length - at - 3, int(0x10000)]), at);
        break;
      }
      case 3: // header bytes
        body[0] = int(256);
        if (body.length > 1 && rand() < 0.5) body[1] = int(256);
        break;
      case 4: // random bytes
        body = Buffer.from(Array.from({ length: int(48) }, () => int(256)));
        type = rand() < 0.5 ? 8 : 9;
        break;
      case 5: // Enhanced RTMP header over real payload
        body = Buffer.concat([Buffer.from([0x80 | int(128)]), Buffer.from(pick(['avc1', 'hvc1', 'av01', 'mp4a', 'Opus', 'zzzz'])), body.subarray(int(6))]);
        break;
      case 6: // CTS / packet type
        if (body.length >= 5) body.writeIntBE(pick([0, 0, -1, 33, -0x800000]), 2, 3);
        if (body.length >= 2 && rand() < 0.3) body[1] = int(4);
        break;
      default: { // splice two tags
        const other = pick(real).body;
        body = Buffer.concat([body.subarray(0, int(body.length + 1)), other.subarray(int(other.length + 1))]);
      }
    }
    return { type, timestamp: src.timestamp + int(5000), body };
  };

  const startedAt = performance.now();
  for (let i = 0; i < ITERATIONS; i++) {
    // Healthy publisher: the real stream, over and over.
    const h = real[healthyPos]!;
    const hr = healthy.push(h.type as 8 | 9, h.timestamp, h.body);
    if (hr !== null) problems.push(`healthy converter refused: ${hr.reason}`);
    healthyPos = (healthyPos + 1) % real.length;
    healthyPushes++;

    // Fuzzed publisher.
    const m = rand() < 0.1 ? pick(real) : mutate(pick(real));
    let r: Refusal | null = null;
    try {
      r = fuzz.push(m.type as 8 | 9, m.timestamp, m.body);
    } catch (e) {
      thrown.push(`iteration ${i} (seed ${SEED}): ${(e as Error).stack}`);
      prime();
      continue;
    }
    if (r === null) {
      counts['null']!++;
    } else {
      if (!CODES.has(r.code) || typeof r.reason !== 'string' || r.reason.length < 10) problems.push(`odd refusal ${r.code}: ${r.reason}`);
      counts[r.code] = (counts[r.code] ?? 0) + 1;
      prime();
    }
    problems.push(...fuzzSink.problems.splice(0));
  }

  t.comment(`${ITERATIONS} fuzzed tags (and as many healthy ones) in ${Math.round(performance.now() - startedAt)} ms, seed ${SEED}`);
  t.same(thrown.slice(0, 5), [], 'nothing thrown');
  t.same(problems.slice(0, 5), [], 'no malformed output and no healthy refusal');
  t.ok(counts['malformed']! > ITERATIONS / 10, `refusals by code: ${JSON.stringify(counts)}`);
  t.ok(counts['null']! > ITERATIONS / 10, 'plenty of mutations were survivable');

  // The healthy converter: whole passes produce exactly the reference frames, in order.
  const passes = Math.floor(healthyPushes / real.length);
  const refVideo = ref.video;
  const refAudio = ref.audio;
  const partialVideo = real.slice(0, healthyPos).filter((x) => x.type === 9 && x.body[1] === 1).length;
  const partialAudio = real.slice(0, healthyPos).filter((x) => x.type === 8 && x.body[1] === 1).length;
  t.equal(healthySink.video.length, passes * refVideo.length + partialVideo, 'video frame count');
  t.equal(healthySink.audio.length, passes * refAudio.length + partialAudio, 'audio frame count');
  t.equal(healthySink.videoConfigs.length, 1, 'repeated sequence headers are not re-announced');
  t.equal(healthySink.audioConfigs.length, 1);
  let mismatch = -1;
  healthySink.video.forEach((f, i) => {
    const want = refVideo[i % refVideo.length]!;
    if (mismatch < 0 && (f.dts !== want.dts || f.pts !== want.pts || f.keyframe !== want.keyframe ||
      f.nalus.length !== want.nalus.length || f.nalus.some((n, j) => !n.equals(want.nalus[j]!)))) mismatch = i;
  });
  healthySink.audio.forEach((f, i) => {
    const want = refAudio[i % refAudio.length]!;
    if (mismatch < 0 && (f.dts !== want.dts || !f.data.equals(want.data))) mismatch = 100000 + i;
  });
  t.equal(mismatch, -1, 'every healthy frame equals the reference frame');
});
