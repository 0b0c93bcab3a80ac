// NACKs for a WHIP publisher's video (RFC 4585 §6.2.1 generic NACK), in place of werift's NackHandler.
//
// Why: werift's handler starts a 5 ms interval at the first lost packet and never stops it (its sendNack promise
// never settles once nothing is missing, so the code that clears the interval is never reached): every publisher
// that ever lost a packet cost 200 timer wake-ups a second for the rest of its session. It also re-sent each NACK
// every 5 ms, up to ten times, whatever the round trip — a storm of retransmissions from publishers that answer every
// NACK (libdatachannel in OBS does) — and lost track of the sequence when a gap spanned the 16-bit wrap.
//
// Here: a hole is NACKed as soon as the packet after it arrives, then again every RETRY_MS while it stays open, at
// most SENDS times; after that the reorder buffer (rtp-reorder.ts, 120 ms) has given up on it anyway. One timer, and
// only while something is missing. A jump of more than MAX_GAP packets is a new numbering, not loss.

import { GenericNack, RtcpTransportLayerFeedback, type RtcpPacket, type RtpPacket } from 'werift';

/** Re-send the NACK for a hole still open after this long (a retransmission needs one round trip). */
export const RETRY_MS = 40;
/** NACKs per missing packet: at 0, 40 and 80 ms, within the reorder buffer's 120 ms wait. */
export const SENDS = 3;
/** A forward jump larger than this is a restarted numbering: nothing is requested. */
const MAX_GAP = 500;

/** The part of werift's RTCRtpReceiver this needs. */
export interface NackReceiver {
  rtcpSsrc: number;
  dtlsTransport: { sendRtcp(packets: RtcpPacket[]): Promise<unknown> };
}

interface Hole {
  sends: number;
  /** performance.now() of its last NACK. */
  lastSent: number;
}

export class NackRequester {
  private highest = -1;
  private ssrc = 0;
  /** Missing sequence numbers, in the order they went missing. */
  private readonly missing = new Map<number, Hole>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Counters for the status API and tests. */
  readonly stats = { requested: 0, recovered: 0, nacksSent: 0 };

  constructor(
    private readonly receiver: NackReceiver,
    /** Told of every NACK sent (werift's RTCRtpReceiver.onPacketLost event, kept for its listeners). */
    private readonly onNack: (nack: GenericNack) => void = () => {},
  ) {}

  /** werift calls this for every video packet, retransmissions already unwrapped from RTX. */
  addPacket(packet: RtpPacket): void {
    const { sequenceNumber: seq, ssrc } = packet.header;
    if (this.closed) return;
    if (this.highest < 0 || ssrc !== this.ssrc) {
      this.restart(seq, ssrc);
      return;
    }
    const ahead = (seq - this.highest) & 0xffff;
    if (ahead === 0) return;
    if (ahead >= 0x8000) {
      // Behind the highest: a reordered or retransmitted packet.
      if (this.missing.delete(seq)) this.stats.recovered++;
      return;
    }
    if (ahead > MAX_GAP) {
      this.restart(seq, ssrc);
      return;
    }
    for (let s = (this.highest + 1) & 0xffff; s !== seq; s = (s + 1) & 0xffff) {
      this.missing.set(s, { sends: 0, lastSent: 0 });
      this.stats.requested++;
    }
    this.highest = seq;
    if (ahead > 1) this.sendNack(performance.now());
  }

  /** Sequence numbers currently missing (oldest first). */
  get lost(): number[] {
    return [...this.missing.keys()];
  }

  close(): void {
    this.closed = true;
    this.missing.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private restart(seq: number, ssrc: number): void {
    this.highest = seq;
    this.ssrc = ssrc;
    this.missing.clear();
  }

  /**
   * One NACK for the holes that are due (new ones, and those NACKed RETRY_MS ago with NACKs left); holes out of NACKs
   * are forgotten. Then one timer for the next hole to come due, if any.
   */
  private sendNack(now: number): void {
    const lost: number[] = [];
    let nextDue = Infinity;
    for (const [seq, hole] of this.missing) {
      if (hole.sends > 0 && now - hole.lastSent < RETRY_MS) {
        nextDue = Math.min(nextDue, hole.lastSent + RETRY_MS);
        continue;
      }
      if (hole.sends >= SENDS) {
        this.missing.delete(seq);
        continue;
      }
      hole.sends++;
      hole.lastSent = now;
      lost.push(seq);
      nextDue = Math.min(nextDue, now + RETRY_MS);
    }
    if (lost.length > 0) {
      const nack = new GenericNack({ senderSsrc: this.receiver.rtcpSsrc, mediaSourceSsrc: this.ssrc, lost });
      this.stats.nacksSent++;
      this.receiver.dtlsTransport.sendRtcp([new RtcpTransportLayerFeedback({ feedback: nack })]).catch(() => {});
      this.onNack(nack);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (nextDue === Infinity) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.closed) this.sendNack(performance.now());
    }, Math.max(1, nextDue - now));
    this.timer.unref();
  }
}
