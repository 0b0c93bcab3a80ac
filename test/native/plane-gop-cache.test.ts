// The native pipe's GOP cache limit (native/src/plane/pipe.cc, SHARED_LIMITS.gopCacheMaxPackets) seen through a
// sink's replay with a fake transport (test/helpers/fake-transport.ts): a GOP of up to that many RTP packets is
// replayed in full to a joining viewer; one more unit past it and the GOP is dropped, so a joining viewer gets
// nothing until the next keyframe, which starts a new cache.
// Needs the addon: node scripts/build-native.mjs

import t from 'tap';
import type { VideoFrame } from '../../src/media/model.js';
import { SHARED_LIMITS } from '../../src/media/shared-limits.js';
import { baselineClip, FakeTransport, openPlane, packetCount, pushFrame, videoPipe, videoSetUp } from '../helpers/fake-transport.js';

const clip = await baselineClip();
const { video, config, keyIndexes } = clip;
const [k0] = keyIndexes as [number, number];
const LIMIT = SHARED_LIMITS.gopCacheMaxPackets;
const pFrames = video.filter((f) => !f.keyframe);

/** The clip's IDR, then its P-frames round and round, 33 ms apart: real units, as many as asked. */
const unit = (i: number): VideoFrame => {
  const f = i === 0 ? video[k0]! : pFrames[(i - 1) % pFrames.length]!;
  return { ...f, pts: 1000 + i * 33, dts: 1000 + i * 33 };
};

t.test(`a GOP of up to ${LIMIT} packets is replayed in full; past that it is dropped until the next keyframe`, async (t) => {
  const { p, net, pipe } = await videoSetUp(t, clip);

  // As many units as fit within the limit.
  let i = 0;
  let total = 0;
  while (total + packetCount(unit(i), config) <= LIMIT) {
    total += packetCount(unit(i), config);
    pushFrame(p.plane, pipe, unit(i++));
  }
  t.ok(total > LIMIT - 10, `${i} units, ${total} packets: the largest GOP of these units within ${LIMIT}`);
  const full = p.plane.addSink(pipe, net.sink({ video: true, replay: true }));
  const started = p.plane.now();
  t.ok(await net.waitCount(total, 3000), 'replayed in full');
  t.equal(p.plane.sinkInfo(full)!.packetCount, total, 'the sink counts the same');
  t.comment(`${Math.ceil(total / SHARED_LIMITS.replayBurst)} bursts in ${(p.plane.sinkInfo(full)!.lastSendAt - started).toFixed(0)} ms`);
  p.plane.removeSink(full);

  // One unit more: over the limit, the cache is dropped.
  const over = unit(i++);
  pushFrame(p.plane, pipe, over);
  t.ok(total + packetCount(over, config) > LIMIT, `${total + packetCount(over, config)} packets > ${LIMIT}`);
  const mark = net.packets.length;
  const late = p.plane.addSink(pipe, net.sink({ video: true, replay: true }));
  t.equal(p.plane.sinkReplay(late), true, 'a picture-loss request too');
  // Later P-frames do not bring the cache back.
  for (let k = 0; k < 5; k++) pushFrame(p.plane, pipe, unit(i++));
  const another = p.plane.addSink(pipe, net.sink({ video: true, replay: true }));
  await net.settle(30);
  t.equal(net.packets.length, mark, 'a joining viewer gets nothing: no GOP to replay, and the keyframe gate holds');
  t.same([p.plane.sinkInfo(late)!.packetCount, p.plane.sinkInfo(another)!.packetCount], [0, 0]);

  // The next keyframe: both waiting sinks get it live, and it starts a new cache a newcomer is replayed.
  const key = { ...video[k0]!, pts: 1000 + i * 33, dts: 1000 + i * 33 };
  pushFrame(p.plane, pipe, key);
  const n = packetCount(key, config);
  t.ok(await net.waitCount(mark + 2 * n));
  const newcomer = p.plane.addSink(pipe, net.sink({ video: true, replay: true }));
  t.ok(await net.waitCount(mark + 3 * n));
  await net.settle(10);
  t.equal(net.packets.length, mark + 3 * n, 'the keyframe to each of the three');
  t.equal(p.plane.sinkInfo(newcomer)!.packetCount, n, 'the newcomer by replay');
  t.equal(net.authFailures, 0);
});
