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
 *    leave the right way whatever the host's main table holds.
 *
 * TABLE is shared by every l3 container of the parent: its routes go with the last container
 * whose ledger holds them, decided under the parent's lock (system/lock.ts), so a container being
 * attached is never left without them. Every route, rule and proxy entry carries RTPROT_OSH.
 */
import { isErrno, removeUnlessGone, throwFailures } from '../core/errors';
import { formatIPv6, parseIPv6, type IPv6 } from '../core/ipv6';
import type { PlannedRoute } from '../core/plan';
import type { Effect } from '../core/record';
import { RTPROT_OSH } from '../wire/rtnetlink/constants';
import type { NetKernel, SourceRule } from '../system/kernel';
import type { OpContext } from './context';

/** Where a container's address is made reachable: the parent's index and the rule's table. */
export interface L3Reach {
  parentIndex: number;
  table: number;
}

type TableEffect = Extract<Effect, { kind: 'l3-table' }>;
type ReachEffect = Extract<Effect, { kind: 'l3-reach' }>;

/** Idempotent, and kept: proxy_ndp and forwarding on the parent; accept_ra 1 → 2. */
export function prepareParent(host: NetKernel, parentName: string): void {
  const key = (k: string): string => `net/ipv6/conf/${parentName}/${k}`;
  if (host.readSysctl(key('accept_ra')).trim() === '1') host.writeSysctl(key('accept_ra'), 2);
  host.writeSysctl(key('proxy_ndp'), 1);
  host.writeSysctl(key('forwarding'), 1);
}

/** The RA's routes out of the parent, in the reach table (replaced: idempotent, refreshed). Under the parent's lock. */
export function installTable(ctx: OpContext, reach: L3Reach, routes: PlannedRoute[]): void {
  ctx.ledger.intend<TableEffect>({ kind: 'l3-table', parentIndex: reach.parentIndex, table: reach.table });
  for (const r of routes) {
    ctx.host.replaceRoute({
      destination: r.destination,
      prefixLength: r.prefixLength,
      gateway: r.gateway,
      oif: reach.parentIndex,
      table: reach.table,
      expires: r.lifetime,
      preference: r.preference,
      protocol: RTPROT_OSH,
    });
  }
}

/** Empty the reach table unless another container's ledger still holds it. Under the parent's lock. */
export function undoTable(ctx: OpContext, e: TableEffect): void {
  const shared = ctx.peers().some((r) => r.ledger?.some((x) => x.kind === 'l3-table' && x.parentIndex === e.parentIndex && x.table === e.table));
  if (shared) return;
  const failures = ctx.host
    .listRoutes(e.table)
    .filter((x) => x.table === e.table && x.protocol === RTPROT_OSH)
    .map((r) => removeUnlessGone(() => ctx.host.deleteRoute({ destination: r.destination, prefixLength: r.prefixLength, gateway: r.gateway, oif: r.oif ?? 0, table: e.table, protocol: RTPROT_OSH })));
  throwFailures(failures);
}

const rule = (e: Pick<ReachEffect, 'table' | 'address'>): SourceRule => ({ source: parseIPv6(e.address), table: e.table, priority: e.table });

export const reachEffect = (reach: L3Reach, address: IPv6): ReachEffect => ({ kind: 'l3-reach', parentIndex: reach.parentIndex, table: reach.table, address: formatIPv6(address) });

/** Rule first, then the proxy entry (from then on the host answers for the address). The effect is in the ledger already. */
export function applyReach(ctx: OpContext, e: ReachEffect): void {
  const address = parseIPv6(e.address);
  try {
    ctx.host.addRule({ ...rule(e), protocol: RTPROT_OSH });
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  }
  ctx.host.addProxy(e.parentIndex, address, RTPROT_OSH);
}

/**
 * Proxy entry first, then the rule: the reverse of addReach. Either may already be gone. The
 * ledger names them, so the delete matches them whatever their protocol now (the kernel compares
 * a protocol given in a delete: one re-added by hand would otherwise stay).
 */
export function undoReach(ctx: OpContext, e: ReachEffect): void {
  throwFailures([removeUnlessGone(() => ctx.host.deleteProxy(e.parentIndex, parseIPv6(e.address))), removeUnlessGone(() => ctx.host.deleteRule(rule(e)))]);
}
