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
// only while something is missing. A jump of more than MAX_GAP packets is a new numbering, not loss. Each SSRC is
// followed on its own (simulcast layers, a publisher that changed SSRC), and NACKed with its own SSRC.

import { GenericNack, RtcpTransportLayerFeedback, type RtpPacket } from 'werift';
import type { ReceiverRtcp } from '../../werift-internals.js';

/** Re-send the NACK for a hole still open after this long (a retransmission needs one round trip). */
export const RETRY_MS = 40;
/** NACKs per missing packet: at 0, 40 and 80 ms, within the reorder buffer's 120 ms wait. */
export const SENDS = 3;
/** A forward jump larger than this is a restarted numbering: nothing is requested. */
const MAX_GAP = 500;

/** The part of werift's RTCRtpReceiver this needs (src/werift-internals.ts). */
export type NackReceiver = ReceiverRtcp;

interface Hole {
  sends: number;
  /** performance.now() of its last NACK. */
  lastSent: number;
}

/** One SSRC's numbering: the highest sequence number seen and its holes, in the order they opened. */
interface Stream {
  highest: number;
  missing: Map<number, Hole>;
}

/** SSRCs followed at once (simulcast layers, a publisher that changed SSRC); beyond that the first seen is dropped. */
const MAX_STREAMS = 4;

export class NackRequester {
  private readonly streams = new Map<number, Stream>();
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
    const stream = this.streams.get(ssrc);
    if (!stream) {
      this.streams.set(ssrc, { highest: seq, missing: new Map() });
      if (this.streams.size > MAX_STREAMS) this.streams.delete(this.streams.keys().next().value!);
      return;
    }
    const ahead = (seq - stream.highest) & 0xffff;
    if (ahead === 0) return;
    if (ahead >= 0x8000) {
      // Behind the highest: a reordered or retransmitted packet.
      if (stream.missing.delete(seq)) this.stats.recovered++;
      return;
    }
    stream.highest = seq;
    if (ahead > MAX_GAP) {
      stream.missing.clear(); // a restarted numbering
      return;
    }
    for (let s = (seq - ahead + 1) & 0xffff; s !== seq; s = (s + 1) & 0xffff) {
      stream.missing.set(s, { sends: 0, lastSent: 0 });
      this.stats.requested++;
    }
    if (ahead > 1) this.sendNacks(performance.now());
  }

  /** Sequence numbers currently missing, oldest first, of `ssrc` (default: every SSRC). */
  lost(ssrc?: number): number[] {
    const out: number[] = [];
    for (const [id, stream] of this.streams) if (ssrc === undefined || id === ssrc) out.push(...stream.missing.keys());
    return out;
  }

  close(): void {
    this.closed = true;
    this.streams.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** One RTCP packet with a NACK per SSRC that has holes due; then one timer for the next hole to come due. */
  private sendNacks(now: number): void {
    const feedback: RtcpTransportLayerFeedback[] = [];
    let nextDue = Infinity;
    for (const [ssrc, stream] of this.streams) {
      const { lost, due } = this.dueHoles(stream, now);
      nextDue = Math.min(nextDue, due);
      if (lost.length === 0) continue;
      const nack = new GenericNack({ senderSsrc: this.receiver.rtcpSsrc, mediaSourceSsrc: ssrc, lost });
      feedback.push(new RtcpTransportLayerFeedback({ feedback: nack }));
      this.onNack(nack);
    }
    if (feedback.length > 0) {
      this.stats.nacksSent += feedback.length;
      this.receiver.dtlsTransport.sendRtcp(feedback).catch(() => {});
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (nextDue === Infinity) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.closed) this.sendNacks(performance.now());
    }, Math.max(1, nextDue - now));
    this.timer.unref();
  }

  /**
   * The stream's holes due for a NACK now (new ones, and those NACKed RETRY_MS ago with NACKs left), marked as sent;
   * holes out of NACKs are forgotten. `due`: when the next one comes due (Infinity: none open).
   */
  private dueHoles(stream: Stream, now: number): { lost: number[]; due: number } {
    const lost: number[] = [];
    let due = Infinity;
    for (const [seq, hole] of stream.missing) {
      if (hole.sends > 0 && now - hole.lastSent < RETRY_MS) {
        due = Math.min(due, hole.lastSent + RETRY_MS);
        continue;
      }
      if (hole.sends >= SENDS) {
        stream.missing.delete(seq);
        continue;
      }
      hole.sends++;
      hole.lastSent = now;
      lost.push(seq);
      due = Math.min(due, now + RETRY_MS);
    }
    return { lost, due };
  }
}
