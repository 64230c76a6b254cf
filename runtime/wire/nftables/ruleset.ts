/**
 * The container's inbound policy as one nf_tables table (family inet), built from nothing in one
 * batch:
 *
 *   table inet T {
 *     set net_<network> { type ipv6_addr; elements = { ... } }      # one per policy.networks
 *     chain input { type filter hook input priority 0; policy accept;
 *       iifname "<ifname>" jump guard }
 *     chain guard {
 *       ct state established,related accept
 *       meta l4proto ipv6-icmp icmpv6 type 1-4 accept            # errors incl. packet-too-big (RFC 4890 §4.3.1)
 *       meta l4proto ipv6-icmp icmpv6 type 130-137 accept        # MLD, RS/RA/NS/NA/redirect
 *       meta l4proto ipv6-icmp icmpv6 type 143 accept            # MLDv2 report
 *       meta l4proto ipv6-icmp icmpv6 type 128 accept            # only when policy.echo
 *       meta nfproto ipv6 ip6 saddr & <mask> == <prefix> accept  # per policy.allowFrom
 *       meta nfproto ipv6 ip6 saddr @net_<network> accept        # per network
 *       meta l4proto <proto> th dport <from>-<to> accept         # per policy.expose
 *       counter drop comment "<tag>"
 *     }
 *   }
 *
 * Only traffic arriving on the container's interface goes through `guard`; loopback and other
 * interfaces are left alone. The expressions are the ones nft itself emits for these statements,
 * so `nft list table inet T` prints the rules back in nft's own words.
 */
import { parseIPv6 } from '../../core/ipv6';
import type { Policy } from '../../core/policy';
import {
  bitwiseExpr,
  be16,
  cmpExpr,
  counterExpr,
  ctExpr,
  flushSet,
  hostU32,
  ifnameValue,
  lookupExpr,
  metaExpr,
  newBaseChain,
  newChain,
  newRule,
  newSet,
  newSetElems,
  newTable,
  nftType,
  payloadExpr,
  verdictExpr,
  type Expr,
  type NftMessage,
} from './codec';
import {
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  NFPROTO_INET,
  NFPROTO_IPV6,
  NFT_CMP_EQ,
  NFT_CMP_GTE,
  NFT_CMP_LTE,
  NFT_CMP_NEQ,
  NFT_CT_STATE,
  NFT_JUMP,
  NFT_META_IIFNAME,
  NFT_META_L4PROTO,
  NFT_META_NFPROTO,
  NFT_MSG_NEWRULE,
  NFT_PAYLOAD_NETWORK_HEADER,
  NFT_PAYLOAD_TRANSPORT_HEADER,
  NFT_TYPE_IP6ADDR,
  NF_ACCEPT,
  NF_CT_STATE_ESTABLISHED_BIT,
  NF_CT_STATE_RELATED_BIT,
  NF_DROP,
  NF_INET_LOCAL_IN,
} from './constants';

export const INPUT_CHAIN = 'input';
export const GUARD_CHAIN = 'guard';

const PROTOCOLS = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, sctp: IPPROTO_SCTP } as const;
/** ip6 saddr: offset 8 of the IPv6 header (RFC 8200 §3), 16 bytes. */
const IP6_SADDR_OFFSET = 8;
/** th dport: offset 2 of the TCP/UDP/SCTP header. */
const TH_DPORT_OFFSET = 2;

/** The set holding a logical network's members. */
export function setName(network: string): string {
  return `net_${network}`;
}

const accept = (): Expr => verdictExpr(NF_ACCEPT);

/** meta l4proto ipv6-icmp + icmpv6 type from[-to]. */
function icmpv6Types(from: number, to: number): Expr[] {
  const type = [metaExpr(NFT_META_L4PROTO), cmpExpr(NFT_CMP_EQ, Buffer.from([IPPROTO_ICMPV6])), payloadExpr(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1)];
  if (from === to) return [...type, cmpExpr(NFT_CMP_EQ, Buffer.from([from]))];
  return [...type, cmpExpr(NFT_CMP_GTE, Buffer.from([from])), cmpExpr(NFT_CMP_LTE, Buffer.from([to]))];
}

/** meta nfproto ipv6 + ip6 saddr loaded into NFT_REG_1. */
function ip6Saddr(): Expr[] {
  return [metaExpr(NFT_META_NFPROTO), cmpExpr(NFT_CMP_EQ, Buffer.from([NFPROTO_IPV6])), payloadExpr(NFT_PAYLOAD_NETWORK_HEADER, IP6_SADDR_OFFSET, 16)];
}

/** The mask of a prefix length, 16 bytes. */
function prefixMask(length: number): Buffer {
  const mask = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, length - i * 8));
    mask[i] = (0xff << (8 - bits)) & 0xff;
  }
  return mask;
}

/**
 * Every message (unframed) that makes table `table` from nothing, in an order the kernel accepts
 * in one batch: table, sets and their elements, both chains, then rules (a jump needs its target
 * chain, a lookup its set). `members` maps a network name to its members' addresses (text);
 * `tag` becomes the comment of the final drop rule. Throws RangeError/InputError on bad input
 * (an interface name longer than IFNAMSIZ-1, an address that does not parse, a port out of range).
 * Equivalent to: `nft -f` of the table above, after `nft destroy table inet T`.
 */
export function policyRuleset(table: string, ifname: string, policy: Policy, members: Record<string, string[]>, tag: string): NftMessage[] {
  const f = NFPROTO_INET;
  const networks = [...new Set(policy.networks)];
  const out: NftMessage[] = [newTable(f, table)];
  networks.forEach((network, i) => {
    const name = setName(network);
    out.push(newSet({ family: f, table, name, id: i + 1, keyType: NFT_TYPE_IP6ADDR, keyLen: 16 }));
    out.push(...newSetElems(f, table, name, addressKeys(members[network] ?? []), i + 1));
  });
  out.push(newBaseChain({ family: f, table, name: INPUT_CHAIN, type: 'filter', hook: NF_INET_LOCAL_IN, priority: 0, policy: NF_ACCEPT }));
  out.push(newChain(f, table, GUARD_CHAIN));

  out.push(
    newRule(f, table, INPUT_CHAIN, [metaExpr(NFT_META_IIFNAME), cmpExpr(NFT_CMP_EQ, ifnameValue(ifname)), verdictExpr(NFT_JUMP, GUARD_CHAIN)], undefined, `NEWRULE input: iifname "${ifname}" jump guard`),
  );

  const guard = (what: string, exprs: Expr[], comment?: string): void => {
    out.push(newRule(f, table, GUARD_CHAIN, exprs, comment, `NEWRULE guard: ${what}`));
  };
  // ct state is a host-order u32 bitmask (NF_CT_STATE_BIT): mask, then "not zero", as nft does.
  guard('ct state established,related accept', [
    ctExpr(NFT_CT_STATE),
    bitwiseExpr(hostU32(NF_CT_STATE_ESTABLISHED_BIT | NF_CT_STATE_RELATED_BIT)),
    cmpExpr(NFT_CMP_NEQ, hostU32(0)),
    accept(),
  ]);
  // RFC 4890 §4.3.1: destination unreachable, packet too big, time exceeded, parameter problem.
  guard('icmpv6 type 1-4 accept', [...icmpv6Types(1, 4), accept()]);
  // MLD query/report/done (130-132), RS, RA, NS, NA (133-136), redirect (137): IPv6 itself.
  guard('icmpv6 type 130-137 accept', [...icmpv6Types(130, 137), accept()]);
  guard('icmpv6 type 143 accept', [...icmpv6Types(143, 143), accept()]); // MLDv2 report (RFC 3810)
  if (policy.echo) guard('icmpv6 type echo-request accept', [...icmpv6Types(128, 128), accept()]);

  for (const p of policy.allowFrom) {
    const mask = prefixMask(p.length);
    const prefix = Buffer.from(parseIPv6(p.prefix, 'allowed prefix').map((b, i) => b & (mask[i] ?? 0)));
    guard(`ip6 saddr ${p.prefix}/${p.length} accept`, [...ip6Saddr(), bitwiseExpr(mask), cmpExpr(NFT_CMP_EQ, prefix), accept()]);
  }
  networks.forEach((network, i) => {
    guard(`ip6 saddr @${setName(network)} accept`, [...ip6Saddr(), lookupExpr(setName(network), i + 1), accept()]);
  });
  for (const e of policy.expose) {
    if (!(e.from >= 0 && e.from <= e.to && e.to <= 0xffff)) throw new RangeError(`invalid port range ${e.proto}:${e.from}-${e.to}`);
    const l4 = [metaExpr(NFT_META_L4PROTO), cmpExpr(NFT_CMP_EQ, Buffer.from([PROTOCOLS[e.proto]])), payloadExpr(NFT_PAYLOAD_TRANSPORT_HEADER, TH_DPORT_OFFSET, 2)];
    // Ports are network order in the packet: big-endian data compares as numbers (memcmp).
    const ports = e.from === e.to ? [cmpExpr(NFT_CMP_EQ, be16(e.from))] : [cmpExpr(NFT_CMP_GTE, be16(e.from)), cmpExpr(NFT_CMP_LTE, be16(e.to))];
    guard(`${e.proto} dport ${e.from === e.to ? e.from : `${e.from}-${e.to}`} accept`, [...l4, ...ports, accept()]);
  }
  guard(`counter drop comment "${tag}"`, [counterExpr(), verdictExpr(NF_DROP)], tag);
  return out;
}

/** How many rules policyRuleset makes for `policy`, in both chains: what `check` expects to find. */
export function ruleCount(policy: Policy): number {
  return policyRuleset('t', 'lo', policy, {}, '').filter((m) => m.type === nftType(NFT_MSG_NEWRULE)).length;
}

/** Addresses as set keys, duplicates dropped (the kernel would refuse none, but why send them). */
function addressKeys(addresses: string[]): Buffer[] {
  const seen = new Map<string, Buffer>();
  for (const a of addresses) {
    const key = parseIPv6(a, 'network member address');
    seen.set(key.toString('hex'), key);
  }
  return [...seen.values()];
}

/**
 * The messages that replace the members of `network`'s set atomically (one batch): a flush
 * (DELSETELEM without elements) then NEWSETELEM of every address; no addresses, only the flush.
 * Equivalent to: `nft flush set inet T net_N; nft add element inet T net_N { a, b }` in one `nft -f`.
 */
export function membersUpdate(table: string, network: string, addresses: string[]): NftMessage[] {
  const name = setName(network);
  return [flushSet(NFPROTO_INET, table, name), ...newSetElems(NFPROTO_INET, table, name, addressKeys(addresses))];
}
