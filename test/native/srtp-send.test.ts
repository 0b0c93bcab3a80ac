// Native SRTP sender (native/src/srtp_send.cc): RTP packets and RTCP sender reports it protects
// (native/src/srtp_protect.cc, Node's OpenSSL) and sends with sendmmsg are received on a real UDP socket and
// decrypted by werift's independent SRTP/SRTCP implementation, for both DTLS-SRTP profiles browsers negotiate. Needs the addon: node scripts/build-native.mjs

import t from 'tap';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { RtcpPacketConverter, RtcpSourceDescriptionPacket, RtcpSrPacket, RtpPacket, SrtcpSession, SrtpSession } from 'werift';
import { loadSrtpSend, SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_HMAC_SHA1_80, srtpSendLoadError } from '../../src/native/srtp-send.js';
import { buildSenderReport } from '../../src/room/sender-report.js';
import { udpSocketFd } from '../../src/node-internals.js';

const mod = loadSrtpSend();
if (!mod) {
  t.fail(`native addon not built: ${srtpSendLoadError}`);
  process.exit(1);
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

/** A native sender with fresh keys, and the keys for werift's receiving session (its "remote" keys are ours). */
function keyedSender(t: { teardown(fn: () => void): void }, profile: number, saltLen: number) {
  const key = randomBytes(16);
  const salt = randomBytes(saltLen);
  const sender = new mod!.SrtpSender({ profile, key, salt });
  t.teardown(() => sender.close());
  const keys = { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(saltLen), remoteMasterKey: key, remoteMasterSalt: salt };
  return { sender, keys };
}

for (const [name, profile, saltLen] of [
  ['AEAD_AES_128_GCM', SRTP_AEAD_AES_128_GCM, 12],
  ['AES_CM_128_HMAC_SHA1_80', SRTP_AES128_CM_HMAC_SHA1_80, 14],
] as const) {
  t.test(`${name}: werift decrypts what the native sender sent, headers and payloads intact, retransmissions too`, async (t) => {
    const { sender, keys } = keyedSender(t, profile, saltLen);
    const receiver = new SrtpSession({ keys, profile });
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
    t.equal(sender.send(udpSocketFd(net.tx), '127.0.0.1', net.port, meta, payloads, n), n, 'all handed to the kernel');
    // The first packet again, as a NACK answer: same index, allowed.
    t.equal(sender.send(udpSocketFd(net.tx), '127.0.0.1', net.port, meta.subarray(0, 3), payloads.slice(0, 1), 1), 1);
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

  t.test(`${name}: werift decrypts the sender reports sent as SRTCP, index advancing per SSRC`, async (t) => {
    const { sender, keys } = keyedSender(t, profile, saltLen);
    const receiver = new SrtcpSession({ keys, profile });
    const net = await udpPair();
    t.teardown(net.close);
    const video = { ssrc: 0x11223344, ntp: (3_900_000_000n << 32n) | 0x80000000n, rtpTimestamp: 90000, packetCount: 300, octetCount: 350_000, cname: 'roomgate-test' };
    const audio = { ssrc: 0x55667788, ntp: (3_900_000_000n << 32n) | 0x40000000n, rtpTimestamp: 48000, packetCount: 50, octetCount: 8000 };
    // Three rounds of two reports in one call, as the transport sends them.
    for (let round = 0; round < 3; round++) {
      t.equal(sender.sendRtcp(udpSocketFd(net.tx), '127.0.0.1', net.port, [buildSenderReport(video), buildSenderReport(audio)]), 2);
    }
    await waitFor(() => net.got.length >= 6);
    t.equal(net.got.length, 6);
    const indexes: number[] = [];
    for (const [i, b] of net.got.entries()) {
      const trailer = profile === SRTP_AEAD_AES_128_GCM ? b.length - 4 : b.length - 14;
      indexes.push(b.readUInt32BE(trailer));
      const rtcp = RtcpPacketConverter.deSerialize(receiver.decrypt(b));
      const sr = rtcp[0] as RtcpSrPacket;
      const want = i % 2 === 0 ? video : audio;
      t.equal(sr.ssrc, want.ssrc, `report ${i}: SSRC`);
      t.equal(sr.senderInfo.ntpTimestamp, want.ntp, `report ${i}: NTP time`);
      t.equal(sr.senderInfo.rtpTimestamp, want.rtpTimestamp);
      t.equal(sr.senderInfo.packetCount, want.packetCount);
      t.equal(sr.senderInfo.octetCount, want.octetCount);
      if (i % 2 === 0) {
        const sdes = rtcp[1] as RtcpSourceDescriptionPacket;
        t.equal(sdes.chunks[0].items[0].text, 'roomgate-test', 'SDES CNAME follows the report');
      } else t.equal(rtcp.length, 1, 'no SDES without a CNAME');
    }
    // E flag set (encrypted), index 1, 2, 3 for each SSRC
    t.same(indexes, [1, 1, 2, 2, 3, 3].map((x) => (0x80000000 | x) >>> 0));
  });
}

t.test('udpSocketFd (what srtp-transport.ts sends on) finds a bound socket\'s descriptor on this Node', async (t) => {
  const net = await udpPair();
  t.teardown(net.close);
  t.ok(udpSocketFd(net.tx) >= 0, 'a bound socket: its fd');
  t.not(udpSocketFd(net.tx), udpSocketFd(net.rx), 'each socket its own');
  const unbound = createSocket('udp4');
  t.equal(udpSocketFd(unbound), -1, 'not bound yet: -1 (werift sends)');
  unbound.close();
  t.equal(udpSocketFd({}), -1, 'not a dgram socket: -1');
});

t.test('bad input is refused with a reason, not a crash', async (t) => {
  t.throws(() => new mod.SrtpSender({ profile: 2, key: randomBytes(16), salt: randomBytes(14) }), /unsupported SRTP profile 2/);
  t.throws(() => new mod.SrtpSender({ profile: 7, key: randomBytes(16), salt: randomBytes(14) }), /salt 12 bytes/);
  const s = new mod.SrtpSender({ profile: 7, key: randomBytes(16), salt: randomBytes(12) });
  const net = await udpPair();
  t.teardown(net.close);
  const meta = new Uint32Array([1, 2, 3]);
  t.throws(() => s.send(udpSocketFd(net.tx), '127.0.0.1', net.port, meta, [Buffer.alloc(1401)], 1), /exceeds 1400/);
  t.throws(() => s.send(udpSocketFd(net.tx), 'localhost', net.port, meta, [Buffer.alloc(10)], 1), /not an IP address/);
  t.throws(() => s.send(udpSocketFd(net.tx), '127.0.0.1', net.port, meta, [Buffer.alloc(10)], 2), /shorter than count/);
  t.throws(() => s.sendRtcp(udpSocketFd(net.tx), '127.0.0.1', net.port, [Buffer.alloc(4)]), /an RTCP packet of 4 bytes/);
  s.close();
  s.close();
  t.throws(() => s.send(udpSocketFd(net.tx), '127.0.0.1', net.port, meta, [Buffer.alloc(10)], 1), /closed/);
});
