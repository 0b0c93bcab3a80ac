// A relay to an rtmps:// URL, as CDNs (Facebook Live, YouTube's rtmps ingest) require: the receiving server is
// nginx-rtmp behind nginx's own TLS termination (the stream module, a self-signed certificate made for the test).
// The push to rtmps:// goes through ffmpeg (TLS is ffmpeg's), the one to rtmp:// on the same task through the engine;
// both reach the server, and players read both back with the publisher's picture and tone.

import t from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { dominant } from '../helpers/probe.js';
import { toneAmplitude } from '../mix/mix-media.js';
import { startRelayFixture } from './rtmp-receiver.js';

const { cdn, f } = await startRelayFixture({}, { tls: true });
const { sdkAppId } = TEST_APP;

t.test('one task, an rtmps:// URL and an rtmp:// one: both run and play', async (t) => {
  const room = 'relay-tls';
  const secure = cdn.tlsUrl('secure');
  const plain = cdn.url('plain');
  const { TaskId } = await f.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: 'tls_agent', UserSig: officialUserSig('tls_agent'), MaxIdleTime: 30 },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: 'anchor' } } },
    AudioParams: { AudioEncode: { SampleRate: 44100, Channel: 1, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 320, Height: 240, Fps: 25, BitRate: 500, Gop: 1 } },
    PublishCdnParams: [{ PublishCdnUrl: secure, IsTencentCdn: 0 }, { PublishCdnUrl: plain, IsTencentCdn: 0 }],
  });
  const taskId = TaskId!;
  const push = ffmpegPushColour(f.g.pushUrl(room, 'anchor'), 'blue', 30, { fps: 25 });
  t.teardown(() => push.stop());
  const running = (url: string) => f.rx.events(401, taskId).some((e) => e.EventInfo.Payload.Url === url && e.EventInfo.Payload.Status === 2);
  await waitFor(() => running(secure) && running(plain), 30000, '401 RUNNING for both URLs');
  for (const stream of ['secure', 'plain']) {
    const probed = await cdn.probe(stream);
    t.match(probed.streams.find((s) => s.codec_type === 'video'), { codec_name: 'h264', width: 320, height: 240 }, `${stream}: H.264 320x240`);
    t.match(probed.streams.find((s) => s.codec_type === 'audio'), { codec_name: 'aac' }, `${stream}: AAC`);
    t.equal(dominant(await cdn.centreColour(stream)), 'blue', `${stream}: a decoded frame is the publisher's blue`);
    const pcm = await cdn.pcm(stream, 1);
    t.ok(toneAmplitude(pcm, 440) > 10 * toneAmplitude(pcm, 3300), `${stream}: the publisher's 440 Hz tone`);
  }
  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => f.rx.events(401, taskId).filter((e) => e.EventInfo.Payload.Status === 0).length === 2, 10000, '401 IDLE for both');
  for (const url of [secure, plain]) {
    const seq = f.rx.events(401, taskId).map((e) => e.EventInfo.Payload).filter((p) => p.Url === url).map((p) => p.Status);
    t.same(seq, [1, 2, 5, 0], `${url.slice(0, 8)}: connecting, running, disconnecting, idle`);
  }
});
