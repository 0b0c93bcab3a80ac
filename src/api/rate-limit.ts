// Requests per second per key (the SecretId), as a token bucket: a burst of `rate` requests passes at once, then
// `rate` more per second. Tencent documents 20 requests/s per API for the stream-ingest actions.

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one token for `key`; false when the key is over its rate. */
  take(key: string): boolean {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      // Keys are configured SecretIds (verified before this is called), so the map stays small.
      b = { tokens: this.rate, at: t };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.rate, b.tokens + ((t - b.at) / 1000) * this.rate);
    b.at = t;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
