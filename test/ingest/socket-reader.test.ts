// The RTMP sockets' reader (src/net/socket-reader.ts): over real loopback TCP, every byte arrives once and
// in order through the reused buffer, from two sockets at once, and end-of-stream or a reset still closes the socket. On this
// Node (20) the reused-buffer mode must be the one taken: if a Node upgrade moves the internals it relies on, this
// test says so instead of the gateway silently reading the slower way. End to end (ffmpeg, GStreamer, OBS pushing
// through it) is covered by the RTMP ingest tests.

import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { readSocket, type SocketReadMode } from '../../src/net/socket-reader.js';

interface Received {
  mode: SocketReadMode;
  done: Promise<{ hash: string; bytes: number; reads: number }>;
}

/** A server whose sockets are read with readSocket, hashing what arrives until the peer closes. */
async function hashingServer(): Promise<{ server: Server; port: number; next: () => Promise<Received> }> {
  const waiting: ((r: Received) => void)[] = [];
  const server = createServer({ pauseOnConnect: true }, (socket: Socket) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let reads = 0;
    socket.on('error', () => {}); // a reset peer: 'close' follows, as on the gateway's sockets
    const done = new Promise<{ hash: string; bytes: number; reads: number }>((resolve) =>
      socket.on('close', () => resolve({ hash: hash.digest('hex'), bytes, reads })),
    );
    const mode = readSocket(socket, (data) => {
      reads++;
      bytes += data.length;
      hash.update(data);
    });
    waiting.shift()?.({ mode, done });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, port, next: () => new Promise((r) => waiting.push(r)) };
}

/** Sends `data` in writes of varied sizes (1 byte to 40 KiB), then ends the connection. */
async function send(port: number, data: Buffer): Promise<void> {
  const c = connect(port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  let off = 0;
  let i = 0;
  while (off < data.length) {
    const size = [1, 7, 1500, 40960, 333, 4096][i++ % 6];
    if (!c.write(data.subarray(off, off + size))) await new Promise((r) => c.once('drain', r));
    off += size;
  }
  await new Promise<void>((r) => c.end(r));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('two sockets at once: every byte arrives in order through the shared buffer', async (t) => {
  const { server, port, next } = await hashingServer();
  t.teardown(() => server.close());
  const a = randomBytes(3 * 1024 * 1024);
  const b = randomBytes(2 * 1024 * 1024 + 17);
  const gotA = next();
  const sendA = send(port, a);
  const ra = await gotA;
  const gotB = next();
  const sendB = send(port, b);
  const rb = await gotB;
  await Promise.all([sendA, sendB]);
  t.equal(ra.mode, 'reused-buffer', 'Node 20 sockets are read into the reused buffer');
  t.equal(rb.mode, 'reused-buffer');
  const [da, db] = await Promise.all([ra.done, rb.done]);
  t.equal(da.bytes, a.length);
  t.equal(da.hash, sha(a), 'first socket: same bytes in the same order');
  t.equal(db.bytes, b.length);
  t.equal(db.hash, sha(b), 'second socket: same bytes in the same order');
  t.ok(da.reads > 1 && db.reads > 1, `read in several pieces (${da.reads} and ${db.reads} reads)`);
});

t.test('a peer that resets mid-stream: the socket closes, what arrived before is intact', async (t) => {
  const { server, port, next } = await hashingServer();
  t.teardown(() => server.close());
  const got = next();
  const c = connect(port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  const r = await got;
  const first = randomBytes(100_000);
  await new Promise<void>((res) => c.write(first, () => res()));
  await new Promise((res) => setTimeout(res, 100));
  c.resetAndDestroy();
  const d = await r.done;
  t.equal(r.mode, 'reused-buffer');
  t.equal(d.bytes, first.length);
  t.equal(d.hash, sha(first));
});
