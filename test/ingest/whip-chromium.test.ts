// WHIP push from headless Chromium (fake camera, H.264 via setCodecPreferences) into the room, played by a second
// Chromium over WHEP; the WHIP resource's life cycle and its refusals.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { gatewayWithChromium, openWhepViewer, openWhipPublisher, restartIceByPatch, selectedLocalUfrag } from '../helpers/chromium.js';

const { g, browser } = await gatewayWithChromium(t, {
  room: { reconnectGraceMs: 3000, opusBitrate: 64000 },
  webrtc: { hostAddresses: ['127.0.0.1'], announcedAddresses: [], udpPortMin: 40000, udpPortMax: 40999, iceServers: [{ urls: 'turn:turn.example.test:3478', username: 'u', credential: 'p' }] },
});
const app = TEST_APP.sdkAppId;
const pub = (room: string, user: string) => `/v2/pub/${app}/${room}?SessionID=${user}`;
const sub = (room: string, viewer: string) => `/v2/sub/${app}/${room}?SessionID=${viewer}`;

t.test('Chromium publishes H.264 over WHIP (an offer without candidates, OBS 30.2 style) and another Chromium plays it over WHEP', async (t) => {
  // The offer goes without candidates, as OBS 30.2 sends it: the server learns Chromium's address from its checks.
  const p = await openWhipPublisher(browser, g.httpBase, pub('room-whip', 'cam1'), officialUserSig('cam1'), { withoutCandidates: true });
  t.teardown(() => p.close());
  t.notMatch(p.offer, /a=candidate:/, 'the offer had no candidates');
  t.equal(p.status, 201, 'WHIP answered 201');
  t.match(p.location, /^\/v2\/whip\/[0-9a-f-]{36}$/);
  t.match(p.body, /a=rtpmap:\d+ H264\/90000/);
  t.notMatch(p.body, /VP8|AV1|H265|VP9/i, 'the answer has H.264 only');
  t.match(p.body, /a=fmtp:\d+ .*packetization-mode=1/);
  t.match(p.body, /a=candidate:.* 127\.0\.0\.1 \d+ typ host/);

  const room = await waitFor(async () => {
    const r = await g.getJson(`/api/rooms/${app}/room-whip`);
    return r.status === 200 && r.body.users[0]?.video ? r.body : null;
  }, 15000, 'cam1 in the room with video');
  t.equal(room.users[0].source, 'whip');
  t.equal(room.users[0].audio.codec, 'Opus');
  t.ok(room.users[0].video.width > 0);

  const v = await openWhepViewer(browser, g.httpBase, sub('room-whip', 'watch1'), officialUserSig('watch1'));
  t.teardown(() => v.close());
  t.equal(v.status, 201);
  const s0 = await waitFor(async () => {
    const s = await v.stats();
    return s.framesDecoded > 10 ? s : null;
  }, 15000, 'viewer decoding');
  const published = async () => (await g.getJson(`/api/rooms/${app}/room-whip`)).body.users[0].frames.video as number;
  const p0 = await published();
  await new Promise((r) => setTimeout(r, 5000));
  const s1 = await v.stats();
  const sent = (await published()) - p0;
  const decoded = s1.framesDecoded - s0.framesDecoded;
  t.comment(`viewer: ${s1.frameWidth}x${s1.frameHeight}, ${decoded} of ${sent} frames decoded in 5 s, first frame ${s1.firstFrameMs.toFixed(0)} ms after POST, PLIs ${s1.pliCount}`);
  t.ok(sent > 50, `the publisher sent ${sent} frames`);
  t.ok(decoded >= 0.9 * sent, `decoded ${decoded} of ${sent}`);
  t.ok(s1.totalSamplesReceived > s0.totalSamplesReceived, 'Opus audio flows');
  t.equal(s1.frameWidth, room.users[0].video.width);

  // The resource tells its state; DELETE makes the user leave.
  const state = await (await fetch(g.httpBase + p.location)).json();
  t.equal(state.state, 'live');
  t.ok(state.stats.keyframeRequests >= 1, 'keyframes were requested from the publisher');
  t.equal(state.srtp.decryptedBy, 'native', `Chromium's SRTP (${state.srtp.profile}) is decrypted by the native receiver`);
  const del = await fetch(g.httpBase + p.location, { method: 'DELETE' });
  t.equal(del.status, 200);
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/room-whip`)).status === 404, 5000, 'room empty');
  const ended = await (await fetch(g.httpBase + p.location)).json();
  t.equal(ended.state, 'ended');
  t.equal(ended.endReason, 'the publisher sent DELETE');
  // The publisher is gone for good: after the reconnect grace window (3 s here) the viewer's session ends too.
  const gone = await waitFor(async () => {
    const s = await v.stats();
    return s.connectionState !== 'connected' ? s : null;
  }, 15000, "the viewer's session to end after the publisher's DELETE");
  t.ok(['closed', 'failed', 'disconnected'].includes(gone.connectionState), `viewer ${gone.connectionState}`);
});

t.test('a second WHIP session with the same userid kicks the first', async (t) => {
  const a = await openWhipPublisher(browser, g.httpBase, pub('room-kick', 'cam2'), officialUserSig('cam2'));
  t.teardown(() => a.close());
  t.equal(a.status, 201);
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/room-kick`)).status === 200, 10000, 'first in room');
  const b = await openWhipPublisher(browser, g.httpBase, pub('room-kick', 'cam2'), officialUserSig('cam2'));
  t.teardown(() => b.close());
  t.equal(b.status, 201, 'no 409: the new session wins');
  const first = await (await fetch(g.httpBase + a.location)).json();
  t.equal(first.state, 'ended');
  t.match(first.endReason, /^kicked: the same userid published again from 127\.0\.0\.1/);
  const room = await g.getJson(`/api/rooms/${app}/room-kick`);
  t.equal(room.body.users.length, 1);
});

t.test('WHIP refusals say why', async (t) => {
  const vp8 = await openWhipPublisher(browser, g.httpBase, pub('room-no', 'cam3'), officialUserSig('cam3'), { codec: 'VP8' });
  t.teardown(() => vp8.close());
  t.equal(vp8.status, 406);
  t.match(vp8.body, /offer has no H\.264 \(packetization-mode 1\): offered VP8 — select H\.264 in the encoder/);
  const badSig = await openWhipPublisher(browser, g.httpBase, pub('room-no', 'cam3'), officialUserSig('other'));
  t.teardown(() => badSig.close());
  t.equal(badSig.status, 401);
  t.match(badSig.body, /usersig was signed for user 'other', not 'cam3'/);
  const unknownApp = await fetch(`${g.httpBase}/v2/pub/1400000999/room-no?SessionID=cam3`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${officialUserSig('cam3')}` },
    body: 'v=0\r\n',
  });
  t.equal(unknownApp.status, 404);
  t.match(await unknownApp.text(), /unknown sdkappid 1400000999/);
  const malformed = await fetch(g.httpBase + pub('room-no', 'cam3'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${officialUserSig('cam3')}` },
    body: 'not sdp',
  });
  t.equal(malformed.status, 400);
  const options = await fetch(g.httpBase + pub('room-no', 'cam3'), { method: 'OPTIONS' });
  t.equal(options.status, 204);
  t.match(options.headers.get('link') ?? '', /<turn:turn\.example\.test:3478>; rel="ice-server"; username="u"; credential="p"/);
  t.equal((await g.getJson(`/api/rooms/${app}/room-no`)).status, 404, 'nobody joined');
});

t.test('ICE restart by PATCH: Chromium restarts ICE, the session keeps its tracks and media keeps flowing', async (t) => {
  const p = await openWhipPublisher(browser, g.httpBase, pub('room-restart', 'cam4'), officialUserSig('cam4'));
  t.teardown(() => p.close());
  t.equal(p.status, 201);
  const frames = async () => (await g.getJson(`/api/rooms/${app}/room-restart`)).body?.users?.[0]?.frames?.video ?? 0;
  await waitFor(async () => (await frames()) > 20, 15000, 'cam4 publishing');
  const r = await restartIceByPatch(p.page, g.httpBase + p.location);
  t.equal(r.status, 200, `PATCH answered 200: ${r.status === 200 ? '' : r.body}`);
  t.equal(r.contentType, 'application/trickle-ice-sdpfrag');
  t.match(r.body, /a=candidate:.* 127\.0\.0\.1 \d+ typ host/);
  t.not(r.newUfrag, r.oldUfrag, 'the server has new ICE credentials');
  // Chromium keeps sending on the old pair until a new one is selected: wait for the pair of the new ICE session.
  await waitFor(async () => (await selectedLocalUfrag(p.page)) === r.localUfrag, 10000, 'a candidate pair of the new ICE session selected');
  t.equal((await p.stats()).connectionState, 'connected');
  const f0 = await frames();
  await new Promise((res) => setTimeout(res, 3000));
  const f1 = await frames();
  t.ok(f1 - f0 > 30, `frames keep reaching the room after the restart (${f1 - f0} in 3 s)`);
  const state = await (await fetch(g.httpBase + p.location)).json();
  t.equal(state.state, 'live', 'the same WHIP session');
});
