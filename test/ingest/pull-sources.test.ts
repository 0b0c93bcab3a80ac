// Pull tasks from every kind of source TRTC lists, served locally: the task's user appears in the room (source
// "pull") and its publisher receives H.264 video and AAC audio with the expected codec facts, copied when the
// source allows it and transcoded otherwise.

import t, { type Test } from 'tap';
import { waitFor, TEST_APP } from '../helpers/gateway.js';
import { makeMedia } from '../helpers/media-server.js';
import { startRtmpSource } from '../helpers/rtmp-source.js';
import { startPullFixture } from '../helpers/pull-fixture.js';

const f = await startPullFixture();
t.teardown(() => f.close());
const rtmp = await startRtmpSource();
t.teardown(() => rtmp.close());

interface Expect {
  plan: { video: string; audio: string };
  video: { profile: string; width: number; height: number } | null;
  audio: { sampleRate: number; channels: number } | null;
}

async function pullAndCheck(t: Test, name: string, url: string, expect: Expect): Promise<void> {
  const room = `src-${name}`;
  const user = `pull_${name.replace(/-/g, '_')}`;
  const taskId = await f.start(room, user, url);
  const u = await waitFor(async () => {
    const users = await f.users(room);
    const p = users.find((x) => x.userId === user);
    const videoOk = expect.video === null || (p?.video && p.frames.video >= 30);
    const audioOk = expect.audio === null || (p?.audio && p.frames.audio >= 20);
    return p && videoOk && audioOk ? p : null;
  }, 20000, `${name}: frames in the room`);
  t.equal(u.source, 'pull');
  // After its first frame the task's ffmpeg output is read by the media engine (as an RTMP socket is): only the
  // engine counts an FLV input's tags.
  const stats = f.g.gw.rooms.get(TEST_APP.sdkAppId, room)?.pickPublisher(user)?.pipe.stats();
  t.ok(stats && stats.lastSourceTs >= 0 && stats.lastInputAt > 0, `${name}: the engine reads the output (${JSON.stringify(stats)})`);
  if (expect.video) {
    t.same({ codec: u.video.codec, profile: u.video.profile, width: u.video.width, height: u.video.height }, { codec: 'H264', ...expect.video }, 'video facts');
    t.ok(u.frames.keyframes >= 1, 'keyframes arrive');
  } else {
    t.equal(u.video, null, 'no video');
  }
  if (expect.audio) t.same(u.audio, { codec: 'AAC', ...expect.audio }, 'audio facts');
  else t.equal(u.audio, null, 'no audio');
  const tasks = (await f.g.getJson('/api/tasks')).body;
  const view = tasks.running.find((x: any) => x.taskId === taskId);
  t.same({ video: view.plan.video, audio: view.plan.audio }, expect.plan, `plan: ${JSON.stringify(view.plan)}`);
  t.equal(view.state, 'running');
  t.equal((await f.client.DescribeStreamIngest({ SdkAppId: TEST_APP.sdkAppId, TaskId: taskId })).Status, 'InProgress');
  t.equal(f.rx.events(701, taskId).map((e) => e.EventInfo.Status).join(','), '0', 'one 701 Status 0');
  await f.client.StopStreamIngest({ SdkAppId: TEST_APP.sdkAppId, TaskId: taskId });
  await f.ended(taskId);
  t.same(await f.users(room), [], 'the user left the room');
}

const cif = { profile: 'Constrained Baseline', width: 320, height: 240 };
const mono44 = { sampleRate: 44100, channels: 1 };

t.test('FLV with H.264 baseline + AAC over HTTP is copied', async (t) => {
  const file = await makeMedia('flv-h264-aac', 10);
  await pullAndCheck(t, 'flv', `${f.media.base}/${file}`, { plan: { video: 'copy', audio: 'copy' }, video: cif, audio: mono44 });
});

t.test('MP4 with B-frames is transcoded to baseline H.264 (audio copied)', async (t) => {
  const file = await makeMedia('mp4-bframes', 10);
  await pullAndCheck(t, 'mp4', `${f.media.base}/${file}`, {
    plan: { video: 'transcode', audio: 'copy' },
    video: cif,
    audio: { sampleRate: 48000, channels: 1 },
  });
});

t.test('MPEG-TS with H.264 + AAC (ADTS) is copied', async (t) => {
  const file = await makeMedia('ts-h264-aac', 10);
  await pullAndCheck(t, 'ts', `${f.media.base}/${file}`, { plan: { video: 'copy', audio: 'copy' }, video: cif, audio: mono44 });
});

t.test('HLS (ffmpeg -f hls, 1 s segments) is copied', async (t) => {
  const file = await makeMedia('hls-h264-aac', 10);
  await pullAndCheck(t, 'hls', `${f.media.base}/${file}`, { plan: { video: 'copy', audio: 'copy' }, video: cif, audio: mono44 });
});

t.test('MP3 audio only becomes AAC; the user has no video', async (t) => {
  const file = await makeMedia('mp3-audio', 10);
  await pullAndCheck(t, 'mp3', `${f.media.base}/${file}`, { plan: { video: 'none', audio: 'transcode' }, video: null, audio: mono44 });
});

t.test('MKV with VP8 + Opus is transcoded to H.264 + AAC', async (t) => {
  const file = await makeMedia('mkv-vp8-opus', 10);
  await pullAndCheck(t, 'mkv', `${f.media.base}/${file}`, {
    plan: { video: 'transcode', audio: 'transcode' },
    video: cif,
    audio: { sampleRate: 48000, channels: 1 },
  });
});

t.test('an RTMP source (ffmpeg pushing into a plain RTMP server) is copied', async (t) => {
  const push = rtmp.push('rtmp-src', 60);
  t.teardown(() => push.child.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 1500)); // let the push start
  await pullAndCheck(t, 'rtmp', rtmp.rtmpUrl('rtmp-src'), { plan: { video: 'copy', audio: 'copy' }, video: cif, audio: mono44 });
});

t.test('a live HTTP-FLV source (the same server) is copied', async (t) => {
  const push = rtmp.push('flv-src', 60);
  t.teardown(() => push.child.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 1500));
  await pullAndCheck(t, 'live-flv', rtmp.flvUrl('flv-src'), { plan: { video: 'copy', audio: 'copy' }, video: cif, audio: mono44 });
});
