// GOP replay in the native data plane's sink (native/src/plane/sink.cc StartReplay/PumpReplay) with a fake
// transport (test/helpers/fake-transport.ts): a viewer joining with replay=true gets the cached GOP paced in bursts
// of SHARED_LIMITS.replayBurst packets one replayTickMs apart, with timestamps squeezed one tick apart ending at the
// newest frame's, then live video; a picture-loss request (sinkReplay) replays the GOP again on continued numbering.
// The pacing is read from the sink's own counters (whole sends under the plane's lock, stamped with the plane's
// clock), not from arrival times, and only bounded generously. PLI rate limiting lives in JavaScript (Viewer).
// Needs the addon: node scripts/build-native.mjs

import t, { type Test } from 'tap';
import type { VideoFrame } from '../../src/media/model.js';
import { SHARED_LIMITS } from '../../src/media/shared-limits.js';
import { baselineClip, FakeTransport, openPlane, packetCount, payloadsOf, pushFrame, seqDelta, ts90, videoPipe, watchSink, type RtpRecord, videoSetUp, planeSetUp } from '../helpers/fake-transport.js';

const clip = await baselineClip();
const { video, config, keyIndexes } = clip;
const [k0, k1] = keyIndexes as [number, number];
const { replayBurst: BURST, replayTickMs: TICK } = SHARED_LIMITS;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A GOP of real units: the clip's first IDR, then its P-frames `cycles` times over, 33 ms apart. */
function longGop(cycles: number): VideoFrame[] {
  const ps = video.slice(k0 + 1, k1);
  const units = [video[k0]!, ...Array.from({ length: cycles }, () => ps).flat()];
  return units.map((f, i) => ({ ...f, pts: video[k0]!.pts + i * 33, dts: video[k0]!.pts + i * 33 }));
}

/**
 * Checks that `got` is `gop` replayed: each unit's payloads in order on contiguous seqs starting at `firstSeq`
 * (when given), timestamps squeezed one tick apart ending at `lastTs`, marker on each unit's last packet.
 */
function checkReplay(t: Test, got: RtpRecord[], gop: VideoFrame[], lastTs: number, firstSeq?: number) {
  const bad: string[] = [];
  let i = 0;
  gop.forEach((f, u) => {
    const payloads = payloadsOf(f, config);
    const ts = (lastTs - (gop.length - 1 - u)) >>> 0;
    payloads.forEach((pl, k) => {
      const p = got[i];
      if (!p) return;
      const seqOk = i === 0 ? firstSeq === undefined || p.seq === firstSeq : seqDelta(got[i - 1]!.seq, p.seq) === 1;
      if (!seqOk) bad.push(`packet ${i}: seq ${p.seq}`);
      if (p.ts !== ts) bad.push(`packet ${i} (unit ${u}): ts ${p.ts}, want ${ts}`);
      if (!p.payload.equals(pl)) bad.push(`packet ${i}: payload differs`);
      if (p.marker !== (k === payloads.length - 1)) bad.push(`packet ${i}: marker ${p.marker}`);
      i++;
    });
  });
  t.equal(got.length, i, `${i} packets replayed`);
  t.same(bad.slice(0, 5), [], 'the GOP in order: contiguous seqs, squeezed timestamps, the same payloads and markers');
}

t.test('replay=true: the cached GOP in bursts of replayBurst, one replayTickMs apart, squeezed, then live', async (t) => {
  const { p, net, pipe } = await videoSetUp(t, clip);
  const gop = longGop(3);
  for (const f of gop) pushFrame(p.plane, pipe, f);
  const total = gop.reduce((n, f) => n + packetCount(f, config), 0);
  const bursts = Math.ceil(total / BURST);
  t.ok(bursts >= 8, `${total} packets: ${bursts} bursts`);

  const before = p.plane.now();
  const sink = p.plane.addSink(pipe, net.sink({ video: true, replay: true }));
  const samples = watchSink(p.plane, sink, (n) => n >= total);
  const firstLook = samples[0]!.lastSendAt;
  t.ok(firstLook >= before && samples[0]!.packetCount % BURST === 0, 'addSink sends the first burst at once');
  // Unless this thread stalled for a tick between addSink and the first look, that was the only burst so far.
  if (samples[0]!.packetCount !== BURST) t.comment(`first look after ${samples[0]!.packetCount / BURST} bursts (a stall)`);
  t.equal(samples[samples.length - 1]!.packetCount, total, 'the whole GOP is sent');
  const steps = samples.slice(1).map((s, i) => s.packetCount - samples[i]!.packetCount);
  const tail = total % BURST || BURST;
  const odd = steps.slice(0, -1).filter((d) => d % BURST !== 0);
  t.same(odd, [], `every step a whole number of ${BURST}-packet bursts (steps: ${steps.join(' ')})`);
  t.equal((steps[steps.length - 1]! - tail) % BURST, 0, `the last step ends with the ${tail}-packet remainder`);
  // Every burst after the first look is due a tick after the one before it (on the plane's clock).
  const later = bursts - samples[0]!.packetCount / BURST;
  const spread = samples[samples.length - 1]!.lastSendAt - firstLook;
  t.ok(spread >= later * TICK * 0.5, `the last ${later} bursts spread over ${spread.toFixed(1)} ms ≥ ${(later * TICK * 0.5).toFixed(1)} ms`);
  t.ok(spread < 1000, 'and not stalled');

  t.ok(await net.waitCount(total), 'all arrive');
  checkReplay(t, net.packets.slice(0, total), gop, ts90(gop[gop.length - 1]!.pts));

  // Live follows on the next seq with its own timestamp (this sink began the numbering: no offset).
  const live = { ...video[k0 + 1]!, pts: gop[gop.length - 1]!.pts + 33 };
  pushFrame(p.plane, pipe, live);
  const n = packetCount(live, config);
  t.ok(await net.waitCount(total + n));
  await net.settle(10);
  const after = net.since(total);
  t.equal(after.length, n);
  t.equal(seqDelta(net.packets[total - 1]!.seq, after[0]!.seq), 1, 'live continues the seq');
  t.ok(after.every((x) => x.ts === ts90(live.pts)), 'with the frame\'s own timestamp');
  t.equal(net.authFailures, 0);
});

t.test('live video arriving during a replay queues behind it, in order', async (t) => {
  const { p, net, pipe } = await videoSetUp(t, clip);
  const gop = longGop(2);
  for (const f of gop) pushFrame(p.plane, pipe, f);
  const total = gop.reduce((n, f) => n + packetCount(f, config), 0);
  p.plane.addSink(pipe, net.sink({ video: true, replay: true }));
  const lives = [1, 2, 3].map((i) => ({ ...video[k0 + i]!, pts: gop[gop.length - 1]!.pts + 33 * i }));
  for (const f of lives) pushFrame(p.plane, pipe, f); // while the replay is still going, unless this thread stalled
  const liveCount = lives.reduce((n, f) => n + packetCount(f, config), 0);
  t.ok(await net.waitCount(total + liveCount));
  await net.settle(10);
  t.equal(net.packets.length, total + liveCount);
  checkReplay(t, net.packets.slice(0, total), gop, ts90(gop[gop.length - 1]!.pts));
  const after = net.since(total);
  t.ok(after.every((x, i) => seqDelta((i === 0 ? net.packets[total - 1]! : after[i - 1]!).seq, x.seq) === 1), 'seqs contiguous');
  t.same([...new Set(after.map((x) => x.ts))], lives.map((f) => ts90(f.pts)), 'each live frame with its own timestamp, in order');
});

t.test('PLI: sinkReplay sends the GOP again on continued numbering; a second request during the replay is absorbed', async (t) => {
  const { p, net, pipe } = await videoSetUp(t, clip);
  const sink = p.plane.addSink(pipe, net.sink({ video: true }));
  const gop = longGop(2);
  for (const f of gop) pushFrame(p.plane, pipe, f);
  const total = gop.reduce((n, f) => n + packetCount(f, config), 0);
  t.ok(await net.waitCount(total), 'the GOP live');
  await net.settle(10);
  const lastLive = net.packets[total - 1]!;
  const lastWall = p.plane.sinkInfo(sink)!.lastSendAt;

  await sleep(40); // wall time the replay's timestamps must account for
  const before = p.plane.now();
  t.equal(p.plane.sinkReplay(sink), true, 'sinkReplay answers true');
  const firstBurst = p.plane.sinkInfo(sink)!.lastSendAt; // sent at once, inside sinkReplay
  t.equal(p.plane.sinkReplay(sink), true, 'a second request');
  const second = p.plane.now();
  // The replay's last burst is due (bursts − 1) ticks after its first, which came after `before`.
  const stillReplaying = second - before < (Math.ceil(total / BURST) - 1) * TICK;
  watchSink(p.plane, sink, (n) => n >= 2 * total);
  t.ok(await net.waitCount(2 * total), 'the replay arrives');
  await net.settle(20);
  const replay = net.since(total);
  if (stillReplaying) t.equal(replay.length, total, 'a request during a replay adds nothing: it already ends at the newest frame');
  else t.comment('the second request came after the replay ended (a stalled thread): not checked');

  const first = replay[0]!;
  t.equal(seqDelta(lastLive.seq, first.seq), 1, 'the replay continues the seq');
  const elapsed = first.ts - lastLive.ts;
  const lo = Math.round((before - lastWall) * 90);
  const hi = Math.round((firstBurst - lastWall) * 90);
  t.ok(elapsed >= lo && elapsed <= hi, `its first timestamp is the last one + wall time: +${elapsed} in [${lo}, ${hi}] (≥ 40 ms)`);
  checkReplay(t, replay.slice(0, total), gop, (first.ts + gop.length - 1) >>> 0, (lastLive.seq + 1) & 0xffff);

  // The next live frame keeps the offset the replay set: its distance from the newest replayed frame is its own.
  const live = video[k1]!;
  const livePts = gop[gop.length - 1]!.pts + 33;
  pushFrame(p.plane, pipe, { ...live, pts: livePts });
  const n = packetCount(live, config);
  const mark = net.packets.length;
  t.ok(await net.waitCount(mark + n));
  const next = net.since(mark);
  t.equal(seqDelta(net.packets[mark - 1]!.seq, next[0]!.seq), 1, 'live continues the seq after the replay');
  t.equal(next[0]!.ts - net.packets[mark - 1]!.ts, ts90(livePts) - ts90(gop[gop.length - 1]!.pts), 'and the timeline');
  t.equal(net.authFailures, 0);
});

t.test('sinkReplay: false for an unknown sink and for a sink whose pipe is closed; nothing cached, nothing sent', async (t) => {
  const { p, net } = await planeSetUp(t);
  t.equal(p.plane.sinkReplay(4242), false, 'unknown sink');
  const pipe = videoPipe(p.plane, clip);
  const sink = p.plane.addSink(pipe, net.sink({ video: true }));
  t.equal(p.plane.sinkReplay(sink), true, 'a pipe without a GOP yet: true, but …');
  await net.settle(20);
  t.equal(net.packets.length, 0, '… nothing sent');
  p.plane.closePipe(pipe);
  t.equal(p.plane.sinkReplay(sink), false, 'pipe closed');
  t.same(p.plane.removeSink(sink), [-1, 0, 0], 'removeSink after the pipe closed: nothing was sent');
});

t.test('sinkReplay on an audio sink does not send the video GOP on the audio stream', async (t) => {
  const { p, net, pipe } = await videoSetUp(t, clip);
  for (let i = k0; i < k1; i++) pushFrame(p.plane, pipe, video[i]!);
  const audio = p.plane.addSink(pipe, net.sink({ video: false, replay: true }));
  await net.settle(20);
  t.equal(net.packets.length, 0, 'addSink ignores replay for audio');
  p.plane.sinkReplay(audio);
  await net.settle(30);
  t.equal(net.packets.length, 0, 'no H.264 payloads on the audio SSRC');
});
