// The maths of the relay benchmark's delay: which publisher send each frame at the receiver is, and how long after.
//
// The publisher (e2e-publisher.mjs) sends the file's media tags in file order, looped, recording the send time of
// every video tag: its k-th video send is the file's video tag k mod N (N video tags per loop). The player
// (rtmp-reader.mjs) records every frame's arrival and frame key (h264-frame-key.mjs). A relay may re-stamp
// timestamps (ffmpeg starts its output at 0; SRS corrects jitter), so frames are matched by content, not by
// timestamp: the key names the file's tag i, and of that tag's sends (i, i + N, i + 2N, …) the frame is the last one
// sent before it arrived — a loop lasts 30 s, far longer than any delay, so no other send could be it.

import { readFileSync } from 'node:fs';
import { readFlvTags } from './flv-file.mjs';
import { frameKey, isAvcConfig, nalLengthSize } from './h264-frame-key.mjs';
import { lastAtMost, summarize } from './e2e-math.mjs';

/**
 * The file's video tags as the publisher sends them (codec configuration left out, as it does): their frame keys
 * (null for a tag without a picture, like the end-of-sequence tag), and a map from key to tag index without the keys
 * that occur twice (a repeated picture could not be told apart).
 */
export function fileFrameKeys(file) {
  const tags = readFlvTags(readFileSync(file)).filter((t) => t.type === 9);
  const lengthSize = tags.map((t) => nalLengthSize(t.body)).find(Boolean) ?? 4;
  const keys = tags.filter((t) => !isAvcConfig(t.body)).map((t) => frameKey(t.body, lengthSize));
  const index = new Map();
  const twice = new Set();
  keys.forEach((k, i) => {
    if (k === null) return;
    if (index.has(k)) twice.add(k);
    index.set(k, i);
  });
  for (const k of twice) index.delete(k);
  return { keys, index, repeated: twice.size };
}

/**
 * Delays (ms) of the frames that arrived within [from, to] (CLOCK_MONOTONIC ms). `sentAt`: the publisher's send time
 * of each video tag, in order; `received`: { key[], at[] } from the player. Also: frames whose key is not the file's
 * (`foreign`: a relay that re-encoded, or corrupted), frames sent between `from` and `to` − 2 s that never arrived
 * (`lost`; the margin leaves out frames still in flight at the end), and the delays' summary.
 */
export function frameDelays(file, sentAt, received, from, to) {
  const n = file.keys.length;
  const delays = [];
  const matched = new Set();
  let foreign = 0;
  for (let j = 0; j < received.key.length; j++) {
    const at = received.at[j];
    if (at > to) continue;
    const i = file.index.get(received.key[j]);
    if (i === undefined) {
      if (at >= from) foreign++;
      continue;
    }
    // the last send of tag i not after the arrival: the largest k = i + m·N up to the last send before it
    const last = lastAtMost(sentAt, at);
    const k = last < i ? -1 : i + Math.floor((last - i) / n) * n;
    if (k < 0) {
      if (at >= from) foreign++;
      continue;
    }
    matched.add(k);
    if (at >= from) delays.push(at - sentAt[k]);
  }
  let lost = 0;
  let expected = 0;
  for (let k = 0; k < sentAt.length; k++) {
    if (file.keys[k % n] === null || sentAt[k] < from || sentAt[k] > to - 2000) continue;
    expected++;
    if (!matched.has(k)) lost++;
  }
  return { delays, foreign, lost, expected, ...summarize(delays) };
}
