// The test-only SRTP receiver on the media addon's `testing` export (native/src/srtp_recv.cc): srtp_protect.cc's
// receiving side, for tests that check what werift or the plane protected. The gateway has no use for it (a WHIP
// publisher's packets are unprotected inside the engine, native/src/plane/rtp_in.cc).

import { requireAddon } from '../../src/native/load-addon.js';

/** What `unprotect` answers below zero. */
export const UNPROTECT_NOT_SRTP = -1;
export const UNPROTECT_AUTH_FAILED = -2;

export interface NativeSrtpReceiver {
  /**
   * Checks the packet's tag and decrypts it in place. Returns the plain RTP packet's length (≥ 12, the tag cut off),
   * UNPROTECT_NOT_SRTP (too short, not RTP version 2), UNPROTECT_AUTH_FAILED (the tag does not match) or -3 (OpenSSL
   * failed). Throws after close().
   */
  unprotect(packet: Buffer): number;
  close(): void;
}

/** `key`, `salt`: the sending side's master key and salt; `profile`: 1 (AES-CM + HMAC-SHA1-80) or 7 (AES-GCM). */
export type SrtpReceiverClass = new (opts: { profile: number; key: Buffer; salt: Buffer }) => NativeSrtpReceiver;

/** The class, or throws with the reason the addon did not load. */
export function srtpReceiverClass(): SrtpReceiverClass {
  const { mod, error } = requireAddon<{ testing: { SrtpReceiver: SrtpReceiverClass } }>('media');
  if (!mod) throw new Error(`native addon not built: ${error}`);
  return mod.testing.SrtpReceiver;
}
