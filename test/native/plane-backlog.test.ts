// The native data plane sink's backlog rule (native/src/plane/sink.cc OnVideo/Send): when the socket does not take
// a whole send (buffer full) the viewer is behind, and video skips to the next keyframe instead of queueing latency;
// a keyframe is still tried while behind, and its success ends the skip. Losing ICE consent (RFC 7675) sends nothing
// and leaves the viewer behind the same way.
//
// Provoking a full buffer: on loopback a UDP socket never fills (the loopback device orphans each datagram as it
// is sent, so even the smallest SO_SNDBUF takes every sendmmsg), and the plane's API has no way to make the kernel
// refuse. The sink does not care what kind of socket its fd is, so here it first sends on a connected TCP socket
// filled beforehand whose peer does not read: sendmmsg ignores the destination on a stream socket and takes
// nothing while the send buffer is full. The sink is then pointed (sinkTarget, as after an ICE pair change) at the
// fake UDP transport, where what it sends next is seen.
//
// Every packet the sink does not get onto the wire is counted once in the plane's send counters (sendStats(),
// native/src/plane/send_counters.h; /metrics publishes them): refused by the kernel with a full buffer or another
// error, or dropped unsent while behind or without consent. Another error is provoked with a UDP socket connected
// to a loopback port nobody listens on: the kernel answers the first datagram with ICMP port unreachable and the
// next send on that socket fails with ECONNREFUSED. (The gateway's own sockets are werift's, not connected, and Linux
// reports no ICMP errors on those: that kind comes from a real network's refusals, e.g. a host firewall.)
// Needs the addon: node scripts/build-native.mjs

import t from 'tap';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { baselineClip, dgramFd, FakeTransport, openPlane, packetCount, pushFrame, seqDelta, videoPipe, videoSetUp, planeSetUp } from '../helpers/fake-transport.js';
import { tcpSocketFd } from '../../src/node-internals.js';
import type { VideoFrame } from '../../src/media/model.js';

const clip = await baselineClip();
const { video, config, keyIndexes } = clip;
const [k0, k1] = keyIndexes as [number, number];
const nalType = (b: Buffer) => b[0]! & 0x1f;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** RTP packets a run of video frames makes. */
const packetsOf = (frames: readonly VideoFrame[]) => frames.reduce((n, f) => n + packetCount(f, config), 0);

/**
 * A connected TCP pair on loopback whose accepting side never reads, nearly full: Node's own writes (16 MB queued)
 * run until the peer's receive window is closed, so nothing is in flight any more that could free room later. The
 * send buffer then keeps some room (the kernel wakes a writer only once a good part is free), which the test's
 * own sends take. Returns the connecting side's fd.
 */
async function fullTcp(t: { teardown(fn: () => void): void }): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', (s) => (s.pause(), r(s))));
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  const peer = await accepted;
  t.teardown(() => (client.destroy(), peer.destroy(), server.close()));
  client.write(Buffer.alloc(16 << 20));
  // Settled: what Node still holds has not changed for a while (the data in flight reached the peer's buffer).
  let held = -1;
  for (let same = 0; same < 3; ) {
    await sleep(20);
    same = client.writableLength === held ? same + 1 : 0;
    held = client.writableLength;
  }
  if (held === 0) throw new Error('the kernel took 16 MB: the socket never filled');
  // net.Socket has no public fd: the gateway's helper for the RTMP hand-over finds it
  const fd = tcpSocketFd(client);
  if (fd < 0) throw new Error('no fd on the TCP socket');
  return fd;
}

t.test('socket buffer full: video skips to the next keyframe, which ends the skip once the socket takes it', async (t) => {
  const { p, net } = await planeSetUp(t);
  const tcp = await fullTcp(t);
  const pipe = videoPipe(p.plane, clip);
  const sink = p.plane.addSink(pipe, net.sink({ video: true, fd: tcp }));
  const count = () => p.plane.sinkInfo(sink)!.packetCount;
  // The clip round and round, each lap 2 s later; `next` is the frame the next push() sends.
  let next = 0;
  const pushed: VideoFrame[] = [];
  const at = (j: number) => ({ f: video[j % video.length]!, shift: Math.floor(j / video.length) * 2000 });
  const push = () => {
    const { f, shift } = at(next++);
    pushFrame(p.plane, pipe, f, shift);
    pushed.push(f);
    return f;
  };
  const toKey = () => {
    while (!at(next).f.keyframe) push();
  };

  // From here on nothing yields to the event loop until the sink moves: the socket stays full. What room Node's
  // writes left is taken by the sink's own sends, until a P-frame adds nothing: the sink found the socket full.
  let filled = false;
  for (let k = 0; k < 2000 && !filled; k++) {
    const before = count();
    const f = push();
    filled = !f.keyframe && count() === before && before > 0;
  }
  if (!filled) {
    t.fail('the socket never refused the sink');
    return;
  }
  const c0 = count();
  const full = p.plane.sendStats();
  t.ok(full.bufferFull > 0, `the kernel's refusals are counted as buffer full (${full.bufferFull} packets)`);
  t.equal(full.otherError, 0, 'and as nothing else');
  t.equal(full.droppedNoConsent, 0);
  const skipFrom = pushed.length;
  toKey();
  t.equal(count(), c0, 'the rest of the GOP is skipped (not even numbered)');
  t.equal(p.plane.sendStats().droppedBehind - full.droppedBehind, packetsOf(pushed.slice(skipFrom)), 'every skipped packet counted as dropped behind');
  const key = push();
  const c1 = count();
  t.equal(c1 - c0, packetCount(key, config), 'the next keyframe is tried while behind');
  for (let k = 0; k < 9; k++) push();
  t.equal(count(), c1, 'the socket did not take it: still skipping');
  const st = p.plane.sendStats();
  t.equal(count() + st.droppedBehind, packetsOf(pushed), 'every packet of every frame: tried (numbered), or dropped unsent');
  t.ok(st.bufferFull + st.droppedBehind > 0 && st.bufferFull <= count(), 'refused packets are among those tried');

  // The sink moves to a socket with room (the fake transport): still nothing until a keyframe …
  p.plane.sinkTarget(sink, net.sender, net.fd, net.host, net.port, true);
  const movedAt = pushed.length;
  toKey();
  const caughtUp = p.plane.sendStats();
  t.equal(caughtUp.droppedBehind - st.droppedBehind, packetsOf(pushed.slice(movedAt)), 'those skipped P-frames count as dropped behind too');
  await net.settle(20);
  t.equal(net.packets.length, 0, 'no P-frame reaches the viewer after the backlog');
  t.equal(count(), c1);
  // … which is taken: the viewer has caught up and live video flows again.
  const sent = [push(), push(), push(), push()];
  const want = sent.reduce((n, f) => n + packetCount(f, config), 0);
  t.ok(await net.waitCount(want));
  await net.settle(10);
  t.equal(net.packets.length, want, 'the keyframe and the frames after it');
  t.equal(nalType(net.packets[0]!.payload), 24, 'starting with its STAP-A (SPS, PPS)');
  t.ok(net.packets.every((x, i) => i === 0 || seqDelta(net.packets[i - 1]!.seq, x.seq) === 1), 'contiguous from there');
  t.equal(net.authFailures, 0);
  t.same(p.plane.sendStats(), caughtUp, 'once caught up, nothing more is lost');
});

t.test('no ICE consent: nothing sent or counted; with consent back, video waits for a keyframe', async (t) => {
  const { p, net, pipe } = await videoSetUp(t, clip);
  const sink = p.plane.addSink(pipe, net.sink({ video: true }));
  for (let i = k0; i < k0 + 5; i++) pushFrame(p.plane, pipe, video[i]!);
  const n = video.slice(k0, k0 + 5).reduce((s, f) => s + packetCount(f, config), 0);
  t.ok(await net.waitCount(n));
  const count = p.plane.sinkInfo(sink)!.packetCount;

  p.plane.sinkTarget(sink, net.sender, net.fd, net.host, net.port, false);
  for (let i = k0 + 5; i < k0 + 10; i++) pushFrame(p.plane, pipe, video[i]!);
  p.plane.sinkTarget(sink, net.sender, net.fd, net.host, net.port, true);
  for (let i = k0 + 10; i < k1; i++) pushFrame(p.plane, pipe, video[i]!);
  await net.settle(20);
  t.equal(net.packets.length, n, 'nothing without consent, nor after it until the keyframe');
  t.equal(p.plane.sinkInfo(sink)!.packetCount, count, 'not counted either');
  t.same(p.plane.sendStats(), { bufferFull: 0, otherError: 0, droppedBehind: 0, droppedNoConsent: packetsOf(video.slice(k0 + 5, k1)) },
    'lost for want of consent: the frames without it and those skipped after it to the keyframe');

  pushFrame(p.plane, pipe, video[k1]!);
  pushFrame(p.plane, pipe, video[k1 + 1]!);
  const m = packetCount(video[k1]!, config) + packetCount(video[k1 + 1]!, config);
  t.ok(await net.waitCount(n + m));
  await net.settle(10);
  const got = net.since(n);
  t.equal(got.length, m, 'the keyframe and what follows');
  t.equal(nalType(got[0]!.payload), 24, 'from its STAP-A');
});

t.test('no socket yet (fd −1): like no consent', async (t) => {
  const { p, net, pipe } = await videoSetUp(t, clip);
  const sink = p.plane.addSink(pipe, net.sink({ video: true, fd: -1 }));
  for (let i = k0; i < k0 + 5; i++) pushFrame(p.plane, pipe, video[i]!);
  t.equal(p.plane.sinkInfo(sink)!.packetCount, 0, 'nothing sent without a socket');
  t.equal(p.plane.sendStats().droppedNoConsent, packetsOf(video.slice(k0, k0 + 5)), 'the keyframe and the frames after it, dropped unsent');
  p.plane.sinkTarget(sink, net.sender, net.fd, net.host, net.port, true);
  for (let i = k0 + 5; i < k1; i++) pushFrame(p.plane, pipe, video[i]!);
  pushFrame(p.plane, pipe, video[k1]!);
  const m = packetCount(video[k1]!, config);
  t.ok(await net.waitCount(m));
  await net.settle(10);
  t.equal(net.packets.length, m, 'the first packets are the next keyframe\'s');
});

t.test('the kernel refuses a send (ECONNREFUSED): counted as another error, and video skips to the keyframe', async (t) => {
  const { p, net, pipe } = await videoSetUp(t, clip);
  // a loopback port nobody listens on: bound, noted, closed
  const gone = createSocket('udp4');
  await new Promise<void>((r) => gone.bind(0, '127.0.0.1', r));
  const port = gone.address().port;
  await new Promise<void>((r) => gone.close(r));
  const tx = createSocket('udp4');
  await new Promise<void>((r) => tx.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => tx.connect(port, '127.0.0.1', r));
  t.teardown(() => tx.close());
  const sink = p.plane.addSink(pipe, net.sink({ video: true, fd: dgramFd(tx), port }));

  // A GOP at a time until a send has failed: the ICMP answer to the first datagram arrives on loopback at once, but
  // asynchronously to the sends.
  const frames: VideoFrame[] = [];
  for (let lap = 0; lap < 20 && p.plane.sendStats().otherError === 0; lap++) {
    for (let i = k0; i < k1; i++) {
      pushFrame(p.plane, pipe, video[i]!, lap * 2000);
      frames.push(video[i]!);
    }
    await sleep(5);
  }
  const st = p.plane.sendStats();
  t.ok(st.otherError > 0, `refused packets counted as another error (${st.otherError})`);
  t.equal(st.bufferFull, 0, 'not as a full buffer');
  t.equal(st.droppedNoConsent, 0);
  t.ok(st.droppedBehind > 0, 'the frames after a refused send are skipped to the next keyframe, and counted');
  const tried = p.plane.sinkInfo(sink)!.packetCount;
  t.equal(tried + st.droppedBehind, packetsOf(frames), 'every packet: tried, or dropped unsent');
  t.ok(st.otherError <= tried, 'refused packets are among those tried');
  t.equal(net.packets.length, 0, 'nothing reached the fake viewer (the sink sent elsewhere)');
});
