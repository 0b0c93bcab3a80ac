import t from 'tap';
import { BitReader, unescapeRbsp, unescapeRbspInto } from '../../src/media/bits.js';
import { MediaError } from '../../src/media/errors.js';
import { BitWriter, escapeRbsp } from './helpers/bit-writer.js';

t.test('unescapeRbsp removes emulation-prevention bytes', async (t) => {
  t.same([...unescapeRbsp(Buffer.from([0x67, 0, 0, 3, 1, 0, 0, 3, 0, 5]))], [0x67, 0, 0, 1, 0, 0, 0, 5]);
  t.same([...unescapeRbsp(Buffer.from([0, 0, 3, 0, 0, 3]))], [0, 0, 0, 0], 'escape at the end');
  t.same([...unescapeRbsp(Buffer.from([0, 3, 0, 0, 3, 3]))], [0, 3, 0, 0, 3], 'a 3 after one zero stays; after an escape the count restarts');
  t.same([...unescapeRbsp(Buffer.from([1, 2, 3, 4, 5]), 3)], [1, 2, 3], 'stops at maxBytes');
  const out = new Uint8Array(4);
  t.equal(unescapeRbspInto(Buffer.from([9, 0, 0, 3, 1, 7, 7]), out, 4, 1), 4);
  t.same([...out], [0, 0, 1, 7], 'from a start offset into a caller buffer');
  for (let i = 0; i < 200; i++) {
    const rbsp = Buffer.from(Array.from({ length: 40 }, () => (Math.random() < 0.5 ? 0 : Math.floor(Math.random() * 5))));
    t.same(unescapeRbsp(escapeRbsp(rbsp)), new Uint8Array(rbsp), 'round trip');
  }
});

t.test('BitReader reads bits and Exp-Golomb codes', async (t) => {
  const w = new BitWriter().u(3, 5).ue(0).ue(1).ue(2).ue(7).ue(254).ue(65535).se(0).se(1).se(-1).se(17).se(-300).u(32, 0xdeadbeef).flag(true);
  const r = new BitReader(w.trailing().bytes());
  t.equal(r.readBits(3), 5);
  t.same([r.readUe(), r.readUe(), r.readUe(), r.readUe(), r.readUe(), r.readUe()], [0, 1, 2, 7, 254, 65535]);
  t.same([r.readSe(), r.readSe(), r.readSe(), r.readSe(), r.readSe()], [0, 1, -1, 17, -300]);
  t.equal(r.readBits(32), 0xdeadbeef);
  t.equal(r.readFlag(), true);
  const left = r.bitsLeft;
  t.ok(left >= 1 && left <= 8, 'only the trailing bits are left');
  t.equal(r.readBit(), 1, 'rbsp_stop_one_bit');
  r.skipBits(left - 1);
  t.throws(() => r.readBit(), MediaError);
  t.throws(() => new BitReader(Buffer.from([0, 0, 0, 0, 0])).readUe(), MediaError, '32+ leading zeros');
  t.throws(() => new BitReader(Buffer.from([0x00, 0x01])).readUe(), MediaError, 'code runs off the end');
  t.throws(() => new BitReader(Buffer.from([1, 2])).readBits(17), MediaError);
  const big = new BitReader(new BitWriter().ue(2 ** 31).trailing().bytes());
  t.equal(big.readUe(), 2 ** 31);
  const sub = new BitReader(Buffer.from([0xff, 0x80, 0xff]), 1, 2);
  t.equal(sub.readBit(), 1);
  t.equal(sub.bitsLeft, 7);
});
