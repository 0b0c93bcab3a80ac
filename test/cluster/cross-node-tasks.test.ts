// A mix whose publishers are on several nodes (issue 20): two real gateway processes share one real Redis; ffmpeg
// publishes red (500 Hz) over RTMP to node A and blue (1300 Hz) to node B; a mixed recording (RecordMode 2) runs on
// node B, started through the official SDK. Red reaches B's compositor over the internal feed link
// (src/mix/feed-link.ts). The MP4 B writes is decoded: red in the grid's left tile and blue in the right while both
// publish, both tones in the mix, and blue alone on the whole canvas once red has left node A.
// The other way round, a mixed CDN relay (WithTranscoding 1) on node A takes red from node B: nginx-rtmp, the CDN,
// plays both tiles and both tones. The link serves nodes only: a request without the cluster's key is refused.
// A single-stream relay started on node A for a user publishing on node B moves to node B, and the CDN plays it.

import t from 'tap';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { clusterNode } from '../helpers/cluster-node.js';
import { startRedis } from '../helpers/redis-server.js';
import { colourDistance, ffprobe, regionColour } from '../helpers/probe.js';
import { pcmAt, toneAmplitude } from '../mix/mix-media.js';
import { startRtmpReceiver } from '../relay/rtmp-receiver.js';

t.setTimeout(150_000);
const { sdkAppId } = TEST_APP;
const ROOM = 'split-room';
const RED = { rgb: [255, 0, 0], hz: 500 };
const BLUE = { rgb: [0, 0, 255], hz: 1300 };

const redis = await startRedis();
t.teardown(() => redis.close());
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());
const dirB = await mkdtemp(join(tmpdir(), 'mix-node-b-'));
const node = (id: string, dir: string) =>
  clusterNode(t, {
    id, redisUrl: redis.url, prefix: 'rg-xmix:', callbackUrl: rx.url, leaseMs: 3000,
    config: { recording: { dir, hlsSegmentSeconds: 2 }, pull: { allow: ['127.0.0.1'] } },
    logged: (l) => l.level >= 40 || /mix|remote/.test(String(l.msg)),
  });
const [a, b] = await Promise.all([node('node-a', await mkdtemp(join(tmpdir(), 'mix-node-a-'))), node('node-b', dirB)]);

t.test('a mixed recording on node B takes a publisher of node A through the feed link', async (t) => {
  const { TaskId } = await b.client.CreateCloudRecording({
    SdkAppId: sdkAppId, RoomId: ROOM, RoomIdType: 0, UserId: 'mixer', UserSig: officialUserSig('mixer'),
    RecordParams: { RecordMode: 2, OutputFormat: 1, MaxIdleTime: 60 },
    MixTranscodeParams: {
      VideoParams: { Width: 640, Height: 360, Fps: 15, BitRate: 800000, Gop: 1 },
      AudioParams: { SampleRate: 1, Channel: 1, BitRate: 64000 },
    },
    MixLayoutParams: { MixLayoutMode: 3, BackGroundColor: '#000000' },
    StorageParams: {},
  } as never);
  const taskId = TaskId!;

  // red on node A first (the left tile: the grid orders by arrival in the mix), then blue on node B
  const red = ffmpegPushColour(a.pushUrl(ROOM, 'red_user'), 'red', 12, { hz: RED.hz, sampleRate: 48000, audioBitrate: '96k' });
  t.teardown(() => red.stop());
  await waitFor(() => a.logs.some((l) => l.msg === 'a node takes this publisher into its mix' && l.userId === 'red_user'), 20_000, "node B's mix linked to red on node A");
  const blue = ffmpegPushColour(b.pushUrl(ROOM, 'blue_user'), 'blue', 20, { hz: BLUE.hz, sampleRate: 48000, audioBitrate: '96k' });
  t.teardown(() => blue.stop());
  await Promise.all([red.exited, blue.exited]);

  await b.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => rx.events(302, taskId).length > 0, 30_000, '302');
  const files = await readdir(join(dirB, taskId));
  const mp4 = files.find((x) => x.endsWith('.mp4'));
  const m3u8 = files.find((x) => x.endsWith('.m3u8'));
  if (!mp4 || !m3u8) throw new Error(`missing files: ${files.join(', ')}`);
  const file = join(dirB, taskId, mp4);
  const probe = await ffprobe(file);
  t.match(probe.streams.find((s) => s.codec_type === 'video'), { codec_name: 'h264', width: 640, height: 360 }, 'the mixed picture, as asked');

  // when both published: the last seconds before red's 12 s ended, found from the frames' own times in the file
  const { stdout } = await promisify(execFile)('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file]);
  const times = stdout.split('\n').map(Number).filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  const end = times[times.length - 1]!;
  let both = -1;
  for (let at = end - 10; at > 0.5; at -= 0.5) {
    const [left, right] = await Promise.all([regionColour(file, at, { x: 0.15, y: 0.3, w: 0.2, h: 0.4 }), regionColour(file, at, { x: 0.65, y: 0.3, w: 0.2, h: 0.4 })]);
    if (colourDistance(left, RED.rgb) < 90 && colourDistance(right, BLUE.rgb) < 90) {
      both = at;
      break;
    }
  }
  t.ok(both > 0, `red (node A) in the left tile and blue (node B) in the right, at ${both.toFixed(1)} s of ${end.toFixed(1)} s`);
  const pcm = await pcmAt(join(dirB, taskId, m3u8), Math.max(0, both - 1), 1.5);
  const floor = toneAmplitude(pcm, 3300);
  for (const [name, c] of [['red', RED], ['blue', BLUE]] as const) {
    const level = toneAmplitude(pcm, c.hz);
    t.ok(level > 0.005 && level > 10 * floor, `${name}'s ${c.hz} Hz is in the mix (${level.toFixed(4)} vs ${floor.toFixed(5)} at 3.3 kHz)`);
  }
  const alone = await regionColour(file, end - 1.5, { x: 0.3, y: 0.3, w: 0.4, h: 0.4 });
  t.ok(colourDistance(alone, BLUE.rgb) < 90, `after red left node A, blue fills the canvas: rgb(${alone.join(',')})`);
});

t.test('a mixed relay on node A takes a publisher of node B; the CDN plays both', async (t) => {
  const cdn = await startRtmpReceiver();
  t.teardown(() => cdn.close());
  const room = 'split-relay';
  const { TaskId } = await a.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 1,
    AgentParams: { UserId: 'mix_agent', UserSig: officialUserSig('mix_agent'), MaxIdleTime: 60 },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 1, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 640, Height: 360, Fps: 15, BitRate: 800, Gop: 1 }, LayoutParams: { MixLayoutMode: 3 } },
    PublishCdnParams: [{ PublishCdnUrl: cdn.url('split') }],
  });
  const taskId = TaskId!;
  const red = ffmpegPushColour(b.pushUrl(room, 'red_user'), 'red', 60, { hz: RED.hz, sampleRate: 48000 });
  t.teardown(() => red.stop());
  await waitFor(() => b.logs.some((l) => l.msg === 'a node takes this publisher into its mix' && l.room === room), 20_000, "node A's relay linked to red on node B");
  const blue = ffmpegPushColour(a.pushUrl(room, 'blue_user'), 'blue', 60, { hz: BLUE.hz, sampleRate: 48000 });
  t.teardown(() => blue.stop());
  await waitFor(() => rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 2), 30_000, '401 RUNNING');

  const tiles = await waitFor(async () => {
    const left = await cdn.centreColour('split', { x: 0.15, y: 0.3, w: 0.2, h: 0.4 });
    const right = await cdn.centreColour('split', { x: 0.65, y: 0.3, w: 0.2, h: 0.4 });
    return colourDistance(left, RED.rgb) < 90 && colourDistance(right, BLUE.rgb) < 90 ? { left, right } : null;
  }, 30_000, 'red left and blue right at the CDN');
  t.ok(tiles, `the CDN plays red (node B) left, rgb(${tiles.left.join(',')}), and blue (node A) right, rgb(${tiles.right.join(',')})`);
  const pcm = await cdn.pcm('split', 2);
  const second = pcm.subarray(Math.max(0, pcm.length - 48000));
  const floor = toneAmplitude(second, 3300);
  for (const [name, c] of [['red', RED], ['blue', BLUE]] as const) {
    const level = toneAmplitude(second, c.hz);
    t.ok(level > 0.005 && level > 10 * floor, `${name}'s ${c.hz} Hz at the CDN (${level.toFixed(4)} vs ${floor.toFixed(5)} at 3.3 kHz)`);
  }
  await a.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 0), 15_000, '401 IDLE');
  await waitFor(() => b.logs.some((l) => l.msg === 'a node stopped taking this publisher' && l.room === room), 10_000, 'the link closed on node B');
});

t.test('a single-stream relay started on node A for a user on node B moves to node B', async (t) => {
  const cdn = await startRtmpReceiver();
  t.teardown(() => cdn.close());
  const room = 'follow-room';
  const red = ffmpegPushColour(b.pushUrl(room, 'red_user'), 'red', 60, { hz: RED.hz, sampleRate: 48000 });
  t.teardown(() => red.stop());
  await waitFor(() => b.logs.some((l) => l.msg === 'user joined' && l.userId === 'red_user'), 20_000, 'red on node B');
  const { TaskId } = await a.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: 'relay_agent', UserSig: officialUserSig('relay_agent'), MaxIdleTime: 60 },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: 'red_user' } } },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 1, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 320, Height: 240, Fps: 30, BitRate: 500, Gop: 1 } },
    PublishCdnParams: [{ PublishCdnUrl: cdn.url('follow') }],
  } as never);
  const taskId = TaskId!;
  await waitFor(() => a.logs.some((l) => l.msg === 'the relayed user publishes on another node: the relay moves there' && l.taskId === taskId), 20_000, 'node A hands the relay over');
  await waitFor(() => rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 2), 30_000, '401 RUNNING');
  const seen = await waitFor(async () => {
    const c = await cdn.centreColour('follow');
    return colourDistance(c, RED.rgb) < 90 ? c : null;
  }, 30_000, 'red at the CDN');
  t.ok(seen, `the CDN plays red, relayed by node B: rgb(${seen.join(',')})`);
  // the Stop sent to node A reaches node B, which runs the relay now
  await a.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 0), 15_000, '401 IDLE');
  const statuses = rx.events(401, taskId).map((e) => e.EventInfo.Payload.Status);
  t.equal(statuses.filter((x) => x === 2).length, 1, `one RUNNING, from node B (401s: ${statuses.join(', ')})`);
});

t.test('the feed link answers only nodes of the cluster', async (t) => {
  const path = `/internal/feed/${sdkAppId}/${ROOM}/red_user`;
  const none = await fetch(a.httpBase + path);
  t.equal(none.status, 403, 'no key: 403');
  const wrong = await fetch(a.httpBase + path, { headers: { 'x-roomgate-link-key': 'guess' } });
  t.equal(wrong.status, 403, 'a wrong key: 403');
  t.match(await wrong.text(), /link key/, 'and it says why');
});
