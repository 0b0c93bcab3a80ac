// Room and media callbacks as a TRTC back-end receives them, each body field for field and its `Sign` checked: WHEP
// viewers enter as audience (103/104 Role 21, 105 when a viewer's userid publishes too, 101/102 around the first
// entry and the last exit) unless the app turns viewer events off; a WHIP track that stops while the other flows is
// 202/204 and 201/203 when it is back, while leaving is 104 alone; a publisher and a viewer whose browser vanished
// leave with 104 Reason 2. Publishers are ffmpeg over RTMP and Chromium over WHIP; viewers are Chromium over WHEP.

import t from 'tap';
import { chromium, type Browser } from 'playwright-core';
import { officialUserSig, waitFor, OTHER_APP, TEST_APP } from '../helpers/gateway.js';
import { CHROMIUM_ARGS, gatewayWithChromium, openWhepViewer, openWhipPublisher, type WhepViewer } from '../helpers/chromium.js';
import { ffmpegPush, type Run } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';

const KEY = 'roomCallbacksKey9';
const app = TEST_APP.sdkAppId;
const quiet = OTHER_APP.sdkAppId;

const rx = await startCallbackReceiver(KEY);
t.teardown(() => rx.close());
const { g, browser } = await gatewayWithChromium(t, {
  room: { reconnectGraceMs: 2000, opusBitrate: 64000 },
  webrtc: { hostAddresses: ['127.0.0.1'], announcedAddresses: [], udpPortMin: 43000, udpPortMax: 43999 },
  apps: [
    { ...TEST_APP, callbackUrl: rx.url, callbackKey: KEY },
    { ...OTHER_APP, callbackUrl: rx.url, callbackKey: KEY, viewerEvents: false },
  ],
});

/** Delivered room/media callbacks of one app and room, in arrival order (one room's are delivered in order). */
function roomCallbacks(sdkAppId: number, room: string): any[] {
  return rx.received.filter((r) => r.sdkAppId === String(sdkAppId) && r.body?.EventInfo?.RoomId === room).map((r) => r.body);
}

/** "101 host", "103 fan R21", "104 host R20 1", "105 fan R20", "102", "202 cam". */
function said(b: any): string {
  const i = b.EventInfo;
  if (b.EventType === 102) return '102';
  if (b.EventType === 103) return `103 ${i.UserId} R${i.Role}`;
  if (b.EventType === 104) return `104 ${i.UserId} R${i.Role} ${i.Reason}`;
  if (b.EventType === 105) return `105 ${i.UserId} R${i.Role}`;
  return `${b.EventType} ${i.UserId}`;
}

const roomEventsOf = (sdkAppId: number, room: string) => roomCallbacks(sdkAppId, room).filter((b) => b.EventGroupId === 1).map(said);

function push(room: string, user: string, sdkAppId = app): Run {
  const other = sdkAppId === quiet ? OTHER_APP : TEST_APP;
  const run = ffmpegPush(g.pushUrl(room, user, { sdkAppId, sig: officialUserSig(user, 3600, other) }), { seconds: 60, realtime: true });
  t.teardown(() => run.kill());
  return run;
}

async function watch(b: Browser, sdkAppId: number, room: string, id: string, publisher?: string): Promise<WhepViewer> {
  const who = sdkAppId === quiet ? OTHER_APP : TEST_APP;
  const path = `/v2/sub/${sdkAppId}/${room}?SessionID=${id}${publisher ? `&Publisher=${publisher}` : ''}`;
  const v = await openWhepViewer(b, g.httpBase, path, officialUserSig(id, 3600, who));
  t.equal(v.status, 201, `${id} plays ${room}`);
  await waitFor(async () => (await v.stats()).framesDecoded > 10, 20000, `${id} decoding`);
  return v;
}

const until = (what: string, fn: () => unknown, ms = 20000): Promise<any> => waitFor(fn, ms, what);

t.test('a WHEP viewer is audience: 103/104 Role 21, 105 when its userid publishes too; the room closes after the last viewer', async (t) => {
  const room = 'cb-audience';
  const host = push(room, 'host');
  await until('host in the room', () => rx.events(201).some((b) => b.EventInfo.UserId === 'host'));
  const fan = await watch(browser, app, room, 'fan');
  const entered = await until('103 fan', () => rx.events(103).find((b) => b.EventInfo.UserId === 'fan'));
  t.same(Object.keys(entered.EventInfo), ['RoomId', 'EventTs', 'EventMsTs', 'UserId', 'Role', 'Reason']);
  t.match(entered, { EventGroupId: 1, EventType: 103, EventInfo: { RoomId: room, UserId: 'fan', Role: 21, Reason: 1 } });

  // the viewer's userid publishes too: one user, now an anchor; its publishing ends: audience again
  const fanPub = push(room, 'fan');
  await until('105 fan Role 20', () => rx.events(105).find((b) => b.EventInfo.UserId === 'fan'));
  fanPub.kill();
  await until('105 fan Role 21', () => rx.events(105).filter((b) => b.EventInfo.UserId === 'fan').length === 2);
  const change = rx.events(105).filter((b) => b.EventInfo.UserId === 'fan');
  t.same(Object.keys(change[1].EventInfo), ['RoomId', 'EventTs', 'EventMsTs', 'UserId', 'Role']);
  t.same(change.map((b) => b.EventInfo.Role), [20, 21]);

  // the host leaves; the viewer waits out the reconnect grace (2 s), is closed, and only then is the room dismissed
  host.kill();
  await until('102', () => roomEventsOf(app, room).includes('102'));
  t.same(roomEventsOf(app, room), ['101 host', '103 host R20', '103 fan R21', '105 fan R20', '105 fan R21', '104 host R20 1', '104 fan R21 1', '102']);
  t.ok(roomCallbacks(app, room).every((b) => b.EventGroupId !== 2 || b.EventInfo.UserId !== 'fan' || b.EventType === 201 || b.EventType === 203), 'the viewer raised no 202/204');
  t.ok(rx.received.filter((r) => r.body?.EventInfo?.RoomId === room).every((r) => r.signOk), 'every callback carries a valid Sign');
  await until('the viewer closed', async () => (await fan.stats()).connectionState !== 'connected');
});

t.test('viewerEvents false: viewers raise nothing, and the room is its publishers', async (t) => {
  const room = 'cb-quiet';
  const host = push(room, 'qhost', quiet);
  await until('qhost in the room', () => roomCallbacks(quiet, room).some((b) => b.EventType === 201));
  const v = await watch(browser, quiet, room, 'qfan');
  host.kill();
  await until('102', () => roomEventsOf(quiet, room).includes('102'));
  t.same(roomEventsOf(quiet, room), ['101 qhost', '103 qhost R20', '104 qhost R20 1', '102'], 'dismissed when the publisher left, though a viewer was in');
  t.notOk(roomCallbacks(quiet, room).some((b) => b.EventInfo.UserId === 'qfan'));
  await v.close();
});

/** In the WHIP page: the video sender's track ends (the camera is switched off). */
const stopVideoTrack = (page: WhepViewer['page']) =>
  page.evaluate(() => (window as any).pc.getSenders().find((s: RTCRtpSender) => s.track?.kind === 'video').track.stop());
/** …a new camera track on the same sender (the camera is switched on again). */
const newVideoTrack = (page: WhepViewer['page']) =>
  page.evaluate(async () => {
    const track = (await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } })).getVideoTracks()[0]!;
    const sender = (window as any).pc.getTransceivers().find((tr: RTCRtpTransceiver) => tr.receiver.track.kind === 'video').sender;
    await sender.replaceTrack(track);
  });
/** …the audio transceiver is stopped. */
const stopAudioTransceiver = (page: WhepViewer['page']) =>
  page.evaluate(() => (window as any).pc.getTransceivers().find((tr: RTCRtpTransceiver) => tr.receiver.track.kind === 'audio').stop());

t.test('a WHIP track that stops while the other flows: 202/204, 201 when it is back; leaving is 104 alone', async (t) => {
  const room = 'cb-tracks';
  const cam = await openWhipPublisher(browser, g.httpBase, `/v2/pub/${app}/${room}?SessionID=cam`, officialUserSig('cam'));
  t.teardown(() => cam.close());
  t.equal(cam.status, 201);
  const media = () => roomCallbacks(app, room).filter((b) => b.EventGroupId === 2).map(said);
  await until('201 and 203', () => media().includes('201 cam') && media().includes('203 cam'));

  await stopVideoTrack(cam.page);
  const stopped = await until('202', () => rx.events(202).find((b) => b.EventInfo.UserId === 'cam'));
  t.same(stopped, { EventGroupId: 2, EventType: 202, CallbackTs: stopped.CallbackTs, EventInfo: { RoomId: room, EventTs: stopped.EventInfo.EventTs, EventMsTs: stopped.EventInfo.EventMsTs, UserId: 'cam', Reason: 0 } });
  t.equal((await g.getJson(`/api/rooms/${app}/${room}`)).status, 200, 'cam is still in the room');
  const audioBefore = (await g.getJson(`/api/rooms/${app}/${room}`)).body.users[0].frames.audio;
  await until('audio still flowing', async () => (await g.getJson(`/api/rooms/${app}/${room}`)).body.users[0].frames.audio > audioBefore + 50);

  await newVideoTrack(cam.page);
  await until('201 again', () => media().filter((m) => m === '201 cam').length === 2);

  await stopAudioTransceiver(cam.page);
  await until('204', () => media().includes('204 cam'));

  const del = await fetch(g.httpBase + cam.location, { method: 'DELETE' });
  t.equal(del.status, 200);
  await until('102', () => roomEventsOf(app, room).includes('102'));
  const changes = media();
  t.same(changes.slice(0, 2).sort(), ['201 cam', '203 cam'], 'both tracks started (in either order)');
  t.same(changes.slice(2), ['202 cam', '201 cam', '204 cam'], 'then each change once, and nothing at the exit');
  t.same(roomEventsOf(app, room), ['101 cam', '103 cam R20', '104 cam R20 1', '102']);
  t.ok(rx.received.filter((r) => r.body?.EventInfo?.RoomId === room).every((r) => r.signOk), 'every callback carries a valid Sign');
});

t.test('a WHIP publisher and a WHEP viewer whose browser vanished leave with 104 Reason 2', async (t) => {
  const room = 'cb-vanish';
  const stay = push(room, 'stay');
  await until('stay in the room', () => rx.events(201).some((b) => b.EventInfo.UserId === 'stay'));
  // a browser of its own, killed outright: no DELETE, no BYE, no DTLS alert, just silence
  const server = await chromium.launchServer({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  const doomed = await chromium.connect(server.wsEndpoint());
  t.teardown(() => server.close().catch(() => {}));
  const lost = await openWhipPublisher(doomed, g.httpBase, `/v2/pub/${app}/${room}?SessionID=lostcam`, officialUserSig('lostcam'));
  t.equal(lost.status, 201);
  await until('lostcam publishing', () => rx.events(201).some((b) => b.EventInfo.UserId === 'lostcam'));
  await watch(doomed, app, room, 'lostfan', 'stay');
  await until('103 lostfan', () => rx.events(103).some((b) => b.EventInfo.UserId === 'lostfan'));

  const pid = server.process().pid!;
  try {
    process.kill(-pid, 'SIGKILL'); // the browser and every process it started (playwright gives it its own group)
  } catch {
    process.kill(pid, 'SIGKILL'); // its children end with it
  }
  const pubExit = await until('104 lostcam', () => rx.events(104).find((b) => b.EventInfo.UserId === 'lostcam'), 30000);
  t.match(pubExit, { EventGroupId: 1, EventType: 104, EventInfo: { RoomId: room, UserId: 'lostcam', Role: 20, Reason: 2 } });
  const state = await (await fetch(g.httpBase + lost.location)).json();
  t.equal(state.endReason, 'no media from the publisher for 8 s');
  const viewerExit = await until('104 lostfan', () => rx.events(104).find((b) => b.EventInfo.UserId === 'lostfan'), 30000);
  t.match(viewerExit, { EventGroupId: 1, EventType: 104, EventInfo: { RoomId: room, UserId: 'lostfan', Role: 21, Reason: 2 } });
  t.notOk(roomEventsOf(app, room).includes('102'), 'the room goes on with its other publisher');
  t.notOk(roomCallbacks(app, room).some((b) => [202, 204].includes(b.EventType)), 'vanishing is 104 alone, no 202/204');
  t.ok(rx.received.filter((r) => r.body?.EventInfo?.RoomId === room).every((r) => r.signOk), 'every callback carries a valid Sign');
  stay.kill();
});
