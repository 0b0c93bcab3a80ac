import t from 'tap';
import { MediaError } from '../../src/media/errors.js';
import { parseFlvTag, type FlvAudioTag, type FlvVideoTag } from '../../src/media/flv.js';

const v = (...parts: (number[] | string)[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const video = (body: Buffer) => parseFlvTag(9, 1000, body) as FlvVideoTag;
const audio = (body: Buffer) => parseFlvTag(8, 1000, body) as FlvAudioTag;

t.test('legacy AVC tags', async (t) => {
  t.match(video(v([0x17, 0, 0, 0, 0], [1, 0x64])), { type: 9, timestamp: 1000, frameType: 1, codecId: 7, codec: 'avc', codecName: 'H.264', enhanced: false, packet: 'sequence-header', packetType: 0, cts: 0, offset: 5 });
  t.match(video(v([0x27, 1, 0, 0, 33], [0, 0, 0, 1, 0x41])), { frameType: 2, packet: 'frame', packetType: 1, cts: 33 });
  t.equal(video(v([0x27, 1, 0xff, 0xff, 0xdf])).cts, -33, 'CTS is signed 24-bit');
  t.equal(video(v([0x27, 1, 0x7f, 0xff, 0xff])).cts, 0x7fffff);
  t.equal(video(v([0x27, 1, 0x80, 0x00, 0x00])).cts, -0x800000);
  t.match(video(v([0x17, 2, 0, 0, 0])), { packet: 'end-of-sequence' });
  t.match(video(v([0x17, 9, 0, 0, 0])), { packet: 'other' });
  t.match(video(v([0x57, 1])), { frameType: 5, packet: 'command' });
  t.match(video(v([0x1c, 0, 0, 0, 0])), { codecId: 12, codec: 'hevc', codecName: 'H.265', packet: 'sequence-header' });
  t.match(video(v([0x22, 0, 0])), { codecId: 2, codec: 'h263', codecName: 'Sorenson H.263', packet: 'frame', offset: 1 });
});

t.test('Enhanced RTMP video tags', async (t) => {
  t.match(video(v([0x90], 'hvc1', [1, 2])), { enhanced: true, frameType: 1, fourcc: 'hvc1', codec: 'hevc', packet: 'sequence-header', packetType: 0, offset: 5 });
  t.match(video(v([0x91], 'avc1', [0xff, 0xff, 0xfb], [0, 0, 0, 1, 0x65])), { frameType: 1, fourcc: 'avc1', codec: 'avc', packet: 'frame', packetType: 1, cts: -5, offset: 8 });
  t.match(video(v([0xa3], 'avc1', [0, 0, 0, 1, 0x41])), { frameType: 2, packet: 'frame', packetType: 3, cts: 0, offset: 5 }, 'CodedFramesX has no CTS');
  t.match(video(v([0x91], 'av01', [0x12, 0])), { codec: 'av1', codecName: 'AV1', packet: 'frame', cts: 0, offset: 5 }, 'no CTS for AV1');
  t.match(video(v([0x92], 'vp09')), { codec: 'vp9', packet: 'end-of-sequence' });
  t.match(video(v([0x94], 'hvc1', [2, 0, 9])), { packet: 'metadata' });
  t.match(video(v([0xd1, 0])), { frameType: 5, packet: 'command', fourcc: '' }, 'command frame: no FourCC');
  t.match(video(v([0x95], 'avc1')), { packet: 'other' }, 'MPEG2TSSequenceStart');
  // ModEx with an 8-bit and a 16-bit size, then CodedFrames.
  t.match(video(v([0x97, 2, 1, 2, 3, 0x01], 'avc1', [0, 0, 7], [9])), { packetType: 1, packet: 'frame', cts: 7, offset: 13 });
  t.match(video(v([0x97, 0xff, 0x00, 0x01, 8, 8, 0x00], 'hvc1', [1])), { packetType: 0, packet: 'sequence-header', offset: 11 });
  // Multitrack: one track is read as a normal packet; many tracks are flagged.
  t.match(video(v([0x96, 0x01], 'avc1', [3], [0, 0, 2], [7])), { packet: 'frame', fourcc: 'avc1', cts: 2, offset: 10 });
  t.match(video(v([0x96, 0x11], 'avc1', [0, 0, 0, 0])), { packet: 'multitrack', codec: 'avc' });
  t.match(video(v([0x96, 0x21], [0], 'hvc1')), { packet: 'multitrack', codec: 'unknown' });
  t.match(video(v([0x90], [0x41, 0x42, 0x00, 0xff])), { codec: 'unknown', fourcc: 'AB\\x00\\xff' });
});

t.test('audio tags', async (t) => {
  t.match(audio(v([0xaf, 0, 0x12, 0x10])), { soundFormat: 10, codec: 'aac', codecName: 'AAC', packet: 'sequence-header', offset: 2 });
  t.match(audio(v([0xaf, 1, 0x21])), { packet: 'frame', packetType: 1, offset: 2 });
  t.match(audio(v([0xaf, 7])), { packet: 'other' });
  const names: Record<number, string> = {
    0: 'Linear PCM', 1: 'ADPCM', 2: 'MP3', 3: 'Linear PCM', 4: 'Nellymoser', 5: 'Nellymoser', 6: 'Nellymoser',
    7: 'G.711 A-law', 8: 'G.711 µ-law', 11: 'Speex', 13: 'Opus', 14: 'MP3', 15: 'Device-specific',
  };
  for (const [f, name] of Object.entries(names)) {
    t.match(audio(v([(Number(f) << 4) | 0xe, 1])), { soundFormat: Number(f), codecName: name, packet: 'frame', offset: 1 }, name);
  }
  t.match(audio(v([0x90], 'mp4a', [0x12, 0x10])), { enhanced: true, soundFormat: 9, fourcc: 'mp4a', codec: 'aac', packet: 'sequence-header', offset: 5 });
  t.match(audio(v([0x91], 'Opus', [1])), { codec: 'opus', packet: 'frame' });
  t.match(audio(v([0x91], 'fLaC')), { codecName: 'FLAC' });
  t.match(audio(v([0x91], 'ec-3')), { codecName: 'E-AC-3' });
  t.match(audio(v([0x91], '.mp3')), { codecName: 'MP3' });
  t.match(audio(v([0x94], 'Opus', [0, 2])), { packet: 'multichannel-config' });
  t.match(audio(v([0x97, 0, 5, 0x01], 'mp4a', [0x21])), { packet: 'frame', offset: 8 }, 'ModEx');
  t.match(audio(v([0x95, 0x01], 'mp4a', [0], [0x21])), { packet: 'frame', offset: 7 }, 'one-track multitrack');
  t.match(audio(v([0x95, 0x11], 'mp4a', [0, 0, 0, 1, 0x21])), { packet: 'multitrack' });
});

t.test('malformed headers throw MediaErrors', async (t) => {
  const bad: [number, number[] | Buffer, RegExp][] = [
    [9, [], /too short/],
    [8, [], /too short/],
    [9, [0x17, 1, 0, 0], /H\.264 tag is 4 bytes/],
    [9, [0x1c, 0], /H\.265 tag is 2 bytes/],
    [8, [0xaf], /AAC tag is 1 bytes/],
    [9, [0x91, 0x61, 0x76], /Enhanced RTMP video tag/],
    [9, v([0x91], 'avc1', [0, 0]), /Enhanced RTMP H\.264 tag/],
    [9, [0x97], /ModEx block is cut short/],
    [9, [0x97, 9, 1, 2], /ModEx data \(10 bytes\) runs past the end/],
    [9, [0x97, 0xff, 0x00], /ModEx block is cut short/],
    [9, [0x96], /multitrack video/],
    [9, v([0x96, 0x01], 'avc1'), /multitrack video/],
    [9, [0xd1], /command/],
    [8, [0x90, 1, 2], /Enhanced RTMP audio tag/],
    [8, [0x95], /multitrack audio/],
    [18, [2], /neither audio/],
  ];
  for (const [type, body, re] of bad) {
    t.throws(() => parseFlvTag(type, 0, Buffer.from(body)), { name: 'MediaError', message: re }, re.source);
  }
  t.throws(() => parseFlvTag(9, 0, Buffer.alloc(0)), MediaError);
});
