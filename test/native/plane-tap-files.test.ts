// File-mode taps (native/src/plane/tap_files.cc, tap.cc): a pipe's source frames written by the plane itself into
// recording files cut the way TRTC cuts them — MPEG-TS segments, fragmented MP4, ADTS — rotated by media time, size or
// a codec config change, and carried over from a publisher's pipe to the next when it comes back. Real parts: the
// libx264 + AAC clips of fake-transport.ts pushed as a WHIP or pull publisher would, ffprobe and Chromium as readers,
// /dev/full as a full disk. Needs the addon: node scripts/build-native.mjs.

import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { decodePlaneEvent, type PlaneEvent, type RtmpPlane, type TapEvent, type TapFile, type TapOptions } from '../../src/native/rtmp-plane.js';
import { baselineClip, clipOfSize, clipSchedule, openPlane, planeSetUp, pushClipItems, videoPipe, type Clip, type ClipItem } from '../helpers/fake-transport.js';
import { waitFor } from '../helpers/gateway.js';
import { launchChromium } from '../helpers/chromium.js';
import { AacToOpus } from '../helpers/aac-to-opus.js';
import { makeOpus } from './fixtures/opus-aac.js';
import { MediaEngine, type Pipe } from '../../src/room/engine.js';
import { createLogger } from '../../src/log.js';
import type { Browser } from 'playwright-core';

const execFileP = promisify(execFile);
const clip = await baselineClip();
const dir = mkdtempSync(join(tmpdir(), 'roomgate-tapfiles-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
/** One pass of the clip: 60 frames at 30 fps. Passes are pushed back to back, each `SPAN` ms later. */
const SPAN = 2000;
const AUDIO_MS = 1024 / 44.1; // one AAC frame of the clip (44.1 kHz)

interface Packet {
  stream_index: number;
  codec_type: string;
  pts: number;
  pts_time: string;
  flags: string;
}
interface Probe {
  streams: { codec_name: string; codec_type: string; width?: number; height?: number }[];
  packets: Packet[];
  format: { duration?: string; format_name: string };
}

async function probe(path: string): Promise<Probe> {
  const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-show_streams', '-show_packets', '-show_format', '-of', 'json', path], {
    maxBuffer: 64 << 20,
  });
  return JSON.parse(stdout) as Probe;
}

const videoOf = (p: Probe) => p.packets.filter((x) => x.codec_type === 'video');
const audioOf = (p: Probe) => p.packets.filter((x) => x.codec_type === 'audio');
const deltas = (l: Packet[]) => l.slice(1).map((x, k) => x.pts - l[k]!.pts);

/** `passes` passes of a clip, back to back from `shift` ms on, in push order. Each pass's audio stops where the next begins. */
function passes(c: Clip, n: number, shift = 0): ClipItem[] {
  const one = clipSchedule(c).filter((x) => x.kind === 'video' || x.ms < c.video[0]!.pts + SPAN);
  return Array.from({ length: n }, (_, k) => one.map((x) => ({ ...x, ms: x.ms + shift + k * SPAN }))).flat();
}

function push(plane: RtmpPlane, pipe: number, c: Clip, items: ClipItem[]): void {
  for (const x of items) {
    const base = x.kind === 'video' ? c.video[x.i]!.pts : c.audio[x.i]!.dts;
    pushClipItems(plane, pipe, c, [x], x.ms - base);
  }
}

function avPipe(plane: RtmpPlane, c: Clip = clip): number {
  const pipe = videoPipe(plane, c);
  plane.setAudioConfig(pipe, c.audioConfig.asc, 100);
  return pipe;
}

type FileEvent = Extract<PlaneEvent, { kind: 'tap-file' }>;
type FailEvent = Extract<PlaneEvent, { kind: 'tap-failed' }>;
const fileEvents = (events: PlaneEvent[], tap: number) => events.filter((e): e is FileEvent => e.kind === 'tap-file' && e.tap === tap);
const failEvents = (events: PlaneEvent[], tap: number) => events.filter((e): e is FailEvent => e.kind === 'tap-failed' && e.tap === tap);

/** A plane for one test, its events collected. */
function plane(t: Test) {
  const p = openPlane();
  t.teardown(p.close);
  return p;
}

/** The wall-clock stamp TRTC puts in a file name: UTC+0, YYYYMMDDhhmmssSSS. */
const utcStamp = (ms: number) => new Date(ms).toISOString().replace(/[^0-9]/g, '');

let chromium: Promise<Browser> | undefined;
/** One Chromium for the file's tests, closed at its end. */
function browser(): Promise<Browser> {
  if (!chromium) {
    chromium = launchChromium();
    t.teardown(async () => (await chromium!).close());
  }
  return chromium;
}

/** Chromium's <video> (or <audio>) plays a file in `dir` to its end: where it ended, the frames it decoded. */
async function playInChromium(name: string, tag: 'video' | 'audio') {
  const html = join(dir, `${name}.html`);
  writeFileSync(html, `<${tag} id="m" muted autoplay src="${name}"></${tag}>`);
  const page = await (await browser()).newPage();
  try {
    await page.goto(`file://${html}`);
    const r = await page.waitForFunction(
      () => {
        const m = document.getElementById('m') as HTMLVideoElement;
        if (!m.ended && !m.error) return null;
        const frames = m instanceof HTMLVideoElement ? m.getVideoPlaybackQuality().totalVideoFrames : 0;
        return { ended: m.ended, error: m.error?.message ?? '', t: m.currentTime, w: m.videoWidth ?? 0, frames };
      },
      undefined,
      { timeout: 20000, polling: 100 },
    );
    return (await r.jsonValue())!;
  } finally {
    await page.close();
  }
}

/** The facts of a closed file, checked against the file on disk. */
function checkFile(t: Test, f: TapFile, what: string): void {
  t.equal(f.bytes, statSync(f.path).size, `${what}: bytes = the file's size (${f.bytes})`);
}

t.test('MPEG-TS, 2 s segments: _<UTC>.ts files, each from a keyframe, ≈ 2 s, and concatenated they play without a gap', async (t) => {
  const p = plane(t);
  const pipe = avPipe(p.plane);
  const prefix = join(dir, 'seg');
  const file = { prefix, naming: 'stamp', ext: 'ts', segmentMs: 2000, maxBytes: 0 } as const;
  const tap = p.plane.addTap(pipe, { file, video: true, audio: 'aac', format: 'mpegts' });
  t.match(p.plane.tapStats(tap), { path: '', files: 0 }, 'no file before the first frame');
  const items = passes(clip, 3);
  push(p.plane, pipe, clip, items.slice(0, 10));
  const first = p.plane.tapStats(tap)!.path;
  t.match(basename(first), /^seg_\d{17}\.ts$/, `writing ${basename(first)}`);
  push(p.plane, pipe, clip, items.slice(10));
  t.match(p.plane.tapStats(tap), { files: 2, droppedFrames: 0, lastError: '' }, 'two files closed, the third open');
  const removed = p.plane.removeTap(tap)!;
  t.ok(removed.file, 'remove() hands back the last file');
  const events = await waitFor(() => (fileEvents(p.events, tap).length === 3 ? fileEvents(p.events, tap) : null), 5000, 'three tap-file events');
  t.same(events.map((e) => e.cause), ['segment', 'segment', 'finish']);
  t.same(events[2], { kind: 'tap-file', tap, cause: 'finish', ...removed.file! }, "the 'finish' event is the file remove() returned");
  t.equal(events[0]!.path, first);
  t.same(readdirSync(dir).filter((n) => n.startsWith('seg_')).sort(), events.map((e) => basename(e.path)), 'exactly these files, in order');

  let total = 0;
  for (const [k, e] of events.entries()) {
    const what = basename(e.path);
    t.equal(basename(e.path), `seg_${utcStamp(e.startWallMs)}.ts`, `${what}: named by its start, UTC`);
    if (k > 0) t.ok(e.startWallMs > events[k - 1]!.startWallMs, `${what}: later than the one before`);
    checkFile(t, e, what);
    t.ok(Math.abs(e.durationMs - 2000) <= 40, `${what}: ${e.durationMs} ms of media`);
    const pr = await probe(e.path);
    t.same(pr.streams.map((s) => s.codec_name), ['h264', 'aac'], `${what}: h264 + aac`);
    const v = videoOf(pr);
    t.ok(v[0]!.flags.startsWith('K'), `${what}: starts with a keyframe`);
    t.equal(v.length, 60, `${what}: 60 video frames`);
    t.ok(Math.abs(Number(pr.format.duration) * 1000 - e.durationMs) <= 50, `${what}: ffprobe says ${pr.format.duration} s`);
    total += v.length;
  }
  t.equal(total, 180, 'every video frame in one file or another');

  // HLS plays the segments one after the other: the concatenation is one stream with no gap or jump.
  const pr = await probe(`concat:${events.map((e) => e.path).join('|')}`);
  const v = videoOf(pr);
  t.equal(v.length, 180);
  const d = deltas(v);
  t.ok(d.every((x) => x >= 2970 && x <= 3060), `video: one frame (33–34 ms) between any two packets (${Math.min(...d)}–${Math.max(...d)} ticks)`);
  const a = audioOf(pr);
  t.equal(a.length, items.filter((x) => x.kind === 'audio' && x.ms >= clip.video[0]!.pts).length, 'every audio frame from the first keyframe on');
  t.ok(deltas(a).every((x) => x > 0 && x <= 2 * AUDIO_MS * 90), 'audio: rising, no gap');
});

t.test('fragmented MP4: plays whole after remove(), and while still being written (a process killed) up to its last fragment', async (t) => {
  const p = plane(t);
  const pipe = avPipe(p.plane);
  const file = { prefix: join(dir, 'frag'), naming: 'index', ext: 'mp4', segmentMs: 0, maxBytes: 0 } as const;
  // width/height left out: the track header's size comes from the SPS
  const tap = p.plane.addTap(pipe, { file, video: true, audio: 'aac', format: 'mp4' });
  push(p.plane, pipe, clip, passes(clip, 2));
  const open = p.plane.tapStats(tap)!.path;
  t.equal(open, join(dir, 'frag_1.mp4'));
  // Nobody finishes this copy: it is what a SIGKILL leaves. Every fragment up to the last keyframe (frame 90) is in.
  const killed = join(dir, 'killed.mp4');
  copyFileSync(open, killed);
  const kp = await probe(killed);
  t.equal(videoOf(kp).length, 90, 'the file on disk, unfinished: the three GOPs before the last keyframe');
  t.ok(audioOf(kp).length > 100, `and their audio (${audioOf(kp).length} frames)`);

  const { file: last } = p.plane.removeTap(tap)!;
  t.equal(last!.path, open);
  checkFile(t, last!, 'frag_1.mp4');
  const pr = await probe(open);
  t.match(pr.format.format_name, /mp4/);
  t.same(pr.streams.map((s) => [s.codec_name, s.width ?? 0, s.height ?? 0]), [['h264', 640, 360], ['aac', 0, 0]], 'h264 640x360 (from the SPS) + aac');
  const v = videoOf(pr);
  t.equal(v.length, 120, 'every video frame');
  t.ok(v[0]!.flags.startsWith('K') && Number(v[0]!.pts_time) === 0, 'starts with a keyframe, at 0');
  const duration = Number(pr.format.duration);
  t.ok(Math.abs(duration - 4) <= 0.1, `duration ${duration} s ≈ the 4 s pushed (tap-file: ${last!.durationMs} ms)`);
  t.ok(Math.abs(duration * 1000 - last!.durationMs) <= 60, 'the tap-file duration is the file’s');

  // Chromium's <video> plays both: the finished file to its end, the killed one through its fragments.
  for (const [name, seconds] of [[basename(open), 4], ['killed.mp4', 3]] as const) {
    const s = await playInChromium(name, 'video');
    t.match(s, { ended: true, error: '', w: 640 }, `${name} plays to its end in Chromium: ${JSON.stringify(s)}`);
    t.ok(Math.abs(s.t - seconds) <= 0.2 && s.frames >= seconds * 30 - 2, `${name}: ${s.t} s, ${s.frames} frames decoded`);
  }
});

t.test('Matroska, 2 s segments: each file whole, from a keyframe at 0, with its duration', async (t) => {
  const p = plane(t);
  const pipe = avPipe(p.plane);
  const file = { prefix: join(dir, 'mkv'), naming: 'index', ext: 'mkv', segmentMs: 2000, maxBytes: 0 } as const;
  const tap = p.plane.addTap(pipe, { file, video: true, audio: 'aac', format: 'matroska' });
  push(p.plane, pipe, clip, passes(clip, 2));
  p.plane.removeTap(tap);
  const events = await waitFor(() => (fileEvents(p.events, tap).length === 2 ? fileEvents(p.events, tap) : null), 5000, 'two files');
  t.same(events.map((e) => [basename(e.path), e.cause]), [['mkv_1.mkv', 'segment'], ['mkv_2.mkv', 'finish']]);
  for (const e of events) {
    const what = basename(e.path);
    checkFile(t, e, what);
    const pr = await probe(e.path);
    t.match(pr.format.format_name, /matroska/);
    t.same(pr.streams.map((s) => [s.codec_name, s.width ?? 0]), [['h264', 640], ['aac', 0]], `${what}: h264 640 wide + aac`);
    const v = videoOf(pr);
    t.equal(v.length, 60);
    t.ok(v[0]!.flags.startsWith('K') && Number(v[0]!.pts_time) === 0, `${what}: a keyframe at 0`);
    t.ok(Math.abs(Number(pr.format.duration) * 1000 - e.durationMs) <= 50, `${what}: ${pr.format.duration} s in its header, ${e.durationMs} ms by the tap`);
  }
});

t.test('Opus (a WHIP publisher) alone in fragmented MP4: a fragment a second, and Chromium plays it', async (t) => {
  const tr = new AacToOpus({ asc: clip.audioConfig.asc, bitrate: 64000, complexity: 5, volume: 100 });
  const opus = clip.audio.flatMap((f) => tr.push(f.data, f.dts).map((x) => Buffer.from(x.data)));
  tr.close();
  const p = plane(t);
  const pipe = p.plane.createPipe({ opusBitrate: 64000, opusComplexity: 5 });
  const file = { prefix: join(dir, 'opus'), naming: 'index', ext: 'mp4', segmentMs: 0, maxBytes: 0 } as const;
  const tap = p.plane.addTap(pipe, { file, video: false, audio: 'opus', format: 'mp4' });
  const packets = [...opus, ...opus]; // 20 ms each, twice over: ~4 s
  packets.forEach((data, i) => p.plane.pushOpus(pipe, data, (i * 960) >>> 0));
  const open = p.plane.tapStats(tap)!.path;
  const killed = join(dir, 'opus-killed.mp4');
  copyFileSync(open, killed);
  t.ok(audioOf(await probe(killed)).length >= 150, 'unfinished, it already holds the fragments of the first seconds');
  const f = p.plane.removeTap(tap)!.file!;
  const pr = await probe(f.path);
  t.same(pr.streams.map((s) => s.codec_name), ['opus']);
  t.equal(audioOf(pr).length, packets.length, `all ${packets.length} packets`);
  t.ok(Math.abs(f.durationMs - packets.length * 20) <= 1, `${f.durationMs} ms`);
  const s = await playInChromium(basename(f.path), 'audio');
  t.match(s, { ended: true, error: '' }, `Chromium plays it to its end: ${JSON.stringify(s)}`);
  t.ok(Math.abs(s.t - packets.length * 0.02) <= 0.1, `at ${s.t} s`);
});

t.test('opus-to-aac: a WHIP publisher\'s Opus becomes AAC in HLS segments, on the Opus clock, across a re-attach', async (t) => {
  const stream = makeOpus('sine=frequency=1000:sample_rate=48000:duration=3', 2);
  const p = plane(t);
  const first = p.plane.createPipe({ opusBitrate: 64000, opusComplexity: 5 });
  const file = { prefix: join(dir, 'o2a'), naming: 'index', ext: 'ts', segmentMs: 0, maxBytes: 0 } as const;
  const tap = p.plane.addTap(first, { file, video: false, audio: 'opus-to-aac', format: 'mpegts' });
  for (const x of stream.packets) p.plane.pushOpus(first, x.data, x.pts48k >>> 0);
  // the publisher comes back on a new pipe whose clock starts elsewhere: the file goes on
  const second = p.plane.createPipe({ opusBitrate: 64000, opusComplexity: 5 });
  p.plane.detachTap(tap);
  p.plane.attachTap(tap, second);
  for (const x of stream.packets) p.plane.pushOpus(second, x.data, (x.pts48k + 123456789) >>> 0);
  const f = p.plane.removeTap(tap)!.file!;
  const pr = await probe(f.path);
  t.same(pr.streams.map((s) => s.codec_name), ['aac'], 'AAC, not Opus');
  const audio = audioOf(pr);
  const span = Number(audio[audio.length - 1]!.pts_time) - Number(audio[0]!.pts_time);
  t.ok(Math.abs(span - 6) <= 0.1, `both sessions back to back: ${span.toFixed(3)} s of AAC`);
  const steps = audio.slice(1).map((a, i) => Number(a.pts_time) - Number(audio[i]!.pts_time));
  t.ok(steps.every((d) => d > 0 && d < 0.05), 'no gap and no overlap between AAC frames');
});

t.test('ADTS, audio only: .aac files cut at 2 s, every frame in one', async (t) => {
  const p = plane(t);
  const pipe = p.plane.createPipe({ opusBitrate: 64000, opusComplexity: 5 });
  p.plane.setAudioConfig(pipe, clip.audioConfig.asc, 100);
  t.throws(
    () => p.plane.addTap(pipe, { file: { prefix: join(dir, 'x'), naming: 'index', ext: 'aac', segmentMs: 0, maxBytes: 0 }, video: true, audio: 'aac', format: 'adts' }),
    /'adts' holds AAC audio alone/,
  );
  const file = { prefix: join(dir, 'audio'), naming: 'stamp', ext: 'aac', segmentMs: 2000, maxBytes: 0 } as const;
  const tap = p.plane.addTap(pipe, { file, video: false, audio: 'aac', format: 'adts' });
  const audio = passes(clip, 2).filter((x) => x.kind === 'audio');
  push(p.plane, pipe, clip, audio);
  const last = p.plane.removeTap(tap)!.file!;
  const events = await waitFor(() => (fileEvents(p.events, tap).length === 2 ? fileEvents(p.events, tap) : null), 5000, 'two tap-file events');
  t.same(events.map((e) => e.cause), ['segment', 'finish']);
  t.equal(events[1]!.path, last.path);
  let frames = 0;
  for (const e of events) {
    const what = basename(e.path);
    t.match(what, /^audio_\d{17}\.aac$/);
    checkFile(t, e, what);
    const bytes = readFileSync(e.path);
    t.ok(bytes[0] === 0xff && (bytes[1]! & 0xf0) === 0xf0, `${what}: starts with an ADTS sync word`);
    const pr = await probe(e.path);
    t.same(pr.streams.map((s) => s.codec_name), ['aac']);
    frames += audioOf(pr).length;
  }
  t.ok(Math.abs(events[0]!.durationMs - 2000) <= AUDIO_MS, `the first file: ${events[0]!.durationMs} ms`);
  t.equal(frames, audio.length, `all ${audio.length} frames`);
});

t.test('MPEG-TS, video only', async (t) => {
  const p = plane(t);
  const pipe = videoPipe(p.plane, clip);
  const file = { prefix: join(dir, 'vonly'), naming: 'index', ext: 'ts', segmentMs: 0, maxBytes: 0 } as const;
  const tap = p.plane.addTap(pipe, { file, video: true, audio: '', format: 'mpegts' });
  push(p.plane, pipe, clip, passes(clip, 1).filter((x) => x.kind === 'video'));
  const f = p.plane.removeTap(tap)!.file!;
  t.equal(f.path, join(dir, 'vonly_1.ts'));
  const pr = await probe(f.path);
  t.same(pr.streams.map((s) => s.codec_name), ['h264']);
  t.equal(videoOf(pr).length, 60);
  t.ok(Math.abs(f.durationMs - 2000) <= 1, `${f.durationMs} ms`);
});

t.test("maxBytes: a new file at the keyframe before the limit (cause 'size'), named _1, _2, …", async (t) => {
  const p = plane(t);
  const pipe = avPipe(p.plane);
  const gop = Math.max(...[0, 30].map((k) => clip.video.slice(k, k + 30).reduce((n, f) => n + f.nalus.reduce((m, b) => m + b.length, 0), 0)));
  // Room for about three GOPs (with their audio and the muxer's overhead) besides the 64 KiB + one GOP margin.
  const maxBytes = 64 * 1024 + 4 * gop;
  const file = { prefix: join(dir, 'size'), naming: 'index', ext: 'ts', segmentMs: 0, maxBytes } as const;
  const tap = p.plane.addTap(pipe, { file, video: true, audio: 'aac', format: 'mpegts' });
  push(p.plane, pipe, clip, passes(clip, 4));
  p.plane.removeTap(tap);
  const events = await waitFor(() => fileEvents(p.events, tap).find((e) => e.cause === 'finish') && fileEvents(p.events, tap), 5000, 'the last file');
  t.ok(events.length >= 3, `${events.length} files of at most ${maxBytes} bytes`);
  t.same(events.map((e) => e.cause), [...events.slice(1).map(() => 'size'), 'finish']);
  t.same(events.map((e) => basename(e.path)), events.map((_, k) => `size_${k + 1}.ts`));
  let frames = 0;
  for (const e of events) {
    const what = basename(e.path);
    checkFile(t, e, what);
    t.ok(e.bytes <= maxBytes, `${what}: ${e.bytes} bytes ≤ ${maxBytes}`);
    const v = videoOf(await probe(e.path));
    t.ok(v[0]!.flags.startsWith('K'), `${what}: starts with a keyframe`);
    frames += v.length;
  }
  t.equal(frames, 240, 'every frame');
  t.ok(events.slice(0, -1).every((e) => e.bytes > maxBytes / 2), 'no file was cut much earlier than it had to be');
});

t.test('a publisher who leaves and returns: the same MPEG-TS file goes on, timestamps rising without a gap', async (t) => {
  const p = plane(t);
  const first = avPipe(p.plane);
  const file = { prefix: join(dir, 'back'), naming: 'index', ext: 'ts', segmentMs: 0, maxBytes: 0 } as const;
  const tap = p.plane.addTap(first, { file, video: true, audio: 'aac', format: 'mpegts' });
  // a few frames past the last keyframe: the next pipe must not start on them
  push(p.plane, first, clip, passes(clip, 1));
  p.plane.closePipe(first); // the publisher left: the tap is detached, its file stays open
  t.match(p.plane.tapStats(tap), { path: join(dir, 'back_1.ts'), files: 0 });
  t.same(fileEvents(p.events, tap), [], 'no file closed');
  t.throws(() => p.plane.attachTap(tap, first), /no such pipe/);

  const second = avPipe(p.plane); // it comes back: a new pipe whose stream starts again at 0, from frame 5 (no keyframe)
  p.plane.attachTap(tap, second);
  const again = clipSchedule(clip, 5).filter((x) => x.kind === 'video' || x.ms < clip.video[0]!.pts + SPAN);
  push(p.plane, second, clip, again);
  p.plane.detachTap(tap);
  p.plane.attachTap(tap, second); // the same pipe again: its clock goes on as the file's
  push(p.plane, second, clip, passes(clip, 1, SPAN));
  const f = p.plane.removeTap(tap)!.file!;
  t.equal(f.path, join(dir, 'back_1.ts'));

  const pr = await probe(f.path);
  const v = videoOf(pr);
  const fromKey = 60 - clip.keyIndexes.find((i) => i >= 5)!;
  t.equal(v.length, 60 + fromKey + 60, `all video of the first pipe, of the second from its first keyframe on (${fromKey}), and more`);
  t.ok(v[60]!.flags.startsWith('K'), 'the second pipe starts with a keyframe');
  const d = deltas(v);
  t.ok(d.every((x) => x >= 2970 && x <= 3060), `one frame between any two video packets (${Math.min(...d)}–${Math.max(...d)} ticks)`);
  const a = audioOf(pr);
  t.ok(deltas(a).every((x) => x > 0 && x <= 2 * AUDIO_MS * 90 + 90), 'audio rising, no gap');
  t.ok(Math.abs(f.durationMs - (v.length * 1000) / 30) <= 50, `${f.durationMs} ms of media for ${v.length} frames`);
});

t.test("MP4: a returning publisher with the same SPS goes on in the file; with another picture size a new file starts (cause 'config')", async (t) => {
  const small = await clipOfSize('320x240');
  const p = plane(t);
  const a = avPipe(p.plane);
  const file = { prefix: join(dir, 'cfg'), naming: 'index', ext: 'mp4', segmentMs: 0, maxBytes: 0 } as const;
  const tap = p.plane.addTap(a, { file, video: true, audio: 'aac', format: 'mp4' });
  push(p.plane, a, clip, passes(clip, 1));
  p.plane.closePipe(a);
  const b = avPipe(p.plane);
  p.plane.attachTap(tap, b);
  push(p.plane, b, clip, passes(clip, 1));
  p.plane.closePipe(b);
  const c = avPipe(p.plane, small);
  p.plane.attachTap(tap, c);
  push(p.plane, c, small, passes(small, 1));
  const last = p.plane.removeTap(tap)!.file!;
  const events = await waitFor(() => (fileEvents(p.events, tap).length === 2 ? fileEvents(p.events, tap) : null), 5000, 'two files');
  t.same(events.map((e) => [basename(e.path), e.cause]), [['cfg_1.mp4', 'config'], ['cfg_2.mp4', 'finish']]);
  t.same(events[1]!.path, last.path);
  const [one, two] = [await probe(events[0]!.path), await probe(events[1]!.path)];
  t.same([one, two].map((pr) => pr.streams.filter((s) => s.codec_type === 'video').map((s) => `${s.width}x${s.height}`)), [['640x360'], ['320x240']]);
  t.equal(videoOf(one).length, 120, 'the first file: both pipes of the first publisher');
  const d = deltas(videoOf(one));
  const tick = 1000 / 30;
  t.ok(d.every((x) => x > 0), 'rising');
  t.ok(Math.abs(Number(one.format.duration) - 4) <= 0.1, `no gap where the first pipe ended (${one.format.duration} s for 120 frames at ${tick.toFixed(1)} ms)`);
  t.equal(videoOf(two).length, 60);
  t.ok(videoOf(two)[0]!.flags.startsWith('K') && Number(videoOf(two)[0]!.pts_time) === 0, 'the second file starts with a keyframe, at 0');
  for (const e of events) checkFile(t, e, basename(e.path));
});

t.test('files that cannot be written: tap-failed names the path and why; the sink and the other tap on the pipe go on', async (t) => {
  const { p, net } = await planeSetUp(t);
  const pipe = avPipe(p.plane);
  const sink = p.plane.addSink(pipe, net.sink({ video: true, replay: false }));
  const options = (prefix: string, segmentMs = 0): TapOptions => ({
    file: { prefix, naming: 'index', ext: 'ts', segmentMs, maxBytes: 0 },
    video: true,
    audio: 'aac',
    format: 'mpegts',
  });
  const missing = p.plane.addTap(pipe, options(join(dir, 'no-such-dir', 'rec')));
  symlinkSync('/dev/full', join(dir, 'full_1.ts')); // a disk with no space left from the first byte
  const full = p.plane.addTap(pipe, options(join(dir, 'full')));
  symlinkSync('/dev/full', join(dir, 'later_2.ts')); // … or from the second file on
  const later = p.plane.addTap(pipe, options(join(dir, 'later'), 2000));
  const alive = p.plane.addTap(pipe, options(join(dir, 'alive')));
  const items = passes(clip, 2);
  push(p.plane, pipe, clip, items.slice(0, 20));
  const sent = p.plane.sinkInfo(sink)!.packetCount;
  push(p.plane, pipe, clip, items.slice(20));
  t.ok(p.plane.sinkInfo(sink)!.packetCount > sent, 'the sink goes on sending');

  await waitFor(() => [missing, full, later].every((x) => failEvents(p.events, x).length > 0), 5000, 'three tap-failed events');
  const cases = [
    [missing, join(dir, 'no-such-dir', 'rec_1.ts'), /^cannot create the recording file .*rec_1\.ts: No such file or directory$/],
    [full, join(dir, 'full_1.ts'), /^writing the recording file .*full_1\.ts failed: No space left on device$/],
    [later, join(dir, 'later_2.ts'), /^writing the recording file .*later_2\.ts failed: No space left on device$/],
  ] as const;
  for (const [tap, path, message] of cases) {
    const [e, ...more] = failEvents(p.events, tap);
    t.equal(more.length, 0, 'one tap-failed event');
    t.equal(e!.path, path, `tap-failed names ${basename(path)}`);
    t.match(e!.message, message, e!.message);
    const s = p.plane.tapStats(tap)!;
    t.match(s, { lastError: e!.message, path: '' }, 'the tap has stopped');
    t.same(p.plane.removeTap(tap), { leftBytes: 0, file: null }, 'and is removed like any other, with no file');
  }
  const [first] = fileEvents(p.events, later);
  t.match(first, { cause: 'segment', path: join(dir, 'later_1.ts') }, 'the file before the full disk was closed whole');
  t.equal(videoOf(await probe(first!.path)).length, 60);
  const f = p.plane.removeTap(alive)!.file!;
  t.equal(failEvents(p.events, alive).length, 0, 'the other tap never failed');
  t.equal(videoOf(await probe(f.path)).length, 120, 'the other tap has every frame');
});

t.test('bad options and misuse: sentences', async (t) => {
  const p = plane(t);
  const pipe = avPipe(p.plane);
  const base = { video: true, audio: 'aac', format: 'mpegts' } as const;
  const file = { prefix: join(dir, 'bad'), naming: 'index', ext: 'ts', segmentMs: 0, maxBytes: 0 } as const;
  t.throws(() => p.plane.addTap(pipe, { ...base, file: { ...file, naming: 'uuid' as 'index' } }), /file\.naming must be 'stamp'/);
  t.throws(() => p.plane.addTap(pipe, { ...base, file: { ...file, ext: '' } }), /file\.ext must be/);
  t.throws(() => p.plane.addTap(pipe, { ...base, file: { ...file, prefix: '' } }), /file\.prefix must name/);
  t.throws(() => p.plane.addTap(pipe, { ...base, file: { ...file, segmentMs: -1 } }), /file\.segmentMs must be a number ≥ 0/);
  t.throws(() => p.plane.addTap(pipe, { ...base, file: { ...file, maxBytes: Number.NaN } }), /file\.maxBytes must be a number ≥ 0/);
  t.throws(() => p.plane.addTap(pipe, { ...base, format: 'avi' as 'mpegts', file }), /format must be 'mpegts', 'matroska', 'mp4', 'adts' or 'rtmp'/);
  t.throws(() => p.plane.addTap(pipe, { ...base }), /give fd .* or file/);
  const tap = p.plane.addTap(pipe, { ...base, file });
  t.throws(() => p.plane.attachTap(tap, 9999), /no such pipe/);
  t.throws(() => p.plane.attachTap(9999, pipe), /no such tap/);
  t.equal(p.plane.detachTap(9999), false);
  const fd = openSync('/dev/null', 'w');
  t.teardown(() => closeSync(fd));
  const fdTap = p.plane.addTap(pipe, { ...base, fd });
  t.throws(() => p.plane.detachTap(fdTap), /only a file-mode or 'rtmp' tap/);
  t.throws(() => p.plane.attachTap(fdTap, pipe), /only a file-mode or 'rtmp' tap/);
  p.plane.removeTap(fdTap);
  t.same(p.plane.removeTap(tap), { leftBytes: 0, file: null }, 'a tap that never had a frame leaves no file');
  t.same(readdirSync(dir).filter((n) => n.startsWith('bad')), [], 'and made none');
});

t.test('through the engine: Pipe.addTap, Tap.onEvent, Tap.detach/attach across pipes, Tap.remove() with the last file', async (t) => {
  const engine = MediaEngine.start(createLogger('silent', process.stderr));
  t.teardown(() => engine.close());
  const open = (c: Clip) => {
    const pipe = engine.openPipe({ opusBitrate: 64000, opusComplexity: 5 });
    pipe.setVideoConfig(c.config);
    pipe.setAudioConfig(c.audioConfig.asc, 100);
    return pipe;
  };
  const send = (pipe: Pipe, items: ClipItem[]) => {
    for (const x of items) {
      if (x.kind === 'video') pipe.push({ ...clip.video[x.i]!, pts: x.ms, dts: x.ms }, false);
      else pipe.push({ ...clip.audio[x.i]!, dts: x.ms }, false);
    }
  };
  const first = open(clip);
  const file = { prefix: join(dir, 'engine'), naming: 'index', ext: 'ts', segmentMs: 5000, maxBytes: 0 } as const;
  const tap = first.addTap({ file, video: true, audio: 'aac', format: 'mpegts' })!;
  const heard: TapEvent[] = [];
  tap.onEvent = (e) => heard.push(e);
  send(first, passes(clip, 2));
  tap.detach();
  send(first, passes(clip, 1, 2 * SPAN)); // off the pipe: none of this reaches the file
  first.close();
  t.throws(() => tap.attach(first), /the pipe is closed/);
  const second = open(clip);
  tap.attach(second);
  send(second, passes(clip, 1));
  await waitFor(() => heard.length === 1, 5000, 'the first segment');
  const end = tap.remove();
  t.same(heard.map((e) => e.kind === 'tap-file' && [basename(e.path), e.cause]), [['engine_1.ts', 'segment']]);
  t.match(end, { leftBytes: 0, file: { path: join(dir, 'engine_2.ts') } }, 'remove() hands back the open file, closed');
  t.equal(tap.stats(), null, 'gone');
  t.same(tap.remove(), { leftBytes: 0, file: null }, 'a second remove() is harmless');
  t.equal(videoOf(await probe(end.file!.path)).length, 30, 'the second file: from the keyframe 5 s in');
  const v = videoOf(await probe(join(dir, 'engine_1.ts')));
  t.equal(v.length, 150, 'the first: both passes of the first pipe, then the second pipe, one frame apart');
  const d = deltas(v);
  t.ok(d.every((x) => x >= 2970 && x <= 3060), `${Math.min(...d)}–${Math.max(...d)} ticks between frames`);
});

t.test('the raw tap events decode to their variants', async (t) => {
  const raw = { pipe: 0, type: 0, timestamp: 0, body: Buffer.alloc(0), number: 0 };
  const file = { path: '/r/a_1.ts', startWallMs: 1700000000123, durationMs: 2000, bytes: 4096 };
  t.same(decodePlaneEvent({ ...raw, kind: 8, text: 'size', tap: 7, ...file }), { kind: 'tap-file', tap: 7, cause: 'size', ...file });
  t.same(decodePlaneEvent({ ...raw, kind: 9, text: 'cannot …', tap: 7, path: '/r/a_2.ts' }), { kind: 'tap-failed', tap: 7, path: '/r/a_2.ts', message: 'cannot …' });
});
