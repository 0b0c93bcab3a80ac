// Native SRTP receiver (native/src/srtp_recv.cc: the media addon's test-only `testing.SrtpReceiver`, over the
// srtp_protect.cc that the engine's WHIP input unprotects with): packets protected by werift's independent SRTP
// implementation (the code a werift or browser publisher's packets would meet) are authenticated and decrypted back
// to the exact RTP bytes, for both DTLS-SRTP profiles browsers negotiate: headers with CSRCs and extensions, two
// SSRCs, across the 16-bit sequence wrap, retransmissions; forged, truncated and wrongly keyed packets are refused
// without disturbing the stream. Needs the addon: node scripts/build-native.mjs

import t from 'tap';
import { randomBytes } from 'node:crypto';
import { RtpHeader, RtpPacket, SrtpSession } from 'werift';
import { SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_HMAC_SHA1_80 } from '../../src/native/srtp-send.js';
import { srtpReceiverClass, UNPROTECT_AUTH_FAILED, UNPROTECT_NOT_SRTP, type SrtpReceiverClass } from '../helpers/srtp-receiver.js';

let SrtpReceiver: SrtpReceiverClass;
try {
  SrtpReceiver = srtpReceiverClass();
} catch (e) {
  t.fail(String(e));
  process.exit(1);
}

/** A werift session protecting with fresh keys, and a native receiver holding the same keys as its remote side. */
function keyedPair(t: { teardown(fn: () => void): void }, profile: number, saltLen: number) {
  const key = randomBytes(16);
  const salt = randomBytes(saltLen);
  const sender = new SrtpSession({
    keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: randomBytes(16), remoteMasterSalt: randomBytes(saltLen) },
    profile,
  });
  const receiver = new SrtpReceiver({ profile, key, salt });
  t.teardown(() => receiver.close());
  return { sender, receiver, key, salt };
}

function header(ssrc: number, seq: number, i: number): RtpHeader {
  const h = new RtpHeader({ payloadType: 96 + (i % 2), sequenceNumber: seq, timestamp: (i * 3000) >>> 0, ssrc, marker: i % 7 === 0 });
  if (i % 3 === 1) {
    // A one-byte header extension as browsers send (mid, abs-send-time): part of the authenticated header.
    h.extension = true;
    h.extensions = [
      { id: 1, payload: Buffer.from('0') },
      { id: 3, payload: Buffer.from([0x12, 0x34, 0x56]) },
    ];
  }
  return h;
}

/** Decrypts a copy of `srtp` natively; the plain packet's bytes, or the error code. */
function unprotect(receiver: { unprotect(b: Buffer): number }, srtp: Buffer): Buffer | number {
  const copy = Buffer.from(srtp);
  const n = receiver.unprotect(copy);
  return n >= 12 ? copy.subarray(0, n) : n;
}

for (const [name, profile, saltLen] of [
  ['AEAD_AES_128_GCM', SRTP_AEAD_AES_128_GCM, 12],
  ['AES_CM_128_HMAC_SHA1_80', SRTP_AES128_CM_HMAC_SHA1_80, 14],
] as const) {
  t.test(`${name}: what werift protects decrypts to the same RTP bytes, across the sequence wrap, two SSRCs`, async (t) => {
    const { sender, receiver } = keyedPair(t, profile, saltLen);
    let mismatches = 0;
    let count = 0;
    const sent: { srtp: Buffer; plain: Buffer }[] = [];
    // Two interleaved SSRCs (video, audio) from 65500 on, so each crosses 65535 → 0 (rollover counter 0 → 1).
    for (let i = 0; i < 100; i++) {
      for (const ssrc of [0x11223344, 0xcafef00d]) {
        const seq = (65500 + i) & 0xffff;
        const h = header(ssrc, seq, i);
        const payload = randomBytes(i === 0 ? 1 : 30 + ((i * 53) % 1170));
        const plain = new RtpPacket(h, payload).serialize();
        const srtp = sender.encrypt(payload, h);
        sent.push({ srtp, plain });
        const out = unprotect(receiver, srtp);
        count++;
        if (!Buffer.isBuffer(out) || !out.equals(plain)) mismatches++;
      }
    }
    t.equal(count, 200);
    t.equal(mismatches, 0, 'every packet authenticated and decrypted to the bytes werift protected');
    t.ok(RtpPacket.deSerialize(unprotect(receiver, sent[3].srtp) as Buffer).header.extension, 'extension header kept');

    // Retransmissions (NACK answers with the same sequence number) from before and after the wrap still decrypt.
    for (const k of [0, 70, 150]) t.same(unprotect(receiver, sent[k].srtp), sent[k].plain, `retransmission of packet ${k}`);
  });

  t.test(`${name}: forged, truncated and wrongly keyed packets are refused and the stream goes on`, async (t) => {
    const { sender, receiver } = keyedPair(t, profile, saltLen);
    const h = (seq: number) => new RtpHeader({ payloadType: 111, sequenceNumber: seq, timestamp: seq * 960, ssrc: 42 });
    const payload = randomBytes(200);
    t.type(unprotect(receiver, sender.encrypt(payload, h(1))), Buffer, 'first packet');

    const second = sender.encrypt(payload, h(2));
    const forged = Buffer.from(second);
    forged[20] ^= 0x01; // one payload bit
    t.equal(unprotect(receiver, forged), UNPROTECT_AUTH_FAILED, 'a flipped payload bit fails authentication');
    const forgedHeader = Buffer.from(second);
    forgedHeader[1] ^= 0x01; // payload type: the header is authenticated too
    t.equal(unprotect(receiver, forgedHeader), UNPROTECT_AUTH_FAILED, 'a changed header fails authentication');
    t.equal(unprotect(receiver, second.subarray(0, 11)), UNPROTECT_NOT_SRTP, 'shorter than an RTP header');
    t.equal(unprotect(receiver, second.subarray(0, 12 + 4)), UNPROTECT_NOT_SRTP, 'shorter than header + tag');
    const v1 = Buffer.from(second);
    v1[0] = (v1[0] & 0x3f) | 0x40;
    t.equal(unprotect(receiver, v1), UNPROTECT_NOT_SRTP, 'not RTP version 2');
    const ext = Buffer.from(second);
    ext[0] |= 0x10; // claims an extension whose length runs past the packet
    ext.writeUInt16BE(0xffff, 14);
    t.equal(unprotect(receiver, ext), UNPROTECT_NOT_SRTP, 'an extension longer than the packet');

    // A forged packet far ahead (sequence number 40000 would move the rollover guess) must not move the stream.
    const far = Buffer.from(sender.encrypt(payload, h(40000)));
    far[far.length - 1] ^= 0xff;
    t.equal(unprotect(receiver, far), UNPROTECT_AUTH_FAILED);
    t.same(unprotect(receiver, second), new RtpPacket(h(2), payload).serialize(), 'the genuine packet still decrypts');

    const stranger = new SrtpReceiver({ profile, key: randomBytes(16), salt: randomBytes(saltLen) });
    t.teardown(() => stranger.close());
    t.equal(unprotect(stranger, sender.encrypt(payload, h(3))), UNPROTECT_AUTH_FAILED, 'another key fails authentication');
  });
}

t.test('bad options are refused with a reason; a closed receiver throws', async (t) => {
  t.throws(() => new SrtpReceiver({ profile: 2, key: randomBytes(16), salt: randomBytes(14) }), /unsupported SRTP profile 2/);
  t.throws(() => new SrtpReceiver({ profile: 7, key: randomBytes(16), salt: randomBytes(14) }), /salt 12 bytes/);
  const r = new SrtpReceiver({ profile: 1, key: randomBytes(16), salt: randomBytes(14) });
  r.close();
  r.close();
  t.throws(() => r.unprotect(Buffer.alloc(40)), /closed/);
});
