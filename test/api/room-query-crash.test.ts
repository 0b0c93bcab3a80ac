// A gateway process killed (SIGKILL) while an ffmpeg RTMP publisher is in a room. The next gateway on the same store
// file closes what the killed one left open at the last moment it is known to have been on (the user's last media
// sample), and the official SDK's queries say so: the user left then, the room ended then, and no exit event is made up.

import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_APP, waitFor } from '../helpers/gateway.js';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway-process.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { ffmpegPush } from '../helpers/clients.js';

t.setTimeout(120_000);
const KEY = 'crashCallbackKey';
const app = TEST_APP.sdkAppId;
const room = 'crash-room';
const file = join(mkdtempSync(join(tmpdir(), 'rg-crash-')), 'roomgate.db');
const rx = await startCallbackReceiver(KEY);
t.teardown(() => rx.close());
const config = { apps: [{ ...TEST_APP, callbackUrl: rx.url, callbackKey: KEY }], store: { file }, history: { sampleSeconds: 1 } };
const sec = (ms: number) => Math.floor(ms / 1000);

async function gateway(): Promise<GatewayProcess> {
  const gw = await spawnGateway(config);
  t.teardown(() => gw.kill('SIGKILL'));
  return gw;
}

const first = await gateway();
const push = ffmpegPush(first.pushUrl(room, 'crash_user'), { seconds: 60, realtime: true });
t.teardown(() => push.kill());
const entered = await waitFor(() => rx.events(103).find((e) => e.EventInfo.RoomId === room)?.EventInfo, 20000, '103');
const range = { StartTime: sec(entered.EventMsTs) - 5, EndTime: sec(entered.EventMsTs) + 600 };
const commId = async (gw: GatewayProcess) => (await gw.client.DescribeRoomInfo({ SdkAppId: app, ...range, RoomId: room })).RoomList![0]!.CommId!;
const widths = async (gw: GatewayProcess, cid: string) =>
  (await gw.client.DescribeCallDetailInfo({ SdkAppId: app, CommId: cid, StartTime: range.StartTime, EndTime: range.StartTime + 3600, DataType: ['bigvWidth'] }))
    .Data?.[0]?.Content ?? [];
const cid = await commId(first);
await waitFor(async () => (await widths(first, cid)).length >= 3, 30000, 'three media samples');
const killedAt = Date.now();
first.kill('SIGKILL');
await first.exited;
push.kill();

t.test('the next gateway on the file closes the session and the room at the last sample', async (t) => {
  const second = await gateway();
  const samples = await widths(second, cid);
  const last = samples[samples.length - 1]!.Time!;
  t.ok(samples.length >= 3 && samples.every((s) => s.Value === 320), `the samples taken before the kill are there (${samples.length})`);
  const users = await second.client.DescribeUserInfo({ SdkAppId: app, CommId: cid, StartTime: range.StartTime, EndTime: range.StartTime + 3600 });
  t.same(users.UserList, [{
    RoomStr: room, UserId: 'crash_user', JoinTs: sec(entered.EventMsTs), LeaveTs: last, DeviceType: 'rtmp', SdkVersion: '', ClientIp: '127.0.0.1', Finished: true,
  }], 'the user left at the last sample');
  t.ok(last <= sec(killedAt), 'which is before the kill');
  const rooms = await second.client.DescribeRoomInfo({ SdkAppId: app, ...range, RoomId: room });
  t.same(rooms.RoomList!.map((r) => [r.IsFinished, r.DestroyTime]), [[true, last]], 'the room ended then too');
  const events = await second.client.DescribeUserEvent({ SdkAppId: app, CommId: cid, RoomId: room, UserId: 'crash_user', StartTime: range.StartTime, EndTime: range.StartTime + 3600 });
  t.notOk(events.Data![0]!.Content!.some((e) => e.EventId === 7001), 'no exit event: nobody saw the user leave');
  t.equal(events.Data![0]!.Content![0]!.EventId, 7000, 'the entry is there');
});
