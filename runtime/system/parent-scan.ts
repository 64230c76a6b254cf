/**
 * Which of the host's NICs is the parent: the one on whose link a router advertises a prefix for
 * SLAAC (RFC 4862 §5.5.3: the A flag, and a /64 for our 64-bit interface identifiers). Each
 * candidate is asked with one Router Solicitation exchange (RFC 4861 §6.3.7: up to 3 RSs, the
 * first RA answers), all at once; nothing is configured on any of them.
 */
import { oneLine } from '../core/errors';
import { formatIPv6, formatPrefix } from '../core/ipv6';
import { selectPrefixes } from '../core/slaac';
import { IFF_LOOPBACK, IFF_UP } from '../wire/rtnetlink/constants';
import { RtnlKernel } from './kernel';
import { solicitRouter } from './nd/solicit';
import type { Link } from './rtnetlink/links';

/** Link kinds that are never a parent: slaves of another link (ours or anyone's), and tunnels. */
const NOT_PARENTS = new Set(['macvlan', 'macvtap', 'ipvlan', 'ipvtap', 'vxlan', 'ip6tnl', 'sit', 'gre', 'ip6gre', 'wireguard', 'tun', 'dummy']);

/** Why `link` is no parent, or undefined when it may be one. */
export function notAParent(link: Link): string | undefined {
  if (link.flags & IFF_LOOPBACK) return 'loopback';
  if (!(link.flags & IFF_UP)) return 'down';
  if (!link.mac || link.mac.length !== 6 || link.mac.every((b) => b === 0)) return 'no link-layer address';
  if (link.master !== undefined && link.master > 0) return 'a port of another link (bridge or bond)';
  if (link.kind && NOT_PARENTS.has(link.kind)) return `a ${link.kind} link`;
  return undefined;
}

/** The host's links, and which of them may be a parent (the rest with why not). */
export function hostLinks(): { link: Link; excluded?: string }[] {
  const host = RtnlKernel.host();
  try {
    return host.listLinks().map((link) => {
      const why = notAParent(link);
      return why ? { link, excluded: why } : { link };
    });
  } finally {
    host.close();
  }
}

export interface Heard {
  name: string;
  /** The router that answered (its link-local address), when one did. */
  router?: string;
  /** Its autonomous /64 prefixes: a parent has at least one. */
  prefixes: string[];
  /** Why this NIC is no parent: no RA in time, or an RA with no usable /64. */
  why?: string;
}

/** One solicitation exchange on each of `names` at once, each within `timeoutMs`. */
export async function listenForRouters(names: readonly string[], timeoutMs: number): Promise<Heard[]> {
  return Promise.all(
    names.map(async (name): Promise<Heard> => {
      try {
        const found = await solicitRouter(name, undefined, timeoutMs);
        const { usable, ignored } = selectPrefixes(found.advertisement.options);
        const prefixes = usable.filter((p) => p.prefixLength === 64).map((p) => formatPrefix(p.prefix, p.prefixLength));
        const router = formatIPv6(found.router);
        if (prefixes.length) return { name, router, prefixes };
        const also = ignored.map((i) => `${i.prefix}: ${i.reason}`).join('; ');
        return { name, router, prefixes, why: `the RA of ${router} has no autonomous /64${also ? ` (${also})` : ''}` };
      } catch (err) {
        return { name, prefixes: [], why: oneLine(err) };
      }
    }),
  );
}
