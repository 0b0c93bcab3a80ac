// The latency maths of scripts/bench/e2e, kept free of I/O so it can be unit-tested: mapping received RTP
// timestamps back to the FLV timestamps the publisher sent (with 32-bit wrap-around), percentiles, frame loss.
//
// Conventions: times are milliseconds on one machine-wide monotonic clock (CLOCK_MONOTONIC, as
// process.hrtime), so send times from the publisher process and arrival times from viewer processes compare.
// FLV timestamps are integer milliseconds. A server is assumed to send H.264 with RTP timestamp = pts × 90 + c
// and Opus with RTP timestamp = dts × 48 + c' (per viewer constants, c may change when the server splices in a
// replayed GOP); the constants are learnt from the data.

export const VIDEO_CLOCK_KHZ = 90;
export const AUDIO_CLOCK_KHZ = 48;
/** Opus packet duration the audio grid assumes (ms). */
export const OPUS_FRAME_MS = 20;

/** `a - b` on 32-bit RTP timestamps, as a signed number in (-2^31, 2^31]. */
export function rtpDiff(a, b) {
  const d = (a - b) >>> 0;
  return d > 0x80000000 ? d - 0x100000000 : d;
}

/** Nearest-rank percentile (p in 0..100) of an already sorted numeric array; NaN when empty. */
export function percentileSorted(sorted, p) {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (p <= 0) return sorted[0];
  const rank = Math.ceil((p / 100) * n);
  return sorted[Math.min(n, Math.max(1, rank)) - 1];
}

/** { n, p50, p95, p99, max, min, mean } of a list of numbers (any iterable; NaN entries are ignored). */
export function summarize(values) {
  const xs = Float64Array.from([...values].filter((x) => !Number.isNaN(x)));
  xs.sort();
  let sum = 0;
  for (const x of xs) sum += x;
  return {
    n: xs.length,
    min: xs.length ? xs[0] : NaN,
    p50: percentileSorted(xs, 50),
    p95: percentileSorted(xs, 95),
    p99: percentileSorted(xs, 99),
    max: xs.length ? xs[xs.length - 1] : NaN,
    mean: xs.length ? sum / xs.length : NaN,
  };
}

/** Index of the last element of the ascending array `a` that is ≤ x, or -1. */
export function lastAtMost(a, x) {
  let lo = 0;
  let hi = a.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= x) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

/** RTP timestamp steps at or below this (90 kHz ticks) mark a GOP replayed with squeezed timestamps. */
const SQUEEZE_TICKS = 10;
/** Frames compared when identifying which sent frame a received one is. */
const RUN = 8;
/** Largest relative size mismatch (payload bytes vs FLV body) accepted for an identification. */
const MAX_SIZE_MISMATCH = 0.1;
/** How far back (ms of send time) an identification looks. */
const LOOKBACK_MS = 10000;

/**
 * Maps one viewer's received video frames to the frames the publisher sent.
 *
 * sent: { pts: number[] (ms, ascending), sentAt: number[], key: (0|1)[], size?: number[] (FLV tag body bytes) }
 *   — one stream's video tags in send order.
 * recv: { rtp: number[], at: number[], key: (0|1)[], bytes?: number[] (RTP payload bytes of the frame) }
 *   — complete frames in arrival order.
 *
 * A server stamps video as rtp = pts × 90 + c, with c per viewer; c may change when it splices in a replayed
 * GOP, whose frames carry squeezed timestamps (steps of ≤ SQUEEZE_TICKS) and are skipped. c is learnt by
 * identifying a received frame: the sent frame j, sent at most LOOKBACK_MS before it arrived and no later, such
 * that the next RUN received frames line up with sent frames by timestamp difference and keyframe flag (and none
 * arrives before it was sent), with the
 * smallest size mismatch (payload bytes against FLV body bytes; noisy video makes every frame's size distinct).
 * Without sizes the candidate with the least latency wins, which is right while latency stays under one GOP.
 * c is learnt at the first live frame, after every replay, and whenever a frame maps to no sent pts, to a frame of
 * the other kind (key/delta), or to one sent after it arrived.
 *
 * Returns { idx: Int32Array (sent index per received frame, -1 unmatched), anchors, unmatched (live frames
 *   matched to nothing), replayed (squeezed frames), maxResidualMs (drift: distance of a matched frame's mapped
 *   time from its sent pts), negative (matched frames that arrived > 1 ms before they were sent: a mapping error) }.
 */
export function mapVideo(sent, recv) {
  const n = recv.rtp.length;
  const idx = new Int32Array(n).fill(-1);
  const byPts = new Map();
  for (let i = 0; i < sent.pts.length; i++) byPts.set(sent.pts[i], i);
  const useSizes = Boolean(sent.size && recv.bytes);

  const squeezed = new Uint8Array(n);
  for (let i = 0; i + 1 < n; i++) {
    const d = rtpDiff(recv.rtp[i + 1], recv.rtp[i]);
    if (d >= 0 && d <= SQUEEZE_TICKS) squeezed[i] = 1; // all but the last frame of a replay
  }
  let replayed = 0;
  for (let i = 0; i < n; i++) replayed += squeezed[i];

  /** Sent index whose pts is within 1 ms of `ms` (exact first), or -1. */
  const near = (ms) => {
    const r = Math.round(ms);
    let j = byPts.get(r);
    if (j === undefined && Math.abs(ms - r) > 0.001) j = byPts.get(r + (ms > r ? 1 : -1));
    return j === undefined || Math.abs(sent.pts[j] - ms) > 1 ? -1 : j;
  };

  /** Identifies frame i (see above); returns the offset c, or null. */
  const identify = (i) => {
    const run = [];
    for (let r = i; r < n && run.length < RUN && !squeezed[r]; r++) run.push(r);
    const hi = lastAtMost(sent.sentAt, recv.at[i] + 1);
    const lo = Math.max(0, lastAtMost(sent.sentAt, recv.at[i] - LOOKBACK_MS) + 1);
    let best = -1;
    let bestScore = Infinity;
    for (let j = hi; j >= lo; j--) {
      let err = 0;
      let total = 0;
      let ok = true;
      for (const r of run) {
        const q = near(sent.pts[j] + rtpDiff(recv.rtp[r], recv.rtp[i]) / VIDEO_CLOCK_KHZ);
        if (q < 0 || Boolean(recv.key[r]) !== Boolean(sent.key[q]) || recv.at[r] < sent.sentAt[q] - 1) {
          ok = false;
          break;
        }
        if (useSizes) {
          err += Math.abs(recv.bytes[r] - sent.size[q]);
          total += sent.size[q];
        }
      }
      if (!ok) continue;
      const score = useSizes ? err / total : recv.at[i] - sent.sentAt[j];
      if (score < bestScore) {
        bestScore = score;
        best = j;
      }
    }
    if (best < 0 || (useSizes && bestScore > MAX_SIZE_MISMATCH)) return null;
    return (recv.rtp[i] - Math.round(sent.pts[best] * VIDEO_CLOCK_KHZ)) >>> 0;
  };

  let offset = null;
  let anchors = 0;
  let maxResidualMs = 0;
  let afterReplay = true;
  for (let i = 0; i < n; i++) {
    if (squeezed[i]) {
      afterReplay = true;
      continue;
    }
    let j = offset === null || afterReplay ? -1 : near(rtpDiff(recv.rtp[i], offset) / VIDEO_CLOCK_KHZ);
    // A keyframe where none was sent, or a frame before it was sent: the offset is stale.
    if (j >= 0 && (Boolean(recv.key[i]) !== Boolean(sent.key[j]) || recv.at[i] < sent.sentAt[j] - 1)) j = -1;
    if (j < 0) {
      const c = identify(i);
      if (c !== null) {
        offset = c;
        anchors++;
        afterReplay = false;
        j = near(rtpDiff(recv.rtp[i], offset) / VIDEO_CLOCK_KHZ);
      }
    }
    if (j < 0) continue;
    idx[i] = j;
    const residual = Math.abs(rtpDiff(recv.rtp[i], offset) / VIDEO_CLOCK_KHZ - sent.pts[j]);
    if (residual > maxResidualMs) maxResidualMs = residual;
  }
  let unmatched = 0;
  let negative = 0;
  for (let i = 0; i < n; i++) {
    if (idx[i] < 0) {
      if (!squeezed[i]) unmatched++;
    } else if (recv.at[i] < sent.sentAt[idx[i]] - 1) negative++;
  }
  return { idx, anchors, unmatched, replayed, maxResidualMs, negative };
}

/**
 * Maps one viewer's received audio packets to the AAC tags the publisher sent.
 *
 * sent: { dts: number[] (ms, ascending), sentAt: number[] } — one stream's raw audio tags (no sequence header).
 * recv: { rtp: number[], at: number[] } — audio RTP packets in arrival order.
 * opts.gridOriginMs: the FLV time the server's Opus timeline starts from (the first raw audio tag's dts); packet
 *   k of that timeline starts at gridOriginMs + 20·k. opts.learnFrom: arrival time from which to learn (skip the
 *   join); opts.learnCount: packets to learn from (default 100; Infinity: all from learnFrom on).
 *
 * An Opus packet covering [T, T+20) can leave the server once the AAC tag holding its last sample has arrived:
 * the last tag with dts ≤ T + 20 ("completing tag"); its latency is arrival − that tag's send time. When that tag
 * was sent after the packet arrived, the packet was completed by the tag before it (a boundary case, from dts
 * rounding or resampler delay) and that one is used.
 *
 * The offset in rtp = T × 48 + c is known up to a whole packet (20 ms): it is chosen as the latest grid position
 * for which at most 20 % of the learning packets would have arrived before their completing tag was sent. That
 * is right as long as the server's best-case audio latency is under 20 ms; otherwise audio latency is understated by
 * a multiple of 20 ms (`ambiguous` then says the smallest learnt latency is over 15 ms).
 *
 * Returns { T: Float64Array (packet start in FLV ms, NaN before anchoring), latency: Float64Array, anchored,
 *           boundary (packets charged to the earlier tag), minLearnt }.
 */
export function mapAudio(sent, recv, { gridOriginMs, learnFrom, learnCount = 100 }) {
  const n = recv.rtp.length;
  const T = new Float64Array(n).fill(NaN);
  const latency = new Float64Array(n).fill(NaN);
  const out = { T, latency, anchored: false, boundary: 0, minLearnt: NaN, ambiguous: false };
  if (n === 0 || sent.dts.length === 0) return out;
  // RTP timestamps unwrapped relative to the first packet.
  const rel = new Float64Array(n);
  for (let i = 1; i < n; i++) rel[i] = rel[i - 1] + rtpDiff(recv.rtp[i], recv.rtp[i - 1]);

  const completing = (t) => lastAtMost(sent.dts, t + OPUS_FRAME_MS);
  let first = 0;
  while (first < n && recv.at[first] < learnFrom) first++;
  if (first >= n) first = 0;
  const last = Math.min(n, first + learnCount);

  // Candidate grid positions for packet `first`: those whose completing tag was sent within 5 s before it arrived.
  const atFirst = recv.at[first];
  const lo = lastAtMost(sent.sentAt, atFirst - 5000) + 1;
  const hi = lastAtMost(sent.sentAt, atFirst + 1);
  if (hi < 0) return out;
  const kMin = Math.floor((sent.dts[Math.max(0, lo)] - OPUS_FRAME_MS - gridOriginMs) / OPUS_FRAME_MS) - 1;
  const kMax = Math.ceil((sent.dts[hi] - gridOriginMs) / OPUS_FRAME_MS) + 1;
  let chosen = null;
  // From the latest position down: the first one that fits is the answer (later positions mean smaller latency).
  for (let k = kMax; k >= kMin; k--) {
    const t0 = gridOriginMs + k * OPUS_FRAME_MS; // T of packet `first`
    let neg = 0;
    let counted = 0;
    let minLat = Infinity;
    for (let i = first; i < last; i++) {
      const t = t0 + (rel[i] - rel[first]) / AUDIO_CLOCK_KHZ;
      const j = completing(t);
      if (j < 0) {
        neg++;
        counted++;
        continue;
      }
      const l = recv.at[i] - sent.sentAt[j];
      counted++;
      if (l < -1) neg++;
      else minLat = Math.min(minLat, l);
    }
    if (counted > 0 && neg <= 0.2 * counted) {
      chosen = { t0, minLat };
      break;
    }
  }
  if (!chosen) return out;
  out.anchored = true;
  out.minLearnt = chosen.minLat;
  out.ambiguous = chosen.minLat > 15;
  for (let i = 0; i < n; i++) {
    const t = chosen.t0 + (rel[i] - rel[first]) / AUDIO_CLOCK_KHZ;
    T[i] = t;
    let j = completing(t);
    if (j < 0) continue;
    if (sent.sentAt[j] > recv.at[i] + 1 && j > 0 && sent.sentAt[j - 1] <= recv.at[i] + 1) {
      j--;
      out.boundary++;
    }
    latency[i] = recv.at[i] - sent.sentAt[j];
  }
  return out;
}

/**
 * Frame loss of one viewer over a window of send times: of the sent frames with sentAt in [from, to], how many
 * were received complete (matched at least once). Returns { expected, received }.
 */
export function videoLoss(sent, idx, from, to) {
  const got = new Uint8Array(sent.pts.length);
  for (const j of idx) if (j >= 0) got[j] = 1;
  let expected = 0;
  let received = 0;
  for (let j = 0; j < sent.pts.length; j++) {
    const t = sent.sentAt[j];
    if (t < from || t > to) continue;
    expected++;
    received += got[j];
  }
  return { expected, received };
}

/**
 * Audio packet loss over a window: grid packets whose completing tag was sent in [from, to] vs those received.
 * Needs the mapping from mapAudio. Returns { expected, received } (0/0 when unanchored).
 */
export function audioLoss(sent, T, gridOriginMs, from, to) {
  const kOf = (t) => Math.round((t - gridOriginMs) / OPUS_FRAME_MS);
  const seen = new Set();
  for (const t of T) if (!Number.isNaN(t)) seen.add(kOf(t));
  if (seen.size === 0) return { expected: 0, received: 0 };
  // Grid packets whose completing tag (last dts ≤ T + 20) was sent in the window.
  const jFrom = lastAtMost(sent.sentAt, from - 1e-9) + 1;
  const jTo = lastAtMost(sent.sentAt, to);
  if (jTo < jFrom) return { expected: 0, received: 0 };
  let expected = 0;
  let received = 0;
  const kStart = Math.ceil((sent.dts[jFrom] - OPUS_FRAME_MS - gridOriginMs) / OPUS_FRAME_MS) - 1;
  const kEnd = Math.floor((sent.dts[jTo] - gridOriginMs) / OPUS_FRAME_MS) + 1;
  for (let k = kStart; k <= kEnd; k++) {
    const j = lastAtMost(sent.dts, gridOriginMs + k * OPUS_FRAME_MS + OPUS_FRAME_MS);
    if (j < jFrom || j > jTo) continue;
    expected++;
    if (seen.has(k)) received++;
  }
  return { expected, received };
}
