// Admission of accepted sockets, for the RTMP and the HTTP listener alike: at most `maxConnections` in all and
// `maxConnectionsPerAddress` from one IP address, so one host opening idle sockets cannot take every slot and lock
// real encoders, players and API callers out. A refused socket is
// destroyed at once (an idle socket costs nothing to refuse), counted, and logged — at most one line per address
// every few seconds, with how many were refused, so a flood of a thousand refusals is a few lines, not a thousand.

import type { Logger } from '../log.js';
import type { RefusalCounters } from '../events/refusal-counters.js';

/** How often, at most, refusals of one address (or of the global limit) are logged. */
export const REFUSAL_LOG_INTERVAL_MS = 5000;

/** The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`), so one host counts as one address. */
export function normalizeAddress(address: string | undefined): string {
  if (!address) return '?';
  return address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export interface ConnectionGateOptions {
  /** Names the listener in counters (`<name>.perAddressLimit`, `<name>.connectionLimit`) and log lines. */
  name: 'rtmp' | 'http';
  /** Infinity: no limit in all. */
  maxConnections: number;
  maxConnectionsPerAddress: number;
  log: Logger;
  counters: RefusalCounters;
}

export class ConnectionGate {
  private total = 0;
  private readonly perAddress = new Map<string, number>();
  private readonly refusalLog: RefusalLog;

  constructor(private readonly opts: ConnectionGateOptions) {
    this.refusalLog = new RefusalLog(opts.log);
  }

  /** Takes a slot for a socket from `address` (normalized) and returns true, or counts and logs the refusal. */
  admit(address: string): boolean {
    const { name, maxConnections, maxConnectionsPerAddress, counters } = this.opts;
    const label = name.toUpperCase();
    const mine = this.perAddress.get(address) ?? 0;
    // The per-address limit is checked first: a flood from one host is that host's refusal, not the global one.
    if (mine >= maxConnectionsPerAddress) {
      counters.inc(`${name}.perAddressLimit`);
      this.refusalLog.note(address, { remote: address, max: maxConnectionsPerAddress }, `refusing ${label} connections: this address already has the most allowed (${name}.maxConnectionsPerAddress)`);
      return false;
    }
    if (this.total >= maxConnections) {
      counters.inc(`${name}.connectionLimit`);
      this.refusalLog.note('*', { remote: address, max: maxConnections }, `refusing ${label} connections: the connection limit is reached (${name}.maxConnections)`);
      return false;
    }
    this.perAddress.set(address, mine + 1);
    this.total++;
    return true;
  }

  /** Gives back the slot an admitted socket from `address` held. */
  release(address: string): void {
    const mine = this.perAddress.get(address) ?? 0;
    if (mine <= 1) this.perAddress.delete(address);
    else this.perAddress.set(address, mine - 1);
    if (this.total > 0) this.total--;
  }

  get size(): number {
    return this.total;
  }
}

/**
 * One log line per key per REFUSAL_LOG_INTERVAL_MS: the first refusal is logged at once, the ones after it are
 * summed and logged (with the count) when the interval ends, so none goes unreported and a burst stays short.
 */
class RefusalLog {
  private readonly held = new Map<string, { since: number; refused: number; fields: Record<string, unknown>; msg: string }>();

  constructor(private readonly log: Logger) {}

  note(key: string, fields: Record<string, unknown>, msg: string): void {
    const h = this.held.get(key);
    if (h) {
      h.refused++;
      h.fields = fields;
      return;
    }
    this.log.warn({ ...fields, refused: 1 }, msg);
    this.held.set(key, { since: Date.now(), refused: 0, fields, msg });
    setTimeout(() => this.flush(key), REFUSAL_LOG_INTERVAL_MS).unref();
  }

  private flush(key: string): void {
    const h = this.held.get(key);
    this.held.delete(key);
    if (h && h.refused > 0) {
      this.log.warn({ ...h.fields, refused: h.refused, seconds: Math.round((Date.now() - h.since) / 1000) }, h.msg);
      // Another flood within the next interval is summed again rather than logged line by line.
      this.held.set(key, { since: Date.now(), refused: 0, fields: h.fields, msg: h.msg });
      setTimeout(() => this.flush(key), REFUSAL_LOG_INTERVAL_MS).unref();
    }
  }
}
