// The native RTMP data plane's pure parsers (native/src/plane/{rtmp_chunks,flv_fast,h264_rtp}.cc, through the addon's
// `testing` exports) against the JavaScript they stand in for, on real encoder output:
//  - chunks: tags of ffmpeg/libx264 clips, written as an RTMP chunk stream by an independent encoder here (header
//    compression, interleaving, extended timestamps, 1/2/3-byte chunk stream ids, SetChunkSize mid-stream), read by
//    node-media-server's parser with GuardedRtmp's limits and by the ChunkReader cut at random places; the message
//    lists (and errors) must be identical, also when the reader continues from the state the connection hands over
//    (GuardedRtmp.handOverState).
//  - scanVideo / isAacFrame: every tag against what FlvToMedia does with it.
//  - packetize: every access unit against H264RtpPacketizer's payloads.
// Needs the addon: node scripts/build-native.mjs

import t from 'tap';
import { createHash } from 'node:crypto';
import { requireAddon } from '../../src/native/load-addon.js';
import { GuardedRtmp, type HandOverState, type RtmpLimits } from '../../src/ingest/rtmp/guarded-rtmp.js';
import { FlvToMedia } from '../../src/media/flv-to-media.js';
import type { H264Config, VideoFrame } from '../../src/media/model.js';
import { H264RtpPacketizer } from '../../src/media/rtp-h264.js';
import { avArgs, flvTags, lengthPrefixed, type FlvTagRecord } from '../media/helpers/flv-file.js';
import { RecordingSink } from '../media/helpers/sink.js';
import { mulberry32 } from '../helpers/random.js';
import type { ChunkStreamState } from '../../src/native/rtmp-plane.js';

// ---- the addon ----------------------------------------------------------------------------------------------------

interface Message {
  type: number;
  streamId: number;
  timestamp: number;
  body: Buffer;
}
interface ChunkOpts extends RtmpLimits {
  chunkSize: number;
  splits?: number[];
  streams?: ChunkStreamState[];
  stopEach?: boolean;
}
interface Testing {
  chunks(data: Buffer, opts: ChunkOpts): { messages: Message[]; consumed: number; error: string; chunkSize: number };
  scanVideo(body: Buffer, naluLengthSize: number): { fast: boolean; keyframe: boolean; nals: [number, number][] };
  isAacFrame(body: Buffer): boolean;
  packetize(nalus: Buffer[], keyframe: boolean, sps: Buffer[], pps: Buffer[], maxPayload: number): Buffer[];
}

const { mod, error: loadError } = requireAddon<{ testing: Testing }>('media');
if (!mod) {
  t.fail(`native addon media not built: ${loadError}`);
  process.exit(1);
}
const native = mod.testing;

const SEED = Number(process.env['PLANE_SEED'] ?? 0x91a7e);
t.comment(`seed ${SEED} (PLANE_SEED to change)`);

const rand = mulberry32(SEED);
const int = (n: number) => Math.floor(rand() * n);

// ---- media --------------------------------------------------------------------------------------------------------

const X264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-g', '30'];
const clips = {
  /** The common case: baseline, no B-frames. */
  baseline: () => flvTags(avArgs({ size: '640x360', video: [...X264, '-profile:v', 'baseline', '-bf', '0'] })),
  /** The same with an AUD in every access unit and SPS/PPS repeated in-band at each IDR. */
  aud: () =>
    flvTags(avArgs({ size: '640x360', video: [...X264, '-profile:v', 'baseline', '-bf', '0', '-x264-params', 'aud=1:repeat-headers=1'] })),
  /** High profile with B-frames: composition times ≠ 0, B slices. */
  high: () => flvTags(avArgs({ size: '640x360', video: [...X264, '-profile:v', 'high', '-bf', '2'] })),
};

const isVideoSeqHeader = (x: FlvTagRecord) => x.type === 9 && (x.body[0]! & 0x0f) === 7 && x.body[1] === 0;
const isAudioSeqHeader = (x: FlvTagRecord) => x.type === 8 && x.body[0]! >>> 4 === 10 && x.body[1] === 0;
const nalType = (n: Buffer) => n[0]! & 0x1f;

// ---- an independent RTMP chunk writer -----------------------------------------------------------------------------

interface OutMessage extends Message {
  csid: number;
}
type Item = OutMessage | { setChunkSize: number };

/** Writes messages as chunks with header compression, as an RTMP publisher would (Adobe RTMP spec §5.3). */
class ChunkWriter {
  chunkSize: number;
  /** How many messages started with each fmt (coverage). */
  fmts = [0, 0, 0, 0];
  private prev = new Map<number, { type: number; streamId: number; length: number; timestamp: number; delta: number | null }>();

  constructor(chunkSize: number) {
    this.chunkSize = chunkSize;
  }

  /** The chunks of one message, first one first. */
  chunks(m: OutMessage): Buffer[] {
    const p = this.prev.get(m.csid);
    let fmt: number;
    let field: number;
    if (!p || p.streamId !== m.streamId || m.timestamp < p.timestamp) {
      fmt = 0;
      field = m.timestamp;
    } else {
      field = m.timestamp - p.timestamp;
      // fmt 3 only repeats a delta: after a fmt 0 header nms would add its absolute timestamp again.
      fmt = p.length !== m.body.length || p.type !== m.type ? 1 : p.delta === field ? 3 : 2;
    }
    this.fmts[fmt]!++;
    this.prev.set(m.csid, { type: m.type, streamId: m.streamId, length: m.body.length, timestamp: m.timestamp, delta: fmt === 0 ? null : field });
    const extended = field >= 0xffffff;
    const ext = Buffer.alloc(extended ? 4 : 0);
    if (extended) ext.writeUInt32BE(field);
    const mh = Buffer.alloc([11, 7, 3, 0][fmt]!);
    if (fmt <= 2) mh.writeUIntBE(extended ? 0xffffff : field, 0, 3);
    if (fmt <= 1) {
      mh.writeUIntBE(m.body.length, 3, 3);
      mh[6] = m.type;
    }
    if (fmt === 0) mh.writeUInt32LE(m.streamId, 7);
    const out = [Buffer.concat([basicHeader(fmt, m.csid), mh, ext, m.body.subarray(0, this.chunkSize)])];
    for (let o = this.chunkSize; o < m.body.length; o += this.chunkSize) {
      out.push(Buffer.concat([basicHeader(3, m.csid), ext, m.body.subarray(o, o + this.chunkSize)]));
    }
    return out;
  }
}

function basicHeader(fmt: number, csid: number): Buffer {
  if (csid < 64) return Buffer.from([(fmt << 6) | csid]);
  if (csid < 320) return Buffer.from([fmt << 6, csid - 64]);
  return Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
}

function setChunkSizeMessage(size: number): OutMessage {
  const body = Buffer.alloc(4);
  body.writeUInt32BE(size >>> 0);
  return { csid: 2, type: 1, streamId: 0, timestamp: 0, body };
}

interface Encoded {
  data: Buffer;
  /** Messages in the order they complete (a small message interleaved into a big one completes first). */
  order: OutMessage[];
  /** Byte offsets where no message is in progress. */
  boundaries: number[];
  fmts: number[];
}

/** Encodes items; a message that fits one chunk is slipped between the chunks of a preceding bigger one. */
function encode(items: Item[], chunkSize: number): Encoded {
  const w = new ChunkWriter(chunkSize);
  const parts: Buffer[] = [];
  const order: OutMessage[] = [];
  const boundaries: number[] = [];
  let total = 0;
  const put = (b: Buffer) => {
    parts.push(b);
    total += b.length;
  };
  for (let i = 0; i < items.length; ) {
    const it = items[i++]!;
    if ('setChunkSize' in it) {
      const m = setChunkSizeMessage(it.setChunkSize);
      w.chunks(m).forEach(put);
      order.push(m);
      // An invalid size is for the parsers to refuse; the writer keeps its own (0 would never end a message).
      if (it.setChunkSize >= 1 && it.setChunkSize <= 0x7fffffff) w.chunkSize = it.setChunkSize;
    } else {
      const cs = w.chunks(it);
      for (let k = 0; k < cs.length; k++) {
        put(cs[k]!);
        const next = items[i];
        if (k < cs.length - 1 && next && !('setChunkSize' in next) && next.csid !== it.csid && next.body.length <= w.chunkSize) {
          w.chunks(next).forEach(put);
          order.push(next);
          i++;
        }
      }
      order.push(it);
    }
    boundaries.push(total);
  }
  return { data: Buffer.concat(parts), order, boundaries, fmts: w.fmts };
}

const CSIDS: Record<number, number> = { 8: 4, 9: 6, 18: 5 };

function tagMessages(tags: readonly FlvTagRecord[], o: { tsOffset?: number; csids?: Record<number, number> } = {}): OutMessage[] {
  const csids = o.csids ?? CSIDS;
  return tags.map((x) => ({ csid: csids[x.type]!, type: x.type, streamId: 1, timestamp: x.timestamp + (o.tsOffset ?? 0), body: x.body }));
}

// ---- node-media-server's parser, the reference --------------------------------------------------------------------

const LIMITS: RtmpLimits = { maxChunkSize: 1048576, maxMessageSize: 16 * 1024 * 1024 - 1, maxChunkStreams: 64 };

/** A GuardedRtmp past its handshake whose every message (any type) is recorded; SetChunkSize is applied. */
function nmsReader(limits: RtmpLimits, chunkSize: number) {
  const rtmp = new GuardedRtmp(limits);
  rtmp.inChunkSize = chunkSize;
  const messages: Message[] = [];
  let error = '';
  rtmp.packetHandler = function (this: GuardedRtmp) {
    const p = this.parserPacket;
    if (p.header.type === 1) this.controlHandler(); // GuardedRtmp's checks, then nms applies it
    messages.push({ type: p.header.type, streamId: p.header.stream_id, timestamp: p.clock, body: Buffer.from(p.payload.subarray(0, p.header.length)) });
  };
  const feed = (data: Buffer) => {
    if (error || data.length === 0) return;
    try {
      rtmp.chunkRead(data, 0, data.length);
    } catch (e) {
      if (!(e instanceof Error) || e.name !== 'RtmpProtocolError') throw e;
      error = e.message;
    }
  };
  /** The state the connection hands to the native reader (GuardedRtmp.handOverState); only at a message boundary. */
  const handOver = (): HandOverState => {
    const state = rtmp.handOverState();
    if (!state) throw new Error('nms is not at a message boundary');
    return state;
  };
  return { messages, feed, handOver, get error() { return error; } };
}

function nmsParse(data: Buffer, limits: RtmpLimits, chunkSize: number) {
  const r = nmsReader(limits, chunkSize);
  r.feed(data);
  return { messages: r.messages, error: r.error };
}

// ---- comparing ----------------------------------------------------------------------------------------------------

const describe = (m: Message) =>
  `type ${m.type} stream ${m.streamId} @${m.timestamp} ${m.body.length} B ${createHash('sha1').update(m.body).digest('hex').slice(0, 12)}`;

/** Cut points: `n` random offsets inside [0, len). */
function randomSplits(len: number, n: number): number[] {
  return Array.from({ length: n }, () => int(len));
}

interface Case {
  name: string;
  data: Buffer;
  chunkSize: number;
  limits?: RtmpLimits;
}

/** The native reader, fed whole, cut at random, cut at every byte of a prefix, and stopped after each message, against nms. */
function compareChunks(t: Tap, c: Case) {
  const limits = c.limits ?? LIMITS;
  const ref = nmsParse(c.data, limits, c.chunkSize);
  const want = ref.messages.map(describe);
  const runs: [string, Partial<ChunkOpts>][] = [
    ['in one piece', {}],
    ['cut at 300 random places', { splits: randomSplits(c.data.length, 300) }],
    ['cut at random, stopping after each message', { splits: randomSplits(c.data.length, 100), stopEach: true }],
  ];
  for (const [how, extra] of runs) {
    const got = native.chunks(c.data, { chunkSize: c.chunkSize, ...limits, ...extra });
    t.same(got.messages.map(describe), want, `${c.name}, ${how}: the messages nms reads`);
    t.equal(got.error, ref.error, `${c.name}, ${how}: ${ref.error ? `the same error (${ref.error})` : 'no error'}`);
    if (!ref.error) t.equal(got.consumed, c.data.length, `${c.name}, ${how}: every byte consumed`);
  }
  // Byte by byte over a prefix: every state of the header parser is left and resumed between Feed calls.
  const prefix = c.data.subarray(0, Math.min(c.data.length, 6000));
  const pre = nmsParse(prefix, limits, c.chunkSize);
  const got = native.chunks(prefix, { chunkSize: c.chunkSize, ...limits, splits: Array.from({ length: prefix.length }, (_, i) => i) });
  t.same(got.messages.map(describe), pre.messages.map(describe), `${c.name}: one byte per Feed over ${prefix.length} bytes`);
  t.equal(got.error, pre.error, `${c.name}: one byte per Feed, same error`);
  return ref;
}

/** What compareChunks asserts with (the root TAP object or a subtest). */
type Tap = Pick<typeof t, 'same' | 'equal'>;

// ---- chunk streams from real media ---------------------------------------------------------------------------------

t.test('chunk streams of real media: the native reader reads what node-media-server reads', async (t) => {
  const base = (await clips.baseline()).tags;
  const high = (await clips.high()).tags;
  const invoke = Buffer.from('02000770756c697368004008000000000000', 'hex');

  // A: starts at the default 128 bytes, control and command messages first, SetChunkSize(4096) halfway.
  // After every third tag, a fixed-size message on its own chunk stream, 63 ms apart: fmt 2 once, then fmt 3 headers.
  const msgs = tagMessages(base).flatMap((m, i) =>
    i % 3 === 0 ? [m, { csid: 8, type: 8, streamId: 1, timestamp: 7 + 21 * i, body: Buffer.from([0xaf, 1, i & 0xff, 0, 0, 0]) }] : [m],
  );
  const half = msgs.length >> 1;
  const itemsA: Item[] = [
    { csid: 2, type: 5, streamId: 0, timestamp: 0, body: Buffer.from([0, 0x26, 0x25, 0xa0]) },
    { csid: 3, type: 20, streamId: 0, timestamp: 0, body: invoke },
    { csid: 2, type: 4, streamId: 0, timestamp: 0, body: Buffer.from([0, 0, 0, 0, 0, 1]) },
    { csid: 7, type: 18, streamId: 1, timestamp: 0, body: Buffer.alloc(0) }, // zero-length message
    ...msgs.slice(0, half),
    { setChunkSize: 4096 },
    ...msgs.slice(half),
  ];
  const a = encode(itemsA, 128);

  // B: B-frames clip, chunk size 4096 from the start, timestamps past 0xffffff (extended timestamps on fmt 0), and
  // on a fresh chunk stream three multi-chunk messages 2^24 ms apart: fmt 0, fmt 2 and fmt 3 with an extended delta.
  const big = Buffer.alloc(9000, 7);
  const itemsB: Item[] = [
    ...tagMessages(high, { tsOffset: 0xffffff }),
    { csid: 9, type: 9, streamId: 1, timestamp: 1000, body: big },
    { csid: 9, type: 9, streamId: 1, timestamp: 1000 + 0x1000000, body: big },
    { csid: 9, type: 9, streamId: 1, timestamp: 1000 + 0x2000000, body: big },
    { csid: 9, type: 8, streamId: 1, timestamp: 1000 + 0x2000000 + 0xffffff, body: Buffer.from('af01aa', 'hex') },
  ];
  const b = encode(itemsB, 4096);

  // C: 2- and 3-byte chunk stream ids, an odd chunk size, SetChunkSize(1) for a stretch of audio, then 65536.
  const cs = { 8: 70, 9: 300, 18: 1000 };
  const msgsC = tagMessages(base.slice(0, 60), { csids: cs });
  const audio = msgsC.filter((m) => m.type === 8).slice(0, 4);
  const itemsC: Item[] = [...msgsC.slice(0, 30), { setChunkSize: 1 }, ...audio.map((m) => ({ ...m, csid: 40000 })), { setChunkSize: 65536 }, ...msgsC.slice(30)];
  const c = encode(itemsC, 60);

  // D: a clock past 2^32 − 1: nms drops those messages until a fmt 0 header resets the clock.
  const itemsD: Item[] = [
    { csid: 4, type: 8, streamId: 1, timestamp: 0xfffffff0, body: Buffer.from('af01bb', 'hex') },
    { csid: 4, type: 8, streamId: 1, timestamp: 0x100000010, body: Buffer.from('af01cc', 'hex') },
    { csid: 4, type: 8, streamId: 1, timestamp: 0x100000030, body: Buffer.from('af01dd', 'hex') },
    { csid: 4, type: 8, streamId: 1, timestamp: 0x100000050, body: Buffer.from('af01ee', 'hex') },
    { csid: 4, type: 8, streamId: 1, timestamp: 5, body: Buffer.from('af01ff', 'hex') },
    ...tagMessages(base.slice(0, 20)),
  ];
  const d = encode(itemsD, 128);

  for (const [name, enc, chunkSize] of [['A (128 → 4096)', a, 128], ['B (4096, extended timestamps)', b, 4096], ['C (long csids, chunk size 60 → 1 → 65536)', c, 60], ['D (clock past 2^32)', d, 128]] as const) {
    const ref = compareChunks(t, { name, data: enc.data, chunkSize });
    // The encoder is checked too: nms must give back what was encoded (less the messages it drops).
    t.same(ref.messages.map(describe), enc.order.filter((m) => m.timestamp <= 0xffffffff).map(describe), `${name}: nms reads back what the writer encoded`);
  }
  t.ok(d.order.length - nmsParse(d.data, LIMITS, 128).messages.length === 3, 'D: nms dropped the three messages past 2^32 − 1');
  const fmts = [a, b, c, d].reduce((s, e) => s.map((n, i) => n + e.fmts[i]!), [0, 0, 0, 0]);
  t.ok(fmts.every((n) => n > 3), `messages began with every header type (fmt 0/1/2/3: ${fmts.join('/')})`);

  t.test('continuing from nms\'s handed-over state at message boundaries', async (t) => {
    for (const [name, enc, chunkSize] of [['A', a, 128], ['B', b, 4096], ['C', c, 60]] as const) {
      const picks = [1, 2, 3, 5, 8].map((k) => enc.boundaries[Math.floor((enc.boundaries.length * k) / 9)]!);
      for (const at of picks) {
        const r = nmsReader(LIMITS, chunkSize);
        r.feed(enc.data.subarray(0, at));
        const { streams, chunkSize: chunkSizeAt } = r.handOver();
        const before = r.messages.length;
        r.feed(enc.data.subarray(at));
        const want = r.messages.slice(before).map(describe);
        const rest = enc.data.subarray(at);
        // The first chunk after the boundary must be a compressed header, or the hand-over proves little.
        const fmt = rest[0]! >> 6;
        const got = native.chunks(rest, { chunkSize: chunkSizeAt, ...LIMITS, streams, splits: randomSplits(rest.length, 50) });
        t.same(got.messages.map(describe), want, `${name}: from byte ${at} (next chunk fmt ${fmt}, ${streams.length} chunk streams, chunk size ${chunkSizeAt})`);
        t.equal(got.error, '', `${name}: from byte ${at}, no error`);
      }
    }
    // A fmt 3 and a fmt 1 header right after the hand-over, on the hand-over's clocks and lengths.
    const r = nmsReader(LIMITS, 128);
    const w = new ChunkWriter(128);
    const head = Buffer.concat([
      ...w.chunks({ csid: 6, type: 9, streamId: 1, timestamp: 1000, body: Buffer.alloc(300, 1) }),
      ...w.chunks({ csid: 6, type: 9, streamId: 1, timestamp: 1033, body: Buffer.alloc(300, 2) }), // fmt 2, delta 33
    ]);
    r.feed(head);
    const { streams } = r.handOver();
    const tail = Buffer.concat([
      ...w.chunks({ csid: 6, type: 9, streamId: 1, timestamp: 1066, body: Buffer.alloc(300, 3) }), // fmt 3
      ...w.chunks({ csid: 6, type: 9, streamId: 1, timestamp: 1080, body: Buffer.alloc(20, 4) }), // fmt 1
    ]);
    t.same([tail[0]! >> 6, tail[tail.length - 20 - 8]! >> 6], [3, 1], 'the continuation starts with fmt 3, then fmt 1');
    const got = native.chunks(tail, { chunkSize: 128, ...LIMITS, streams });
    t.same(got.messages.map((m) => [m.timestamp, m.body.length, m.body[0]]), [[1066, 300, 3], [1080, 20, 4]], 'clock and length carried over');
    r.feed(tail);
    t.same(got.messages.map(describe), r.messages.slice(2).map(describe), 'same as nms');
    // Handed-over chunk streams count towards the limit.
    const tight = { ...LIMITS, maxChunkStreams: 1 };
    const more = native.chunks(Buffer.concat(new ChunkWriter(128).chunks({ csid: 4, type: 8, streamId: 1, timestamp: 0, body: Buffer.from('af01', 'hex') })), {
      chunkSize: 128, ...tight, streams,
    });
    t.equal(more.error, 'more than 1 chunk streams opened', 'a new chunk stream beyond the limit, counting the handed-over one');
  });
});

// ---- chunk streams: limits, quirks, mutations ----------------------------------------------------------------------

t.test('limits and protocol errors: the same error at the same message as GuardedRtmp', async (t) => {
  const base = (await clips.baseline()).tags;
  const small = (csid: number, ts: number) => ({ csid, type: 8, streamId: 1, timestamp: ts, body: Buffer.from('af01aa', 'hex') });

  const tooMany = encode([small(4, 0), small(5, 0), small(6, 0), small(4, 20), small(7, 0), small(4, 40)], 128);
  const r1 = compareChunks(t, { name: 'a fourth chunk stream with a limit of 3', data: tooMany.data, chunkSize: 128, limits: { ...LIMITS, maxChunkStreams: 3 } });
  t.equal(r1.error, 'more than 3 chunk streams opened', 'refused at the fourth chunk stream');
  t.equal(r1.messages.length, 4, 'the messages before it are delivered');
  t.equal(compareChunks(t, { name: 'four chunk streams with a limit of 4', data: tooMany.data, chunkSize: 128, limits: { ...LIMITS, maxChunkStreams: 4 } }).error, '',
    'a limit of 4 allows four');

  const media = encode(tagMessages(base.slice(0, 40)), 128);
  const r2 = compareChunks(t, { name: 'a message over maxMessageSize', data: media.data, chunkSize: 128, limits: { ...LIMITS, maxMessageSize: 2000 } });
  t.match(r2.error, /^message of \d+ bytes exceeds the 2000-byte limit$/, 'refused at the first message over 2000 bytes');
  const largest = Math.max(...base.slice(0, 40).map((x) => x.body.length));
  for (const limit of [largest - 1, largest]) {
    const r = compareChunks(t, { name: `the largest message against a limit of ${limit - largest} from its size`, data: media.data, chunkSize: 128, limits: { ...LIMITS, maxMessageSize: limit } });
    t.equal(r.error === '', limit === largest, `a message of exactly maxMessageSize bytes is allowed (limit ${limit}, largest ${largest})`);
  }

  for (const [what, size, want] of [
    ['chunk size 0', 0, 'chunk size 0 is outside 1–1048576'],
    ['chunk size 1048577', 1048577, 'chunk size 1048577 is outside 1–1048576'],
    ['chunk size with the top bit set', 0x80000080, 'chunk size 2147483776 is outside 1–1048576'],
  ] as const) {
    const e = encode([small(4, 0), { setChunkSize: size }, small(4, 20)], 128);
    const r = compareChunks(t, { name: what, data: e.data, chunkSize: 128 });
    t.equal(r.error, want, `${what}: refused`);
  }
  const short = encode([small(4, 0), { csid: 2, type: 1, streamId: 0, timestamp: 0, body: Buffer.from([0, 0, 16]) }, small(4, 20)], 128);
  t.equal(compareChunks(t, { name: 'a 3-byte SetChunkSize', data: short.data, chunkSize: 128 }).error, 'SetChunkSize message is too short');
  const ok = native.chunks(encode([{ setChunkSize: 1048576 }], 128).data, { chunkSize: 128, ...LIMITS });
  t.same([ok.error, ok.chunkSize, ok.messages[0]?.type], ['', 1048576, 1], 'SetChunkSize at the limit is applied and reported');
  const dead = native.chunks(tooMany.data, { chunkSize: 128, ...LIMITS, maxChunkStreams: 3, splits: [tooMany.data.length - 1] });
  t.equal(dead.error, 'more than 3 chunk streams opened', 'an error ends the reader (later pieces are not read)');
});

t.test('nms quirks on hand-made chunks', async (t) => {
  const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
  const cases: [string, Buffer][] = [
    // fmt 3 on a chunk stream never seen: nms makes an all-zero header, a zero-length message of type 0.
    ['fmt 3 on a new chunk stream', hex('c5  04 000000 000003 08 01000000 af0142')],
    // 3-byte basic headers: nms computes csid (64 + b1 + b2) << 8, so (1, 1) and (0, 2) are the same chunk stream.
    // A fmt 2 on (0, 2) continues the length and type set on (1, 1).
    ['colliding 3-byte csids', hex('01 01 01 000010 000004 08 01000000 aabbccdd  81 00 02 000005 eeff0011  c1 01 01 22334455')],
    // fmt 0 with a timestamp on a message in progress: no clock change mid-message, but it is the field a later fmt 3 adds.
    ['fmt 0 in the middle of a message', hex('04 000010 000100 09 01000000' + 'aa'.repeat(128) + '04 000020 000100 09 01000000' + 'bb'.repeat(128) + 'c4' + 'cc'.repeat(128) + 'c4' + 'dd'.repeat(128) + '00')],
    // fmt 1 / 2 deltas accumulate; an extended timestamp on fmt 3 continuation chunks.
    ['extended timestamp on continuations', hex('04 ffffff 000081 09 01000000 01000000' + '11'.repeat(128) + 'c4 01000000 22' + '84 000005' + '33'.repeat(128) + 'c4 44  c4 ' + '00')],
    // A zero-length message completes only when the next byte arrives (nms's loop needs a byte to run a step).
    ['zero-length messages', hex('04 000001 000000 12 01000000  44 000002 000000 12  84 000003  c4  c4  05 000000 000001 08 01000000 af')],
  ];
  for (const [name, data] of cases) compareChunks(t, { name, data, chunkSize: 128 });
  const z = native.chunks(cases[4]![1].subarray(0, 12), { chunkSize: 128, ...LIMITS });
  t.equal(z.messages.length, 0, 'a zero-length message at the very end of the data waits for one more byte, like nms');
  const quirk = native.chunks(cases[1]![1], { chunkSize: 128, ...LIMITS });
  t.same(quirk.messages.map((m) => [m.timestamp, m.body.toString('hex')]), [[16, 'aabbccdd'], [21, 'eeff0011'], [26, '22334455']],
    'colliding csids share one header state');

  // The one deliberate difference: a fmt 1 header mid-message that changes the length is an error here; nms would
  // copy past its buffer or move its parse offset backwards.
  const grow = hex('04 000010 000100 09 01000000' + 'aa'.repeat(128) + '44 000001 000200 09' + 'bb'.repeat(128));
  const g = native.chunks(grow, { chunkSize: 128, ...LIMITS });
  t.equal(g.error, 'a chunk header changes the length of a message in progress (256 → 512 bytes)');
  const same = hex('04 000010 000100 09 01000000' + 'aa'.repeat(128) + '44 000001 000100 09' + 'bb'.repeat(128) + '00');
  compareChunks(t, { name: 'fmt 1 mid-message with the same length', data: same, chunkSize: 128 });
});

t.test('mutated chunk streams: the same messages and errors as nms', async (t) => {
  const base = (await clips.baseline()).tags;
  const enc = encode(tagMessages(base.slice(0, 30)), 128);
  const clean = enc.data.subarray(0, 30000);
  const limits = { ...LIMITS, maxMessageSize: 1 << 20 };
  const diffs: string[] = [];
  let errors = 0;
  let deviations = 0;
  for (let i = 0; i < 300; i++) {
    const data = Buffer.from(clean);
    for (let k = 1 + int(4); k > 0; k--) data[int(data.length)] = int(4) === 0 ? int(256) : data[int(data.length)]!;
    const got = native.chunks(data, { chunkSize: 128, ...limits, splits: randomSplits(data.length, 20) });
    // Where the native reader stops on a length change mid-message, nms is compared on the bytes before it.
    const deviation = got.error.startsWith('a chunk header changes the length');
    if (deviation) deviations++;
    const ref = nmsParse(deviation ? data.subarray(0, got.consumed) : data, limits, 128);
    if (ref.error) errors++;
    const a = got.messages.map(describe);
    const b = ref.messages.map(describe);
    if (a.join('\n') !== b.join('\n') || (!deviation && got.error !== ref.error)) {
      diffs.push(`mutation ${i}: native ${a.length} messages '${got.error}', nms ${b.length} '${ref.error}'`);
    }
  }
  t.same(diffs, [], '300 mutated streams');
  t.comment(`${errors} ended in a GuardedRtmp error, ${deviations} in the native reader's length-change error`);
});

// ---- FLV fast path --------------------------------------------------------------------------------------------------

/** What FlvToMedia does with one video tag after the given sequence header. */
function jsVideo(seqHeader: Buffer, body: Buffer) {
  const sink = new RecordingSink();
  const conv = new FlvToMedia(sink);
  if (conv.push(9, 0, seqHeader) !== null) throw new Error('sequence header refused');
  const refusal = conv.push(9, 40, body);
  return { refusal, frame: sink.video[0] ?? null, config: conv.videoConfig! };
}

/** The fast path's contract: fast exactly when JavaScript forwards the frame as is with pts == dts and no SPS/PPS. */
function expectFast(body: Buffer, frame: VideoFrame | null): boolean {
  return (
    frame !== null &&
    frame.pts === frame.dts &&
    !frame.nalus.some((n) => nalType(n) === 7 || nalType(n) === 8) &&
    frame.nalus.length <= 64 &&
    (body[0]! & 0x80) === 0 &&
    [1, 2].includes(body[0]! >> 4)
  );
}

/** Compares scanVideo with FlvToMedia for one tag; returns a problem or ''. */
function checkScan(seqHeader: Buffer, body: Buffer, size: number): { problem: string; fast: boolean } {
  const js = jsVideo(seqHeader, body);
  const scan = native.scanVideo(body, size);
  const want = expectFast(body, js.frame);
  if (scan.fast !== want) return { problem: `fast ${scan.fast}, JavaScript ${js.refusal ? `refuses (${js.refusal.reason})` : js.frame ? 'forwards' : 'skips'}`, fast: scan.fast };
  if (!want) return { problem: '', fast: false };
  const nals = scan.nals.map(([o, n]) => body.subarray(o, o + n));
  if (nals.length !== js.frame!.nalus.length || nals.some((n, i) => !n.equals(js.frame!.nalus[i]!))) return { problem: 'NAL units differ', fast: true };
  if (scan.keyframe !== js.frame!.keyframe) return { problem: `keyframe ${scan.keyframe}`, fast: true };
  return { problem: '', fast: true };
}

/** A legacy AVC NALU tag: frame type, composition time, NAL units with `size`-byte lengths. */
function avcTag(frameType: number, cts: number, nalus: Buffer[], size = 4): Buffer {
  const head = Buffer.from([(frameType << 4) | 7, 1, 0, 0, 0]);
  head.writeIntBE(cts, 2, 3);
  return Buffer.concat([head, lengthPrefixed(nalus, size)]);
}

/** The NAL units of an AVCC sample with 4-byte lengths. */
function splitAvcc(sample: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o + 4 <= sample.length; o += 4 + sample.readUInt32BE(o)) out.push(sample.subarray(o + 4, o + 4 + sample.readUInt32BE(o)));
  return out;
}

t.test('scanVideo agrees with FlvToMedia on every video tag of real clips', async (t) => {
  for (const name of ['baseline', 'aud', 'high'] as const) {
    const tags = (await clips[name]()).tags;
    const seq = tags.find(isVideoSeqHeader)!.body;
    const frames = tags.filter((x) => x.type === 9 && !isVideoSeqHeader(x));
    const problems: string[] = [];
    let fast = 0;
    for (const [i, x] of frames.entries()) {
      const r = checkScan(seq, x.body, 4);
      if (r.problem) problems.push(`tag ${i}: ${r.problem}`);
      if (r.fast) fast++;
    }
    t.same(problems, [], `${name}: ${frames.length} video tags, ${fast} fast`);
    if (name === 'baseline') t.equal(fast, frames.filter((x) => x.body[1] === 1).length, 'baseline: every frame is fast');
    if (name === 'aud') t.ok(fast > 0 && fast < frames.length - 1, 'aud: AUDs stripped, IDRs with in-band SPS/PPS left to JavaScript');
    if (name === 'high') {
      t.equal(fast, 0, 'high: nothing fast (composition times)');
      // With the composition time zeroed, I/P frames are fast and B frames are caught by their slice type.
      let p = 0;
      let bSlow = 0;
      const more: string[] = [];
      for (const [i, x] of frames.entries()) {
        if (x.body[1] !== 1) continue;
        const body = Buffer.from(x.body);
        body.fill(0, 2, 5);
        const r = checkScan(seq, body, 4);
        if (r.problem) more.push(`tag ${i} (cts 0): ${r.problem}`);
        if (r.fast) p++;
        else if (jsVideo(seq, body).refusal?.code === 'bframes') bSlow++;
      }
      t.same(more, [], 'high with cts 0: same verdicts');
      t.ok(p > 0 && bSlow > 0, `high with cts 0: ${p} fast, ${bSlow} refused for B slices`);
    }
    // 2-byte NAL lengths (and a sequence header that says so).
    const seq2 = Buffer.from(seq);
    seq2[9] = (seq2[9]! & 0xfc) | 1;
    const problems2: string[] = [];
    for (const [i, x] of frames.entries()) {
      if (x.body[1] !== 1) continue;
      const nals = splitAvcc(x.body.subarray(5));
      if (nals.some((n) => n.length > 0xffff)) continue;
      const body = Buffer.concat([x.body.subarray(0, 5), lengthPrefixed(nals, 2)]);
      const r = checkScan(seq2, body, 2);
      if (r.problem) problems2.push(`tag ${i}: ${r.problem}`);
    }
    t.same(problems2, [], `${name}: the same with 2-byte NAL lengths`);
  }
});

t.test('scanVideo on crafted tags', async (t) => {
  const tags = (await clips.baseline()).tags;
  const seq = tags.find(isVideoSeqHeader)!.body;
  const js = jsVideo(seq, tags.find((x) => x.type === 9 && x.body[1] === 1)!.body);
  const idrAu = js.frame!.nalus;
  const idr = idrAu.find((n) => nalType(n) === 5)!;
  const pTag = tags.filter((x) => x.type === 9 && x.body[1] === 1)[3]!.body;
  const p = splitAvcc(pTag.subarray(5))[0]!;
  const aud = Buffer.from([0x09, 0xf0]);
  const filler = Buffer.from([0x0c, 0xff, 0xff, 0x80]);
  const sps = js.config.sps[0]!;
  const sei = idrAu.find((n) => nalType(n) === 6)!;

  const check = (what: string, body: Buffer, fast: boolean, size = 4) => {
    const r = checkScan(seq, body, size);
    t.equal(r.problem, '', `${what}: as FlvToMedia`);
    t.equal(r.fast, fast, `${what}: ${fast ? 'fast' : 'JavaScript'}`);
  };
  const withAudFiller = avcTag(1, 0, [aud, sei, idr, filler]);
  check('AUD and filler around an IDR', withAudFiller, true);
  t.same(native.scanVideo(withAudFiller, 4).nals.map(([, n]) => n), [sei.length, idr.length], 'AUD and filler dropped, SEI and IDR kept');
  t.equal(native.scanVideo(withAudFiller, 4).keyframe, true, 'keyframe');
  check('a zero-length NAL unit', avcTag(2, 0, [Buffer.alloc(0), p]), true);
  check('a P frame', avcTag(2, 0, [p]), true);
  t.equal(native.scanVideo(avcTag(2, 0, [p]), 4).keyframe, false, 'a P frame is not a keyframe');
  check('a truncated length prefix', Buffer.concat([avcTag(2, 0, [p]), Buffer.from([0, 0])]), false);
  check('a NAL length past the end', avcTag(2, 0, [p]).subarray(0, 5 + 4 + p.length - 1), false);
  check('Enhanced RTMP (0x80 bit)', Buffer.concat([Buffer.from([0x91]), Buffer.from('avc1'), Buffer.from([0, 0, 0]), lengthPrefixed([p])]), false);
  check('composition time 40', avcTag(2, 40, [p]), false);
  check('composition time −1', avcTag(2, -1, [p]), false);
  check('in-band SPS', avcTag(1, 0, [sps, idr]), false);
  check('only AUD and filler', avcTag(2, 0, [aud, filler]), false);
  check('a slice that is only a NAL header', avcTag(2, 0, [Buffer.from([0x41])]), false);
  check('64 NAL units', avcTag(1, 0, [...Array(63).fill(sei), idr]), true);
  check('65 NAL units', avcTag(1, 0, [...Array(64).fill(sei), idr]), false);
  check('sequence header', seq, false);
  check('end of sequence', Buffer.from([0x17, 2, 0, 0, 0]), false);
  check('a disposable inter frame (type 3), left to JavaScript', Buffer.from([0x37, ...avcTag(2, 0, [p]).subarray(1)]), false);
  t.equal(native.scanVideo(Buffer.from([0x27, 1, 0]), 4).fast, false, 'a 3-byte tag');
  t.equal(native.scanVideo(avcTag(2, 0, [p]), 5).fast, false, 'NAL length size 5');
  const tiny = [Buffer.from([0x41, 0x9a, 0x02]), Buffer.from([0x06, 0x05, 0x01])];
  t.same(native.scanVideo(avcTag(2, 0, tiny, 1), 1).nals, [[6, 3], [10, 3]], '1-byte NAL lengths');
  t.same(native.scanVideo(avcTag(2, 0, tiny, 3), 3).nals, [[8, 3], [14, 3]], '3-byte NAL lengths');
  // Exp-Golomb codes at the edge of BitReader.readUe: 31 leading zeros read, 32 refused.
  const bits = (b: string) => Buffer.from(b.padEnd(Math.ceil(b.length / 8) * 8, '1').match(/.{8}/g)!.map((x) => parseInt(x, 2)));
  check('first_mb_in_slice with 31 leading zeros', avcTag(2, 0, [Buffer.concat([Buffer.from([0x41]), bits('0'.repeat(31) + '1' + '0'.repeat(31) + '1')])]), true);
  check('first_mb_in_slice with 32 leading zeros', avcTag(2, 0, [Buffer.concat([Buffer.from([0x41]), bits('0'.repeat(32) + '1' + '0'.repeat(32) + '1')])]), false);
  check('slice_type 10', avcTag(2, 0, [Buffer.concat([Buffer.from([0x41]), bits('1' + '0001011')])]), false);
  check('slice_type 6 (B)', avcTag(2, 0, [Buffer.concat([Buffer.from([0x41]), bits('1' + '00111')])]), false);
  // first_mb_in_slice = 2^23 − 1 spread over 00 00 03 01 (23 leading zeros only once the 03 is removed), then 7 (I).
  check('slice_type 7 (I) behind an emulation prevention byte', avcTag(2, 0, [Buffer.from([0x41, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x00, 0x23])]), true);

  // Slice headers with emulation prevention bytes, garbage, every slice type: the verdict is FlvToMedia's.
  const problems: string[] = [];
  const verdicts = new Map<string, number>();
  for (let i = 0; i < 2000; i++) {
    const len = 1 + int(16);
    const nal = Buffer.alloc(len);
    nal[0] = [0x41, 0x21, 0x01, 0x65, 0x25][int(5)]!;
    for (let k = 1; k < len; k++) nal[k] = [0, 0, 0, 3, 1, int(256)][int(6)]!;
    const body = avcTag(nal[0] === 0x65 || nal[0] === 0x25 ? 1 : 2, 0, [nal]);
    const r = checkScan(seq, body, 4);
    if (r.problem) problems.push(`${nal.toString('hex')}: ${r.problem}`);
    const v = r.fast ? 'fast' : jsVideo(seq, body).refusal?.code ?? 'skip';
    verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
  }
  t.same(problems, [], `2000 random slice headers (${[...verdicts].map(([k, n]) => `${k} ${n}`).join(', ')})`);
  t.ok(['fast', 'bframes', 'malformed'].every((k) => (verdicts.get(k) ?? 0) > 0), 'fast, B-slice and malformed verdicts all seen');
});

t.test('isAacFrame agrees with FlvToMedia', async (t) => {
  const tags = (await clips.baseline()).tags;
  const sink = new RecordingSink();
  const conv = new FlvToMedia(sink);
  const audio = tags.filter((x) => x.type === 8);
  const problems: string[] = [];
  let frames = 0;
  for (const [i, x] of audio.entries()) {
    const before = sink.audio.length;
    if (conv.push(8, x.timestamp, x.body) !== null) problems.push(`audio tag ${i} refused`);
    const forwarded = sink.audio.length > before;
    if (native.isAacFrame(x.body) !== forwarded) problems.push(`audio tag ${i}`);
    if (forwarded) frames++;
  }
  t.same(problems, [], `${audio.length} audio tags (${frames} frames, ${audio.filter(isAudioSeqHeader).length} sequence header)`);
  // [what, bytes, native answer]: true only where FlvToMedia forwards the frame; Enhanced RTMP AAC is forwarded
  // by JavaScript but is not the fast path's.
  const crafted: [string, number[], boolean][] = [
    ['no payload', [0xaf, 1], false],
    ['sequence header', [0xaf, 0, 0x12, 0x10], false],
    ['AACPacketType 2', [0xaf, 2, 0x21], false],
    ['other rate/size/channel bits', [0xa0, 1, 0x21], true],
    ['MP3', [0x2f, 1, 0x21], false],
    ['Enhanced RTMP', [0x91, 0x6d, 0x70, 0x34, 0x61, 0x21], false],
    ['empty', [], false],
  ];
  for (const [what, bytes, want] of crafted) {
    const body = Buffer.from(bytes);
    const s = new RecordingSink();
    const c = new FlvToMedia(s);
    c.push(8, 0, audio.find(isAudioSeqHeader)!.body);
    c.push(8, 20, body);
    const js = s.audio.length === 1;
    t.equal(native.isAacFrame(body), want, `${what}: ${want}`);
    t.ok(!want || js, `${what}: JavaScript ${js ? 'forwards' : 'does not forward'} it`);
  }
});

// ---- packetizer -----------------------------------------------------------------------------------------------------

/** Every access unit FlvToMedia makes of a clip, with the config current at that moment. */
function accessUnits(tags: readonly FlvTagRecord[]): { frame: VideoFrame; config: H264Config }[] {
  const sink = new RecordingSink();
  const conv = new FlvToMedia(sink);
  for (const x of tags) if (x.type === 8 || x.type === 9) conv.push(x.type, x.timestamp, x.body);
  const out: { frame: VideoFrame; config: H264Config }[] = [];
  let config: H264Config | null = null;
  for (const e of sink.events) {
    if (e.kind === 'video-config') config = e.config;
    else if (e.kind === 'frame' && e.frame.kind === 'video') out.push({ frame: e.frame, config: config! });
  }
  return out;
}

function comparePacketize(frame: VideoFrame, config: H264Config, maxPayload: number): string {
  const js = new H264RtpPacketizer(maxPayload).packetize(frame, config).map((p) => p.payload);
  const got = native.packetize(frame.nalus, frame.keyframe, config.sps, config.pps, maxPayload);
  if (got.length !== js.length) return `${got.length} payloads, JavaScript ${js.length}`;
  const i = got.findIndex((p, k) => !p.equals(js[k]!));
  return i < 0 ? '' : `payload ${i} differs`;
}

t.test('packetize: the payloads of H264RtpPacketizer, byte for byte', async (t) => {
  for (const name of ['baseline', 'aud'] as const) {
    const aus = accessUnits((await clips[name]()).tags);
    const sps = aus[0]!.config.sps[0]!;
    const pps = aus[0]!.config.pps[0]!;
    t.ok(aus.some((a) => a.frame.nalus.some((n) => n.length > 1200)), `${name}: some NAL unit needs FU-A at 1200`);
    // 1200 (the real budget), one that fits the SPS alone, one a byte short of the STAP-A, one that fits it exactly.
    const budgets = [1200, sps.length, sps.length + pps.length + 4, sps.length + pps.length + 5, 100];
    const problems: string[] = [];
    for (const [i, { frame, config }] of aus.entries()) {
      for (const b of [...budgets, 3 + int(2000)]) {
        const p = comparePacketize(frame, config, b);
        if (p) problems.push(`AU ${i} at ${b}: ${p}`);
      }
    }
    t.same(problems, [], `${name}: ${aus.length} access units (${aus.filter((a) => a.frame.keyframe).length} IDR) at budgets ${budgets.join(', ')} and random ones`);
    if (name === 'aud') t.ok(aus.some((a) => a.frame.keyframe && a.frame.nalus.some((n) => nalType(n) === 7)), 'aud: IDRs that carry their own SPS/PPS');
  }
  const { frame, config } = accessUnits((await clips.baseline()).tags).find((a) => a.frame.keyframe)!;
  const idr = frame.nalus.find((n) => nalType(n) === 5)!;
  const [sps] = config.sps;
  const [pps] = config.pps;
  const sps2 = Buffer.from(sps!);
  sps2[0] = 0xa7; // F set, another NRI: the STAP-A takes the highest NRI and never the F bit
  const cases: [string, VideoFrame, H264Config][] = [
    ['an IDR with its own SPS only: the PPS goes alone', { ...frame, nalus: [sps!, idr] }, config],
    ['an IDR with its own PPS only', { ...frame, nalus: [pps!, idr] }, config],
    ['two SPS and two PPS', frame, { ...config, sps: [sps!, sps2], pps: [pps!, Buffer.from([0x28, 0xce, 0x3c, 0x80])] }],
    ['not a keyframe: no parameter sets', { ...frame, keyframe: false }, config],
    ['an empty NAL unit', { ...frame, nalus: [Buffer.alloc(0), idr] }, config],
  ];
  for (const [what, f, c] of cases) {
    for (const b of [1200, 20, 3]) t.equal(comparePacketize(f, c, b), '', `${what}, budget ${b}`);
  }
  const tiny = native.packetize([idr], true, config.sps, config.pps, sps!.length + pps!.length + 4);
  t.equal(tiny[0]![0]! & 0x1f, 7, 'SPS + PPS that miss one STAP-A by a byte go as single NAL units');
  const fits = native.packetize([idr], true, config.sps, config.pps, sps!.length + pps!.length + 5);
  t.equal(fits[0]![0]! & 0x1f, 24, 'and as a STAP-A when they fit exactly');
});
