// One WHEP viewer: a werift PeerConnection that sends one publisher's H.264 and Opus. Per-viewer state lives here:
// the keyframe gate, continuous numbering across publisher reconnects, GOP replay for a fast first frame and for
// picture-loss requests, and the bound on how far behind the viewer's transport may fall.

import { randomUUID } from 'node:crypto';
import type { RTCPeerConnection, RTCRtpSender, RtpPacket } from 'werift';
import type { Logger } from '../log.js';
import type { FeedListener, MediaFeed, VideoUnit } from './media-feed.js';
import { OPUS_CLOCK } from './media-feed.js';
import { VIDEO_CLOCK } from '../media/rtp-h264.js';
import { SHARED_LIMITS } from '../media/shared-limits.js';
import { OutboundStream } from './outbound-stream.js';
import { SrtpTransport } from './srtp-transport.js';
import { closeWithGoodbye } from './goodbye.js';
/** A viewer that sends no RTCP for this long has gone away (consent expired, tab closed without DELETE). */
const RTCP_SILENCE_MS = 15000;
/** Picture-loss requests are served at most this often per viewer. */
const PLI_INTERVAL_MS = 1000;
/**
 * A replayed GOP goes out in bursts of this many packets, one burst per tick: sent at once, a 1–2 s GOP (hundreds of
 * packets) overflows a receiver's default 208 KiB socket buffer. 32 × 1.2 kB per 2 ms ≈ 150 Mb/s.
 */
const REPLAY_BURST = SHARED_LIMITS.replayBurst; // and native/src/plane/sink.cc, from the same JSON
const REPLAY_TICK_MS = SHARED_LIMITS.replayTickMs;
/** How often a viewer of a data-plane publisher retries making its sinks while DTLS finishes, and for how long. */
const PLANE_RETRY_MS = 10;
const PLANE_RETRY_LIMIT_MS = 5000;

export type ViewerState = 'connecting' | 'live' | 'closed';

export class Viewer implements FeedListener {
  readonly id = randomUUID();
  state: ViewerState = 'connecting';
  feed: MediaFeed | null = null;
  private readonly video: OutboundStream | null;
  private readonly audio: OutboundStream | null;
  private waitingForKey = true;
  /** Packets of a GOP replay still to send (live video queues behind them), with their timestamps. */
  private replay: { packets: RtpPacket[]; timestamps: number[] } | null = null;
  private replayAt = 0;
  private lastPliServed = 0;
  private lastRtcp = performance.now();
  private readonly watchdog: NodeJS.Timeout;
  /** Ends a viewer that never connects (abandoned offer, blocked UDP), so its UDP port is freed. */
  private connectDeadline: NodeJS.Timeout | null;
  /** Native send paths, one per DTLS transport (one for both tracks when bundled, as browsers do). */
  private readonly transports = new Set<SrtpTransport>();
  /** Set when the viewer joined; the first keyframe sent marks its join time. */
  readonly createdAt = performance.now();
  firstKeyframeSentAt = 0;
  stats = { videoFrames: 0, audioPackets: 0, keyframeSkips: 0, plisServed: 0 };
  /** Benchmarks set this to learn when a frame's last packet has left for this viewer (zero cost when unset). */
  onSent: ((kind: 'video' | 'audio', receivedAt: number) => void) | null = null;

  constructor(
    readonly pc: RTCPeerConnection,
    senders: { video?: RTCRtpSender; audio?: RTCRtpSender },
    readonly userId: string,
    private readonly log: Logger,
    private readonly onClosed: (viewer: Viewer, reason: string) => void,
    opts: {
      /** Send RTP through the native SRTP sender when it is built (false: werift's sender for every packet). */
      nativeSend?: boolean;
      /** From the answer to ICE + DTLS connected. */
      connectTimeoutMs: number;
      /** Called when the connect deadline passes, before the viewer closes (counted by the caller). */
      onConnectTimeout?: () => void;
    },
  ) {
    const nativeSend = opts.nativeSend ?? true;
    const native = (sender: RTCRtpSender): SrtpTransport | null => {
      const t = nativeSend ? SrtpTransport.of(sender) : null;
      if (t) this.transports.add(t);
      return t;
    };
    this.video = senders.video ? new OutboundStream(senders.video, VIDEO_CLOCK, native(senders.video)) : null;
    this.audio = senders.audio ? new OutboundStream(senders.audio, OPUS_CLOCK, native(senders.audio)) : null;
    for (const s of [senders.video, senders.audio]) s?.onRtcp.subscribe(() => (this.lastRtcp = performance.now()));
    senders.video?.onPictureLossIndication.subscribe(() => this.onPictureLoss());
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') this.goLive();
      else if (s === 'failed' || s === 'closed') this.close(`connection ${s}`);
    });
    this.watchdog = setInterval(() => {
      if (this.state === 'live' && performance.now() - this.lastRtcp > RTCP_SILENCE_MS) this.close('no RTCP from the viewer for 15 s');
    }, 2000);
    this.watchdog.unref();
    this.connectDeadline = setTimeout(() => {
      if (this.state !== 'connecting') return;
      opts.onConnectTimeout?.();
      this.close(`no ICE + DTLS connection within ${opts.connectTimeoutMs / 1000} s of the answer`);
    }, opts.connectTimeoutMs);
    this.connectDeadline.unref();
  }

  /** Starts (or switches) the publisher this viewer watches; numbering continues across the switch. */
  attach(feed: MediaFeed): void {
    if (this.state === 'closed') return;
    if (this.feed) this.feed.listeners.delete(this);
    this.video?.detachPlane();
    this.audio?.detachPlane();
    const switching = this.feed !== null || this.video?.sent;
    this.feed = feed;
    this.waitingForKey = true;
    this.replay = null; // a replay of the previous publisher's GOP must not run into the new stream
    if (switching) {
      this.video?.rebase();
      this.audio?.rebase();
    }
    if (feed.native) {
      if (this.state === 'live') this.startPlane();
      return;
    }
    feed.listeners.add(this);
    feed.requestKeyframe?.();
    if (this.state === 'live') this.replayGop();
  }

  /** The publisher left; the viewer stays connected (a reconnect may follow) but receives nothing. */
  detach(): void {
    this.feed?.listeners.delete(this);
    this.feed = null;
    this.video?.detachPlane();
    this.audio?.detachPlane();
  }

  onPlane(): void {
    this.replay = null;
    if (this.state === 'live') this.startPlane();
  }

  /**
   * Hands both tracks to the data plane's sinks for a publisher on the plane (RTMP): from then on its frames reach
   * this viewer without JavaScript. The video sink starts with the cached GOP. Until DTLS has finished on the
   * viewer's transport the sinks cannot be made; this tries again every 10 ms.
   */
  private startPlane(since = performance.now()): void {
    const native = this.feed?.native;
    if (!native || this.state !== 'live') return;
    const video = !this.video || this.video.attachPlane(native.plane, native.pipe, true, true);
    const audio = !this.audio || this.audio.attachPlane(native.plane, native.pipe, false, false);
    if (video && audio) return;
    if (performance.now() - since > PLANE_RETRY_LIMIT_MS) {
      // only a transport the native sender cannot use (not UDP) gets here; the gateway offers none
      this.close('the viewer transport cannot carry the data plane\'s packets');
      return;
    }
    setTimeout(() => {
      if (this.feed?.native === native) this.startPlane(since);
    }, PLANE_RETRY_MS).unref();
  }

  onVideo(unit: VideoUnit): void {
    if (this.state !== 'live' || !this.video) return;
    if (this.replay) {
      for (const packet of unit.packets) {
        this.replay.packets.push(packet);
        this.replay.timestamps.push(packet.header.timestamp);
      }
      this.stats.videoFrames++;
      return;
    }
    if (this.video.behind) {
      this.waitingForKey = true; // behind: drop to the next keyframe rather than add latency
    }
    if (this.waitingForKey) {
      if (!unit.keyframe || this.video.behind) {
        this.stats.keyframeSkips++;
        return;
      }
      this.waitingForKey = false;
      if (!this.firstKeyframeSentAt) this.firstKeyframeSentAt = performance.now();
    }
    const pending = this.video.send(unit.packets);
    this.stats.videoFrames++;
    if (this.onSent) this.reportSent('video', unit.receivedAt, pending);
  }

  onAudio(packet: RtpPacket, receivedAt: number): void {
    if (this.state !== 'live' || !this.audio) return;
    const pending = this.audio.send([packet]);
    this.stats.audioPackets++;
    if (this.onSent) this.reportSent('audio', receivedAt, pending);
  }

  private reportSent(kind: 'video' | 'audio', receivedAt: number, pending: Promise<void> | undefined): void {
    if (pending) void pending.then(() => this.onSent?.(kind, receivedAt));
    else this.onSent?.(kind, receivedAt);
  }

  private goLive(): void {
    if (this.state !== 'connecting') return;
    this.state = 'live';
    if (this.connectDeadline) clearTimeout(this.connectDeadline);
    this.connectDeadline = null;
    this.lastRtcp = performance.now();
    this.log.debug({ viewer: this.id }, 'viewer connected');
    if (this.feed?.native) this.startPlane();
    else this.replayGop();
  }

  /**
   * Sends the cached GOP so the viewer can decode at once. Its frames get timestamps one tick apart, ending at
   * the newest frame's own timestamp: the decoder runs through them at once and shows the current picture,
   * instead of playing the GOP in real time and staying that far behind live.
   */
  private replayGop(): void {
    const gop = this.feed?.gop;
    if (!this.video || !gop || gop.length === 0) return; // no IDR yet: the keyframe gate waits for one
    if (this.replay) return; // one replay at a time; the one under way already ends at the newest frame
    const lastTs = gop[gop.length - 1].packets[0].header.timestamp;
    const queue: { packets: RtpPacket[]; timestamps: number[] } = { packets: [], timestamps: [] };
    for (let i = 0; i < gop.length; i++) {
      const ts = (lastTs - (gop.length - 1 - i)) >>> 0;
      for (const packet of gop[i].packets) {
        queue.packets.push(packet);
        queue.timestamps.push(ts);
      }
    }
    this.video.rebase();
    this.replay = queue;
    this.replayAt = 0;
    this.stats.videoFrames += gop.length;
    this.waitingForKey = false;
    if (!this.firstKeyframeSentAt) this.firstKeyframeSentAt = performance.now();
    this.pumpReplay();
  }

  private readonly pumpReplay = (): void => {
    const q = this.replay;
    if (!q || !this.video || this.state !== 'live') {
      this.replay = null;
      return;
    }
    const end = Math.min(q.packets.length, this.replayAt + REPLAY_BURST);
    void this.video.send(q.packets.slice(this.replayAt, end), q.timestamps.slice(this.replayAt, end));
    this.replayAt = end;
    if (this.replayAt < q.packets.length) setTimeout(this.pumpReplay, REPLAY_TICK_MS);
    else this.replay = null;
  };

  /**
   * A publisher that can make keyframes (WHIP) is asked for one (the feed rate-limits that); RTMP sources cannot,
   * so this viewer is served the cached GOP instead.
   */
  private onPictureLoss(): void {
    const now = performance.now();
    if (now - this.lastPliServed < PLI_INTERVAL_MS || this.state !== 'live') return;
    this.lastPliServed = now;
    this.stats.plisServed++;
    if (this.feed?.native) this.video?.planeReplay();
    else if (this.feed?.requestKeyframe) this.feed.requestKeyframe();
    else this.replayGop();
  }

  close(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearInterval(this.watchdog);
    if (this.connectDeadline) clearTimeout(this.connectDeadline);
    this.detach();
    // The player is told (RTCP BYE through the native sender, whose SRTCP index werift does not know, then DTLS
    // close_notify) so it reacts at once instead of when ICE consent fails seconds later.
    const native = [...this.transports][0];
    void closeWithGoodbye(this.pc, this.log, native ? (p) => native.sendRtcp(p) : undefined).finally(() => {
      for (const t of this.transports) t.close();
    });
    this.log.debug({ viewer: this.id, reason }, 'viewer closed');
    this.onClosed(this, reason);
  }
}
