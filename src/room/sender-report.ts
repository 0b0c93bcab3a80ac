// RTCP sender reports for RTP that leaves through the native send path. A browser maps each track's RTP clock onto
// the NTP time in its sender reports to keep audio and video in sync (RFC 3550 §6.4.1), and answers them with
// receiver reports that give the round-trip time. werift would send them from a promise-and-timer loop per track
// with a fresh Node cipher each; the transport sends them natively (srtp-transport.ts), one batch per interval.

/** What one sender report says. */
export interface SenderInfo {
  ssrc: number;
  /** 64-bit NTP time of the last packet sent. */
  ntp: bigint;
  /** RTP timestamp of that packet. */
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  /** CNAME for the SDES chunk that RFC 3550 §6.1 asks every compound packet to carry. */
  cname?: string;
}

/** A track that reports on itself; null when it has nothing to report (nothing sent yet, or stopped). */
export interface SenderReportSource {
  senderReport(): Buffer | null;
}

const SR = 200;
const SDES = 202;
const CNAME = 1;

/** One RTCP compound packet: a sender report with no report blocks, then SDES with the CNAME when there is one. */
export function buildSenderReport(info: SenderInfo): Buffer {
  const cname = info.cname ? Buffer.from(info.cname, 'utf8').subarray(0, 255) : null;
  // SDES chunk: SSRC, item (type, length, text), at least one zero octet, padded to 32 bits (§6.5).
  const chunkLen = cname ? Math.ceil((4 + 2 + cname.length + 1) / 4) * 4 : 0;
  const out = Buffer.alloc(28 + (cname ? 4 + chunkLen : 0));
  out[0] = 0x80; // V=2, P=0, RC=0
  out[1] = SR;
  out.writeUInt16BE(28 / 4 - 1, 2);
  out.writeUInt32BE(info.ssrc >>> 0, 4);
  out.writeBigUInt64BE(BigInt.asUintN(64, info.ntp), 8);
  out.writeUInt32BE(info.rtpTimestamp >>> 0, 16);
  out.writeUInt32BE(info.packetCount >>> 0, 20);
  out.writeUInt32BE(info.octetCount >>> 0, 24);
  if (cname) {
    out[28] = 0x81; // V=2, SC=1
    out[29] = SDES;
    out.writeUInt16BE((4 + chunkLen) / 4 - 1, 30);
    out.writeUInt32BE(info.ssrc >>> 0, 32);
    out[36] = CNAME;
    out[37] = cname.length;
    cname.copy(out, 38);
  }
  return out;
}

/** The middle 32 bits of an NTP time, as receiver reports echo it in LSR. */
export function compactNtp(ntp: bigint): number {
  return Number((ntp >> 16n) & 0xffffffffn);
}
