// A drain's wait: running sessions are given time to end on their own (an encoder stopped by its operator, a pull
// task reaching the end of its file) before the gateway closes what is left. Polled a few times a second: it only
// runs while draining, and what it asks (room and task counts) is a map size.

const POLL_MS = 200;

/** Resolves true once `busy()` is false, or false after `timeoutMs` (or at once when `timeoutMs` is 0). */
export async function sessionsEnded(busy: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (busy()) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, left)));
  }
  return true;
}
