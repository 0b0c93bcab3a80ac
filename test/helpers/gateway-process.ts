// A real gateway process (`bin/roomgate serve --config FILE`) for tests that signal it (SIGTERM, SIGKILL) or read
// its log: the config is written to a temp file, the listening ports are read from the 'roomgate ready' log line,
// and every JSON log line is kept. The test app sends its callbacks where the test says.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../../src/paths.js';
import { officialUserSig, TEST_APP } from './gateway.js';
import { trtcClient, TEST_CREDENTIAL, type TrtcClient } from './api3.js';

export interface GatewayProcess {
  child: ChildProcess;
  rtmpBase: string;
  httpBase: string;
  /** The official SDK pointed at the process. */
  client: TrtcClient;
  /** Every JSON log line so far, parsed. */
  logs: Array<Record<string, any>>;
  /** Everything the process printed (stdout and stderr). */
  output(): string;
  pushUrl(room: string, userId: string): string;
  /** Exit code (or signal name) and when the exit was seen. */
  exited: Promise<{ code: number | string; at: number }>;
  kill(signal: NodeJS.Signals): void;
}

/**
 * Starts `bin/roomgate serve` with `config` merged over config/default.json; the loopback ports are chosen by the
 * system; `serveArgs` are added to `roomgate serve` (e.g. --workers 2). Rejects with the process's output when it exits or is not ready within 20 s.
 */
export async function spawnGateway(config: Record<string, unknown>, serveArgs: string[] = []): Promise<GatewayProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'rg-gateway-'));
  const file = join(dir, 'config.json');
  const full = {
    log: { level: 'info' },
    rtmp: { port: 0, authFailureDelayMinMs: 10, authFailureDelayMaxMs: 50 },
    http: { port: 0 },
    api: { credentials: [TEST_CREDENTIAL] },
    store: { file: join(dir, 'roomgate.db') },
    // SIGTERM closes at once, as before drains existed, unless a test asks for a drain (test/api/drain.test.ts)
    drain: { timeoutMs: 0 },
    ...config,
  };
  await writeFile(file, JSON.stringify(full, null, 2));
  // ROOMGATE_* variables of the test's environment would override the file
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ROOMGATE_')));
  const child = spawn(process.execPath, [repoPath('bin/roomgate'), 'serve', '--config', file, ...serveArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let partial = '';
  const logs: Array<Record<string, any>> = [];
  let onReady: (line: Record<string, any>) => void = () => {};
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    out += d;
    partial += d;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      try {
        const line = JSON.parse(text) as Record<string, any>;
        logs.push(line);
        if (line.msg === 'roomgate ready') onReady(line);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | string; at: number }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code: code ?? signal ?? 'unknown', at: Date.now() }));
  });
  const ready = await new Promise<Record<string, any>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway was not ready in 20 s:\n${out}`)), 20_000);
    onReady = (line) => {
      clearTimeout(timer);
      resolve(line);
    };
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited (${code}) before it was ready:\n${out}`));
    });
  });
  const rtmpBase = `rtmp://127.0.0.1:${ready.rtmp.port}`;
  const httpBase = `http://127.0.0.1:${ready.http.port}`;
  return {
    child,
    rtmpBase,
    httpBase,
    client: trtcClient(`127.0.0.1:${ready.http.port}`),
    logs,
    output: () => out,
    pushUrl: (room, userId) =>
      `${rtmpBase}/push/${room}?sdkappid=${TEST_APP.sdkAppId}&userid=${userId}&usersig=${officialUserSig(userId)}`,
    exited,
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
