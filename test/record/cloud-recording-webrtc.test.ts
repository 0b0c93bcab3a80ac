// Cloud recording of a WebRTC publisher, and recordings played back in a browser. Chromium publishes over WHIP a
// canvas painted solid green (H.264) with its fake microphone (Opus); the official SDK records it as HLS + MP4 to the
// local directory. ffprobe/ffmpeg check the files: the HLS audio is AAC made from the Opus, the MP4 keeps the Opus as
// it arrived. Then Chromium's own <video> plays the MP4s served at /recordings/… — this one (H.264 + Opus) and one
// recorded from an ffmpeg RTMP publisher (H.264 + AAC) — and shows each publisher's colour.

import t, { type Test } from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { launchChromium } from '../helpers/chromium.js';
import { openCanvasWhipPublisher } from '../helpers/chromium-canvas-publisher.js';
import { openRecordingPlayer } from '../helpers/chromium-player.js';
import { run } from '../helpers/clients.js';
import { startPullFixture } from '../helpers/pull-fixture.js';
import { dominant, ffprobe, mp4TopBoxes, playedSeconds, regionColour } from '../helpers/probe.js';

const f = await startPullFixture({
  recording: { hlsSegmentSeconds: 2, resumeSeconds: 2 },
  webrtc: { hostAddresses: ['127.0.0.1'], announcedAddresses: [], udpPortMin: 43000, udpPortMax: 43099 },
});
const browser: Browser = await launchChromium();
t.teardown(async () => {
  await browser.close();
  await f.close();
});
const { sdkAppId } = TEST_APP;
const dir = f.g.config.recording.dir;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function createReq(room: string, recorder: string, outputFormat: number): any {
  return {
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 0, UserId: recorder, UserSig: officialUserSig(recorder),
    RecordParams: { RecordMode: 1, OutputFormat: outputFormat }, StorageParams: {},
  };
}

/** Deletes the task and waits for its last callbacks (310s follow 302 at once for a local directory). */
async function deleteAndWait(taskId: string): Promise<void> {
  await f.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => f.rx.events(302, taskId).length > 0, 30000, `302 of ${taskId}`);
  await sleep(300);
}

/** The user's entry in the room's status once the gateway has its video config, and when that was first seen. */
async function publishing(room: string, userId: string): Promise<{ user: any; at: number }> {
  const user = await waitFor(async () => {
    const r = await f.g.getJson(`/api/rooms/${sdkAppId}/${room}`);
    return r.status === 200 ? r.body.users.find((u: any) => u.userId === userId && u.video) : null;
  }, 20000, `${userId} publishing video in ${room}`);
  return { user, at: Date.now() };
}

/** Chromium's <video> plays the recorded MP4 from the gateway: time advances, frames are decoded, the colour shows. */
async function playsInChromium(t: Test, taskId: string, mp4: string, colour: 'red' | 'green', size: [number, number]): Promise<void> {
  const player = await openRecordingPlayer(browser, f.g.httpBase, `/recordings/${taskId}/${mp4}`);
  t.teardown(() => player.close());
  const s = await waitFor(async () => {
    const x = await player.state();
    return x.error || x.ended || (x.currentTime >= 1.5 && x.centre) ? x : null;
  }, 20000, `${mp4} playing in Chromium`);
  t.comment(`Chromium played ${mp4}: ${s.currentTime.toFixed(2)} s, ${s.totalVideoFrames} frames, ${s.audioDecodedBytes} audio bytes decoded, centre ${s.centre}`);
  t.equal(s.error, '', 'no media error');
  t.ok(s.currentTime >= 1.5, `currentTime advances (${s.currentTime.toFixed(2)} s)`);
  t.ok(s.totalVideoFrames > 0, `frames decoded (${s.totalVideoFrames})`);
  t.same([s.videoWidth, s.videoHeight], size, 'the publisher\'s size');
  t.ok(s.audioDecodedBytes > 0, `the audio is decoded too (${s.audioDecodedBytes} bytes)`);
  t.equal(dominant(s.centre!), colour, `the picture Chromium shows is the publisher's ${colour} (${s.centre})`);
}

t.test('a Chromium WHIP publisher recorded as HLS + MP4: H.264 at its size, AAC from Opus in HLS, Opus in MP4, its colour; the MP4 plays in Chromium', async (t) => {
  const room = 'rec-whip';
  const { TaskId } = await f.client.CreateCloudRecording(createReq(room, 'recorder_w', 1));
  const taskId = TaskId!;
  const pub = await openCanvasWhipPublisher(browser, f.g.httpBase, `/v2/pub/${sdkAppId}/${room}?SessionID=green_cam`, officialUserSig('green_cam'), {
    colour: '#00c000', width: 640, height: 360,
  });
  t.teardown(() => pub.close());
  t.equal(pub.status, 201, `WHIP answered 201 ${pub.status === 201 ? '' : pub.body}`);
  const { user, at: publishedAt } = await publishing(room, 'green_cam');
  t.match(user, { source: 'whip', audio: { codec: 'Opus' }, video: { width: 640, height: 360 } }, 'the gateway sees the canvas\'s size and Opus');
  await waitFor(async () => {
    const d = await f.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
    return (d.StorageFileList?.length ?? 0) >= 2;
  }, 15000, 'files listed');
  await sleep(6000);
  const del = await fetch(f.g.httpBase + pub.location!, { method: 'DELETE' });
  const publishedSeconds = (Date.now() - publishedAt) / 1000;
  t.equal(del.status, 200, 'the publisher leaves by DELETE');
  await deleteAndWait(taskId);

  const files = (await readdir(join(dir, taskId))).sort();
  const stem = '1400000001_cmVjLXdoaXA.__UserId_s_Z3JlZW5fY2Ft__UserId_e_main';
  t.ok(files.includes(`${stem}_video.m3u8`) && files.includes(`${stem}_audio.m3u8`) && files.includes(`${stem}.mp4`), `video and audio playlists and one MP4 (${files.filter((x) => !x.endsWith('.ts'))})`);
  const video = join(dir, taskId, `${stem}_video.m3u8`);
  const audio = join(dir, taskId, `${stem}_audio.m3u8`);
  const mp4 = join(dir, taskId, `${stem}.mp4`);
  const playlist = await readFile(video, 'utf8');
  t.match(playlist, /#EXT-X-TRTC-VIDEO-METADATA:WIDTH:640 HEIGHT:360\n/);
  // Chromium sends a keyframe only when asked: the recorder asks when a segment is due, or there would be one segment.
  // A segment ends at the first keyframe past 2 s, so a bit over 2 s (the bound leaves room for a slow encoder).
  const segments = [...playlist.matchAll(/#EXTINF:([\d.]+),/g)].map((x) => Number(x[1]));
  t.ok(segments.length >= 3 && segments.slice(0, -1).every((d) => d >= 1.9 && d < 4), `2 s segments cut at requested keyframes (${segments})`);

  const within = (what: string, s: number) => t.ok(Math.abs(s - publishedSeconds) <= 0.5, `${what} lasts the ${publishedSeconds.toFixed(2)} s published ± 0.5 (${s.toFixed(2)})`);
  t.match((await ffprobe(video)).streams, [{ codec_type: 'video', codec_name: 'h264', width: 640, height: 360 }], 'HLS video: H.264 at the canvas\'s size');
  within('HLS video', await playedSeconds(video));
  t.match((await ffprobe(audio)).streams, [{ codec_type: 'audio', codec_name: 'aac', sample_rate: '48000' }], 'HLS audio: AAC made from the Opus');
  within('HLS audio', await playedSeconds(audio));
  t.equal(dominant(await regionColour(video, 2)), 'green', 'a decoded HLS frame is the canvas\'s green');

  const m = await ffprobe(mp4);
  const mv = m.streams.find((s) => s.codec_type === 'video');
  const ma = m.streams.find((s) => s.codec_type === 'audio');
  t.match(mv, { codec_name: 'h264', width: 640, height: 360 });
  t.match(ma, { codec_name: 'opus', sample_rate: '48000' }, 'the MP4 keeps the Opus as it arrived');
  t.ok(Math.abs(Number(mv!.start_time) - Number(ma!.start_time)) <= 0.1, `MP4 A/V start skew ≤ 100 ms (${mv!.start_time} / ${ma!.start_time})`);
  within('the MP4', await playedSeconds(mp4));
  // a fragment per keyframe: without the recorder asking for keyframes the whole MP4 would wait in memory to the end
  const fragments = (await mp4TopBoxes(mp4)).filter((x) => x === 'moof').length;
  t.ok(fragments >= 3, `the MP4 is written fragment by fragment as it goes (${fragments} fragments)`);
  t.equal(dominant(await regionColour(mp4, 3)), 'green', 'a decoded MP4 frame is the canvas\'s green');

  await playsInChromium(t, taskId, `${stem}.mp4`, 'green', [640, 360]);

  const mine = f.rx.received.filter((r) => r.body?.EventInfo?.TaskId === taskId);
  t.ok(mine.length > 0 && mine.every((r) => r.signOk), `every callback of the task is signed with the app's key (${mine.length})`);
  const types = mine.map((r) => r.body.EventType as number);
  t.same(types, [301, 307, 307, 302, 310], '301, a 307 per playlist, 302, a 310 for the MP4');
  t.same(f.rx.events(307, taskId).map((e) => e.EventInfo.Payload.FileName).sort(), [`${stem}_audio.m3u8`, `${stem}_video.m3u8`]);
  t.match(f.rx.events(310, taskId)[0].EventInfo.Payload, { Status: 0, FileList: [`${stem}.mp4`], FileMessage: [{ UserId: 'green_cam', TrackType: 'audio_video' }] });
});

t.test('an MP4 recorded from an ffmpeg RTMP publisher (H.264 + AAC) plays in Chromium', async (t) => {
  const room = 'rec-rtmp-play';
  const { TaskId } = await f.client.CreateCloudRecording(createReq(room, 'recorder_r', 3));
  const taskId = TaskId!;
  const push = run('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'color=c=red:size=320x240:rate=30',
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '5',
    '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-c:a', 'aac', '-b:a', '64k',
    '-f', 'flv', f.g.pushUrl(room, 'red_user'),
  ], 40000);
  t.equal(await push.exited, 0, `the publisher ran to its end ${push.output()}`);
  await deleteAndWait(taskId);
  const mp4 = (await readdir(join(dir, taskId))).find((x) => x.endsWith('.mp4'));
  t.ok(mp4, 'an MP4 was recorded');
  const m = await ffprobe(join(dir, taskId, mp4!));
  t.match(m.streams.map((s) => s.codec_name).sort(), ['aac', 'h264'], 'H.264 + AAC, copied');
  await playsInChromium(t, taskId, mp4!, 'red', [320, 240]);
});
