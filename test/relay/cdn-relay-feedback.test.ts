// FeedBackRoomParams: a mixed relay's picture enters rooms as a user. Two ffmpeg publishers (red, blue) in one room
// are mixed (grid) with no CDN URL at all; the mix enters another room as `mix_out` and its own room as `mix_back`.
// Real clients read it there: Debian's aiortc plays `mix_out` over WHEP and decodes the canvas and the audio, and a
// second relay (single-stream) of `mix_out` to nginx-rtmp shows the grid's tiles: red left, blue right — two tiles,
// so `mix_back` was not mixed into itself. The callbacks announce both users like any publisher (103 as anchors),
// an Update that drops `mix_out` makes it leave (104), and Stop takes `mix_back` out.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { apiError } from '../helpers/api3.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { colourDistance } from '../helpers/probe.js';
import { aiortcViewer, whepTarget } from '../helpers/viewers.js';
import { startRelayFixture } from './rtmp-receiver.js';

const { cdn, f } = await startRelayFixture({
  webrtc: { hostAddresses: ['127.0.0.1'], announcedAddresses: [], udpPortMin: 43300, udpPortMax: 43399 },
});
const { sdkAppId } = TEST_APP;
const SRC = 'fb-src';
const OUT = 'fb-out';
const back = (room: string, userId: string) => ({ RoomId: room, RoomIdType: 1, UserId: userId, UserSig: officialUserSig(userId) });
const roomEvents = (type: number, room: string, userId: string) =>
  f.rx.events(type).filter((b) => b.EventInfo?.RoomId === room && b.EventInfo?.UserId === userId);

t.test('the mix enters two rooms as a user; WHEP plays it, a relay of it shows the grid; Update and Stop take it out', async (t) => {
  const red = ffmpegPushColour(f.g.pushUrl(SRC, 'red_user'), 'red', 60, { fps: 25, sampleRate: 48000 });
  await waitFor(async () => (await f.users(SRC)).some((u) => u.userId === 'red_user'), 10000, 'red in the room');
  const blue = ffmpegPushColour(f.g.pushUrl(SRC, 'blue_user'), 'blue', 60, { fps: 25, hz: 880, sampleRate: 48000 });
  t.teardown(() => (red.stop(), blue.stop()));
  await waitFor(async () => (await f.users(SRC)).some((u) => u.userId === 'blue_user'), 10000, 'blue in the room');
  const { TaskId } = await f.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: SRC, RoomIdType: 1, WithTranscoding: 1,
    AgentParams: { UserId: 'fb_agent', UserSig: officialUserSig('fb_agent') },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 2, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 640, Height: 360, Fps: 25, BitRate: 800, Gop: 1 }, LayoutParams: { MixLayoutMode: 3 } },
    FeedBackRoomParams: [back(OUT, 'mix_out'), back(SRC, 'mix_back')],
  });
  const taskId = TaskId!;
  await waitFor(() => roomEvents(103, OUT, 'mix_out').length > 0 && roomEvents(201, OUT, 'mix_out').length > 0, 30000, '103 and 201 for mix_out');
  t.match(roomEvents(103, OUT, 'mix_out')[0].EventInfo, { Role: 20 }, 'mix_out entered as an anchor');
  const users = await f.users(SRC);
  t.ok(users.some((u) => u.userId === 'mix_back' && u.source === 'relay'), 'mix_back publishes in its own room, source relay');

  const viewer = await aiortcViewer({ ...whepTarget(f.g.httpBase, OUT, 'fb_viewer'), seconds: 6 });
  t.equal(viewer.code, 0, `the WHEP viewer ran: ${viewer.output.slice(-300)}`);
  t.match(viewer.result, { width: 640, height: 360 }, 'it decoded the canvas');
  t.ok(viewer.result!.frames >= 50, `${viewer.result!.frames} frames decoded in 6 s`);
  t.ok(viewer.result!.audio_rms > 0.01, `and the mixed audio (rms ${viewer.result!.audio_rms.toFixed(3)})`);

  // a relay of the room it entered takes it like any user's stream
  const probe = await f.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: OUT, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: 'probe_agent', UserSig: officialUserSig('probe_agent') },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: 'mix_out' } } },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 2, BitRate: 64 } }, VideoParams: {},
    PublishCdnParams: [{ PublishCdnUrl: cdn.url('fb') }],
  });
  await waitFor(() => f.rx.events(401, probe.TaskId).some((e) => e.EventInfo.Payload.Status === 2), 30000, '401 RUNNING of the probe relay');
  const LEFT = { x: 0.15, y: 0.3, w: 0.2, h: 0.4 };
  const RIGHT = { x: 0.65, y: 0.3, w: 0.2, h: 0.4 };
  const left = await cdn.centreColour('fb', LEFT);
  const right = await cdn.centreColour('fb', RIGHT);
  t.ok(colourDistance(left, [255, 0, 0]) < 90 && colourDistance(right, [0, 0, 255]) < 90,
    `two tiles, red left rgb(${left.join(',')}), blue right rgb(${right.join(',')}): mix_back is not in its own mix`);
  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: probe.TaskId! });

  const bad = await apiError(f.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 1, WithTranscoding: 1, FeedBackRoomParams: [{ ...back(OUT, 'mix_out'), UserSig: 'forged' }],
  }));
  t.equal(bad.code, 'InvalidParameter.UserSig', 'a FeedBackRoomParams UserSig is verified');
  await f.client.UpdatePublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 2, WithTranscoding: 1, FeedBackRoomParams: [back(SRC, 'mix_back')] });
  await waitFor(() => roomEvents(104, OUT, 'mix_out').length > 0, 10000, '104 for mix_out');
  t.equal(roomEvents(104, SRC, 'mix_back').length, 0, 'mix_back stayed');
  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => roomEvents(104, SRC, 'mix_back').length > 0, 10000, '104 for mix_back');
  t.notOk((await f.users(SRC)).some((u) => u.userId === 'mix_back'), 'gone from the room');
});

t.test('FeedBackRoomParams refusals name the field', async (t) => {
  const req = (extra: Record<string, unknown>) => ({
    SdkAppId: sdkAppId, RoomId: 'fb-errors', RoomIdType: 1, WithTranscoding: 1,
    AgentParams: { UserId: 'fb_err', UserSig: officialUserSig('fb_err') },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 2, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 640, Height: 360, Fps: 25, BitRate: 800, Gop: 1 } },
    ...extra,
  });
  const err = async (extra: Record<string, unknown>) => apiError(f.client.StartPublishCdnStream(req(extra)));
  const noTarget = await err({});
  t.match(noTarget, { code: 'MissingParameter', message: /PublishCdnParams.*or FeedBackRoomParams/ });
  const noSig = await err({ FeedBackRoomParams: [{ RoomId: 'x', RoomIdType: 1, UserId: 'u' }] });
  t.match(noSig, { code: 'MissingParameter', message: /FeedBackRoomParams\[0\]\.UserSig/ });
  const twice = await err({ FeedBackRoomParams: [back('x', 'u'), back('x', 'u')] });
  t.match(twice, { code: 'InvalidParameter', message: /twice/ });
  const badRoom = await err({ FeedBackRoomParams: [{ ...back('abc', 'u'), RoomIdType: 0 }] });
  t.match(badRoom, { code: 'InvalidParameter', message: /^FeedBackRoomParams\[0\]\.RoomId/ });
});
