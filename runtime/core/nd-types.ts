/**
 * Neighbour Discovery messages (RFC 4861) and the options this project understands, as plain
 * data. The codec (`codec.ts`) turns these into ICMPv6 bytes and back.
 */
import type { IPv6 } from './ipv6';

export const ICMP6_RS = 133;
export const ICMP6_RA = 134;
export const ICMP6_NS = 135;
export const ICMP6_NA = 136;

/** RFC 4191 §2.1 router / route preference. 'reserved' (binary 10) is treated as medium by receivers. */
export type Preference = 'high' | 'medium' | 'low' | 'reserved';

/** Prefix Information option (type 3, RFC 4861 §4.6.2). Lifetimes in seconds, 0xffffffff = infinity. */
export interface PrefixInformation {
  prefix: IPv6;
  prefixLength: number;
  onLink: boolean; // L
  autonomous: boolean; // A
  routerAddress: boolean; // R (RFC 6275)
  validLifetime: number;
  preferredLifetime: number;
}

/** Route Information option (type 24, RFC 4191 §2.3). */
export interface RouteInformation {
  prefix: IPv6;
  prefixLength: number;
  preference: Preference;
  lifetime: number;
}

/** Recursive DNS Server option (type 25, RFC 8106 §5.1). */
export interface RecursiveDnsServers {
  lifetime: number;
  servers: IPv6[];
}

/** DNS Search List option (type 31, RFC 8106 §5.2). Domains without the trailing dot. */
export interface DnsSearchList {
  lifetime: number;
  domains: string[];
}

export type NdOption =
  | { type: 'source-link-layer-address'; address: Buffer }
  | { type: 'target-link-layer-address'; address: Buffer }
  | ({ type: 'prefix-information' } & PrefixInformation)
  | { type: 'mtu'; mtu: number }
  | ({ type: 'route-information' } & RouteInformation)
  | ({ type: 'rdnss' } & RecursiveDnsServers)
  | ({ type: 'dnssl' } & DnsSearchList)
  | { type: 'nonce'; nonce: Buffer }
  | { type: 'unknown'; code: number; data: Buffer };

export interface RouterSolicitation {
  type: 'router-solicitation';
  options: NdOption[];
}

export interface RouterAdvertisement {
  type: 'router-advertisement';
  curHopLimit: number; // 0 = unspecified
  managed: boolean; // M
  other: boolean; // O
  homeAgent: boolean; // H (RFC 6275)
  preference: Preference; // Prf (RFC 4191)
  proxy: boolean; // P (RFC 4389)
  routerLifetime: number; // seconds, 0 = not a default router
  reachableTime: number; // ms, 0 = unspecified
  retransTimer: number; // ms, 0 = unspecified
  options: NdOption[];
}

export interface NeighborSolicitation {
  type: 'neighbor-solicitation';
  target: IPv6;
  options: NdOption[];
}

export interface NeighborAdvertisement {
  type: 'neighbor-advertisement';
  router: boolean; // R
  solicited: boolean; // S
  override: boolean; // O
  target: IPv6;
  options: NdOption[];
}

export type NdMessage = RouterSolicitation | RouterAdvertisement | NeighborSolicitation | NeighborAdvertisement;

/** What the IPv6 layer told us about a received packet (from recvmsg and its ancillary data). */
export interface ReceivedMeta {
  source: IPv6;
  destination: IPv6;
  /** Hop limit from IPV6_HOPLIMIT; RFC 4861 requires 255 for every ND message. */
  hopLimit: number;
  /** Receiving interface index, from IPV6_PKTINFO. */
  ifindex: number;
  /**
   * Set when the kernel reassembled the packet from fragments (or it carried a fragment header):
   * the largest fragment's size, from the IPV6_RECVFRAGSIZE control message. RFC 6980 §5: such
   * an ND message is silently ignored.
   */
  fragmentSize?: number;
}

/** A decode never throws: it gives the message, or the reason it was dropped. */
export type DecodeResult =
  | { ok: true; message: NdMessage; ignoredOptions: string[] }
  | { ok: false; reason: string };
