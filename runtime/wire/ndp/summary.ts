/** A Router Advertisement as plain, printable data (for `ra --json`, logs and state files). */
import { formatIPv6, formatMac, formatPrefix, type IPv6 } from '../../core/ipv6';
import type { Preference, RouterAdvertisement } from '../../core/nd-types';

import { toLifetime as lifetime, type Lifetime } from '../../core/lifetime';

export interface RaSummary {
  router: string;
  routerMac: string | null;
  curHopLimit: number;
  managed: boolean;
  other: boolean;
  homeAgent: boolean;
  proxy: boolean;
  preference: Preference;
  routerLifetime: number;
  reachableTimeMs: number;
  retransTimerMs: number;
  mtu: number | null;
  prefixes: { prefix: string; onLink: boolean; autonomous: boolean; validLifetime: Lifetime; preferredLifetime: Lifetime }[];
  routes: { prefix: string; preference: Preference; lifetime: Lifetime }[];
  rdnss: { servers: string[]; lifetime: Lifetime }[];
  dnssl: { domains: string[]; lifetime: Lifetime }[];
}

export function summarizeRa(router: IPv6, ra: RouterAdvertisement): RaSummary {
  const s: RaSummary = {
    router: formatIPv6(router),
    routerMac: null,
    curHopLimit: ra.curHopLimit,
    managed: ra.managed,
    other: ra.other,
    homeAgent: ra.homeAgent,
    proxy: ra.proxy,
    preference: ra.preference,
    routerLifetime: ra.routerLifetime,
    reachableTimeMs: ra.reachableTime,
    retransTimerMs: ra.retransTimer,
    mtu: null,
    prefixes: [],
    routes: [],
    rdnss: [],
    dnssl: [],
  };
  for (const o of ra.options) {
    switch (o.type) {
      case 'source-link-layer-address':
        s.routerMac = formatMac(o.address);
        break;
      case 'mtu':
        s.mtu = o.mtu;
        break;
      case 'prefix-information':
        s.prefixes.push({
          prefix: formatPrefix(o.prefix, o.prefixLength),
          onLink: o.onLink,
          autonomous: o.autonomous,
          validLifetime: lifetime(o.validLifetime),
          preferredLifetime: lifetime(o.preferredLifetime),
        });
        break;
      case 'route-information':
        s.routes.push({ prefix: formatPrefix(o.prefix, o.prefixLength), preference: o.preference, lifetime: lifetime(o.lifetime) });
        break;
      case 'rdnss':
        s.rdnss.push({ servers: o.servers.map(formatIPv6), lifetime: lifetime(o.lifetime) });
        break;
      case 'dnssl':
        s.dnssl.push({ domains: o.domains, lifetime: lifetime(o.lifetime) });
        break;
      default:
        break;
    }
  }
  return s;
}

const secs = (l: Lifetime): string => (l === 'infinite' ? 'infinite' : `${l} s`);
const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

/** Human-readable, one fact per line, in the order rdisc6 uses. */
export function formatRaSummary(s: RaSummary): string {
  const lines = [
    `Router ${s.router}${s.routerMac ? ` (${s.routerMac})` : ''}`,
    `  hop limit         : ${s.curHopLimit === 0 ? 'unspecified' : s.curHopLimit}`,
    `  managed (M)       : ${yesNo(s.managed)}`,
    `  other config (O)  : ${yesNo(s.other)}`,
    `  home agent (H)    : ${yesNo(s.homeAgent)}`,
    `  proxy (P)         : ${yesNo(s.proxy)}`,
    `  preference        : ${s.preference}`,
    `  router lifetime   : ${s.routerLifetime} s`,
    `  reachable time    : ${s.reachableTimeMs === 0 ? 'unspecified' : `${s.reachableTimeMs} ms`}`,
    `  retrans timer     : ${s.retransTimerMs === 0 ? 'unspecified' : `${s.retransTimerMs} ms`}`,
  ];
  if (s.mtu !== null) lines.push(`  MTU               : ${s.mtu}`);
  for (const p of s.prefixes) {
    const flags = [p.onLink ? 'on-link' : '', p.autonomous ? 'autonomous' : ''].filter(Boolean).join(' ') || 'no flags';
    lines.push(`  prefix            : ${p.prefix} (${flags}; valid ${secs(p.validLifetime)}, preferred ${secs(p.preferredLifetime)})`);
  }
  for (const r of s.routes) lines.push(`  route             : ${r.prefix} (preference ${r.preference}; lifetime ${secs(r.lifetime)})`);
  for (const r of s.rdnss) lines.push(`  RDNSS             : ${r.servers.join(' ')} (lifetime ${secs(r.lifetime)})`);
  for (const d of s.dnssl) lines.push(`  DNSSL             : ${d.domains.join(' ')} (lifetime ${secs(d.lifetime)})`);
  return lines.join('\n');
}
