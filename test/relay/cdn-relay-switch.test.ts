// A single-stream relay (WithTranscoding 0) switched from one user to another by UpdatePublishCdnStream's
// SingleSubscribeParams: two ffmpeg RTMP publishers in red and blue, the official SDK, nginx-rtmp as the CDN. The CDN's
// session stays (one CONNECTING, one RUNNING, no RECOVERING), a player connected before the switch keeps playing
// through it, red then blue. A UserInfo naming another room than the task's is refused, in Start and Update alike.

import t from 'tap';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { apiError } from '../helpers/api3.js';
import { ffmpegPushColour, run } from '../helpers/clients.js';
import { dominant, playedSeconds, regionColour } from '../helpers/probe.js';
import { startRelayFixture } from './rtmp-receiver.js';

const { cdn: rtmp, f } = await startRelayFixture();
const { sdkAppId } = TEST_APP;
const room = 'relay-switch';

const statuses = (taskId: string): number[] => f.rx.events(401, taskId).map((e) => e.EventInfo.Payload.Status as number);

function subscribe(userId: string, roomInfo: Record<string, unknown> = {}) {
  return { UserMediaStream: { UserInfo: { UserId: userId, ...roomInfo } } };
}

function startReq(agent: string, userId: string, url: string, roomInfo: Record<string, unknown> = {}): any {
  return {
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: agent, UserSig: officialUserSig(agent) },
    SingleSubscribeParams: subscribe(userId, roomInfo),
    AudioParams: { AudioEncode: { SampleRate: 44100, Channel: 1, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 320, Height: 240, Fps: 25, BitRate: 500, Gop: 1 } },
    PublishCdnParams: [{ PublishCdnUrl: url, IsTencentCdn: 0 }],
  };
}

t.test('Update switches the relayed user: one CDN session, the receiver plays the new user', async (t) => {
  const url = rtmp.url('switch');
  const red = ffmpegPushColour(f.g.pushUrl(room, 'red_user'), 'red', 60, { fps: 25 });
  const blue = ffmpegPushColour(f.g.pushUrl(room, 'blue_user'), 'blue', 60, { fps: 25, hz: 880 });
  await waitFor(async () => (await f.users(room)).filter((u) => ['red_user', 'blue_user'].includes(u.userId)).length === 2, 10000, 'both publishers in the room');

  const { TaskId } = await f.client.StartPublishCdnStream(startReq('switch_agent', 'red_user', url));
  const taskId = TaskId!;
  await waitFor(() => statuses(taskId).includes(2), 20000, '401 RUNNING');
  const live = async () => dominant(await rtmp.centreColour('switch'));
  t.equal(await waitFor(async () => ((await live()) === 'red' ? 'red' : null), 15000, 'red at the CDN'), 'red', 'the CDN plays red_user');

  // a player on the CDN from before the switch to the end, saving what it gets
  const saved = join(mkdtempSync(join(tmpdir(), 'rg-relay-switch-')), 'played.flv');
  const player = run('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-rw_timeout', '4000000', '-i', url, '-c', 'copy', '-flush_packets', '1', '-f', 'flv', saved], 90_000);
  await waitFor(() => existsSync(saved) && statSync(saved).size > 4096, 15000, 'the player receiving red_user');

  // the task's own room may be named: it is the same room
  await f.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 1, WithTranscoding: 0,
    SingleSubscribeParams: subscribe('blue_user', { RoomId: room, RoomIdType: 1 }),
  });
  t.equal(await waitFor(async () => ((await live()) === 'blue' ? 'blue' : null), 15000, 'blue at the CDN'), 'blue', 'the CDN plays blue_user after the Update');

  // another room: a string room of another name, or the integer room of the same digits
  for (const [what, info] of [['another room', { RoomId: 'other-room' }], ['RoomIdType 0: an integer room', { RoomId: '1234', RoomIdType: 0 }]] as const) {
    const e = await apiError(f.client.UpdatePublishCdnStream({
      SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 2, WithTranscoding: 0, SingleSubscribeParams: subscribe('red_user', info),
    }));
    t.match(e, { code: 'FailedOperation.CRUnsupportMethod', message: /^SingleSubscribeParams\.UserMediaStream\.UserInfo names .*not the task's string room 'relay-switch'.*own room only/ }, `Update: ${what} is refused (${e.message})`);
  }
  const int = await apiError(f.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 2, WithTranscoding: 0, SingleSubscribeParams: subscribe('red_user', { RoomIdType: 0 }),
  }));
  t.match(int, { code: 'FailedOperation.CRUnsupportMethod', message: /integer room 'relay-switch'/ }, 'Update: RoomIdType alone naming the other kind of room');
  const start = await apiError(f.client.StartPublishCdnStream(startReq('other_agent', 'red_user', rtmp.url('other'), { RoomId: 'other-room', RoomIdType: 1 })));
  t.match(start, { code: 'FailedOperation.CRUnsupportMethod', message: /^SingleSubscribeParams\.UserMediaStream\.UserInfo names string room 'other-room'/ }, 'Start: the same refusal');
  t.equal(await live(), 'blue', 'the refused Updates changed nothing: still blue');

  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => statuses(taskId).includes(0), 10000, '401 IDLE');
  t.same(statuses(taskId), [1, 2, 5, 0], 'one RTMP session through the switch: no RECOVERING, no second CONNECTING');
  await player.exited;
  red.stop();
  blue.stop();
  await Promise.all([red.exited, blue.exited]);

  const played = await playedSeconds(saved);
  t.equal(dominant(await regionColour(saved, 0.5)), 'red', 'the player saw red_user first');
  t.equal(dominant(await regionColour(saved, Math.max(0.5, played - 0.5))), 'blue', `then blue_user, in the same session (${played.toFixed(1)} s played)`);
});
