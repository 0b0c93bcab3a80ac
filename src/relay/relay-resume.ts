// What a relay's record keeps so that another node can run it again (RelayRecord.resume, JSON): the spec as it
// stands after the task's Updates, the agent's UserSig and FeedBackRoomParams' users (to be let in by the survivor's
// door), and the last SequenceNumber (so an Update older than one already applied is still refused). Records written
// before failover existed keep only `urls`: such a task can only be ended.

import type { RelayCredentials, RelaySpec } from '../api/cdn-relay-service.js';

/** RelaySpec with its audio lists as arrays (a Map and a Set do not survive JSON). */
type StoredSpec = Omit<RelaySpec, 'audioLists'> & { audioLists: { allow: Array<[string, number]> | null; block: string[] } };

interface StoredResume {
  /** The push URLs, for the last 401s of a task that is ended instead of resumed (every version has them). */
  urls: string[];
  spec?: StoredSpec;
  credentials?: RelayCredentials;
  sequence?: number;
}

export interface RelayResume {
  urls: string[];
  /** All three, or none (an older record). */
  full: { spec: RelaySpec; credentials: RelayCredentials; sequence: number } | null;
}

export function encodeResume(spec: RelaySpec, credentials: RelayCredentials | undefined, sequence: number): string {
  const stored: StoredResume = { urls: spec.urls };
  if (credentials) {
    const { allow, block } = spec.audioLists;
    stored.spec = { ...spec, audioLists: { allow: allow ? [...allow] : null, block: [...block] } };
    stored.credentials = credentials;
    stored.sequence = sequence;
  }
  return JSON.stringify(stored);
}

export function decodeResume(text: string | undefined): RelayResume {
  if (!text) return { urls: [], full: null };
  const s = JSON.parse(text) as StoredResume;
  if (!s.spec || !s.credentials) return { urls: s.urls ?? [], full: null };
  const { allow, block } = s.spec.audioLists;
  const spec: RelaySpec = { ...s.spec, audioLists: { allow: allow ? new Map(allow) : null, block: new Set(block) } };
  return { urls: s.urls, full: { spec, credentials: s.credentials, sequence: s.sequence ?? -1 } };
}
