// A real RTMP receiving server for relay tests: Debian's nginx with libnginx-mod-rtmp (installed by
// `scripts/setup --test`), started on a free loopback port with a configuration of its own in a temporary
// directory, read back with ffprobe/ffmpeg as any player would. With `tls`, nginx's stream module also terminates
// TLS on a second port in front of the RTMP one, as a CDN's rtmps:// ingest does (a self-signed certificate made by
// openssl for the test). (The SRS in ../shared/peers/srs/ would do too, but a
// clean clone on a fresh machine does not have it; apt does.)

import { createServer, connect } from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import t from 'tap';
import { run, type Run } from '../helpers/clients.js';
import { startPullFixture, type PullFixture } from '../helpers/pull-fixture.js';
import { waitFor } from '../helpers/gateway.js';

const exec = promisify(execFile);
const RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';
const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** One nginx process (no daemon, no workers), its files under `dir`, one RTMP application `live`. */
function nginxConfig(dir: string, rtmpPort: number, tlsPort: number): string {
  const tls = tlsPort > 0
    ? [
        `load_module ${STREAM_MODULE};`,
        `stream { server { listen 127.0.0.1:${tlsPort} ssl; ssl_certificate ${dir}/cert.pem; ssl_certificate_key ${dir}/key.pem; proxy_pass 127.0.0.1:${rtmpPort}; } }`,
      ]
    : [];
  return [
    `load_module ${RTMP_MODULE};`,
    ...tls.slice(0, 1),
    'daemon off;',
    'master_process off;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    'events { worker_connections 256; }',
    // wait_key: a player starts at a keyframe (nginx-rtmp keeps no GOP; the relays' GOP is 1–2 s)
    `rtmp { server { listen 127.0.0.1:${rtmpPort}; chunk_size 4096; application live { live on; wait_key on; wait_video on; } } }`,
    ...tls.slice(1),
    '',
  ].join('\n');
}

export interface RtmpReceiver {
  rtmpPort: number;
  /** rtmp://127.0.0.1:<port>/live/<stream> */
  url(stream: string): string;
  /** rtmps://127.0.0.1:<tls port>/live/<stream> (started with `tls`); players read it back through url(). */
  tlsUrl(stream: string): string;
  /** ffprobe of the live stream as the server plays it (from its next keyframe). */
  probe(stream: string): Promise<{ streams: any[] }>;
  /** The mean RGB of a region (fractions x, y, w, h; the centre by default) of the 10th frame a player decodes. */
  centreColour(stream: string, r?: { x: number; y: number; w: number; h: number }): Promise<[number, number, number]>;
  /** `seconds` of the live stream's audio as a player decodes it: mono 48 kHz float samples. */
  pcm(stream: string, seconds: number): Promise<Float32Array>;
  /** SIGKILL: the server is gone at once, as in a crash (its ports then refuse connections). */
  kill(): Promise<void>;
  /** Started again on the same ports. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((r) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), r(true)));
    c.once('error', () => r(false));
  });
}

export async function startRtmpReceiver(opts: { tls?: boolean } = {}): Promise<RtmpReceiver> {
  const rtmpPort = await freeTcpPort();
  const tlsPort = opts.tls ? await freeTcpPort() : 0;
  const dir = mkdtempSync(join(tmpdir(), 'rg-nginx-rtmp-'));
  const conf = join(dir, 'nginx.conf');
  if (opts.tls) {
    await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
  }
  writeFileSync(conf, nginxConfig(dir, rtmpPort, tlsPort));
  let server: Run | null = null;
  const launch = async () => {
    // pdeathsig: nginx dies with the test process even when that is killed (a timed-out test leaves no server behind)
    server = run('setpriv', ['--pdeathsig', 'KILL', '--', 'nginx', '-p', dir, '-c', conf], 600_000);
    await waitFor(() => accepts(rtmpPort), 15000, `nginx-rtmp listening on ${rtmpPort}`);
    if (tlsPort) await waitFor(() => accepts(tlsPort), 15000, `nginx's TLS port ${tlsPort}`);
  };
  const kill = async () => {
    const s = server as Run | null;
    server = null;
    if (!s) return;
    s.kill();
    await s.exited;
  };
  await launch();
  const url = (stream: string) => `rtmp://127.0.0.1:${rtmpPort}/live/${stream}`;
  return {
    rtmpPort,
    url,
    tlsUrl: (stream) => {
      if (!tlsPort) throw new Error('the receiver was started without tls');
      return `rtmps://127.0.0.1:${tlsPort}/live/${stream}`;
    },
    async probe(stream) {
      const { stdout } = await exec('ffprobe', ['-v', 'error', '-rw_timeout', '8000000', '-show_streams', '-of', 'json', url(stream)], { timeout: 15000 });
      return JSON.parse(stdout);
    },
    async centreColour(stream, r = { x: 0.25, y: 0.25, w: 0.5, h: 0.5 }) {
      const crop = `crop=iw*${r.w}:ih*${r.h}:iw*${r.x}:ih*${r.y},scale=1:1`;
      const { stdout } = await exec('ffmpeg', [
        '-v', 'error', '-rw_timeout', '8000000', '-i', url(stream), '-frames:v', '10', '-vf', crop,
        '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-',
      ], { encoding: 'buffer', timeout: 15000 });
      const b = stdout as unknown as Buffer;
      if (b.length < 3) throw new Error(`no frame decoded from ${url(stream)}`);
      return [b[b.length - 3]!, b[b.length - 2]!, b[b.length - 1]!];
    },
    async pcm(stream, seconds) {
      const { stdout } = await exec('ffmpeg', [
        '-v', 'error', '-rw_timeout', '8000000', '-i', url(stream), '-t', String(seconds), '-vn', '-ac', '1', '-ar', '48000', '-f', 'f32le', '-',
      ], { encoding: 'buffer', timeout: 20000, maxBuffer: 64 << 20 });
      const b = stdout as unknown as Buffer;
      return new Float32Array(b.buffer, b.byteOffset, Math.floor(b.length / 4));
    },
    kill,
    restart: launch,
    close: kill,
  };
}

/** A loopback TCP port nothing listens on: a push there is refused. */
export async function refusingPort(): Promise<number> {
  return freeTcpPort();
}

/**
 * What a relay test file starts with: an nginx-rtmp receiver (with `tls`, also its rtmps:// port) and a gateway with a
 * callback receiver and its `overrides` (startPullFixture), both closed when the file's tests end.
 */
export async function startRelayFixture(overrides: Record<string, any> = {}, receiver: { tls?: boolean } = {}): Promise<{ cdn: RtmpReceiver; f: PullFixture }> {
  const cdn = await startRtmpReceiver(receiver);
  const f = await startPullFixture(overrides);
  t.teardown(async () => {
    await f.close();
    await cdn.close();
  });
  return { cdn, f };
}
