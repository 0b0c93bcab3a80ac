// A mixed relay's AudioParams.SubscribeAudioList (allowlist, with each user's SoundLevel) and UnSubscribeAudioList
// (blocklist), trtc-egress.md §4.2. Start: an absent or empty allowlist mixes every publisher, an absent or empty
// blocklist blocks nobody. Update: an absent list stays as it was, [] resets it (everyone / nobody). A user in both is
// not mixed (the blocklist wins). SoundLevel (0–100, 100 as published) counts in the allowlist only, as TRTC says.
//
// Decisions: a user may be named once per list; MixUserInfo.RoomId / RoomIdType must name the task's own room
// (cross-room mixing is not run here): the rooms named are collected for the one rule of cdn-relay-room.ts, which
// Update can only apply against the task (RelayTask); a single-stream relay has no mix, so lists with entries are
// refused there rather than ignored.

import { checkUserId } from '../auth/ids.js';
import { Api3Error } from './api3-envelope.js';
import { asObject, at, int, list, need, show, type Obj } from './cloud-recording-fields.js';
import type { MixAudioLists } from './cdn-relay-service.js';
import { collectRoom, type NamedRoom } from './cdn-relay-room.js';
import { UNSUPPORTED } from './cloud-recording-fields.js';

const MAX_ENTRIES = 16;

export interface AudioListEntry {
  userId: string;
  /** SoundLevel 0–100 (allowlist only; 100 when absent). */
  level: number;
}

/** What the request says of the two lists: undefined where a list is absent, [] where it is sent empty. */
export interface AudioListsParam {
  allow?: AudioListEntry[];
  block?: AudioListEntry[];
}

/** `rooms` collects the rooms the entries' UserInfo name, for the caller to judge against the task's. */
export function audioListsParam(audio: Obj, rooms: NamedRoom[]): AudioListsParam {
  const out: AudioListsParam = {};
  const allow = entries(audio, 'SubscribeAudioList', rooms);
  const block = entries(audio, 'UnSubscribeAudioList', rooms);
  if (allow) out.allow = allow;
  if (block) out.block = block;
  return out;
}

/** No lists: every publisher's audio, as published. */
export const EVERYONE: MixAudioLists = { allow: null, block: new Set() };

/** The lists as a request leaves them: absent lists as they were, empty ones reset (everyone; nobody blocked). */
export function applyAudioLists(current: MixAudioLists, sent: AudioListsParam): MixAudioLists {
  return {
    allow: sent.allow === undefined ? current.allow : sent.allow.length === 0 ? null : new Map(sent.allow.map((e) => [e.userId, e.level])),
    block: sent.block === undefined ? current.block : new Set(sent.block.map((e) => e.userId)),
  };
}

/**
 * 0–100: how loud `userId`'s audio is mixed: 0 when the blocklist names the user or an allowlist leaves them out,
 * the allowlist's SoundLevel otherwise, 100 without lists.
 */
export function mixLevel(lists: MixAudioLists, userId: string): number {
  if (lists.block.has(userId)) return 0;
  return lists.allow === null ? 100 : lists.allow.get(userId) ?? 0;
}

/** Refuses lists with entries on a single-stream relay, which relays its one user's audio and mixes nothing. */
export function refuseListsWithoutMix(lists: AudioListsParam): void {
  for (const [key, entries] of [['SubscribeAudioList', lists.allow], ['UnSubscribeAudioList', lists.block]] as const) {
    if (entries?.length) {
      throw new Api3Error('InvalidParameter', `AudioParams.${key} chooses whose audio a mixed relay (WithTranscoding 1) mixes; a single-stream relay relays its one user's audio as it is: leave the list out.`);
    }
  }
}

function entries(audio: Obj, key: string, rooms: NamedRoom[]): AudioListEntry[] | undefined {
  const raw = list(audio, key, 'AudioParams', MAX_ENTRIES);
  if (!raw) return undefined;
  const seen = new Set<string>();
  return raw.map((v, i) => {
    const path = `AudioParams.${key}[${i}]`;
    const o = asObject(v, path);
    const info = asObject(need(o, 'UserInfo', path, 'MissingParameter', 'send UserInfo.UserId, the user whose audio this entry is about'), at(path, 'UserInfo'));
    const upath = at(path, 'UserInfo');
    const userId = need(info, 'UserId', upath, 'MissingParameter', 'send the user\'s UserId');
    if (typeof userId !== 'string') throw new Api3Error('InvalidParameter', `${at(upath, 'UserId')} must be a string; got ${show(userId)}.`);
    const why = checkUserId(userId);
    if (why) throw new Api3Error('InvalidParameter', `${at(upath, 'UserId')}: ${why}.`);
    if (seen.has(userId)) throw new Api3Error('InvalidParameter', `AudioParams.${key} names ${show(userId)} twice; name each user once.`);
    seen.add(userId);
    collectRoom(info, upath, UNSUPPORTED, rooms);
    const level = int(o, 'SoundLevel', path, 0, 100, '100 is the volume as published') ?? 100;
    return { userId, level };
  });
}
