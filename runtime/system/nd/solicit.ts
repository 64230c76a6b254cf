/**
 * One router solicitation on an interface and the first RA it brings (`rdisc6 IF`): what the
 * `ra` command shows and what the CNI plugin's STATUS asks of the parent.
 */
import { ICMP6_RA } from '../../core/nd-types';
import { openInterface, usableLinkLocal } from '../interface';
import type { Link } from '../rtnetlink/links';
import { NdClient, firstAdvertisement, type DiscoveredRouter } from './client';
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
