// In-process fuzz of the parsers that read what publishers send: AAC AudioSpecificConfig, H.264 (avcC, SPS, PPS,
// slice headers, AVCC splitting, parameter-set tracking, RTP depacketizing) and WHIP/WHEP SDP offers. Each gets
// PARSER_FUZZ_INPUTS (10⁵) seeded mutations of real inputs. (FLV tags through FlvToMedia: test/media/fuzz.test.ts.)
//
// "Guarded" means, per parser: the media parsers either return a value that keeps its promises (a sample rate and
// channel count > 0, a picture size inside 16384², ids in range, NAL units that are non-empty subarrays of the
// input) or throw a MediaError — anything else thrown is a bug (src/media/errors.ts). checkOffer never throws and
// answers null or a 400/406 with a reason; parseOffer throws only SdpError; the SDP rewrites never throw. The RTP
// depacketizer never throws and hands out only non-empty NAL units.

import t from 'tap';
import { performance } from 'node:perf_hooks';
import { parseAudioSpecificConfig } from '../../src/media/aac.js';
import { MediaError } from '../../src/media/errors.js';
import {
  parseAvcDecoderConfigurationRecord, parseSps, parsePpsIds, sliceType, splitLengthPrefixed,
} from '../../src/media/h264.js';
import { H264ParameterSets } from '../../src/media/h264-params.js';
import { H264Depacketizer } from '../../src/media/rtp-h264-depacketizer.js';
import { acceptBundleOnly, checkOffer, onlyH264Mode1, parseOffer, SdpError } from '../../src/room/sdp-offer.js';
import { avFlv } from './helpers/flv-file.js';
import { mulberry32 } from '../helpers/random.js';

const INPUTS = Number(process.env['PARSER_FUZZ_INPUTS'] ?? 100_000);
const SEED = Number(process.env['PARSER_FUZZ_SEED'] ?? 0xf22);

type Rand = () => number;

/** One mutation of `src`: bit flips, special bytes, 2/4-byte fields, truncation, extension, range copy/delete. */
function mutateBytes(src: Uint8Array, rand: Rand): Buffer {
  const int = (n: number) => Math.floor(rand() * n);
  let b = Buffer.from(src);
  const n = 1 + int(3);
  for (let k = 0; k < n; k++) {
    const len = b.length;
    switch (int(8)) {
      case 0: // bit flips
        for (let i = 1 + int(4); i > 0 && len; i--) b[int(len)]! ^= 1 << int(8);
        break;
      case 1: // bytes that mean something: 0 (Exp-Golomb runs), 0xff, 3 (emulation prevention), 0x80
        for (let i = 1 + int(3); i > 0 && len; i--) b[int(len)] = [0, 0xff, 3, 0x80, 1][int(5)]!;
        break;
      case 2: // a 2- or 4-byte field set to an edge value
        if (len >= 4) {
          const at = int(len - 3);
          const v = [0, 1, 0xffff, 0xffffffff, 0x7fffffff, len, int(0x10000)][int(7)]!;
          if (rand() < 0.5) b.writeUInt16BE(v & 0xffff, at);
          else b.writeUInt32BE(v >>> 0, at);
        }
        break;
      case 3:
        b = b.subarray(0, int(len + 1));
        break;
      case 4:
        b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + int(16) }, () => int(256)))]);
        break;
      case 5: { // duplicate a range
        const a = int(len + 1);
        const e = a + int(len - a + 1);
        const at = int(len + 1);
        b = Buffer.concat([b.subarray(0, at), b.subarray(a, e), b.subarray(at)]);
        break;
      }
      case 6: { // delete a range
        const a = int(len + 1);
        b = Buffer.concat([b.subarray(0, a), b.subarray(a + int(8))]);
        break;
      }
      default: // random bytes of the same length
        if (rand() < 0.1) b = Buffer.from(Array.from({ length: len }, () => int(256)));
    }
  }
  return b;
}

/** Runs `one` INPUTS times; collects anything thrown that `allowed` does not accept, and the time taken. */
function fuzz(rand: Rand, one: (i: number) => void, allowed: (e: unknown) => boolean) {
  const unguarded: string[] = [];
  let refused = 0;
  const t0 = performance.now();
  for (let i = 0; i < INPUTS; i++) {
    try {
      one(i);
    } catch (e) {
      if (allowed(e)) refused++;
      else if (unguarded.length < 5) unguarded.push(`input ${i} (seed ${SEED}): ${(e as Error).stack ?? String(e)}`);
    }
  }
  return { unguarded, refused, ms: Math.round(performance.now() - t0) };
}

const isMediaError = (e: unknown) => e instanceof MediaError;
const broken: string[] = [];
const expect = (ok: boolean, what: string) => {
  if (!ok && broken.length < 5) broken.push(what);
};

const flv = await avFlv({ seconds: 1 });
const videoHeader = flv.tags.find((x) => x.type === 9 && x.body[1] === 0)!.body.subarray(5);
const avcc = parseAvcDecoderConfigurationRecord(videoHeader);
const frames = flv.tags.filter((x) => x.type === 9 && x.body[1] === 1).map((x) => x.body.subarray(5));
const slices = frames.flatMap((f) => splitLengthPrefixed(f, 4)).filter((n) => (n[0]! & 0x1f) === 1 || (n[0]! & 0x1f) === 5);

t.test('AAC AudioSpecificConfig', async (t) => {
  const rand = mulberry32(SEED);
  const seeds = [
    '1210', '1190', '1390', '1408', // AAC-LC 44.1 k stereo, 48 k stereo, 24 k stereo, 16 k mono
    '2b92080000', // HE-AAC (SBR) explicit: 24 k core → 48 k
    'eb0988000000', // HE-AAC v2 (PS) explicit
    '1200050800', // AAC-LC channelConfiguration 0 with a program_config_element
    'f8ee0000', // escaped object type (31 → 32 + n)
    '1780bb8010', // explicit sampling rate (index 15)
  ].map((h) => Buffer.from(h, 'hex'));
  const r = fuzz(rand, () => {
    const asc = mutateBytes(seeds[Math.floor(rand() * seeds.length)]!, rand);
    const c = parseAudioSpecificConfig(asc);
    expect(c.sampleRate > 0 && Number.isInteger(c.sampleRate) && c.channels > 0 && c.objectType > 0, `bad config ${JSON.stringify(c)}`);
  }, isMediaError);
  t.comment(`${INPUTS} inputs in ${r.ms} ms, ${r.refused} refused with a MediaError`);
  t.same(r.unguarded, [], 'only MediaError thrown');
  t.same(broken.splice(0), [], 'every accepted config is plausible');
});

t.test('H.264: avcC, SPS, PPS, slice headers, AVCC splitting, parameter sets', async (t) => {
  const rand = mulberry32(SEED + 1);
  const int = (n: number) => Math.floor(rand() * n);
  const params = new H264ParameterSets();
  const r = fuzz(rand, (i) => {
    switch (i % 6) {
      case 0: {
        const rec = parseAvcDecoderConfigurationRecord(mutateBytes(videoHeader, rand));
        expect([1, 2, 4].includes(rec.naluLengthSize), `naluLengthSize ${rec.naluLengthSize}`);
        expect([...rec.sps, ...rec.pps].every((n) => n.length > 0), 'empty parameter set');
        break;
      }
      case 1: {
        const s = parseSps(mutateBytes(avcc.sps[0]!, rand));
        expect(s.width > 0 && s.height > 0 && s.width <= 16384 && s.height <= 16384, `picture ${s.width}x${s.height}`);
        expect(Number.isFinite(s.fps) && s.fps >= 0 && s.spsId <= 31, `fps ${s.fps} spsId ${s.spsId}`);
        break;
      }
      case 2: {
        const ids = parsePpsIds(mutateBytes(avcc.pps[0]!, rand));
        expect(ids.ppsId <= 255 && ids.spsId <= 31, `pps ids ${JSON.stringify(ids)}`);
        break;
      }
      case 3: {
        const nal = mutateBytes(slices[int(slices.length)]!, rand);
        const start = int(Math.min(4, nal.length + 1));
        const st = sliceType(nal, start, start + int(nal.length - start + 1));
        expect(st >= -1 && st <= 9, `slice_type ${st}`);
        break;
      }
      case 4: {
        const sample = mutateBytes(frames[int(frames.length)]!, rand);
        const nalus = splitLengthPrefixed(sample, [1, 2, 4, 4, 3][int(5)]!);
        expect(nalus.every((n) => n.length > 0 && n.buffer === sample.buffer), 'an empty or copied NAL unit');
        break;
      }
      default: {
        const nalus = [mutateBytes(avcc.sps[0]!, rand), mutateBytes(avcc.pps[0]!, rand)];
        if (rand() < 0.2) params.setAll([nalus[0]!], [nalus[1]!], [1, 2, 4][int(3)]!);
        else params.update(nalus);
        const c = params.config;
        expect(!c || (c.width > 0 && c.height > 0 && c.sps.length > 0 && c.pps.length > 0), 'a config without a picture or parameter sets');
      }
    }
  }, isMediaError);
  t.comment(`${INPUTS} inputs in ${r.ms} ms, ${r.refused} refused with a MediaError`);
  t.same(r.unguarded, [], 'only MediaError thrown');
  t.same(broken.splice(0), [], 'every accepted value keeps its promises');
});

t.test('RTP H.264 depacketizer', async (t) => {
  const rand = mulberry32(SEED + 2);
  const int = (n: number) => Math.floor(rand() * n);
  // Packets as a WHIP publisher sends them: single NAL units, STAP-A of SPS+PPS, FU-A fragments of big slices.
  const packets: Buffer[] = [];
  packets.push(Buffer.concat([Buffer.from([24]), ...[avcc.sps[0]!, avcc.pps[0]!].flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n])]));
  for (const s of slices.slice(0, 40)) {
    if (s.length < 1000) packets.push(s);
    else for (let o = 1; o < s.length; o += 1000) {
      const fuHeader = (o === 1 ? 0x80 : 0) | (o + 1000 >= s.length ? 0x40 : 0) | (s[0]! & 0x1f);
      packets.push(Buffer.concat([Buffer.from([(s[0]! & 0xe0) | 28, fuHeader]), s.subarray(o, o + 1000)]));
    }
  }
  const depack = new H264Depacketizer();
  let seq = 0;
  let ts = 0;
  let units = 0;
  const r = fuzz(rand, () => {
    const p = packets[int(packets.length)]!;
    seq = (seq + (rand() < 0.02 ? int(5) : 1)) & 0xffff;
    if (rand() < 0.1) ts += 3000;
    const au = depack.push(seq, ts, rand() < 0.1, rand() < 0.5 ? mutateBytes(p, rand) : p, () => {});
    if (au) {
      units++;
      expect(au.nalus.length > 0 && au.nalus.every((n) => n.length > 0), 'an access unit with an empty NAL unit');
    }
  }, () => false);
  t.comment(`${INPUTS} packets in ${r.ms} ms, ${units} access units out`);
  t.same(r.unguarded, [], 'nothing thrown');
  t.same(broken.splice(0), [], 'access units hold only non-empty NAL units');
});

/** A Chromium-shaped WHIP offer (audio Opus, video VP8/VP9/H.264 ×2/AV1 with RTX, BUNDLE, extmaps, SSRCs). */
const CHROMIUM_OFFER = [
  'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0 1', 'a=extmap-allow-mixed',
  'a=msid-semantic: WMS stream',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx', 'a=ice-options:trickle',
  'a=fingerprint:sha-256 12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0',
  'a=setup:actpass', 'a=mid:0', 'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level', 'a=sendonly', 'a=msid:stream audio',
  'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2', 'a=rtcp-fb:111 transport-cc', 'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2', 'a=fmtp:63 111/111', 'a=rtpmap:9 G722/8000', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:13 CN/8000', 'a=rtpmap:110 telephone-event/48000', 'a=rtpmap:126 telephone-event/8000', 'a=ssrc:1111 cname:abc',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 102 103 127 121 45 46', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx', 'a=setup:actpass', 'a=mid:1', 'a=sendonly', 'a=rtcp-mux', 'a=rtcp-rsize',
  'a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 nack', 'a=rtcp-fb:96 nack pli', 'a=rtpmap:97 rtx/90000', 'a=fmtp:97 apt=96',
  'a=rtpmap:98 VP9/90000', 'a=fmtp:98 profile-id=0', 'a=rtpmap:99 rtx/90000', 'a=fmtp:99 apt=98',
  'a=rtpmap:102 H264/90000', 'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
  'a=rtpmap:103 rtx/90000', 'a=fmtp:103 apt=102',
  'a=rtpmap:127 H264/90000', 'a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f',
  'a=rtpmap:121 rtx/90000', 'a=fmtp:121 apt=127', 'a=rtpmap:45 AV1/90000', 'a=rtpmap:46 rtx/90000', 'a=fmtp:46 apt=45',
  'a=ssrc-group:FID 2222 3333', 'a=ssrc:2222 cname:abc', 'a=ssrc:3333 cname:abc', '',
].join('\r\n');

t.test('SDP offers: checkOffer, parseOffer, onlyH264Mode1, acceptBundleOnly', async (t) => {
  const rand = mulberry32(SEED + 3);
  const int = (n: number) => Math.floor(rand() * n);
  t.equal(checkOffer(CHROMIUM_OFFER, 'select H.264'), null, 'the unmutated offer is servable');
  const lines = CHROMIUM_OFFER.split('\r\n');
  const tokens = ['m=video 0 UDP/TLS/RTP/SAVPF', 'm=audio', 'a=rtpmap:102 H264/90000', 'packetization-mode=1', 'a=bundle-only', '\n', '\r', ' ', '', 'a=fmtp:', 'v=0'];
  let answered = 0;
  const r = fuzz(rand, () => {
    let sdp: string;
    switch (int(4)) {
      case 0: { // line-level: drop, duplicate, swap, replace lines
        const ls = [...lines];
        for (let k = 1 + int(4); k > 0; k--) {
          const a = int(ls.length);
          const op = int(4);
          if (op === 0) ls.splice(a, 1);
          else if (op === 1) ls.splice(int(ls.length), 0, ls[a]!);
          else if (op === 2) [ls[a], ls[int(ls.length)]] = [ls[int(ls.length)]!, ls[a]!];
          else ls[a] = tokens[int(tokens.length)]! + ls[a]!.slice(int(ls[a]!.length + 1));
        }
        sdp = ls.join(rand() < 0.9 ? '\r\n' : '\n');
        break;
      }
      case 1: // bytes, as latin1 and as UTF-8 with replacement characters
        sdp = mutateBytes(Buffer.from(CHROMIUM_OFFER), rand).toString(rand() < 0.5 ? 'latin1' : 'utf8');
        break;
      case 2: { // a token inserted somewhere
        const at = int(CHROMIUM_OFFER.length);
        sdp = CHROMIUM_OFFER.slice(0, at) + tokens[int(tokens.length)]! + CHROMIUM_OFFER.slice(at + int(4));
        break;
      }
      default: // cut short
        sdp = CHROMIUM_OFFER.slice(0, int(CHROMIUM_OFFER.length));
    }
    const verdict = checkOffer(sdp, 'select H.264');
    if (verdict) expect((verdict.status === 400 || verdict.status === 406) && verdict.reason.length > 10, `odd verdict ${JSON.stringify(verdict)}`);
    else answered++;
    try {
      parseOffer(sdp);
    } catch (e) {
      if (!(e instanceof SdpError)) throw e;
    }
    const rewritten = onlyH264Mode1(acceptBundleOnly(sdp));
    expect(typeof rewritten === 'string', 'a rewrite returned no string');
  }, () => false);
  t.comment(`${INPUTS} offers in ${r.ms} ms, ${answered} servable`);
  t.same(r.unguarded, [], 'checkOffer and the rewrites never throw; parseOffer throws only SdpError');
  t.same(broken.splice(0), [], 'every refusal is a 400 or 406 with a reason');
});
