// One viewer's outgoing track of one kind, sent by a sink of the media engine (src/room/engine.ts) on the pipe of
// the publisher it watches. Publishers come and go (reconnects, a takeover by the same userid) and the viewer must
// see one continuous stream: a sink that is removed hands back where its numbering stands, and the next one
// continues from there. This object also answers the viewer's NACKs and makes its RTCP sender reports, from the
// sink's counters; werift negotiated the track and keeps its fields for its own stats.

import type { RTCRtpSender } from 'werift';
import { buildSenderReport, compactNtp, type SenderReportSource } from './sender-report.js';
import type { SrtpTransport } from './srtp-transport.js';
import { NOTHING_SENT, type Numbering, type Pipe, type Sink } from './engine.js';
import type { TrackStats } from './consumer.js';
import { senderInternals, type SenderInternals } from '../werift-internals.js';

const NTP_EPOCH_OFFSET_MS = 2208988800000;

export class ViewerTrack implements SenderReportSource {
  /** werift's sender fields this class reads and fills (shapes checked at start-up: src/werift-internals.ts). */
  private readonly w: SenderInternals;
  private sink: Sink | null = null;
  private pipe: Pipe | null = null;
  private numbering: Numbering = NOTHING_SENT;
  /** Packets and octets sent by sinks already removed: a sender report counts the whole stream. */
  private basePackets = 0;
  private baseOctets = 0;
  private reporting = false;

  constructor(
    sender: RTCRtpSender,
    private readonly clockRate: number,
    private readonly transport: SrtpTransport,
    readonly video: boolean,
  ) {
    this.w = senderInternals(sender);
    this.w.onGenericNack.subscribe((nack) => this.sink?.retransmit(nack.lost));
  }

  /**
   * Starts sending `pipe`'s media, continuing this track's numbering; `replay` starts video with the cached GOP.
   * False while the transport cannot carry packets yet (DTLS still finishing): the caller tries again.
   */
  attach(pipe: Pipe, replay: boolean): boolean {
    if (this.sink && this.pipe === pipe) return true;
    const to = this.transport.sinkTarget();
    if (!to) return false;
    this.detach();
    this.sink = pipe.addSink({ video: this.video, ssrc: this.w.ssrc >>> 0, payloadType: this.w.codec?.payloadType ?? 0, clockRate: this.clockRate, ...to }, this.numbering, replay);
    this.pipe = pipe;
    if (!this.reporting) this.startReporting();
    return true;
  }

  /** Stops sending, keeping the numbering for the next attach. */
  detach(): void {
    const sink = this.sink;
    if (!sink) return;
    this.count();
    this.basePackets = this.w.packetCount;
    this.baseOctets = this.w.octetCount;
    this.numbering = sink.remove();
    this.sink = null;
    this.pipe = null;
  }

  /** A picture-loss request: the sink replays the pipe's cached GOP. */
  replay(): boolean {
    return this.sink?.replay() ?? false;
  }

  stats(): TrackStats {
    this.count();
    return { packets: this.w.packetCount, octets: this.w.octetCount };
  }

  /** Copies the current sink's counters to werift's sender fields, which sender reports and werift's stats read. */
  private count(): void {
    const info = this.sink?.info();
    if (!info || info.packetCount === 0 || !this.pipe) return;
    const w = this.w;
    w.packetCount = (this.basePackets + info.packetCount) >>> 0;
    w.octetCount = this.baseOctets + info.octetCount;
    w.rtpTimestamp = info.rtpTimestamp;
    w.ntpTimestamp = ntpNow(this.pipe.engine.toPerformance(info.lastSendAt));
  }

  /** This track's next sender report (SenderReportSource), or null when nothing was sent or werift stopped it. */
  senderReport(): Buffer | null {
    const w = this.w;
    if (this.sink) {
      // the sender-report tick also tells the sink about a new ICE pair, lost consent or new DTLS keys
      const to = this.transport.sinkTarget();
      if (to) this.sink.retarget(to);
      this.count();
    }
    if (w.stopped || w.packetCount === 0) return null;
    w.lastSRtimestamp = compactNtp(w.ntpTimestamp);
    w.lastSentSRTimestamp = Date.now() / 1000; // werift's clock for the round-trip from the viewer's LSR/DLSR
    return buildSenderReport({ ssrc: w.ssrc, ntp: w.ntpTimestamp, rtpTimestamp: w.rtpTimestamp, packetCount: w.packetCount, octetCount: w.octetCount, cname: w.cname });
  }

  /**
   * The transport sends this track's sender reports. werift's own report loop is stopped before its first report,
   * so the SRTCP index of this SSRC has one counter only.
   */
  private startReporting(): void {
    const w = this.w;
    this.reporting = true;
    w.rtcpRunning = false;
    w.rtcpCancel.abort();
    w.rtcpCancel = new AbortController();
    this.transport.addReporter(this);
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
