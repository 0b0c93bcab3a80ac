// One viewer's outgoing RTP stream of one kind. Publishers come and go (reconnects) and a cached GOP may be
// replayed, yet the viewer must see one continuous stream: sequence numbers +1 per packet, timestamps advancing
// with wall-clock time. This class owns those offsets.
//
// Packets normally leave through the native SRTP sender (src/room/srtp-transport.ts): a frame's packets are
// numbered here, encrypted and sent in one system call, and kept in a short history for NACKs; the transport sends
// this stream's RTCP sender reports too, from the counters kept here (and on werift's RTCRtpSender, which reads
// them for its stats). When the native path cannot carry the packets, werift's own sender does (it applies the
// same offsets, from its seqOffset and timestampOffset fields) and sends the reports itself.

import type { RTCRtpSender, RtpPacket } from 'werift';
import { buildSenderReport, compactNtp, type SenderReportSource } from './sender-report.js';
import { SHARED_LIMITS } from '../media/shared-limits.js';
import type { SrtpTransport } from './srtp-transport.js';
import type { DataPlane } from './data-plane.js';
import { senderInternals, type SenderInternals } from '../werift-internals.js';

/** Packets kept for retransmission: ~2 s of 2.5 Mb/s video, inside the SRTP replay window (1024). */
const HISTORY = SHARED_LIMITS.sendHistory; // and native/src/plane/sink.h, from the same JSON
/** Unsettled werift sends beyond which a viewer is "behind". */
const MAX_IN_FLIGHT = 600;
const NTP_EPOCH_OFFSET_MS = 2208988800000;

// Scratch space for one native send call (the event loop runs one at a time).
let scratchMeta = new Uint32Array(3 * 64);
const scratchPayloads: Buffer[] = [];

/** The scratch metadata array, grown to hold `n` packets. */
function metaFor(n: number): Uint32Array {
  if (scratchMeta.length < n * 3) scratchMeta = new Uint32Array(n * 3);
  return scratchMeta;
}

export class OutboundStream implements SenderReportSource {
  /** werift's sender fields this class drives (their shapes are checked at start-up: src/werift-internals.ts). */
  private readonly w: SenderInternals;
  private seqOffset = 0;
  private tsOffset = 0;
  private lastSeq = -1;
  private lastTs = 0;
  private lastWall = 0;
  /** The next packet starts a new input sequence (new publisher, or a replay): re-anchor the offsets. */
  private rebaseNext = true;
  /** The transport sends this stream's sender reports (the native path carried its packets). */
  private reporting = false;
  private readonly historyMeta = new Uint32Array(HISTORY * 3);
  private readonly historyPayload: (Buffer | undefined)[] = new Array(HISTORY);
  /** werift sends not yet settled (fallback path only). */
  private inFlight = 0;
  /** The last native send found the socket buffer full. */
  private bufferFull = false;
  sent = 0;
  /** The data plane's sink that carries this stream while its publisher is on the plane (src/room/data-plane.ts). */
  private planeSink: { plane: DataPlane; id: number } | null = null;
  /** werift's packet and octet counts when the plane took over (a sender report counts both paths' packets). */
  private basePackets = 0;
  private baseOctets = 0;

  constructor(
    readonly sender: RTCRtpSender,
    private readonly clockRate: number,
    private readonly transport: SrtpTransport | null,
  ) {
    const w = senderInternals(sender);
    this.w = w;
    if (transport) w.onGenericNack.subscribe((nack) => this.retransmit(nack.lost));
  }

  /** The viewer's transport is not keeping up: video should skip to the next keyframe. */
  get behind(): boolean {
    return this.bufferFull || this.inFlight > MAX_IN_FLIGHT;
  }

  /**
   * Hands this stream to the data plane: from now on a sink on `pipe` numbers, encrypts and sends its packets, continuing
   * this stream's numbering; `replay` starts video with the cached GOP. Returns false while the transport cannot
   * carry native packets yet (DTLS still finishing): the caller tries again.
   */
  attachPlane(plane: DataPlane, pipe: number, video: boolean, replay: boolean): boolean {
    if (this.planeSink) return true;
    const to = this.transport?.planeTarget();
    if (!to) return false;
    const id = plane.native.addSink(pipe, {
      video,
      sender: to.sender,
      ssrc: this.w.ssrc >>> 0,
      payloadType: this.w.codec?.payloadType ?? 0,
      clockRate: this.clockRate,
      fd: to.fd,
      host: to.host,
      port: to.port,
      consent: to.consent,
      lastSeq: this.lastSeq,
      lastTs: this.lastTs,
      lastWall: plane.fromPerformance(this.lastWall),
      replay,
    });
    this.planeSink = { plane, id };
    this.basePackets = this.w.packetCount;
    this.baseOctets = this.w.octetCount;
    if (!this.reporting) this.startReporting();
    return true;
  }

  /** Takes the stream back from the data plane, keeping its numbering for whatever is sent next. */
  detachPlane(): void {
    const sink = this.planeSink;
    if (!sink) return;
    this.planeSink = null;
    const info = sink.plane.native.sinkInfo(sink.id);
    const numbering = sink.plane.native.removeSink(sink.id);
    if (info) this.countPlane(sink.plane, info);
    if (numbering && numbering[0] >= 0) {
      this.lastSeq = numbering[0];
      this.lastTs = numbering[1];
      this.lastWall = sink.plane.toPerformance(numbering[2]);
    }
    this.rebaseNext = true;
  }

  /** Copies the plane sink's counters to werift's sender fields, which sender reports and werift's stats read. */
  private countPlane(plane: DataPlane, info: { packetCount: number; octetCount: number; rtpTimestamp: number; lastSendAt: number }): void {
    const w = this.w;
    if (info.packetCount === 0) return;
    w.packetCount = (this.basePackets + info.packetCount) >>> 0;
    w.octetCount = this.baseOctets + info.octetCount;
    w.rtpTimestamp = info.rtpTimestamp;
    w.ntpTimestamp = ntpNow(plane.toPerformance(info.lastSendAt));
    this.sent = Math.max(this.sent, 1);
  }

  /** A picture-loss request: the plane's sink replays the cached GOP. Returns false when not on the plane. */
  planeReplay(): boolean {
    return this.planeSink ? this.planeSink.plane.native.sinkReplay(this.planeSink.id) : false;
  }

  /** The next packet sent begins another source (a reconnected publisher): keep numbering continuous. */
  rebase(): void {
    this.rebaseNext = true;
  }

  /**
   * Sends packets in order; `timestamps[i]`, when given, replaces packet i's own timestamp (GOP replay). Returns
   * a promise when werift carries them (settled once handed to its socket), undefined when they left already.
   */
  send(packets: readonly RtpPacket[], timestamps?: readonly number[]): Promise<void> | undefined {
    const n = packets.length;
    if (n === 0) return undefined;
    this.number(packets[0], timestamps ? timestamps[0] : packets[0].header.timestamp);
    if (this.transport && this.sendNative(packets, timestamps)) return undefined;
    return this.sendWerift(packets, timestamps);
  }

  /** Anchors the offsets so that this packet continues the viewer's numbering, when a new source begins. */
  private number(first: RtpPacket, ts: number): void {
    if (!this.rebaseNext) return;
    this.rebaseNext = false;
    if (this.lastSeq < 0) return;
    const elapsed = Math.max(1, Math.round(((performance.now() - this.lastWall) * this.clockRate) / 1000));
    this.seqOffset = (this.lastSeq + 1 - first.header.sequenceNumber) & 0xffff;
    this.tsOffset = (this.lastTs + elapsed - ts) >>> 0;
  }

  private sendNative(packets: readonly RtpPacket[], timestamps?: readonly number[]): boolean {
    const n = packets.length;
    const meta = metaFor(n);
    const payloads = scratchPayloads;
    const pt = this.w.codec?.payloadType ?? 0;
    const ssrc = this.w.ssrc >>> 0;
    let octets = 0;
    let seq = 0;
    let ts = 0;
    for (let i = 0; i < n; i++) {
      const h = packets[i].header;
      seq = (h.sequenceNumber + this.seqOffset) & 0xffff;
      ts = ((timestamps ? timestamps[i] : h.timestamp) + this.tsOffset) >>> 0;
      meta[3 * i] = ssrc;
      meta[3 * i + 1] = ts;
      meta[3 * i + 2] = seq | (pt << 16) | (h.marker ? 1 << 23 : 0);
      payloads[i] = packets[i].payload;
      octets += packets[i].payload.length;
    }
    const handed = this.transport!.send(meta, payloads, n);
    if (handed < 0) {
      payloads.length = 0;
      return false;
    }
    const hm = this.historyMeta;
    for (let i = 0; i < n; i++) {
      const slot = meta[3 * i + 2] & (HISTORY - 1);
      hm[slot * 3] = meta[3 * i];
      hm[slot * 3 + 1] = meta[3 * i + 1];
      hm[slot * 3 + 2] = meta[3 * i + 2];
      this.historyPayload[slot] = payloads[i];
    }
    payloads.length = 0;
    this.lastSeq = seq;
    this.lastTs = ts;
    this.lastWall = performance.now();
    this.sent += n;
    this.bufferFull = handed < n;
    const w = this.w;
    w.packetCount = (w.packetCount + n) >>> 0;
    w.octetCount += octets;
    w.rtpTimestamp = ts;
    w.ntpTimestamp = ntpNow(this.lastWall);
    if (!this.reporting) this.startReporting();
    return true;
  }

  /** This stream's next sender report (SenderReportSource), or null when nothing was sent or werift stopped it. */
  senderReport(): Buffer | null {
    const w = this.w;
    const sink = this.planeSink;
    if (sink) {
      // the sender-report tick also tells the plane about a new ICE pair, lost consent or new DTLS keys
      const to = this.transport?.planeTarget();
      if (to) sink.plane.native.sinkTarget(sink.id, to.sender, to.fd, to.host, to.port, to.consent);
      const info = sink.plane.native.sinkInfo(sink.id);
      if (info) this.countPlane(sink.plane, info);
    }
    if (w.stopped || this.sent === 0) return null;
    w.lastSRtimestamp = compactNtp(w.ntpTimestamp);
    w.lastSentSRTimestamp = Date.now() / 1000; // werift's clock for the round-trip from the viewer's LSR/DLSR
    return buildSenderReport({
      ssrc: w.ssrc,
      ntp: w.ntpTimestamp,
      rtpTimestamp: w.rtpTimestamp,
      packetCount: w.packetCount,
      octetCount: w.octetCount,
      cname: w.cname,
    });
  }

  /**
   * Hands this stream's sender reports to the native transport. werift's loop (started if its sender carried the
   * first packets, in the turn before the native path was ready) is stopped before its first report, so the
   * SRTCP index of this SSRC has one counter only.
   */
  private startReporting(): void {
    const w = this.w;
    this.reporting = true;
    w.rtcpRunning = false;
    w.rtcpCancel.abort();
    w.rtcpCancel = new AbortController();
    this.transport!.addReporter(this);
  }

  /** Re-sends NACKed packets still in the history, unchanged (same SSRC, sequence number and timestamp). */
  private retransmit(lost: number[]): void {
    if (this.planeSink) return this.planeSink.plane.native.sinkRetransmit(this.planeSink.id, lost);
    const meta = metaFor(lost.length);
    let k = 0;
    for (const seq of lost) {
      const slot = seq & (HISTORY - 1);
      const payload = this.historyPayload[slot];
      if (!payload || (this.historyMeta[slot * 3 + 2] & 0xffff) !== seq) continue;
      meta.set(this.historyMeta.subarray(slot * 3, slot * 3 + 3), k * 3);
      scratchPayloads[k++] = payload;
    }
    if (k > 0) this.transport!.send(meta, scratchPayloads, k);
    scratchPayloads.length = 0;
  }

  private sendWerift(packets: readonly RtpPacket[], timestamps?: readonly number[]): Promise<void> {
    if (this.reporting) {
      // werift's sender starts its own report loop with this packet
      this.reporting = false;
      this.transport?.removeReporter(this);
    }
    this.w.seqOffset = this.seqOffset;
    this.w.timestampOffset = this.tsOffset;
    const settle = () => {
      this.inFlight--;
    };
    let last!: Promise<void>;
    for (let i = 0; i < packets.length; i++) {
      let p = packets[i];
      if (timestamps) {
        // werift clones every packet anyway; this copy only happens on the rare replay path.
        p = p.clone();
        p.header.timestamp = timestamps[i] >>> 0;
      }
      this.lastSeq = (p.header.sequenceNumber + this.seqOffset) & 0xffff;
      this.lastTs = (p.header.timestamp + this.tsOffset) >>> 0;
      this.inFlight++;
      last = this.sender.sendRtp(p).then(settle, settle);
    }
    this.lastWall = performance.now();
    this.sent += packets.length;
    return last;
  }
}

/**
 * The 64-bit NTP time for a performance.now() reading, for RTCP sender reports: the browser maps both tracks'
 * RTP clocks onto it to keep lip sync. (werift's own ntpTime() writes the decimal digits of the fraction as an
 * integer, e.g. .5 s as 5/2^32, which breaks that mapping whenever it is used.)
 */
export function ntpNow(now = performance.now()): bigint {
  const ms = performance.timeOrigin + now + NTP_EPOCH_OFFSET_MS;
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 0x100000000);
  return (BigInt(seconds) << 32n) | BigInt(fraction);
}
