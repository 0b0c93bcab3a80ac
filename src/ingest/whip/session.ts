// One WHIP publisher: a werift PeerConnection receiving H.264 and Opus, turned into the media model for the room.
// H.264 is depacketized into access units (so the room's one packetizer, GOP cache and fan-out serve WHIP and RTMP
// alike), checked for B-slices, and stripped of AUD/filler; Opus is forwarded as it is.

import { randomUUID } from 'node:crypto';
import type { MediaStreamTrack, RTCPeerConnection, RTCRtpTransceiver, RtpPacket } from 'werift';
import type { Logger } from '../../log.js';
import type { Publisher } from '../../room/publisher.js';
import { H264Depacketizer } from '../../media/rtp-h264-depacketizer.js';
import { RtpReorderBuffer } from '../../media/rtp-reorder.js';
import { H264ParameterSets } from '../../media/h264-params.js';
import { NAL_AUD, NAL_FILLER, NAL_IDR, NAL_SLICE, sliceType } from '../../media/h264.js';
import { sliceTypePolicy } from '../../media/policy.js';
import { RtpClock } from './rtp-clock.js';
import { NativeDecrypt, statusOf, type SrtpStatus } from './native-decrypt.js';
import { NackRequester } from './nack-requester.js';
import { receiverNack, receiverRtcp, setReceiverNack } from '../../werift-internals.js';
import { closeWithGoodbye } from '../../room/goodbye.js';

/** Keyframe requests to the publisher are at most this frequent. */
const KEYFRAME_INTERVAL_MS = 500;
/** Before the first IDR, keep asking (OBS's first packets are often lost while ICE settles). */
const STARTUP_PLI_MS = 500;
/** No RTP at all for this long means the publisher is gone (ICE failed, consent expired, process killed). */
const RTP_SILENCE_MS = 8000;

export type WhipState = 'connecting' | 'live' | 'ended';

export class WhipSession {
  readonly id = randomUUID();
  state: WhipState = 'connecting';
  endReason = '';
  readonly startedAt = Date.now();
  private publisher: Publisher | null = null;
  /** werift NACKs holes and unwraps RTX; this waits for those retransmissions so that they are not wasted. */
  private readonly reorder = new RtpReorderBuffer<RtpPacket>();
  private readonly depacketizer = new H264Depacketizer();
  private readonly params = new H264ParameterSets();
  private readonly clockStart = performance.now();
  private readonly videoClock = new RtpClock(90000, this.clockStart);
  private readonly audioClock = new RtpClock(48000, this.clockStart);
  private videoTrack: { track: MediaStreamTrack; transceiver: RTCRtpTransceiver } | null = null;
  private lastKeyframeRequest = 0;
  private gotKeyframe = false;
  private lastRtp = performance.now();
  private readonly timers: NodeJS.Timeout[] = [];
  stats = { videoFrames: 0, audioPackets: 0, keyframeRequests: 0 };
  private readonly decrypt: NativeDecrypt | null;
  private nack: NackRequester | null = null;

  constructor(
    readonly pc: RTCPeerConnection,
    transceivers: RTCRtpTransceiver[],
    private readonly log: Logger,
    private readonly onEnded: (session: WhipSession) => void,
    opts: {
      nativeDecrypt?: boolean;
      /** From the answer to ICE + DTLS connected; later the session ends and the user leaves with 104 Reason 2. */
      connectTimeoutMs: number;
      onConnectTimeout?: () => void;
    },
  ) {
    this.decrypt = (opts.nativeDecrypt ?? true) ? new NativeDecrypt(pc) : null;
    for (const t of transceivers) {
      // Tracks announced by a=ssrc exist once the offer is applied; others appear with their first packet.
      for (const track of t.receiver.tracks) this.listen(track, t);
      t.onTrack.subscribe((track) => this.listen(track, t));
    }
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected' && this.state === 'connecting') {
        this.state = 'live';
        this.lastRtp = performance.now(); // media is due from now on
      }
      if (s === 'failed' || s === 'closed') this.end(`the publisher's connection ${s}`);
    });
    this.every(STARTUP_PLI_MS, () => {
      if (!this.gotKeyframe) this.requestKeyframe();
    });
    const connectBy = performance.now() + opts.connectTimeoutMs;
    this.every(Math.min(1000, opts.connectTimeoutMs), () => {
      const now = performance.now();
      if (this.state === 'connecting' && now >= connectBy) {
        opts.onConnectTimeout?.();
        this.end(`no ICE + DTLS connection within ${opts.connectTimeoutMs / 1000} s of the answer`, true);
      } else if (this.state === 'live' && now - this.lastRtp > RTP_SILENCE_MS) {
        this.end(`no media from the publisher for ${RTP_SILENCE_MS / 1000} s`, true);
      }
    });
  }

  private listen(track: MediaStreamTrack, transceiver: RTCRtpTransceiver): void {
    if (track.kind === 'video') {
      this.videoTrack = { track, transceiver };
      this.replaceNackHandler(transceiver);
      track.onReceiveRtp.subscribe((rtp) => this.onVideoRtp(rtp));
    } else {
      track.onReceiveRtp.subscribe((rtp) => this.onAudioRtp(rtp));
    }
  }

  /** Who decrypts this publisher's SRTP: the native receiver, or werift (addon not built, turned off, not yet keyed). */
  get srtp(): SrtpStatus {
    return this.decrypt ? this.decrypt.status : statusOf(this.pc, false);
  }

  /**
   * Video packets found missing and NACKed, those that came back (retransmitted or late), those given up on after
   * waiting for them, and those that came after that (for the status API).
   */
  get videoLoss(): { packetsNacked: number; packetsRecovered: number; packetsGivenUp: number; packetsTooLate: number } {
    return {
      packetsNacked: this.nack?.stats.requested ?? 0,
      packetsRecovered: this.nack?.stats.recovered ?? 0,
      packetsGivenUp: this.reorder.gaveUp,
      packetsTooLate: this.reorder.tooLate,
    };
  }

  /** werift's NackHandler keeps a 5 ms timer for ever after the first loss (nack-requester.ts); ours replaces it. */
  private replaceNackHandler(transceiver: RTCRtpTransceiver): void {
    const receiver = transceiver.receiver;
    const old = receiverNack(receiver);
    if ((old as object) instanceof NackRequester) return; // already replaced
    old.close();
    // werift's listeners of RTCRtpReceiver.onPacketLost still hear of every NACK sent
    this.nack = new NackRequester(receiverRtcp(receiver), (n) => old.onPacketLost.execute(n));
    setReceiverNack(receiver, this.nack);
  }

  /** The room side of this session, once auth and join are done. */
  attach(publisher: Publisher): void {
    this.publisher = publisher;
    publisher.keyframeSource = () => this.requestKeyframe();
    publisher.setAudioConfig({ codec: 'Opus', sampleRate: 48000, channels: 2 });
  }

  /** Sends a PLI to the publisher, at most every 500 ms. */
  requestKeyframe(): void {
    const now = performance.now();
    if (!this.videoTrack || now - this.lastKeyframeRequest < KEYFRAME_INTERVAL_MS || this.state === 'ended') return;
    this.lastKeyframeRequest = now;
    this.stats.keyframeRequests++;
    const { track, transceiver } = this.videoTrack;
    if (track.ssrc) void transceiver.receiver.sendRtcpPLI(track.ssrc).catch(() => {});
  }

  private onVideoRtp(rtp: RtpPacket): void {
    const arrival = performance.now();
    this.lastRtp = arrival;
    for (const p of this.reorder.push(rtp.header.sequenceNumber, rtp, arrival)) this.onOrderedVideoRtp(p, arrival);
  }

  private onOrderedVideoRtp(rtp: RtpPacket, arrival: number): void {
    const h = rtp.header;
    const unit = this.depacketizer.push(h.sequenceNumber, h.timestamp, h.marker, rtp.payload, () => this.requestKeyframe());
    if (!unit || !this.publisher) return;
    const nalus = unit.nalus.filter((n) => {
      const t = n[0] & 0x1f;
      return t !== NAL_AUD && t !== NAL_FILLER;
    });
    if (this.params.update(nalus)) this.publisher.setVideoConfig(this.params.config!);
    if (!this.params.config) {
      this.requestKeyframe(); // an IDR without SPS/PPS yet: ask again
      return;
    }
    const slice = nalus.find((n) => (n[0] & 0x1f) === NAL_SLICE || (n[0] & 0x1f) === NAL_IDR);
    const refusal = slice ? sliceTypePolicy(sliceType(slice)) : null;
    if (refusal) {
      this.log.info({ code: refusal.code }, refusal.reason);
      this.end(refusal.reason);
      return;
    }
    if (unit.keyframe) this.gotKeyframe = true;
    const ms = this.videoClock.toMs(h.timestamp, arrival);
    this.stats.videoFrames++;
    this.publisher.pushFrame({ kind: 'video', dts: ms, pts: ms, keyframe: unit.keyframe, nalus });
  }

  private onAudioRtp(rtp: RtpPacket): void {
    const arrival = performance.now();
    this.lastRtp = arrival;
    if (!this.publisher || rtp.payload.length === 0) return;
    this.stats.audioPackets++;
    this.publisher.pushFrame({ kind: 'audio', dts: this.audioClock.toMs(rtp.header.timestamp, arrival), data: rtp.payload });
  }

  /**
   * Ends the session (DELETE, kick, refusal, lost connection, a deadline); the user leaves the room, with 104
   * Reason 2 when `timedOut`. The publisher is sent BYE and close_notify. Idempotent.
   */
  end(reason: string, timedOut = false): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.endReason = reason;
    for (const t of this.timers) clearInterval(t);
    if (this.publisher && timedOut) this.publisher.timedOut = true;
    this.publisher?.end(reason);
    void closeWithGoodbye(this.pc, this.log);
    this.decrypt?.close();
    this.nack?.close();
    this.log.info({ reason }, 'WHIP session ended');
    this.onEnded(this);
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}
