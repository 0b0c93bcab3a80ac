// WHIP over a lossy path: the gateway loses the first copy of every 10th video packet from a Chromium publisher.
// werift NACKs the holes, Chromium retransmits (RTX), and the session's reorder buffer waits for the copies, so the
// frames reach the room whole: no packet given up, no keyframe wait, the viewer decodes everything.

import t from 'tap';
import { RTCDtlsTransport } from 'werift';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { gatewayWithChromium, openWhepViewer, openWhipPublisher } from '../helpers/chromium.js';

// The loss is made inside this process, where the gateway runs: each DTLS transport's view of its ICE datagrams
// loses the first arrival of some video RTP (SRTP leaves the RTP header readable). Only the publisher sends such
// packets to the gateway; viewers send it RTCP.
let dropped = 0;
const proto = RTCDtlsTransport.prototype as unknown as { startSrtp(this: Lossy): void };
interface Lossy {
  iceTransport: { connection: { onData: { subscribe(f: (d: Buffer) => void): unknown } } };
}
const startSrtp = proto.startSrtp;
proto.startSrtp = function (this: Lossy) {
  const ev = this.iceTransport.connection.onData;
  const subscribe = ev.subscribe.bind(ev);
  let videoSsrc = -1;
  const seen = new Set<number>();
  ev.subscribe = (f) =>
    subscribe((d: Buffer) => {
      if (d.length > 400 && d[0] >> 6 === 2 && (d[1] & 0x7f) >= 96) {
        const ssrc = d.readUInt32BE(8);
        if (videoSsrc < 0) videoSsrc = ssrc; // the first large packets are video; RTX comes on another SSRC
        const seq = d.readUInt16BE(2);
        if (ssrc === videoSsrc && seq % 10 === 0 && !seen.has(seq)) {
          seen.add(seq);
          dropped++;
          return;
        }
      }
      f(d);
    });
  return startSrtp.call(this);
};

const { g, browser } = await gatewayWithChromium(t);
const app = TEST_APP.sdkAppId;

t.test('lost video packets come back by NACK/RTX and complete their frames', async (t) => {
  const p = await openWhipPublisher(browser, g.httpBase, `/v2/pub/${app}/room-loss?SessionID=lossy`, officialUserSig('lossy'));
  t.teardown(() => p.close());
  t.equal(p.status, 201);
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/room-loss`)).body?.users?.[0]?.frames?.video > 30, 15000, 'lossy publishing');
  const v = await openWhepViewer(browser, g.httpBase, `/v2/sub/${app}/room-loss?SessionID=watcher`, officialUserSig('watcher'));
  t.teardown(() => v.close());
  const s0 = await waitFor(async () => {
    const s = await v.stats();
    return s.framesDecoded > 10 ? s : null;
  }, 15000, 'viewer decoding');
  const frames = async () => (await g.getJson(`/api/rooms/${app}/room-loss`)).body.users[0].frames.video as number;
  const before = { dropped, frames: await frames(), state: await (await fetch(g.httpBase + p.location)).json() };
  await new Promise((r) => setTimeout(r, 6000));
  const s1 = await v.stats();
  const state = await (await fetch(g.httpBase + p.location)).json();
  const lost = dropped - before.dropped;
  const givenUp = state.videoLoss.packetsGivenUp - before.state.videoLoss.packetsGivenUp;
  const sent = (await frames()) - before.frames;
  const decoded = s1.framesDecoded - s0.framesDecoded;
  t.comment(`6 s: ${lost} packets lost on the way in, ${givenUp} given up; ${sent} frames into the room, ${decoded} decoded; keyframe requests ${state.stats.keyframeRequests - before.state.stats.keyframeRequests}`);
  t.ok(lost >= 10, `packets were lost (${lost})`);
  t.ok(givenUp <= lost * 0.1, `retransmissions filled the holes: ${givenUp} of ${lost} given up`);
  // The gateway's own NACK requester (not werift's) found the holes and saw them filled.
  const nacked = state.videoLoss.packetsNacked - before.state.videoLoss.packetsNacked;
  const recovered = state.videoLoss.packetsRecovered - before.state.videoLoss.packetsRecovered;
  t.ok(nacked >= lost, `${nacked} packets NACKed for ${lost} lost`);
  t.ok(recovered >= lost * 0.9, `${recovered} of them came back`);
  t.equal(state.srtp.decryptedBy, 'native', 'the publisher and its retransmissions (RTX SSRC) were decrypted natively');
  t.ok(decoded >= 0.9 * sent, `the viewer decoded ${decoded} of ${sent}`);
  t.ok(sent >= 60, `frames kept flowing into the room (${sent} in 6 s)`);
});
