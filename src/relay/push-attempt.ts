// What a push URL's attempts have in common, whichever way they push (engine-push.ts for rtmp://, ffmpeg-push.ts for
// rtmps://): the feed they tap, how they report, and the error codes of callback 401 (trtc-egress.md §4.8; the
// reference lists no values, §9.11, so these are this gateway's).

import type { Pipe } from '../room/engine.js';

/** ErrorCode: 0 none, 1 the attempt ended before the server took the stream (refused, unreachable, bad app/key), 2 a
 * running push dropped, 3 the push could not start at all (ffmpeg missing, no socket). */
export const PUSH_ERROR = { none: 0, connect: 1, dropped: 2, spawn: 3 } as const;

/** What a push taps now: the relayed publisher's (or the mix's) pipe and the kinds relayed. */
export interface PushFeed {
  pipe: Pipe;
  video: boolean;
  /** AAC as it is, or a WHIP publisher's Opus made AAC by the tap. */
  audio: 'aac' | 'opus-to-aac' | '';
  /** A WHIP publisher can send a keyframe now, so the CDN's picture does not wait a whole GOP. */
  requestKeyframe(): void;
}

export interface TapSource {
  /** The feed to tap; null while there is none (the user away, no config yet). */
  current(): PushFeed | null;
}

export interface AttemptHooks {
  /** Bytes of the stream reached the server. */
  running(): void;
  /** The attempt is over (not called after stop()): `code` a PUSH_ERROR, `why` a sentence for ErrorMsg. */
  ended(code: number, why: string): void;
}

/** One RTMP session of a push URL, from connecting to its end. */
export interface PushAttempt {
  start(): void;
  /** The feed changed (joined, returned, left): the session stays, the tap follows. */
  sourceChanged(): void;
  /** Ends the session cleanly (what is queued flushed where possible); no `ended` after it. */
  stop(): Promise<void>;
}

/** A push URL for logs: its stream key (the path's last part, often a secret) is not written out. */
export function redact(url: string): string {
  const i = url.lastIndexOf('/');
  return i > url.indexOf('//') + 1 ? `${url.slice(0, i + 1)}…` : url;
}
