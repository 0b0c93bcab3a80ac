// A relay to CDN survives its node's death (issue 20): two real gateway processes sharing one real Redis, an ffmpeg
// RTMP publisher and a relay started with the official SDK on node A, nginx-rtmp as the CDN, a callback receiver
// checking Sign.
// - An Update sent to node B while A runs the relay is handed to A (the new URL plays).
// - A is SIGKILLed; the publisher reconnects to B. Within the lease + 10 s, B runs the relay under the same TaskId and
//   both URLs play again from B (ffprobe reads H.264), each URL's 401s from B being Status 1 then 2 (signed).
// - The SequenceNumber applied on A still counts on B (a stale Update is refused).
// - A third node, started later, hands a Stop to B (5 then 0 per URL); never two pushes of one URL at once.
// - A relay whose record is as an older gateway wrote it (the URLs, no spec) ends as before: 401 Status 0, ErrorCode 2.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { officialUserSig, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { apiError } from '../helpers/api3.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { CALLBACK_KEY } from '../helpers/pull-fixture.js';
import type { GatewayProcess } from '../helpers/gateway-process.js';
import { clusterNode } from '../helpers/cluster-node.js';
import { startRedis } from '../helpers/redis-server.js';
import { startRtmpReceiver } from '../relay/rtmp-receiver.js';
import { openStore } from '../../src/store/open-store.js';

t.setTimeout(240_000);
const exec = promisify(execFile);
const { sdkAppId } = TEST_APP;
const LEASE_MS = 1500;

const redis = await startRedis();
t.teardown(() => redis.close());
const rx = await startCallbackReceiver(CALLBACK_KEY);
t.teardown(() => rx.close());
const cdn = await startRtmpReceiver();
t.teardown(() => cdn.close());

async function node(t: Test, id: string): Promise<GatewayProcess> {
  return clusterNode(t, {
    id, redisUrl: redis.url, prefix: 'rg-relay-fo:', callbackUrl: rx.url, leaseMs: LEASE_MS,
    config: {
      callbacks: { retryIntervalMs: 500, flushOnCloseMs: 300 },
      // the CDN is on loopback: push URLs obey the pull sources' host rules
      pull: { allow: ['127.0.0.1'] },
      relay: { retrySeconds: 1, giveUpSeconds: 30 },
    },
    logged: (l) => l.level >= 40 || l.component === 'relay',
  });
}

/** The relay's 401 Payloads for one URL, in arrival order. */
const payloads = (taskId: string, url: string): any[] => rx.events(401, taskId).map((e) => e.EventInfo.Payload).filter((p) => p.Url === url);
const statuses = (taskId: string, url: string): number[] => payloads(taskId, url).map((p) => p.Status as number);
const streamName = (url: string) => url.slice(url.lastIndexOf('/') + 1);

/** A relay's record rewritten as a gateway from before failover wrote it: the push URLs only. */
async function makeOlderRecord(taskId: string, urls: string[]): Promise<void> {
  const store = openStore({ kind: 'redis', file: ':memory:', redisUrl: redis.url, redisPrefix: 'rg-relay-fo:' });
  try {
    await store.relays.update(taskId, { resume: JSON.stringify({ urls }) });
  } finally {
    await store.close();
  }
}

/** Connections to the CDN's RTMP port held by gateway processes (the engine pushes from within them), by node pid. */
async function pushConnections(): Promise<number> {
  const { stdout } = await exec('ss', ['-tnpH', 'state', 'established', `( dport = :${cdn.rtmpPort} )`]);
  return stdout.split('\n').filter((l) => /users:\(\("node"/.test(l)).length;
}

async function expectH264(t: Test, stream: string, what: string): Promise<void> {
  const probed = await cdn.probe(stream);
  t.match(probed.streams.find((s: any) => s.codec_type === 'video'), { codec_name: 'h264', width: 320, height: 240 }, `${what}: H.264 320x240`);
}

t.test('a dead node\'s relay resumes on the survivor, and any node hands Update and Stop to the one running it', async (t) => {
  const [a, b] = await Promise.all([node(t, 'ra'), node(t, 'rb')]);
  const room = 'relay-failover';
  const first = cdn.url('fo-first');
  const second = cdn.url('fo-second');
  const pubA = ffmpegPush(a.pushUrl(room, 'anchor'), { seconds: 120, realtime: true, size: '320x240' });
  t.teardown(() => pubA.stop());
  const startReq = (agent: string, relayed: string, url: string): any => ({
    SdkAppId: sdkAppId, RoomId: room, RoomIdType: 1, WithTranscoding: 0,
    AgentParams: { UserId: agent, UserSig: officialUserSig(agent), MaxIdleTime: 60 },
    SingleSubscribeParams: { UserMediaStream: { UserInfo: { UserId: relayed } } },
    AudioParams: { AudioEncode: { SampleRate: 44100, Channel: 1, BitRate: 64 } },
    VideoParams: { VideoEncode: { Width: 320, Height: 240, Fps: 30, BitRate: 500, Gop: 1 } },
    PublishCdnParams: [{ PublishCdnUrl: url, IsTencentCdn: 0 }],
  });
  const taskId = (await a.client.StartPublishCdnStream(startReq('relay_agent', 'anchor', first))).TaskId!;
  // a second relay, of a user who never publishes (so it never connects), its record as an older gateway kept it
  const older = cdn.url('fo-older');
  const olderId = (await a.client.StartPublishCdnStream(startReq('older_agent', 'absent', older))).TaskId!;
  await makeOlderRecord(olderId, [older]);
  await waitFor(() => statuses(taskId, first).includes(2), 30_000, '401 Status 2 from node A');
  await expectH264(t, 'fo-first', 'the CDN plays the relay from node A');

  // an Update sent to the node that does not run the relay is handed to the one that does
  await b.client.UpdatePublishCdnStream({
    SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 1, WithTranscoding: 0,
    PublishCdnParams: [first, second].map((u) => ({ PublishCdnUrl: u, IsTencentCdn: 0 })),
  } as any);
  await waitFor(() => statuses(taskId, second).includes(2), 30_000, "the second URL running (the Update sent to B, run on A)");
  await expectH264(t, 'fo-second', 'the second URL plays');
  t.ok(a.logs.some((l) => l.msg === 'relay started' && l.taskId === taskId), 'node A runs the relay');

  // how many gateway connections push to the CDN, sampled until the relay stops: one per URL at most
  let most = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      most = Math.max(most, await pushConnections());
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  t.teardown(() => void (sampling = false));

  const before = { first: payloads(taskId, first).length, second: payloads(taskId, second).length };
  a.kill('SIGKILL');
  const killedAt = (await a.exited).at;
  await pubA.exited;
  // the encoder reconnects, as an encoder behind a load balancer would, to the node that is left
  const pubB = ffmpegPush(b.pushUrl(room, 'anchor'), { seconds: 120, realtime: true, size: '320x240' });
  t.teardown(() => pubB.stop());

  const afterKill = (url: string, n: number) => payloads(taskId, url).slice(n);
  await waitFor(() => afterKill(first, before.first).some((p) => p.Status === 2) && afterKill(second, before.second).some((p) => p.Status === 2),
    LEASE_MS + 10_000 + 20_000, 'both URLs running again from node B');
  const resumedAt = Math.max(...rx.events(401, taskId).filter((e) => e.EventInfo.Payload.Status === 2).map((e) => e.EventInfo.EventMsTs));
  t.ok(resumedAt - killedAt <= LEASE_MS + 10_000, `running again ${resumedAt - killedAt} ms after the kill (lease ${LEASE_MS} ms + 10 s at most)`);
  t.ok(b.logs.some((l) => l.msg === 'relay resumed from a dead node' && l.taskId === taskId), 'node B took the relay over under its TaskId');
  await waitFor(() => statuses(olderId, older).includes(0), 10_000, "the older record's relay ended");
  t.match(payloads(olderId, older), [{ Status: 0, ErrorCode: 2, ErrorMsg: /^gateway node ra died while relaying, and a surviving node could not resume the task: its record keeps no spec/ }],
    'a relay whose record keeps no spec ends as before: 401 Status 0, ErrorCode 2, saying why');
  t.notOk(b.logs.some((l) => l.msg === 'relay resumed from a dead node' && l.taskId === olderId), 'and is not resumed');
  for (const [url, n] of [[first, before.first], [second, before.second]] as const) {
    const after = afterKill(url, n);
    t.same(after.map((p) => p.Status), [1, 2], `${streamName(url)}: 401 Status 1 then 2 from node B, as a push start gives`);
    t.ok(after.every((p) => p.ErrorCode === 0), 'with ErrorCode 0');
  }
  await expectH264(t, 'fo-first', 'the first URL plays again, from node B');
  await expectH264(t, 'fo-second', 'the second URL plays again, from node B');

  const stale = await apiError(b.client.UpdatePublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId, SequenceNumber: 1, WithTranscoding: 0 } as any));
  t.equal(stale.code, 'FailedOperation.OutdateRequest', 'the SequenceNumber applied on node A still counts on node B');

  // a node that never ran the relay hands Stop to node B
  const c = await node(t, 'rc');
  await c.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId });
  await waitFor(() => statuses(taskId, first).at(-1) === 0 && statuses(taskId, second).at(-1) === 0, 20_000, 'each URL ended: 401 Status 0');
  for (const url of [first, second]) t.same(statuses(taskId, url).slice(-2), [5, 0], `${streamName(url)}: 5 then 0 after the Stop`);
  t.ok(b.logs.some((l) => l.msg === 'relay ended' && l.taskId === taskId && l.reason === 'StopPublishCdnStream'), 'node B ended it');
  t.notOk(c.logs.some((l) => l.taskId === taskId && /relay (started|resumed)/.test(l.msg)), 'node C never ran it');
  const gone = await apiError(c.client.StopPublishCdnStream({ SdkAppId: sdkAppId, TaskId: taskId }));
  t.equal(gone.code, 'ResourceNotFound', 'a second Stop: the relay has ended');

  sampling = false;
  await sampler;
  t.ok(most >= 1 && most <= 2, `never more than one push per URL at once (at most ${most} gateway connections for 2 URLs)`);
  t.ok(rx.received.every((r) => r.signOk), 'every callback carries a correct Sign');
  const agentStory = rx.received.map((r) => r.body).filter((b) => [103, 104].includes(b.EventType) && b.EventInfo.UserId === 'relay_agent');
  t.same(agentStory.map((b) => (b.EventType === 104 ? `104 Reason ${b.EventInfo.Reason}` : '103')), ['103', '104 Reason 1'],
    'the agent user stays in the room through the takeover: one 103, and its 104 comes with the Stop');
});
