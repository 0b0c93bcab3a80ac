// A real Redis for tests: Debian's `redis-server` on 127.0.0.1, a free port and a temp directory, append-only file on
// (appendfsync always) so a restart keeps what was written. stop() ends it the way a crash or an operator would
// (SIGTERM: Redis flushes the AOF and exits; clients see ECONNREFUSED); start() brings it back on the same port and
// directory. Nothing here speaks Redis's protocol: clients are the gateway's own (ioredis).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestRedis {
  port: number;
  /** redis://127.0.0.1:<port> */
  url: string;
  dir: string;
  /** Everything redis-server printed, for a failing test's message. */
  output(): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** stop() and removes the directory. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

export async function startRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'rg-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let out = '';
  const start = async (): Promise<void> => {
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'always', '--daemonize', 'no', '--protected-mode', 'no',
    ];
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    const deadline = Date.now() + 10_000;
    while (!(await accepting(port))) {
      if (c.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on ${port}:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    output: () => out,
    stop,
    start,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
