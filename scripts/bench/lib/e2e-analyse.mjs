// e2e benchmark: one step's raw records (publishers' sent tags, viewers' arrivals, probe) → latency, loss, join,
// checks and whether the step held (scripts/bench/e2e). The maths per viewer is in e2e-math.mjs.

import { audioLoss, mapAudio, mapVideo, summarize, videoLoss } from './e2e-math.mjs';
import { fmt } from './e2e-report.mjs';

/** The figures of one step from its records; `held` says whether a capacity ramp may go on (`why` if not). */
export function analyse({ label, n, m, W0, W1, usage, vResults, pResults, pubErrors, joinErrors, total }) {
  const sentBy = new Map();
  let maxBacklog = 0;
  let closedEarly = 0;
  for (const r of pResults) {
    for (const s of r?.streams ?? []) {
      sentBy.set(s.index, s);
      maxBacklog = Math.max(maxBacklog, s.maxBacklogBytes);
      if (s.closedAt && s.closedAt < W1) closedEarly++;
    }
  }
  const videoLat = [];
  const keyLat = [];
  const audioLat = [];
  const join = [];
  const probe = [];
  const early = [];
  const late = [];
  const vLoss = { expected: 0, received: 0 };
  const aLoss = { expected: 0, received: 0 };
  const checks = { videoUnmatched: 0, reanchors: 0, replayedFrames: 0, maxResidualMs: 0, negative: 0, audioUnanchored: 0, audioAmbiguous: 0, audioBoundary: 0, incompleteFrames: 0, rtpLostPackets: 0 };
  let live = 0;
  const trendEdge = Math.min(3000, ((W1 - W0) / 3) | 0);
  for (const r of vResults) {
    if (!r) continue;
    for (const x of r.probe) probe.push(x);
    for (const v of r.viewers) {
      const sent = sentBy.get(v.stream);
      if (!v.stats || !sent) continue;
      if (v.stats.firstKeyframeMs != null) join.push(v.stats.firstKeyframeMs);
      if (v.video.rtp.length) live++;
      checks.incompleteFrames += v.stats.incompleteFrames;
      checks.rtpLostPackets += v.stats.lostPackets + v.stats.audioLostPackets;

      const mv = mapVideo(sent.video, v.video);
      checks.videoUnmatched += mv.unmatched;
      checks.reanchors += Math.max(0, mv.anchors - 1);
      checks.replayedFrames += mv.replayed;
      checks.maxResidualMs = Math.max(checks.maxResidualMs, mv.maxResidualMs);
      checks.negative += mv.negative;
      for (let i = 0; i < mv.idx.length; i++) {
        const j = mv.idx[i];
        if (j < 0) continue;
        const s = sent.video.sentAt[j];
        if (s < W0 || s > W1) continue;
        const l = v.video.at[i] - s;
        videoLat.push(l);
        if (sent.video.key[j]) keyLat.push(l);
        if (s < W0 + trendEdge) early.push(l);
        else if (s > W1 - trendEdge) late.push(l);
      }
      const vl = videoLoss(sent.video, mv.idx, W0, W1);
      vLoss.expected += vl.expected;
      vLoss.received += vl.received;

      const ma = mapAudio(sent.audio, v.audio, { gridOriginMs: sent.gridOriginMs, learnFrom: W0, learnCount: Infinity });
      if (!ma.anchored) {
        checks.audioUnanchored++;
        continue;
      }
      if (ma.ambiguous) checks.audioAmbiguous++;
      checks.audioBoundary += ma.boundary;
      for (let i = 0; i < ma.latency.length; i++) {
        const l = ma.latency[i];
        if (Number.isNaN(l)) continue;
        const s = v.audio.at[i] - l;
        if (s >= W0 && s <= W1) audioLat.push(l);
      }
      const al = audioLoss(sent.audio, ma.T, sent.gridOriginMs, W0, W1);
      aLoss.expected += al.expected;
      aLoss.received += al.received;
    }
  }
  const pct = (l) => (l.expected ? ((l.expected - l.received) / l.expected) * 100 : NaN);
  const video = summarize(videoLat);
  const floor = summarize(probe);
  const e = summarize(early);
  const l = summarize(late);
  const res = {
    label,
    streams: n,
    viewersPerStream: m,
    publishers: { expected: n, failed: pubErrors.length, closedEarly, maxSendBacklogKiB: maxBacklog / 1024 },
    viewers: { expected: total, failed: joinErrors.length, live },
    video,
    videoKeyframes: summarize(keyLat), // keyframes are ~10× a P-frame: they make the video tail
    audio: summarize(audioLat),
    videoLoss: { ...vLoss, pct: pct(vLoss) },
    audioLoss: { ...aLoss, pct: pct(aLoss) },
    join: summarize(join),
    floor,
    videoP99OverFloorMs: video.p99 - floor.p99,
    trendMs: l.p50 - e.p50,
    usage,
    checks,
    errors: [...new Set([...pubErrors, ...joinErrors])].slice(0, 5),
  };
  const why = [];
  if (pubErrors.length || closedEarly) why.push(`${pubErrors.length + closedEarly} publisher(s) failed`);
  if (joinErrors.length || live < total) why.push(`${total - live}/${total} viewer(s) got nothing`);
  if (total > 0 && !(res.videoLoss.pct <= 0.1)) why.push(`frame loss ${fmt(res.videoLoss.pct, 2)} %`);
  if (total > 0 && !(video.p99 <= 200)) why.push(`video p99 ${fmt(video.p99, 0)} ms`);
  res.held = why.length === 0;
  res.why = why.join(', ');
  return res;
}
