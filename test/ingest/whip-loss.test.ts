// WHIP over a bad path: the first copy of every 10th video packet from a Chromium publisher is lost on the way in,
// or arrives damaged (one byte of its encrypted payload flipped). The gateway's engine NACKs the holes — a damaged
// packet fails SRTP authentication and is a hole like a lost one — Chromium retransmits, and the engine's reorder
// buffer waits for the copies, so the frames reach the room whole: no packet given up, no keyframe wait, the viewer
// decodes everything.

import t from 'tap';
import dgram from 'node:dgram';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { gatewayWithChromium, openWhepViewer, openWhipPublisher } from '../helpers/chromium.js';

// The bad path is a UDP relay on loopback between Chromium and the gateway (Chromium is given the relay's port in
// place of the gateway's; the gateway sees the relay as the publisher's address). Going in, it loses or damages the
// first arrival of some video RTP: SRTP leaves the RTP header readable.
let mode: 'drop' | 'corrupt' = 'drop';
let damaged = 0;

function lossyRelay(): Promise<{ port: number; target(port: number): void; close(): void }> {
  const sock = dgram.createSocket('udp4');
  let gateway = 0;
  let client: { address: string; port: number } | null = null;
  let videoSsrc = -1;
  const seen = new Set<number>();
  sock.on('message', (d, from) => {
    if (from.port === gateway) {
      if (client) sock.send(d, client.port, client.address);
      return;
    }
    client = { address: from.address, port: from.port };
    if (!gateway) return; // ICE checks before the answer was read here are retransmitted
    const rtp = d[0]! >> 6 === 2 && !(d[1]! >= 192 && d[1]! <= 223);
    if (rtp && d.length > 400) {
      const ssrc = d.readUInt32BE(8);
      if (videoSsrc < 0) videoSsrc = ssrc; // the first large packets are video
      const seq = d.readUInt16BE(2);
      if (ssrc === videoSsrc && seq % 10 === 0 && !seen.has(seq)) {
        seen.add(seq);
        damaged++;
        if (mode === 'drop') return;
        const bad = Buffer.from(d);
        bad[bad.length - 40] ^= 0x5a; // inside the ciphertext, before the tag
        d = bad;
      }
    }
    sock.send(d, gateway, '127.0.0.1');
  });
  return new Promise((resolve) =>
    sock.bind(0, '127.0.0.1', () =>
      resolve({ port: sock.address().port, target: (port) => (gateway = port), close: () => sock.close() }),
    ),
  );
}

const { g, browser } = await gatewayWithChromium(t);
const app = TEST_APP.sdkAppId;

for (const [m, room] of [
  ['drop', 'room-loss'],
  ['corrupt', 'room-corrupt'],
] as const) {
  const what = m === 'drop' ? 'lost' : 'damaged';
  t.test(`${what} video packets come back by NACK/RTX and complete their frames`, async (t) => {
    mode = m;
    const relay = await lossyRelay();
    t.teardown(() => relay.close());
    const p = await openWhipPublisher(browser, g.httpBase, `/v2/pub/${app}/${room}?SessionID=pub-${m}`, officialUserSig(`pub-${m}`), { answerPort: relay.port });
    t.teardown(() => p.close());
    t.equal(p.status, 201);
    relay.target(Number(/^a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 (\d+)/im.exec(p.body)![1]));
    await waitFor(async () => (await g.getJson(`/api/rooms/${app}/${room}`)).body?.users?.[0]?.frames?.video > 30, 15000, `${m}: publishing`);
    const v = await openWhepViewer(browser, g.httpBase, `/v2/sub/${app}/${room}?SessionID=watch-${m}`, officialUserSig(`watch-${m}`));
    t.teardown(() => v.close());
    const s0 = await waitFor(async () => {
      const s = await v.stats();
      return s.framesDecoded > 10 ? s : null;
    }, 15000, 'viewer decoding');
    const frames = async () => (await g.getJson(`/api/rooms/${app}/${room}`)).body.users[0].frames.video as number;
    // The window's damage is counted inside the status snapshots: from after the first to before the last, which
    // is taken a frame interval later so that the hole each damaged packet opened has been seen (by the next one).
    const before = { frames: await frames(), state: await (await fetch(g.httpBase + p.location)).json(), damaged };
    await new Promise((r) => setTimeout(r, 6000));
    const s1 = await v.stats();
    const sent = (await frames()) - before.frames;
    const hit = damaged - before.damaged;
    await new Promise((r) => setTimeout(r, 100));
    const state = await (await fetch(g.httpBase + p.location)).json();
    const delta = (f: (s: typeof state) => number) => f(state) - f(before.state);
    const givenUp = delta((s) => s.videoLoss.packetsGivenUp);
    const decoded = s1.framesDecoded - s0.framesDecoded;
    t.comment(`6 s: ${hit} packets ${what} on the way in, ${givenUp} given up; ${sent} frames into the room, ${decoded} decoded; keyframe requests ${delta((s) => s.stats.keyframeRequests)}`);
    t.ok(hit >= 10, `packets were ${what} (${hit})`);
    t.equal(state.srtp.decryptedBy, 'native', 'the publisher and its retransmissions were decrypted by the engine');
    if (m === 'corrupt') t.ok(delta((s) => s.srtp.rejectedPackets) >= hit, `the engine refused the ${hit} damaged packets`);
    else t.equal(delta((s) => s.srtp.rejectedPackets), 0, 'nothing refused on a path that only loses');
    t.ok(givenUp <= hit * 0.1, `retransmissions filled the holes: ${givenUp} of ${hit} given up`);
    // The engine (not werift) found the holes and saw them filled.
    t.ok(delta((s) => s.videoLoss.packetsNacked) >= hit, `${delta((s) => s.videoLoss.packetsNacked)} packets NACKed for ${hit} ${what}`);
    t.ok(delta((s) => s.videoLoss.packetsRecovered) >= hit * 0.9, `${delta((s) => s.videoLoss.packetsRecovered)} of them came back`);
    t.ok(decoded >= 0.9 * sent, `the viewer decoded ${decoded} of ${sent}`);
    t.ok(sent >= 60, `frames kept flowing into the room (${sent} in 6 s)`);
  });
}
