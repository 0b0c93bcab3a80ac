// Monotonic totals for Prometheus counters over things that come and go (publishers' pipes, viewers' sinks). Each
// live thing keeps its own running counts in the engine; at scrape time the growth since the last scrape is added
// to a total per label set, so the total never drops when a publisher leaves. Cost: one map entry per live thing,
// touched at scrape time only; nothing per packet. What a thing counted after the last scrape before it ended is
// not seen (at most one scrape interval of its counts).

export class DeltaTotals<K extends object> {
  private readonly lastSeen = new WeakMap<K, number>();
  private readonly totals = new Map<string, number>();

  /** Adds the growth of `thing`'s count since it was last seen (all of it, the first time) to `labels`' total. */
  see(thing: K, labels: string, count: number): void {
    const before = this.lastSeen.get(thing) ?? 0;
    this.lastSeen.set(thing, count);
    // a count that went down belongs to a restarted counter: its whole value is new
    const grew = count >= before ? count - before : count;
    if (grew > 0 || !this.totals.has(labels)) this.totals.set(labels, (this.totals.get(labels) ?? 0) + grew);
  }

  /** Every label set seen so far with its total (label sets stay once seen: a counter does not vanish). */
  entries(): IterableIterator<[string, number]> {
    return this.totals.entries();
  }
}
