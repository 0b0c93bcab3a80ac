// TRTC's 8 permission bits (PrivateMapKey dwPrivilegeMap, also used by our JWT `priv` claim), and the check
// "does this credential grant what the action needs", phrased so a reason names exactly what is missing.

export const PRIV = {
  CREATE: 1,
  ENTER: 2,
  SEND_AUDIO: 4,
  RECV_AUDIO: 8,
  SEND_VIDEO: 16,
  RECV_VIDEO: 32,
  SEND_SUB: 64,
  RECV_SUB: 128,
  ALL: 255,
} as const;

/** Short names, used in "(has …)" lists. */
const NAMES: ReadonlyArray<readonly [number, string]> = [
  [PRIV.CREATE, 'create'],
  [PRIV.ENTER, 'enter'],
  [PRIV.SEND_AUDIO, 'send audio'],
  [PRIV.RECV_AUDIO, 'receive audio'],
  [PRIV.SEND_VIDEO, 'send video'],
  [PRIV.RECV_VIDEO, 'receive video'],
  [PRIV.SEND_SUB, 'send sub-stream'],
  [PRIV.RECV_SUB, 'receive sub-stream'],
];

/** Verb phrases, used after "lacks the privilege to …". */
const VERBS: ReadonlyMap<number, string> = new Map([
  [PRIV.CREATE, 'create the room'],
  [PRIV.ENTER, 'enter the room'],
  [PRIV.SEND_AUDIO, 'send audio'],
  [PRIV.RECV_AUDIO, 'receive audio'],
  [PRIV.SEND_VIDEO, 'send video'],
  [PRIV.RECV_VIDEO, 'receive video'],
  [PRIV.SEND_SUB, 'send the sub-stream'],
  [PRIV.RECV_SUB, 'receive the sub-stream'],
]);

function bitsOf(mask: number): number[] {
  return NAMES.map(([bit]) => bit).filter((bit) => (mask & bit) !== 0);
}

/** "enter, receive audio" — or "none". */
export function describePrivileges(mask: number): string {
  const names = NAMES.filter(([bit]) => (mask & bit) !== 0).map(([, name]) => name);
  return names.length > 0 ? names.join(', ') : 'none';
}

function joinVerbs(bits: number[], conjunction: 'and' | 'or'): string {
  const verbs = bits.map((bit) => VERBS.get(bit)!);
  return verbs.length <= 1 ? verbs.join('') : `${verbs.slice(0, -1).join(', ')} ${conjunction} ${verbs.at(-1)}`;
}

/**
 * What is missing, as the tail of a sentence ("lacks the privilege to send video (has enter, receive audio)"),
 * or null when `has` covers every bit of `need` and, if `needAnyOf` is given, at least one of its bits.
 */
export function missingPrivileges(has: number, need: number, needAnyOf?: number): string | null {
  const missingAll = bitsOf(need & ~has);
  if (missingAll.length > 0) {
    const noun = missingAll.length > 1 ? 'privileges' : 'privilege';
    return `lacks the ${noun} to ${joinVerbs(missingAll, 'and')} (has ${describePrivileges(has)})`;
  }
  if (needAnyOf !== undefined && needAnyOf !== 0 && (has & needAnyOf) === 0) {
    return `lacks the privilege to ${joinVerbs(bitsOf(needAnyOf), 'or')} (has ${describePrivileges(has)})`;
  }
  return null;
}

/** The kinds of media a session carries. */
export type MediaKind = 'video' | 'audio';

const TRACK_BITS: Readonly<Record<'publish' | 'subscribe', Record<MediaKind, number>>> = {
  publish: { video: PRIV.SEND_VIDEO, audio: PRIV.SEND_AUDIO },
  subscribe: { video: PRIV.RECV_VIDEO, audio: PRIV.RECV_AUDIO },
};

/** Per kind of media, null when the credential lets it through, else why not. */
export type TrackRefusals = Record<MediaKind, string | null>;

/**
 * Per kind of media, null when the credential lets the action carry it, else why not ("lacks the privilege to send
 * video (has enter, send audio)"). A publisher whose key lacks one gets the other track only; a viewer the same.
 */
export function trackRefusals(privileges: number, action: 'publish' | 'subscribe'): TrackRefusals {
  const bits = TRACK_BITS[action];
  return { video: missingPrivileges(privileges, bits.video), audio: missingPrivileges(privileges, bits.audio) };
}
