// The room-creation bit (1) of a PrivateMapKey, where the app requires a key, decided in one step with the join:
// - two ffmpeg RTMP publishers join a closed room at the same moment, one key with the bit and one without. Whichever
//   the gateway takes first decides, and only two outcomes are TRTC's: the one with the bit creates the room and the
//   other joins it after, or the one without is refused because it would have created the room. Never is the one
//   without the bit in the room first, or its creator.
// - a pull task let in while the room was open (its user has no create bit), whose room then closes before its
//   first frame: joining now would create the room, so it is refused at the join (702), and no 101/103 names it.
//   The pull source is held back by the test's media server until the room has closed: an order, not a timing.
// Callbacks go to a real receiver that checks every `Sign`.

import t from 'tap';
import type http from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { officialPrivateMapKey, officialUserSig, startTestGateway, waitFor, OTHER_APP } from '../helpers/gateway.js';
import { ffmpegPush, type Run } from '../helpers/clients.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { makeMedia, startMediaServer, PULL_MEDIA_DIR } from '../helpers/media-server.js';
import { trtcClient, TEST_CREDENTIAL } from '../helpers/api3.js';

const PRIV = { CREATE: 1, ENTER: 2, SEND_AUDIO: 4, SEND_VIDEO: 16 };
const PUBLISHER = PRIV.ENTER | PRIV.SEND_AUDIO | PRIV.SEND_VIDEO;
const KEY = 'createRaceKey3';
const STRICT = { ...OTHER_APP, requirePrivateMapKey: true };
const NO_CREATE = /room '[^']+' is not open yet and this user would create it, but the privatemapkey lacks the privilege to create the room \(has enter, send audio, send video\)/;

const rx = await startCallbackReceiver(KEY);
t.teardown(() => rx.close());
const media = await startMediaServer();
t.teardown(() => media.close());
const g = await startTestGateway({
  rtmp: { port: 0, authFailureDelayMinMs: 10, authFailureDelayMaxMs: 50 },
  apps: [{ ...STRICT, callbackUrl: rx.url, callbackKey: KEY }],
  api: { credentials: [TEST_CREDENTIAL] },
  pull: { allow: ['127.0.0.1'] },
});
t.teardown(() => g.close());
const client = trtcClient(`127.0.0.1:${g.gw.http.port}`);

function push(room: string, user: string, priv: number): Run {
  const url = `${g.rtmpBase}/push/${room}?sdkappid=${STRICT.sdkAppId}&userid=${user}&usersig=${officialUserSig(user, 3600, STRICT)}` +
    `&privatemapkey=${officialPrivateMapKey(user, room, priv, STRICT)}`;
  const run = ffmpegPush(url, { seconds: 60, realtime: true });
  t.teardown(() => run.kill());
  return run;
}

/** The room's callbacks of group 1 in arrival order: "101 owner", "103 guest", "104 owner", "102". */
const roomSaid = (room: string) => rx.received.map((r) => r.body)
  .filter((b) => b.EventGroupId === 1 && b.EventInfo.RoomId === room)
  .map((b) => `${b.EventType}${b.EventInfo.UserId ? ` ${b.EventInfo.UserId}` : ''}`);
const usersIn = async (room: string): Promise<string[]> => {
  const r = await g.getJson(`/api/rooms/${STRICT.sdkAppId}/${room}`);
  return r.status === 200 ? r.body.users.map((u: any) => u.userId).sort() : [];
};
const serverSaid = (run: Run) => run.output().split(/[\r\n]+/).find((l) => /Server error/.test(l)) ?? '';

t.test('two first joins at once, one key with the create bit and one without: one of the two outcomes TRTC gives', async (t) => {
  const outcomes: string[] = [];
  for (let round = 0; round < 4; round++) {
    const room = `race-${round}`;
    // both encoders start together; which one's publish the gateway takes first is up to the machine
    const [owner, guest] = round % 2 === 0
      ? [push(room, 'owner', PUBLISHER | PRIV.CREATE), push(room, 'guest', PUBLISHER)]
      : [push(room, 'guest', PUBLISHER), push(room, 'owner', PUBLISHER | PRIV.CREATE)].reverse() as [Run, Run];
    await waitFor(async () => (await usersIn(room)).includes('owner'), 20000, `owner publishing in ${room}`);
    const outcome = await waitFor(async () => {
      if ((await usersIn(room)).includes('guest')) return 'guest joined the owner\'s room';
      return serverSaid(guest) ? 'guest refused' : null;
    }, 20000, `guest in ${room}, or refused`);
    outcomes.push(outcome);
    await waitFor(() => roomSaid(room).filter((s) => s.startsWith('103')).length === (outcome === 'guest refused' ? 1 : 2), 5000, '103s delivered');
    const said = roomSaid(room);
    t.equal(said[0], '101 owner', `${room}: the room's creator is the user with the create bit`);
    if (outcome === 'guest refused') {
      t.match(serverSaid(guest), NO_CREATE, `${room}: the guest was told why (it would have created the room)`);
      t.same(said, ['101 owner', '103 owner'], `${room}: only the owner entered`);
    } else {
      t.same(said, ['101 owner', '103 owner', '103 guest'], `${room}: the guest entered the room the owner had opened, after the owner`);
    }
    owner.kill();
    guest.kill();
    await waitFor(() => roomSaid(room).includes('102'), 20000, `${room} closed`);
  }
  t.comment(`outcomes: ${outcomes.join('; ')}`);
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a valid Sign');
});

t.test('a pull task let in while the room was open, whose room closed before its first frame, is refused at the join', async (t) => {
  const room = 'closes-first';
  const file = await makeMedia('flv-h264-aac', 20);
  // the source answers only once the room has closed
  const held: http.ServerResponse[] = [];
  let open = false;
  const serve = (res: http.ServerResponse) => {
    const path = join(PULL_MEDIA_DIR, file);
    res.writeHead(200, { 'content-type': 'video/x-flv', 'content-length': statSync(path).size });
    createReadStream(path).pipe(res);
  };
  media.intercept = (req, res) => {
    if (open || !req.url?.includes(file)) return false;
    held.push(res);
    return true;
  };
  t.teardown(() => { media.intercept = null; });

  const owner = push(room, 'owner', PUBLISHER | PRIV.CREATE);
  await waitFor(async () => (await usersIn(room)).includes('owner'), 20000, 'owner publishing');
  const { TaskId } = await client.StartStreamIngest({
    SdkAppId: STRICT.sdkAppId, RoomId: room, RoomIdType: 0, UserId: 'puller', UserSig: officialUserSig('puller', 3600, STRICT),
    PrivateMapKey: officialPrivateMapKey('puller', room, PUBLISHER, STRICT), StreamUrl: `${media.base}/${file}`,
  } as any);
  t.ok(TaskId, 'StartStreamIngest let the user in: the room was open');
  await waitFor(() => held.length > 0, 20000, 'the task asked for its source');
  owner.kill();
  await waitFor(() => roomSaid(room).includes('102'), 20000, 'the room closed');
  open = true;
  for (const res of held.splice(0)) serve(res);

  await waitFor(() => rx.events(702, TaskId).length > 0, 30000, '702 for the task');
  const ended = (await g.getJson('/api/tasks')).body.ended.find((e: any) => e.taskId === TaskId);
  t.match(JSON.stringify(ended), NO_CREATE, `the task ended because joining would have created the room: ${JSON.stringify(ended)}`);
  t.same(roomSaid(room), ['101 owner', '103 owner', '104 owner', '102'], 'no 101 or 103 names the pull task\'s user');
  t.same(await usersIn(room), [], 'nobody is in the room');
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a valid Sign');
});
