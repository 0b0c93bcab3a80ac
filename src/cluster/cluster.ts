// One gateway among many sharing one Redis (store.kind 'redis'): this node's lease in the registry, its command
// channel, the cluster's room census, and the sweep that ends what a dead node held. Media stays on the node that
// handles it; only state and commands cross (issue 20).

import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import type { RedisConnection } from '../store/redis-connection.js';
import { RedisCensus } from '../store/redis-census.js';
import type { MemberRecord } from '../store/store.js';
import type { TaskCall } from '../api/stream-ingest-service.js';
import { NodeBus, type NodeCommand, type TaskTake } from './node-bus.js';
import { NodeRegistry } from './node-registry.js';

export interface ClusterOptions {
  /** The store's connection (store.kind 'redis'): the cluster's keys sit beside the store's, under its prefix. */
  redis: RedisConnection;
  /** '' = `<hostname>-<pid>`: a restarted process is a new node, and its predecessor's sessions expire. */
  nodeId: string;
  leaseMs: number;
  log: Logger;
}

export interface ClusterHandlers {
  /** A command from another node (a kick). */
  command(cmd: NodeCommand): void;
  /** An API call on a task this node runs, made on another node; or a draining node handing this node a task. */
  task(call: TaskCall | TaskTake): Promise<unknown>;
  /**
   * A dead node's tasks and sessions, for this node to take over or end (each session's leave is reported once
   * across the cluster: the census sees to it). Resolves once done; only then is the node forgotten.
   */
  deadNode(node: string, sessions: Array<MemberRecord & { node: string }>): Promise<void>;
}

export class Cluster {
  readonly nodeId: string;
  readonly census: RedisCensus;
  private readonly bus: NodeBus;
  private readonly registry: NodeRegistry;
  /** This node claimed itself to take up what its previous run held (released once its lease is taken). */
  private recovering = false;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping = false;
  private key = '';
  private keyReadAt = 0;

  constructor(private readonly o: ClusterOptions) {
    this.nodeId = o.nodeId || `${os.hostname()}-${process.pid}`;
    // Its calls fail at once while Redis is away, as the store's do (the media path never waits on them).
    this.census = new RedisCensus(o.redis);
    this.bus = new NodeBus(o.redis, this.nodeId, o.log);
    this.registry = new NodeRegistry(o.redis, { id: this.nodeId, httpUrl: '', startedAt: Date.now() }, o.leaseMs, o.log);
  }

  /**
   * Before start-up takes up what a previous run of this node id left (its sessions, its tasks): false when a
   * surviving node is doing that already (it found the node dead), and then this run must leave them alone.
   */
  async claimOwnRecovery(): Promise<boolean> {
    this.recovering = await this.registry.claimSweep(this.nodeId);
    if (!this.recovering) this.o.log.info({ node: this.nodeId }, "a surviving node is taking over what this node's previous run held");
    return this.recovering;
  }

  /** Joins the cluster: listens for commands, takes the node lease, and sweeps dead nodes every half lease. */
  async start(httpUrl: string, handlers: ClusterHandlers): Promise<void> {
    await this.bus.listen(handlers.command, handlers.task);
    this.registry.self.httpUrl = httpUrl;
    await this.registry.start();
    // alive again under a lease: from now on a sweep of this node id would wait for the lease to expire
    if (this.recovering) await this.registry.releaseSweep(this.nodeId);
    this.o.log.info({ node: this.nodeId, leaseMs: this.o.leaseMs }, 'joined the cluster');
    this.sweeper = setInterval(() => {
      if (this.sweeping) return;
      this.sweeping = true;
      this.sweep(handlers)
        .catch((err: unknown) => this.o.log.warn({ err: String(err) }, 'cluster: dead-node sweep failed; retrying'))
        .finally(() => (this.sweeping = false));
    }, Math.max(100, Math.floor(this.o.leaseMs / 2)));
    this.sweeper.unref();
  }

  /** Asks `node` to end one of its sessions; a lost command (the node died) loses nothing the lease will not end. */
  kickElsewhere(node: string, sessionId: string, reason: string): void {
    this.bus.send(node, { type: 'kick', sessionId, reason }).catch((err: unknown) => {
      this.o.log.warn({ err: String(err), node, sessionId }, 'cluster: kick not sent');
    });
  }

  nodes() {
    return this.registry.alive();
  }

  /**
   * Runs an API call on the node that runs the task. A node without a lease died (it is not swept yet, else the
   * record would name another node): that fails at once instead of after the bus's wait for a reply that never comes.
   */
  async taskElsewhere(node: string, call: TaskCall): Promise<unknown> {
    if (!(await this.registry.get(node))) throw new Error(`node ${node}, which runs the task, holds no lease: it died, and a surviving node takes the task over once it sweeps it`);
    return this.bus.request(node, call);
  }

  /**
   * Where a draining node sends its pull tasks: the live node (not this one) holding the fewest sessions, or null
   * when no other node is alive.
   */
  async taker(): Promise<string | null> {
    const others = (await this.registry.alive()).filter((n) => n.id !== this.nodeId);
    let best: { id: string; load: number } | null = null;
    for (const n of others) {
      const load = (await this.census.sessionsOf(n.id)).length;
      if (!best || load < best.load) best = { id: n.id, load };
    }
    return best?.id ?? null;
  }

  /**
   * Asks `node` to run a task this node stopped (a drain): a pull task ('take'), a recording or a relay, with the room
   * sessions of its users that this node handed over. True once it runs there, or why not (a pull task's taker
   * answers false without a reason).
   */
  async handOver(node: string, op: TaskTake['op'], taskId: string, sessions?: MemberRecord[]): Promise<true | string> {
    const r = await this.bus.request(node, { op, taskId, from: this.nodeId, ...(sessions ? { sessions } : {}) });
    return r === true ? true : String(r);
  }

  /**
   * The key nodes present to each other's internal feed (src/mix/feed-link.ts): made once by the first node that asks,
   * kept in Redis. `fresh` reads it again (at most every 5 s): a Redis that lost its data gets a new key from the next
   * node, and the others follow when a request shows them a different one.
   */
  async linkKey(fresh = false): Promise<string> {
    if (this.key && !(fresh && Date.now() - this.keyReadAt > 5000)) return this.key;
    const k = this.o.redis.key('link-key');
    await this.o.redis.run((r) => r.set(k, randomBytes(24).toString('base64url'), 'NX'));
    this.key = (await this.o.redis.run((r) => r.get(k))) ?? '';
    this.keyReadAt = Date.now();
    return this.key;
  }

  /** The internal HTTP base URL of a node holding its lease. */
  async nodeUrl(id: string): Promise<string | null> {
    return (await this.registry.get(id))?.httpUrl ?? null;
  }

  /** The node of a live publishing session of the room (of `userId`, if given) held elsewhere, or null. */
  async publisherNode(ref: { sdkAppId: number; roomId: string; numericRoom: boolean }, userId?: string): Promise<string | null> {
    const s = (await this.census.sessionsIn(ref)).find((r) => r.role === 'anchor' && r.node !== this.nodeId && (!userId || r.userId === userId));
    return s?.node ?? null;
  }

  /** WHEP/WHIP resources by id → the node that created them (kept a day: sessions rarely last longer). */
  async resourceOwner(id: string): Promise<string | null> {
    return this.o.redis.run((r) => r.get(this.o.redis.key('resource', id)));
  }

  async rememberResource(id: string): Promise<void> {
    await this.o.redis.run((r) => r.set(this.o.redis.key('resource', id), this.nodeId, 'PX', 86_400_000));
  }

  private async sweep(handlers: ClusterHandlers): Promise<void> {
    for (const id of await this.registry.dead()) {
      if (!(await this.registry.claimSweep(id))) continue;
      const sessions = (await this.census.sessionsOf(id)).map((s) => ({ ...s, node: id }));
      this.o.log.info({ node: id, sessions: sessions.length }, 'a node died (its lease expired): ending what it held');
      await handlers.deadNode(id, sessions);
      await this.census.forgetNode(id);
      await this.registry.forget(id);
      await this.registry.releaseSweep(id);
    }
  }

  /** Leaves the cluster: the lease is given back after the node's own sessions have ended (the store closes the connection). */
  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await this.registry.stop().catch(() => {});
    this.bus.close();
  }
}
