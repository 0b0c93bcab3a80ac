// PrivateMapKey privilege bits against what a Chromium viewer receives: send-audio (4) and send-video (16) decide
// which tracks of an ffmpeg RTMP or a Chromium WHIP publisher enter the room, receive-audio (8) and receive-video (32)
// which tracks a Chromium WHEP viewer is sent, and where the app requires a key, the user who opens a room needs
// the create bit (1). Keys are made by the official tls-sig-api-v2 library.

import t from 'tap';
import type { Browser } from 'playwright-core';
import { officialPrivateMapKey, officialUserSig, waitFor, OTHER_APP, TEST_APP, type TestGateway } from '../helpers/gateway.js';
import { gatewayWithChromium, offeringPage, openWhepViewer, openWhipPublisher, type ViewerStats, type WhepViewer } from '../helpers/chromium.js';
import { ffmpegPush, type Run } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';

const PRIV = { CREATE: 1, ENTER: 2, SEND_AUDIO: 4, RECV_AUDIO: 8, SEND_VIDEO: 16, RECV_VIDEO: 32, ALL: 255 };
const KEY = 'privTracksKey1';
const IDLE_MS = 4000;
const app = TEST_APP.sdkAppId;
const STRICT = { ...OTHER_APP, requirePrivateMapKey: true };

const rx = await startCallbackReceiver(KEY);
t.teardown(() => rx.close());
const { g, browser } = await gatewayWithChromium(t, {
  room: { reconnectGraceMs: 2000, opusBitrate: 64000 },
  rtmp: { port: 0, authFailureDelayMinMs: 10, authFailureDelayMaxMs: 50, idleTimeoutMs: IDLE_MS },
  webrtc: { hostAddresses: ['127.0.0.1'], announcedAddresses: [], udpPortMin: 41000, udpPortMax: 41999 },
  apps: [{ ...TEST_APP, callbackUrl: rx.url, callbackKey: KEY }, STRICT],
});

/** 3 s of audio (Opus, 50 packets/s) or of video (30 frames/s) have reached the viewer. */
const AUDIO_3S = 150;
const VIDEO_3S = 90;

function rtmpPush(room: string, user: string, priv: number, o: { audio?: boolean; appKey?: typeof TEST_APP } = {}): Run {
  const a = o.appKey ?? TEST_APP;
  const url = `${g.rtmpBase}/push/${room}?sdkappid=${a.sdkAppId}&userid=${user}&usersig=${officialUserSig(user, 3600, a)}&privatemapkey=${officialPrivateMapKey(user, room, priv, a)}`;
  return ffmpegPush(url, { seconds: 60, realtime: true, audio: o.audio ?? true });
}

async function viewer(room: string, id: string, priv?: number, a = TEST_APP): Promise<WhepViewer> {
  const key = priv === undefined ? '' : `&PrivateMapKey=${officialPrivateMapKey(id, room, priv, a)}`;
  const v = await openWhepViewer(browser, g.httpBase, `/v2/sub/${a.sdkAppId}/${room}?SessionID=${id}${key}`, officialUserSig(id, 3600, a));
  t.teardown(() => v.close());
  return v;
}

/** The viewer's stats once one kind has flowed for 3 s: the other kind's counters are then read as they stand. */
async function afterThreeSeconds(v: WhepViewer, kind: 'audio' | 'video'): Promise<ViewerStats> {
  return waitFor(async () => {
    const s = await v.stats();
    return (kind === 'audio' ? s.audioPacketsReceived >= AUDIO_3S : s.framesDecoded >= VIDEO_3S) ? s : null;
  }, 30000, `3 s of ${kind} at the viewer`);
}

async function inRoom(gw: TestGateway, room: string, sdkAppId = app): Promise<any> {
  return waitFor(async () => {
    const r = await gw.getJson(`/api/rooms/${sdkAppId}/${room}`);
    return r.status === 200 && r.body.users[0]?.frames && (r.body.users[0].frames.audio > 0 || r.body.users[0].frames.video > 0) ? r.body.users[0] : null;
  }, 20000, `media in ${room}`);
}

const serverSaid = (run: Run) => run.output().split(/[\r\n]+/).find((l) => /Server error/.test(l)) ?? '';

t.test('RTMP: a key with send-audio but not send-video puts the audio in the room and keeps the video out', async (t) => {
  const pub = rtmpPush('priv-rtmp-a', 'voice', PRIV.ENTER | PRIV.SEND_AUDIO);
  t.teardown(() => pub.kill());
  const user = await inRoom(g, 'priv-rtmp-a');
  t.equal(user.video, null, 'no video config in the room');
  t.equal(user.audio.codec, 'AAC');
  t.match(user.refusedTracks, { video: 'lacks the privilege to send video (has enter, send audio)' });
  t.notOk('audio' in user.refusedTracks);
  const s = await afterThreeSeconds(await viewer('priv-rtmp-a', 'ear'), 'audio');
  t.equal(s.framesReceived, 0, `after ${s.audioPacketsReceived} audio packets the viewer has no video frame`);
  t.ok(rx.events(203).some((e) => e.EventInfo.UserId === 'voice'), '203: audio started');
  t.notOk(rx.events(201).some((e) => e.EventInfo.UserId === 'voice'), 'no 201: video never entered');
});

t.test('RTMP: a key with send-video but not send-audio puts the video in the room and keeps the audio out', async (t) => {
  const pub = rtmpPush('priv-rtmp-v', 'picture', PRIV.ENTER | PRIV.SEND_VIDEO);
  t.teardown(() => pub.kill());
  const user = await inRoom(g, 'priv-rtmp-v');
  t.equal(user.audio, null, 'no audio config in the room');
  t.match(user.refusedTracks, { audio: 'lacks the privilege to send audio (has enter, send video)' });
  const s = await afterThreeSeconds(await viewer('priv-rtmp-v', 'eye'), 'video');
  t.equal(s.audioPacketsReceived, 0, `after ${s.framesDecoded} decoded frames the viewer has no audio packet`);
  t.ok(s.frameWidth > 0);
});

t.test('RTMP: a key with both send bits puts both in; a key with neither is refused before the publish starts', async (t) => {
  const both = rtmpPush('priv-rtmp-av', 'full', PRIV.ENTER | PRIV.SEND_AUDIO | PRIV.SEND_VIDEO);
  t.teardown(() => both.kill());
  const user = await inRoom(g, 'priv-rtmp-av');
  t.notOk('refusedTracks' in user, 'nothing refused');
  const v = await viewer('priv-rtmp-av', 'both');
  await afterThreeSeconds(v, 'video');
  await afterThreeSeconds(v, 'audio');

  const none = rtmpPush('priv-rtmp-none', 'listener', PRIV.ENTER | PRIV.RECV_AUDIO | PRIV.RECV_VIDEO);
  await none.exited;
  t.match(serverSaid(none), 'privatemapkey lacks the privilege to send audio or send video (has enter, receive audio, receive video)', 'ffmpeg prints why');
  t.equal((await g.getJson(`/api/rooms/${app}/priv-rtmp-none`)).status, 404, 'never entered');
});

t.test('RTMP: a video-only stream with a send-audio key has nothing to publish: refused with the reason, not a timeout', async (t) => {
  const pub = rtmpPush('priv-rtmp-vonly', 'mute_cam', PRIV.ENTER | PRIV.SEND_AUDIO, { audio: false });
  await pub.exited;
  t.match(serverSaid(pub), `nothing this user may publish arrived for ${IDLE_MS / 1000} s (no video: the user lacks the privilege to send video (has enter, send audio))`);
  const exit = await waitFor(() => rx.events(104).find((e) => e.EventInfo.UserId === 'mute_cam'), 5000, '104');
  t.equal(exit.EventInfo.Reason, 1, 'a refusal, not a timeout');
});

/** Chromium's fake camera and/or microphone over WHIP, H.264 preferred; `status` and the answer are returned. */
async function whipPublisher(b: Browser, path: string, token: string, kinds: ('video' | 'audio')[]) {
  const page = await offeringPage(b, g.httpBase);
  const result = await page.evaluate(
    async ({ url, token, kinds }) => {
      const w = window as any;
      const media = await navigator.mediaDevices.getUserMedia({ video: kinds.includes('video') && { width: 320, height: 240 }, audio: kinds.includes('audio') });
      const pc = new RTCPeerConnection();
      w.pc = pc;
      for (const track of media.getTracks()) {
        const tr = pc.addTransceiver(track, { direction: 'sendonly' });
        if (track.kind === 'video') {
          tr.setCodecPreferences(RTCRtpSender.getCapabilities('video')!.codecs.filter((c) => /h264/i.test(c.mimeType) && /packetization-mode=1/.test(c.sdpFmtpLine ?? '')));
        }
      }
      await pc.setLocalDescription(await pc.createOffer());
      return (await w.sendOffer(url, token)) as { status: number; body: string; location: string | null };
    },
    { url: g.httpBase + path, token, kinds },
  );
  t.teardown(() => page.close());
  return result;
}

const whipPath = (room: string, user: string, priv: number) => `/v2/pub/${app}/${room}?SessionID=${user}&PrivateMapKey=${officialPrivateMapKey(user, room, priv)}`;
const mediaSection = (sdp: string, kind: string) => sdp.split(/\r\n(?=m=)/).find((m) => m.startsWith(`m=${kind}`)) ?? '';

t.test('WHIP: the kind a key does not let in is answered inactive; the viewer gets the other only', async (t) => {
  const a = await whipPublisher(browser, whipPath('priv-whip-a', 'wvoice', PRIV.ENTER | PRIV.SEND_AUDIO), officialUserSig('wvoice'), ['video', 'audio']);
  t.equal(a.status, 201);
  t.match(mediaSection(a.body, 'video'), /a=inactive/, 'video answered inactive');
  t.match(mediaSection(a.body, 'audio'), /a=recvonly/, 'audio answered recvonly');
  const sa = await afterThreeSeconds(await viewer('priv-whip-a', 'wear'), 'audio');
  t.equal(sa.framesReceived, 0, `after ${sa.audioPacketsReceived} audio packets no video frame`);

  const v = await whipPublisher(browser, whipPath('priv-whip-v', 'wpicture', PRIV.ENTER | PRIV.SEND_VIDEO), officialUserSig('wpicture'), ['video', 'audio']);
  t.equal(v.status, 201);
  t.match(mediaSection(v.body, 'audio'), /a=inactive/, 'audio answered inactive');
  const sv = await afterThreeSeconds(await viewer('priv-whip-v', 'weye'), 'video');
  t.equal(sv.audioPacketsReceived, 0, `after ${sv.framesDecoded} decoded frames no audio packet`);
  const user = (await g.getJson(`/api/rooms/${app}/priv-whip-v`)).body.users[0];
  t.equal(user.audio, null, 'no Opus config in the room');
  t.match(user.refusedTracks, { audio: /lacks the privilege to send audio/ });
});

t.test('WHIP: an offer of only the kind the key refuses is answered 403 with the reason, before any ICE', async (t) => {
  const r = await whipPublisher(browser, whipPath('priv-whip-no', 'camonly', PRIV.ENTER | PRIV.SEND_AUDIO), officialUserSig('camonly'), ['video']);
  t.equal(r.status, 403);
  t.equal(r.body.trim(), 'the offer has video only, and the user lacks the privilege to send video (has enter, send audio)');
  t.equal((await g.getJson(`/api/rooms/${app}/priv-whip-no`)).status, 404);
});

t.test('WHEP: receive-audio and receive-video decide what a viewer is sent', async (t) => {
  const pub = await openWhipPublisher(browser, g.httpBase, `/v2/pub/${app}/priv-whep?SessionID=stage`, officialUserSig('stage'));
  t.teardown(() => pub.close());
  t.equal(pub.status, 201);
  await inRoom(g, 'priv-whep');
  const ears = await viewer('priv-whep', 'ears', PRIV.ENTER | PRIV.RECV_AUDIO);
  t.match(mediaSection(ears.body, 'video'), /a=inactive/, 'video answered inactive');
  const sa = await afterThreeSeconds(ears, 'audio');
  t.equal(sa.framesReceived, 0, `after ${sa.audioPacketsReceived} audio packets no video frame`);
  const eyes = await viewer('priv-whep', 'eyes', PRIV.ENTER | PRIV.RECV_VIDEO);
  t.match(mediaSection(eyes.body, 'audio'), /a=inactive/, 'audio answered inactive');
  const sv = await afterThreeSeconds(eyes, 'video');
  t.equal(sv.audioPacketsReceived, 0, `after ${sv.framesDecoded} decoded frames no audio packet`);
  const deaf = await viewer('priv-whep', 'deaf', PRIV.ENTER | 128);
  t.equal(deaf.status, 403, 'the sub-stream bit alone receives nothing here');
  t.match(deaf.body, /lacks the privilege to receive audio or receive video \(has enter, receive sub-stream\)/);
});

t.test('create bit: where the app requires a key, only a key with it opens a room; others join an open one', async (t) => {
  const room = 'priv-create';
  const publisher = PRIV.ENTER | PRIV.SEND_AUDIO | PRIV.SEND_VIDEO;
  const early = rtmpPush(room, 'guest', publisher, { appKey: STRICT });
  await early.exited;
  t.match(serverSaid(early), `room '${room}' is not open yet and this user would create it, but the privatemapkey lacks the privilege to create the room (has enter, send audio, send video)`);
  const owner = rtmpPush(room, 'owner', publisher | PRIV.CREATE, { appKey: STRICT });
  t.teardown(() => owner.kill());
  await inRoom(g, room, STRICT.sdkAppId);
  const guest = rtmpPush(room, 'guest', publisher, { appKey: STRICT });
  t.teardown(() => guest.kill());
  await waitFor(async () => (await g.getJson(`/api/rooms/${STRICT.sdkAppId}/${room}`)).body.users?.length === 2, 20000, `guest in the open room: ${guest.output().slice(-300)}`);
  const v = await viewer(room, 'fan', PRIV.ENTER | PRIV.RECV_AUDIO | PRIV.RECV_VIDEO, STRICT);
  t.equal(v.status, 201, 'a viewer needs no create bit');
  await afterThreeSeconds(v, 'video');
});
