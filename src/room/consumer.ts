// What takes a publisher's media, and what it takes it from. WHEP viewers are consumers today; recorders and relays
// come next through the same interface: each attaches to a feed (a publisher's pipe on the media engine), follows a
// reconnecting publisher by attaching again, asks for keyframes the same way, and reports the same stats.

import type { AudioConfig, VideoConfig } from '../media/model.js';
import type { Pipe } from './engine.js';

/** A publisher's media as consumers see it. */
export interface Feed {
  readonly pipe: Pipe;
  /** The codec configs known so far (null until the first frame of that kind): a recorder's muxer header needs them. */
  readonly video: VideoConfig | null;
  readonly audio: AudioConfig | null;
  /**
   * Asks the publisher for a keyframe. False when it cannot make one on request (RTMP, pull): the pipe's cached
   * GOP is then all there is, and the consumer replays it instead.
   */
  requestKeyframe(): boolean;
}

export interface TrackStats {
  packets: number;
  octets: number;
}

export interface ConsumerStats {
  video: TrackStats | null;
  audio: TrackStats | null;
  /** Picture-loss requests served (a keyframe asked of the publisher, or the cached GOP replayed). */
  keyframeRequests: number;
}

export interface Consumer {
  readonly kind: 'viewer' | 'recorder' | 'relay';
  /** The user whose media it takes. */
  readonly userId: string;
  readonly feed: Feed | null;
  /** Starts on (or switches to) a publisher; RTP numbering continues across a switch. */
  attach(feed: Feed): void;
  /** The publisher left: the consumer stays, receiving nothing, until attach() or close(). */
  detach(): void;
  stats(): ConsumerStats;
  close(reason: string): void;
}
