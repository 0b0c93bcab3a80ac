// Checks a pull URL against the host rules: scheme, then the host's addresses (resolved now; checked again before
// every attempt, because DNS answers change). A host that does not resolve is not refused here — the pull then
// fails and retries like any unreachable source, which is what a caller expects from a temporary DNS outage.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { hostRefusal, type HostRules } from './host-rules.js';

const SCHEMES = new Set(['http:', 'https:', 'rtmp:']);
const LOOKUP_TIMEOUT_MS = 3000;

export type Resolver = (hostname: string) => Promise<string[]>;

const systemResolver: Resolver = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** null when the URL may be pulled (or its host does not resolve right now), else why not. */
export async function streamUrlRefusal(raw: string, rules: HostRules, resolve: Resolver = systemResolver): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not a URL';
  }
  if (!SCHEMES.has(url.protocol)) return `the scheme ${url.protocol} is not supported (http, https, rtmp)`;
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  if (!hostname) return 'the URL has no host';
  let addresses: string[];
  if (isIP(hostname)) {
    addresses = [hostname];
  } else {
    addresses = await withTimeout(resolve(hostname), LOOKUP_TIMEOUT_MS).catch(() => []);
    // Name rules still apply to a host that does not resolve.
    if (addresses.length === 0) return hostRefusal(rules, hostname, []);
  }
  return hostRefusal(rules, hostname, addresses);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    t.unref();
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e)),
    );
  });
}
