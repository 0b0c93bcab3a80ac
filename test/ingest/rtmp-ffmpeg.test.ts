// RTMP push with Debian's ffmpeg and GStreamer against a real gateway: accepted streams appear in the status API,
// refusals reach the client with a reason it prints.

import t from 'tap';
import { startTestGateway, officialUserSig, expiredOfficialUserSig, waitFor, TEST_APP, OTHER_APP } from '../helpers/gateway.js';
import { ffmpegPush, run } from '../helpers/clients.js';

const g = await startTestGateway();
t.teardown(() => g.close());
const { sdkAppId } = TEST_APP;

async function roomUsers(room: string): Promise<any[]> {
  const r = await g.getJson(`/api/rooms/${sdkAppId}/${room}`);
  return r.status === 200 ? r.body.users : [];
}

t.test('baseline H.264 + AAC is accepted and visible in the status API', async (t) => {
  const pub = ffmpegPush(g.pushUrl('room-baseline', 'alice'), { seconds: 20, realtime: true, size: '640x360' });
  t.teardown(() => pub.stop());
  const users = await waitFor(async () => {
    const u = await roomUsers('room-baseline');
    return u.length === 1 && u[0].video && u[0].audio && u[0].frames.video > 10 ? u : null;
  }, 15000, 'alice with video and audio');
  const alice = users[0];
  t.equal(alice.userId, 'alice');
  t.equal(alice.source, 'rtmp');
  t.same(
    { codec: alice.video.codec, profile: alice.video.profile, width: alice.video.width, height: alice.video.height },
    { codec: 'H264', profile: 'Constrained Baseline', width: 640, height: 360 },
  );
  t.equal(alice.video.fps, 30);
  t.same(alice.audio, { codec: 'AAC', sampleRate: 44100, channels: 1 });
  t.ok(Date.parse(alice.since) <= Date.now());
  const list = await g.getJson('/api/rooms');
  t.ok(list.body.rooms.some((r: any) => r.roomId === 'room-baseline' && r.sdkAppId === sdkAppId && r.users === 1));
  pub.stop();
  await pub.exited;
  await waitFor(async () => (await g.getJson(`/api/rooms/${sdkAppId}/room-baseline`)).status === 404, 5000, 'room gone');
  const gone = await g.getJson(`/api/rooms/${sdkAppId}/room-baseline`);
  t.match(gone.body.error, /does not exist/);
});

t.test('High profile without B-frames is accepted', async (t) => {
  const pub = ffmpegPush(g.pushUrl('room-high', 'bob'), { seconds: 4, video: 'high-bf0', realtime: true });
  const users = await waitFor(async () => {
    const u = await roomUsers('room-high');
    return u[0]?.video && u[0].frames.video > 10 ? u : null;
  }, 15000, 'bob in room-high');
  t.equal(users[0].video.profile, 'High');
  t.equal(await pub.exited, 0, 'ffmpeg finished the push normally');
});

t.test('High profile with B-frames is refused with a reason ffmpeg prints', async (t) => {
  const pub = ffmpegPush(g.pushUrl('room-bframes', 'carol'), { seconds: 5, video: 'high-bf2' });
  const code = await pub.exited;
  t.not(code, 0);
  t.match(pub.output(), /B-frames are not supported: in OBS set Output → Advanced → x264 options bframes=0, or Profile baseline; in ffmpeg use -bf 0 or -profile:v baseline$/m);
  t.same(await roomUsers('room-bframes'), [], 'the refused user left the room');
});

t.test('audio-only publishers are accepted', async (t) => {
  const pub = ffmpegPush(g.pushUrl('room-audio', 'dave'), { seconds: 15, video: 'none', realtime: true });
  t.teardown(() => pub.stop());
  const users = await waitFor(async () => {
    const u = await roomUsers('room-audio');
    return u[0]?.audio && u[0].frames.audio > 5 ? u : null;
  }, 15000, 'dave with audio');
  t.equal(users[0].video, null);
  t.equal(users[0].audio.codec, 'AAC');
});

const refusals: [string, () => string, RegExp][] = [
  [
    'a tampered UserSig',
    () => g.pushUrl('room-auth', 'erin', { sig: officialUserSig('erin').replace(/^(.{20})./, (_m, p) => p + (p.endsWith('A') ? 'B' : 'A')) }),
    /usersig (is malformed|signature does not match)/,
  ],
  [
    'an expired UserSig',
    () => g.pushUrl('room-auth', 'erin', { sig: expiredOfficialUserSig('erin').sig }),
    /usersig expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/,
  ],
  ['a UserSig for another user', () => g.pushUrl('room-auth', 'erin', { sig: officialUserSig('bob') }), /usersig was signed for user 'bob', not 'erin'/],
  [
    'a UserSig of another app',
    () => g.pushUrl('room-auth', 'erin', { sig: officialUserSig('erin', 3600, OTHER_APP) }),
    /usersig (was signed for sdkappid 1400000002, not 1400000001)/,
  ],
  ['an unknown sdkappid', () => g.pushUrl('room-auth', 'erin', { sdkAppId: 1400000999 }), /unknown sdkappid 1400000999/],
  [
    'a room id with a space',
    () => `${g.rtmpBase}/push/a%20b?sdkappid=${sdkAppId}&userid=erin&usersig=${officialUserSig('erin')}`,
    /room id 'a b' has a character other than A-Z a-z 0-9 _ -/,
  ],
  ['a missing usersig', () => `${g.rtmpBase}/push/room-auth?sdkappid=${sdkAppId}&userid=erin`, /missing usersig/],
  ['a wrong application', () => `${g.rtmpBase}/live/room-auth?sdkappid=${sdkAppId}&userid=erin&usersig=x`, /unknown application 'live'/],
];
for (const [name, url, reason] of refusals) {
  t.test(`refused: ${name}, with the reason in ffmpeg's output`, async (t) => {
    const pub = ffmpegPush(url(), { seconds: 3 });
    t.not(await pub.exited, 0);
    t.match(pub.output(), reason);
    t.same(await roomUsers('room-auth'), []);
  });
}

t.test('a second publisher with the same userid kicks the first', async (t) => {
  const first = ffmpegPush(g.pushUrl('room-kick', 'frank'), { seconds: 30, realtime: true });
  t.teardown(() => first.stop());
  await waitFor(async () => (await roomUsers('room-kick'))[0]?.frames?.video > 5, 15000, 'first publisher');
  const second = ffmpegPush(g.pushUrl('room-kick-2', 'frank'), { seconds: 30, realtime: true });
  t.teardown(() => second.stop());
  const firstCode = await first.exited;
  t.not(firstCode, 0, 'the first ffmpeg stopped');
  t.match(first.output(), /kicked: the same userid published again from 127\.0\.0\.1/);
  const users = await waitFor(async () => {
    const u = await roomUsers('room-kick-2');
    return u[0]?.frames?.video > 5 ? u : null;
  }, 15000, 'second publisher in its room');
  t.equal(users[0].userId, 'frank');
  t.same(await roomUsers('room-kick'), [], 'the first room is empty');
});

t.test('GStreamer rtmp2sink is accepted', async (t) => {
  const url = g.pushUrl('room-gst', 'gina');
  const pub = run('gst-launch-1.0', [
    '-q', 'videotestsrc', 'is-live=true', 'num-buffers=150', '!', 'video/x-raw,width=320,height=240,framerate=30/1',
    '!', 'x264enc', 'tune=zerolatency', 'key-int-max=30', '!', 'h264parse', '!', 'flvmux', 'streamable=true', 'name=mux',
    '!', 'rtmp2sink', `location=${url}`,
    'audiotestsrc', 'is-live=true', 'num-buffers=250', '!', 'audioconvert', '!', 'voaacenc', '!', 'mux.',
  ]);
  t.teardown(() => pub.stop());
  const users = await waitFor(async () => {
    const u = await roomUsers('room-gst');
    return u[0]?.video && u[0].frames.video > 5 ? u : null;
  }, 20000, 'gina');
  t.equal(users[0].video.width, 320);
  t.equal(users[0].video.height, 240);
});
