// The numbers the media engine (native/src/plane/) and the TypeScript it is tested against (src/media/rtp-h264.ts,
// the reference packetizer; the tests' expectations of replay pacing and history) must agree on, from their one
// source, shared-limits.json. The native build turns the same file into a C++ header (scripts/gen-shared-limits.mjs),
// and the addon's sharedLimits() returns what it was compiled with (test/native/shared-limits.test.ts compares the
// two). A JSON file rather than the addon's getter as the source: the build reads it before there is an addon.

import limits from './shared-limits.json' with { type: 'json' };

export interface SharedLimits {
  /** A GOP bigger than this many RTP packets is not cached (late viewers then wait for the next IDR). */
  readonly gopCacheMaxPackets: number;
  /** H.264 RTP payload budget per packet: keeps SRTP packets under common path MTUs. */
  readonly rtpMaxPayload: number;
  /** A replayed GOP goes out in bursts of this many packets, one burst per replayTickMs. */
  readonly replayBurst: number;
  readonly replayTickMs: number;
  /** Packets kept per viewer stream for retransmission (a power of two: slots are seq & (n − 1)). */
  readonly sendHistory: number;
  /** Refused AAC frames are reported (logged) at most once per this many ms per publisher. */
  readonly decoderErrorReportMs: number;
  /** Muxed bytes a tap (native/src/plane/tap.h) keeps for a slow reader; past it, frames are dropped to a keyframe. */
  readonly tapQueueBytes: number;
}

const { $comment: _comment, ...values } = limits;
export const SHARED_LIMITS: SharedLimits = Object.freeze(values);

if ((SHARED_LIMITS.sendHistory & (SHARED_LIMITS.sendHistory - 1)) !== 0) {
  throw new Error(`shared-limits.json: sendHistory ${SHARED_LIMITS.sendHistory} is not a power of two`);
}
