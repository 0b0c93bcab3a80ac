// Maps one RTP track's timestamps to milliseconds on the session's clock. A WebRTC publisher starts each track's
// timestamps at a random value, so audio and video are anchored to the arrival time of their first packet; that
// keeps them in step (within arrival jitter) for the room's lip-sync, without waiting for the first RTCP SR.
// The media engine's WHIP input does this in C++ (native/src/plane/rtp_in.cc, RtpIn::ToMs); this is the reference
// test/native/rtp-in.test.ts holds it to, beside rtp-reorder.ts and rtp-h264-depacketizer.ts.

export class RtpClock {
  private base = -1;
  private baseMs = 0;
  private last = 0;
  private wraps = 0;

  constructor(
    private readonly clockRate: number,
    private readonly sessionStart: number,
  ) {}

  toMs(timestamp: number, arrival: number): number {
    if (this.base < 0) {
      this.base = timestamp;
      this.last = timestamp;
      this.baseMs = arrival - this.sessionStart;
    }
    // Unwrap the 32-bit counter; a small step backwards is reordering, not a wrap.
    if (timestamp < this.last && this.last - timestamp > 0x80000000) this.wraps++;
    else if (timestamp > this.last && timestamp - this.last > 0x80000000) this.wraps--;
    this.last = timestamp;
    const unwrapped = timestamp + this.wraps * 0x100000000;
    return this.baseMs + ((unwrapped - this.base) * 1000) / this.clockRate;
  }
}
