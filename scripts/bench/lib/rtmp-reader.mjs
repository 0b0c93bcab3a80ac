// Player process of scripts/bench/relay: plays one RTMP stream (node-media-server's RtmpClient, as a CDN edge's
// player would) from the receiving server and records, for every video tag carrying a frame, its arrival time (when
// its last chunk was parsed) on the machine-wide monotonic clock, its FLV timestamp, and its frame key
// (h264-frame-key.mjs: the hash of its coded slices), by which the bench finds the publisher's send of the same
// frame. Driven over the IPC channel of child_process.fork:
//
//   ← { type: 'start', url, deadlineMs }
//   → { type: 'playing' } | { type: 'failed', message }
//   → { type: 'first-frame' }
//   ← { type: 'stop' }
//   → { type: 'result', video: { key: string[], at: Float64Array, dts: Float64Array }, closedAt, error }   then exits

import { createRequire } from 'node:module';
import { frameKey, nalLengthSize } from './h264-frame-key.mjs';
import { mono } from './mono-clock.mjs';

const require = createRequire(import.meta.url);
const RtmpClient = require('node-media-server/src/protocol/rtmp_client.js');
require('node-media-server/src/core/logger.js').level = 'error';

/**
 * RTMP timestamps are modulo 2^32: a message stamped earlier than the one before it on its chunk stream (nginx-rtmp
 * sends SRS's forwarded audio and video on one, not always in order) comes as a delta that wraps around. The client's
 * parser adds deltas without wrapping and then drops every later message of that chunk stream as "beyond 2^32";
 * wrapping the sum here, once per message (packetAlloc runs right after it), keeps them.
 */
class Player extends RtmpClient {
  packetAlloc() {
    this.parserPacket.clock %= 0x100000000;
    super.packetAlloc();
  }
}

async function main() {
  const start = await new Promise((res) => process.once('message', res));
  if (start?.type !== 'start') process.exit(2);
  setTimeout(() => process.exit(3), start.deadlineMs).unref();
  process.on('disconnect', () => process.exit(0));

  const rec = { key: [], at: [], dts: [] };
  let lengthSize = null;
  let closedAt = 0;
  let error = null;
  const client = new Player();
  client.onErrorCallback = (e) => (error ??= e.message);
  client.onCloseCallback = () => (closedAt ||= mono());
  client.onPacketCallback = (p) => {
    if (p.codec_type !== 9) return;
    const at = mono();
    // the parser's payload buffer is reused and longer than the message: only its first p.size bytes are the tag
    const body = p.data.subarray(0, p.size);
    const size = nalLengthSize(body);
    if (size) return void (lengthSize = size);
    if (!lengthSize) return; // a frame before the codec configuration cannot be split into NAL units
    const key = frameKey(body, lengthSize);
    if (!key) return;
    if (rec.key.length === 0) process.send({ type: 'first-frame' });
    rec.key.push(key);
    rec.at.push(at);
    rec.dts.push(p.dts);
  };

  process.on('message', (msg) => {
    if (msg?.type !== 'stop') return;
    try {
      client.disconnect();
    } catch {}
    const video = { key: rec.key, at: Float64Array.from(rec.at), dts: Float64Array.from(rec.dts) };
    process.send({ type: 'result', video, closedAt, error }, () => process.exit(0));
  });

  try {
    const m = /^rtmp:\/\/([^/]+)\/([^/]+)\/(.+)$/.exec(start.url);
    if (!m) throw new Error(`not an RTMP play URL with an app and a stream: ${start.url}`);
    await client.connect(start.url);
    client.baseUri = `rtmp://${m[1]}/${m[2]}`; // the tcUrl players send: the app's URL, without the stream
    await client.sendConnect();
    await client.sendCreateStream();
    // nginx-rtmp answers play at once (NetStream.Play.Start) even while nobody publishes yet
    await Promise.race([
      client.sendPlay(m[3]),
      new Promise((_, rej) => setTimeout(() => rej(new Error('no answer to play within 10 s')), 10000).unref()),
    ]);
    process.send({ type: 'playing' });
  } catch (e) {
    error = e.message;
    process.send({ type: 'failed', message: e.message });
  }
}

if (process.send) await main();
