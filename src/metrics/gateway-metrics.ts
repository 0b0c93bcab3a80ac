// What GET /metrics shows (Prometheus text format, prom-client): rooms, publishers, viewers, media in and out,
// refusals, callbacks, tasks, relays and the node's own health. Almost everything is read at scrape time through
// collect() callbacks from counts the gateway keeps anyway (the engine's per-pipe and per-sink counters, the
// refusal counters, the callback dispatcher's stats, the task tables), so media pays nothing for metrics. The only
// things observed as they happen are per request or per callback (API latency, callback round trips), never per
// packet. Labels are app (sdkAppId), source (rtmp, whip, pull) and node; never a user or a room, so the number of
// series stays bounded by apps × sources whatever the traffic.

import { hostname } from 'node:os';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Rooms } from '../room/rooms.js';
import type { Publisher } from '../room/publisher.js';
import type { Viewer } from '../room/viewer.js';
import type { RefusalCounters } from '../events/refusal-counters.js';
import type { CallbackStats } from '../events/callback-dispatcher.js';
import type { SendStats } from '../native/rtmp-plane.js';
import { DeltaTotals } from './delta-totals.js';
import { PlaneCpu } from './plane-cpu.js';

/** A live task's app and state (pull tasks, recordings) or a relay push's. */
export interface TaskState {
  sdkAppId: number;
  state: string;
}

export interface MetricSources {
  rooms: Rooms;
  counters: RefusalCounters;
  callbacks: { stats(): CallbackStats };
  pulls: { states(): TaskState[] };
  recordings: { states(): TaskState[]; bytes: { written: number; uploaded: number } };
  relays: { states(): TaskState[] };
  /** The media engine's count of RTP packets lost on the way out (MediaEngine.sendStats). */
  engine: { sendStats(): SendStats };
  /** The node label; the host name when not given. */
  node?: string;
}

export interface GatewayMetrics {
  registry: Registry;
  /** One API 3.0 call's time, by action (only known actions get their own label). */
  observeApi(action: string, seconds: number): void;
  /** One callback delivery attempt's round trip. */
  observeCallback(ms: number, delivered: boolean): void;
  /** A WHEP viewer's join: offer POST to the first keyframe sent. */
  observeJoin(ms: number): void;
}

/** Refusal counter names that are authentication failures: `auth.<action>` with the failure code as detail. */
const AUTH_PREFIX = 'auth.';

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function gatewayMetrics(s: MetricSources): GatewayMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node: s.node ?? hostname() });
  // process CPU, memory, file descriptors, GC, and the event loop's lag (nodejs_eventloop_lag_*): standard names,
  // so existing Node dashboards work on them. The lag is sampled every 100 ms, not prom-client's default 10 ms: that
  // timer alone woke an idle gateway 100 times a second, 0.5 % of a core here (0.12 % at 100 ms), as much as a relay
  // costs; a stall of the loop long enough to matter still shows in the percentiles.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  const registers = [registry];

  new Gauge({
    name: 'roomgate_rooms',
    help: 'Rooms with someone in them, by app',
    labelNames: ['app'],
    registers,
    collect() {
      this.reset();
      for (const r of s.rooms.list()) this.inc({ app: r.sdkAppId });
    },
  });
  new Gauge({
    name: 'roomgate_publishers',
    help: 'Publishers now, by app and source (rtmp, whip, pull)',
    labelNames: ['app', 'source'],
    registers,
    collect() {
      this.reset();
      for (const r of s.rooms.list()) for (const p of r.publishers.values()) this.inc({ app: r.sdkAppId, source: p.id.source });
    },
  });
  new Gauge({
    name: 'roomgate_viewers',
    help: 'WHEP viewers now, by app',
    labelNames: ['app'],
    registers,
    collect() {
      this.reset();
      for (const r of s.rooms.list()) {
        let n = 0;
        for (const seat of r.audience) if (seat.source === 'whep') n++;
        if (n > 0) this.inc({ app: r.sdkAppId }, n);
      }
    },
  });

  // Media in: the engine counts frames and bytes per pipe; the growth of each is added up per app, source and kind.
  const framesIn = new DeltaTotals<object>();
  const bytesIn = new DeltaTotals<object>();
  const readPipes = (): void => {
    for (const r of s.rooms.list()) {
      for (const p of r.publishers.values()) {
        const st = p.pipe.stats();
        if (!st) continue;
        const base = `${r.sdkAppId}\u0000${p.id.source}\u0000`;
        // two things per publisher and kind: the same publisher object is seen under each key
        framesIn.see(videoKey(p), base + 'video', st.videoFrames);
        framesIn.see(p, base + 'audio', st.audioFrames);
        bytesIn.see(videoKey(p), base + 'video', st.videoBytes);
        bytesIn.see(p, base + 'audio', st.audioBytes);
      }
    }
  };
  // frames and bytes are read in one pass per scrape: the frames counter's collect runs first (registration order)
  const inLabels = (key: string) => {
    const [app, source, kind] = key.split('\u0000');
    return { app, source, kind };
  };
  new Counter({
    name: 'roomgate_frames_in_total',
    help: 'Frames taken in from publishers, by app, source and kind (video, audio); rate() of video is the frame rate',
    labelNames: ['app', 'source', 'kind'],
    registers,
    collect() {
      readPipes();
      this.reset();
      for (const [k, v] of framesIn.entries()) this.inc(inLabels(k), v);
    },
  });
  new Counter({
    name: 'roomgate_bytes_in_total',
    help: 'Encoded media bytes taken in from publishers (NAL units, AAC or Opus frames), by app, source and kind',
    labelNames: ['app', 'source', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const [k, v] of bytesIn.entries()) this.inc(inLabels(k), v);
    },
  });

  // Media out: each WHEP viewer's sinks count packets and octets in the engine.
  const bytesOut = new DeltaTotals<Viewer>();
  const packetsOut = new DeltaTotals<Viewer>();
  new Counter({
    name: 'roomgate_bytes_out_total',
    help: 'RTP payload bytes sent to WHEP viewers, by app',
    labelNames: ['app'],
    registers,
    collect() {
      for (const r of s.rooms.list()) {
        for (const v of s.rooms.viewersIn(r)) {
          const st = v.stats();
          const app = String(r.sdkAppId);
          bytesOut.see(v, app, (st.video?.octets ?? 0) + (st.audio?.octets ?? 0));
          packetsOut.see(v, app, (st.video?.packets ?? 0) + (st.audio?.packets ?? 0));
        }
      }
      this.reset();
      for (const [app, v] of bytesOut.entries()) this.inc({ app }, v);
    },
  });
  new Counter({
    name: 'roomgate_packets_out_total',
    help: 'RTP packets sent to WHEP viewers, by app',
    labelNames: ['app'],
    registers,
    collect() {
      this.reset();
      for (const [app, v] of packetsOut.entries()) this.inc({ app }, v);
    },
  });

  new Counter({
    name: 'roomgate_refusals_total',
    help: 'What the gateway refused or cut off, by what (e.g. rtmp.publishRefused, auth.publish, webrtc.userLimit) and reason (e.g. bframes, h265, bad-usersig)',
    labelNames: ['what', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const [what, byReason] of s.counters.entries()) for (const [reason, n] of byReason) this.inc({ what, reason }, n);
    },
  });
  new Counter({
    name: 'roomgate_auth_failures_total',
    help: 'Credentials the door refused, by action (publish, subscribe) and failure code',
    labelNames: ['action', 'code'],
    registers,
    collect() {
      this.reset();
      for (const [what, byReason] of s.counters.entries()) {
        if (!what.startsWith(AUTH_PREFIX)) continue;
        for (const [code, n] of byReason) this.inc({ action: what.slice(AUTH_PREFIX.length), code }, n);
      }
    },
  });

  new Gauge({
    name: 'roomgate_callbacks_queued',
    help: 'Callbacks waiting to be delivered',
    registers,
    collect() {
      this.set(s.callbacks.stats().queued);
    },
  });
  new Counter({
    name: 'roomgate_callbacks_total',
    help: 'Callback outcomes since start: delivered, failed (attempts that failed, each retried or dropped), dropped',
    labelNames: ['outcome'],
    registers,
    collect() {
      const st = s.callbacks.stats();
      this.reset();
      this.inc({ outcome: 'delivered' }, st.delivered);
      this.inc({ outcome: 'failed' }, st.failedAttempts);
      this.inc({ outcome: 'dropped' }, st.dropped);
    },
  });
  const callbackRoundTrip = new Histogram({
    name: 'roomgate_callback_round_trip_seconds',
    help: 'One callback delivery attempt, POST to answer (or failure), by outcome',
    labelNames: ['outcome'],
    buckets: SECONDS_BUCKETS,
    registers,
  });

  new Gauge({
    name: 'roomgate_tasks',
    help: 'Live tasks by kind (pull, recording) and state, by app',
    labelNames: ['app', 'kind', 'state'],
    registers,
    collect() {
      this.reset();
      for (const t of s.pulls.states()) this.inc({ app: t.sdkAppId, kind: 'pull', state: t.state });
      for (const t of s.recordings.states()) this.inc({ app: t.sdkAppId, kind: 'recording', state: t.state });
    },
  });
  new Counter({
    name: 'roomgate_recording_bytes_total',
    help: 'Cloud recordings\' media files (segments, MP4, AAC; not playlists): bytes written, and bytes uploaded to storage',
    labelNames: ['what'],
    registers,
    collect() {
      this.reset();
      this.inc({ what: 'written' }, s.recordings.bytes.written);
      this.inc({ what: 'uploaded' }, s.recordings.bytes.uploaded);
    },
  });
  new Gauge({
    name: 'roomgate_relay_pushes',
    help: 'Relay-to-CDN push URLs by their last 401 status (starting, connecting, running, recovering, failed, …), by app',
    labelNames: ['app', 'state'],
    registers,
    collect() {
      this.reset();
      for (const t of s.relays.states()) this.inc({ app: t.sdkAppId, state: t.state });
    },
  });

  const planeCpu = new PlaneCpu();
  new Counter({
    name: 'roomgate_plane_cpu_seconds_total',
    help: 'CPU time (user + system) of the media plane thread, which carries every packet in and out',
    registers,
    collect() {
      const sec = planeCpu.seconds();
      this.reset();
      if (sec !== null) this.inc(sec);
    },
  });

  // UDP sends: the engine counts, in its failure paths only, the RTP packets the kernel refused and those it never
  // tried (native/src/plane/send_counters.h); each lost packet is in one series of the two counters. The errors
  // counter is read first (registration order) and takes the figures for both, so they come from one reading.
  let send: SendStats = { bufferFull: 0, otherError: 0, droppedBehind: 0, droppedNoConsent: 0 };
  new Counter({
    name: 'roomgate_udp_send_errors_total',
    help: 'RTP packets to viewers the kernel refused, by kind: buffer_full (EAGAIN/ENOBUFS: the socket\'s send buffer was full, the packet dropped) or other (ECONNREFUSED, ENETUNREACH, EPERM, …)',
    labelNames: ['kind'],
    registers,
    collect() {
      send = s.engine.sendStats();
      this.reset();
      this.inc({ kind: 'buffer_full' }, send.bufferFull);
      this.inc({ kind: 'other' }, send.otherError);
    },
  });
  new Counter({
    name: 'roomgate_udp_send_dropped_total',
    help: 'RTP packets to viewers the engine dropped without trying, by reason: behind (the rest of a frame after a refused send, and video skipped to the next keyframe) or no_consent (no ICE consent, RFC 7675)',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      this.inc({ reason: 'behind' }, send.droppedBehind);
      this.inc({ reason: 'no_consent' }, send.droppedNoConsent);
    },
  });

  const apiLatency = new Histogram({
    name: 'roomgate_api_request_duration_seconds',
    help: 'API 3.0 calls, request to answer, by action',
    labelNames: ['action'],
    buckets: SECONDS_BUCKETS,
    registers,
  });

  const joinTime = new Histogram({
    name: 'roomgate_join_seconds',
    help: 'WHEP viewer join: offer POST to the first keyframe sent (the cached GOP\'s, or the next one)',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8],
    registers,
  });

  return {
    registry,
    observeJoin: (ms) => joinTime.observe(ms / 1000),
    observeApi: (action, seconds) => apiLatency.observe({ action }, seconds),
    observeCallback: (ms, delivered) => callbackRoundTrip.observe({ outcome: delivered ? 'delivered' : 'failed' }, ms / 1000),
  };
}

/**
 * A second identity per publisher for its video counts (DeltaTotals keys its last-seen counts by object): a
 * WeakMap keeps it alive exactly as long as the publisher.
 */
const videoKeys = new WeakMap<Publisher, object>();
function videoKey(p: Publisher): object {
  let k = videoKeys.get(p);
  if (!k) videoKeys.set(p, (k = {}));
  return k;
}
