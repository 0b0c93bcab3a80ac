// A WHIP publisher's SRTP decrypted by native/src/srtp_recv.cc instead of werift's JavaScript, which builds a fresh
// Node cipher (two for AES-CM) per packet: about a sixth of the gateway's CPU for a 2.5 Mb/s publisher. werift keeps
// ICE, DTLS, SRTCP and everything after decryption; only its SRTP session's `decrypt` is replaced, once werift has
// derived the keys. The addon not built or a profile it does not know leaves werift's decryption in place, so this
// is an optimisation, never a requirement. werift's shapes (src/werift-internals.ts) are checked at start-up.

import { SrtpAuthenticationError, type RTCPeerConnection } from 'werift';
import { loadSrtpRecv, UNPROTECT_AUTH_FAILED, UNPROTECT_NOT_SRTP, type NativeSrtpReceiver } from '../../native/srtp-recv.js';
import { dtlsTransportsOf, srtpSessionOf, type SrtpSession } from '../../werift-internals.js';

const PROFILE_NAMES: Record<number, string> = { 1: 'AES_CM_128_HMAC_SHA1_80', 7: 'AEAD_AES_128_GCM' };
const UNPROTECT_REASONS: Record<number, string> = { [UNPROTECT_AUTH_FAILED]: 'SRTP authentication failed', [UNPROTECT_NOT_SRTP]: 'not an SRTP packet' };

/**
 * Who decrypts a publisher's SRTP, with which DTLS-SRTP profile (null before DTLS has completed), and how many packets
 * the native receiver refused (forged, corrupted, not SRTP; werift drops them alike but does not count them).
 */
export interface SrtpStatus {
  decryptedBy: 'native' | 'werift';
  profile: string | null;
  rejectedPackets: number;
}

export class NativeDecrypt {
  private readonly receivers: NativeSrtpReceiver[] = [];
  private closed = false;
  private rejected = 0;

  /** Takes over decryption on every DTLS transport of `pc` (one when bundled) as soon as each has its keys. */
  constructor(private readonly pc: RTCPeerConnection) {
    if (!loadSrtpRecv()) return;
    for (const dtls of dtlsTransportsOf(pc)) {
      const keyed = srtpSessionOf(dtls); // undefined until DTLS completes
      if (keyed) this.install(keyed);
      const update = dtls.updateSrtpSession;
      // werift derives the SRTP keys once, when DTLS completes (RTCDtlsTransport.startSrtp).
      dtls.updateSrtpSession = () => {
        update.call(dtls);
        const srtp = srtpSessionOf(dtls);
        if (srtp) this.install(srtp);
      };
    }
  }

  /** Native once at least one transport's packets are decrypted here. */
  get status(): SrtpStatus {
    return statusOf(this.pc, this.receivers.length > 0, this.rejected);
  }

  close(): void {
    this.closed = true;
    for (const r of this.receivers) r.close();
  }

  private install(srtp: SrtpSession): void {
    const mod = loadSrtpRecv();
    const keys = srtp.config.keys;
    if (this.closed || !mod) return;
    let receiver: NativeSrtpReceiver;
    try {
      receiver = new mod.SrtpReceiver({ profile: srtp.config.profile, key: keys.remoteMasterKey, salt: keys.remoteMasterSalt });
    } catch {
      return; // a profile the addon does not implement: werift's decryption stays
    }
    this.receivers.push(receiver);
    // werift drops packets whose decryption throws this error (logged at debug level); any other error would escape.
    srtp.decrypt = (packet: Buffer): Buffer => {
      if (this.closed) throw new SrtpAuthenticationError('the WHIP session has ended');
      const len = receiver.unprotect(packet);
      if (len >= 12) return packet.subarray(0, len);
      this.rejected++;
      throw new SrtpAuthenticationError(UNPROTECT_REASONS[len] ?? 'OpenSSL failed to decrypt');
    };
  }
}

/** The SRTP status of `pc`: decrypted natively or by werift, and the profile DTLS negotiated. */
export function statusOf(pc: RTCPeerConnection, native: boolean, rejectedPackets = 0): SrtpStatus {
  const dtls = dtlsTransportsOf(pc)[0];
  const profile = dtls ? srtpSessionOf(dtls)?.config.profile : undefined; // none before DTLS completes
  return {
    decryptedBy: native ? 'native' : 'werift',
    profile: profile === undefined ? null : (PROFILE_NAMES[profile] ?? `profile ${profile}`),
    rejectedPackets,
  };
}
