// A mixed relay's AudioParams lists, through the official SDK: two ffmpeg RTMP publishers send a 440 Hz (red) and an
// 880 Hz (blue) tone at the same level; what nginx-rtmp serves is decoded and each tone measured (Goertzel). Start
// with an allowlist of red: only 440 Hz. Update to everyone but a blocklisted red: only 880 Hz. Update to an allowlist
// with blue at SoundLevel 25: both, 880 Hz at a quarter of 440 Hz. Pictures and the CDN session stay throughout.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { apiError } from '../helpers/api3.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { colourDistance } from '../helpers/probe.js';
import { toneAmplitude } from '../mix/mix-media.js';
import { startRelayFixture } from './rtmp-receiver.js';

const { cdn: receiver, f } = await startRelayFixture();
const { sdkAppId } = TEST_APP;
const RED = 'red_user';
const BLUE = 'blue_user';
const user = (UserId: string, SoundLevel?: number) => ({ UserInfo: { UserId }, ...(SoundLevel === undefined ? {} : { SoundLevel }) });

function push(room: string, colour: 'red' | 'blue', hz: number) {
  return ffmpegPushColour(f.g.pushUrl(room, `${colour}_user`), colour, 90, { fps: 25, hz, sampleRate: 48000 });
}

function startReq(room: string, url: string, lists: Record<string, unknown>): any {
  return {
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 1,
    AgentParams: { UserId: 'mix_agent', UserSig: officialUserSig('mix_agent') },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 1, BitRate: 64 }, ...lists },
    VideoParams: { VideoEncode: { Width: 640, Height: 360, Fps: 25, BitRate: 800, Gop: 1 }, LayoutParams: { MixLayoutMode: 3 } },
    PublishCdnParams: [{ PublishCdnUrl: url }],
  };
}

/** The levels of both tones in the last second of 2 s of what the receiver plays, and the noise floor beside them. */
async function tones(stream: string) {
  const pcm = await receiver.pcm(stream, 2);
  const second = pcm.subarray(Math.max(0, pcm.length - 48000));
  return { a440: toneAmplitude(second, 440), a880: toneAmplitude(second, 880), floor: toneAmplitude(second, 3300) };
}
const show = (l: { a440: number; a880: number; floor: number }) => `440 Hz ${l.a440.toFixed(4)}, 880 Hz ${l.a880.toFixed(4)}, 3.3 kHz ${l.floor.toFixed(5)}`;
const heard = (x: number, floor: number) => x > 0.005 && x > 10 * floor;

t.test('allowlist, blocklist and SoundLevel decide what the mixed relay sounds like, and Update changes it live', async (t) => {
  const room = 'relay-mixed-audio';
  const url = receiver.url('mixed-audio');
  const red = push(room, 'red', 440);
  await waitFor(async () => (await f.users(room)).some((u) => u.userId === RED), 10000, 'red in the room');
  const blue = push(room, 'blue', 880);
  await waitFor(async () => (await f.users(room)).some((u) => u.userId === BLUE), 10000, 'blue in the room');

  const { TaskId } = await f.client.StartPublishCdnStream(startReq(room, url, { SubscribeAudioList: [user(RED)], UnSubscribeAudioList: [] }));
  const taskId = TaskId!;
  await waitFor(() => f.rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 2), 30000, '401 RUNNING');
  const onlyRed = await waitFor(async () => {
    const l = await tones('mixed-audio');
    return heard(l.a440, l.floor) && l.a880 < l.a440 / 20 ? l : null;
  }, 20000, 'only 440 Hz');
  t.ok(onlyRed, `allowlist [red]: red's tone alone (${show(onlyRed)})`);

  await f.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 1, WithTranscoding: 1,
    AudioParams: { SubscribeAudioList: [], UnSubscribeAudioList: [user(RED)] },
  });
  const onlyBlue = await waitFor(async () => {
    const l = await tones('mixed-audio');
    return heard(l.a880, l.floor) && l.a440 < l.a880 / 20 ? l : null;
  }, 20000, 'only 880 Hz');
  t.ok(onlyBlue, `everyone but blocklisted red: blue's tone alone (${show(onlyBlue)})`);

  await f.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 2, WithTranscoding: 1,
    AudioParams: { SubscribeAudioList: [user(RED, 100), user(BLUE, 25)], UnSubscribeAudioList: [] },
  });
  const quarter = await waitFor(async () => {
    const l = await tones('mixed-audio');
    return heard(l.a440, l.floor) && heard(l.a880, l.floor) ? l : null;
  }, 20000, 'both tones');
  // The first window with both tones may straddle the Update (blue still at 100 in its first part, as a CDN player
  // starts a little behind the live edge): the ratio is read from the next window, wholly after it.
  const settled = await tones('mixed-audio');
  t.ok(heard(settled.a440, settled.floor) && heard(settled.a880, settled.floor), `both tones still heard (${show(settled)}; first ${show(quarter)})`);
  const ratio = settled.a880 / settled.a440;
  t.ok(ratio > 0.18 && ratio < 0.33, `SoundLevel 25 for blue: 880 Hz at ${ratio.toFixed(2)} of 440 Hz (${show(settled)})`);

  const elsewhere = await apiError(f.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 3, WithTranscoding: 1,
    AudioParams: { UnSubscribeAudioList: [{ UserInfo: { UserId: BLUE, RoomId: 'other-room' } }] },
  }));
  t.match(elsewhere, { code: 'FailedOperation.CRUnsupportMethod', message: /room 'other-room'.*own room/ }, 'an Update naming a user of another room is refused as Start refuses it');

  // the pictures never left: grid, red first in on the left
  const left = await receiver.centreColour('mixed-audio', { x: 0.15, y: 0.3, w: 0.2, h: 0.4 });
  const right = await receiver.centreColour('mixed-audio', { x: 0.65, y: 0.3, w: 0.2, h: 0.4 });
  t.ok(colourDistance(left, [255, 0, 0]) < 90 && colourDistance(right, [0, 0, 255]) < 90, `both tiles still shown: rgb(${left.join(',')}) and rgb(${right.join(',')})`);

  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  red.stop();
  blue.stop();
  await Promise.all([red.exited, blue.exited]);
  await waitFor(() => f.rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 0), 10000, '401 IDLE');
  t.same(f.rx.events(401, taskId).map((e) => e.EventInfo.Payload.Status), [1, 2, 5, 0], 'one CDN session through every change');
});

t.test('audio lists that cannot be honoured are refused, saying why', async (t) => {
  const url = receiver.url('refused');
  const code = async (req: any) => {
    const e = await apiError(f.client.StartPublishCdnStream(req));
    return `${e.code}: ${e.message}`;
  };
  t.match(await code(startReq('lists', url, { SubscribeAudioList: [{ UserInfo: { UserId: RED, RoomId: 'other-room' } }] })),
    /^FailedOperation\.CRUnsupportMethod: .*room 'other-room'.*own room/, 'a user of another room (cross-room mixing)');
  t.match(await code(startReq('lists', url, { SubscribeAudioList: [user(RED), user(RED)] })), /^InvalidParameter: .*names 'red_user' twice/, 'a user named twice');
  t.match(await code(startReq('lists', url, { SubscribeAudioList: [user(RED, 101)] })), /^InvalidParameter: .*SoundLevel must be an integer from 0 to 100/, 'SoundLevel above 100');
  t.match(await code(startReq('lists', url, { UnSubscribeAudioList: [{ SoundLevel: 5 }] })), /^MissingParameter: .*UnSubscribeAudioList\[0\]\.UserInfo is missing/, 'an entry without its user');
  const single = {
    ...startReq('lists', url, { SubscribeAudioList: [user(RED)] }),
    WithTranscoding: 0, SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: RED } } },
  };
  t.match(await code(single), /^InvalidParameter: .*single-stream relay relays its one user's audio/, 'lists on a single-stream relay');
});
