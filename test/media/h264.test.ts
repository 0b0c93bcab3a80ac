import t from 'tap';
import { MediaError } from '../../src/media/errors.js';
import {
  isKeyframe, parseAvcDecoderConfigurationRecord, parsePpsIds, parseSps, profileName, sliceType, splitLengthPrefixed,
} from '../../src/media/h264.js';
import { avFlv, isAvcNaluTag, lengthPrefixed, type AvOptions } from './helpers/flv-file.js';
import { BitWriter, escapeRbsp } from './helpers/bit-writer.js';

async function avcC(o: AvOptions) {
  const flv = await avFlv({ audio: null, seconds: 0.2, ...o });
  const seq = flv.tags.find((x) => x.type === 9 && x.body[1] === 0)!;
  return { rec: parseAvcDecoderConfigurationRecord(seq.body.subarray(5)), flv };
}

const x264 = (...extra: string[]) => ['-c:v', 'libx264', '-preset', 'ultrafast', ...extra];

t.test('avcC and SPS from libx264, profile by profile', async (t) => {
  const cases: [string, AvOptions, Record<string, unknown>][] = [
    ['baseline', { video: x264('-profile:v', 'baseline') }, { profile: 66, profileName: 'Constrained Baseline', chromaFormatIdc: 1, bitDepth: 8 }],
    ['main', { video: ['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'main'] }, { profile: 77, profileName: 'Main' }],
    ['high', { video: ['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high'] }, { profile: 100, profileName: 'High', frameMbsOnly: true }],
    ['high + scaling lists', { video: ['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-x264-params', 'cqm=jvt'] }, { profile: 100, profileName: 'High' }],
    ['high 10', { pixFmt: 'yuv420p10le', video: x264('-profile:v', 'high10') }, { profile: 110, profileName: 'High 10', bitDepth: 10 }],
    ['high 4:2:2', { pixFmt: 'yuv422p', video: x264('-profile:v', 'high422') }, { profile: 122, profileName: 'High 4:2:2', chromaFormatIdc: 2 }],
    ['high 4:4:4', { pixFmt: 'yuv444p', video: x264('-profile:v', 'high444') }, { profile: 244, profileName: 'High 4:4:4', chromaFormatIdc: 3 }],
    ['4:4:4 with odd crop', { size: '330x186', pixFmt: 'yuv444p', video: x264('-profile:v', 'high444') }, { width: 330, height: 186, chromaFormatIdc: 3 }],
    ['4:2:2 with crop', { size: '328x186', pixFmt: 'yuv422p', video: x264('-profile:v', 'high422') }, { width: 328, height: 186 }],
    ['interlaced', { size: '320x240', video: x264('-profile:v', 'high', '-flags', '+ilme+ildct') }, { frameMbsOnly: false, width: 320, height: 240 }],
    ['interlaced, cropped', { size: '720x576', rate: 25, video: x264('-profile:v', 'high', '-flags', '+ilme+ildct') }, { frameMbsOnly: false, width: 720, height: 576, fps: 25 }],
    ['interlaced 1080', { size: '1920x1080', seconds: 0.1, video: x264('-flags', '+ilme+ildct') }, { frameMbsOnly: false, width: 1920, height: 1080 }],
  ];
  for (const [name, o, expected] of cases) {
    const { rec } = await avcC(o);
    t.equal(rec.naluLengthSize, 4, name);
    t.equal(rec.sps.length, 1, name);
    t.equal(rec.pps.length, 1, name);
    const sps = parseSps(rec.sps[0]!);
    t.match(sps, { width: 320, height: 240, fps: o.rate ?? 30, spsId: 0, level: rec.level, ...expected }, name);
    t.equal(sps.profile, rec.profile, `${name}: avcC and SPS agree`);
    t.same(parsePpsIds(rec.pps[0]!), { ppsId: 0, spsId: 0 }, name);
  }
});

t.test('a hand-made SPS: Main, POC type 1, field coding, cropping, Extended_SAR, 29.97 fps, escapes', async (t) => {
  const w = new BitWriter()
    .u(8, 0x67) // NAL header
    .u(8, 77).u(8, 0x40).u(8, 40) // profile, constraint flags, level 4.0
    .ue(3) // sps id
    .ue(0) // log2_max_frame_num_minus4
    .ue(1).flag(false).se(-2).se(1).ue(2).se(4).se(-4) // POC type 1 with a 2-entry cycle
    .ue(4).flag(false) // max_num_ref_frames, gaps
    .ue(119).ue(33) // 1920 wide, 34 map units (field pairs → 1088)
    .flag(false).flag(true).flag(true) // frame_mbs_only 0, mbaff 1, direct_8x8
    .flag(true).ue(0).ue(0).ue(0).ue(2) // crop bottom 2 × (2 × 2) = 8 → 1080
    .flag(true) // VUI
    .flag(true).u(8, 255).u(16, 4).u(16, 3) // Extended_SAR 4:3
    .flag(false) // overscan
    .flag(true).u(3, 5).flag(false).flag(true).u(8, 1).u(8, 1).u(8, 1) // video signal type + colour description
    .flag(false) // chroma loc
    .flag(true).u(32, 1001).u(32, 60000).flag(true) // timing: 29.97
    .trailing();
  const nal = escapeRbsp(w.bytes());
  const sps = parseSps(nal);
  t.match(sps, { spsId: 3, profile: 77, profileName: 'Main', level: 40, frameMbsOnly: false, width: 1920, height: 1080, fps: 29.97 });

  // Emulation prevention inside the fields: num_units_in_tick = 1 and time_scale = 50 are runs of zero bytes.
  const w2 = new BitWriter().u(8, 0x67).u(8, 66).u(8, 0).u(8, 0).ue(0).ue(0).ue(2).ue(0).flag(false)
    .ue(255).ue(0).flag(true).flag(false).flag(false)
    .flag(true).flag(false).flag(false).flag(false).flag(false).flag(true).u(32, 1).u(32, 50).flag(true).trailing();
  const raw = w2.bytes();
  const escaped = escapeRbsp(raw);
  t.ok(escaped.length > raw.length, 'the NAL needed escaping');
  t.match(parseSps(escaped), { profileName: 'Baseline', width: 4096, height: 16, fps: 25, level: 0 });
});

t.test('SPS errors are MediaErrors', async (t) => {
  t.throws(() => parseSps(Buffer.from([0x68, 0xce, 0x38, 0x80])), { name: 'MediaError', message: /expected an SPS/ });
  t.throws(() => parseSps(Buffer.from([0x67, 100, 0])), MediaError);
  t.throws(() => parseSps(Buffer.from([0x67, 66, 0, 30, 0x80])), { message: /ends early/ });
  const { rec } = await avcC({});
  const sps = rec.sps[0]!;
  for (let n = 4; n < sps.length - 6; n++) {
    // Truncated SPS: either a MediaError or, once the picture size fits, a result.
    try {
      parseSps(sps.subarray(0, n));
    } catch (e) {
      t.type(e, MediaError);
    }
  }
  const bad = new BitWriter().u(8, 0x67).u(8, 100).u(8, 0).u(8, 30).ue(0).ue(7).trailing().bytes();
  t.throws(() => parseSps(bad), { message: /chroma_format_idc 7/ });
});

t.test('avcC errors are MediaErrors', async (t) => {
  const { rec, flv } = await avcC({});
  const good = flv.tags.find((x) => x.type === 9 && x.body[1] === 0)!.body.subarray(5);
  t.equal(rec.profile, good[1]);
  t.throws(() => parseAvcDecoderConfigurationRecord(good.subarray(0, 5)), { message: /shorter than the 7-byte minimum/ });
  const v0 = Buffer.from(good);
  v0[0] = 0;
  t.throws(() => parseAvcDecoderConfigurationRecord(v0), { message: /configurationVersion 0/ });
  const l3 = Buffer.from(good);
  l3[4] = 0xfe;
  t.throws(() => parseAvcDecoderConfigurationRecord(l3), { message: /3-byte NAL lengths/ });
  const long = Buffer.from(good);
  long.writeUInt16BE(0xffff, 6);
  t.throws(() => parseAvcDecoderConfigurationRecord(long), { message: /SPS length 65535/ });
  for (let n = 7; n < good.length; n++) t.throws(() => parseAvcDecoderConfigurationRecord(good.subarray(0, n)), MediaError);
  t.equal(parseAvcDecoderConfigurationRecord(Buffer.concat([good, Buffer.from([0xfd, 0xf8, 0xf8, 0])])).pps.length, 1, 'high-profile trailer ignored');
});

t.test('splitLengthPrefixed', async (t) => {
  const nals = [Buffer.from([0x65, 1, 2, 3]), Buffer.from([0x06, 5]), Buffer.from([0x41, 9, 9])];
  for (const size of [1, 2, 4]) {
    const buf = lengthPrefixed(nals, size);
    t.same(splitLengthPrefixed(buf, size), nals, `size ${size}`);
    t.throws(() => splitLengthPrefixed(buf.subarray(0, buf.length - 1), size), { name: 'MediaError', message: /runs past the end/ });
    t.throws(() => splitLengthPrefixed(Buffer.concat([buf, Buffer.alloc(size - 1 || 1, 0xff)]), size), MediaError);
  }
  const huge = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x65]);
  t.throws(() => splitLengthPrefixed(huge, 4), { message: /NAL length 4294967295/ });
  t.same(splitLengthPrefixed(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 0x09]), 4), [Buffer.from([0x09])], 'zero lengths skipped');
  t.equal(isKeyframe(nals), true);
  t.equal(isKeyframe(nals.slice(1)), false);
});

t.test('sliceType on real frames: I/P without B-frames, B with -bf 2', async (t) => {
  const count = async (video: string[]) => {
    const flv = await avFlv({ audio: null, video });
    const types: Record<string, number> = {};
    for (const x of flv.tags.filter(isAvcNaluTag)) {
      const nals = splitLengthPrefixed(x.body.subarray(5), 4);
      const slice = nals.find((n) => (n[0]! & 0x1f) === 1 || (n[0]! & 0x1f) === 5)!;
      const st = sliceType(slice) % 5;
      const name = ['P', 'B', 'I', 'SP', 'SI'][st]!;
      types[name] = (types[name] ?? 0) + 1;
      t.equal(sliceType(x.body, x.body.indexOf(slice), x.body.indexOf(slice) + slice.length), sliceType(slice), 'in-place form agrees');
    }
    return types;
  };
  t.same(await count(['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'baseline', '-g', '30']), { I: 2, P: 58 });
  const withB = await count(['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-bf', '2', '-g', '30']);
  t.ok((withB['B'] ?? 0) > 20, `B slices: ${JSON.stringify(withB)}`);
  t.equal(sliceType(Buffer.from([0x67, 1, 2])), -1, 'not a slice');
  t.throws(() => sliceType(Buffer.from([0x41])), MediaError, 'slice header cut short');
  t.throws(() => sliceType(Buffer.from([0x41, 0x8b])), { message: /slice_type/ });
});

t.test('profile names', async (t) => {
  t.equal(profileName(66, 0x40), 'Constrained Baseline');
  t.equal(profileName(66, 0x80), 'Baseline');
  t.equal(profileName(88), 'Extended');
  t.equal(profileName(110, 0x10), 'High 10 Intra');
  t.equal(profileName(244), 'High 4:4:4');
  t.equal(profileName(7), 'Profile 7');
});
