// The native data plane's viewer sink (native/src/plane/sink.cc) driven in-process with a fake transport
// (test/helpers/fake-transport.ts): real libx264 access units pushed into a pipe, every packet the sink sends
// received on loopback, SRTP-decrypted and parsed. Here: the keyframe gate, the RTP headers and sender-report
// counters, the wire payloads against the TypeScript packetizer (the end-to-end twin of plane-parse.test.ts's
// unit comparison of the packetizer alone), and NACK retransmission from the send history.
// Needs the addon: node scripts/build-native.mjs

import t, { type Test } from 'tap';
import { H264RtpPacketizer } from '../../src/media/rtp-h264.js';
import { SHARED_LIMITS } from '../../src/media/shared-limits.js';
import { baselineClip, FakeTransport, openPlane, packetCount, pushFrame, seqDelta, ts90, videoPipe, type RtpRecord, videoSetUp } from '../helpers/fake-transport.js';

const clip = await baselineClip();
const { video, config, keyIndexes } = clip;
const [k0, k1] = keyIndexes as [number, number];
const nalType = (b: Buffer) => b[0]! & 0x1f;
const STAP_A = 24;
const NAL_SPS = 7;
const NAL_PPS = 8;
const CLIP_MS = video[video.length - 1]!.pts - video[0]!.pts + 33;

/** The packets of frames [from, to) as the pipe makes them, one count per frame. */
const counts = (from: number, to: number) => video.slice(from, to).map((f) => packetCount(f, config));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Checks that `got` is frames [from, to) sent live: contiguous seqs, each frame's ts, marker on its last packet. */
function checkLive(t: Test, got: RtpRecord[], from: number, to: number, shiftMs = 0) {
  const per = counts(from, to);
  t.equal(got.length, sum(per), `${sum(per)} packets for frames ${from}..${to - 1}`);
  const bad: string[] = [];
  let i = 0;
  for (let f = from; f < to; f++) {
    for (let k = 0; k < per[f - from]!; k++, i++) {
      const p = got[i];
      if (!p) break;
      if (i > 0 && seqDelta(got[i - 1]!.seq, p.seq) !== 1) bad.push(`packet ${i}: seq ${got[i - 1]!.seq} → ${p.seq}`);
      if (p.ts !== ts90(video[f]!.pts + shiftMs)) bad.push(`packet ${i}: ts ${p.ts}, frame ${f} has ${ts90(video[f]!.pts + shiftMs)}`);
      if (p.marker !== (k === per[f - from]! - 1)) bad.push(`packet ${i}: marker ${p.marker}`);
    }
  }
  t.same(bad.slice(0, 5), [], 'seq +1 each packet, the frame\'s timestamp, marker on each frame\'s last packet');
}

t.test('keyframe gate: a sink joining mid-GOP without replay sends nothing until the next IDR', async (t) => {
  const { p, net, pipe } = await videoSetUp(t, clip);

  for (let i = k0; i < k0 + 10; i++) pushFrame(p.plane, pipe, video[i]!);
  const sink = p.plane.addSink(pipe, net.sink({ video: true }));
  // An audio sink on the same pipe: video never reaches it.
  const audioSink = p.plane.addSink(pipe, net.sink({ video: false }));
  for (let i = k0 + 10; i < k1; i++) pushFrame(p.plane, pipe, video[i]!);
  await net.settle(20);
  t.equal(net.packets.length, 0, 'nothing for the rest of the GOP');
  t.equal(p.plane.sinkInfo(sink)!.packetCount, 0);
  t.equal(p.plane.sinkInfo(sink)!.lastSendAt, 0, 'lastSendAt 0 before the first send');

  const before = p.plane.now();
  for (let i = k1; i < video.length; i++) pushFrame(p.plane, pipe, video[i]!);
  const after = p.plane.now();
  t.ok(await net.waitCount(sum(counts(k1, video.length))), 'the next GOP arrives');
  await net.settle(10);
  const got = net.packets;
  checkLive(t, got, k1, video.length);
  t.ok(got.every((x) => x.ssrc === 0x1234abcd && x.payloadType === 102), 'the sink\'s SSRC and payload type');
  t.equal(nalType(got[0]!.payload), STAP_A, 'the first packet is a STAP-A');
  const stap = got[0]!.payload;
  const first = stap.readUInt16BE(1);
  t.same([nalType(stap.subarray(3)), nalType(stap.subarray(3 + first + 2))], [NAL_SPS, NAL_PPS], 'with SPS and PPS');

  const info = p.plane.sinkInfo(sink)!;
  t.equal(info.packetCount, got.length, 'sinkInfo.packetCount');
  t.equal(info.octetCount, sum(got.map((x) => x.payload.length)), 'sinkInfo.octetCount: payload bytes');
  t.equal(info.rtpTimestamp, got[got.length - 1]!.ts, 'sinkInfo.rtpTimestamp: the last one sent');
  t.ok(info.lastSendAt >= before && info.lastSendAt <= after, 'sinkInfo.lastSendAt on the plane clock');
  t.equal(p.plane.sinkInfo(audioSink)!.packetCount, 0, 'the audio sink sent no video');
  t.equal(net.authFailures, 0);

  const stats = p.plane.pipeStats(pipe)!;
  t.same([stats.videoFrames, stats.keyframes], [video.length - k0, 2], 'pipeStats counts frames and keyframes');
  const nalBytes = sum(video.slice(k0).flatMap((f) => f.nalus.map((n) => n.length)));
  t.same([stats.videoBytes, stats.audioBytes], [nalBytes, 0], 'pipeStats counts the NAL units\' bytes (the bitrate the history samples)');
  t.equal(p.plane.sinkInfo(9999), null, 'an unknown sink: null');
  t.equal(p.plane.removeSink(9999), null);
});

t.test('replay=true before any IDR (nothing cached) waits for the keyframe like the gate', async (t) => {
  const { p, net, pipe } = await videoSetUp(t, clip);
  p.plane.addSink(pipe, net.sink({ video: true, replay: true }));
  for (let i = k0 + 1; i < k1; i++) pushFrame(p.plane, pipe, video[i]!); // the GOP without its IDR: never cached
  await net.settle(20);
  t.equal(net.packets.length, 0, 'no GOP, no packets');
  pushFrame(p.plane, pipe, video[k1]!);
  t.ok(await net.waitCount(counts(k1, k1 + 1)[0]!));
  await net.settle(10);
  checkLive(t, net.packets, k1, k1 + 1);
});

t.test('on the wire: the payloads H264RtpPacketizer makes of the same access units, byte for byte', async (t) => {
  const { p, net, pipe } = await videoSetUp(t, clip);
  p.plane.addSink(pipe, net.sink({ video: true }));
  for (const f of video) pushFrame(p.plane, pipe, f);
  const js = new H264RtpPacketizer(SHARED_LIMITS.rtpMaxPayload);
  const want = video.flatMap((f) => js.packetize(f, config));
  t.ok(await net.waitCount(want.length), `${want.length} packets`);
  await net.settle(10);
  const got = net.packets;
  t.equal(got.length, want.length);
  const diff = want.findIndex(
    (w, i) => !got[i] || !got[i]!.payload.equals(w.payload) || got[i]!.marker !== w.header.marker || got[i]!.ts !== w.header.timestamp,
  );
  t.equal(diff, -1, diff < 0 ? 'payloads, markers and timestamps identical' : `first difference at packet ${diff}`);
  t.ok(got.every((x) => x.payload.length <= SHARED_LIMITS.rtpMaxPayload), `every payload ≤ ${SHARED_LIMITS.rtpMaxPayload} bytes`);
  t.ok(got.some((x) => nalType(x.payload) === 28), 'FU-A fragments among them (the test covers fragmentation)');
});

/** A video sink on a fresh pipe that has sent the whole clip, and how many packets that was. */
async function sentClip(t: Test) {
  const { p, net, pipe } = await videoSetUp(t, clip);
  const sink = p.plane.addSink(pipe, net.sink({ video: true }));
  for (const f of video) pushFrame(p.plane, pipe, f);
  const n = sum(counts(0, video.length));
  t.ok(await net.waitCount(n));
  await net.settle(10);
  return { p, net, pipe, sink, n };
}

t.test('NACK: sinkRetransmit resends the same seq, timestamp, marker and payload from the history', async (t) => {
  const { p, net, pipe, sink, n } = await sentClip(t);
  const sent = net.packets.slice();
  const bySeq = new Map(sent.map((x) => [x.seq, x]));
  const last = sent[sent.length - 1]!;

  // The IDR's STAP-A, a packet in the middle, the last one (marker), one twice; and one never sent (the next seq).
  const pick = [sent[0]!.seq, sent[Math.floor(n / 2)]!.seq, last.seq, sent[5]!.seq];
  const infoBefore = p.plane.sinkInfo(sink)!;
  p.plane.sinkRetransmit(sink, [...pick, (last.seq + 1) & 0xffff, sent[5]!.seq]);
  t.ok(await net.waitCount(n + 5));
  await net.settle(20);
  const again = net.since(n);
  t.equal(again.length, 5, 'each sent packet asked for is resent (a repeated seq twice); the unsent one is not');
  const strip = ({ at: _at, ...r }: RtpRecord) => r;
  t.same(again.map(strip), [...pick, sent[5]!.seq].map((s) => strip(bySeq.get(s)!)), 'identical to the originals');
  t.same(p.plane.sinkInfo(sink), infoBefore, 'retransmissions do not count as new packets for sender reports');

  // More than sendHistory packets later the first one's slot holds another packet: not resent.
  let shift = CLIP_MS;
  let total = n;
  while (total - n < SHARED_LIMITS.sendHistory + 10) {
    for (const f of video) pushFrame(p.plane, pipe, f, shift);
    total += n;
    shift += CLIP_MS;
  }
  t.ok(await net.waitCount(total + 5, 2000), `${total - n} more packets`);
  await net.settle(10);
  const mark = net.packets.length;
  const recent = net.packets[mark - 3]!;
  p.plane.sinkRetransmit(sink, [sent[0]!.seq, recent.seq]);
  await net.settle(20);
  t.same(net.since(mark).map((x) => x.seq), [recent.seq], `only the packet still in the ${SHARED_LIMITS.sendHistory}-packet history`);

  // Without ICE consent nothing is sent, retransmissions included (RFC 7675).
  p.plane.sinkTarget(sink, net.sender, net.fd, net.host, net.port, false);
  p.plane.sinkRetransmit(sink, [recent.seq]);
  await net.settle(20);
  t.equal(net.packets.length, mark + 1, 'no retransmission without consent');
  t.equal(net.authFailures, 0);
});

t.test('sinkRetransmit answers a NACK larger than one send batch (64 packets) in full', async (t) => {
  const { p, net, sink, n } = await sentClip(t);
  const seqs = net.packets.slice(0, 100).map((x) => x.seq);
  p.plane.sinkRetransmit(sink, seqs);
  await net.settle(20);
  t.same(net.since(n).map((x) => x.seq), seqs, 'all 100 asked for, in order');
});
