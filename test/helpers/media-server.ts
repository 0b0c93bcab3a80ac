// Test sources for pull tasks: media files made by Debian's ffmpeg (cached under the OS temp directory) and a plain
// node:http server on 127.0.0.1 that serves them (with Range requests, as CDNs do), plus hooks to misbehave.

import http from 'node:http';
import { execFile } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
export const PULL_MEDIA_DIR = join(tmpdir(), 'roomgate-pull-media');

const V = (size = '320x240', rate = 30) => ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${rate}`];
const A = (rate = 44100) => ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=${rate}`];
const X264_BASELINE = ['-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'baseline', '-g', '30'];

/** name → [ffmpeg input+codec args, output file name]; the duration is appended. */
const RECIPES: Record<string, (seconds: number) => { args: string[]; out: string }> = {
  'flv-h264-aac': (s) => ({ args: [...V(), ...A(), '-t', `${s}`, ...X264_BASELINE, '-c:a', 'aac', '-b:a', '64k', '-f', 'flv'], out: 'media.flv' }),
  'mp4-bframes': (s) => ({
    args: [...V(), ...A(48000), '-t', `${s}`, '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-bf', '2', '-g', '30',
      '-c:a', 'aac', '-b:a', '64k', '-movflags', '+faststart', '-f', 'mp4'],
    out: 'media.mp4',
  }),
  // a solid colour, so a recording of it can be told from other publishers' by one decoded pixel
  'flv-blue': (s) => ({
    args: ['-f', 'lavfi', '-i', 'color=c=blue:size=320x240:rate=30', ...A(), '-t', `${s}`, ...X264_BASELINE, '-c:a', 'aac', '-b:a', '64k', '-f', 'flv'],
    out: 'media.flv',
  }),
  'ts-h264-aac': (s) => ({ args: [...V(), ...A(), '-t', `${s}`, ...X264_BASELINE, '-c:a', 'aac', '-b:a', '64k', '-f', 'mpegts'], out: 'media.ts' }),
  'hls-h264-aac': (s) => ({
    args: [...V(), ...A(), '-t', `${s}`, ...X264_BASELINE, '-c:a', 'aac', '-b:a', '64k',
      '-f', 'hls', '-hls_time', '1', '-hls_list_size', '0', '-hls_playlist_type', 'vod'],
    out: 'index.m3u8',
  }),
  'mp3-audio': (s) => ({ args: [...A(), '-t', `${s}`, '-c:a', 'libmp3lame', '-b:a', '96k', '-f', 'mp3'], out: 'media.mp3' }),
  'mkv-vp8-opus': (s) => ({
    args: [...V(), ...A(48000), '-t', `${s}`, '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '300k', '-g', '30',
      '-c:a', 'libopus', '-b:a', '64k', '-f', 'matroska'],
    out: 'media.mkv',
  }),
};

export type MediaKind = keyof typeof RECIPES & string;

/** Makes (once) `kind` of `seconds` length; returns its path relative to PULL_MEDIA_DIR (serve it from there). */
export async function makeMedia(kind: string, seconds: number): Promise<string> {
  const recipe = RECIPES[kind];
  if (!recipe) throw new Error(`no recipe for ${kind}`);
  const { args, out } = recipe(seconds);
  const dirName = `${kind}-${seconds}s`;
  const dir = join(PULL_MEDIA_DIR, dirName);
  if (existsSync(join(dir, out))) return `${dirName}/${out}`;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await execFileP('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args, join(tmp, out)], { timeout: 120_000 });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return `${dirName}/${out}`;
}

const TYPES: Record<string, string> = {
  '.flv': 'video/x-flv', '.mp4': 'video/mp4', '.ts': 'video/mp2t', '.m3u8': 'application/vnd.apple.mpegurl',
  '.mp3': 'audio/mpeg', '.mkv': 'video/x-matroska',
};

export interface MediaServer {
  base: string;
  /** A hook that may answer a request itself (return true) — to misbehave — or rewrite req.url and return false. */
  intercept: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean) | null;
  /** Requests seen (URL as requested). */
  hits: string[];
  close(): Promise<void>;
}

export async function startMediaServer(root = PULL_MEDIA_DIR): Promise<MediaServer> {
  const state: MediaServer = { base: '', intercept: null, hits: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    state.hits.push(req.url ?? '/');
    // The hook may answer, or rewrite req.url to serve another file.
    if (state.intercept?.(req, res)) return;
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(root, path));
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    const size = statSync(file).size;
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (range && (range[1] || range[2])) {
      const start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
      const end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { 'content-type': type, 'accept-ranges': 'bytes', 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}` });
      createReadStream(file, { start, end }).pipe(res);
      return;
    }
    res.writeHead(200, { 'content-type': type, 'accept-ranges': 'bytes', 'content-length': size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return state;
}
