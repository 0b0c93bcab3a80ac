// The WHIP reorder buffer: packets in order pass at once, a hole waits for its retransmission (which then completes
// the frame instead of being thrown away), and a hole that never fills is given up after the wait.

import t from 'tap';
import { RtpReorderBuffer } from '../../src/media/rtp-reorder.js';
import { H264Depacketizer } from '../../src/media/rtp-h264-depacketizer.js';

t.test('in order: every packet passes at once', async (t) => {
  const b = new RtpReorderBuffer<number>();
  for (let s = 10; s < 20; s++) t.same(b.push(s, s, s), [s]);
});

t.test('reordered on the way: held until the missing one comes, then released in order', async (t) => {
  const b = new RtpReorderBuffer<number>();
  t.same(b.push(1, 1, 0), [1]);
  t.same(b.push(3, 3, 1), []);
  t.same(b.push(4, 4, 2), []);
  t.same(b.push(2, 2, 40), [2, 3, 4], 'the retransmission fills the hole within the wait');
  t.same(b.push(5, 5, 41), [5]);
  t.equal(b.gaveUp, 0);
});

t.test('a hole that never fills is given up after the wait; its late copy is dropped', async (t) => {
  const b = new RtpReorderBuffer<number>(120);
  t.same(b.push(1, 1, 0), [1]);
  t.same(b.push(3, 3, 10), []);
  t.same(b.push(4, 4, 60), []);
  t.same(b.push(5, 5, 131), [3, 4, 5], 'released past the hole once it is older than 120 ms');
  t.equal(b.gaveUp, 1);
  t.same(b.push(2, 2, 140), [], 'too late now');
  t.equal(b.tooLate, 1);
  t.same(b.push(6, 6, 141), [6]);
});

t.test('sequence numbers wrap at 65535', async (t) => {
  const b = new RtpReorderBuffer<number>();
  t.same(b.push(65534, 65534, 0), [65534]);
  t.same(b.push(0, 0, 1), []);
  t.same(b.push(65535, 65535, 2), [65535, 0]);
  t.same(b.push(1, 1, 3), [1]);
});

t.test('a new numbering (publisher restarted its sequence) is followed at once', async (t) => {
  const b = new RtpReorderBuffer<number>();
  t.same(b.push(100, 100, 0), [100]);
  t.same(b.push(102, 102, 1), []);
  t.same(b.push(40000, 40000, 2), [102, 40000], 'what was held, then the new sequence');
  t.same(b.push(40001, 40001, 3), [40001]);
  t.same(b.push(20, 20, 4), [20], 'a jump backwards by far is a new numbering too');
});

t.test('with the depacketizer: a FU-A fragment retransmitted late still completes the IDR', async (t) => {
  // An IDR in three FU-A fragments (seq 1–3, marker on 3), then a P slice (seq 4). Fragment 2 arrives last.
  const fu = (start: boolean, end: boolean, fill: number) => Buffer.from([0x7c, (start ? 0x80 : 0) | (end ? 0x40 : 0) | 5, fill, fill]);
  const packets = new Map<number, { ts: number; marker: boolean; payload: Buffer }>([
    [1, { ts: 3000, marker: false, payload: fu(true, false, 1) }],
    [2, { ts: 3000, marker: false, payload: fu(false, false, 2) }],
    [3, { ts: 3000, marker: true, payload: fu(false, true, 3) }],
    [4, { ts: 6000, marker: true, payload: Buffer.from([0x41, 0x9a, 0x00]) }],
  ]);
  const b = new RtpReorderBuffer<number>();
  const d = new H264Depacketizer();
  let losses = 0;
  const units = [];
  for (const [seq, at] of [[1, 0], [3, 5], [4, 33], [2, 45]]) {
    for (const s of b.push(seq, seq, at)) {
      const p = packets.get(s)!;
      const u = d.push(s, p.ts, p.marker, p.payload, () => losses++);
      if (u) units.push(u);
    }
  }
  t.equal(losses, 0, 'no loss reported');
  t.equal(units.length, 2);
  t.ok(units[0].keyframe, 'the IDR is complete');
  t.same(units[0].nalus[0], Buffer.from([0x65, 1, 1, 2, 2, 3, 3]), 'its fragments joined in order');
  t.equal(units[1].keyframe, false);
});

t.test('with the depacketizer: a gap spoils the rest of its picture, so an IDR missing a slice is no keyframe', async (t) => {
  const idrSlice = (fill: number) => Buffer.from([0x65, 0x88, fill]);
  const d = new H264Depacketizer();
  let losses = 0;
  const out = (seq: number, ts: number, marker: boolean, payload: Buffer) => d.push(seq, ts, marker, payload, () => losses++);
  t.ok(out(1, 3000, false, idrSlice(1)) === null && out(2, 3000, true, idrSlice(2))?.keyframe, 'a whole IDR picture');
  // The next IDR picture's first slice (seq 3) is lost: slices 4 and 5 alone must not pass for a keyframe.
  t.equal(out(4, 6000, false, idrSlice(4)), null);
  t.equal(out(5, 6000, true, idrSlice(5)), null, 'the rest of the picture is dropped');
  t.equal(losses, 1);
  t.equal(out(6, 9000, true, Buffer.from([0x41, 0x9a, 0])), null, 'and what follows, up to the next IDR');
  t.ok(out(7, 12000, true, idrSlice(7))?.keyframe, 'which is whole again');
});

t.test('with the depacketizer: a numbering restarted backwards is followed, as one restarted forwards is', async (t) => {
  const b = new RtpReorderBuffer<number>();
  const d = new H264Depacketizer();
  const units: boolean[] = [];
  let losses = 0;
  const sent = [[30000, 3000], [30001, 6000], [10000, 9000], [10001, 12000], [40000, 15000]];
  for (const [i, [seq, ts]] of sent.entries()) {
    for (const s of b.push(seq!, seq!, i * 33)) {
      const u = d.push(s, ts!, true, Buffer.from([0x65, 0x88, s & 0xff]), () => losses++);
      if (u) units.push(u.keyframe);
    }
  }
  t.same(units, [true, true, true, true, true], 'every picture, across both restarts');
  t.equal(losses, 2, 'each restart is a gap: a keyframe is asked for');
});
