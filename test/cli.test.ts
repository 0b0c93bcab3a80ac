// The roomgate command as a person uses it: serve prints a guide whose values work, /healthz turns ready,
// SIGTERM stops it cleanly; the token subcommands print values the verifiers accept.

import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { repoPath } from '../src/paths.js';
import { verifyUserSig } from '../src/auth/usersig.js';
import { verifyPrivateMapKey, PRIV } from '../src/auth/privatemapkey.js';
import { verifyRoomToken } from '../src/auth/jwt.js';
import { DEMO_SECRET_KEY } from '../src/config/schema.js';
import { waitFor } from './helpers/gateway.js';
import { ffmpegPush } from './helpers/clients.js';

const bin = repoPath('bin/roomgate');
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 20000 });
const DEMO_APP = 1400000000;

t.test('--help lists the commands and each command has --help', async (t) => {
  const r = cli('--help');
  t.equal(r.status, 0);
  for (const c of ['serve', 'usersig', 'privatemapkey', 'token']) {
    t.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
    const h = cli(c, '--help');
    t.equal(h.status, 0, `${c} --help`);
    t.match(h.stdout, new RegExp(`^usage: roomgate ${c}`));
  }
  const bad = cli('usersig');
  t.equal(bad.status, 1);
  t.match(bad.stderr, /--userid is required/);
  t.equal(cli('frobnicate').status, 1);
});

t.test('usersig, privatemapkey and token print values our verifiers accept', async (t) => {
  const sig = cli('usersig', '--userid', 'alice', '--expire', '600').stdout.trim();
  const v = verifyUserSig({ userSig: sig, sdkAppId: DEMO_APP, secretKey: DEMO_SECRET_KEY, userId: 'alice' });
  t.equal(v.ok, true);
  const other = cli('usersig', '--userid', 'bob', '--sdkappid', '1400000009', '--key', 'k9').stdout.trim();
  t.equal(verifyUserSig({ userSig: other, sdkAppId: 1400000009, secretKey: 'k9', userId: 'bob' }).ok, true);

  const pmk = cli('privatemapkey', '--userid', 'alice', '--room', 'r1', '--priv', 'publish').stdout.trim();
  const p = verifyPrivateMapKey({
    privateMapKey: pmk,
    sdkAppId: DEMO_APP,
    secretKey: DEMO_SECRET_KEY,
    userId: 'alice',
    room: 'r1',
    need: PRIV.ENTER | PRIV.SEND_VIDEO,
  });
  t.equal(p.ok, true);

  const jwt = cli('token', '--userid', 'alice', '--room', 'r1', '--priv', 'play').stdout.trim();
  t.match(jwt, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
  const j = verifyRoomToken({
    token: jwt,
    sdkAppId: DEMO_APP,
    secretKey: DEMO_SECRET_KEY,
    userId: 'alice',
    room: 'r1',
    need: PRIV.ENTER | PRIV.RECV_VIDEO,
  });
  t.equal(j.ok, true);
});

t.test('serve prints a working newcomer guide, turns healthy, and stops on SIGTERM', async (t) => {
  const child = spawn(process.execPath, [bin, 'serve'], {
    env: { ...process.env, ROOMGATE_RTMP_PORT: '0', ROOMGATE_HTTP_PORT: '0', ROOMGATE_LOG_LEVEL: 'warn', ROOMGATE_DRAIN_TIMEOUTMS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.teardown(() => child.kill('SIGKILL'));

  await waitFor(() => out.includes('Room status:'), 20000, 'the guide');
  t.match(out, /Server\s+rtmp:\/\/127\.0\.0\.1:\d+\/push\//);
  t.match(out, /Stream Key\s+demo-room\?sdkappid=1400000000&userid=obs_streamer&usersig=\S+/);
  t.match(out, /ffmpeg -re /);
  t.match(out, /Bearer Token\s+\S+/);
  t.match(out, /\/v2\/pub\/1400000000\/demo-room\?SessionID=whip_streamer/);
  t.match(out, /Watch in a browser: http:\/\/127\.0\.0\.1:\d+\/play\/1400000000\/demo-room\?user=viewer_demo&token=\S+/);

  const server = /Server\s+(rtmp:\/\/\S+)/.exec(out)![1];
  const key = /Stream Key\s+(\S+)/.exec(out)![1];
  const status = /Room status: (http:\/\/\S+)/.exec(out)![1];
  const httpBase = new URL(status).origin;
  const health = await fetch(`${httpBase}/healthz`);
  t.equal(health.status, 200);
  t.same(await health.json(), { status: 'ready' });

  // The printed server + stream key, pasted as OBS would (server + key), work.
  const pub = ffmpegPush(server + key, { seconds: 30, realtime: true });
  t.teardown(() => pub.stop());
  const room = await waitFor(async () => {
    const r = await fetch(status);
    return r.status === 200 ? ((await r.json()) as any) : null;
  }, 15000, 'demo-room');
  t.equal(room.users[0].userId, 'obs_streamer');

  // Draining: healthz turns 503 while the publisher is being told to go, then the process exits 0.
  child.kill('SIGTERM');
  const draining = await waitFor(async () => {
    const s = await fetch(`${httpBase}/healthz`).then((r) => r.status, () => 'closed');
    return s === 200 ? null : s;
  }, 5000, 'healthz to leave 200');
  t.ok(draining === 503 || draining === 'closed', `healthz while draining: ${draining}`);
  const code = await exited;
  t.equal(code, 0, 'exit code 0 after SIGTERM');
  await pub.exited;
  t.match(pub.output(), /the gateway is shutting down/, 'the publisher was told why');
});
