// The history keeps integer and string rooms apart, and keeps the room's agents: through the official SDK, integer
// room 5678 (a pull task, a recording and a relay in it) and string room "5678" (an ffmpeg RTMP publisher, a recording
// and a relay) are two calls with their own CommIds, and each call's DescribeUserInfo and DescribeUserEvent answer
// only its own users, as the callbacks (Sign checked) tell them. The recording and relay agents are listed with
// their source (DeviceType record / relay); TRTC's UserInformation and EventMessage carry no role, so the agents'
// role (audience) is checked where the history keeps it, in the store file, beside 103's Role 21.

import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { makeMedia } from '../helpers/media-server.js';
import { startPullFixture } from '../helpers/pull-fixture.js';
import { startAgents } from '../helpers/room-agents.js';
import { refusingPort } from '../relay/rtmp-receiver.js';
import { SqliteFile } from '../../src/store/sqlite.js';
import { SqliteHistory } from '../../src/store/sqlite-history.js';

const storeFile = join(mkdtempSync(join(tmpdir(), 'rg-query-rooms-')), 'roomgate.db');
const f = await startPullFixture({ store: { file: storeFile }, api: { requestsPerSecond: 1000 } });
t.teardown(() => f.close());
const app = TEST_APP.sdkAppId;
const sec = (ms: number) => Math.floor(ms / 1000);
const ROOM = '5678';

/** Room (group 1) and media (group 2) callbacks of a room, its RoomId compared with its JSON type. */
const eventsOf = (roomId: number | string) => f.rx.received.map((r) => r.body).filter((b) => (b.EventGroupId === 1 || b.EventGroupId === 2) && b.EventInfo.RoomId === roomId);
const entered = (roomId: number | string) => eventsOf(roomId).filter((b) => b.EventType === 103).map((b) => b.EventInfo.UserId as string);

t.test('integer room 5678 and string room "5678": two calls, each answering only its own users and events', async (t) => {
  // integer room: a pull task, then a recording of it and a relay of it
  await f.start(ROOM, 'int_pub', `${f.media.base}/${await makeMedia('flv-h264-aac', 60)}`, { RoomIdType: 1 });
  await waitFor(() => entered(5678).includes('int_pub'), 20000, 'int_pub in the integer room');
  await f.client.CreateCloudRecording({
    SdkAppId: app, RoomId: ROOM, RoomIdType: 1, UserId: 'rec_i', UserSig: officialUserSig('rec_i'),
    RecordParams: { RecordMode: 1, OutputFormat: 0 }, StorageParams: {},
  } as any);
  await f.client.StartPublishCdnStream({
    SdkAppId: app, RoomId: ROOM, RoomIdType: 0, WithTranscoding: 0,
    AgentParams: { UserId: 'relay_i', UserSig: officialUserSig('relay_i') },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: 'int_pub' } } },
    AudioParams: { AudioEncode: { SampleRate: 44100, Channel: 1, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 320, Height: 240, Fps: 30, BitRate: 500, Gop: 1 } },
    PublishCdnParams: [{ PublishCdnUrl: `rtmp://127.0.0.1:${await refusingPort()}/live/x`, IsTencentCdn: 0 }],
  } as any);
  // string room: an RTMP publisher, a recording and a relay (RoomIdType 0 and 1: string rooms in those two actions)
  const pub = ffmpegPush(f.g.pushUrl(ROOM, 'str_pub'), { seconds: 60, realtime: true });
  t.teardown(() => pub.kill());
  await waitFor(() => entered('5678').includes('str_pub'), 20000, 'str_pub in the string room');
  await startAgents(f.client, ROOM, { anchor: 'str_pub', recorder: 'rec_s', relay: 'relay_s' });
  await waitFor(() => entered(5678).length === 3 && entered('5678').length === 3, 20000, 'three users in each room');
  t.same(entered(5678).sort(), ['int_pub', 'rec_i', 'relay_i'], '103 in the integer room (RoomId a number)');
  t.same(entered('5678').sort(), ['rec_s', 'relay_s', 'str_pub'], '103 in the string room (RoomId a string)');
  const role = (roomId: number | string, u: string) => eventsOf(roomId).find((b) => b.EventType === 103 && b.EventInfo.UserId === u).EventInfo.Role;
  t.same([role(5678, 'rec_i'), role(5678, 'relay_i'), role('5678', 'rec_s'), role('5678', 'relay_s')], [21, 21, 21, 21], 'the agents enter as audience (Role 21)');
  t.same([role(5678, 'int_pub'), role('5678', 'str_pub')], [20, 20], 'the publishers as anchors (Role 20)');

  await f.client.DismissRoom({ SdkAppId: app, RoomId: 5678 });
  await f.client.DismissRoomByStrRoomId({ SdkAppId: app, RoomId: ROOM });
  await waitFor(() => eventsOf(5678).some((b) => b.EventType === 102) && eventsOf('5678').some((b) => b.EventType === 102), 20000, '102 in each room');
  await waitFor(() => eventsOf(5678).filter((b) => b.EventType === 104).length === 3 && eventsOf('5678').filter((b) => b.EventType === 104).length === 3, 5000, '104 for each user');
  t.ok(f.rx.received.every((r) => r.signOk), 'every callback carries a valid Sign');

  const created = (roomId: number | string) => eventsOf(roomId).find((b) => b.EventType === 101).EventInfo.EventMsTs as number;
  const dismissed = (roomId: number | string) => eventsOf(roomId).find((b) => b.EventType === 102).EventInfo.EventMsTs as number;
  const range = { StartTime: sec(Math.min(created(5678), created('5678'))), EndTime: sec(Math.max(dismissed(5678), dismissed('5678'))) };
  const intCid = `${app}_${ROOM}_${sec(created(5678))}`;
  const strCid = `${app}_'${ROOM}'_${sec(created('5678'))}`;
  const rooms = await f.client.DescribeRoomInfo({ SdkAppId: app, ...range, RoomId: ROOM });
  t.same(rooms.RoomList!.map((r) => [r.CommId, r.RoomString, r.UserId, r.CreateTime, r.DestroyTime]).sort(), [
    [intCid, ROOM, 'int_pub', sec(created(5678)), sec(dismissed(5678))],
    [strCid, ROOM, 'str_pub', sec(created('5678')), sec(dismissed('5678'))],
  ].sort(), 'RoomId "5678" lists two calls: the integer room\'s CommId as TRTC writes it, the digit-only string room\'s quoted');

  const users = async (cid: string) =>
    (await f.client.DescribeUserInfo({ SdkAppId: app, CommId: cid, ...range })).UserList!.map((u) => [u.UserId, u.DeviceType, u.ClientIp, u.RoomStr]).sort();
  t.same(await users(intCid), [['int_pub', 'pull', '', ROOM], ['rec_i', 'record', '', ROOM], ['relay_i', 'relay', '', ROOM]],
    'the integer room\'s call: its pull task, recording agent and relay agent, each with its source');
  t.same(await users(strCid), [['rec_s', 'record', '', ROOM], ['relay_s', 'relay', '', ROOM], ['str_pub', 'rtmp', '127.0.0.1', ROOM]],
    'the string room\'s call: its RTMP publisher and agents');

  const asEvent: Record<number, (i: any) => object> = {
    103: () => ({ Type: 0, EventId: 7000, ParamOne: 0, ParamTwo: -1 }),
    104: (i) => ({ Type: 0, EventId: 7001, ParamOne: ({ 1: 0, 2: 1, 3: 2 } as Record<number, number>)[i.Reason]!, ParamTwo: -1 }),
    201: () => ({ Type: 2, EventId: 4006, ParamOne: 0, ParamTwo: -1 }),
    202: () => ({ Type: 2, EventId: 4006, ParamOne: 1, ParamTwo: -1 }),
    203: () => ({ Type: 0, EventId: 3001, ParamOne: 0, ParamTwo: -1 }),
    204: () => ({ Type: 0, EventId: 3001, ParamOne: 2, ParamTwo: -1 }),
  };
  const byTime = (a: any, b: any) => a.Time - b.Time || a.EventId - b.EventId || a.ParamOne - b.ParamOne;
  const calls: [number | string, string, string[]][] = [[5678, intCid, ['int_pub', 'rec_i', 'relay_i']], ['5678', strCid, ['str_pub', 'rec_s', 'relay_s']]];
  for (const [roomId, cid, own] of calls) {
    for (const u of ['int_pub', 'rec_i', 'relay_i', 'str_pub', 'rec_s', 'relay_s']) {
      const fromCallbacks = eventsOf(roomId)
        .filter((b) => b.EventInfo.UserId === u && asEvent[b.EventType])
        .map((b) => ({ ...asEvent[b.EventType]!(b.EventInfo), Time: b.EventInfo.EventMsTs }))
        .sort(byTime);
      const answer = await f.client.DescribeUserEvent({ SdkAppId: app, CommId: cid, RoomId: ROOM, UserId: u, ...range });
      const got = (answer.Data ?? []).flatMap((d) => [...d.Content!]).sort(byTime);
      if (own.includes(u)) {
        t.ok(fromCallbacks.length >= 2, `${u}: entered and left by its callbacks`);
        t.same(got, fromCallbacks, `${cid}, ${u}: exactly the events of its callbacks (${fromCallbacks.map((e: any) => e.EventId).join(', ')})`);
      } else {
        t.same(answer.Data, [], `${cid}, ${u}: not in this call, no events`);
      }
    }
  }
  t.same((await f.client.DescribeUserEvent({ SdkAppId: app, CommId: strCid, RoomId: ROOM, UserId: 'rec_s', ...range })).Data![0]!.Content!
    .filter((e) => e.EventId === 7001).map((e) => e.ParamOne), [2], 'an agent removed by DismissRoom left kicked (7001/2)');

  // the role TRTC's query answers have no field for, in the history itself
  const file = SqliteFile.open(storeFile);
  const history = new SqliteHistory(file);
  const roles = async (numericRoom: boolean, createdAt: number) =>
    (await history.sessions({ call: { sdkAppId: app, roomId: ROOM, numericRoom, createdSec: sec(createdAt) }, from: 0, to: Date.now(), offset: 0, limit: 10 }))
      .items.map((s) => [s.userId, s.source, s.role]).sort();
  t.same(await roles(true, created(5678)), [['int_pub', 'pull', 'anchor'], ['rec_i', 'record', 'audience'], ['relay_i', 'relay', 'audience']]);
  t.same(await roles(false, created('5678')), [['rec_s', 'record', 'audience'], ['relay_s', 'relay', 'audience'], ['str_pub', 'rtmp', 'anchor']]);
  file.close();
});
