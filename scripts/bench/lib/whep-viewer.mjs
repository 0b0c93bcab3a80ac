#!/usr/bin/env node
// A WHEP viewer on werift that does not decode: it offers recvonly H.264 (packetization-mode 1) + Opus, and
// counts what arrives — complete frames (marker-bit boundaries with no sequence gap inside), the first complete
// keyframe, sequence gaps, audio packets — and hands each frame's RTP timestamp and arrival time to a callback so
// a benchmark can map them back to publisher send times. Nothing is logged or allocated per packet beyond what
// werift itself does.
//
// Library:
//   import { startWhepViewer } from './whep-viewer.mjs';
//   const v = await startWhepViewer({ url, token, onFrame?, onAudio? });   // resolves once the answer is applied
//   v.stats(); await v.close();       // close sends DELETE; v.resource is the session URL, v.pc the werift peer
//
// CLI (one JSON line of stats per viewer per second on stdout; exits after N s with a DELETE, or on SIGINT/SIGTERM):
//   node scripts/bench/lib/whep-viewer.mjs --url 'http://127.0.0.1:8080/v2/sub/APP/ROOM?SessionID=u' --token SIG \
//     [--seconds N] [--count K] [--host-address 127.0.0.1] [--recv-buffer BYTES]
//
// Times are epoch milliseconds with sub-millisecond precision (performance.timeOrigin + performance.now()), so
// they compare across processes on one host.

import { RTCPeerConnection, useH264, useOPUS } from 'werift';
import { pathToFileURL } from 'node:url';

const now = () => performance.timeOrigin + performance.now();

// H.264 RTP payload (RFC 6184): NAL unit types that matter here.
const NAL_IDR = 5;
const NAL_SPS = 7;
const STAP_A = 24;
const FU_A = 28;
const FU_B = 29;
const MAX_TRACKED_MISSING = 4096;
/**
 * Socket receive buffer asked for by default. Linux's default (net.core.rmem_default, 208 KiB) holds only ~90
 * loopback datagrams of 1.2 kB; the gateway sends a late viewer the cached GOP in one burst, which overflows it.
 * The kernel caps the request at net.core.rmem_max.
 */
export const DEFAULT_RECV_BUFFER = 1 << 20;

/** Whether an RTP payload begins an access unit's first NAL (not a FU continuation). */
function beginsNal(p) {
  const type = p[0] & 0x1f;
  if (type === FU_A || type === FU_B) return (p[1] & 0x80) !== 0;
  return type >= 1 && type <= 27;
}

/** Whether the first NAL carried by this payload is an IDR slice or an SPS. */
function isKeyStart(p) {
  const type = p[0] & 0x1f;
  let nal = type;
  if (type === STAP_A) nal = p.length > 3 ? p[3] & 0x1f : 0;
  else if (type === FU_A) nal = p[1] & 0x80 ? p[1] & 0x1f : 0;
  return nal === NAL_IDR || nal === NAL_SPS;
}

/**
 * werift queries stun.l.google.com for every IPv4 host candidate even with `iceServers: []` (its ICE layer falls
 * back to that default), and gathering waits up to 5 s when that UDP is dropped. A viewer needs no STUN server.
 */
export function withoutStun(pc) {
  for (const t of pc.getTransceivers()) {
    const conn = t.receiver?.dtlsTransport?.iceTransport?.connection;
    if (conn && 'stunServer' in conn) conn.stunServer = undefined;
  }
}

/** A werift peer as the bench clients use it: H.264 + Opus, IPv4 UDP on the given host addresses, one bundle. */
export function benchPeer(hostAddresses) {
  return new RTCPeerConnection({
    codecs: { video: [useH264()], audio: [useOPUS()] },
    iceServers: [],
    iceAdditionalHostAddresses: hostAddresses,
    iceUseIpv6: false,
    iceUseTcp: false,
    bundlePolicy: 'max-bundle',
  });
}

/** Sets SO_RCVBUF on the viewer's ICE sockets (werift has no option for it); returns what the kernel granted. */
function setRecvBuffer(pc, bytes) {
  let granted = 0;
  for (const t of pc.getTransceivers()) {
    const conn = t.receiver?.dtlsTransport?.iceTransport?.connection;
    for (const proto of conn?.protocols ?? []) {
      const socket = proto.transport?.socket;
      if (!socket?.setRecvBufferSize) continue;
      try {
        if (bytes > 0) socket.setRecvBufferSize(bytes);
        granted = socket.getRecvBufferSize();
      } catch {}
    }
  }
  return granted;
}

/**
 * Drops the first arrival of every video RTP datagram whose sequence number is a multiple of `every` (SRTP leaves
 * the RTP header readable); a retransmission of it passes. "Video" is any RTP datagram over 400 bytes: Opus
 * packets are smaller, H.264 FU-A fragments larger.
 */
function dropSomeVideo(pc, every) {
  const dropped = new Set();
  for (const t of pc.getTransceivers()) {
    const conn = t.receiver?.dtlsTransport?.iceTransport?.connection;
    for (const proto of conn?.protocols ?? []) {
      const transport = proto.transport;
      if (!transport || transport.droppingVideo) continue;
      transport.droppingVideo = true;
      const deliver = transport.onData;
      transport.onData = (data, addr) => {
        const rtp = data.length > 400 && data[0] >> 6 === 2 && (data[1] & 0x7f) >= 96; // dynamic payload type: not RTCP
        if (rtp) {
          const seq = data.readUInt16BE(2);
          if (seq % every === 0 && !dropped.has(seq)) {
            dropped.add(seq);
            return;
          }
        }
        deliver(data, addr);
      };
    }
  }
}

export function waitGathering(pc, timeoutMs) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    const sub = pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && done());
    function done() {
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    }
  });
}

/**
 * Starts one WHEP viewer. Resolves after the answer is applied (ICE/DTLS then run in the background); rejects with
 * the server's status and reason when the POST is not answered 201.
 *
 * @param {{
 *   url: string, token?: string,
 *   onFrame?: (f: { rtpTimestamp: number, arrivedAt: number, keyframe: boolean, bytes: number }) => void,
 *   onAudio?: (a: { rtpTimestamp: number, arrivedAt: number }) => void,
 *   hostAddresses?: string[], recvBufferBytes?: number (0: the OS default), requestTimeoutMs?: number,
 *   dropEvery?: number (0: none; N: the first arrival of each video packet whose sequence number is a multiple of N
 *               is dropped, as a lossy network would, so that NACK repair by the server can be watched),
 * }} opts
 */
export async function startWhepViewer({
  url,
  token,
  onFrame,
  onAudio,
  hostAddresses = ['127.0.0.1'],
  recvBufferBytes = DEFAULT_RECV_BUFFER,
  requestTimeoutMs = 10000,
  dropEvery = 0,
}) {
  const s = {
    resource: null,
    state: 'new',
    recvBufferBytes: 0,
    postedAt: 0,
    answeredAt: 0,
    connectedAt: 0,
    firstRtpAt: 0,
    firstKeyframeAt: 0,
    firstAudioAt: 0,
    videoPackets: 0,
    videoBytes: 0,
    frames: 0,
    keyframes: 0,
    incompleteFrames: 0,
    seqGaps: 0,
    lostPackets: 0,
    recoveredPackets: 0,
    latePackets: 0,
    audioPackets: 0,
    audioSeqGaps: 0,
    audioLostPackets: 0,
  };

  // The access unit being assembled (scalars, no per-frame object until it is complete).
  let lastSeq = -1;
  let inFrame = false;
  let frameTs = 0;
  let frameBytes = 0;
  let frameKey = false;
  let frameBroken = false;
  let lastAudioSeq = -1;
  /** Sequence numbers of the holes (for counting those a retransmission fills later). */
  const missing = new Set();

  const onVideoRtp = (rtp) => {
    const t = now();
    const h = rtp.header;
    const p = rtp.payload;
    s.videoPackets++;
    s.videoBytes += p.length;
    if (s.firstRtpAt === 0) s.firstRtpAt = t;
    const seq = h.sequenceNumber;
    if (lastSeq >= 0) {
      const d = (seq - lastSeq) & 0xffff;
      if (d === 0 || d >= 0x8000) {
        // Duplicate, reordered, or resent after werift's NACK: its frame was already judged incomplete.
        s.latePackets++;
        if (missing.delete(seq)) s.recoveredPackets++;
        return;
      }
      if (d > 1) {
        s.seqGaps++;
        s.lostPackets += d - 1;
        frameBroken = true;
        if (missing.size < MAX_TRACKED_MISSING) for (let q = 1; q < d && q < 1000; q++) missing.add((lastSeq + q) & 0xffff);
      }
    }
    lastSeq = seq;
    if (inFrame && h.timestamp !== frameTs) {
      s.incompleteFrames++; // the previous access unit never saw its marker bit
      inFrame = false;
    }
    if (!inFrame) {
      inFrame = true;
      frameTs = h.timestamp;
      frameBytes = 0;
      frameKey = p.length > 1 && isKeyStart(p);
      // A gap just before this packet only breaks this frame if the packet does not begin it.
      frameBroken = p.length < 2 || !beginsNal(p);
    }
    frameBytes += p.length;
    if (!h.marker) return;
    inFrame = false;
    if (frameBroken) {
      s.incompleteFrames++;
      return;
    }
    s.frames++;
    if (frameKey) {
      s.keyframes++;
      if (s.firstKeyframeAt === 0) s.firstKeyframeAt = t;
    }
    if (onFrame) onFrame({ rtpTimestamp: frameTs, arrivedAt: t, keyframe: frameKey, bytes: frameBytes });
  };

  const onAudioRtp = (rtp) => {
    const t = now();
    const seq = rtp.header.sequenceNumber;
    s.audioPackets++;
    if (s.firstAudioAt === 0) s.firstAudioAt = t;
    if (lastAudioSeq >= 0) {
      const d = (seq - lastAudioSeq) & 0xffff;
      if (d === 0 || d >= 0x8000) return;
      if (d > 1) {
        s.audioSeqGaps++;
        s.audioLostPackets += d - 1;
      }
    }
    lastAudioSeq = seq;
    if (onAudio) onAudio({ rtpTimestamp: rtp.header.timestamp, arrivedAt: t });
  };

  const pc = benchPeer(hostAddresses);
  const subs = [];
  const trackSubs = [];
  subs.push(
    pc.onTrack.subscribe((track) => {
      trackSubs.push(track.onReceiveRtp.subscribe(track.kind === 'video' ? onVideoRtp : onAudioRtp));
    }),
    pc.connectionStateChange.subscribe((st) => {
      s.state = st;
      if (st === 'connected' && s.connectedAt === 0) s.connectedAt = now();
    }),
  );
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  withoutStun(pc);

  let closed = false;
  let resourceUrl = null;
  const headers = (type) => {
    const h = {};
    if (type) h['Content-Type'] = type;
    if (token) h.Authorization = `Bearer ${token}`;
    return h;
  };

  async function close() {
    if (closed) return;
    closed = true;
    for (const sub of [...subs, ...trackSubs]) sub.unSubscribe();
    if (resourceUrl) {
      await fetch(resourceUrl, { method: 'DELETE', headers: headers(), signal: AbortSignal.timeout(3000) })
        .then((r) => r.arrayBuffer())
        .catch(() => {});
    }
    await pc.close().catch(() => {});
    s.state = 'closed';
  }

  try {
    await pc.setLocalDescription(await pc.createOffer());
    await waitGathering(pc, 5000);
    s.recvBufferBytes = setRecvBuffer(pc, recvBufferBytes);
    if (dropEvery > 0) dropSomeVideo(pc, dropEvery);
    s.postedAt = now();
    const res = await fetch(url, {
      method: 'POST',
      headers: headers('application/sdp'),
      body: pc.localDescription.sdp,
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    const body = await res.text();
    if (res.status !== 201) {
      const err = new Error(`WHEP POST answered ${res.status}: ${body.trim()}`);
      err.status = res.status;
      err.reason = body.trim();
      throw err;
    }
    s.answeredAt = now();
    const location = res.headers.get('location');
    if (location) resourceUrl = new URL(location, url).href;
    s.resource = resourceUrl;
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
  } catch (err) {
    await close();
    throw err;
  }

  function stats() {
    const since = (t) => (t && s.postedAt ? Math.round((t - s.postedAt) * 10) / 10 : null);
    return {
      ...s,
      answerMs: since(s.answeredAt),
      connectMs: since(s.connectedAt),
      firstRtpMs: since(s.firstRtpAt),
      firstKeyframeMs: since(s.firstKeyframeAt),
    };
  }

  return { stats, close, resource: resourceUrl, pc };
}

// ---- CLI

function parseArgs(argv) {
  const o = { count: 1, seconds: 0, hostAddresses: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--url') o.url = v();
    else if (a === '--token') o.token = v();
    else if (a === '--seconds') o.seconds = Number(v());
    else if (a === '--count') o.count = Number(v());
    else if (a === '--host-address') o.hostAddresses.push(v());
    else if (a === '--recv-buffer') o.recvBufferBytes = Number(v());
    else if (a === '--drop-every') o.dropEvery = Number(v());
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.hostAddresses.length) o.hostAddresses = ['127.0.0.1'];
  return o;
}

const USAGE = `usage: whep-viewer.mjs --url WHEP_URL --token BEARER [--seconds N] [--count K] [--host-address IP]...
       [--recv-buffer BYTES (default ${DEFAULT_RECV_BUFFER}; 0: the OS default)] [--drop-every N (NACK test)]
Runs K viewers (no decoding); prints one JSON line of stats per viewer per second; after N s (0: until SIGINT or
SIGTERM) sends DELETE for each, prints a last line per viewer with "final": true and exits.`;

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e.message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (o.help || !o.url) {
    process.stderr.write(USAGE + '\n');
    process.exit(o.help ? 0 : 2);
  }
  const started = now();
  const viewers = [];
  let stopping = false;
  const line = (i, extra) => {
    const st = viewers[i].stats();
    process.stdout.write(JSON.stringify({ viewer: i, t: Math.round(now() - started) / 1000, ...extra, ...st }) + '\n');
  };

  let ticker = null;
  let endTimer = null;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    clearInterval(ticker);
    clearTimeout(endTimer);
    await Promise.all(viewers.map((v) => v.close()));
    viewers.forEach((_, i) => line(i, { final: true }));
    process.exitCode = code;
    // Everything is closed: the process should now exit by itself. If some handle lingers, say so and go anyway.
    setTimeout(() => {
      process.stderr.write('whep-viewer: a handle kept the process open after close; exiting\n');
      process.exit(code);
    }, 3000).unref();
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  const results = await Promise.allSettled(
    Array.from({ length: o.count }, () => startWhepViewer({ url: o.url, token: o.token, hostAddresses: o.hostAddresses, recvBufferBytes: o.recvBufferBytes, dropEvery: o.dropEvery })),
  );
  for (const r of results) if (r.status === 'fulfilled') viewers.push(r.value);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    process.stderr.write(`whep-viewer: ${failed.reason?.message ?? failed.reason}\n`);
    await Promise.all(viewers.map((v) => v.close()));
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 3000).unref();
    return;
  }
  if (stopping) {
    await Promise.all(viewers.map((v) => v.close())); // a signal came while they were starting
    return;
  }

  const last = viewers.map(() => ({ frames: 0, audioPackets: 0, at: now() }));
  ticker = setInterval(() => {
    const t = now();
    viewers.forEach((v, i) => {
      const st = v.stats();
      const prev = last[i];
      const dt = (t - prev.at) / 1000;
      line(i, { dt: Math.round(dt * 1000) / 1000, fps: Math.round(((st.frames - prev.frames) / dt) * 10) / 10, aps: Math.round(((st.audioPackets - prev.audioPackets) / dt) * 10) / 10 });
      last[i] = { frames: st.frames, audioPackets: st.audioPackets, at: t };
    });
  }, 1000);
  if (o.seconds > 0) endTimer = setTimeout(() => void stop(0), o.seconds * 1000);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
