/** IPv6 routes: add/replace (gateway, device, preference, expiry), delete, list. */
import { formatPrefix, type IPv6 } from '../../core/ipv6';
import type { Preference } from '../../core/nd-types';
import { isErrno } from '../../core/errors';
import { attrU32, attrU8, decodeAttrs, encodeAttrs, type Attr, type NetlinkMessage } from '../../wire/rtnetlink/codec';
import {
  AF_INET6,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  ROUTE_PREFS,
  RTA_DST,
  RTA_EXPIRES,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PREF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTPROT_RA,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
} from '../../wire/rtnetlink/constants';
import type { RtnetlinkSocket } from './socket';
import { INFINITE_LIFETIME } from '../../core/lifetime';

export interface RouteSpec {
  destination: IPv6; // :: with prefixLength 0 for the default route
  prefixLength: number;
  gateway?: IPv6;
  oif: number;
  /** The source address the host prefers for this route (RTA_PREFSRC). */
  prefsrc?: IPv6;
  metric?: number;
  preference?: Preference;
  /** Seconds until the kernel expires the route; omitted or infinity = never. */
  expires?: number;
  table?: number;
  protocol?: number;
}

export interface RouteEntry {
  destination: IPv6;
  prefixLength: number;
  gateway: IPv6 | undefined;
  oif: number | undefined;
  table: number;
  protocol: number;
  metric: number | undefined;
  expires: number | undefined;
}

function rtmsg(prefixLength: number, table: number, protocol: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(AF_INET6, 0);
  b.writeUInt8(prefixLength, 1);
  b.writeUInt8(table < 256 ? table : 252 /* RT_TABLE_COMPAT */, 4);
  b.writeUInt8(protocol, 5);
  b.writeUInt8(RT_SCOPE_UNIVERSE, 6);
  b.writeUInt8(RTN_UNICAST, 7);
  return b;
}

function routePayload(spec: RouteSpec, defaultProtocol: number): Buffer {
  const table = spec.table ?? RT_TABLE_MAIN;
  const attrs: Attr[] = [attrU32(RTA_TABLE, table), attrU32(RTA_OIF, spec.oif)];
  if (spec.prefixLength > 0) attrs.push({ type: RTA_DST, value: spec.destination });
  if (spec.gateway) attrs.push({ type: RTA_GATEWAY, value: spec.gateway });
  if (spec.prefsrc) attrs.push({ type: RTA_PREFSRC, value: spec.prefsrc });
  if (spec.metric !== undefined) attrs.push(attrU32(RTA_PRIORITY, spec.metric));
  if (spec.preference) attrs.push(attrU8(RTA_PREF, ROUTE_PREFS[spec.preference]));
  if (spec.expires !== undefined && spec.expires !== INFINITE_LIFETIME) attrs.push(attrU32(RTA_EXPIRES, spec.expires));
  return Buffer.concat([rtmsg(spec.prefixLength, table, spec.protocol ?? defaultProtocol), encodeAttrs(attrs)]);
}

const describe = (verb: string, spec: RouteSpec): string =>
  `${verb} route ${spec.prefixLength === 0 ? 'default' : formatPrefix(spec.destination, spec.prefixLength)} dev ${spec.oif}`;

export function addRoute(sock: RtnetlinkSocket, spec: RouteSpec): void {
  sock.request(describe('add', spec), RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, routePayload(spec, RTPROT_RA));
}

export function replaceRoute(sock: RtnetlinkSocket, spec: RouteSpec): void {
  sock.request(describe('replace', spec), RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, routePayload(spec, RTPROT_RA));
}

/** `ip -6 route del …`: without a protocol, any protocol matches (the kernel compares one given). */
export function deleteRoute(sock: RtnetlinkSocket, spec: RouteSpec): void {
  sock.request(describe('delete', spec), RTM_DELROUTE, 0, routePayload(spec, 0));
}

/**
 * IPv6 routes in the socket's namespace; with `table`, the kernel filters (strict dump check), so
 * a host with a large main table is not dumped whole. A table that does not exist has no routes.
 */
export function listRoutes(sock: RtnetlinkSocket, table?: number): RouteEntry[] {
  const request = table === undefined ? rtmsg(0, 0, 0) : Buffer.concat([rtmsg(0, table, 0), encodeAttrs([attrU32(RTA_TABLE, table)])]);
  let messages: NetlinkMessage[];
  try {
    messages = sock.dump(table === undefined ? 'list routes' : `list routes of table ${table}`, RTM_GETROUTE, request, RTM_NEWROUTE);
  } catch (err) {
    if (table !== undefined && isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  return messages.flatMap((m) => {
    const p = m.payload;
    if (p.readUInt8(0) !== AF_INET6) return [];
    const a = decodeAttrs(p.subarray(12));
    return [
      {
        destination: a.get(RTA_DST) ?? Buffer.alloc(16),
        prefixLength: p.readUInt8(1),
        gateway: a.get(RTA_GATEWAY),
        oif: a.get(RTA_OIF)?.readUInt32LE(0),
        table: a.get(RTA_TABLE)?.readUInt32LE(0) ?? p.readUInt8(4),
        protocol: p.readUInt8(5),
        metric: a.get(RTA_PRIORITY)?.readUInt32LE(0),
        expires: a.get(RTA_EXPIRES)?.readUInt32LE(0),
      },
    ];
  });
}
