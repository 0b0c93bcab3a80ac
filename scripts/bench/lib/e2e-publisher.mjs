// Publisher process of scripts/bench/e2e: pushes one or more streams over RTMP (node-media-server's RtmpClient),
// sending the FLV tags of a pre-encoded file paced in real time (looped, timestamps kept rising), and records the
// send time of every tag on the machine-wide monotonic clock. Driven over the IPC channel of child_process.fork:
//
//   ← { type: 'start', media, streams: [{ index, url }], startAt, staggerMs: [..], deadlineMs }
//   → { type: 'published', index } | { type: 'failed', index, message }   (one per stream)
//   ← { type: 'stop' }
//   → { type: 'result', streams: [{ index, video: { pts, sentAt, key, size }, audio: { dts, sentAt }, gridOriginMs,
//        maxBacklogBytes, closedAt, error }] }   then exits
//
// `url` is a full RTMP push URL: rtmp://HOST[:PORT]/APP/NAME[?QUERY]; the connect command carries
// tcUrl rtmp://HOST:PORT/APP and the publish command NAME?QUERY, as OBS and ffmpeg send them. Times are ms on
// CLOCK_MONOTONIC (process.hrtime), comparable across processes. Nothing is logged or allocated per tag beyond the
// RTMP chunking buffer and the record.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { readFlvTags } from './flv-file.mjs';
import { mono } from './mono-clock.mjs';

const require = createRequire(import.meta.url);
const RtmpClient = require('node-media-server/src/protocol/rtmp_client.js');
require('node-media-server/src/core/logger.js').level = 'error';

const RTMP_CHANNEL_AUDIO = 4;
const RTMP_CHANNEL_VIDEO = 5;

/** Parses an RTMP push URL into what connect/publish need. */
export function splitRtmpUrl(url) {
  const m = /^rtmps?:\/\/([^/?#]+)\/([^/?#]+)\/([^#]+)$/.exec(url);
  if (!m) throw new Error(`not an RTMP push URL with an app and a stream name: ${url}`);
  const [, hostPort, app, nameWithQuery] = m;
  const hp = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort);
  if (!hp) throw new Error(`bad host in ${url}`);
  const host = hp[1];
  const port = Number(hp[2] ?? 1935);
  return { host, port, app, nameWithQuery, tcUrl: `rtmp://${host}:${port}/${app}` };
}

/** The file's tags split into codec configuration (sent once) and media (paced, looped). */
function loadMedia(file) {
  const tags = readFlvTags(readFileSync(file)).filter((t) => t.type === 8 || t.type === 9);
  const config = [];
  const media = [];
  for (const t of tags) {
    const isConfig =
      (t.type === 9 && (t.body[0] & 0x0f) === 7 && t.body[1] === 0) || // AVC sequence header
      (t.type === 8 && t.body[0] >> 4 === 10 && t.body[1] === 0); // AAC sequence header
    (isConfig ? config : media).push(t);
  }
  if (media.length === 0) throw new Error(`${file}: no media tags`);
  const gap = (type) => {
    const ts = media.filter((t) => t.type === type).map((t) => t.timestamp);
    if (ts.length < 2) return { last: ts[0] ?? 0, step: 0 };
    const d = ts.slice(1).map((x, i) => x - ts[i]).sort((a, b) => a - b);
    return { last: ts[ts.length - 1], step: d[d.length >> 1] };
  };
  const v = gap(9);
  const a = gap(8);
  const first = media[0].timestamp;
  // One loop lasts until the later track's last frame has ended, so timestamps never go backwards or overlap.
  const loopMs = Math.ceil(Math.max(v.last + v.step, a.last + a.step)) - first;
  const firstAudio = media.find((t) => t.type === 8)?.timestamp ?? 0;
  // Composition time offset (pts − dts) of each video tag (0 for baseline H.264).
  const cts = media.map((t) => (t.type === 9 && (t.body[0] & 0x0f) === 7 ? t.body.readIntBE(2, 3) : 0));
  const key = media.map((t) => t.type === 9 && t.body[0] >> 4 === 1);
  return { config, media, cts, key, first, loopMs, firstAudio };
}

function packet(client, type, timestamp, body) {
  return RtmpClient.chunksCreate({
    header: {
      fmt: 0,
      cid: type === 8 ? RTMP_CHANNEL_AUDIO : RTMP_CHANNEL_VIDEO,
      timestamp,
      length: body.length,
      type,
      stream_id: client.streamId,
    },
    clock: timestamp,
    payload: body,
  });
}

async function publish(url) {
  const u = splitRtmpUrl(url);
  const client = new RtmpClient();
  client.onErrorCallback = () => {};
  // RtmpClient.connect wants app and stream in its URL; the real tcUrl is set before the connect command.
  await client.connect(`rtmp://${u.host}:${u.port}/${u.app}/x`);
  client.baseUri = u.tcUrl;
  await client.sendConnect();
  await client.sendCreateStream();
  await client.sendPublish(u.nameWithQuery);
  return client;
}

async function main() {
  const start = await new Promise((res) => process.once('message', res));
  if (start?.type !== 'start') process.exit(2);
  const deadline = setTimeout(() => process.exit(3), start.deadlineMs);
  deadline.unref();
  process.on('disconnect', () => process.exit(0));

  const m = loadMedia(start.media);
  const streams = start.streams.map((s, i) => ({
    index: s.index,
    url: s.url,
    stagger: start.staggerMs[i] ?? 0,
    client: null,
    live: false,
    t0: 0,
    pos: 0,
    loop: 0,
    closedAt: 0,
    error: null,
    maxBacklog: 0,
    rec: { video: { pts: [], sentAt: [], key: [], size: [] }, audio: { dts: [], sentAt: [] } },
  }));

  let timer = null;
  let stopped = false;

  const send = (st, i) => {
    const t = m.media[i];
    const ts = st.loop * m.loopMs + t.timestamp;
    const buf = packet(st.client, t.type, ts, t.body);
    const socket = st.client.socket;
    if (!socket || socket.destroyed) {
      st.live = false;
      return;
    }
    const at = mono();
    socket.write(buf);
    if (socket.writableLength > st.maxBacklog) st.maxBacklog = socket.writableLength;
    if (t.type === 9) {
      st.rec.video.pts.push(ts + m.cts[i]);
      st.rec.video.sentAt.push(at);
      st.rec.video.key.push(m.key[i] ? 1 : 0);
      st.rec.video.size.push(t.body.length);
    } else {
      st.rec.audio.dts.push(ts);
      st.rec.audio.sentAt.push(at);
    }
  };

  const tick = () => {
    timer = null;
    if (stopped) return;
    const now = mono();
    let next = Infinity;
    for (const st of streams) {
      if (!st.live) continue;
      for (let guard = 0; guard < 10000; guard++) {
        const due = st.t0 + st.loop * m.loopMs + (m.media[st.pos].timestamp - m.first);
        if (due > now) {
          if (due < next) next = due;
          break;
        }
        send(st, st.pos);
        if (!st.live) break;
        if (++st.pos === m.media.length) {
          st.pos = 0;
          st.loop++;
        }
      }
    }
    if (next !== Infinity) timer = setTimeout(tick, Math.max(0, next - mono()));
  };
  const reschedule = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(tick, 0);
  };

  process.on('message', (msg) => {
    if (msg?.type !== 'stop' || stopped) return;
    stopped = true;
    if (timer) clearTimeout(timer);
    const out = streams.map((st) => ({
      index: st.index,
      video: {
        pts: Float64Array.from(st.rec.video.pts),
        sentAt: Float64Array.from(st.rec.video.sentAt),
        key: Uint8Array.from(st.rec.video.key),
        size: Float64Array.from(st.rec.video.size),
      },
      audio: { dts: Float64Array.from(st.rec.audio.dts), sentAt: Float64Array.from(st.rec.audio.sentAt) },
      gridOriginMs: m.firstAudio,
      maxBacklogBytes: st.maxBacklog,
      closedAt: st.closedAt,
      error: st.error,
    }));
    for (const st of streams) {
      try {
        st.client?.disconnect();
      } catch {}
    }
    process.send({ type: 'result', streams: out }, () => process.exit(0));
  });

  await Promise.all(
    streams.map(async (st) => {
      try {
        st.client = await Promise.race([
          publish(st.url),
          new Promise((_, rej) => setTimeout(() => rej(new Error('no answer to publish within 10 s')), 10000).unref()),
        ]);
        if (stopped) return;
      } catch (e) {
        st.error = e.message;
        process.send({ type: 'failed', index: st.index, message: e.message });
        return;
      }
      st.client.onCloseCallback = () => {
        if (!st.closedAt) st.closedAt = mono();
        st.live = false;
      };
      st.t0 = Math.max(start.startAt, mono()) + st.stagger;
      // Codec configuration goes out at once, stamped with the first media timestamp.
      setTimeout(() => {
        if (stopped || !st.client?.socket) return;
        for (const t of m.config) st.client.socket.write(packet(st.client, t.type, m.first, t.body));
        st.live = true;
        reschedule();
      }, Math.max(0, st.t0 - mono()));
      process.send({ type: 'published', index: st.index });
    }),
  );
}

if (process.send) await main();
