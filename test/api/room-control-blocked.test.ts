// SetUserBlocked / SetUserBlockedByStrRoomId through the official SDK (its generic request(): the 4.1.313 SDK has no
// method for them), watched by a Chromium WHEP viewer of an ffmpeg RTMP publisher: muting video stops the viewer's
// video frames while its audio goes on, unmuting brings video back (from a keyframe); muting audio the other way
// round; a publisher who reconnects while muted stays muted. 202/204 on mute, 201/203 on unmute, each signed.
//
// No timing is asserted: "stopped" means no video frame arrived while a hundred more audio packets did.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { gatewayWithChromium, openWhepViewer, type WhepViewer } from '../helpers/chromium.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { trtcClient, TEST_CREDENTIAL } from '../helpers/api3.js';

const KEY = 'blockedCallbackKey7';
const rx = await startCallbackReceiver(KEY);
const { g, browser } = await gatewayWithChromium(t, {
  apps: [{ ...TEST_APP, callbackUrl: rx.url, callbackKey: KEY }],
  api: { credentials: [TEST_CREDENTIAL] },
  webrtc: { hostAddresses: ['127.0.0.1'], announcedAddresses: [], udpPortMin: 44300, udpPortMax: 44399 },
  room: { reconnectGraceMs: 8000 },
});
t.teardown(() => rx.close());
const client = trtcClient(`127.0.0.1:${g.gw.http.port}`);
const { sdkAppId } = TEST_APP;
const room = 'blk-room';
const user = 'blk_anchor';

const block = (isMute: number) => client.request('SetUserBlockedByStrRoomId', { SdkAppId: sdkAppId, StrRoomId: room, UserId: user, IsMute: isMute });

/** Media events (201–204) of the user delivered so far, in order. */
const mediaEvents = () => rx.received.filter((r) => r.body.EventGroupId === 2 && r.body.EventInfo.UserId === user);

async function counts(v: WhepViewer): Promise<{ video: number; audio: number }> {
  const s = await v.stats();
  return { video: s.framesReceived, audio: s.audioPacketsReceived };
}

/** Waits until `n` more audio packets came; returns the counts from before and after that. */
async function overAudio(v: WhepViewer, n: number): Promise<{ from: { video: number; audio: number }; to: { video: number; audio: number } }> {
  const from = await counts(v);
  const to = await waitFor(async () => {
    const c = await counts(v);
    return c.audio >= from.audio + n ? c : null;
  }, 15000, `${n} more audio packets`);
  return { from, to };
}

/** Waits until `n` more video frames came; returns the counts from before and after that. */
async function overVideo(v: WhepViewer, n: number): Promise<{ from: { video: number; audio: number }; to: { video: number; audio: number } }> {
  const from = await counts(v);
  const to = await waitFor(async () => {
    const c = await counts(v);
    return c.video >= from.video + n ? c : null;
  }, 15000, `${n} more video frames`);
  return { from, to };
}

async function newMediaEvents(seen: number, n: number): Promise<any[]> {
  await waitFor(() => mediaEvents().length >= seen + n, 5000, `${n} media callbacks`);
  return mediaEvents().slice(seen);
}

const publisherStatus = async () => (await g.getJson(`/api/rooms/${sdkAppId}/${room}`)).body.users?.[0];

t.test('mute video, unmute, mute audio, mute both across a reconnect, unmute', async (t) => {
  const sig = officialUserSig(user);
  let pub = ffmpegPush(g.pushUrl(room, user, { sig }), { seconds: 120, realtime: true, gop: 30 });
  t.teardown(() => pub.kill());
  await waitFor(async () => (await publisherStatus())?.frames.video > 10, 15000, 'the publisher in the room');
  const v = await openWhepViewer(browser, g.httpBase, `/v2/sub/${sdkAppId}/${room}?SessionID=blk_viewer`, officialUserSig('blk_viewer'));
  t.teardown(() => v.close());
  await waitFor(async () => (await v.stats()).framesDecoded > 30, 15000, 'the viewer decoding');
  await waitFor(() => mediaEvents().length >= 2, 5000, '201 and 203');
  t.same(mediaEvents().map((r) => r.body.EventType).sort(), [201, 203], 'started: 201, 203');

  // IsMute 3: video only
  let seen = mediaEvents().length;
  const r = await block(3);
  t.match(r.RequestId, /^[0-9a-f-]{36}$/);
  const muted = await newMediaEvents(seen, 1);
  t.match(muted[0].body, { EventGroupId: 2, EventType: 202, EventInfo: { RoomId: room, UserId: user, Reason: 0 } }, '202: video stopped');
  t.ok(muted[0].signOk, 'the 202 is signed');
  await overAudio(v, 25); // what was in flight has landed
  const framesIn = (await publisherStatus()).frames.video;
  const quiet = await overAudio(v, 100);
  t.equal(quiet.to.video, quiet.from.video, `no video frame while ${quiet.to.audio - quiet.from.audio} audio packets arrived`);
  const s = await publisherStatus();
  t.ok(s.frames.video > framesIn, 'the publisher goes on sending (not idle), its video reaches no one');
  t.same(s.blocked, { audio: false, video: true }, 'the status API shows the block');
  t.equal((await v.stats()).connectionState, 'connected', 'the viewer stays connected');

  // IsMute 0: video comes back (from a keyframe)
  seen = mediaEvents().length;
  await block(0);
  t.match((await newMediaEvents(seen, 1))[0].body, { EventType: 201, EventInfo: { UserId: user } }, '201: video started');
  const keyframes = (await v.stats()).keyFramesDecoded;
  const back = await overVideo(v, 30);
  t.ok(back.to.video > back.from.video, 'video frames arrive again');
  t.ok((await v.stats()).keyFramesDecoded > keyframes, 'from a keyframe');

  // IsMute 2: audio only
  seen = mediaEvents().length;
  await block(2);
  t.match((await newMediaEvents(seen, 1))[0].body, { EventType: 204, EventInfo: { UserId: user, Reason: 0 } }, '204: audio stopped');
  await overVideo(v, 15);
  const silent = await overVideo(v, 60);
  t.equal(silent.to.audio, silent.from.audio, `no audio packet while ${silent.to.video - silent.from.video} video frames arrived`);

  // IsMute 1: both; only video changes now (202), and the block outlives the publisher's reconnect
  seen = mediaEvents().length;
  await block(1);
  t.same((await newMediaEvents(seen, 1)).map((x) => x.body.EventType), [202], '202 only: audio was already stopped');
  pub.kill();
  await pub.exited;
  await waitFor(async () => !(await publisherStatus()), 10000, 'the publisher gone');
  seen = mediaEvents().length;
  pub = ffmpegPush(g.pushUrl(room, user, { sig }), { seconds: 120, realtime: true, gop: 30 });
  await waitFor(async () => (await publisherStatus())?.frames.video > 60, 15000, 'the publisher back');
  t.same((await publisherStatus()).blocked, { audio: true, video: true }, 'still blocked after the reconnect');
  const nothing = await (async () => {
    const from = await counts(v);
    await waitFor(async () => (await publisherStatus()).frames.video > 120, 15000, '60 more frames published');
    return { from, to: await counts(v) };
  })();
  t.same(nothing.to, nothing.from, 'the waiting viewer receives nothing from the muted publisher');
  t.same(mediaEvents().slice(seen).map((x) => x.body.EventType), [], 'no 201/203 for the muted publisher\'s new session');

  seen = mediaEvents().length;
  await block(0);
  t.same((await newMediaEvents(seen, 2)).map((x) => x.body.EventType), [201, 203], 'unmuted: 201, 203');
  await overVideo(v, 30);
  await overAudio(v, 50);
  t.ok(rx.received.every((x) => x.signOk), 'every callback is signed');
});
