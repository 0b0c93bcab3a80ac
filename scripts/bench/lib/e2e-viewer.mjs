// Viewer process of scripts/bench/e2e: runs a set of WHEP viewers (whep-viewer.mjs: werift, no decoding) and
// records, per viewer, the RTP timestamp and arrival time of every complete video frame (its marker packet) and of
// every audio packet; plus a UDP probe socket on which the harness measures its own floor (one-way loopback
// delivery into this process's event loop). Driven over the IPC channel of child_process.fork:
//
//   ← { type: 'start', viewers: [{ viewer, stream, url, token, joinAt }], deadlineMs }
//   → { type: 'probe', port }
//   → { type: 'joined', viewer } | { type: 'failed', viewer, message }  (one per viewer)
//   → { type: 'first-key', viewer }
//   → { type: 'lag', ms }   once a second: the largest queueing delay any viewer here saw in that second, estimated
//                            as arrival − RTP time against the best seen so far (so the harness can wait for a steady
//                            state before it measures; a replay's squeezed timestamps restart the estimate)
//   ← { type: 'stop' }
//   → { type: 'result', viewers: [{ viewer, stream, video: { rtp, at, key, bytes }, audio: { rtp, at }, stats,
//        error }], probe: Float64Array (one-way ms per probe) }   then exits
//
// Times are ms on CLOCK_MONOTONIC (process.hrtime), comparable across processes; whep-viewer's epoch times are
// converted at the end. Per packet this adds a few array pushes to what werift does.

import { fromEpoch, mono } from './mono-clock.mjs';
import { startProbedChild } from './probed-child.mjs';
import { rtpDiff } from './e2e-math.mjs';
import { startWhepViewer } from './whep-viewer.mjs';

async function main() {
  const { start, probe, sock } = await startProbedChild();

  let stopped = false;
  const viewers = start.viewers.map((v) => ({
    ...v,
    handle: null,
    error: null,
    video: { rtp: [], at: [], key: [], bytes: [] },
    audio: { rtp: [], at: [] },
    sawKey: false,
    lag: { ref: -1, refAt: 0, last: -1, min: 0, max: 0 },
  }));
  const lagTimer = setInterval(() => {
    let worst = 0;
    for (const v of viewers) {
      if (v.lag.max > worst) worst = v.lag.max;
      v.lag.max = 0;
    }
    process.send({ type: 'lag', ms: worst });
  }, 1000);
  /** Queueing-delay estimate (see the header); a few arithmetic operations per frame. */
  const trackLag = (L, rtp, at) => {
    if (L.last >= 0) {
      const d = rtpDiff(rtp, L.last);
      if (d >= 0 && d <= 10) L.ref = -1; // a squeezed replay: the server re-bases its timestamps
    }
    L.last = rtp;
    if (L.ref < 0) {
      L.ref = rtp;
      L.refAt = at;
      L.min = 0;
    }
    const rel = at - L.refAt - rtpDiff(rtp, L.ref) / 90;
    if (rel < L.min) L.min = rel;
    if (rel - L.min > L.max) L.max = rel - L.min;
  };

  process.on('message', async (msg) => {
    if (msg?.type !== 'stop' || stopped) return;
    stopped = true;
    clearInterval(lagTimer);
    const stats = viewers.map((v) => (v.handle ? v.handle.stats() : null));
    await Promise.race([Promise.all(viewers.map((v) => v.handle?.close())), new Promise((r) => setTimeout(r, 4000))]);
    sock.close();
    const out = viewers.map((v, i) => ({
      viewer: v.viewer,
      stream: v.stream,
      error: v.error,
      stats: stats[i] && {
        ...stats[i],
        postedAt: fromEpoch(stats[i].postedAt),
        answeredAt: fromEpoch(stats[i].answeredAt),
        connectedAt: fromEpoch(stats[i].connectedAt),
        firstRtpAt: fromEpoch(stats[i].firstRtpAt),
        firstKeyframeAt: fromEpoch(stats[i].firstKeyframeAt),
        firstAudioAt: fromEpoch(stats[i].firstAudioAt),
      },
      video: {
        rtp: Float64Array.from(v.video.rtp),
        at: Float64Array.from(v.video.at, fromEpoch),
        key: Uint8Array.from(v.video.key),
        bytes: Float64Array.from(v.video.bytes),
      },
      audio: { rtp: Float64Array.from(v.audio.rtp), at: Float64Array.from(v.audio.at, fromEpoch) },
    }));
    process.send({ type: 'result', viewers: out, probe: Float64Array.from(probe) }, () => process.exit(0));
  });

  for (const v of viewers) {
    const join = async () => {
      if (stopped) return;
      try {
        v.handle = await startWhepViewer({
          url: v.url,
          token: v.token || undefined,
          onFrame: (f) => {
            const r = v.video;
            r.rtp.push(f.rtpTimestamp);
            r.at.push(f.arrivedAt);
            r.key.push(f.keyframe ? 1 : 0);
            r.bytes.push(f.bytes);
            trackLag(v.lag, f.rtpTimestamp, f.arrivedAt);
            if (f.keyframe && !v.sawKey) {
              v.sawKey = true;
              process.send({ type: 'first-key', viewer: v.viewer });
            }
          },
          onAudio: (a) => {
            v.audio.rtp.push(a.rtpTimestamp);
            v.audio.at.push(a.arrivedAt);
          },
        });
        if (stopped) await v.handle.close();
        else process.send({ type: 'joined', viewer: v.viewer });
      } catch (e) {
        v.error = e.message;
        process.send({ type: 'failed', viewer: v.viewer, message: e.message });
      }
    };
    setTimeout(join, Math.max(0, v.joinAt - mono()));
  }
}

if (process.send) await main();
