// Typed loader for the native SRTP receiver (native/src/srtp_recv.cc): checks and decrypts incoming SRTP packets in
// place. Loaded lazily; `loadSrtpRecv()` returns null (with the reason kept for the log) when the addon is not
// built, so WHIP sessions keep werift's own decryption.

import { requireAddon } from './load-addon.js';

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

interface SrtpRecvModule {
  /** `key`, `salt`: the sending side's master key and salt; `profile`: 1 (AES-CM + HMAC-SHA1-80) or 7 (AES-GCM). */
  SrtpReceiver: new (opts: { profile: number; key: Buffer; salt: Buffer }) => NativeSrtpReceiver;
}

let mod: SrtpRecvModule | null | undefined;
export let srtpRecvLoadError = '';

export function loadSrtpRecv(): SrtpRecvModule | null {
  if (mod === undefined) ({ mod, error: srtpRecvLoadError } = requireAddon<SrtpRecvModule>('srtp_recv'));
  return mod;
}
