// Cloud recording to an S3-compatible store end to end: a real s3rver on loopback is CloudStorage Vendor 1
// (recording.storageEndpoints), ffmpeg publishes over RTMP, the official SDK creates and deletes the task, and what
// the store holds is read back with the AWS SDK and played with ffprobe/ffmpeg. Then the store goes down for 20 s in
// the middle of a recording: 308 says so, and once it is back everything reaches the bucket. Last, the gateway shuts
// down while the store is down: it does not wait out the task's upload drain, and keeps what it could not upload.

import t, { type Test } from 'tap';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { startPullFixture } from '../helpers/pull-fixture.js';
import { decodeErrors, ffprobe, playedSeconds, playlistSegments } from '../helpers/probe.js';
import { S3RVER_KEYS, startS3rver, type TestS3 } from '../helpers/s3rver.js';

const BUCKET = 'records-1250000000';
const s3 = await startS3rver([BUCKET]);
// A long drain when a task ends (an operator who would rather wait than leave files behind); shutdown must not wait it.
const f = await startPullFixture({ recording: { hlsSegmentSeconds: 2, uploadDrainSeconds: 600, storageEndpoints: { '1': s3.endpoint } } });
t.teardown(async () => {
  await f.close();
  await s3.close();
});
// Its own timeout, so it holds when the file is run with node directly too (tap's default there is 30 s).
t.setTimeout(150_000);
const { sdkAppId } = TEST_APP;
const dir = f.g.config.recording.dir;

function pushColour(room: string, userId: string, colour: string, seconds: number) {
  return ffmpegPushColour(f.g.pushUrl(room, userId), colour, seconds);
}

async function createS3Task(room: string, recorder: string): Promise<string> {
  const { TaskId } = await f.client.CreateCloudRecording({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 0, UserId: recorder, UserSig: officialUserSig(recorder),
    RecordParams: { RecordMode: 1, OutputFormat: 1 },
    StorageParams: { CloudStorage: { Vendor: 1, Region: 'us-east-1', Bucket: BUCKET, ...S3RVER_KEYS, FileNamePrefix: ['p1', 'p2'] } },
  });
  return TaskId!;
}

/** Everything under p1/p2/<TaskId>/ copied to a local directory, by file name. */
async function download(store: TestS3, taskId: string): Promise<{ dir: string; names: string[] }> {
  const prefix = `p1/p2/${taskId}/`;
  const local = await mkdtemp(join(tmpdir(), 'rec-s3-back-'));
  const names: string[] = [];
  for (const o of await store.list(BUCKET, prefix)) {
    const name = o.key.slice(prefix.length);
    await writeFile(join(local, name), (await store.get(BUCKET, o.key)).body);
    names.push(name);
  }
  return { dir: local, names: names.sort() };
}

/** The checks both tests make on what the bucket holds after a task of `seconds` of publishing. */
async function checkBucket(t: Test, taskId: string, seconds: number, tolerance: number): Promise<void> {
  const back = await download(s3, taskId);
  const playlists = back.names.filter((n) => n.endsWith('.m3u8'));
  t.equal(playlists.length, 2, `a video and an audio playlist in the bucket (${playlists.join(', ')})`);
  const listed: string[] = [];
  for (const p of playlists) {
    const text = (await s3.get(BUCKET, `p1/p2/${taskId}/${p}`)).body.toString('utf8');
    t.match(text, /#EXT-X-ENDLIST\n$/, `${p} is complete`);
    const segs = playlistSegments(text);
    listed.push(...segs.map((s) => s.name));
    t.same(segs.filter((s) => !back.names.includes(s.name)), [], `every segment ${p} names is in the bucket`);
    const path = join(back.dir, p);
    t.equal(await decodeErrors(path), '', `${p} from the bucket plays without an error`);
    const played = await playedSeconds(path);
    t.ok(Math.abs(played - seconds) <= tolerance, `${p} plays ${seconds} s ± ${tolerance} (${played.toFixed(2)})`);
  }
  const segments = back.names.filter((n) => n.endsWith('.ts'));
  t.same(segments.filter((s) => !listed.includes(s)), [], 'no segment in the bucket that no playlist names');
  const mp4 = back.names.filter((n) => n.endsWith('.mp4'));
  t.equal(mp4.length, 1, 'one MP4');
  const m = await ffprobe(join(back.dir, mp4[0]!));
  t.match(m.streams.map((s) => s.codec_name).sort(), ['aac', 'h264'], 'the MP4 has both streams');
  t.ok(Math.abs(Number(m.format.duration) - seconds) <= tolerance, `the MP4 lasts ${seconds} s ± ${tolerance} (${m.format.duration})`);
  const left = await readdir(join(dir, taskId)).catch(() => []);
  t.same(left, [], 'no local copy is left once the store has every file');
}

/** This task's callbacks, checked for signatures; returns their types in order. */
function callbackTypes(t: Test, taskId: string): number[] {
  const mine = f.rx.received.filter((r) => r.body?.EventInfo?.TaskId === taskId);
  t.ok(mine.length > 0 && mine.every((r) => r.signOk), 'every callback is signed with the app\'s key');
  return mine.map((r) => r.body.EventType as number);
}

t.test('an RTMP publisher recorded as HLS + MP4 into the bucket, under p1/p2/<TaskId>/', async (t) => {
  const room = 'rec-s3';
  const taskId = await createS3Task(room, 'recorder_s3');
  t.equal(await pushColour(room, 'red_user', 'red', 8).exited, 0, 'the publisher ran to its end');
  await f.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => f.rx.events(310, taskId).length > 0, 60_000, '310');
  await new Promise((r) => setTimeout(r, 300)); // nothing more may follow

  await checkBucket(t, taskId, 8, 0.5);
  const types = callbackTypes(t, taskId);
  t.same(types.slice(0, 2), [301, 303], '301 then 303 (the upload module started)');
  t.same(types.slice(-3), [302, 305, 310], '302, 305 (uploads done), then the MP4\'s 310 last');
  t.notOk(types.includes(308), 'no upload error');
  t.match(f.rx.events(303, taskId)[0].EventInfo.Payload, { Status: 0 });
  t.match(f.rx.events(305, taskId)[0].EventInfo.Payload, { Status: 0 });
  const files = f.rx.events(304, taskId).map((b) => b.EventInfo.Payload.FileList).sort();
  t.match(files, [/_main_audio\.m3u8$/, /_main_video\.m3u8$/], '304 once per playlist, naming it');
  t.ok(types.lastIndexOf(304) < types.indexOf(302), 'each 304 while recording');
  const mp4 = (await s3.list(BUCKET, `p1/p2/${taskId}/`)).map((o) => o.key).find((k) => k.endsWith('.mp4'))!;
  t.match(f.rx.events(310, taskId)[0].EventInfo.Payload, { Status: 0, FileList: [mp4.split('/').pop()] });
});

t.test('the store down for 20 s mid-recording: 308, then everything reaches the bucket and 305 says so', async (t) => {
  const room = 'rec-s3-outage';
  const taskId = await createS3Task(room, 'recorder_outage');
  const push = pushColour(room, 'blue_user', 'blue', 30);
  await waitFor(() => f.rx.events(304, taskId).length >= 2, 15_000, 'both playlists uploaded once');
  await s3.stop();
  await waitFor(() => f.rx.events(308, taskId).length > 0, 15_000, '308 while the store is down');
  await new Promise((r) => setTimeout(r, 20_000 - 1000));
  t.ok((await readdir(join(dir, taskId))).some((n) => n.endsWith('.ts')), 'segments made while down wait on disk');
  await s3.start();
  t.equal(await push.exited, 0, 'the publisher ran to its end');
  await f.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => f.rx.events(310, taskId).length > 0, 60_000, '310');

  const failed = f.rx.events(308, taskId);
  t.equal(failed.length, 1, 'one 308 for the outage, not one per retry');
  t.match(failed[0].EventInfo.Payload, { Code: /^(ECONNREFUSED|ECONNRESET|EPIPE)$/, Message: /could not store .* as s3:\/\/records-1250000000\/p1\/p2\// });
  t.match(f.rx.events(305, taskId)[0].EventInfo.Payload, { Status: 0 }, '305: every file uploaded');
  const types = callbackTypes(t, taskId);
  t.ok(types.indexOf(308) > types.indexOf(303) && types.indexOf(308) < types.indexOf(302), '308 while recording');
  t.same(types.slice(-3), [302, 305, 310]);
  await checkBucket(t, taskId, 30, 1);
});

// Last: it closes the gateway.
t.test('shutdown with the store down: every file is closed and kept on disk, 302 and 305 Status 1 go out, no long wait', async (t) => {
  const room = 'rec-s3-shutdown';
  const taskId = await createS3Task(room, 'recorder_shutdown');
  const push = pushColour(room, 'lime_user', 'lime', 60);
  t.teardown(() => push.kill());
  await waitFor(() => f.rx.events(304, taskId).length >= 2, 15_000, 'both playlists uploaded once');
  await s3.stop();
  await waitFor(() => f.rx.events(308, taskId).length > 0, 15_000, '308');
  // what close() does on SIGTERM; with the store down it must not wait out recording.uploadDrainSeconds (600 s)
  await f.g.gw.close();
  t.match(f.rx.events(302, taskId)[0]?.EventInfo.Payload, { LeaveCode: 3 }, '302 delivered before close() returned');
  t.match(f.rx.events(305, taskId)[0]?.EventInfo.Payload, { Status: 1 }, '305 Status 1: some files are not in the bucket');
  t.match(f.rx.events(310, taskId)[0]?.EventInfo.Payload, { Status: 1, FileList: [/\.mp4$/] }, '310 Status 1: the MP4 is not either');
  const local = await readdir(join(dir, taskId));
  await s3.start(); // only to see what it got before it went down
  const stored = (await s3.list(BUCKET, `p1/p2/${taskId}/`)).map((o) => o.key.split('/').pop()!);
  const playlists = local.filter((n) => n.endsWith('.m3u8'));
  t.equal(playlists.length, 2, 'the playlists stay on disk');
  for (const p of playlists) {
    const text = await readFile(join(dir, taskId, p), 'utf8');
    t.match(text, /#EXT-X-ENDLIST\n$/, `${p} ended`);
    const lost = playlistSegments(text).filter((x) => !local.includes(x.name) && !stored.includes(x.name));
    t.same(lost, [], 'each segment it names is on disk or in the bucket');
  }
  t.ok(local.some((n) => n.endsWith('.mp4')), 'the MP4 stays on disk');
  t.equal(await decodeErrors(join(dir, taskId, local.find((n) => n.endsWith('.mp4'))!)), '', 'and plays');
});
