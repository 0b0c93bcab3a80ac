// The WHIP publisher's NACK requester (src/ingest/whip/nack-requester.ts): which sequence numbers it asks for, how
// often, across the 16-bit wrap, and that it goes quiet once nothing is missing. The NACKs it sends are serialized
// and parsed back with werift's RTCP code, as the publisher would read them. The receiver here only records what
// would go on the wire; the end-to-end case (Chromium publisher, real loss, RTX) is test/ingest/whip-loss.test.ts.

import t from 'tap';
import { GenericNack, RtcpPacketConverter, RtcpTransportLayerFeedback, RtpHeader, RtpPacket, type RtcpPacket } from 'werift';
import { NackRequester, RETRY_MS, SENDS } from '../../src/ingest/whip/nack-requester.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function requester() {
  const nacks: number[][] = []; // for SSRC 0xabcd
  const others: { ssrc: number; lost: number[] }[] = [];
  const told: GenericNack[] = [];
  const receiver = {
    rtcpSsrc: 0x1234,
    dtlsTransport: {
      async sendRtcp(packets: RtcpPacket[]) {
        for (const p of packets) {
          // On the wire and back, as the publisher reads it.
          const [parsed] = RtcpPacketConverter.deSerialize(p.serialize());
          const fb = (parsed as RtcpTransportLayerFeedback).feedback as GenericNack;
          if (fb.senderSsrc !== 0x1234) throw new Error('wrong sender SSRC');
          if (fb.mediaSourceSsrc === 0xabcd) nacks.push(fb.lost);
          else others.push({ ssrc: fb.mediaSourceSsrc, lost: fb.lost });
        }
      },
    },
  };
  const r = new NackRequester(receiver, (n) => told.push(n));
  const feed = (...seqs: number[]) => {
    for (const s of seqs) r.addPacket(new RtpPacket(new RtpHeader({ sequenceNumber: s, ssrc: 0xabcd }), Buffer.alloc(10)));
  };
  return { r, nacks, others, told, feed };
}

t.test('packets in order: nothing requested', async (t) => {
  const { r, nacks, feed } = requester();
  feed(100, 101, 102, 103, 103, 104);
  await sleep(RETRY_MS * 2);
  t.same(nacks, []);
  t.same(r.lost(), []);
  r.close();
});

t.test(`a hole is NACKed at once, then every ${RETRY_MS} ms, ${SENDS} times in all, then forgotten`, async (t) => {
  const { r, nacks, told, feed } = requester();
  feed(100, 103);
  t.same(nacks, [[101, 102]], 'the NACK leaves with the packet that revealed the hole');
  t.same(r.lost(), [101, 102]);
  await sleep(RETRY_MS * (SENDS + 3));
  t.same(nacks, Array.from({ length: SENDS }, () => [101, 102]), `${SENDS} NACKs for the hole`);
  t.same(r.lost(), [], 'given up after its last NACK');
  t.equal(told.length, SENDS, "werift's onPacketLost listeners hear of each NACK");
  const quiet = nacks.length;
  await sleep(RETRY_MS * 3);
  t.equal(nacks.length, quiet, 'no timer keeps running once nothing is missing');
  t.same(r.stats, { requested: 2, recovered: 0, nacksSent: SENDS });
  r.close();
});

t.test('a packet that comes back is not asked for again; a newer hole does not hurry an older one', async (t) => {
  const { r, nacks, feed } = requester();
  feed(10, 13); // holes 11, 12
  feed(12); // 12 retransmitted
  feed(14, 16); // a new hole, 15: NACKed alone, 11 is not due yet
  t.same(nacks, [[11, 12], [15]]);
  await sleep(RETRY_MS * (SENDS + 3));
  t.ok(nacks.slice(2).every((l) => !l.includes(12)), '12 never asked for again');
  t.equal(nacks.flat().filter((s) => s === 11).length, SENDS);
  t.equal(nacks.flat().filter((s) => s === 15).length, SENDS);
  t.equal(r.stats.recovered, 1);
  r.close();
});

t.test('holes across the 16-bit wrap are asked for in order', async (t) => {
  const { r, nacks, feed } = requester();
  feed(65533, 1);
  t.same(nacks, [[65534, 65535, 0]]);
  feed(0, 65535, 65534);
  t.same(r.lost(), [], 'all three came back');
  feed(2, 3);
  t.same(nacks.length, 1, 'numbering continues after the wrap with nothing missing');
  r.close();
});

t.test('a jump in numbering is a restart, not loss; each SSRC has its own numbering; close() silences it', async (t) => {
  const { r, nacks, others, feed } = requester();
  feed(100, 5000);
  t.same(nacks, [], 'a jump of thousands is not thousands of losses');
  feed(5003);
  t.same(nacks, [[5001, 5002]], 'holes after the jump are found from its new numbering');
  // Another SSRC (a simulcast layer, say) interleaved: its numbers are not holes in the first one's.
  const other = (seq: number) => r.addPacket(new RtpPacket(new RtpHeader({ sequenceNumber: seq, ssrc: 0x9999 }), Buffer.alloc(10)));
  other(9);
  feed(5004);
  other(10);
  t.equal(nacks.length, 1, 'interleaved SSRCs make no NACK');
  other(13);
  t.same(others, [{ ssrc: 0x9999, lost: [11, 12] }], "the other SSRC's holes are NACKed with its SSRC");
  t.same(r.lost(0x9999), [11, 12]);
  t.same(r.lost(0xabcd), [5001, 5002]);
  r.close();
  const sent = nacks.length;
  await sleep(RETRY_MS * 2);
  t.equal(nacks.length, sent, 'nothing after close()');
  feed(5010);
  t.equal(nacks.length, sent);
});
