// RemoveUser / RemoveUserByStrRoomId through the official SDK on every kind of session a user can have in a room: an
// ffmpeg RTMP publisher (ffmpeg prints the reason), a Chromium WHIP publisher and a Chromium WHEP viewer (their DTLS
// transports close), a pull task (702), a recording's and a relay's agent users (302 LeaveCode 1; 401 Status 5 then 0).
// A callback receiver checks each 104 (Reason 3) and its Sign; a removed user comes back with a new UserSig, not with
// the old one.

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
  webrtc: { hostAddresses: ['127.0.0.1'], announcedAddresses: [], udpPortMin: 44100, udpPortMax: 44199 },
  room: { reconnectGraceMs: 3000 },
});
const browser: Browser = await launchChromium();
t.teardown(async () => {
  await browser.close();
  await f.close();
});
const { sdkAppId } = TEST_APP;
const media = await makeMedia('flv-h264-aac', 60);

/** The delivered 104 of `userId` in `room` (null until it came). */
function exitOf(room: string, userId: string): any {
  return f.rx.received.find((r) => r.body.EventType === 104 && r.body.EventInfo.RoomId === room && r.body.EventInfo.UserId === userId) ?? null;
}

async function inRoom(room: string, userId: string): Promise<boolean> {
  return (await f.users(room)).some((u) => u.userId === userId && u.frames.video > 10);
}

/** The state of the page's DTLS transport: 'closed' once the gateway's close_notify arrived. */
function dtlsState(page: Page): Promise<string> {
  return page.evaluate(() => ((window as any).pc as RTCPeerConnection).getTransceivers()[0]?.receiver.transport?.state ?? 'none');
}

type Checks = { match(found: unknown, wanted: unknown, what: string): unknown; ok(v: unknown, what: string): unknown };

/** A 104 for a removed user: Reason 3, the role it had, signed. */
function checkRemoved(t: Checks, room: string, userId: string, role: 20 | 21): void {
  const exit = exitOf(room, userId);
  t.match(exit?.body, { EventGroupId: 1, EventType: 104, EventInfo: { RoomId: room, UserId: userId, Role: role, Reason: 3 } }, `${userId}: 104 Reason 3, Role ${role}`);
  t.ok(exit?.signOk, `${userId}: the 104's Sign verifies`);
}

t.test('an RTMP publisher: ffmpeg prints why, 104 Reason 3; the old UserSig stays out, a new one comes back', async (t) => {
  const room = 'rm-rtmp';
  const url = f.g.pushUrl(room, 'anchor');
  const pub = ffmpegPush(url, { seconds: 60, realtime: true });
  t.teardown(() => pub.kill());
  await waitFor(() => inRoom(room, 'anchor'), 15000, 'anchor publishing');

  const r = await f.client.RemoveUserByStrRoomId({ SdkAppId: sdkAppId, RoomId: room, UserIds: ['anchor', 'nobody_here'] });
  t.match(r.RequestId, /^[0-9a-f-]{36}$/, 'answered with a RequestId only');
  await pub.exited;
  const said = pub.output().split(/[\r\n]+/).find((l) => /Server error/.test(l)) ?? '';
  t.match(said, `Server error: removed from string room '${room}' by RemoveUser`, 'the encoder was told why (onStatus)');
  await waitFor(() => exitOf(room, 'anchor'), 5000, '104 for anchor');
  checkRemoved(t, room, 'anchor', 20);
  await waitFor(() => f.rx.events(102).some((b) => b.EventInfo.RoomId === room), 5000, '102: the room is gone with its only user');

  // an encoder reconnecting on its own with the same stream key is refused; a new UserSig gets in
  const again = ffmpegPush(url, { seconds: 3, realtime: true });
  await again.exited;
  t.match(again.output(), /was removed from string room 'rm-rtmp' and this credential belonged to the removed session; make a new UserSig/);
  const back = ffmpegPush(f.g.pushUrl(room, 'anchor', { sig: officialUserSig('anchor', 1800) }), { seconds: 60, realtime: true });
  t.teardown(() => back.kill());
  await waitFor(() => inRoom(room, 'anchor'), 15000, 'anchor back with a new UserSig');
  t.pass('the removed user came back with a new UserSig');
});

t.test('a Chromium WHIP publisher: its DTLS transport closes, 104 Reason 3, the session says why', async (t) => {
  const room = 'rm-whip';
  const p = await openWhipPublisher(browser, f.g.httpBase, `/v2/pub/${sdkAppId}/${room}?SessionID=cam`, officialUserSig('cam'), { width: 320, height: 240 });
  t.teardown(() => p.close());
  t.equal(p.status, 201);
  await waitFor(() => inRoom(room, 'cam'), 15000, 'cam publishing');
  await f.client.RemoveUserByStrRoomId({ SdkAppId: sdkAppId, RoomId: room, UserIds: ['cam'] });
  await waitFor(async () => (await dtlsState(p.page)) === 'closed', 5000, 'the publisher\'s DTLS transport closed');
  const session = await f.g.getJson(p.location!);
  t.match(session.body, { state: 'ended', endReason: `removed from string room '${room}' by RemoveUser` });
  await waitFor(() => exitOf(room, 'cam'), 5000, '104 for cam');
  checkRemoved(t, room, 'cam', 20);
});

t.test('a pull task: 104 Reason 3, then 702; the task is gone', async (t) => {
  const room = 'rm-pull';
  const taskId = await f.start(room, 'puller', `${f.media.base}/${media}`);
  await waitFor(() => inRoom(room, 'puller'), 15000, 'puller in the room');
  await f.client.RemoveUserByStrRoomId({ SdkAppId: sdkAppId, RoomId: room, UserIds: ['puller'] });
  await f.ended(taskId, 5000);
  checkRemoved(t, room, 'puller', 20);
  const order = f.rx.received.map((r) => r.body).filter((b) => b.EventInfo.TaskId === taskId || (b.EventInfo.RoomId === room && b.EventType === 104));
  t.same(order.map((b) => b.EventType).slice(-2), [104, 702], '104, then 702');
  t.equal((await f.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId })).Status, 'NotExist');
});

t.test('a Chromium WHEP viewer: its DTLS transport closes, 103/104 Role 21; the publisher stays', async (t) => {
  const room = 'rm-whep';
  const pub = ffmpegPush(f.g.pushUrl(room, 'anchor2'), { seconds: 60, realtime: true });
  t.teardown(() => pub.kill());
  await waitFor(() => inRoom(room, 'anchor2'), 15000, 'anchor2 publishing');
  const sig = officialUserSig('watcher');
  const v = await openWhepViewer(browser, f.g.httpBase, `/v2/sub/${sdkAppId}/${room}?SessionID=watcher`, sig);
  t.teardown(() => v.close());
  await waitFor(async () => (await v.stats()).framesDecoded > 10, 15000, 'viewer decoding');
  const entered = f.rx.events(103).find((b) => b.EventInfo.RoomId === room && b.EventInfo.UserId === 'watcher');
  t.match(entered, { EventInfo: { Role: 21 } }, 'the viewer entered as audience (103 Role 21)');

  await f.client.RemoveUserByStrRoomId({ SdkAppId: sdkAppId, RoomId: room, UserIds: ['watcher'] });
  await waitFor(async () => (await dtlsState(v.page)) === 'closed', 5000, 'the viewer\'s DTLS transport closed');
  await waitFor(() => exitOf(room, 'watcher'), 5000, '104 for watcher');
  checkRemoved(t, room, 'watcher', 21);
  t.ok(await inRoom(room, 'anchor2'), 'the publisher is still in the room');
  t.notOk(exitOf(room, 'anchor2'), 'and has no 104');
  // the same bearer is refused; a new UserSig plays again
  const refused = await openWhepViewer(browser, f.g.httpBase, `/v2/sub/${sdkAppId}/${room}?SessionID=watcher`, sig);
  t.teardown(() => refused.close());
  t.equal(refused.status, 403, 'the old UserSig is refused');
  t.match(refused.body, /was removed from string room 'rm-whep'.*make a new UserSig/);
  const back = await openWhepViewer(browser, f.g.httpBase, `/v2/sub/${sdkAppId}/${room}?SessionID=watcher`, officialUserSig('watcher', 1800));
  t.teardown(() => back.close());
  await waitFor(async () => (await back.stats()).framesDecoded > 10, 15000, 'the viewer back with a new UserSig');
});

t.test('a recording\'s and a relay\'s agent users: 302 LeaveCode 1, 401 Status 5 then 0, 104 Reason 3 Role 21', async (t) => {
  const room = 'rm-agents';
  const pub = ffmpegPush(f.g.pushUrl(room, 'anchor3'), { seconds: 60, realtime: true });
  t.teardown(() => pub.kill());
  await waitFor(() => inRoom(room, 'anchor3'), 15000, 'anchor3 publishing');
  const agents = await startAgents(f.client, room, { anchor: 'anchor3', recorder: 'rec_bot', relay: 'relay_bot' });
  const audience = await waitFor(async () => {
    const r = await f.g.getJson(`/api/rooms/${sdkAppId}/${room}`);
    return r.body.audience?.length === 2 ? r.body.audience : null;
  }, 5000, 'both agents in the audience');
  t.same(audience.map((a: any) => `${a.userId}:${a.source}`).sort(), ['rec_bot:record', 'relay_bot:relay']);

  await f.client.RemoveUserByStrRoomId({ SdkAppId: sdkAppId, RoomId: room, UserIds: ['rec_bot', 'relay_bot'] });
  const stop = await waitFor(() => f.rx.events(302, agents.recordingTaskId)[0], 15000, '302 of the recording');
  t.match(stop.EventInfo.Payload, { LeaveCode: 1, Reason: `removed from string room '${room}' by RemoveUser` }, 'LeaveCode 1: kicked by the customer');
  await waitFor(() => f.rx.events(401, agents.relayTaskId).some((b) => b.EventInfo.Payload.Status === 0), 15000, '401 Status 0');
  t.same(f.rx.events(401, agents.relayTaskId).map((b) => b.EventInfo.Payload.Status).slice(-2), [5, 0], 'the push said 5, then 0');
  checkRemoved(t, room, 'rec_bot', 21);
  checkRemoved(t, room, 'relay_bot', 21);
  t.equal((await apiError(f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: agents.relayTaskId }))).code, 'ResourceNotFound', 'the relay task is gone');
  t.ok(await inRoom(room, 'anchor3'), 'the publisher stays');
});
