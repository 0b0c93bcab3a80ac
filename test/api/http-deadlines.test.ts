// HTTP deadlines and the per-address cap, against a real gateway driven by raw sockets as a hostile client would:
// slow headers, silence, a stalled or trickled body, a kept-alive socket left open, and a flood of slow sockets
// from one address while another address keeps using the server. Addresses 127.0.0.2/.3 work because the tests
// run in a namespace whose lo carries all of 127.0.0.0/8.

import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { startTestGateway } from '../helpers/gateway.js';
import { connectionsCheckingIntervalMs } from '../../src/api/server.js';

const HEADERS_MS = 1000;
const REQUEST_MS = 2500;
const KEEPALIVE_MS = 1000;
const IDLE_MS = 1500;
const CAP = 50;
/** Node checks header/request deadlines on this period, so a deadline may be passed by up to one period. */
const CHECK_MS = connectionsCheckingIntervalMs(HEADERS_MS);
/** Room for a loaded machine: these bounds say "closed by the deadline", not how fast. */
const SLACK_MS = 1500;
/** Node keeps a kept-alive socket 1 s past the advertised `Keep-Alive: timeout=` so clients close first. */
const NODE_KEEPALIVE_MARGIN_MS = 1000;

const g = await startTestGateway({
  http: {
    port: 0,
    headersTimeoutMs: HEADERS_MS,
    requestTimeoutMs: REQUEST_MS,
    keepAliveTimeoutMs: KEEPALIVE_MS,
    idleTimeoutMs: IDLE_MS,
    maxConnectionsPerAddress: CAP,
  },
});
t.teardown(() => g.close());
const port = g.gw.http.port;

interface RawClient {
  socket: net.Socket;
  connectedAt: number;
  /** Resolves when the server closes the socket: what it had sent and how long after connecting. */
  closed: Promise<{ data: string; afterMs: number }>;
}

function connect(localAddress = '127.0.0.1'): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('error', () => {}); // a refused socket may be reset; 'close' follows either way
    const closed = new Promise<{ data: string; afterMs: number }>((res) =>
      socket.on('close', () => res({ data, afterMs: Date.now() - client.connectedAt })),
    );
    const client: RawClient = { socket, connectedAt: 0, closed };
    socket.once('connect', () => {
      client.connectedAt = Date.now();
      resolve(client);
    });
    socket.once('error', reject);
  });
}

/** Sends a request's headers one byte every ~300 ms and never finishes them. */
function slowloris(c: RawClient): void {
  const head = 'GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Padding: ';
  let i = 0;
  const timer = setInterval(() => {
    if (c.socket.destroyed) return clearInterval(timer);
    c.socket.write(i < head.length ? head[i]! : 'a');
    i++;
  }, 300);
  c.socket.once('close', () => clearInterval(timer));
}

/** GET /healthz on a fresh connection from `localAddress`; resolves with its status and time to answer. */
function healthz(localAddress = '127.0.0.1'): Promise<{ status: number; ms: number }> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', localAddress, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, ms: Date.now() - start }));
    });
    req.on('error', reject);
  });
}

async function limits(): Promise<Record<string, number>> {
  const { status, body } = await g.getJson('/api/limits');
  if (status !== 200) throw new Error(`/api/limits answered ${status}`);
  return body;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a slowloris client is answered 408 or closed at the header deadline', async (t) => {
  const before = (await limits())['http.headersTimeout'] ?? 0;
  const c = await connect();
  slowloris(c);
  const { data, afterMs } = await c.closed;
  t.ok(data === '' || data.startsWith('HTTP/1.1 408 '), `408 or a plain close (got ${JSON.stringify(data.slice(0, 30))})`);
  t.ok(afterMs >= HEADERS_MS, `not before the deadline (${afterMs} ms)`);
  // The deadline counts from the request's first byte, sent ~300 ms after connecting.
  t.ok(afterMs <= 300 + HEADERS_MS + CHECK_MS + SLACK_MS, `closed ${afterMs} ms after connecting`);
  t.equal((await limits())['http.headersTimeout'], before + 1, 'counted as http.headersTimeout');
});

t.test('a socket that sends nothing is closed at the header deadline', async (t) => {
  const c = await connect();
  const { data, afterMs } = await c.closed;
  t.ok(data === '' || data.startsWith('HTTP/1.1 408 '), `408 or a plain close (got ${JSON.stringify(data.slice(0, 30))})`);
  t.ok(afterMs >= HEADERS_MS - 50, `not before the deadline (${afterMs} ms)`);
  t.ok(afterMs <= HEADERS_MS + CHECK_MS + SLACK_MS, `closed ${afterMs} ms after connecting`);
});

t.test('a kept-alive socket is closed after keepAliveTimeoutMs without being counted as a refusal', async (t) => {
  const before = await limits();
  const c = await connect();
  c.socket.write('GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n');
  let answeredAt = 0;
  c.socket.on('data', () => (answeredAt ||= Date.now()));
  const { data } = await c.closed;
  t.match(data, /^HTTP\/1\.1 200 OK\r\n/);
  t.match(data, /\r\nKeep-Alive: timeout=1\r\n/i, 'the client is told the keep-alive deadline');
  const idleFor = Date.now() - answeredAt;
  t.ok(idleFor >= KEEPALIVE_MS - 50, `kept alive for the advertised time (${idleFor} ms)`);
  t.ok(idleFor <= KEEPALIVE_MS + NODE_KEEPALIVE_MARGIN_MS + SLACK_MS, `closed ${idleFor} ms after the answer`);
  const after = await limits();
  t.equal(after['http.idleTimeout'], before['http.idleTimeout'], 'not an idle timeout');
  t.equal(after['http.headersTimeout'], before['http.headersTimeout'], 'not a header timeout');
});

t.test('a body that stalls is cut at idleTimeoutMs; one that trickles is answered 408 at requestTimeoutMs', async (t) => {
  const before = await limits();
  const head = 'POST / HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n';

  const stalled = await connect();
  stalled.socket.write(head + '{"a":');
  const s = await stalled.closed;
  t.equal(s.data, '', 'closed without an answer');
  t.ok(s.afterMs >= IDLE_MS - 50 && s.afterMs <= IDLE_MS + SLACK_MS, `closed ${s.afterMs} ms after connecting`);

  const trickle = await connect();
  trickle.socket.write(head);
  const timer = setInterval(() => trickle.socket.destroyed || trickle.socket.write(' '), 300);
  const r = await trickle.closed;
  clearInterval(timer);
  t.ok(r.data === '' || r.data.startsWith('HTTP/1.1 408 '), `408 or a plain close (got ${JSON.stringify(r.data.slice(0, 30))})`);
  t.ok(r.afterMs >= REQUEST_MS - 50 && r.afterMs <= REQUEST_MS + CHECK_MS + SLACK_MS, `closed ${r.afterMs} ms after connecting`);

  const after = await limits();
  t.equal(after['http.idleTimeout'], (before['http.idleTimeout'] ?? 0) + 1, 'counted as http.idleTimeout');
  t.equal(after['http.requestTimeout'], (before['http.requestTimeout'] ?? 0) + 1, 'counted as http.requestTimeout');
});

t.test('a flood of slow sockets from one address: capped there, while another address is served', async (t) => {
  const attacker = '127.0.0.2';
  const before = (await limits())['http.perAddressLimit'] ?? 0;

  // Fill the cap with slowloris sockets; each one the header deadline cuts is replaced, as an attacker would.
  let flooding = true;
  const open = new Set<RawClient>();
  const keepOne = async (): Promise<void> => {
    const c = await connect(attacker);
    open.add(c);
    slowloris(c);
    await c.closed;
    open.delete(c);
    if (flooding) void keepOne().catch(() => {});
  };
  for (let i = 0; i < CAP; i++) void keepOne().catch(() => {});
  while (open.size < CAP) await sleep(10);

  // Beyond the cap, from the same address: closed at once, with nothing sent, while the first CAP stay open.
  const extras = await Promise.all(Array.from({ length: 10 }, () => connect(attacker)));
  const results = await Promise.all(extras.map((c) => c.closed));
  t.ok(results.every((r) => r.data === ''), 'refused sockets get no answer');
  t.equal(open.size, CAP, 'the slowloris sockets under the cap were still open while the extras were refused');
  t.ok(
    [...open].every((c) => !c.socket.destroyed),
    'none of them was closed for being over the cap',
  );
  t.equal((await limits())['http.perAddressLimit'], before + 10, 'each refused connection counted');

  // Another address is served throughout, including raw sockets beyond the attacker's count.
  const answers: Array<{ status: number; ms: number }> = [];
  const until = Date.now() + 3 * HEADERS_MS;
  while (Date.now() < until) {
    answers.push(await healthz('127.0.0.1'));
    await sleep(100);
  }
  flooding = false;
  for (const c of open) c.socket.destroy();

  t.ok(answers.length >= 10, `${answers.length} health checks made during the flood`);
  t.ok(answers.every((a) => a.status === 200), 'every health check answered 200');
  const slowest = Math.max(...answers.map((a) => a.ms));
  t.ok(slowest < 1000, `every health check answered within 1 s (slowest ${slowest} ms)`);
  // The attacker's sockets were cut by the header deadline and replaced during those 3 s.
  t.ok(((await limits())['http.headersTimeout'] ?? 0) >= CAP, 'the flood sockets were cut by the header deadline');
});

t.test('GET /api/limits shows the HTTP counters', async (t) => {
  const l = await limits();
  for (const name of ['http.perAddressLimit', 'http.headersTimeout', 'http.requestTimeout', 'http.idleTimeout']) {
    t.ok(typeof l[name] === 'number' && l[name]! > 0, `${name}: ${l[name]}`);
  }
});
