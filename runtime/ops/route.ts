/**
 * Routes in the container via the router: the default route (router lifetime, RFC 4191
 * preference) and each Route Information route, with the kernel expiring them (RTA_EXPIRES):
 * `ip -6 route add DEST via ROUTER dev IF expires T pref P proto ra`.
 */
import { formatIPv6, formatPrefix, parseIPv6, parsePrefix } from '../core/ipv6';
import type { PlannedRoute } from '../core/plan';
import type { Effect } from '../core/record';
import { inside, type OpContext } from './context';

type RouteEffect = Extract<Effect, { kind: 'route' }>;

/** Add the routes (recorded together, in one save, before the first is made); their names for the record. */
export function addContainerRoutes(ctx: OpContext, index: number, routes: (PlannedRoute & { gateway: Buffer })[]): string[] {
  const effects: RouteEffect[] = routes.map((r) => ({ kind: 'route', index, destination: formatPrefix(r.destination, r.prefixLength), gateway: formatIPv6(r.gateway) }));
  const [first, ...more] = effects;
  if (!first) return [];
  ctx.ledger.intend(first, ...more);
  for (const r of routes) {
    inside(ctx).addRoute({ destination: r.destination, prefixLength: r.prefixLength, gateway: r.gateway, oif: index, expires: r.lifetime, preference: r.preference });
  }
  return routes.map((r, i) => (r.prefixLength === 0 ? 'default' : effects[i]!.destination));
}

export function undoRoute(ctx: OpContext, e: RouteEffect): void {
  const { address, length } = parsePrefix(e.destination);
  ctx.container?.deleteRoute({ destination: address, prefixLength: length, gateway: parseIPv6(e.gateway), oif: e.index });
}
