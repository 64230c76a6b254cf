/**
 * The attach plan: what a container gets from one Router Advertisement, its config and its name —
 * computed with no I/O, so every rule here is tested with plain data (tests/unit/plan.test.ts).
 *
 *  - addresses: one per autonomous prefix RFC 4862 §5.5.3 accepts, RFC 7217 (or a static IID),
 *    a candidate per DAD counter (RFC 7217 §6);
 *  - MTU: the RA's, when within [1280, the parent's MTU] (RFC 4861 §6.3.4; RFC 8200 §5 minimum);
 *  - routes in the container: default via the router while its lifetime is non-zero (RFC 4861
 *    §6.3.4), and each RFC 4191 Route Information with a non-zero lifetime;
 *  - for ipvlan l3/l3s, the host's reach table: the on-link prefixes out of the parent, the RFC
 *    4191 routes and the default route via the router;
 *  - the pace of DAD (RetransTimer, RFC 4861 §6.3.4; 1000 ms when the RA leaves it unspecified).
 */
import { DEFAULT_RETRANS_MS } from './dad';
import { stableAddress, staticAddress } from './iid';
import { formatIPv6, formatMac, isLinkLocal, parseIPv6, type IPv6 } from './ipv6';
import type { NdOption, Preference, PrefixInformation, RouterAdvertisement } from './nd-types';
import { selectPrefixes } from './slaac';

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

export interface AttachPlan {
  router: IPv6;
  routerMac: string | null;
  prefixes: PrefixInformation[];
  ignored: { prefix: string; reason: string }[];
  mtu: number | null;
  /** Why the RA's MTU was not used, when it was not. */
  mtuIgnored?: string;
  /** In the container, all via the router. */
  routes: PlannedRoute[];
  /** ipvlan l3/l3s: the host's reach table. */
  tableRoutes: PlannedRoute[];
  retransMs: number;
  rdnss: string[];
  dnssl: string[];
}

export function planAttach(ra: RouterAdvertisement, router: IPv6, parentMtu: number): AttachPlan {
  const { usable, ignored } = selectPrefixes(ra.options);
  const mtuOption = ra.options.find((o): o is Extract<NdOption, { type: 'mtu' }> => o.type === 'mtu');
  let mtu: number | null = null;
  let mtuIgnored: string | undefined;
  if (mtuOption && mtuOption.mtu >= MIN_IPV6_MTU && mtuOption.mtu <= parentMtu) mtu = mtuOption.mtu;
  else if (mtuOption) mtuIgnored = `RA MTU ${mtuOption.mtu} ignored: outside [${MIN_IPV6_MTU}, ${parentMtu}]`;

  const defaultRoute: PlannedRoute[] = ra.routerLifetime > 0 ? [{ destination: Buffer.alloc(16), prefixLength: 0, gateway: router, lifetime: ra.routerLifetime, preference: ra.preference }] : [];
  const routeInfo: PlannedRoute[] = ra.options.flatMap((o) =>
    o.type === 'route-information' && o.lifetime > 0 ? [{ destination: o.prefix, prefixLength: o.prefixLength, gateway: router, lifetime: o.lifetime, preference: o.preference }] : [],
  );
  // RFC 4861 §6.3.4: a Prefix Information option for the link-local prefix is silently ignored.
  const onLink: PlannedRoute[] = ra.options.flatMap((o) =>
    o.type === 'prefix-information' && o.onLink && o.validLifetime > 0 && !isLinkLocal(o.prefix) ? [{ destination: o.prefix, prefixLength: o.prefixLength, lifetime: o.validLifetime }] : [],
  );
  const slla = ra.options.find((o): o is Extract<NdOption, { type: 'source-link-layer-address' }> => o.type === 'source-link-layer-address');
  return {
    router,
    routerMac: slla ? formatMac(slla.address) : null,
    prefixes: usable,
    ignored,
    mtu,
    ...(mtuIgnored ? { mtuIgnored } : {}),
    // A default route of prefix length 0 from a Route Information option is the router's own
    // business (RFC 4191 §3.1 ::/0 is covered by the router lifetime): not added twice.
    routes: [...defaultRoute, ...routeInfo.filter((r) => r.prefixLength > 0)],
    tableRoutes: [...onLink, ...routeInfo, ...defaultRoute],
    retransMs: ra.retransTimer > 0 ? ra.retransTimer : DEFAULT_RETRANS_MS,
    rdnss: ra.options.flatMap((o) => (o.type === 'rdnss' ? o.servers.map(formatIPv6) : [])),
    dnssl: ra.options.flatMap((o) => (o.type === 'dnssl' ? o.domains : [])),
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

/** The container's RFC 7217 link-local address (fe80::/64, DAD counter 0). */
export function linkLocalAddress(keys: Pick<AddressKeys, 'name' | 'secret' | 'networkId'>): IPv6 {
  return stableAddress({ prefix: LINK_LOCAL_PREFIX, prefixLength: 64, name: keys.name, networkId: keys.networkId, dadCounter: 0, secret: keys.secret }).address;
}
