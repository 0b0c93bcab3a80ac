// The RTMP fuzz in CI: scripts/fuzz/rtmp replays 2,000 seeded mutations of a recorded ffmpeg publish against a
// gateway in this process while a healthy ffmpeg publisher and a WHEP viewer keep going. The gateway must stay up
// and answer /healthz, nothing may escape as an uncaught exception or unhandled rejection, every malformed input
// must be counted by kind and logged once, and the viewer must keep the source's frame rate.

import t from 'tap';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { startGateway } from '../../src/main.js';
import { repoPath } from '../../src/paths.js';
import { TEST_APP, officialUserSig, waitFor } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { weriftViewer, whepTarget } from '../helpers/viewers.js';

const COUNT = Number(process.env['RTMP_FUZZ_COUNT'] ?? 2000);
const SEED = Number(process.env['RTMP_FUZZ_SEED'] ?? 15);
/** Kinds that mean an exception came from a place nothing guards (see src/ingest/rtmp/parse-errors.ts). */
const UNGUARDED = ['null-deref', 'out-of-range', 'type', 'stack', 'other'];

const escaped: string[] = [];
const onEscape = (e: unknown) => escaped.push(String((e as Error)?.stack ?? e));
process.on('uncaughtException', onEscape);
process.on('unhandledRejection', onEscape);

/** The gateway's warn lines about malformed input, by kind (the log is JSON lines). */
const malformedLogged: Record<string, number> = {};
const logSink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString().split('\n')) {
      if (!line.includes('closing: malformed RTMP data')) continue;
      const kind = String(JSON.parse(line).kind);
      malformedLogged[kind] = (malformedLogged[kind] ?? 0) + 1;
    }
    done();
  },
});
const config = loadConfig({ env: {}, overrides: { rtmp: { port: 0 }, http: { port: 0 }, apps: [TEST_APP], store: { file: ':memory:' } } as never });
const gw = await startGateway(config, createLogger('warn', logSink));
t.teardown(() => gw.close('test finished'));
const httpBase = `http://127.0.0.1:${gw.http.port}`;

t.test(`${COUNT} mutated publishes beside a healthy publisher and viewer`, async (t) => {
  const sig = officialUserSig('lee');
  const healthy = ffmpegPush(`rtmp://127.0.0.1:${gw.rtmp.port}/push/room-healthy?sdkappid=${TEST_APP.sdkAppId}&userid=lee&usersig=${sig}`, {
    seconds: 120,
    realtime: true,
  });
  t.teardown(() => healthy.stop());
  await waitFor(async () => (await fetch(`${httpBase}/api/rooms/${TEST_APP.sdkAppId}/room-healthy`)).status === 200, 15000, 'healthy publisher');
  const viewer = weriftViewer({ ...whepTarget(httpBase, 'room-healthy', 'watcher') });
  t.teardown(() => viewer.kill());
  await viewer.waitLine((l) => (l.fps ?? 0) > 0, 20000);

  const from = Date.now();
  const args = [repoPath('scripts/fuzz/rtmp'), '--count', String(COUNT), '--seed', String(SEED)];
  args.push('--gateway', `rtmp://127.0.0.1:${gw.rtmp.port}`, '--http', httpBase, '--sdkappid', String(TEST_APP.sdkAppId), '--key', TEST_APP.secretKey);
  // without tap's NODE_OPTIONS (which tap puts back into a child's env): its loader would take the extensionless
  // ES module script for CommonJS
  const fuzz = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  fuzz.stdout.on('data', (d) => (out += d));
  fuzz.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => fuzz.on('exit', (c, s) => r(c ?? s)));
  const to = Date.now();
  t.equal(code, 0, `the fuzz script finished: ${err.trim().split('\n').slice(-12).join(' | ')}`);
  const summary = JSON.parse(out.trim().split('\n').pop()!);
  t.comment(`${summary.cases} cases in ${summary.seconds} s (${summary.ratePerSecond}/s), seed ${SEED}: ${JSON.stringify(summary.exceptionsByKind)}`);

  t.equal(summary.cases, COUNT, 'every case ran');
  t.equal(summary.crashes, 0, 'the gateway neither died nor stopped answering /healthz');
  t.equal((await fetch(`${httpBase}/healthz`)).status, 200, '/healthz answers 200 after the fuzz');
  t.same(escaped, [], 'no uncaught exception and no unhandled rejection');

  // Every malformed input was classified, counted once and logged once.
  const counted: Record<string, number> = {};
  const snap = gw.counters.snapshot();
  for (const name of ['rtmp.parseError', 'rtmp.planeError']) {
    for (const [kind, n] of Object.entries((snap[name] ?? {}) as Record<string, number>)) counted[kind] = (counted[kind] ?? 0) + n;
  }
  t.same(malformedLogged, counted, 'one warn line per counted error, with the same kind');
  const total = Object.values(counted).reduce((a, b) => a + b, 0);
  t.ok(total > COUNT / 50, `plenty of malformed input reached the parsers (${total})`);
  t.same(UNGUARDED.filter((k) => counted[k]), [], 'no exception from an unguarded place');

  // The healthy publisher's viewer kept the source's 30 fps throughout.
  const fps = viewer.linesBetween(from, to).map((l) => l.fps!).sort((a, b) => a - b);
  const median = fps[fps.length >> 1] ?? 0;
  t.ok(fps.length >= 5, `per-second samples during the fuzz: ${fps.length}`);
  t.ok(median >= 29, `median viewer fps during the fuzz ${median} (min ${fps[0]})`);
});

t.teardown(() => {
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
});
