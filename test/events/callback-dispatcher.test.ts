// The callback dispatcher against a real HTTP receiver, with the retry schedule shrunk (the real one is tested in
// callback-retry.test.ts): exact TRTC bodies, Sign, retry timing, drop after the window with a log line and a
// counter, the 5 s-style timeout, per-room order, the outbox bound, and shutdown.

import t from 'tap';
import { Writable } from 'node:stream';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../src/log.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { CallbackDispatcher } from '../../src/events/callback-dispatcher.js';
import { ingestEventBody, roomEventBody } from '../../src/events/callback-bodies.js';
import { signCallbackBody } from '../../src/auth/callback-sign.js';
import type { RoomEvent } from '../../src/events/room-events.js';
import { startCallbackReceiver } from '../helpers/callback-receiver.js';
import { waitFor } from '../helpers/gateway.js';

const KEY = 'dispatcherKey7';
const APP = 1400000009;

function capturingLog() {
  const lines: any[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: createLogger('info', stream), lines };
}

function dispatcher(url: string, o: Partial<{ timeoutMs: number; retryIntervalMs: number; maxAgeMs: number; maxQueued: number }> = {}) {
  const { log, lines } = capturingLog();
  const d = new CallbackDispatcher({
    outbox: createMemoryStore().outbox,
    target: (id) => (id === APP ? { callbackUrl: url, callbackKey: KEY } : undefined),
    timeoutMs: o.timeoutMs ?? 1000,
    retryIntervalMs: o.retryIntervalMs ?? 100,
    maxAgeMs: o.maxAgeMs ?? 600,
    maxQueued: o.maxQueued ?? 1000,
    log,
  });
  t.teardown(() => d.close(0));
  return { d, lines };
}

const at = 1700000000123;
const ev = (type: RoomEvent['type'], extra: object = {}): RoomEvent => ({ type, sdkAppId: APP, roomId: 'r1', at, userId: 'u1', ...extra }) as RoomEvent;

t.test('bodies are TRTC bodies, field for field', async (t) => {
  const now = 1700000000999;
  const base = { RoomId: 'r1', EventTs: 1700000000, EventMsTs: at };
  const cases: [RoomEvent, object][] = [
    [ev('room-created'), { EventGroupId: 1, EventType: 101, CallbackTs: now, EventInfo: { ...base, UserId: 'u1' } }],
    [ev('room-dismissed'), { EventGroupId: 1, EventType: 102, CallbackTs: now, EventInfo: base }],
    [ev('user-entered', { role: 'anchor', source: 'pull' }), { EventGroupId: 1, EventType: 103, CallbackTs: now, EventInfo: { ...base, UserId: 'u1', Role: 20, Reason: 1 } }],
    [ev('user-exited', { role: 'anchor', reason: 'kicked' }), { EventGroupId: 1, EventType: 104, CallbackTs: now, EventInfo: { ...base, UserId: 'u1', Role: 20, Reason: 3 } }],
    [ev('user-exited', { role: 'anchor', reason: 'timeout' }), { EventGroupId: 1, EventType: 104, CallbackTs: now, EventInfo: { ...base, UserId: 'u1', Role: 20, Reason: 2 } }],
    [ev('user-entered', { role: 'audience', source: 'whep' }), { EventGroupId: 1, EventType: 103, CallbackTs: now, EventInfo: { ...base, UserId: 'u1', Role: 21, Reason: 1 } }],
    [ev('user-exited', { role: 'audience', reason: 'timeout' }), { EventGroupId: 1, EventType: 104, CallbackTs: now, EventInfo: { ...base, UserId: 'u1', Role: 21, Reason: 2 } }],
    [ev('role-changed', { role: 'anchor' }), { EventGroupId: 1, EventType: 105, CallbackTs: now, EventInfo: { ...base, UserId: 'u1', Role: 20 } }],
    [ev('role-changed', { role: 'audience' }), { EventGroupId: 1, EventType: 105, CallbackTs: now, EventInfo: { ...base, UserId: 'u1', Role: 21 } }],
    [ev('video-started'), { EventGroupId: 2, EventType: 201, CallbackTs: now, EventInfo: { ...base, UserId: 'u1' } }],
    [ev('video-stopped'), { EventGroupId: 2, EventType: 202, CallbackTs: now, EventInfo: { ...base, UserId: 'u1', Reason: 0 } }],
    [ev('audio-started'), { EventGroupId: 2, EventType: 203, CallbackTs: now, EventInfo: { ...base, UserId: 'u1' } }],
    [ev('audio-stopped'), { EventGroupId: 2, EventType: 204, CallbackTs: now, EventInfo: { ...base, UserId: 'u1', Reason: 0 } }],
    // an integer room's RoomId is a number; the audience (a WHEP viewer, a recording's agent) is Role 21
    [ev('user-exited', { roomId: '4321', numericRoom: true, role: 'audience', reason: 'kicked' }), { EventGroupId: 1, EventType: 104, CallbackTs: now, EventInfo: { ...base, RoomId: 4321, UserId: 'u1', Role: 21, Reason: 3 } }],
  ];
  for (const [e, want] of cases) {
    const b = roomEventBody(e, now);
    t.equal(b.body, JSON.stringify(want), `${e.type}`);
  }
  t.equal(
    ingestEventBody(701, 'task-1.', 2, at, now).body,
    `{"EventGroupId":7,"EventType":701,"CallbackMsTs":${now},"EventInfo":{"EventMsTs":${at},"TaskId":"task-1.","Status":2}}`,
  );
});

t.test('delivery: headers and Sign over the exact body', async (t) => {
  const rx = await startCallbackReceiver(KEY);
  t.teardown(() => rx.close());
  const { d } = dispatcher(rx.url);
  d.emit(ev('room-created'));
  d.ingest(APP, 'r1', 701, 'task-9.', 0);
  await waitFor(() => rx.received.length === 2, 3000, 'two callbacks');
  for (const r of rx.received) {
    t.equal(r.sign, signCallbackBody(KEY, r.raw));
    t.ok(r.signOk);
    t.equal(r.contentType, 'application/json');
    t.equal(r.sdkAppId, String(APP));
  }
  t.same(rx.received.map((r) => r.body.EventType), [101, 701]);
  // the receiver records a POST before it answers; the dispatcher counts it delivered once the answer arrives
  await waitFor(() => d.stats().delivered === 2, 3000, 'both counted delivered');
  t.same(d.stats(), { queued: 0, delivered: 2, failedAttempts: 0, dropped: 0 });
});

t.test('a failed callback is retried at once, then every interval, and dropped after the window with a log line', async (t) => {
  const rx = await startCallbackReceiver(KEY);
  t.teardown(() => rx.close());
  await rx.setMode('failing');
  const { d, lines } = dispatcher(rx.url, { retryIntervalMs: 200, maxAgeMs: 1000 });
  d.emit(ev('room-created'));
  await waitFor(() => d.stats().dropped === 1, 3000, 'dropped');
  const times = rx.attempts.map((a) => a.at - rx.attempts[0]!.at);
  t.equal(times.length, 7, `attempts at ${times.join(', ')} ms`);
  t.ok(times[1]! < 100, 'the first retry is immediate');
  for (let i = 2; i < times.length; i++) t.ok(Math.abs(times[i]! - (i - 1) * 200) < 80, `retry ${i} at ${(i - 1) * 200} ms`);
  t.same(d.stats(), { queued: 0, delivered: 0, failedAttempts: 7, dropped: 1 });
  const drop = lines.find((l) => /callback dropped after 7 attempts/.test(l.msg));
  t.ok(drop, 'a log line says so');
  t.equal(drop.event, '101 room-created');
  t.equal(drop.url, rx.url, 'the URL is logged without a query');
});

t.test('a receiver that refuses connections is retried too; events queued behind wait and arrive in order', async (t) => {
  const rx = await startCallbackReceiver(KEY);
  t.teardown(() => rx.close());
  await rx.setMode('down');
  const { d } = dispatcher(rx.url, { retryIntervalMs: 100, maxAgeMs: 800 });
  d.emit(ev('room-created'));
  d.emit(ev('user-entered', { role: 'anchor', source: 'rtmp' }));
  await new Promise((r) => setTimeout(r, 350));
  await rx.setMode('up');
  await waitFor(() => rx.received.length === 2, 3000, 'both delivered once the receiver is back');
  t.same(rx.received.map((r) => r.body.EventType), [101, 103], 'in order');
  t.equal(d.stats().dropped, 0);
});

t.test('a receiver that does not answer within timeoutMs counts as failed', async (t) => {
  let hang = true;
  const seen: number[] = [];
  const server = http.createServer((req, res) => {
    seen.push(Date.now());
    req.resume();
    if (!hang) res.writeHead(200).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const { d, lines } = dispatcher(`http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`, { timeoutMs: 300, retryIntervalMs: 500, maxAgeMs: 5000 });
  d.emit(ev('room-created'));
  await waitFor(() => seen.length === 2, 3000, 'timeout then immediate retry');
  t.ok(seen[1]! - seen[0]! >= 280, `the retry came after the ${300} ms timeout (${seen[1]! - seen[0]!} ms)`);
  t.match(lines.find((l) => l.msg === 'callback delivery failed; retrying')?.failure, /no answer within 300 ms/);
  hang = false;
  await waitFor(() => d.stats().delivered === 1, 3000, 'delivered');
});

t.test('order is kept per room while rooms proceed independently', async (t) => {
  const got: any[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString());
      // Room B answers slowly; room A must not wait for it.
      setTimeout(() => {
        got.push(body);
        res.writeHead(200).end();
      }, body.EventInfo.RoomId === 'B' ? 40 : Math.random() * 10);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const { d } = dispatcher(`http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`, { maxAgeMs: 10_000 });
  for (let i = 0; i < 20; i++) {
    d.emit({ type: 'room-created', sdkAppId: APP, roomId: 'A', numericRoom: false, at: i, userId: `a${i}` });
    d.emit({ type: 'room-created', sdkAppId: APP, roomId: 'B', numericRoom: false, at: i, userId: `b${i}` });
  }
  await waitFor(() => got.length === 40, 10000, 'all delivered').catch((e) => { console.error('GOT', got.length, JSON.stringify(d.stats()), got.map((b) => b.EventInfo.RoomId + b.EventInfo.EventMsTs).join(' ')); throw e; });
  const seq = (room: string) => got.filter((b) => b.EventInfo.RoomId === room).map((b) => b.EventInfo.EventMsTs);
  t.same(seq('A'), [...Array(20).keys()], 'room A in order');
  t.same(seq('B'), [...Array(20).keys()], 'room B in order');
  const lastA = got.findIndex((b) => b.EventInfo.RoomId === 'A' && b.EventInfo.EventMsTs === 19);
  t.ok(lastA < 30, 'room A finished before slow room B');
});

t.test('emit never waits, the outbox is bounded, apps without a URL get nothing, close gives up after flushMs', async (t) => {
  const rx = await startCallbackReceiver(KEY);
  t.teardown(() => rx.close());
  await rx.setMode('down');
  const { d, lines } = dispatcher(rx.url, { maxQueued: 100, retryIntervalMs: 10_000, maxAgeMs: 60_000 });
  const t0 = performance.now();
  for (let i = 0; i < 150; i++) d.emit({ type: 'room-created', sdkAppId: APP, roomId: `room${i % 7}`, numericRoom: false, at: i, userId: 'u' });
  t.ok(performance.now() - t0 < 100, 'emitting 150 events with a dead receiver returns at once');
  t.equal(d.stats().dropped, 50, 'beyond maxQueued new events are dropped');
  t.ok(lines.some((l) => l.msg === 'callback dropped: outbox full'));
  d.emit({ type: 'room-created', sdkAppId: 1, roomId: 'x', numericRoom: false, at: 0, userId: 'u' });
  t.equal(d.stats().queued, 100, 'an app without callbackUrl queues nothing');
  const c0 = Date.now();
  await d.close(300);
  t.ok(Date.now() - c0 < 1000, 'close waited about flushMs');
  t.ok(lines.some((l) => l.msg === 'callbacks left undelivered at shutdown' && l.undelivered === 100));
});
