// The engine's WHIP input (native/src/plane/rtp_in.cc, through the addon's test-only `testing.rtpIn`) against the
// TypeScript rules it ports (fixtures/rtp-reference.ts: RtpReorderBuffer → H264Depacketizer → RtpClock, and a model
// of the NACK requester), on real encoder output: libx264 pictures of four slices with AUD, SEI and filler, packetized
// as single NAL units, STAP-A and FU-A, plus libopus packets, protected by werift's SRTP (both profiles browsers
// negotiate). The same datagrams with the same arrival times go through both, under path conditions: in order,
// reordered, 2 % loss, duplicates, the 16-bit sequence wrap, restarted numberings (forwards and backwards), loss
// answered by a retransmission in time and too late, forged packets, and datagrams that are not RTP. Access units
// (NAL bytes, keyframe flag, ms), Opus packets, the reorder counters, keyframe requests and the set of sequence
// numbers NACKed must be the same; each condition also checks what it must do on its own terms (every picture out,
// the report's loss counts, …), and ffmpeg decodes what the native side put out.
// Needs the addon: node scripts/build-native.mjs

import t from 'tap';
import type { RtpInputOptions, RtpReport, RtpSourceReport } from '../../src/native/rtmp-plane.js';

/** What the checks need of a tap test. */
type Checks = Pick<typeof t, 'equal' | 'same' | 'ok'>;
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireAddon } from '../../src/native/load-addon.js';
import { SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_HMAC_SHA1_80 } from '../../src/native/srtp-send.js';
import { mulberry32 } from '../helpers/random.js';
import { ReferenceWhipInput, type AudioOut, type VideoOut } from './fixtures/rtp-reference.js';
import {
  AUDIO_PT,
  AUDIO_SSRC,
  protection,
  rtpStream,
  VIDEO_PT,
  VIDEO_SSRC,
  whipMedia,
  type Protection,
  type SentRtp,
  type StreamOptions,
  type WhipMedia,
} from './fixtures/whip-rtp.js';

// ---- the binding ----------------------------------------------------------------------------------------------------

type RtpInConfig = Omit<RtpInputOptions, 'fd'>;
type Counters = Omit<RtpReport, 'sources'>;
type SourceReport = RtpSourceReport;
interface NativeRun {
  video: (VideoOut & { at: number })[];
  audio: (AudioOut & { at: number })[];
  nacks: { ssrc: number; seqs: number[]; at: number }[];
  keyframeWanted: number;
  datagrams: Buffer[];
  counters: Counters;
  report: SourceReport[];
}
interface Testing {
  rtpIn(config: RtpInConfig, datagrams: Buffer[], arrivals: number[]): NativeRun;
}

const { mod, error: loadError } = requireAddon<{ testing: Testing }>('media');
if (!mod) {
  t.fail(`native addon media not built: ${loadError}`);
  process.exit(1);
}
const { rtpIn } = mod.testing;

// ---- the path ---------------------------------------------------------------------------------------------------------

/** Plane ms the session's clock starts at; arrivals are LATENCY_MS after sending on top of it. */
const CLOCK_START = 1000;
const LATENCY_MS = 5;

/** One datagram on the wire: an SRTP packet of `rtp`, or something else (`rtp` null), arriving at `at`. */
interface Arrival {
  wire: Buffer;
  rtp: SentRtp | null;
  at: number;
}

/** A stream as sent, each packet protected once, in sending order. */
interface Protected {
  sent: SentRtp[];
  wire: Buffer[];
  srtp: Protection;
}

function protect(media: WhipMedia, profile: number, o: StreamOptions): Protected {
  const sent = rtpStream(media, o);
  const srtp = protection(profile);
  return { sent, wire: sent.map((p) => srtp.protect(p)), srtp };
}

/**
 * Jitter of up to `ms` after the first picture: packets a picture's pacer sent 0.2 ms apart swap places with their
 * neighbours a few packets away. The first picture is spared: what comes before the very first packet to arrive is
 * behind the start of the reorder buffer's numbering (too late, on both sides), and the report's expected count
 * starts from it too (RFC 3550 A.3).
 */
function jitter(s: Protected, seed: number, ms: number): (i: number) => number {
  const rand = mulberry32(seed);
  return (i) => (s.sent[i]!.sentAt < 1000 / 30 ? 0 : rand() * ms);
}

/** Every packet once, LATENCY_MS plus `delay(i)` after it was sent, in arrival order. */
function arrive(s: Protected, delay: (i: number) => number = () => 0, keep: (i: number) => boolean = () => true): Arrival[] {
  const out: Arrival[] = [];
  s.sent.forEach((p, i) => {
    if (keep(i)) out.push({ wire: s.wire[i]!, rtp: p, at: CLOCK_START + p.sentAt + LATENCY_MS + delay(i) });
  });
  return byArrival(out);
}

function byArrival(a: Arrival[]): Arrival[] {
  return a.map((x, i) => ({ x, i })).sort((p, q) => p.x.at - q.x.at || p.i - q.i).map((p) => p.x);
}

interface Runs {
  native: NativeRun;
  ref: ReferenceWhipInput;
}

function run(s: Protected, arrivals: Arrival[]): Runs {
  const config = {
    profile: s.srtp.profile,
    key: s.srtp.key,
    salt: s.srtp.salt,
    videoPayloadTypes: [VIDEO_PT],
    audioPayloadTypes: [AUDIO_PT],
    clockStart: CLOCK_START,
  };
  const native = rtpIn(config, arrivals.map((a) => a.wire), arrivals.map((a) => a.at));
  const ref = new ReferenceWhipInput(CLOCK_START);
  for (const a of arrivals) {
    if (a.rtp && (a.rtp.payloadType === VIDEO_PT || a.rtp.payloadType === AUDIO_PT)) ref.push(a.rtp, a.at);
  }
  return { native, ref };
}

// ---- comparing ---------------------------------------------------------------------------------------------------------

function sameNalus(a: Buffer[], b: Buffer[]): boolean {
  return a.length === b.length && a.every((n, i) => n.equals(b[i]!));
}

/** Index and description of the first unit that differs, or null. */
function firstVideoDifference(a: VideoOut[], b: VideoOut[]): string | null {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y) return `unit ${i}: only one side has it (${a.length} vs ${b.length} units)`;
    if (!sameNalus(x.nalus, y.nalus)) return `unit ${i}: NAL units differ (${x.nalus.length} vs ${y.nalus.length})`;
    if (x.keyframe !== y.keyframe) return `unit ${i}: keyframe ${x.keyframe} vs ${y.keyframe}`;
    if (!(Math.abs(x.ms - y.ms) <= 1e-6)) return `unit ${i}: ${x.ms} ms vs ${y.ms} ms`;
  }
  return null;
}

function firstAudioDifference(a: AudioOut[], b: AudioOut[]): string | null {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y) return `packet ${i}: only one side has it (${a.length} vs ${b.length} packets)`;
    if (!x.data.equals(y.data)) return `packet ${i}: bytes differ`;
    if (x.timestamp !== y.timestamp) return `packet ${i}: timestamp ${x.timestamp} vs ${y.timestamp}`;
  }
  return null;
}

/** The native run and the reference agree on everything they both produce. */
function checkSame(t: Checks, { native, ref }: Runs): void {
  t.equal(firstVideoDifference(native.video, ref.video), null, `the same ${ref.video.length} access units (NAL bytes, keyframe, ms)`);
  t.equal(firstAudioDifference(native.audio, ref.audio), null, `the same ${ref.audio.length} Opus packets and timestamps`);
  const c = native.counters;
  t.same({ gaveUp: c.gaveUp, tooLate: c.tooLate, nacked: c.nacked, recovered: c.recovered }, ref.counters, 'reorder and NACK counters');
  t.equal(native.keyframeWanted, ref.keyframeWanted, 'as many keyframe requests (one per gap the depacketizer saw)');
  checkNacks(t, native, ref);
}

/**
 * The same sequence numbers NACKed, each first at the arrival that opened its hole; the retries (at packet arrivals
 * on the native side) at most three per number, 40 ms or more apart, none after the packet came.
 */
function checkNacks(t: Checks, native: NativeRun, ref: ReferenceWhipInput): void {
  const sends = new Map<string, number[]>();
  for (const n of native.nacks) {
    for (const s of n.seqs) {
      const k = `${n.ssrc}/${s}`;
      sends.set(k, [...(sends.get(k) ?? []), n.at]);
    }
  }
  const expected = new Map<string, number>();
  for (const [ssrc, asked] of ref.nack.asked) for (const [s, opened] of asked) expected.set(`${ssrc}/${s}`, opened);
  t.same([...sends.keys()].sort(), [...expected.keys()].sort(), `the same ${expected.size} sequence numbers NACKed`);
  const bad: string[] = [];
  for (const [k, times] of sends) {
    if (times[0] !== expected.get(k)) bad.push(`${k}: first NACK at ${times[0]}, hole opened at ${expected.get(k)}`);
    if (times.length > 3) bad.push(`${k}: ${times.length} NACKs`);
    for (let i = 1; i < times.length; i++) if (times[i]! - times[i - 1]! < 40) bad.push(`${k}: retried after ${times[i]! - times[i - 1]!} ms`);
  }
  t.same(bad, [], 'each NACK first sent when its hole opened, retried at most twice, 40 ms apart or more');
}

function reportOf(r: NativeRun, ssrc: number): SourceReport {
  const s = r.report.find((x) => x.ssrc === ssrc);
  if (!s) throw new Error(`no report block for SSRC ${ssrc}`);
  return s;
}

/** The native video as an H.264 Annex-B stream. */
function annexB(video: VideoOut[]): Buffer {
  const start = Buffer.from([0, 0, 0, 1]);
  return Buffer.concat(video.flatMap((u) => u.nalus.flatMap((n) => [start, n])));
}

const dir = mkdtempSync(join(tmpdir(), 'roomgate-rtp-in-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** ffprobe's count of the frames it decodes, and ffmpeg's complaints decoding them all (empty: none). */
function decode(name: string, video: VideoOut[]): { frames: number; width: number; height: number; errors: string } {
  const path = join(dir, name);
  writeFileSync(path, annexB(video));
  const probe = JSON.parse(
    execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,width,height',
      '-of', 'json', '-f', 'h264', path], { encoding: 'utf8' }),
  ) as { streams: { nb_read_frames: string; width: number; height: number }[] };
  const s = probe.streams[0]!;
  const ff = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', '-f', 'h264', '-i', path, '-f', 'null', '-'], { encoding: 'utf8' });
  return { frames: Number(s.nb_read_frames), width: s.width, height: s.height, errors: ff.stderr.trim() };
}

// ---- the conditions -----------------------------------------------------------------------------------------------------

const media = await whipMedia();
const pictures = media.pictures.length;
const keyframes = media.pictures.flatMap((p, i) => (p.keyframe ? [i] : []));

t.test('the encoder output has what the test needs', async (t) => {
  t.equal(pictures, 90, '3 s at 30 fps');
  t.same(keyframes, [0, 30, 60], 'an IDR every second');
  const types = new Set(media.pictures.flatMap((p) => p.nalus.map((n) => n[0]! & 0x1f)));
  for (const [type, name] of [[9, 'AUD'], [6, 'SEI'], [12, 'filler'], [5, 'IDR slice'], [1, 'non-IDR slice']] as const) {
    t.ok(types.has(type), `${name} NAL units`);
  }
  t.ok(media.pictures.every((p) => p.nalus.filter((n) => [1, 5].includes(n[0]! & 0x1f)).length === 4), 'four slices a picture');
  const sent = rtpStream(media, { videoSeq: 0, audioSeq: 0 }).filter((p) => p.video && p.payload.length > 0);
  const kinds = new Set(sent.map((p) => p.payload[0]! & 0x1f));
  t.ok(kinds.has(24) && kinds.has(28) && [...kinds].some((k) => k >= 1 && k <= 23), 'STAP-A, FU-A and single NAL unit packets');
  t.ok(sent.length > 600, `${sent.length} video packets`);
});

const PROFILES = [
  ['AEAD_AES_128_GCM', SRTP_AEAD_AES_128_GCM],
  ['AES_CM_128_HMAC_SHA1_80', SRTP_AES128_CM_HMAC_SHA1_80],
] as const;

for (const [profileName, profile] of PROFILES) {
  const base = protect(media, profile, { videoSeq: 1000, audioSeq: 4000 });
  const videoPackets = base.sent.filter((p) => p.video).length;
  const audioPackets = base.sent.length - videoPackets;
  const inOrder = run(base, arrive(base));

  t.test(`${profileName}: in order, every picture and Opus packet comes out whole, on one clock`, async (t) => {
    checkSame(t, inOrder);
    const { native } = inOrder;
    t.equal(native.video.length, pictures);
    t.ok(native.video.every((u, i) => sameNalus(u.nalus, media.pictures[i]!.expected)), 'each picture: SPS/PPS ahead of an IDR, no AUD or filler');
    t.same(native.video.map((u) => u.keyframe), media.pictures.map((p) => p.keyframe), 'keyframe flags');
    const first = native.video[0]!;
    t.equal(first.ms, first.at - CLOCK_START, 'the first picture at its arrival on the session clock');
    t.ok(native.video.every((u, i) => Math.abs(u.ms - first.ms - (i * 1000) / 30) < 1e-6), 'then 1000/30 ms apart, from the RTP timestamps');
    t.ok(native.audio.every((a, i) => a.data.equals(media.opus[i]!)), 'the Opus packets, padding removed');
    t.ok(native.audio.every((a, i) => i === 0 || ((a.timestamp - native.audio[i - 1]!.timestamp) >>> 0) === 960), '960 apart, the RTP timestamps\' 32-bit wrap unwrapped');
    t.same(native.counters, { ...native.counters, packets: base.sent.length, rejected: 0, unknownPayload: 0, nacked: 0, recovered: 0, gaveUp: 0, tooLate: 0 });
    t.equal(native.keyframeWanted, 0);
    t.same(native.datagrams, []);
    const video = reportOf(native, VIDEO_SSRC);
    t.match(video, { video: true, received: videoPackets, cumulativeLost: 0, fractionLost: 0, extendedHighest: 1000 + videoPackets - 1 });
    t.match(reportOf(native, AUDIO_SSRC), { video: false, received: audioPackets, cumulativeLost: 0, jitter: 0 }, 'audio at a steady pace: no jitter');

    const d = decode(`in-order-${profile}.h264`, native.video);
    t.same(d, { frames: pictures, width: 640, height: 360, errors: '' }, 'ffmpeg decodes every picture, without a complaint');
  });

  t.test(`${profileName}: reordered by a few packets on the way, nothing is lost`, async (t) => {
    const r = run(base, arrive(base, jitter(base, 11, 1.5)));
    checkSame(t, r);
    t.ok(r.native.video.every((u, i) => sameNalus(u.nalus, media.pictures[i]!.expected)) && r.native.video.length === pictures, 'every picture');
    t.equal(r.native.counters.gaveUp, 0);
    t.ok(r.native.counters.recovered > 0, `${r.native.counters.recovered} holes filled by later arrivals`);
    t.ok(reportOf(r.native, AUDIO_SSRC).jitter > 0, 'jitter seen');
  });

  t.test(`${profileName}: 2 % loss`, async (t) => {
    const rand = mulberry32(7);
    const lost = new Set<number>();
    base.sent.forEach((_, i) => {
      if (i > 3 && i < base.sent.length - 20 && rand() < 0.02) lost.add(i);
    });
    const r = run(base, arrive(base, () => 0, (i) => !lost.has(i)));
    checkSame(t, r);
    const lostVideo = [...lost].filter((i) => base.sent[i]!.video);
    t.ok(lostVideo.length > 5, `${lostVideo.length} video and ${lost.size - lostVideo.length} audio packets lost`);
    t.equal(reportOf(r.native, VIDEO_SSRC).cumulativeLost, lostVideo.length, 'the report counts the video lost');
    t.equal(reportOf(r.native, AUDIO_SSRC).cumulativeLost, lost.size - lostVideo.length, 'and the audio');
    t.equal(r.native.audio.length, audioPackets - (lost.size - lostVideo.length), 'every Opus packet that came is passed on');
    t.ok(r.native.video.length < pictures && r.native.video.length > 0, `${r.native.video.length} pictures out`);
    const d = decode(`loss-${profile}.h264`, r.native.video);
    t.same(d, { frames: r.native.video.length, width: 640, height: 360, errors: '' }, 'what comes out decodes whole: frames after a loss wait for the next IDR');
  });

  t.test(`${profileName}: duplicated packets, soon and late`, async (t) => {
    const rand = mulberry32(5);
    const dups: Arrival[] = [];
    const copies = { video: 0, audio: 0 };
    for (const a of arrive(base)) {
      const roll = rand();
      if (roll < 0.04) {
        dups.push({ ...a, at: a.at + (roll < 0.01 ? 150 : 1) });
        copies[a.rtp!.video ? 'video' : 'audio']++;
      }
    }
    // And one copy 600 ms late, a few hundred packets behind: a stray, not a new numbering.
    const strayOf = base.sent.findIndex((p) => p.video && p.unit === 40);
    const stray: Arrival = { wire: base.wire[strayOf]!, rtp: base.sent[strayOf]!, at: CLOCK_START + base.sent[strayOf]!.sentAt + LATENCY_MS + 600 };
    const r = run(base, byArrival([...arrive(base), ...dups, stray]));
    checkSame(t, r);
    t.ok(r.native.video.every((u, i) => sameNalus(u.nalus, media.pictures[i]!.expected)) && r.native.video.length === pictures, 'every picture, once');
    t.equal(r.native.counters.tooLate, copies.video + 1, 'every video copy dropped: its original had gone on');
    t.match(reportOf(r.native, VIDEO_SSRC), { cumulativeLost: -copies.video, extendedHighest: 1000 + videoPackets - 1 },
      'the report: more received than expected; the stray left out of it (RFC 3550 A.1: one packet far off is no new numbering)');
    t.equal(r.native.audio.length, audioPackets + copies.audio, 'audio copies are passed on, as the session did');
  });

  t.test(`${profileName}: the 16-bit sequence wrap, reordered around it`, async (t) => {
    const wrap = protect(media, profile, { videoSeq: 65500, audioSeq: 65530 });
    const r = run(wrap, arrive(wrap, jitter(wrap, 3, 1.5)));
    checkSame(t, r);
    t.ok(r.native.video.every((u, i) => sameNalus(u.nalus, media.pictures[i]!.expected)) && r.native.video.length === pictures, 'every picture');
    t.equal(r.native.counters.rejected, 0, 'SRTP followed the rollover');
    t.match(reportOf(r.native, VIDEO_SSRC), { extendedHighest: 65500 + videoPackets - 1, cumulativeLost: 0 }, 'one cycle counted');
    t.match(reportOf(r.native, AUDIO_SSRC), { extendedHighest: 65530 + audioPackets - 1, cumulativeLost: 0 });
  });

  t.test(`${profileName}: the publisher restarts its numbering, forwards and backwards, at an IDR`, async (t) => {
    const restarted = protect(media, profile, { videoSeq: 30000, audioSeq: 0, restarts: [{ at: 30, jump: 5000 }, { at: 60, jump: -20000 }] });
    const r = run(restarted, arrive(restarted));
    checkSame(t, r);
    t.equal(r.native.counters.rejected, 0);
    t.ok(r.native.video.every((u, i) => sameNalus(u.nalus, media.pictures[i]!.expected)) && r.native.video.length === pictures,
      'every picture: each new numbering is followed from its IDR on');
    t.equal(r.native.keyframeWanted, 2, 'a keyframe asked for at each restart');
    t.equal(r.native.nacks.length, 0, 'a jump is not a loss');

    // Loss in the numbering restarted backwards is NACKed like any other.
    const dropped = new Set(restarted.sent.flatMap((p, i) => (p.video && p.payload.length > 0 && (p.unit === 65 || p.unit === 75) && p.marker ? [i] : [])));
    const lossy = run(restarted, arrive(restarted, () => 0, (i) => !dropped.has(i)));
    checkSame(t, lossy);
    t.same(lossy.native.nacks.flatMap((n) => n.seqs).filter((s, i, a) => a.indexOf(s) === i), [...dropped].map((i) => restarted.sent[i]!.seq),
      'the packets lost after the backward restart are asked for');
  });

  t.test(`${profileName}: loss answered by a retransmission 60 ms later (used) and 200 ms later (too late)`, async (t) => {
    const rand = mulberry32(9);
    // Packets that carry something: a lost padding-only packet would spoil the picture after it instead.
    const video = base.sent.flatMap((p, i) => (p.video && p.payload.length > 0 && p.unit > 2 && p.unit < pictures - 8 ? [i] : []));
    const picked = new Set<number>();
    while (picked.size < 12) picked.add(video[Math.floor(rand() * video.length)]!);
    const [soon, late] = [[...picked].slice(0, 6), [...picked].slice(6)];
    const resent = (i: number, after: number): Arrival => ({ wire: base.wire[i]!, rtp: base.sent[i]!, at: CLOCK_START + base.sent[i]!.sentAt + LATENCY_MS + after });
    const arrivals = byArrival([...arrive(base, () => 0, (i) => !picked.has(i)), ...soon.map((i) => resent(i, 60)), ...late.map((i) => resent(i, 200))]);
    const r = run(base, arrivals);
    checkSame(t, r);
    const c = r.native.counters;
    const lateSeqs = new Set(late.map((i) => base.sent[i]!.seq));
    t.equal(c.nacked, 12, 'every hole NACKed');
    t.equal(c.recovered, 6, 'the timely retransmissions fill their holes');
    t.equal(c.gaveUp, lateSeqs.size, 'the late ones are given up after the 120 ms wait');
    t.equal(c.tooLate, lateSeqs.size, 'and dropped when they come');
    // A picture that lost a packet for good is dropped, and so is every picture after it up to the next IDR.
    const gone = new Set(late.map((i) => base.sent[i]!.unit));
    const out = media.pictures.filter((_, i) => {
      for (let k = i; k >= 0; k--) {
        if (gone.has(k)) return false;
        if (media.pictures[k]!.keyframe) return true;
      }
      return true;
    });
    t.ok(out.length < pictures, `${pictures - out.length} pictures lost with the late packets`);
    t.equal(firstVideoDifference(r.native.video.map((u) => ({ ...u, ms: 0 })), out.map((p) => ({ nalus: p.expected, keyframe: p.keyframe, ms: 0 }))), null,
      'every other picture is out, those the timely retransmissions completed too');
    t.equal(decode(`retransmit-${profile}.h264`, r.native.video).errors, '', 'what comes out decodes cleanly');
    const report = reportOf(r.native, VIDEO_SSRC);
    t.equal(report.extendedHighest, 1000 + videoPackets - 1, 'a retransmission long behind is no new numbering for the report (RFC 3550 A.1)');
    t.ok(report.cumulativeLost >= 0 && report.cumulativeLost <= 6, `cumulative loss ${report.cumulativeLost}: at most the late ones`);
  });

  t.test(`${profileName}: forged, truncated and unnegotiated packets are counted and harm nothing`, async (t) => {
    const genuine = arrive(base);
    const rand = mulberry32(13);
    const extra: Arrival[] = [];
    let forged = 0;
    const stranger = protection(profile); // keyed differently: an attacker without the DTLS keys
    genuine.forEach((a, i) => {
      if (i % 25 !== 12) return;
      const kind = (i / 25) | 0;
      const w = Buffer.from(a.wire);
      if (kind % 5 === 0) w[w.length - 20]! ^= 0x01; // a payload (or, for short packets, tag) bit
      else if (kind % 5 === 1) w[1]! ^= 0x01; // the payload type: the header is authenticated too
      else if (kind % 5 === 2) w.writeUInt16BE((w.readUInt16BE(2) + 30000) & 0xffff, 2); // far ahead: must not move the rollover guess
      else if (kind % 5 === 3) {
        extra.push({ wire: w.subarray(0, 11), rtp: null, at: a.at }); // shorter than an RTP header
        forged++;
        return;
      } else {
        const junk = Buffer.from(Array.from({ length: 40 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)));
        junk[0] = 0x80;
        junk[1] = VIDEO_PT;
        extra.push({ wire: junk, rtp: null, at: a.at });
        forged++;
        return;
      }
      extra.push({ wire: w, rtp: null, at: a.at });
      forged++;
    });
    // Packets of a payload type never negotiated, properly protected: authentic, but not ours to decode.
    const unknown: SentRtp[] = [0, 1, 2].map((k) => ({ ...base.sent[100 + k]!, ssrc: 0x0bad0bad, payloadType: 50, seq: k }));
    const r = run(base, byArrival([
      ...genuine,
      ...extra,
      ...unknown.map((p) => ({ wire: base.srtp.protect(p), rtp: p, at: CLOCK_START + p.sentAt + LATENCY_MS })),
      { wire: stranger.protect(base.sent[200]!), rtp: null, at: genuine[200]!.at },
    ]));
    checkSame(t, r);
    t.equal(r.native.counters.rejected, forged + 1, `${forged + 1} refused`);
    t.equal(r.native.counters.unknownPayload, 3, 'an unnegotiated payload type is counted, not decoded');
    t.equal(firstVideoDifference(r.native.video, inOrder.native.video), null, 'the pictures are those of the clean run');
    t.equal(firstAudioDifference(r.native.audio, inOrder.native.audio), null, 'the Opus packets too');
    t.same(r.native.datagrams, [], 'nothing RTP-like is passed to werift');
  });

  t.test(`${profileName}: STUN, DTLS, TURN channel data and RTCP go to werift as they are, undecoded`, async (t) => {
    const genuine = arrive(base);
    const stun = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), Buffer.alloc(12, 7)]);
    const dtls = Buffer.concat([Buffer.from([0x17, 0xfe, 0xfd, 0, 1]), Buffer.alloc(40, 3)]);
    const turn = Buffer.concat([Buffer.from([0x40, 0x00, 0x00, 0x08]), Buffer.alloc(8, 1)]);
    const rtcpSr = Buffer.concat([Buffer.from([0x80, 200, 0x00, 0x06]), Buffer.alloc(24, 5), Buffer.alloc(14, 9)]); // SRTCP-sized
    const rtcpRr = Buffer.concat([Buffer.from([0x81, 201, 0x00, 0x07]), Buffer.alloc(28, 4), Buffer.alloc(14, 8)]);
    const nack = Buffer.concat([Buffer.from([0x81, 205, 0x00, 0x03]), Buffer.alloc(12, 2), Buffer.alloc(14, 6)]);
    const others = [stun, dtls, turn, rtcpSr, rtcpRr, nack];
    const mixed = genuine.flatMap((a, i) => (i % 40 === 20 ? [a, { wire: others[(i / 40) % others.length | 0]!, rtp: null, at: a.at }] : [a]));
    const sentOthers = mixed.filter((a) => !a.rtp).map((a) => a.wire);
    const r = run(base, mixed);
    checkSame(t, r);
    t.same(r.native.datagrams, sentOthers, `${sentOthers.length} datagrams passed on byte for byte, in order`);
    t.same(r.native.counters, { ...inOrder.native.counters, lastRtpAt: r.native.counters.lastRtpAt }, 'none counted as RTP, rejected or unknown');
    t.equal(firstVideoDifference(r.native.video, inOrder.native.video), null, 'the pictures are those of the clean run');
  });
}

// ---- where the two differ on purpose --------------------------------------------------------------------------------

t.test('where RtpIn and the TypeScript depacketizer differ on purpose, with real slices', async (t) => {
  // A whole IDR picture first (both sides need a keyframe), then hand-made packets around real P slices.
  const idr = rtpStream(media, { videoSeq: 100, audioSeq: 0 }).filter((p) => p.video && p.unit === 0);
  const slices = media.pictures[1]!.nalus.filter((n) => (n[0]! & 0x1f) === 1);
  const sei = media.pictures[1]!.nalus.find((n) => (n[0]! & 0x1f) === 6)!;
  const after = (payloads: { ts: number; marker: boolean; payload: Buffer }[]): SentRtp[] => [
    ...idr,
    ...payloads.map((p, k) => ({ ...idr[0]!, seq: idr[idr.length - 1]!.seq + 1 + k, timestamp: p.ts, marker: p.marker, payload: p.payload,
      sentAt: 40 + k * 0.2 })),
  ];
  const ts1 = (idr[0]!.timestamp + 3000) >>> 0;
  const ts2 = (ts1 + 3000) >>> 0;
  const runCase = (sent: SentRtp[]) => {
    const srtp = protection(SRTP_AEAD_AES_128_GCM);
    const s: Protected = { sent, wire: sent.map((p) => srtp.protect(p)), srtp };
    return run(s, arrive(s));
  };
  const fu = (nal: Buffer, start: boolean, end: boolean, from: number, to: number) =>
    Buffer.concat([Buffer.from([(nal[0]! & 0xe0) | 28, (start ? 0x80 : 0) | (end ? 0x40 : 0) | (nal[0]! & 0x1f)]), nal.subarray(from, to)]);

  // 1. A picture ended by the next one's timestamp (its marker never set), the next one a single packet with its
  //    marker. H264Depacketizer.push returns one unit per packet, and the second overwrites the first; RtpIn hands
  //    both on, since both are whole.
  const noMarker = runCase(after([
    { ts: ts1, marker: false, payload: slices[0]! },
    { ts: ts2, marker: true, payload: slices[1]! },
  ]));
  t.same(noMarker.native.video.map((u) => u.nalus), [media.pictures[0]!.expected, [slices[0]], [slices[1]]], 'RtpIn: both pictures');
  t.same(noMarker.ref.video.map((u) => u.nalus), [media.pictures[0]!.expected, [slices[1]]], 'the reference: the first is lost');
  t.equal(Math.abs(noMarker.native.video[1]!.ms - noMarker.native.video[0]!.ms - 1000 / 30) < 1e-6, true, 'each on its own timestamp');

  // 2. A FU-A interrupted by another packet of the same picture (RFC 6184 §5.8 forbids it). The reference keeps
  //    collecting and puts the fragmented NAL unit after the one that interrupted it, out of order; RtpIn builds an
  //    access unit's NAL units back to back in one buffer and cannot put one inside another, so it drops the
  //    interrupted one (a decoder gets a picture missing a slice either way, in decoding order only from RtpIn).
  const cut = slices[2]!.length >> 1;
  const interrupted = runCase(after([
    { ts: ts1, marker: false, payload: fu(slices[2]!, true, false, 1, cut) },
    { ts: ts1, marker: false, payload: slices[0]! },
    { ts: ts1, marker: true, payload: fu(slices[2]!, false, true, cut, slices[2]!.length) },
  ]));
  t.same(interrupted.native.video[1]?.nalus, [slices[0]], 'RtpIn: the interrupted NAL unit dropped');
  t.same(interrupted.ref.video[1]?.nalus, [slices[0], slices[2]], 'the reference: joined, after the one that interrupted it');

  // 3. More NAL units in one access unit than kMaxRtpUnitNals (256; a picture has a handful of slices): RtpIn keeps
  //    the first 256, a bound on what a hostile publisher can make it hold; the reference keeps them all.
  const many = runCase(after([
    ...Array.from({ length: 300 }, () => ({ ts: ts1, marker: false, payload: sei })),
    { ts: ts1, marker: true, payload: slices[0]! },
  ]));
  t.equal(many.native.video[1]?.nalus.length, 256, 'RtpIn: 256 NAL units');
  t.equal(many.ref.video[1]?.nalus.length, 301, 'the reference: 301');
  t.ok(many.native.video[1]!.nalus.every((n, i) => n.equals(many.ref.video[1]!.nalus[i]!)), 'the same first 256');

  for (const r of [noMarker, interrupted, many]) t.same(r.native.counters.gaveUp + r.native.keyframeWanted + r.ref.keyframeWanted, 0, 'no loss seen');
});
