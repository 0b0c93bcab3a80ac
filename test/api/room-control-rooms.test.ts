// Integer and string rooms with the same digits are two rooms, in every action and callback: a pull task in the
// integer room 4321 and an ffmpeg publisher in the string room "4321" are removed, blocked and dismissed apart, and
// their callbacks carry RoomId as a number and as a string. Then every error code the reference lists for the six
// room-management actions that this gateway can meet, through the official SDK, each with a message that says what to
// send instead.

import t from 'tap';
import { waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { makeMedia } from '../helpers/media-server.js';
import { startPullFixture } from '../helpers/pull-fixture.js';
import { apiError } from '../helpers/api3.js';

// the error cases go out back to back: more than the default 20 calls a second per SecretId
const f = await startPullFixture({ api: { requestsPerSecond: 1000 } });
t.teardown(() => f.close());
const { sdkAppId } = TEST_APP;

/** Room callbacks (group 1) of a room, its RoomId compared with its JSON type. */
const roomEvents = (roomId: number | string) => f.rx.received.map((r) => r.body).filter((b) => b.EventGroupId === 1 && b.EventInfo.RoomId === roomId);

t.test('integer room 4321 and string room "4321" are two rooms', async (t) => {
  const taskId = await f.start('4321', 'int_user', `${f.media.base}/${await makeMedia('flv-h264-aac', 60)}`, { RoomIdType: 1 });
  const pub = ffmpegPush(f.g.pushUrl('4321', 'str_user'), { seconds: 60, realtime: true });
  t.teardown(() => pub.kill());
  await waitFor(async () => (await f.users('4321', 'integer')).length === 1 && (await f.users('4321')).length === 1, 15000, 'one user in each room');
  t.same((await f.users('4321', 'integer')).map((u) => u.userId), ['int_user']);
  t.same((await f.users('4321')).map((u) => u.userId), ['str_user']);
  const listed = (await f.g.getJson('/api/rooms')).body.rooms.filter((r: any) => r.roomId === '4321').map((r: any) => r.type).sort();
  t.same(listed, ['integer', 'string'], 'the status API lists both');
  await waitFor(() => roomEvents(4321).length >= 2 && roomEvents('4321').length >= 2, 5000, '101 and 103 in each room');
  t.same(roomEvents(4321).map((b) => `${b.EventType} ${b.EventInfo.UserId}`), ['101 int_user', '103 int_user'], 'the integer room\'s callbacks carry RoomId 4321, a number');
  t.same(roomEvents('4321').map((b) => `${b.EventType} ${b.EventInfo.UserId}`), ['101 str_user', '103 str_user'], 'the string room\'s carry "4321"');

  // RemoveUser names an integer room: only int_user is in it
  await f.client.RemoveUser({ SdkAppId: sdkAppId, RoomId: 4321, UserIds: ['int_user', 'str_user'] });
  await f.ended(taskId, 5000);
  await waitFor(() => roomEvents(4321).some((b) => b.EventType === 102), 5000, '102 for the integer room');
  t.same(roomEvents(4321).slice(2).map((b) => `${b.EventType} ${b.EventInfo.UserId ?? ''} ${b.EventInfo.Reason ?? ''}`.trim()), ['104 int_user 3', '102'], 'int_user removed, the integer room closed');
  t.same((await f.users('4321')).map((u) => u.userId), ['str_user'], 'str_user still publishes in the string room');
  t.equal((await apiError(f.client.RemoveUser({ SdkAppId: sdkAppId, RoomId: 4321, UserIds: ['str_user'] }))).code, 'FailedOperation.RoomNotExist');
  t.equal((await apiError(f.client.request('SetUserBlocked', { SdkAppId: sdkAppId, RoomId: 4321, UserId: 'str_user', IsMute: 1 }))).code, 'FailedOperation.RoomNotExist');
  t.equal((await apiError(f.client.DismissRoom({ SdkAppId: sdkAppId, RoomId: 4321 }))).code, 'FailedOperation.RoomNotExist');
  const notThere = await apiError(f.client.request('SetUserBlockedByStrRoomId', { SdkAppId: sdkAppId, StrRoomId: '4321', UserId: 'int_user', IsMute: 1 }));
  t.equal(notThere.code, 'FailedOperation.UserNotExist');
  t.match(notThere.message, /int_user is not in string room '4321'/);

  await f.client.DismissRoomByStrRoomId({ SdkAppId: sdkAppId, RoomId: '4321' });
  await pub.exited;
  await waitFor(() => roomEvents('4321').some((b) => b.EventType === 102), 5000, '102 for the string room');
  t.same(roomEvents('4321').slice(2).map((b) => `${b.EventType} ${b.EventInfo.UserId ?? ''} ${b.EventInfo.Reason ?? ''}`.trim()), ['104 str_user 3', '102']);
  t.ok(f.rx.received.every((r) => r.signOk), 'every callback is signed');
});

t.test('error codes', async (t) => {
  const room = 'errors-room';
  const pub = ffmpegPush(f.g.pushUrl(room, 'present'), { seconds: 60, realtime: true });
  t.teardown(() => pub.kill());
  await waitFor(async () => (await f.users(room)).length === 1, 15000, 'a user in the room');
  const call = (action: string, params: Record<string, unknown>) => apiError(f.client.request(action, params));
  const ok = { SdkAppId: sdkAppId };
  const cases: Array<[string, string, Record<string, unknown>, string, RegExp?]> = [
    ['RemoveUser', 'no SdkAppId', { RoomId: 1, UserIds: ['u'] }, 'MissingParameter.SdkAppId'],
    ['RemoveUser', 'SdkAppId not a number', { SdkAppId: 'x', RoomId: 1, UserIds: ['u'] }, 'InvalidParameter.SdkAppId'],
    ['RemoveUser', 'an unknown app', { SdkAppId: 1400099999, RoomId: 1, UserIds: ['u'] }, 'UnauthorizedOperation.SdkAppId', /not an application of this service/],
    ['RemoveUser', 'no RoomId', { ...ok, UserIds: ['u'] }, 'MissingParameter.RoomId'],
    ['RemoveUser', 'RoomId as a string', { ...ok, RoomId: '4321', UserIds: ['u'] }, 'InvalidParameter.RoomId', /For a string room, call RemoveUserByStrRoomId/],
    ['RemoveUser', 'RoomId 0', { ...ok, RoomId: 0, UserIds: ['u'] }, 'InvalidParameterValue.RoomId', /out of range; numeric room ids are integers from 1 to 4294967294/],
    ['RemoveUser', 'RoomId 1.5', { ...ok, RoomId: 1.5, UserIds: ['u'] }, 'InvalidParameterValue.RoomId', /not an integer/],
    ['RemoveUser', 'no UserIds', { ...ok, RoomId: 1 }, 'MissingParameter.UserIds'],
    ['RemoveUser', 'UserIds empty', { ...ok, RoomId: 1, UserIds: [] }, 'InvalidParameter.UserIds'],
    ['RemoveUser', '11 UserIds', { ...ok, RoomId: 1, UserIds: [...Array(11).keys()].map((i) => `u${i}`) }, 'InvalidParameter.UserIds', /holds 11 users; the limit is 10 per call/],
    ['RemoveUser', 'a bad user id', { ...ok, RoomId: 1, UserIds: ['ok', 'not ok'] }, 'InvalidParameter.UserIds', /UserIds\[1\]: user id 'not ok' has a character/],
    ['RemoveUser', 'a room nobody is in', { ...ok, RoomId: 77, UserIds: ['u'] }, 'FailedOperation.RoomNotExist', /integer room 77 of SdkAppId \d+ does not exist/],
    ['RemoveUserByStrRoomId', 'RoomId as a number', { ...ok, RoomId: 77, UserIds: ['u'] }, 'InvalidParameter.RoomId', /For an integer room, call RemoveUser\b/],
    ['RemoveUserByStrRoomId', 'RoomId with a space', { ...ok, RoomId: 'a b', UserIds: ['u'] }, 'InvalidParameterValue.RoomId'],
    ['RemoveUserByStrRoomId', 'RoomId of 65 characters', { ...ok, RoomId: 'r'.repeat(65), UserIds: ['u'] }, 'InvalidParameterValue.RoomId', /the limit is 64/],
    ['RemoveUserByStrRoomId', 'an unknown app', { SdkAppId: 1400099999, RoomId: room, UserIds: ['u'] }, 'UnauthorizedOperation.SdkAppId'],
    ['RemoveUserByStrRoomId', 'a room nobody is in', { ...ok, RoomId: 'empty-room', UserIds: ['u'] }, 'FailedOperation.RoomNotExist'],
    ['DismissRoom', 'no RoomId', { ...ok }, 'MissingParameter.RoomId'],
    ['DismissRoom', 'RoomId 4294967295', { ...ok, RoomId: 4294967295 }, 'InvalidParameterValue.RoomId'],
    ['DismissRoom', 'an unknown app', { SdkAppId: 1400099999, RoomId: 1 }, 'UnauthorizedOperation.SdkAppId'],
    ['DismissRoom', 'a room nobody is in', { ...ok, RoomId: 77 }, 'FailedOperation.RoomNotExist'],
    ['DismissRoomByStrRoomId', 'a room nobody is in', { ...ok, RoomId: 'empty-room' }, 'FailedOperation.RoomNotExist'],
    ['DismissRoomByStrRoomId', 'RoomId as a number', { ...ok, RoomId: 77 }, 'InvalidParameter.RoomId'],
    ['SetUserBlocked', 'an unknown app', { SdkAppId: 1400099999, RoomId: 1, UserId: 'u', IsMute: 1 }, 'FailedOperation.SdkAppIdNotExist'],
    ['SetUserBlocked', 'no RoomId', { ...ok, UserId: 'u', IsMute: 1 }, 'MissingParameter.RoomId'],
    ['SetUserBlocked', 'RoomId -1', { ...ok, RoomId: -1, UserId: 'u', IsMute: 1 }, 'InvalidParameterValue.RoomId'],
    ['SetUserBlocked', 'no UserId', { ...ok, RoomId: 1, IsMute: 1 }, 'MissingParameter.UserId'],
    ['SetUserBlocked', 'a bad UserId', { ...ok, RoomId: 1, UserId: 'a/b', IsMute: 1 }, 'InvalidParameter.UserId'],
    ['SetUserBlocked', 'no IsMute', { ...ok, RoomId: 1, UserId: 'u' }, 'MissingParameter', /IsMute is missing: send 0 to unblock/],
    ['SetUserBlocked', 'IsMute 4', { ...ok, RoomId: 1, UserId: 'u', IsMute: 4 }, 'InvalidParameter', /IsMute must be 0 \(unblock\), 1 .* or 3 \(video only\); got 4/],
    ['SetUserBlocked', 'a room nobody is in', { ...ok, RoomId: 77, UserId: 'u', IsMute: 1 }, 'FailedOperation.RoomNotExist'],
    ['SetUserBlockedByStrRoomId', 'no StrRoomId', { ...ok, UserId: 'u', IsMute: 1 }, 'MissingParameter.RoomId', /StrRoomId is missing/],
    ['SetUserBlockedByStrRoomId', 'a bad StrRoomId', { ...ok, StrRoomId: 'a b', UserId: 'u', IsMute: 1 }, 'InvalidParameter.RoomId'],
    ['SetUserBlockedByStrRoomId', 'an unknown app', { SdkAppId: 1400099999, StrRoomId: room, UserId: 'u', IsMute: 1 }, 'FailedOperation.SdkAppIdNotExist'],
    ['SetUserBlockedByStrRoomId', 'a user not in the room', { ...ok, StrRoomId: room, UserId: 'absent', IsMute: 1 }, 'FailedOperation.UserNotExist'],
  ];
  for (const [action, what, params, code, says] of cases) {
    const e = await call(action, params);
    t.equal(e.code, code, `${action}, ${what}: ${code}`);
    if (says) t.match(e.message, says, `${action}, ${what}: the message says so`);
  }
  t.same((await f.users(room)).map((u) => u.userId), ['present'], 'no refused call touched the room');
  const r = await f.client.RemoveUserByStrRoomId({ SdkAppId: sdkAppId, RoomId: room, UserIds: ['absent'] });
  t.match(r.RequestId, /^[0-9a-f-]{36}$/, 'removing a user who is not in the room is no error: there is nothing to do');
  t.same((await f.users(room)).map((u) => u.userId), ['present'], 'and changes nothing');
});
