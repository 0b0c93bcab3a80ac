// The native RTMP data plane (native/src/plane/, src/room/data-plane.ts) with real clients: ffmpeg publishers, an
// RTMP client that turns to garbage, and werift WHEP viewers that capture every RTP packet they are sent. The same
// file pushed to a gateway on the plane and to one on the JavaScript path must reach a viewer as the same RTP; the
// plane's slow path (in-band parameter sets), its GOP replay for a late joiner, continuous numbering across a
// publisher reconnect, its RTCP sender reports, and its isolation from a killed and a garbage-sending publisher
// are checked on the wire.
// Runs in a network namespace with only loopback (scripts/test), like every WebRTC test.

import t, { type Test } from 'tap';
import { PictureLossIndication, RtcpPayloadSpecificFeedback } from 'werift';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { startTestGateway, waitFor, officialUserSig, TEST_APP, type TestGateway } from '../helpers/gateway.js';
import { ffmpegPush, run, type Run } from '../helpers/clients.js';
import { whepTarget, type WhepTarget } from '../helpers/viewers.js';
import { makeMedia, PULL_MEDIA_DIR } from '../helpers/media-server.js';
import { connectScripted } from '../helpers/scripted-rtmp.js';
import { repoPath } from '../../src/paths.js';
import type { Publisher } from '../../src/room/publisher.js';
import { H264RtpPacketizer } from '../../src/media/rtp-h264.js';
import { FlvToMedia } from '../../src/media/flv-to-media.js';
import { FlvStreamReader } from '../../src/ingest/pull/flv-stream-reader.js';
import type { H264Config, MediaSink } from '../../src/media/model.js';

const FPS = 30;
const { sdkAppId } = TEST_APP;
const NAL_IDR = 5;
const NAL_SPS = 7;
const NAL_PPS = 8;
const NAL_AUD = 9;
const STAP_A = 24;
const FU_A = 28;
const NTP_EPOCH_OFFSET_MS = 2208988800000;

// The bench viewer's werift set-up (peer without STUN, gathering wait): the capture viewer below is built on it.
const bench = (await import(pathToFileURL(repoPath('scripts/bench/lib/whep-viewer.mjs')).href)) as {
  benchPeer(hosts: string[]): any;
  withoutStun(pc: any): void;
  waitGathering(pc: any, ms: number): Promise<void>;
  DEFAULT_RECV_BUFFER: number;
};

const g = await startTestGateway();
t.teardown(() => g.close());

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- a capturing WHEP viewer (in this process: werift, no decoding) ------------------------------------------

interface VideoPacket {
  ssrc: number;
  seq: number;
  ts: number;
  marker: boolean;
  payload: Buffer;
  /** performance.now() at arrival. */
  at: number;
}

interface AudioPacket {
  ssrc: number;
  seq: number;
  ts: number;
  at: number;
}

/** An RTCP sender report as received: `sentAt` is its NTP time on the performance.now() clock. */
interface SenderReport {
  kind: 'video' | 'audio';
  ssrc: number;
  rtp: number;
  packetCount: number;
  sentAt: number;
  at: number;
}

interface Capture {
  video: VideoPacket[];
  audio: AudioPacket[];
  reports: SenderReport[];
  postedAt: number;
  connectedAt: number;
  /** Sends a picture-loss indication (RTCP PSFB) for the video SSRC received so far, as a browser does. */
  pli(): Promise<void>;
  close(): Promise<void>;
}

/** Opens a WHEP session and records every RTP packet of both tracks (payloads copied) until close(). */
async function captureViewer(target: WhepTarget): Promise<Capture> {
  const pc = bench.benchPeer(['127.0.0.1']);
  const cap: Capture = { video: [], audio: [], reports: [], postedAt: 0, connectedAt: 0, pli: async () => {}, close: async () => {} };
  const subs: { unSubscribe(): void }[] = [];
  subs.push(
    pc.onTrack.subscribe((track: any) => {
      subs.push(
        track.onReceiveRtp.subscribe((rtp: any) => {
          const h = rtp.header;
          const at = performance.now();
          const ssrc = h.ssrc >>> 0;
          if (track.kind === 'video') cap.video.push({ ssrc, seq: h.sequenceNumber, ts: h.timestamp >>> 0, marker: !!h.marker, payload: Buffer.from(rtp.payload), at });
          else cap.audio.push({ ssrc, seq: h.sequenceNumber, ts: h.timestamp >>> 0, at });
        }),
      );
    }),
    pc.connectionStateChange.subscribe((s: string) => {
      if (s === 'connected' && !cap.connectedAt) cap.connectedAt = performance.now();
    }),
  );
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  for (const tr of pc.getTransceivers()) {
    subs.push(
      tr.receiver.onRtcp.subscribe((p: any) => {
        if (p.type !== 200) return; // sender reports only
        const ntp = p.senderInfo.ntpTimestamp as bigint;
        const epochMs = Number(ntp >> 32n) * 1000 + (Number(ntp & 0xffffffffn) / 2 ** 32) * 1000 - NTP_EPOCH_OFFSET_MS;
        cap.reports.push({
          kind: tr.kind,
          ssrc: p.ssrc >>> 0,
          rtp: p.senderInfo.rtpTimestamp >>> 0,
          packetCount: p.senderInfo.packetCount,
          sentAt: epochMs - performance.timeOrigin,
          at: performance.now(),
        });
      }),
    );
  }
  bench.withoutStun(pc);
  await pc.setLocalDescription(await pc.createOffer());
  await bench.waitGathering(pc, 5000);
  // A 1 MiB receive buffer, as the bench viewer asks for: the GOP replay is a burst.
  for (const tr of pc.getTransceivers()) {
    for (const proto of tr.receiver?.dtlsTransport?.iceTransport?.connection?.protocols ?? []) {
      try {
        proto.transport?.socket?.setRecvBufferSize?.(bench.DEFAULT_RECV_BUFFER);
      } catch {}
    }
  }
  cap.postedAt = performance.now();
  const res = await fetch(target.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${target.token}` },
    body: pc.localDescription.sdp,
    signal: AbortSignal.timeout(10000),
  });
  const answer = await res.text();
  if (res.status !== 201) {
    await pc.close().catch(() => {});
    throw new Error(`WHEP POST answered ${res.status}: ${answer}`);
  }
  const resource = new URL(res.headers.get('location')!, target.url).href;
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  cap.pli = async () => {
    // werift's own sendRtcpPLI is off unless the codec negotiated "nack pli"; the packet is the same either way
    const video = pc.getTransceivers().find((tr: any) => tr.kind === 'video');
    const mediaSsrc = cap.video.at(-1)?.ssrc ?? 0;
    const packet = new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 0x5eed, mediaSsrc }) });
    await video.receiver.dtlsTransport.sendRtcp([packet]);
  };
  let closed = false;
  cap.close = async () => {
    if (closed) return;
    closed = true;
    for (const s of subs) s.unSubscribe();
    await fetch(resource, { method: 'DELETE', headers: { Authorization: `Bearer ${target.token}` }, signal: AbortSignal.timeout(3000) })
      .then((r) => r.arrayBuffer())
      .catch(() => {});
    await pc.close().catch(() => {});
  };
  return cap;
}

// ---- H.264 RTP analysis --------------------------------------------------------------------------------------

/** NAL unit types that an RTP payload starts (STAP-A: each aggregated unit; FU-A: only on its first fragment). */
function nalTypes(p: Buffer): number[] {
  const type = p[0] & 0x1f;
  if (type === STAP_A) {
    const out: number[] = [];
    for (let o = 1; o + 2 < p.length; ) {
      const n = p.readUInt16BE(o);
      out.push(p[o + 2] & 0x1f);
      o += 2 + n;
    }
    return out;
  }
  if (type === FU_A) return p[1] & 0x80 ? [p[1] & 0x1f] : [];
  return [type];
}

interface Frame {
  ts: number;
  /** Index of its first packet in the capture. */
  first: number;
  packets: VideoPacket[];
  /** Marker on the last packet, no sequence hole inside, and the first packet starts a NAL unit. */
  complete: boolean;
  keyframe: boolean;
  /** NAL unit types in order. */
  nals: number[];
  /** Arrival of its last packet. */
  at: number;
}

/** The capture's access units (packets grouped by timestamp, in arrival order). */
function framesOf(video: VideoPacket[]): Frame[] {
  const frames: Frame[] = [];
  let cur: Frame | null = null;
  video.forEach((p, i) => {
    if (!cur || p.ts !== cur.ts || cur.packets[cur.packets.length - 1].marker) {
      cur = { ts: p.ts, first: i, packets: [], complete: false, keyframe: false, nals: [], at: p.at };
      frames.push(cur);
    }
    cur.packets.push(p);
    cur.nals.push(...nalTypes(p.payload));
    cur.at = p.at;
  });
  for (const f of frames) {
    const ps = f.packets;
    let contiguous = true;
    for (let i = 1; i < ps.length; i++) if (((ps[i].seq - ps[i - 1].seq) & 0xffff) !== 1) contiguous = false;
    const t0 = ps[0].payload[0] & 0x1f;
    const starts = t0 !== FU_A || (ps[0].payload[1] & 0x80) !== 0;
    f.complete = ps[ps.length - 1].marker && contiguous && starts;
    f.keyframe = f.nals.includes(NAL_IDR);
  }
  return frames;
}

/** Holes and steps other than +1 in a run of sequence numbers. */
function seqBreaks(seqs: number[]): { at: number; from: number; to: number }[] {
  const out: { at: number; from: number; to: number }[] = [];
  for (let i = 1; i < seqs.length; i++) if (((seqs[i] - seqs[i - 1]) & 0xffff) !== 1) out.push({ at: i, from: seqs[i - 1], to: seqs[i] });
  return out;
}

/** Signed difference of two 32-bit RTP timestamps. */
const tsDiff = (a: number, b: number) => (a - b) | 0;

async function roomStatus(gw: TestGateway, room: string): Promise<any> {
  const r = await gw.getJson(`/api/rooms/${sdkAppId}/${room}`);
  return r.status === 200 ? r.body : null;
}

/**
 * Whether the room has a publisher. A room with viewers in it stays open without one (they are its audience, and
 * wait there for the publisher to come back), so "the publisher left" is "no user publishes", not "no room".
 */
async function hasPublisher(gw: TestGateway, room: string): Promise<boolean> {
  return ((await roomStatus(gw, room))?.users?.length ?? 0) > 0;
}

async function waitKeyframe(gw: TestGateway, room: string, what: string, timeoutMs = 15000): Promise<void> {
  await waitFor(async () => {
    const u = (await roomStatus(gw, room))?.users[0];
    return u?.video && u.audio && u.frames.keyframes >= 1;
  }, timeoutMs, what);
}

function publisherOf(gw: TestGateway, room: string, userId: string): Publisher | undefined {
  return gw.gw.rooms.get(sdkAppId, room)?.pickPublisher(userId);
}

/** `ffmpeg -re -i FILE -c copy -f flv URL`: the same bytes for every gateway. */
function pushFile(file: string, url: string, seconds: number): Run {
  return run('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-i', file, '-c', 'copy', '-f', 'flv', url], (seconds + 30) * 1000);
}

/**
 * Checks every RTCP sender report a viewer got against the RTP it got: the report's RTP timestamp is that of a
 * packet received before it, which arrived within 100 ms after the report's NTP time (the mapping a browser uses
 * for lip sync), and its packet count is what had arrived by then (±40: a frame in flight).
 */
function checkReports(t: Test, name: string, cap: Capture): void {
  const bad: string[] = [];
  let maxLag = 0;
  let maxCountDiff = 0;
  for (const r of cap.reports) {
    const list: { ssrc: number; ts: number; at: number }[] = r.kind === 'video' ? cap.video : cap.audio;
    const mine = list.filter((p) => p.ssrc === r.ssrc);
    const last = mine.filter((p) => p.ts === r.rtp && p.at <= r.at).at(-1);
    const lag = last ? last.at - r.sentAt : NaN;
    const diff = mine.filter((p) => p.at <= r.at).length - r.packetCount;
    if (!last || !(lag >= -5 && lag <= 100) || Math.abs(diff) > 40) {
      bad.push(`${r.kind} SR rtp ${r.rtp} count ${r.packetCount}: ${last ? `arrived ${round(lag)} ms after its NTP time` : 'no such packet received'}, count off by ${diff}`);
    }
    if (last) maxLag = Math.max(maxLag, Math.abs(lag));
    maxCountDiff = Math.max(maxCountDiff, Math.abs(diff));
  }
  const v = cap.reports.filter((r) => r.kind === 'video').length;
  const a = cap.reports.length - v;
  t.ok(v >= 3 && a >= 3, `${name}: sender reports for both tracks (${v} video, ${a} audio)`);
  t.same(bad.slice(0, 5), [], `${name}: every sender report names a packet sent at its NTP time, with the packet count received`);
  t.comment(`${name}: ${cap.reports.length} sender reports, NTP ↔ arrival within ${round(maxLag)} ms, packet counts within ${maxCountDiff}`);
}

/** Per whole second from `from` (performance.now()), complete frames that finished arriving in it. */
function framesPerSecond(frames: Frame[], from: number, seconds: number): number[] {
  const out = new Array<number>(seconds).fill(0);
  for (const f of frames) {
    if (!f.complete) continue;
    const k = Math.floor((f.at - from) / 1000);
    if (k >= 0 && k < seconds) out[k]++;
  }
  return out;
}

// ---- 1 ------------------------------------------------------------------------------------------------------

t.test("a file pushed over RTMP reaches a viewer as the TypeScript reference packetizer's RTP (the engine's differential test)", async (t) => {
  const file = join(PULL_MEDIA_DIR, await makeMedia('flv-h264-aac', 14));
  const room = 'same-rtp';
  const push = pushFile(file, g.pushUrl(room, 'file'), 14);
  t.teardown(() => push.kill());
  await waitKeyframe(g, room, 'the file on the gateway');
  const pub = publisherOf(g, room, 'file')!;

  const a = await captureViewer(whepTarget(g.httpBase, room, 'v-engine'));
  t.teardown(() => a.close());
  await sleep(8000);
  const stats = pub.pipe.stats();
  await a.close();
  t.ok(stats && stats.videoFrames > 0 && stats.audioFrames > 0, `pipe ${pub.pipe.id} carried the stream: ${JSON.stringify(stats)}`);

  // The reference: the same file's tags through the TypeScript FLV parse and RFC 6184 packetizer.
  const expected = referencePackets(readFileSync(file));
  const fa = framesOf(a.video);
  t.ok(fa.length > 150, `the viewer got video (${fa.length} frames)`);
  t.ok(fa[0]?.keyframe, 'it starts with a keyframe');

  // Align on the first IDR received live (the first frame is the replayed GOP's IDR): its IDR-carrying payload
  // must occur in the reference.
  const idrAt = (payloads: Buffer[]) => payloads.findIndex((p) => nalTypes(p).includes(NAL_IDR));
  let ia = -1;
  let ib = -1;
  for (let i = 1; i < fa.length && ia < 0; i++) {
    if (!fa[i].keyframe) continue;
    const own = a.video.slice(fa[i].first);
    const idr = own[idrAt(own.slice(0, 8).map((p) => p.payload))]?.payload;
    const j = idr ? expected.findIndex((e) => e.payload.equals(idr)) : -1;
    if (j > 0) {
      // back to the start of that access unit in the reference (its STAP-A)
      let k = j;
      while (k > 0 && expected[k - 1].ts === expected[j].ts) k--;
      [ia, ib] = [i, k];
    }
  }
  if (ia < 0) return t.fail('no live IDR of the capture is in the reference');
  const pa = a.video.slice(fa[ia].first);
  const pb = expected.slice(ib);
  const n = Math.min(pa.length, pb.length);
  let payloadDiffs = 0;
  let markerDiffs = 0;
  let tsDiffs = 0;
  let firstDiff = -1;
  for (let i = 0; i < n; i++) {
    const p = !pa[i].payload.equals(pb[i].payload);
    const m = pa[i].marker !== pb[i].marker;
    const d = tsDiff(pa[i].ts, pa[0].ts) !== tsDiff(pb[i].ts, pb[0].ts);
    if (p) payloadDiffs++;
    if (m) markerDiffs++;
    if (d) tsDiffs++;
    if ((p || m || d) && firstDiff < 0) firstDiff = i;
  }
  const span = tsDiff(pa[n - 1].ts, pa[0].ts) / 90000;
  t.comment(`compared ${n} packets, ${framesOf(pa.slice(0, n)).length} frames, ${round(span, 2)} s of video with the reference`);
  if (firstDiff >= 0) {
    const show = (x: { payload: Buffer; marker: boolean; ts: number }, base: number) => `ts +${tsDiff(x.ts, base)} m${+x.marker} ${x.payload.length} B ${x.payload.subarray(0, 8).toString('hex')}`;
    t.comment(`first difference at packet ${firstDiff}: engine ${show(pa[firstDiff], pa[0].ts)} | reference ${show(pb[firstDiff], pb[0].ts)}`);
  }
  t.ok(span >= 4, `several seconds compared (${round(span, 2)} s)`);
  t.equal(payloadDiffs, 0, 'video payloads identical packet by packet');
  t.equal(markerDiffs, 0, 'marker bits identical');
  t.equal(tsDiffs, 0, 'video timestamp deltas identical');

  const breaks = seqBreaks(a.video.map((p) => p.seq));
  t.same(breaks, [], `video sequence numbers contiguous over all ${a.video.length} packets`);
  t.same(seqBreaks(a.audio.map((p) => p.seq)), [], 'audio sequence numbers contiguous');
  const first = a.audio[0]?.at ?? 0;
  const later = a.audio.filter((p) => p.at >= first + 1000);
  const secs = later.length > 1 ? (later[later.length - 1].at - later[0].at) / 1000 : 0;
  const rate = secs > 0 ? (later.length - 1) / secs : 0;
  t.ok(rate >= 45 && rate <= 55, `Opus ${round(rate)} packets/s (~50)`);
  t.equal(framesOf(a.video).filter((f) => !f.complete).length, 0, 'every frame complete');
  const steps = a.audio.slice(1).map((p, i) => tsDiff(p.ts, a.audio[i].ts));
  const opusSteps = steps.filter((d) => d === 960).length;
  t.ok(opusSteps >= 0.99 * steps.length, `Opus timestamps advance 960 (20 ms) per packet (${opusSteps} of ${steps.length})`);
  checkReports(t, 'engine', a);
});

/** Every video RTP packet the TypeScript reference makes of an FLV file: FlvStreamReader → FlvToMedia → H264RtpPacketizer. */
function referencePackets(flv: Buffer): { payload: Buffer; marker: boolean; ts: number }[] {
  const out: { payload: Buffer; marker: boolean; ts: number }[] = [];
  const packetizer = new H264RtpPacketizer();
  let config: H264Config | null = null;
  const sink: MediaSink = {
    setVideoConfig: (c) => (config = c),
    setAudioConfig: () => {},
    pushFrame: (f) => {
      if (f.kind !== 'video' || !config) return;
      for (const p of packetizer.packetize(f, config)) out.push({ payload: Buffer.from(p.payload), marker: p.header.marker, ts: p.header.timestamp });
    },
    end: () => {},
  };
  const media = new FlvToMedia(sink);
  new FlvStreamReader((type, ts, body) => {
    if (type === 8 || type === 9) media.push(type, ts, body);
  }).push(flv);
  return out;
}

// ---- 2 ------------------------------------------------------------------------------------------------------

t.test('in-band SPS/PPS and AUDs: keyframes go through JavaScript and back, every frame reaches the viewer whole', async (t) => {
  const room = 'inband';
  const seconds = 14;
  const push = run('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${FPS}`,
    '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', String(seconds),
    '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-g', '30',
    '-x264-params', 'repeat-headers=1:aud=1', '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', g.pushUrl(room, 'inband'),
  ], (seconds + 30) * 1000);
  t.teardown(() => push.kill());
  await waitKeyframe(g, room, 'the in-band publisher');
  const pub = publisherOf(g, room, 'inband');
  const pipe = pub!.pipe;
  // Count the media messages the plane hands to JavaScript for this pipe (its slow path), by wrapping the
  // connection's handler of the pipe's socket events.
  const handler = pub!.onSocketEvent;
  let slowVideo = 0;
  let slowAudio = 0;
  pub!.onSocketEvent = (e) => {
    if (e.kind === 'media') {
      if (e.type === 9) slowVideo++;
      else slowAudio++;
    }
    handler(e);
  };

  const v = await captureViewer(whepTarget(g.httpBase, room, 'v-inband'));
  t.teardown(() => v.close());
  await waitFor(() => framesOf(v.video).some((f) => f.keyframe && f.complete), 5000, 'a first keyframe');
  await sleep(1000); // past the replayed GOP
  const s0 = pipe.stats()!;
  const slow0 = slowVideo;
  const v0 = framesOf(v.video).filter((f) => f.complete).length;
  const t0 = performance.now();
  await sleep(6000);
  const s1 = pipe.stats()!;
  const slow1 = slowVideo;
  const t1 = performance.now();
  await sleep(150); // the last frames' packets in flight
  await v.close();
  const frames = framesOf(v.video);
  // frames the pipe had counted by t1 reach the viewer within a few ms
  const v1 = frames.filter((f) => f.complete && f.at <= t1 + 20).length;

  const sent = s1.videoFrames - s0.videoFrames;
  const got = v1 - v0;
  t.comment(
    `in-band: ${sent} frames into the pipe over ${round((t1 - t0) / 1000, 2)} s, ${got} complete frames at the viewer ` +
      `(${round((100 * got) / sent)} %); pipe keyframes ${s1.keyframes}, max GOP ${s1.maxGopMs} ms`,
  );
  const keysSent = s1.keyframes - s0.keyframes;
  t.comment(`slow path: ${slow1 - slow0} video messages handed to JavaScript for ${keysSent} keyframes and ${sent} frames; ${slowAudio} audio`);
  t.ok(keysSent >= 5 && slow1 - slow0 >= keysSent, 'every keyframe (in-band SPS/PPS) went through JavaScript and back');
  t.ok(sent >= FPS * 6 * 0.8, `the publisher sent ~30 frames/s into the pipe (${sent} in 6 s)`);
  t.ok(got >= 0.9 * sent, `≥ 90 % of the frames sent arrived complete (${got} of ${sent})`);
  t.same(seqBreaks(v.video.map((p) => p.seq)), [], 'no video sequence gap');
  t.equal(frames.filter((f) => !f.complete).length, 0, 'no incomplete frame');
  const keys = frames.filter((f) => f.keyframe);
  t.ok(keys.length >= 6, `keyframes arrived (${keys.length})`);
  const bad = keys.filter((f) => {
    const idr = f.nals.indexOf(NAL_IDR);
    const sps = f.nals.indexOf(NAL_SPS);
    const pps = f.nals.indexOf(NAL_PPS);
    return sps < 0 || pps < 0 || sps > idr || pps > idr;
  });
  t.same(bad.map((f) => f.nals.slice(0, 6)), [], 'every keyframe carries SPS and PPS before its IDR');
  const doubled = keys.filter((f) => f.nals.filter((n) => n === NAL_SPS).length > 1);
  t.equal(doubled.length, 0, 'the in-band SPS is not sent twice (once in-band and once from the config)');
  t.notOk(frames.some((f) => f.nals.includes(NAL_AUD)), 'no access unit delimiter reaches the viewer');
  t.comment(`keyframe NAL order: ${keys[keys.length - 1]?.nals.slice(0, 4).join(',')} …`);
});

// ---- 3 ------------------------------------------------------------------------------------------------------

// One steady publisher for the late joiner and as the healthy room beside the killed and garbage publishers,
// started when the first of those tests begins.
const LIVE = 'plane-live';
let live: Run | null = null;
function startLive(): void {
  if (live) return;
  live = ffmpegPush(g.pushUrl(LIVE, 'anchor'), { seconds: 70, realtime: true });
  const l = live;
  t.teardown(() => l.stop());
}

t.test('a late joiner on the plane gets the cached GOP first, within 1 s of connecting', async (t) => {
  startLive();
  await waitKeyframe(g, LIVE, 'the live publisher');
  await sleep(1500); // mid-stream, somewhere inside a GOP
  t.ok(publisherOf(g, LIVE, 'anchor')?.pipe.stats(), 'its pipe is open');
  const v = await captureViewer(whepTarget(g.httpBase, LIVE, 'v-late'));
  t.teardown(() => v.close());
  const key = await waitFor(() => framesOf(v.video).find((f) => f.keyframe && f.complete), 5000, 'a complete keyframe');
  await sleep(1500);
  await v.close();

  const first = v.video[0];
  const types = nalTypes(first.payload);
  const startsWithSets = (first.payload[0] & 0x1f) === STAP_A ? types[0] === NAL_SPS && types.includes(NAL_PPS) : types[0] === NAL_SPS;
  t.ok(startsWithSets, `the first video packet is SPS/PPS (STAP-A) or SPS (NAL types ${types.join(',')}, ${first.payload.length} B)`);
  const frames = framesOf(v.video);
  t.same({ ts: frames[0].ts, first: frames[0].first }, { ts: key.ts, first: key.first }, 'the first frame is that keyframe, complete');
  const idr = frames[0].nals.indexOf(NAL_IDR);
  t.ok(idr > frames[0].nals.indexOf(NAL_PPS) && frames[0].nals.indexOf(NAL_PPS) > 0, `SPS, PPS, then IDR (${frames[0].nals.join(',')})`);
  const sinceConnected = key.at - v.connectedAt;
  const sincePost = key.at - v.postedAt;
  // The replayed GOP: frames one timestamp tick apart up to the live edge.
  let replayed = 1;
  while (replayed < frames.length && tsDiff(frames[replayed].ts, frames[replayed - 1].ts) === 1) replayed++;
  t.comment(
    `late joiner: connected ${round(v.connectedAt - v.postedAt)} ms after the POST, first complete keyframe ` +
      `${round(sinceConnected)} ms after connecting (${round(sincePost)} ms after the POST); ${replayed} frame(s) of ` +
      `cached GOP replayed, then live`,
  );
  t.ok(v.connectedAt > 0 && sinceConnected <= 1000, `first keyframe within 1 s of connecting (${round(sinceConnected)} ms)`);
  t.same(seqBreaks(v.video.map((p) => p.seq)), [], 'no video sequence gap from the replay into live');
  t.equal(frames.filter((f) => !f.complete).length, 0, 'every frame complete');
});

// ---- 4 ------------------------------------------------------------------------------------------------------

t.test('a picture-loss request from a plane viewer is answered with the cached GOP (RTMP sources cannot make keyframes)', async (t) => {
  startLive();
  await waitKeyframe(g, LIVE, 'the live publisher');
  const v = await captureViewer(whepTarget(g.httpBase, LIVE, 'v-pli'));
  t.teardown(() => v.close());
  await waitFor(() => framesOf(v.video).filter((f) => f.complete).length > 45, 10000, 'playing');
  const served = () => [...g.gw.rooms.viewers.all()].reduce((n, x) => n + x.stats().keyframeRequests, 0);
  const served0 = served();
  const before = v.video.length;
  const sentAt = performance.now();
  await v.pli();
  await sleep(1200);
  t.equal(served() - served0, 1, 'the gateway served one picture-loss request');
  await v.close();
  // The replay: a keyframe followed by the rest of the GOP with timestamps one tick apart, ending at the newest frame.
  const after = framesOf(v.video.slice(before));
  const start = after.findIndex((f, i) => f.keyframe && f.complete && i + 1 < after.length && tsDiff(after[i + 1].ts, f.ts) === 1);
  t.ok(start >= 0, `a replayed GOP follows the PLI (${after.length} frames after it)`);
  if (start >= 0) {
    const key = after[start];
    t.ok(key.nals[0] === NAL_SPS && key.nals.includes(NAL_PPS), `the replayed keyframe carries SPS/PPS (NAL types ${key.nals.join(',')})`);
    t.ok(key.at - sentAt < 1000, `it arrived ${round(key.at - sentAt)} ms after the PLI was sent`);
    t.comment(`PLI → replayed keyframe in ${round(key.at - sentAt)} ms`);
  }
  t.same(seqBreaks(v.video.map((p) => p.seq)), [], 'video numbering stays continuous through the replay');
});

t.test('a publisher reconnecting with the same userid (after leaving, and taking over a live session): the viewer numbering continues without a gap', async (t) => {
  const room = 'reconnect';
  const first = ffmpegPush(g.pushUrl(room, 'obs'), { seconds: 30, realtime: true });
  t.teardown(() => first.kill());
  await waitKeyframe(g, room, 'the first session');
  const pipe1 = publisherOf(g, room, 'obs')!.pipe.id;
  t.ok(pipe1, 'the first session is on the plane');
  const v = await captureViewer(whepTarget(g.httpBase, room, 'v-reconnect'));
  t.teardown(() => v.close());
  await waitFor(() => framesOf(v.video).filter((f) => f.complete).length >= 60, 8000, '2 s of the first session');

  first.stop();
  await first.exited;
  const leftAt = performance.now();
  await waitFor(async () => !(await hasPublisher(g, room)), 5000, 'the first session gone from the room');
  const beforeVideo = v.video.length;
  const beforeAudio = v.audio.length;
  const second = ffmpegPush(g.pushUrl(room, 'obs'), { seconds: 30, realtime: true });
  t.teardown(() => second.kill());
  await waitKeyframe(g, room, 'the second session');
  const pipe2 = publisherOf(g, room, 'obs')!.pipe.id;
  t.ok(pipe2 && pipe2 !== pipe1, `the second session has its own pipe (${pipe1} → ${pipe2})`);
  await waitFor(() => framesOf(v.video.slice(beforeVideo)).filter((f) => f.complete).length >= 60, 8000, '2 s of the second session');

  // An encoder reconnecting before its old connection is gone: the newer session kicks the older one.
  const third = ffmpegPush(g.pushUrl(room, 'obs'), { seconds: 30, realtime: true });
  t.teardown(() => third.kill());
  const pipe3 = await waitFor(() => {
    const p = publisherOf(g, room, 'obs')?.pipe.id;
    return p !== pipe2 && p;
  }, 8000, 'the third session taking over');
  const beforeThird = v.video.length;
  t.notOk(publisherOf(g, room, 'obs')!.ended, `the third session runs on its own pipe (${pipe3})`);
  await waitFor(() => framesOf(v.video.slice(beforeThird)).filter((f) => f.complete).length >= 60, 8000, '2 s of the third session');
  t.ok((await Promise.race([second.exited, sleep(3000).then(() => 'still running')])) !== 'still running', 'the kicked second session ended');
  await v.close();

  t.ok(v.video.length > beforeVideo + 30, `video resumed (${v.video.length - beforeVideo} packets after the reconnect)`);
  t.ok(v.audio.length > beforeAudio + 50, `audio resumed (${v.audio.length - beforeAudio} packets after the reconnect)`);
  t.same(seqBreaks(v.video.map((p) => p.seq)), [], `video sequence numbers +1 per packet across both reconnects (${v.video.length} packets)`);
  t.same(seqBreaks(v.audio.map((p) => p.seq)), [], `audio sequence numbers +1 per packet across both reconnects (${v.audio.length} packets)`);
  const frames = framesOf(v.video);
  const backwards = frames.filter((f, i) => i > 0 && tsDiff(f.ts, frames[i - 1].ts) <= 0);
  t.same(backwards.map((f) => f.ts), [], 'video timestamps keep increasing');
  const audioBack = v.audio.filter((p, i) => i > 0 && tsDiff(p.ts, v.audio[i - 1].ts) <= 0);
  t.equal(audioBack.length, 0, 'audio timestamps keep increasing');
  t.equal(frames.filter((f) => !f.complete).length, 0, 'every frame complete');
  checkReports(t, 'across both reconnects', v);
  const joinIdx = frames.findIndex((f) => f.first >= beforeVideo);
  if (joinIdx > 0) {
    const a = frames[joinIdx - 1];
    const b = frames[joinIdx];
    t.ok(b.keyframe, 'the second session starts at a keyframe');
    t.comment(
      `reconnect: ${round((b.at - a.at) / 1000, 2)} s without video at the viewer (first session left ` +
        `${round((leftAt - a.at) / 1000, 2)} s after its last frame); timestamp step across it ${tsDiff(b.ts, a.ts)} ` +
        `(${round(tsDiff(b.ts, a.ts) / 90000, 2)} s at 90 kHz), seq ${a.packets[a.packets.length - 1].seq} → ${b.packets[0].seq}`,
    );
    let pause = 0;
    for (let i = joinIdx + 1; i < frames.length; i++) pause = Math.max(pause, frames[i].at - frames[i - 1].at);
    t.comment(`takeover by the third session: longest pause between frames from the second session on ${round(pause)} ms`);
  }
});

// ---- 5 ------------------------------------------------------------------------------------------------------

/**
 * Well-framed RTMP messages (one chunk each, chunk stream 6, message stream 1) of random types among audio, video,
 * data and commands, with random bodies: each passes the chunk layer and reaches the FLV/AMF parsers.
 */
function framedGarbage(seed: number, count: number): Buffer {
  const bytes = garbage(seed, count * 1600);
  const out: Buffer[] = [];
  const types = [8, 9, 8, 9, 18, 20];
  for (let i = 0, o = 0; i < count; i++) {
    const type = types[bytes[o] % types.length];
    const len = 1 + (bytes.readUInt16BE(o + 1) % 1500);
    const h = Buffer.alloc(12);
    h[0] = 0x06;
    h.writeUIntBE(i * 20, 1, 3);
    h.writeUIntBE(len, 4, 3);
    h[7] = type;
    h.writeUInt32LE(1, 8);
    out.push(h, bytes.subarray(o + 3, o + 3 + len));
    o += 3 + len;
  }
  return Buffer.concat(out);
}

/** xorshift32: reproducible "random" bytes for a seed. */
function garbage(seed: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

t.test('a SIGKILLed publisher and one that sends garbage do not disturb another room on the plane', async (t) => {
  startLive();
  const victimRoom = 'victim';
  const victim = ffmpegPush(g.pushUrl(victimRoom, 'victim'), { seconds: 30, realtime: true });
  t.teardown(() => victim.kill());
  await Promise.all([waitKeyframe(g, LIVE, 'the live publisher'), waitKeyframe(g, victimRoom, 'the victim publisher')]);
  t.ok(publisherOf(g, victimRoom, 'victim')?.pipe.stats(), "the victim's pipe is open");
  const healthyPipe = publisherOf(g, LIVE, 'anchor')!.pipe.id;

  const v = await captureViewer(whepTarget(g.httpBase, LIVE, 'v-healthy'));
  const vv = await captureViewer(whepTarget(g.httpBase, victimRoom, 'v-victim'));
  t.teardown(() => Promise.all([v.close(), vv.close()]));
  await waitFor(() => framesOf(v.video).some((f) => f.keyframe) && framesOf(vv.video).some((f) => f.keyframe), 5000, 'both viewers receiving');
  await sleep(1500);

  // The garbage publisher publishes properly (in a third room), then writes random bytes into its chunk stream.
  const seed = Number(process.env.DATA_PLANE_GARBAGE_SEED ?? 0x5eed0001);
  const bad = await connectScripted(g.rtmpBase);
  await bad.publish(`garbage?sdkappid=${sdkAppId}&userid=trash&usersig=${officialUserSig('trash')}`);
  t.equal(bad.statuses[0]?.code, 'NetStream.Publish.Start', 'the garbage publisher was accepted');
  await waitFor(() => publisherOf(g, 'garbage', 'trash')?.pipe.stats(), 2000, 'the garbage publisher on the plane');
  const garbagePipe = publisherOf(g, 'garbage', 'trash')!.pipe.id;
  // A second one sends well-framed messages with random bodies instead.
  const framed = await connectScripted(g.rtmpBase);
  t.teardown(() => {
    framed.close();
    bad.close();
  });
  await framed.publish(`garbage2?sdkappid=${sdkAppId}&userid=trash2&usersig=${officialUserSig('trash2')}`);
  await waitFor(() => publisherOf(g, 'garbage2', 'trash2')?.pipe.stats(), 2000, 'the framed-garbage publisher on the plane');

  const from = performance.now();
  const framesBefore = g.gw.engine.native.pipeStats(healthyPipe)!.videoFrames;
  victim.kill(); // SIGKILL: no FIN from ffmpeg's side beyond what the kernel sends
  (framed.client as unknown as { socket: import('node:net').Socket }).socket.write(framedGarbage(seed, 300));
  let written = 0;
  let badClosedAt = 0;
  void bad.closed.then(() => (badClosedAt = performance.now()));
  const socket = (bad.client as unknown as { socket: import('node:net').Socket | null }).socket!;
  socket.on('error', () => {});
  const limit = 32 * 1024 * 1024;
  const chunk = 64 * 1024;
  while (!badClosedAt && !socket.destroyed && written < limit) {
    const ok = socket.write(garbage(seed + written, chunk));
    written += chunk;
    if (!ok) await Promise.race([new Promise((r) => socket.once('drain', r)), bad.closed, sleep(1000)]);
  }
  const closedIn = await waitFor(async () => (badClosedAt ? badClosedAt - from : 0), 8000, 'the gateway closing the garbage connection').catch(() => 0);
  const victimGoneIn = await waitFor(async () => ((await hasPublisher(g, victimRoom)) ? 0 : performance.now() - from), 8000, 'the killed publisher leaving').catch(() => 0);
  const garbageGone = await waitFor(async () => !(await hasPublisher(g, 'garbage')), 8000, 'the garbage publisher leaving').catch(() => false);
  const framedClosed = await Promise.race([framed.closed.then(() => true), sleep(5000).then(() => false)]);
  const framedGone = !(await hasPublisher(g, 'garbage2'));
  await sleep(Math.max(0, 6000 - (performance.now() - from)));
  const framesAfter = g.gw.engine.native.pipeStats(healthyPipe)!.videoFrames;
  const health = await fetch(`${g.httpBase}/healthz`);
  await Promise.all([v.close(), vv.close()]);

  t.comment(
    `garbage (seed ${seed}): ${written} bytes written, connection closed ${closedIn ? `${round(closedIn)} ms` : 'NOT'} after the ` +
      `first write; killed publisher left the room ${victimGoneIn ? `${round(victimGoneIn)} ms` : 'NOT'} after SIGKILL; ` +
      `statuses at the garbage client: ${bad.statuses.map((s) => `${s.code} ${s.description}`).join(' | ')}`,
  );
  t.ok(closedIn > 0, 'the gateway closed the garbage connection');
  t.ok(garbageGone, 'the garbage publisher left its room');
  t.equal(g.gw.engine.native.pipeStats(garbagePipe), null, "the garbage publisher's pipe is closed");
  t.ok(victimGoneIn > 0, 'the SIGKILLed publisher left its room');
  const refusal = framed.statuses.find((st) => st.code === 'NetStream.Publish.Rejected');
  t.comment(`framed garbage: ${refusal ? `refused: ${refusal.description}` : `statuses ${JSON.stringify(framed.statuses)}`}`);
  t.ok(framedClosed && framedGone, 'the framed-garbage connection was closed and its publisher left');
  t.ok(refusal?.description, 'and it was told why');
  t.equal(health.status, 200, 'the gateway is healthy');

  const frames = framesOf(v.video);
  const perSecond = framesPerSecond(frames, from, 6);
  const total = perSecond.reduce((x, y) => x + y, 0);
  t.comment(`healthy viewer per second from the kill: ${perSecond.join(', ')} frames; pipe took ${framesAfter - framesBefore} frames`);
  t.ok(total >= FPS * 6 * 0.9, `the healthy viewer kept full rate (${round(total / 6)} frames/s)`);
  t.ok(Math.min(...perSecond) >= FPS * 0.75, 'no second below 75 % of 30 frames/s');
  t.same(seqBreaks(v.video.map((p) => p.seq)), [], 'no sequence gap at the healthy viewer');
  t.equal(frames.filter((f) => !f.complete).length, 0, 'every frame complete at the healthy viewer');
  t.ok(framesAfter - framesBefore >= FPS * 5, 'the healthy pipe kept taking frames');

  // And the gateway still serves a new viewer on the plane.
  const again = await captureViewer(whepTarget(g.httpBase, LIVE, 'v-after'));
  t.teardown(() => again.close());
  await waitFor(() => framesOf(again.video).filter((f) => f.complete).length >= 10, 5000, 'a new viewer receiving');
  await again.close();
  t.pass('a new viewer receives after all that');
});
