// roomgate from this checkout as a benchmark's server under test: a fresh `bin/roomgate serve` on free loopback ports
// with its recording directory in a temporary directory of its own, and an official tencentcloud-sdk-nodejs client
// for its API 3.0 actions (CreateCloudRecording…), signed with the bench's credential.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopChild } from './child-server.mjs';

const require = createRequire(import.meta.url);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts roomgate. `app`: { sdkAppId, secretKey, callbackUrl? }; `credential`: { secretId, secretKey } of API 3.0;
 * `recording`: the `recording` config section (its `dir` is set here); `more`: other config sections as they are
 * (e.g. `pull: { allow: ['127.0.0.1'] }` for a relay to a loopback receiver); `rtmp`/`http`: fields merged into those
 * sections beside the chosen ports; `args`: more `serve` arguments (e.g. ['--workers', '2']). Resolves once /healthz
 * answers.
 */
export async function startRoomgate({ root, app, credential, recording = {}, more = {}, rtmp = {}, http = {}, args = [] }) {
  if (!existsSync(join(root, 'dist/src/cli.js'))) throw new Error('roomgate is not built (dist/ missing): run scripts/setup first');
  const tc = require('tencentcloud-sdk-nodejs');
  const [rtmpPort, httpPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'roomgate-bench-gw-'));
  const recDir = join(dir, 'rec');
  mkdirSync(recDir);
  const config = join(dir, 'bench.json');
  writeFileSync(config, JSON.stringify({
    log: { level: 'warn' }, rtmp: { ...rtmp, port: rtmpPort }, http: { ...http, port: httpPort },
    apps: [app],
    api: { credentials: [credential], requestsPerSecond: 1000 },
    recording: { ...recording, dir: recDir },
    webrtc: { udpPortMin: 41000, udpPortMax: 42999 },
    ...more,
  }));
  // ROOMGATE_* variables are config overrides for the gateway: keep the caller's out of its environment
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ROOMGATE_')));
  const child = spawn(process.execPath, [join(root, 'bin/roomgate'), 'serve', '--config', config, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env });
  const stop = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const base = `http://127.0.0.1:${httpPort}`;
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) break;
    if (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) {
      const client = new tc.trtc.v20190722.Client({
        credential, region: 'ap-guangzhou', profile: { httpProfile: { endpoint: `127.0.0.1:${httpPort}`, protocol: 'http://' } },
      });
      return {
        kind: 'roomgate',
        pid: child.pid,
        recDir,
        client,
        stop,
        publishUrl: (roomId, userId, userSig) =>
          `rtmp://127.0.0.1:${rtmpPort}/push/${roomId}?sdkappid=${app.sdkAppId}&userid=${userId}&usersig=${userSig}`,
        /** A WHEP viewer's URL (its UserSig goes in the bearer token). */
        whepUrl: (roomId, viewerId) => `${base}/v2/sub/${app.sdkAppId}/${roomId}?SessionID=${viewerId}`,
        rtmpPort,
        httpPort,
        /** The room's status (GET /api/rooms/…), or null while it does not exist. */
        room: (roomId) => fetch(`${base}/api/rooms/${app.sdkAppId}/${roomId}`).then((r) => (r.ok ? r.json() : null), () => null),
      };
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`roomgate did not become healthy within 15 s (config ${config})`);
}
