// The answer keeps only what we speak: an offer that lists H.264 packetization-mode 0 first (and its RTX) is still
// answered with mode 1, the offer's own payload type and profile-level-id; a max-bundle offer's `bundle-only`
// sections (port 0) are answered as bundled, not rejected.

import t from 'tap';
import { RTCPeerConnection, RTCRtpCodecParameters, useOPUS } from 'werift';
import { answerOffer } from '../../src/room/peer.js';
import { acceptBundleOnly, onlyH264Mode1, parseOffer } from '../../src/room/sdp-offer.js';

const webrtc = { hostAddresses: ['127.0.0.1'], announcedAddresses: [], udpPortMin: 40000, udpPortMax: 40999 };
const h264 = (pt: number, mode: number, profile: string) =>
  new RTCRtpCodecParameters({
    mimeType: 'video/H264',
    clockRate: 90000,
    payloadType: pt,
    rtcpFeedback: [{ type: 'nack' }],
    parameters: `profile-level-id=${profile};packetization-mode=${mode};level-asymmetry-allowed=1`,
  });

t.test('an offer listing packetization-mode 0 first is answered with mode 1', async (t) => {
  const offerer = new RTCPeerConnection({
    codecs: { video: [h264(97, 0, '42e01f'), h264(98, 1, '4d001f')] },
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseIpv4: false,
  });
  t.teardown(() => offerer.close());
  offerer.addTransceiver('video', { direction: 'sendonly' });
  await offerer.setLocalDescription(await offerer.createOffer());
  const offer = offerer.localDescription!.sdp;

  const trimmed = parseOffer(onlyH264Mode1(offer));
  t.same(trimmed[0].codecs.map((c) => c.payloadType), [98], 'mode 0 removed from the offer we apply');

  const answered = await answerOffer(offer, 'recvonly', webrtc);
  t.teardown(() => answered.pc.close());
  const video = parseOffer(answered.answer)[0];
  t.same(video.codecs.map((c) => c.payloadType), [98]);
  t.match(video.codecs[0].fmtp, /packetization-mode=1/);
  t.match(video.codecs[0].fmtp, /profile-level-id=4d001f/, "the publisher's profile-level-id is kept");
});

t.test('offers without mode 0 pass unchanged', async (t) => {
  const sdp = 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\n';
  t.equal(onlyH264Mode1(sdp), sdp);
});

t.test("a max-bundle offer's bundle-only audio (m=audio 0, as GStreamer's webrtcbin writes it) is answered, not rejected", async (t) => {
  const offerer = new RTCPeerConnection({
    codecs: { video: [h264(96, 1, '42e01f')], audio: [useOPUS()] },
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseIpv4: false,
  });
  t.teardown(() => offerer.close());
  offerer.addTransceiver('video', { direction: 'sendonly' });
  offerer.addTransceiver('audio', { direction: 'sendonly' });
  await offerer.setLocalDescription(await offerer.createOffer());
  // webrtcbin with bundle-policy max-bundle: every section after the first has port 0 and a=bundle-only.
  const offer = offerer.localDescription!.sdp.replace(/m=audio \d+ /, 'm=audio 0 ').replace(/(m=audio [^\r\n]*\r\n)/, '$1a=bundle-only\r\n');
  t.match(offer, /m=audio 0 [^\r\n]*\r\na=bundle-only/);
  t.match(acceptBundleOnly(offer), /m=audio 9 /);
  t.match(acceptBundleOnly(offer), /m=video [1-9]/, 'sections without bundle-only keep their port');

  const answered = await answerOffer(offer, 'recvonly', webrtc);
  t.teardown(() => answered.pc.close());
  const audio = answered.answer.split(/\r\n(?=m=)/).find((s) => s.startsWith('m=audio'))!;
  t.notMatch(audio, /^m=audio 0 /, 'audio is not rejected');
  t.match(audio, /a=recvonly/);
  t.match(answered.answer, /a=group:BUNDLE 0 1/, 'both sections in the BUNDLE group');
});
