// Codec policy end to end: H.265 (legacy id 12 and Enhanced RTMP hvc1/hev1), AV1, VP9, the legacy FLV video
// codecs, the non-AAC audio codecs, and Enhanced RTMP H.264/AAC (which are forwarded like their legacy forms).

import t from 'tap';
import { FlvToMedia } from '../../src/media/flv-to-media.js';
import { H265_REASON } from '../../src/media/policy.js';
import { avFlv, flvTags, hevcNalUnits, isAacRawTag, isAvcNaluTag, lengthPrefixed, type FlvTagRecord } from './helpers/flv-file.js';
import { feed, RecordingSink } from './helpers/sink.js';

function run(tags: readonly FlvTagRecord[]) {
  const sink = new RecordingSink();
  const conv = new FlvToMedia(sink);
  return { sink, conv, ...feed(conv, tags) };
}

const fourcc = (s: string) => Buffer.from(s, 'latin1');
const si24 = (v: number) => {
  const b = Buffer.alloc(3);
  b.writeIntBE(v, 0, 3);
  return b;
};

/** A plausible hvcC (ISO/IEC 14496-15 §8.3.3) around real x265 VPS/SPS/PPS. */
function buildHvcc(vps: Buffer, sps: Buffer, pps: Buffer): Buffer {
  // general_profile_tier_level is 12 bytes at SPS byte 3 (2-byte NAL header + 1 byte of ids).
  const ptl = sps.subarray(3, 15);
  const head = Buffer.from([
    1, // configurationVersion
    ...ptl.subarray(0, 1), // profile_space, tier, profile_idc
    ...ptl.subarray(1, 5), // profile_compatibility_flags
    ...ptl.subarray(5, 11), // constraint_indicator_flags
    ptl[11]!, // general_level_idc
    0xf0, 0x00, // min_spatial_segmentation_idc
    0xfc, // parallelismType
    0xfd, // chroma_format_idc 1
    0xf8, 0xf8, // bit depths 8
    0x00, 0x00, // avgFrameRate
    0x0f, // constantFrameRate 0, numTemporalLayers 1, temporalIdNested 1, lengthSizeMinusOne 3
    3, // numOfArrays
  ]);
  const arrays = [vps, sps, pps].map((nal) => {
    const a = Buffer.alloc(5);
    a[0] = 0x80 | ((nal[0]! >>> 1) & 0x3f);
    a.writeUInt16BE(1, 1);
    a.writeUInt16BE(nal.length, 3);
    return Buffer.concat([a, nal]);
  });
  return Buffer.concat([head, ...arrays]);
}

async function hevcParts() {
  const nals = await hevcNalUnits();
  const type = (n: Buffer) => (n[0]! >>> 1) & 0x3f;
  const vps = nals.find((n) => type(n) === 32)!;
  const sps = nals.find((n) => type(n) === 33)!;
  const pps = nals.find((n) => type(n) === 34)!;
  // Access units: split at each VCL NAL with first_slice_segment_in_pic_flag set.
  const frames: Buffer[][] = [];
  for (const n of nals) {
    const ty = type(n);
    if (ty >= 32 && ty <= 34) continue;
    if (ty < 32 && (n[2]! & 0x80)) frames.push([]);
    if (frames.length) frames[frames.length - 1]!.push(n);
  }
  const isKey = (f: Buffer[]) => f.some((n) => type(n) >= 16 && type(n) <= 21);
  return { hvcc: buildHvcc(vps, sps, pps), frames, isKey };
}

t.test('H.265 with the legacy codec id 12 is refused at the sequence header', async (t) => {
  const { hvcc, frames, isKey } = await hevcParts();
  t.ok(frames.length >= 10, `${frames.length} HEVC access units from x265`);
  const tags: FlvTagRecord[] = [
    { type: 9, timestamp: 0, body: Buffer.concat([Buffer.from([0x1c, 0, 0, 0, 0]), hvcc]) },
    ...frames.map((f, i) => ({
      type: 9, timestamp: Math.round((i * 1000) / 30),
      body: Buffer.concat([Buffer.from([(isKey(f) ? 0x10 : 0x20) | 12, 1]), si24(0), lengthPrefixed(f)]),
    })),
  ];
  const r = run(tags);
  t.same(r.refusal, { code: 'h265', reason: H265_REASON });
  t.equal(r.refusal?.reason, 'H.265 is not supported: set the encoder to H.264 (x264)');
  t.equal(r.refusedAt, 0);
  t.equal(r.sink.events.length, 0);
  // A publisher that skips the sequence header is refused at its first frame all the same.
  t.equal(run(tags.slice(1)).refusal?.code, 'h265');
});

t.test('H.265 over Enhanced RTMP (hvc1 / hev1) is refused: SequenceStart, CodedFrames, CodedFramesX', async (t) => {
  const { hvcc, frames, isKey } = await hevcParts();
  const seq = { type: 9, timestamp: 0, body: Buffer.concat([Buffer.from([0x80 | 0x10 | 0]), fourcc('hvc1'), hvcc]) };
  const coded = frames.map((f, i) => ({
    type: 9, timestamp: Math.round((i * 1000) / 30),
    body: Buffer.concat([Buffer.from([0x80 | ((isKey(f) ? 1 : 2) << 4) | 1]), fourcc('hvc1'), si24(0), lengthPrefixed(f)]),
  }));
  const codedX = frames.map((f, i) => ({
    type: 9, timestamp: Math.round((i * 1000) / 30),
    body: Buffer.concat([Buffer.from([0x80 | ((isKey(f) ? 1 : 2) << 4) | 3]), fourcc('hvc1'), lengthPrefixed(f)]),
  }));
  for (const [name, tags] of [['SequenceStart', [seq, ...coded]], ['CodedFrames', coded], ['CodedFramesX', codedX]] as const) {
    const r = run(tags);
    t.same(r.refusal, { code: 'h265', reason: H265_REASON }, name);
    t.equal(r.refusedAt, 0, name);
  }
  const hev1 = { ...seq, body: Buffer.concat([Buffer.from([0x90]), fourcc('hev1'), hvcc]) };
  t.same(run([hev1]).refusal, { code: 'h265', reason: H265_REASON }, 'hev1');
  // Wrapped in a ModEx block (timestamp offset in nanoseconds) it is still recognised.
  const modEx = { ...seq, body: Buffer.concat([Buffer.from([0x80 | 0x10 | 7, 2, 0x00, 0x01, 0x86, 0x00]), fourcc('hvc1'), hvcc]) };
  t.same(run([modEx]).refusal, { code: 'h265', reason: H265_REASON }, 'ModEx');
});

t.test('AV1 and VP9 over Enhanced RTMP are refused with their names', async (t) => {
  const av1c = Buffer.from([0x81, 0x08, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x24, 0xcf, 0x7f, 0x0d, 0xbf, 0xff, 0x30, 0x08]);
  const av1 = [
    { type: 9, timestamp: 0, body: Buffer.concat([Buffer.from([0x90]), fourcc('av01'), av1c]) },
    { type: 9, timestamp: 0, body: Buffer.concat([Buffer.from([0x91]), fourcc('av01'), Buffer.from([0x12, 0x00, 0x32, 0x10])]) },
  ];
  t.same(run(av1).refusal, { code: 'video-codec', reason: 'AV1 video is not supported: set the encoder to H.264 (x264)' });
  t.same(run(av1.slice(1)).refusal?.reason, 'AV1 video is not supported: set the encoder to H.264 (x264)');
  const vp9 = { type: 9, timestamp: 0, body: Buffer.concat([Buffer.from([0x90]), fourcc('vp09'), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])]) };
  t.same(run([vp9]).refusal, { code: 'video-codec', reason: 'VP9 video is not supported: set the encoder to H.264 (x264)' });
  const odd = { type: 9, timestamp: 0, body: Buffer.concat([Buffer.from([0x90]), fourcc('xyz1'), Buffer.from([1])]) };
  t.match(run([odd]).refusal, { code: 'video-codec', reason: /^Unknown \(FourCC 'xyz1'\) video is not supported/ });
});

t.test('legacy FLV video codecs other than H.264 are refused with their names', async (t) => {
  const h263 = await avFlv({ audio: null, video: ['-c:v', 'flv'] });
  t.same(run(h263.tags).refusal, { code: 'video-codec', reason: 'Sorenson H.263 video is not supported: set the encoder to H.264 (x264)' });
  const names: Record<number, string> = { 3: 'ScreenVideo', 4: 'VP6', 5: 'VP6 with alpha', 6: 'ScreenVideo v2', 1: 'JPEG', 13: 'AV1' };
  for (const [id, name] of Object.entries(names)) {
    const body = Buffer.from([0x10 | Number(id), 0, 0, 0, 0, 0, 0]);
    t.same(run([{ type: 9, timestamp: 0, body }]).refusal, {
      code: 'video-codec', reason: `${name} video is not supported: set the encoder to H.264 (x264)`,
    }, name);
  }
  t.match(run([{ type: 9, timestamp: 0, body: Buffer.from([0x19, 0]) }]).refusal, { code: 'video-codec', reason: /^Unknown \(FLV codec id 9\)/ });
});

t.test('non-AAC audio codecs are refused with their names', async (t) => {
  const real: [string, string[], string][] = [
    ['Speex', ['-c:a', 'libspeex', '-ar', '16000'], 'Speex'],
    ['Nellymoser', ['-c:a', 'nellymoser', '-ar', '22050'], 'Nellymoser'],
    ['G.711 A-law', ['-c:a', 'pcm_alaw', '-ar', '8000'], 'G.711 A-law'],
    ['G.711 µ-law', ['-c:a', 'pcm_mulaw', '-ar', '8000'], 'G.711 µ-law'],
    ['ADPCM', ['-c:a', 'adpcm_swf', '-ar', '22050'], 'ADPCM'],
    ['Linear PCM', ['-c:a', 'pcm_s16le', '-ar', '44100'], 'Linear PCM'],
  ];
  for (const [label, args, name] of real) {
    const flv = await avFlv({ video: null, audio: args, seconds: 0.5 });
    t.same(run(flv.tags).refusal, { code: 'audio-codec', reason: `${name} audio is not supported: set the audio encoder to AAC` }, label);
  }
  const handMade: [number, string][] = [[14, 'MP3'], [15, 'Device-specific'], [13, 'Opus']];
  for (const [fmt, name] of handMade) {
    t.same(run([{ type: 8, timestamp: 0, body: Buffer.from([(fmt << 4) | 0x0f, 1, 2, 3]) }]).refusal?.reason,
      `${name} audio is not supported: set the audio encoder to AAC`, name);
  }
  const opusEx = { type: 8, timestamp: 0, body: Buffer.concat([Buffer.from([0x90]), fourcc('Opus'), Buffer.from('OpusHead')]) };
  t.same(run([opusEx]).refusal, { code: 'audio-codec', reason: 'Opus audio is not supported: set the audio encoder to AAC' });
  const ac3 = { type: 8, timestamp: 0, body: Buffer.concat([Buffer.from([0x91]), fourcc('ac-3'), Buffer.from([0x0b, 0x77])]) };
  t.same(run([ac3]).refusal?.reason, 'AC-3 audio is not supported: set the audio encoder to AAC');
});

t.test('unusual AAC flavours are refused with an AAC-LC hint', async (t) => {
  // USAC (object type 42 via the escape: 31, then 42 − 32 = 10), 48 kHz, stereo.
  const usac = Buffer.from([0xf9, 0x46, 0x20, 0x00]);
  const r = run([{ type: 8, timestamp: 0, body: Buffer.concat([Buffer.from([0xaf, 0]), usac]) }]);
  t.same(r.refusal, { code: 'audio-codec', reason: 'xHE-AAC (USAC) audio is not supported: set the audio encoder to AAC-LC' });
});

/** Rewrites legacy AVC/AAC tags into their Enhanced RTMP form. */
function toEnhanced(tags: readonly FlvTagRecord[], codedFramesX: boolean): FlvTagRecord[] {
  return tags.flatMap((x) => {
    if (x.type === 9 && (x.body[0]! & 0x0f) === 7) {
      const frameType = x.body[0]! >>> 4;
      const pt = x.body[1]!;
      const payload = x.body.subarray(5);
      if (pt === 0) return [{ ...x, body: Buffer.concat([Buffer.from([0x80 | (frameType << 4) | 0]), fourcc('avc1'), payload]) }];
      if (pt !== 1) return [];
      const body = codedFramesX
        ? Buffer.concat([Buffer.from([0x80 | (frameType << 4) | 3]), fourcc('avc1'), payload])
        : Buffer.concat([Buffer.from([0x80 | (frameType << 4) | 1]), fourcc('avc1'), x.body.subarray(2, 5), payload]);
      return [{ ...x, body }];
    }
    if (x.type === 8 && x.body[0]! >>> 4 === 10) {
      return [{ ...x, body: Buffer.concat([Buffer.from([0x90 | x.body[1]!]), fourcc('mp4a'), x.body.subarray(2)]) }];
    }
    return [x];
  });
}

t.test('H.264 and AAC over Enhanced RTMP (avc1, mp4a) are forwarded exactly like the legacy form', async (t) => {
  const flv = await avFlv();
  const legacy = run(flv.tags);
  for (const x of [false, true]) {
    const enhanced = run(toEnhanced(flv.tags, x));
    t.equal(enhanced.refusal, null, x ? 'CodedFramesX' : 'CodedFrames');
    t.same(enhanced.sink.videoConfigs, legacy.sink.videoConfigs);
    t.same(enhanced.sink.audioConfigs, legacy.sink.audioConfigs);
    t.same(enhanced.sink.video, legacy.sink.video);
    t.same(enhanced.sink.audio, legacy.sink.audio);
  }
  // With B-frames, CodedFrames carries the CTS and is refused at once.
  const bf = await avFlv({ audio: null, video: ['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-bf', '2'] });
  const r = run(toEnhanced(bf.tags, false));
  t.equal(r.refusal?.code, 'bframes');
  t.ok(r.refusedAtVideo <= 2);
  // CodedFramesX has no CTS: the slice header check still finds the B-frames.
  const rx = run(toEnhanced(bf.tags, true));
  t.equal(rx.refusal?.code, 'bframes');
  t.ok(rx.refusedAtVideo <= 5, `CodedFramesX refused at video tag ${rx.refusedAtVideo}`);
});

t.test('script data and command frames are skipped', async (t) => {
  const flv = await avFlv({ seconds: 0.5 });
  const sink = new RecordingSink();
  const conv = new FlvToMedia(sink);
  t.equal(conv.push(18 as 9, 0, Buffer.from([2, 0, 10])), null, 'type 18 ignored');
  t.equal(conv.push(9, 0, Buffer.from([0x57, 0])), null, 'legacy command frame');
  t.equal(conv.push(9, 0, Buffer.from([0xd0, 0])), null, 'Enhanced RTMP command frame');
  t.equal(conv.push(9, 0, Buffer.alloc(0)), null, 'empty video message');
  t.equal(conv.push(8, 0, Buffer.alloc(0)), null, 'empty audio message');
  t.equal(feed(conv, flv.tags).refusal, null);
  t.equal(sink.video.length, flv.tags.filter(isAvcNaluTag).length);
  t.equal(sink.audio.length, flv.tags.filter(isAacRawTag).length);
  const eos = flv.tags.filter((x) => x.type === 9 && x.body[1] === 2).length;
  t.equal(eos, 1, 'ffmpeg ends the stream with an AVC end-of-sequence tag');
  t.equal(conv.stats.skipped, 5 + eos);
});

t.test('a script tag made by ffmpeg exists and is ignored by feed()', async (t) => {
  const flv = await flvTags(['-f', 'lavfi', '-i', 'sine', '-t', '0.2', '-c:a', 'aac']);
  t.ok(flv.tags.some((x) => x.type === 18));
});
