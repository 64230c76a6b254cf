/**
 * Neighbour Discovery at one vantage point — the container's own link (macvlan, ipvlan l2), or the
 * parent in the host netns (ipvlan l3/l3s, whose slave hears no multicast): router discovery, DAD
 * probes and unsolicited announcements. The pipeline uses this interface; tests give it a fake.
 */
import type { DadResult } from '../../core/dad';
import type { IPv6 } from '../../core/ipv6';
import { ICMP6_NA, ICMP6_NS, ICMP6_RA } from '../../core/nd-types';
import type { NetnsRef } from '../kernel';
import { announceAddress } from './announce';
import { unusableReason } from '../../core/plan';
import { gatherAdvertisements, NdClient, type DiscoveredRouter } from './client';
import { detectDuplicate } from './dad-probe';
import { NdSocket } from './socket';

export type { DiscoveredRouter };

export interface NdVantage {
  netns: NetnsRef;
  ifname: string;
  ifindex: number;
  /** The link-layer address neighbours see for our addresses there (the TLLA we announce). */
  mac: Buffer | undefined;
}

export interface DiscoverOptions {
  /** RS source: a usable link-local address, or `::`. */
  source?: IPv6;
  retransmitSource?: IPv6;
  timeoutMs: number;
  retransmitMs?: number;
}

export interface NdPort {
  readonly vantage: NdVantage;
  /**
   * Solicit until an RA with a usable prefix comes, and resolve with it and every RA heard before
   * (`heard`, to be merged); RAs without one do not end the search (the RS goes out before this
   * returns). Rejects at the timeout, naming why each RA heard was unusable.
   */
  discover(opts: DiscoverOptions): Promise<DiscoveredRouter>;
  /**
   * One DAD run for `address` (its first NS goes out before this returns), RetransTimer
   * `retransMs` — or `retransLater`'s, once it resolves while the run still waits (an RA's).
   */
  probe(address: IPv6, retransMs: number, retransLater?: Promise<number>, asNeighbour?: { source: IPv6; mac: Buffer }): Promise<DadResult>;
  /** Unsolicited NA with Override for each address; throws when the socket cannot be opened. */
  announce(addresses: IPv6[]): void;
}

export function ndPort(vantage: NdVantage, dadTransmits: number): NdPort {
  const open = (types: number[]): NdSocket => NdSocket.open({ netns: vantage.netns, ifname: vantage.ifname, ifindex: vantage.ifindex, types });
  return {
    vantage,
    discover(opts) {
      const sock = open([ICMP6_RA]);
      const endsSolicitation = (ra: Parameters<typeof unusableReason>[0]): boolean => unusableReason(ra) === undefined;
      const client = new NdClient({ transport: sock, source: opts.source, retransmitSource: opts.retransmitSource, retransmitMs: opts.retransmitMs, endsSolicitation });
      return gatherAdvertisements(client, opts.timeoutMs, unusableReason).finally(() => sock.close());
    },
    probe(address, retransMs, retransLater, asNeighbour) {
      // A socket per probe: concurrent probes each listen on their own.
      const sock = open([ICMP6_NS, ICMP6_NA]);
      return detectDuplicate(sock, { target: address, transmits: dadTransmits, retransMs, retransLater, ...(asNeighbour ? { asNeighbour } : {}) }).finally(() => sock.close());
    },
    announce(addresses) {
      const mac = vantage.mac;
      if (!mac || addresses.length === 0) return;
      const sock = open([ICMP6_NA]);
      try {
        for (const a of addresses) announceAddress(sock, a, mac);
      } finally {
        sock.close();
      }
    },
  };
}
