/**
 * ipvlan l3/l3s: what the host must do so that a container's address is reachable.
 *
 * The container's slave is IFF_NOARP and hears no multicast, so nobody answers the router's
 * Neighbour Solicitation for the container's address, and the container's own packets are
 * routed by the host's stack (in the host netns, out of the parent). Measured in the CI VM
 * (Debian 6.1): without help the router and peers cannot reach the address, and the container's
 * packets find no route when the host has none for the prefix. So, in the host netns:
 *
 *  - proxy NDP for each address on the parent (RTM_NEWNEIGH with NTF_PROXY). The kernel answers
 *    NS for proxied addresses — the router's, a peer's, and DAD probes, so the address is
 *    defended — only with `proxy_ndp` and `forwarding` set on that interface. `forwarding` on an
 *    interface makes the kernel ignore RAs there unless accept_ra is 2: an accept_ra of 1 is
 *    raised to 2 so the host keeps its own SLAAC on the NIC.
 *  - a rule `from ADDR lookup TABLE` (priority = TABLE) and, in TABLE, the RA's routes out of the
 *    parent (on-link prefixes, default via the router, RFC 4191 routes): the container's packets
 *    leave the right way whatever the host's main table holds. TABLE's routes are removed when
 *    the last rule pointing at it goes.
 */
import type { IPv6 } from '../core/ipv6';
import type { RouterAdvertisement } from '../core/nd-types';
import { NetnsHandle, readNetSysctl, writeNetSysctl } from '../system/netns';
import { isErrno, removeUnlessGone } from '../core/errors';
import { addProxyNeighbour, deleteProxyNeighbour } from '../system/rtnetlink/neighbours';
import { addSourceRule, deleteSourceRule, listSourceRules } from '../system/rtnetlink/rules';
import { deleteRoute, listRoutes, replaceRoute } from '../system/rtnetlink/routes';
import type { RtnetlinkSocket } from '../system/rtnetlink/socket';

/** Where a container's address is made reachable: the parent's index and the rule's table. */
export interface L3Reach {
  parentIndex: number;
  table: number;
}

export const needsHostReach = (kind: 'macvlan' | 'ipvlan', mode: string): boolean => kind === 'ipvlan' && mode !== 'l2';

/** Idempotent: proxy_ndp and forwarding on the parent; accept_ra 1 → 2. */
export function prepareParent(parentName: string): void {
  const host = NetnsHandle.current();
  const key = (k: string): string => `net/ipv6/conf/${parentName}/${k}`;
  if (readNetSysctl(host, key('accept_ra')).trim() === '1') writeNetSysctl(host, key('accept_ra'), 2);
  writeNetSysctl(host, key('proxy_ndp'), 1);
  writeNetSysctl(host, key('forwarding'), 1);
}

/** The RA's routes out of the parent, in the reach table (replaced: idempotent, refreshed). */
export function installTableRoutes(host: RtnetlinkSocket, reach: L3Reach, ra: RouterAdvertisement, router: IPv6): void {
  const base = { oif: reach.parentIndex, table: reach.table };
  for (const o of ra.options) {
    if (o.type === 'prefix-information' && o.onLink && o.validLifetime > 0) {
      replaceRoute(host, { ...base, destination: o.prefix, prefixLength: o.prefixLength, expires: o.validLifetime });
    }
    if (o.type === 'route-information' && o.lifetime > 0) {
      replaceRoute(host, { ...base, destination: o.prefix, prefixLength: o.prefixLength, gateway: router, expires: o.lifetime, preference: o.preference });
    }
  }
  if (ra.routerLifetime > 0) {
    replaceRoute(host, { ...base, destination: Buffer.alloc(16), prefixLength: 0, gateway: router, expires: ra.routerLifetime, preference: ra.preference });
  }
}

const rule = (reach: L3Reach, address: IPv6) => ({ source: address, table: reach.table, priority: reach.table });

/** Rule first, then the proxy entry (from then on the host answers for the address). */
export function addAddressReach(host: RtnetlinkSocket, reach: L3Reach, address: IPv6): void {
  try {
    addSourceRule(host, rule(reach, address));
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  }
  try {
    addProxyNeighbour(host, reach.parentIndex, address);
  } catch (err) {
    removeUnlessGone(() => deleteSourceRule(host, rule(reach, address)));
    throw err;
  }
}

/** Best effort: what is already gone is fine. Returns the failures' messages. */
export function removeAddressReach(host: RtnetlinkSocket, reach: L3Reach, address: IPv6): string[] {
  return [removeUnlessGone(() => deleteProxyNeighbour(host, reach.parentIndex, address)), removeUnlessGone(() => deleteSourceRule(host, rule(reach, address)))].filter(
    (m): m is string => m !== undefined,
  );
}

/** Empty the reach table once no rule points at it any more. */
export function releaseTable(host: RtnetlinkSocket, table: number): void {
  if (listSourceRules(host).some((r) => r.table === table)) return;
  for (const r of listRoutes(host, table).filter((x) => x.table === table && x.oif !== undefined)) {
    removeUnlessGone(() => deleteRoute(host, { destination: r.destination, prefixLength: r.prefixLength, gateway: r.gateway, oif: r.oif ?? 0, table }));
  }
}
