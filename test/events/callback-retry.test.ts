// The real retry schedule (defaults: 5 s timeout, retry at once, then every 10 s, for one minute) against a gateway
// whose callback receiver is down for 25 s while a pull task starts: every event arrives, in order, signed, and the
// first one was tried at 0 s, at once again, at 10 s and 20 s, and delivered at 30 s.

import t from 'tap';
import { waitFor, TEST_APP } from '../helpers/gateway.js';
import { makeMedia } from '../helpers/media-server.js';
import { startPullFixture } from '../helpers/pull-fixture.js';

const f = await startPullFixture();
t.teardown(() => f.close());

t.test('receiver down for 25 s, then up: nothing lost, order kept, retry timing as TRTC documents', async (t) => {
  const file = await makeMedia('flv-h264-aac', 60);
  await f.rx.setMode('failing'); // answers 503: down for the gateway, but we can see each attempt
  const taskId = await f.start('retry-room', 'retry_user', `${f.media.base}/${file}`);
  await waitFor(() => f.rx.attempts.length > 0, 5000, 'first attempt');
  const t0 = f.rx.attempts[0]!.at;
  await new Promise((r) => setTimeout(r, 25_000 - (Date.now() - t0)));
  await f.rx.setMode('up');
  await waitFor(() => f.rx.received.length >= 5, 10_000, 'delivery after the receiver is back');

  const first = f.rx.attempts.filter((a) => a.raw === f.rx.attempts[0]!.raw).map((a) => a.at - t0);
  t.equal(first.length, 5, `the first event was tried at ${first.join(', ')} ms`);
  const want = [0, 0, 10_000, 20_000, 30_000];
  first.forEach((ms, i) => t.ok(Math.abs(ms - want[i]!) < 700, `attempt ${i + 1} at ~${want[i]} ms (${ms})`));
  t.ok(
    f.rx.attempts.slice(0, 4).every((a) => a.raw === f.rx.attempts[0]!.raw),
    'nothing overtook the first event while it was failing',
  );

  const types = f.rx.received.map((r) => r.body.EventType);
  t.same(types.slice(0, 2), [101, 103], 'room created, user entered');
  t.same(types.slice(2, 5).sort(), [201, 203, 701], 'media started and the task started');
  t.ok(f.rx.received.every((r) => r.signOk), 'every Sign verifies');
  t.equal(new Set(f.rx.received.map((r) => r.raw)).size, f.rx.received.length, 'each event delivered once');
  const ms = f.rx.received.map((r) => r.body.EventInfo.EventMsTs);
  t.same(ms, [...ms].sort((a, b) => a - b), 'in the order they happened');

  await f.client.StopStreamIngest({ SdkAppId: TEST_APP.sdkAppId, TaskId: taskId });
  await f.ended(taskId, 5000);
  t.same(f.rx.received.slice(-3).map((r) => r.body.EventType), [104, 102, 702], 'the rest arrive at once');
  const stats = (await f.g.getJson('/api/callbacks')).body;
  t.match(stats, { queued: 0, delivered: 8, dropped: 0 });
  t.equal(stats.failedAttempts, 4);
});
