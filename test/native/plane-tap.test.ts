// Taps (native/src/plane/tap.cc): a pipe's source frames muxed by libavformat onto a file descriptor, in the thread
// that handles the frame, never blocking it. Real parts: the libx264 + AAC clip of fake-transport.ts pushed as a WHIP
// or pull publisher would, real Opus (AacToOpus), ffprobe and ffmpeg as readers, a FIFO nobody drains, readers that
// exit, and an ffmpeg RTMP publisher read by the plane's own thread.
// Needs the addon: node scripts/build-native.mjs. Test 6 starts a gateway (loopback only, like every gateway test).

import t, { type Test } from 'tap';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AacToOpus } from '../helpers/aac-to-opus.js';
import { SHARED_LIMITS } from '../../src/media/shared-limits.js';
import { tcpSocketFd } from '../../src/node-internals.js';
import type { RtmpPlane } from '../../src/native/rtmp-plane.js';
import type { Publisher } from '../../src/room/publisher.js';
import { baselineClip, clipSchedule, FakeTransport, openPlane, pushClipItems, videoPipe, type Clip, planeSetUp } from '../helpers/fake-transport.js';
import { startTestGateway, TEST_APP, waitFor } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';

const execFileP = promisify(execFile);
const clip = await baselineClip();
const dir = mkdtempSync(join(tmpdir(), 'roomgate-tap-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FRAME_MS = 1000 / 30;

interface Probe {
  streams: { index: number; codec_name: string; codec_type: string; duration?: string }[];
  packets: { stream_index: number; codec_type: string; pts: number; pts_time: string; flags: string }[];
  format?: { duration?: string };
}

async function probe(path: string, extra: string[] = []): Promise<Probe> {
  const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-show_streams', '-show_packets', ...extra, '-of', 'json', path], {
    maxBuffer: 64 << 20,
  });
  return JSON.parse(stdout) as Probe;
}

const schedule = (c: Clip, from = 0, shift = 0) => clipSchedule(c, from, shift);

function pushAll(plane: RtmpPlane, pipe: number, items: ReturnType<typeof schedule>, shift = 0): void {
  pushClipItems(plane, pipe, clip, items, shift);
}

/** A file in the test's directory opened for a tap to write, closed when the test ends. */
function outFile(t: Test, name: string): { file: string; fd: number } {
  const file = join(dir, name);
  const fd = openSync(file, 'w');
  t.teardown(() => closeSync(fd));
  return { file, fd };
}

function avPipe(plane: RtmpPlane): number {
  const pipe = videoPipe(plane, clip);
  plane.setAudioConfig(pipe, clip.audioConfig.asc, 100);
  return pipe;
}

/** Whether this process ignores SIGPIPE (Node sets SIG_IGN at start-up): what keeps a tap on a dead FIFO from killing it. */
function ignoresSigpipe(): boolean {
  const m = /^SigIgn:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return !!m && (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n; // SIGPIPE = 13
}

/** A new FIFO in the test's directory (each test opens its ends as it needs). */
function fifo(name: string) {
  const path = join(dir, name);
  const r = spawnSync('mkfifo', [path]);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
  return path;
}

t.test('H.264 + AAC into MPEG-TS: ffprobe reads both, every frame from the first keyframe on, at the pushed times', async (t) => {
  const p = openPlane();
  t.teardown(p.close);
  const pipe = avPipe(p.plane);
  const { file, fd } = outFile(t, 'av.ts');
  const tap = p.plane.addTap(pipe, { fd, video: true, audio: 'aac', format: 'mpegts' });
  // From frame 5: frames before the first keyframe (frame 30), video and audio alike, must not reach the file.
  const items = schedule(clip, 5);
  const firstKey = clip.keyIndexes.find((i) => i >= 5)!;
  const keyMs = clip.video[firstKey]!.pts;
  const started = performance.now();
  pushAll(p.plane, pipe, items);
  t.comment(`${items.length} frames pushed in ${(performance.now() - started).toFixed(1)} ms`);
  const video = items.filter((x) => x.kind === 'video' && x.i >= firstKey);
  // audio after the keyframe in push order (a frame with the keyframe's time came after it: video first on a tie)
  const audio = items.filter((x) => x.kind === 'audio' && x.ms >= keyMs);
  const stats = p.plane.tapStats(tap)!;
  t.match(stats, { videoFrames: video.length, audioFrames: audio.length, droppedFrames: 0, lastError: '' }, 'counted');
  t.same(p.plane.removeTap(tap), { leftBytes: 0, file: null }, 'a file takes everything');
  t.equal(p.plane.tapStats(tap), null, 'gone after removeTap');
  t.equal(p.plane.removeTap(tap), null);

  const pr = await probe(file);
  t.same(pr.streams.map((s) => s.codec_name), ['h264', 'aac'], 'h264 + aac');
  const vp = pr.packets.filter((x) => x.codec_type === 'video');
  const ap = pr.packets.filter((x) => x.codec_type === 'audio');
  t.equal(vp.length, video.length, `${video.length} video packets: the frames from the first keyframe on`);
  t.equal(ap.length, audio.length, `${audio.length} audio packets`);
  t.ok(vp[0]!.flags.startsWith('K'), 'the file starts with a keyframe');
  // 90 kHz ticks: each packet's distance from the first is the pushed distance in ms
  const v0 = vp[0]!.pts;
  t.ok(vp.every((x, k) => x.pts - v0 === Math.round((video[k]!.ms - video[0]!.ms) * 90)), 'video pts = pushed ms');
  t.ok(ap.every((x, k) => Math.abs(x.pts - v0 - Math.round((audio[k]!.ms - keyMs) * 90)) <= 1), 'audio pts = pushed ms, on the video clock');
  t.ok([vp, ap].every((l) => l.every((x, k) => k === 0 || x.pts > l[k - 1]!.pts)), 'monotonic');
});

t.test('Matroska: the same frames, readable', async (t) => {
  const p = openPlane();
  t.teardown(p.close);
  const pipe = avPipe(p.plane);
  const { file, fd } = outFile(t, 'av.mkv');
  const { width, height } = clip.config;
  const tap = p.plane.addTap(pipe, { fd, video: true, audio: 'aac', format: 'matroska', width, height });
  const items = schedule(clip);
  pushAll(p.plane, pipe, items);
  t.same(p.plane.removeTap(tap), { leftBytes: 0, file: null });
  const pr = await probe(file);
  t.same(pr.streams.map((s) => s.codec_name), ['h264', 'aac']);
  t.equal(pr.packets.filter((x) => x.codec_type === 'video').length, clip.video.length, 'every video frame');
  t.equal(pr.packets.filter((x) => x.codec_type === 'audio').length, items.length - clip.video.length, 'every audio frame');
});

t.test('Opus pushed by a WHIP publisher: an audio-only tap, ffprobe sees opus at the pushed times', async (t) => {
  const tr = new AacToOpus({ asc: clip.audioConfig.asc, bitrate: 64000, complexity: 5, volume: 100 });
  const opus = clip.audio.flatMap((f) => tr.push(f.data, f.dts).map((x) => ({ data: Buffer.from(x.data), ts: x.timestamp })));
  tr.close();
  const p = openPlane();
  t.teardown(p.close);
  const pipe = p.plane.createPipe({ opusBitrate: 64000, opusComplexity: 5 });
  const { file, fd } = outFile(t, 'opus.ts');
  t.throws(() => p.plane.addTap(pipe, { fd, video: true, audio: 'opus', format: 'mpegts' }), /no H\.264 configuration/, 'video without a config: a sentence');
  t.throws(() => p.plane.addTap(pipe, { fd, video: false, audio: 'aac', format: 'mpegts' }), /no AAC configuration/);
  t.throws(() => p.plane.addTap(pipe, { fd, video: false, audio: 'opus', format: 'avi' as 'mpegts' }), /format must be/);
  t.throws(() => p.plane.addTap(9999, { fd, video: false, audio: 'opus', format: 'mpegts' }), /no such pipe/);
  const tap = p.plane.addTap(pipe, { fd, video: false, audio: 'opus', format: 'mpegts' });
  const base = 0xffffffff - 960 * 20; // across the 32-bit wrap of the 48 kHz clock
  opus.forEach((x, i) => p.plane.pushOpus(pipe, x.data, (base + i * 960) >>> 0));
  t.match(p.plane.tapStats(tap), { audioFrames: opus.length, videoFrames: 0, droppedFrames: 0 });
  t.same(p.plane.removeTap(tap), { leftBytes: 0, file: null });
  const pr = await probe(file);
  t.same(pr.streams.map((s) => s.codec_name), ['opus']);
  t.equal(pr.packets.length, opus.length, `${opus.length} packets`);
  t.ok(pr.packets.every((x, k) => x.pts - pr.packets[0]!.pts === k * 1800), '20 ms apart (90 kHz), through the wrap');
});

t.test('a pipe to `ffmpeg -f mpegts -i pipe:0 -c copy out.mp4` makes a playable MP4 of the pushed duration', async (t) => {
  const p = openPlane();
  t.teardown(p.close);
  const pipe = avPipe(p.plane);
  const out = join(dir, 'relay.mp4');
  const ff = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'mpegts', '-i', 'pipe:0', '-c', 'copy', '-y', out], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let err = '';
  ff.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => ff.on('exit', r));
  // child stdio 'pipe' is a socketpair: the tap sends with MSG_NOSIGNAL
  const fd = tcpSocketFd(ff.stdin!);
  t.ok(fd >= 0, `ffmpeg's stdin is fd ${fd}`);
  const tap = p.plane.addTap(pipe, { fd, video: true, audio: 'aac', format: 'mpegts' });
  const items = schedule(clip);
  for (const [k, x] of items.entries()) {
    pushAll(p.plane, pipe, [x]);
    if (k % 4 === 3) await sleep(2); // a publisher's pace, compressed: the reader keeps up
  }
  // The reader may still be behind (ffmpeg starts and probes): the plane writes the tail once the socket takes it,
  // without another frame.
  await waitFor(() => p.plane.tapStats(tap)!.pendingBytes === 0, 5000, 'the tail written');
  const s = p.plane.tapStats(tap)!;
  t.match(s, { droppedFrames: 0, videoFrames: clip.video.length }, 'nothing dropped');
  t.same(p.plane.removeTap(tap), { leftBytes: 0, file: null }, `everything written (${s.bytesWritten} bytes)`);
  ff.stdin!.end();
  t.equal(await exited, 0, `ffmpeg exits cleanly ${err}`);
  const pr = await probe(out, ['-show_format']);
  t.same(pr.streams.map((s) => s.codec_name).sort(), ['aac', 'h264']);
  const pushed = (clip.video.length * FRAME_MS) / 1000;
  const duration = Number(pr.format!.duration);
  t.ok(Math.abs(duration - pushed) < 0.1, `duration ${duration} s ≈ pushed ${pushed.toFixed(2)} s`);
  t.equal(pr.packets.filter((x) => x.codec_type === 'video').length, clip.video.length, 'every frame in the MP4');
});

t.test('a reader that never reads: pushes stay fast, frames are dropped to a keyframe and counted, the queue stays bounded', async (t) => {
  const p = openPlane();
  t.teardown(p.close);
  const pipe = avPipe(p.plane);
  const path = fifo('stuck');
  const fd = openSync(path, constants.O_RDWR); // its own reader, which never reads: 64 KiB and the FIFO is full
  t.teardown(() => closeSync(fd));
  const tap = p.plane.addTap(pipe, { fd, video: true, audio: 'aac', format: 'mpegts' });
  const items = schedule(clip);
  const times: number[] = [];
  const span = clip.video.length * FRAME_MS;
  let loops = 0;
  let maxPending = 0;
  const maxUnit = Math.max(...clip.video.map((f) => f.nalus.reduce((n, b) => n + b.length + 4, 0)));
  while (p.plane.tapStats(tap)!.droppedFrames < 100 && loops < 60) {
    for (const x of items) {
      const at = performance.now();
      pushAll(p.plane, pipe, [x], loops * span);
      times.push(performance.now() - at);
    }
    maxPending = Math.max(maxPending, p.plane.tapStats(tap)!.pendingBytes);
    loops++;
  }
  const s = p.plane.tapStats(tap)!;
  times.sort((a, b) => a - b);
  const p99 = times[Math.floor(times.length * 0.99)]!;
  t.comment(`${times.length} pushes over ${loops} loops: median ${times[times.length >> 1]!.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms, max ${times.at(-1)!.toFixed(3)} ms; ${JSON.stringify(s)}`);
  t.ok(s.droppedFrames >= 100, 'frames dropped and counted');
  t.ok(p99 < 5, 'pushing does not wait for the reader');
  const bound = SHARED_LIMITS.tapQueueBytes + 2 * maxUnit + 64 * 1024;
  t.ok(maxPending >= SHARED_LIMITS.tapQueueBytes && maxPending <= bound, `pending ${maxPending} ≤ ${SHARED_LIMITS.tapQueueBytes} + one frame`);
  t.equal(s.lastError, '', 'a full reader is not an error');

  // The reader wakes up: the queue drains as frames come, and video resumes at a keyframe.
  const buf = Buffer.alloc(1 << 16);
  const drain = () => {
    for (;;) {
      try {
        if (readSync(fd, buf) <= 0) return;
      } catch {
        return; // EAGAIN: the tap made the FIFO non-blocking
      }
    }
  };
  const before = s.videoFrames;
  for (const x of items) {
    drain();
    pushAll(p.plane, pipe, [x], loops * span);
  }
  const after = p.plane.tapStats(tap)!;
  t.ok(after.videoFrames > before, `writing again after the next keyframe (${after.videoFrames - before} video frames)`);
  t.ok(after.pendingBytes < SHARED_LIMITS.tapQueueBytes, `queue drained to ${after.pendingBytes}`);
  p.plane.removeTap(tap);
});

t.test('readers that exit (EPIPE on a FIFO and on a socket): the tap reports it, the process and the others go on', async (t) => {
  t.ok(ignoresSigpipe(), 'Node ignores SIGPIPE (a FIFO write then fails with EPIPE)');
  const { p, net } = await planeSetUp(t);
  const pipe = avPipe(p.plane);
  const sink = p.plane.addSink(pipe, net.sink({ video: true, replay: false }));
  const path = fifo('dies');
  const rfd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const wfd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  t.teardown(() => closeSync(wfd));
  const fifoReader = spawn('head', ['-c', '4096'], { stdio: [rfd, 'ignore', 'ignore'] });
  closeSync(rfd); // head holds the only read end now
  const sockReader = spawn('head', ['-c', '4096'], { stdio: ['pipe', 'ignore', 'ignore'] });
  // Node closes this fd when `head` exits: the tap's own dup of it must see EPIPE, not EBADF or a reused number.
  const sfd = tcpSocketFd(sockReader.stdin!);
  const file = join(dir, 'survivor.ts');
  const ffd = openSync(file, 'w');
  t.teardown(() => closeSync(ffd));
  const dead = p.plane.addTap(pipe, { fd: wfd, video: true, audio: 'aac', format: 'mpegts' });
  const deadSock = p.plane.addTap(pipe, { fd: sfd, video: true, audio: 'aac', format: 'mpegts' });
  const alive = p.plane.addTap(pipe, { fd: ffd, video: true, audio: 'aac', format: 'mpegts' });
  const items = schedule(clip);
  const half = items.findIndex((x) => x.kind === 'video' && x.i === clip.keyIndexes[1]);
  pushAll(p.plane, pipe, items.slice(0, half));
  await Promise.all([new Promise((r) => fifoReader.on('exit', r)), new Promise((r) => sockReader.on('exit', r))]);
  const sent = p.plane.sinkInfo(sink)!.packetCount;
  pushAll(p.plane, pipe, items.slice(half));
  for (const [tap, what] of [[dead, 'FIFO'], [deadSock, 'socket']] as const) {
    const s = p.plane.tapStats(tap)!;
    t.match(s.lastError, /Broken pipe|Connection reset/, `${what}: ${s.lastError} after ${s.bytesWritten} bytes`);
  }
  t.ok(p.plane.sinkInfo(sink)!.packetCount > sent, 'the sink on the pipe goes on sending');
  t.match(p.plane.tapStats(alive), { videoFrames: clip.video.length, lastError: '' }, 'the other tap has every frame');
  t.ok((p.plane.removeTap(dead)?.leftBytes ?? -1) >= 0, 'a dead tap is removed like any other');
  p.plane.removeTap(deadSock);
  p.plane.removeTap(alive);
  sockReader.stdin!.destroy();
  const pr = await probe(file);
  t.equal(pr.packets.filter((x) => x.codec_type === 'video').length, clip.video.length);
});

t.test("an RTMP publisher read by the plane's thread: Pipe.addTap from its Publisher, ffprobe reads the file", async (t) => {
  const g = await startTestGateway();
  t.teardown(() => g.close());
  const room = 'tap';
  const pub = ffmpegPush(g.pushUrl(room, 'rec'), { seconds: 4, realtime: true });
  t.teardown(() => pub.kill());
  const publisher = await waitFor(() => {
    const x: Publisher | undefined = g.gw.rooms.get(TEST_APP.sdkAppId, room)?.pickPublisher('rec');
    const s = x?.pipe.stats();
    return s && s.videoFrames > 0 && s.audioFrames > 0 ? x : undefined;
  }, 10000, 'the publisher on the plane');
  const { file, fd } = outFile(t, 'rtmp.ts');
  const tap = publisher.pipe.addTap({ fd, video: true, audio: 'aac', format: 'mpegts' })!;
  const frames0 = publisher.pipe.stats()!.videoFrames;
  await sleep(2000); // the event loop idles; the plane's thread writes
  const s = tap.stats()!;
  t.ok(s.videoFrames > 30 && s.audioFrames > 40 && s.bytesWritten > 0, `written from the plane's thread: ${JSON.stringify(s)}`);
  t.ok(publisher.pipe.stats()!.videoFrames - frames0 >= s.videoFrames, 'no more frames than the pipe saw');
  t.same(tap.remove(), { leftBytes: 0, file: null }, 'nothing left unwritten');
  t.equal(tap.stats(), null);
  const pr = await probe(file);
  t.same(pr.streams.map((x) => x.codec_name), ['h264', 'aac']);
  const vp = pr.packets.filter((x) => x.codec_type === 'video');
  t.equal(vp.length, s.videoFrames, 'every frame the tap counted');
  t.ok(vp[0]!.flags.startsWith('K'), 'starting at a keyframe');
  t.ok(vp.every((x, k) => k === 0 || x.pts > vp[k - 1]!.pts), 'monotonic');
});
