// The publishers of a room that are on other nodes, for a mix on this one (issue 20: "no media crosses nodes, except
// where a mixed recording or relay needs publishers from several nodes"). The census says who publishes where; for
// each such session the mix wants, this opens the publisher's feed on its node (src/mix/feed-link.ts) and hands it
// to the mix as it would a local publisher, and takes it away when the session leaves or the feed ends. The census
// is read every second per watched room (one HVALS): a remote publisher joins the mix within about a second of
// joining the room, where a local one joins at once.

import type { Logger } from '../log.js';
import type { RoomRef } from '../room/room-ref.js';
import { feedPath, openFeed, RemotePublisher } from '../mix/feed-link.js';
import type { RemoteRooms, RemoteWatcher } from '../record/mixed-recording.js';
import type { Cluster } from './cluster.js';

const POLL_MS = 1000;
/** A feed that would not open (not publishing yet, a node in trouble) is tried again after this long. */
const RETRY_MS = 2000;
/**
 * A feed the mix could not use (its node answered bytes that are not the publisher's media) is tried again after
 * RETRY_MS, then twice as long after each further failure, up to this: a broken node costs a compositor input and a
 * warning now and then, not every few seconds.
 */
const MAX_FAILED_RETRY_MS = 60_000;

export class RemotePublishers implements RemoteRooms {
  constructor(
    private readonly cluster: Pick<Cluster, 'nodeId' | 'census' | 'nodeUrl' | 'linkKey'>,
    private readonly log: Logger,
  ) {}

  watch(room: RoomRef, wants: (userId: string) => boolean, w: RemoteWatcher): () => void {
    /** By session id: the feed open (or being opened: null), and when a failed one may be tried again. */
    const feeds = new Map<string, RemotePublisher | null>();
    const retryAt = new Map<string, number>();
    /** By session id: its feeds the mix could not use so far. */
    const failures = new Map<string, number>();
    let stopped = false;
    const poll = async (): Promise<void> => {
      const sessions = (await this.cluster.census.sessionsIn(room)).filter((s) => s.role === 'anchor' && s.node !== this.cluster.nodeId);
      if (stopped) return;
      const live = new Set(sessions.map((s) => s.sessionId));
      for (const id of retryAt.keys()) {
        if (live.has(id)) continue;
        retryAt.delete(id); // gone from the room: nothing to retry
        failures.delete(id);
      }
      for (const [sessionId, p] of feeds) {
        if (live.has(sessionId) && !p?.ended) continue;
        if (p === null) continue; // being opened: its answer decides
        feeds.delete(sessionId);
        if (p && !p.ended) p.close(); // left the room: onEnded tells the mix
      }
      for (const s of sessions) {
        if (feeds.has(s.sessionId) || (retryAt.get(s.sessionId) ?? 0) > Date.now() || !wants(s.userId)) continue;
        feeds.set(s.sessionId, null);
        void this.open(room, s).then((p) => {
          if (typeof p === 'string') {
            feeds.delete(s.sessionId);
            retryAt.set(s.sessionId, Date.now() + RETRY_MS);
            this.log.debug({ room: room.roomId, userId: s.userId, node: s.node, why: p }, 'remote publisher not linked yet');
            return;
          }
          if (stopped || feeds.get(s.sessionId) !== null) return p.close();
          feeds.set(s.sessionId, p);
          retryAt.set(s.sessionId, Date.now() + RETRY_MS); // a feed that ends at once is not reopened at once
          p.onEnded = () => {
            if (p.failure) {
              const n = (failures.get(s.sessionId) ?? 0) + 1;
              failures.set(s.sessionId, n);
              retryAt.set(s.sessionId, Date.now() + Math.min(RETRY_MS * 2 ** (n - 1), MAX_FAILED_RETRY_MS));
            }
            w.left(p);
          };
          w.joined(p);
        });
      }
    };
    const timer = setInterval(() => {
      poll().catch((err: unknown) => this.log.debug({ err: String(err), room: room.roomId }, 'remote publishers: census not read'));
    }, POLL_MS);
    timer.unref();
    void poll().catch(() => {});
    return () => {
      stopped = true;
      clearInterval(timer);
      for (const p of feeds.values()) p?.close();
      feeds.clear();
    };
  }

  private async open(room: RoomRef, s: { userId: string; node: string }): Promise<RemotePublisher | string> {
    const base = await this.cluster.nodeUrl(s.node);
    if (!base) return `node ${s.node} holds no lease`;
    const got = await openFeed(base, feedPath(room, s.userId), s, await this.cluster.linkKey());
    // 403: the key changed under this node (Redis lost it): read it again for the next try
    if (typeof got === 'string' && got.startsWith('403')) await this.cluster.linkKey(true);
    return got;
  }
}
