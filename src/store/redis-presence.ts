// Presence in Redis (store.kind 'redis'): one key per app+userid holding the record as JSON, so the
// one-userid-one-place rule holds across every node sharing the Redis. A claim replaces the record and returns the
// one it replaced in one script, so two nodes claiming the same user at once each learn about the other: whichever
// ran second gets the first's record and kicks it.

import type { RedisConnection } from './redis-connection.js';
import type { PresenceRecord, PresenceStore } from './store.js';

/** KEYS[1] the user's key; ARGV[1] the new record. Returns the replaced record, or false. */
const CLAIM = `
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
return previous`;

/** KEYS[1] the user's key; ARGV[1] the session that may release it. 1 when removed, 0 when another owns it. */
const RELEASE = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if cjson.decode(current).sessionId ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`;

export class RedisPresence implements PresenceStore {
  constructor(private readonly c: RedisConnection) {}

  private keyOf(sdkAppId: number, userId: string): string {
    return this.c.key('presence', String(sdkAppId), userId);
  }

  async claim(rec: PresenceRecord): Promise<PresenceRecord | undefined> {
    const previous = await this.c.lua(CLAIM, [this.keyOf(rec.sdkAppId, rec.userId)], [JSON.stringify(rec)]);
    return typeof previous === 'string' ? (JSON.parse(previous) as PresenceRecord) : undefined;
  }

  async release(sdkAppId: number, userId: string, sessionId: string): Promise<boolean> {
    return (await this.c.lua(RELEASE, [this.keyOf(sdkAppId, userId)], [sessionId])) === 1;
  }

  async get(sdkAppId: number, userId: string): Promise<PresenceRecord | undefined> {
    const json = await this.c.run((r) => r.get(this.keyOf(sdkAppId, userId)));
    return json === null ? undefined : (JSON.parse(json) as PresenceRecord);
  }
}
