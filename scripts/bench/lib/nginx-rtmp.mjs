// The receiving end of a relay benchmark, standing in for a CDN's ingest: Debian's nginx with libnginx-mod-rtmp
// (scripts/setup --test installs both), one fresh process per case on a free loopback port, with a config written
// here into a temporary directory. Its CPU is not the relay's and is never counted.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopChild } from './child-server.mjs';

const RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const accepts = (port) =>
  new Promise((r) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), r(true)));
    c.once('error', () => r(false));
  });

/**
 * Starts nginx-rtmp with one live application, `live`. `url(stream)` is where to push or play; `port` its RTMP port
 * (what SRS's forward names as its destination).
 */
export async function startNginxRtmp() {
  if (!existsSync(RTMP_MODULE)) throw new Error(`${RTMP_MODULE} is missing: install nginx-light and libnginx-mod-rtmp (scripts/setup --test)`);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'roomgate-bench-nginx-'));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, [
    `load_module ${RTMP_MODULE};`,
    'daemon off;',
    'master_process off;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    'events { worker_connections 256; }',
    // wait_key: a player starts at a keyframe, as a CDN's edge would serve it
    `rtmp { server { listen 127.0.0.1:${port}; chunk_size 4096; application live { live on; wait_key on; wait_video on; } } }`,
    '',
  ].join('\n'));
  const child = spawn('nginx', ['-p', dir, '-e', `${dir}/error.log`, '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    if (await accepts(port)) return { port, hostPort: `127.0.0.1:${port}`, url: (stream) => `rtmp://127.0.0.1:${port}/live/${stream}`, stop };
    await sleep(100);
  }
  await stop();
  throw new Error(`nginx-rtmp did not listen on ${port} within 10 s (config ${conf})`);
}
