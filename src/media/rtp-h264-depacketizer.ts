// RTP (RFC 6184, packetization-mode 1) → H.264 access units for the media model: single NAL units, STAP-A split,
// FU-A reassembled. An access unit ends at the marker bit or when the timestamp changes. A sequence gap spoils the
// unit in progress, the rest of the picture the gap is seen in, and everything up to the next IDR (the decoder would
// show garbage), and says so, so the ingest can ask the publisher for a keyframe. The media engine runs the same
// rules in C++ (native/src/plane/rtp_in.cc), held to these by test/native/rtp-in.test.ts.

import { MAX_JUMP } from './rtp-reorder.js';

const STAP_A = 24;
const FU_A = 28;
const NAL_IDR = 5;

export interface AccessUnit {
  /** RTP timestamp (90 kHz, as received). */
  timestamp: number;
  nalus: Buffer[];
  keyframe: boolean;
}

export class H264Depacketizer {
  private nalus: Buffer[] = [];
  private fu: Buffer[] | null = null;
  private timestamp = -1;
  /** The timestamp of a picture that lost packets: the rest of it is dropped. */
  private spoiled = -1;
  private lastSeq = -1;
  /** After loss, units are dropped until an IDR arrives. */
  private broken = true;
  lost = 0;

  /**
   * Feeds one packet; returns a completed access unit or null. `onLoss` is told when frames are being dropped
   * until the next keyframe.
   */
  push(seq: number, timestamp: number, marker: boolean, payload: Buffer, onLoss?: () => void): AccessUnit | null {
    let done: AccessUnit | null = null;
    if (this.lastSeq >= 0 && seq !== ((this.lastSeq + 1) & 0xffff)) {
      const gap = (seq - this.lastSeq - 1) & 0xffff;
      const behind = (this.lastSeq - seq) & 0xffff;
      // Behind: a late duplicate or a reordered packet from before, ignored; but further behind than any reordering,
      // a numbering restarted backwards (the reorder buffer has taken it for one), which is a gap like a jump forwards.
      if (gap > 0x8000 && behind < MAX_JUMP) return null;
      if (gap < 0x8000) this.lost += gap;
      this.reset();
      this.broken = true;
      // After a loss (not a new numbering, which loses nothing) what is left of this packet's picture is spoiled
      // too, whichever of its packets were lost: an IDR picture missing a slice, or its parameter sets, must not
      // pass for a keyframe.
      if (gap <= MAX_JUMP) this.spoiled = timestamp;
      onLoss?.();
    }
    this.lastSeq = seq;
    if (this.spoiled >= 0) {
      if (this.spoiled === timestamp) {
        this.timestamp = timestamp;
        return null;
      }
      this.spoiled = -1;
    }
    if (this.timestamp !== timestamp && this.nalus.length > 0) done = this.finish();
    this.timestamp = timestamp;
    if (payload.length < 1) return done;
    const type = payload[0] & 0x1f;
    if (type === STAP_A) this.splitStapA(payload);
    else if (type === FU_A) this.reassemble(payload);
    else if (type >= 1 && type <= 23) this.nalus.push(payload);
    // 25–27 (STAP-B, MTAP) belong to packetization-mode 2, which is never negotiated; 0 and 29–31 are invalid.
    if (marker) done = this.finish() ?? done;
    return done;
  }

  private splitStapA(p: Buffer): void {
    for (let o = 1; o + 2 <= p.length; ) {
      const size = p.readUInt16BE(o);
      o += 2;
      if (size === 0 || o + size > p.length) return;
      this.nalus.push(p.subarray(o, o + size));
      o += size;
    }
  }

  private reassemble(p: Buffer): void {
    if (p.length < 3) return;
    const start = (p[1] & 0x80) !== 0;
    const end = (p[1] & 0x40) !== 0;
    if (start) this.fu = [Buffer.from([(p[0] & 0xe0) | (p[1] & 0x1f)]), p.subarray(2)];
    else if (this.fu) this.fu.push(p.subarray(2));
    else return; // a middle fragment without its start: lost
    if (end && this.fu) {
      this.nalus.push(Buffer.concat(this.fu));
      this.fu = null;
    }
  }

  private finish(): AccessUnit | null {
    const nalus = this.nalus;
    this.nalus = [];
    this.fu = null;
    if (nalus.length === 0) return null;
    const keyframe = nalus.some((n) => (n[0] & 0x1f) === NAL_IDR);
    if (this.broken && !keyframe) return null;
    this.broken = false;
    return { timestamp: this.timestamp, nalus, keyframe };
  }

  private reset(): void {
    this.nalus = [];
    this.fu = null;
  }
}
