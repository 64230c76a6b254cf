/** Proxy neighbour entries (`ip -6 neigh add proxy ADDR dev IF`): the kernel answers NS for them. */
import { formatIPv6, type IPv6 } from '../../core/ipv6';
import { attrU8, decodeAttrs, encodeAttrs } from '../../wire/rtnetlink/codec';
import { AF_INET6, NDA_DST, NDA_PROTOCOL, NLM_F_CREATE, NLM_F_REPLACE, NTF_PROXY, NUD_PERMANENT, RTM_DELNEIGH, RTM_GETNEIGH, RTM_NEWNEIGH } from '../../wire/rtnetlink/constants';
import type { RtnetlinkSocket } from './socket';

/** struct ndmsg; a dump request must leave the state zero (strict check). */
function ndmsg(index: number, flags: number, state: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(AF_INET6, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt16LE(state, 8);
  b.writeUInt8(flags, 10);
  return b;
}

const payload = (index: number, address: IPv6, protocol?: number): Buffer =>
  Buffer.concat([ndmsg(index, NTF_PROXY, NUD_PERMANENT), encodeAttrs([{ type: NDA_DST, value: address }, ...(protocol !== undefined ? [attrU8(NDA_PROTOCOL, protocol)] : [])])]);

/** Add (or keep) a proxy entry for `address` on link `index` (`ip -6 neigh replace proxy ADDR dev IF protocol P`). */
export function addProxyNeighbour(sock: RtnetlinkSocket, index: number, address: IPv6, protocol?: number): void {
  sock.request(`add proxy neighbour ${formatIPv6(address)} on link ${index}`, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, payload(index, address, protocol));
}

export function deleteProxyNeighbour(sock: RtnetlinkSocket, index: number, address: IPv6): void {
  sock.request(`delete proxy neighbour ${formatIPv6(address)} on link ${index}`, RTM_DELNEIGH, 0, payload(index, address));
}

/** The proxy entries in the socket's namespace: [link index, address]. */
export function listProxyNeighbours(sock: RtnetlinkSocket): { index: number; address: IPv6; protocol: number }[] {
  return sock.dump('list proxy neighbours', RTM_GETNEIGH, ndmsg(0, NTF_PROXY, 0), RTM_NEWNEIGH).flatMap((m) => {
    const p = m.payload;
    if (p.readUInt8(0) !== AF_INET6 || (p.readUInt8(10) & NTF_PROXY) === 0) return [];
    const attrs = decodeAttrs(p.subarray(12));
    const dst = attrs.get(NDA_DST);
    return dst && dst.length === 16 ? [{ index: p.readInt32LE(4), address: Buffer.from(dst), protocol: attrs.get(NDA_PROTOCOL)?.readUInt8(0) ?? 0 }] : [];
  });
}
