// Typed wrapper around the native AAC → Opus transcoder class (native/src/aac_opus.cc), on its own. The gateway runs
// the same core (aac_opus_core.cc) inside the media engine's pipes and never calls this class: it is here for the
// transcoder's own tests, as the reference the engine's audio is compared with (test/native/plane-audio.test.ts), and
// for scripts/bench/aac-opus.mjs.
//
// Build the addon first: `npm run build:native` (node scripts/build-native.mjs).
// The .node file is loaded lazily on first use, so importing this module never fails;
// `aacOpusAvailable()` tells whether the addon can be loaded.
//
// Behaviour (details in native/src/aac_opus_core.cc):
//  * input: raw AAC access units (FLV AAC raw frames, no ADTS header) + the AudioSpecificConfig
//    from the FLV AAC sequence header. AAC-LC/Main/LTP, HE-AAC (SBR) and HE-AACv2 (PS), any
//    rate 8–96 kHz, any channel layout. HE-AAC is handled through the decoder's output format
//    (2048 samples per frame at twice the core rate).
//  * output: 48 kHz Opus, one packet per 20 ms (960 samples). `channels: 2` (default) upmixes a
//    mono source by copying it to both channels at unity gain; `channels: 1` encodes mono and
//    averages stereo sources. Wider layouts are downmixed by libswresample (normalised).
//  * timestamps follow the SOURCE clock, in 48 kHz units, NOT wrapped to 32 bits: the first
//    packet carries round(firstPtsMs * 48) and each next one +960. If the source pts goes
//    backwards, or is more than 200 ms off the clock predicted from the decoded samples, the
//    transcoder resyncs: the buffered remainder is emitted (zero-padded) on the old timeline
//    and the new frame re-anchors the timeline at round(ptsMs * 48). Forward gaps between
//    max(5 ms, half a source frame) and 200 ms (lost or corrupt frames) are filled with
//    silence so the timestamps stay aligned with the source.
//  * the packet timestamp is that of the first PCM sample fed into it; Opus adds `lookahead`
//    samples of codec delay on top (120 = 2.5 ms with 'lowdelay', 312 = 6.5 ms with 'audio').
//  * a frame the AAC decoder rejects never throws: push() returns [] and stats.errors grows;
//    the decoder carries on with the next frame. Frames starting with an in-band PCE while the
//    ASC has a fixed channelConfiguration are rejected up front, and a frame that makes the
//    decoder output a format inconsistent with the ASC is dropped and the decoder re-opened.
//    Worst case, a long run of garbage can still make libavcodec hold ~25 MB of channel
//    elements for that transcoder until close().
//  * push()/flush() after close() return [] (late events from a torn-down ingest must not
//    crash the process); close() is idempotent, and a finalizer frees everything if it is
//    never called.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { repoPath } from '../../src/paths.js';

export interface AacToOpusOptions {
  /** AudioSpecificConfig: the payload of the FLV AAC sequence header (after the 2-byte FLV audio tag header). */
  asc: Uint8Array;
  /** Opus target bitrate in bit/s (6000..510000). Default 64000. */
  bitrate?: number;
  /** Output channels, 1 or 2. Default 2 (mono sources are duplicated to both channels). */
  channels?: 1 | 2;
  /** Volume in percent, 0..200 (gain on the decoded PCM, clipped). Default 100. */
  volume?: number;
  /** Opus encoder complexity 0..10. Default 5. */
  complexity?: number;
  /**
   * Opus application. Default: 'lowdelay' (OPUS_APPLICATION_RESTRICTED_LOWDELAY, CELT only,
   * 2.5 ms codec delay) when bitrate >= 44 kb/s stereo or >= 64 kb/s mono — where libopus'
   * 'audio' mode picks CELT-only anyway, so the output is the same minus 4 ms of delay at equal
   * CPU (scripts/bench/aac-opus.mjs --matrix) — otherwise 'audio' (SILK/hybrid for speech at
   * low bitrates).
   */
  application?: 'lowdelay' | 'audio' | 'voip';
  /** Opus in-band FEC (only effective with SILK/hybrid frames, so never with 'lowdelay'). Default false. */
  fec?: boolean;
  /** Expected packet loss for the encoder, 0..100. Default 10 with fec, else 0. */
  packetLossPercent?: number;
}

export interface OpusPacket {
  /** One Opus packet (20 ms). */
  data: Buffer;
  /** 48 kHz units on the source clock, unwrapped (apply `>>> 0` / your RTP offset). */
  timestamp: number;
}

export interface AacToOpusStats {
  /** push() calls with a frame (good or bad). */
  framesIn: number;
  /** Opus packets produced (push + flush). */
  packetsOut: number;
  /** Frames the decoder rejected, plus any resampler/encoder failure. */
  errors: number;
  /** Timeline resyncs (pts backwards or > 200 ms off). */
  resyncs: number;
  /** Forward gaps (5..200 ms) filled with silence. */
  gapFills: number;
  /** Decoder re-opens (after a corrupt frame changed the decoder's output format). */
  decoderResets: number;
  /** Decoded PCM samples (per channel, at the decoder's output rate). */
  samplesIn: number;
  /** Decoder output rate of the last decoded frame (e.g. 44100; twice the core rate for HE-AAC), 0 before the first. */
  inputSampleRate: number;
  /** Decoder output channels of the last decoded frame, 0 before the first. */
  inputChannels: number;
  /** 48 kHz samples waiting for the next 20 ms packet. */
  bufferedSamples: number;
  /** Last error message (decoder/resampler/encoder), or null. */
  lastError: string | null;
}

/** One call's packets: [every packet's bytes, size0, timestamp0, size1, timestamp1, …], or [] for none. */
type NativePackets = [] | [Buffer, ...number[]];

interface NativeTranscoder {
  push(frame: Uint8Array, ptsMs: number): NativePackets;
  flush(): NativePackets;
  setVolume(percent: number): void;
  close(): void;
  readonly volume: number;
  readonly errors: number;
  readonly stats: AacToOpusStats;
  readonly closed: boolean;
  readonly lookahead: number;
  readonly channels: number;
  readonly application: 'lowdelay' | 'audio' | 'voip';
}

interface NativeModule {
  AacOpusTranscoder: new (options: AacToOpusOptions) => NativeTranscoder;
  libraryVersions(): { avcodec: string; swresample: string; opus: string };
}

/** Absolute path of the addon; ROOMGATE_AAC_OPUS_ADDON overrides it. */
export function aacOpusAddonPath(): string {
  return process.env.ROOMGATE_AAC_OPUS_ADDON || repoPath('native/build/Release/media.node');
}

let native: NativeModule | undefined;
let loadError: Error | undefined;

function load(): NativeModule {
  if (native) return native;
  if (loadError) throw loadError;
  const path = aacOpusAddonPath();
  try {
    const req = createRequire(import.meta.url);
    native = req(path) as NativeModule;
    return native;
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    loadError = new Error(
      existsSync(path)
        ? `aac-opus: cannot load ${path}: ${reason}`
        : `aac-opus: native addon not built (${path} missing): run \`npm run build:native\``,
      { cause: e },
    );
    throw loadError;
  }
}

/** True when the native addon loads. */
export function aacOpusAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/** Versions of the linked libavcodec, libswresample and libopus. */
export function aacOpusLibraryVersions(): { avcodec: string; swresample: string; opus: string } {
  return load().libraryVersions();
}

/** Synchronous AAC → Opus transcoder for one audio track (about 0.1 ms per AAC frame). */
export class AacToOpus {
  readonly #t: NativeTranscoder;

  /** Throws on a bad AudioSpecificConfig (Error) or bad options (TypeError/RangeError). */
  constructor(options: AacToOpusOptions) {
    this.#t = new (load().AacOpusTranscoder)(options);
  }

  /**
   * Decode one raw AAC frame and return the Opus packets completed so far (0, 1, sometimes 2;
   * more after a filled gap). Never throws on bad data: it returns [] and counts an error.
   */
  push(frame: Uint8Array, ptsMs: number): OpusPacket[] {
    return unpack(this.#t.push(frame, ptsMs));
  }

  /** Emit the buffered remainder (zero-padded); the next push() re-anchors the timeline. */
  flush(): OpusPacket[] {
    return unpack(this.#t.flush());
  }

  /** Volume in percent (0..200); ramped over the next 20 ms packet. */
  setVolume(percent: number): void {
    this.#t.setVolume(percent);
  }

  get volume(): number {
    return this.#t.volume;
  }

  /** Idempotent; frees the decoder, resampler and encoder. */
  close(): void {
    this.#t.close();
  }

  get closed(): boolean {
    return this.#t.closed;
  }

  get stats(): AacToOpusStats {
    return this.#t.stats;
  }

  /** Opus encoder lookahead in 48 kHz samples (codec delay; Ogg pre-skip). */
  get lookahead(): number {
    return this.#t.lookahead;
  }

  get channels(): 1 | 2 {
    return this.#t.channels as 1 | 2;
  }

  /** The Opus application in use (see AacToOpusOptions.application). */
  get application(): 'lowdelay' | 'audio' | 'voip' {
    return this.#t.application;
  }
}

/** The addon's flat answer as packets, each a view into the one Buffer the call returned. */
function unpack(flat: NativePackets): OpusPacket[] {
  if (flat.length === 0) return [];
  const bytes = flat[0] as Buffer;
  const packets: OpusPacket[] = [];
  let offset = 0;
  for (let i = 1; i < flat.length; i += 2) {
    const size = flat[i] as number;
    packets.push({ data: bytes.subarray(offset, offset + size), timestamp: flat[i + 1] as number });
    offset += size;
  }
  return packets;
}
