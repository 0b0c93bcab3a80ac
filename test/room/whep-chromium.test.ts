// RTMP in (Debian ffmpeg), WebRTC out to headless Chromium over WHEP: decoded frames, resolution, audio, late
// joiners, many viewers, publisher reconnects, and the WHEP error answers.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush, type Run } from '../helpers/clients.js';
import { gatewayWithChromium, openWhepViewer, restartIceByPatch, selectedLocalUfrag } from '../helpers/chromium.js';
import { weriftViewer, whepTarget } from '../helpers/viewers.js';

const { g, browser } = await gatewayWithChromium(t, { room: { reconnectGraceMs: 4000, opusBitrate: 64000 } });
const app = TEST_APP.sdkAppId;
const whep = (room: string, viewer: string, publisher?: string) =>
  `/v2/sub/${app}/${room}?SessionID=${viewer}${publisher ? `&Publisher=${publisher}` : ''}`;

async function publisherFrames(room: string, user?: string): Promise<number> {
  const r = await g.getJson(`/api/rooms/${app}/${room}`);
  if (r.status !== 200) return 0;
  const u = user ? r.body.users.find((x: any) => x.userId === user) : r.body.users[0];
  return u?.frames.video ?? 0;
}

async function publishing(room: string, user: string, size = '640x360', seconds = 60): Promise<Run> {
  const pub = ffmpegPush(g.pushUrl(room, user), { seconds, realtime: true, size });
  await waitFor(async () => (await publisherFrames(room, user)) > 20, 15000, `${user} publishing in ${room}`);
  return pub;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('an RTMP stream plays in Chromium: ≥ 90 % of frames decoded, size, Opus audio, no PLI storm', async (t) => {
  const pub = await publishing('room-play', 'alice');
  t.teardown(() => pub.stop());
  const v = await openWhepViewer(browser, g.httpBase, whep('room-play', 'viewer1'), officialUserSig('viewer1'));
  t.teardown(() => v.close());
  t.equal(v.status, 201, 'WHEP answered 201');
  t.match(v.location, /^\/v2\/whep\/[0-9a-f-]{36}$/);
  t.match(v.body, /a=setup:passive/);
  t.match(v.body, /a=candidate:.* 127\.0\.0\.1 \d+ typ host/);
  await waitFor(async () => (await v.stats()).framesDecoded > 0, 10000, 'first decoded frame');
  const s0 = await v.stats();
  const sent0 = await publisherFrames('room-play');
  await sleep(10000);
  const s1 = await v.stats();
  const sent1 = await publisherFrames('room-play');
  const decoded = s1.framesDecoded - s0.framesDecoded;
  const sent = sent1 - sent0;
  t.comment(`over 10 s: ${sent} frames sent, ${decoded} decoded; first frame ${s1.firstFrameMs.toFixed(0)} ms after the POST; PLIs ${s1.pliCount}, NACKs ${s1.nackCount}, keyframes ${s1.keyFramesDecoded}`);
  t.ok(decoded >= 0.9 * sent, `decoded ${decoded} of ${sent}`);
  t.equal(s1.frameWidth, 640);
  t.equal(s1.frameHeight, 360);
  t.ok(s1.totalSamplesReceived > s0.totalSamplesReceived + 48000 * 9, 'Opus audio keeps arriving');
  t.ok(s1.pliCount <= 3, `PLIs: ${s1.pliCount}`);
  t.equal(s1.packetsLost, 0);
  // ~1 per second per track: video and audio sender reports reach Chromium and decrypt (SRTCP).
  t.ok(s1.videoSenderReports - s0.videoSenderReports >= 5, `video sender reports in 10 s: ${s1.videoSenderReports - s0.videoSenderReports}`);
  t.ok(s1.audioSenderReports - s0.audioSenderReports >= 5, `audio sender reports in 10 s: ${s1.audioSenderReports - s0.audioSenderReports}`);
  const room = await g.getJson(`/api/rooms/${app}/room-play`);
  t.equal(room.body.viewers, 1);
  // DELETE ends the session.
  const del = await fetch(g.httpBase + v.location!, { method: 'DELETE' });
  t.equal(del.status, 200);
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/room-play`)).body.viewers === 0, 5000, 'viewer gone');
});

t.test('a late joiner decodes its first frame from the cached GOP', async (t) => {
  const pub = await publishing('room-late', 'bob', '640x360');
  t.teardown(() => pub.stop());
  await sleep(1500); // mid-GOP: the next IDR is up to 1 s away
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const v = await openWhepViewer(browser, g.httpBase, whep('room-late', `late${i}`), officialUserSig(`late${i}`));
    t.equal(v.status, 201);
    const s = await waitFor(async () => {
      const st = await v.stats();
      return st.firstFrameMs >= 0 ? st : null;
    }, 10000, 'first frame');
    times.push(s.firstFrameMs);
    await v.close();
    await sleep(333);
  }
  t.comment(`join (WHEP POST) → first decoded frame in Chromium: ${times.map((x) => x.toFixed(0)).join(', ')} ms`);
  t.ok(times.every((x) => x > 0));
});

t.test('10 viewers on one stream: 9 werift viewers get every frame and Chromium decodes them all', async (t) => {
  // Nine viewers that do not decode (werift, another process) keep this test about the gateway's fan-out rather
  // than about how many H.264 decoders two shared cores can run; the tenth, Chromium, decodes.
  const pub = await publishing('room-ten', 'carol', '320x240');
  t.teardown(() => pub.stop());
  const nine = weriftViewer({ ...whepTarget(g.httpBase, 'room-ten', 'ten'), count: 9 });
  t.teardown(() => nine.kill());
  const chrome = await openWhepViewer(browser, g.httpBase, whep('room-ten', 'ten-chrome'), officialUserSig('ten-chrome'));
  t.teardown(() => chrome.close());
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/room-ten`)).body.viewers === 10, 15000, '10 viewers');
  await waitFor(async () => (await chrome.stats()).framesDecoded > 0, 15000, 'Chromium decoding');
  await sleep(2000);
  const before = Array.from({ length: 9 }, (_, i) => nine.latest(i)!.frames);
  const c0 = await chrome.stats();
  const sent0 = await publisherFrames('room-ten');
  await sleep(8000);
  const sent = (await publisherFrames('room-ten')) - sent0;
  const got = Array.from({ length: 9 }, (_, i) => nine.latest(i)!.frames - before[i]);
  const c1 = await chrome.stats();
  const decoded = c1.framesDecoded - c0.framesDecoded;
  t.comment(`frames sent ${sent}; complete frames per werift viewer: ${got.join(' ')}; Chromium decoded ${decoded}`);
  for (const n of got) t.ok(n >= 0.9 * sent, `werift viewer got ${n} of ${sent}`);
  t.ok(decoded >= 0.9 * sent, `Chromium decoded ${decoded} of ${sent}`);
  t.equal(Math.max(...Array.from({ length: 9 }, (_, i) => nine.latest(i)!.seqGaps)), 0, 'no sequence gaps');
});

t.test('a publisher reconnect with the same userid resumes the viewer without renegotiating', async (t) => {
  const first = await publishing('room-re', 'dave');
  const v = await openWhepViewer(browser, g.httpBase, whep('room-re', 'watcher'), officialUserSig('watcher'));
  t.teardown(() => v.close());
  await waitFor(async () => (await v.stats()).framesDecoded > 30, 10000, 'playing');
  first.kill(); // an encoder losing its connection
  await first.exited;
  await sleep(1500);
  const during = await v.stats();
  t.equal(during.connectionState, 'connected', 'the viewer stays connected while the publisher is away');
  const second = await publishing('room-re', 'dave');
  t.teardown(() => second.stop());
  const resumed = await waitFor(async () => {
    const s = await v.stats();
    return s.framesDecoded > during.framesDecoded + 60 ? s : null;
  }, 15000, 'frames after the reconnect');
  t.equal(resumed.connectionState, 'connected');
  t.equal(resumed.videoTrackState, 'live', 'same track, no renegotiation');
  t.ok(resumed.pliCount <= 5, `PLIs: ${resumed.pliCount}`);

  // And when the same userid publishes from a new session while the old one still runs (a kick), too.
  const third = ffmpegPush(g.pushUrl('room-re', 'dave'), { seconds: 60, realtime: true, size: '640x360' });
  t.teardown(() => third.stop());
  await second.exited;
  t.match(second.output(), /kicked: the same userid published again/);
  const afterKick = await waitFor(async () => {
    const s = await v.stats();
    return s.framesDecoded > resumed.framesDecoded + 60 ? s : null;
  }, 15000, 'frames after the kick');
  t.equal(afterKick.connectionState, 'connected');
});

t.test('when the publisher leaves for good, the viewer session ends after the grace window', async (t) => {
  const pub = await publishing('room-end', 'erin');
  const v = await openWhepViewer(browser, g.httpBase, whep('room-end', 'w-end'), officialUserSig('w-end'));
  t.teardown(() => v.close());
  await waitFor(async () => (await v.stats()).framesDecoded > 10, 10000, 'playing');
  pub.stop();
  await pub.exited;
  const ended = await waitFor(async () => {
    const s = await v.stats();
    return s.connectionState !== 'connected' ? s : null;
  }, 20000, 'viewer connection to end');
  t.ok(['closed', 'failed', 'disconnected'].includes(ended.connectionState), ended.connectionState);
});

t.test('WHEP errors say why', async (t) => {
  const pub = await publishing('room-err', 'frank', '320x240');
  t.teardown(() => pub.stop());
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(g.httpBase + path, { method: 'POST', headers: { 'Content-Type': 'application/sdp', ...headers }, body });
  const bearer = (u: string) => ({ Authorization: `Bearer ${officialUserSig(u)}` });

  const noAuth = await post(whep('room-err', 'x1'), 'v=0\r\n');
  t.equal(noAuth.status, 401);
  t.match(await noAuth.text(), /no bearer token was given/);
  const wrongUser = await post(whep('room-err', 'x1'), 'v=0\r\n', bearer('someone-else'));
  t.equal(wrongUser.status, 401);
  t.match(await wrongUser.text(), /signed for user 'someone-else', not 'x1'/);
  const noRoom = await post(whep('room-none', 'x1'), 'v=0\r\n', bearer('x1'));
  t.equal(noRoom.status, 404);
  t.match(await noRoom.text(), /room 'room-none' has no publisher/);
  const noUser = await post(whep('room-err', 'x1', 'ghost'), 'v=0\r\n', bearer('x1'));
  t.equal(noUser.status, 404);
  t.match(await noUser.text(), /user 'ghost' is not publishing in room 'room-err'/);
  const garbage = await post(whep('room-err', 'x1'), 'hello', bearer('x1'));
  t.equal(garbage.status, 400);
  t.match(await garbage.text(), /malformed SDP offer/);
  const wrongType = await fetch(g.httpBase + whep('room-err', 'x1'), { method: 'POST', headers: { 'Content-Type': 'text/plain', ...bearer('x1') }, body: 'v=0' });
  t.equal(wrongType.status, 415);
  const gone = await fetch(`${g.httpBase}/v2/whep/00000000-0000-0000-0000-000000000000`, { method: 'DELETE' });
  t.equal(gone.status, 404);
  const preflight = await fetch(g.httpBase + whep('room-err', 'x1'), { method: 'OPTIONS' });
  t.equal(preflight.status, 204);
  t.equal(preflight.headers.get('access-control-allow-origin'), '*');
  t.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/);

  // A real browser offer that allows only VP8 gets the 406 with the reason.
  const page = await browser.newPage();
  t.teardown(() => page.close());
  await page.goto(`${g.httpBase}/healthz`);
  const vp8 = await page.evaluate(
    async ({ url, token }) => {
      const pc = new RTCPeerConnection();
      const tr = pc.addTransceiver('video', { direction: 'recvonly' });
      const caps = RTCRtpReceiver.getCapabilities('video')!.codecs.filter((c) => /vp8/i.test(c.mimeType));
      tr.setCodecPreferences(caps);
      await pc.setLocalDescription(await pc.createOffer());
      const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` }, body: pc.localDescription!.sdp });
      pc.close();
      return { status: r.status, text: await r.text() };
    },
    { url: g.httpBase + whep('room-err', 'x2'), token: officialUserSig('x2') },
  );
  t.equal(vp8.status, 406);
  t.match(vp8.text, /offer has no H\.264 \(packetization-mode 1\): offered VP8/);
});

t.test('ICE restart by PATCH on a WHEP session: the new pair is selected and frames keep decoding', async (t) => {
  const pub = await publishing('room-restart', 'erin');
  t.teardown(() => pub.stop());
  const v = await openWhepViewer(browser, g.httpBase, whep('room-restart', 'viewer-restart'), officialUserSig('viewer-restart'));
  t.teardown(() => v.close());
  await waitFor(async () => (await v.stats()).framesDecoded > 10, 10000, 'decoding before the restart');
  const r = await restartIceByPatch(v.page, g.httpBase + v.location!);
  t.equal(r.status, 200, `PATCH answered 200 ${r.status === 200 ? '' : r.body}`);
  t.equal(r.contentType, 'application/trickle-ice-sdpfrag');
  t.not(r.newUfrag, r.oldUfrag);
  await waitFor(async () => (await selectedLocalUfrag(v.page)) === r.localUfrag, 10000, 'the pair of the new ICE session selected');
  const s0 = await v.stats();
  await sleep(3000);
  const s1 = await v.stats();
  t.ok(s1.framesDecoded - s0.framesDecoded > 60, `frames keep decoding over the new pair (${s1.framesDecoded - s0.framesDecoded} in 3 s)`);
});
