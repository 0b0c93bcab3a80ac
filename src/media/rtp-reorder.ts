// Puts a publisher's RTP packets back in sequence order before depacketizing. Packets in order pass at once; after
// a hole, later packets wait until the missing one arrives (reordered on the way, or retransmitted after our NACK:
// one round trip) or until the hole is older than `maxWaitMs`, when the wait is given up and the depacketizer sees
// the gap (and asks for a keyframe). Without this, a retransmission always came too late to be used.

/** Sequence distance beyond which a packet is not a hole's neighbour but a new numbering (publisher restarted). */
export const MAX_JUMP = 1000;

export class RtpReorderBuffer<T> {
  /** The sequence number expected next; -1 before the first packet. */
  private next = -1;
  private readonly held = new Map<number, T>();
  /** When the oldest hole opened (the arrival of the first packet held behind it). */
  private holeSince = 0;
  /** Packets skipped because they never came within the wait, and packets that came after being given up. */
  gaveUp = 0;
  tooLate = 0;

  constructor(private readonly maxWaitMs = 120) {}

  /** Feeds one packet; returns the packets now in order (possibly none, possibly several). */
  push(seq: number, item: T, now: number): T[] {
    if (this.next < 0) this.next = seq;
    const ahead = (seq - this.next) & 0xffff;
    if (ahead >= 0x8000) {
      // Behind the point already released: a duplicate, or a retransmission after the wait was given up.
      if (0x10000 - ahead > MAX_JUMP) return this.restart(seq, item);
      this.tooLate++;
      return [];
    }
    if (ahead > MAX_JUMP) return this.restart(seq, item);
    if (ahead > 0) {
      if (this.held.size === 0) this.holeSince = now;
      this.held.set(seq, item);
      return now - this.holeSince > this.maxWaitMs ? this.skipHole(now) : [];
    }
    const out = [item];
    this.next = (seq + 1) & 0xffff;
    this.drain(out);
    if (this.held.size > 0) this.holeSince = now; // the next hole starts waiting now
    return out;
  }

  /** Releases the packets held behind a hole that has waited too long, up to the next hole. */
  private skipHole(now: number): T[] {
    const out: T[] = [];
    while (this.held.size > 0 && !this.held.has(this.next)) {
      this.next = (this.next + 1) & 0xffff;
      this.gaveUp++;
    }
    this.drain(out);
    if (this.held.size > 0) this.holeSince = now;
    return out;
  }

  private drain(out: T[]): void {
    for (let item = this.held.get(this.next); item !== undefined; item = this.held.get(this.next)) {
      this.held.delete(this.next);
      out.push(item);
      this.next = (this.next + 1) & 0xffff;
    }
  }

  /** A new numbering: what was held is released in its own order, then this packet starts the new sequence. */
  private restart(seq: number, item: T): T[] {
    const out = [...this.held.entries()].sort((a, b) => ((a[0] - this.next) & 0xffff) - ((b[0] - this.next) & 0xffff)).map((e) => e[1]);
    this.held.clear();
    out.push(item);
    this.next = (seq + 1) & 0xffff;
    return out;
  }
}
