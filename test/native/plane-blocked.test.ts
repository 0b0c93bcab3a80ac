// SetUserBlocked at the pipe (native/src/plane/pipe.cc SetBlocked): a blocked kind reaches no tap — what recorders
// and relays take — while the pipe still counts it (the publisher is not idle); video unblocked mid-GOP resumes at
// the next keyframe, so no recording gets frames whose references it lacks. Real libx264 + AAC frames, a tap muxing
// MPEG-TS into a file, ffprobe as the reader. (Viewers' sinks: test/api/room-control-blocked.test.ts, with Chromium.)
// Needs the addon: node scripts/build-native.mjs

import t from 'tap';
import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { baselineClip, clipSchedule, openPlane, pushClipItems, videoPipe } from '../helpers/fake-transport.js';

const execFileP = promisify(execFile);
const clip = await baselineClip();
const dir = mkdtempSync(join(tmpdir(), 'roomgate-blocked-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const CLIP_MS = 2000; // the clip's length: each round is pushed this much later than the one before

t.test('blocked video and audio reach no tap, are still counted, and video comes back at a keyframe', async (t) => {
  const p = openPlane();
  t.teardown(p.close);
  const pipe = videoPipe(p.plane, clip);
  p.plane.setAudioConfig(pipe, clip.audioConfig.asc, 100);
  const file = join(dir, 'blocked.ts');
  const fd = openSync(file, 'w');
  t.teardown(() => closeSync(fd));
  const tap = p.plane.addTap(pipe, { fd, video: true, audio: 'aac', format: 'mpegts' });
  t.same(clip.keyIndexes.slice(0, 2), [0, 30], 'the clip: a keyframe every 30 frames');
  const round = (shift: number) => clipSchedule(clip, 0, shift);
  const push = (items: ReturnType<typeof round>, shift: number) => pushClipItems(p.plane, pipe, clip, items, shift);
  const tapCounts = () => {
    const s = p.plane.tapStats(tap)!;
    return { video: s.videoFrames, audio: s.audioFrames };
  };
  const audioOf = (items: ReturnType<typeof round>) => items.filter((x) => x.kind === 'audio').length;

  // round 1: frames 0–9 pass; video blocked from frame 10; unblocked at frame 40, in the second GOP
  const r1 = round(0);
  const at = (i: number) => clip.video[i]!.pts;
  push(r1.filter((x) => x.ms < at(10)), 0);
  t.equal(tapCounts().video, 10, 'frames 0–9 reached the tap');
  p.plane.setBlocked(pipe, false, true);
  push(r1.filter((x) => x.ms >= at(10) && x.ms < at(40)), 0);
  t.equal(tapCounts().video, 10, 'no video while blocked (the keyframe at 30 included)');
  p.plane.setBlocked(pipe, false, false);
  push(r1.filter((x) => x.ms >= at(40)), 0);
  t.equal(tapCounts().video, 10, 'unblocked mid-GOP: nothing before the next keyframe');
  t.equal(tapCounts().audio, audioOf(r1), 'all the audio went on');

  // round 2 starts with a keyframe: video is back
  push(round(CLIP_MS), CLIP_MS);
  t.equal(tapCounts().video, 70, 'the next GOP and all after it');

  // round 3: audio blocked, video goes on
  const audioBefore = tapCounts().audio;
  p.plane.setBlocked(pipe, true, false);
  push(round(2 * CLIP_MS), 2 * CLIP_MS);
  t.same(tapCounts(), { video: 130, audio: audioBefore }, 'no audio while blocked, every video frame');

  t.match(p.plane.pipeStats(pipe), { videoFrames: 180, audioFrames: 3 * audioOf(r1) }, 'the pipe counted every frame taken in, blocked or not');
  p.plane.removeTap(tap);

  // what a recording would hold: video from keyframes only, with the gap where it was blocked
  const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_packets', '-of', 'json', file], { maxBuffer: 64 << 20 });
  const packets = (JSON.parse(stdout) as { packets: { pts_time: string; flags: string }[] }).packets;
  t.equal(packets.length, 130, 'ffprobe reads 130 video packets');
  t.ok(packets[0]!.flags.startsWith('K') && packets[10]!.flags.startsWith('K'), 'the file starts with a keyframe, and so does video after the block');
  const gap = Number(packets[10]!.pts_time) - Number(packets[9]!.pts_time);
  t.ok(Math.abs(gap - (CLIP_MS - at(9)) / 1000) < 0.05, `the gap is the blocked time (${gap.toFixed(3)} s)`);
});
