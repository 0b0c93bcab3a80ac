// Each kind of pulled source played in headless Chromium over WHEP: the browser decodes the task's video (copied or
// transcoded) at the source's size and receives its audio as Opus — the same room path as RTMP publishers.

import t, { type Test } from 'tap';
import type { Browser } from 'playwright-core';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { launchChromium, openWhepViewer } from '../helpers/chromium.js';
import { makeMedia } from '../helpers/media-server.js';
import { startRtmpSource } from '../helpers/rtmp-source.js';
import { startPullFixture } from '../helpers/pull-fixture.js';

const f = await startPullFixture();
const browser: Browser = await launchChromium();
const rtmp = await startRtmpSource();
t.teardown(async () => {
  await browser.close();
  await rtmp.close();
  await f.close();
});

async function plays(t: Test, name: string, url: string, video: boolean): Promise<void> {
  const room = `play-${name}`;
  const user = `pulled_${name.replace(/-/g, '_')}`;
  const taskId = await f.start(room, user, url, { RepeatNum: -1 });
  t.teardown(() => f.client.StopStreamIngest({ SdkAppId: TEST_APP.sdkAppId, TaskId: taskId }).catch(() => {}));
  await waitFor(async () => (await f.users(room)).length === 1, 15000, `${name}: the user in the room`);
  const viewer = `viewer_${name.replace(/-/g, '_')}`;
  const v = await openWhepViewer(browser, f.g.httpBase, `/v2/sub/${TEST_APP.sdkAppId}/${room}?SessionID=${viewer}&Publisher=${user}`, officialUserSig(viewer));
  t.teardown(() => v.close());
  t.equal(v.status, 201, `${name}: WHEP 201`);
  if (video) {
    const s = await waitFor(async () => {
      const x = await v.stats();
      return x.framesDecoded >= 60 ? x : null;
    }, 20000, `${name}: 60 decoded frames`);
    t.same({ w: s.frameWidth, h: s.frameHeight }, { w: 320, h: 240 }, `${name}: decoded at the source size`);
    t.ok(s.pliCount <= 3, `${name}: PLIs ${s.pliCount}`);
  }
  const a = await waitFor(async () => {
    const x = await v.stats();
    return x.totalSamplesReceived > 48000 ? x : null;
  }, 15000, `${name}: a second of Opus audio`);
  t.ok(a.audioPacketsReceived > 40, `${name}: audio packets ${a.audioPacketsReceived}`);
}

const sources: [string, string, boolean][] = [
  ['flv', 'flv-h264-aac', true],
  ['mp4-bframes', 'mp4-bframes', true],
  ['ts', 'ts-h264-aac', true],
  ['hls', 'hls-h264-aac', true],
  ['mkv-vp8', 'mkv-vp8-opus', true],
  ['mp3', 'mp3-audio', false],
];
for (const [name, kind, video] of sources) {
  t.test(`Chromium plays a pulled ${name} source`, async (t) => {
    const file = await makeMedia(kind, 10);
    await plays(t, name, `${f.media.base}/${file}`, video);
  });
}

t.test('Chromium plays a pulled RTMP source', async (t) => {
  const push = rtmp.push('chromium-src', 60);
  t.teardown(() => push.child.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 1500));
  await plays(t, 'rtmp', rtmp.rtmpUrl('chromium-src'), true);
});

t.test('a viewer keeps decoding across UpdateStreamIngest switching the source (copy → transcode)', async (t) => {
  const flv = await makeMedia('flv-h264-aac', 10);
  const mkv = await makeMedia('mkv-vp8-opus', 10);
  const taskId = await f.start('play-switch', 'switcher', `${f.media.base}/${flv}`, { RepeatNum: -1 });
  t.teardown(() => f.client.StopStreamIngest({ SdkAppId: TEST_APP.sdkAppId, TaskId: taskId }).catch(() => {}));
  await waitFor(async () => (await f.users('play-switch')).length === 1, 15000, 'the user in the room');
  const v = await openWhepViewer(browser, f.g.httpBase, `/v2/sub/${TEST_APP.sdkAppId}/play-switch?SessionID=sw_viewer`, officialUserSig('sw_viewer'));
  t.teardown(() => v.close());
  await waitFor(async () => (await v.stats()).framesDecoded >= 30, 15000, 'decoding the first source');
  await f.client.UpdateStreamIngest({ SdkAppId: TEST_APP.sdkAppId, TaskId: taskId, StreamUrl: `${f.media.base}/${mkv}` });
  await waitFor(async () => (await f.g.getJson('/api/tasks')).body.running.find((x: any) => x.taskId === taskId)?.plan?.video === 'transcode', 10000, 'the new source');
  const before = (await v.stats()).framesDecoded;
  const s = await waitFor(async () => {
    const x = await v.stats();
    return x.framesDecoded >= before + 60 ? x : null;
  }, 15000, '60 more frames decoded from the new source');
  t.equal(s.videoTrackState, 'live', 'the same track, never ended');
  t.equal(s.connectionState, 'connected');
  t.ok(s.pliCount <= 3, `PLIs ${s.pliCount}`);
});

t.test('UpdateStreamIngest Volume is applied in the room\'s audio path: 0 silences the viewer, 200 is louder', async (t) => {
  const flv = await makeMedia('flv-h264-aac', 10);
  const taskId = await f.start('play-volume', 'loudness', `${f.media.base}/${flv}`, { RepeatNum: -1, Volume: 50 });
  t.teardown(() => f.client.StopStreamIngest({ SdkAppId: TEST_APP.sdkAppId, TaskId: taskId }).catch(() => {}));
  await waitFor(async () => (await f.users('play-volume')).length === 1, 15000, 'the user in the room');
  const v = await openWhepViewer(browser, f.g.httpBase, `/v2/sub/${TEST_APP.sdkAppId}/play-volume?SessionID=vol_viewer`, officialUserSig('vol_viewer'));
  t.teardown(() => v.close());
  // The decoded audio measured in the page: WebAudio analyser on the received track, RMS over `ms`.
  await v.page.evaluate(() => {
    const w = window as any;
    const track = w.pc.getReceivers().map((r: any) => r.track).find((x: any) => x.kind === 'audio');
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    w.audioRms = { sum: 0, n: 0 };
    setInterval(() => {
      analyser.getFloatTimeDomainData(buf);
      let s = 0;
      for (const x of buf) s += x * x;
      w.audioRms.sum += s / buf.length;
      w.audioRms.n++;
    }, 20);
  });
  const energy = async (ms: number): Promise<number> => {
    await v.page.evaluate(() => ((window as any).audioRms = { sum: 0, n: 0 }));
    await new Promise((r) => setTimeout(r, ms));
    return v.page.evaluate(() => {
      const a = (window as any).audioRms;
      return Math.sqrt(a.sum / Math.max(1, a.n));
    });
  };
  await waitFor(async () => (await v.stats()).totalSamplesReceived > 48000, 15000, 'audio flowing');
  const half = await energy(1500);
  await f.client.UpdateStreamIngest({ SdkAppId: TEST_APP.sdkAppId, TaskId: taskId, Volume: 0 });
  await new Promise((r) => setTimeout(r, 500));
  const muted = await energy(1500);
  await f.client.UpdateStreamIngest({ SdkAppId: TEST_APP.sdkAppId, TaskId: taskId, Volume: 200 });
  await new Promise((r) => setTimeout(r, 500));
  const loud = await energy(1500);
  t.comment(`decoded audio RMS: Volume 50 → ${half.toFixed(4)}, 0 → ${muted.toFixed(4)}, 200 → ${loud.toFixed(4)}`);
  t.ok(half > 0, 'audible at Volume 50');
  t.ok(muted < half / 20, 'silent at Volume 0');
  t.ok(loud > half * 2.5, 'Volume 200 is about four times Volume 50');
});
