/**
 * Routes in the container via the router: the default route (router lifetime, RFC 4191
 * preference) and each Route Information route, with the kernel expiring them (RTA_EXPIRES):
 * `ip -6 route add DEST via ROUTER dev IF expires T pref P proto ra`.
 */
import { formatIPv6, formatPrefix, parseIPv6, parsePrefix } from '../core/ipv6';
import type { PlannedRoute } from '../core/plan';
import type { Effect } from '../core/record';
import { InputError } from '../core/errors';
import { inside, type OpContext } from './context';

type RouteEffect = Extract<Effect, { kind: 'route' }>;

/** Add the routes (recorded together, in one save, before the first is made); their names for the record. */
export function addContainerRoutes(ctx: OpContext, index: number, routes: (PlannedRoute & { gateway: Buffer })[]): string[] {
  const effects: RouteEffect[] = routes.map((r) => ({ kind: 'route', index, destination: formatPrefix(r.destination, r.prefixLength), gateway: formatIPv6(r.gateway) }));
  const [first, ...more] = effects;
  if (!first) return [];
  refuseForeignRoutes(ctx, index, routes);
  ctx.ledger.intend(first, ...more);
  for (const r of routes) {
    inside(ctx).addRoute({ destination: r.destination, prefixLength: r.prefixLength, gateway: r.gateway, oif: index, expires: r.lifetime, preference: r.preference });
  }
  return routes.map((r, i) => (r.prefixLength === 0 ? 'default' : effects[i]!.destination));
}

/**
 * A route to the same destination on another link of the container (Docker's default route on its
 * eth0 when the container's Docker network has IPv6) would make ours EEXIST — and a refresh's
 * replace of ours could replace that one: refused with what to do instead, before anything.
 */
function refuseForeignRoutes(ctx: OpContext, index: number, routes: PlannedRoute[]): void {
  const main = inside(ctx).listRoutes(254);
  for (const r of routes) {
    const other = main.find((e) => e.prefixLength === r.prefixLength && e.oif !== undefined && e.oif !== index && e.destination.equals(r.destination) && e.gateway !== undefined);
    if (!other) continue;
    const what = r.prefixLength === 0 ? 'a default IPv6 route' : `an IPv6 route to ${formatPrefix(r.destination, r.prefixLength)}`;
    const links = inside(ctx).listLinks();
    const dev = links.find((l) => l.index === other.oif)?.name ?? `index ${other.oif}`;
    throw new InputError(`the container has ${what} via ${other.gateway ? formatIPv6(other.gateway) : '?'} on ${dev} already (a Docker network with IPv6?): give it a network without IPv6, or none`);
  }
}

export function undoRoute(ctx: OpContext, e: RouteEffect): void {
  const { address, length } = parsePrefix(e.destination);
  ctx.container?.deleteRoute({ destination: address, prefixLength: length, gateway: parseIPv6(e.gateway), oif: e.index });
}
