/**
 * A kernel handle bound to one network namespace: the rtnetlink objects we make (links, addresses,
 * routes, rules, proxy neighbours) and the /proc/sys/net files, as seen from that netns. The
 * operations (runtime/ops) act only through this interface, so the pipeline can be driven against
 * a fake that records calls (tests/unit/pipeline.test.ts). Each method names its `ip` equivalent.
 */
import { InputError } from '../core/errors';
import type { IPv6 } from '../core/ipv6';
import type { SlaveSpec } from '../core/link-kinds';
import type { Policy } from '../core/policy';
import { NftHandle } from './nftables';
import { NetnsHandle, readNetSysctl, writeNetSysctl } from './netns';
import { addAddress, deleteAddress, listAddresses, replaceAddress, type AddressEntry, type AddressSpec } from './rtnetlink/addresses';
import { createSlave, deleteLink, findLink, listLinks, setLink, type AddrGenMode, type Link } from './rtnetlink/links';
import { addProxyNeighbour, deleteProxyNeighbour, listProxyNeighbours } from './rtnetlink/neighbours';
import { addRoute, deleteRoute, listRoutes, replaceRoute, type RouteEntry, type RouteSpec } from './rtnetlink/routes';
import { addSourceRule, deleteSourceRule, listSourceRules, type SourceRule } from './rtnetlink/rules';
import { RtnetlinkSocket } from './rtnetlink/socket';

export type { AddressEntry, AddressSpec, Link, RouteEntry, RouteSpec, SourceRule };

/** What identifies a network namespace: its nsfs "dev:inode", the path it was opened by, and the fd (-1: this process's). */
export interface NetnsRef {
  readonly id: string;
  readonly path: string;
  readonly fd: number;
}

export interface LinkChange {
  up?: boolean;
  mtu?: number;
  name?: string;
  /** IFLA_IFALIAS, our ownership mark. */
  alias?: string;
  addrGenMode?: AddrGenMode;
}

export interface NetKernel {
  readonly netns: NetnsRef;
  /** `ip -d link show` */
  listLinks(): Link[];
  /** `ip link show NAME` */
  findLink(name: string): Link | undefined;
  /** `ip link add link PARENT name NAME [netns TARGET] [address MAC] type KIND mode MODE` */
  createSlave(opts: { parentIndex: number; name: string; target?: NetnsRef; spec: SlaveSpec; mac?: Buffer }): void;
  /** `ip link set INDEX [up] [mtu N] [name NAME] [alias A] [addrgenmode M]` */
  setLink(index: number, change: LinkChange): void;
  /** `ip link del INDEX` */
  deleteLink(index: number): void;
  /** `ip -6 addr add ADDR/LEN dev INDEX [nodad] [valid_lft V preferred_lft P]` */
  addAddress(spec: AddressSpec): void;
  /** `ip -6 addr replace …` */
  replaceAddress(spec: AddressSpec): void;
  /** `ip -6 addr del ADDR/LEN dev INDEX` */
  deleteAddress(spec: { index: number; address: IPv6; prefixLength: number }): void;
  /** `ip -6 addr show [dev INDEX]` */
  listAddresses(index?: number): AddressEntry[];
  /** `ip -6 route add …` */
  addRoute(spec: RouteSpec): void;
  /** `ip -6 route replace …` */
  replaceRoute(spec: RouteSpec): void;
  /** `ip -6 route del …` */
  deleteRoute(spec: RouteSpec): void;
  /** `ip -6 route show [table T]` */
  listRoutes(table?: number): RouteEntry[];
  /** `ip -6 rule add from ADDR lookup T priority P protocol PROTO` */
  addRule(rule: SourceRule): void;
  /** `ip -6 rule del …` */
  deleteRule(rule: SourceRule): void;
  /** `ip -6 rule show` (the `from ADDR/128` ones) */
  listRules(): SourceRule[];
  /** `ip -6 neigh replace proxy ADDR dev INDEX protocol PROTO` */
  addProxy(index: number, address: IPv6, protocol?: number): void;
  /** `ip -6 neigh del proxy ADDR dev INDEX` */
  deleteProxy(index: number, address: IPv6): void;
  /** `ip -6 neigh show proxy` */
  listProxies(): { index: number; address: IPv6; protocol: number }[];
  /** `sysctl -w net.…=VALUE` inside this netns ("net/ipv6/conf/eth0/accept_ra") */
  writeSysctl(key: string, value: string | number): void;
  /** `sysctl net.…` inside this netns */
  readSysctl(key: string): string;
  /** `nft -f FILE` with the whole table (replacing one of that name): one nf_tables transaction (system/nftables.ts) */
  installFirewall(spec: FirewallSpec): void;
  /** `nft flush set inet TABLE net_NETWORK; nft add element inet TABLE net_NETWORK { … }`, in one transaction */
  setFirewallMembers(table: string, network: string, addresses: string[]): void;
  /** `nft delete table inet TABLE` (false: there was none) */
  deleteFirewall(table: string): boolean;
  /** `nft list table inet TABLE` (undefined: there is none) */
  readFirewall(table: string): FirewallState | undefined;
  close(): void;
}

/** A container's firewall table as made: the interface it guards, its policy, each network's members, and its fingerprint. */
export interface FirewallSpec {
  table: string;
  ifname: string;
  policy: Policy;
  members: Record<string, string[]>;
  tag: string;
}

/** A firewall table as the kernel lists it. */
export interface FirewallState {
  chains: string[];
  rules: { chain: string; comment?: string; exprs: string[] }[];
  /** Set name (`net_<network>`) → its elements. */
  sets: Record<string, string[]>;
}

/** The real handle: one NETLINK_ROUTE socket opened inside the netns. */
export class RtnlKernel implements NetKernel {
  private nft: NftHandle | undefined;

  private constructor(
    readonly netns: NetnsHandle,
    readonly sock: RtnetlinkSocket,
    private readonly ownsNetns: boolean,
  ) {}

  /** This process's own netns (the host's, for the hook). */
  static host(): RtnlKernel {
    return new RtnlKernel(NetnsHandle.current(), RtnetlinkSocket.open(), false);
  }

  /** The netns at `path` (InputError naming it when it does not exist or is no netns). */
  static open(path: string): RtnlKernel {
    const netns = NetnsHandle.open(path);
    try {
      return new RtnlKernel(netns, RtnetlinkSocket.open(netns), true);
    } catch (err) {
      netns.close();
      throw err;
    }
  }

  listLinks = (): Link[] => listLinks(this.sock);
  findLink = (name: string): Link | undefined => findLink(this.sock, name);
  createSlave(opts: { parentIndex: number; name: string; target?: NetnsRef; spec: SlaveSpec; mac?: Buffer }): void {
    const target = opts.target;
    if (target && !(target instanceof NetnsHandle)) throw new InputError('createSlave: target is not an open network namespace');
    createSlave(this.sock, { ...opts, target });
  }
  setLink = (index: number, change: LinkChange): void => setLink(this.sock, index, change);
  deleteLink = (index: number): void => deleteLink(this.sock, index);
  addAddress = (spec: AddressSpec): void => addAddress(this.sock, spec);
  replaceAddress = (spec: AddressSpec): void => replaceAddress(this.sock, spec);
  deleteAddress = (spec: { index: number; address: IPv6; prefixLength: number }): void => deleteAddress(this.sock, spec);
  listAddresses = (index?: number): AddressEntry[] => listAddresses(this.sock, index);
  addRoute = (spec: RouteSpec): void => addRoute(this.sock, spec);
  replaceRoute = (spec: RouteSpec): void => replaceRoute(this.sock, spec);
  deleteRoute = (spec: RouteSpec): void => deleteRoute(this.sock, spec);
  listRoutes = (table?: number): RouteEntry[] => listRoutes(this.sock, table);
  addRule = (rule: SourceRule): void => addSourceRule(this.sock, rule);
  deleteRule = (rule: SourceRule): void => deleteSourceRule(this.sock, rule);
  listRules = (): SourceRule[] => listSourceRules(this.sock);
  addProxy = (index: number, address: IPv6, protocol?: number): void => addProxyNeighbour(this.sock, index, address, protocol);
  deleteProxy = (index: number, address: IPv6): void => deleteProxyNeighbour(this.sock, index, address);
  listProxies = (): { index: number; address: IPv6; protocol: number }[] => listProxyNeighbours(this.sock);
  writeSysctl = (key: string, value: string | number): void => writeNetSysctl(this.netns, key, value);
  readSysctl = (key: string): string => readNetSysctl(this.netns, key);
  installFirewall = (spec: FirewallSpec): void => this.nftables().install(spec.table, spec.ifname, spec.policy, spec.members, spec.tag);
  setFirewallMembers = (table: string, network: string, addresses: string[]): void => this.nftables().setMembers(table, network, addresses);
  deleteFirewall = (table: string): boolean => this.nftables().deleteTable(table);
  readFirewall = (table: string): FirewallState | undefined => this.nftables().read(table);

  /** The NETLINK_NETFILTER socket, opened in this netns when first needed (most handles never need one). */
  private nftables(): NftHandle {
    this.nft ??= NftHandle.open(this.netns);
    return this.nft;
  }

  close(): void {
    this.nft?.close();
    this.sock.close();
    if (this.ownsNetns) this.netns.close();
  }
}
