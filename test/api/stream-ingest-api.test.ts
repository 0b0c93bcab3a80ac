// The API 3.0 stream-ingest actions through the official tencentcloud-sdk-nodejs, as a backend team calls them:
// the whole task life cycle, then every error code provoked once (raw requests where the SDK cannot make the
// mistake, e.g. an old timestamp).

import t from 'tap';
import { officialUserSig, expiredOfficialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { apiError, trtcClient, TEST_CREDENTIAL } from '../helpers/api3.js';
import { makeMedia } from '../helpers/media-server.js';
import { startPullFixture } from '../helpers/pull-fixture.js';
import { signTc3Request } from '../../src/auth/tc3.js';

const RATE_CREDENTIAL = { secretId: 'AKIDroomgaterate', secretKey: 'roomgate-rate-secret-0000' };
const f = await startPullFixture({ api: { credentials: [TEST_CREDENTIAL, RATE_CREDENTIAL] } });
t.teardown(() => f.close());
const endpoint = `127.0.0.1:${f.g.gw.http.port}`;
const { sdkAppId } = TEST_APP;
const flv = await makeMedia('flv-h264-aac', 30);
const mp4 = await makeMedia('mp4-bframes', 30);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function startReq(userId: string, extra: Record<string, unknown> = {}): any {
  return {
    SdkAppId: sdkAppId, RoomId: 'api-room', RoomIdType: 0, UserId: userId, UserSig: officialUserSig(userId),
    StreamUrl: `${f.media.base}/${flv}`, ...extra,
  };
}

/** A request signed like the SDK does, with knobs the SDK does not have; returns the parsed answer. */
async function raw(o: {
  action?: string; body?: string; timestamp?: number; version?: string; authorization?: string; secretKey?: string;
}): Promise<{ status: number; body: any }> {
  const body = o.body ?? '{}';
  const signed = signTc3Request({
    secretId: TEST_CREDENTIAL.secretId,
    secretKey: o.secretKey ?? TEST_CREDENTIAL.secretKey,
    service: '127',
    host: '127.0.0.1',
    body,
    timestamp: o.timestamp ?? Math.floor(Date.now() / 1000),
  });
  const res = await fetch(`http://${endpoint}/`, {
    method: 'POST',
    headers: {
      ...signed,
      ...(o.authorization ? { authorization: o.authorization } : {}),
      'x-tc-action': o.action ?? 'DescribeStreamIngest',
      'x-tc-version': o.version ?? '2019-07-22',
      host: endpoint,
    },
    body,
  });
  return { status: res.status, body: await res.json() };
}

t.test('Start → Describe InProgress → Update (Volume, IsPause, StreamUrl) → Stop → Describe NotExist', async (t) => {
  const started = await f.client.StartStreamIngest(startReq('life_user', { Volume: 80 }));
  t.match(started.TaskId, /^[A-Za-z0-9_-]{32}\.$/, 'an opaque TaskId');
  t.match(started.RequestId, UUID);
  const taskId = started.TaskId!;
  const described = await f.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId });
  t.equal(described.Status, 'InProgress');
  t.match(described.RequestId, UUID);

  const user = await waitFor(async () => (await f.users('api-room')).find((u) => u.userId === 'life_user' && u.frames.video > 10), 15000, 'frames');
  const task = async () => (await f.g.getJson('/api/tasks')).body.running.find((x: any) => x.taskId === taskId);
  t.equal((await task()).volume, 80, 'Volume from Start');

  const upd = await f.client.UpdateStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId, Volume: 150 });
  t.equal(upd.Status, 'InProgress');
  t.equal((await task()).volume, 150, 'Volume from Update');

  await f.client.UpdateStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId, IsPause: true });
  t.equal((await task()).state, 'paused');
  const frames = async () => (await f.users('api-room')).find((u) => u.userId === 'life_user')?.frames.video ?? -1;
  await new Promise((r) => setTimeout(r, 300));
  const pausedAt = await frames();
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(await frames(), pausedAt, 'no frames while paused');
  t.equal((await f.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId })).Status, 'InProgress', 'a paused task is in progress');
  t.equal((await f.users('api-room')).length, 1, 'a paused task stays in the room');
  await f.client.UpdateStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId, IsPause: false });
  await waitFor(async () => (await frames()) > pausedAt + 15, 10000, 'frames after resume');

  await f.client.UpdateStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId, StreamUrl: `${f.media.base}/${mp4}` });
  await waitFor(async () => (await task())?.plan?.video === 'transcode' && (await task()).state === 'running', 15000, 'the new source');
  const after = (await f.users('api-room')).find((u) => u.userId === 'life_user');
  t.equal(after.since, user.since, 'the same publisher: the user never left the room');
  t.notOk(f.rx.events(104).some((e) => e.EventInfo.UserId === 'life_user'), 'no exit callback during the switch');
  t.same(f.rx.events(701, taskId).map((e) => e.EventInfo.Status), [0], 'one 701 Status 0');

  const stopped = await f.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId });
  t.match(stopped.RequestId, UUID);
  t.equal((await f.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: taskId })).Status, 'NotExist');
  await f.ended(taskId);
  t.equal(f.rx.events(702, taskId).length, 1, 'one 702');
});

t.test('the deprecated SourceUrl and a numeric room (RoomIdType 1) work', async (t) => {
  const r = await f.client.StartStreamIngest({ ...startReq('numeric_user', { RoomId: '4321', RoomIdType: 1 }), StreamUrl: undefined, SourceUrl: [`${f.media.base}/${flv}`] });
  await waitFor(async () => (await f.users('4321', 'integer')).length === 1, 15000, 'user in the integer room 4321');
  t.same(await f.users('4321'), [], 'the string room "4321" is another room, and empty');
  await f.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: r.TaskId! });
});

t.test('authentication errors', async (t) => {
  const badKey = trtcClient(endpoint, { secretId: TEST_CREDENTIAL.secretId, secretKey: 'not-the-key' });
  const e1 = await apiError(badKey.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: 'x' }));
  t.equal(e1.code, 'AuthFailure.SignatureFailure');
  t.match(e1.requestId, UUID);

  const unknownId = trtcClient(endpoint, { secretId: 'AKIDnobody', secretKey: 'whatever' });
  t.equal((await apiError(unknownId.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: 'x' }))).code, 'AuthFailure.SecretIdNotFound');

  const old = await raw({ timestamp: Math.floor(Date.now() / 1000) - 600 });
  t.equal(old.status, 200, 'errors are HTTP 200');
  t.equal(old.body.Response.Error.Code, 'AuthFailure.SignatureExpire');
  t.match(old.body.Response.Error.Message, /within 300 s/);
  t.match(old.body.Response.RequestId, UUID);

  const garbled = await raw({ authorization: 'TC3-HMAC-SHA256 Credential=nonsense' });
  t.equal(garbled.body.Response.Error.Code, 'AuthFailure.InvalidAuthorization');
});

t.test('request errors: action, version, body', async (t) => {
  t.equal((await apiError(f.client.request('StartStreamEgress', {}))).code, 'InvalidAction');
  const v = await raw({ version: '2018-01-01' });
  t.equal(v.body.Response.Error.Code, 'NoSuchVersion');
  const notJson = await raw({ body: '{"SdkAppId": ' });
  t.equal(notJson.body.Response.Error.Code, 'InvalidParameter.BodyParamsError');
  const big = await raw({ body: JSON.stringify({ SdkAppId: sdkAppId, Pad: 'x'.repeat(70_000) }) });
  t.equal(big.status, 200);
  t.equal(big.body.Response.Error.Code, 'RequestSizeLimitExceeded');
  t.match(big.body.Response.RequestId, UUID);
});

t.test('parameter errors', async (t) => {
  // Thunks run one by one below a pace of 20/s: this gateway keeps the default rate limit.
  const cases: [string, () => Promise<unknown>, string, RegExp?][] = [
    ['no RoomId', () => f.client.StartStreamIngest({ ...startReq('p1'), RoomId: undefined }), 'MissingParameter.RoomId'],
    ['no SdkAppId', () => f.client.DescribeStreamIngest({ TaskId: 'abc' } as any), 'MissingParameter.SdkAppId'],
    ['no TaskId', () => f.client.StopStreamIngest({ SdkAppId: sdkAppId } as any), 'MissingParameter.TaskId'],
    ['no UserId', () => f.client.StartStreamIngest({ ...startReq('p1'), UserId: undefined }), 'MissingParameter.UserId'],
    ['no UserSig', () => f.client.StartStreamIngest({ ...startReq('p1'), UserSig: undefined }), 'MissingParameter.UserSig'],
    ['bad room id', () => f.client.StartStreamIngest(startReq('p1', { RoomId: 'a room!' })), 'InvalidParameter.StrRoomId', /character other than/],
    ['bad numeric room', () => f.client.StartStreamIngest(startReq('p1', { RoomId: 'abc', RoomIdType: 1 })), 'InvalidParameter.RoomId'],
    ['bad user id', () => f.client.StartStreamIngest(startReq('p1', { UserId: 'a b' })), 'InvalidParameter.UserId'],
    ['unknown app', () => f.client.StartStreamIngest(startReq('p1', { SdkAppId: 1234 })), 'InvalidParameter.SdkAppId', /not an application/],
    ['expired UserSig', () => f.client.StartStreamIngest(startReq('p1', { UserSig: expiredOfficialUserSig('p1').sig })), 'InvalidParameter.UserSig', /expired/],
    ['UserSig of another user', () => f.client.StartStreamIngest(startReq('p1', { UserSig: officialUserSig('p2') })), 'InvalidParameter.UserSig'],
    ['RepeatNum 0', () => f.client.StartStreamIngest(startReq('p1', { RepeatNum: 0 })), 'InvalidParameter.RepeatNum', /RepeatNum 0 is not valid/],
    ['RepeatNum 1001', () => f.client.StartStreamIngest(startReq('p1', { RepeatNum: 1001 })), 'InvalidParameter.RepeatNum'],
    ['Volume 300', () => f.client.StartStreamIngest(startReq('p1', { Volume: 300 })), 'InvalidParameter.Volume', /0 to 200/],
    ['AutoPush true', () => f.client.StartStreamIngest(startReq('p1', { AutoPush: true })), 'InvalidParameter.AutoPush', /StartPublishCdnStream/],
    ['MaxDuration 0', () => f.client.StartStreamIngest(startReq('p1', { RepeatNum: -1, MaxDuration: 0 })), 'InvalidParameter.MaxDuration'],
    ['Tempo 3', () => f.client.StartStreamIngest(startReq('p1', { Tempo: 3 })), 'InvalidParameter.Tempo'],
    ['no StreamUrl', () => f.client.StartStreamIngest({ ...startReq('p1'), StreamUrl: undefined }), 'InvalidParameter.StreamUrl', /missing/],
    ['ftp StreamUrl', () => f.client.StartStreamIngest(startReq('p1', { StreamUrl: 'ftp://example.com/a.flv' })), 'InvalidParameter.StreamUrl', /not supported/],
    ['file StreamUrl', () => f.client.StartStreamIngest(startReq('p1', { StreamUrl: 'file:///etc/passwd' })), 'InvalidParameter.StreamUrl'],
    ['private host', () => f.client.StartStreamIngest(startReq('p1', { StreamUrl: 'http://10.1.2.3/live.flv' })), 'InvalidParameter.StreamUrl', /internal .* pull\.allow/],
    ['metadata host', () => f.client.StartStreamIngest(startReq('p1', { StreamUrl: 'http://169.254.169.254/latest' })), 'InvalidParameter.StreamUrl'],
    ['IPv6 loopback', () => f.client.StartStreamIngest(startReq('p1', { StreamUrl: 'http://[::1]:1/x.flv' })), 'InvalidParameter.StreamUrl'],
    ['IPv4-mapped IPv6', () => f.client.StartStreamIngest(startReq('p1', { StreamUrl: 'http://[::ffff:10.0.0.1]/x.flv' })), 'InvalidParameter.StreamUrl'],
    ['bad TaskId', () => f.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: 'not a task id' }), 'InvalidParameter.TaskId'],
    ['unknown TaskId on Stop', () => f.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: 'abcdef.' }), 'InvalidParameter.TaskId'],
    ['unknown TaskId on Update', () => f.client.UpdateStreamIngest({ SdkAppId: sdkAppId, TaskId: 'abcdef.', Volume: 10 }), 'FailedOperation.TaskNotExist'],
  ];
  for (const [name, call, code, message] of cases) {
    await new Promise((r) => setTimeout(r, 60));
    const e = await apiError(call());
    t.equal(e.code, code, name);
    if (message) t.match(e.message, message, `${name}: message`);
    t.ok(e.message.length > 10, `${name}: says what to fix (${e.message})`);
  }
  t.equal((await f.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: 'abcdef.' })).Status, 'NotExist', 'Describe of an unknown task');
});

t.test('task errors: TaskExist, TaskFinished', async (t) => {
  const first = await f.client.StartStreamIngest(startReq('dup_user'));
  const e = await apiError(f.client.StartStreamIngest(startReq('dup_user', { RoomId: 'other-room' })));
  t.equal(e.code, 'FailedOperation.TaskExist');
  t.match(e.message, first.TaskId!);
  await f.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: first.TaskId! });
  t.equal((await apiError(f.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: first.TaskId! }))).code, 'FailedOperation.TaskFinished');
  t.equal((await apiError(f.client.UpdateStreamIngest({ SdkAppId: sdkAppId, TaskId: first.TaskId!, IsPause: true }))).code, 'FailedOperation.TaskNotExist');
  const other = await apiError(f.client.StopStreamIngest({ SdkAppId: 1400000002, TaskId: first.TaskId! }));
  t.equal(other.code, 'InvalidParameter.TaskId', 'another app cannot see the task');
});

t.test('RequestLimitExceeded: 20 requests per second per SecretId', async (t) => {
  const c = trtcClient(endpoint, RATE_CREDENTIAL);
  const started = performance.now();
  const results = await Promise.allSettled(Array.from({ length: 30 }, () => c.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: 'abcdef.' })));
  // The bucket refills at 20/s while the 30 calls are under way: on a busy machine they spread over a few hundred ms.
  const refilled = Math.ceil(((performance.now() - started) / 1000) * 20);
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  const limited = results.filter((r) => r.status === 'rejected' && (r.reason as any).code === 'RequestLimitExceeded').length;
  t.ok(ok >= 20 && ok <= 22 + refilled, `about 20 pass (${ok}; up to ${refilled} more refilled during the burst)`);
  t.ok(limited > 0, 'some are refused');
  t.equal(ok + limited, 30, 'the rest are RequestLimitExceeded');
  const other = await f.client.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: 'abcdef.' });
  t.equal(other.Status, 'NotExist', 'another SecretId is not limited');
  await new Promise((r) => setTimeout(r, 1100));
  t.equal((await c.DescribeStreamIngest({ SdkAppId: sdkAppId, TaskId: 'abcdef.' })).Status, 'NotExist', 'allowed again a second later');
});

t.test('ResourceInsufficient.RequestRejection over the task limit', async (t) => {
  const small = await startPullFixture({ api: { maxTasks: 1 } });
  t.teardown(() => small.close());
  const url = `${small.media.base}/${flv}`;
  const id = await small.start('limit-room', 'limit_a', url);
  const e = await apiError(small.start('limit-room', 'limit_b', url));
  t.equal(e.code, 'ResourceInsufficient.RequestRejection');
  t.match(e.message, /at most 1 pull task/);
  await small.client.StopStreamIngest({ SdkAppId: sdkAppId, TaskId: id });
  const again = await small.start('limit-room', 'limit_b', url);
  t.ok(again, 'a slot is free again after Stop');
});

