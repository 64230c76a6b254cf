/** IPv6 addresses: add (with IFA_FLAGS and lifetimes), replace lifetimes, delete, list, watch. */
import { formatIPv6, type IPv6 } from '../../core/ipv6';
import { attrU32, decodeAttrs, encodeAttrs, type Attr, type NetlinkMessage } from '../../wire/rtnetlink/codec';
import {
  AF_INET6,
  IFA_ADDRESS,
  IFA_CACHEINFO,
  IFA_FLAGS,
  IFA_LOCAL,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
} from '../../wire/rtnetlink/constants';
import type { RtnetlinkSocket } from './socket';
import { INFINITE_LIFETIME } from '../../core/lifetime';

export interface AddressEntry {
  index: number;
  address: IPv6;
  prefixLength: number;
  flags: number; // IFA_F_*
  scope: number;
  /** Seconds left, INFINITE_LIFETIME for forever. */
  validLifetime: number;
  preferredLifetime: number;
}

export interface AddressSpec {
  index: number;
  address: IPv6;
  prefixLength: number;
  /** IFA_F_* (NODAD, OPTIMISTIC, NOPREFIXROUTE, ...). */
  flags?: number;
  /** Seconds; omitted = forever. */
  validLifetime?: number;
  preferredLifetime?: number;
}

function ifaddrmsg(index: number, prefixLength: number, flags: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(AF_INET6, 0);
  b.writeUInt8(prefixLength, 1);
  b.writeUInt8(flags & 0xff, 2);
  b.writeUInt32LE(index, 4);
  return b;
}

function addressPayload(spec: AddressSpec): Buffer {
  const flags = spec.flags ?? 0;
  const attrs: Attr[] = [{ type: IFA_ADDRESS, value: spec.address }, attrU32(IFA_FLAGS, flags)];
  if (spec.validLifetime !== undefined || spec.preferredLifetime !== undefined) {
    const ci = Buffer.alloc(16);
    ci.writeUInt32LE((spec.preferredLifetime ?? INFINITE_LIFETIME) >>> 0, 0);
    ci.writeUInt32LE((spec.validLifetime ?? INFINITE_LIFETIME) >>> 0, 4);
    attrs.push({ type: IFA_CACHEINFO, value: ci });
  }
  return Buffer.concat([ifaddrmsg(spec.index, spec.prefixLength, flags), encodeAttrs(attrs)]);
}

const describe = (verb: string, spec: { address: IPv6; prefixLength: number; index: number }): string =>
  `${verb} address ${formatIPv6(spec.address)}/${spec.prefixLength} on link ${spec.index}`;

/** Add a new address; EEXIST if it is already there. */
export function addAddress(sock: RtnetlinkSocket, spec: AddressSpec): void {
  sock.request(describe('add', spec), RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, addressPayload(spec));
}

/** Add or update an address in place (lifetimes, flags). */
export function replaceAddress(sock: RtnetlinkSocket, spec: AddressSpec): void {
  sock.request(describe('replace', spec), RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, addressPayload(spec));
}

export function deleteAddress(sock: RtnetlinkSocket, spec: { index: number; address: IPv6; prefixLength: number }): void {
  sock.request(describe('delete', spec), RTM_DELADDR, 0, addressPayload(spec));
}

export function decodeAddress(m: NetlinkMessage): AddressEntry | undefined {
  const p = m.payload;
  if (p.length < 8 || p.readUInt8(0) !== AF_INET6) return undefined;
  const attrs = decodeAttrs(p.subarray(8));
  const address = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS);
  if (!address || address.length !== 16) return undefined;
  const ci = attrs.get(IFA_CACHEINFO);
  return {
    index: p.readUInt32LE(4),
    address: Buffer.from(address),
    prefixLength: p.readUInt8(1),
    flags: attrs.get(IFA_FLAGS)?.readUInt32LE(0) ?? p.readUInt8(2),
    scope: p.readUInt8(3),
    preferredLifetime: ci ? ci.readUInt32LE(0) : INFINITE_LIFETIME,
    validLifetime: ci ? ci.readUInt32LE(4) : INFINITE_LIFETIME,
  };
}

/** IPv6 addresses in the socket's namespace, optionally of one link. */
export function listAddresses(sock: RtnetlinkSocket, index?: number): AddressEntry[] {
  return sock
    .dump('list addresses', RTM_GETADDR, ifaddrmsg(index ?? 0, 0, 0), RTM_NEWADDR)
    .map(decodeAddress)
    .filter((a): a is AddressEntry => a !== undefined && (index === undefined || a.index === index));
}

export type AddressEvent = { kind: 'new' | 'del'; entry: AddressEntry };

/** Address events from a socket that joined RTNLGRP_IPV6_IFADDR. */
export function decodeAddressEvents(messages: NetlinkMessage[]): AddressEvent[] {
  const out: AddressEvent[] = [];
  for (const m of messages) {
    if (m.type !== RTM_NEWADDR && m.type !== RTM_DELADDR) continue;
    const entry = decodeAddress(m);
    if (entry) out.push({ kind: m.type === RTM_NEWADDR ? 'new' : 'del', entry });
  }
  return out;
}
