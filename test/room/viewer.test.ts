// The WHEP Viewer's own rules, in process: a real gateway-side peer (answerOffer, as WHEP makes it) and a werift
// client peer over 127.0.0.1, the viewer's sinks on a MediaEngine pipe fed with real libx264 access units. What the
// sinks themselves do (gate, replay pacing, numbering) is tested in test/native/plane-*.test.ts; here: when the sinks
// start, how a picture-loss request is served (a keyframe asked of a publisher that can make one, else the cached GOP
// replayed) and rate-limited, a publisher switch continuing the numbering, detach, and the stats a consumer reports.
// Runs in the test namespace (loopback only), like every WebRTC test.

import t from 'tap';
import { PictureLossIndication, RTCPeerConnection, RtcpPayloadSpecificFeedback, useH264, useOPUS, type RtpPacket } from 'werift';
import { answerOffer } from '../../src/room/peer.js';
import { Viewer } from '../../src/room/viewer.js';
import { MediaEngine, type Pipe } from '../../src/room/engine.js';
import type { Feed } from '../../src/room/consumer.js';
import { createLogger } from '../../src/log.js';
import { dtlsTransportOf, whenState } from '../../src/werift-internals.js';
import { baselineClip, seqDelta } from '../helpers/fake-transport.js';
import { waitFor } from '../helpers/gateway.js';

const log = createLogger(process.env.ROOMGATE_TEST_LOG ?? 'silent', process.stderr);
const engine = MediaEngine.start(log);
t.teardown(() => engine.close());
const clip = await baselineClip();
const ICE = { hostAddresses: ['127.0.0.1'], announcedAddresses: [], udpPortMin: 47000, udpPortMax: 47099 };

/** A feed on its own pipe; `canMakeKeyframes` stands for a WHIP publisher (the request is counted). */
function feed(canMakeKeyframes: boolean): Feed & { asked: number; pipe: Pipe } {
  const pipe = engine.openPipe({ opusBitrate: 64000, opusComplexity: 5 });
  pipe.setVideoConfig(clip.config);
  const f = {
    pipe,
    video: clip.config,
    audio: null,
    asked: 0,
    requestKeyframe(): boolean {
      if (!canMakeKeyframes) return false;
      f.asked++;
      return true;
    },
  };
  t.teardown(() => pipe.close());
  return f;
}

/** Pushes the clip's frames [from, to) with their pts moved by `shiftMs`. */
function push(pipe: Pipe, from: number, to: number, shiftMs = 0): void {
  for (let i = from; i < to; i++) {
    const f = clip.video[i]!;
    pipe.push({ ...f, pts: f.pts + shiftMs, dts: f.dts + shiftMs }, false);
  }
}

/** A werift client that receives video; `packets` grows as RTP arrives. */
async function connectViewer(opts: { onClosed?: (reason: string) => void } = {}) {
  const client = new RTCPeerConnection({ codecs: { video: [useH264()], audio: [useOPUS()] }, iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], iceInterfaceAddresses: { udp4: '127.0.0.1' }, iceUseIpv4: false, iceUseIpv6: false });
  const recv = client.addTransceiver('video', { direction: 'recvonly' });
  const packets: RtpPacket[] = [];
  recv.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((p) => void packets.push(p)));
  await client.setLocalDescription(await client.createOffer());
  await whenState(client.iceGatheringState, client.iceGatheringStateChange, 'complete');
  const answered = await answerOffer(client.localDescription!.sdp, 'sendonly', ICE);
  const video = answered.transceivers.find((x) => x.kind === 'video')!.sender;
  const viewer = new Viewer(answered.pc, { video }, 'publisher', log, (_v, reason) => opts.onClosed?.(reason), { connectTimeoutMs: 5000 });
  await client.setRemoteDescription({ type: 'answer', sdp: answered.answer });
  t.teardown(async () => {
    viewer.close('test over');
    await client.close();
  });
  // werift's own sendRtcpPLI is off unless the codec negotiated "nack pli"; the packet is the same either way
  const pli = () => dtlsTransportOf(recv).sendRtcp([new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 0x5eed, mediaSsrc: video.ssrc }) })]);
  return { client, viewer, packets, pli };
}

const isKey = (p: RtpPacket) => {
  const nal = p.payload[0]! & 0x1f;
  return nal === 24 || nal === 7; // STAP-A with SPS/PPS, as the engine sends ahead of every IDR
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a viewer attached before it connects starts, once live, with the cached GOP', async (t) => {
  const f = feed(false);
  push(f.pipe, 0, 20); // an IDR and 19 frames cached
  const v = await connectViewer();
  v.viewer.attach(f);
  t.equal(v.viewer.state, 'connecting');
  await waitFor(() => v.viewer.state === 'live', 3000, 'live');
  await waitFor(() => v.packets.some((p) => p.header.marker) && v.packets.filter((p) => p.header.marker).length >= 20, 2000, 'the GOP replayed');
  t.ok(isKey(v.packets[0]!), 'the first packet starts the IDR (SPS/PPS in a STAP-A)');
  t.equal(v.packets.filter((p) => p.header.marker).length, 20, 'the 20 cached frames, nothing else');
  const s = v.viewer.stats();
  t.equal(s.video?.packets, v.packets.length, 'stats count what the sink sent');
});

t.test('picture-loss requests: a publisher that can make keyframes is asked, at most once a second', async (t) => {
  const f = feed(true);
  push(f.pipe, 0, 5);
  const v = await connectViewer();
  v.viewer.attach(f);
  t.equal(f.asked, 1, 'attaching asks the publisher for a keyframe');
  await waitFor(() => v.viewer.state === 'live' && v.packets.length > 0, 3000, 'live');
  const before = v.packets.length;
  await v.pli();
  await v.pli();
  await waitFor(() => f.asked >= 2, 2000, 'the PLI reaching the viewer');
  await sleep(100);
  t.equal(f.asked, 2, 'two PLIs within a second: the publisher is asked once');
  t.equal(v.packets.length, before, 'nothing replayed: the publisher makes the keyframe');
  t.equal(v.viewer.stats().keyframeRequests, 1);
});

t.test('picture-loss requests: an RTMP-like publisher cannot make keyframes, so the cached GOP is replayed', async (t) => {
  const f = feed(false);
  push(f.pipe, 0, 10);
  const v = await connectViewer();
  v.viewer.attach(f);
  await waitFor(() => v.packets.filter((p) => p.header.marker).length >= 10, 3000, 'the first replay');
  const first = v.packets.length;
  await v.pli();
  await waitFor(() => v.packets.length >= 2 * first, 2000, 'a second replay');
  t.ok(isKey(v.packets[first]!), 'the replay starts at the IDR again');
  t.same(v.packets.slice(1).map((p, i) => seqDelta(v.packets[i]!.header.sequenceNumber, p.header.sequenceNumber)).filter((d) => d !== 1), [], 'sequence numbers continue through the replay');
  t.equal(v.viewer.stats().keyframeRequests, 1);
});

t.test('a publisher switch (a reconnect) continues the numbering; detached, nothing arrives', async (t) => {
  const a = feed(false);
  push(a.pipe, 0, 30);
  const v = await connectViewer();
  v.viewer.attach(a);
  await waitFor(() => v.packets.filter((p) => p.header.marker).length >= 30, 3000, 'the first publisher');
  v.viewer.detach();
  t.equal(v.viewer.feed, null);
  push(a.pipe, 30, 40, 0);
  await sleep(50);
  const afterDetach = v.packets.length;
  const b = feed(false);
  push(b.pipe, 0, 30, 5000); // the new session's clock is elsewhere
  v.viewer.attach(b);
  await waitFor(() => v.packets.length > afterDetach + 10 && v.packets[v.packets.length - 1]!.header.marker, 3000, 'the second publisher');
  const first = v.packets[afterDetach]!;
  const last = v.packets[afterDetach - 1]!;
  t.equal(seqDelta(last.header.sequenceNumber, first.header.sequenceNumber), 1, 'the sequence number goes on by one');
  t.ok(isKey(first), 'the new publisher starts at its IDR');
  t.equal(first.header.ssrc, last.header.ssrc, 'same SSRC: one stream for the player');
});

t.test('a closed viewer reports its reason once and stops its sinks', async (t) => {
  const f = feed(false);
  push(f.pipe, 0, 5);
  const reasons: string[] = [];
  const v = await connectViewer({ onClosed: (r) => reasons.push(r) });
  v.viewer.attach(f);
  await waitFor(() => v.packets.length > 0, 3000, 'live');
  v.viewer.close('the viewer sent DELETE');
  v.viewer.close('again');
  const n = v.packets.length;
  push(f.pipe, 5, 30);
  await sleep(50);
  t.same(reasons, ['the viewer sent DELETE']);
  t.equal(v.packets.length, n, 'nothing after close');
});
