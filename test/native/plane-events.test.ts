// decodePlaneEvent: the addon's raw events (native/src/plane/pipe.h Event, addon.cc Deliver) as the typed union.
import t from 'tap';
import { decodePlaneEvent, type RawPlaneEvent } from '../../src/native/rtmp-plane.js';

const raw = (kind: number, over: Partial<RawPlaneEvent> = {}): RawPlaneEvent => ({
  kind, pipe: 3, type: 0, timestamp: 0, body: Buffer.alloc(0), text: '', number: 0, ...over,
});

t.test('each raw kind becomes its variant with only its fields', async (t) => {
  const body = Buffer.from([0x17, 1]);
  t.same(decodePlaneEvent(raw(1, { type: 9, timestamp: 40, body })), { kind: 'media', pipe: 3, type: 9, timestamp: 40, body });
  t.same(decodePlaneEvent(raw(2, { type: 20, timestamp: 7, body })), { kind: 'message', pipe: 3, type: 20, timestamp: 7, body });
  t.same(decodePlaneEvent(raw(3, { text: 'publisher disconnected' })), { kind: 'ended', pipe: 3, reason: 'publisher disconnected' });
  t.same(decodePlaneEvent(raw(4, { text: 'chunk size 0' })), { kind: 'protocol-error', pipe: 3, text: 'chunk size 0' });
  t.same(decodePlaneEvent(raw(5)), { kind: 'first-video', pipe: 3 });
  t.same(decodePlaneEvent(raw(6)), { kind: 'first-audio', pipe: 3 });
  t.same(decodePlaneEvent(raw(7, { number: 12, text: 'invalid data' })), { kind: 'decoder-errors', pipe: 3, count: 12, text: 'invalid data' });
  const nals = Buffer.from([0, 0, 0, 2, 0x67, 0x42, 0, 0, 0, 1, 0x68]);
  t.same(decodePlaneEvent(raw(10, { type: 1, number: 33.5, body: nals })), {
    kind: 'rtp-video', pipe: 3, nalus: [Buffer.from([0x67, 0x42]), Buffer.from([0x68])], ms: 33.5, keyframe: true,
  });
  t.same(decodePlaneEvent(raw(11, { body, text: '127.0.0.1', number: 5000 })), { kind: 'datagram', pipe: 3, body, address: '127.0.0.1', port: 5000 });
  t.same(decodePlaneEvent(raw(12, { number: 1234, body: Buffer.from([0, 10, 0xff, 0xff]) })), { kind: 'nack', pipe: 3, ssrc: 1234, seqs: [10, 65535] });
  t.same(decodePlaneEvent(raw(13)), { kind: 'keyframe-wanted', pipe: 3 });
  t.strictSame(Object.keys(decodePlaneEvent(raw(5))!), ['kind', 'pipe'], 'no raw fields left over');
});

t.test('an unknown kind is dropped', async (t) => {
  t.equal(decodePlaneEvent(raw(0)), null);
  t.equal(decodePlaneEvent(raw(99)), null);
});
