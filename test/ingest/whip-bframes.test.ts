// B-frames over WHIP. No WebRTC encoder here makes them (OpenH264, aiortc's x264 settings), so a werift peer
// (an independent WebRTC stack) publishes what Debian's ffmpeg encodes with `-bf 2`, packetized by werift's own
// H264Packetizer. The gateway must end the session with the B-frame reason, visible on the WHIP resource.

import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { H264Packetizer, MediaStreamTrack, RTCPeerConnection, splitH264NalUnits, useH264 } from 'werift';
import { startTestGateway, officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';

const g = await startTestGateway();
t.teardown(() => g.close());

/** Access units of an Annex-B stream made with AUDs, split at each AUD (NAL type 9). */
function accessUnits(file: string): Buffer[][] {
  const units: Buffer[][] = [];
  for (const nal of splitH264NalUnits(readFileSync(file), 4, 'annexb')) {
    if ((nal[0] & 0x1f) === 9) units.push([]);
    else units[units.length - 1]?.push(nal);
  }
  return units.filter((u) => u.length > 0);
}

async function publish(t: Test, file: string, user: string): Promise<{ location: string; pc: RTCPeerConnection }> {
  const pc = new RTCPeerConnection({ codecs: { video: [useH264()] }, iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv4: false });
  t.teardown(() => pc.close());
  const track = new MediaStreamTrack({ kind: 'video' });
  pc.addTransceiver(track, { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  await waitFor(() => pc.iceGatheringState === 'complete', 10000, 'werift gathering');
  const res = await fetch(`${g.httpBase}/v2/pub/${TEST_APP.sdkAppId}/room-bf?SessionID=${user}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${officialUserSig(user)}` },
    body: pc.localDescription!.sdp,
  });
  t.equal(res.status, 201, 'WHIP answered');
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  await waitFor(() => pc.connectionState === 'connected', 10000, 'connected');
  const packetizer = new H264Packetizer({ inputFormat: 'annexb', payloadType: 96, maxPayloadSize: 1200 });
  const units = accessUnits(file);
  // Decode order, 30 fps; the RTP timestamp is the decode time (what a sender with B-frames would reorder).
  for (let i = 0; i < units.length; i++) {
    const au = Buffer.concat(units[i].flatMap((n) => [Buffer.from([0, 0, 0, 1]), n]));
    for (const p of packetizer.packetize(au, i * 3000)) track.writeRtp(p);
    await new Promise((r) => setTimeout(r, 33));
  }
  return { location: res.headers.get('location')!, pc };
}

function encode(dir: string, name: string, extra: string[]): string {
  const file = join(dir, name);
  execFileSync('ffmpeg', [
    '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-t', '2', '-pix_fmt', 'yuv420p',
    '-c:v', 'libx264', '-preset', 'veryfast', '-g', '30', '-x264-params', 'aud=1', ...extra, '-f', 'h264', file,
  ]);
  return file;
}

const dir = mkdtempSync(join(tmpdir(), 'roomgate-whip-bf-'));

t.test('a WHIP stream with B-frames ends with the B-frame reason', async (t) => {
  const { location } = await publish(t, encode(dir, 'bframes.h264', ['-profile:v', 'high', '-bf', '2']), 'bf1');
  const state = await waitFor(async () => {
    const s = await (await fetch(g.httpBase + location)).json();
    return s.state === 'ended' ? s : null;
  }, 10000, 'the session to end');
  t.match(state.endReason, /^B-frames are not supported: in OBS set Output → Advanced → x264 options bframes=0/);
  t.equal((await g.getJson(`/api/rooms/${TEST_APP.sdkAppId}/room-bf`)).status, 404, 'the user left the room');
});

t.test('the same stream without B-frames stays live', async (t) => {
  const { location } = await publish(t, encode(dir, 'nobf.h264', ['-profile:v', 'high', '-bf', '0']), 'bf2');
  const s = await (await fetch(g.httpBase + location)).json();
  t.equal(s.state, 'live');
  t.ok(s.stats.videoFrames > 30, `${s.stats.videoFrames} frames taken in`);
});
