// When a pull task tries again after a failed start or a broken run. Each delay counts from the first failure of
// the series (TRTC's 0, 1, 3 s → attempts at +0, +1, +3 s, however long each attempt took), and a frame reaching
// the room ends the series.

export class RetrySchedule {
  private failures = 0;
  private firstFailureAt = 0;

  constructor(private readonly delaysMs: readonly number[]) {}

  /** Records a failure: the attempt number and the wait before it, or null once the schedule is used up. */
  failed(now: number): { attempt: number; waitMs: number } | null {
    if (this.failures === 0) this.firstFailureAt = now;
    this.failures++;
    if (this.failures > this.delaysMs.length) return null;
    return { attempt: this.failures, waitMs: Math.max(0, this.firstFailureAt + this.delaysMs[this.failures - 1]! - now) };
  }

  /** A fresh series (media flowed, or the user resumed or switched the source). */
  reset(): void {
    this.failures = 0;
  }
}
