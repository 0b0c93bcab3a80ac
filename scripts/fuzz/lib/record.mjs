// Records what a real ffmpeg publisher sends (client → server bytes): a loopback TCP server answers it with
// node-media-server's own RTMP protocol class (handshake, connect, createStream, publish), so ffmpeg goes all the
// way to its media and the closing commands. The URL carries a valid UserSig, so a replay of the recording gets past
// auth and into the gateway's publish path.

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { mapChunks } from './chunks.mjs';

const require = createRequire(import.meta.url);
const Rtmp = require('node-media-server/src/protocol/rtmp.js');
require('node-media-server/src/core/logger.js').log = () => {}; // it prints every packet at debug level

const HANDSHAKE = 1536;

/**
 * @param {{ pathAndQuery: string, seconds?: number, size?: string }} o `push/<room>?sdkappid=…&userid=…&usersig=…`
 * @returns {Promise<{ c0c1: Buffer, c2: Buffer, rest: Buffer, map: ReturnType<typeof mapChunks> }>}
 */
export async function recordFfmpegPublish(o) {
  const received = [];
  let done;
  const closed = new Promise((r) => (done = r));
  const server = createServer((sock) => {
    if (received.length) return sock.destroy(); // one publisher only
    const rtmp = new Rtmp();
    rtmp.onOutputCallback = (b) => sock.writable && sock.write(b);
    sock.on('data', (d) => {
      received.push(Buffer.from(d));
      try {
        rtmp.parserData(d);
      } catch {
        // the recorder only has to keep ffmpeg talking
      }
    });
    sock.on('error', () => {});
    sock.on('close', done);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `rtmp://127.0.0.1:${server.address().port}/${o.pathAndQuery}`;
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
  args.push('-f', 'lavfi', '-i', `testsrc=size=${o.size ?? '320x240'}:rate=30`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100');
  args.push('-t', String(o.seconds ?? 2), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-g', '30');
  args.push('-c:a', 'aac', '-b:a', '64k', '-f', 'flv', url);
  const ff = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  ff.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => ff.on('exit', (c, s) => r(c ?? s)));
  await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
  server.close();
  const all = Buffer.concat(received);
  if (code !== 0 || all.length < 2 * HANDSHAKE + 1 + 1000) throw new Error(`recording the ffmpeg publish failed (exit ${code}): ${err.trim()}`);
  return splitRecording(all);
}

/** A recording's bytes (as saved with --recording) cut into C0C1, C2 and the chunk stream, with its chunk map. */
export function splitRecording(all) {
  const rest = all.subarray(1 + 2 * HANDSHAKE);
  return { all, c0c1: all.subarray(0, 1 + HANDSHAKE), c2: all.subarray(1 + HANDSHAKE, 1 + 2 * HANDSHAKE), rest, map: mapChunks(rest) };
}
