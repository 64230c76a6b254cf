/**
 * An address of the container, with its host side — one implementation for attach and for the
 * optimistic DAD that may replace an address later. Installing: the address on the container's
 * link (`ip -6 addr add ADDR/LEN dev IF nodad valid_lft V preferred_lft P`: our DAD decides, not
 * the kernel's), then for ipvlan l3/l3s the host's rule and proxy entry, then with host_link the
 * host's route to it. Withdrawing: the same in reverse. Each part is a ledger effect of its own.
 */
import { formatIPv6, parseIPv6, type IPv6 } from '../core/ipv6';
import type { Effect } from '../core/record';
import { IFA_F_NODAD } from '../wire/rtnetlink/constants';
import { inside, type OpContext } from './context';
import { applyHostRoute, hostRouteEffect } from './host-link';
import { applyReach, reachEffect, type L3Reach } from './l3-reach';

type AddressEffect = Extract<Effect, { kind: 'address' }>;

/** Where a container's addresses go and what the host holds for each. */
export interface AddressPlace {
  /** The container's link. */
  index: number;
  /** ipvlan l3/l3s: the host's reach. */
  reach?: L3Reach;
  /** host_link: the companion the host routes through. */
  hostLink?: { index: number; linkLocal: string };
}

export interface AddressLifetimes {
  /** Seconds left (0xffffffff: forever), as IFA_CACHEINFO wants them. */
  validLifetime?: number;
  preferredLifetime?: number;
}

/** `flags`: IFA_F_NODAD unless said otherwise (the container's link-local is IFA_F_OPTIMISTIC: attach step 3). */
export function installAddress(ctx: OpContext, place: AddressPlace, address: IPv6, prefixLength: number, lifetimes: AddressLifetimes = {}, flags = IFA_F_NODAD): void {
  const reach = place.reach && reachEffect(place.reach, address);
  const hostRoute = place.hostLink && hostRouteEffect(place.hostLink, address);
  // All three recorded in one save, before the first is made.
  ctx.ledger.intend<AddressEffect>({ kind: 'address', index: place.index, address: formatIPv6(address), prefixLength }, ...(reach ? [reach] : []), ...(hostRoute ? [hostRoute] : []));
  inside(ctx).addAddress({ index: place.index, address, prefixLength, flags, ...lifetimes });
  if (reach) applyReach(ctx, reach);
  if (hostRoute) applyHostRoute(ctx, hostRoute);
}

export function undoAddress(ctx: OpContext, e: AddressEffect): void {
  ctx.container?.deleteAddress({ index: e.index, address: parseIPv6(e.address), prefixLength: e.prefixLength });
}
