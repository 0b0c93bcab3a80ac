// Hands a WHIP publisher's RTP over from werift to the media engine once DTLS has produced the SRTP keys: the engine
// reads werift's UDP socket on its own thread (native/src/plane/rtp_in.h: decrypt, reorder, depacketize, NACK holes)
// and gives back, as pipe events, what stays werift's — STUN (ICE consent), DTLS and SRTCP datagrams — which this
// module puts back into werift's socket as if Node had read them. The few RTP packets werift already read, and any
// that reach another of its sockets, go to the engine through werift's SRTP session (pushSrtp).
//
// werift keeps the RTCP it sends: this module sends the NACKs the engine asks for and the receiver reports it counts
// (werift's receiver, which no longer sees RTP, would report nothing).

import { GenericNack, RtcpReceiverInfo, RtcpRrPacket, RtcpTransportLayerFeedback, SrtpAuthenticationError, type RTCPeerConnection, type RTCRtpTransceiver } from 'werift';
import type { Pipe } from '../../room/engine.js';
import type { RtpReport } from '../../native/rtmp-plane.js';
import { stopUdpReading, udpSocketFd } from '../../node-internals.js';
import { dtlsTransportsOf, iceConnectionOf, receiverRtcp, receiverReportClock, srtpSessionOf, type DtlsTransport, type SrtpSession } from '../../werift-internals.js';

const PROFILE_NAMES: Record<number, string> = { 1: 'AES_CM_128_HMAC_SHA1_80', 7: 'AEAD_AES_128_GCM' };

/** Who decrypts a publisher's SRTP, with which profile (null before DTLS completes), and how many packets it refused. */
export interface SrtpStatus {
  decryptedBy: 'native' | 'werift';
  profile: string | null;
  rejectedPackets: number;
}

/** A node:dgram socket as werift's UDP transport holds it. */
interface UdpSocket {
  emit(event: 'message', msg: Buffer, rinfo: { address: string; family: string; port: number; size: number }): boolean;
}

export class RtpIntake {
  private pipe: Pipe | null = null;
  private keys: { dtls: DtlsTransport; srtp: SrtpSession } | null = null;
  private socket: UdpSocket | null = null;
  private attached = false;
  private closed = false;
  private reportTimer: NodeJS.Timeout | null = null;
  private readonly video: RTCRtpTransceiver | undefined;

  constructor(
    private readonly pc: RTCPeerConnection,
    private readonly transceivers: RTCRtpTransceiver[],
    /** Plane clock (ms) the frames' timestamps count from. */
    private readonly clockStart: number,
    private readonly onError: (why: string) => void,
  ) {
    this.video = transceivers.find((t) => t.kind === 'video');
    for (const dtls of dtlsTransportsOf(pc)) {
      const keyed = srtpSessionOf(dtls);
      if (keyed) this.keyed(dtls, keyed);
      const update = dtls.updateSrtpSession;
      // werift derives the SRTP keys once, when DTLS completes (RTCDtlsTransport.startSrtp).
      dtls.updateSrtpSession = () => {
        update.call(dtls);
        const srtp = srtpSessionOf(dtls);
        if (srtp) this.keyed(dtls, srtp);
      };
    }
  }

  /** The publisher's pipe (after auth and join); the hand-over happens once both it and the keys are there. */
  attach(pipe: Pipe): void {
    this.pipe = pipe;
    this.handOver();
  }

  /** A datagram the engine read that is werift's (pipe event 'datagram'). */
  toWerift(body: Buffer, address: string, port: number): void {
    this.socket?.emit('message', body, { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port, size: body.length });
  }

  /** Asks the publisher again for video packets (pipe event 'nack'). */
  nack(ssrc: number, lost: number[]): void {
    const receiver = this.video && receiverRtcp(this.video.receiver);
    if (!receiver || this.closed) return;
    const feedback = new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: receiver.rtcpSsrc, mediaSourceSsrc: ssrc, lost }) });
    receiver.dtlsTransport.sendRtcp([feedback]).catch(() => {});
  }

  status(report: RtpReport | null): SrtpStatus {
    const profile = this.keys?.srtp.config.profile;
    return {
      decryptedBy: this.attached ? 'native' : 'werift',
      profile: profile === undefined ? null : (PROFILE_NAMES[profile] ?? `profile ${profile}`),
      rejectedPackets: report?.rejected ?? 0,
    };
  }

  /** The engine stops reading (before werift closes its socket). */
  close(): void {
    this.closed = true;
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.reportTimer = null;
    if (this.attached) this.pipe?.detachInput();
  }

  private keyed(dtls: DtlsTransport, srtp: SrtpSession): void {
    if (this.keys) return; // bundled: one transport carries everything (a second would be a renegotiation we refuse)
    this.keys = { dtls, srtp };
    this.handOver();
  }

  private handOver(): void {
    const pipe = this.pipe;
    if (!pipe || !this.keys || this.attached || this.closed) return;
    const { dtls, srtp } = this.keys;
    const transport = iceConnectionOf(dtls).nominated?.protocol.transport;
    const socket = transport?.type === 'udp' && !transport.closed ? transport.socket : undefined;
    // Without a readable socket (a Node that keeps the handle elsewhere) werift reads and the engine still decrypts.
    const fd = socket ? udpSocketFd(socket) : -1;
    const reading = fd >= 0 && socket !== undefined && stopUdpReading(socket);
    const types = payloadTypes(this.transceivers);
    try {
      pipe.attachRtp({
        fd: reading ? fd : -1,
        profile: srtp.config.profile,
        key: srtp.config.keys.remoteMasterKey,
        salt: srtp.config.keys.remoteMasterSalt,
        videoPayloadTypes: types.video,
        audioPayloadTypes: types.audio,
        clockStart: this.clockStart,
      });
    } catch (err) {
      this.onError(`the media engine could not take the publisher's SRTP: ${(err as Error).message}`);
      return;
    }
    this.attached = true;
    this.socket = reading ? (socket as unknown as UdpSocket) : null;
    // RTP werift reads (queued before the hand-over, or on another of its sockets) goes to the engine too; werift
    // drops a packet whose decryption throws this error.
    srtp.decrypt = (packet: Buffer): Buffer => {
      pipe.pushSrtp(packet);
      throw new SrtpAuthenticationError('handed to the media engine');
    };
    this.scheduleReport();
  }

  /** Receiver reports every 0.5–1.5 s, as werift's receiver would send them (RFC 3550 §6.4.2). */
  private scheduleReport(): void {
    this.reportTimer = setTimeout(() => {
      this.reportTimer = null;
      if (this.closed || !this.pipe) return;
      const report = this.pipe.rtpReport(true);
      const receiver = this.video ?? this.transceivers[0];
      if (report && report.sources.length > 0 && receiver) {
        const rtcp = receiverRtcp(receiver.receiver);
        const clock = receiverReportClock(receiver.receiver);
        const reports = report.sources.map((s) => {
          const { lsr, dlsr } = clock(s.ssrc);
          return new RtcpReceiverInfo({
            ssrc: s.ssrc, fractionLost: s.fractionLost, packetsLost: s.cumulativeLost, highestSequence: s.extendedHighest, jitter: s.jitter, lsr, dlsr,
          });
        });
        rtcp.dtlsTransport.sendRtcp([new RtcpRrPacket({ ssrc: rtcp.rtcpSsrc, reports })]).catch(() => {});
      }
      this.scheduleReport();
    }, 500 + Math.random() * 1000);
    this.reportTimer.unref();
  }
}

/** The negotiated H.264 and Opus payload types of the publisher's transceivers. */
function payloadTypes(transceivers: RTCRtpTransceiver[]): { video: number[]; audio: number[] } {
  const out = { video: [] as number[], audio: [] as number[] };
  for (const t of transceivers) {
    for (const c of t.codecs) {
      const name = c.mimeType.toLowerCase();
      if (name === 'video/h264') out.video.push(c.payloadType!);
      else if (name === 'audio/opus') out.audio.push(c.payloadType!);
    }
  }
  return out;
}
