/**
 * What a Router Advertisement may give a container: an address prefix, a route's destination or a
 * DNS server must be a unicast address that means something beyond this node and this link.
 * RFC 4291 §2.4 names the address types; RFC 6890 and IANA's IPv6 Special-Purpose Address
 * Registry say which ranges are never forwarded. An RA carrying one is not trusted blindly (RFC
 * 4861 §6.3.4 leaves the host to judge the options): the option is ignored, with the reason.
 */
import { formatPrefix, maskPrefix, parseIPv6, type IPv6 } from './ipv6';

interface Range {
  prefix: IPv6;
  length: number;
  /** What it is, with the RFC that says so. */
  what: string;
}

const range = (text: string, length: number, what: string): Range => ({ prefix: parseIPv6(text), length, what });

/**
 * Never a destination: not a route's, not a DNS server's. Most specific first, so that the reason
 * names the narrowest range.
 */
const NOT_A_DESTINATION: readonly Range[] = [
  range('::', 128, 'the unspecified address (RFC 4291 §2.5.2)'),
  range('::1', 128, 'the loopback address (RFC 4291 §2.5.3)'),
  range('::ffff:0:0', 96, 'IPv4-mapped (RFC 4291 §2.5.5.2, not forwarded per RFC 6890)'),
  range('::', 96, 'IPv4-compatible, deprecated (RFC 4291 §2.5.5.1)'),
  range('fe80::', 10, 'link-local (RFC 4291 §2.5.6: never forwarded, and no zone to reach it by)'),
  range('ff00::', 8, 'multicast (RFC 4291 §2.7)'),
];

/**
 * Never a prefix a host forms its own address in (RFC 4862 §5.5.3), besides the above: ranges
 * that are reserved, or whose addresses are made by another protocol or embed something else.
 */
const NOT_FOR_ADDRESSES: readonly Range[] = [
  range('64:ff9b::', 96, 'the IPv4/IPv6 translation prefix (RFC 6052)'),
  range('64:ff9b:1::', 48, 'the local-use IPv4/IPv6 translation prefix (RFC 8215)'),
  range('::', 8, 'reserved by the IETF (RFC 4291 §2.4)'),
  range('100::', 64, 'discard-only (RFC 6666)'),
  range('2001::', 32, 'Teredo (RFC 4380: its addresses are made by Teredo)'),
  range('2001:10::', 28, 'ORCHID, deprecated (RFC 4843)'),
  range('2001:20::', 28, 'ORCHIDv2 identifiers, not routable (RFC 7343)'),
];

/** True when prefix/length lies inside `r` (a shorter prefix covering `r` is not inside it). */
function inside(prefix: IPv6, length: number, r: Range): boolean {
  return length >= r.length && maskPrefix(prefix, r.length).equals(r.prefix);
}

function firstMatch(ranges: readonly Range[], prefix: IPv6, length: number): string | undefined {
  const r = ranges.find((x) => inside(prefix, length, x));
  return r && `${formatPrefix(r.prefix, r.length)} is ${r.what}`;
}

/**
 * Why prefix/length is no route destination (a Route Information option, an on-link prefix), or
 * undefined when it is one. ::/0 is none of these: RFC 4191 §2.3 allows a default route there.
 */
export function notADestination(prefix: IPv6, length: number): string | undefined {
  return firstMatch(NOT_A_DESTINATION, prefix, length);
}

/** Why `server` is no DNS server to use (RFC 8106 §5.1 asks for unicast addresses), or undefined. */
export function notAServer(server: IPv6): string | undefined {
  return firstMatch(NOT_A_DESTINATION, server, 128);
}

/** Why no address may be formed in prefix/length (RFC 4862 §5.5.3), or undefined. */
export function notForAddresses(prefix: IPv6, length: number): string | undefined {
  return firstMatch(NOT_A_DESTINATION, prefix, length) ?? firstMatch(NOT_FOR_ADDRESSES, prefix, length);
}
