// Which hosts a pull task may fetch from. A task's URL comes from an API caller, so without a rule the gateway
// could be told to fetch from its own network (metadata services, admin ports, the LAN). Internal addresses —
// loopback, private, link-local, CGNAT, multicast, reserved — are refused unless `pull.allow` lists them;
// `pull.deny` refuses hosts or ranges outright. Patterns: a host name, `*.suffix`, an IP address or a CIDR range.

import { BlockList, isIP } from 'node:net';

const INTERNAL_V4 = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.0.2.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4',
];
const INTERNAL_V6 = ['::/128', '::1/128', '64:ff9b::/96', '100::/64', '2001:db8::/32', 'fc00::/7', 'fe80::/10', 'ff00::/8'];

const internal = new BlockList();
for (const r of INTERNAL_V4) addCidr(internal, r);
for (const r of INTERNAL_V6) addCidr(internal, r);

function addCidr(list: BlockList, cidr: string): void {
  const [net, bits] = cidr.split('/') as [string, string];
  const family = isIP(net) === 6 ? 'ipv6' : 'ipv4';
  list.addSubnet(net, Number(bits), family);
}

/** An IPv4 address written as IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it is. */
function normalizeAddress(address: string): { address: string; family: 'ipv4' | 'ipv6' } | null {
  const a = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  const v = isIP(a);
  if (v === 4) return { address: a, family: 'ipv4' };
  if (v === 6) return { address: a, family: 'ipv6' };
  return null;
}

export function isInternalAddress(address: string): boolean {
  const n = normalizeAddress(address);
  return n === null ? true : internal.check(n.address, n.family);
}

class HostMatcher {
  private readonly ranges = new BlockList();
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];

  add(pattern: string): void {
    const p = pattern.trim().toLowerCase();
    const slash = p.indexOf('/');
    if (slash >= 0) {
      const net = normalizeAddress(p.slice(0, slash));
      const bits = Number(p.slice(slash + 1));
      const max = net?.family === 'ipv6' ? 128 : 32;
      if (!net || !/^\d{1,3}$/.test(p.slice(slash + 1)) || bits > max) throw new Error(`'${pattern}' is not a CIDR range`);
      this.ranges.addSubnet(net.address, bits, net.family);
      return;
    }
    const addr = normalizeAddress(p);
    if (addr) {
      this.ranges.addAddress(addr.address, addr.family);
      return;
    }
    if (p.startsWith('*.') && /^[a-z0-9.-]+$/.test(p.slice(2)) && p.length > 2) {
      this.suffixes.push(p.slice(1));
      return;
    }
    if (/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(p)) {
      this.names.add(p);
      return;
    }
    throw new Error(`'${pattern}' is neither a host name, *.suffix, an IP address nor a CIDR range`);
  }

  matchesName(hostname: string): boolean {
    const h = hostname.toLowerCase().replace(/\.$/, '');
    return this.names.has(h) || this.suffixes.some((s) => h.endsWith(s));
  }

  matchesAddress(address: string): boolean {
    const n = normalizeAddress(address);
    return n !== null && this.ranges.check(n.address, n.family);
  }
}

export interface HostRules {
  allow: HostMatcher;
  deny: HostMatcher;
}

/** Compiles `pull.allow` / `pull.deny`; throws an Error naming the key and the bad entry. */
export function compileHostRules(allow: readonly string[], deny: readonly string[]): HostRules {
  const build = (list: readonly string[], key: string): HostMatcher => {
    const m = new HostMatcher();
    list.forEach((p, i) => {
      try {
        m.add(p);
      } catch (e) {
        throw new Error(`${key}[${i}]: ${(e as Error).message}`);
      }
    });
    return m;
  };
  return { allow: build(allow, 'pull.allow'), deny: build(deny, 'pull.deny') };
}

/** null when `hostname` (resolving to `addresses`) may be pulled from, else the reason it may not. */
export function hostRefusal(rules: HostRules, hostname: string, addresses: readonly string[]): string | null {
  if (rules.deny.matchesName(hostname)) return `host ${hostname} is refused by this gateway's pull.deny list`;
  for (const a of addresses) {
    if (rules.deny.matchesAddress(a)) return `host ${hostname} (${a}) is refused by this gateway's pull.deny list`;
  }
  if (rules.allow.matchesName(hostname)) return null;
  for (const a of addresses) {
    if (isInternalAddress(a) && !rules.allow.matchesAddress(a)) {
      return (
        `host ${hostname} resolves to ${a}, an internal (loopback, private or reserved) address; ` +
        'the gateway pulls from such hosts only when its pull.allow list names them'
      );
    }
  }
  return null;
}
