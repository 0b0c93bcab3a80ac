// Native SRTP sender (native/src/srtp_send.cc): packets it protects (native/src/srtp_protect.cc, Node's OpenSSL) and sends with sendmmsg are
// received on a real UDP socket and decrypted by werift's independent SRTP implementation, for both DTLS-SRTP
// profiles browsers negotiate. Needs the addon: node scripts/build-native.mjs

import t from 'tap';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { RtpPacket, SrtpSession } from 'werift';
import { loadSrtpSend, SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_HMAC_SHA1_80, srtpSendLoadError } from '../../src/native/srtp-send.js';

const mod = loadSrtpSend();
if (!mod) {
  t.fail(`native addon not built: ${srtpSendLoadError}`);
  process.exit(1);
}

function socketFd(s: Socket): number {
  const state = Object.getOwnPropertySymbols(s).find((x) => x.description === 'state symbol')!;
  return (s as unknown as Record<symbol, { handle: { fd: number } }>)[state].handle.fd;
}

async function udpPair() {
  const rx = createSocket('udp4');
  const tx = createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => tx.bind(0, '127.0.0.1', r));
  const got: Buffer[] = [];
  rx.on('message', (m) => got.push(m));
  return { rx, tx, got, port: rx.address().port, close: () => (rx.close(), tx.close()) };
}

const waitFor = async (f: () => boolean) => {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 5));
};

for (const [name, profile, saltLen] of [
  ['AEAD_AES_128_GCM', SRTP_AEAD_AES_128_GCM, 12],
  ['AES_CM_128_HMAC_SHA1_80', SRTP_AES128_CM_HMAC_SHA1_80, 14],
] as const) {
  t.test(`${name}: werift decrypts what the native sender sent, headers and payloads intact, retransmissions too`, async (t) => {
    const key = randomBytes(16);
    const salt = randomBytes(saltLen);
    const sender = new mod.SrtpSender({ profile, key, salt });
    t.teardown(() => sender.close());
    // werift's session as the receiving side: its "remote" keys are our local ones.
    const receiver = new SrtpSession({
      keys: { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(saltLen), remoteMasterKey: key, remoteMasterSalt: salt },
      profile,
    });
    const net = await udpPair();
    t.teardown(net.close);

    // 70 packets in one call (more than one sendmmsg batch of 64), sequence numbers across the 16-bit wrap.
    const n = 70;
    const meta = new Uint32Array(n * 3);
    const payloads = Array.from({ length: n }, (_, i) => randomBytes(i === 0 ? 1 : 40 + ((i * 37) % 1160)));
    for (let i = 0; i < n; i++) {
      meta[3 * i] = 0xdeadbeef;
      meta[3 * i + 1] = (0xfffffff0 + i * 3000) >>> 0;
      meta[3 * i + 2] = ((65500 + i) & 0xffff) | (102 << 16) | (i % 10 === 9 ? 1 << 23 : 0);
    }
    t.equal(sender.send(socketFd(net.tx), '127.0.0.1', net.port, meta, payloads, n), n, 'all handed to the kernel');
    // The first packet again, as a NACK answer: same index, allowed.
    t.equal(sender.send(socketFd(net.tx), '127.0.0.1', net.port, meta.subarray(0, 3), payloads.slice(0, 1), 1), 1);
    await waitFor(() => net.got.length >= n + 1);
    t.equal(net.got.length, n + 1);

    const decoded = net.got.map((b) => RtpPacket.deSerialize(receiver.decrypt(b)));
    for (let i = 0; i < n; i++) {
      const p = decoded[i];
      if (
        p.header.ssrc !== 0xdeadbeef ||
        p.header.sequenceNumber !== ((65500 + i) & 0xffff) ||
        p.header.timestamp !== meta[3 * i + 1] ||
        p.header.payloadType !== 102 ||
        p.header.marker !== (i % 10 === 9) ||
        p.header.extension ||
        !p.payload.equals(payloads[i])
      ) {
        t.fail(`packet ${i} differs: ${JSON.stringify({ ...p.header, payload: p.payload.length })}`);
        return;
      }
    }
    t.pass('every header field and payload matches');
    t.ok(decoded[n].payload.equals(payloads[0]), 'the retransmission decrypts to the same packet');
  });
}

t.test('bad input is refused with a reason, not a crash', async (t) => {
  t.throws(() => new mod.SrtpSender({ profile: 2, key: randomBytes(16), salt: randomBytes(14) }), /unsupported SRTP profile 2/);
  t.throws(() => new mod.SrtpSender({ profile: 7, key: randomBytes(16), salt: randomBytes(14) }), /salt 12 bytes/);
  const s = new mod.SrtpSender({ profile: 7, key: randomBytes(16), salt: randomBytes(12) });
  const net = await udpPair();
  t.teardown(net.close);
  const meta = new Uint32Array([1, 2, 3]);
  t.throws(() => s.send(socketFd(net.tx), '127.0.0.1', net.port, meta, [Buffer.alloc(1401)], 1), /exceeds 1400/);
  t.throws(() => s.send(socketFd(net.tx), 'localhost', net.port, meta, [Buffer.alloc(10)], 1), /not an IP address/);
  t.throws(() => s.send(socketFd(net.tx), '127.0.0.1', net.port, meta, [Buffer.alloc(10)], 2), /shorter than count/);
  s.close();
  s.close();
  t.throws(() => s.send(socketFd(net.tx), '127.0.0.1', net.port, meta, [Buffer.alloc(10)], 1), /closed/);
});
