// A plain, second RTMP server (node-media-server's NodeMediaServer) for pull tasks to pull from: ffmpeg pushes a
// test pattern into it; it serves the stream as RTMP and as live HTTP-FLV.

import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type Run } from './clients.js';

const require = createRequire(import.meta.url);

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface RtmpSource {
  rtmpUrl(stream: string): string;
  flvUrl(stream: string): string;
  /** ffmpeg pushing a baseline H.264 + AAC test pattern in real time (looping `seconds`). */
  push(stream: string, seconds: number): Run;
  close(): Promise<void>;
}

export async function startRtmpSource(): Promise<RtmpSource> {
  const [rtmpPort, httpPort] = [await freePort(), await freePort()];
  const NodeMediaServer = require('node-media-server') as new (config: object) => { run(): Promise<void>; stop(): Promise<void> };
  const logger = require('node-media-server/src/core/logger.js') as { level: string };
  const log = console.log;
  console.log = () => {}; // its banner lines
  let nms: { run(): Promise<void>; stop(): Promise<void> };
  try {
    nms = new NodeMediaServer({
      bind: '127.0.0.1',
      rtmp: { port: rtmpPort, chunk_size: 60000, gop_cache: true, ping: 30, ping_timeout: 60 },
      http: { port: httpPort, allow_origin: '*' },
      webadmin: { enable: false },
      store: { path: mkdtempSync(join(tmpdir(), 'roomgate-nms-')) },
    });
  } finally {
    console.log = log;
  }
  logger.level = 'error';
  await nms.run();
  const pushes: Run[] = [];
  return {
    rtmpUrl: (s) => `rtmp://127.0.0.1:${rtmpPort}/live/${s}`,
    flvUrl: (s) => `http://127.0.0.1:${httpPort}/live/${s}.flv`,
    push(stream, seconds) {
      const r = run('ffmpeg', [
        '-hide_banner', '-nostdin', '-loglevel', 'error', '-re',
        '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
        '-t', String(seconds), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-g', '30',
        '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/${stream}`,
      ], (seconds + 30) * 1000);
      pushes.push(r);
      return r;
    },
    async close() {
      for (const p of pushes) p.child.kill('SIGKILL');
      await nms.stop();
    },
  };
}
