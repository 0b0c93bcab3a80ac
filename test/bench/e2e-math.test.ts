// The latency maths of scripts/bench/e2e: RTP→FLV timestamp mapping (with the 2^32 wrap and a replayed GOP),
// percentiles and summaries. Synthetic streams with known latencies, so every expected figure is exact.

import t from 'tap';
import { pathToFileURL } from 'node:url';
import { repoPath } from '../../src/paths.js';

const m = await import(pathToFileURL(repoPath('scripts/bench/lib/e2e-math.mjs')).href);

t.test('rtpDiff is signed and wraps at 2^32', async (t) => {
  t.equal(m.rtpDiff(5, 0xfffffffb), 10);
  t.equal(m.rtpDiff(0xfffffffb, 5), -10);
  t.equal(m.rtpDiff(90000, 0), 90000);
  t.equal(m.rtpDiff(0, 0), 0);
});

t.test('nearest-rank percentiles and summaries', async (t) => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  t.equal(m.percentileSorted(xs, 50), 50);
  t.equal(m.percentileSorted(xs, 95), 95);
  t.equal(m.percentileSorted(xs, 99), 99);
  t.equal(m.percentileSorted(xs, 100), 100);
  t.equal(m.percentileSorted([7], 99), 7);
  t.ok(Number.isNaN(m.percentileSorted([], 50)));
  const s = m.summarize([3, 1, 2, NaN, 4]);
  t.same({ n: s.n, min: s.min, p50: s.p50, max: s.max, mean: s.mean }, { n: 4, min: 1, p50: 2, max: 4, mean: 2.5 });
});

/** 30 fps, keyframe every 30 frames, sent in real time from t = 1000 ms. */
function sentStream(frames: number) {
  const pts: number[] = [];
  const sentAt: number[] = [];
  const key: number[] = [];
  const size: number[] = [];
  for (let i = 0; i < frames; i++) {
    pts.push(Math.round((i * 1000) / 30));
    sentAt.push(1000 + (i * 1000) / 30);
    key.push(i % 30 === 0 ? 1 : 0);
    size.push(i % 30 === 0 ? 60000 + i : 8000 + ((i * 7919) % 3000));
  }
  return { pts, sentAt, key, size };
}

t.test('mapVideo maps frames across the 2^32 wrap and measures their latency', async (t) => {
  const sent = sentStream(300);
  // The viewer's constant puts the RTP clock 2 s before the wrap, so it wraps in the middle of the run.
  const c = 0x100000000 - 90 * 5000;
  const latency = (i: number) => 5 + (i % 10); // 5–14 ms
  const recv = { rtp: [] as number[], at: [] as number[], key: [] as number[], bytes: [] as number[] };
  for (let i = 60; i < 300; i++) {
    recv.rtp.push((sent.pts[i] * 90 + c) >>> 0);
    recv.at.push(sent.sentAt[i] + latency(i));
    recv.key.push(sent.key[i]);
    recv.bytes.push(sent.size[i] + 12);
  }
  t.ok(recv.rtp.some((x, i) => i > 0 && x < recv.rtp[i - 1]), 'the RTP timestamps do wrap');
  const r = m.mapVideo(sent, recv);
  t.equal(r.unmatched, 0);
  t.equal(r.negative, 0);
  for (let k = 0; k < recv.rtp.length; k++) t.equal(r.idx[k], k + 60, `frame ${k}`);
  const lat = [...r.idx].map((j: number, k: number) => recv.at[k] - sent.sentAt[j]);
  const s = m.summarize(lat);
  t.equal(Math.round(s.min), 5);
  t.equal(Math.round(s.max), 14);
});

t.test('mapVideo skips a replayed GOP (squeezed timestamps) and re-anchors after it', async (t) => {
  const sent = sentStream(200);
  const c = 123456;
  const recv = { rtp: [] as number[], at: [] as number[], key: [] as number[], bytes: [] as number[] };
  // Join at frame 75: the gateway replays frames 60..75 one tick apart, ending at frame 75's own timestamp.
  const joinAt = sent.sentAt[75] + 3;
  for (let i = 60; i <= 75; i++) {
    recv.rtp.push((sent.pts[75] * 90 + c - (75 - i)) >>> 0);
    recv.at.push(joinAt + (i - 60) * 0.1);
    recv.key.push(sent.key[i]);
    recv.bytes.push(sent.size[i] + 12);
  }
  for (let i = 76; i < 200; i++) {
    recv.rtp.push((sent.pts[i] * 90 + c) >>> 0);
    recv.at.push(sent.sentAt[i] + 4);
    recv.key.push(sent.key[i]);
    recv.bytes.push(sent.size[i] + 12);
  }
  const r = m.mapVideo(sent, recv);
  t.equal(r.replayed, 15, 'the replayed frames before the last one are recognised');
  t.equal(r.unmatched, 0);
  const live = [...r.idx].slice(16);
  t.same(live, Array.from({ length: 124 }, (_, k) => k + 76), 'live frames map to what was sent');
});
