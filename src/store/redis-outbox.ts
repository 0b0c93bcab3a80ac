// The callback outbox in Redis (store.kind 'redis'), shared by every node: durable (with Redis's AOF) and ordered
// per partition (one per room).
//
// Layout: a list of entry ids per partition (its order is the delivery order), one hash of entries by id, and a
// sorted set of the non-empty partitions scored by when they last became non-empty (oldest backlog first). Each
// change is one Lua script, so a node dying between two commands cannot leave an id without its entry or an empty
// partition listed.
//
// Why lists and not a Stream: the dispatcher's retry rules rewrite an entry in place (attempts, next try) while it
// stays the partition's head, and delivery order is per room, not per consumer. A Stream's entries cannot be
// updated, and its consumer groups hand entries to whichever consumer reads next, which would break the per-room
// order the moment two nodes read one stream; a Stream per room would still need the same side hash for the retry
// state and the same set of non-empty rooms. Ownership of a partition is a lease key (SET NX PX, renewed while a
// node delivers it), the one primitive Redis offers for "at most one at a time, until its holder dies".

import { randomUUID } from 'node:crypto';
import type { RedisConnection } from './redis-connection.js';
import type { CallbackOutbox, OutboxEntry } from './store.js';

/**
 * KEYS: entries, the partition's list, partitions, sequence. ARGV: id, partition, entry JSON. Appending an id that is
 * there already does nothing: an append whose reply was lost with the connection may be sent again.
 */
const APPEND = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
if not redis.call('ZSCORE', KEYS[3], ARGV[2]) then
  redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), ARGV[2])
end
return 1`;

/** KEYS: the partition's list, entries. The head entry's JSON, or false. */
const HEAD = `
local id = redis.call('LINDEX', KEYS[1], 0)
if not id then return false end
return redis.call('HGET', KEYS[2], id)`;

/** KEYS: entries. ARGV: id, entry JSON. An entry another node already removed is not brought back. */
const UPDATE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`;

/** KEYS: the partition's list, entries, partitions. ARGV: partition, id. */
const REMOVE = `
redis.call('LREM', KEYS[1], 1, ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('ZREM', KEYS[3], ARGV[1]) end
return 1`;

/** KEYS: the lease. ARGV: holder token, ttl ms. Takes a free lease, renews one's own; 0 when another holds it. */
const CLAIM = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/** KEYS: the lease. ARGV: holder token. Deletes it only while this holder has it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

export class RedisOutbox implements CallbackOutbox {
  readonly shared = true;
  /** This process's name on the leases it holds: a restarted node is a new holder. */
  private readonly holder = randomUUID();
  private readonly entries: string;
  private readonly parts: string;
  private readonly seq: string;

  constructor(private readonly c: RedisConnection) {
    this.entries = c.key('outbox', 'entries');
    this.parts = c.key('outbox', 'partitions');
    this.seq = c.key('outbox', 'seq');
  }

  private queueOf(partition: string): string {
    return this.c.key('outbox', 'queue', partition);
  }

  private leaseOf(partition: string): string {
    return this.c.key('outbox', 'lease', partition);
  }

  async append(entry: OutboxEntry): Promise<void> {
    const keys = [this.entries, this.queueOf(entry.partition), this.parts, this.seq];
    await this.c.lua(APPEND, keys, [entry.id, entry.partition, JSON.stringify(entry)]);
  }

  async head(partition: string): Promise<OutboxEntry | undefined> {
    const json = await this.c.lua(HEAD, [this.queueOf(partition), this.entries], []);
    return typeof json === 'string' ? (JSON.parse(json) as OutboxEntry) : undefined;
  }

  async update(entry: OutboxEntry): Promise<void> {
    await this.c.lua(UPDATE, [this.entries], [entry.id, JSON.stringify(entry)]);
  }

  async remove(partition: string, id: string): Promise<void> {
    await this.c.lua(REMOVE, [this.queueOf(partition), this.entries, this.parts], [partition, id]);
  }

  async partitions(): Promise<string[]> {
    return this.c.run((r) => r.zrange(this.parts, 0, -1));
  }

  async size(): Promise<number> {
    return this.c.run((r) => r.hlen(this.entries));
  }

  async claimPartition(partition: string, ttlMs: number): Promise<boolean> {
    return (await this.c.lua(CLAIM, [this.leaseOf(partition)], [this.holder, Math.max(1, Math.round(ttlMs))])) === 1;
  }

  async releasePartition(partition: string): Promise<void> {
    await this.c.lua(RELEASE, [this.leaseOf(partition)], [this.holder]);
  }
}
