/** Subscriptions to rtnetlink multicast groups, delivered on the event loop. */
import { native } from '../native';
import type { NetnsHandle } from '../netns';
import { decodeAddressEvents, type AddressEvent } from './addresses';
import { RTNLGRP_IPV6_IFADDR } from '../../wire/rtnetlink/constants';
import { RtnetlinkSocket } from './socket';

export interface Subscription {
  close(): void;
}

/** Call `onEvents` with every IPv6 address added or removed in `netns` until closed. */
export function watchAddresses(netns: NetnsHandle | undefined, onEvents: (events: AddressEvent[]) => void): Subscription {
  const sock = RtnetlinkSocket.open(netns, { nonBlocking: true });
  const addon = native();
  try {
    sock.joinGroup(RTNLGRP_IPV6_IFADDR);
  } catch (err) {
    sock.close();
    throw err;
  }
  const handle = addon.watch(sock.fd, addon.constants.UV_READABLE, () => {
    const events = decodeAddressEvents(sock.readPending());
    if (events.length) onEvents(events);
  });
  return {
    close: () => {
      addon.unwatch(handle);
      sock.close();
    },
  };
}
