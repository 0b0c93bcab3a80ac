// e2e benchmark: the server under test, one per step — roomgate from this checkout, or any server through
// --server-cmd / --server-pid and URL templates (scripts/bench/e2e).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** The server of the running step, for the run's signal and budget handlers. */
let current = null;

/** Kills the running step's server at once (the run is being stopped). */
export function killCurrentServer() {
  current?.child?.kill('SIGKILL');
}

/** Stops the running step's server, if any, and forgets it. */
export async function stopCurrentServer() {
  const s = current;
  current = null;
  if (s) await s.stop();
}

/**
 * Starts the step's server. `external`: the run targets another server (--rtmp/--whep); `values`: the parsed command
 * line; `app`: { sdkAppId, secretKey } for roomgate's bench config.
 */
export async function startServer({ root, values, external, app }) {
  if (!external) return startRoomgate(root, app);
  if (values['server-cmd']) return startCommand(values);
  const pid = values['server-pid'] ? Number(values['server-pid']) : 0;
  return { pid, stop: async () => {}, templates: { rtmp: values.rtmp, whep: values.whep, bearer: values.bearer ?? '' } };
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

function tcpOpen(host, port) {
  return new Promise((res) => {
    const s = connect({ host, port });
    const done = (ok) => {
      s.destroy();
      res(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(500, () => done(false));
  });
}

function stopChild(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      res();
    });
    child.kill('SIGTERM');
  });
}

/** roomgate from this checkout with a bench config on free ports; one per step so every step starts clean. */
async function startRoomgate(root, app) {
  if (!existsSync(join(root, 'dist/src/cli.js'))) throw new Error('roomgate is not built (dist/ missing): run scripts/setup first');
  const [rtmpPort, httpPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'roomgate-e2e-'));
  const config = join(dir, 'bench.json');
  writeFileSync(
    config,
    JSON.stringify({
      log: { level: 'warn' },
      rtmp: { port: rtmpPort },
      http: { port: httpPort },
      apps: [app],
      webrtc: { udpPortMin: 40000, udpPortMax: 44999 },
    }),
  );
  const child = spawn(process.execPath, [join(root, 'bin/roomgate'), 'serve', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const server = { pid: child.pid, child, stop: async () => (await stopChild(child), rmSync(dir, { recursive: true, force: true })) };
  current = server;
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) throw new Error(`roomgate exited with code ${child.exitCode} at start`);
    const ok = await fetch(`http://127.0.0.1:${httpPort}/healthz`).then((r) => r.ok, () => false);
    if (ok) {
      server.templates = {
        rtmp: `rtmp://127.0.0.1:${rtmpPort}/push/{room}?sdkappid={sdkappid}&userid={user}&usersig={sig}`,
        whep: `http://127.0.0.1:${httpPort}/v2/sub/{sdkappid}/{room}?SessionID={viewer}`,
        bearer: '{sig}',
      };
      return server;
    }
    await sleep(100);
  }
  await server.stop();
  throw new Error('roomgate did not become healthy within 15 s');
}

/** --server-cmd: any server, started per step inside the namespace; ready when its RTMP port accepts. */
async function startCommand(values) {
  const child = spawn('sh', ['-c', `exec ${values['server-cmd']}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const server = { pid: child.pid, child, stop: () => stopChild(child), templates: { rtmp: values.rtmp, whep: values.whep, bearer: values.bearer ?? '' } };
  current = server;
  const probe = templateHost(values.rtmp);
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`--server-cmd exited with code ${child.exitCode}`);
    if (await tcpOpen(probe.host, probe.port)) {
      await sleep(500); // its other listeners (HTTP/UDP) come up around the same time
      return server;
    }
    await sleep(200);
  }
  await server.stop();
  throw new Error(`--server-cmd: nothing listens on ${probe.host}:${probe.port} after 20 s`);
}

function templateHost(rtmp) {
  const m = /^rtmps?:\/\/([^/:?#]+)(?::(\d+))?\//.exec(rtmp);
  if (!m) throw new Error(`--rtmp is not an rtmp:// URL: ${rtmp}`);
  return { host: m[1], port: Number(m[2] ?? 1935) };
}
