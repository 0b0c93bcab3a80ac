// The room member ledger in Redis (store.kind 'redis'): one hash, session id → the record as JSON (with the node
// holding the session), so every node sees who is in which room and a survivor can end a dead node's sessions.

import type { RedisConnection } from './redis-connection.js';
import type { MemberLedger, MemberRecord } from './store.js';

export class RedisMembers implements MemberLedger {
  private readonly key: string;

  constructor(private readonly c: RedisConnection) {
    this.key = c.key('members');
  }

  async put(rec: MemberRecord): Promise<void> {
    await this.c.run((r) => r.hset(this.key, rec.sessionId, JSON.stringify(rec)));
  }

  async remove(sessionId: string): Promise<void> {
    await this.c.run((r) => r.hdel(this.key, sessionId));
  }

  async all(): Promise<MemberRecord[]> {
    const values = await this.c.run((r) => r.hvals(this.key));
    return values.map((v) => JSON.parse(v) as MemberRecord);
  }
}
