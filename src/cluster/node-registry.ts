// Which gateway nodes are alive, from their leases in Redis: each node keeps `node:<id>` alive (SET … PX leaseMs,
// renewed every third of it) and lists itself in the `nodes` set. A node in the set whose lease has expired is dead:
// it was killed, or lost Redis for longer than a lease. Survivors then end what it held (src/cluster/cluster.ts),
// one survivor per dead node, by a short claim on `sweep:<id>`.

import type { RedisConnection } from '../store/redis-connection.js';
import type { Logger } from '../log.js';

export interface NodeInfo {
  id: string;
  /** Where other nodes reach this one's HTTP server. */
  httpUrl: string;
  startedAt: number;
}

export class NodeRegistry {
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;

  constructor(
    private readonly c: RedisConnection,
    readonly self: NodeInfo,
    readonly leaseMs: number,
    private readonly log: Logger,
  ) {}

  /** Takes the lease now (throws when Redis cannot be reached), then renews it in the background. */
  async start(): Promise<void> {
    await this.renew();
    this.timer = setInterval(() => {
      if (this.renewing) return;
      this.renewing = true;
      this.renew()
        .catch((err: unknown) => this.log.warn({ err: String(err) }, 'node lease not renewed: Redis unreachable'))
        .finally(() => (this.renewing = false));
    }, Math.max(100, Math.floor(this.leaseMs / 3)));
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    await this.c.run((r) => r.multi().set(this.key(this.self.id), JSON.stringify(this.self), 'PX', this.leaseMs).sadd(this.c.key('nodes'), this.self.id).exec());
  }

  /** Nodes holding a lease now, this one included. */
  async alive(): Promise<NodeInfo[]> {
    const leases = await this.leases();
    return leases.filter((l): l is string => l !== null).map((l) => JSON.parse(l) as NodeInfo);
  }

  /** A node's record while it holds its lease. */
  async get(id: string): Promise<NodeInfo | null> {
    const lease = await this.c.run((r) => r.get(this.key(id)));
    return lease ? (JSON.parse(lease) as NodeInfo) : null;
  }

  /** Nodes listed but without a lease: dead, and not yet swept. */
  async dead(): Promise<string[]> {
    const ids = await this.c.run((r) => r.smembers(this.c.key('nodes')));
    const leases = await this.leases(ids);
    return ids.filter((id, i) => id !== this.self.id && leases[i] === null);
  }

  /**
   * One survivor sweeps a dead node: true for the one that got the claim (it lasts a minute, in case it dies too).
   * A node restarting under the same id claims itself the same way before taking up what its previous run held, so
   * a survivor and the restarted node never both take the same tasks.
   */
  async claimSweep(id: string): Promise<boolean> {
    return (await this.c.run((r) => r.set(this.c.key('sweep', id), this.self.id, 'PX', 60_000, 'NX'))) === 'OK';
  }

  /** Gives a sweep claim back once done, so a later death of the same node id can be swept at once. */
  async releaseSweep(id: string): Promise<void> {
    await this.c.run((r) => r.del(this.c.key('sweep', id)));
  }

  /** The dead node is swept: it leaves the list. */
  async forget(id: string): Promise<void> {
    await this.c.run((r) => r.srem(this.c.key('nodes'), id));
  }

  /** A clean stop: the lease is given back (what the node held has ended with its callbacks already). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.c.run((r) => r.multi().del(this.key(this.self.id)).srem(this.c.key('nodes'), this.self.id).exec());
  }

  /** The lease of each listed node (of `ids`, or of every node in the list), null where it has expired. */
  private async leases(ids?: string[]): Promise<Array<string | null>> {
    const all = ids ?? (await this.c.run((r) => r.smembers(this.c.key('nodes'))));
    return all.length === 0 ? [] : this.c.run((r) => r.mget(all.map((id) => this.key(id))));
  }

  private key(id: string): string {
    return this.c.key('node', id);
  }
}
