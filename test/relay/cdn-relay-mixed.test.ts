// Mixed relay (WithTranscoding 1) end to end: two ffmpeg RTMP publishers push solid red and blue; the official SDK
// starts a mixed relay (grid) to nginx-rtmp; a frame decoded from what it serves has each colour in the tile the grid gives
// it. Update then sends a custom layout swapping the two, and the CDN's picture follows without a new session.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { colourDistance } from '../helpers/probe.js';
import { toneAmplitude } from '../mix/mix-media.js';
import { startRelayFixture } from './rtmp-receiver.js';

const { cdn: srs, f } = await startRelayFixture();
const { sdkAppId } = TEST_APP;
const RGB = { red: [255, 0, 0], blue: [0, 0, 255] } as const;
const LEFT = { x: 0.15, y: 0.3, w: 0.2, h: 0.4 };
const RIGHT = { x: 0.65, y: 0.3, w: 0.2, h: 0.4 };

function push(room: string, colour: 'red' | 'blue', hz: number, seconds: number) {
  return ffmpegPushColour(f.g.pushUrl(room, `${colour}_user`), colour, seconds, { fps: 25, hz, sampleRate: 48000 });
}

t.test('mixed relay of 2 publishers: grid tiles at the CDN, then a custom layout by Update', async (t) => {
  const room = 'relay-mixed';
  const url = srs.url('mixed');
  const red = push(room, 'red', 440, 40);
  await waitFor(async () => (await f.users(room)).some((u) => u.userId === 'red_user'), 10000, 'red in the room');
  const blue = push(room, 'blue', 880, 40);
  await waitFor(async () => (await f.users(room)).some((u) => u.userId === 'blue_user'), 10000, 'blue in the room');
  const { TaskId } = await f.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 1,
    AgentParams: { UserId: 'mix_agent', UserSig: officialUserSig('mix_agent') },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 2, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 640, Height: 360, Fps: 25, BitRate: 800, Gop: 1 }, LayoutParams: { MixLayoutMode: 3 }, BackGroundColor: '0x000000' },
    PublishCdnParams: [{ PublishCdnUrl: url }],
  });
  const taskId = TaskId!;
  await waitFor(() => f.rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 2), 30000, '401 RUNNING');
  const probed = await srs.probe('mixed');
  t.match(probed.streams.find((s) => s.codec_type === 'video'), { codec_name: 'h264', width: 640, height: 360 }, 'the canvas, H.264');
  t.match(probed.streams.find((s) => s.codec_type === 'audio'), { codec_name: 'aac', sample_rate: '48000', channels: 2 }, 'the audio mix, AAC');
  const pcm = await srs.pcm('mixed', 2);
  const second = pcm.subarray(pcm.length - 48000);
  const absent = toneAmplitude(second, 3300);
  for (const hz of [440, 880]) {
    const level = toneAmplitude(second, hz);
    t.ok(level > 10 * absent && level > 0.005, `${hz} Hz is in the relayed mix (${level.toFixed(4)} vs ${absent.toFixed(5)} at 3.3 kHz)`);
  }
  const tiles = async () => ({ left: await srs.centreColour('mixed', LEFT), right: await srs.centreColour('mixed', RIGHT) });
  // entry order: red (first in) on the left, blue on the right
  const grid = await waitFor(async () => {
    const s = await tiles();
    return colourDistance(s.left, RGB.red) < 90 && colourDistance(s.right, RGB.blue) < 90 ? s : null;
  }, 15000, 'red left, blue right');
  t.ok(grid, `grid: red left rgb(${grid.left.join(',')}), blue right rgb(${grid.right.join(',')})`);

  await f.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 1, WithTranscoding: 1,
    VideoParams: {
      LayoutParams: {
        MixLayoutMode: 4,
        MixLayoutList: [
          { UserMediaStream: { UserInfo: { UserId: 'blue_user' } }, LocationX: 0, LocationY: 0, ImageWidth: 320, ImageHeight: 360 },
          { UserMediaStream: { UserInfo: { UserId: 'red_user' } }, LocationX: 320, LocationY: 0, ImageWidth: 320, ImageHeight: 360 },
        ],
      },
    },
  });
  const swapped = await waitFor(async () => {
    const s = await tiles();
    return colourDistance(s.left, RGB.blue) < 90 && colourDistance(s.right, RGB.red) < 90 ? s : null;
  }, 15000, 'blue left, red right');
  t.ok(swapped, `custom layout: blue left rgb(${swapped.left.join(',')}), red right rgb(${swapped.right.join(',')})`);

  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  red.stop();
  blue.stop();
  await Promise.all([red.exited, blue.exited]);
  await waitFor(() => f.rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 0), 10000, '401 IDLE');
  t.same(f.rx.events(401, taskId).map((e) => e.EventInfo.Payload.Status), [1, 2, 5, 0], 'one session through the layout change');
});
