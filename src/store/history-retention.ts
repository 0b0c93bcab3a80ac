// The history's retention window (history.retentionDays; TRTC keeps 14 days): what ended before it is deleted at
// start-up and then once an hour, so the file stays the size of the window.

import type { Logger } from '../log.js';
import type { HistoryStore } from './history.js';

const DAY_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

export function keepHistory(history: HistoryStore, retentionDays: number, log: Logger): { stop(): void } {
  const prune = () =>
    history.prune(Date.now() - retentionDays * DAY_MS).catch((err: unknown) => log.warn({ err }, 'history pruning failed; retried in an hour'));
  void prune();
  const timer = setInterval(() => void prune(), PRUNE_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
