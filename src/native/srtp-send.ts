// Typed loader for the native SRTP sender (native/src/srtp_send.cc): SRTP protection of RTP packets and one
// sendmmsg(2) per batch on an existing UDP socket. Loaded lazily; `loadSrtpSend()` returns null (with the reason
// kept for the log) when the addon is not built, so callers fall back to werift's own send path.

import { requireAddon } from './load-addon.js';

/** DTLS-SRTP protection profiles (RFC 5764, RFC 7714) as werift numbers them. */
export const SRTP_AES128_CM_HMAC_SHA1_80 = 1;
export const SRTP_AEAD_AES_128_GCM = 7;

export interface NativeSrtpSender {
  /**
   * Protects and sends `count` packets to host:port on socket `fd`. Packet i: `meta[3i]` SSRC, `meta[3i+1]`
   * timestamp, `meta[3i+2]` = seq | payloadType << 16 | marker << 23; `payloads[i]` its payload (≤ 1400 bytes).
   * Returns how many reached the kernel: fewer than `count` when the socket buffer was full.
   */
  send(fd: number, host: string, port: number, meta: Uint32Array, payloads: Buffer[], count: number): number;
  /**
   * Protects each RTCP compound packet (≤ 64, each ≤ 1412 bytes, first SSRC = a sender on this transport) as SRTCP
   * and sends them; returns how many reached the kernel.
   */
  sendRtcp(fd: number, host: string, port: number, packets: Buffer[]): number;
  close(): void;
}

interface SrtpSendModule {
  SrtpSender: new (opts: { profile: number; key: Buffer; salt: Buffer }) => NativeSrtpSender;
}

let mod: SrtpSendModule | null | undefined;
export let srtpSendLoadError = '';

export function loadSrtpSend(): SrtpSendModule | null {
  if (mod === undefined) ({ mod, error: srtpSendLoadError } = requireAddon<SrtpSendModule>('media'));
  return mod;
}
