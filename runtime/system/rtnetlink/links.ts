/** Links: create macvlan/ipvlan slaves straight into a netns, set state/MTU/name/addr_gen_mode, list, delete. */
import { NetlinkError } from '../../core/errors';
import type { NetnsHandle } from '../netns';
import { attrNested, attrString, attrU16, attrU32, attrU8, cString, decodeAttrs, encodeAttrs, type Attr } from '../../wire/rtnetlink/codec';
import {
  ADDR_GEN_MODES,
  AF_INET6,
  AF_UNSPEC,
  IFF_UP,
  IFLA_ADDRESS,
  IFLA_AF_SPEC,
  IFLA_IFALIAS,
  IFLA_MASTER,
  IFLA_IFNAME,
  IFLA_INET6_ADDR_GEN_MODE,
  IFLA_INFO_DATA,
  IFLA_INFO_KIND,
  IFLA_IPVLAN_FLAGS,
  IFLA_IPVLAN_MODE,
  IFLA_LINK,
  IFLA_LINKINFO,
  IFLA_MACVLAN_MODE,
  IFLA_MTU,
  IFLA_NET_NS_FD,
  IFLA_OPERSTATE,
  IPVLAN_MODES,
  MACVLAN_MODES,
  NLM_F_CREATE,
  NLM_F_EXCL,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
} from '../../wire/rtnetlink/constants';
import type { RtnetlinkSocket } from './socket';
import { checkIfname, type SlaveSpec } from '../../core/link-kinds';

export type { SlaveSpec };

export type AddrGenMode = keyof typeof ADDR_GEN_MODES;

export interface Link {
  index: number;
  name: string;
  flags: number;
  mtu: number;
  mac: Buffer | undefined;
  /** Index of the parent link (IFLA_LINK), in the parent's namespace. */
  parentIndex: number | undefined;
  kind: string | undefined;
  operstate: number | undefined;
  /** IFLA_IFALIAS: our ownership mark on links we make. */
  alias: string | undefined;
  /** IFLA_MASTER: the bridge or bond this link is a port of. */
  master?: number;
}

function ifinfomsg(index = 0, flags = 0, change = 0, family = AF_UNSPEC): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(family, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags >>> 0, 8);
  b.writeUInt32LE(change >>> 0, 12);
  return b;
}

function decodeLink(payload: Buffer): Link {
  const attrs = decodeAttrs(payload.subarray(16));
  const info = attrs.get(IFLA_LINKINFO);
  const parent = attrs.get(IFLA_LINK);
  const master = attrs.get(IFLA_MASTER);
  return {
    index: payload.readInt32LE(4),
    flags: payload.readUInt32LE(8),
    name: cString(attrs.get(IFLA_IFNAME)) ?? '',
    mtu: attrs.get(IFLA_MTU)?.readUInt32LE(0) ?? 0,
    mac: attrs.get(IFLA_ADDRESS),
    parentIndex: parent ? parent.readUInt32LE(0) : undefined,
    kind: info ? cString(decodeAttrs(info).get(IFLA_INFO_KIND)) : undefined,
    operstate: attrs.get(IFLA_OPERSTATE)?.readUInt8(0),
    alias: cString(attrs.get(IFLA_IFALIAS)),
    ...(master && master.length >= 4 ? { master: master.readUInt32LE(0) } : {}),
  };
}

export function listLinks(sock: RtnetlinkSocket): Link[] {
  return sock.dump('list links', RTM_GETLINK, ifinfomsg(), RTM_NEWLINK).map((m) => decodeLink(m.payload));
}

/** The link called `name`, or undefined: one RTM_GETLINK by name, not a dump of every link. */
export function findLink(sock: RtnetlinkSocket, name: string): Link | undefined {
  checkIfname(name);
  try {
    const [reply] = sock.get(`get link ${name}`, RTM_GETLINK, Buffer.concat([ifinfomsg(), encodeAttrs([attrString(IFLA_IFNAME, name)])]), RTM_NEWLINK);
    return reply ? decodeLink(reply.payload) : undefined;
  } catch (err) {
    if (err instanceof NetlinkError && err.code === 'ENODEV') return undefined;
    throw err;
  }
}

/**
 * Create a macvlan/ipvlan slave of `parentIndex` (a link in the socket's namespace) directly in
 * `target` (IFLA_NET_NS_FD) under `name`: the interface never appears in the parent's namespace.
 */
export function createSlave(
  sock: RtnetlinkSocket,
  opts: { parentIndex: number; name: string; target?: NetnsHandle; spec: SlaveSpec; mtu?: number; mac?: Buffer },
): void {
  checkIfname(opts.name);
  let data: Attr[];
  if (opts.spec.kind === 'macvlan') {
    data = [attrU32(IFLA_MACVLAN_MODE, MACVLAN_MODES[opts.spec.mode])];
  } else {
    const ipvlanFlags = { bridge: 0, private: 1, vepa: 2 }[opts.spec.flags ?? 'bridge'];
    data = [attrU16(IFLA_IPVLAN_MODE, IPVLAN_MODES[opts.spec.mode]), attrU16(IFLA_IPVLAN_FLAGS, ipvlanFlags)];
  }
  const attrs: Attr[] = [
    attrString(IFLA_IFNAME, opts.name),
    attrU32(IFLA_LINK, opts.parentIndex),
    attrNested(IFLA_LINKINFO, [attrString(IFLA_INFO_KIND, opts.spec.kind), attrNested(IFLA_INFO_DATA, data)]),
  ];
  if (opts.target && opts.target.fd >= 0) attrs.push(attrU32(IFLA_NET_NS_FD, opts.target.fd));
  if (opts.mtu !== undefined) attrs.push(attrU32(IFLA_MTU, opts.mtu));
  if (opts.mac) attrs.push({ type: IFLA_ADDRESS, value: opts.mac });
  sock.request(
    `create ${opts.spec.kind} ${opts.name} (${opts.spec.mode})`,
    RTM_NEWLINK,
    NLM_F_CREATE | NLM_F_EXCL,
    Buffer.concat([ifinfomsg(), encodeAttrs(attrs)]),
  );
}

/**
 * Change a link: administrative state, MTU, name, alias (IFLA_IFALIAS: the kernel takes it only
 * here, not when a link is created), IPv6 address generation mode.
 */
export function setLink(
  sock: RtnetlinkSocket,
  index: number,
  change: { up?: boolean; mtu?: number; name?: string; alias?: string; addrGenMode?: AddrGenMode },
): void {
  const attrs: Attr[] = [];
  if (change.mtu !== undefined) attrs.push(attrU32(IFLA_MTU, change.mtu));
  if (change.name !== undefined) attrs.push(attrString(IFLA_IFNAME, checkIfname(change.name)));
  if (change.alias !== undefined) attrs.push(attrString(IFLA_IFALIAS, change.alias));
  if (change.addrGenMode !== undefined) {
    attrs.push(attrNested(IFLA_AF_SPEC, [attrNested(AF_INET6, [attrU8(IFLA_INET6_ADDR_GEN_MODE, ADDR_GEN_MODES[change.addrGenMode])])]));
  }
  const flags = change.up === undefined ? 0 : change.up ? IFF_UP : 0;
  const mask = change.up === undefined ? 0 : IFF_UP;
  const what = Object.entries(change).map(([k, v]) => `${k}=${String(v)}`).join(' ');
  sock.request(`set link ${index} ${what}`, RTM_NEWLINK, 0, Buffer.concat([ifinfomsg(index, flags, mask), encodeAttrs(attrs)]));
}

export function deleteLink(sock: RtnetlinkSocket, index: number): void {
  sock.request(`delete link ${index}`, RTM_DELLINK, 0, ifinfomsg(index));
}
