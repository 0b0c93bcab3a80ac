// The compositor child driven like the gateway will drive it: real ffmpeg encoders write MPEG-TS into its FIFOs in
// real time (solid colours, sine tones; one input with Opus), inputs come and go while it runs, and the FLV it
// writes is decoded by ffmpeg: each colour in the tile the grid layout gives it, each tone in the mix, timestamps
// without a gap across every change, a garbage and a wrong-codec input failing alone.

import t from 'tap';
import { randomBytes } from 'node:crypto';
import { chmodSync, createWriteStream, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { Compositor, tilesFromRects, type CompositorOptions } from '../../src/mix/compositor.js';
import { layoutRects, type MixLayoutSpec, type PresentUser } from '../../src/mix/layout.js';
import { frameAt, framesOf, largestGap, packetTimes, pcmAt, startBandFeed, startFeed, startWrongCodecFeed, toneAmplitude, type Feed } from './mix-media.js';

const W = 640;
const H = 360;
const FPS = 30;
const BACKGROUND = '#404040';
const options: CompositorOptions = {
  width: W, height: H, fps: FPS, videoBitrate: 800_000, gop: 2, background: BACKGROUND, sampleRate: 48000, channels: 2, audioBitrate: 96_000,
  statsIntervalMs: 500,
};
const grid: MixLayoutSpec = {
  mode: 3, rects: [], background: BACKGROUND, maxResolutionUserId: null, maxResolutionMediaId: 0, maxResolutionUserAlign: 0, renderMode: 1,
  pureAudioDisableLayout: false, placeHolderMode: 0,
};
const feeds: Record<string, Feed> = {
  a: { colour: 'red', tone: 440, audio: 'aac' },
  b: { colour: 'blue', tone: 1000, audio: 'opus' },
  c: { colour: 'lime', tone: 2500, audio: 'aac' },
  d: { colour: 'yellow', tone: 3500, audio: 'aac' },
};
const RGB: Record<string, number[]> = { red: [255, 0, 0], blue: [0, 0, 255], lime: [0, 255, 0], yellow: [255, 255, 0], background: [64, 64, 64] };

const dir = mkdtempSync(join(tmpdir(), 'roomgate-mix-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('grid of 1, 2 and 4 inputs, one added and one removed mid-stream, bad inputs failing alone', async (t) => {
  const c = new Compositor(options);
  const children: ChildProcess[] = [];
  t.teardown(() => {
    c.kill();
    for (const p of children) p.kill('SIGKILL');
  });
  const failed: Record<string, string> = {};
  const refused: string[] = [];
  c.on('input-failed', (e) => (failed[e.id] = e.reason));
  c.on('refused', (e) => refused.push(e.message));

  const { stdout } = await c.start();
  const file = join(dir, 'grid.flv');
  const out = createWriteStream(file);
  stdout.pipe(out);
  // The output runs in real time from its start: a moment after `start` is that moment in the file.
  const t0 = performance.now();
  const at = (s: number) => sleep(Math.max(0, t0 + s * 1000 - performance.now()));

  const present: PresentUser[] = [];
  const relayout = () => c.setLayout(tilesFromRects(layoutRects(grid, { width: W, height: H }, present)), BACKGROUND);
  const feeders: Record<string, ChildProcess> = {};
  const add = async (id: string) => {
    const { path } = await c.addInput(id);
    feeders[id] = startFeed(path, feeds[id]);
    children.push(feeders[id]);
    present.push({ userId: id, hasVideo: true });
    relayout();
  };

  await add('a');
  // Not in the layout, so only their failure can show.
  const junk = await c.addInput('junk');
  const noise = setInterval(() => {
    try {
      writeSync(junk.fd, randomBytes(16384));
    } catch {
      // EAGAIN (the FIFO is full) or the input already failed: more noise is not needed
    }
  }, 100);
  t.teardown(() => clearInterval(noise));
  children.push(startWrongCodecFeed((await c.addInput('wrong')).path));

  await at(3);
  await add('b');
  await at(6);
  await add('c');
  await add('d');
  await at(9.5);
  clearInterval(noise);
  await c.removeInput('b');
  present.splice(present.findIndex((u) => u.userId === 'b'), 1);
  relayout();
  c.setLayout([{ id: 'a', x: 0, y: 0, width: 10, height: 10, zOrder: 0, alpha: 300, renderMode: 1 }], BACKGROUND);
  await at(12.5);
  feeders.a.kill('SIGSTOP'); // a stalled input: the output must go on
  await at(14);
  for (const p of children) p.kill('SIGKILL'); // the inputs stall (this side keeps each FIFO open) as stop begins
  await c.stop();
  await finished(out);

  t.match(failed.junk, /no MPEG-TS stream was found/, `garbage fails: ${failed.junk}`);
  t.match(failed.wrong, /video\/mpeg.*not mixed/, `MPEG-2 video fails: ${failed.wrong}`);
  t.same(Object.keys(failed).sort(), ['junk', 'wrong'], 'and nothing else fails');
  t.equal(refused.length, 1, 'the bad layout is refused');
  t.match(refused[0], /"alpha" must be a number from 0 to 255/, `and says why: ${refused[0]}`);

  const tilesOf = (ids: string[]) => layoutRects(grid, { width: W, height: H }, ids.map((userId) => ({ userId, hasVideo: true })));
  const expectTiles = async (seconds: number, ids: string[], label: string) => {
    const px = await frameAt(file, seconds, W);
    // The bottom-right quarter of each tile: its input's colour (the top-left one blinks white).
    const samples = tilesOf(ids).map((r) => ({ name: feeds[r.userId!].colour, got: px(r.x + (r.width * 3) / 4, r.y + (r.height * 3) / 4) }));
    if (ids.length === 3) samples.push({ name: 'background', got: px(W * 0.75, H * 0.75) }); // the empty fourth quarter
    for (const { name, got } of samples) {
      const ok = got.every((v, i) => Math.abs(v - RGB[name][i]) <= 48);
      t.ok(ok, `${label}: ${name} where the layout puts it (got ${got})`);
    }
  };
  await expectTiles(2.2, ['a'], 'one input');
  await expectTiles(5.2, ['a', 'b'], 'two inputs');
  await expectTiles(8.7, ['a', 'b', 'c', 'd'], 'four inputs');
  await expectTiles(11.8, ['a', 'c', 'd'], 'b removed');

  // Each tile follows its input: in every window (longer than the 1 s blink) its top-left quarter is seen both
  // white and not. A frozen tile, or one whose frames all arrive too late to be shown, fails here.
  const frames = await framesOf(file, 6, W / 4, H / 4);
  const phases: [number, string[]][] = [[0, ['a']], [3, ['a', 'b']], [6, ['a', 'b', 'c', 'd']], [9.5, ['a', 'c', 'd']]];
  const windows: Record<string, [number, number][]> = {
    a: [[1, 2.6], [4.2, 5.8], [7.2, 9.2], [10.5, 12.3]], b: [[4.2, 5.8], [7.2, 9.2]], c: [[7.2, 9.2], [10.5, 12.3]], d: [[7.2, 9.2], [10.5, 12.3]],
  };
  for (const [id, spans] of Object.entries(windows)) {
    for (const [from, to] of spans) {
      const seen = new Set<boolean>();
      for (const f of frames.filter((f) => f.t >= from && f.t <= to)) {
        const present = phases.filter(([start]) => start <= f.t).pop()![1];
        const r = tilesOf(present).find((x) => x.userId === id)!;
        seen.add(f.px((r.x + r.width / 4) / 4, (r.y + r.height / 4) / 4).every((v) => v > 200));
      }
      t.equal(seen.size, 2, `${id}'s tile follows its input from ${from} s to ${to} s`);
    }
  }

  const tones = async (from: number) => {
    const pcm = await pcmAt(file, from, 1);
    return Object.fromEntries(Object.entries(feeds).map(([id, f]) => [id, toneAmplitude(pcm, f.tone)]));
  };
  // Each sine is 1/8 of full scale.
  const heard = (amp: Record<string, number>, ids: string[], label: string) => {
    for (const id of Object.keys(feeds)) {
      const want = ids.includes(id);
      t.ok(want ? amp[id] > 0.04 : amp[id] < 0.01, `${label}: ${feeds[id].tone} Hz ${want ? 'heard' : 'absent'} (amplitude ${amp[id].toFixed(4)})`);
    }
  };
  heard(await tones(1.2), ['a'], 'one input');
  heard(await tones(7.6), ['a', 'b', 'c', 'd'], 'four inputs (b is Opus)');
  heard(await tones(10.8), ['a', 'c', 'd'], 'b removed');

  const video = await packetTimes(file, 'v');
  const audio = await packetTimes(file, 'a');
  t.ok(video.length >= 13 * FPS, `${video.length} video frames in about 14 s`);
  const vg = largestGap(video);
  t.ok(vg.gap <= 2 / FPS + 0.002, `video timestamps continuous: largest step ${(vg.gap * 1000).toFixed(1)} ms at ${vg.at} s`);
  const ag = largestGap(audio);
  t.ok(ag.gap <= (2 * 1024) / 48000 + 0.002, `audio timestamps continuous: largest step ${(ag.gap * 1000).toFixed(1)} ms at ${ag.at} s`);
  t.ok(video[video.length - 1] > 13, `the stalled input did not stop the output (last frame at ${video[video.length - 1]} s)`);
});

t.test('render modes, transparency and a tile moved live', async (t) => {
  const c = new Compositor({ ...options, background: '#000000' });
  const children: ChildProcess[] = [];
  t.teardown(() => {
    c.kill();
    for (const p of children) p.kill('SIGKILL');
  });
  const { stdout } = await c.start();
  const file = join(dir, 'modes.flv');
  const out = createWriteStream(file);
  stdout.pipe(out);
  const t0 = performance.now();
  const at = (s: number) => sleep(Math.max(0, t0 + s * 1000 - performance.now()));
  // A 16:9 picture (red, its left quarter blue) in a tall 160×360 tile at x = 240, one mode a second.
  const tile = (renderMode: 0 | 1 | 2 | 3, alpha = 0) => [{ id: 'band', x: 240, y: 0, width: 160, height: 360, zOrder: 0, alpha, renderMode }];
  c.setLayout(tile(0), '#000000');
  children.push(startBandFeed((await c.addInput('band', { audio: false })).path));
  for (const [n, mode] of ([[2, 1], [3, 2], [4, 3]] as const)) {
    await at(n);
    c.setLayout(tile(mode), '#000000');
  }
  await at(5);
  c.setLayout(tile(1, 255), '#000000');
  await at(6);
  c.setLayout([{ id: 'band', x: 0, y: 0, width: 160, height: 360, zOrder: 0, alpha: 0, renderMode: 1 }], '#000000');
  await at(7);
  await c.stop();
  await finished(out);

  const colour = (rgb: number[]) => (rgb.every((v) => v < 40) ? 'black' : rgb[0] > 200 && rgb[2] < 60 ? 'red' : rgb[2] > 200 && rgb[0] < 60 ? 'blue' : `${rgb}`);
  const look = async (seconds: number, points: [number, number][]) => {
    const px = await frameAt(file, seconds, W);
    return points.map(([x, y]) => colour(px(240 + x, y)));
  };
  // 0 stretch: the whole picture squeezed, the band over the tile's left quarter (0–40).
  t.same(await look(1.6, [[15, 180], [120, 180], [80, 8]]), ['blue', 'red', 'red'], 'stretch: band at the left, no bars');
  // 1 crop: only the middle 80 px of the 320 are kept, the band is cut away.
  t.same(await look(2.6, [[15, 180], [120, 180], [80, 8]]), ['red', 'red', 'red'], 'crop: the band is cut off');
  // 2 fit: 160×90 in the middle of the tile (y 135–225), black above and below.
  t.same(await look(3.6, [[15, 180], [120, 180], [80, 8], [80, 352]]), ['blue', 'red', 'black', 'black'], 'fit: black bars, the whole picture');
  // 3 smart stretch: at most 20 % of the width cut (32 px a side), the rest stretched: the band keeps 48 of its
  // 80 px, the tile's left 30 px.
  t.same(await look(4.6, [[10, 180], [60, 180], [80, 8]]), ['blue', 'red', 'red'], 'smart stretch: part of the band, no bars');
  t.same(await look(5.6, [[15, 180], [120, 180]]), ['black', 'black'], 'alpha 255: transparent');
  const moved = await frameAt(file, 6.6, W);
  t.same([colour(moved(80, 180)), colour(moved(320, 180))], ['red', 'black'], 'the tile moved to the left edge');
});

t.test('a missing piece: start() rejects naming the Debian package', async (t) => {
  // A Python that cannot see Debian's dist-packages (-S) has no PyGObject.
  const python = join(dir, 'python-without-site');
  writeFileSync(python, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n');
  chmodSync(python, 0o755);
  await t.rejects(new Compositor({ ...options, python }).start(), /PyGObject .*install the Debian package python3-gi/);

  // Every GStreamer plugin but x264's, in a plugin path of their own (and a registry of their own).
  const x264 = /Filename\s+(\S+)/.exec(execFileSync('gst-inspect-1.0', ['x264'], { encoding: 'utf8' }))![1];
  const plugins = join(dir, 'plugins');
  mkdirSync(plugins);
  for (const f of readdirSync(dirname(x264))) if (f.endsWith('.so') && f !== basename(x264)) symlinkSync(join(dirname(x264), f), join(plugins, f));
  const env = { GST_PLUGIN_SYSTEM_PATH_1_0: plugins, GST_REGISTRY: join(dir, 'registry.bin') };
  await t.rejects(new Compositor({ ...options, env }).start(), /x264enc is missing: install the Debian package gstreamer1.0-plugins-ugly/);

  await t.rejects(new Compositor({ ...options, python: join(dir, 'no-such-python') }).start(), /cannot run .*no-such-python/);
  await t.rejects(new Compositor({ ...options, width: 641 }).start(), /must be even/);
});
