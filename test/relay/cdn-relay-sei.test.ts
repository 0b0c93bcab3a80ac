// SeiParams of a mixed relay: the volume layout (LayoutVolume) and a pass-through payload (PassThrough) go into the
// H.264 that reaches the CDN. Two ffmpeg publishers are mixed (grid), one with a tone and one silent; ffmpeg reads the
// relayed stream back from nginx-rtmp as Annex B, and the SEI NAL units in it are taken apart: the layout JSON names
// both users in their tiles with the tone's loudness and the silent one at 0; the pass-through carries its UUID and
// text. An Update with an empty SeiParams stops both.

import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPushColour, run } from '../helpers/clients.js';
import { parseSei } from '../../src/media/h264-sei.js';
import { startRelayFixture } from './rtmp-receiver.js';

const exec = promisify(execFile);
const { cdn, f } = await startRelayFixture();
const { sdkAppId } = TEST_APP;
const ROOM = 'relay-sei';
const UUID = '0123456789abcdef0123456789abcdef';

/** The SEI messages in `seconds` of the relayed stream's video, as a player gets it. */
async function seiMessages(stream: string, seconds: number): Promise<{ type: number; payload: Buffer }[]> {
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-rw_timeout', '8000000', '-i', cdn.url(stream), '-t', String(seconds), '-an',
    '-c:v', 'copy', '-bsf:v', 'h264_mp4toannexb', '-f', 'h264', '-'], { encoding: 'buffer', timeout: 30000, maxBuffer: 64 << 20 });
  const b = stdout as unknown as Buffer;
  const out: { type: number; payload: Buffer }[] = [];
  // NAL units start after 00 00 01; an SEI's type is 6
  for (let i = b.indexOf(Buffer.from([0, 0, 1])); i >= 0; i = b.indexOf(Buffer.from([0, 0, 1]), i + 3)) {
    if ((b[i + 3]! & 0x1f) !== 6) continue;
    const end = b.indexOf(Buffer.from([0, 0, 1]), i + 3);
    let nal = b.subarray(i + 3, end < 0 ? b.length : end);
    while (nal.length && nal[nal.length - 1] === 0) nal = nal.subarray(0, nal.length - 1); // the next start code's zero
    out.push(...parseSei(nal));
  }
  return out;
}

t.test('the volume layout and a pass-through payload reach the CDN in the mixed stream', async (t) => {
  const loud = ffmpegPushColour(f.g.pushUrl(ROOM, 'loud_user'), 'red', 60, { fps: 25, sampleRate: 48000 });
  await waitFor(async () => (await f.users(ROOM)).some((u) => u.userId === 'loud_user'), 10000, 'loud_user in the room');
  const quiet = run('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'color=c=blue:size=320x240:rate=25',
    '-re', '-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=mono', '-t', '60', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25',
    '-c:a', 'aac', '-f', 'flv', f.g.pushUrl(ROOM, 'quiet_user')], 90_000);
  t.teardown(() => (loud.stop(), quiet.stop()));
  await waitFor(async () => (await f.users(ROOM)).some((u) => u.userId === 'quiet_user'), 10000, 'quiet_user in the room');
  const { TaskId } = await f.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: ROOM, RoomIdType: 1, WithTranscoding: 1,
    AgentParams: { UserId: 'sei_agent', UserSig: officialUserSig('sei_agent') },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 2, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 640, Height: 360, Fps: 25, BitRate: 800, Gop: 1 }, LayoutParams: { MixLayoutMode: 3 } },
    PublishCdnParams: [{ PublishCdnUrl: cdn.url('sei') }],
    SeiParams: {
      LayoutVolume: { AppData: 'roomgate', PayloadType: 100, Interval: 500 },
      PassThrough: { PayloadType: 5, PayloadUuid: UUID, PayloadContent: 'hello cdn', Interval: 10000, FollowIdr: 1 },
    },
  });
  const taskId = TaskId!;
  await waitFor(() => f.rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 2), 30000, '401 RUNNING');
  // the compositor reports loudness once a second: the layout names both users with their volume by then
  let seen = '';
  const layouts = await waitFor(async () => {
    const all = await seiMessages('sei', 3);
    seen = JSON.stringify(all.map((m) => [m.type, m.payload.toString('latin1').slice(0, 300)]).slice(-3));
    const ls = all.filter((m) => m.type === 100).map((m) => JSON.parse(m.payload.toString()));
    return ls.some((l) => l.regions.length === 2 && l.regions.some((r: any) => r.volume > 0)) ? ls : null;
  }, 30000, 'a volume layout with both users').catch((err: Error) => {
    throw new Error(`${err.message}; SEI seen: ${seen}`);
  });
  t.ok(layouts.length >= 4, `${layouts.length} volume layouts in 3 s (every 500 ms)`);
  const last = layouts.at(-1);
  t.match(last, { app_data: 'roomgate', canvas: { w: 640, h: 360 }, ver: '1.0' }, 'the layout JSON');
  t.ok(Math.abs(last.ts - Date.now() / 1000) < 30, 'ts in server seconds');
  const byUser = Object.fromEntries(last.regions.map((r: any) => [r.uid, r]));
  t.match(byUser.loud_user, { x: 0, y: 0, w: 320, h: 360 }, 'loud_user in the left half of the grid');
  t.match(byUser.quiet_user, { x: 320, y: 0, w: 320, h: 360 }, 'quiet_user in the right one');
  t.ok(byUser.loud_user.volume >= 30, `the tone is loud (${byUser.loud_user.volume})`);
  t.equal(byUser.quiet_user.volume, 0, 'the silent user is at 0');
  const pass = (await seiMessages('sei', 3)).filter((m) => m.type === 5 && m.payload.subarray(0, 16).toString('hex') === UUID);
  t.ok(pass.length >= 2, `the pass-through with every IDR (GOP 1 s): ${pass.length} in 3 s`);
  t.equal(pass[0]!.payload.subarray(16).toString(), 'hello cdn', 'its content after the UUID');

  await f.client.UpdatePublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 1, WithTranscoding: 1, SeiParams: {} });
  await new Promise((r) => setTimeout(r, 1000));
  const after = (await seiMessages('sei', 3)).filter((m) => m.type === 100 || (m.type === 5 && m.payload.subarray(0, 16).toString('hex') === UUID));
  t.equal(after.length, 0, 'an empty SeiParams stops both');
  await f.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
});

t.test('SeiParams refusals', async (t) => {
  const req = (sei: unknown, transcoding = 1) => ({
    SdkAppId: sdkAppId, RoomId: 'sei-errors', RoomIdType: 1, WithTranscoding: transcoding,
    AgentParams: { UserId: 'sei_err', UserSig: officialUserSig('sei_err') },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 2, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 640, Height: 360, Fps: 25, BitRate: 800, Gop: 1 } },
    SingleSubscribeParams: transcoding ? undefined : { UserMediaStream: { UserInfo: { UserId: 'x' } } },
    PublishCdnParams: [{ PublishCdnUrl: cdn.url('e') }],
    SeiParams: sei,
  });
  const code = async (sei: unknown, transcoding = 1) => {
    try {
      await f.client.StartPublishCdnStream(req(sei, transcoding) as any);
      return 'accepted';
    } catch (e: any) {
      return `${e.code}: ${e.message}`;
    }
  };
  t.match(await code({ PassThrough: { PayloadType: 5, PayloadContent: 'x' } }), /^InvalidParameter: SeiParams.PassThrough.PayloadUuid must be 32 hex digits/);
  t.match(await code({ PassThrough: { PayloadType: 244, PayloadContent: 'x' } }), /^InvalidParameter: SeiParams.PassThrough.PayloadType must be 5 or 100–254 except 244/);
  t.match(await code({ LayoutVolume: { AppData: 'x'.repeat(4096) } }), /^InvalidParameter: SeiParams.LayoutVolume.AppData/);
  t.match(await code({ LayoutVolume: {} }, 0), /^FailedOperation.CRUnsupportMethod: SeiParams puts SEI messages into the stream a mixed relay/);
});
