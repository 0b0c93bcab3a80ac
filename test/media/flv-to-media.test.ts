import t from 'tap';
import { FlvToMedia, LONG_GOP_MS } from '../../src/media/flv-to-media.js';
import { BFRAMES_REASON } from '../../src/media/policy.js';
import type { AacConfig, H264Config } from '../../src/media/model.js';
import { avFlv, avcTagNalTypes, isAacRawTag, isAvcNaluTag, type FlvTagRecord } from './helpers/flv-file.js';
import { feed, RecordingSink } from './helpers/sink.js';
import { BitWriter } from './helpers/bit-writer.js';

const HIGH = (extra: string[] = []) => ['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-g', '30', ...extra];

function run(tags: readonly FlvTagRecord[]) {
  const sink = new RecordingSink();
  const conv = new FlvToMedia(sink);
  const result = feed(conv, tags);
  return { sink, conv, ...result };
}

t.test('baseline 320x240@30 with AAC: configs, frames, keyframes, timestamps', async (t) => {
  const flv = await avFlv();
  const { sink, conv, refusal } = run(flv.tags);
  t.equal(refusal, null);
  t.equal(sink.videoConfigs.length, 1, 'one video config');
  const v = sink.videoConfigs[0] as H264Config;
  t.match(v, { codec: 'H264', profile: 66, profileName: 'Constrained Baseline', width: 320, height: 240, fps: 30, naluLengthSize: 4 });
  t.ok(v.level >= 10 && v.level <= 31, `level ${v.level}`);
  t.equal(v.sps.length, 1);
  t.equal(v.pps.length, 1);
  t.equal(v.sps[0]![0]! & 0x1f, 7);
  t.equal(v.pps[0]![0]! & 0x1f, 8);

  t.equal(sink.audioConfigs.length, 1, 'one audio config');
  const a = sink.audioConfigs[0] as AacConfig;
  t.match(a, { codec: 'AAC', objectType: 2, sampleRate: 44100, channels: 1 });

  const videoTags = flv.tags.filter(isAvcNaluTag);
  t.equal(videoTags.length, 60, 'ffmpeg made 2 s × 30 fps');
  t.equal(sink.video.length, 60, '60 video frames');
  t.equal(sink.video.filter((f) => f.keyframe).length, 2, '-g 30 over 60 frames: 2 keyframes');
  t.ok(sink.video[0]!.keyframe, 'first frame is a keyframe');
  t.ok(sink.video[30]!.keyframe, 'frame 30 is a keyframe');
  t.ok(sink.video.every((f) => f.pts === f.dts), 'pts == dts without B-frames');
  t.same(sink.video.map((f) => f.dts), videoTags.map((x) => x.timestamp), 'dts is the tag timestamp');
  for (const f of sink.video) {
    t.ok(f.nalus.length > 0 && f.nalus.every((n) => n.length > 0 && (n[0]! & 0x1f) !== 9 && (n[0]! & 0x1f) !== 12));
    if (f.keyframe) t.ok(f.nalus.some((n) => (n[0]! & 0x1f) === 5));
    else t.notOk(f.nalus.some((n) => (n[0]! & 0x1f) === 5));
  }

  const audioTags = flv.tags.filter(isAacRawTag);
  t.equal(sink.audio.length, audioTags.length, 'every AAC raw tag became a frame');
  t.ok(Math.abs(sink.audio.length - (2 * 44100) / 1024) <= 3, `${sink.audio.length} AAC frames ≈ 86`);
  t.same(sink.audio.map((f) => f.dts), audioTags.map((x) => x.timestamp));
  t.same(sink.audio[5]!.data, audioTags[5]!.body.subarray(2), 'AAC frame is the raw data block');

  // Configs come before the frames that need them.
  const firstVideo = sink.events.findIndex((e) => e.kind === 'frame' && e.frame.kind === 'video');
  const firstAudio = sink.events.findIndex((e) => e.kind === 'frame' && e.frame.kind === 'audio');
  t.ok(sink.events.findIndex((e) => e.kind === 'video-config') < firstVideo);
  t.ok(sink.events.findIndex((e) => e.kind === 'audio-config') < firstAudio);

  const s = conv.stats;
  t.match(s, { frames: 60, keyframes: 2, audioFrames: audioTags.length, longGop: false });
  t.ok(Math.abs(s.lastGopMs - 1000) <= 2, `GOP ${s.lastGopMs} ms`);
  t.equal(s.videoConfig, v);
  t.equal(s.audioConfig, a);
});

t.test('High profile without B-frames is forwarded with pts == dts', async (t) => {
  const flv = await avFlv({ video: HIGH(['-bf', '0']) });
  const { sink, refusal } = run(flv.tags);
  t.equal(refusal, null);
  t.match(sink.videoConfigs[0], { profile: 100, profileName: 'High', width: 320, height: 240, fps: 30 });
  t.equal(sink.video.length, 60);
  t.equal(sink.video.filter((f) => f.keyframe).length, 2);
  t.ok(sink.video.every((f) => f.pts === f.dts));
});

t.test('High profile with B-frames is refused at once, with the reason', async (t) => {
  const flv = await avFlv({ video: HIGH(['-bf', '2']) });
  const { sink, conv, refusal, refusedAtVideo } = run(flv.tags);
  t.same(refusal, { code: 'bframes', reason: BFRAMES_REASON });
  t.equal(
    refusal?.reason,
    'B-frames are not supported: in OBS set Output → Advanced → x264 options bframes=0, or Profile baseline; in ffmpeg use -bf 0 or -profile:v baseline',
  );
  t.ok(refusedAtVideo >= 0 && refusedAtVideo <= 3, `refused at video tag ${refusedAtVideo}`);
  t.equal(sink.video.length, 0, 'no frame was forwarded');
  t.equal(conv.refusal, refusal);
  const later = flv.tags.filter(isAvcNaluTag)[10]!;
  t.equal(conv.push(9, later.timestamp, later.body), refusal, 'the refusal sticks');
});

t.test('B-slices are caught from the slice header even with cts forced to 0', async (t) => {
  const flv = await avFlv({ video: HIGH(['-bf', '2']) });
  const zeroed = flv.tags.map((x) => {
    if (!isAvcNaluTag(x)) return x;
    const body = Buffer.from(x.body);
    body.writeIntBE(0, 2, 3);
    return { ...x, body };
  });
  const { sink, refusal, refusedAtVideo } = run(zeroed);
  t.equal(refusal?.code, 'bframes');
  t.equal(refusal?.reason, BFRAMES_REASON);
  t.ok(refusedAtVideo >= 1 && refusedAtVideo <= 4, `refused at video tag ${refusedAtVideo}`);
  t.ok(sink.video.length <= 3, 'only the frames before the first B-frame went out');
});

t.test('B-frames are checked on every frame, not just the first GOP', async (t) => {
  // A clean baseline stream, then frames of a B-frame stream spliced in after 40 clean frames (cts zeroed so only
  // the slice check can see them).
  const clean = await avFlv({ audio: null });
  const bf = await avFlv({ audio: null, video: HIGH(['-bf', '2']) });
  const cleanFrames = clean.tags.filter((x) => x.type === 9);
  const bFrames = bf.tags.filter(isAvcNaluTag).slice(35, 45).map((x) => {
    const body = Buffer.from(x.body);
    body.writeIntBE(0, 2, 3);
    return { ...x, body };
  });
  const { refusal, sink } = run([...cleanFrames.slice(0, 41), ...bFrames]);
  t.equal(refusal?.code, 'bframes');
  t.equal(sink.video.length >= 40, true);
});

t.test('MP3 audio is refused with its reason', async (t) => {
  const flv = await avFlv({ audio: ['-c:a', 'libmp3lame'] });
  const { refusal, sink } = run(flv.tags);
  t.same(refusal, { code: 'audio-codec', reason: 'MP3 audio is not supported: set the audio encoder to AAC' });
  t.equal(sink.audio.length, 0);
});

t.test('video only (-an) and audio only (-vn)', async (t) => {
  const vOnly = await avFlv({ audio: null });
  t.equal(vOnly.hasAudio, false);
  const a = run(vOnly.tags);
  t.equal(a.refusal, null);
  t.equal(a.sink.audioConfigs.length, 0);
  t.equal(a.sink.video.length, 60);

  const aOnly = await avFlv({ video: null, audio: ['-c:a', 'aac', '-ac', '2', '-ar', '48000'], sampleRate: 48000 });
  t.equal(aOnly.hasVideo, false);
  const b = run(aOnly.tags);
  t.equal(b.refusal, null);
  t.equal(b.sink.videoConfigs.length, 0);
  t.match(b.sink.audioConfigs[0], { codec: 'AAC', objectType: 2, sampleRate: 48000, channels: 2 });
  t.ok(Math.abs(b.sink.audio.length - (2 * 48000) / 1024) <= 3, `${b.sink.audio.length} frames`);
  t.equal(b.conv.stats.frames, 0);
});

t.test('picture size from the SPS, with and without cropping', async (t) => {
  const hd = await avFlv({ size: '1280x720', seconds: 0.2, audio: null, video: ['-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline'] });
  t.match(run(hd.tags).sink.videoConfigs[0], { width: 1280, height: 720, fps: 30 });
  // 360 = 22.5 macroblocks: coded 368 high, cropped by 8.
  const sd = await avFlv({ size: '640x360', seconds: 0.2, audio: null, video: ['-c:v', 'libx264', '-preset', 'ultrafast'] });
  t.match(run(sd.tags).sink.videoConfigs[0], { width: 640, height: 360 });
  // 1080 = 67.5 macroblocks: coded 1088.
  const fhd = await avFlv({ size: '1920x1080', seconds: 0.1, audio: null, video: ['-c:v', 'libx264', '-preset', 'ultrafast'] });
  t.match(run(fhd.tags).sink.videoConfigs[0], { width: 1920, height: 1080 });
  // Odd macroblock count horizontally: 328 = 20.5 MBs.
  const odd = await avFlv({ size: '328x184', seconds: 0.2, rate: 25, audio: null, video: ['-c:v', 'libx264', '-preset', 'ultrafast'] });
  t.match(run(odd.tags).sink.videoConfigs[0], { width: 328, height: 184, fps: 25 });
});

t.test('CBR filler NAL units (OBS default) are stripped; SEI stays', async (t) => {
  const flv = await avFlv({
    audio: null,
    video: HIGH(['-bf', '0', '-x264-params', 'filler=1:nal-hrd=cbr', '-b:v', '2M', '-minrate', '2M', '-maxrate', '2M', '-bufsize', '1M']),
  });
  const frameTags = flv.tags.filter(isAvcNaluTag);
  const withFiller = frameTags.filter((x) => avcTagNalTypes(x.body).includes(12)).length;
  t.ok(withFiller >= 20, `${withFiller} of ${frameTags.length} tags carry filler`);
  const { sink, refusal } = run(flv.tags);
  t.equal(refusal, null);
  t.equal(sink.video.length, frameTags.length);
  t.notOk(sink.video.some((f) => f.nalus.some((n) => (n[0]! & 0x1f) === 12)), 'no filler left');
  t.ok(sink.video.some((f) => f.nalus.some((n) => (n[0]! & 0x1f) === 6)), 'SEI kept');
  // Each frame holds exactly the non-filler, non-AUD NAL units of its tag.
  for (let i = 0; i < frameTags.length; i++) {
    const expected = avcTagNalTypes(frameTags[i]!.body).filter((x) => x !== 9 && x !== 12);
    t.same(sink.video[i]!.nalus.map((n) => n[0]! & 0x1f), expected);
  }
});

t.test('AUD NAL units are stripped', async (t) => {
  const flv = await avFlv({ audio: null, video: [...HIGH(['-bf', '0']), '-x264-params', 'aud=1'] });
  const frameTags = flv.tags.filter(isAvcNaluTag);
  t.ok(frameTags.every((x) => avcTagNalTypes(x.body).includes(9)), 'ffmpeg wrote AUDs');
  const { sink } = run(flv.tags);
  t.equal(sink.video.length, frameTags.length);
  t.notOk(sink.video.some((f) => f.nalus.some((n) => (n[0]! & 0x1f) === 9)));
});

t.test('a GOP over 4 s sets longGop', async (t) => {
  const flv = await avFlv({ rate: 10, seconds: 6, audio: null, video: ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-sc_threshold', '0'] });
  const { conv } = run(flv.tags);
  const s = conv.stats;
  t.equal(s.keyframes, 2);
  t.ok(s.lastGopMs > LONG_GOP_MS, `GOP ${s.lastGopMs} ms`);
  t.equal(s.longGop, true);
  t.equal(s.maxGopMs, s.lastGopMs);

  // The flag rises while the long GOP is still running, before the next keyframe.
  const sink = new RecordingSink();
  const c2 = new FlvToMedia(sink);
  const firstKeyToo = flv.tags.filter((x) => x.type === 9).slice(0, 48); // seq header + 47 frames = 4.6 s
  feed(c2, firstKeyToo);
  t.equal(c2.stats.keyframes, 1);
  t.equal(c2.stats.longGop, true);
});

t.test('in-band SPS/PPS: repeats are free, a changed SPS updates the config before the frame', async (t) => {
  const a = await avFlv({ audio: null, video: HIGH(['-bf', '0', '-x264-params', 'repeat-headers=1']) });
  const b = await avFlv({ audio: null, size: '640x360', video: HIGH(['-bf', '0', '-x264-params', 'repeat-headers=1']) });
  const aFrames = a.tags.filter(isAvcNaluTag);
  t.ok(avcTagNalTypes(aFrames[0]!.body).includes(7), 'ffmpeg repeated the SPS in-band');
  const bFrames = b.tags.filter(isAvcNaluTag);
  const tags = [...a.tags.filter((x) => x.type === 9), ...bFrames.map((x) => ({ ...x, timestamp: x.timestamp + 2000 }))];
  const { sink, refusal } = run(tags);
  t.equal(refusal, null);
  t.equal(sink.videoConfigs.length, 2, 'the repeated SPS did not re-announce the config; the new one did');
  t.match(sink.videoConfigs[0], { width: 320, height: 240 });
  t.match(sink.videoConfigs[1], { width: 640, height: 360, profileName: 'High', naluLengthSize: 4 });
  t.equal(sink.videoConfigs[1]!.sps.length, 1, 'same SPS id: replaced, not added');
  t.equal(sink.videoConfigs[1]!.pps.length, 1);
  const i = sink.events.findIndex((e) => e.kind === 'video-config' && e.config.width === 640);
  const next = sink.events[i + 1];
  t.ok(next?.kind === 'frame' && next.frame.kind === 'video' && next.frame.keyframe, 'new config right before the IDR that needs it');
  t.equal(sink.video.length, aFrames.length + bFrames.length);
});

t.test('an in-band SPS with a new id is added in front and described by the config; a new PPS likewise', async (t) => {
  const flv = await avFlv({ audio: null });
  const frames = flv.tags.filter(isAvcNaluTag);
  // Baseline, SPS id 1, 640x480 (40 × 30 macroblocks), no VUI.
  const sps1 = new BitWriter().u(8, 0x67).u(8, 66).u(8, 0xc0).u(8, 30).ue(1).ue(0).ue(2).ue(1).flag(false)
    .ue(39).ue(29).flag(true).flag(true).flag(false).flag(false).trailing().bytes();
  const pps3 = new BitWriter().u(8, 0x68).ue(3).ue(1).flag(false).flag(false).ue(0).ue(0).ue(0).flag(false).u(2, 0)
    .se(0).se(0).se(0).flag(false).flag(false).flag(false).trailing().bytes();
  const idr = frames[30]!;
  const withSps = Buffer.concat([idr.body.subarray(0, 5), u32(sps1.length), sps1, u32(pps3.length), pps3, idr.body.subarray(5)]);
  const { sink, refusal } = run([...flv.tags.filter((x) => x.type === 9).slice(0, 31), { ...idr, body: withSps }]);
  t.equal(refusal, null);
  t.equal(sink.videoConfigs.length, 2);
  const c = sink.videoConfigs[1]!;
  t.match(c, { width: 640, height: 480, profileName: 'Constrained Baseline', level: 30, fps: 0 });
  t.equal(c.sps.length, 2);
  t.ok(c.sps[0]!.equals(sps1), 'the new SPS first');
  t.ok(c.sps[1]!.equals(sink.videoConfigs[0]!.sps[0]!), 'the old one kept');
  t.equal(c.pps.length, 2);
  t.ok(c.pps[0]!.equals(pps3));
  t.same(sink.video.at(-1)!.nalus.map((n) => n[0]! & 0x1f).slice(0, 2), [7, 8], 'the parameter sets stay in the frame');
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

t.test('empty sequence headers are skipped', async (t) => {
  const sink = new RecordingSink();
  const conv = new FlvToMedia(sink);
  t.equal(conv.push(9, 0, Buffer.from([0x17, 0, 0, 0, 0])), null);
  t.equal(conv.push(8, 0, Buffer.from([0xaf, 0])), null);
  t.equal(conv.stats.skipped, 2);
  t.equal(sink.events.length, 0);
  const r = conv.push(9, 0, Buffer.from([0x17, 0, 0, 0, 0, 1]));
  t.equal(r?.code, 'malformed', 'a 1-byte avcC is malformed');
  t.match(r?.reason, /^Malformed stream: AVC sequence header is 1 bytes/);
  t.equal(conv.refusal, r);
});

t.test('frames before the first sequence header are skipped, not refused; repeated headers are not re-announced', async (t) => {
  const flv = await avFlv();
  const seqV = flv.tags.find((x) => x.type === 9 && x.body[1] === 0)!;
  const seqA = flv.tags.find((x) => x.type === 8 && x.body[1] === 0)!;
  const rest = flv.tags.filter((x) => x !== seqV && x !== seqA && x.type !== 18);
  const sink = new RecordingSink();
  const conv = new FlvToMedia(sink);
  t.equal(feed(conv, rest.slice(0, 20)).refusal, null);
  t.equal(sink.events.length, 0, 'nothing reached the sink');
  t.equal(conv.stats.skipped, 20);
  t.equal(feed(conv, [seqV, seqA, seqV, seqA, ...rest.slice(20)]).refusal, null);
  t.equal(sink.videoConfigs.length, 1);
  t.equal(sink.audioConfigs.length, 1);
  t.ok(sink.video.length > 0 && sink.audio.length > 0);
});

t.test('bytes are copied out of the (reused) tag body', async (t) => {
  const flv = await avFlv();
  const sink = new RecordingSink();
  const conv = new FlvToMedia(sink);
  const scratch = Buffer.alloc(1 << 20);
  const expected: Buffer[][] = [];
  for (const x of flv.tags) {
    if (x.type !== 8 && x.type !== 9) continue;
    x.body.copy(scratch);
    t.equal(conv.push(x.type, x.timestamp, scratch.subarray(0, x.body.length)), null);
    scratch.fill(0xa5); // the RTMP parser reuses its buffer
    if (isAvcNaluTag(x)) expected.push(splitAvcc(x.body));
  }
  t.equal(sink.video.length, expected.length);
  let same = true;
  for (let i = 0; i < expected.length; i++) {
    const got = sink.video[i]!.nalus;
    const want = expected[i]!;
    if (got.length !== want.length || got.some((n, j) => !n.equals(want[j]!))) same = false;
  }
  t.ok(same, 'every frame still holds its own bytes');
  t.ok(sink.videoConfigs[0]!.sps[0]![0] === 0x67 || (sink.videoConfigs[0]!.sps[0]![0]! & 0x1f) === 7, 'SPS intact');
  t.equal((sink.audioConfigs[0] as AacConfig).asc.toString("hex"), flv.tags.find((x) => x.type === 8)!.body.subarray(2).toString("hex"));
  t.match(sink.audioConfigs[0], { sampleRate: 44100 });
  t.ok(sink.audio.every((f, i) => f.data.equals(flv.tags.filter(isAacRawTag)[i]!.body.subarray(2))));
});

function splitAvcc(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 5; off + 4 <= body.length; ) {
    const len = body.readUInt32BE(off);
    const nal = body.subarray(off + 4, off + 4 + len);
    if (len > 0 && (nal[0]! & 0x1f) !== 9 && (nal[0]! & 0x1f) !== 12) out.push(nal);
    off += 4 + len;
  }
  return out;
}
