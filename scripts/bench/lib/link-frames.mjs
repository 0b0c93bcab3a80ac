// Reader process of scripts/bench/mix-link's delay part: opens one publisher's internal feed link (GET
// /internal/feed/…, the cluster's link key in its header) with node:http, as the mixing node's openFeed does, and
// records for every H.264 frame of the MPEG-TS body (ts-frames.mjs) its frame key and when its last byte came out of
// the response (a 'data' event), on the machine-wide monotonic clock. Like e2e-viewer.mjs it also has a UDP probe
// socket on which the bench measures its own floor (one-way loopback delivery into this process's event loop).
// Driven over the IPC channel of child_process.fork:
//
//   ← { type: 'start', url, headers, deadlineMs }
//   → { type: 'probe', port }
//   → { type: 'linked', status, contentType, kinds } | { type: 'failed', message }
//   → { type: 'first-frame' }
//   ← { type: 'stop' }
//   → { type: 'result', video: { key: (string|null)[], at: Float64Array, bytes: Float64Array }, demux, bodyBytes,
//        endedAt, error, probe: Float64Array }   then exits

import { request } from 'node:http';
import { mono } from './mono-clock.mjs';
import { startProbedChild } from './probed-child.mjs';
import { tsVideoFrames } from './ts-frames.mjs';

async function main() {
  const { start, probe, sock } = await startProbedChild();

  const rec = { key: [], at: [], bytes: [] };
  let bodyBytes = 0;
  let endedAt = 0;
  let error = null;
  const demux = tsVideoFrames((f) => {
    if (rec.at.length === 0) process.send({ type: 'first-frame' });
    rec.key.push(f.key);
    rec.at.push(f.at);
    rec.bytes.push(f.bytes);
  });

  const req = request(start.url, { headers: start.headers }, (res) => {
    if (res.statusCode !== 200) {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => process.send({ type: 'failed', message: `${res.statusCode}: ${text.slice(0, 300)}` }));
      return;
    }
    process.send({ type: 'linked', status: res.statusCode, contentType: res.headers['content-type'], kinds: res.headers['x-roomgate-kinds'] });
    res.on('data', (chunk) => {
      const at = mono(); // first: the time the bytes reached this reader, before any work on them
      bodyBytes += chunk.length;
      demux.push(chunk, at);
    });
    res.once('end', () => (endedAt ||= mono()));
    res.once('error', (e) => (error ??= e.message));
  });
  req.on('error', (e) => {
    error ??= e.message;
    process.send({ type: 'failed', message: e.message });
  });
  req.end();

  process.on('message', (msg) => {
    if (msg?.type !== 'stop') return;
    req.destroy();
    sock.close();
    process.send({
      type: 'result',
      video: { key: rec.key, at: Float64Array.from(rec.at), bytes: Float64Array.from(rec.bytes) },
      demux: demux.stats(),
      bodyBytes,
      endedAt,
      error,
      probe: Float64Array.from(probe),
    }, () => process.exit(0));
  });
}

if (process.send) await main();
