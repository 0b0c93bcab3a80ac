// Many plain TCP sockets to the RTMP port that send nothing (or a few bytes) and never close by themselves: what a
// port scanner, a broken client or a slow-loris attacker leaves open. They are bound to other loopback addresses
// (127.0.0.0/8 is all on lo) so the gateway sees them as other hosts than the real encoders on 127.0.0.1.

import { connect, type Socket } from 'node:net';

export interface IdleSockets {
  sockets: Socket[];
  /** Date.now() when socket i connected (0 if it never did), and when it was closed (by the gateway; 0: open). */
  connectedAt: number[];
  closedAt: number[];
  /** Date.now() before the first socket was opened. */
  startedAt: number;
  /** The longest any socket stayed open after it connected (once all are closed). */
  longestHeldMs(): number;
  /** Sockets not closed yet. */
  open(): number;
  /** Resolves with Date.now() once every socket is closed. */
  allClosed(): Promise<number>;
  destroy(): void;
}

/** Opens `count` sockets to 127.0.0.1:`port`, spread round-robin over `localAddresses`, in batches. */
export async function openIdleSockets(port: number, count: number, localAddresses: string[], payload?: Buffer): Promise<IdleSockets> {
  const sockets: Socket[] = [];
  const connectedAt: number[] = [];
  const closedAt: number[] = [];
  const startedAt = Date.now();
  const closeWaiters = new Set<() => void>();
  // Batches, so the listen backlog (511) is not overrun: a dropped SYN is retried only after a second.
  for (let start = 0; start < count; start += 200) {
    const batch: Promise<void>[] = [];
    for (let i = start; i < Math.min(count, start + 200); i++) {
      const s = connect({ port, host: '127.0.0.1', localAddress: localAddresses[i % localAddresses.length] });
      sockets.push(s);
      closedAt.push(0);
      connectedAt.push(0);
      s.on('error', () => {}); // a refused socket is reset; that is the expected outcome
      s.on('data', () => {});
      batch.push(
        new Promise<void>((resolve) => {
          s.once('connect', () => {
            connectedAt[i] = Date.now();
            if (payload) s.write(payload);
            resolve();
          });
          s.once('close', () => {
            closedAt[i] = Date.now();
            resolve();
            for (const w of [...closeWaiters]) w();
          });
        }),
      );
    }
    await Promise.all(batch);
  }
  return {
    sockets,
    connectedAt,
    closedAt,
    startedAt,
    longestHeldMs: () => Math.max(...closedAt.map((c, i) => (connectedAt[i] ? c - connectedAt[i] : 0))),
    open: () => closedAt.filter((c) => c === 0).length,
    allClosed: () =>
      new Promise((resolve) => {
        const check = () => {
          if (closedAt.every((c) => c > 0)) {
            closeWaiters.delete(check);
            resolve(Math.max(...closedAt));
          }
        };
        closeWaiters.add(check);
        check();
      }),
    destroy: () => sockets.forEach((s) => s.destroy()),
  };
}
