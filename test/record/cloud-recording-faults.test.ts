// Cloud recording under the faults issue 17 names, each against a real gateway process (bin/roomgate serve) recording
// ffmpeg RTMP publishers as HLS + MP4: SIGTERM finalises every file (and 302 goes out before the exit); after SIGKILL
// what was written plays; a task whose directory is full (ENOSPC) or gone (ENOTDIR) ends with 302 and a log line
// naming the path while other rooms go on; a publisher sending garbage does not stop the recording of another.

import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPushColour } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway-process.js';
import { decodeErrors, dominant, ffprobe, playedSeconds, playlistSegments, regionColour } from '../helpers/probe.js';
import { connectScripted } from '../helpers/scripted-rtmp.js';
import { weriftViewer, whepTarget } from '../helpers/viewers.js';
import { avFlv, type FlvTagRecord } from '../media/helpers/flv-file.js';

// Its own timeout, so it holds when the file is run with node directly too (tap's default there is 30 s).
t.setTimeout(150_000);
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());
const { sdkAppId } = TEST_APP;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A gateway process recording into `dir` (2 s segments), its test app calling back to `rx`. */
async function recordingGateway(t: Test, dir: string): Promise<GatewayProcess> {
  const gw = await spawnGateway({
    apps: [{ ...TEST_APP, callbackUrl: rx.url, callbackKey: CALLBACK_KEY }],
    recording: { dir, hlsSegmentSeconds: 2 },
  });
  t.teardown(() => {
    gw.kill('SIGKILL');
    // what the gateway said, when it helps to know
    if (!t.passing()) {
      t.comment(gw.logs.filter((l) => l.level >= 40).map((l) => JSON.stringify(l)).join('\n'));
      t.comment(gw.output().split('\n').filter((l) => !l.startsWith('{')).join('\n'));
    }
  });
  return gw;
}

function pushColour(t: Test, url: string, colour: string, seconds: number) {
  const p = ffmpegPushColour(url, colour, seconds);
  t.teardown(() => p.kill());
  return p;
}

async function createTask(gw: GatewayProcess, room: string, recorder: string): Promise<string> {
  const { TaskId } = await gw.client.CreateCloudRecording({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 0, UserId: recorder, UserSig: officialUserSig(recorder),
    RecordParams: { RecordMode: 1, OutputFormat: 1 }, StorageParams: {},
  });
  return TaskId!;
}

/** TRTC's file-name form of an id (base64, '/' → '-', '=' → '.'), written here apart from src/record/names.ts. */
const b64 = (s: string) => Buffer.from(s).toString('base64').replace(/\//g, '-').replace(/=/g, '.');
const userStem = (room: string, user: string) => `${sdkAppId}_${b64(room)}__UserId_s_${b64(user)}__UserId_e_main`;

/** The task's playlists and MP4s on disk. */
async function filesOf(dir: string, taskId: string): Promise<{ playlists: string[]; mp4s: string[] }> {
  const names = await readdir(join(dir, taskId));
  return {
    playlists: names.filter((n) => n.endsWith('.m3u8')).map((n) => join(dir, taskId, n)),
    mp4s: names.filter((n) => n.endsWith('.mp4')).map((n) => join(dir, taskId, n)),
  };
}

t.test('SIGTERM finalises every file: MP4 with both streams, playlists ended, 302 delivered before the exit', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rec-sigterm-'));
  const gw = await recordingGateway(t, dir);
  const room = 'rec-sigterm';
  const taskId = await createTask(gw, room, 'recorder_term');
  pushColour(t, gw.pushUrl(room, 'red_user'), 'red', 60);
  const listed = await waitFor(async () => {
    const d = await gw.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
    return (d.StorageFileList?.length ?? 0) >= 2 ? d.StorageFileList! : null;
  }, 15_000, 'both playlists listed');
  const beganAt = Math.min(...listed.map((x) => x.BeginTimeStamp!));
  await sleep(beganAt + 6000 - Date.now());
  const termAt = Date.now();
  gw.kill('SIGTERM');
  const exit = await gw.exited;
  t.equal(exit.code, 0, 'the gateway exits 0');

  const delivered = rx.received.filter((r) => r.body?.EventInfo?.TaskId === taskId);
  const stop = delivered.find((r) => r.body.EventType === 302);
  t.ok(stop && stop.at <= exit.at, '302 delivered before the exit');
  t.match(stop?.body.EventInfo.Payload, { LeaveCode: 3, Reason: /shutting down/ }, 'LeaveCode 3: the server ended it');
  t.ok(delivered.some((r) => r.body.EventType === 310 && r.at <= exit.at), '310 (the MP4) delivered before the exit');
  t.ok(delivered.every((r) => r.signOk), 'signed');

  const recorded = (termAt - beganAt) / 1000;
  const { playlists, mp4s } = await filesOf(dir, taskId);
  t.equal(playlists.length, 2, 'video and audio playlists');
  for (const p of playlists) {
    t.match(await readFile(p, 'utf8'), /#EXT-X-ENDLIST\n$/, `${p} ends with #EXT-X-ENDLIST`);
    t.equal(await decodeErrors(p), '', 'it plays without an error');
    const played = await playedSeconds(p);
    t.ok(Math.abs(played - recorded) <= 1, `it plays the ${recorded.toFixed(1)} s recorded ± 1 (${played.toFixed(2)})`);
  }
  t.same(mp4s.map((m) => m.slice(m.lastIndexOf('/') + 1)), [`${userStem(room, 'red_user')}.mp4`], 'one MP4, named for good');
  const m = await ffprobe(mp4s[0]!);
  t.match(m.streams.map((s) => s.codec_name).sort(), ['aac', 'h264'], 'the MP4 has both streams');
  t.equal(await decodeErrors(mp4s[0]!), '', 'the MP4 plays without an error');
  const mp4Seconds = Number(m.format.duration);
  t.ok(Math.abs(mp4Seconds - recorded) <= 1, `the MP4 lasts the ${recorded.toFixed(1)} s recorded ± 1 (${mp4Seconds.toFixed(2)})`);
});

t.test('after SIGKILL the HLS plays up to its last listed segment and the MP4 written so far is readable', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rec-sigkill-'));
  const gw = await recordingGateway(t, dir);
  const room = 'rec-sigkill';
  const taskId = await createTask(gw, room, 'recorder_kill');
  pushColour(t, gw.pushUrl(room, 'blue_user'), 'blue', 60);
  const video = join(dir, taskId, `${userStem(room, 'blue_user')}_video.m3u8`);
  await waitFor(async () => playlistSegments(await readFile(video, 'utf8').catch(() => '')).length >= 3, 20_000, '3 video segments');
  gw.kill('SIGKILL');
  t.equal((await gw.exited).code, 'SIGKILL');

  const { playlists, mp4s } = await filesOf(dir, taskId);
  t.equal(playlists.length, 2, 'video and audio playlists');
  let videoListed = 0;
  for (const p of playlists) {
    const text = await readFile(p, 'utf8');
    t.notMatch(text, /#EXT-X-ENDLIST/, `${p} was not ended`);
    const listed = playlistSegments(text).reduce((s, x) => s + x.seconds, 0);
    if (p === video) videoListed = listed;
    t.equal(await decodeErrors(p), '', 'it plays without an error');
    const played = await playedSeconds(p);
    t.ok(played >= listed - 0.1, `it plays its listed ${listed.toFixed(2)} s (${played.toFixed(2)})`);
  }
  t.same(mp4s.map((m) => m.slice(m.lastIndexOf('/') + 1)), [`${userStem(room, 'blue_user')}_1.mp4`], 'the MP4 still has its working name');
  const m = await ffprobe(mp4s[0]!);
  t.match(m.streams.map((s) => s.codec_name).sort(), ['aac', 'h264'], 'the cut-off MP4 is readable, both streams');
  t.equal(await decodeErrors(mp4s[0]!), '', 'it plays its complete fragments without an error');
  const played = await playedSeconds(mp4s[0]!);
  t.ok(played >= videoListed - 1, `it holds what the playlist lists, less at most one fragment (${played.toFixed(2)} ≥ ${videoListed.toFixed(2)} - 1)`);
  t.equal(dominant(await regionColour(mp4s[0]!, 1)), 'blue');
});

t.test('a full disk (ENOSPC), a vanished directory (ENOTDIR) or an unwritable playlist ends that task with 302 and a log line naming the path; other rooms go on', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'rec-unwritable-'));
  const dir = join(base, 'rec');
  await mkdir(dir);
  const gw = await recordingGateway(t, dir);

  // recording.dir is a regular file: the task's directory cannot be made
  await rm(dir, { recursive: true });
  await writeFile(dir, 'not a directory');
  const noDir = await createTask(gw, 'rec-nodir', 'recorder_nodir');
  await waitFor(() => rx.events(302, noDir).length > 0, 10_000, '302 of the task without a directory');
  t.match(rx.events(301, noDir)[0]?.EventInfo.Payload, { Status: 1 }, '301 Status 1: the recorder did not start');
  const noDirPath = join(dir, noDir);
  t.match(rx.events(302, noDir)[0].EventInfo.Payload, { LeaveCode: 3, Reason: new RegExp(`${noDirPath}.*not a directory`) });
  t.ok(gw.logs.some((l) => l.level >= 50 && String(l.msg).includes(noDirPath)), 'an error log line names the directory');
  await rm(dir);
  await mkdir(dir);

  const full = await createTask(gw, 'rec-full', 'recorder_full');
  const gone = await createTask(gw, 'rec-gone', 'recorder_gone');
  const stuck = await createTask(gw, 'rec-stuck', 'recorder_stuck');
  const fine = await createTask(gw, 'rec-fine', 'recorder_fine');
  // the full task's MP4 goes to /dev/full (every write: ENOSPC); the gone task's directory becomes a regular file
  const fullPath = join(dir, full, `${userStem('rec-full', 'full_user')}_1.mp4`);
  await symlink('/dev/full', fullPath);
  const gonePath = join(dir, gone);
  await rm(gonePath, { recursive: true });
  await writeFile(gonePath, 'not a directory');
  // the stuck task's segments are written, but its video playlist cannot be (its temporary name is a directory)
  const stuckPath = join(dir, stuck, `${userStem('rec-stuck', 'stuck_user')}_video.m3u8`);
  await mkdir(`${stuckPath}.tmp`);

  const viewer = weriftViewer(whepTarget(gw.httpBase, 'rec-fine', 'viewer_fine'));
  t.teardown(() => viewer.kill());
  const pushes = [
    pushColour(t, gw.pushUrl('rec-full', 'full_user'), 'red', 10),
    pushColour(t, gw.pushUrl('rec-gone', 'gone_user'), 'lime', 10),
    pushColour(t, gw.pushUrl('rec-stuck', 'stuck_user'), 'yellow', 10),
    pushColour(t, gw.pushUrl('rec-fine', 'fine_user'), 'blue', 10),
  ];
  await waitFor(() => [full, gone, stuck].every((id) => rx.events(302, id).length > 0), 15_000, '302 of the broken tasks');
  const framesAtFailure = (await viewer.waitLine((l) => l.frames > 0, 10_000)) && viewer.latest()!.frames;
  t.match(rx.events(302, full)[0].EventInfo.Payload, { LeaveCode: 3, Reason: new RegExp(`${fullPath}.*No space left on device`) });
  t.match(rx.events(302, gone)[0].EventInfo.Payload, { LeaveCode: 3, Reason: new RegExp(`${gonePath}/.*Not a directory`) });
  t.match(rx.events(302, stuck)[0].EventInfo.Payload, { LeaveCode: 3, Reason: new RegExp(`cannot write the playlist ${stuckPath}: EISDIR`) });
  for (const [what, path] of [['full', fullPath], ['gone', gonePath], ['stuck', stuckPath]]) {
    t.ok(gw.logs.some((l) => l.level >= 50 && String(l.msg).includes(path!)), `an error log line names the ${what} task's path`);
  }

  const exits = await Promise.all(pushes.map((p) => p.exited));
  t.same(exits, [0, 0, 0, 0], 'every publisher, the broken tasks\' too, ran to its end');
  t.ok(viewer.latest()!.frames > framesAtFailure + 100, `the viewer in the other room kept getting frames (${framesAtFailure} → ${viewer.latest()!.frames})`);
  t.equal(rx.events(302, fine).length, 0, 'the task in the other room is still recording');
  await gw.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: fine });
  await waitFor(() => rx.events(310, fine).length > 0, 10_000, 'the other task\'s end');
  t.match(rx.events(302, fine)[0].EventInfo.Payload, { LeaveCode: 0 });
  const { playlists, mp4s } = await filesOf(dir, fine);
  for (const p of [...playlists, ...mp4s]) {
    t.equal(await decodeErrors(p), '', `${p} plays without an error`);
    const played = await playedSeconds(p);
    t.ok(Math.abs(played - 10) <= 0.5, `it lasts the 10 s published ± 0.5 (${played.toFixed(2)})`);
  }
  t.equal((await fetch(`${gw.httpBase}/healthz`)).status, 200, 'the gateway is fine');
});

/** A tag and when to send it (ms after the start): its timestamp, unless the script makes that lie. */
interface Scripted {
  at: number;
  tag: FlvTagRecord;
}

/**
 * Sends the script's tags at their times from `t0` (Date.now() ms), as an encoder would. Stops when the gateway has
 * closed the connection (it may refuse a publisher's garbage); returns whether it is still open.
 */
async function sendPaced(pub: Awaited<ReturnType<typeof connectScripted>>, script: Scripted[], t0: number): Promise<boolean> {
  for (const { at, tag } of script) {
    await sleep(t0 + at - Date.now());
    try {
      if (tag.type === 9) pub.sendVideo(tag.timestamp, tag.body);
      else pub.sendAudio(tag.timestamp, tag.body);
    } catch {
      return false; // the socket is gone
    }
  }
  return true;
}

/** NAL units as an AVC NALU tag carries them: each behind its 4-byte length. */
function avcc(nals: Buffer[]): Buffer {
  return Buffer.concat(nals.flatMap((n) => [Buffer.from([n.length >>> 24, (n.length >>> 16) & 0xff, (n.length >>> 8) & 0xff, n.length & 0xff]), n]));
}

/** The NAL units of an AVC NALU tag (after its 5-byte header, each behind a 4-byte length). */
function nalsOf(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 5; off + 4 <= body.length; ) {
    const len = body.readUInt32BE(off);
    out.push(body.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return out;
}

/**
 * A frame made garbage past what the gateway parses (the NAL header and the start of the slice header, kept so the
 * frame is taken in and reaches the recorder): the rest of every NAL unit random bytes; every fifth frame cut short
 * to those few bytes; the keyframe flag set on every third, so garbage also lands where a segment or fragment is
 * cut. AAC frames: random bytes.
 */
function corrupt(tag: FlvTagRecord, i: number): FlvTagRecord {
  const b = tag.body;
  if (tag.type === 8) return { ...tag, body: Buffer.concat([b.subarray(0, 2), randomBytes(Math.max(1, b.length - 2))]) };
  const head = Buffer.from(b.subarray(0, 5));
  head[0] = (i % 3 === 0 ? 0x10 : 0x20) | 7;
  const nals = nalsOf(b).map((n) => (i % 5 === 0 ? n.subarray(0, 4) : Buffer.concat([n.subarray(0, 4), randomBytes(Math.max(0, n.length - 4))])));
  return { ...tag, body: Buffer.concat([head, avcc(nals)]) };
}

t.test('a publisher\'s bad frames never stop the recording of another in the same task', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rec-badframes-'));
  const gw = await recordingGateway(t, dir);
  const room = 'rec-bad';
  const taskId = await createTask(gw, room, 'recorder_bad');
  const real = await avFlv({ seconds: 14 });
  const other = await avFlv({ seconds: 1, size: '640x360', sampleRate: 48000 });
  const isHeader = (x: FlvTagRecord) => (x.type === 8 || x.type === 9) && x.body[1] === 0;
  const headers = real.tags.filter(isHeader);
  const frames = real.tags.filter((x) => !isHeader(x) && (x.type === 8 || x.type === 9));
  const at = (tag: FlvTagRecord, when = tag.timestamp): Scripted => ({ at: when, tag });
  // 0–4 s: real frames. 4–8.8 s: garbage; another encoder's configs at 5 s; timestamps that jump back 3 s (7–7.5 s)
  // and ahead 100 s (7.5–8 s); at 8.8 s a NAL length far past the end of its tag, which the gateway refuses. From
  // 9 s the same user publishes again on a new connection: real configs and frames, as an encoder reconnecting.
  const garbage = frames.filter((x) => x.timestamp >= 4000 && x.timestamp < 8800).map((x, i) => {
    const jump = x.timestamp >= 7000 && x.timestamp < 7500 ? -3000 : x.timestamp >= 7500 && x.timestamp < 8000 ? 100_000 : 0;
    return at({ ...corrupt(x, i), timestamp: x.timestamp + jump }, x.timestamp);
  });
  const otherHeaders = other.tags.filter(isHeader).map((x) => at({ ...x, timestamp: 5000 }));
  const lying = at({ type: 9, timestamp: 8800, body: Buffer.from([0x17, 1, 0, 0, 0, 0x7f, 0xff, 0xff, 0xf0, 0x65, 1, 2, 3]) });
  const phases = {
    real: [...headers.map((x) => at(x)), ...frames.filter((x) => x.timestamp < 4000).map((x) => at(x))],
    garbage: [...garbage, ...otherHeaders, lying].sort((a, b) => a.at - b.at),
    again: [...headers.map((x) => at({ ...x, timestamp: 9000 })), ...frames.filter((x) => x.timestamp >= 9000).map((x) => at(x))],
  };

  const goodPush = pushColour(t, gw.pushUrl(room, 'good_user'), 'red', 14);
  const publishBad = async () => {
    const pub = await connectScripted(gw.rtmpBase);
    t.teardown(() => pub.close());
    await pub.publish(`${room}?sdkappid=${sdkAppId}&userid=bad_user&usersig=${officialUserSig('bad_user')}`);
    return pub;
  };
  const bad = await publishBad();
  const t0 = Date.now();
  t.ok(await sendPaced(bad, phases.real, t0), 'the bad publisher\'s first 4 s are taken');
  const goodVideo = join(dir, taskId, `${userStem(room, 'good_user')}_video.m3u8`);
  const segmentsBefore = playlistSegments(await readFile(goodVideo, 'utf8').catch(() => '')).length;
  await sendPaced(bad, phases.garbage, t0);
  await sleep(t0 + 8800 - Date.now()); // in case the gateway refused something earlier than the end
  await bad.closed;
  t.match(bad.statuses.at(-1), { code: 'NetStream.Publish.Rejected', description: /NAL length/ }, 'the lying NAL length is refused');
  const segmentsAfter = playlistSegments(await readFile(goodVideo, 'utf8')).length;
  t.ok(segmentsAfter >= segmentsBefore + 2, `the good publisher's playlist grew while the other sent garbage (${segmentsBefore} → ${segmentsAfter} segments)`);
  const d = await gw.client.DescribeCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  t.equal(d.Status, 'InProgress', 'the task goes on');
  t.ok(await sendPaced(await publishBad(), phases.again, t0), 'the bad user publishes again');
  t.equal(await goodPush.exited, 0, 'the good publisher ran to its end');
  t.equal(rx.events(302, taskId).length, 0, 'the task did not end');

  await gw.client.DeleteCloudRecording({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => rx.events(302, taskId).length > 0, 10_000, '302');
  t.match(rx.events(302, taskId)[0].EventInfo.Payload, { LeaveCode: 0 }, 'ended by the API, not by the garbage');
  const stem = userStem(room, 'good_user');
  for (const name of [`${stem}_video.m3u8`, `${stem}_audio.m3u8`, `${stem}.mp4`]) {
    const path = join(dir, taskId, name);
    t.equal(await decodeErrors(path), '', `${name} plays without an error`);
    const played = await playedSeconds(path);
    t.ok(Math.abs(played - 14) <= 0.5, `it lasts the 14 s published ± 0.5 (${played.toFixed(2)})`);
  }
  t.equal(dominant(await regionColour(join(dir, taskId, `${stem}.mp4`), 10)), 'red', 'the good publisher\'s red, late in the file');
  // the bad user's own files hold what came: they are not checked for content, only that they are there
  const badFiles = (await readdir(join(dir, taskId))).filter((n) => n.includes(`_s_${b64('bad_user')}_`));
  t.ok(badFiles.some((n) => n.endsWith('.m3u8')) && badFiles.some((n) => n.endsWith('.mp4')), 'the bad user was recorded too');
  t.equal((await fetch(`${gw.httpBase}/healthz`)).status, 200, 'the gateway is fine');
});
