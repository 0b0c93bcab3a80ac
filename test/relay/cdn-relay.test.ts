// Relay to CDN end to end, single-stream: the official SDK drives Start → Update (a second URL and a refused one) →
// Stop against a gateway with an ffmpeg RTMP publisher; the receiving end is nginx-rtmp, read back with ffprobe. A callback
// receiver checks that every 401 is signed and that each URL's states come in order.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { apiError } from '../helpers/api3.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, ffmpegPushColour } from '../helpers/clients.js';
import { dominant, ffprobe, playedSeconds, regionColour, videoFrames } from '../helpers/probe.js';
import { pcmAt, toneAmplitude } from '../mix/mix-media.js';
import { refusingPort, startRelayFixture } from './rtmp-receiver.js';

const { cdn: srs, f } = await startRelayFixture({ relay: { maxTasks: 1, retrySeconds: 1, giveUpSeconds: 4 } });
const { sdkAppId } = TEST_APP;

/** ffmpeg publishing a solid colour and a tone over RTMP, in real time, for `seconds`. */
function pushColour(room: string, userId: string, seconds: number, colour = 'red') {
  return ffmpegPushColour(f.g.pushUrl(room, userId), colour, seconds, { fps: 25 });
}

function startReq(room: string, agent: string, urls: string[], extra: Record<string, unknown> = {}): any {
  return {
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: agent, UserSig: officialUserSig(agent), MaxIdleTime: 30 },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: 'anchor' } } },
    AudioParams: { AudioEncode: { SampleRate: 44100, Channel: 1, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 320, Height: 240, Fps: 25, BitRate: 500, Gop: 1 } },
    PublishCdnParams: urls.map((u) => ({ PublishCdnUrl: u, IsTencentCdn: 0 })),
    ...extra,
  };
}

const statuses = (taskId: string, url: string): number[] =>
  f.rx.events(401, taskId).map((e) => e.EventInfo.Payload).filter((p) => p.Url === url).map((p) => p.Status as number);

function expectPlays(t: { match: (found: unknown, want: unknown, what: string) => unknown }, probed: { streams: any[] }, what: string): void {
  const v = probed.streams.find((s) => s.codec_type === 'video');
  const a = probed.streams.find((s) => s.codec_type === 'audio');
  t.match(v, { codec_name: 'h264', width: 320, height: 240 }, `${what}: H.264 320x240`);
  t.match(a, { codec_name: 'aac' }, `${what}: AAC`);
}

t.test('Start (single) → the CDN plays → Update adds a URL and a refused one → both play, the refused one fails → Stop', async (t) => {
  const room = 'relay-room';
  const a = srs.url('first');
  const b = srs.url('second');
  const refused = `rtmp://127.0.0.1:${await refusingPort()}/live/nobody`;
  const { TaskId } = await f.client.StartPublishCdnStream(startReq(room, 'relay_agent', [a]));
  const taskId = TaskId!;
  t.same(statuses(taskId, a), [], 'nothing to push before the anchor publishes');

  const push = pushColour(room, 'anchor', 40);
  await waitFor(() => statuses(taskId, a).includes(2), 20000, '401 Status 2 for the first URL');
  expectPlays(t, await srs.probe('first'), 'the first URL');

  const limit = await apiError(f.client.StartPublishCdnStream(startReq(room, 'other_agent', [srs.url('x')])));
  t.equal(limit.code, 'FailedOperation.RestrictedConcurrency', 'relay.maxTasks 1: a second task is refused');

  await f.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 1, WithTranscoding: 0,
    PublishCdnParams: [a, b, refused].map((u) => ({ PublishCdnUrl: u })),
  });
  await waitFor(() => statuses(taskId, b).includes(2), 20000, '401 Status 2 for the second URL');
  expectPlays(t, await srs.probe('second'), 'the second URL');
  await waitFor(() => statuses(taskId, refused).includes(4), 20000, '401 Status 4 for the refused URL');
  const failure = f.rx.events(401, taskId).find((e) => e.EventInfo.Payload.Url === refused && e.EventInfo.Payload.Status === 4).EventInfo;
  t.match(failure.Payload, { ErrorCode: 1, ErrorMsg: /^could not connect to the server \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/ }, `the failure says why: ${failure.Payload.ErrorMsg}`);
  t.ok(statuses(taskId, refused).filter((s) => s === 1).length >= 2, 'each retry announced as CONNECTING');
  expectPlays(t, await srs.probe('first'), 'the first URL after the refused one failed');
  t.same(statuses(taskId, a), [1, 2], 'the first URL kept its session through the Update');

  const stale = await apiError(f.client.UpdatePublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 1, WithTranscoding: 0 }));
  t.equal(stale.code, 'FailedOperation.OutdateRequest', 'a SequenceNumber that does not increase');

  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  push.stop();
  await push.exited;
  await waitFor(() => statuses(taskId, b).includes(0) && statuses(taskId, a).includes(0), 10000, 'Status 0 for both URLs');
  t.same(statuses(taskId, a), [1, 2, 5, 0], 'first URL: connecting, running, disconnecting, idle');
  t.same(statuses(taskId, b), [1, 2, 5, 0], 'second URL: the same');
  const r = statuses(taskId, refused);
  t.same(r.slice(-3), [4, 5, 0], 'refused URL: failure, then removed with the task');
  t.ok(r.slice(0, -3).every((s) => s === 1), 'refused URL: only CONNECTING before the failure');
  const mine = f.rx.received.filter((x) => x.body?.EventInfo?.TaskId === taskId);
  t.ok(mine.length > 0 && mine.every((x) => x.signOk), 'every 401 is signed with the app\'s key');
  t.match(mine[0].body, { EventGroupId: 4, EventType: 401, EventInfo: { RoomId: room, RoomType: 1, UserId: 'relay_agent', TaskId: taskId } });
  const gone = await apiError(f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId }));
  t.equal(gone.code, 'ResourceNotFound', 'Stop after the end');
});

t.test('the anchor reconnects: the CDN session stays, and the relayed timeline goes on without a jump', async (t) => {
  const room = 'relay-reconnect';
  const url = srs.url('reconnect');
  const { TaskId } = await f.client.StartPublishCdnStream(startReq(room, 'relay_agent_2', [url]));
  const taskId = TaskId!;
  // a player on the receiving server for the whole session, saving what it gets; the server keeps a player waiting for
  // the stream to be published again, so it ends after 4 s without data (longer than the anchor's reconnect)
  const saved = join(mkdtempSync(join(tmpdir(), 'rg-relay-')), 'played.flv');
  const player = run('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-rw_timeout', '4000000', '-i', url, '-c', 'copy', '-f', 'flv', saved], 60_000);
  t.equal(await pushColour(room, 'anchor', 5, 'red').exited, 0, 'first session');
  t.equal(await pushColour(room, 'anchor', 5, 'lime').exited, 0, 'the same anchor again');
  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => statuses(taskId, url).includes(0), 10000, 'Status 0');
  t.same(statuses(taskId, url), [1, 2, 5, 0], 'one RTMP session: no RECOVERING across the reconnect');
  await player.exited;
  const probed = await ffprobe(saved);
  t.match(probed.streams.find((s) => s.codec_type === 'video'), { codec_name: 'h264', width: 320, height: 240 });
  t.match(probed.streams.find((s) => s.codec_type === 'audio'), { codec_name: 'aac' });
  // 2 × 5 s published; the AAC track of each is 5.015 s (216 frames of 1024 samples at 44.1 kHz)
  const played = await playedSeconds(saved);
  t.ok(Math.abs(played - 10) <= 0.5, `both sessions back to back, the gap between them left out (${played.toFixed(2)} s)`);
  t.equal(await videoFrames(saved), 2 * 5 * 25, 'every frame of both sessions, none lost at the join or either end');
  t.equal(dominant(await regionColour(saved, 2)), 'red', 'the first session');
  t.equal(dominant(await regionColour(saved, 8)), 'green', 'then the second');
  const tone = await pcmAt(saved, 7, 1);
  t.ok(toneAmplitude(tone, 440) > 10 * toneAmplitude(tone, 3300), 'the publisher\'s 440 Hz tone came through as AAC');
});

t.test('MaxIdleTime: a relay whose user never comes ends by itself', async (t) => {
  const req = startReq('relay-idle', 'idle_agent', [srs.url('idle')]);
  req.AgentParams.MaxIdleTime = 5;
  const { TaskId } = await f.client.StartPublishCdnStream(req);
  await waitFor(() => f.rx.events(401, TaskId).some((e) => e.EventInfo.Payload.Status === 0), 15000, '401 IDLE');
  t.same(f.rx.events(401, TaskId).map((e) => e.EventInfo.Payload.Status), [5, 0], 'the URL is removed without ever connecting');
  const gone = await apiError(f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: TaskId! }));
  t.equal(gone.code, 'ResourceNotFound', 'the task is over');
});

t.test('each error code of the relay actions, provoked once', async (t) => {
  const room = 'relay-errors';
  const code = async (req: any) => (await apiError(f.client.StartPublishCdnStream(req))).code;
  t.equal(await code(startReq(room, 'agent_e', [srs.url('e')], { FeedBackRoomParams: [{ RoomId: '1', RoomIdType: 0, UserId: 'u', UserSig: 's' }] })), 'FailedOperation.CRUnsupportMethod', 'FeedBackRoomParams on a single-stream relay');
  t.equal(await code(startReq(room, 'agent_e', [srs.url('e')], { PublishCdnParams: undefined })), 'MissingParameter', 'no URL');
  t.equal(await code(startReq(room, 'agent_e', ['http://example.com/x'])), 'InvalidParameter', 'not rtmp');
  t.equal(await code(startReq(room, 'agent_e', ['rtmp://10.1.2.3/live/x'])), 'InvalidParameter', 'a private address not in pull.allow');
  t.equal(await code(startReq('123', 'agent_e', [srs.url('e')], { RoomIdType: 0, RoomId: 'not-a-number' })), 'InvalidParameter', 'RoomIdType 0 is an integer room');
  t.equal(await code(startReq(room, 'agent_e', [srs.url('e')], { AgentParams: { UserId: 'agent_e', UserSig: 'forged' } })), 'InvalidParameter.UserSig', 'the agent\'s UserSig is verified');
  const upd = await apiError(f.client.UpdatePublishCdnStream({ SdkAppId: sdkAppId, TaskId: 'nosuchtask.', SequenceNumber: 1, WithTranscoding: 0 }));
  t.equal(upd.code, 'ResourceNotFound', 'Update of an unknown task');
});
