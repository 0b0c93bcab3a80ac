// src/node-internals.ts against the Node it runs on: each helper finds what it reaches for (a socket's file
// descriptor, Node's reading stopped) on real sockets, and the media engine really reads a UDP socket once Node
// stopped: a datagram sent to it arrives as the engine's event, not as Node's 'message'.

import t from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../src/paths.js';
import { stopUdpReading, tcpSocketFd, udpSocketFd } from '../src/node-internals.js';
import { MediaEngine } from '../src/room/engine.js';
import { createLogger } from '../src/log.js';
import type { PipeEvent } from '../src/native/rtmp-plane.js';

t.test('udpSocketFd: -1 before bind, a descriptor after', async (t) => {
  const sock = dgram.createSocket('udp4');
  t.teardown(() => sock.close());
  t.equal(udpSocketFd(sock), -1, 'not bound yet');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  t.ok(udpSocketFd(sock) > 2, `fd ${udpSocketFd(sock)}`);
});

t.test('tcpSocketFd: a connected socket has one, a plain object not', async (t) => {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  t.teardown(() => (client.destroy(), server.close()));
  t.ok(tcpSocketFd(client) > 2);
  t.equal(tcpSocketFd({}), -1);
});

t.test('stopUdpReading: Node stops, the media engine reads the datagrams', async (t) => {
  const engine = MediaEngine.start(createLogger('silent'));
  t.teardown(() => engine.close());
  const sock = dgram.createSocket('udp4');
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  const seenByNode: Buffer[] = [];
  sock.on('message', (m) => seenByNode.push(m));
  t.equal(stopUdpReading({}), false, 'another shape: nothing changed');
  t.equal(stopUdpReading(sock), true);

  const pipe = engine.openPipe({ opusBitrate: 64000, opusComplexity: 5 });
  const events: PipeEvent[] = [];
  pipe.onEvent = (e) => events.push(e);
  pipe.attachRtp({
    fd: udpSocketFd(sock), profile: 1, key: Buffer.alloc(16, 1), salt: Buffer.alloc(14, 2),
    videoPayloadTypes: [102], audioPayloadTypes: [111], clockStart: engine.native.now(),
  });
  const sender = dgram.createSocket('udp4');
  t.teardown(() => (sender.close(), sock.close(), pipe.close()));
  const stun = Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, ...Buffer.alloc(12, 7)]);
  sender.send(stun, (sock.address() as { port: number }).port, '127.0.0.1');
  for (let i = 0; i < 100 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  const got = events.find((e) => e.kind === 'datagram');
  t.ok(got, 'the engine read the datagram and handed it back as werift\'s');
  if (got?.kind === 'datagram') {
    t.same(got.body, stun, 'byte for byte');
    t.equal(got.address, '127.0.0.1');
    t.equal(got.port, (sender.address() as { port: number }).port, 'with its source port');
  }
  t.same(seenByNode, [], 'Node read nothing');
});

t.test('exclusiveUdpBinds: cluster workers own their UDP sockets instead of sharing the primary\'s', async (t) => {
  // Two real cluster workers bind the same UDP port. Node shares one handle between workers unless a bind is
  // exclusive, so without the patch both succeed; with it the second gets EADDRINUSE, as two processes would.
  const dir = await mkdtemp(join(tmpdir(), 'rg-udp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const script = join(dir, 'workers.mjs');
  await writeFile(script, `
    import cluster from 'node:cluster';
    import dgram from 'node:dgram';
    import { exclusiveUdpBinds, udpSocketFd } from ${JSON.stringify(repoPath('dist/src/node-internals.js'))};
    const patched = process.argv[2] === 'patched';
    if (cluster.isPrimary) {
      const results = [];
      const port = Number(process.argv[3]);
      const run = (i) => new Promise((resolve) => {
        const w = cluster.fork({ PORT: String(port), FORM: String(i) });
        w.on('message', (m) => { results.push(m); resolve(); });
      });
      await run(0);
      await run(1);
      console.log(JSON.stringify(results));
      process.exit(0);
    } else {
      if (patched) exclusiveUdpBinds();
      const s = dgram.createSocket('udp4');
      s.on('error', (e) => process.send({ error: e.code }));
      const port = Number(process.env.PORT);
      const done = () => process.send({ port: s.address().port, fd: udpSocketFd(s) });
      // the two ways werift and others call bind
      if (process.env.FORM === '0') s.bind(port, '127.0.0.1', done);
      else s.bind({ port, address: '127.0.0.1' }, done);
      setInterval(() => {}, 1000);
    }
  `);
  const free = dgram.createSocket('udp4');
  free.bind(0, '127.0.0.1');
  await once(free, 'listening');
  const port = (free.address() as { port: number }).port;
  free.close();
  const run = (mode: string) => new Promise<any[]>((resolve, reject) => {
    execFile(process.execPath, [script, mode, String(port)], { timeout: 20_000 }, (err, out) => (err ? reject(err) : resolve(JSON.parse(out))));
  });
  const shared = await run('plain');
  t.same(shared.map((r) => r.port), [port, port], 'unpatched: both workers "bind" the port (one shared socket)');
  const own = await run('patched');
  t.equal(own[0].port, port, 'patched: the first worker binds it');
  t.ok(own[0].fd >= 0, 'with a file descriptor of its own for the media engine');
  t.same(own[1], { error: 'EADDRINUSE' }, 'the second worker cannot: each worker owns its sockets');
});
