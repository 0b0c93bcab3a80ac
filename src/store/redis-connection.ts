// One ioredis connection for the store (store.kind 'redis'), shared by presence, members, tasks and the outbox.
//
// Redis down must never stall the gateway: nothing on the media path awaits the store, and a store call made while
// Redis is unreachable fails at once with StoreUnreachableError (one line naming the URL), instead of waiting in a
// queue for a server that may not come back. So: no offline queue, no retry of a command whose connection dropped,
// a command timeout for a server that hangs, and reconnection attempts forever (every ≤ 2 s), so the node recovers
// by itself when Redis returns. `problem()` says why the store is unusable while it is (GET /healthz shows it).

import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';

/** A store call that could not reach Redis; the message is the sentence /healthz and the refusals show. */
export class StoreUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnreachableError';
  }
}

export interface RedisConnectionOptions {
  url: string;
  /** Every key starts with it, so several gateways (or tests) can share one Redis. */
  prefix: string;
  log?: Logger;
}

/** How long the first connection may take before store calls fail; later outages fail at once. */
const FIRST_CONNECT_MS = 5000;
/** A reply slower than this counts as Redis unreachable (a hung server must not hold a publish). */
const COMMAND_TIMEOUT_MS = 3000;

export class RedisConnection {
  readonly redis: Redis;
  readonly prefix: string;
  /** The URL without its password, for logs and error messages. */
  readonly where: string;
  private lastError = 'not connected yet';
  private everReady = false;
  private readonly firstReady: Promise<void>;
  private readonly scripts = new Map<string, string>();

  constructor(o: RedisConnectionOptions) {
    this.prefix = o.prefix;
    this.where = redactUrl(o.url);
    this.redis = new Redis(o.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: 2000,
      // forever: the node keeps trying while Redis is away, and is whole again when it returns
      retryStrategy: (times) => Math.min(100 * times, 2000),
      lazyConnect: false,
    });
    const log = o.log;
    let down = false;
    this.redis.on('error', (err: Error) => {
      this.lastError = err.message || err.name;
      if (!down && this.everReady) log?.warn({ redis: this.where, err: this.lastError }, 'store: redis unreachable');
      if (this.everReady) down = true;
    });
    this.redis.on('close', () => {
      // the connection error (ECONNREFUSED, …) follows with the reconnection attempts
      if (this.lastError === '') this.lastError = 'connection closed';
      if (this.everReady && !down) {
        down = true;
        log?.warn({ redis: this.where }, 'store: redis connection closed');
      }
    });
    this.redis.on('ready', () => {
      if (down) log?.info({ redis: this.where }, 'store: redis reachable again');
      down = false;
      this.lastError = '';
      this.everReady = true;
    });
    this.firstReady = new Promise<void>((resolve) => {
      this.redis.once('ready', () => resolve());
      setTimeout(resolve, FIRST_CONNECT_MS).unref();
    });
  }

  key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  /** Why the store cannot be used now, or undefined while Redis answers. */
  problem(): string | undefined {
    if (this.redis.status === 'ready') return undefined;
    return `store: redis unreachable at ${this.where} (${this.lastError})`;
  }

  /**
   * Runs store commands; while Redis is unreachable, fails at once with StoreUnreachableError. Only the very first
   * call of the process waits (up to 5 s) for the first connection, so start-up does not race the connect.
   */
  async run<T>(fn: (r: Redis) => Promise<T>): Promise<T> {
    if (!this.everReady) await this.firstReady;
    const problem = this.problem();
    if (problem) throw new StoreUnreachableError(problem);
    try {
      return await fn(this.redis);
    } catch (err) {
      if (isReplyError(err)) throw err;
      // the connection's own error says more than the command's ("max retries per request" when it dropped)
      throw new StoreUnreachableError(this.problem() ?? `store: redis unreachable at ${this.where} (${(err as Error)?.message ?? String(err)})`);
    }
  }

  /**
   * Runs a Lua script by its SHA1 (EVALSHA), loading it when Redis does not know it (first use, or after Redis
   * restarted and forgot its script cache). Scripts are how a read-then-write stays atomic across nodes.
   */
  async lua(source: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    let sha = this.scripts.get(source);
    if (!sha) this.scripts.set(source, (sha = createHash('sha1').update(source).digest('hex')));
    return this.run(async (r) => {
      try {
        return await r.evalsha(sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw err;
        return r.eval(source, keys.length, ...keys, ...args);
      }
    });
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}

/** An error Redis itself answered (a bad command or script): a bug to report as is, not an outage. */
function isReplyError(err: unknown): boolean {
  return (err as Error)?.name === 'ReplyError';
}

/** redis://user:secret@host:6379/0 → redis://host:6379/0: error messages and logs never carry the password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable store.redisUrl)';
  }
}
