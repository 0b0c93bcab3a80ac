// Taps of format 'rtmp' (native/src/plane/rtmp_out.cc): a pipe's frames as RTMP messages on a socket, which a relay's
// push writes from the engine. What the tap writes is read back by parts nobody here wrote: node-media-server's
// server-side chunk parser (the one that reads OBS) takes the messages apart, and ffprobe/ffmpeg decode them once
// they are put in an FLV file tag for tag. Real encoder output: the libx264 + AAC clip of fake-transport.ts.

import t from 'tap';
import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Rtmp from 'node-media-server/src/protocol/rtmp.js';
import type { RtmpPlane } from '../../src/native/rtmp-plane.js';
import { baselineClip, clipSchedule, openPlane, pushClipItems, videoPipe } from '../helpers/fake-transport.js';

const execFileP = promisify(execFile);
const clip = await baselineClip();
const dir = mkdtempSync(join(tmpdir(), 'roomgate-tap-rtmp-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

interface Message {
  type: number;
  ms: number;
  streamId: number;
  body: Buffer;
}

/** node-media-server's parser reading `bytes` as the server side of a session whose handshake is done. */
function parse(bytes: Buffer, chunkSize: number): Message[] {
  const out: Message[] = [];
  class Reader extends Rtmp {
    override dataHandler(): void {
      const p = this.parserPacket;
      out.push({ type: p.header.type, ms: p.clock, streamId: p.header.stream_id, body: Buffer.from(p.payload.subarray(0, p.header.length)) });
    }
  }
  const r = new Reader();
  const setChunk = Buffer.from('02000000000004010000000000000000', 'hex'); // what the client announced before the tap
  setChunk.writeUInt32BE(chunkSize, 12);
  const error = r.parserData(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536 * 2), setChunk, bytes]));
  if (error) throw new Error(`node-media-server's parser: ${error}`);
  return out;
}

/** The messages as an FLV file (header, then each message as a tag), for ffprobe. */
function flvFile(name: string, messages: Message[]): string {
  const parts: Buffer[] = [Buffer.from([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0])];
  for (const m of messages) {
    const h = Buffer.alloc(11);
    h[0] = m.type;
    h.writeUIntBE(m.body.length, 1, 3);
    h.writeUIntBE(m.ms & 0xffffff, 4, 3);
    h[7] = (m.ms >>> 24) & 0xff;
    const size = Buffer.alloc(4);
    size.writeUInt32BE(11 + m.body.length);
    parts.push(h, m.body, size);
  }
  const file = join(dir, name);
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

async function packets(file: string): Promise<{ codec_type: string; pts: number; flags: string }[]> {
  const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-show_packets', '-of', 'json', file], { maxBuffer: 64 << 20 });
  return (JSON.parse(stdout) as { packets: { codec_type: string; pts: number; flags: string }[] }).packets;
}

async function decodedFrames(file: string): Promise<number> {
  const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]);
  return Number(stdout.trim());
}

function avPipe(plane: RtmpPlane): number {
  const pipe = videoPipe(plane, clip);
  plane.setAudioConfig(pipe, clip.audioConfig.asc, 100);
  return pipe;
}

/** A file for a tap to write, read back once the tap is removed. */
function outFile(name: string): { fd: number; bytes(): Buffer } {
  const file = join(dir, name);
  const fd = openSync(file, 'w');
  return { fd, bytes: () => (closeSync(fd), readFileSync(file)) };
}

const isSequenceHeader = (m: Message) => m.body[1] === 0;

t.test('H.264 + AAC as RTMP messages: sequence headers first, every frame from the keyframe on, at the pushed times', async (t) => {
  const p = openPlane();
  t.teardown(p.close);
  const pipe = avPipe(p.plane);
  const out = outFile('av.rtmp');
  // chunks of 128 bytes (RTMP's default): every keyframe goes on in type-3 chunks
  const tap = p.plane.addTap(pipe, { fd: out.fd, video: true, audio: 'aac', format: 'rtmp', rtmp: { streamId: 7, chunkSize: 128 } });
  const items = clipSchedule(clip, 5);
  const firstKey = clip.keyIndexes.find((i) => i >= 5)!;
  const keyMs = clip.video[firstKey]!.pts;
  pushClipItems(p.plane, pipe, clip, items);
  const video = items.filter((x) => x.kind === 'video' && x.i >= firstKey);
  const audio = items.filter((x) => x.kind === 'audio' && x.ms >= keyMs);
  t.match(p.plane.tapStats(tap), { videoFrames: video.length, audioFrames: audio.length, droppedFrames: 0, lastError: '' });
  t.same(p.plane.removeTap(tap), { leftBytes: 0, file: null });

  const messages = parse(out.bytes(), 128);
  t.ok(messages.every((m) => m.streamId === 7), 'every message on the message stream createStream gave');
  const v = messages.filter((m) => m.type === 9);
  const a = messages.filter((m) => m.type === 8);
  t.same([v[0]!.body.subarray(0, 2), a[0]!.body.subarray(0, 2)], [Buffer.from([0x17, 0]), Buffer.from([0xaf, 0])], 'an AVC and an AAC sequence header come first');
  t.same(a[0]!.body.subarray(2), clip.audioConfig.asc, 'the AAC sequence header is the pipe\'s AudioSpecificConfig');
  t.equal(v.length, video.length + 1, 'every video frame from the keyframe on, after one sequence header');
  t.equal(a.length, audio.length + 1, 'every audio frame from the keyframe on, after one sequence header');
  t.same(v.slice(1).map((m) => m.ms - v[1]!.ms), video.map((x) => Math.round(x.ms - keyMs)), 'video timestamps keep the pushed distances');
  t.ok(messages.every((m, i) => i === 0 || m.ms >= messages[i - 1]!.ms), 'the messages interleave in time order');

  const file = flvFile('av.flv', messages);
  const pk = await packets(file);
  t.equal(pk.filter((x) => x.codec_type === 'video').length, video.length, 'ffprobe reads every video frame');
  t.equal(pk.filter((x) => x.codec_type === 'audio').length, audio.length, 'and every audio frame');
  t.ok(pk.find((x) => x.codec_type === 'video')!.flags.startsWith('K'), 'starting at a keyframe');
  t.equal(await decodedFrames(file), video.length, 'and ffmpeg decodes every picture');
});

t.test('timestamps past 0xFFFFFF ms (4.7 hours) go in the extended field, on type-3 chunks too', async (t) => {
  const p = openPlane();
  t.teardown(p.close);
  const pipe = avPipe(p.plane);
  const out = outFile('extended.rtmp');
  const tap = p.plane.addTap(pipe, { fd: out.fd, video: true, audio: 'aac', format: 'rtmp', rtmp: { streamId: 1, chunkSize: 128 } });
  const shift = 0xffffff - 1000; // the clip's second keyframe (1 s) lands on the boundary
  pushClipItems(p.plane, pipe, clip, clipSchedule(clip, 0, shift), shift);
  p.plane.removeTap(tap);
  const messages = parse(out.bytes(), 128);
  const v = messages.filter((m) => m.type === 9 && !isSequenceHeader(m));
  t.equal(v.length, clip.video.length, 'every frame read back');
  t.ok(v.some((m) => m.ms >= 0xffffff) && v.some((m) => m.ms < 0xffffff), 'frames on both sides of the boundary');
  t.same(v.map((m) => m.ms - v[0]!.ms), clip.video.map((f) => Math.round(f.pts - clip.video[0]!.pts)), 'the distances hold across it');
  t.equal(await decodedFrames(flvFile('extended.flv', messages)), clip.video.length, 'ffmpeg decodes every picture');
});

t.test('made before its session is published, a tap keeps the GOP and sends it first once connected', async (t) => {
  const p = openPlane();
  t.teardown(p.close);
  const pipe = avPipe(p.plane);
  const tap = p.plane.addTap(pipe, { video: true, audio: 'aac', format: 'rtmp' });
  const items = clipSchedule(clip);
  const secondKey = clip.keyIndexes[1]!;
  // frames up to 5 after the second keyframe arrive while the RTMP session is being set up
  const cut = items.findIndex((x) => x.kind === 'video' && x.i === secondKey + 5);
  pushClipItems(p.plane, pipe, clip, items.slice(0, cut));
  t.match(p.plane.tapStats(tap), { bytesWritten: 0 }, 'nothing written before the socket');
  const out = outFile('kept.rtmp');
  t.equal(p.plane.tapConnect(tap, out.fd, 1, 4096), true);
  pushClipItems(p.plane, pipe, clip, items.slice(cut));
  t.throws(() => p.plane.tapConnect(tap, out.fd, 1, 4096), /only an 'rtmp' tap made without an fd can be connected, once/);
  p.plane.removeTap(tap);
  const messages = parse(out.bytes(), 4096);
  const v = messages.filter((m) => m.type === 9);
  const a = messages.filter((m) => m.type === 8);
  t.ok(isSequenceHeader(v[0]!) && isSequenceHeader(a[0]!), 'sequence headers for both kinds come first');
  const keyMs = clip.video[secondKey]!.pts;
  t.equal(v[1]!.body[0], 0x17, 'then the keyframe that was current when the session started');
  t.equal(v.length - 1, clip.video.length - secondKey, 'and every frame after it, kept and live alike');
  t.ok(a.slice(1).every((m) => m.ms >= Math.round(keyMs) - 1), 'no audio from before that keyframe');
  t.equal(await decodedFrames(flvFile('kept.flv', messages)), clip.video.length - secondKey, 'ffmpeg decodes every picture');
});

t.test('bytes sent through the tap (the client\'s pongs) land between messages; detach and attach keep one timeline', async (t) => {
  const p = openPlane();
  t.teardown(p.close);
  const first = avPipe(p.plane);
  const out = outFile('moved.rtmp');
  const tap = p.plane.addTap(first, { fd: out.fd, video: true, audio: 'aac', format: 'rtmp', rtmp: { streamId: 1, chunkSize: 128 } });
  const items = clipSchedule(clip);
  const half = Math.floor(items.length / 2);
  pushClipItems(p.plane, first, clip, items.slice(0, half));
  // a user control message (type 4, PingResponse) as node-media-server's client writes one
  const pong = Buffer.from('020000000000060400000000000700000001', 'hex');
  t.equal(p.plane.tapSend(tap, pong), true, 'taken');
  pushClipItems(p.plane, first, clip, items.slice(half));
  p.plane.detachTap(tap);
  p.plane.closePipe(first);
  // the publisher is back on a new pipe whose clock starts again at 0
  const second = avPipe(p.plane);
  p.plane.attachTap(tap, second);
  pushClipItems(p.plane, second, clip, items);
  p.plane.removeTap(tap);
  const messages = parse(out.bytes(), 128);
  const v = messages.filter((m) => m.type === 9 && !isSequenceHeader(m));
  t.equal(v.length, 2 * clip.video.length, 'both sessions of the publisher, whole: the pong split no message');
  const step = v.slice(1).map((m, i) => m.ms - v[i]!.ms);
  t.ok(step.every((d) => d > 0 && d <= 34), `one timeline, no jump back or gap at the return (steps ${Math.min(...step)}–${Math.max(...step)} ms)`);
  t.equal(await decodedFrames(flvFile('moved.flv', messages)), 2 * clip.video.length, 'ffmpeg decodes every picture');
});

t.test('wrong uses are refused with a sentence', async (t) => {
  const p = openPlane();
  t.teardown(p.close);
  const pipe = avPipe(p.plane);
  t.throws(() => p.plane.addTap(pipe, { fd: 1, video: true, audio: 'aac', format: 'rtmp' }), /rtmp: \{ streamId, chunkSize \}/);
  t.throws(() => p.plane.addTap(pipe, { video: false, audio: 'opus', format: 'rtmp' }), /carries AAC audio, not Opus/);
  const ts = p.plane.addTap(pipe, { fd: 1, video: true, audio: 'aac', format: 'mpegts' });
  t.throws(() => p.plane.tapSend(ts, Buffer.from([0])), /only an 'rtmp' tap takes bytes/);
  p.plane.removeTap(ts);
});
