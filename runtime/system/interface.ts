/** An interface by name inside a network namespace: its index, MAC and usable link-local address. */
import { InputError } from '../core/errors';
import { isLinkLocal, type IPv6 } from '../core/ipv6';
import { NetnsHandle } from './netns';
import { listAddresses, type AddressEntry } from './rtnetlink/addresses';
import { IFA_F_DADFAILED, IFA_F_TENTATIVE } from '../wire/rtnetlink/constants';
import { findLink, type Link } from './rtnetlink/links';
import { RtnetlinkSocket } from './rtnetlink/socket';

export interface OpenInterface {
  netns: NetnsHandle;
  rtnl: RtnetlinkSocket;
  link: Link;
  close(): void;
}

/** Open `ifname` in the netns at `netnsPath` (this process's own when omitted). */
export function openInterface(ifname: string, netnsPath?: string): OpenInterface {
  const netns = netnsPath ? NetnsHandle.open(netnsPath) : NetnsHandle.current();
  let rtnl: RtnetlinkSocket | undefined;
  try {
    rtnl = RtnetlinkSocket.open(netns);
    const link = findLink(rtnl, ifname);
    if (!link) throw new InputError(`no interface ${JSON.stringify(ifname)} in ${netnsPath ? `network namespace ${netnsPath}` : 'this network namespace'}`);
    const sock = rtnl;
    return {
      netns,
      rtnl: sock,
      link,
      close: () => {
        sock.close();
        netns.close();
      },
    };
  } catch (err) {
    rtnl?.close();
    netns.close();
    throw err;
  }
}

/** Of a link's addresses, a link-local one that may be used as a source (not tentative, not failed). */
export function firstUsableLinkLocal(addresses: AddressEntry[]): IPv6 | undefined {
  return addresses.find((a) => isLinkLocal(a.address) && !(a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)))?.address;
}

/** A link-local address of the link that may be used as a source (not tentative, not failed). */
export function usableLinkLocal(rtnl: RtnetlinkSocket, index: number): IPv6 | undefined {
  return firstUsableLinkLocal(listAddresses(rtnl, index));
}
