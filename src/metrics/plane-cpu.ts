// The media plane thread's CPU time, read from /proc at scrape time: the engine runs on one named thread
// ("roomgate-plane", native/src/plane/plane.cc), so its share of a core is what says how close the node is to its
// media limit. Linux only; elsewhere (or before the thread exists) it reads null and the gauge is left out.

import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime/stime: 100 on every Linux architecture Node runs on (USER_HZ). */
const USER_HZ = 100;

export class PlaneCpu {
  private tid: string | null = null;

  /** User + system CPU seconds the plane thread has used, or null when it cannot be read. */
  seconds(): number | null {
    try {
      this.tid ??= this.find();
      if (!this.tid) return null;
      const stat = readFileSync(`/proc/self/task/${this.tid}/stat`, 'utf8');
      // fields after the ")" that ends the thread's name: state is field 3, utime 14, stime 15
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(f[11]) + Number(f[12])) / USER_HZ;
    } catch {
      this.tid = null; // the thread ended (engine closed, or restarted): look again next time
      return null;
    }
  }

  private find(): string | null {
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'roomgate-plane') return tid;
      } catch {
        // a thread that ended while we looked
      }
    }
    return null;
  }
}
