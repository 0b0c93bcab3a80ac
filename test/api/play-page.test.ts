// The browser play page with real clients: ffmpeg publishes over RTMP, headless Chromium opens /play/… and must
// decode the publishers' video through the page's own WHEP tiles, show their stats, and DELETE its sessions when a
// publisher leaves or the page goes away. Also the publishers API it polls and the page's error text.

import t from 'tap';
import os from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startTestGateway, officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { launchChromium } from '../helpers/chromium.js';

const g = await startTestGateway();
t.teardown(() => g.close());
const browser = await launchChromium();
t.teardown(() => browser.close());
const app = TEST_APP.sdkAppId;
const viewerSig = officialUserSig('viewer1');

function listPublishers(room: string, token: string | null, viewer = 'viewer1'): Promise<Response> {
  const headers: Record<string, string> = token === null ? {} : { Authorization: `Bearer ${token}` };
  return fetch(`${g.httpBase}/v2/room/${app}/${room}/publishers?SessionID=${viewer}`, { headers });
}

const pageUrl = (room: string, user: string, token: string) =>
  `${g.httpBase}/play/${app}/${room}?user=${user}&token=${encodeURIComponent(token)}`;

async function openPage(url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const logs: string[] = [];
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  t.teardown(() => (logs.length && process.env.ROOMGATE_TEST_LOG ? console.error(logs.join('\n')) : undefined));
  await page.goto(url);
  return page;
}

/** Records why the gateway closed the viewer behind a page tile's WHEP resource. */
function closeReasonOf(resource: string): { reason: string | null } {
  const viewer = [...g.gw.rooms.viewers.all()].find((v) => v.id === resource.split('/').pop());
  if (!viewer) throw new Error(`no viewer for ${resource}`);
  const seen = { reason: null as string | null };
  const close = viewer.close.bind(viewer);
  viewer.close = (reason: string) => {
    seen.reason ??= reason;
    return close(reason);
  };
  return seen;
}

t.test('publishers API: WHEP auth, CORS, an empty list for an empty room', async (t) => {
  const none = await listPublishers('room-empty', null);
  t.equal(none.status, 401);
  t.match(await none.text(), /no bearer token was given/);

  const wrongUser = await listPublishers('room-empty', officialUserSig('mallory'));
  t.equal(wrongUser.status, 401);

  const ok = await listPublishers('room-empty', viewerSig);
  t.equal(ok.status, 200);
  t.equal(ok.headers.get('access-control-allow-origin'), '*');
  t.same(await ok.json(), { publishers: [] });

  const pre = await fetch(`${g.httpBase}/v2/room/${app}/room-empty/publishers`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://elsewhere.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' },
  });
  t.equal(pre.status, 204);
  t.match(pre.headers.get('access-control-allow-headers') ?? '', /Authorization/);
});

t.test('page assets are served with their content types', async (t) => {
  const page = await fetch(`${g.httpBase}/play/${app}/any-room`);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type') ?? '', /^text\/html/);
  t.equal(page.headers.get('referrer-policy'), 'no-referrer');
  t.match(await page.text(), /\.\.\/assets\/play\.js/);
  t.match((await fetch(`${g.httpBase}/play/assets/play.js`)).headers.get('content-type') ?? '', /^text\/javascript/);
  t.match((await fetch(`${g.httpBase}/play/assets/play.css`)).headers.get('content-type') ?? '', /^text\/css/);
  t.equal((await fetch(`${g.httpBase}/play/assets/index.html`)).status, 404);
  t.equal((await fetch(`${g.httpBase}/play/assets/constructor`)).status, 404);
});

t.test('the page plays each publisher in its own tile with live stats', async (t) => {
  const alice = ffmpegPush(g.pushUrl('room-play', 'alice'), { seconds: 30, realtime: true, size: '640x360' });
  t.teardown(() => alice.stop());
  const listed = await waitFor(async () => {
    const body = (await (await listPublishers('room-play', viewerSig)).json()) as any;
    return body.publishers[0]?.video ? body.publishers : null;
  }, 15000, 'alice in the publishers list');
  t.match(listed, [{ userId: 'alice', source: 'rtmp', video: { codec: 'H264', width: 640, height: 360 }, audio: { codec: 'AAC' } }]);

  const page = await openPage(pageUrl('room-play', 'viewer1', viewerSig));
  await page.waitForFunction(
    () => {
      const s = (window as any).__roomgate?.tiles?.alice;
      const video = document.querySelector<HTMLVideoElement>('.tile[data-user="alice"] video');
      return s?.fps > 0 && s.kbps > 0 && s.rttMs !== null && (video?.getVideoPlaybackQuality().totalVideoFrames ?? 0) > 30;
    },
    null,
    { timeout: 20000 },
  );
  const seen = await page.evaluate(() => {
    const w = (window as any).__roomgate;
    const tile = document.querySelector<HTMLElement>('.tile[data-user="alice"]')!;
    const video = tile.querySelector('video')!;
    return {
      publishers: w.publishers,
      stats: w.tiles.alice,
      text: tile.innerText,
      size: `${video.videoWidth}x${video.videoHeight}`,
      muted: video.muted,
    };
  });
  t.same(seen.publishers, ['alice']);
  t.equal(seen.size, '640x360', 'the <video> decodes 640x360');
  t.match(seen.text, /640×360/, 'the tile shows the received resolution');
  t.match(seen.text, /alice/);
  t.match(seen.stats, { state: 'connected', width: 640, height: 360 });
  t.ok(seen.stats.fps >= 20 && seen.stats.fps <= 35, `fps ${seen.stats.fps}`);
  t.equal(seen.muted, true, 'autoplay starts muted');
  await page.click('.tile[data-user="alice"] .unmute');
  t.equal(await page.evaluate(() => document.querySelector('video')!.muted), false, 'the button unmutes');
  const room = g.gw.rooms.get(app, 'room-play')!;
  t.equal(g.gw.rooms.status(room).users[0]!.viewers, 1, 'one WHEP viewer on the gateway');
  await page.screenshot({ path: join(os.tmpdir(), 'roomgate-play.png') });

  // A second publisher gets its own tile; when it leaves, the page DELETEs its session (well before the
  // gateway's reconnect grace would have closed it) and drops the tile.
  const bob = ffmpegPush(g.pushUrl('room-play', 'bob'), { seconds: 30, realtime: true });
  t.teardown(() => bob.stop());
  const bobResource = await page.waitForFunction(
    () => {
      const s = (window as any).__roomgate.tiles.bob;
      return s?.framesDecoded > 10 && s.width === 320 ? s.resource : null;
    },
    null,
    { timeout: 20000 },
  ).then((h) => h.jsonValue() as Promise<string>);
  await page.waitForTimeout(1500); // let the stats fill in for the two-tile screenshot
  await page.screenshot({ path: join(os.tmpdir(), 'roomgate-play-2.png') });
  const bobClosed = closeReasonOf(bobResource);
  bob.stop();
  await page.waitForFunction(() => !document.querySelector('.tile[data-user="bob"]'), null, { timeout: 8000 });
  await waitFor(() => bobClosed.reason, 3000, "bob's viewer to close");
  t.equal(bobClosed.reason, 'the viewer sent DELETE');
  t.same(await page.evaluate(() => (window as any).__roomgate.publishers), ['alice']);

  // Leaving the page DELETEs the remaining session.
  const aliceClosed = closeReasonOf(await page.evaluate(() => (window as any).__roomgate.tiles.alice.resource));
  await page.goto('about:blank');
  await waitFor(() => aliceClosed.reason, 5000, "alice's viewer to close");
  t.equal(aliceClosed.reason, 'the viewer sent DELETE');
  await page.close();
});

t.test('a refused token shows the server reason on the page', async (t) => {
  const badSig = officialUserSig('mallory');
  const direct = await listPublishers('room-play', badSig);
  t.equal(direct.status, 401);
  const reason = (await direct.text()).trim();
  t.match(reason, /mallory/);

  const page = await openPage(pageUrl('room-play', 'viewer1', badSig));
  const shown = await page.waitForFunction(() => (window as any).__roomgate.error, null, { timeout: 5000 }).then((h) => h.jsonValue());
  t.match(shown, 'did not accept the token');
  t.ok(String(shown).includes(reason), `the page shows "${reason}"`);
  t.equal(await page.locator('#notice').innerText(), shown);
  t.equal(await page.locator('.tile').count(), 0);
  await page.screenshot({ path: join(os.tmpdir(), 'roomgate-play-refused.png') });
  await page.close();
});

t.test('identity typed into the page is kept in the URL', async (t) => {
  const page = await openPage(`${g.httpBase}/play/${app}/room-quiet`);
  t.match(await page.locator('#notice').innerText(), /Enter your user ID/);
  await page.fill('#user', 'viewer1');
  await page.fill('#token', viewerSig);
  await page.click('button[type=submit]');
  await page.waitForFunction(() => /Nobody is publishing/.test((window as any).__roomgate.notice), null, { timeout: 5000 });
  const url = new URL(page.url());
  t.equal(url.searchParams.get('user'), 'viewer1');
  t.equal(url.searchParams.get('token'), viewerSig);
  await page.reload();
  await page.waitForFunction(() => /Nobody is publishing/.test((window as any).__roomgate.notice), null, { timeout: 5000 });
  t.equal(await page.inputValue('#user'), 'viewer1', 'a reload keeps the identity');
  await page.close();
});
