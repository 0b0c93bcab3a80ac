// A recording to S3 that the gateway was killed under: the files its run left in recording.dir/<TaskId> are uploaded
// after the restart, to the keys a normal end would have used, with the callbacks a normal end sends after its 302.
// - A real gateway process (store.kind 'sqlite', the default) records an ffmpeg publisher into a real s3rver as HLS +
//   MP4. Once both playlists are up, s3rver stops, so every segment closed after that stays on disk (the queue keeps
//   retrying it); the MP4 and the open segments are on disk anyway. SIGKILL, s3rver back, the gateway restarted on the
//   same store file and directory: the bucket then holds every file that was on disk, byte for byte (the playlists
//   closed with #EXT-X-ENDLIST, the lone `_1` MP4 under its final name), ffprobe reads them, and the signed callbacks
//   say 302 LeaveCode 3, 305 Status 0, 310 for the MP4.
// - The same kill with s3rver still down at the restart: the uploads fail (one 308), 305 and 310 say Status 1 after
//   recording.uploadDrainSeconds, and the queue goes on retrying: once s3rver is back the bucket holds every file.
// - What is done to a killed task's directory before upload, with `ha<N>_` names (a task that had moved to this node):
//   a lone `_1` MP4 takes its final name, a split one keeps its indexes, playlists are closed, a `.tmp` goes.

import t, { type Test } from 'tap';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { apiError } from '../helpers/api3.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { startCallbackReceiver, type CallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway-process.js';
import { decodeErrors, ffprobe, playlistSegments } from '../helpers/probe.js';
import { S3RVER_KEYS, startS3rver, type TestS3 } from '../helpers/s3rver.js';
import { prepareLeftovers } from '../../src/record/recording-leftovers.js';
import { hlsStem, userStem } from '../../src/record/names.js';
import type { RecordingSpec } from '../../src/api/cloud-recording-service.js';

t.setTimeout(240_000);
const { sdkAppId } = TEST_APP;
const BUCKET = 'leftovers-1250000000';

/** What a first run killed under an S3 recording left: the task, and its directory's files as the kill left them. */
interface Killed {
  s3: TestS3;
  rx: CallbackReceiver;
  /** Starts a gateway on the same store file and recording directory. */
  gateway: () => Promise<GatewayProcess>;
  taskId: string;
  /** `p1/<TaskId>/` in the bucket. */
  prefix: string;
  taskDir: string;
  onDisk: Map<string, Buffer>;
  segments: string[];
  mp4: string;
  playlists: string[];
  createdAt: number;
  killedAt: number;
}

/**
 * A gateway records an ffmpeg publisher into s3rver as HLS + MP4 (2 s segments); once both playlists are up s3rver
 * stops, so every segment closed after that stays on disk; three such segments later the gateway is SIGKILLed. The
 * store stays down.
 */
async function killUnderS3Recording(t: Test, uploadDrainSeconds: number): Promise<Killed> {
  const s3 = await startS3rver([BUCKET]);
  t.teardown(() => s3.close());
  const rx = await startCallbackReceiver(CALLBACK_KEY);
  t.teardown(() => rx.close());
  const dir = await mkdtemp(join(tmpdir(), 'rg-leftovers-'));
  const recDir = join(dir, 'rec');
  const config = {
    apps: [{ ...TEST_APP, callbackUrl: rx.url, callbackKey: CALLBACK_KEY }],
    store: { kind: 'sqlite', file: join(dir, 'roomgate.db') },
    callbacks: { retryIntervalMs: 500, flushOnCloseMs: 300 },
    recording: { dir: recDir, hlsSegmentSeconds: 2, uploadDrainSeconds, storageEndpoints: { '1': s3.endpoint } },
  };
  const gateway = async (): Promise<GatewayProcess> => {
    const gw = await spawnGateway(config);
    t.teardown(() => {
      gw.kill('SIGKILL');
      if (!t.passing()) t.comment(gw.logs.filter((l) => l.level >= 40).map((l) => JSON.stringify(l)).join('\n'));
    });
    return gw;
  };
  const gw1 = await gateway();
  const room = 'leftovers';
  const anchor = ffmpegPushColour(gw1.pushUrl(room, 'anchor'), 'red', 120);
  t.teardown(() => anchor.kill());
  const createdAt = Date.now();
  const taskId = (await gw1.client.CreateCloudRecording({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 0, UserId: 'recorder', UserSig: officialUserSig('recorder'),
    RecordParams: { RecordMode: 1, OutputFormat: 1 },
    StorageParams: { CloudStorage: { Vendor: 1, Region: 'us-east-1', Bucket: BUCKET, ...S3RVER_KEYS, FileNamePrefix: ['p1'] } },
  })).TaskId!;
  const taskDir = join(recDir, taskId);
  const prefix = `p1/${taskId}/`;

  // the first segments and both playlists reach the bucket; then the store goes away
  await waitFor(() => rx.events(304, taskId).length >= 2, 40_000, 'both playlists uploaded (304 twice)');
  await s3.stop();
  await waitFor(() => rx.events(308, taskId).length > 0, 30_000, '308: uploads fail');
  // segments a playlist on disk lists are closed: those still on disk were never uploaded (an upload removes them)
  const closedOnDisk = async () => {
    const names = await readdir(taskDir);
    const listed = new Set<string>();
    for (const p of names.filter((n) => n.endsWith('.m3u8'))) {
      for (const s of playlistSegments(await readFile(join(taskDir, p), 'utf8'))) listed.add(s.name);
    }
    return names.filter((n) => listed.has(n));
  };
  await waitFor(async () => (await closedOnDisk()).length >= 3, 40_000, 'three closed segments on disk, not uploaded');
  const uploadedBefore = s3.writes.filter((w) => w.key.startsWith(prefix)).length;
  t.ok(uploadedBefore >= 3, `the first run uploaded some files (${uploadedBefore}) before the store went away`);

  gw1.kill('SIGKILL');
  const killedAt = (await gw1.exited).at;
  anchor.kill();
  const onDisk = new Map<string, Buffer>();
  for (const n of await readdir(taskDir)) if (!n.endsWith('.tmp')) onDisk.set(n, await readFile(join(taskDir, n)));
  const names = [...onDisk.keys()];
  const segments = names.filter((n) => n.endsWith('.ts'));
  const mp4 = names.filter((n) => n.endsWith('.mp4'));
  const playlists = names.filter((n) => n.endsWith('.m3u8'));
  t.ok(segments.length >= 5, `segments left on disk: closed ones not uploaded and the open ones (${segments.length})`);
  t.equal(mp4.length, 1, `one MP4 left on disk, being written at the kill (${mp4.join()})`);
  t.match(mp4[0], /__UserId_e_main_1\.mp4$/, 'named with its index while it was written');
  t.equal(playlists.length, 2, 'a video and an audio playlist on disk');
  for (const p of playlists) t.notMatch(onDisk.get(p)!.toString('utf8'), /#EXT-X-ENDLIST/, `${p} was left open`);
  return { s3, rx, gateway, taskId, prefix, taskDir, onDisk, segments, mp4: mp4[0]!, playlists, createdAt, killedAt };
}

/** The key a file left on disk is stored under: a lone `_1` MP4 under its final name, everything else as it is. */
function keyOf(k: Killed, name: string): string {
  return name === k.mp4 ? k.mp4.replace(/_1\.mp4$/, '.mp4') : name;
}

/**
 * The bucket holds every file that was on disk, byte for byte (the playlists closed), and the directory is empty. A
 * file the kill left empty (opened, nothing flushed to it yet) holds nothing of the recording and is not uploaded.
 * Resolves what the task's prefix holds, by name.
 */
async function checkBucket(t: Test, k: Killed): Promise<Map<string, number>> {
  const stored = new Map((await k.s3.list(BUCKET, k.prefix)).map((o) => [o.key.slice(k.prefix.length), o.size]));
  for (const [name, bytes] of k.onDisk) {
    const key = keyOf(k, name);
    if (bytes.length === 0) {
      t.notOk(stored.has(key), `${key} was left empty: not uploaded`);
      continue;
    }
    t.ok(stored.has(key), `${key} is in the bucket`);
    if (!stored.has(key)) continue;
    const body = (await k.s3.get(BUCKET, k.prefix + key)).body;
    const want = name.endsWith('.m3u8') ? Buffer.concat([bytes, Buffer.from('#EXT-X-ENDLIST\n')]) : bytes;
    t.ok(body.equals(want), `${key}: the bucket's bytes are the disk's${name.endsWith('.m3u8') ? ' with #EXT-X-ENDLIST added' : ''} (${body.length} / ${want.length})`);
  }
  t.same(await readdir(k.taskDir), [], 'no local copy left once the store has every file');
  return stored;
}

/** The task's callback types in order, every one checked for its Sign. */
function callbackTypes(t: Test, k: Killed): number[] {
  const mine = k.rx.received.filter((r) => r.body?.EventInfo?.TaskId === k.taskId);
  t.ok(mine.every((r) => r.signOk), 'every callback of the task carries a correct Sign');
  return mine.map((r) => r.body.EventType as number);
}

t.test('SIGKILL under an S3 recording: after the restart its files left on disk reach the bucket, then 302, 305, 310', async (t) => {
  const k = await killUnderS3Recording(t, 60);
  const { rx, taskId, prefix } = k;
  await k.s3.start();
  const gw2 = await k.gateway();
  await waitFor(() => rx.events(305, taskId).length > 0, 90_000, '305 after the restart');
  await waitFor(() => rx.events(310, taskId).length > 0, 10_000, '310 after the restart');
  await new Promise((r) => setTimeout(r, 500)); // nothing more may follow

  // the callbacks: 302 LeaveCode 3 as before, then what a normal end says after it
  const types = callbackTypes(t, k);
  t.same(types.slice(types.indexOf(302)), [302, 305, 310], `302, 305, then one 310 for the one MP4 (${types.join(',')})`);
  t.match(rx.events(302, taskId)[0].EventInfo.Payload, {
    LeaveCode: 3,
    Reason: new RegExp(`gateway stopped while recording.*${taskId}.*being uploaded to s3://${BUCKET}/${prefix}`),
  }, '302 LeaveCode 3 says where the files go');
  t.same(rx.events(305, taskId)[0].EventInfo.Payload, { Status: 0 }, '305 Status 0: every file uploaded');
  const mp4Key = keyOf(k, k.mp4);
  const p310 = rx.events(310, taskId)[0].EventInfo.Payload;
  t.match(p310, { Status: 0, FileList: [mp4Key], FileMessage: [{ FileName: mp4Key, UserId: 'anchor', TrackType: 'audio_video', MediaId: 'main' }] }, '310 names the MP4 under its final name, its user and track');
  const { StartTimeStamp: start, EndTimeStamp: end } = p310.FileMessage[0];
  t.ok(k.createdAt <= start && start < end && end <= k.killedAt, `the MP4's times lie between the Create and the kill (${start - k.createdAt} ms after the Create, ${k.killedAt - end} ms before the kill)`);

  const stored = await checkBucket(t, k);

  // what the bucket holds plays: the MP4 and every segment left, and each playlist from its first segment to its end
  const local = await mkdtemp(join(tmpdir(), 'rg-leftovers-back-'));
  for (const key of stored.keys()) await writeFile(join(local, key), (await k.s3.get(BUCKET, prefix + key)).body);
  const mp4 = await ffprobe(join(local, mp4Key));
  t.same(mp4.streams.map((s) => s.codec_name).sort(), ['aac', 'h264'], 'ffprobe reads the MP4: H.264 and AAC');
  t.ok(Number(mp4.format.duration) >= 4, `the MP4 holds the recording until the kill (${mp4.format.duration} s)`);
  const segmentsWithData = k.segments.filter((s) => k.onDisk.get(s)!.length > 0);
  t.ok(segmentsWithData.length >= 3, `segments with data among those left (${segmentsWithData.length})`);
  for (const s of segmentsWithData) {
    const probed = await ffprobe(join(local, s)).catch((err: Error) => ({ streams: [], error: err.message }));
    t.ok(probed.streams.length > 0, `ffprobe reads ${s} (${k.onDisk.get(s)!.length} bytes)`, { probed });
  }
  for (const p of k.playlists) {
    const text = (await readFile(join(local, p), 'utf8'));
    t.match(text, /#EXT-X-ENDLIST\n$/, `${p} ends with #EXT-X-ENDLIST`);
    const listed = playlistSegments(text).map((s) => s.name);
    t.same(listed.filter((n) => !stored.has(n)), [], `every segment ${p} lists is in the bucket (${listed.length})`);
    t.equal(await decodeErrors(join(local, p)), '', `${p} from the bucket plays without an error`);
  }

  const gone = await apiError(gw2.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId }));
  t.match(gone.code, /^(InvalidParameter|FailedOperation|ResourceNotFound)/, `the ended recording is not described (${gone.code})`);
  gw2.kill('SIGTERM');
  await gw2.exited;
});

t.test('the store still down at the restart: 308, then 305 and 310 say the files are left; retried, they get up once it is back', async (t) => {
  const k = await killUnderS3Recording(t, 3);
  const { rx, taskId } = k;
  const gw2 = await k.gateway();
  await waitFor(() => rx.events(310, taskId).length > 0, 60_000, '310 after the restart');
  const types = callbackTypes(t, k);
  t.same(types.slice(types.indexOf(302)), [302, 308, 305, 310], `302, one 308 for the outage, 305, 310 (${types.join(',')})`);
  t.match(rx.events(308, taskId).at(-1).EventInfo.Payload, { Code: 'ECONNREFUSED' }, '308 says why');
  t.same(rx.events(305, taskId)[0].EventInfo.Payload, { Status: 1 }, '305 Status 1: files left on this server');
  t.match(rx.events(310, taskId)[0].EventInfo.Payload, { Status: 1, FileList: [keyOf(k, k.mp4)] }, '310 Status 1: the MP4 is still here');
  const here = await readdir(k.taskDir);
  t.ok(here.includes(keyOf(k, k.mp4)), 'the MP4 waits on disk under its final name');

  // the queue goes on retrying after the report, as after a normal end, and the store's return lets everything up
  await k.s3.start();
  await waitFor(async () => (await readdir(k.taskDir)).length === 0, 90_000, 'every file uploaded once the store is back');
  await checkBucket(t, k);
  t.equal(rx.events(305, taskId).length, 1, 'no second 305');
  t.equal(gw2.logs.filter((l) => l.level >= 50).length, 0, 'nothing logged as an error');
  gw2.kill('SIGTERM');
  await gw2.exited;
});

t.test('a killed task\'s directory made ready for upload: ha<N>_ names, lone and split MP4s, open playlists, a .tmp', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rg-leftovers-dir-'));
  const base = { sdkAppId, roomId: 'dir-room', numericRoom: false };
  const user = 'anchor1'; // base64 with padding, which names write as '..'
  const mp4 = userStem(base, user);
  const video = hlsStem(base, user, 'video');
  const open = '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n';
  const files: Record<string, string> = {
    // the node the task moved to (ha1_) was writing one MP4; the first node had split its own
    [`ha1_${mp4}_1.mp4`]: 'ha1 mp4',
    [`${mp4}_1.mp4`]: 'first half',
    [`${mp4}_2.mp4`]: 'second half',
    [`ha1_${video}_20301010101010100.ts`]: 'segment',
    [`ha1_${video}_20301010101012100.ts`]: '', // opened at the kill, nothing written yet
    [`ha1_${video}.m3u8`]: `${open}ha1_${video}_20301010101010100.ts\n`,
    [`ha1_${video}.m3u8.tmp`]: 'half a rewrite',
    [`${video}.m3u8`]: `${open}${video}_20301010101010000.ts\n#EXT-X-ENDLIST\n`,
  };
  for (const [n, text] of Object.entries(files)) await writeFile(join(dir, n), text);
  const spec = {
    sdkAppId, roomId: 'dir-room', roomIdType: 0, userId: 'recorder', recordMode: 1, streamType: 0, outputFormat: 1, avMerge: 0,
    subscribe: { audio: null, video: null }, storage: { kind: 'local' }, mix: null,
  } as unknown as RecordingSpec;
  const createdAt = Date.now() - 60_000;
  const out = await prepareLeftovers(dir, spec, createdAt);

  t.same(out.map((f) => f.name), [
    `ha1_${video}_20301010101010100.ts`,
    `${mp4}_1.mp4`, `${mp4}_2.mp4`, `ha1_${mp4}.mp4`,
    `${video}.m3u8`, `ha1_${video}.m3u8`,
  ].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1)), 'segments, then MP4s, then playlists: the split MP4 keeps its indexes, the lone ha1_ one loses its _1');
  t.same((await readdir(dir)).sort(), out.map((f) => f.name).sort(), 'the directory holds just these (renamed; the .tmp and the empty segment gone)');
  t.equal(await readFile(join(dir, `ha1_${mp4}.mp4`), 'utf8'), 'ha1 mp4', 'the renamed MP4 is the file that was written');
  t.equal(await readFile(join(dir, `ha1_${video}.m3u8`), 'utf8'), `${files[`ha1_${video}.m3u8`]}#EXT-X-ENDLIST\n`, 'an open playlist is closed');
  t.equal(await readFile(join(dir, `${video}.m3u8`), 'utf8'), files[`${video}.m3u8`], 'a closed one is left as it is');
  for (const f of out.filter((x) => x.name.endsWith('.mp4'))) {
    t.match(f.media, { userId: user, kind: 'audio_video' }, `${f.name}: its user read back from the name, both kinds recorded`);
    t.ok(f.media!.startWallMs >= createdAt && f.media!.startWallMs <= f.media!.endWallMs, `${f.name}: start and end from the file's times`);
    t.equal(f.bytes, files[f.name.replace(`ha1_${mp4}.mp4`, `ha1_${mp4}_1.mp4`)]!.length, `${f.name}: its size`);
  }
  t.same(out.filter((f) => !f.name.endsWith('.mp4')).map((f) => f.media), [undefined, undefined, undefined], 'no 310 for segments and playlists');
});

/** The upload order: segments, media files, playlists. */
function rank(name: string): number {
  return name.endsWith('.ts') ? 0 : name.endsWith('.m3u8') ? 2 : 1;
}
