/**
 * ND on an interface named by the operator, each opened and closed around one exchange: one
 * router solicitation and the first RA it brings (`rdisc6 IF`: the `ra` command, `doctor`, the CNI
 * plugin's STATUS), and one DAD run for an address (the `dad` command, `doctor`).
 */
import type { DadResult } from '../../core/dad';
import type { IPv6 } from '../../core/ipv6';
import { ICMP6_NA, ICMP6_NS, ICMP6_RA } from '../../core/nd-types';
import { openInterface, usableLinkLocal } from '../interface';
import type { Link } from '../rtnetlink/links';
import { NdClient, firstAdvertisement, type DiscoveredRouter } from './client';
import { detectDuplicate, type DadOptions } from './dad-probe';
import { NdSocket } from './socket';

/** The first RA heard on `ifname` (in the netns at `netnsPath`, else ours) within `timeoutMs`; a TimeoutError without one. */
export async function solicitRouter(ifname: string, netnsPath: string | undefined, timeoutMs: number): Promise<DiscoveredRouter & { link: Link }> {
  const iface = openInterface(ifname, netnsPath);
  try {
    const sock = NdSocket.open({ netns: iface.netns, ifname: iface.link.name, ifindex: iface.link.index, types: [ICMP6_RA] });
    try {
      const source = usableLinkLocal(iface.rtnl, iface.link.index);
      const found = await firstAdvertisement(new NdClient({ transport: sock, source, mac: iface.link.mac, retransmitMs: 1000 }), timeoutMs);
      return { ...found, link: iface.link };
    } finally {
      sock.close();
    }
  } finally {
    iface.close();
  }
}

/** One DAD run for `opts.target` on `ifname` (in the netns at `netnsPath`, else ours). */
export async function probeAddress(ifname: string, netnsPath: string | undefined, opts: DadOptions & { target: IPv6 }): Promise<DadResult & { link: Link }> {
  const iface = openInterface(ifname, netnsPath);
  try {
    const sock = NdSocket.open({ netns: iface.netns, ifname: iface.link.name, ifindex: iface.link.index, types: [ICMP6_NS, ICMP6_NA] });
    try {
      return { ...(await detectDuplicate(sock, opts)), link: iface.link };
    } finally {
      sock.close();
    }
  } finally {
    iface.close();
  }
}
