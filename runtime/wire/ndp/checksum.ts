/**
 * ICMPv6 checksum over the IPv6 pseudo-header, and the fixed IPv6 header for sending through an
 * IPV6_HDRINCL raw socket (a DAD Neighbor Solicitation from `::`).
 */
import type { IPv6 } from '../../core/ipv6';

/** IPv6 next-header value for ICMPv6 (RFC 4443 §1). */
export const NEXT_HEADER_ICMPV6 = 58;

const IPV6_HEADER_LENGTH = 40;

function requireAddress(addr: Uint8Array, what: string): void {
  if (addr.length !== 16) throw new RangeError(`${what} must be 16 bytes, got ${addr.length}`);
}

/** Adds the big-endian 16-bit words of `bytes` to `sum` (an odd last byte is padded with zero). */
function addWords(sum: number, bytes: Uint8Array): number {
  let total = sum;
  for (let i = 0; i < bytes.length; i += 2) {
    total += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  }
  return total;
}

/** Folds carries back into 16 bits (one's-complement addition). */
function fold(sum: number): number {
  let total = sum;
  while (total > 0xffff) total = (total & 0xffff) + Math.floor(total / 0x10000);
  return total;
}

/**
 * Sum (carries not yet folded) of the 16-bit words of the RFC 8200 §8.1 pseudo-header (source,
 * destination, 32-bit upper-layer length, three zero bytes, next header 58) and of `icmp` with its
 * checksum field as stored.
 */
function pseudoHeaderSum(source: IPv6, destination: IPv6, icmp: Uint8Array): number {
  requireAddress(source, 'source address');
  requireAddress(destination, 'destination address');
  let sum = addWords(0, source);
  sum = addWords(sum, destination);
  sum += Math.floor(icmp.length / 0x10000) + (icmp.length & 0xffff);
  sum += NEXT_HEADER_ICMPV6;
  return addWords(sum, icmp);
}

/** The checksum field of an ICMPv6 message (offset 2), or 0 if the message is too short for one. */
function storedChecksum(icmp: Uint8Array): number {
  return icmp.length >= 4 ? (((icmp[2] ?? 0) << 8) | (icmp[3] ?? 0)) : 0;
}

/**
 * The ICMPv6 checksum to store at offset 2 (RFC 4443 §2.3): the one's complement of the
 * one's-complement sum of pseudo-header and message, computed with the checksum field as zero.
 */
export function icmp6Checksum(source: IPv6, destination: IPv6, icmp: Uint8Array): number {
  return ~fold(pseudoHeaderSum(source, destination, icmp) - storedChecksum(icmp)) & 0xffff;
}

/** True if the stored checksum is right: the sum over pseudo-header and message folds to 0xffff. */
export function verifyIcmp6Checksum(source: IPv6, destination: IPv6, icmp: Uint8Array): boolean {
  return fold(pseudoHeaderSum(source, destination, icmp)) === 0xffff;
}

/** The 40-byte fixed IPv6 header (RFC 8200 §3): version 6, traffic class 0, flow label 0. */
export function ipv6Header(
  source: IPv6,
  destination: IPv6,
  payloadLength: number,
  nextHeader: number,
  hopLimit: number,
): Buffer {
  requireAddress(source, 'source address');
  requireAddress(destination, 'destination address');
  const header = Buffer.alloc(IPV6_HEADER_LENGTH);
  header[0] = 0x60;
  header.writeUInt16BE(payloadLength, 4);
  header.writeUInt8(nextHeader, 6);
  header.writeUInt8(hopLimit, 7);
  Buffer.from(source).copy(header, 8);
  Buffer.from(destination).copy(header, 24);
  return header;
}
