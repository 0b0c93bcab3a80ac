// DismissRoomByStrRoomId through the official SDK on a room holding one of everything: an ffmpeg RTMP publisher, a
// Chromium WHIP publisher, a pull task, a Chromium WHEP viewer, a recording and a relay. Everyone is out (104 Reason 3
// each), then 102; each task ends with its own callbacks (702; 302 LeaveCode 2; 401 Status 5 then 0). The receiver
// checks every Sign.

import t from 'tap';
import type { Browser, Page } from 'playwright-core';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { launchChromium, openWhepViewer, openWhipPublisher } from '../helpers/chromium.js';
import { makeMedia } from '../helpers/media-server.js';
import { startPullFixture } from '../helpers/pull-fixture.js';
import { apiError } from '../helpers/api3.js';
import { startAgents } from '../helpers/room-agents.js';

const f = await startPullFixture({
  webrtc: { hostAddresses: ['127.0.0.1'], announcedAddresses: [], udpPortMin: 44200, udpPortMax: 44299 },
  room: { reconnectGraceMs: 3000 },
});
const browser: Browser = await launchChromium();
t.teardown(async () => {
  await browser.close();
  await f.close();
});
const { sdkAppId } = TEST_APP;

function dtlsState(page: Page): Promise<string> {
  return page.evaluate(() => ((window as any).pc as RTCPeerConnection).getTransceivers()[0]?.receiver.transport?.state ?? 'none');
}

t.test('DismissRoom: everyone out with 104 Reason 3, then 102; the tasks end with 702, 302 LeaveCode 2 and 401', async (t) => {
  const room = 'dismiss-all';
  const users = async () => (await f.users(room)).filter((u) => u.frames.video > 10).map((u) => u.userId).sort();

  const rtmp = ffmpegPush(f.g.pushUrl(room, 'rtmp_user'), { seconds: 60, realtime: true });
  t.teardown(() => rtmp.kill());
  const whip = await openWhipPublisher(browser, f.g.httpBase, `/v2/pub/${sdkAppId}/${room}?SessionID=whip_user`, officialUserSig('whip_user'), { width: 320, height: 240 });
  t.teardown(() => whip.close());
  const pullTask = await f.start(room, 'pull_user', `${f.media.base}/${await makeMedia('flv-h264-aac', 60)}`);
  await waitFor(async () => (await users()).length === 3, 20000, 'three publishers in the room');
  const viewer = await openWhepViewer(browser, f.g.httpBase, `/v2/sub/${sdkAppId}/${room}?SessionID=viewer_user&Publisher=rtmp_user`, officialUserSig('viewer_user'));
  t.teardown(() => viewer.close());
  await waitFor(async () => (await viewer.stats()).framesDecoded > 10, 15000, 'the viewer decoding');
  const agents = await startAgents(f.client, room, { anchor: 'rtmp_user', recorder: 'rec_user', relay: 'relay_user' });
  const everyone = ['pull_user', 'rec_user', 'relay_user', 'rtmp_user', 'viewer_user', 'whip_user'];
  const status = (await f.g.getJson(`/api/rooms/${sdkAppId}/${room}`)).body;
  t.same([...status.users.map((u: any) => u.userId), ...status.audience.map((a: any) => a.userId)].sort(), everyone, 'six users in the room');
  // every entry delivered first, so what arrives after the dismiss is the dismissal alone
  await waitFor(() => everyone.every((u) => f.rx.events(103).some((b) => b.EventInfo.RoomId === room && b.EventInfo.UserId === u)), 5000, 'six 103s');
  const before = f.rx.received.length;

  const r = await f.client.DismissRoomByStrRoomId({ SdkAppId: sdkAppId, RoomId: room });
  t.match(r.RequestId, /^[0-9a-f-]{36}$/);
  await waitFor(() => f.rx.events(102).some((b) => b.EventInfo.RoomId === room), 10000, '102');
  await f.ended(pullTask, 5000);
  await waitFor(() => f.rx.events(302, agents.recordingTaskId).length > 0, 15000, '302');
  await waitFor(() => f.rx.events(401, agents.relayTaskId).some((b) => b.EventInfo.Payload.Status === 0), 15000, '401 Status 0');

  const after = f.rx.received.slice(before);
  t.ok(after.every((x) => x.signOk), 'every callback is signed');
  const roomEvents = after.map((x) => x.body).filter((b) => b.EventGroupId === 1 && b.EventInfo.RoomId === room);
  const exits = roomEvents.filter((b) => b.EventType === 104);
  t.same(exits.map((b) => b.EventInfo.UserId).sort(), everyone, 'a 104 for each of the six');
  t.ok(exits.every((b) => b.EventInfo.Reason === 3), 'all with Reason 3 (removed)');
  t.same(
    exits.map((b) => `${b.EventInfo.UserId}:${b.EventInfo.Role}`).sort(),
    ['pull_user:20', 'rec_user:21', 'relay_user:21', 'rtmp_user:20', 'viewer_user:21', 'whip_user:20'],
    'anchors Role 20, the audience Role 21',
  );
  t.same(roomEvents.map((b) => b.EventType), [104, 104, 104, 104, 104, 104, 102], 'everyone out, then 102, once');
  t.match(f.rx.events(302, agents.recordingTaskId)[0].EventInfo.Payload, { LeaveCode: 2 }, '302 LeaveCode 2: the room was dismissed');
  t.same(f.rx.events(401, agents.relayTaskId).map((b) => b.EventInfo.Payload.Status).slice(-2), [5, 0], '401 Status 5, then 0');

  await rtmp.exited;
  t.match(rtmp.output(), /Server error: string room 'dismiss-all' was dismissed by DismissRoom/, 'ffmpeg prints why');
  await waitFor(async () => (await dtlsState(whip.page)) === 'closed', 5000, 'the WHIP publisher\'s DTLS closed');
  await waitFor(async () => (await dtlsState(viewer.page)) === 'closed', 5000, 'the viewer\'s DTLS closed');
  t.equal((await f.g.getJson(`/api/rooms/${sdkAppId}/${room}`)).status, 404, 'the room is gone');
  t.equal((await apiError(f.client.DismissRoomByStrRoomId({ SdkAppId: sdkAppId, RoomId: room }))).code, 'FailedOperation.RoomNotExist', 'a second dismiss finds no room');
});
