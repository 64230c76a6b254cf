/**
 * host_link (off by default): let the host itself reach its own containers.
 *
 * A macvlan lower device never hears its slaves, and an ipvlan master never hears its slaves, so
 * the host's packets to a container's address leave on the wire and never come back. The fix is
 * a companion: one more slave of the same parent, in the host netns ("osh-<parent>"), of the same
 * kind and mode — macvlan bridge delivers slave to slave, and ipvlan delivers between slaves by
 * L3 address — with an RFC 7217 link-local address of its own and, per container address, a host
 * route `ADDR/128 dev osh-<parent> src <its link-local> metric 4862 proto 86`. The container
 * answers the companion's link-local address, which is on its own link. The companion is made at
 * first use (under the parent's lock) and stays; it carries the mark `oci-slaac-hook:host-link`.
 */
import { InputError, isErrno } from '../core/errors';
import { stableMac } from '../core/iid';
import { formatIPv6, parseIPv6, type IPv6 } from '../core/ipv6';
import type { SlaveSpec } from '../core/link-kinds';
import { linkLocalAddress } from '../core/plan';
import type { Effect } from '../core/record';
import { IFA_F_NODAD, RTPROT_OSH } from '../wire/rtnetlink/constants';
import type { Link, NetKernel, RouteSpec } from '../system/kernel';
import type { OpContext } from './context';

export interface Companion {
  name: string;
  index: number;
  linkLocal: IPv6;
}

/** Host routes to containers: a metric of their own besides our protocol number. */
export const HOST_LINK_METRIC = 4862;
export const COMPANION_ALIAS = 'oci-slaac-hook:host-link';

export const companionName = (parent: string): string => `osh-${parent}`.slice(0, 15);

/**
 * The companion of `parent`, made (idempotently) if missing, up, with its link-local. Call under
 * the parent's lock. `shared`: the secret is shared by hosts of this link (secret_file), whose
 * parents may have one name — the seed then takes the parent's MAC too, which is the host's own
 * on the link, so two hosts' companions never share a MAC or a link-local address.
 */
export function ensureCompanion(host: NetKernel, parent: Link, spec: SlaveSpec, secret: Buffer, shared = false): Companion {
  if (spec.kind === 'macvlan' && spec.mode !== 'bridge') {
    throw new InputError(`host_link needs macvlan_mode bridge (got ${spec.mode}): only bridge mode delivers between the host's companion and the containers`);
  }
  const name = companionName(parent.name);
  const seed = shared && parent.mac ? `host-link:${parent.name}:${parent.mac.toString('hex')}` : `host-link:${parent.name}`;
  const linkLocal = linkLocalAddress({ name: seed, networkId: '', secret });
  let link = host.findLink(name);
  if (!link) {
    try {
      host.createSlave({ parentIndex: parent.index, name, spec, mac: spec.kind === 'macvlan' ? stableMac({ name: seed, secret }) : undefined });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err; // made meanwhile by a hook of an older version
    }
    link = host.findLink(name);
    if (!link) throw new Error(`host link ${name} vanished right after it was created`);
  }
  if (link.parentIndex !== undefined && link.parentIndex !== parent.index) throw new InputError(`${name} exists but is not a slave of ${parent.name}`);
  for (const [key, value] of [['accept_ra', 0], ['autoconf', 0], ['accept_dad', 0]] as const) host.writeSysctl(`net/ipv6/conf/${name}/${key}`, value);
  host.setLink(link.index, { addrGenMode: 'none', ...(link.alias === undefined ? { alias: COMPANION_ALIAS } : {}) });
  if (!host.listAddresses(link.index).some((a) => a.address.equals(linkLocal))) {
    try {
      host.addAddress({ index: link.index, address: linkLocal, prefixLength: 64, flags: IFA_F_NODAD });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
  }
  host.setLink(link.index, { up: true });
  return { name, index: link.index, linkLocal };
}

type HostRouteEffect = Extract<Effect, { kind: 'host-route' }>;

export const hostRouteSpec = (e: Pick<HostRouteEffect, 'via' | 'linkLocal' | 'address'>): RouteSpec => ({
  destination: parseIPv6(e.address),
  prefixLength: 128,
  oif: e.via,
  prefsrc: parseIPv6(e.linkLocal),
  metric: HOST_LINK_METRIC,
  protocol: RTPROT_OSH,
});

export const hostRouteEffect = (via: { index: number; linkLocal: string }, address: IPv6): HostRouteEffect => ({ kind: 'host-route', via: via.index, linkLocal: via.linkLocal, address: formatIPv6(address) });

/** `ip -6 route replace ADDR/128 dev osh-PARENT src LL metric 4862 proto 86` (the effect is in the ledger already) */
export function applyHostRoute(ctx: OpContext, e: HostRouteEffect): void {
  ctx.host.replaceRoute(hostRouteSpec(e));
}

/** The route the ledger names, whatever its protocol now (the kernel compares a protocol given in a delete). */
export function undoHostRoute(ctx: OpContext, e: HostRouteEffect): void {
  ctx.host.deleteRoute({ ...hostRouteSpec(e), protocol: undefined });
}
