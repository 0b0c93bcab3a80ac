// The operator's console in headless Chromium: without admin.token it is 401; with it, the page shows an ffmpeg RTMP
// publisher with its media facts, a decoded WHEP preview of it (its screenshot is the publisher's red), and a
// running pull task, all pushed by Server-Sent Events; Mute and Unmute block and unblock it (and the callbacks that
// fail meanwhile are listed with their URL and failure); the Remove button removes the publisher through the same
// action as RemoveUserByStrRoomId (the encoder is told, callback 104 Reason 3), and it disappears from the page and
// from /api/rooms. An unknown action is refused with the list of what the console can do.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { launchChromium } from '../helpers/chromium.js';
import { startPullFixture } from '../helpers/pull-fixture.js';
import { makeMedia } from '../helpers/media-server.js';

const TOKEN = 'console-test-token-5f2c';
// callbacks retried every half second: the test makes the receiver fail for a moment
const f = await startPullFixture({ admin: { token: TOKEN }, callbacks: { retryIntervalMs: 500 }, recording: { hlsSegmentSeconds: 2 } });
const browser = await launchChromium();
t.teardown(async () => {
  await browser.close();
  await f.close();
});
const app = TEST_APP.sdkAppId;

/** The average colour of a PNG, through Debian's ffmpeg (scaled to one pixel). */
function averageColour(png: Buffer): [number, number, number] {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'png_pipe', '-i', 'pipe:0', '-vf', 'scale=1:1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { input: png });
  if (r.status !== 0 || r.stdout.length < 3) throw new Error(`ffmpeg could not read the screenshot: ${r.stderr}`);
  return [r.stdout[0]!, r.stdout[1]!, r.stdout[2]!];
}

t.test('without the token: 401', async (t) => {
  const page = await browser.newPage();
  t.teardown(() => page.close());
  const res = await page.goto(`${f.g.httpBase}/console`);
  t.equal(res?.status(), 401, 'the page');
  t.match(await page.textContent('body'), /admin token/);
  t.equal((await fetch(`${f.g.httpBase}/console/events`)).status, 401, 'the event stream');
  const act = await fetch(`${f.g.httpBase}/console/action`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"action":"DismissRoomByStrRoomId","params":{}}' });
  t.equal(act.status, 401, 'the actions');
});

t.test('the console shows the publisher, its preview and the pull task, and removes the user', async (t) => {
  const pub = ffmpegPushColour(f.g.pushUrl('console-room', 'anchor'), 'red', 120);
  t.teardown(() => pub.kill());
  await waitFor(async () => (await f.users('console-room')).length === 1, 15000, 'the anchor publishing');
  const taskId = await f.start('console-pull', 'puller', `${f.media.base}/${await makeMedia('flv-h264-aac', 60)}`);
  await waitFor(async () => (await f.users('console-pull')).length === 1, 15000, 'the pull task publishing');

  const page = await browser.newPage();
  t.teardown(() => page.close());
  const res = await page.goto(`${f.g.httpBase}/console?token=${TOKEN}`);
  t.equal(res?.status(), 200, 'the page opens with the token');
  const row = page.locator('[data-room="console-room"] tr[data-user="anchor"]');
  await row.waitFor({ timeout: 15000 });
  t.match(await row.textContent(), /anchor\s*rtmp\s*H\.264 [\w ]+ \/ AAC\s*320×240\s*30/, 'source, codecs, picture and frame rate');
  await page.locator(`tr[data-task="${taskId}"]`).waitFor({ timeout: 15000 });
  t.match(await page.locator(`tr[data-task="${taskId}"]`).textContent(), /console-pull\s*puller\s*running/, 'the pull task, running');

  // the preview tile decodes the publisher's picture: wait for frames, then check the screenshot's colour
  const video = page.locator('[data-preview="anchor"] video');
  await waitFor(() => video.evaluate((v: HTMLVideoElement) => v.videoWidth > 0 && v.currentTime > 0.5), 20000, 'the preview playing');
  const [r, g, b] = averageColour(await video.screenshot());
  t.ok(r > 150 && g < 90 && b < 90, `the preview shows the publisher's red (average rgb ${r}, ${g}, ${b})`);

  // a recording kept in the directory: its playlist is linked, and served to the console (its cookie); Stop ends it
  const rec = await f.client.CreateCloudRecording({
    SdkAppId: app, RoomId: 'console-room', RoomIdType: 0, UserId: 'rec_agent', UserSig: officialUserSig('rec_agent'),
    RecordParams: { RecordMode: 1, OutputFormat: 0 }, StorageParams: {},
  } as any);
  const recRow = page.locator(`tr[data-recording="${rec.TaskId}"]`);
  const link = recRow.locator('a').first();
  await link.waitFor({ timeout: 20000 });
  const href = (await link.getAttribute('href'))!;
  t.match(href, new RegExp(`^/console/recordings/${rec.TaskId}/.+\\.m3u8$`), 'the playlist is linked');
  const served = await page.evaluate(async (u) => {
    const r = await fetch(u);
    return { status: r.status, text: await r.text() };
  }, href);
  t.equal(served.status, 200, 'and served to the console');
  t.match(served.text, /^#EXTM3U/);
  t.equal((await fetch(f.g.httpBase + href)).status, 401, 'not without the token');
  await recRow.locator('button', { hasText: 'Stop' }).click();
  await waitFor(async () => (await recRow.count()) === 0, 15000, 'the recording to end');
  await waitFor(() => f.rx.received.some((x) => x.body.EventType === 302 && x.body.EventInfo.TaskId === rec.TaskId), 10000, '302 for the recording');
  t.pass('Stop ended the recording (302), as DeleteCloudRecording does');

  // Mute blocks the user's audio and video (SetUserBlocked IsMute 1): the 202/204 callbacks fail while the receiver
  // answers 503, and the console lists the failures
  await f.rx.setMode('failing');
  await row.locator('button', { hasText: 'Mute' }).click();
  await waitFor(async () => (await row.locator('td').nth(8).textContent()) === 'audio+video', 10000, 'the row to say blocked');
  const blocked = (await f.g.getJson(`/api/rooms/${app}/console-room`)).body.users[0].blocked;
  t.same(blocked, { audio: true, video: true }, 'the status API says the same');
  const failure = page.locator('#callback-failures tbody tr').first();
  await failure.waitFor({ timeout: 10000 });
  t.match(await failure.textContent(), /http:\/\/127\.0\.0\.1:\d+\/.*503/, 'a failed callback with its URL and failure');
  await f.rx.setMode('up');
  await row.locator('button', { hasText: 'Unmute' }).click();
  await waitFor(async () => (await row.locator('td').nth(8).textContent()) === '', 10000, 'the row to say unblocked');

  await row.locator('button', { hasText: 'Remove' }).click();
  await waitFor(async () => (await row.count()) === 0, 10000, 'the row to go');
  t.pass('the user is gone from the page');
  const rooms = (await f.g.getJson('/api/rooms')).body.rooms.filter((x: any) => x.roomId === 'console-room');
  t.ok(rooms.every((x: any) => x.users === 0), 'and from /api/rooms');
  await pub.exited;
  t.match(pub.output(), /removed/i, 'the encoder was told it was removed');
  await waitFor(() => f.rx.received.some((x) => x.body.EventType === 104 && x.body.EventInfo.UserId === 'anchor'), 5000, '104 for the anchor');
  const left = f.rx.received.find((x) => x.body.EventType === 104 && x.body.EventInfo.UserId === 'anchor')!;
  t.equal(left.body.EventInfo.Reason, 3, '104 Reason 3 (kicked), as RemoveUser gives');
  t.ok(left.signOk, 'signed');
});

t.test('an action the console does not offer is refused with what it can do', async (t) => {
  const res = await fetch(`${f.g.httpBase}/console/action`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ action: 'StartStreamIngest', params: { SdkAppId: app } }),
  });
  t.equal(res.status, 400);
  t.match(await res.json(), { code: 'InvalidAction', message: /RemoveUser, .*StopPublishCdnStream/ });
  const bad = await fetch(`${f.g.httpBase}/console/action`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ action: 'RemoveUserByStrRoomId', params: { SdkAppId: app, RoomId: 'nobody-here', UserIds: ['x'] } }),
  });
  t.equal(bad.status, 400);
  t.match(await bad.json(), { code: 'FailedOperation.RoomNotExist' }, 'the API 3.0 error code of the same action');
});
