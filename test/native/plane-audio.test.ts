// Audio through the native data plane (native/src/plane/pipe.cc PushOpus/PushAac, sink.cc OnAudio) with a fake
// transport (test/helpers/fake-transport.ts): Opus packets pass to an audio sink unchanged; AAC is transcoded with
// the pipe's AAC config and must come out as the same Opus packets the JavaScript path's AacToOpus
// (test/helpers/aac-to-opus.ts) makes of the same frames; video and audio sinks of one pipe stay apart.
// Needs the addon: node scripts/build-native.mjs

import t from 'tap';
import { AacToOpus, type OpusPacket } from '../helpers/aac-to-opus.js';
import { baselineClip, FakeTransport, openPlane, pushFrame, seqDelta, planeSetUp } from '../helpers/fake-transport.js';
import { opusToc } from './fixtures/aac.js';

const clip = await baselineClip();
const OPUS = { opusBitrate: 64000, opusComplexity: 5 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What AacToOpus makes of the clip's AAC with the pipe's settings: real Opus packets with 48 kHz timestamps. */
function transcodeClip(): OpusPacket[] {
  const tr = new AacToOpus({ asc: clip.audioConfig.asc, bitrate: OPUS.opusBitrate, complexity: OPUS.opusComplexity, volume: 100 });
  const out = clip.audio.flatMap((f) => tr.push(f.data, f.dts).map((x) => ({ data: Buffer.from(x.data), timestamp: x.timestamp })));
  tr.close();
  return out;
}
const reference = transcodeClip();

t.test('pushOpus: each packet to the audio sink unchanged, with its timestamp; not to the video sink', async (t) => {
  const { p, net } = await planeSetUp(t);
  const pipe = p.plane.createPipe(OPUS);
  const audio = p.plane.addSink(pipe, net.sink({ video: false }));
  const video = p.plane.addSink(pipe, net.sink({ video: true, replay: true }));
  const base = 0xffffffff - 960 * 10; // across the 32-bit wrap
  reference.forEach((x, i) => p.plane.pushOpus(pipe, x.data, (base + i * 960) >>> 0));
  t.ok(await net.waitCount(reference.length));
  await net.settle(10);
  const got = net.packets;
  t.equal(got.length, reference.length, `${reference.length} packets`);
  t.ok(got.every((x, i) => x.payload.equals(reference[i]!.data)), 'payloads unchanged');
  t.ok(got.every((x, i) => x.ts === (base + i * 960) >>> 0), 'the given timestamps (no other sender before: no offset)');
  t.ok(got.every((x, i) => i === 0 || seqDelta(got[i - 1]!.seq, x.seq) === 1), 'seq +1 each');
  t.ok(got.every((x) => x.ssrc === 0x5678ef01 && x.payloadType === 111 && !x.marker), 'audio SSRC, payload type, no marker');
  t.equal(p.plane.sinkInfo(video)!.packetCount, 0, 'the video sink sent nothing');
  const info = p.plane.sinkInfo(audio)!;
  t.same([info.packetCount, info.rtpTimestamp], [got.length, got[got.length - 1]!.ts], 'sender-report counters');
  t.equal(p.plane.pipeStats(pipe)!.audioFrames, reference.length);
  t.equal(p.plane.pipeStats(pipe)!.audioBytes, reference.reduce((n, x) => n + x.data.length, 0), 'audioBytes: the Opus payloads');
  for (let i = 0; i < 100 && !p.events.some((e) => e.kind === 'first-audio'); i++) await sleep(2);
  await sleep(5);
  t.same(p.events.filter((e) => e.kind === 'first-audio'), [{ kind: 'first-audio', pipe }], 'first-audio reported once');
});

t.test('pushAac: transcoded with the pipe\'s AAC config into the packets AacToOpus makes, byte for byte', async (t) => {
  const { p, net } = await planeSetUp(t);
  const pipe = p.plane.createPipe(OPUS);
  t.equal(p.plane.setAudioConfig(pipe, clip.audioConfig.asc, 100), '', 'the AAC config is accepted');
  p.plane.addSink(pipe, net.sink({ video: false }));
  for (const f of clip.audio) p.plane.pushAac(pipe, f.data, f.dts);
  t.ok(reference.length >= 90, `${reference.length} Opus packets from ${clip.audio.length} AAC frames`);
  t.ok(await net.waitCount(reference.length));
  await net.settle(10);
  const got = net.packets;
  t.equal(got.length, reference.length);
  const diff = reference.findIndex((r, i) => !got[i]?.payload.equals(r.data) || got[i]!.ts !== r.timestamp >>> 0);
  t.equal(diff, -1, diff < 0 ? 'identical payloads and timestamps' : `first difference at packet ${diff}`);
  t.ok(got.every((x) => opusToc(x.payload).is20msCeltOrHybrid), 'every packet a 20 ms Opus frame');
  t.ok(got.every((x, i) => i === 0 || x.ts - got[i - 1]!.ts === 960), 'timestamps 960 apart');
  t.equal(net.authFailures, 0);
});

t.test('pushAac: nothing without a config, a refused config, no listener; bad frames are reported', async (t) => {
  const { p, net } = await planeSetUp(t);
  const pipe = p.plane.createPipe(OPUS);
  p.plane.addSink(pipe, net.sink({ video: false }));
  for (const f of clip.audio.slice(0, 10)) p.plane.pushAac(pipe, f.data, f.dts);
  t.ok(p.plane.setAudioConfig(pipe, Buffer.from([0xff, 0xff]), 100).length > 0, 'a garbage ASC is refused with a reason');
  for (const f of clip.audio.slice(10, 20)) p.plane.pushAac(pipe, f.data, f.dts);
  t.equal(p.plane.setAudioConfig(pipe, null, 100), '', 'config cleared (an Opus or no-audio publisher)');
  for (const f of clip.audio.slice(20, 30)) p.plane.pushAac(pipe, f.data, f.dts);
  await net.settle(20);
  t.equal(net.packets.length, 0, 'no audio sent');
  t.equal(p.plane.pipeStats(pipe)!.audioFrames, 30, 'but every frame counted');
  t.equal(p.plane.pipeStats(pipe)!.audioBytes, clip.audio.slice(0, 30).reduce((n, f) => n + f.data.length, 0), 'and its AAC bytes');

  // Garbage frames after a good config: reported as a decoder-errors event (the first at once).
  p.plane.setAudioConfig(pipe, clip.audioConfig.asc, 100);
  for (let i = 0; i < 5; i++) p.plane.pushAac(pipe, Buffer.alloc(50, 0xa5 + i), 1000 + i * 23);
  for (let i = 0; i < 100 && !p.events.some((e) => e.kind === 'decoder-errors'); i++) await sleep(2);
  const err = p.events.find((e) => e.kind === 'decoder-errors');
  t.ok(err && err.kind === 'decoder-errors' && err.pipe === pipe && err.count > 0 && err.text.length > 0, `decoder-errors: ${JSON.stringify(err)}`);

  // With no audio sink the transcoder is not run; frames still count.
  const pipe2 = p.plane.createPipe(OPUS);
  p.plane.setAudioConfig(pipe2, clip.audioConfig.asc, 100);
  for (const f of clip.audio.slice(0, 10)) p.plane.pushAac(pipe2, f.data, f.dts);
  t.equal(p.plane.pipeStats(pipe2)!.audioFrames, 10);
  const vsink = p.plane.addSink(pipe2, net.sink({ video: true }));
  for (const f of clip.audio.slice(10, 20)) p.plane.pushAac(pipe2, f.data, f.dts);
  pushFrame(p.plane, pipe2, clip.video[0]!); // no video config on this pipe: dropped
  await net.settle(20);
  t.equal(net.packets.length, 0, 'a video sink gets no audio; video without a config is dropped');
  t.equal(p.plane.sinkInfo(vsink)!.packetCount, 0);
});
