// AAC AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1): object type, sampling rate and channel count, with the
// explicit (hierarchical) SBR/PS signalling of HE-AAC v1/v2. Backward-compatible (implicit) SBR signalling after
// the GASpecificConfig is not looked at: such streams report their core object type and rate.

import type { AacConfig } from './model.js';
import { BitReader } from './bits.js';
import { MediaError } from './errors.js';

export const AAC_SAMPLE_RATES: readonly number[] = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/** Channels per channelConfiguration (0 = defined by a program_config_element; -1 = reserved). */
const CHANNELS_BY_CONFIG = [0, 1, 2, 3, 4, 5, 6, 8, -1, -1, -1, 7, 8, 24, 8, -1];

/** General Audio object types, which carry a GASpecificConfig (and so may carry a program_config_element). */
const GA_OBJECT_TYPES = new Set([1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23]);

export function aacObjectTypeName(objectType: number): string {
  switch (objectType) {
    case 1: return 'AAC Main';
    case 2: return 'AAC-LC';
    case 3: return 'AAC SSR';
    case 4: return 'AAC LTP';
    case 5: return 'HE-AAC (SBR)';
    case 6: return 'AAC Scalable';
    case 17: return 'ER AAC-LC';
    case 23: return 'ER AAC-LD';
    case 29: return 'HE-AAC v2 (PS)';
    case 39: return 'ER AAC-ELD';
    case 42: return 'xHE-AAC (USAC)';
    default: return `AAC object type ${objectType}`;
  }
}

function readObjectType(r: BitReader): number {
  const t = r.readBits(5);
  return t === 31 ? 32 + r.readBits(6) : t;
}

function readSampleRate(r: BitReader): number {
  const index = r.readBits(4);
  if (index === 15) {
    const rate = r.readBits(24);
    if (rate === 0) throw new MediaError('AudioSpecificConfig has an explicit sampling rate of 0');
    return rate;
  }
  const rate = AAC_SAMPLE_RATES[index];
  if (rate === undefined) throw new MediaError(`AudioSpecificConfig has reserved sampling frequency index ${index}`);
  return rate;
}

/**
 * Parses an AudioSpecificConfig. `asc` in the result is `buf` itself (no copy). For HE-AAC the sample rate is the
 * output (SBR) rate, and HE-AAC v2 (PS) reports 2 channels, which is what a decoder produces.
 */
export function parseAudioSpecificConfig(buf: Buffer): AacConfig {
  if (buf.length < 2) throw new MediaError(`AudioSpecificConfig is ${buf.length} bytes, shorter than the 2-byte minimum`);
  const r = new BitReader(buf);
  let objectType = readObjectType(r);
  if (objectType === 0) throw new MediaError('AudioSpecificConfig has object type 0 (null)');
  let sampleRate = readSampleRate(r);
  const channelConfig = r.readBits(4);
  let channels = CHANNELS_BY_CONFIG[channelConfig]!;
  if (channels < 0) throw new MediaError(`AudioSpecificConfig has reserved channel configuration ${channelConfig}`);
  const signalled = objectType;
  if (objectType === 5 || objectType === 29) {
    // Explicit hierarchical signalling: the output rate, then the core object type.
    sampleRate = readSampleRate(r);
    objectType = readObjectType(r);
    if (objectType === 22) r.readBits(4); // extensionChannelConfiguration (ER BSAC)
  }
  if (channelConfig === 0 && GA_OBJECT_TYPES.has(objectType)) {
    channels = readGaProgramConfigChannels(r, objectType);
  }
  if (signalled === 29 && channels === 1) channels = 2;
  // channelConfiguration 0 leaves the layout to a program_config_element, which only GA object types carry here:
  // for others (AAC-ELD among the decodable ones) there is no channel count to report or decode with.
  if (channels === 0) throw new MediaError(`AudioSpecificConfig of ${aacObjectTypeName(objectType)} has channel configuration 0 and no program_config_element`);
  return { codec: 'AAC', objectType: signalled, sampleRate, channels, asc: buf };
}

/** GASpecificConfig with channelConfiguration 0: count the channels of its program_config_element. */
function readGaProgramConfigChannels(r: BitReader, objectType: number): number {
  r.readBit(); // frameLengthFlag
  if (r.readFlag()) r.skipBits(14); // dependsOnCoreCoder → coreCoderDelay
  r.readBit(); // extensionFlag
  if (objectType === 6 || objectType === 20) r.skipBits(3); // layerNr
  // program_config_element()
  r.skipBits(4 + 2 + 4); // element_instance_tag, object_type, sampling_frequency_index
  const front = r.readBits(4);
  const side = r.readBits(4);
  const back = r.readBits(4);
  const lfe = r.readBits(2);
  r.skipBits(3 + 4); // num_assoc_data_elements, num_valid_cc_elements
  if (r.readFlag()) r.skipBits(4); // mono_mixdown
  if (r.readFlag()) r.skipBits(4); // stereo_mixdown
  if (r.readFlag()) r.skipBits(3); // matrix_mixdown
  let channels = lfe;
  for (let i = 0; i < front + side + back; i++) {
    channels += r.readFlag() ? 2 : 1; // is_cpe
    r.skipBits(4); // element_tag_select
  }
  if (channels === 0) throw new MediaError('AudioSpecificConfig program_config_element declares no channels');
  return channels;
}
