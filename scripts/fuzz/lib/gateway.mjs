// The gateway under fuzz: either one already running (--gateway), or a child `bin/roomgate serve` on free loopback
// ports with a temporary config and app, whose log goes to a file beside the config. Both are watched the same
// way: /healthz, and for a child its exit.

import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function freePort() {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export async function healthy(httpBase, timeoutMs = 2000) {
  try {
    const r = await fetch(`${httpBase}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    return r.status === 200;
  } catch {
    return false;
  }
}

/** Resident memory in MiB from /proc (null when the pid is unknown or gone). */
export function rssMiB(pid) {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Starts `bin/roomgate serve`; resolves once /healthz answers 200.
 * @returns {Promise<{ child, pid, rtmp: {host, port}, httpBase: string, app: {sdkAppId, secretKey}, logFile: string, exited: Promise<string> }>}
 */
export async function startGatewayChild(root, { logLevel = 'warn' } = {}) {
  const [rtmpPort, httpPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'roomgate-fuzz-'));
  // A fixed key (loopback only): a saved recording's UserSig stays valid for the next run's gateway.
  const app = { sdkAppId: 1400000099, secretKey: 'roomgate-fuzz-key-loopback-only-0123456789' };
  const config = join(dir, 'fuzz.json');
  writeFileSync(config, JSON.stringify({ log: { level: logLevel }, rtmp: { port: rtmpPort }, http: { port: httpPort }, apps: [app] }));
  const logFile = join(dir, 'gateway.log');
  const log = createWriteStream(logFile);
  // FUZZ_GATEWAY_NODE_ARGS: extra node flags for the gateway only (e.g. --cpu-prof, which NODE_OPTIONS refuses)
  const nodeArgs = (process.env.FUZZ_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(root, 'bin/roomgate'), 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise((r) => child.on('exit', (code, signal) => r(signal ?? `exit ${code}`)));
  const httpBase = `http://127.0.0.1:${httpPort}`;
  for (let i = 0; i < 150; i++) {
    if (await healthy(httpBase)) return { child, pid: child.pid, rtmp: { host: '127.0.0.1', port: rtmpPort }, httpBase, app, logFile, exited };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`the gateway did not become healthy; its log: ${logFile}`);
}
