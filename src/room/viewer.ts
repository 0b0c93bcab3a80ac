// One WHEP viewer: a werift PeerConnection that receives one publisher's H.264 and Opus. It is a consumer of that
// publisher's feed (src/room/consumer.ts): its two tracks are sinks on the publisher's pipe in the media engine,
// which gates on keyframes, replays the cached GOP for a fast first frame, keeps numbering continuous across
// publisher reconnects and skips to the next keyframe when the viewer's socket falls behind. What stays here is
// per-session control: when to start, picture-loss requests, the RTCP watchdog and the connect deadline.

import { randomUUID } from 'node:crypto';
import type { RTCPeerConnection, RTCRtpSender } from 'werift';
import type { Logger } from '../log.js';
import type { Consumer, ConsumerStats, Feed } from './consumer.js';
import { OPUS_CLOCK, VIDEO_CLOCK } from '../media/model.js';
import { ViewerTrack } from './viewer-track.js';
import { SrtpTransport } from './srtp-transport.js';
import { closeWithGoodbye } from './goodbye.js';

/** A viewer that sends no RTCP for this long has gone away (consent expired, tab closed without DELETE). */
const RTCP_SILENCE_MS = 15000;
/** Picture-loss requests are served at most this often per viewer. */
const PLI_INTERVAL_MS = 1000;
/** How often a viewer retries making its sinks while DTLS finishes, and for how long. */
const SINK_RETRY_MS = 10;
const SINK_RETRY_LIMIT_MS = 5000;

export type ViewerState = 'connecting' | 'live' | 'closed';

/** How often a joining viewer's video sink is asked whether it sent its first packet, and for how long at most. */
const JOIN_POLL_MS = 10;
const JOIN_WATCH_LIMIT_MS = 30_000;

export class Viewer implements Consumer {
  readonly kind = 'viewer';
  readonly id = randomUUID();
  state: ViewerState = 'connecting';
  feed: Feed | null = null;
  /**
   * Set when the viewer is closed for silence rather than by anyone's choice: it never connected, its ICE consent
   * expired, or it stopped sending RTCP. It then leaves the room with 104 Reason 2.
   */
  timedOut = false;
  private readonly tracks: ViewerTrack[] = [];
  /** The DTLS transports the tracks send on: one when bundled, as browsers offer; each is closed with the viewer. */
  private readonly transports = new Set<SrtpTransport>();
  private lastPliServed = 0;
  private plisServed = 0;
  private lastRtcp = performance.now();
  private readonly watchdog: NodeJS.Timeout;
  /** Ends a viewer that never connects (abandoned offer, blocked UDP), so its UDP port is freed. */
  private connectDeadline: NodeJS.Timeout | null;
  /** Until the first video packet is sent: when the offer came, and who hears the join time (once per viewer). */
  private joinWatch: { postedAt: number; report: (ms: number) => void } | null;

  constructor(
    readonly pc: RTCPeerConnection,
    senders: { video?: RTCRtpSender; audio?: RTCRtpSender },
    readonly userId: string,
    private readonly log: Logger,
    private readonly onClosed: (viewer: Viewer, reason: string) => void,
    opts: {
      /** From the answer to ICE + DTLS connected. */
      connectTimeoutMs: number;
      /** Called when the connect deadline passes, before the viewer closes (counted by the caller). */
      onConnectTimeout?: () => void;
      /** performance.now() of the offer's POST, and who is told the join time: POST to the first keyframe sent. */
      postedAt?: number;
      onJoined?: (ms: number) => void;
    },
  ) {
    this.joinWatch = opts.onJoined && opts.postedAt !== undefined ? { postedAt: opts.postedAt, report: opts.onJoined } : null;
    const track = (sender: RTCRtpSender, clockRate: number, video: boolean): ViewerTrack => {
      const transport = SrtpTransport.of(sender);
      this.transports.add(transport);
      return new ViewerTrack(sender, clockRate, transport, video);
    };
    if (senders.video) this.tracks.push(track(senders.video, VIDEO_CLOCK, true));
    if (senders.audio) this.tracks.push(track(senders.audio, OPUS_CLOCK, false));
    for (const s of [senders.video, senders.audio]) s?.onRtcp.subscribe(() => (this.lastRtcp = performance.now()));
    senders.video?.onPictureLossIndication.subscribe(() => this.onPictureLoss());
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') this.goLive();
      // 'failed' once connected is werift's ICE consent expiring (RFC 7675): the player is gone, not leaving
      else if (s === 'failed') this.close('connection failed (ICE consent lost)', true);
      else if (s === 'closed') this.close('connection closed');
    });
    this.watchdog = setInterval(() => {
      if (this.state === 'live' && performance.now() - this.lastRtcp > RTCP_SILENCE_MS) this.close('no RTCP from the viewer for 15 s', true);
    }, 2000);
    this.watchdog.unref();
    this.connectDeadline = setTimeout(() => {
      if (this.state !== 'connecting') return;
      opts.onConnectTimeout?.();
      this.close(`no ICE + DTLS connection within ${opts.connectTimeoutMs / 1000} s of the answer`, true);
    }, opts.connectTimeoutMs);
    this.connectDeadline.unref();
  }

  /** Starts (or switches) the publisher this viewer watches; numbering continues across the switch. */
  attach(feed: Feed): void {
    if (this.state === 'closed') return;
    this.detach();
    this.feed = feed;
    feed.requestKeyframe();
    if (this.state === 'live') this.startSinks();
  }

  /** The publisher left; the viewer stays connected (a reconnect may follow) but receives nothing. */
  detach(): void {
    this.feed = null;
    for (const t of this.tracks) t.detach();
  }

  stats(): ConsumerStats {
    const video = this.tracks.find((t) => t.video);
    const audio = this.tracks.find((t) => !t.video);
    return { video: video?.stats() ?? null, audio: audio?.stats() ?? null, keyframeRequests: this.plisServed };
  }

  /**
   * Makes a sink on the feed's pipe for each track; video starts with the cached GOP. Until DTLS has finished on
   * the viewer's transport the sinks cannot be made; this tries again every 10 ms.
   */
  private startSinks(since = performance.now()): void {
    const feed = this.feed;
    if (!feed || this.state !== 'live') return;
    let ready = true;
    for (const t of this.tracks) ready = t.attach(feed.pipe, t.video) && ready;
    if (ready) return this.watchFirstPicture();
    if (performance.now() - since > SINK_RETRY_LIMIT_MS) {
      // only a transport the sinks cannot use (not UDP) gets here; the gateway offers none
      this.close("the viewer transport cannot carry the engine's packets");
      return;
    }
    setTimeout(() => {
      if (this.feed === feed) this.startSinks(since);
    }, SINK_RETRY_MS).unref();
  }

  /**
   * The video sink gates on keyframes (the cached GOP's, or the next one), so its first packet sent is the first
   * keyframe: its packet count is looked at every JOIN_POLL_MS until then, only while the viewer joins.
   */
  private watchFirstPicture(): void {
    const w = this.joinWatch;
    const video = this.tracks.find((t) => t.video);
    if (!w || !video) return;
    this.joinWatch = null;
    const look = (): void => {
      if (this.state !== 'live') return;
      if (video.stats().packets > 0) return w.report(performance.now() - w.postedAt);
      if (performance.now() - w.postedAt < JOIN_WATCH_LIMIT_MS) setTimeout(look, JOIN_POLL_MS).unref();
    };
    look();
  }

  private goLive(): void {
    if (this.state !== 'connecting') return;
    this.state = 'live';
    if (this.connectDeadline) clearTimeout(this.connectDeadline);
    this.connectDeadline = null;
    this.lastRtcp = performance.now();
    this.log.debug({ viewer: this.id }, 'viewer connected');
    this.startSinks();
  }

  /**
   * A publisher that can make keyframes (WHIP) is asked for one (its session rate-limits that); RTMP and pull
   * sources cannot, so this viewer is served the cached GOP instead.
   */
  private onPictureLoss(): void {
    const now = performance.now();
    if (now - this.lastPliServed < PLI_INTERVAL_MS || this.state !== 'live' || !this.feed) return;
    this.lastPliServed = now;
    this.plisServed++;
    if (!this.feed.requestKeyframe()) this.tracks.find((t) => t.video)?.replay();
  }

  /** Ends the session; `timedOut` when the viewer went silent (104 Reason 2). Idempotent. */
  close(reason: string, timedOut = false): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.timedOut = timedOut;
    clearInterval(this.watchdog);
    if (this.connectDeadline) clearTimeout(this.connectDeadline);
    this.detach();
    // The player is told (RTCP BYE through the native sender, whose SRTCP index werift does not know, then DTLS
    // close_notify) so it reacts at once instead of when ICE consent fails seconds later.
    const first = [...this.transports][0];
    void closeWithGoodbye(this.pc, this.log, first ? (p) => first.sendRtcp(p) : undefined).finally(() => {
      for (const t of this.transports) t.close();
    });
    this.log.debug({ viewer: this.id, reason }, 'viewer closed');
    this.onClosed(this, reason);
  }
}
