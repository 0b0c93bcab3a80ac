// The single-node store: plain maps, answers at once.

import type { PresenceRecord, PresenceStore, Store } from './store.js';

class MemoryPresence implements PresenceStore {
  private readonly users = new Map<string, PresenceRecord>();

  async claim(rec: PresenceRecord): Promise<PresenceRecord | undefined> {
    const key = `${rec.sdkAppId}/${rec.userId}`;
    const previous = this.users.get(key);
    this.users.set(key, { ...rec });
    return previous;
  }

  async release(sdkAppId: number, userId: string, sessionId: string): Promise<boolean> {
    const key = `${sdkAppId}/${userId}`;
    if (this.users.get(key)?.sessionId !== sessionId) return false;
    this.users.delete(key);
    return true;
  }

  async get(sdkAppId: number, userId: string): Promise<PresenceRecord | undefined> {
    return this.users.get(`${sdkAppId}/${userId}`);
  }
}

export function createMemoryStore(): Store {
  return { presence: new MemoryPresence(), close: async () => {} };
}
