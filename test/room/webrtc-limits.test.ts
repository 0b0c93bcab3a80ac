// WebRTC sessions hold a UDP port each, so none may hold one it does not use: an offer that is answered and then
// abandoned (no ICE, no DELETE) is closed at the connect deadline and its port freed; a full port range is refused
// 503 with Retry-After instead of a 201 that can never connect; one userid cannot take more than its share; and on
// shutdown Chromium learns at once (RTCP BYE, DTLS close_notify) instead of when ICE notices the silence seconds later.

import t from 'tap';
import type { Browser, Page } from 'playwright-core';
import { officialUserSig, startTestGateway, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { launchChromium, openWhepViewer, openWhipPublisher } from '../helpers/chromium.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';

const app = TEST_APP.sdkAppId;
const whep = (room: string, viewer: string) => `/v2/sub/${app}/${room}?SessionID=${viewer}`;

const browser: Browser = await launchChromium();
t.teardown(() => browser.close());

/** A Chromium offer POSTed and then forgotten: the answer is never applied, so no ICE check ever reaches us. */
async function abandonedOffer(page: Page, url: string, token: string): Promise<{ status: number; retryAfter: string | null; text: string }> {
  return page.evaluate(
    async ({ url, token }) => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` }, body: pc.localDescription!.sdp });
      pc.close();
      return { status: r.status, retryAfter: r.headers.get('Retry-After'), text: await r.text() };
    },
    { url, token },
  );
}

async function blankPage(httpBase: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${httpBase}/healthz`);
  return page;
}

t.test('abandoned offers free their ports at the deadline; 8 ports serve 8 Chromium viewers; the 9th gets 503', async (t) => {
  const g = await startTestGateway({
    // 6 s to connect: the abandoned offers wait that long, but eight Chromium viewers answered one after another on
    // a busy 2-core machine must not be closed at the deadline before their handshakes finish
    webrtc: { hostAddresses: ['127.0.0.1'], udpPortMin: 42000, udpPortMax: 42007, connectTimeoutMs: 6000 },
  });
  t.teardown(() => g.close());
  const pub = ffmpegPush(g.pushUrl('ports', 'anchor'), { seconds: 90, realtime: true, size: '320x240' });
  t.teardown(() => pub.stop());
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/ports`)).status === 200, 15000, 'publisher in the room');

  const page = await blankPage(g.httpBase);
  t.teardown(() => page.close());
  for (let i = 0; i < 3; i++) {
    const r = await abandonedOffer(page, g.httpBase + whep('ports', `ghost${i}`), officialUserSig(`ghost${i}`));
    t.equal(r.status, 201, 'an abandoned offer is first answered');
  }
  t.equal((await g.getJson(`/api/rooms/${app}/ports`)).body.viewers, 3, 'the three hold their places meanwhile');
  await waitFor(async () => g.gw.counters.get('webrtc.connectTimeout') === 3, 12000, 'the three closed at the deadline');
  t.equal((await g.getJson(`/api/rooms/${app}/ports`)).body.viewers, 0, 'no longer counted as viewers');

  const viewers = [];
  for (let i = 0; i < 8; i++) {
    const v = await openWhepViewer(browser, g.httpBase, whep('ports', `viewer${i}`), officialUserSig(`viewer${i}`));
    t.teardown(() => v.close());
    t.equal(v.status, 201, `viewer ${i} answered`);
    viewers.push(v);
  }
  // What the ports are for is media reaching each viewer: frames received over its port and a keyframe decoded.
  // Eight decoders on a machine the suite keeps busy may lag; they get time together, not one after another.
  // A viewer that gets nothing says why: its state in Chromium and at the gateway (a close names its reason).
  await Promise.all(viewers.map(async (v, i) => {
    try {
      await waitFor(async () => {
        const s = await v.stats();
        return s.framesReceived > 10 && s.keyFramesDecoded > 0;
      }, 45000, `viewer ${i} receiving frames over its port and decoding a keyframe`);
    } catch (err) {
      const s = await v.stats();
      const at = (await g.getJson(v.location!)).body;
      throw new Error(`${(err as Error).message}: Chromium ${s.connectionState}, ${s.framesReceived} frames; gateway ${JSON.stringify(at)}; connect timeouts ${JSON.stringify(g.gw.counters.get('webrtc.connectTimeout'))}`);
    }
  }));
  t.pass('all 8 Chromium viewers receive and decode');

  const ninth = await abandonedOffer(page, g.httpBase + whep('ports', 'ninth'), officialUserSig('ninth'));
  t.equal(ninth.status, 503, 'no free port: 503, not a 201 without candidates');
  t.equal(ninth.retryAfter, '6', 'Retry-After: the connect deadline, when an abandoned port would be free');
  t.match(ninth.text, /no free UDP port for WebRTC: all 8 ports of 42000–42007 are in use/);
  t.equal(g.gw.counters.get('webrtc.noUdpPort'), 1, 'counted');
  t.equal((await g.getJson(`/api/rooms/${app}/ports`)).body.viewers, 8, 'the refused offer is not a viewer');
  const limits = await g.getJson('/api/limits');
  t.same(limits.body['webrtc.noUdpPort'], 1);
  t.same(limits.body['webrtc.connectTimeout'], { whep: 3 });
});

t.test('an abandoned WHIP publish leaves the room with 104 Reason 2; one userid is capped at maxSessionsPerUser', async (t) => {
  const receiver = await startCallbackReceiver('cb-key-limits');
  t.teardown(() => receiver.close());
  const g = await startTestGateway({
    apps: [{ ...TEST_APP, callbackUrl: receiver.url, callbackKey: 'cb-key-limits' }],
    webrtc: { hostAddresses: ['127.0.0.1'], udpPortMin: 42100, udpPortMax: 42199, connectTimeoutMs: 2000, maxSessionsPerUser: 2 },
  });
  t.teardown(() => g.close());
  const page = await blankPage(g.httpBase);
  t.teardown(() => page.close());

  const whip = await page.evaluate(
    async ({ url, token }) => {
      const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      const pc = new RTCPeerConnection();
      for (const track of media.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
      await pc.setLocalDescription(await pc.createOffer());
      const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` }, body: pc.localDescription!.sdp });
      pc.close();
      for (const tr of media.getTracks()) tr.stop();
      return { status: r.status, location: r.headers.get('Location') };
    },
    { url: `${g.httpBase}/v2/pub/${app}/whip-ghost?SessionID=ghost-pub`, token: officialUserSig('ghost-pub') },
  );
  t.equal(whip.status, 201);
  const exit = await waitFor(() => receiver.events(104).find((e) => e.EventInfo.UserId === 'ghost-pub'), 8000, '104 for the abandoned WHIP user');
  t.equal(exit.EventInfo.Reason, 2, '104 Reason 2: timeout');
  t.ok(receiver.events(103).some((e) => e.EventInfo.UserId === 'ghost-pub'), 'it had entered (103)');
  const session = await g.getJson(whip.location!);
  t.equal(session.body.state, 'ended');
  t.match(session.body.endReason, /no ICE \+ DTLS connection within 2 s of the answer/);

  // The per-user cap: two abandoned viewer offers of one userid are held, the third is refused at once.
  const pub = ffmpegPush(g.pushUrl('capped', 'anchor'), { seconds: 30, realtime: true, size: '320x240' });
  t.teardown(() => pub.stop());
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/capped`)).status === 200, 15000, 'publisher in the room');
  const token = officialUserSig('greedy');
  t.equal((await abandonedOffer(page, g.httpBase + whep('capped', 'greedy'), token)).status, 201);
  t.equal((await abandonedOffer(page, g.httpBase + whep('capped', 'greedy'), token)).status, 201);
  const third = await abandonedOffer(page, g.httpBase + whep('capped', 'greedy'), token);
  t.equal(third.status, 429);
  t.equal(third.retryAfter, '2');
  t.match(third.text, /user 'greedy' already has 2 WebRTC sessions, the limit per user \(webrtc\.maxSessionsPerUser\)/);
  t.equal((await abandonedOffer(page, g.httpBase + whep('capped', 'someone-else'), officialUserSig('someone-else'))).status, 201, 'other users are not affected');
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/capped`)).body.viewers === 0, 6000, 'abandoned viewers gone');
  t.equal((await abandonedOffer(page, g.httpBase + whep('capped', 'greedy'), token)).status, 201, 'the places come back after the deadline');
});

t.test('on shutdown a Chromium viewer and a Chromium WHIP publisher see their connection change within 1 s', async (t) => {
  const g = await startTestGateway({ webrtc: { hostAddresses: ['127.0.0.1'], udpPortMin: 42200, udpPortMax: 42299 } });
  let closed = false;
  t.teardown(() => (closed ? undefined : g.close()));
  const pub = ffmpegPush(g.pushUrl('bye', 'anchor'), { seconds: 60, realtime: true, size: '320x240' });
  t.teardown(() => pub.stop());
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/bye`)).status === 200, 15000, 'publisher in the room');
  const viewer = await openWhepViewer(browser, g.httpBase, whep('bye', 'watcher'), officialUserSig('watcher'));
  t.teardown(() => viewer.close());
  const whip = await openWhipPublisher(browser, g.httpBase, `/v2/pub/${app}/bye?SessionID=cam`, officialUserSig('cam'), { width: 320, height: 240 });
  t.teardown(() => whip.close());
  t.equal(whip.status, 201);
  await waitFor(async () => (await viewer.stats()).framesDecoded > 10, 15000, 'viewer decoding');
  await waitFor(async () => (await whip.stats()).connectionState === 'connected', 15000, 'WHIP publisher connected');

  // Each page notes when its DTLS transport or connection state changes, on this process's clock (Date.now()).
  // The close_notify closes Chromium's RTCDtlsTransport at once; RTCPeerConnection.connectionState follows only when
  // ICE notices the silence (5–7 s here), so the transport's state is what a player can react to first.
  const watch = (page: Page) =>
    page.evaluate(() => {
      const w = window as any;
      w.changedAt = 0;
      w.changedTo = '';
      const pc = w.pc as RTCPeerConnection;
      const dtls = pc.getTransceivers()[0]?.receiver.transport ?? null;
      const note = () => {
        if (w.changedAt || (pc.connectionState === 'connected' && dtls?.state === 'connected')) return;
        w.changedAt = Date.now();
        w.changedTo = `DTLS ${dtls?.state}, connection ${pc.connectionState}`;
      };
      pc.addEventListener('connectionstatechange', note);
      dtls?.addEventListener('statechange', note);
    });
  await watch(viewer.page);
  await watch(whip.page);
  const closedAt = Date.now();
  const closing = g.close();
  closed = true;
  for (const [name, page] of [['viewer', viewer.page], ['WHIP publisher', whip.page]] as const) {
    const changed = await waitFor(() => page.evaluate(() => ((window as any).changedAt ? { at: (window as any).changedAt, to: (window as any).changedTo } : null)), 10000, `${name} state change`);
    t.comment(`${name}: ${changed.to} ${changed.at - closedAt} ms after close()`);
    t.ok(changed.at - closedAt <= 1000, `${name} reacts within 1 s (${changed.at - closedAt} ms)`);
    t.match(changed.to, /^DTLS closed/, 'by the close_notify');
  }
  await closing;
});
