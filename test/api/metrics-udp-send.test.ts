// GET /metrics shows the RTP packets the engine lost on the way out (roomgate_udp_send_errors_total by kind,
// roomgate_udp_send_dropped_total by reason; native/src/plane/send_counters.h counts them). A real gateway, a real
// ffmpeg RTMP publisher, and two consumers of its pipe made here on the engine's own handle (Pipe.addSink, as a WHEP
// viewer's tracks are): one aimed through a UDP socket connected to a loopback port nobody listens on, so the kernel
// answers with ICMP port unreachable and the next sends fail with ECONNREFUSED; one whose transport has no ICE
// consent, so the engine drops its packets unsent.
//
// Why not a browser whose socket is closed: the gateway sends on werift's UDP socket, which is not connected, and
// Linux reports no ICMP errors on such a socket (udp(7): only with IP_RECVERR), so a vanished viewer costs no send
// error; and its consent expiring (30 s) closes the viewer at once, RTCP silence (15 s) even before. A full send
// buffer cannot be provoked on loopback at all (the loopback device frees each datagram as it is sent); the plane
// test provokes it on a stream socket (test/native/plane-backlog.test.ts), with exact accounting of every kind.

import t from 'tap';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { startTestGateway, waitFor, TEST_APP } from '../helpers/gateway.js';
import { ffmpegPush } from '../helpers/clients.js';
import { loadSrtpSend, SRTP_AEAD_AES_128_GCM } from '../../src/native/srtp-send.js';
import { stopUdpReading, udpSocketFd } from '../../src/node-internals.js';
import { NOTHING_SENT, type Sink } from '../../src/room/engine.js';

const g = await startTestGateway();
t.teardown(() => g.close());

/** The value of one series of GET /metrics, picked by name and one label (the node label is always there too). */
async function series(name: string, label: string): Promise<number | null> {
  const res = await fetch(`${g.httpBase}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  const text = await res.text();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(label)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return null;
}
const errors = (kind: string) => series('roomgate_udp_send_errors_total', `kind="${kind}"`);
const dropped = (reason: string) => series('roomgate_udp_send_dropped_total', `reason="${reason}"`);

t.test('a refused send and a viewer without consent raise the UDP send counters in /metrics', async (t) => {
  t.same(
    [await errors('buffer_full'), await errors('other'), await dropped('behind'), await dropped('no_consent')],
    [0, 0, 0, 0],
    'all four series are there, at zero before anything was lost',
  );

  const pub = ffmpegPush(g.pushUrl('udp-send-room', 'anchor'), { seconds: 60, realtime: true });
  t.teardown(() => pub.kill());
  const publisher = await waitFor(() => {
    const room = g.gw.rooms.list().find((r) => r.sdkAppId === TEST_APP.sdkAppId);
    const p = room ? [...room.publishers.values()][0] : undefined;
    return p && (p.pipe.stats()?.videoFrames ?? 0) > 0 ? p : null;
  }, 15000, 'the publisher\'s frames in the engine');

  const mod = loadSrtpSend();
  if (!mod) throw new Error('native addon not built');
  const sender = new mod.SrtpSender({ profile: SRTP_AEAD_AES_128_GCM, key: randomBytes(16), salt: randomBytes(12) });
  t.teardown(() => sender.close());

  // a loopback port nobody listens on: bound, noted, closed
  const gone = createSocket('udp4');
  await new Promise<void>((r) => gone.bind(0, '127.0.0.1', r));
  const port = gone.address().port;
  await new Promise<void>((r) => gone.close(r));
  const tx = createSocket('udp4');
  // A connected UDP socket reports each ICMP port-unreachable once, to whichever call comes first: Node's reads on
  // it must not take them from the engine's sends, so Node stops reading it (and any error it saw is not the gateway's).
  tx.on('error', () => {});
  await new Promise<void>((r) => tx.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => tx.connect(port, '127.0.0.1', r));
  t.ok(stopUdpReading(tx), "Node no longer reads the sending socket");
  // the sinks go before the socket they send on: its fd number could otherwise be reused by another socket
  const sinks: Sink[] = [];
  t.teardown(() => {
    for (const s of sinks) s.remove();
    tx.close();
  });

  const track = { sender, ssrc: 0x2468ace0, payloadType: 102, clockRate: 90000, host: '127.0.0.1', port };
  const refused = publisher.pipe.addSink({ ...track, video: true, fd: udpSocketFd(tx), consent: true }, NOTHING_SENT, true);
  const noConsent = publisher.pipe.addSink({ ...track, ssrc: 0x13579bdf, video: true, fd: udpSocketFd(tx), consent: false }, NOTHING_SENT, true);
  t.ok(refused && noConsent, 'two sinks on the publisher\'s pipe');
  sinks.push(...[refused, noConsent].filter((x): x is Sink => x !== null));

  const other = await waitFor(async () => ((await errors('other')) ?? 0) > 0 && (await errors('other')), 30000, 'ECONNREFUSED counted');
  t.ok(other > 0, `roomgate_udp_send_errors_total{kind="other"} rose: ${other} packets refused`);
  const noConsentDrops = await waitFor(async () => (await dropped('no_consent')) ?? 0, 30000, 'packets dropped without consent');
  t.ok(noConsentDrops > 0, `roomgate_udp_send_dropped_total{reason="no_consent"} rose: ${noConsentDrops} packets`);
  const behind = await waitFor(async () => (await dropped('behind')) ?? 0, 30000, 'packets skipped after a refused send');
  t.ok(behind > 0, `roomgate_udp_send_dropped_total{reason="behind"} rose: ${behind} packets skipped to the next keyframe`);
  const tried = refused!.info()!.packetCount;
  t.ok(other <= tried, `refused packets are among those the sink tried (${tried})`);

  // the figures are the engine's own, not something the route makes up
  const engine = g.gw.engine.sendStats();
  t.ok(engine.otherError >= other && engine.droppedNoConsent >= noConsentDrops, 'the engine\'s sendStats() is where they come from');
  t.equal(await errors('buffer_full'), 0, 'loopback never fills a send buffer');
});
