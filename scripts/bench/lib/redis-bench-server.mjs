// A Redis for benchmarks: Debian's `redis-server` on a free loopback port with its files in a temporary directory,
// AOF on with `appendfsync everysec` (what a deployment that must not lose the outbox would run; the tests use
// `always`). Its CPU comes two ways: /proc/<pid>/stat (10 ms ticks) and INFO's getrusage figures (µs), and INFO
// commandstats counts the commands the gateways sent, so a benchmark can say what Redis did per join.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopChild } from './child-server.mjs';
import { cpuSeconds } from './proc.mjs';

const require = createRequire(import.meta.url);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const accepting = (port) => new Promise((res) => {
  const s = connect(port, '127.0.0.1');
  s.once('connect', () => (s.destroy(), res(true)));
  s.once('error', () => res(false));
});

/** Parses INFO text: { used_cpu_sys: …, cmdstat_get: { calls, usec, … }, … }. */
function parseInfo(text) {
  const out = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i < 0 || line.startsWith('#')) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1);
    if (k.startsWith('cmdstat_')) out[k.slice(8)] = Object.fromEntries(v.split(',').map((kv) => kv.split('=')).map(([a, b]) => [a, Number(b)]));
    else out[k] = Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return out;
}

/** Starts redis-server; resolves { url, port, pid, snapshot(), stop() } once it accepts connections. */
export async function startBenchRedis(root) {
  const Redis = require(join(root, 'node_modules/ioredis'));
  const dir = mkdtempSync(join(tmpdir(), 'roomgate-bench-redis-'));
  const port = await freePort();
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes',
    '--appendfsync', 'everysec', '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning',
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; !(await accepting(port)); i++) {
    if (child.exitCode !== null || i > 100) throw new Error(`redis-server did not start on 127.0.0.1:${port}`);
    await sleep(100);
  }
  const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: false });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    /** CPU seconds (from /proc and from INFO) and per-command counts so far; subtract two with `diff`. */
    async snapshot() {
      const info = parseInfo(await admin.info('all'));
      const commands = {};
      for (const [k, v] of Object.entries(info)) if (v && typeof v === 'object') commands[k] = { calls: v.calls, usec: v.usec };
      return { at: performance.now(), procCpu: cpuSeconds(child.pid), infoCpu: info.used_cpu_sys + info.used_cpu_user, commands };
    },
    async stop() {
      admin.disconnect();
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What Redis did between two snapshots, with the admin connection's own INFO calls left out. */
export function diff(a, b) {
  const commands = {};
  let calls = 0;
  let usec = 0;
  for (const [k, v] of Object.entries(b.commands)) {
    if (k === 'info') continue;
    const c = v.calls - (a.commands[k]?.calls ?? 0);
    if (c <= 0) continue;
    commands[k] = c;
    calls += c;
    usec += v.usec - (a.commands[k]?.usec ?? 0);
  }
  return { seconds: (b.at - a.at) / 1000, procCpuS: b.procCpu - a.procCpu, infoCpuS: b.infoCpu - a.infoCpu, calls, commandUsec: usec, commands };
}
