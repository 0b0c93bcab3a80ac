// MaxVideoUser in a mixed relay (WithTranscoding 1): three ffmpeg RTMP publishers in solid red, green and blue enter
// in that order; the official SDK starts a floating layout (MixLayoutMode 1) to nginx-rtmp. Without MaxVideoUser the
// first to enter (red) fills the canvas; Update naming the second (green) gives it the big picture, the others float
// small from the bottom left in entry order; then the screen-share layout (MixLayoutMode 2) with the same user puts
// green big on the left — fitted whole, as TRTC's MCU does: the 4:3 picture leaves bars above and below in the
// 512×480 slot — and the others in the right column. Tile colours are read from frames the CDN serves.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { apiError } from '../helpers/api3.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { colourDistance } from '../helpers/probe.js';
import { startRelayFixture } from './rtmp-receiver.js';

const { cdn: rtmp, f } = await startRelayFixture();
const { sdkAppId } = TEST_APP;
const room = 'relay-max-video';
const RGB: Record<string, readonly number[]> = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255], black: [0, 0, 0] };
type Region = { x: number; y: number; w: number; h: number };

/** Waits until every region shows its colour at the CDN; resolves what was seen. */
async function shows(stream: string, want: [Region, string][], what: string): Promise<string> {
  return waitFor(async () => {
    const seen = await Promise.all(want.map(([r]) => rtmp.centreColour(stream, r)));
    return want.every(([, c], i) => colourDistance(seen[i]!, RGB[c]!) < 90) ? seen.map((s, i) => `${want[i]![1]} rgb(${s.join(',')})`).join(', ') : null;
  }, 20000, what);
}

const maxVideoUser = (userId: string, info: Record<string, unknown> = {}, stream: Record<string, unknown> = {}) =>
  ({ UserMediaStream: { UserInfo: { UserId: userId, ...info }, ...stream } });

t.test('MaxVideoUser takes the big picture of the floating and screen-share layouts', async (t) => {
  const url = rtmp.url('max');
  const pushes = [];
  for (const [colour, ffmpegColour] of [['red', 'red'], ['green', 'lime'], ['blue', 'blue']]) {
    pushes.push(ffmpegPushColour(f.g.pushUrl(room, `${colour}_user`), ffmpegColour!, 60, { fps: 25, sampleRate: 48000 }));
    // one at a time: entry order decides who is "first" and the order of the small pictures
    await waitFor(async () => (await f.users(room)).some((u) => u.userId === `${colour}_user`), 10000, `${colour} in the room`);
  }
  const { TaskId } = await f.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 1,
    AgentParams: { UserId: 'max_agent', UserSig: officialUserSig('max_agent') },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 2, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 640, Height: 480, Fps: 25, BitRate: 800, Gop: 1 }, LayoutParams: { MixLayoutMode: 1 } },
    PublishCdnParams: [{ PublishCdnUrl: url }],
  });
  const taskId = TaskId!;
  await waitFor(() => f.rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 2), 30000, '401 RUNNING');

  // floating: the big picture is the whole canvas; small ones are 0.235 of it, 0.012 from the left and bottom edges
  const bigArea = { x: 0.6, y: 0.1, w: 0.3, h: 0.3 };
  const small1 = { x: 0.05, y: 0.8, w: 0.15, h: 0.15 };
  const small2 = { x: 0.3, y: 0.8, w: 0.15, h: 0.15 };
  t.ok(await shows('max', [[bigArea, 'red'], [small1, 'green'], [small2, 'blue']], 'floating, red big'), 'no MaxVideoUser: the first to enter (red) is big, green and blue small');

  await f.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 1, WithTranscoding: 1,
    VideoParams: { LayoutParams: { MixLayoutMode: 1, MaxVideoUser: maxVideoUser('green_user', { RoomId: room, RoomIdType: 1 }) } },
  });
  const floating = await shows('max', [[bigArea, 'green'], [small1, 'red'], [small2, 'blue']], 'floating, green big');
  t.ok(floating, `MaxVideoUser green_user: green big, red and blue small in entry order (${floating})`);

  await f.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 2, WithTranscoding: 1,
    VideoParams: { LayoutParams: { MixLayoutMode: 2, MaxVideoUser: maxVideoUser('green_user') } },
  });
  // screen-share with 3 pictures: big 4/5 of the width on the left (512×480: the 320×240 picture fitted is 512×384,
  // 48-pixel bars of background above and below), a column of quarters on the right (cropped to fill)
  const share = await shows('max', [
    [{ x: 0.2, y: 0.3, w: 0.4, h: 0.4 }, 'green'],
    [{ x: 0.2, y: 0.01, w: 0.4, h: 0.07 }, 'black'],
    [{ x: 0.2, y: 0.92, w: 0.4, h: 0.07 }, 'black'],
    [{ x: 0.85, y: 0.05, w: 0.1, h: 0.15 }, 'red'],
    [{ x: 0.85, y: 0.3, w: 0.1, h: 0.15 }, 'blue'],
    [{ x: 0.85, y: 0.8, w: 0.1, h: 0.15 }, 'black'],
  ], 'screen-share, green big');
  t.ok(share, `screen-share: green big on the left with bars, red then blue down the right, the rest background (${share})`);

  const elsewhere = await apiError(f.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 3, WithTranscoding: 1,
    VideoParams: { LayoutParams: { MixLayoutMode: 2, MaxVideoUser: maxVideoUser('red_user', { RoomId: 'other-room', RoomIdType: 1 }) } },
  }));
  t.match(elsewhere, { code: 'InvalidParameter', message: /^VideoParams\.LayoutParams\.MaxVideoUser\.UserMediaStream\.UserInfo names string room 'other-room'.*big picture/ }, 'a big picture from another room is refused');
  const screen = await apiError(f.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 3, WithTranscoding: 1,
    VideoParams: { LayoutParams: { MixLayoutMode: 2, MaxVideoUser: maxVideoUser('red_user', {}, { StreamType: 1 }) } },
  }));
  t.match(screen, { code: 'FailedOperation.CRUnsupportMethod', message: /StreamType 1 \(screen share\)/ }, 'a screen-share stream is refused: one stream per user here');

  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  for (const p of pushes) p.stop();
  await Promise.all(pushes.map((p) => p.exited));
  await waitFor(() => f.rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 0), 10000, '401 IDLE');
  t.same(f.rx.events(401, taskId).map((e) => e.EventInfo.Payload.Status), [1, 2, 5, 0], 'one session through both layout changes');
});
