// A benchmark's RTMP publisher that costs the server nothing but the stream: Debian's ffmpeg pushing a pre-encoded
// file in real time with its codecs copied (`-re -stream_loop -1 -c copy -f flv`).

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * Starts the push of `media` to `url`. `.sent` is ffmpeg's own count of frames and bytes out (its -progress lines,
 * once a second), which shows the server took the stream at the real-time rate (a server that stops reading
 * blocks it).
 */
export function ffmpegPublish(media, url) {
  const p = spawn('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-progress', 'pipe:1', '-stats_period', '1',
    '-re', '-stream_loop', '-1', '-i', media, '-c', 'copy', '-f', 'flv', url,
  ], { stdio: ['ignore', 'pipe', 'ignore'] });
  p.sent = { frames: 0, bytes: 0 };
  let block = {};
  createInterface({ input: p.stdout }).on('line', (line) => {
    const [k, v] = line.split('=');
    if (k === 'frame') block.frames = Number(v);
    if (k === 'total_size') block.bytes = Number(v) || 0;
    if (k === 'progress') {
      p.sent = { frames: block.frames ?? 0, bytes: block.bytes ?? 0 };
      block = {};
    }
  });
  return p;
}
