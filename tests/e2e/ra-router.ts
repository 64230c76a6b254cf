// A scripted router for the lab (issue 10's RA tests): in the lab router's netns, it hears each
// Router Solicitation (on an NdSocket) and answers with the RAs a test scripts — any content,
// after any delay, from any of the router's link-local addresses — sent on a plain raw ICMPv6
// socket (no IPV6_HDRINCL), so that the kernel builds the IPv6 header, computes the checksum and
// fragments an RA larger than the link MTU, as a real router's stack would (RFC 6980 is about
// exactly those). radvd, the lab's own router, must be stopped first (stopRadvd): it would
// answer too. Also: an NS to any target, and the NAs that come back (the link-local DAD test).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ALL_NODES, parseIPv6, solicitedNode, type IPv6 } from '../../runtime/core/ipv6';
import { ICMP6_NA, ICMP6_RS, type NdMessage, type NeighborAdvertisement, type RouterAdvertisement } from '../../runtime/core/nd-types';
import { RtnlKernel } from '../../runtime/system/kernel';
import { AF_INET6, IPPROTO_ICMPV6, IPPROTO_IPV6, SOCK_RAW, SOL_SOCKET, SO_BINDTODEVICE, native } from '../../runtime/system/native';
import { NdSocket, sockaddrIn6 } from '../../runtime/system/nd/socket';
import { encodeNd } from '../../runtime/wire/ndp/codec';
import type { Lab } from '../../vm/lab/lab';
import { run } from '../../vm/lab/run';

const IPV6_MULTICAST_IF = 17;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_UNICAST_HOPS = 16;
const IPV6_PKTINFO = 50;

/** One RA of a script: sent `delayMs` after the RS, from `source` (default: the router's link-local). */
export interface ScriptedRa {
  delayMs?: number;
  source?: IPv6;
  ra: RouterAdvertisement;
}

/** Stop the lab's radvd (the pid in its pidfile): the scripted router answers alone. */
export async function stopRadvd(lab: Lab): Promise<void> {
  const pid = Number(fs.readFileSync(path.join(lab.runDir, 'router', 'radvd.pid'), 'utf8').trim());
  if (!(pid > 1)) throw new Error('no radvd pid');
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && fs.existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300)); // its farewell RA (router lifetime 0) is gone by now
}

export class ScriptedRouter {
  /** What to answer each RS with; change it between tests. */
  script: ScriptedRa[] = [];
  readonly solicitations: string[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly kernel: RtnlKernel,
    private readonly listener: NdSocket,
    private readonly sender: number,
    readonly ifindex: number,
    /** The router's own link-local address. */
    readonly linkLocal: IPv6,
  ) {
    listener.listen((packets) => {
      for (const p of packets) {
        if (!p.result.ok || p.result.message.type !== 'router-solicitation') continue;
        this.solicitations.push(p.meta.source.toString('hex'));
        for (const s of this.script) {
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            this.sendRa(s.ra, s.source);
          }, s.delayMs ?? 0);
          this.timers.add(timer);
        }
      }
    });
  }

  /** In the lab router's netns, on its NIC. */
  static async open(lab: Lab): Promise<ScriptedRouter> {
    const kernel = RtnlKernel.open(`/run/netns/${lab.routerNetns}`);
    const link = kernel.findLink(lab.routerIf);
    if (!link) throw new Error(`no ${lab.routerIf} in ${lab.routerNetns}`);
    const ll = kernel.listAddresses(link.index).find((a) => a.address[0] === 0xfe && (a.address[1] ?? 0) >= 0x80 && (a.address[1] ?? 0) < 0xc0);
    if (!ll) throw new Error(`no link-local address on ${lab.routerIf}`);
    const listener = NdSocket.open({ netns: kernel.netns, ifname: lab.routerIf, ifindex: link.index, types: [ICMP6_RS, ICMP6_NA] });
    const addon = native();
    const fd = addon.socketat(kernel.netns.fd, AF_INET6, SOCK_RAW | addon.constants.SOCK_NONBLOCK, IPPROTO_ICMPV6);
    addon.setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, Buffer.from(`${lab.routerIf}\0`));
    addon.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, link.index);
    addon.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255); // RFC 4861 §6.1.2: hop limit 255
    addon.setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 255);
    return new ScriptedRouter(kernel, listener, fd, link.index, Buffer.from(ll.address));
  }

  /** Another link-local address on the router's NIC: a second router on the link, as far as hosts can tell. */
  async addLinkLocal(lab: Lab, address: string): Promise<IPv6> {
    const r = await run('ip', ['-n', lab.routerNetns, 'addr', 'add', `${address}/64`, 'dev', lab.routerIf, 'nodad']);
    if (r.code !== 0 && !/File exists|already assigned/.test(r.stderr)) throw new Error(`ip addr add ${address}: ${r.stderr.trim()}`);
    return parseIPv6(address);
  }

  /** Send an ND message (the kernel fills in the checksum; fragments what is larger than the MTU). */
  send(message: NdMessage, destination: IPv6, source?: IPv6): number {
    const icmp = encodeNd(message);
    const pktinfo = Buffer.alloc(20);
    (source ?? this.linkLocal).copy(pktinfo, 0);
    pktinfo.writeUInt32LE(this.ifindex, 16);
    return native().sendmsg(this.sender, icmp, sockaddrIn6(destination, this.ifindex), [{ level: IPPROTO_IPV6, type: IPV6_PKTINFO, data: pktinfo }], 0);
  }

  sendRa(ra: RouterAdvertisement, source?: IPv6): number {
    return this.send(ra, ALL_NODES, source);
  }

  /**
   * NS for `target` (to its solicited-node group, from the router's link-local with its SLLA), and
   * the NAs for it heard within `waitMs`.
   */
  async solicit(target: IPv6, mac: Buffer, waitMs: number): Promise<NeighborAdvertisement[]> {
    const heard: NeighborAdvertisement[] = [];
    const sock = NdSocket.open({ netns: this.kernel.netns, ifname: this.listenerName, ifindex: this.ifindex, types: [ICMP6_NA] });
    try {
      sock.listen((packets) => {
        for (const p of packets) if (p.result.ok && p.result.message.type === 'neighbor-advertisement' && p.result.message.target.equals(target)) heard.push(p.result.message);
      });
      sock.send({ type: 'neighbor-solicitation', target, options: [{ type: 'source-link-layer-address', address: mac }] }, this.linkLocal, solicitedNode(target));
      await new Promise((r) => setTimeout(r, waitMs));
      return heard;
    } finally {
      sock.close();
    }
  }

  private get listenerName(): string {
    return this.listener.ifname;
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.listener.close();
    native().close(this.sender);
    this.kernel.close();
  }
}
