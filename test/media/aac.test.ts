import t from 'tap';
import { parseAudioSpecificConfig } from '../../src/media/aac.js';
import { MediaError } from '../../src/media/errors.js';
import { avFlv } from './helpers/flv-file.js';
import { BitWriter } from './helpers/bit-writer.js';

const asc = (w: BitWriter) => w.trailing().bytes();

t.test('AudioSpecificConfig from ffmpeg', async (t) => {
  const mono = await avFlv({ video: null, seconds: 0.2 });
  const seq = mono.tags.find((x) => x.type === 8 && x.body[1] === 0)!;
  t.match(parseAudioSpecificConfig(seq.body.subarray(2)), { codec: 'AAC', objectType: 2, sampleRate: 44100, channels: 1 });
  const stereo = await avFlv({ video: null, seconds: 0.2, audio: ['-c:a', 'aac', '-ac', '2', '-ar', '48000'], sampleRate: 48000 });
  const seq2 = stereo.tags.find((x) => x.type === 8 && x.body[1] === 0)!;
  const cfg = parseAudioSpecificConfig(seq2.body.subarray(2));
  t.match(cfg, { objectType: 2, sampleRate: 48000, channels: 2 });
  t.ok(cfg.asc.equals(seq2.body.subarray(2)), 'asc is the whole AudioSpecificConfig');
});

t.test('hand-made AudioSpecificConfigs', async (t) => {
  t.match(parseAudioSpecificConfig(Buffer.from([0x12, 0x10])), { objectType: 2, sampleRate: 44100, channels: 2 });
  t.match(parseAudioSpecificConfig(Buffer.from([0x11, 0x90])), { objectType: 2, sampleRate: 48000, channels: 2 });
  // Explicit 24-bit sampling rate (index 15).
  t.match(parseAudioSpecificConfig(asc(new BitWriter().u(5, 2).u(4, 15).u(24, 37800).u(4, 1).u(3, 0))), { objectType: 2, sampleRate: 37800, channels: 1 });
  // Escaped object type: 31 then 6 bits (32 + 7 = 39, ER AAC-ELD).
  t.match(parseAudioSpecificConfig(asc(new BitWriter().u(5, 31).u(6, 7).u(4, 3).u(4, 2))), { objectType: 39, sampleRate: 48000, channels: 2 });
  // HE-AAC with explicit SBR signalling: core 24 kHz, output 48 kHz.
  t.match(parseAudioSpecificConfig(asc(new BitWriter().u(5, 5).u(4, 6).u(4, 2).u(4, 3).u(5, 2))), { objectType: 5, sampleRate: 48000, channels: 2 });
  // HE-AAC v2 (PS): mono core, stereo output.
  t.match(parseAudioSpecificConfig(asc(new BitWriter().u(5, 29).u(4, 7).u(4, 1).u(4, 4).u(5, 2))), { objectType: 29, sampleRate: 44100, channels: 2 });
  // ER AAC-ELD with channel configuration 0 carries no program_config_element: no channel count (found by the
  // parser fuzz in test/media/parser-fuzz.test.ts, which accepted it as a 0-channel config).
  t.throws(() => parseAudioSpecificConfig(asc(new BitWriter().u(5, 31).u(6, 7).u(4, 3).u(4, 0))), /channel configuration 0/);
  // 5.1 and 7.1.
  t.match(parseAudioSpecificConfig(asc(new BitWriter().u(5, 2).u(4, 3).u(4, 6))), { channels: 6 });
  t.match(parseAudioSpecificConfig(asc(new BitWriter().u(5, 2).u(4, 3).u(4, 7))), { channels: 8 });
  // Channel configuration 0: count the channels of the program_config_element (front CPE + front SCE + LFE).
  const pce = new BitWriter().u(5, 2).u(4, 4).u(4, 0)
    .u(1, 0).u(1, 0).u(1, 0) // frameLengthFlag, dependsOnCoreCoder, extensionFlag
    .u(4, 0).u(2, 1).u(4, 4) // element_instance_tag, object_type, sampling_frequency_index
    .u(4, 2).u(4, 0).u(4, 0).u(2, 1).u(3, 0).u(4, 0) // 2 front, 0 side, 0 back, 1 lfe, 0 assoc, 0 cc
    .u(1, 0).u(1, 0).u(1, 0) // no mixdowns
    .u(1, 1).u(4, 0).u(1, 0).u(4, 1) // CPE, SCE
    .u(4, 0); // LFE tag
  t.match(parseAudioSpecificConfig(asc(pce)), { channels: 4, sampleRate: 44100 });
});

t.test('malformed AudioSpecificConfigs throw readable MediaErrors', async (t) => {
  t.throws(() => parseAudioSpecificConfig(Buffer.from([0x12])), { name: 'MediaError', message: /shorter than the 2-byte minimum/ });
  t.throws(() => parseAudioSpecificConfig(Buffer.from([0x00, 0x10])), { message: /object type 0/ });
  t.throws(() => parseAudioSpecificConfig(asc(new BitWriter().u(5, 2).u(4, 13).u(4, 2))), { message: /reserved sampling frequency index 13/ });
  t.throws(() => parseAudioSpecificConfig(asc(new BitWriter().u(5, 2).u(4, 4).u(4, 9))), { message: /reserved channel configuration 9/ });
  t.throws(() => parseAudioSpecificConfig(Buffer.from([0x17, 0x80])), MediaError, 'explicit rate cut short');
});
