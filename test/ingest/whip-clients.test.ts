// WHIP publishers nobody here wrote: GStreamer's simple-whip-client, aiortc, and @roamhq/wrtc (libwebrtc, Opus
// only). Each stream is checked where it matters: a Chromium WHEP viewer decodes the video, or Opus reaches it.

import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../../src/paths.js';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { run } from '../helpers/clients.js';
import { aiortcViewer, whepTarget } from '../helpers/viewers.js';
import { gatewayWithChromium, openWhepViewer } from '../helpers/chromium.js';

const { g, browser } = await gatewayWithChromium(t);
const app = TEST_APP.sdkAppId;
const whipUrl = (room: string, user: string) => `${g.httpBase}/v2/pub/${app}/${room}?SessionID=${user}`;
const sub = (room: string, viewer: string) => `/v2/sub/${app}/${room}?SessionID=${viewer}`;

async function user(room: string) {
  const r = await g.getJson(`/api/rooms/${app}/${room}`);
  return r.status === 200 ? r.body.users[0] : null;
}

async function decodesInChromium(t: Test, room: string, viewer: string): Promise<void> {
  const v = await openWhepViewer(browser, g.httpBase, sub(room, viewer), officialUserSig(viewer));
  t.teardown(() => v.close());
  t.equal(v.status, 201, 'WHEP viewer answered');
  const s0 = await waitFor(async () => {
    const s = await v.stats();
    return s.framesDecoded > 5 ? s : null;
  }, 20000, `Chromium decoding ${room}`);
  await new Promise((r) => setTimeout(r, 3000));
  const s1 = await v.stats();
  t.comment(`${room}: ${s1.frameWidth}x${s1.frameHeight}, ${s1.framesDecoded - s0.framesDecoded} frames decoded in 3 s, first frame ${s1.firstFrameMs.toFixed(0)} ms, PLIs ${s1.pliCount}`);
  t.ok(s1.framesDecoded - s0.framesDecoded > 30, 'frames keep decoding');
}

/**
 * Native helpers for Debian 12's simple-whip-client, built with gcc into a fresh directory (the client is unmodified):
 * - a stub gupnp-igd: the client links libsoup2, while libnice links libsoup3 through gupnp-igd, and the process
 *   aborts at start ("libsoup2 symbols detected"). The stub (UPnP port mapping, meaningless here) lets it start;
 * - an LD_PRELOAD shim that clears IFF_LOOPBACK on lo's IPv4 address in getifaddrs(): libnice never gathers
 *   loopback interfaces, and the tests run in a namespace that has nothing else, so without it the client has no
 *   ICE candidate and no media flows. See test/helpers/loopback-ice-shim.c.
 */
function whipClientEnv(): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'roomgate-whip-client-'));
  execFileSync('gcc', ['-shared', '-fPIC', '-Wl,-soname,libgupnp-igd-1.0.so.4', '-o', join(dir, 'libgupnp-igd-1.0.so.4'), repoPath('test/helpers/gupnp-igd-stub.c')]);
  const shim = join(dir, 'loopback-ice-shim.so');
  execFileSync('gcc', ['-shared', '-fPIC', '-o', shim, repoPath('test/helpers/loopback-ice-shim.c'), '-ldl']);
  return [`LD_LIBRARY_PATH=${dir}`, `LD_PRELOAD=${shim}`];
}

t.test('GStreamer simple-whip-client publishes H.264 and Chromium decodes it; DELETE on exit', async (t) => {
  // webrtcbin's offer (H.264 pt 96 + Opus pt 111, max-bundle) is answered and applied, ICE connects from 127.0.0.1
  // (thanks to the shim), the video reaches the room and a Chromium WHEP viewer decodes the 320x240 frames.
  const client = run('env', [
    ...whipClientEnv(), 'whip-client',
    '-u', whipUrl('room-gst', 'gst1'),
    '-t', officialUserSig('gst1'),
    '-V', 'videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! videoconvert ! queue ! x264enc tune=zerolatency bitrate=600 bframes=0 key-int-max=30 speed-preset=ultrafast ! video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 pt=96 ! queue ! application/x-rtp,media=video,encoding-name=H264,payload=96',
    '-A', 'audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! queue ! opusenc ! rtpopuspay pt=111 ! queue ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111',
  ], 60000);
  t.teardown(() => client.stop());
  const u = await waitFor(async () => {
    const x = await user('room-gst');
    return x?.video && x.frames.video > 10 ? x : null;
  }, 20000, 'gst1 sending video').catch(async (e) => {
    t.comment(client.output());
    t.comment(`room user: ${JSON.stringify(await user('room-gst'))}`);
    throw e;
  });
  t.match(client.output(), /Received SDP answer/);
  t.match(client.output(), /ICE connected|ICE completed/, 'whip-client ICE connected (host candidate 127.0.0.1)');
  t.notMatch(client.output(), /Error setting remote description|Failed to|\[ERR\]/);
  t.equal(u.userId, 'gst1', 'the publisher joined the room');
  t.equal(u.source, 'whip');
  t.equal(u.video.codec, 'H264');
  t.equal(u.video.width, 320);
  t.equal(u.video.height, 240);
  await decodesInChromium(t, 'room-gst', 'gst-viewer');
  // webrtcbin (max-bundle) offers the audio section as `m=audio 0` + `a=bundle-only` (RFC 8843 §7.2): answered as
  // bundled, not rejected (acceptBundleOnly in src/room/sdp-offer.ts), its Opus reaches the room.
  const after = await user('room-gst');
  t.ok(after?.frames.audio > 20, `Opus reaches the room (${after?.frames.audio} audio frames)`);
  client.stop();
  await client.exited;
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/room-gst`)).status === 404, 10000, 'whip-client left (DELETE)');
});

t.test('simple-whip-client offering only H.265 (x265enc) gets 406 naming H.265', async (t) => {
  // webrtcbin offers what its payloader makes: here H.265 alone. -l 7 makes the client print its offer, which is
  // then POSTed again to read the reason the client does not print.
  const client = run('env', [
    ...whipClientEnv(), 'whip-client', '-o', '-l', '7',
    '-u', whipUrl('room-h265', 'gst265'),
    '-t', officialUserSig('gst265'),
    '-V', 'videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! videoconvert ! x265enc tune=zerolatency speed-preset=ultrafast ! rtph265pay config-interval=-1 pt=96 ! queue ! application/x-rtp,media=video,encoding-name=H265,payload=96',
  ], 30000);
  t.teardown(() => client.kill());
  await client.exited;
  const out = client.output();
  t.match(out, /\[406\] Not Acceptable/, 'the client was refused with 406');
  const offer = /^v=0[\s\S]*?(?=^\[)/m.exec(out)?.[0] ?? '';
  t.match(offer, /a=rtpmap:96 H265\/90000/, 'its offer had H.265');
  t.notMatch(offer, /H264/, 'and no H.264');
  const res = await fetch(whipUrl('room-h265', 'gst265'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${officialUserSig('gst265')}` },
    body: offer.replace(/\r?\n/g, '\r\n'),
  });
  t.equal(res.status, 406);
  t.match(await res.text(), /offer has no H\.264 \(packetization-mode 1\): offered H265 — select H\.264 in the encoder/);
  t.equal((await g.getJson(`/api/rooms/${app}/room-h265`)).status, 404, 'nobody joined');
});

t.test('aiortc publishes (non-trickle, candidates in the offer) and Chromium decodes it', async (t) => {
  const client = run('/usr/bin/python3', [
    repoPath('test/helpers/aiortc_whip_publisher.py'), '--url', whipUrl('room-aiortc', 'aio1'), '--token', officialUserSig('aio1'), '--seconds', '25',
  ], 60000);
  t.teardown(() => client.stop());
  const u = await waitFor(async () => {
    const x = await user('room-aiortc');
    return x?.video && x.frames.video > 10 ? x : null;
  }, 30000, 'aio1 with video');
  t.equal(u.video.width, 320);
  t.equal(u.video.height, 240);
  t.match(client.output(), /"status": 201/);
  await decodesInChromium(t, 'room-aiortc', 'aio-viewer');
  // and aiortc (libavcodec behind PyAV) decodes it too: a WHIP publisher's media leaves through the engine's sinks
  const seconds = 6;
  const viewer = await aiortcViewer({ ...whepTarget(g.httpBase, 'room-aiortc', 'aio-watch'), seconds });
  const r = viewer.result;
  if (!r) return t.fail(`no result from the aiortc viewer: ${viewer.output}`);
  t.comment(`aiortc viewer of a WHIP publisher: ${r.frames} frames in ${r.receiving_s} s, first ${r.first_frame_ms} ms after the POST, ${r.audio_frames} audio frames, RMS ${r.audio_rms}`);
  t.same({ width: r.width, height: r.height }, { width: 320, height: 240 }, 'aiortc decodes the WHIP publisher at its size');
  // aiortc's encoder is paced by its own clock on a busy machine: half of 30/s is the bar
  t.ok(r.frames >= 15 * r.receiving_s && r.receiving_s > seconds - 3, `decoded ${r.frames} frames in ${r.receiving_s} s`);
  t.ok(r.audio_frames > 0 && r.audio_rms > 0.03, `the WHIP Opus reaches it and is not silent (RMS ${r.audio_rms})`);
  // aiortc's SRTP comes from libsrtp (pylibsrtp): a third implementation checked against the native receiver.
  const location = /"location": "([^"]+)"/.exec(client.output())?.[1];
  const state = await (await fetch(g.httpBase + location)).json();
  t.equal(state.srtp.decryptedBy, 'native', `aiortc's SRTP (${state.srtp.profile}) is decrypted by the native receiver`);
});

t.test('@roamhq/wrtc (libwebrtc) publishes Opus only and the audio reaches a viewer', async (t) => {
  const client = run(process.execPath, [
    repoPath('test/helpers/wrtc-whip-publisher.cjs'), '--url', whipUrl('room-wrtc', 'wrtc1'), '--token', officialUserSig('wrtc1'), '--seconds', '15',
  ], 60000);
  t.teardown(() => client.stop());
  const u = await waitFor(async () => {
    const x = await user('room-wrtc');
    return x && x.frames.audio > 20 ? x : null;
  }, 20000, 'wrtc1 sending audio');
  t.equal(u.video, null);
  t.equal(u.audio.codec, 'Opus');
  const v = await openWhepViewer(browser, g.httpBase, sub('room-wrtc', 'wrtc-viewer'), officialUserSig('wrtc-viewer'));
  t.teardown(() => v.close());
  t.equal(v.status, 201);
  const s = await waitFor(async () => {
    const st = await v.stats();
    return st.audioPacketsReceived > 50 && st.totalSamplesReceived > 48000 ? st : null;
  }, 15000, 'a second of Opus at the viewer');
  t.ok(s.totalSamplesReceived > 48000, `${s.totalSamplesReceived} audio samples received`);
});

t.test('@roamhq/wrtc offering VP8 video only gets 406 with the reason', async (t) => {
  const client = run(process.execPath, [
    repoPath('test/helpers/wrtc-whip-publisher.cjs'), '--url', whipUrl('room-vp8', 'wrtc2'), '--token', officialUserSig('wrtc2'), '--vp8-video',
  ], 30000);
  await client.exited;
  const line = JSON.parse(client.output().split('\n').find((l) => l.startsWith('{'))!);
  t.equal(line.status, 406);
  t.match(line.body, /offer has no H\.264 \(packetization-mode 1\): offered VP8, (AV1, )?VP9.* — select H\.264 in the encoder/);
});
