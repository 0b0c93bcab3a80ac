// One WHIP publisher: a werift PeerConnection for ICE and DTLS, and the media engine for its RTP (rtp-intake.ts hands
// werift's socket over once the keys are known). The engine depacketizes H.264 into access units and forwards Opus
// as it is, on one clock, straight to the room's consumers; an access unit it cannot judge alone — new SPS/PPS, a
// slice the policy rules on — comes here first ('rtp-video'), so that the decoder config and the refusals
// (src/media/policy.ts) stay in one place for every ingest.

import { randomUUID } from 'node:crypto';
import type { RTCPeerConnection, RTCRtpTransceiver } from 'werift';
import type { Logger } from '../../log.js';
import type { Publisher, RtpEvent } from '../../room/publisher.js';
import { H264ParameterSets } from '../../media/h264-params.js';
import { NAL_IDR, NAL_SLICE, sliceType } from '../../media/h264.js';
import { sliceTypePolicy } from '../../media/policy.js';
import { RtpIntake, type SrtpStatus } from './rtp-intake.js';
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
  /** performance.now() when the session began: the zero of its frames' timestamps. */
  private readonly startedAtPerf = performance.now();
  private publisher: Publisher | null = null;
  private intake: RtpIntake | null = null;
  private readonly params = new H264ParameterSets();
  private readonly videoTrack: RTCRtpTransceiver | undefined;
  private lastKeyframeRequest = 0;
  private keyframeRequests = 0;
  private liveSince = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly onRefused: (code: string) => void;

  constructor(
    readonly pc: RTCPeerConnection,
    private readonly transceivers: RTCRtpTransceiver[],
    private readonly log: Logger,
    private readonly onEnded: (session: WhipSession) => void,
    opts: {
      /** From the answer to ICE + DTLS connected; later the session ends and the user leaves with 104 Reason 2. */
      connectTimeoutMs: number;
      onConnectTimeout?: () => void;
      /** A codec policy refusal's code (the refusal counters). */
      onRefused?: (code: string) => void;
    },
  ) {
    this.onRefused = opts.onRefused ?? (() => {});
    this.videoTrack = transceivers.find((t) => t.kind === 'video');
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected' && this.state === 'connecting') {
        this.state = 'live';
        this.liveSince = performance.now(); // media is due from now on
      }
      // 'failed' is werift's ICE consent expiring (RFC 7675, or ICE never completing): a timeout, 104 Reason 2
      if (s === 'failed') this.end("the publisher's connection failed (ICE consent lost)", true);
      else if (s === 'closed') this.end("the publisher's connection closed");
    });
    this.every(STARTUP_PLI_MS, () => {
      if (!this.gotKeyframe()) this.requestKeyframe();
    });
    const connectBy = performance.now() + opts.connectTimeoutMs;
    this.every(Math.min(1000, opts.connectTimeoutMs), () => {
      const now = performance.now();
      if (this.state === 'connecting' && now >= connectBy) {
        opts.onConnectTimeout?.();
        this.end(`no ICE + DTLS connection within ${opts.connectTimeoutMs / 1000} s of the answer`, true);
      } else if (this.state === 'live' && now - this.lastRtp() > RTP_SILENCE_MS) {
        this.end(`no media from the publisher for ${RTP_SILENCE_MS / 1000} s`, true);
      }
    });
  }

  /** The room side of this session, once auth and join are done: the engine takes the RTP from DTLS on. */
  attach(publisher: Publisher): void {
    if (this.state === 'ended') return;
    this.publisher = publisher;
    publisher.keyframeSource = () => this.requestKeyframe();
    // a kind the user may not send was answered inactive (its refusal logged then): no config for it either
    if (publisher.refused.audio === null) publisher.setAudioConfig({ codec: 'Opus', sampleRate: 48000, channels: 2 });
    publisher.onSocketEvent = (e) => {
      if (e.kind === 'ended') this.end(`the publisher's socket failed: ${e.reason}`);
    };
    publisher.onRtpEvent = (e) => this.onRtpEvent(e);
    const engine = publisher.pipe.engine;
    this.intake = new RtpIntake(this.pc, this.transceivers, engine.toPlane(this.startedAtPerf), (why) => this.end(why));
    this.intake.attach(publisher.pipe);
    // a track that ends while the other goes on is 202/204 (and 201/203 when it comes back): the room watches every
    // publisher's tracks (src/room/track-watch.ts); both ending is the silence deadline above and 104
  }

  /** Who decrypts this publisher's SRTP (the engine once DTLS has completed), and what it refused. */
  get srtp(): SrtpStatus {
    return this.intake?.status(this.publisher?.pipe.rtpReport() ?? null) ?? { decryptedBy: 'werift', profile: null, rejectedPackets: 0 };
  }

  /** Frames the engine took in and the keyframes asked for (for the status API). */
  get stats(): { videoFrames: number; audioPackets: number; keyframeRequests: number } {
    const s = this.publisher?.pipe.stats();
    return { videoFrames: s?.videoFrames ?? 0, audioPackets: s?.audioFrames ?? 0, keyframeRequests: this.keyframeRequests };
  }

  /**
   * Video packets found missing and NACKed, those that came back (retransmitted or late), those given up on after
   * waiting for them, and those that came after that (for the status API).
   */
  get videoLoss(): { packetsNacked: number; packetsRecovered: number; packetsGivenUp: number; packetsTooLate: number } {
    const r = this.publisher?.pipe.rtpReport();
    return { packetsNacked: r?.nacked ?? 0, packetsRecovered: r?.recovered ?? 0, packetsGivenUp: r?.gaveUp ?? 0, packetsTooLate: r?.tooLate ?? 0 };
  }

  /** Sends a PLI to the publisher, at most every 500 ms. */
  requestKeyframe(): void {
    const now = performance.now();
    if (!this.videoTrack || now - this.lastKeyframeRequest < KEYFRAME_INTERVAL_MS || this.state === 'ended') return;
    const ssrc = this.videoSsrc();
    if (!ssrc) return;
    this.lastKeyframeRequest = now;
    this.keyframeRequests++;
    void this.videoTrack.receiver.sendRtcpPLI(ssrc).catch(() => {});
  }

  /** The publisher's video SSRC: announced in the offer, or seen by the engine. */
  private videoSsrc(): number | undefined {
    const announced = this.videoTrack?.receiver.tracks[0]?.ssrc;
    if (announced) return announced;
    return this.publisher?.pipe.rtpReport()?.sources.find((s) => s.video)?.ssrc;
  }

  private gotKeyframe(): boolean {
    return (this.publisher?.pipe.stats()?.keyframes ?? 0) > 0;
  }

  /** performance.now() of the last RTP packet (the moment the session went live, before the first). */
  private lastRtp(): number {
    const at = this.publisher?.pipe.rtpReport()?.lastRtpAt ?? 0;
    return at > 0 ? Math.max(this.liveSince, this.publisher!.pipe.engine.toPerformance(at)) : this.liveSince;
  }

  private onRtpEvent(e: RtpEvent): void {
    switch (e.kind) {
      case 'datagram':
        return this.intake?.toWerift(e.body, e.address, e.port);
      case 'nack':
        return this.intake?.nack(e.ssrc, e.seqs);
      case 'keyframe-wanted':
        return this.requestKeyframe();
      case 'rtp-video':
        this.onVideoUnit(e.nalus, e.ms, e.keyframe);
        if (this.state !== 'ended') this.publisher?.pipe.resume();
    }
  }

  /** An access unit the engine passed up: the config it brings, the policy's word on its slices, then the room. */
  private onVideoUnit(nalus: Buffer[], ms: number, keyframe: boolean): void {
    const publisher = this.publisher;
    if (!publisher || this.state === 'ended') return;
    try {
      if (this.params.update(nalus)) publisher.setVideoConfig(this.params.config!);
      if (!this.params.config) {
        this.requestKeyframe(); // an IDR without SPS/PPS yet: ask again
        return;
      }
      const slice = nalus.find((n) => (n[0]! & 0x1f) === NAL_SLICE || (n[0]! & 0x1f) === NAL_IDR);
      const refusal = slice ? sliceTypePolicy(sliceType(slice)) : null;
      if (refusal) {
        this.log.info({ code: refusal.code }, refusal.reason);
        this.onRefused(refusal.code);
        this.end(refusal.reason);
        return;
      }
    } catch (err) {
      this.end(`the publisher's H.264 is malformed: ${(err as Error).message}`);
      return;
    }
    publisher.pushFrame({ kind: 'video', dts: ms, pts: ms, keyframe, nalus });
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
    this.intake?.close(); // the engine stops reading before werift closes its socket
    if (this.publisher && timedOut) this.publisher.timedOut = true;
    this.publisher?.end(reason);
    void closeWithGoodbye(this.pc, this.log);
    this.log.info({ reason }, 'WHIP session ended');
    this.onEnded(this);
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}
