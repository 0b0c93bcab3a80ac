// Which publishers a recording takes, per SubscribeStreamUserIds (trtc-egress.md §1.3): entries are exact user ids,
// or "<prefix>.*$" for every user id starting with <prefix> ("1.*$" = ids starting with "1"). The prefix is literal
// text, not a regular expression.
//
// TRTC adds: if a room user is literally named like a pattern, the entry is that user's exact id and prefix matching
// stops. A roomgate user id cannot contain '.', '*' or '$' (src/auth/ids.ts, enforced by the door for every way in),
// so no user can be named like a pattern; the exact comparison still comes first, as the rule says.

import type { Allow, Subscription } from '../api/cloud-recording-service.js';

const PREFIX_MARK = '.*$';

/** The prefix of a "<prefix>.*$" entry, or null when the entry is an exact id. */
export function prefixOf(entry: string): string | null {
  return entry.endsWith(PREFIX_MARK) ? entry.slice(0, -PREFIX_MARK.length) : null;
}

function matches(entry: string, userId: string): boolean {
  if (entry === userId) return true;
  const prefix = prefixOf(entry);
  return prefix !== null && userId.startsWith(prefix);
}

/** Whether a publisher's stream of the kind that `allow` governs is recorded. */
export function subscribes(allow: Allow, userId: string): boolean {
  if (allow === null) return true;
  if ('allow' in allow) return allow.allow.some((e) => matches(e, userId));
  return !allow.block.some((e) => matches(e, userId));
}

/** Which of a user's kinds a task records: its StreamType (0 both, 1 audio only, 2 video only) and its lists. */
export function recordedKinds(streamType: 0 | 1 | 2, subscribe: Subscription, userId: string): { video: boolean; audio: boolean } {
  return {
    video: streamType !== 1 && subscribes(subscribe.video, userId),
    audio: streamType !== 2 && subscribes(subscribe.audio, userId),
  };
}
