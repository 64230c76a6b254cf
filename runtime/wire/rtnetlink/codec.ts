/**
 * Netlink message and attribute wire format (RFC 3549, linux/netlink.h): 16-byte headers,
 * 4-byte aligned TLV attributes, nesting. Host byte order (little-endian on every target we run on).
 */
import { NLMSG_HDRLEN } from './constants';

export interface NetlinkHeader {
  length: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

export interface NetlinkMessage extends NetlinkHeader {
  /** The bytes after the header (family header + attributes). */
  payload: Buffer;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** One attribute; `value` is raw bytes, or nested attributes. */
export type Attr = { type: number; value: Buffer } | { type: number; nested: Attr[] };

export function attrU8(type: number, v: number): Attr {
  return { type, value: Buffer.from([v]) };
}
export function attrU16(type: number, v: number): Attr {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return { type, value: b };
}
export function attrU32(type: number, v: number): Attr {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return { type, value: b };
}
export function attrString(type: number, s: string): Attr {
  return { type, value: Buffer.from(`${s}\0`, 'utf8') };
}
export function attrNested(type: number, nested: Attr[]): Attr {
  return { type, nested };
}

export function encodeAttrs(attrs: Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    const value = 'nested' in a ? encodeAttrs(a.nested) : a.value;
    const head = Buffer.alloc(4);
    head.writeUInt16LE(4 + value.length, 0);
    head.writeUInt16LE(a.type, 2);
    parts.push(head, value, Buffer.alloc(align4(value.length) - value.length));
  }
  return Buffer.concat(parts);
}

/** Attributes by type (last one wins; the kernel never repeats the ones we read). */
export function decodeAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & 0x3fff; // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
    if (len < 4 || off + len > buf.length) break;
    out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export function encodeMessage(header: Omit<NetlinkHeader, 'length'>, payload: Buffer): Buffer {
  const out = Buffer.alloc(NLMSG_HDRLEN + payload.length);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(header.type, 4);
  out.writeUInt16LE(header.flags, 6);
  out.writeUInt32LE(header.seq >>> 0, 8);
  out.writeUInt32LE(header.pid >>> 0, 12);
  payload.copy(out, NLMSG_HDRLEN);
  return out;
}

/** Split one datagram into messages; a truncated trailing message is dropped. */
export function decodeMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const length = buf.readUInt32LE(off);
    if (length < NLMSG_HDRLEN || off + length > buf.length) break;
    out.push({
      length,
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + length),
    });
    off += align4(length);
  }
  return out;
}

export function cString(buf: Buffer | undefined): string | undefined {
  if (!buf) return undefined;
  const nul = buf.indexOf(0);
  return buf.toString('utf8', 0, nul < 0 ? buf.length : nul);
}
