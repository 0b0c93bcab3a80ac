#!/usr/bin/env node
// A WHIP publisher on werift for benchmarks: it offers sendonly H.264 (packetization-mode 1) + Opus, then sends the
// bench file's video and audio in real time, looped, with RTP timestamps that keep rising. No encoder runs: video
// is the pre-encoded 720p30 2.5 Mb/s baseline H.264 of lib/media.mjs, read by the gateway's own FLV → media model
// code and packetized by its own H.264 packetizer (STAP-A SPS/PPS before each IDR, FU-A, 1200-byte payloads, as
// a browser sends); audio is the same file's audio as Opus (lib/opus-file.mjs), 20 ms a packet. Each video frame's
// packets go out in one burst (no pacer, unlike Chrome). Keyframe requests are counted, not served: the file has a
// 1 s GOP.
//
// Library:
//   import { loadPublisherMedia, startWhipPublisher } from './whip-publisher.mjs';
//   const p = await startWhipPublisher({ url, token, media: loadPublisherMedia(root) });   // resolves when connected
//   p.stats(); await p.close();        // close sends DELETE
//
// CLI (one JSON line of stats per second on stdout; after N s, or on SIGINT/SIGTERM, a DELETE and a last line):
//   node scripts/bench/lib/whip-publisher.mjs --url 'http://127.0.0.1:8080/v2/pub/APP/ROOM?SessionID=u' --token SIG \
//     [--seconds N] [--no-audio]
// Needs `npx tsc -p tsconfig.json` (the gateway's media code is imported from dist/).

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { MediaStreamTrack, RtpHeader, RtpPacket } from 'werift';
import { readFlvTags } from './flv-file.mjs';
import { benchMedia } from './media.mjs';
import { benchOpus, OPUS_FRAME_MS, readOggOpus } from './opus-file.mjs';
import { benchPeer, waitGathering, withoutStun } from './whep-viewer.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const { FlvToMedia } = await import(pathToFileURL(resolve(root, 'dist/src/media/flv-to-media.js')).href);
const { H264RtpPacketizer } = await import(pathToFileURL(resolve(root, 'dist/src/media/rtp-h264.js')).href);

const OPUS_PT = 111;

/**
 * The bench file as the publisher sends it: H.264 access units (media model frames, pts from 0), their decoder
 * config, the loop period, and Opus packets (none with `audio: false`).
 */
export function loadPublisherMedia(rootDir = root, { audio = true } = {}) {
  const frames = [];
  let config = null;
  const conv = new FlvToMedia({
    setVideoConfig: (c) => (config = c),
    setAudioConfig: () => {},
    pushFrame: (f) => f.kind === 'video' && frames.push(f),
    end: () => {},
  });
  for (const t of readFlvTags(readFileSync(benchMedia(rootDir)))) {
    const refusal = conv.push(t.type, t.timestamp, t.body);
    if (refusal) throw new Error(`bench media refused: ${refusal.reason}`);
  }
  if (!config || frames.length < 2) throw new Error('bench media has no H.264');
  const t0 = frames[0].pts;
  for (const f of frames) f.pts = f.dts = f.pts - t0;
  // One more frame interval after the last frame, so the loop keeps the 30 fps rhythm across its seam.
  const periodMs = (frames[frames.length - 1].pts * frames.length) / (frames.length - 1);
  const opus = audio ? readOggOpus(readFileSync(benchOpus(rootDir))) : [];
  return { frames, config, periodMs, opus };
}

/**
 * Starts one WHIP publisher; resolves once the peer is connected and media is flowing; rejects with the server's
 * status and reason when the POST is not answered 201, or when the peer does not connect in 10 s.
 */
export async function startWhipPublisher({ url, token, media, hostAddresses = ['127.0.0.1'], requestTimeoutMs = 10000 }) {
  const s = { state: 'new', resource: null, frames: 0, keyframes: 0, videoPackets: 0, videoBytes: 0, audioPackets: 0, plis: 0, loops: 0 };
  const pc = benchPeer(hostAddresses);
  const video = pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' }).sender;
  const audio = pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' }).sender;
  withoutStun(pc);
  video.onPictureLossIndication.subscribe(() => s.plis++);
  pc.connectionStateChange.subscribe((st) => (s.state = st));
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  let timer = null;
  let closed = false;

  async function close() {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    if (s.resource) {
      await fetch(s.resource, { method: 'DELETE', headers: auth, signal: AbortSignal.timeout(3000) }).then((r) => r.arrayBuffer()).catch(() => {});
    }
    await pc.close().catch(() => {});
    s.state = 'closed';
  }

  try {
    await pc.setLocalDescription(await pc.createOffer());
    await waitGathering(pc, 5000);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', ...auth },
      body: pc.localDescription.sdp,
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const body = await res.text();
    if (res.status !== 201) throw Object.assign(new Error(`WHIP POST answered ${res.status}: ${body.trim()}`), { status: res.status });
    const location = res.headers.get('location');
    if (location) s.resource = new URL(location, url).href;
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    await new Promise((ok, fail) => {
      const t = setTimeout(() => fail(new Error('WHIP peer not connected after 10 s')), 10000);
      const check = () => pc.connectionState === 'connected' && (clearTimeout(t), ok());
      pc.connectionStateChange.subscribe(check);
      check();
    });
  } catch (err) {
    await close();
    throw err;
  }

  // Real-time pacing: frame i of loop k is due at k × period + pts(i) after the start; Opus packet j at j × 20 ms.
  const { frames, config, periodMs, opus } = media;
  const packetizer = new H264RtpPacketizer();
  let audioSeq = Math.floor(Math.random() * 0x10000);
  const audioTs0 = Math.floor(Math.random() * 0x100000000);
  let vi = 0;
  let ai = 0;
  const start = performance.now() + 20;
  const videoDue = (i) => Math.floor(i / frames.length) * periodMs + frames[i % frames.length].pts;
  const audioDue = (j) => j * OPUS_FRAME_MS;
  const tick = () => {
    if (closed) return;
    const now = performance.now() - start;
    for (; videoDue(vi) <= now; vi++) {
      const f = frames[vi % frames.length];
      const loop = Math.floor(vi / frames.length);
      s.loops = loop;
      const pts = loop * periodMs + f.pts;
      for (const p of packetizer.packetize({ ...f, pts, dts: pts }, config)) {
        s.videoPackets++;
        s.videoBytes += p.payload.length;
        void video.sendRtp(p);
      }
      s.frames++;
      if (f.keyframe) s.keyframes++;
    }
    for (; opus.length > 0 && audioDue(ai) <= now; ai++) {
      const header = new RtpHeader({ payloadType: OPUS_PT, sequenceNumber: audioSeq, timestamp: (audioTs0 + ai * 48 * OPUS_FRAME_MS) >>> 0, marker: ai === 0 });
      audioSeq = (audioSeq + 1) & 0xffff;
      s.audioPackets++;
      void audio.sendRtp(new RtpPacket(header, opus[ai % opus.length]));
    }
    const next = Math.min(videoDue(vi), opus.length > 0 ? audioDue(ai) : Infinity);
    timer = setTimeout(tick, Math.max(0, next - (performance.now() - start)));
  };
  timer = setTimeout(tick, 20);

  return { stats: () => ({ ...s }), close, pc };
}

// ---- CLI

async function main() {
  const { values: o } = parseArgs({
    options: { url: { type: 'string' }, token: { type: 'string' }, seconds: { type: 'string', default: '0' }, 'no-audio': { type: 'boolean', default: false } },
  });
  if (!o.url) {
    process.stderr.write('usage: whip-publisher.mjs --url WHIP_URL --token BEARER [--seconds N] [--no-audio]\n');
    process.exit(2);
  }
  const started = performance.now();
  let p;
  try {
    p = await startWhipPublisher({ url: o.url, token: o.token, media: loadPublisherMedia(root, { audio: !o['no-audio'] }) });
  } catch (e) {
    process.stderr.write(`whip-publisher: ${e.message}\n`);
    process.exit(1);
  }
  const line = (extra) => process.stdout.write(JSON.stringify({ t: Math.round(performance.now() - started) / 1000, ...extra, ...p.stats() }) + '\n');
  const ticker = setInterval(() => line({}), 1000);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(ticker);
    await p.close();
    line({ final: true });
    setTimeout(() => process.exit(0), 2000).unref(); // werift may leave a timer behind
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  if (Number(o.seconds) > 0) setTimeout(() => void stop(), Number(o.seconds) * 1000);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
