// src/node-internals.ts against the Node it runs on: each helper finds what it reaches for (a socket's file
// descriptor, Node's reading stopped) on real sockets, and the media engine really reads a UDP socket once Node
// stopped: a datagram sent to it arrives as the engine's event, not as Node's 'message'.

import t from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
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
