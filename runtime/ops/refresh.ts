/**
 * The kernel side of a refresh (core/refresh.ts computes it): from the container's state before
 * and after, each address whose deadlines moved is replaced in place (RTM_NEWADDR + NLM_F_REPLACE:
 * the kernel takes the lifetimes exactly as given, preferred 0 deprecating it), each address that
 * ran out is withdrawn with its host side, the default route and the RFC 4191 routes are made,
 * replaced (new RTA_EXPIRES) or removed to match, and the MTU set. Every new object is recorded in
 * the ledger before it is made and every removed one forgotten, so detach undoes exactly what
 * exists.
 */
import { parseIPv6, parsePrefix } from '../core/ipv6';
import { INFINITE_LIFETIME } from '../core/lifetime';
import type { Preference } from '../core/nd-types';
import type { Effect } from '../core/record';
import { defaultRouter, type RefreshState, type StateAddress } from '../core/refresh';
import { removeUnlessGone } from '../core/errors';
import type { PlannedRoute } from '../core/plan';
import { IFA_F_NODAD, RTPROT_OSH } from '../wire/rtnetlink/constants';
import { inside, type OpContext } from './context';
import type { L3Reach } from './l3-reach';
import { undoEffect, withdrawAddress } from './undo';

type RouteEffect = Extract<Effect, { kind: 'route' }>;

/** Seconds left until a deadline, for IFA_CACHEINFO / RTA_EXPIRES (rounded up: our own timer removes it at the deadline). */
export function secondsLeft(until: number | null, now: number): number {
  if (until === null) return INFINITE_LIFETIME;
  return Math.min(INFINITE_LIFETIME - 1, Math.max(0, Math.ceil((until - now) / 1000)));
}

const describeLifetime = (s: number): string => (s === INFINITE_LIFETIME ? 'forever' : `${s} s`);

/** An address's new lifetimes, exactly as computed (RFC 4862 §5.5.3 e is ours, the kernel applies none to these). */
export function refreshAddress(ctx: OpContext, index: number, a: StateAddress, now: number): string {
  const valid = Math.max(1, secondsLeft(a.validUntil, now)); // valid 0 is EINVAL: an address at its end is expired instead
  const preferred = a.state === 'deprecated' ? 0 : Math.min(valid, secondsLeft(a.preferredUntil, now));
  inside(ctx).replaceAddress({ index, address: parseIPv6(a.address), prefixLength: a.prefixLength, flags: IFA_F_NODAD, validLifetime: valid, preferredLifetime: preferred });
  return `${a.address} valid ${describeLifetime(valid)} preferred ${describeLifetime(preferred)}${preferred === 0 ? ' (deprecated)' : ''}`;
}

/** A route the container should have: the default one (`::/0`) or an RFC 4191 one. */
export interface WantedRoute {
  destination: string;
  gateway: string;
  preference: Preference;
  until: number | null;
}

/** The routes a state asks for: default via its default router (RFC 4191 §3 choice), then the RFC 4191 routes. */
export function wantedRoutes(state: RefreshState, now: number, currentDefault?: string): WantedRoute[] {
  const chosen = defaultRouter(state.routers, now, currentDefault);
  return [...(chosen ? [{ destination: '::/0', gateway: chosen.address, preference: chosen.preference, until: chosen.until }] : []), ...state.routes];
}

const routeName = (r: { destination: string; gateway: string }): string => `${r.destination === '::/0' ? 'default' : r.destination} via ${r.gateway}`;

/**
 * Make the container's routes on link `index` those wanted: what the ledger holds and is no longer
 * wanted goes first (the kernel holds one default route per metric: a new router's comes after the
 * old one's removal), then each wanted one is made (recorded first) or, when its deadline or
 * preference moved, replaced with the new RTA_EXPIRES. `renewed` lists the routes whose expiry
 * alone moved (an RA renewing them), `changes` everything else.
 */
export function syncRoutes(ctx: OpContext, index: number, before: WantedRoute[], after: WantedRoute[], now: number): { changes: string[]; renewed: string[] } {
  const changes: string[] = [];
  const renewed: string[] = [];
  const key = (r: { destination: string; gateway: string }): string => `${r.destination} ${r.gateway}`;
  const wanted = new Set(after.map(key));
  const held = ctx.ledger.record.ledger.filter((e): e is RouteEffect => e.kind === 'route' && e.index === index);
  for (const e of [...held].reverse()) {
    if (wanted.has(key(e))) continue;
    undoEffect(ctx, e);
    changes.push(`${routeName(e)} removed`);
  }
  const was = new Map(before.map((r) => [key(r), r]));
  for (const r of after) {
    const { address, length } = parsePrefix(r.destination);
    const spec = { destination: address, prefixLength: length, gateway: parseIPv6(r.gateway), oif: index, expires: secondsLeft(r.until, now), preference: r.preference };
    const expires = spec.expires === INFINITE_LIFETIME ? '' : ` expires ${spec.expires} s`;
    if (!held.some((e) => key(e) === key(r))) {
      ctx.ledger.intend<RouteEffect>({ kind: 'route', index, destination: r.destination, gateway: r.gateway });
      inside(ctx).addRoute(spec);
      changes.push(`${routeName(r)} added${expires}`);
      continue;
    }
    const old = was.get(key(r));
    if (old && old.until === r.until && old.preference === r.preference) continue;
    inside(ctx).replaceRoute(spec);
    (old && old.preference === r.preference ? renewed : changes).push(`${routeName(r)}${expires || ' (no expiry)'}`);
  }
  return { changes, renewed };
}

/**
 * Apply a state change to the container's link `index`: addresses (withdrawn, or lifetimes
 * replaced), routes, MTU. Returns one line per change, one per renewal (an address's or a route's
 * lifetime moved and nothing else: what every RA does) and the addresses that went (their DNS
 * records follow, in the pipeline).
 */
export function applyRefresh(ctx: OpContext, index: number, before: RefreshState, after: RefreshState, now: number): { changes: string[]; renewed: string[]; addressesRemoved: string[] } {
  const changes: string[] = [];
  const renewed: string[] = [];
  const addressesRemoved: string[] = [];
  const kept = new Map(after.addresses.map((a) => [a.address, a]));
  for (const a of before.addresses) {
    if (kept.has(a.address)) continue;
    withdrawAddress(ctx, parseIPv6(a.address));
    addressesRemoved.push(a.address);
    changes.push(`${a.address} removed (valid lifetime ran out)`);
  }
  const was = new Map(before.addresses.map((a) => [a.address, a]));
  for (const a of after.addresses) {
    const old = was.get(a.address);
    if (old && old.validUntil === a.validUntil && old.preferredUntil === a.preferredUntil && old.state === a.state) continue;
    (old && old.state === a.state ? renewed : changes).push(refreshAddress(ctx, index, a, now));
  }
  const current = ctx.ledger.record.router.address || undefined;
  const routes = syncRoutes(ctx, index, wantedRoutes(before, now, current), wantedRoutes(after, now, current), now);
  changes.push(...routes.changes);
  renewed.push(...routes.renewed);
  if (after.mtu !== null && after.mtu !== before.mtu) {
    inside(ctx).setLink(index, { mtu: after.mtu });
    changes.push(`mtu ${after.mtu}`);
  }
  return { changes, renewed, addressesRemoved };
}

/**
 * ipvlan l3/l3s: the host's reach table (ops/l3-reach.ts) carries the RA's routes with their
 * lifetimes too, and would lose its default route when the router lifetime runs out: the RA's
 * on-link prefixes and RFC 4191 routes replaced with their new lifetimes, the default route via the
 * container's default router (or removed when it has none). The table is shared by the parent's l3
 * containers and already in their ledgers: nothing is recorded. Under the parent's lock.
 */
export function refreshReachTable(ctx: OpContext, reach: L3Reach, routes: PlannedRoute[], defaultVia: { gateway: string; until: number; preference: Preference } | undefined, now: number): void {
  const base = { oif: reach.parentIndex, table: reach.table, protocol: RTPROT_OSH };
  for (const r of routes) {
    if (r.prefixLength === 0) continue; // the default route: below, via the chosen router
    ctx.host.replaceRoute({ ...base, destination: r.destination, prefixLength: r.prefixLength, gateway: r.gateway, expires: r.lifetime, preference: r.preference });
  }
  const unspecified = Buffer.alloc(16); // ::/0
  if (defaultVia) ctx.host.replaceRoute({ ...base, destination: unspecified, prefixLength: 0, gateway: parseIPv6(defaultVia.gateway), expires: Math.max(1, secondsLeft(defaultVia.until, now)), preference: defaultVia.preference });
  else removeUnlessGone(() => ctx.host.deleteRoute({ ...base, destination: unspecified, prefixLength: 0 }));
}
