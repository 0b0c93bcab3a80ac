// No ffmpeg child outlives the gateway: a real `roomgate serve` process runs a pull task, then is stopped with
// SIGTERM, killed with SIGKILL, or crashes (uncaught exception) — each time its ffmpeg must be gone within 2 s.

import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { trtcClient, TEST_CREDENTIAL } from '../helpers/api3.js';
import { makeMedia, startMediaServer } from '../helpers/media-server.js';
import { freePort } from '../helpers/rtmp-source.js';
import { repoPath } from '../../src/paths.js';
import { ffmpegsWith } from '../helpers/processes.js';

const media = await startMediaServer();
t.teardown(() => media.close());
const file = await makeMedia('flv-h264-aac', 30);
const dir = mkdtempSync(join(tmpdir(), 'roomgate-orphans-'));


async function gatewayWithTask(needle: string): Promise<ChildProcess> {
  const httpPort = await freePort();
  const config = join(dir, `${needle}.json`);
  writeFileSync(config, JSON.stringify({
    log: { level: 'warn' }, rtmp: { port: 0 }, http: { port: httpPort },
    apps: [TEST_APP], api: { credentials: [TEST_CREDENTIAL] }, pull: { allow: ['127.0.0.1'] }, drain: { timeoutMs: 0 },
  }));
  const gw = spawn(process.execPath, [repoPath('bin/roomgate'), 'serve', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor(() => fetch(`http://127.0.0.1:${httpPort}/healthz`).then((r) => r.ok, () => false), 15000, 'gateway up');
  await trtcClient(`127.0.0.1:${httpPort}`).StartStreamIngest({
    SdkAppId: TEST_APP.sdkAppId, RoomId: 'orphans', RoomIdType: 0, UserId: 'orphan', UserSig: officialUserSig('orphan'),
    StreamUrl: `${media.base}/${file}?${needle}`,
  });
  await waitFor(() => ffmpegsWith(needle).length === 1, 10000, 'the ffmpeg child runs');
  return gw;
}

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  t.test(`${signal} to the gateway leaves no ffmpeg behind`, async (t) => {
    const needle = `orphan-${signal}`;
    const gw = await gatewayWithTask(needle);
    const exited = new Promise((r) => gw.once('exit', r));
    gw.kill(signal);
    await exited;
    await waitFor(() => ffmpegsWith(needle).length === 0, 2000, `ffmpeg gone after ${signal}`);
    t.pass(`no ffmpeg after ${signal}`);
  });
}

t.test('a crash (uncaught exception) leaves no ffmpeg behind', async (t) => {
  const needle = 'orphan-crash';
  const mod = pathToFileURL(repoPath('dist/src/ingest/pull/child-processes.js')).href;
  const script = `
    const { spawnTracked } = await import(${JSON.stringify(mod)});
    spawnTracked('ffmpeg', ['-nostdin', '-re', '-f', 'lavfi', '-i', 'testsrc2', '-metadata', 'title=${needle}', '-f', 'null', '-']);
    setTimeout(() => { throw new Error('simulated crash'); }, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await waitFor(() => ffmpegsWith(needle).length === 1, 5000, 'the ffmpeg child runs');
  const code = await new Promise((r) => child.once('exit', r));
  t.not(code, 0, 'the process crashed');
  t.match(err, /simulated crash/);
  await waitFor(() => ffmpegsWith(needle).length === 0, 2000, 'ffmpeg gone after the crash');
});
