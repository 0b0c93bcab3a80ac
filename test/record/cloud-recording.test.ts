// Cloud recording end to end, single-stream, to the local directory: the official SDK drives
// Create → Describe → Modify → Delete against a gateway with real publishers (ffmpeg over RTMP pushing solid red, a
// pull task playing solid blue), and the files are read back with ffprobe/ffmpeg; a callback receiver checks every
// Sign and the order of 301–310.

import t from 'tap';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { officialUserSig, startTestGateway, waitFor, TEST_APP } from '../helpers/gateway.js';
import { apiError, trtcClient, TEST_CREDENTIAL } from '../helpers/api3.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { makeMedia } from '../helpers/media-server.js';
import { startPullFixture } from '../helpers/pull-fixture.js';
import { dominant, ffprobe, playedSeconds, regionColour } from '../helpers/probe.js';

const f = await startPullFixture({ recording: { hlsSegmentSeconds: 2, resumeSeconds: 4 } });
t.teardown(() => f.close());
const { sdkAppId } = TEST_APP;
const dir = f.g.config.recording.dir;
const blue = await makeMedia('flv-blue', 20);

/** ffmpeg publishing a solid colour and a tone over RTMP, in real time, for `seconds`. */
function pushColour(room: string, userId: string, colour: string, seconds: number) {
  return ffmpegPushColour(f.g.pushUrl(room, userId), colour, seconds);
}

function createReq(room: string, recorder: string, recordParams: Record<string, unknown>, extra: Record<string, unknown> = {}): any {
  return {
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 0, UserId: recorder, UserSig: officialUserSig(recorder),
    RecordParams: { RecordMode: 1, ...recordParams }, StorageParams: {}, ...extra,
  };
}

async function ended(taskId: string): Promise<void> {
  await waitFor(() => f.rx.events(302, taskId).length > 0, 30000, `302 of ${taskId}`);
  // 310s follow 302 at once for a local directory
  await new Promise((r) => setTimeout(r, 300));
}

t.test('an RTMP publisher recorded as HLS (video and audio apart) and MP4: files, Describe, Delete, callbacks', async (t) => {
  const room = 'rec-hls-mp4';
  const { TaskId } = await f.client.CreateCloudRecording(createReq(room, 'recorder_1', { OutputFormat: 1 }));
  const taskId = TaskId!;
  const idle = await f.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  t.equal(idle.Status, 'Idle', 'no publisher yet');
  const pushedAt = Date.now();
  const push = pushColour(room, 'red_user', 'red', 8);
  const listed = await waitFor(async () => {
    const d = await f.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
    return (d.StorageFileList?.length ?? 0) >= 2 ? d : null;
  }, 15000, 'files listed');
  t.equal(listed.Status, 'InProgress');
  const byType = Object.fromEntries(listed.StorageFileList!.map((x) => [x.TrackType, x]));
  t.match(byType.video, { UserId: 'red_user', FileName: /__UserId_s_cmVkX3VzZXI.__UserId_e_main_video\.m3u8$/ });
  t.match(byType.audio, { UserId: 'red_user', FileName: /_main_audio\.m3u8$/ });
  t.ok(byType.video!.BeginTimeStamp! >= pushedAt && byType.video!.BeginTimeStamp! < Date.now(), 'BeginTimeStamp is the first file\'s start, in ms');
  t.equal(await push.exited, 0, 'the publisher ran to its end');
  await f.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  await ended(taskId);

  const files = (await readdir(join(dir, taskId))).sort();
  const video = join(dir, taskId, byType.video!.FileName!);
  const audio = join(dir, taskId, byType.audio!.FileName!);
  const mp4 = files.find((x) => x.endsWith('.mp4'));
  t.match(mp4, /^1400000001_cmVjLWhscy1tcDQ.__UserId_s_cmVkX3VzZXI.__UserId_e_main\.mp4$/, 'one MP4, not split, so no index');
  t.ok(files.some((x) => /_main_video_\d{17}\.ts$/.test(x)), 'video segments named with their UTC start');
  const playlist = await readFile(video, 'utf8');
  t.match(playlist, /#EXT-X-TRTC-START-REC-TIME:\d{13}\n#EXT-X-TRTC-VIDEO-METADATA:WIDTH:320 HEIGHT:240\n/);
  t.match(playlist, /#EXT-X-ENDLIST\n$/);

  const v = await ffprobe(video);
  t.match(v.streams, [{ codec_type: 'video', codec_name: 'h264', width: 320, height: 240 }]);
  t.ok(Math.abs((await playedSeconds(video)) - 8) <= 0.5, `video lasts 8 s ± 0.5 (${(await playedSeconds(video)).toFixed(2)})`);
  const a = await ffprobe(audio);
  t.match(a.streams, [{ codec_type: 'audio', codec_name: 'aac' }]);
  t.ok(Math.abs((await playedSeconds(audio)) - 8) <= 0.5, `audio lasts 8 s ± 0.5 (${(await playedSeconds(audio)).toFixed(2)})`);
  t.equal(dominant(await regionColour(video, 4)), 'red', 'a decoded frame is the publisher\'s red');

  const m = await ffprobe(join(dir, taskId, mp4!));
  const mv = m.streams.find((s) => s.codec_type === 'video');
  const ma = m.streams.find((s) => s.codec_type === 'audio');
  t.match(mv, { codec_name: 'h264', width: 320, height: 240 });
  t.match(ma, { codec_name: 'aac' });
  t.ok(Math.abs(Number(mv!.start_time) - Number(ma!.start_time)) <= 0.1, `A/V start skew ≤ 100 ms (${mv!.start_time} / ${ma!.start_time})`);
  t.ok(Math.abs(Number(m.format.duration) - 8) <= 0.5, `MP4 lasts 8 s ± 0.5 (${m.format.duration})`);

  const mine = f.rx.received.filter((r) => r.body?.EventInfo?.TaskId === taskId);
  t.ok(mine.every((r) => r.signOk), 'every callback is signed with the app\'s key');
  const types = mine.map((r) => r.body.EventType as number);
  t.equal(types[0], 301, '301 first');
  t.equal(types.filter((x) => x === 307).length, 2, 'one 307 per playlist');
  t.ok(types.indexOf(302) > types.lastIndexOf(307), '302 after the slices');
  t.equal(types[types.length - 1], 310, '310 last');
  t.match(f.rx.events(302, taskId)[0].EventInfo, { RoomId: room, UserId: 'recorder_1', TaskId: taskId, Payload: { LeaveCode: 0 } });
  t.match(f.rx.events(310, taskId)[0].EventInfo.Payload, { Status: 0, FileList: [mp4], FileMessage: [{ FileName: mp4, UserId: 'red_user', TrackType: 'audio_video' }] });

  const gone = await apiError(f.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId }));
  t.equal(gone.code, 'ResourceNotFound', 'Describe after the end');

  const served = await fetch(`${f.g.httpBase}/recordings/${taskId}/${mp4}`, { headers: { range: 'bytes=0-99' } });
  t.equal(served.status, 206, 'the MP4 is served with byte ranges');
  t.equal((await served.arrayBuffer()).byteLength, 100);
});

t.test('Modify changes who is recorded mid-recording; a pull task is recorded like any publisher; MaxIdleTime ends the task', async (t) => {
  const room = 'rec-modify';
  const { TaskId } = await f.client.CreateCloudRecording(createReq(room, 'recorder_2', {
    MaxIdleTime: 5,
    SubscribeStreamUserIds: { SubscribeVideoUserIds: ['red_user'] },
  }));
  const taskId = TaskId!;
  const push = pushColour(room, 'red_user', 'red', 12);
  const pullTask = await f.start(room, 'blue_user', `${f.media.base}/${blue}`);
  const listed = async () => (await f.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId })).StorageFileList ?? [];
  await waitFor(async () => (await listed()).some((x) => x.UserId === 'blue_user' && x.TrackType === 'audio'), 15000, 'blue audio');
  t.notOk((await listed()).some((x) => x.UserId === 'blue_user' && x.TrackType === 'video'), 'blue video not subscribed');

  await f.client.ModifyCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId, SubscribeStreamUserIds: { SubscribeVideoUserIds: ['red_user', 'blue_user'] } });
  const blueVideo = await waitFor(async () => (await listed()).find((x) => x.UserId === 'blue_user' && x.TrackType === 'video'), 15000, 'blue video after Modify');

  await push.exited;
  await f.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: pullTask });
  await ended(taskId);
  t.match(f.rx.events(302, taskId)[0].EventInfo.Payload, { LeaveCode: 99 }, 'the room stayed empty for MaxIdleTime: LeaveCode 99');
  const path = join(dir, taskId, blueVideo.FileName!);
  t.equal(dominant(await regionColour(path, 1)), 'blue', 'the pull task\'s blue is in its own file');
  t.match((await ffprobe(path)).streams, [{ codec_name: 'h264', width: 320, height: 240 }]);
});

t.test('a publisher who comes back within the resume window goes on in the same playlist', async (t) => {
  const room = 'rec-resume';
  const { TaskId } = await f.client.CreateCloudRecording(createReq(room, 'recorder_3', { StreamType: 2 }));
  const taskId = TaskId!;
  t.equal(await pushColour(room, 'red_user', 'red', 4).exited, 0);
  t.equal(await pushColour(room, 'red_user', 'lime', 4).exited, 0, 'the same user again, within 4 s');
  await f.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  await ended(taskId);
  const files = await readdir(join(dir, taskId));
  t.same(files.filter((x) => x.endsWith('.m3u8')), [files.find((x) => x.endsWith('_main_video.m3u8'))], 'one playlist: video only (StreamType 2)');
  const video = join(dir, taskId, files.find((x) => x.endsWith('.m3u8'))!);
  const played = await playedSeconds(video);
  t.ok(Math.abs(played - 8) <= 0.7, `both sessions, back to back, without the gap (${played.toFixed(2)} s)`);
  t.equal(dominant(await regionColour(video, 1.5)), 'red');
  t.equal(dominant(await regionColour(video, 6.5)), 'green');
});

t.test('audio only (StreamType 1) as HLS + AAC (OutputFormat 2): an audio playlist and an .aac file, no video', async (t) => {
  const room = 'rec-aac';
  const { TaskId } = await f.client.CreateCloudRecording(createReq(room, 'recorder_4', { StreamType: 1, OutputFormat: 2 }));
  const taskId = TaskId!;
  t.equal(await pushColour(room, 'red_user', 'red', 4).exited, 0);
  await f.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  await ended(taskId);
  const files = (await readdir(join(dir, taskId))).sort();
  t.same(files.filter((x) => !x.endsWith('.ts')), [
    '1400000001_cmVjLWFhYw..__UserId_s_cmVkX3VzZXI.__UserId_e_main.aac',
    '1400000001_cmVjLWFhYw..__UserId_s_cmVkX3VzZXI.__UserId_e_main_audio.m3u8',
  ]);
  const aac = await ffprobe(join(dir, taskId, files.find((x) => x.endsWith('.aac'))!));
  t.match(aac.streams, [{ codec_type: 'audio', codec_name: 'aac' }]);
  t.equal(aac.streams.length, 1);
  const played = await playedSeconds(join(dir, taskId, files.find((x) => x.endsWith('.m3u8'))!));
  t.ok(Math.abs(played - 4) <= 0.5, `the audio playlist lasts 4 s ± 0.5 (${played.toFixed(2)})`);
  t.match(f.rx.events(310, taskId)[0].EventInfo.Payload, { Status: 0, FileMessage: [{ TrackType: 'audio' }] });
});

t.test('API errors: RestrictedConcurrency, ResourceNotFound, bad UserSig, CloudVod, unknown SdkAppId', async (t) => {
  const full = await startTestGateway({ recording: { maxTasks: 0 }, api: { credentials: [TEST_CREDENTIAL] } });
  t.teardown(() => full.close());
  const limited = await apiError(trtcClient(`127.0.0.1:${full.gw.http.port}`).CreateCloudRecording(createReq('rec-err', 'r', {})));
  t.equal(limited.code, 'FailedOperation.RestrictedConcurrency');
  t.match(limited.message, /at most 0/);
  const unknownApp = await apiError(f.client.CreateCloudRecording(createReq('rec-err', 'r', {}, { SdkAppId: 1 })));
  t.equal(unknownApp.code, 'InvalidParameter.SdkAppId');
  const sig = await apiError(f.client.CreateCloudRecording(createReq('rec-err', 'r', {}, { UserSig: officialUserSig('someone_else') })));
  t.equal(sig.code, 'InvalidParameter.UserSig');
  const vod = await apiError(f.client.CreateCloudRecording(createReq('rec-err', 'r', {}, { StorageParams: { CloudVod: { TencentVod: {} } } })));
  t.equal(vod.code, 'FailedOperation.CRUnsupportMethod');
  t.match(vod.message, /CloudStorage/);
  const missing = await apiError(f.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: 'no-such-task.' }));
  t.equal(missing.code, 'ResourceNotFound');
  t.match(missing.message, /no-such-task\./);
});
