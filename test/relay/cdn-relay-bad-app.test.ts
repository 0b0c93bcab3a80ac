// A relay with two URLs, one naming an application the receiving server (nginx-rtmp, which has only `live`) does not
// have: that URL's callbacks 401 retry it as CONNECTING and end in FAILURE, each saying the server refused that
// application; the other URL keeps its one session and plays throughout, and the anchor never notices.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { startRelayFixture } from './rtmp-receiver.js';

// an attempt every second, FAILURE after 4 s of them (TRTC: 5 and 60, which would only make the test longer)
const { cdn: receiver, f } = await startRelayFixture({ relay: { retrySeconds: 1, giveUpSeconds: 4 } });
const { sdkAppId } = TEST_APP;

t.test('a URL whose application the server lacks fails, naming it; the other URL keeps flowing', async (t) => {
  const room = 'relay-bad-app';
  const good = receiver.url('kept');
  const bad = `rtmp://127.0.0.1:${receiver.rtmpPort}/nosuchapp/stream-key-123`;
  const anchor = ffmpegPushColour(f.g.pushUrl(room, 'anchor'), 'red', 40, { fps: 25 });
  const { TaskId } = await f.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: 'relay_agent', UserSig: officialUserSig('relay_agent') },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: 'anchor' } } },
    AudioParams: {}, VideoParams: {},
    PublishCdnParams: [{ PublishCdnUrl: good }, { PublishCdnUrl: bad }],
  });
  const taskId = TaskId!;
  const payloads = (url: string) => f.rx.events(401, taskId).map((e) => e.EventInfo.Payload).filter((p) => p.Url === url);

  await waitFor(() => payloads(good).some((p) => p.Status === 2), 20000, 'the good URL RUNNING');
  await waitFor(() => payloads(bad).some((p) => p.Status === 4), 20000, 'the bad URL FAILURE');
  const failure = payloads(bad).find((p) => p.Status === 4);
  t.match(failure, { Status: 4, ErrorCode: 1 }, 'FAILURE, the attempt ended before the server took the stream');
  t.match(failure.ErrorMsg, /refused the connection to application 'nosuchapp': it has no such application/, `the reason: ${failure.ErrorMsg}`);
  t.notMatch(failure.ErrorMsg, /stream-key-123/, 'the message does not repeat the stream key');
  const before = payloads(bad).slice(0, -1);
  t.ok(before.length >= 3 && before.every((p) => p.Status === 1), `CONNECTING at each of ${before.length} attempts`);
  t.ok(before.slice(1).every((p) => p.ErrorCode === 1 && /application 'nosuchapp'/.test(p.ErrorMsg)), 'each retry carries the reason of the attempt before it');

  const probed = await receiver.probe('kept');
  t.match(probed.streams.find((s) => s.codec_type === 'video'), { codec_name: 'h264', width: 320, height: 240 }, 'the good URL still plays: H.264');
  t.match(probed.streams.find((s) => s.codec_type === 'audio'), { codec_name: 'aac' }, 'and AAC');
  t.same(payloads(good).map((p) => p.Status), [1, 2], 'the good URL kept its one session');
  t.same(f.rx.events(104).filter((e) => e.EventInfo.RoomId === room), [], 'the anchor never left the room');

  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  anchor.stop();
  await anchor.exited;
  await waitFor(() => payloads(good).some((p) => p.Status === 0) && payloads(bad).some((p) => p.Status === 0), 10000, 'both URLs IDLE');
  t.same(payloads(good).map((p) => p.Status), [1, 2, 5, 0], 'the good URL: connecting, running, disconnecting, idle');
  t.same(payloads(bad).map((p) => p.Status).slice(-3), [4, 5, 0], 'the bad URL: failure, then removed with the task');
});
