// H.264 access units → RTP (RFC 6184, packetization-mode 1), in TypeScript: the reference the media engine's
// packetizer (native/src/plane/h264_rtp.cc) is tested against, and the WHIP benchmark's publisher. The gateway itself
// packetizes in the engine. Single NAL unit packets, STAP-A for the parameter sets
// sent ahead of each IDR, FU-A for NAL units larger than the payload budget. Works on the NAL list of the media
// model, so nothing is re-split or re-joined; payloads are subarrays where the RTP format allows it.

import { RtpHeader, RtpPacket } from 'werift';
import { VIDEO_CLOCK, type H264Config, type VideoFrame } from './model.js';
import { SHARED_LIMITS } from './shared-limits.js';

const NAL_SPS = 7;
const NAL_PPS = 8;
const STAP_A = 24;
const FU_A = 28;

export class H264RtpPacketizer {
  private sequence = Math.floor(Math.random() * 0x10000);

  constructor(
    /** Payload budget per packet: 1200 bytes keeps SRTP packets under common path MTUs (shared with the plane). */
    private readonly maxPayload = SHARED_LIMITS.rtpMaxPayload,
    private readonly payloadType = 96,
  ) {}

  /** RTP packets of one access unit, timestamped from its presentation time; marker on the last one. */
  packetize(frame: VideoFrame, config: H264Config): RtpPacket[] {
    const timestamp = Math.round(frame.pts * (VIDEO_CLOCK / 1000)) >>> 0;
    const payloads: Buffer[] = [];
    if (frame.keyframe) this.parameterSets(frame.nalus, config, payloads);
    for (const nal of frame.nalus) {
      if (nal.length <= this.maxPayload) payloads.push(nal);
      else this.fragment(nal, payloads);
    }
    const packets = new Array<RtpPacket>(payloads.length);
    for (let i = 0; i < payloads.length; i++) {
      const header = new RtpHeader({
        payloadType: this.payloadType,
        sequenceNumber: this.sequence,
        timestamp,
        marker: i === payloads.length - 1,
      });
      this.sequence = (this.sequence + 1) & 0xffff;
      packets[i] = new RtpPacket(header, payloads[i]);
    }
    return packets;
  }

  /** SPS and PPS ahead of an IDR unless the access unit carries them itself; one STAP-A when they fit. */
  private parameterSets(nalus: Buffer[], config: H264Config, out: Buffer[]): void {
    let hasSps = false;
    let hasPps = false;
    for (const n of nalus) {
      const t = n[0] & 0x1f;
      if (t === NAL_SPS) hasSps = true;
      else if (t === NAL_PPS) hasPps = true;
    }
    const sets = [...(hasSps ? [] : config.sps), ...(hasPps ? [] : config.pps)];
    if (sets.length === 0) return;
    const stapSize = 1 + sets.reduce((n, s) => n + 2 + s.length, 0);
    if (sets.length > 1 && stapSize <= this.maxPayload) {
      const stap = Buffer.allocUnsafe(stapSize);
      let nri = 0;
      let o = 1;
      for (const s of sets) {
        nri = Math.max(nri, s[0] & 0x60);
        stap.writeUInt16BE(s.length, o);
        s.copy(stap, o + 2);
        o += 2 + s.length;
      }
      stap[0] = nri | STAP_A;
      out.push(stap);
      return;
    }
    for (const s of sets) {
      if (s.length <= this.maxPayload) out.push(s);
      else this.fragment(s, out);
    }
  }

  /** FU-A: the NAL header's F/NRI in the indicator, its type in the FU header; S on the first, E on the last. */
  private fragment(nal: Buffer, out: Buffer[]): void {
    const indicator = (nal[0] & 0xe0) | FU_A;
    const type = nal[0] & 0x1f;
    const chunk = this.maxPayload - 2;
    for (let o = 1; o < nal.length; o += chunk) {
      const end = Math.min(o + chunk, nal.length);
      const p = Buffer.allocUnsafe(2 + end - o);
      p[0] = indicator;
      p[1] = type | (o === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0);
      nal.copy(p, 2, o, end);
      out.push(p);
    }
  }
}
