// Processes of the machine as /proc shows them, for tests that check no child is left behind.

import { readdirSync, readFileSync } from 'node:fs';

/** ffmpeg processes (not zombies) whose command line holds `needle`. */
export function ffmpegsWith(needle: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('ffmpeg')) && cmd.some((a) => a.includes(needle))) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
