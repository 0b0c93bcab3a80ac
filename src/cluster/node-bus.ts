// Commands from one node to another over Redis pub/sub: each node listens on `cmd:<id>`. A kick is fire and forget:
// a command to a node that died is lost with it, which is what its callers want. A task call (Stop/Update of a pull
// task or a relay, Describe/Modify/Delete of a recording another node runs, or a draining node's hand-over of a pull
// task, recording or relay) waits for the other's reply on the caller's own channel, for a few seconds at most.

import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisConnection } from '../store/redis-connection.js';
import type { Logger } from '../log.js';
import type { TaskCall } from '../api/stream-ingest-service.js';
import type { MemberRecord } from '../store/store.js';

/**
 * A draining node asks another to run one of its tasks, which it stopped already: a pull task ('take', answered with
 * a boolean), a recording ('record-take') or a relay ('relay-take'), answered with true or why not. `sessions`: the
 * room sessions of a recording's or a relay's users, which the giver handed over for the taker's users to enter
 * under (a pull task's record keeps its session).
 */
export type TaskTake = { op: 'take' | 'record-take' | 'relay-take'; taskId: string; from: string; sessions?: MemberRecord[] };

export type NodeCommand =
  /** The same userid published on another node: end this session with the reason, as a local kick would. */
  | { type: 'kick'; sessionId: string; reason: string }
  | { type: 'task'; id: string; from: string; call: TaskCall | TaskTake }
  | { type: 'reply'; id: string; result?: unknown; error?: string };

const REPLY_TIMEOUT_MS = 5000;

export class NodeBus {
  private readonly sub: Redis;
  private readonly waiting = new Map<string, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();

  constructor(
    private readonly c: RedisConnection,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {
    // A subscribed connection can do nothing else, so it is a second one. Unlike the store's, it queues its
    // SUBSCRIBE until connected (ioredis subscribes again by itself after a reconnect).
    this.sub = c.redis.duplicate({ enableOfflineQueue: true });
    this.sub.on('error', () => {}); // the store's connection reports Redis being away
  }

  /** `handle` gets kicks; `task` runs task calls from other nodes and its result goes back to the caller. */
  async listen(handle: (cmd: NodeCommand) => void, task: (call: TaskCall | TaskTake) => Promise<unknown>): Promise<void> {
    this.sub.on('message', (_channel: string, text: string) => {
      let cmd: NodeCommand;
      try {
        cmd = JSON.parse(text) as NodeCommand;
      } catch {
        this.log.warn({ text: text.slice(0, 200) }, 'node command ignored: not JSON');
        return;
      }
      if (cmd.type === 'reply') return this.settle(cmd);
      if (cmd.type === 'task') {
        task(cmd.call).then(
          (result) => this.send(cmd.from, { type: 'reply', id: cmd.id, result }),
          (err: unknown) => this.send(cmd.from, { type: 'reply', id: cmd.id, error: err instanceof Error ? err.message : String(err) }),
        ).catch((err: unknown) => this.log.warn({ err: String(err), to: cmd.from }, 'task reply not sent'));
        return;
      }
      handle(cmd);
    });
    await this.sub.subscribe(this.channel(this.nodeId));
  }

  async send(nodeId: string, cmd: NodeCommand): Promise<void> {
    await this.c.run((r) => r.publish(this.channel(nodeId), JSON.stringify(cmd)));
  }

  /** Runs `call` on `nodeId` and resolves its result; rejects when that node does not answer within 5 s. */
  async request(nodeId: string, call: TaskCall | TaskTake): Promise<unknown> {
    const id = randomUUID();
    const answer = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`node ${nodeId}, which runs the task, did not answer within ${REPLY_TIMEOUT_MS / 1000} s`));
      }, REPLY_TIMEOUT_MS);
      this.waiting.set(id, { resolve, reject, timer });
    });
    await this.send(nodeId, { type: 'task', id, from: this.nodeId, call });
    return answer;
  }

  close(): void {
    for (const w of this.waiting.values()) clearTimeout(w.timer);
    this.sub.disconnect();
  }

  private settle(r: Extract<NodeCommand, { type: 'reply' }>): void {
    const w = this.waiting.get(r.id);
    if (!w) return;
    this.waiting.delete(r.id);
    clearTimeout(w.timer);
    if (r.error !== undefined) w.reject(new Error(r.error));
    else w.resolve(r.result);
  }

  private channel(id: string): string {
    return this.c.key('cmd', id);
  }
}
