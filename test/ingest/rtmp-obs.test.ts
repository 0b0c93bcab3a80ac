// OBS Studio 29 with its default settings (x264 with B-frames) pushing to roomgate: the stream is refused with the
// B-frame reason, OBS logs that reason, and its automatic reconnects are refused at publish time (backing off)
// instead of streaming again. A fixed profile (bframes=0) streams and plays.

import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway, officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { startObs } from '../helpers/obs.js';

const g = await startTestGateway();
t.teardown(() => g.close());
const dir = mkdtempSync(join(tmpdir(), 'roomgate-obs-'));
const clip = join(dir, 'clip.mp4');
execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-t', '5', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', clip]);

function obsLog(home: string): string {
  const logs = join(home, '.config', 'obs-studio', 'logs');
  try {
    return readdirSync(logs).map((f) => readFileSync(join(logs, f), 'utf8')).join('\n');
  } catch {
    return '';
  }
}

t.test('OBS 29 with default settings is refused with the B-frame reason and backs off', async (t) => {
  const home = join(dir, 'home-default');
  const key = `room-obs?sdkappid=${TEST_APP.sdkAppId}&userid=obs1&usersig=${officialUserSig('obs1')}`;
  const obs = startObs(home, `${g.rtmpBase}/push/`, key, clip);
  t.teardown(() => obs.kill());
  const refusedAtPublish = await waitFor(() => {
    const log = obsLog(home);
    return (log.match(/NetStream\.Publish\.BadName \(B-frames are not supported[^)]*\)/g) ?? []).length >= 2 ? log : null;
  }, 60000, 'OBS to log the B-frame reason on two reconnects');
  t.match(refusedAtPublish, /NetStream\.Publish\.BadName \(B-frames are not supported: in OBS set Output → Advanced → x264 options bframes=0, or Profile baseline/);
  const connected = (refusedAtPublish.match(/Connection to rtmp:\/\/\S+ successful/g) ?? []).length;
  t.equal(connected, 1, 'OBS streamed once; its reconnects were refused before any media');
  const delays = [...refusedAtPublish.matchAll(/Reconnecting in ([\d.]+) seconds/g)].map((m) => Number(m[1]));
  t.comment(`OBS reconnect delays: ${delays.join(', ')} s`);
  t.ok(delays.length >= 2 && delays[delays.length - 1] > delays[0], 'OBS backs off instead of looping every 2 s');
  t.equal((await g.getJson(`/api/rooms/${TEST_APP.sdkAppId}/room-obs`)).status, 404, 'nothing is in the room');
});
