// Notices a publisher that stopped sending media while its socket stays open (a frozen encoder, a laptop lid, a
// half-dead NAT mapping): TCP alone would keep such a user in the room forever. It polls a frame counter on a
// timer instead of timing each frame, because frames never reach JavaScript once the media engine reads the socket:
// its thread counts them (Pipe.stats()), and a poll once a tick is the only cost here.

/** Polls at most this often, and at least ten times per timeout so the close comes soon after the deadline. */
const MAX_TICK_MS = 1000;
const MIN_TICK_MS = 50;

export function idleTickMs(timeoutMs: number): number {
  return Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, Math.floor(timeoutMs / 10)));
}

export class IdleWatch {
  private readonly timer: NodeJS.Timeout;
  private last: number;
  private lastProgressAt = Date.now();

  /**
   * Calls `onIdle` once when `frames()` has not changed for `timeoutMs` (seen at tick granularity, so the call comes
   * between timeoutMs and timeoutMs + two ticks after the last frame, never before).
   */
  constructor(
    private readonly frames: () => number,
    private readonly timeoutMs: number,
    private readonly onIdle: (silentMs: number) => void,
  ) {
    this.last = frames();
    this.timer = setInterval(() => this.tick(), idleTickMs(timeoutMs));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = Date.now();
    const n = this.frames();
    if (n !== this.last) {
      this.last = n;
      this.lastProgressAt = now;
      return;
    }
    if (now - this.lastProgressAt >= this.timeoutMs) {
      this.stop();
      this.onIdle(now - this.lastProgressAt);
    }
  }
}
