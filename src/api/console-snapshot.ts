// What the console shows, in one JSON object pushed to each open console once a second (src/api/console.ts): the
// rooms with their users (source, codec, picture, frame rate, bitrate, client address), tasks, relays, the callback
// queue and the newest refusals. Built from what the gateway keeps anyway; the only state of its own is each
// publisher's byte count at the previous snapshot, for its bitrate.

import { hostname } from 'node:os';
import type { Rooms } from '../room/rooms.js';
import type { Publisher } from '../room/publisher.js';
import type { RefusalCounters } from '../events/refusal-counters.js';
import type { CallbackFailure, CallbackStats } from '../events/callback-dispatcher.js';
import type { PullTaskView } from '../ingest/pull/pull-task-types.js';

export interface ConsoleSources {
  rooms: Rooms;
  counters: RefusalCounters;
  callbacks: { stats(): CallbackStats; recentFailures(): CallbackFailure[] };
  pulls: { list(): Promise<{ running: PullTaskView[] }> };
  recordings: { states(): { sdkAppId: number; taskId: string; roomId: string; state: string; localFiles: string[] }[] };
  relays: { states(): { sdkAppId: number; taskId: string; state: string }[] };
  /** Many nodes: the live nodes and the rooms across them (src/cluster). */
  cluster?: ClusterView;
}

export interface ClusterView {
  nodeId: string;
  nodes(): Promise<Array<{ id: string; httpUrl: string; startedAt: number }>>;
  rooms(): Promise<Array<{ sdkAppId: number; roomId: string; numericRoom: boolean; users: Record<string, number> }>>;
}

/** The cluster as the console and GET /api/cluster show it: each live node, and each room's users on any node. */
export async function clusterSnapshot(c: ClusterView): Promise<Record<string, unknown>> {
  const [nodes, rooms] = await Promise.all([c.nodes(), c.rooms()]);
  return {
    node: c.nodeId,
    nodes: nodes.map((n) => ({ ...n, startedAt: new Date(n.startedAt).toISOString(), self: n.id === c.nodeId })).sort((a, b) => a.id.localeCompare(b.id)),
    rooms: rooms.map((r) => ({ sdkAppId: r.sdkAppId, roomId: r.roomId, type: r.numericRoom ? 'integer' : 'string', users: r.users })),
  };
}

export class ConsoleSnapshot {
  private readonly lastBytes = new WeakMap<Publisher, { bytes: number; at: number }>();

  constructor(private readonly s: ConsoleSources) {}

  async build(): Promise<Record<string, unknown>> {
    const s = this.s;
    const now = performance.now();
    const rooms = s.rooms.list().map((room) => {
      const status = s.rooms.status(room);
      const publishers = new Map([...room.publishers.values()].map((p) => [p.id.userId, p]));
      return {
        ...status,
        users: status.users.map((u) => {
          const p = publishers.get(u.userId);
          return { ...u, remote: p?.id.remote ?? '', kbps: p ? this.kbps(p, now) : 0 };
        }),
      };
    });
    return {
      node: hostname(),
      at: new Date().toISOString(),
      rooms,
      pulls: (await s.pulls.list()).running,
      recordings: s.recordings.states(),
      relays: s.relays.states(),
      callbacks: s.callbacks.stats(),
      callbackFailures: s.callbacks.recentFailures(),
      refusals: s.counters.recent(),
      // a Redis that does not answer leaves the section out for this second, not the whole snapshot
      cluster: s.cluster ? await clusterSnapshot(s.cluster).catch((err: unknown) => ({ error: String(err) })) : null,
    };
  }

  /** The publisher's input bitrate since the previous snapshot (0 at the first). */
  private kbps(p: Publisher, now: number): number {
    const st = p.pipe.stats();
    if (!st) return 0;
    const bytes = st.videoBytes + st.audioBytes;
    const before = this.lastBytes.get(p);
    this.lastBytes.set(p, { bytes, at: now });
    if (!before || now <= before.at) return 0;
    return Math.round(((bytes - before.bytes) * 8) / (now - before.at));
  }
}
