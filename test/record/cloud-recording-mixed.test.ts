// Mixed cloud recording (RecordMode 2) end to end: ffmpeg RTMP publishers push solid, distinct colours with distinct
// tones; the recording's files are decoded and each colour is found in the tile the grid layout gives it, each tone in
// the mix. A publisher joining mid-recording re-lays the canvas without a gap in the file.

import t from 'tap';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { startPullFixture } from '../helpers/pull-fixture.js';
import { colourDistance, ffprobe, playedSeconds, regionColour } from '../helpers/probe.js';
import { pcmAt, toneAmplitude } from '../mix/mix-media.js';

const f = await startPullFixture({ recording: { hlsSegmentSeconds: 2 } });
t.teardown(() => f.close());
const { sdkAppId } = TEST_APP;
const dir = f.g.config.recording.dir;
const W = 640;
const H = 360;

const COLOURS = {
  red: { rgb: [255, 0, 0], hz: 500 },
  lime: { rgb: [0, 255, 0], hz: 800 },
  blue: { rgb: [0, 0, 255], hz: 1300 },
  yellow: { rgb: [255, 255, 0], hz: 2100 },
} as const;
type Colour = keyof typeof COLOURS;

function push(room: string, colour: Colour, seconds: number) {
  return ffmpegPushColour(f.g.pushUrl(room, `${colour}_user`), colour, seconds, { hz: COLOURS[colour].hz, sampleRate: 48000, audioBitrate: '96k' });
}

async function record(room: string, recorder: string): Promise<string> {
  const r = await f.client.CreateCloudRecording({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 0, UserId: recorder, UserSig: officialUserSig(recorder),
    RecordParams: { RecordMode: 2, OutputFormat: 1 },
    MixTranscodeParams: {
      VideoParams: { Width: W, Height: H, Fps: 15, BitRate: 800000, Gop: 1 },
      AudioParams: { SampleRate: 1, Channel: 1, BitRate: 64000 },
    },
    MixLayoutParams: { MixLayoutMode: 3, BackGroundColor: '#000000' },
    StorageParams: {},
  } as never);
  return r.TaskId!;
}

async function stopAndRead(taskId: string): Promise<{ m3u8: string; mp4: string }> {
  await f.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => f.rx.events(302, taskId).length > 0, 30000, '302');
  const files = await readdir(join(dir, taskId));
  const m3u8 = files.find((x) => x.endsWith('.m3u8'));
  const mp4 = files.find((x) => x.endsWith('.mp4'));
  if (!m3u8 || !mp4) throw new Error(`missing files: ${files.join(', ')}`);
  return { m3u8: join(dir, taskId, m3u8), mp4: join(dir, taskId, mp4) };
}

/** The grid's tile centres as fractions (trtc-egress §2.5): 1 full, 2 side by side, 3–4 in quarters. */
function tileOf(n: number, i: number): { x: number; y: number; w: number; h: number } {
  if (n === 1) return { x: 0.3, y: 0.3, w: 0.4, h: 0.4 };
  if (n === 2) return { x: i * 0.5 + 0.15, y: 0.3, w: 0.2, h: 0.4 };
  return { x: (i % 2) * 0.5 + 0.15, y: Math.floor(i / 2) * 0.5 + 0.15, w: 0.2, h: 0.2 };
}

for (const colours of [['red'], ['red', 'lime'], ['red', 'lime', 'blue', 'yellow']] as Colour[][]) {
  t.test(`${colours.length} publisher(s): each colour in its grid tile, each tone in the mix`, async (t) => {
    const room = `mix-${colours.length}`;
    const taskId = await record(room, `mixer_${colours.length}`);
    const pushes = [];
    for (const c of colours) {
      pushes.push(push(room, c, 9));
      // entry order decides the tiles: one at a time
      await waitFor(async () => (await f.users(room)).some((u) => u.userId === `${c}_user`), 10000, `${c} in the room`);
    }
    await Promise.all(pushes.map((p) => p.exited));
    const { m3u8, mp4 } = await stopAndRead(taskId);
    const probe = await ffprobe(mp4);
    t.match(probe.streams.find((s) => s.codec_type === 'video'), { codec_name: 'h264', width: W, height: H });
    t.match(probe.streams.find((s) => s.codec_type === 'audio'), { codec_name: 'aac' });
    const at = Math.max(1, Number(probe.format.duration) - 3); // every publisher is in by then
    for (const [i, c] of colours.entries()) {
      const seen = await regionColour(mp4, at, tileOf(colours.length, i));
      t.ok(colourDistance(seen, COLOURS[c].rgb) < 90, `${c} in tile ${i}: saw rgb(${seen.join(',')})`);
    }
    const pcm = await pcmAt(m3u8, Math.max(0, at - 1), 1.5);
    const levels = colours.map((c) => toneAmplitude(pcm, COLOURS[c].hz));
    const absent = toneAmplitude(pcm, 3300);
    for (const [i, c] of colours.entries()) {
      t.ok(levels[i]! > 10 * absent && levels[i]! > 0.005, `${c}'s ${COLOURS[c].hz} Hz is in the mix (${levels[i]!.toFixed(4)} vs ${absent.toFixed(5)} at 3.3 kHz)`);
    }
    t.ok((await playedSeconds(m3u8)) > 6, 'the HLS holds the recording');
  });
}

t.test('a publisher joining mid-recording: the canvas is re-laid without a gap in the file', async (t) => {
  const room = 'mix-join';
  const taskId = await record(room, 'mixer_join');
  const first = push(room, 'red', 10);
  await new Promise((r) => setTimeout(r, 4000));
  const second = push(room, 'blue', 5);
  await Promise.all([first.exited, second.exited]);
  const { mp4 } = await stopAndRead(taskId);
  const { stdout } = await (await import('node:util')).promisify((await import('node:child_process')).execFile)(
    'ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', mp4],
  );
  const times = stdout.split('\n').map(Number).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const gaps = times.slice(1).map((x, i) => x - times[i]!);
  t.ok(Math.max(...gaps) < 0.2, `no gap in the mixed video (largest step ${Math.max(...gaps).toFixed(3)} s at 15 fps)`);
  t.ok(colourDistance(await regionColour(mp4, 2, tileOf(1, 0)), COLOURS.red.rgb) < 90, 'red alone fills the canvas first');
  const later = Math.min(times[times.length - 1]! - 1, 7);
  t.ok(colourDistance(await regionColour(mp4, later, tileOf(2, 1)), COLOURS.blue.rgb) < 90, 'then blue takes the right half');
});
