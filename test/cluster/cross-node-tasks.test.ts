// A mix whose publishers are on several nodes (issue 20): real gateway processes share one real Redis; ffmpeg
// publishes red (500 Hz) over RTMP to node A and blue (1300 Hz) to node B; a mixed recording (RecordMode 2) runs on
// node B, started through the official SDK. Red reaches B's compositor over the internal feed link
// (src/mix/feed-link.ts). The MP4 B writes is decoded: red in the grid's left tile and blue in the right while both
// publish, both tones in the mix, and blue alone on the whole canvas once red has left node A.
// The other way round, a mixed CDN relay (WithTranscoding 1) on node A takes red from node B: nginx-rtmp, the CDN,
// plays both tiles and both tones. The link serves nodes only: a request without the cluster's key is refused.
// A single-stream relay started on node A for a user publishing on node B moves to node B, and the CDN plays it.
//
// When the link's far side fails, nothing else does:
// - hostile or broken peers of node A's feed route (the right key for a user who does not publish, junk instead of a
//   request, half a request, junk or a second request after a feed's request) are answered or cut off, and leave no
//   socket or tap behind on A, whose feed still serves;
// - node D is reached through a proxy (test/cluster/feed-proxy.ts) that answers D's feeds with random bytes: B's mix
//   closes that input with a warning and goes on with red from A, and takes D's publisher once the proxy passes;
// - node C is SIGKILLed while B's mix takes its publisher: the mix goes on with blue (no gap in its file's video),
//   B logs no error, and the publisher, reconnected to node A, is back in the mix;
// - node D, mixing a publisher of node A, is SIGKILLed: A closes the link (its socket and tap are gone) and A's own
//   recording of that publisher goes on without a gap.

import t from 'tap';
import { mkdtemp, readdir } from 'node:fs/promises';
import { readdirSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { clusterNode } from '../helpers/cluster-node.js';
import type { GatewayProcess } from '../helpers/gateway-process.js';
import { startRedis } from '../helpers/redis-server.js';
import { colourDistance, ffprobe, regionColour } from '../helpers/probe.js';
import { framesOf, largestGap, packetTimes, pcmAt, toneAmplitude } from '../mix/mix-media.js';
import { startRtmpReceiver } from '../relay/rtmp-receiver.js';
import { Redis } from 'ioredis';
import { startFeedProxy } from './feed-proxy.js';

t.setTimeout(240_000);
const { sdkAppId } = TEST_APP;
const ROOM = 'split-room';
const RED = { rgb: [255, 0, 0], hz: 500 };
const BLUE = { rgb: [0, 0, 255], hz: 1300 };
const GREEN = { rgb: [0, 128, 0], hz: 800 };
const PREFIX = 'rg-xmix:';

const redis = await startRedis();
t.teardown(() => redis.close());
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());
const [dirA, dirB] = await Promise.all([mkdtemp(join(tmpdir(), 'mix-node-a-')), mkdtemp(join(tmpdir(), 'mix-node-b-'))]);
const proxyD = await startFeedProxy();
t.teardown(() => proxyD.close());
const node = (id: string, dir: string, httpUrl = '') =>
  clusterNode(t, {
    id, redisUrl: redis.url, prefix: PREFIX, callbackUrl: rx.url, leaseMs: 3000,
    // a half request is cut off after 2 s (a hostile peer below), not 10
    config: { node: { id, leaseMs: 3000, httpUrl }, recording: { dir, hlsSegmentSeconds: 2 }, pull: { allow: ['127.0.0.1'] }, http: { port: 0, headersTimeoutMs: 2000 } },
    logged: (l) => l.level >= 40 || /mix|remote|node|link/.test(String(l.msg)),
  });
const [a, b, c, d] = await Promise.all([
  node('node-a', dirA),
  node('node-b', dirB),
  node('node-c', await mkdtemp(join(tmpdir(), 'mix-node-c-'))),
  node('node-d', await mkdtemp(join(tmpdir(), 'mix-node-d-')), proxyD.url),
]);
proxyD.target = { host: '127.0.0.1', port: Number(new URL(d.httpBase).port) };

t.test('a mixed recording on node B takes a publisher of node A through the feed link', async (t) => {
  const taskId = await startMix(b, ROOM, 'mixer');

  // red on node A first (the left tile: the grid orders by arrival in the mix), then blue on node B
  const red = ffmpegPushColour(a.pushUrl(ROOM, 'red_user'), 'red', 12, { hz: RED.hz, sampleRate: 48000, audioBitrate: '96k' });
  t.teardown(() => red.stop());
  await waitFor(() => a.logs.some((l) => l.msg === 'a node takes this publisher into its mix' && l.userId === 'red_user'), 20_000, "node B's mix linked to red on node A");
  const blue = ffmpegPushColour(b.pushUrl(ROOM, 'blue_user'), 'blue', 20, { hz: BLUE.hz, sampleRate: 48000, audioBitrate: '96k' });
  t.teardown(() => blue.stop());
  await Promise.all([red.exited, blue.exited]);

  const file = await endRecording(b, dirB, taskId);
  const m3u8 = (await readdir(join(dirB, taskId))).find((x) => x.endsWith('.m3u8'));
  if (!m3u8) throw new Error(`no playlist in ${join(dirB, taskId)}`);
  const probe = await ffprobe(file);
  t.match(probe.streams.find((s) => s.codec_type === 'video'), { codec_name: 'h264', width: 640, height: 360 }, 'the mixed picture, as asked');

  // when both published: the last seconds before red's 12 s ended, found from the frames' own times in the file
  const { stdout } = await promisify(execFile)('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file]);
  const times = stdout.split('\n').map(Number).filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  const end = times[times.length - 1]!;
  let both = -1;
  for (let at = end - 10; at > 0.5; at -= 0.5) {
    const [left, right] = await Promise.all([regionColour(file, at, { x: 0.15, y: 0.3, w: 0.2, h: 0.4 }), regionColour(file, at, { x: 0.65, y: 0.3, w: 0.2, h: 0.4 })]);
    if (colourDistance(left, RED.rgb) < 90 && colourDistance(right, BLUE.rgb) < 90) {
      both = at;
      break;
    }
  }
  t.ok(both > 0, `red (node A) in the left tile and blue (node B) in the right, at ${both.toFixed(1)} s of ${end.toFixed(1)} s`);
  const pcm = await pcmAt(join(dirB, taskId, m3u8), Math.max(0, both - 1), 1.5);
  const floor = toneAmplitude(pcm, 3300);
  for (const [name, c] of [['red', RED], ['blue', BLUE]] as const) {
    const level = toneAmplitude(pcm, c.hz);
    t.ok(level > 0.005 && level > 10 * floor, `${name}'s ${c.hz} Hz is in the mix (${level.toFixed(4)} vs ${floor.toFixed(5)} at 3.3 kHz)`);
  }
  const alone = await regionColour(file, end - 1.5, { x: 0.3, y: 0.3, w: 0.4, h: 0.4 });
  t.ok(colourDistance(alone, BLUE.rgb) < 90, `after red left node A, blue fills the canvas: rgb(${alone.join(',')})`);
});

t.test('a mixed relay on node A takes a publisher of node B; the CDN plays both', async (t) => {
  const cdn = await startRtmpReceiver();
  t.teardown(() => cdn.close());
  const room = 'split-relay';
  const { TaskId } = await a.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 1,
    AgentParams: { UserId: 'mix_agent', UserSig: officialUserSig('mix_agent'), MaxIdleTime: 60 },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 1, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 640, Height: 360, Fps: 15, BitRate: 800, Gop: 1 }, LayoutParams: { MixLayoutMode: 3 } },
    PublishCdnParams: [{ PublishCdnUrl: cdn.url('split') }],
  });
  const taskId = TaskId!;
  const red = ffmpegPushColour(b.pushUrl(room, 'red_user'), 'red', 60, { hz: RED.hz, sampleRate: 48000 });
  t.teardown(() => red.stop());
  await waitFor(() => b.logs.some((l) => l.msg === 'a node takes this publisher into its mix' && l.room === room), 20_000, "node A's relay linked to red on node B");
  const blue = ffmpegPushColour(a.pushUrl(room, 'blue_user'), 'blue', 60, { hz: BLUE.hz, sampleRate: 48000 });
  t.teardown(() => blue.stop());
  await waitFor(() => rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 2), 30_000, '401 RUNNING');

  const tiles = await waitFor(async () => {
    const left = await cdn.centreColour('split', { x: 0.15, y: 0.3, w: 0.2, h: 0.4 });
    const right = await cdn.centreColour('split', { x: 0.65, y: 0.3, w: 0.2, h: 0.4 });
    return colourDistance(left, RED.rgb) < 90 && colourDistance(right, BLUE.rgb) < 90 ? { left, right } : null;
  }, 30_000, 'red left and blue right at the CDN');
  t.ok(tiles, `the CDN plays red (node B) left, rgb(${tiles.left.join(',')}), and blue (node A) right, rgb(${tiles.right.join(',')})`);
  const pcm = await cdn.pcm('split', 2);
  const second = pcm.subarray(Math.max(0, pcm.length - 48000));
  const floor = toneAmplitude(second, 3300);
  for (const [name, c] of [['red', RED], ['blue', BLUE]] as const) {
    const level = toneAmplitude(second, c.hz);
    t.ok(level > 0.005 && level > 10 * floor, `${name}'s ${c.hz} Hz at the CDN (${level.toFixed(4)} vs ${floor.toFixed(5)} at 3.3 kHz)`);
  }
  await a.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 0), 15_000, '401 IDLE');
  await waitFor(() => b.logs.some((l) => l.msg === 'a node stopped taking this publisher' && l.room === room), 10_000, 'the link closed on node B');
});

t.test('a single-stream relay started on node A for a user on node B moves to node B', async (t) => {
  const cdn = await startRtmpReceiver();
  t.teardown(() => cdn.close());
  const room = 'follow-room';
  const red = ffmpegPushColour(b.pushUrl(room, 'red_user'), 'red', 60, { hz: RED.hz, sampleRate: 48000 });
  t.teardown(() => red.stop());
  await waitFor(() => b.logs.some((l) => l.msg === 'user joined' && l.userId === 'red_user'), 20_000, 'red on node B');
  const { TaskId } = await a.client.StartPublishCdnStream({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: 'relay_agent', UserSig: officialUserSig('relay_agent'), MaxIdleTime: 60 },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: 'red_user' } } },
    AudioParams: { AudioEncode: { SampleRate: 48000, Channel: 1, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 320, Height: 240, Fps: 30, BitRate: 500, Gop: 1 } },
    PublishCdnParams: [{ PublishCdnUrl: cdn.url('follow') }],
  } as never);
  const taskId = TaskId!;
  await waitFor(() => a.logs.some((l) => l.msg === 'the relayed user publishes on another node: the relay moves there' && l.taskId === taskId), 20_000, 'node A hands the relay over');
  await waitFor(() => rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 2), 30_000, '401 RUNNING');
  const seen = await waitFor(async () => {
    const c = await cdn.centreColour('follow');
    return colourDistance(c, RED.rgb) < 90 ? c : null;
  }, 30_000, 'red at the CDN');
  t.ok(seen, `the CDN plays red, relayed by node B: rgb(${seen.join(',')})`);
  // the Stop sent to node A reaches node B, which runs the relay now
  await a.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => rx.events(401, taskId).some((e) => e.EventInfo.Payload.Status === 0), 15_000, '401 IDLE');
  const statuses = rx.events(401, taskId).map((e) => e.EventInfo.Payload.Status);
  t.equal(statuses.filter((x) => x === 2).length, 1, `one RUNNING, from node B (401s: ${statuses.join(', ')})`);
});

t.test('the feed link answers only nodes of the cluster', async (t) => {
  const path = `/internal/feed/${sdkAppId}/${ROOM}/red_user`;
  const none = await fetch(a.httpBase + path);
  t.equal(none.status, 403, 'no key: 403');
  const wrong = await fetch(a.httpBase + path, { headers: { 'x-roomgate-link-key': 'guess' } });
  t.equal(wrong.status, 403, 'a wrong key: 403');
  t.match(await wrong.text(), /link key/, 'and it says why');
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const takes = (on: GatewayProcess, room: string, userId: string) =>
  on.logs.filter((l) => l.msg === 'a node takes this publisher into its mix' && l.room === room && l.userId === userId);
const errors = (on: GatewayProcess) => on.logs.filter((l) => l.level >= 50);

/** A mixed recording of `room` on `on`: a grid on 640×360, MP4 and HLS. */
async function startMix(on: GatewayProcess, room: string, userId: string): Promise<string> {
  const { TaskId } = await on.client.CreateCloudRecording({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 0, UserId: userId, UserSig: officialUserSig(userId),
    RecordParams: { RecordMode: 2, OutputFormat: 1, MaxIdleTime: 60 },
    MixTranscodeParams: {
      VideoParams: { Width: 640, Height: 360, Fps: 15, BitRate: 800000, Gop: 1 },
      AudioParams: { SampleRate: 1, Channel: 1, BitRate: 64000 },
    },
    MixLayoutParams: { MixLayoutMode: 3, BackGroundColor: '#000000' },
    StorageParams: {},
  } as never);
  return TaskId!;
}

/** Deletes the recording and returns its MP4 (under `dir`, the node's recording.dir). */
async function endRecording(on: GatewayProcess, dir: string, taskId: string): Promise<string> {
  await on.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => rx.events(302, taskId).length > 0, 30_000, '302');
  const mp4 = (await readdir(join(dir, taskId))).find((x) => x.endsWith('.mp4'));
  if (!mp4) throw new Error(`no MP4 in ${join(dir, taskId)}`);
  return join(dir, taskId, mp4);
}

/** The grid's two tiles (left, right) in every half second of a 640×360 file, as the colours at their centres. */
async function tilesOf(file: string): Promise<Array<{ t: number; left: number[]; right: number[] }>> {
  const frames = await framesOf(file, 2, 64, 36);
  return frames.map((f) => ({ t: f.t, left: f.px(16, 18), right: f.px(48, 18) }));
}
const is = (px: readonly number[], c: { rgb: number[] }) => colourDistance(px, c.rgb) < 90;

/** A raw TCP peer of a node's HTTP port: what it received, and when the node closed it. */
function rawPeer(base: string): Promise<{ socket: Socket; port: number; received: () => Buffer; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('connect', () => {
      socket.on('error', () => {}); // a reset is one way the node may close it
      resolve({ socket, port: socket.localPort!, received: () => Buffer.concat(chunks), closed });
    });
    socket.once('error', reject);
  });
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The inode of a node's end of a TCP connection (its HTTP port, the peer's port), or 0 when there is none. */
async function serverSocketInode(base: string, peerPort: number): Promise<number> {
  const { stdout } = await promisify(execFile)('ss', ['-Htane', `( sport = :${new URL(base).port} and dport = :${peerPort} )`]);
  return Number(/ino:(\d+)/.exec(stdout)?.[1] ?? 0);
}

/** How many of a process's file descriptors refer to that socket: Node's own and any dup (an engine tap's). */
function fdsOn(pid: number, inode: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** Whether the bytes are MPEG-TS from their start: a sync byte every 188 bytes. */
const isMpegTs = (body: Buffer) => body.length >= 188 * 20 && Array.from({ length: 20 }, (_, k) => body[k * 188]).every((x) => x === 0x47);

t.test('hostile or broken peers of the feed route hurt nothing on the owner', async (t) => {
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  const key = (await raw.get(`${PREFIX}link-key`)) ?? '';
  t.ok(key, "the cluster's link key, as a node would present it");
  const room = 'hostile-room';
  const red = ffmpegPushColour(a.pushUrl(room, 'red_user'), 'red', 40, { hz: RED.hz, sampleRate: 48000 });
  t.teardown(() => red.stop());
  await waitFor(() => a.logs.some((l) => l.msg === 'user joined' && l.userId === 'red_user' && l.roomId === room), 20_000, 'red on node A');
  const path = (userId: string) => `/internal/feed/${sdkAppId}/${room}/${userId}`;
  const request = (userId: string) => Buffer.from(`GET ${path(userId)} HTTP/1.1\r\nHost: node\r\nx-roomgate-link-key: ${key}\r\n\r\n`);
  const pid = a.child.pid!;

  const nobody = await fetch(a.httpBase + path('nobody'), { headers: { 'x-roomgate-link-key': key } });
  t.equal(nobody.status, 404, 'the right key for a user who does not publish: 404');
  t.equal((await nobody.json()).error, 'nobody does not publish in that room on this node', 'with a sentence');
  // a connection whose feed request was answered so carries the next request (a node's HTTP agent keeps it alive)
  const reused = await rawPeer(a.httpBase);
  t.teardown(() => reused.socket.destroy());
  reused.socket.write(request('nobody'));
  await waitFor(() => reused.received().toString().endsWith('on this node"}'), 10_000, 'the 404');
  reused.socket.write('GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n');
  await waitFor(() => reused.received().toString().includes('on this node"}HTTP/1.1 200 '), 10_000, 'the next answer on that connection');
  t.pass('and the connection carries the next request: 200');

  // half a request, then silence: cut off at the headers deadline (2 s here) while the rest goes on
  const half = await rawPeer(a.httpBase);
  half.socket.write(request('red_user').subarray(0, 60));
  await waitFor(async () => (await serverSocketInode(a.httpBase, half.port)) > 0, 5000, 'node A holding the half request');
  const halfInode = await serverSocketInode(a.httpBase, half.port);

  const junk = await rawPeer(a.httpBase);
  junk.socket.write(randomBytes(2048));
  await within(junk.closed, 10_000, 'node A closing the junk');
  t.match(junk.received().toString('latin1', 0, 16), /^HTTP\/1\.1 400 /, 'junk instead of a request: 400, and closed');

  // a feed's reader sends junk, or more requests, after its request: node A ends that link, tap and socket
  const more = Buffer.concat([request('red_user'), Buffer.from('GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n')]);
  for (const [what, after] of [['junk', randomBytes(512)], ['more requests', more]] as const) {
    const peer = await rawPeer(a.httpBase);
    peer.socket.write(request('red_user'));
    await waitFor(() => peer.received().length > 4000, 10_000, 'the feed flowing');
    const inode = await serverSocketInode(a.httpBase, peer.port);
    t.equal(fdsOn(pid, inode), 2, `a feed: node A holds its socket twice, its own fd and its tap's (before ${what})`);
    peer.socket.write(after);
    await within(peer.closed, 10_000, `node A closing the feed after ${what}`);
    await waitFor(() => fdsOn(pid, inode) === 0, 5000, `the socket and the tap gone after ${what}`);
    t.pass(`${what} after a feed's request: node A closed that link, and holds neither its socket nor its tap`);
    t.equal(takes(a, room, 'red_user').filter((l) => String(l.to).endsWith(`:${peer.port}`)).length, 1, 'one feed served on that connection');
  }

  await within(half.closed, 10_000, 'node A cutting the half request off');
  t.match(half.received().toString('latin1', 0, 16), /^HTTP\/1\.1 408 /, 'half a request: 408 at the headers deadline, and closed');
  t.equal(fdsOn(pid, halfInode), 0, 'its socket gone');

  // the owner is unharmed: a proper feed flows as before
  const good = await rawPeer(a.httpBase);
  t.teardown(() => good.socket.destroy());
  good.socket.write(request('red_user'));
  await waitFor(() => good.received().length > 20_000, 10_000, 'a proper feed');
  const bytes = good.received();
  t.match(bytes.toString('latin1', 0, 16), /^HTTP\/1\.1 200 /, 'a proper request after all that: 200');
  t.ok(isMpegTs(bytes.subarray(bytes.indexOf('\r\n\r\n') + 4)), 'and MPEG-TS');
  t.same(errors(a), [], 'node A logged no error');
});

t.test('an owner answering a feed with bytes that are not MPEG-TS: the mix closes that input and goes on', async (t) => {
  const room = 'junk-owner';
  const taskId = await startMix(b, room, 'mixer_j');
  const red = ffmpegPushColour(a.pushUrl(room, 'red_user'), 'red', 60, { hz: RED.hz, sampleRate: 48000 });
  t.teardown(() => red.stop());
  await waitFor(() => takes(a, room, 'red_user').length > 0, 20_000, "node B's mix linked to red on node A");
  proxyD.junk = true;
  const green = ffmpegPushColour(d.pushUrl(room, 'green_user'), 'green', 60, { hz: GREEN.hz, sampleRate: 48000 });
  t.teardown(() => green.stop());
  await waitFor(() => proxyD.junkFeeds > 0, 20_000, "node B's mix linked to green on node D, answered with junk");
  const closed = await waitFor(() => b.logs.find((l) => l.msg === 'a publisher on another node left the mix: its feed could not be mixed' && l.userId === 'green_user'), 20_000, 'node B closing that input');
  t.match(closed, { level: 40, node: 'node-d', reason: /no MPEG-TS stream was found/ }, `node B closed the junk input with a warning: ${closed.reason}`);
  proxyD.junk = false;
  await waitFor(() => proxyD.passedFeeds > 0, 20_000, "node B's mix linked to green again, the proxy passing D's feed");
  const after = takes(d, room, 'green_user').find((l) => l.time > closed.time)!.time - closed.time;
  t.ok(after >= 1900, `and node B asked for that feed again ${after} ms after closing it, not at once`);
  await sleep(3000);
  t.equal(rx.events(302, taskId).length, 0, 'the recording went on throughout (no 302)');
  const file = await endRecording(b, dirB, taskId);
  const gap = largestGap(await packetTimes(file, 'v'));
  t.ok(gap.gap < 0.5, `no gap in the mix's video: the largest step between frames is ${gap.gap.toFixed(3)} s (at ${gap.at.toFixed(1)} s)`);
  const tiles = (await tilesOf(file)).slice(0, -1); // the last sample left out: see the next case
  const fromRed = tiles.slice(tiles.findIndex((f) => is(f.left, RED)));
  const redLost = fromRed.filter((f) => !is(f.left, RED));
  t.ok(fromRed.length > 6 && redLost.length === 0, `red (node A) in the left tile in every half second from its first (${fromRed.length}; not at ${redLost.map((f) => f.t).join(', ') || 'none'})`);
  const last = tiles[tiles.length - 1]!;
  t.ok(is(last.right, GREEN), `green (node D) in the right tile at the end: rgb(${last.right.join(',')})`);
  t.same(errors(b), [], 'node B logged no error');
});

t.test("the publisher's node dies while a mix elsewhere takes it: the mix goes on, and takes it again once it reconnects", async (t) => {
  const room = 'owner-dies';
  const taskId = await startMix(b, room, 'mixer_c');
  const blue = ffmpegPushColour(b.pushUrl(room, 'blue_user'), 'blue', 90, { hz: BLUE.hz, sampleRate: 48000 });
  t.teardown(() => blue.stop());
  await waitFor(() => b.logs.some((l) => l.msg === 'user joined' && l.userId === 'blue_user' && l.roomId === room), 20_000, 'blue on node B');
  const red = ffmpegPushColour(c.pushUrl(room, 'red_user'), 'red', 90, { hz: RED.hz, sampleRate: 48000 });
  t.teardown(() => red.stop());
  await waitFor(() => takes(c, room, 'red_user').length > 0, 20_000, "node B's mix linked to red on node C");
  await sleep(2000);
  c.kill('SIGKILL');
  await c.exited;
  red.stop();
  // the encoder reconnects to a surviving node
  const again = ffmpegPushColour(a.pushUrl(room, 'red_user'), 'red', 60, { hz: RED.hz, sampleRate: 48000 });
  t.teardown(() => again.stop());
  await waitFor(() => takes(a, room, 'red_user').length > 0, 30_000, "node B's mix linked to red again, on node A");
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  const anchors = async () =>
    (await raw.hvals(`${PREFIX}room:${sdkAppId}/${room}`)).map((r) => JSON.parse(r) as { userId: string; node: string; role: string }).filter((r) => r.role === 'anchor').map((r) => `${r.userId}@${r.node}`).sort();
  const census = await waitFor(async () => {
    const now = await anchors();
    return now.join() === 'blue_user@node-b,red_user@node-a' ? now : null;
  }, 20_000, 'the census: red on node A, blue on node B');
  t.same(census, ['blue_user@node-b', 'red_user@node-a'], 'the census has red on node A now (node C swept), blue on node B');
  await sleep(3000);
  t.equal(rx.events(302, taskId).length, 0, 'the recording went on throughout (no 302)');
  t.equal(b.child.exitCode, null, 'node B runs');
  const file = await endRecording(b, dirB, taskId);
  const gap = largestGap(await packetTimes(file, 'v'));
  t.ok(gap.gap < 0.5, `no gap in the mix's video across the death: the largest step between frames is ${gap.gap.toFixed(3)} s (at ${gap.at.toFixed(1)} s)`);
  // The last sample is left out: the mix's final frames can be the bare
  // background, because MixedRecording.stop removes the inputs before the compositor's output ends (a known defect of
  // the end of every mixed file, not of the link).
  const tiles = (await tilesOf(file)).slice(0, -1);
  const fromBlue = tiles.slice(tiles.findIndex((f) => is(f.left, BLUE) || is(f.right, BLUE)));
  const blueLost = fromBlue.filter((f) => !is(f.left, BLUE) && !is(f.right, BLUE));
  t.ok(fromBlue.length > 10 && blueLost.length === 0, `blue (node B's own publisher) in every half second from its first (${fromBlue.length}; not at ${blueLost.map((f) => f.t).join(', ') || 'none'})`);
  const withRed = fromBlue.findIndex((f) => is(f.left, RED) || is(f.right, RED));
  t.ok(withRed >= 0, `red (node C) beside blue before the death, from ${fromBlue[withRed]?.t} s`);
  const alone = fromBlue.slice(withRed).filter((f) => is(f.left, BLUE) && is(f.right, BLUE));
  t.ok(alone.length > 0, `then blue alone on the whole canvas once node C died (${alone.length} half seconds, from ${alone[0]?.t} s)`);
  const last = tiles[tiles.length - 1]!;
  t.ok([last.left, last.right].some((px) => is(px, RED)) && [last.left, last.right].some((px) => is(px, BLUE)), `red (now from node A) back beside blue at the end: rgb(${last.left.join(',')}) | rgb(${last.right.join(',')})`);
  t.same(errors(b), [], 'node B logged no error');
});

t.test('the mixing node dies while linked: the owner closes the link, and its publisher flows on', async (t) => {
  const room = 'mixer-dies';
  const red = ffmpegPushColour(a.pushUrl(room, 'red_user'), 'red', 60, { hz: RED.hz, sampleRate: 48000 });
  t.teardown(() => red.stop());
  await waitFor(() => a.logs.some((l) => l.msg === 'user joined' && l.userId === 'red_user' && l.roomId === room), 20_000, 'red on node A');
  // node A's own recording of red, beside the link
  const { TaskId: recordId } = await a.client.CreateCloudRecording({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 0, UserId: 'recorder_a', UserSig: officialUserSig('recorder_a'),
    RecordParams: { RecordMode: 1, OutputFormat: 3, MaxIdleTime: 60 }, StorageParams: {},
  } as never);
  await startMix(d, room, 'mixer_d');
  const linked = await waitFor(() => takes(a, room, 'red_user')[0], 20_000, "node D's mix linked to red on node A");
  const linkedAt = Date.now();
  const pid = a.child.pid!;
  const inode = await serverSocketInode(a.httpBase, Number(String(linked.to).split(':').pop()));
  // the tap starts once the answer's head has gone out, just after the log line
  await waitFor(() => fdsOn(pid, inode) === 2, 5000, "node A's tap on the link's socket");
  t.pass("node A holds the link's socket twice: its own fd and its tap's");
  await sleep(1000);
  d.kill('SIGKILL');
  await d.exited;
  await waitFor(() => a.logs.some((l) => l.msg === 'a node stopped taking this publisher' && l.to === linked.to), 15_000, 'node A seeing the link close');
  t.pass(`node A logged that the link closed (${linked.to})`);
  await waitFor(() => fdsOn(pid, inode) === 0, 10_000, "the link's socket and tap gone on node A");
  t.pass("node A holds neither the link's socket nor its tap");
  await sleep(3000);
  const deletedAt = Date.now();
  const file = await endRecording(a, dirA, recordId!);
  const times = await packetTimes(file, 'v');
  const gap = largestGap(times);
  const span = times[times.length - 1]! - times[0]!;
  t.ok(gap.gap < 0.5, `node A's recording of red has no gap: the largest step between frames is ${gap.gap.toFixed(3)} s`);
  t.ok(span > (deletedAt - linkedAt) / 1000 - 1, `and covers the link, the death and after: ${span.toFixed(1)} s of video, ${((deletedAt - linkedAt) / 1000).toFixed(1)} s from the link to the end`);
  t.same(errors(a), [], 'node A logged no error');
});
