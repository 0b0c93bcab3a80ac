// GET /metrics scraped by a real Prometheus (Debian's `prometheus`, started here on loopback with a 1 s scrape
// interval) while Debian's ffmpeg publishes over RTMP and headless Chromium views over WHEP. PromQL over Prometheus's
// HTTP API must show one RTMP publisher, one viewer, a video frame rate near the encoder's 30 fps, and, after one
// B-frame publisher is refused, the refusal counter with reason "bframes".

import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush, run } from '../helpers/clients.js';
import { gatewayWithChromium, openWhepViewer } from '../helpers/chromium.js';

const { g, browser } = await gatewayWithChromium(t);
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

  const pub = ffmpegPush(g.pushUrl('metrics-room', 'anchor'), { seconds: 120, realtime: true });
  t.teardown(() => pub.kill());
  await waitFor(async () => (await g.getJson(`/api/rooms/${app}/metrics-room`)).body.users?.[0]?.frames.video > 10, 15000, 'the publisher in the room');
  const viewer = await openWhepViewer(browser, g.httpBase, `/v2/sub/${app}/metrics-room?SessionID=watcher`, officialUserSig('watcher'));
  t.equal(viewer.status, 201, 'the WHEP viewer is answered');
  await waitFor(async () => (await viewer.stats()).framesDecoded > 10, 15000, 'Chromium decoding');

  // B-frames are refused with the reason, and counted under it
  const bad = ffmpegPush(g.pushUrl('metrics-bad', 'obs_default'), { seconds: 5, video: 'high-bf2' });
  await bad.exited;
  t.match(bad.output(), /B-frames are not supported/, 'the encoder was told why');

  const publishers = await waitFor(() => promql(`roomgate_publishers{app="${app}",source="rtmp"}`), 15000, 'the publisher gauge');
  t.equal(publishers, 1, 'one RTMP publisher');
  const viewers = await waitFor(() => promql(`roomgate_viewers{app="${app}"}`), 15000, 'the viewer gauge');
  t.equal(viewers, 1, 'one WHEP viewer');
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

  // the label set: app, source, kind and node; never a user or a room
  const text = await (await fetch(`${g.httpBase}/metrics`)).text();
  t.notMatch(text, /anchor|watcher|metrics-room/, 'no user or room names in the metrics');
  t.match(text, /^nodejs_eventloop_lag_seconds\{node="[^"]+"\} /m, 'the event loop lag is there');
  await viewer.close();
});
