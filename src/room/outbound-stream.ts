// One viewer's outgoing RTP stream of one kind. Publishers come and go (reconnects) and a cached GOP may be
// replayed, yet the viewer must see one continuous stream: sequence numbers +1 per packet, timestamps advancing
// with wall-clock time. werift's RTCRtpSender already adds a per-sender sequence/timestamp offset to every packet
// it sends (that is how it splices tracks); this class decides those offsets, so live packets need no copy here.

import type { RTCRtpSender, RtpPacket } from 'werift';

interface SenderOffsets {
  seqOffset: number;
  timestampOffset: number;
}

export class OutboundStream {
  private readonly offsets: SenderOffsets;
  private lastSeq = -1;
  private lastTs = 0;
  private lastWall = 0;
  /** The next packet starts a new input sequence (new publisher, or a replay): re-anchor the offsets. */
  private rebaseNext = true;
  /** sendRtp promises not yet settled: a measure of how far behind this viewer's transport is. */
  inFlight = 0;
  sent = 0;

  constructor(
    readonly sender: RTCRtpSender,
    private readonly clockRate: number,
  ) {
    const o = sender as unknown as SenderOffsets;
    if (typeof o.seqOffset !== 'number' || typeof o.timestampOffset !== 'number') {
      throw new Error('werift RTCRtpSender has no seqOffset/timestampOffset: the werift version changed');
    }
    this.offsets = o;
  }

  /** The next packet sent begins another source (a reconnected publisher): keep numbering continuous. */
  rebase(): void {
    this.rebaseNext = true;
  }

  /** Resolves once werift has handed the packet to the socket. */
  send(p: RtpPacket, timestampOverride?: number): Promise<void> {
    const h = p.header;
    const ts = timestampOverride ?? h.timestamp;
    if (this.rebaseNext) {
      this.rebaseNext = false;
      if (this.lastSeq >= 0) {
        const elapsed = Math.max(1, Math.round(((performance.now() - this.lastWall) * this.clockRate) / 1000));
        this.offsets.seqOffset = (this.lastSeq + 1 - h.sequenceNumber) & 0xffff;
        this.offsets.timestampOffset = (this.lastTs + elapsed - ts) >>> 0;
      }
    }
    this.lastSeq = (h.sequenceNumber + this.offsets.seqOffset) & 0xffff;
    this.lastTs = (ts + this.offsets.timestampOffset) >>> 0;
    this.lastWall = performance.now();
    this.sent++;
    this.inFlight++;
    const settle = () => {
      this.inFlight--;
    };
    let packet = p;
    if (timestampOverride !== undefined) {
      // Replayed packets get their own timestamp; werift clones the packet anyway, this copy is the rare path.
      packet = p.clone();
      packet.header.timestamp = timestampOverride >>> 0;
    }
    return this.sender.sendRtp(packet).then(settle, settle);
  }
}
