/**
 * The attach plan: what a container gets from the Router Advertisements heard, its config and its
 * name — computed with no I/O, so every rule here is tested with plain data
 * (tests/unit/plan.test.ts).
 *
 *  - several RAs (several routers, or one router twice) are merged, as a host merges them into one
 *    Prefix List and Default Router List (RFC 4861 §6.3.4): a prefix, route or DNS server given
 *    twice — in one RA or in two — is used once, the first time it was heard;
 *  - addresses: one per autonomous prefix RFC 4862 §5.5.3 accepts (and never in a multicast,
 *    loopback, unspecified, IPv4-mapped or otherwise reserved range: special-ranges.ts), RFC 7217
 *    (or a static IID), a candidate per DAD counter (RFC 7217 §6);
 *  - at most `limits.maxPrefixes` of them, `maxRoutes` Route Information routes and
 *    `maxDnsServers` RDNSS servers: an RA is untrusted input (RFC 6980 §1 lists ND's flooding
 *    attacks), and each of these costs the kernel memory and DAD traffic; the excess is one note;
 *  - MTU: the RA's, when within [1280, the parent's MTU] (RFC 4861 §6.3.4; RFC 8200 §5 minimum);
 *    from several RAs, the smallest;
 *  - routes in the container: one default route via the most preferred router with a non-zero
 *    router lifetime (RFC 4191 §3 preference, then the first heard: the kernel holds one default
 *    route per metric), and each RFC 4191 Route Information with a non-zero lifetime and a unicast
 *    destination, via the router that advertised it;
 *  - for ipvlan l3/l3s, the host's reach table: the on-link prefixes out of the parent, the RFC
 *    4191 routes and the default route via the router;
 *  - the pace of DAD (RetransTimer, RFC 4861 §6.3.4; 1000 ms when no RA specifies it).
 */
import { DEFAULT_RETRANS_MS } from './dad';
import { stableAddress, staticAddress } from './iid';
import { formatIPv6, formatMac, formatPrefix, isLinkLocal, parseIPv6, type IPv6 } from './ipv6';
import type { NdOption, Preference, PrefixInformation, RouterAdvertisement } from './nd-types';
import { selectPrefixes } from './slaac';
import { notADestination, notAServer } from './special-ranges';

/** RFC 8200 §5: every IPv6 link carries at least 1280 octets. */
export const MIN_IPV6_MTU = 1280;
export const LINK_LOCAL_PREFIX = parseIPv6('fe80::');

export interface PlannedRoute {
  destination: IPv6;
  prefixLength: number;
  /** The router, or none for an on-link prefix. */
  gateway?: IPv6;
  /** Seconds (0xffffffff: infinite). */
  lifetime: number;
  preference?: Preference;
}

/** How much of an RA a container takes at most (config keys max_prefixes, max_routes, max_dns_servers). */
export interface PlanLimits {
  maxPrefixes: number;
  maxRoutes: number;
  maxDnsServers: number;
}

export const DEFAULT_LIMITS: PlanLimits = { maxPrefixes: 16, maxRoutes: 16, maxDnsServers: 16 };

export const limitsOf = (cfg: { max_prefixes: number; max_routes: number; max_dns_servers: number }): PlanLimits => ({
  maxPrefixes: cfg.max_prefixes,
  maxRoutes: cfg.max_routes,
  maxDnsServers: cfg.max_dns_servers,
});

/** One RA as heard: who sent it, and when (ms on CLOCK_BOOTTIME) when known. */
export interface HeardRa {
  router: IPv6;
  advertisement: RouterAdvertisement;
  receivedAt?: number;
}

export interface AttachPlan {
  /** The default router (the most preferred one with a non-zero lifetime), else the first RA's sender. */
  router: IPv6;
  routerMac: string | null;
  /** Its router lifetime (0: not a default router) and preference. */
  routerLifetime: number;
  routerPreference: Preference;
  /** The earliest receipt among the RAs (lifetimes count from it: never longer than a router said). */
  receivedAt: number | undefined;
  prefixes: PrefixInformation[];
  ignored: { prefix: string; reason: string }[];
  mtu: number | null;
  /** Why the RA's MTU was not used, when it was not. */
  mtuIgnored?: string;
  /** In the container, all via a router. */
  routes: PlannedRoute[];
  /** ipvlan l3/l3s: the host's reach table. */
  tableRoutes: PlannedRoute[];
  retransMs: number;
  rdnss: string[];
  dnssl: string[];
  /**
   * What was left out, one log line each, bounded in number (an RA is untrusted: 8 lines of a kind,
   * then a count): the `ignored` prefixes, routes and servers that are no unicast destination,
   * duplicates within one RA, other default routers, the excess over the limits.
   */
  notes: string[];
}

/** RFC 4191 §2.2: a reserved (10) preference is treated as medium. */
const RANK: Record<Preference, number> = { high: 2, medium: 1, reserved: 1, low: 0 };

/** At most this many lines of one kind in `notes`; the rest is counted in one more line. */
const MAX_NOTES_PER_KIND = 8;

function bounded(lines: string[], what: string): string[] {
  if (lines.length <= MAX_NOTES_PER_KIND) return lines;
  return [...lines.slice(0, MAX_NOTES_PER_KIND), `… and ${lines.length - MAX_NOTES_PER_KIND} more ${what}`];
}

/** "N more X beyond max_Y K not used: a, b, c…" for the `excess` of a capped list, or nothing. */
function excessNote(excess: string[], what: string, key: string, limit: number): string[] {
  if (excess.length === 0) return [];
  const shown = excess.slice(0, 3).join(', ') + (excess.length > 3 ? ', …' : '');
  return [`${excess.length} ${what} beyond ${key} = ${limit} not used: ${shown}`];
}

/** The plan for a single RA from `router` (the common case, and the unit tests\' shorthand). */
export function planAttach(ra: RouterAdvertisement, router: IPv6, parentMtu: number, limits: PlanLimits = DEFAULT_LIMITS): AttachPlan {
  return planFromAdvertisements([{ router, advertisement: ra }], parentMtu, limits);
}

/**
 * Why an RA gives a container no address (undefined when it gives one): what the ND client waits
 * past, and what the error says of each RA heard when none did.
 */
export function unusableReason(ra: RouterAdvertisement): string | undefined {
  const { usable, ignored } = selectPrefixes(ra.options);
  if (usable.length > 0) return undefined;
  if (ignored.length === 0) return 'no Prefix Information option';
  const listed = ignored.slice(0, 3).map((i) => `${i.prefix} ${i.reason}`);
  return `no prefix usable for SLAAC (${listed.join('; ')}${ignored.length > 3 ? `; ${ignored.length - 3} more` : ''})`;
}

/** Merge the RAs heard (in the order heard) into one plan; see the file's comment for the rules. */
export function planFromAdvertisements(heard: HeardRa[], parentMtu: number, limits: PlanLimits = DEFAULT_LIMITS): AttachPlan {
  const first = heard[0];
  if (!first) throw new RangeError('planFromAdvertisements: no RA');
  const notes: { dup: string[]; routes: string[]; servers: string[] } = { dup: [], routes: [], servers: [] };

  // Prefixes: each RA's own verdicts (RFC 4862 §5.5.3), then one per prefix, then the cap.
  const seenPrefix = new Set<string>();
  let usable: PrefixInformation[] = [];
  const ignored: { prefix: string; reason: string }[] = [];
  for (const h of heard) {
    const s = selectPrefixes(h.advertisement.options);
    ignored.push(...s.ignored);
    const again = new Map<string, number>();
    const inThis = new Set<string>();
    for (const pi of s.usable) {
      const key = formatPrefix(pi.prefix, pi.prefixLength);
      if (inThis.has(key)) again.set(key, (again.get(key) ?? 1) + 1);
      inThis.add(key);
      if (seenPrefix.has(key)) continue; // listed twice, or by two RAs: one address (RFC 4862 §5.5.3 e updates, never adds)
      seenPrefix.add(key);
      usable.push(pi);
    }
    for (const [key, n] of again) notes.dup.push(`RA from ${formatIPv6(h.router)} lists prefix ${key} ${n} times: used once`);
  }
  const prefixExcess = usable.slice(limits.maxPrefixes).map((p) => formatPrefix(p.prefix, p.prefixLength));
  usable = usable.slice(0, limits.maxPrefixes);

  // MTU: the smallest acceptable one any RA gives.
  let mtu: number | null = null;
  let mtuIgnored: string | undefined;
  for (const h of heard) {
    for (const o of h.advertisement.options) {
      if (o.type !== 'mtu') continue;
      if (o.mtu >= MIN_IPV6_MTU && o.mtu <= parentMtu) mtu = mtu === null ? o.mtu : Math.min(mtu, o.mtu);
      else mtuIgnored ??= `RA MTU ${o.mtu} ignored: outside [${MIN_IPV6_MTU}, ${parentMtu}]`;
    }
  }

  // The default router: the most preferred with a non-zero lifetime (RFC 4191 §3), first heard on a tie.
  let chosen: HeardRa | undefined;
  for (const h of heard) {
    if (h.advertisement.routerLifetime === 0) continue;
    if (!chosen || RANK[h.advertisement.preference] > RANK[chosen.advertisement.preference]) chosen = h;
  }
  const others = heard.filter((h) => h.advertisement.routerLifetime > 0 && chosen && !h.router.equals(chosen.router));
  const otherRouters = [...new Set(others.map((h) => formatIPv6(h.router)))];
  if (chosen && otherRouters.length > 0) {
    notes.routes.push(`default route via ${formatIPv6(chosen.router)} only (${chosen.advertisement.preference} preference); not also via ${otherRouters.join(', ')}`);
  }
  const main = chosen ?? first;
  const defaultRoute: PlannedRoute[] = chosen
    ? [{ destination: Buffer.alloc(16), prefixLength: 0, gateway: chosen.router, lifetime: chosen.advertisement.routerLifetime, preference: chosen.advertisement.preference }]
    : [];

  // RFC 4191 routes, via the router that advertised each; one per destination; the cap.
  const seenRoute = new Set<string>();
  let routeInfo: PlannedRoute[] = [];
  for (const h of heard) {
    for (const o of h.advertisement.options) {
      if (o.type !== 'route-information' || o.lifetime === 0) continue;
      const key = formatPrefix(o.prefix, o.prefixLength);
      const bad = notADestination(o.prefix, o.prefixLength);
      if (bad) {
        notes.routes.push(`RA route ${key} from ${formatIPv6(h.router)} not used: ${bad}`);
        continue;
      }
      if (seenRoute.has(key)) continue;
      seenRoute.add(key);
      routeInfo.push({ destination: o.prefix, prefixLength: o.prefixLength, gateway: h.router, lifetime: o.lifetime, preference: o.preference });
    }
  }
  const routeExcess = routeInfo.slice(limits.maxRoutes).map((r) => formatPrefix(r.destination, r.prefixLength));
  routeInfo = routeInfo.slice(0, limits.maxRoutes);

  // On-link prefixes (the l3 reach table): RFC 4861 §6.3.4 ignores a link-local one; no special range either; capped as prefixes are.
  const seenOnLink = new Set<string>();
  let onLink: PlannedRoute[] = [];
  for (const h of heard) {
    for (const o of h.advertisement.options) {
      if (o.type !== 'prefix-information' || !o.onLink || o.validLifetime === 0 || isLinkLocal(o.prefix)) continue;
      const key = formatPrefix(o.prefix, o.prefixLength);
      const bad = notADestination(o.prefix, o.prefixLength);
      if (bad) {
        notes.routes.push(`RA on-link prefix ${key} from ${formatIPv6(h.router)} not used: ${bad}`);
        continue;
      }
      if (seenOnLink.has(key)) continue;
      seenOnLink.add(key);
      onLink.push({ destination: o.prefix, prefixLength: o.prefixLength, lifetime: o.validLifetime });
    }
  }
  const onLinkExcess = onLink.slice(limits.maxPrefixes).map((r) => formatPrefix(r.destination, r.prefixLength));
  onLink = onLink.slice(0, limits.maxPrefixes);

  // RDNSS (RFC 8106 §5.1): unicast servers only, lifetime 0 means "no longer use", one each, the cap.
  let rdnss: string[] = [];
  for (const h of heard) {
    for (const o of h.advertisement.options) {
      if (o.type !== 'rdnss' || o.lifetime === 0) continue;
      for (const server of o.servers) {
        const text = formatIPv6(server);
        const bad = notAServer(server);
        if (bad) notes.servers.push(`RA DNS server ${text} from ${formatIPv6(h.router)} not used: ${bad}`);
        else if (!rdnss.includes(text)) rdnss.push(text);
      }
    }
  }
  const serverExcess = rdnss.slice(limits.maxDnsServers);
  rdnss = rdnss.slice(0, limits.maxDnsServers);
  const dnssl = [...new Set(heard.flatMap((h) => h.advertisement.options.flatMap((o) => (o.type === 'dnssl' && o.lifetime > 0 ? o.domains : []))))];

  const slla = main.advertisement.options.find((o): o is Extract<NdOption, { type: 'source-link-layer-address' }> => o.type === 'source-link-layer-address');
  const retrans = heard.find((h) => h.advertisement.retransTimer > 0)?.advertisement.retransTimer;
  const times = heard.flatMap((h) => (h.receivedAt === undefined ? [] : [h.receivedAt]));
  return {
    router: main.router,
    routerMac: slla ? formatMac(slla.address) : null,
    routerLifetime: main.advertisement.routerLifetime,
    routerPreference: main.advertisement.preference,
    receivedAt: times.length ? Math.min(...times) : undefined,
    prefixes: usable,
    ignored,
    mtu,
    ...(mtuIgnored ? { mtuIgnored } : {}),
    // A default route of prefix length 0 from a Route Information option is the router's own
    // business (RFC 4191 §3.1 ::/0 is covered by the router lifetime): not added twice.
    routes: [...defaultRoute, ...routeInfo.filter((r) => r.prefixLength > 0)],
    tableRoutes: [...onLink, ...routeInfo, ...defaultRoute],
    retransMs: retrans ?? DEFAULT_RETRANS_MS,
    rdnss,
    dnssl,
    notes: [
      ...bounded(
        ignored.map((i) => `RA prefix ${i.prefix} not used: ${i.reason}`),
        'prefixes not used',
      ),
      ...bounded(notes.dup, 'duplicates'),
      ...bounded(notes.routes, 'routes not used'),
      ...bounded(notes.servers, 'DNS servers not used'),
      ...excessNote(prefixExcess, 'prefixes', 'max_prefixes', limits.maxPrefixes),
      ...excessNote(onLinkExcess, 'on-link prefixes', 'max_prefixes', limits.maxPrefixes),
      ...excessNote(routeExcess, 'routes', 'max_routes', limits.maxRoutes),
      ...excessNote(serverExcess, 'DNS servers', 'max_dns_servers', limits.maxDnsServers),
    ],
  };
}

/** What an address is derived from (the keys of config that matter). */
export interface AddressKeys {
  /** The container's stable name (RFC 7217 Net_Iface-independent key). */
  name: string;
  secret: Buffer;
  networkId: string;
  /** A static interface identifier instead of RFC 7217 ("" for none). */
  iid: string;
}

/** The address to try for a prefix and DAD counter: RFC 7217, or the static IID (same for every counter). */
export function addressCandidate(keys: AddressKeys, prefix: IPv6, prefixLength: number): (dadCounter: number) => IPv6 {
  return (dadCounter) =>
    keys.iid ? staticAddress(prefix, prefixLength, keys.iid) : stableAddress({ prefix, prefixLength, name: keys.name, networkId: keys.networkId, dadCounter, secret: keys.secret }).address;
}

/** The container's RFC 7217 link-local address (fe80::/64, DAD counter 0 unless another is given). */
export function linkLocalAddress(keys: Pick<AddressKeys, 'name' | 'secret' | 'networkId'>, dadCounter = 0): IPv6 {
  return stableAddress({ prefix: LINK_LOCAL_PREFIX, prefixLength: 64, name: keys.name, networkId: keys.networkId, dadCounter, secret: keys.secret }).address;
}
