// SRS 6 (../shared/peers/srs/srs) as a benchmark anchor: one fresh process per case, on free loopback ports, with a
// config written here rather than by the peer's start.sh, because its template turns on WebRTC (rtmp_to_rtc transcodes
// every published AAC stream to Opus, which would bury what recording adds) and has no way to add `dvr` or `hls`.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopChild } from './child-server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The vhost's recording directives for `record`:
 *   'none'     RTMP in, nothing else;
 *   'dvr-flv'  DVR, session plan (one file for the whole publish), FLV: SRS appends the tags it received;
 *   'dvr-mp4'  the same into MP4 (samples written as they come, the moov at unpublish);
 *   'hls'      SRS's HLS output kept as a recording: 10 s segments (roomgate's default), none deleted.
 */
function vhostRecording(record, recDir) {
  switch (record) {
    case 'none':
      return '';
    case 'dvr-flv':
    case 'dvr-mp4':
      return `dvr { enabled on; dvr_apply all; dvr_plan session; dvr_path ${recDir}/[app]/[stream].[timestamp].${record.slice(4)}; }`;
    case 'hls':
      return `hls { enabled on; hls_fragment 10; hls_window 86400; hls_cleanup off; hls_dispose 0; hls_path ${recDir}; ` +
        'hls_m3u8_file [app]/[stream].m3u8; hls_ts_file [app]/[stream]-[seq].ts; }';
    default:
      throw new Error(`unknown SRS recording '${record}' (none, dvr-flv, dvr-mp4 or hls)`);
  }
}

/**
 * Starts SRS with `record` (see vhostRecording) and, given `forwardTo` ('HOST:PORT'), SRS's `forward` of every
 * published stream to that RTMP server under the same app and stream name; resolves once its HTTP API answers. `recDir` is where its files go,
 * `stream(name)` the RTMP URL to publish to, `streamStats(name)` SRS's own counters for it (null if not published).
 */
export async function startSrs(bin, record, { forwardTo } = {}) {
  if (!existsSync(bin)) throw new Error(`SRS not found at ${bin}: pass --srs PATH (see ../shared/peers/srs/README.md)`);
  const [rtmpPort, apiPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'roomgate-bench-srs-'));
  const recDir = join(dir, 'rec');
  mkdirSync(recDir);
  const conf = join(dir, 'srs.conf');
  writeFileSync(conf, [
    `listen 127.0.0.1:${rtmpPort};`,
    'max_connections 100;',
    'daemon off;',
    'srs_log_tank console;',
    'srs_log_level warn;',
    `pid ${dir}/srs.pid;`,
    // the API is read twice per measured window, to check the publisher is flowing
    `http_api { enabled on; listen 127.0.0.1:${apiPort}; }`,
    `vhost __defaultVhost__ { ${vhostRecording(record, recDir)}${forwardTo ? ` forward { enabled on; destination ${forwardTo}; }` : ''} }`,
    '',
  ].join('\n'));
  // SRS_* variables would override the config (an SRS feature): keep the caller's out
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SRS_')));
  const child = spawn(bin, ['-c', conf], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'], env });
  const stop = async () => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const api = `http://127.0.0.1:${apiPort}/api/v1`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    if (await fetch(`${api}/versions`).then((r) => r.ok, () => false)) {
      return {
        kind: 'srs',
        pid: child.pid,
        recDir,
        stop,
        publishUrl: (name) => `rtmp://127.0.0.1:${rtmpPort}/live/${name}`,
        /** { active, recvBytes } of the stream from SRS's API (null if SRS does not know it). */
        streamStats: async (name) => {
          const body = await fetch(`${api}/streams/?count=100`).then((r) => (r.ok ? r.json() : null), () => null);
          const s = body?.streams?.find((x) => x.name === name);
          return s ? { active: Boolean(s.publish?.active), recvBytes: s.recv_bytes } : null;
        },
      };
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`SRS did not start (its API did not answer on port ${apiPort}); config ${conf}`);
}
