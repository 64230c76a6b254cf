/** IPv6 policy routing rules of one shape: `from ADDR/128 lookup TABLE priority PRIO`. */
import { formatIPv6, type IPv6 } from '../../core/ipv6';
import { attrU32, attrU8, decodeAttrs, encodeAttrs } from '../../wire/rtnetlink/codec';
import { AF_INET6, FR_ACT_TO_TBL, FRA_PRIORITY, FRA_PROTOCOL, FRA_SRC, FRA_TABLE, NLM_F_CREATE, NLM_F_EXCL, RTM_DELRULE, RTM_GETRULE, RTM_NEWRULE } from '../../wire/rtnetlink/constants';
import type { RtnetlinkSocket } from './socket';

export interface SourceRule {
  source: IPv6;
  table: number;
  priority: number;
  /** FRA_PROTOCOL (kernel ≥ 4.17): who made the rule; ours carry RTPROT_OSH. */
  protocol?: number;
}

/** struct fib_rule_hdr; a dump request must leave everything but the family zero (strict check). */
function fibRuleHdr(srcLen: number, table: number, action: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(AF_INET6, 0);
  b.writeUInt8(srcLen, 2);
  b.writeUInt8(table < 256 ? table : 252 /* RT_TABLE_COMPAT */, 4);
  b.writeUInt8(action, 7);
  return b;
}

const payload = (r: SourceRule): Buffer =>
  Buffer.concat([fibRuleHdr(128, r.table, FR_ACT_TO_TBL), encodeAttrs([
      { type: FRA_SRC, value: r.source },
      attrU32(FRA_TABLE, r.table),
      attrU32(FRA_PRIORITY, r.priority),
      ...(r.protocol !== undefined ? [attrU8(FRA_PROTOCOL, r.protocol)] : []),
    ]),
  ]);

const describe = (verb: string, r: SourceRule): string => `${verb} rule from ${formatIPv6(r.source)} lookup ${r.table}`;

export function addSourceRule(sock: RtnetlinkSocket, r: SourceRule): void {
  sock.request(describe('add', r), RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, payload(r));
}

export function deleteSourceRule(sock: RtnetlinkSocket, r: SourceRule): void {
  sock.request(describe('delete', r), RTM_DELRULE, 0, payload(r));
}

/** The IPv6 rules `from ADDR/128 lookup T` in the socket's namespace. */
export function listSourceRules(sock: RtnetlinkSocket): SourceRule[] {
  return sock.dump('list rules', RTM_GETRULE, fibRuleHdr(0, 0, 0), RTM_NEWRULE).flatMap((m) => {
    const p = m.payload;
    if (p.readUInt8(0) !== AF_INET6 || p.readUInt8(2) !== 128) return [];
    const a = decodeAttrs(p.subarray(12));
    const src = a.get(FRA_SRC);
    if (!src || src.length !== 16) return [];
    return [{ source: Buffer.from(src), table: a.get(FRA_TABLE)?.readUInt32LE(0) ?? p.readUInt8(4), priority: a.get(FRA_PRIORITY)?.readUInt32LE(0) ?? 0, protocol: a.get(FRA_PROTOCOL)?.readUInt8(0) ?? 0 }];
  });
}
