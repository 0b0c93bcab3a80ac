// GET /metrics scraped by a real Prometheus (Debian's `prometheus`, started here on loopback with a 1 s scrape
// interval) while Debian's ffmpeg publishes over RTMP and headless Chromium views over WHEP. PromQL over Prometheus's
// HTTP API must show one RTMP publisher, one viewer, a video frame rate near the encoder's 30 fps, and, after one
// B-frame publisher is refused, the refusal counter with reason "bframes"; then a forged UserSig in the auth failures,
// a recording and a relay (official SDK) in the task and relay gauges, recorded bytes, and the API latency histogram.

import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush, run, type Run } from '../helpers/clients.js';
import { gatewayWithChromium, openWhepViewer } from '../helpers/chromium.js';
import { trtcClient, TEST_CREDENTIAL } from '../helpers/api3.js';
import { startAgents } from '../helpers/room-agents.js';

const { g, browser } = await gatewayWithChromium(t, { api: { credentials: [TEST_CREDENTIAL] }, recording: { hlsSegmentSeconds: 2 },
  // the relay's test receiver is on loopback
  pull: { allow: ['127.0.0.1'] } });
const client = trtcClient(`127.0.0.1:${g.gw.http.port}`);
/** The publisher of the first test, which the second records and relays. */
let anchor: Run | null = null;
t.teardown(() => anchor?.kill());
const app = TEST_APP.sdkAppId;

/** A free loopback port for Prometheus's own web listener. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const dir = mkdtempSync(join(tmpdir(), 'rg-prometheus-'));
const promPort = await freePort();
writeFileSync(
  join(dir, 'prometheus.yml'),
  [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: roomgate',
    '    metrics_path: /metrics',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${g.gw.http.port}']`,
    '',
  ].join('\n'),
);
const prometheus = run('prometheus', [
  `--config.file=${join(dir, 'prometheus.yml')}`,
  `--storage.tsdb.path=${join(dir, 'data')}`,
  `--web.listen-address=127.0.0.1:${promPort}`,
], 300_000);
t.teardown(async () => {
  prometheus.stop();
  await prometheus.exited;
});

/** An instant PromQL query: the single result's value, or null while there is none. */
async function promql(query: string): Promise<number | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(query)}`);
    const body = (await res.json()) as { status: string; data: { result: { value: [number, string] }[] } };
    if (body.status !== 'success' || body.data.result.length !== 1) return null;
    return Number(body.data.result[0]!.value[1]);
  } catch {
    return null; // Prometheus still starting
  }
}

t.test('Prometheus reads publishers, viewers, frame rate and a B-frame refusal', async (t) => {
  await waitFor(async () => (await promql('up{job="roomgate"}')) === 1, 30000, 'Prometheus scraping the gateway');

  // runs through both tests: the second records and relays it
  const pub = ffmpegPush(g.pushUrl('metrics-room', 'anchor'), { seconds: 180, realtime: true });
  anchor = pub;
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/metrics-room`)).body.users?.[0]?.frames.video > 10, 15000, 'the publisher in the room');
  const viewer = await openWhepViewer(browser, g.httpBase, `/v2/sub/${app}/metrics-room?SessionID=watcher`, officialUserSig('watcher'));
  t.equal(viewer.status, 201, 'the WHEP viewer is answered');
  await waitFor(async () => (await viewer.stats()).framesDecoded > 10, 15000, 'Chromium decoding');

  // B-frames are refused with the reason, and counted under it
  const bad = ffmpegPush(g.pushUrl('metrics-bad', 'obs_default'), { seconds: 5, video: 'high-bf2' });
  await bad.exited;
  t.match(bad.output(), /B-frames are not supported/, 'the encoder was told why');

  // (a scrape may have caught the B-frame publisher in the room before it was refused: wait for the ones after)
  const publishers = await waitFor(async () => ((await promql(`roomgate_publishers{app="${app}",source="rtmp"}`)) === 1 ? 1 : null), 15000, 'one RTMP publisher in Prometheus');
  t.equal(publishers, 1, 'one RTMP publisher');
  const viewers = await waitFor(async () => ((await promql(`roomgate_viewers{app="${app}"}`)) === 1 ? 1 : null), 15000, 'one viewer in Prometheus');
  t.equal(viewers, 1, 'one WHEP viewer');
  const joins = await waitFor(() => promql('roomgate_join_seconds_count'), 15000, 'the join-time histogram');
  t.equal(joins, 1, 'the viewer\'s join time (POST to first keyframe sent) is in the histogram');
  const joinSum = await promql('roomgate_join_seconds_sum');
  t.ok(joinSum !== null && joinSum > 0, `it took ${joinSum?.toFixed(3)} s`);
  const refused = await waitFor(
    () => promql(`roomgate_refusals_total{what="rtmp.publishRefused",reason="bframes"}`),
    15000,
    'the B-frame refusal in Prometheus',
  );
  t.equal(refused, 1, 'one refusal, reason bframes');
  // The anchor publishes 30 fps in real time: the counter's rate over 5 s of 1 s scrapes is that frame rate, once
  // the series is older than the window (its first sample holds every frame sent before the first scrape).
  const video = `roomgate_frames_in_total{app="${app}",source="rtmp",kind="video"}`;
  await waitFor(async () => ((await promql(`count_over_time(${video}[12s])`)) ?? 0) >= 10, 30000, '10 scrapes of the video counter');
  const fps = await waitFor(() => promql(`rate(${video}[5s])`), 5000, 'a video frame rate');
  t.ok(fps > 20 && fps < 40, `video frames in at ${fps.toFixed(1)}/s (the encoder sends 30)`);
  const bytes = await promql(`sum(roomgate_bytes_out_total{app="${app}"})`);
  t.ok((bytes ?? 0) > 0, 'bytes went out to the viewer');
  const audioIn = await promql(`roomgate_frames_in_total{app="${app}",source="rtmp",kind="audio"}`);
  t.ok((audioIn ?? 0) > 0, 'audio frames are counted apart');

  await viewer.close();
});

t.test('auth failures, tasks, relay pushes, recording bytes and API latency', async (t) => {
  // a credential the door refuses: counted by action and code
  const forged = ffmpegPush(g.pushUrl('metrics-room', 'intruder', { sig: 'not-a-usersig' }), { seconds: 3 });
  await forged.exited;
  const authFailures = await waitFor(() => promql('sum(roomgate_auth_failures_total{action="publish"})'), 15000, 'the auth failure');
  t.equal(authFailures, 1, 'one publish refused at the door');

  // a recording and a relay of the anchor (the relay's URL refuses, so its push keeps retrying)
  await startAgents(client, 'metrics-room', { anchor: 'anchor', recorder: 'rec_agent', relay: 'relay_agent' });
  const recording = await waitFor(() => promql(`roomgate_tasks{app="${app}",kind="recording",state="InProgress"}`), 20000, 'the recording in progress');
  t.equal(recording, 1, 'one recording in progress');
  const pushes = await waitFor(() => promql(`sum(roomgate_relay_pushes{app="${app}"})`), 15000, 'the relay push');
  t.equal(pushes, 1, 'one relay push, in some state');
  const written = await waitFor(async () => {
    const v = await promql('roomgate_recording_bytes_total{what="written"}');
    return v !== null && v > 0 ? v : null;
  }, 20000, 'recorded bytes');
  t.ok(written > 1000, `${written} bytes of segments written`);
  const calls = await waitFor(() => promql('roomgate_api_request_duration_seconds_count{action="CreateCloudRecording"}'), 15000, 'the API latency histogram');
  t.equal(calls, 1, 'the CreateCloudRecording call is in the latency histogram');

  // the label set: app, source, kind and node; never a user or a room
  const text = await (await fetch(`${g.httpBase}/metrics`)).text();
  t.notMatch(text, /anchor|watcher|metrics-room/, 'no user or room names in the metrics');
  t.match(text, /^nodejs_eventloop_lag_seconds\{node="[^"]+"\} /m, 'the event loop lag is there');
});
