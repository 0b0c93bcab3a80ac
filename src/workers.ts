// `roomgate serve --workers N`: one node process per core on one machine. The primary process runs no gateway: it
// forks N workers through Node's cluster module, which share the public RTMP and HTTP ports (the primary accepts and
// hands each connection to a worker in turn), restarts a worker that dies, and passes SIGTERM/SIGINT on. Each worker
// is a full node of a cluster sharing one Redis (store.kind 'redis', required): its own plane thread, its own slice
// of the WebRTC UDP range, a stable node id `<node.id or hostname>-w<i>` (a restarted worker takes up its own tasks),
// and a private HTTP listener on 127.0.0.1 where the other workers hand it WHEP/WHIP requests for its sessions.

import cluster from 'node:cluster';
import os from 'node:os';
import type { Config } from './config/schema.js';
import type { Logger } from './log.js';

// not ROOMGATE_*: those are config overrides (src/config/load.ts)
const WORKER_INDEX = 'RG_WORKER_INDEX';
const WORKER_COUNT = 'RG_WORKER_COUNT';
/** A worker that dies is started again after this long (not at once: a worker that cannot start would spin). */
const RESTART_DELAY_MS = 1000;

/** `--workers` as given: a count ≥ 1, or 'auto' (one per core). */
export function parseWorkers(value: string): number {
  if (value === 'auto') return os.availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`--workers must be a whole number from 1 to 256, or auto (got '${value}')`);
  return n;
}

/** Why N workers cannot run with this config, or null. */
export function workersRefusal(n: number, config: Config): string | null {
  if (n > 1 && config.store.kind !== 'redis') {
    return `--workers ${n} runs ${n} gateway nodes, which must share their state: set store.kind to "redis" and store.redisUrl ` +
      '(e.g. ROOMGATE_STORE_KIND=redis ROOMGATE_STORE_REDISURL=redis://127.0.0.1:6379); with the embedded store, run one process';
  }
  const ports = config.webrtc.udpPortMax - config.webrtc.udpPortMin + 1;
  if (ports < n) return `--workers ${n}: webrtc.udpPortMin–udpPortMax holds ${ports} ports, fewer than one per worker`;
  return null;
}

/** In a worker: its index and the worker count; undefined in a process started without --workers. */
export function workerSlot(): { index: number; count: number } | undefined {
  if (!cluster.isWorker || process.env[WORKER_INDEX] === undefined) return undefined;
  return { index: Number(process.env[WORKER_INDEX]), count: Number(process.env[WORKER_COUNT]) };
}

/** A worker's config: its node id, its slice of the UDP range, its private listener for the other nodes. */
export function workerConfig(config: Config, slot: { index: number; count: number }): Config {
  const { udpPortMin: min, udpPortMax: max } = config.webrtc;
  const size = Math.floor((max - min + 1) / slot.count);
  const lo = min + slot.index * size;
  return {
    ...config,
    node: { ...config.node, id: `${config.node.id || os.hostname()}-w${slot.index}`, internalPort: config.node.internalPort >= 0 ? config.node.internalPort : 0 },
    webrtc: { ...config.webrtc, udpPortMin: lo, udpPortMax: lo + size - 1 },
  };
}

/**
 * The primary: forks `n` workers running the same command line and keeps them running until SIGTERM/SIGINT, which
 * it passes on (a SIGTERM drains each worker). Resolves the exit code once every worker has exited.
 */
export function superviseWorkers(n: number, log: Logger): Promise<number> {
  let stopping = false;
  const byIndex = new Map<number, number>(); // cluster worker id → index
  const fork = (index: number) => {
    const w = cluster.fork({ [WORKER_INDEX]: String(index), [WORKER_COUNT]: String(n) });
    byIndex.set(w.id, index);
    log.info({ worker: index, pid: w.process.pid }, 'worker started');
  };
  return new Promise((resolve) => {
    cluster.on('exit', (w, code, signal) => {
      const index = byIndex.get(w.id)!;
      byIndex.delete(w.id);
      if (stopping) {
        if (byIndex.size === 0) resolve(0);
        return;
      }
      log.warn({ worker: index, pid: w.process.pid, code, signal }, `worker ${index} exited; starting it again in ${RESTART_DELAY_MS} ms`);
      setTimeout(() => !stopping && fork(index), RESTART_DELAY_MS);
    });
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal, workers: byIndex.size }, 'stopping the workers');
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
      if (byIndex.size === 0) resolve(0);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    for (let i = 0; i < n; i++) fork(i);
  });
}
