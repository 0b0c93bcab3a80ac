// Relay of a WebRTC publisher: Chromium publishes over WHIP a canvas painted solid green (H.264) with its fake
// microphone (Opus). The relay copies the H.264 and makes AAC of the Opus (RTMP/FLV carries no Opus): nginx-rtmp, the
// receiving server, serves H.264 + AAC, and a decoded frame is the publisher's green.

import t from 'tap';
import type { Browser } from 'playwright-core';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { launchChromium } from '../helpers/chromium.js';
import { openCanvasWhipPublisher } from '../helpers/chromium-canvas-publisher.js';
import { startPullFixture } from '../helpers/pull-fixture.js';
import { dominant } from '../helpers/probe.js';
import { startRtmpReceiver } from './rtmp-receiver.js';

const srs = await startRtmpReceiver();
const f = await startPullFixture({
  webrtc: { hostAddresses: ['127.0.0.1'], announcedAddresses: [], udpPortMin: 43100, udpPortMax: 43199 },
});
const browser: Browser = await launchChromium();
t.teardown(async () => {
  await browser.close();
  await f.close();
  await srs.close();
});
const { sdkAppId } = TEST_APP;

t.test('a WHIP publisher (H.264 + Opus) reaches the CDN as H.264 + AAC', async (t) => {
  const room = 'relay-whip';
  const url = srs.url('whip');
  const { TaskId } = await f.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: 'relay_agent', UserSig: officialUserSig('relay_agent') },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: 'green_cam' } } },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 1, BitRate: 64 } }, VideoParams: {},
    PublishCdnParams: [{ PublishCdnUrl: url }],
  });
  const taskId = TaskId!;
  const pub = await openCanvasWhipPublisher(browser, f.g.httpBase, `/v2/pub/${sdkAppId}/${room}?SessionID=green_cam`, officialUserSig('green_cam'), {
    colour: '#00c000', width: 640, height: 360,
  });
  t.teardown(() => pub.close());
  t.equal(pub.status, 201, `WHIP answered 201 ${pub.status === 201 ? '' : pub.body}`);
  await waitFor(() => f.rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 2), 30000, '401 RUNNING');

  const probed = await srs.probe('whip');
  t.match(probed.streams.find((s) => s.codec_type === 'video'), { codec_name: 'h264', width: 640, height: 360 }, 'H.264 copied, 640x360');
  t.match(probed.streams.find((s) => s.codec_type === 'audio'), { codec_name: 'aac', sample_rate: '48000' }, 'the Opus became AAC');
  t.equal(dominant(await srs.centreColour('whip')), 'green', 'a decoded frame is the publisher\'s green');

  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => f.rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 0), 10000, '401 IDLE');
  t.same(f.rx.events(401, taskId).map((e) => e.EventInfo.Payload.Status), [1, 2, 5, 0]);
});
