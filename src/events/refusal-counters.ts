// Counts what the gateway turned away or cut off, by kind and reason (limits reached, deadlines passed, malformed
// input caught at a parser's edge), so an operator can see it in `GET /api/limits` without reading logs. Counting
// is a map increment; nothing here runs per packet.

/** A stable, low-cardinality name such as `rtmp.perAddress` or `webrtc.connectTimeout`; never a user id. */
export type CounterName = string;

/** One refusal as the console lists it: when, what and its detail. */
export interface RecentRefusal {
  at: string;
  name: CounterName;
  detail: string;
}

/** How many refusals the console can list (the newest; older ones are only counted). */
const RECENT = 50;

export class RefusalCounters {
  private readonly counts = new Map<CounterName, Map<string, number>>();
  /** The newest refusals, a ring: what a streamer's support ticket asks about. */
  private readonly ring: RecentRefusal[] = [];
  private next = 0;

  /** Adds one under `name`, optionally split by a short `detail` (an exception kind, a reason code). */
  inc(name: CounterName, detail = ''): void {
    let byDetail = this.counts.get(name);
    if (!byDetail) this.counts.set(name, (byDetail = new Map()));
    byDetail.set(detail, (byDetail.get(detail) ?? 0) + 1);
    this.ring[this.next] = { at: new Date().toISOString(), name, detail };
    this.next = (this.next + 1) % RECENT;
  }

  /** The newest refusals, newest first. */
  recent(): RecentRefusal[] {
    return [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)].reverse();
  }

  /** The total under `name` (all details). */
  get(name: CounterName): number {
    let n = 0;
    for (const v of this.counts.get(name)?.values() ?? []) n += v;
    return n;
  }

  /** Every name with its counts by detail ('' when it has none), for the metrics. */
  entries(): IterableIterator<[CounterName, ReadonlyMap<string, number>]> {
    return this.counts.entries();
  }

  /** `{ name: total }` for names without details, `{ name: { detail: n, … } }` for those with. */
  snapshot(): Record<string, number | Record<string, number>> {
    const out: Record<string, number | Record<string, number>> = {};
    for (const [name, byDetail] of [...this.counts].sort(([a], [b]) => a.localeCompare(b))) {
      out[name] = byDetail.size === 1 && byDetail.has('') ? byDetail.get('')! : Object.fromEntries(byDetail);
    }
    return out;
  }
}
