// CPU and memory of a process tree from /proc, for benchmark figures (never for test assertions).

import { readFileSync, readdirSync } from 'node:fs';

const CLK_TCK = 100; // Linux USER_HZ; what /proc/<pid>/stat counts in.

function children(pid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {}
  }
  return out;
}

/** The process and all its descendants. */
export function tree(pid) {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]));
  return all;
}

/** CPU seconds (user + system) used so far by the process tree. */
export function cpuSeconds(pid) {
  let ticks = 0;
  for (const p of tree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime
    } catch {}
  }
  return ticks / CLK_TCK;
}

/** Resident memory of the process tree in MiB. */
export function rssMiB(pid) {
  let kb = 0;
  for (const p of tree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {}
  }
  return kb / 1024;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Samples CPU % of one core over consecutive windows; returns the per-window figures. */
export async function sampleCpu(pid, windows, windowMs) {
  const out = [];
  let prev = cpuSeconds(pid);
  let prevT = performance.now();
  for (let i = 0; i < windows; i++) {
    await new Promise((r) => setTimeout(r, windowMs));
    const now = cpuSeconds(pid);
    const t = performance.now();
    out.push(((now - prev) / ((t - prevT) / 1000)) * 100);
    prev = now;
    prevT = t;
  }
  return out;
}

/** Busy and total CPU ticks of the whole machine so far (/proc/stat), for a "machine busy" figure. */
export function machineTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - (f[4] || 0), total }; // idle + iowait are not busy
}

/**
 * UDP counters of this network namespace (/proc/net/snmp): { InDatagrams, InErrors, RcvbufErrors, … }. In a
 * benchmark's private namespace, RcvbufErrors is the datagrams its own sockets dropped because a receive buffer
 * was full.
 */
export function udpCounters() {
  const [names, nums] = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const k = names.split(/\s+/).slice(1);
  const v = nums.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(k.map((name, i) => [name, v[i]]));
}

/**
 * CPU seconds so far per thread of one process, keyed by role: 'main' (the JavaScript thread), 'plane' (the media
 * engine's thread, named roomgate-plane), or the thread's own name (libuv workers, V8 workers and GC).
 */
export function threadCpuSeconds(pid) {
  const out = {};
  let dirs = [];
  try {
    dirs = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of dirs) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const role = Number(tid) === pid ? 'main' : comm === 'roomgate-plane' ? 'plane' : comm;
      out[role] = (out[role] ?? 0) + (Number(f[11]) + Number(f[12])) / CLK_TCK;
    } catch {}
  }
  return out;
}
