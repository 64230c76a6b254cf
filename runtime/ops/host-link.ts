/**
 * host_link (off by default): let the host itself reach its own containers.
 *
 * A macvlan lower device never hears its slaves, and an ipvlan master never hears its slaves, so
 * the host's packets to a container's address leave on the wire and never come back. The fix is
 * a companion: one more slave of the same parent, in the host netns ("osh-<parent>"), of the same
 * kind and mode — macvlan bridge delivers slave to slave, and ipvlan delivers between slaves by
 * L3 address — with an RFC 7217 link-local address of its own and, per container address, a host
 * route `ADDR/128 dev osh-<parent> src <its link-local>`. The container answers the companion's
 * link-local address, which is on its own link. The companion is made at first use and stays.
 */
import { InputError, isErrno, removeUnlessGone } from '../core/errors';
import { parseIPv6, type IPv6 } from '../core/ipv6';
import { stableAddress, stableMac } from '../core/iid';
import { NetnsHandle, writeNetSysctl } from '../system/netns';
import { addAddress, listAddresses } from '../system/rtnetlink/addresses';
import { IFA_F_NODAD, RTPROT_STATIC } from '../wire/rtnetlink/constants';
import { createSlave, findLink, setLink, type Link, type SlaveSpec } from '../system/rtnetlink/links';
import { deleteRoute, replaceRoute } from '../system/rtnetlink/routes';
import type { RtnetlinkSocket } from '../system/rtnetlink/socket';

export interface Companion {
  name: string;
  index: number;
  linkLocal: IPv6;
}

const LINK_LOCAL_PREFIX = parseIPv6('fe80::');
/** Host routes to containers: a metric of their own, so they are easy to tell apart. */
export const HOST_LINK_METRIC = 4862;

export const companionName = (parent: string): string => `osh-${parent}`.slice(0, 15);

/** The companion of `parent`, made (idempotently, race-safe) if missing, up, with its link-local. */
export function ensureCompanion(host: RtnetlinkSocket, parent: Link, spec: SlaveSpec, secret: Buffer): Companion {
  if (spec.kind === 'macvlan' && spec.mode !== 'bridge') {
    throw new InputError(`host_link needs macvlan_mode bridge (got ${spec.mode}): only bridge mode delivers between the host's companion and the containers`);
  }
  const name = companionName(parent.name);
  const seed = `host-link:${parent.name}`;
  const linkLocal = stableAddress({ prefix: LINK_LOCAL_PREFIX, prefixLength: 64, name: seed, networkId: '', dadCounter: 0, secret }).address;
  let link = findLink(host, name);
  if (!link) {
    try {
      createSlave(host, { parentIndex: parent.index, name, spec, mac: spec.kind === 'macvlan' ? stableMac({ name: seed, secret }) : undefined });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err; // another hook made it first
    }
    link = findLink(host, name);
    if (!link) throw new Error(`host link ${name} vanished right after it was created`);
  }
  if (link.parentIndex !== undefined && link.parentIndex !== parent.index) throw new InputError(`${name} exists but is not a slave of ${parent.name}`);
  const hostNs = NetnsHandle.current();
  for (const [key, value] of [['accept_ra', 0], ['autoconf', 0], ['accept_dad', 0]] as const) writeNetSysctl(hostNs, `net/ipv6/conf/${name}/${key}`, value);
  setLink(host, link.index, { addrGenMode: 'none' });
  if (!listAddresses(host, link.index).some((a) => a.address.equals(linkLocal))) {
    try {
      addAddress(host, { index: link.index, address: linkLocal, prefixLength: 64, flags: IFA_F_NODAD });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
  }
  setLink(host, link.index, { up: true });
  return { name, index: link.index, linkLocal };
}

/** What a host route needs of the companion (also all a state record keeps of it). */
type RouteVia = Pick<Companion, 'index' | 'linkLocal'>;

const route = (c: RouteVia, address: IPv6) => ({
  destination: address,
  prefixLength: 128,
  oif: c.index,
  prefsrc: c.linkLocal,
  metric: HOST_LINK_METRIC,
  protocol: RTPROT_STATIC,
});

export function addHostRoute(host: RtnetlinkSocket, c: RouteVia, address: IPv6): void {
  replaceRoute(host, route(c, address));
}

/** Best effort; a route already gone is fine. Returns a failure's message. */
export function removeHostRoute(host: RtnetlinkSocket, c: RouteVia, address: IPv6): string | undefined {
  return removeUnlessGone(() => deleteRoute(host, route(c, address)));
}
