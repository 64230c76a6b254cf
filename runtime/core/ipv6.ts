/**
 * IPv6 addresses as 16-byte Buffers: parsing, RFC 5952 text, and the few derived addresses
 * neighbour discovery needs. The plain hexadecimal forms (RFC 4291 §2.2, 1 and 2: all this code
 * writes, and nearly all it reads) are parsed here, and RFC 5952 text is written here; any other
 * text (an embedded IPv4 address, or no address at all) is `ip-address`'s to judge. It is loaded
 * only then: its start-up, 3–5 ms, was paid by every hook run (tests/unit/ipv6-text.test.ts checks
 * both ways against it).
 */
import type * as IpAddress from 'ip-address';
import { InputError } from './errors';

const ipAddress = (): typeof IpAddress => require('ip-address') as typeof IpAddress;
const HEX_FORM = /^[0-9A-Fa-f:]{2,39}$/;
const GROUP = /^[0-9A-Fa-f]{1,4}$/;

export type IPv6 = Buffer; // always 16 bytes

export const UNSPECIFIED: IPv6 = Buffer.alloc(16);
export const ALL_NODES: IPv6 = parseIPv6('ff02::1');
export const ALL_ROUTERS: IPv6 = parseIPv6('ff02::2');

/** Parse an IPv6 address (no prefix length, an optional %zone is ignored); throws InputError. */
export function parseIPv6(text: string, what = 'IPv6 address'): IPv6 {
  const bare = text.split('%')[0] ?? '';
  const plain = parseHexForm(bare);
  if (plain) return plain;
  const { Address6 } = ipAddress();
  if (bare.includes('/') || !Address6.isValid(bare)) {
    throw new InputError(`invalid ${what}: ${JSON.stringify(text)}`);
  }
  const bytes = new Address6(bare).toByteArray();
  const out = Buffer.alloc(16);
  Buffer.from(bytes).copy(out, 16 - bytes.length); // toByteArray drops leading zero bytes
  return out;
}

/** Parse "addr/len"; throws InputError. */
export function parsePrefix(text: string, what = 'IPv6 prefix'): { address: IPv6; length: number } {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const length = m ? Number(m[2]) : NaN;
  if (!m || !(length >= 0 && length <= 128)) throw new InputError(`invalid ${what}: ${JSON.stringify(text)}`);
  return { address: maskPrefix(parseIPv6(m[1] ?? '', what), length), length };
}

/**
 * The plain hexadecimal forms: eight groups of 1–4 hex digits, or fewer with one "::" standing for
 * at least one zero group (RFC 4291 §2.2). Anything else: undefined (not necessarily invalid).
 */
export function parseHexForm(text: string): IPv6 | undefined {
  if (!HEX_FORM.test(text)) return undefined;
  const gap = text.indexOf('::');
  if (gap !== text.lastIndexOf('::')) return undefined;
  const before = gap < 0 ? text.split(':') : text.slice(0, gap) === '' ? [] : text.slice(0, gap).split(':');
  const after = gap < 0 || text.slice(gap + 2) === '' ? [] : text.slice(gap + 2).split(':');
  if (gap < 0 ? before.length !== 8 : before.length + after.length > 7) return undefined;
  const out = Buffer.alloc(16);
  const groups = [...before.map((g, i) => ({ g, i })), ...after.map((g, i) => ({ g, i: 8 - after.length + i }))];
  for (const { g, i } of groups) {
    if (!GROUP.test(g)) return undefined;
    out.writeUInt16BE(parseInt(g, 16), i * 2);
  }
  return out;
}

/** RFC 5952 canonical text: lower case, no leading zeros, the first longest run of two or more zero groups as "::". */
export function formatIPv6(addr: Uint8Array): string {
  if (addr.length !== 16) throw new RangeError(`IPv6 address must be 16 bytes, got ${addr.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((addr[i] ?? 0) << 8) | (addr[i + 1] ?? 0));
  let run = -1;
  let runLength = 1; // §4.2.2: a single zero group is not shortened
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > runLength) [run, runLength] = [i, j - i]; // §4.2.3: the first of equally long runs
    i = Math.max(j, i + 1);
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  return run < 0 ? hex(groups) : `${hex(groups.slice(0, run))}::${hex(groups.slice(run + runLength))}`;
}

export function formatPrefix(addr: Uint8Array, length: number): string {
  return `${formatIPv6(addr)}/${length}`;
}

/** The first `length` bits of `addr`, the rest zero. */
export function maskPrefix(addr: Uint8Array, length: number): IPv6 {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, length - i * 8));
    out[i] = (addr[i] ?? 0) & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** RFC 4291 §2.7.1: ff02::1:ffXX:XXXX from the low 24 bits of the address. */
export function solicitedNode(addr: Uint8Array): IPv6 {
  const out = parseIPv6('ff02::1:ff00:0');
  out[13] = addr[13] ?? 0;
  out[14] = addr[14] ?? 0;
  out[15] = addr[15] ?? 0;
  return out;
}

export function isLinkLocal(addr: Uint8Array): boolean {
  return addr[0] === 0xfe && ((addr[1] ?? 0) & 0xc0) === 0x80;
}

export function isMulticast(addr: Uint8Array): boolean {
  return addr[0] === 0xff;
}

export function isUnspecified(addr: Uint8Array): boolean {
  return addr.every((b) => b === 0);
}

export function sameAddress(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** RFC 2464 §7: 33:33 plus the low 32 bits of a multicast address. */
export function multicastMac(addr: Uint8Array): Buffer {
  return Buffer.from([0x33, 0x33, addr[12] ?? 0, addr[13] ?? 0, addr[14] ?? 0, addr[15] ?? 0]);
}

export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(text: string): Buffer {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(text)) throw new InputError(`invalid MAC address: ${JSON.stringify(text)}`);
  return Buffer.from(text.split(':').map((h) => parseInt(h, 16)));
}
