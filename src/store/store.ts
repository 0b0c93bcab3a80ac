// State that a second gateway node would need to share goes through these interfaces. The in-memory store is the
// default; a Redis store can implement the same promises later without the pipeline noticing.

export interface PresenceRecord {
  sdkAppId: number;
  userId: string;
  roomId: string;
  /** Identifies one publishing session; a newer session for the same user replaces (kicks) it. */
  sessionId: string;
  source: string;
  /** Milliseconds since the epoch. */
  since: number;
}

/** Who is publishing as which user of an app: TRTC lets one userid be in one place at a time. */
export interface PresenceStore {
  /** Records `rec` as the user's current session and returns the record it replaced, if any. */
  claim(rec: PresenceRecord): Promise<PresenceRecord | undefined>;
  /** Removes the user's record if it still belongs to `sessionId`; false when another session owns it now. */
  release(sdkAppId: number, userId: string, sessionId: string): Promise<boolean>;
  get(sdkAppId: number, userId: string): Promise<PresenceRecord | undefined>;
}

export interface Store {
  presence: PresenceStore;
  close(): Promise<void>;
}
