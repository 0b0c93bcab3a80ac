// The fuzz loop: N mutated copies of a recorded publish, `concurrency` at a time, against one gateway, while a
// watchdog polls /healthz (and a child gateway's exit). Stops at the first crash and says which cases were in
// flight; each case's mutations come from (seed, index) alone, so they can be replayed one by one.

import { caseRandom } from './random.mjs';
import { mutate } from './mutate.mjs';
import { replay } from './replay.mjs';
import { healthy, rssMiB } from './gateway.mjs';

/** Consecutive failed /healthz polls (one a second, 2 s timeout each) that count as "stopped answering". */
const UNRESPONSIVE_POLLS = 5;

/** The RTMP error counters of GET /api/limits (null when the endpoint cannot be read). */
export async function rtmpErrorCounters(httpBase) {
  try {
    const limits = await (await fetch(`${httpBase}/api/limits`, { signal: AbortSignal.timeout(5000) })).json();
    const pick = (v) => (typeof v === 'number' ? { '': v } : (v ?? {}));
    return { parseError: pick(limits['rtmp.parseError']), planeError: pick(limits['rtmp.planeError']) };
  } catch {
    return null;
  }
}

/** after − before, per counter and kind. */
export function counterDelta(before, after) {
  const out = {};
  for (const name of ['parseError', 'planeError']) {
    out[name] = {};
    for (const [k, v] of Object.entries(after?.[name] ?? {})) {
      const d = v - (before?.[name]?.[k] ?? 0);
      if (d) out[name][k] = d;
    }
  }
  return out;
}

/**
 * @param {{ target: { rtmp: {host:string, port:number}, httpBase: string, pid?: number, exited?: Promise<string> },
 *   recording: object, seed: number, from: number, to: number, concurrency: number, deadline?: number,
 *   onProgress?: (p: object) => void }} o
 * @returns {Promise<{ done: number, next: number, outcomes: Record<string, number>, ops: Record<string, number>, timeouts: number[],
 *   crash: null | { reason: string, inFlight: number[] }, rssMaxMiB: number | null }>}
 */
export async function fuzzCases(o) {
  const { target, recording, seed, concurrency } = o;
  let next = o.from;
  let done = 0;
  let crash = null;
  const inFlight = new Set();
  const outcomes = {};
  const ops = {};
  /** Cases the gateway still held 5 s after our FIN (first 20), to replay one by one with --only. */
  const timeouts = [];
  let rssMax = rssMiB(target.pid);

  const worker = async () => {
    while (!crash && next < o.to && Date.now() < (o.deadline ?? Infinity)) {
      const i = next++;
      inFlight.add(i);
      const m = mutate(recording, caseRandom(seed, i));
      for (const op of m.ops) ops[op] = (ops[op] ?? 0) + 1;
      const outcome = await replay({ host: target.rtmp.host, port: target.rtmp.port, c0c1: m.c0c1, c2: m.c2, rest: m.rest, mediaAt: Math.min(recording.map.firstMedia, m.rest.length) });
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (outcome === 'timeout' && timeouts.length < 20) timeouts.push(i);
      inFlight.delete(i);
      done++;
    }
  };

  let failedPolls = 0;
  let watching = true;
  const watchdog = (async () => {
    while (watching && !crash) {
      const t0 = Date.now();
      failedPolls = (await healthy(target.httpBase)) ? 0 : failedPolls + 1;
      if (failedPolls >= UNRESPONSIVE_POLLS) crash ??= { reason: `/healthz did not answer ${UNRESPONSIVE_POLLS} times in a row`, inFlight: [...inFlight] };
      const rss = rssMiB(target.pid);
      if (rss !== null) rssMax = Math.max(rssMax ?? 0, rss);
      o.onProgress?.({ done, next, outcomes, rssMiB: rss });
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - t0))));
    }
  })();
  target.exited?.then((how) => (crash ??= { reason: `the gateway process ended (${how})`, inFlight: [...inFlight] }));

  await Promise.all(Array.from({ length: concurrency }, worker));
  watching = false;
  await watchdog;
  return { done, next, outcomes, ops, timeouts, crash, rssMaxMiB: rssMax };
}
