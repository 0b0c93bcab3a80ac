// The room and user queries through the official tencentcloud-sdk-nodejs: DescribeRoomInfo, DescribeUserInfo,
// DescribeUserEvent, DescribeCallDetailInfo and DescribeScaleInfo.
//
// Two past days are scripted into the gateway's store file through the history's own write interface (events at
// controlled times: rooms with two lives, a session across midnight, media samples with a change of picture size and
// measured loss), and the answers must be exactly what the script says. Then real clients make a live room (an ffmpeg
// RTMP publisher and an aiortc WHIP publisher), and the answers must agree exactly with the room's callbacks (Sign
// checked). Every answer is the same after the gateway restarts on the same file. A gateway with a 2-day window prunes
// the file when it starts. Paging, range and parameter errors come back with the reference's codes.

import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../../src/paths.js';
import { SqliteFile } from '../../src/store/sqlite.js';
import { SqliteHistory } from '../../src/store/sqlite-history.js';
import type { HistoryEntry, MediaSample } from '../../src/store/history.js';
import { officialUserSig, startTestGateway, waitFor, OTHER_APP, TEST_APP, type TestGateway } from '../helpers/gateway.js';
import { apiError, trtcClient, TEST_CREDENTIAL, type TrtcClient } from '../helpers/api3.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { ffmpegPush, run } from '../helpers/clients.js';

const CALLBACK_KEY = 'roomQueryCallbackKey7';
const app = TEST_APP.sdkAppId;
const DAY = 86_400_000;
const today = Math.floor(Date.now() / DAY) * DAY;
const D1 = today - 2 * DAY;
const D2 = today - DAY;
const at = (day: number, h: number, m: number, s = 0, ms = 0) => day + ((h * 60 + m) * 60 + s) * 1000 + ms;
const sec = (ms: number) => Math.floor(ms / 1000);

// ---- the scripted days
const LIFE1 = at(D1, 9, 0, 0, 250);
const LIFE2 = at(D1, 14, 0);
const NIGHT = at(D1, 23, 30);
const base = (roomId: string, when: number, numericRoom = false) => ({ sdkAppId: app, roomId, numericRoom, at: when });
const enter = (roomId: string, when: number, userId: string, source: string, address: string, role: 'anchor' | 'audience' = 'anchor'): HistoryEntry =>
  ({ ...base(roomId, when), kind: 'user-entered', userId, role, source, address });
const exit = (roomId: string, when: number, userId: string, reason: 'normal' | 'timeout' | 'kicked'): HistoryEntry =>
  ({ ...base(roomId, when), kind: 'user-exited', userId, reason });
const track = (roomId: string, when: number, userId: string, kind: 'video' | 'audio', on: boolean): HistoryEntry =>
  ({ ...base(roomId, when), kind: 'track', userId, track: kind, on });
const sample = (userId: string, when: number, w: number, h: number, vLoss: number | null, audio: [string, number, number | null]): MediaSample => ({
  ...base('day-room', when), userId,
  video: { codec: 'H264', width: w, height: h, fps: 25, bitrate: w * 1000, loss: vLoss },
  audio: { codec: audio[0], bitrate: audio[1], loss: audio[2] },
});
const SCRIPT: (HistoryEntry | MediaSample)[] = [
  { ...base('day-room', LIFE1), kind: 'room-created', userId: 'alice' },
  enter('day-room', LIFE1, 'alice', 'rtmp', '10.0.0.1'),
  track('day-room', at(D1, 9, 0, 1), 'alice', 'video', true),
  track('day-room', at(D1, 9, 0, 1, 100), 'alice', 'audio', true),
  sample('alice', at(D1, 9, 0, 5), 640, 360, null, ['AAC', 64000, null]),
  sample('alice', at(D1, 9, 0, 10), 640, 360, null, ['AAC', 64000, null]),
  sample('alice', at(D1, 9, 0, 15), 1280, 720, null, ['AAC', 64000, null]),
  enter('day-room', at(D1, 9, 5), 'bob', 'whip', '10.0.0.2'),
  track('day-room', at(D1, 9, 5, 2), 'bob', 'video', true),
  sample('bob', at(D1, 9, 5, 5), 640, 480, 0.015, ['Opus', 32000, 0.02]),
  track('day-room', at(D1, 9, 30), 'bob', 'video', false),
  exit('day-room', at(D1, 10, 0), 'alice', 'normal'),
  exit('day-room', at(D1, 10, 10, 0, 500), 'bob', 'kicked'),
  { ...base('day-room', at(D1, 10, 10, 0, 500)), kind: 'room-dismissed' },
  { ...base('day-room', LIFE2), kind: 'room-created', userId: 'carol' },
  enter('day-room', LIFE2, 'carol', 'pull', ''),
  exit('day-room', at(D1, 14, 30), 'carol', 'timeout'),
  { ...base('day-room', at(D1, 14, 30)), kind: 'room-dismissed' },
  { ...base('night-room', NIGHT), kind: 'room-created', userId: 'dave' },
  enter('night-room', NIGHT, 'dave', 'whep', '10.0.0.4', 'audience'),
  exit('night-room', at(D2, 0, 30), 'dave', 'normal'),
  { ...base('night-room', at(D2, 0, 30)), kind: 'room-dismissed' },
  { ...base('other-1', at(D2, 12, 0)), kind: 'room-created', userId: 'erin' },
  enter('other-1', at(D2, 12, 0), 'erin', 'rtmp', '10.0.0.5'),
  exit('other-1', at(D2, 12, 1), 'erin', 'normal'),
  { ...base('other-1', at(D2, 12, 1)), kind: 'room-dismissed' },
  { ...base('other-2', at(D2, 12, 0, 30)), kind: 'room-created', userId: 'frank' },
  enter('other-2', at(D2, 12, 0, 30), 'frank', 'rtmp', '10.0.0.6'),
  exit('other-2', at(D2, 12, 2), 'frank', 'normal'),
  { ...base('other-2', at(D2, 12, 2)), kind: 'room-dismissed' },
];

async function writeScript(file: string, entries: (HistoryEntry | MediaSample)[]): Promise<void> {
  const f = SqliteFile.open(file);
  const h = new SqliteHistory(f);
  for (const e of entries) await ('kind' in e ? h.write(e) : h.sample(e));
  f.close();
}

const storeFile = join(mkdtempSync(join(tmpdir(), 'rg-query-')), 'roomgate.db');
await writeScript(storeFile, SCRIPT);

const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());
let g: TestGateway;
let client: TrtcClient;
async function startGateway(): Promise<void> {
  g = await startTestGateway({
    apps: [{ ...TEST_APP, callbackUrl: rx.url, callbackKey: CALLBACK_KEY }, OTHER_APP],
    api: { credentials: [TEST_CREDENTIAL], requestsPerSecond: 1000 },
    store: { file: storeFile },
    history: { sampleSeconds: 1 },
  });
  client = trtcClient(`127.0.0.1:${g.gw.http.port}`);
}
await startGateway();
t.teardown(() => g.close());

const strip = <T extends { RequestId?: string }>(r: T): Omit<T, 'RequestId'> => {
  const { RequestId: _, ...rest } = r;
  return rest;
};
const commId = (room: string, createdMs: number) => `${app}_${room}_${sec(createdMs)}`;
const dayRange = (day: number) => ({ StartTime: sec(day), EndTime: sec(day) + 86_399 });
const user = (room: string, userId: string, join: number, leave: number, device: string, ip: string) =>
  ({ RoomStr: room, UserId: userId, JoinTs: sec(join), LeaveTs: sec(leave), DeviceType: device, SdkVersion: '', ClientIp: ip, Finished: true });

/** Every query of the scripted days, so the same can be asked again after a restart. */
const scriptedQueries = {
  roomsD1: () => client.DescribeRoomInfo({ SdkAppId: app, ...dayRange(D1) }),
  roomsD2: () => client.DescribeRoomInfo({ SdkAppId: app, ...dayRange(D2) }),
  dayRoomOnly: () => client.DescribeRoomInfo({ SdkAppId: app, ...dayRange(D1), RoomId: 'day-room' }),
  page1of2: () => client.DescribeRoomInfo({ SdkAppId: app, ...dayRange(D1), PageNumber: 1, PageSize: 2 }),
  users: () => client.DescribeUserInfo({ SdkAppId: app, CommId: commId('day-room', LIFE1), StartTime: sec(at(D1, 9, 0)), EndTime: sec(at(D1, 12, 0)) }),
  aliceEvents: () => client.DescribeUserEvent({
    SdkAppId: app, CommId: commId('day-room', LIFE1), RoomId: 'day-room', UserId: 'alice', StartTime: sec(at(D1, 9, 0)), EndTime: sec(at(D1, 23, 0)),
  }),
  quality: () => client.DescribeCallDetailInfo({
    SdkAppId: app, CommId: commId('day-room', LIFE1), StartTime: sec(at(D1, 9, 0)), EndTime: sec(at(D1, 9, 59, 59)),
    DataType: ['bigvWidth', 'bigvHeight', 'bigvLoss', 'aLoss', 'aBit'],
  }),
  scale: () => client.DescribeScaleInfo({ SdkAppId: app, StartTime: sec(D1), EndTime: sec(Date.now()) }),
};

t.test('the scripted days, answered exactly', async (t) => {
  const rooms = await scriptedQueries.roomsD1();
  t.same(strip(rooms), {
    Total: 3,
    RoomList: [
      { CommId: commId('day-room', LIFE1), RoomString: 'day-room', CreateTime: sec(LIFE1), DestroyTime: sec(at(D1, 10, 10)), IsFinished: true, UserId: 'alice' },
      { CommId: commId('day-room', LIFE2), RoomString: 'day-room', CreateTime: sec(LIFE2), DestroyTime: sec(at(D1, 14, 30)), IsFinished: true, UserId: 'carol' },
      { CommId: commId('night-room', NIGHT), RoomString: 'night-room', CreateTime: sec(NIGHT), DestroyTime: sec(at(D2, 0, 30)), IsFinished: true, UserId: 'dave' },
    ],
  }, 'DescribeRoomInfo: the two lives of day-room are two calls; the night room is on the first day');
  t.same((await scriptedQueries.roomsD2()).RoomList!.map((r) => r.RoomString), ['night-room', 'other-1', 'other-2'], 'the next day: the room across midnight too');
  t.same((await scriptedQueries.dayRoomOnly()).RoomList!.map((r) => r.CommId), [commId('day-room', LIFE1), commId('day-room', LIFE2)], 'RoomId narrows to one room');
  const page = await scriptedQueries.page1of2();
  t.same([page.Total, page.RoomList!.map((r) => r.RoomString)], [3, ['night-room']], 'PageNumber 1 of PageSize 2: the third; Total counts every page');
  const one = await client.DescribeRoomInfo({ SdkAppId: app, ...dayRange(D1), PageSize: 1 });
  t.same([one.Total, one.RoomList!.length], [3, 3], 'PageSize without PageNumber: the default page (10 rows), as TRTC documents');

  t.same(strip(await scriptedQueries.users()), {
    Total: 2,
    UserList: [
      user('day-room', 'alice', LIFE1, at(D1, 10, 0), 'rtmp', '10.0.0.1'),
      user('day-room', 'bob', at(D1, 9, 5), at(D1, 10, 10, 0, 500), 'whip', '10.0.0.2'),
    ],
  }, 'DescribeUserInfo: each session with its source and address');
  const bobOnly = await client.DescribeUserInfo({ SdkAppId: app, CommId: commId('day-room', LIFE1), StartTime: sec(at(D1, 9, 0)), EndTime: sec(at(D1, 12, 0)), UserIds: ['bob'] });
  t.same(bobOnly.UserList!.map((u) => u.UserId), ['bob'], 'UserIds narrows');
  const second = await client.DescribeUserInfo({ SdkAppId: app, CommId: commId('day-room', LIFE1), StartTime: sec(at(D1, 9, 0)), EndTime: sec(at(D1, 12, 0)), PageNumber: 1, PageSize: 1 });
  t.same([second.Total, second.UserList!.map((u) => u.UserId)], [2, ['bob']], 'paged');
  const pull = await client.DescribeUserInfo({ SdkAppId: app, CommId: commId('day-room', LIFE2), StartTime: sec(LIFE2), EndTime: sec(LIFE2) + 3600 });
  t.same(pull.UserList, [user('day-room', 'carol', LIFE2, at(D1, 14, 30), 'pull', '')], 'a pull task has no client address');
  const late = await client.DescribeUserInfo({ SdkAppId: app, CommId: commId('day-room', LIFE1), StartTime: sec(at(D1, 10, 5)), EndTime: sec(at(D1, 11, 0)) });
  t.same(late.UserList!.map((u) => u.UserId), ['bob'], 'only sessions that overlap the range');

  t.same(strip(await scriptedQueries.aliceEvents()), {
    Data: [{
      PeerId: 'alice',
      Content: [
        { Type: 0, Time: LIFE1, EventId: 7000, ParamOne: 0, ParamTwo: -1 },
        { Type: 2, Time: at(D1, 9, 0, 1), EventId: 4006, ParamOne: 0, ParamTwo: -1 },
        { Type: 0, Time: at(D1, 9, 0, 1, 100), EventId: 3001, ParamOne: 0, ParamTwo: -1 },
        { Type: 2, Time: at(D1, 9, 0, 15), EventId: 4007, ParamOne: 1280, ParamTwo: 720 },
        { Type: 0, Time: at(D1, 10, 0), EventId: 7001, ParamOne: 0, ParamTwo: -1 },
      ],
    }],
  }, 'DescribeUserEvent: entry, video and audio on, a new picture size, a normal exit (ms times)');
  const bob = await client.DescribeUserEvent({
    SdkAppId: app, CommId: commId('day-room', LIFE1), RoomId: 'day-room', UserId: 'bob', StartTime: sec(at(D1, 9, 20)), EndTime: sec(at(D1, 23, 0)),
  });
  t.same(bob.Data, [{
    PeerId: 'bob',
    Content: [
      { Type: 2, Time: at(D1, 9, 30), EventId: 4006, ParamOne: 1, ParamTwo: -1 },
      { Type: 0, Time: at(D1, 10, 10, 0, 500), EventId: 7001, ParamOne: 2, ParamTwo: -1 },
    ],
  }], 'from StartTime on: video off, kicked out');
  const nobody = await client.DescribeUserEvent({
    SdkAppId: app, CommId: commId('day-room', LIFE2), RoomId: 'day-room', UserId: 'alice', StartTime: sec(LIFE2), EndTime: sec(LIFE2) + 60,
  });
  t.same(nobody.Data, [], 'a user not in that call: an empty list');

  t.same(strip(await scriptedQueries.quality()), {
    Total: 2,
    UserList: [
      user('day-room', 'alice', LIFE1, at(D1, 10, 0), 'rtmp', '10.0.0.1'),
      user('day-room', 'bob', at(D1, 9, 5), at(D1, 10, 10, 0, 500), 'whip', '10.0.0.2'),
    ],
    Data: [
      { UserId: 'alice', PeerId: '', DataType: 'bigvWidth', Content: [[5, 640], [10, 640], [15, 1280]].map(([s, v]) => ({ Time: sec(at(D1, 9, 0, s!)), Value: v })) },
      { UserId: 'alice', PeerId: '', DataType: 'bigvHeight', Content: [[5, 360], [10, 360], [15, 720]].map(([s, v]) => ({ Time: sec(at(D1, 9, 0, s!)), Value: v })) },
      { UserId: 'alice', PeerId: '', DataType: 'aBit', Content: [5, 10, 15].map((s) => ({ Time: sec(at(D1, 9, 0, s)), Value: 64000 })) },
      { UserId: 'bob', PeerId: '', DataType: 'bigvWidth', Content: [{ Time: sec(at(D1, 9, 5, 5)), Value: 640 }] },
      { UserId: 'bob', PeerId: '', DataType: 'bigvHeight', Content: [{ Time: sec(at(D1, 9, 5, 5)), Value: 480 }] },
      { UserId: 'bob', PeerId: '', DataType: 'bigvLoss', Content: [{ Time: sec(at(D1, 9, 5, 5)), Value: 1.5 }] },
      { UserId: 'bob', PeerId: '', DataType: 'aLoss', Content: [{ Time: sec(at(D1, 9, 5, 5)), Value: 2 }] },
      { UserId: 'bob', PeerId: '', DataType: 'aBit', Content: [{ Time: sec(at(D1, 9, 5, 5)), Value: 32000 }] },
    ],
  }, 'DescribeCallDetailInfo: measured series only (no loss for an RTMP publisher), loss in percent');
  const listOnly = await client.DescribeCallDetailInfo({ SdkAppId: app, CommId: commId('day-room', LIFE1), StartTime: sec(at(D1, 9, 0)), EndTime: sec(at(D1, 12, 0)) });
  t.same([listOnly.Total, listOnly.Data], [2, undefined], 'without DataType: the user list only');
  const all = await client.DescribeCallDetailInfo({
    SdkAppId: app, CommId: commId('day-room', LIFE1), StartTime: sec(at(D1, 9, 0)), EndTime: sec(at(D1, 9, 59)), DataType: ['all'], UserIds: ['bob'],
  });
  t.same(all.Data!.map((d) => d.DataType), ['aBit', 'bigvBit', 'bigvWidth', 'bigvHeight', 'bigvRecFps', 'aLoss', 'bigvLoss'], '"all": every measured DataType');

  t.same(strip(await scriptedQueries.scale()), {
    Total: 2,
    ScaleList: [
      { Time: sec(D1), UserNumber: 4, UserCount: 4, RoomNumbers: 2 },
      { Time: sec(D2), UserNumber: 3, UserCount: 3, RoomNumbers: 3 },
    ],
  }, 'DescribeScaleInfo: whole days that ended (not today)');
  const todayOnly = await client.DescribeScaleInfo({ SdkAppId: app, StartTime: sec(today), EndTime: sec(Date.now()) });
  t.same([todayOnly.Total, todayOnly.ScaleList], [0, []], 'today is not over: nothing yet');
});

const live: Record<string, unknown> = {};

t.test('a live room: an ffmpeg RTMP publisher and an aiortc WHIP publisher, as the callbacks tell it', async (t) => {
  const room = 'live-room';
  const inRoom = (type: number) => rx.events(type).filter((e) => e.EventInfo.RoomId === room);
  const ffmpeg = ffmpegPush(g.pushUrl(room, 'rtmp_user'), { seconds: 8, realtime: true, size: '320x240' });
  t.teardown(() => ffmpeg.kill());
  await waitFor(() => inRoom(103).length === 1, 20000, 'rtmp_user entered');
  const whip = run('/usr/bin/python3', [
    repoPath('test/helpers/aiortc_whip_publisher.py'), '--url', `${g.httpBase}/v2/pub/${app}/${room}?SessionID=whip_user`,
    '--token', officialUserSig('whip_user'), '--seconds', '5',
  ], 60000);
  t.teardown(() => whip.kill());
  await waitFor(() => inRoom(102).length === 1, 60000, 'the live room dismissed');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a valid Sign');

  const created = inRoom(101)[0].EventInfo;
  const dismissed = inRoom(102)[0].EventInfo;
  const rooms = await client.DescribeRoomInfo({ SdkAppId: app, StartTime: sec(created.EventMsTs), EndTime: sec(dismissed.EventMsTs), RoomId: room });
  const cid = commId(room, created.EventMsTs);
  t.same(rooms.RoomList, [{ CommId: cid, RoomString: room, CreateTime: sec(created.EventMsTs), DestroyTime: sec(dismissed.EventMsTs), IsFinished: true, UserId: 'rtmp_user' }],
    'the room as 101 and 102 tell it');

  const entered = (u: string) => inRoom(103).find((e) => e.EventInfo.UserId === u).EventInfo.EventMsTs as number;
  const left = (u: string) => inRoom(104).find((e) => e.EventInfo.UserId === u).EventInfo.EventMsTs as number;
  const range = { StartTime: sec(created.EventMsTs), EndTime: sec(dismissed.EventMsTs) };
  const users = await client.DescribeUserInfo({ SdkAppId: app, CommId: cid, ...range });
  t.same(users.UserList, [
    user(room, 'rtmp_user', entered('rtmp_user'), left('rtmp_user'), 'rtmp', '127.0.0.1'),
    user(room, 'whip_user', entered('whip_user'), left('whip_user'), 'whip', '127.0.0.1'),
  ], 'each user as 103 and 104 tell it, with source and client address');

  const asEvent: Record<number, (i: any) => object> = {
    103: () => ({ Type: 0, EventId: 7000, ParamOne: 0, ParamTwo: -1 }),
    104: (i) => ({ Type: 0, EventId: 7001, ParamOne: ({ 1: 0, 2: 1, 3: 2 } as Record<number, number>)[i.Reason]!, ParamTwo: -1 }),
    201: () => ({ Type: 2, EventId: 4006, ParamOne: 0, ParamTwo: -1 }),
    202: () => ({ Type: 2, EventId: 4006, ParamOne: 1, ParamTwo: -1 }),
    203: () => ({ Type: 0, EventId: 3001, ParamOne: 0, ParamTwo: -1 }),
    204: () => ({ Type: 0, EventId: 3001, ParamOne: 2, ParamTwo: -1 }),
  };
  const byTime = (a: any, b: any) => a.Time - b.Time || a.EventId - b.EventId || a.ParamOne - b.ParamOne;
  for (const u of ['rtmp_user', 'whip_user']) {
    const fromCallbacks = rx.received
      .map((r) => r.body)
      .filter((b) => b.EventInfo?.RoomId === room && b.EventInfo.UserId === u && asEvent[b.EventType])
      .map((b) => ({ ...asEvent[b.EventType]!(b.EventInfo), Time: b.EventInfo.EventMsTs }))
      .sort(byTime);
    const events = await client.DescribeUserEvent({ SdkAppId: app, CommId: cid, RoomId: room, UserId: u, ...range });
    t.same(events.Data!.map((d) => d.PeerId), [u]);
    t.same([...events.Data![0]!.Content!].sort(byTime), fromCallbacks, `${u}: the events of its callbacks (${fromCallbacks.map((e: any) => e.EventId).join(', ')}), to the ms`);
  }

  const quality = await client.DescribeCallDetailInfo({ SdkAppId: app, CommId: cid, ...range, DataType: ['all'] });
  const series = (u: string, type: string) => quality.Data!.find((d) => d.UserId === u && d.DataType === type)?.Content?.map((c) => c.Value ?? NaN);
  for (const u of ['rtmp_user', 'whip_user']) {
    const widths = series(u, 'bigvWidth') ?? [];
    t.ok(widths.length >= 2, `${u}: sampled while publishing (${widths.length} samples)`);
    t.same([...new Set(widths)], [320], `${u}: bigvWidth 320 throughout`);
    t.same([...new Set(series(u, 'bigvHeight'))], [240], `${u}: bigvHeight 240 throughout`);
    t.ok(series(u, 'bigvBit')!.some((v) => v > 0) && series(u, 'aBit')!.some((v) => v > 0), `${u}: video and audio bitrates measured`);
    t.ok(series(u, 'bigvRecFps')!.some((v) => v > 0), `${u}: frames arrived`);
  }
  t.equal(series('rtmp_user', 'bigvLoss'), undefined, 'no loss series for RTMP (TCP: nothing measures it)');
  t.ok(series('whip_user', 'bigvLoss')!.every((v) => v >= 0 && v <= 100), `WHIP video loss measured from RTP (${series('whip_user', 'bigvLoss')!.join(', ')} %)`);

  Object.assign(live, {
    rooms: () => client.DescribeRoomInfo({ SdkAppId: app, StartTime: range.StartTime, EndTime: range.EndTime, RoomId: room }),
    users: () => client.DescribeUserInfo({ SdkAppId: app, CommId: cid, ...range }),
    events: () => client.DescribeUserEvent({ SdkAppId: app, CommId: cid, RoomId: room, UserId: 'whip_user', ...range }),
    quality: () => client.DescribeCallDetailInfo({ SdkAppId: app, CommId: cid, ...range, DataType: ['all'] }),
  });
});

t.test('after a restart on the same file every answer is the same', async (t) => {
  const queries = { ...scriptedQueries, ...(live as Record<string, () => Promise<{ RequestId?: string }>>) };
  const before: Record<string, unknown> = {};
  for (const [name, q] of Object.entries(queries)) before[name] = strip(await q());
  await g.close();
  await startGateway();
  for (const [name, q] of Object.entries(queries)) t.same(strip(await q()), before[name], name);
});

t.test('a gateway with a 2-day window prunes its file when it starts', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'rg-query-')), 'roomgate.db');
  const old = at(today - 3 * DAY, 12, 0);
  const recent = at(D2, 12, 0);
  await writeScript(file, [
    { ...base('old-room', old), kind: 'room-created', userId: 'u' }, enter('old-room', old, 'u', 'rtmp', ''), exit('old-room', old + 1000, 'u', 'normal'),
    { ...base('old-room', old + 1000), kind: 'room-dismissed' },
    { ...base('new-room', recent), kind: 'room-created', userId: 'u' }, enter('new-room', recent, 'u', 'rtmp', ''), exit('new-room', recent + 1000, 'u', 'normal'),
    { ...base('new-room', recent + 1000), kind: 'room-dismissed' },
  ]);
  const short = await startTestGateway({ api: { credentials: [TEST_CREDENTIAL], requestsPerSecond: 1000 }, store: { file }, history: { retentionDays: 2 } });
  const c = trtcClient(`127.0.0.1:${short.gw.http.port}`);
  const e = await apiError(c.DescribeRoomInfo({ SdkAppId: app, StartTime: sec(old) - 60, EndTime: sec(old) + 60 }));
  t.equal(e.code, 'InvalidParameter.StartTsOversize');
  t.match(e.message, /keeps 2 days of history \(history\.retentionDays\)/);
  t.same((await c.DescribeRoomInfo({ SdkAppId: app, ...dayRange(D2) })).RoomList!.map((r) => r.RoomString), ['new-room'], 'the recent room is kept');
  await short.close();
  const f = SqliteFile.open(file);
  const rooms = await new SqliteHistory(f).rooms({ sdkAppId: app, from: 0, to: Date.now(), offset: 0, limit: 10 });
  f.close();
  t.same(rooms.items.map((r) => r.roomId), ['new-room'], 'the room that ended before the window is gone from the file');
});

t.test('paging, range and parameter errors', async (t) => {
  const cid = commId('day-room', LIFE1);
  const d1 = dayRange(D1);
  const hour = { StartTime: sec(at(D1, 9, 0)), EndTime: sec(at(D1, 10, 0)) };
  const old = sec(Date.now()) - 15 * 86_400;
  const ev = { SdkAppId: app, CommId: cid, RoomId: 'day-room', UserId: 'alice', ...hour };
  const cases: [string, () => Promise<unknown>, string, RegExp?][] = [
    ['RoomInfo: no SdkAppId', () => client.DescribeRoomInfo({ ...d1 } as any), 'MissingParameter.SdkAppId'],
    ['RoomInfo: unknown app', () => client.DescribeRoomInfo({ SdkAppId: 1234, ...d1 }), 'InvalidParameter.SdkAppId', /not an application/],
    ['RoomInfo: no StartTime', () => client.DescribeRoomInfo({ SdkAppId: app, EndTime: d1.EndTime } as any), 'MissingParameter.StartTs'],
    ['RoomInfo: no EndTime', () => client.DescribeRoomInfo({ SdkAppId: app, StartTime: d1.StartTime } as any), 'MissingParameter.EndTs'],
    ['RoomInfo: StartTime a string', () => client.DescribeRoomInfo({ SdkAppId: app, ...d1, StartTime: 'yesterday' as any }), 'InvalidParameter.StartTs'],
    ['RoomInfo: milliseconds', () => client.DescribeRoomInfo({ SdkAppId: app, StartTime: D1, EndTime: D1 + 1000 }), 'InvalidParameter.StartTs', /looks like milliseconds/],
    ['RoomInfo: EndTime before StartTime', () => client.DescribeRoomInfo({ SdkAppId: app, StartTime: d1.EndTime, EndTime: d1.StartTime }), 'InvalidParameter.EndTs'],
    ['RoomInfo: 25 hours', () => client.DescribeRoomInfo({ SdkAppId: app, StartTime: d1.StartTime, EndTime: d1.StartTime + 25 * 3600 }), 'InvalidParameter.QueryScaleOversize', /at most 24 hours/],
    ['RoomInfo: 15 days ago', () => client.DescribeRoomInfo({ SdkAppId: app, StartTime: old, EndTime: old + 60 }), 'InvalidParameter.StartTsOversize', /14 days/],
    ['RoomInfo: PageSize 101', () => client.DescribeRoomInfo({ SdkAppId: app, ...d1, PageNumber: 0, PageSize: 101 }), 'InvalidParameter.PageSizeOversize'],
    ['RoomInfo: PageSize 0', () => client.DescribeRoomInfo({ SdkAppId: app, ...d1, PageNumber: 0, PageSize: 0 }), 'InvalidParameter.PageSize'],
    ['RoomInfo: PageNumber -1', () => client.DescribeRoomInfo({ SdkAppId: app, ...d1, PageNumber: -1, PageSize: 10 }), 'InvalidParameter.PageNumber'],
    ['RoomInfo: bad RoomId', () => client.DescribeRoomInfo({ SdkAppId: app, ...d1, RoomId: 'a room!' }), 'InvalidParameter.BodyParamsError', /character other than/],
    ['UserInfo: no CommId', () => client.DescribeUserInfo({ SdkAppId: app, ...hour } as any), 'MissingParameter.CommId'],
    ['UserInfo: not a CommId', () => client.DescribeUserInfo({ SdkAppId: app, CommId: 'garbage', ...hour }), 'InvalidParameter', /not a CommId/],
    ['UserInfo: another app\'s CommId', () => client.DescribeUserInfo({ SdkAppId: app, CommId: `${OTHER_APP.sdkAppId}_day-room_${sec(LIFE1)}`, ...hour }), 'InvalidParameter', /SdkAppId 1400000002/],
    ['UserInfo: 5 hours', () => client.DescribeUserInfo({ SdkAppId: app, CommId: cid, StartTime: hour.StartTime, EndTime: hour.StartTime + 5 * 3600 }), 'InvalidParameter.QueryScaleOversize', /at most 4 hours/],
    ['UserInfo: EndTime before StartTime', () => client.DescribeUserInfo({ SdkAppId: app, CommId: cid, StartTime: hour.EndTime, EndTime: hour.StartTime }), 'InvalidParameter', /before StartTime/],
    ['UserInfo: 101 UserIds', () => client.DescribeUserInfo({ SdkAppId: app, CommId: cid, ...hour, UserIds: Array.from({ length: 101 }, (_, i) => `u${i}`) }), 'InvalidParameter', /at most 100/],
    ['UserEvent: no SdkAppId', () => client.DescribeUserEvent({ ...ev, SdkAppId: undefined } as any), 'MissingParameter.AppId'],
    ['UserEvent: unknown app', () => client.DescribeUserEvent({ ...ev, SdkAppId: 1234 }), 'InvalidParameter', /not an application/],
    ['UserEvent: no UserId', () => client.DescribeUserEvent({ ...ev, UserId: undefined } as any), 'MissingParameter.UserId'],
    ['UserEvent: bad UserId', () => client.DescribeUserEvent({ ...ev, UserId: 'a b' }), 'InvalidParameter.UserId'],
    ['UserEvent: no RoomId', () => client.DescribeUserEvent({ ...ev, RoomId: undefined } as any), 'MissingParameter.RoomId'],
    ['UserEvent: RoomId of another call', () => client.DescribeUserEvent({ ...ev, RoomId: 'night-room' }), 'InvalidParameter', /not the room of CommId/],
    ['CallDetail: a DataType not measured', () => client.DescribeCallDetailInfo({ SdkAppId: app, CommId: cid, ...hour, DataType: ['bigvBit', 'rtt'] }), 'UnsupportedOperation', /cannot answer DataType rtt: rtt is round-trip times/],
    ['CallDetail: not a DataType', () => client.DescribeCallDetailInfo({ SdkAppId: app, CommId: cid, ...hour, DataType: ['speed'] }), 'InvalidParameter', /not a TRTC metric/],
    ['CallDetail: 2 hours with DataType', () => client.DescribeCallDetailInfo({ SdkAppId: app, CommId: cid, StartTime: hour.StartTime, EndTime: hour.StartTime + 7200, DataType: ['aBit'] }), 'InvalidParameter.QueryScaleOversize', /1 hour/],
    ['CallDetail: 7 UserIds with DataType', () => client.DescribeCallDetailInfo({ SdkAppId: app, CommId: cid, ...hour, DataType: ['aBit'], UserIds: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] }), 'InvalidParameter.UserIdsMorethanSix'],
    ['CallDetail: PageSize 7 with DataType', () => client.DescribeCallDetailInfo({ SdkAppId: app, CommId: cid, ...hour, DataType: ['aBit'], PageNumber: 0, PageSize: 7 }), 'InvalidParameter.PageSizeOversize'],
    ['Scale: EndTime before StartTime', () => client.DescribeScaleInfo({ SdkAppId: app, StartTime: d1.EndTime, EndTime: d1.StartTime }), 'InvalidParameter.EndTs'],
    ['Scale: 15 days ago', () => client.DescribeScaleInfo({ SdkAppId: app, StartTime: old, EndTime: sec(Date.now()) }), 'InvalidParameter.StartTsOversize'],
    ['Scale: no SdkAppId', () => client.DescribeScaleInfo({ StartTime: d1.StartTime, EndTime: d1.EndTime } as any), 'MissingParameter.SdkAppId'],
  ];
  for (const [name, call, code, message] of cases) {
    const e = await apiError(call());
    t.equal(e.code, code, name);
    if (message) t.match(e.message, message, `${name}: message`);
    t.ok(e.message.length > 20, `${name}: says what to fix (${e.message})`);
  }
  const unknown = `${app}_day-room_${sec(LIFE1) + 1}`;
  t.same((await client.DescribeUserInfo({ SdkAppId: app, CommId: unknown, ...hour })).UserList, [], 'a CommId of no call: no users');
  t.same((await client.DescribeUserEvent({ ...ev, CommId: unknown })).Data, [], 'and no events');
});
