// One viewer's (bundled) DTLS transport as the media engine's sinks send on it: werift negotiated ICE and DTLS-SRTP;
// the sinks protect RTP with the same master key (native/src/srtp_send.cc) and send it on werift's own UDP socket and
// selected pair. This object finds those (the SRTP session for the current keys, the socket's descriptor, the pair
// and whether ICE consent allows sending) and sends the transport's RTCP: sender reports and the goodbye.

import type { RTCRtpSender } from 'werift';
import { loadSrtpSend, type NativeSrtpSender } from '../native/srtp-send.js';
import type { SenderReportSource } from './sender-report.js';
import { udpSocketFd } from '../node-internals.js';
import { dtlsTransportOf, iceConnectionOf, srtpSessionOf, type DtlsTransport, type IcePair, type SrtpSession } from '../werift-internals.js';

/**
 * During an ICE restart werift forgets its selected pair until the new session has one. Media stays on the pair the
 * client last confirmed meanwhile (RFC 8445 §9: a restart must not interrupt media), for at most this long.
 */
const RESTART_GRACE_MS = 10000;

const transports = new WeakMap<object, SrtpTransport>();

export class SrtpTransport {
  private native: NativeSrtpSender | null = null;
  private keysFrom: SrtpSession | null = null;
  private socketFrom: object | null = null;
  private fd = -1;
  private closed = false;
  /** False until the loop iteration that brought new keys has ended (see session()). */
  private ready = false;
  /** The last pair media went out on with consent, and when. */
  private lastPair: IcePair | null = null;
  private lastPairAt = 0;
  /** Tracks whose sender reports this transport sends, and the timer of the next batch. */
  private readonly reporters = new Set<SenderReportSource>();
  private reportTimer: NodeJS.Timeout | null = null;

  private constructor(private readonly dtls: DtlsTransport) {}

  /** The transport shared by all senders of one bundled PeerConnection. */
  static of(sender: RTCRtpSender): SrtpTransport {
    const dtls = dtlsTransportOf(sender);
    let t = transports.get(dtls);
    if (!t) transports.set(dtls, (t = new SrtpTransport(dtls)));
    return t;
  }

  /**
   * Sends RTCP compound packets from this transport's senders as SRTCP. Returns how many reached the kernel (0 while
   * ICE consent is lost: RFC 7675 forbids sending then), or -1 while the transport cannot carry them yet.
   */
  sendRtcp(packets: Buffer[]): number {
    const to = this.target();
    if (typeof to === 'number') return to;
    try {
      return to.native.sendRtcp(this.fd, to.pair.remoteAddr[0], to.pair.remoteAddr[1], packets);
    } catch {
      return 0;
    }
  }

  /**
   * Sends `source`'s sender reports from now on, every 0.5–1.5 s as werift would (WebRTC's usual pace, randomised
   * so that reports from many viewers do not bunch up), all of this transport's tracks in one system call.
   */
  addReporter(source: SenderReportSource): void {
    this.reporters.add(source);
    if (!this.reportTimer && !this.closed) this.scheduleReports();
  }

  removeReporter(source: SenderReportSource): void {
    this.reporters.delete(source);
  }

  private scheduleReports(): void {
    this.reportTimer = setTimeout(() => {
      this.reportTimer = null;
      if (this.closed) return;
      const packets: Buffer[] = [];
      for (const r of this.reporters) {
        const p = r.senderReport();
        if (p) packets.push(p);
      }
      if (packets.length > 0) this.sendRtcp(packets);
      if (this.reporters.size > 0) this.scheduleReports();
    }, 500 + Math.random() * 1000);
    this.reportTimer.unref();
  }

  /** The session, pair and socket to send on, or what sendRtcp() answers when there are none (-1 or 0). */
  private target(): { native: NativeSrtpSender; pair: IcePair } | number {
    const to = this.route();
    if (typeof to === 'number') return to;
    return to.consent ? to : 0; // RFC 7675: no media without consent
  }

  /**
   * Where the engine's sinks send this transport's RTP: the SRTP session, socket and peer, and whether ICE consent
   * allows it; null while there is none (DTLS not finished, no pair, not UDP). Sinks are told again on every
   * sender-report tick, so a new pair or lost consent reaches them within ~1 s.
   */
  sinkTarget(): { sender: NativeSrtpSender; fd: number; host: string; port: number; consent: boolean } | null {
    const to = this.route();
    if (typeof to === 'number') return null;
    return { sender: to.native, fd: this.fd, host: to.pair.remoteAddr[0], port: to.pair.remoteAddr[1], consent: to.consent };
  }

  private route(): { native: NativeSrtpSender; pair: IcePair; consent: boolean } | number {
    if (this.closed) return 0;
    const selected = this.pair();
    if (!selected) return -1; // no selected ICE pair
    const consent = selected !== 'no consent';
    // Without consent nothing may be sent: answer 0, not -1 (not ready yet).
    const unusable = consent ? -1 : 0;
    const pair = consent ? selected : this.lastPair;
    if (!pair) return 0;
    const native = this.session();
    if (!native || !this.ready) return unusable;
    const transport = pair.protocol.transport;
    if (transport?.type !== 'udp' || !transport.socket || transport.closed) return unusable; // TURN, TCP or closing
    if (transport.socket !== this.socketFrom) {
      this.socketFrom = transport.socket;
      this.fd = udpSocketFd(transport.socket);
    }
    if (this.fd < 0) return unusable; // a Node version that keeps the handle elsewhere
    return { native, pair, consent };
  }

  /** The pair to send on: werift's selected one, or during an ICE restart the one before it. */
  private pair(): IcePair | 'no consent' | null {
    const conn = iceConnectionOf(this.dtls);
    const now = performance.now();
    if (conn.nominated) {
      if (!conn.canSendApplicationData()) return 'no consent';
      this.lastPair = conn.nominated;
      this.lastPairAt = now;
      return conn.nominated;
    }
    const restarting = conn.state !== 'failed' && conn.state !== 'closed' && now - this.lastPairAt < RESTART_GRACE_MS;
    return restarting ? this.lastPair : null;
  }

  close(): void {
    this.closed = true;
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.reportTimer = null;
    this.reporters.clear();
    this.native?.close();
    this.native = null;
  }

  /** The native SRTP session for werift's current keys (a new DTLS handshake brings new ones). */
  private session(): NativeSrtpSender | null {
    const srtp = srtpSessionOf(this.dtls);
    if (!srtp) return null; // DTLS has not completed
    if (srtp !== this.keysFrom) {
      this.native?.close();
      this.native = null;
      this.keysFrom = srtp;
      const { keys, profile } = srtp.config;
      try {
        this.native = new (loadSrtpSend()!.SrtpSender)({ profile, key: keys.localMasterKey, salt: keys.localMasterSalt });
        // werift's last DTLS flight (its Finished) is still queued: node:dgram sends on a later tick, even to an IP
        // address. Native packets sent now would overtake it and reach a client that cannot decrypt them yet, so
        // sinks are made only once this iteration of the event loop has ended.
        this.ready = false;
        setImmediate(() => (this.ready = true));
      } catch {
        // a profile the native sender lacks (the gateway offers none such): nothing can be sent on this transport
      }
    }
    return this.native;
  }
}
