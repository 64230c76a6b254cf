/**
 * A raw ICMPv6 socket for neighbour discovery, opened inside a chosen network namespace and tied
 * to one interface. We send whole IPv6 packets (IPV6_HDRINCL) so that the source address is
 * exactly ours to choose — `::` for DAD and for an RS before a link-local exists — and receive
 * ND messages with their hop limit, destination and interface from ancillary data, so RFC 4861's
 * validity checks can be applied.
 */
import { formatIPv6, isUnspecified, type IPv6 } from '../../core/ipv6';
import { bootNow } from '../clock';
import { AF_INET6, IPPROTO_ICMPV6, IPPROTO_IPV6, SOCK_RAW, SOL_SOCKET, SO_BINDTODEVICE, native } from '../native';
import type { NetnsHandle } from '../netns';
import { icmp6Checksum, ipv6Header } from '../../wire/ndp/checksum';
import { decodeNd, encodeNd } from '../../wire/ndp/codec';
import type { DecodeResult, NdMessage, ReceivedMeta } from '../../core/nd-types';

const IPV6_UNICAST_HOPS = 16;
const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
const IPV6_ADD_MEMBERSHIP = 20;
const IPV6_HDRINCL = 36;
const IPV6_RECVPKTINFO = 49;
const IPV6_PKTINFO = 50;
const IPV6_RECVHOPLIMIT = 51;
const IPV6_HOPLIMIT = 52;
/** Linux (since 4.10): recvmsg says, with this control message, when a packet was reassembled. */
const IPV6_RECVFRAGSIZE = 77;
const ICMP6_FILTER = 1;
const ND_HOP_LIMIT = 255;

export interface ReceivedNd {
  meta: ReceivedMeta;
  result: DecodeResult;
  /** Monotonic receive time, ms (performance.now()). */
  at: number;
  /** Receive time on CLOCK_BOOTTIME, ms (clock.ts): what lifetimes are counted from. */
  bootAt: number;
}

export function sockaddrIn6(address: IPv6, scopeId: number): Buffer {
  const sa = Buffer.alloc(28);
  sa.writeUInt16LE(AF_INET6, 0);
  address.copy(sa, 8);
  sa.writeUInt32LE(scopeId, 24);
  return sa;
}

/** Pass only the given ICMPv6 types (ICMP6_FILTER: a set bit blocks the type). */
function icmp6Filter(types: number[]): Buffer {
  const f = Buffer.alloc(32, 0xff);
  for (const t of types) {
    const word = (t >> 5) * 4;
    f.writeUInt32LE((f.readUInt32LE(word) & ~(1 << (t & 31))) >>> 0, word);
  }
  return f;
}

export class NdSocket {
  private watch: ReturnType<ReturnType<typeof native>['watch']> | undefined;
  private closed = false;

  private constructor(
    readonly fd: number,
    readonly ifindex: number,
    readonly ifname: string,
  ) {}

  /**
   * Open in `netns` (current when undefined), bound to `ifname`/`ifindex`, receiving `types`
   * (ICMPv6 type numbers) only.
   */
  static open(opts: { netns?: Pick<NetnsHandle, 'fd'>; ifname: string; ifindex: number; types: number[] }): NdSocket {
    const addon = native();
    const fd = addon.socketat(opts.netns?.fd ?? -1, AF_INET6, SOCK_RAW | addon.constants.SOCK_NONBLOCK, IPPROTO_ICMPV6);
    try {
      addon.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, Buffer.from(`${opts.ifname}\0`));
      addon.setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, icmp6Filter(opts.types));
      addon.setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
      addon.setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
      addon.setsockopt(fd, IPPROTO_IPV6, IPV6_RECVFRAGSIZE, 1); // RFC 6980: fragments are dropped (codec)
      addon.setsockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL, 1);
      addon.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
      addon.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ND_HOP_LIMIT);
      addon.setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ND_HOP_LIMIT);
      addon.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, opts.ifindex);
    } catch (err) {
      addon.close(fd);
      throw err;
    }
    return new NdSocket(fd, opts.ifindex, opts.ifname);
  }

  /** Join a multicast group on our interface (e.g. a solicited-node group for DAD). */
  joinGroup(group: IPv6): void {
    const mreq = Buffer.alloc(20);
    group.copy(mreq, 0);
    mreq.writeUInt32LE(this.ifindex, 16);
    native().setsockopt(this.fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, mreq);
  }

  /** Send an ND message from `source` to `destination`, hop limit 255, checksum computed here. */
  send(message: NdMessage, source: IPv6, destination: IPv6): Buffer {
    const icmp = encodeNd(message);
    icmp.writeUInt16BE(icmp6Checksum(source, destination, icmp), 2);
    const packet = Buffer.concat([ipv6Header(source, destination, icmp.length, IPPROTO_ICMPV6, ND_HOP_LIMIT), icmp]);
    native().sendmsg(this.fd, packet, sockaddrIn6(destination, this.ifindex), null, 0);
    return icmp;
  }

  /** Every datagram queued now, decoded and validated (never throws on bad packets). */
  drain(): ReceivedNd[] {
    const addon = native();
    const out: ReceivedNd[] = [];
    for (;;) {
      const got = addon.recvmsg(this.fd, 65536, addon.constants.MSG_TRUNC);
      if (!got) return out;
      const meta: ReceivedMeta = {
        source: Buffer.from(got.name.subarray(8, 24)),
        destination: Buffer.alloc(16),
        hopLimit: -1,
        ifindex: got.name.length >= 28 ? got.name.readUInt32LE(24) : 0,
      };
      for (const c of got.control) {
        if (c.level !== IPPROTO_IPV6) continue;
        if (c.type === IPV6_HOPLIMIT && c.data.length >= 4) meta.hopLimit = c.data.readInt32LE(0);
        if (c.type === IPV6_PKTINFO && c.data.length >= 20) {
          meta.destination = Buffer.from(c.data.subarray(0, 16));
          meta.ifindex = c.data.readUInt32LE(16);
        }
        if (c.type === IPV6_RECVFRAGSIZE && c.data.length >= 4) meta.fragmentSize = c.data.readInt32LE(0);
      }
      const result: DecodeResult =
        meta.ifindex !== this.ifindex
          ? { ok: false, reason: `arrived on interface ${meta.ifindex}, not ${this.ifindex}` }
          : got.flags & addon.constants.MSG_TRUNC
            ? { ok: false, reason: `truncated datagram of ${got.length} bytes` }
            : decodeNd(got.data, meta);
      out.push({ meta, result, at: performance.now(), bootAt: bootNow() });
    }
  }

  /** Call `onPackets` whenever datagrams arrive, until stopListening() or close(). */
  listen(onPackets: (packets: ReceivedNd[]) => void): void {
    this.stopListening();
    const addon = native();
    const pending = this.drain();
    if (pending.length) queueMicrotask(() => onPackets(pending));
    this.watch = addon.watch(this.fd, addon.constants.UV_READABLE, () => {
      const packets = this.drain();
      if (packets.length) onPackets(packets);
    });
  }

  stopListening(): void {
    if (this.watch) native().unwatch(this.watch);
    this.watch = undefined;
  }

  close(): void {
    if (this.closed) return;
    this.stopListening();
    native().close(this.fd);
    this.closed = true;
  }
}

/**
 * Send errors that mean "this link is not ready for IPv6 yet" (just brought up: no carrier yet,
 * or the kernel has not yet set up its multicast route): worth retrying shortly.
 */
export function isLinkNotReady(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EADDRNOTAVAIL' || code === 'ENETUNREACH' || code === 'ENETDOWN';
}

export const LINK_NOT_READY_RETRY_MS = 20;

export function describeSource(meta: ReceivedMeta): string {
  return isUnspecified(meta.source) ? '::' : formatIPv6(meta.source);
}
