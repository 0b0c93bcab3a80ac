// AAC → Opus native addon: real AAC from ffmpeg in, Opus out, decoded back by ffmpeg.
// Needs the addon: node scripts/build-native.mjs

import t, { type TAP } from 'tap';
import { randomBytes } from 'node:crypto';
import { AacToOpus, aacOpusAvailable, aacOpusLibraryVersions, type OpusPacket } from '../helpers/aac-to-opus.js';
import {
  analyse,
  buildAsc,
  buildHeAacAsc,
  decodeOggOpus,
  makeAac,
  makeAacTone,
  opusToc,
  writeOggOpus,
  type AacTone,
} from './fixtures/aac.js';

if (!aacOpusAvailable()) {
  t.fail('native addon not built: run `node scripts/build-native.mjs`');
  process.exit(1);
}
t.comment(`libraries: ${JSON.stringify(aacOpusLibraryVersions())}`);

/** Push a whole stream; returns all packets (including flush) and the transcoder. */
function transcode(tone: AacTone, opts: Partial<ConstructorParameters<typeof AacToOpus>[0]> = {}, ptsOffsetMs = 0) {
  const tr = new AacToOpus({ asc: tone.asc, ...opts });
  const packets: OpusPacket[] = [];
  tone.frames.forEach((f, i) => packets.push(...tr.push(f, ptsOffsetMs + tone.ptsMs(i))));
  const beforeFlush = packets.length;
  packets.push(...tr.flush());
  return { tr, packets, beforeFlush };
}

function decode(packets: OpusPacket[], channels: number, preSkip: number) {
  return decodeOggOpus(writeOggOpus(packets.map((p) => p.data), channels, preSkip), channels);
}

function checkTimestamps(t: Pick<TAP, 'equal'>, packets: OpusPacket[], first: number) {
  t.equal(packets[0].timestamp, first, `first timestamp = ${first}`);
  const bad = packets.findIndex((p, i) => i > 0 && p.timestamp - packets[i - 1].timestamp !== 960);
  t.equal(bad, -1, 'timestamps advance by 960');
}

t.test('44.1 kHz stereo AAC-LC → 48 kHz stereo Opus, 1 kHz tone survives', async (t) => {
  const tone = makeAacTone({ sampleRate: 44100, channels: 2, seconds: 3 });
  t.equal(tone.asc.toString('hex'), '1210', 'ASC from ADTS = AAC-LC 44.1 kHz stereo');
  const { tr, packets, beforeFlush } = transcode(tone);
  const decodedSeconds = (tone.frames.length * 1024) / 44100;
  const expected = (decodedSeconds * 1000) / 20;
  t.ok(Math.abs(beforeFlush - expected) <= 2, `packets before flush ${beforeFlush} ≈ ${expected.toFixed(1)}`);
  t.ok(packets.length - beforeFlush >= 1 && packets.length - beforeFlush <= 2, 'flush emits the remainder');
  checkTimestamps(t, packets, 0);
  const tocs = packets.map((p) => opusToc(p.data));
  t.ok(tocs.every((x) => x.is20msCeltOrHybrid), `every TOC is a 20 ms CELT/hybrid frame (configs ${[...new Set(tocs.map((x) => x.config))]})`);
  t.ok(tocs.every((x) => x.stereo), 'stereo packets');
  const s = tr.stats;
  t.same(
    { framesIn: s.framesIn, packetsOut: s.packetsOut, errors: s.errors, resyncs: s.resyncs, inputSampleRate: s.inputSampleRate, inputChannels: s.inputChannels },
    { framesIn: tone.frames.length, packetsOut: packets.length, errors: 0, resyncs: 0, inputSampleRate: 44100, inputChannels: 2 },
    'stats',
  );
  const bytes = packets.reduce((n, p) => n + p.data.length, 0);
  const kbps = (bytes * 8) / (packets.length * 0.02) / 1000;
  t.ok(kbps > 20 && kbps < 100, `bitrate ${kbps.toFixed(1)} kb/s near the 64 kb/s target`);

  const pcm = decode(packets, 2, tr.lookahead);
  t.ok(Math.abs(pcm.length / 2 / 48000 - packets.length * 0.02) < 0.05, 'ffmpeg decoded the whole Ogg Opus file');
  for (const ch of [0, 1]) {
    const a = analyse(pcm, 2, ch);
    t.ok(a.rms > 1500, `channel ${ch} RMS ${a.rms.toFixed(0)} well above silence`);
    t.ok(Math.abs(a.frequency - 1000) < 5, `channel ${ch} frequency ${a.frequency.toFixed(1)} Hz ≈ 1000 Hz`);
  }
  tr.close();
});

t.test('Opus application: lowdelay by default at 64 kb/s, audio at low bitrates or on request', async (t) => {
  const asc = Buffer.from([0x12, 0x10]);
  const cases: Array<[ConstructorParameters<typeof AacToOpus>[0], string, number]> = [
    [{ asc }, 'lowdelay', 120],
    [{ asc, channels: 1 }, 'lowdelay', 120],
    [{ asc, bitrate: 32000 }, 'audio', 312],
    [{ asc, channels: 1, bitrate: 48000 }, 'audio', 312],
    [{ asc, application: 'audio' }, 'audio', 312],
    [{ asc, bitrate: 24000, application: 'lowdelay' }, 'lowdelay', 120],
  ];
  for (const [opts, app, lookahead] of cases) {
    const tr = new AacToOpus(opts);
    t.equal(tr.application, app, `${JSON.stringify({ ...opts, asc: undefined })} → ${app}`);
    t.equal(tr.lookahead, lookahead, `lookahead ${lookahead}`);
    tr.close();
  }
  const tone = makeAacTone({ sampleRate: 44100, channels: 2, seconds: 1 });
  const { tr, packets } = transcode(tone, { application: 'audio' });
  t.ok(packets.every((p) => opusToc(p.data).is20msCeltOrHybrid), "'audio' at 64 kb/s stereo: 20 ms CELT/hybrid packets");
  const a = analyse(decode(packets, 2, tr.lookahead), 2, 0);
  t.ok(Math.abs(a.frequency - 1000) < 5, `'audio' decodes to ${a.frequency.toFixed(1)} Hz`);
  tr.close();
});

t.test('source clock: first timestamp = round(firstPtsMs * 48)', async (t) => {
  const tone = makeAacTone({ sampleRate: 44100, channels: 2, seconds: 1 });
  const { tr, packets } = transcode(tone, {}, 12345.67);
  checkTimestamps(t, packets, Math.round(12345.67 * 48));
  tr.close();
});

t.test('48 kHz mono: upmixed to identical stereo at unity gain, or kept mono', async (t) => {
  const tone = makeAacTone({ sampleRate: 48000, channels: 1, seconds: 2 });
  t.equal(tone.asc.toString('hex'), '1188', 'ASC = AAC-LC 48 kHz mono');

  const st = transcode(tone);
  t.equal(st.tr.stats.inputChannels, 1);
  t.ok(Math.abs(st.beforeFlush - (tone.frames.length * 1024) / 960) <= 2, `packet count ${st.beforeFlush}`);
  const pcm2 = decode(st.packets, 2, st.tr.lookahead);
  const l = analyse(pcm2, 2, 0);
  const r = analyse(pcm2, 2, 1);
  t.ok(Math.abs(l.frequency - 1000) < 5 && Math.abs(r.frequency - 1000) < 5, `L ${l.frequency.toFixed(1)} Hz, R ${r.frequency.toFixed(1)} Hz`);
  t.ok(Math.abs(l.rms - r.rms) / l.rms < 0.05, `L/R RMS equal (${l.rms.toFixed(0)} / ${r.rms.toFixed(0)})`);

  const mono = transcode(tone, { channels: 1 });
  t.equal(mono.tr.channels, 1);
  t.ok(mono.packets.every((p) => !opusToc(p.data).stereo && opusToc(p.data).is20msCeltOrHybrid), 'mono 20 ms packets');
  const pcm1 = decode(mono.packets, 1, mono.tr.lookahead);
  const m = analyse(pcm1, 1, 0);
  t.ok(Math.abs(m.frequency - 1000) < 5, `mono ${m.frequency.toFixed(1)} Hz`);
  // the lavfi sine is at 1/8 full scale: RMS ≈ 32768/8/√2 ≈ 2896
  t.ok(Math.abs(m.rms - l.rms) / m.rms < 0.1, `mono RMS ${m.rms.toFixed(0)} ≈ upmixed channel RMS ${l.rms.toFixed(0)} (unity gain)`);
  t.ok(m.rms > 2300 && m.rms < 3500, `level preserved (RMS ${m.rms.toFixed(0)} ≈ 2896)`);
  st.tr.close();
  mono.tr.close();
});

t.test('other input rates (8 kHz mono, 96 kHz stereo) are resampled to 48 kHz', async (t) => {
  for (const [rate, channels] of [
    [8000, 1],
    [96000, 2],
  ] as const) {
    const tone = makeAacTone({ sampleRate: rate, channels, seconds: 2, bitrate: rate === 8000 ? '32k' : '128k' });
    const { tr, packets, beforeFlush } = transcode(tone);
    const expected = (tone.frames.length * 1024 * 48000) / rate / 960;
    t.ok(Math.abs(beforeFlush - expected) <= 2, `${rate} Hz: ${beforeFlush} packets ≈ ${expected.toFixed(1)}`);
    checkTimestamps(t, packets, 0);
    t.equal(tr.stats.inputSampleRate, rate);
    const a = analyse(decode(packets, 2, tr.lookahead), 2, 0);
    t.ok(a.rms > 1500 && Math.abs(a.frequency - 1000) < 5, `${rate} Hz: ${a.frequency.toFixed(1)} Hz, RMS ${a.rms.toFixed(0)}`);
    tr.close();
  }
});

t.test('HE-AAC (explicit SBR signalling): decoder outputs 2048 samples at twice the core rate', async (t) => {
  // ffmpeg 5.1's native encoder cannot make HE-AAC; an AAC-LC core at 22.05 kHz announced with an
  // explicit-SBR ASC (AOT 5, ext rate 44.1 kHz) makes libavcodec run its SBR path: 2048 samples
  // per frame at 44.1 kHz — the same output format as real HE-AAC.
  const tone = makeAacTone({ sampleRate: 22050, channels: 1, seconds: 3, bitrate: '48k' });
  const asc = buildHeAacAsc(7, 1, 4);
  t.equal(asc.toString('hex'), '2b8a08');
  const { tr, packets, beforeFlush } = transcode({ ...tone, asc });
  const s = tr.stats;
  t.equal(s.inputSampleRate, 44100, 'decoder output rate = SBR rate');
  t.equal(s.samplesIn, tone.frames.length * 2048, '2048 samples per frame');
  t.equal(s.errors, 0);
  const expected = (tone.frames.length * 1024) / 22050 / 0.02;
  t.ok(Math.abs(beforeFlush - expected) <= 2, `${beforeFlush} packets ≈ ${expected.toFixed(1)} (duration preserved)`);
  checkTimestamps(t, packets, 0);
  const a = analyse(decode(packets, 2, tr.lookahead), 2, 0);
  t.ok(a.rms > 1000 && Math.abs(a.frequency - 1000) < 5, `${a.frequency.toFixed(1)} Hz, RMS ${a.rms.toFixed(0)}`);
  tr.close();
});

t.test('volume: 0 → silence, 200 → twice as loud, setVolume mid-stream', async (t) => {
  const tone = makeAacTone({ sampleRate: 44100, channels: 2, seconds: 2 });
  const level = (volume: number) => {
    const { tr, packets } = transcode(tone, { volume });
    t.equal(tr.volume, volume);
    const a = analyse(decode(packets, 2, tr.lookahead), 2, 0);
    tr.close();
    return a.rms;
  };
  const v0 = level(0);
  const v100 = level(100);
  const v200 = level(200);
  const v50 = level(50);
  t.ok(v0 < 5, `volume 0: RMS ${v0.toFixed(2)} (silence)`);
  t.ok(v200 / v100 > 1.8 && v200 / v100 < 2.2, `volume 200 is ${(v200 / v100).toFixed(2)}× volume 100`);
  t.ok(v50 / v100 > 0.45 && v50 / v100 < 0.55, `volume 50 is ${(v50 / v100).toFixed(2)}× volume 100`);

  const tr = new AacToOpus({ asc: tone.asc });
  const packets: OpusPacket[] = [];
  tone.frames.forEach((f, i) => {
    if (i === Math.floor(tone.frames.length / 2)) tr.setVolume(0);
    packets.push(...tr.push(f, tone.ptsMs(i)));
  });
  const pcm = decode(packets, 2, tr.lookahead);
  const half = Math.floor(pcm.length / 2 / 2) * 2;
  const first = analyse(pcm.subarray(0, half), 2, 0, 0.2);
  const second = analyse(pcm.subarray(half), 2, 0, 0.2);
  t.ok(first.rms > 1500 && second.rms < 5, `setVolume(0) mid-stream: ${first.rms.toFixed(0)} → ${second.rms.toFixed(2)}`);
  t.throws(() => tr.setVolume(201), RangeError);
  t.throws(() => tr.setVolume(-1), RangeError);
  t.throws(() => new AacToOpus({ asc: tone.asc, volume: 300 }), RangeError);
  tr.close();
});

t.test('loud source at volume 200 is clipped, not wrapped', async (t) => {
  // a 0.9 full-scale 440 Hz tone, doubled: must saturate at full scale, not wrap around
  const loud = makeAac('sine=frequency=440:sample_rate=48000:duration=1,volume=7.2', 1);
  const { tr, packets } = transcode(loud, { volume: 200 });
  const pcm = decode(packets, 2, tr.lookahead);
  let peak = 0;
  for (const v of pcm) peak = Math.max(peak, Math.abs(v));
  const a = analyse(pcm, 2, 0);
  t.ok(peak > 30000 && a.rms > 20000, `saturated at full scale (peak ${peak}, RMS ${a.rms.toFixed(0)})`);
  t.ok(Math.abs(a.frequency - 440) < 5, `still 440 Hz (${a.frequency.toFixed(1)})`);
  tr.close();
});

t.test('corrupt and truncated frames: no throw, counted, decoding continues', async (t) => {
  const tone = makeAacTone({ sampleRate: 44100, channels: 2, seconds: 3 });
  const tr = new AacToOpus({ asc: tone.asc });
  const packets: OpusPacket[] = [];
  let corrupt = 0;
  let afterCorrupt = 0;
  let seenCorrupt = false;
  tone.frames.forEach((f, i) => {
    if (i > 10 && i % 10 === 0) {
      // replace this frame by garbage (random bytes or a truncated frame), keeping its pts
      const bad = i % 20 === 0 ? randomBytes(f.length) : f.subarray(0, Math.max(1, f.length >> 2));
      corrupt++;
      seenCorrupt = true;
      t.doesNotThrow(() => packets.push(...tr.push(bad, tone.ptsMs(i))));
      return;
    }
    const out = tr.push(f, tone.ptsMs(i));
    if (seenCorrupt) afterCorrupt += out.length;
    packets.push(...out);
  });
  t.doesNotThrow(() => tr.push(Buffer.alloc(0), tone.ptsMs(tone.frames.length)), 'empty frame');
  const s = tr.stats;
  t.ok(s.errors > 0, `errors counted: ${s.errors} of ${corrupt + 1} bad frames (random bytes can decode as noise)`);
  t.equal(tr.stats.errors, s.errors, 'errors getter');
  t.type(s.lastError, 'string');
  t.ok(afterCorrupt > 50, `good frames after corrupt ones still produce packets (${afterCorrupt})`);
  const bad = packets.findIndex((p, i) => i > 0 && p.timestamp - packets[i - 1].timestamp !== 960);
  t.equal(bad, -1, 'timestamps stay contiguous (lost frames filled with silence)');
  const expected = (tone.frames.length * 1024) / 44100 / 0.02;
  t.ok(Math.abs(packets.length - expected) <= 3, `${packets.length} packets ≈ ${expected.toFixed(1)}: timeline kept aligned`);
  t.equal(s.resyncs, 0, 'no resync for short gaps');
  const a = analyse(decode(packets, 2, tr.lookahead), 2, 0);
  t.ok(a.rms > 1000, `still audio (RMS ${a.rms.toFixed(0)})`);
  tr.close();
});

t.test('frames that would reconfigure the decoder are dropped; a long garbage run keeps the clock', async (t) => {
  const stereo = makeAacTone({ sampleRate: 44100, channels: 2, seconds: 2 });
  const mono = makeAacTone({ sampleRate: 44100, channels: 1, seconds: 1 });
  const tr = new AacToOpus({ asc: stereo.asc });
  const packets: OpusPacket[] = [];
  const n = stereo.frames.length;
  for (let i = 0; i < n; i++) {
    let frame = stereo.frames[i];
    if (i === 20) frame = mono.adts.subarray(0, adtsLength(mono.adts)); // a whole ADTS frame (header says mono)
    if (i === 30) frame = Buffer.from([0xa0, ...randomBytes(200)]); // starts with ID_PCE
    packets.push(...tr.push(frame, stereo.ptsMs(i)));
  }
  const s = tr.stats;
  t.ok(s.errors >= 2, `errors ${s.errors}`);
  t.equal(s.decoderResets, 1, 'in-band ADTS header switching to mono → dropped, decoder re-opened');
  t.ok(s.errors >= 2 && s.inputChannels === 2, 'decoder back on the stereo layout');
  t.equal(packets.findIndex((p, i) => i > 0 && p.timestamp - packets[i - 1].timestamp !== 960), -1, 'contiguous');
  const a = analyse(decode(packets, 2, tr.lookahead), 2, 0);
  t.ok(a.rms > 1500 && Math.abs(a.frequency - 1000) < 5, `tone intact (${a.frequency.toFixed(1)} Hz, RMS ${a.rms.toFixed(0)})`);
  tr.close();

  // 1 s of pure garbage: packets keep flowing (silence) with the source clock, no burst afterwards
  const tr2 = new AacToOpus({ asc: stereo.asc });
  const perPush: number[] = [];
  const all: OpusPacket[] = [];
  for (let i = 0; i < n; i++) {
    const garbage = i >= 20 && i < 63;
    const out = tr2.push(garbage ? Buffer.from([0x21, ...randomBytes(300)]) : stereo.frames[i], stereo.ptsMs(i));
    perPush.push(out.length);
    all.push(...out);
  }
  t.ok(tr2.stats.errors >= 40, `errors ${tr2.stats.errors}`);
  t.ok(Math.max(...perPush) <= 3, `at most ${Math.max(...perPush)} packets per push (no burst)`);
  t.ok(perPush.slice(25, 63).reduce((x, y) => x + y, 0) > 35, 'silence packets emitted during the garbage run');
  t.equal(all.findIndex((p, i) => i > 0 && p.timestamp - all[i - 1].timestamp !== 960), -1, 'contiguous');
  const last = all[all.length - 1].timestamp;
  const lastPts = Math.round(stereo.ptsMs(n - 1) * 48);
  t.ok(Math.abs(last - lastPts) < 2 * 960, `still aligned with the source clock at the end (${last} vs ${lastPts})`);
  tr2.close();
});

function adtsLength(adts: Buffer): number {
  return ((adts[3] & 3) << 11) | (adts[4] << 3) | (adts[5] >> 5);
}

t.test('bad AudioSpecificConfig / options throw readable errors', async (t) => {
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.alloc(0), /too short/],
    [Buffer.from([0x12]), /too short/],
    [Buffer.from([0x00, 0x00]), /audioObjectType 0/],
    [Buffer.from([0x16, 0x90]), /reserved samplingFrequencyIndex 13/],
    [Buffer.from([0xff, 0xff, 0xff]), /truncated/],
    [buildAsc(2, 4, 0), /AudioSpecificConfig <1200>.*channelConfiguration=0/],
  ];
  for (const [asc, re] of cases) {
    t.throws(() => new AacToOpus({ asc }), { name: 'Error', message: re }, `ASC <${asc.toString('hex')}>`);
  }
  t.throws(() => new AacToOpus({ asc: 'nope' as unknown as Buffer }), TypeError);
  t.throws(() => new AacToOpus({} as never), { name: 'TypeError', message: /options\.asc must be a Buffer/ });
  t.throws(() => new AacToOpus({ asc: Buffer.from([0x12, 0x10]), bitrate: 1000 }), RangeError);
  t.throws(() => new AacToOpus({ asc: Buffer.from([0x12, 0x10]), channels: 3 as 2 }), RangeError);
  t.throws(() => new AacToOpus({ asc: Buffer.from([0x12, 0x10]), application: 'music' as 'audio' }), TypeError);
  const ok = new AacToOpus({ asc: Buffer.from([0x12, 0x10]) });
  t.throws(() => ok.push('x' as unknown as Buffer, 0), TypeError);
  t.throws(() => ok.push(Buffer.alloc(4), NaN), TypeError);
  ok.close();
});

t.test('timeline: silence-filled gaps, resync on > 200 ms jumps and on backwards pts', async (t) => {
  const tone = makeAacTone({ sampleRate: 48000, channels: 2, seconds: 4 });
  const frameMs = (1024 * 1000) / 48000;

  // a 100 ms hole (frames 40..44 missing): filled, timestamps contiguous and aligned after it
  {
    const tr = new AacToOpus({ asc: tone.asc });
    const packets: OpusPacket[] = [];
    tone.frames.forEach((f, i) => {
      if (i >= 40 && i < 45) return;
      packets.push(...tr.push(f, tone.ptsMs(i)));
    });
    t.equal(tr.stats.gapFills, 1, 'one gap filled');
    t.equal(tr.stats.resyncs, 0);
    const bad = packets.findIndex((p, i) => i > 0 && p.timestamp - packets[i - 1].timestamp !== 960);
    t.equal(bad, -1, 'contiguous');
    const expected = (tone.frames.length * 1024) / 960;
    t.ok(Math.abs(packets.length - expected) <= 2, `${packets.length} packets ≈ ${expected.toFixed(1)} (the hole is covered)`);
    tr.close();
  }

  // a +5 s jump in the middle, then a jump backwards to 1 s
  {
    const tr = new AacToOpus({ asc: tone.asc });
    const segs: OpusPacket[][] = [[], [], []];
    const n = tone.frames.length;
    const a = Math.floor(n / 3);
    const b = Math.floor((2 * n) / 3);
    const pts = (i: number) => (i < a ? tone.ptsMs(i) : i < b ? 5000 + tone.ptsMs(i) : 1000 + (i - b) * frameMs);
    tone.frames.forEach((f, i) => segs[i < a ? 0 : i < b ? 1 : 2].push(...tr.push(f, pts(i))));
    t.equal(tr.stats.resyncs, 2, 'two resyncs');
    const [s0, s1, s2] = segs;
    // the push that detects a jump first emits the drained remainder of the old timeline, then
    // the new timeline starts exactly at round(pts * 48)
    t.equal(s0[0]?.timestamp, 0, 'first timeline starts at 0');
    const r1 = Math.round(pts(a) * 48);
    const r2 = Math.round(1000 * 48);
    const i1 = s1.findIndex((p) => p.timestamp === r1);
    const i2 = s2.findIndex((p) => p.timestamp === r2);
    t.ok(i1 >= 0 && i1 <= 2, `after the +5 s jump the timeline restarts at round(pts*48) = ${r1} (index ${i1})`);
    t.ok(i2 >= 0 && i2 <= 2, `after the backwards jump it restarts at ${r2} (index ${i2})`);
    t.ok(s1.slice(0, i1).every((p) => p.timestamp < r1 && p.timestamp > 0), 'drained remainder stays on the old timeline');
    // within each timeline steps are 960
    const all = [...s0, ...s1, ...s2];
    const steps = all.slice(1).map((p, i) => p.timestamp - all[i].timestamp);
    t.equal(steps.filter((d) => d !== 960).length, 2, 'exactly two discontinuities');
    tr.close();
  }
});

t.test('lifecycle: flush, close idempotent, push after close', async (t) => {
  const tone = makeAacTone({ sampleRate: 44100, channels: 2, seconds: 1 });
  const tr = new AacToOpus({ asc: tone.asc });
  for (let i = 0; i < 5; i++) tr.push(tone.frames[i], tone.ptsMs(i));
  t.ok(tr.stats.bufferedSamples > 0 && tr.stats.bufferedSamples < 960, `remainder buffered (${tr.stats.bufferedSamples})`);
  const flushed = tr.flush();
  t.ok(flushed.length >= 1, 'flush emits the remainder');
  t.equal(tr.stats.bufferedSamples, 0);
  t.same(tr.flush(), [], 'second flush is empty');
  // after flush the next push re-anchors at its own pts
  const out: OpusPacket[] = [];
  for (let i = 0; i < 5; i++) out.push(...tr.push(tone.frames[i], 60000 + tone.ptsMs(i)));
  t.equal(out[0]?.timestamp, 60000 * 48, 're-anchored after flush');
  tr.close();
  tr.close();
  t.equal(tr.closed, true);
  t.same(tr.push(tone.frames[0], 0), [], 'push after close returns []');
  t.same(tr.flush(), []);
  t.equal(tr.stats.framesIn, 10);

  // many instances left to the finalizer must not crash
  for (let i = 0; i < 200; i++) {
    const x = new AacToOpus({ asc: tone.asc });
    x.push(tone.frames[0], 0);
  }
  (globalThis as { gc?: () => void }).gc?.();
  t.pass('unclosed instances are left to the finalizer');
});

t.test('a normal frame costs well under 1 ms', async (t) => {
  const tone = makeAacTone({ sampleRate: 44100, channels: 2, seconds: 10 });
  const tr = new AacToOpus({ asc: tone.asc });
  const lat: number[] = [];
  tone.frames.forEach((f, i) => {
    const t0 = process.hrtime.bigint();
    tr.push(f, tone.ptsMs(i));
    lat.push(Number(process.hrtime.bigint() - t0) / 1e3);
  });
  lat.sort((a, b) => a - b);
  const p50 = lat[Math.floor(lat.length / 2)];
  const p90 = lat[Math.floor(lat.length * 0.9)];
  t.ok(p50 < 500, `p50 ${p50.toFixed(0)} µs`);
  t.ok(p90 < 1000, `p90 ${p90.toFixed(0)} µs`);
  tr.close();
});
