// A viewer's RTP numbering across senders in the native data plane (native/src/plane/sink.cc Anchor), with a fake
// transport (test/helpers/fake-transport.ts): removeSink hands back [lastSeq, lastTs, lastWall]; a sink given them,
// on a new pipe (the publisher reconnected, or another one took the stream over), continues at lastSeq + 1 with a
// timestamp advanced by the wall time since lastWall, whatever the new publisher's own sequence numbers and clock.
// Timing is bounded by plane clock readings taken around each call, never by fixed durations.
// Needs the addon: node scripts/build-native.mjs

import t from 'tap';
import { baselineClip, FakeTransport, openPlane, packetCount, pushFrame, seqDelta, ts90, tsDelta, videoPipe, type RtpRecord, videoSetUp, planeSetUp } from '../helpers/fake-transport.js';

const clip = await baselineClip();
const { video, config, keyIndexes } = clip;
const [k0, k1] = keyIndexes as [number, number];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const contiguous = (ps: RtpRecord[]) => ps.every((x, i) => i === 0 || seqDelta(ps[i - 1]!.seq, x.seq) === 1);

/** The RTP clock ticks the plane adds for the wall time from `lastWall` to a send between `from` and `to`. */
const bounds = (lastWall: number, from: number, to: number, rate = 90) =>
  [Math.max(1, Math.round((from - lastWall) * rate)), Math.max(1, Math.round((to - lastWall) * rate))] as const;

t.test('reconnect: removeSink hands back the numbering; a sink on the new pipe continues it through the GOP replay', async (t) => {
  const { p, net } = await planeSetUp(t);

  const a = videoPipe(p.plane, clip);
  const sinkA = p.plane.addSink(a, net.sink({ video: true }));
  for (let i = k0; i < k0 + 10; i++) pushFrame(p.plane, a, video[i]!, 50_000); // the old connection's clock: 50 s in
  const n = video.slice(k0, k0 + 10).reduce((s, f) => s + packetCount(f, config), 0);
  t.ok(await net.waitCount(n));
  await net.settle(10);
  const lastA = net.packets[n - 1]!;
  const sentAt = p.plane.sinkInfo(sinkA)!.lastSendAt;
  const numbering = p.plane.removeSink(sinkA)!;
  t.same(numbering, [lastA.seq, lastA.ts, sentAt], 'removeSink: [last seq, last timestamp, plane time of the last send]');
  t.equal(p.plane.sinkInfo(sinkA), null, 'the sink is gone');
  p.plane.closePipe(a);

  await sleep(50);
  // The publisher is back: a new pipe, its own random seqs, its clock from zero again, a GOP cached before the viewer moves.
  const b = videoPipe(p.plane, clip);
  for (let i = k0; i < k0 + 5; i++) pushFrame(p.plane, b, video[i]!);
  const [lastSeq, lastTs, lastWall] = numbering;
  const before = p.plane.now();
  const sinkB = p.plane.addSink(b, net.sink({ video: true, replay: true, lastSeq, lastTs, lastWall }));
  const after = p.plane.now();
  const replayN = video.slice(k0, k0 + 5).reduce((s, f) => s + packetCount(f, config), 0);
  for (let i = k0 + 5; i < k0 + 8; i++) pushFrame(p.plane, b, video[i]!);
  const liveN = video.slice(k0 + 5, k0 + 8).reduce((s, f) => s + packetCount(f, config), 0);
  t.ok(await net.waitCount(n + replayN + liveN));
  await net.settle(10);
  const got = net.since(n);
  t.equal(got.length, replayN + liveN);
  t.equal(got[0]!.seq, (lastSeq + 1) & 0xffff, 'the first packet on the new pipe: lastSeq + 1');
  t.ok(contiguous([lastA, ...got]), 'no gap, no repeat');
  const [lo, hi] = bounds(lastWall, before, after);
  const step = tsDelta(lastTs, got[0]!.ts);
  t.ok(step >= lo && step <= hi && step >= 50 * 90, `timestamp advanced by the wall time: +${step} in [${lo}, ${hi}]`);
  const replayTs = [...new Set(got.slice(0, replayN).map((x) => x.ts))];
  t.same(replayTs.map((x) => tsDelta(got[0]!.ts, x)), [0, 1, 2, 3, 4], 'the replayed GOP one tick per frame');
  const live = got.slice(replayN);
  const newest = video[k0 + 4]!.pts;
  t.same(
    [...new Set(live.map((x) => tsDelta(replayTs[4]!, x.ts)))],
    [5, 6, 7].map((i) => ts90(video[k0 + i]!.pts) - ts90(newest)),
    'live frames after it keep the new publisher\'s frame spacing',
  );
  t.equal(net.authFailures, 0, 'one SRTP session across both sinks');
  t.equal(p.plane.sinkInfo(sinkB)!.packetCount, replayN + liveN, 'the new sink counts only its own packets');
});

t.test('takeover: a new publisher\'s pipe mid-GOP, the moved sink waits for its IDR, then continues the numbering', async (t) => {
  const { p, net } = await planeSetUp(t);
  const a = videoPipe(p.plane, clip);
  const b = videoPipe(p.plane, clip);
  const sinkA = p.plane.addSink(a, net.sink({ video: true }));
  // Both publishers are live; the viewer watches A.
  for (let i = k0; i < k0 + 20; i++) {
    pushFrame(p.plane, a, video[i]!);
    pushFrame(p.plane, b, video[i]!, 7_777);
  }
  const n = video.slice(k0, k0 + 20).reduce((s, f) => s + packetCount(f, config), 0);
  t.ok(await net.waitCount(n));
  await net.settle(10);
  const [lastSeq, lastTs, lastWall] = p.plane.removeSink(sinkA)!;
  const sinkB = p.plane.addSink(b, net.sink({ video: true, lastSeq, lastTs, lastWall }));
  for (let i = k0 + 20; i < k1; i++) {
    pushFrame(p.plane, a, video[i]!); // A goes on, to nobody
    pushFrame(p.plane, b, video[i]!, 7_777); // B's GOP goes on: the moved sink waits
  }
  await net.settle(20);
  t.equal(net.packets.length, n, 'nothing until B\'s next IDR');
  await sleep(30);
  const before = p.plane.now();
  pushFrame(p.plane, b, video[k1]!, 7_777);
  const after = p.plane.now();
  pushFrame(p.plane, b, video[k1 + 1]!, 7_777);
  const m = packetCount(video[k1]!, config) + packetCount(video[k1 + 1]!, config);
  t.ok(await net.waitCount(n + m));
  await net.settle(10);
  const got = net.since(n);
  t.equal(got.length, m);
  t.equal(got[0]!.seq, (lastSeq + 1) & 0xffff, 'B\'s IDR: lastSeq + 1');
  t.ok(contiguous(got));
  const [lo, hi] = bounds(lastWall, before, after);
  const step = tsDelta(lastTs, got[0]!.ts);
  t.ok(step >= lo && step <= hi && step >= 30 * 90, `timestamp +${step} in [${lo}, ${hi}]`);
  t.equal(tsDelta(got[0]!.ts, got[got.length - 1]!.ts), ts90(video[k1 + 1]!.pts + 7_777) - ts90(video[k1]!.pts + 7_777), 'then B\'s frame spacing');
  t.equal(p.plane.sinkInfo(sinkB)!.packetCount, m);
});

t.test('numbering edge cases: 16- and 32-bit wrap, a lastWall ahead of now, a sink removed before sending', async (t) => {
  const { p, net, pipe } = await videoSetUp(t, clip);

  // Wraps: seq 65535 → 0, ts 2^32 − 10 plus the elapsed time.
  const wall = p.plane.now() - 20;
  const before = p.plane.now();
  const s1 = p.plane.addSink(pipe, net.sink({ video: true, lastSeq: 0xffff, lastTs: 0xfffffff6, lastWall: wall }));
  pushFrame(p.plane, pipe, video[k0]!);
  const after = p.plane.now();
  const n = packetCount(video[k0]!, config);
  t.ok(await net.waitCount(n));
  await net.settle(10);
  t.same(net.packets.slice(0, 3).map((x) => x.seq), [0, 1, 2], 'seq wraps 65535 → 0');
  const [lo, hi] = bounds(wall, before, after);
  const step = tsDelta(0xfffffff6, net.packets[0]!.ts);
  t.ok(net.packets[0]!.ts < 0xfffffff6 && step >= lo && step <= hi, `ts wraps past 2^32: +${step} in [${lo}, ${hi}]`);
  p.plane.removeSink(s1);

  // A lastWall later than now (a clock handed over wrongly): the timestamp still moves forward, by one tick.
  const s2 = p.plane.addSink(pipe, net.sink({ video: true, lastSeq: 500, lastTs: 1_000_000, lastWall: p.plane.now() + 10_000 }));
  pushFrame(p.plane, pipe, video[k1]!);
  t.ok(await net.waitCount(n + packetCount(video[k1]!, config)));
  await net.settle(10);
  t.same([net.packets[n]!.seq, net.packets[n]!.ts], [501, 1_000_001], 'never backwards: lastTs + 1');
  p.plane.removeSink(s2);

  // Removed before it sent anything: what it was given comes back unchanged, for the next sender.
  const s3 = p.plane.addSink(pipe, net.sink({ video: true, lastSeq: 1234, lastTs: 5678, lastWall: 42.5 }));
  t.same(p.plane.removeSink(s3), [1234, 5678, 42.5], 'the numbering passes through');
  const s4 = p.plane.addSink(pipe, net.sink({ video: true }));
  t.same(p.plane.removeSink(s4), [-1, 0, 0], 'a fresh sink that sent nothing: lastSeq −1');
});

t.test('audio numbering continues across pipes at 48 kHz', async (t) => {
  const { p, net } = await planeSetUp(t);
  const a = p.plane.createPipe({ opusBitrate: 64000, opusComplexity: 5 });
  const b = p.plane.createPipe({ opusBitrate: 64000, opusComplexity: 5 });
  const opus = Buffer.from([0xfc, 0xff, 0xfe]); // a 20 ms CELT frame's TOC and a little payload: the plane does not decode Opus
  const sinkA = p.plane.addSink(a, net.sink({ video: false }));
  for (let i = 0; i < 5; i++) p.plane.pushOpus(a, opus, (1_000_000 + i * 960) >>> 0);
  t.ok(await net.waitCount(5));
  const [lastSeq, lastTs, lastWall] = p.plane.removeSink(sinkA)!;
  t.same([lastTs, lastSeq], [1_000_000 + 4 * 960, net.packets[4]!.seq]);
  await sleep(30);
  p.plane.addSink(b, net.sink({ video: false, lastSeq, lastTs, lastWall }));
  const before = p.plane.now();
  p.plane.pushOpus(b, opus, 7); // B's own clock
  const after = p.plane.now();
  p.plane.pushOpus(b, opus, 7 + 960);
  t.ok(await net.waitCount(7));
  const [x, y] = net.since(5) as [RtpRecord, RtpRecord];
  t.same([x.seq, y.seq], [(lastSeq + 1) & 0xffff, (lastSeq + 2) & 0xffff], 'seq continues');
  const [lo, hi] = bounds(lastWall, before, after, 48);
  const step = tsDelta(lastTs, x.ts);
  t.ok(step >= lo && step <= hi && step >= 30 * 48, `timestamp +${step} at 48 kHz in [${lo}, ${hi}]`);
  t.equal(tsDelta(x.ts, y.ts), 960, 'then B\'s packet spacing');
  t.ok(net.packets.every((q) => q.ssrc === 0x5678ef01 && q.payloadType === 111 && !q.marker), 'audio SSRC and payload type, no marker');
});
