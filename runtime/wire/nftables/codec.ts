/**
 * nf_tables over nfnetlink (linux/netfilter/nfnetlink.h, linux/netfilter/nf_tables.h): the
 * nfgenmsg family header, expressions, the messages that build a table, batch framing, and the
 * decoders of dump replies.
 *
 * Encoders are pure and throw only on bad input from our own callers (RangeError). Decoders read
 * what the kernel sent and never throw: a short or malformed reply gives undefined or a partial
 * result.
 *
 * Two things differ from rtnetlink: integers in nf_tables attributes are big-endian (the kernel
 * reads them with ntohl()/be64_to_cpu()), and nested attributes carry NLA_F_NESTED as libmnl's
 * mnl_attr_nest_start() sets it (nf_tables parses with nla_parse_nested_deprecated(), which would
 * accept them without, but the flag keeps us honest with stricter policies).
 */
import { type Attr, attrString, cString, decodeMessages, encodeAttrs, encodeMessage, type NetlinkMessage } from '../rtnetlink/codec';
import { NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST } from '../rtnetlink/constants';
import {
  IFNAMSIZ,
  NFGENMSG_LEN,
  NFNETLINK_V0,
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NFNL_SUBSYS_NFTABLES,
  NFPROTO_UNSPEC,
  NFTA_BITWISE_DREG,
  NFTA_BITWISE_LEN,
  NFTA_BITWISE_MASK,
  NFTA_BITWISE_SREG,
  NFTA_BITWISE_XOR,
  NFTA_CHAIN_HOOK,
  NFTA_CHAIN_NAME,
  NFTA_CHAIN_POLICY,
  NFTA_CHAIN_TABLE,
  NFTA_CHAIN_TYPE,
  NFTA_CMP_DATA,
  NFTA_CMP_OP,
  NFTA_CMP_SREG,
  NFTA_COUNTER_BYTES,
  NFTA_COUNTER_PACKETS,
  NFTA_CT_DREG,
  NFTA_CT_KEY,
  NFTA_DATA_VALUE,
  NFTA_DATA_VERDICT,
  NFTA_EXPR_DATA,
  NFTA_EXPR_NAME,
  NFTA_HOOK_HOOKNUM,
  NFTA_HOOK_PRIORITY,
  NFTA_IMMEDIATE_DATA,
  NFTA_IMMEDIATE_DREG,
  NFTA_LIST_ELEM,
  NFTA_LOOKUP_SET,
  NFTA_LOOKUP_SET_ID,
  NFTA_LOOKUP_SREG,
  NFTA_META_DREG,
  NFTA_META_KEY,
  NFTA_PAYLOAD_BASE,
  NFTA_PAYLOAD_DREG,
  NFTA_PAYLOAD_LEN,
  NFTA_PAYLOAD_OFFSET,
  NFTA_RULE_CHAIN,
  NFTA_RULE_EXPRESSIONS,
  NFTA_RULE_HANDLE,
  NFTA_RULE_TABLE,
  NFTA_RULE_USERDATA,
  NFTA_SET_ELEM_KEY,
  NFTA_SET_ELEM_LIST_ELEMENTS,
  NFTA_SET_ELEM_LIST_SET,
  NFTA_SET_ELEM_LIST_SET_ID,
  NFTA_SET_ELEM_LIST_TABLE,
  NFTA_SET_ID,
  NFTA_SET_KEY_LEN,
  NFTA_SET_KEY_TYPE,
  NFTA_SET_NAME,
  NFTA_SET_TABLE,
  NFTA_TABLE_FLAGS,
  NFTA_TABLE_NAME,
  NFTA_TABLE_USE,
  NFTA_VERDICT_CHAIN,
  NFTA_VERDICT_CODE,
  NFTNL_UDATA_COMMENT_MAXLEN,
  NFTNL_UDATA_RULE_COMMENT,
  NFT_MSG_DELSETELEM,
  NFT_MSG_DELTABLE,
  NFT_MSG_DESTROYTABLE,
  NFT_MSG_NEWCHAIN,
  NFT_MSG_NEWRULE,
  NFT_MSG_NEWSET,
  NFT_MSG_NEWSETELEM,
  NFT_MSG_NEWTABLE,
  NFT_REG_1,
  NFT_REG_VERDICT,
  NLA_F_NESTED,
  NLM_F_APPEND,
} from './constants';

/**
 * One message of a batch, before framing: `type` is the full nfnetlink type
 * (NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_*), `flags` its NLM_F_* (NLM_F_REQUEST is added when
 * sent), `what` names it in errors ("NEWSET net_blue").
 */
export interface NftMessage {
  what: string;
  type: number;
  flags: number;
  payload: Buffer;
}

/** The nfnetlink message type of an nf_tables message (nfnetlink.h NFNL_SUBSYS_ID/NFNL_MSG_TYPE). */
export function nftType(msg: number): number {
  return (NFNL_SUBSYS_NFTABLES << 8) | msg;
}

// ---- attributes: big-endian integers, NLA_F_NESTED ----

/** struct nfgenmsg: u8 nfgen_family, u8 version (NFNETLINK_V0), __be16 res_id. */
export function nfgenmsg(family: number, resId = 0): Buffer {
  const b = Buffer.alloc(NFGENMSG_LEN);
  b.writeUInt8(family, 0);
  b.writeUInt8(NFNETLINK_V0, 1);
  b.writeUInt16BE(resId, 2);
  return b;
}

export function attrBe32(type: number, v: number): Attr {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v | 0); // verdict codes are negative (NFT_JUMP -3): two's complement either way
  return { type, value: b };
}

export function attrBe64(type: number, v: bigint): Attr {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return { type, value: b };
}

/** A nested attribute with NLA_F_NESTED set, as libmnl does. */
export function nest(type: number, attrs: Attr[]): Attr {
  return { type: type | NLA_F_NESTED, nested: attrs };
}

/** struct nft_data of a value: NESTED { NFTA_DATA_VALUE bytes }. */
function dataValue(type: number, value: Buffer): Attr {
  return nest(type, [{ type: NFTA_DATA_VALUE, value }]);
}

/** A host-order u32 value (meta/ct registers hold host order: ct state, mark). */
export function hostU32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

export function be16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

/** An interface name as `meta iifname` compares it: IFNAMSIZ bytes, zero-padded (as nft emits it). */
export function ifnameValue(name: string): Buffer {
  const text = Buffer.from(name, 'utf8');
  if (text.length === 0 || text.length >= IFNAMSIZ || text.includes(0)) {
    throw new RangeError(`interface name must be 1-${IFNAMSIZ - 1} bytes without NUL: ${JSON.stringify(name)}`);
  }
  const b = Buffer.alloc(IFNAMSIZ);
  text.copy(b);
  return b;
}

// ---- expressions (NFTA_LIST_ELEM { NFTA_EXPR_NAME, NFTA_EXPR_DATA }) ----

/** An expression of a rule, ready to go in NFTA_RULE_EXPRESSIONS. */
export type Expr = Attr;

function expr(name: string, data: Attr[]): Expr {
  return nest(NFTA_LIST_ELEM, [attrString(NFTA_EXPR_NAME, name), nest(NFTA_EXPR_DATA, data)]);
}

/** nft_meta: load meta key `key` (NFT_META_*) into `dreg`. */
export function metaExpr(key: number, dreg = NFT_REG_1): Expr {
  return expr('meta', [attrBe32(NFTA_META_DREG, dreg), attrBe32(NFTA_META_KEY, key)]);
}

/** nft_cmp: compare `data` against `sreg` with NFT_CMP_* (memcmp order: big-endian data compares as numbers). */
export function cmpExpr(op: number, data: Buffer, sreg = NFT_REG_1): Expr {
  return expr('cmp', [attrBe32(NFTA_CMP_SREG, sreg), attrBe32(NFTA_CMP_OP, op), dataValue(NFTA_CMP_DATA, data)]);
}

/** nft_payload: load `len` bytes at `offset` from header `base` (NFT_PAYLOAD_*) into `dreg`. */
export function payloadExpr(base: number, offset: number, len: number, dreg = NFT_REG_1): Expr {
  return expr('payload', [
    attrBe32(NFTA_PAYLOAD_DREG, dreg),
    attrBe32(NFTA_PAYLOAD_BASE, base),
    attrBe32(NFTA_PAYLOAD_OFFSET, offset),
    attrBe32(NFTA_PAYLOAD_LEN, len),
  ]);
}

/** nft_bitwise (NFT_BITWISE_MASK_XOR, the default op): dreg = (sreg & mask) ^ xor. */
export function bitwiseExpr(mask: Buffer, xor: Buffer = Buffer.alloc(mask.length), sreg = NFT_REG_1, dreg = NFT_REG_1): Expr {
  if (xor.length !== mask.length) throw new RangeError('bitwise: mask and xor differ in length');
  return expr('bitwise', [
    attrBe32(NFTA_BITWISE_SREG, sreg),
    attrBe32(NFTA_BITWISE_DREG, dreg),
    attrBe32(NFTA_BITWISE_LEN, mask.length),
    dataValue(NFTA_BITWISE_MASK, mask),
    dataValue(NFTA_BITWISE_XOR, xor),
  ]);
}

/**
 * nft_lookup: match when `sreg` is in set `set`. `setId` (NFTA_LOOKUP_SET_ID) lets the kernel
 * find a set created earlier in the same batch should the name not resolve.
 */
export function lookupExpr(set: string, setId?: number, sreg = NFT_REG_1): Expr {
  const data = [attrString(NFTA_LOOKUP_SET, set), attrBe32(NFTA_LOOKUP_SREG, sreg)];
  if (setId !== undefined) data.push(attrBe32(NFTA_LOOKUP_SET_ID, setId));
  return expr('lookup', data);
}

/** nft_ct: load conntrack key `key` (NFT_CT_*) into `dreg`. */
export function ctExpr(key: number, dreg = NFT_REG_1): Expr {
  return expr('ct', [attrBe32(NFTA_CT_DREG, dreg), attrBe32(NFTA_CT_KEY, key)]);
}

/** nft_immediate of a verdict (NF_ACCEPT, NF_DROP, NFT_JUMP + chain...) into the verdict register. */
export function verdictExpr(code: number, chain?: string): Expr {
  const verdict: Attr[] = [attrBe32(NFTA_VERDICT_CODE, code)];
  if (chain !== undefined) verdict.push(attrString(NFTA_VERDICT_CHAIN, chain));
  return expr('immediate', [attrBe32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT), nest(NFTA_IMMEDIATE_DATA, [nest(NFTA_DATA_VERDICT, verdict)])]);
}

/** nft_counter starting at zero (libnftnl sends both counts). */
export function counterExpr(): Expr {
  return expr('counter', [attrBe64(NFTA_COUNTER_BYTES, 0n), attrBe64(NFTA_COUNTER_PACKETS, 0n)]);
}

// ---- messages ----

const CREATE = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
const CHANGE = NLM_F_REQUEST | NLM_F_ACK;

function message(what: string, msg: number, flags: number, family: number, attrs: Attr[]): NftMessage {
  return { what, type: nftType(msg), flags, payload: Buffer.concat([nfgenmsg(family), encodeAttrs(attrs)]) };
}

/** NFT_MSG_NEWTABLE (`nft add table FAMILY NAME`). */
export function newTable(family: number, name: string): NftMessage {
  return message(`NEWTABLE ${name}`, NFT_MSG_NEWTABLE, CREATE, family, [attrString(NFTA_TABLE_NAME, name), attrBe32(NFTA_TABLE_FLAGS, 0)]);
}

/** NFT_MSG_DELTABLE (`nft delete table FAMILY NAME`): ENOENT when absent, which aborts a batch. */
export function delTable(family: number, name: string): NftMessage {
  return message(`DELTABLE ${name}`, NFT_MSG_DELTABLE, CHANGE, family, [attrString(NFTA_TABLE_NAME, name)]);
}

/** NFT_MSG_DESTROYTABLE (`nft destroy table FAMILY NAME`, Linux 6.3+): no error when absent. */
export function destroyTable(family: number, name: string): NftMessage {
  return message(`DESTROYTABLE ${name}`, NFT_MSG_DESTROYTABLE, CHANGE, family, [attrString(NFTA_TABLE_NAME, name)]);
}

/** The payload of a GETTABLE for one table (`nft list table FAMILY NAME` starts with it). */
export function getTablePayload(family: number, name: string): Buffer {
  return Buffer.concat([nfgenmsg(family), encodeAttrs([attrString(NFTA_TABLE_NAME, name)])]);
}

/** The payload of a dump request (GETCHAIN/GETRULE/GETSET...) narrowed by `attrs` (e.g. the table). */
export function dumpPayload(family: number, attrs: Attr[] = []): Buffer {
  return Buffer.concat([nfgenmsg(family), encodeAttrs(attrs)]);
}

export interface BaseChainSpec {
  family: number;
  table: string;
  name: string;
  /** "filter", "nat", "route" (NFTA_CHAIN_TYPE). */
  type: string;
  /** NF_INET_* hook. */
  hook: number;
  priority: number;
  /** NF_ACCEPT or NF_DROP. */
  policy: number;
}

/** NFT_MSG_NEWCHAIN of a base chain (`nft add chain F T C { type filter hook input priority 0; policy accept; }`). */
export function newBaseChain(c: BaseChainSpec): NftMessage {
  return message(`NEWCHAIN ${c.name}`, NFT_MSG_NEWCHAIN, CREATE, c.family, [
    attrString(NFTA_CHAIN_TABLE, c.table),
    attrString(NFTA_CHAIN_NAME, c.name),
    nest(NFTA_CHAIN_HOOK, [attrBe32(NFTA_HOOK_HOOKNUM, c.hook), attrBe32(NFTA_HOOK_PRIORITY, c.priority)]),
    attrBe32(NFTA_CHAIN_POLICY, c.policy),
    attrString(NFTA_CHAIN_TYPE, c.type),
  ]);
}

/** NFT_MSG_NEWCHAIN of a regular chain, a jump target (`nft add chain F T C`). */
export function newChain(family: number, table: string, name: string): NftMessage {
  return message(`NEWCHAIN ${name}`, NFT_MSG_NEWCHAIN, CREATE, family, [attrString(NFTA_CHAIN_TABLE, table), attrString(NFTA_CHAIN_NAME, name)]);
}

export interface SetSpec {
  family: number;
  table: string;
  name: string;
  /** NFTA_SET_ID: unique within the batch, so rules of the same batch may refer to the set by id. */
  id: number;
  /** nft's datatype number (NFT_TYPE_IP6ADDR) and key length in bytes. */
  keyType: number;
  keyLen: number;
}

/** NFT_MSG_NEWSET of a plain named set (`nft add set F T S { type ipv6_addr; }`). */
export function newSet(s: SetSpec): NftMessage {
  return message(`NEWSET ${s.name}`, NFT_MSG_NEWSET, CREATE, s.family, [
    attrString(NFTA_SET_TABLE, s.table),
    attrString(NFTA_SET_NAME, s.name),
    attrBe32(NFTA_SET_KEY_TYPE, s.keyType),
    attrBe32(NFTA_SET_KEY_LEN, s.keyLen),
    attrBe32(NFTA_SET_ID, s.id),
  ]);
}

function setElemHead(table: string, set: string, setId: number | undefined): Attr[] {
  const head = [attrString(NFTA_SET_ELEM_LIST_TABLE, table), attrString(NFTA_SET_ELEM_LIST_SET, set)];
  if (setId !== undefined) head.push(attrBe32(NFTA_SET_ELEM_LIST_SET_ID, setId));
  return head;
}

/**
 * How many 16-byte keys fit one NEWSETELEM: NFTA_SET_ELEM_LIST_ELEMENTS is one attribute, and an
 * attribute's length is a u16 (28 bytes an element: LIST_ELEM + KEY + DATA_VALUE headers + 16).
 */
export const SETELEM_CHUNK = 1024;

/**
 * NFT_MSG_NEWSETELEM (`nft add element F T S { k1, k2 }`), split into messages of SETELEM_CHUNK
 * keys. No keys, no message (the kernel wants NFTA_SET_ELEM_LIST_ELEMENTS).
 */
export function newSetElems(family: number, table: string, set: string, keys: Buffer[], setId?: number): NftMessage[] {
  const out: NftMessage[] = [];
  for (let i = 0; i < keys.length; i += SETELEM_CHUNK) {
    const chunk = keys.slice(i, i + SETELEM_CHUNK);
    const elements = chunk.map((k) => nest(NFTA_LIST_ELEM, [dataValue(NFTA_SET_ELEM_KEY, k)]));
    out.push(
      message(`NEWSETELEM ${set} (${chunk.length})`, NFT_MSG_NEWSETELEM, CREATE, family, [
        ...setElemHead(table, set, setId),
        nest(NFTA_SET_ELEM_LIST_ELEMENTS, elements),
      ]),
    );
  }
  return out;
}

/**
 * NFT_MSG_DELSETELEM without NFTA_SET_ELEM_LIST_ELEMENTS: the kernel flushes the set
 * (nf_tables_delsetelem → nft_set_flush), as `nft flush set F T S`.
 */
export function flushSet(family: number, table: string, set: string): NftMessage {
  return message(`DELSETELEM ${set} (flush)`, NFT_MSG_DELSETELEM, CHANGE, family, setElemHead(table, set, undefined));
}

/**
 * NFTA_RULE_USERDATA holding a comment as nft writes it (libnftnl udata.h: u8 type
 * NFTNL_UDATA_RULE_COMMENT, u8 length, the NUL-terminated text), so `nft list` shows `comment "…"`.
 */
export function commentUserdata(comment: string): Buffer {
  const text = Buffer.from(`${comment}\0`, 'utf8');
  if (text.length > NFTNL_UDATA_COMMENT_MAXLEN || text.indexOf(0) !== text.length - 1) {
    throw new RangeError(`rule comment must be at most ${NFTNL_UDATA_COMMENT_MAXLEN - 1} bytes without NUL`);
  }
  return Buffer.concat([Buffer.from([NFTNL_UDATA_RULE_COMMENT, text.length]), text]);
}

/**
 * NFT_MSG_NEWRULE appended to `chain` (`nft add rule F T C ... [comment "…"]`): NLM_F_APPEND,
 * for without it the kernel puts the rule at the head of the chain.
 */
export function newRule(family: number, table: string, chain: string, exprs: Expr[], comment?: string, what?: string): NftMessage {
  const attrs: Attr[] = [attrString(NFTA_RULE_TABLE, table), attrString(NFTA_RULE_CHAIN, chain), nest(NFTA_RULE_EXPRESSIONS, exprs)];
  if (comment !== undefined) attrs.push({ type: NFTA_RULE_USERDATA, value: commentUserdata(comment) });
  return message(what ?? `NEWRULE ${chain}`, NFT_MSG_NEWRULE, CREATE | NLM_F_APPEND, family, attrs);
}

/** NFNL_MSG_BATCH_BEGIN: res_id (big-endian) names the subsystem the batch is for. */
export function batchBegin(): NftMessage {
  return { what: 'BATCH_BEGIN', type: NFNL_MSG_BATCH_BEGIN, flags: NLM_F_REQUEST, payload: nfgenmsg(NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES) };
}

export function batchEnd(): NftMessage {
  return { what: 'BATCH_END', type: NFNL_MSG_BATCH_END, flags: NLM_F_REQUEST, payload: nfgenmsg(NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES) };
}

/** The messages framed as one batch: BEGIN, the messages, END. */
export function framed(messages: NftMessage[]): NftMessage[] {
  return [batchBegin(), ...messages, batchEnd()];
}

/** One datagram of a framed batch with sequence numbers from `firstSeq` (pid 0: the kernel). */
export function encodeBatch(messages: NftMessage[], firstSeq: number): Buffer {
  return Buffer.concat(framed(messages).map((m, i) => encodeMessage({ type: m.type, flags: m.flags | NLM_F_REQUEST, seq: (firstSeq + i) >>> 0, pid: 0 }, m.payload)));
}

// ---- decoders (never throw) ----

export interface RawAttr {
  type: number;
  nested: boolean;
  value: Buffer;
}

/** Every attribute in order (repeated ones kept: list elements), flags stripped; stops at garbage. */
export function attrList(buf: Buffer | undefined): RawAttr[] {
  const out: RawAttr[] = [];
  if (!buf) return out;
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    const raw = buf.readUInt16LE(off + 2);
    if (len < 4 || off + len > buf.length) break;
    out.push({ type: raw & 0x3fff, nested: (raw & NLA_F_NESTED) !== 0, value: buf.subarray(off + 4, off + len) });
    off += (len + 3) & ~3;
  }
  return out;
}

/** Attributes by type, the first of each kept. */
function attrMap(buf: Buffer | undefined): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (const a of attrList(buf)) if (!out.has(a.type)) out.set(a.type, a.value);
  return out;
}

function be32(buf: Buffer | undefined): number | undefined {
  return buf && buf.length >= 4 ? buf.readUInt32BE(0) : undefined;
}

function be64(buf: Buffer | undefined): bigint | undefined {
  return buf && buf.length >= 8 ? buf.readBigUInt64BE(0) : undefined;
}

interface NfgenBody {
  family: number;
  attrs: Map<number, Buffer>;
}

/** The nfgenmsg family and the attributes of an nf_tables message; undefined when too short. */
function body(m: NetlinkMessage): NfgenBody | undefined {
  if (!m.payload || m.payload.length < NFGENMSG_LEN) return undefined;
  return { family: m.payload.readUInt8(0), attrs: attrMap(m.payload.subarray(NFGENMSG_LEN)) };
}

export interface TableInfo {
  family: number;
  name: string;
  flags: number;
  /** NFTA_TABLE_USE: how many chains it holds. */
  use?: number;
}

/** A NEWTABLE (GETTABLE reply / dump entry). */
export function decodeTable(m: NetlinkMessage): TableInfo | undefined {
  const b = body(m);
  const name = cString(b?.attrs.get(NFTA_TABLE_NAME));
  if (!b || name === undefined) return undefined;
  const use = be32(b.attrs.get(NFTA_TABLE_USE));
  return { family: b.family, name, flags: be32(b.attrs.get(NFTA_TABLE_FLAGS)) ?? 0, ...(use === undefined ? {} : { use }) };
}

export interface ChainInfo {
  family: number;
  table: string;
  name: string;
  /** NF_INET_* of a base chain. */
  hook?: number;
}

/** A NEWCHAIN dump entry. */
export function decodeChain(m: NetlinkMessage): ChainInfo | undefined {
  const b = body(m);
  const table = cString(b?.attrs.get(NFTA_CHAIN_TABLE));
  const name = cString(b?.attrs.get(NFTA_CHAIN_NAME));
  if (!b || table === undefined || name === undefined) return undefined;
  const hook = be32(attrMap(b.attrs.get(NFTA_CHAIN_HOOK)).get(NFTA_HOOK_HOOKNUM));
  return { family: b.family, table, name, ...(hook === undefined ? {} : { hook }) };
}

export interface RuleInfo {
  family: number;
  table: string;
  chain: string;
  handle?: number;
  comment?: string;
  /** Expression names in order ("meta", "cmp", "immediate"...). */
  exprs: string[];
}

/** The comment in NFTA_RULE_USERDATA (TLVs of u8 type, u8 len), if any. */
export function decodeComment(udata: Buffer | undefined): string | undefined {
  if (!udata) return undefined;
  let off = 0;
  while (off + 2 <= udata.length) {
    const type = udata[off] ?? 0;
    const len = udata[off + 1] ?? 0;
    if (off + 2 + len > udata.length) return undefined;
    if (type === NFTNL_UDATA_RULE_COMMENT) return cString(udata.subarray(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return undefined;
}

/** A NEWRULE dump entry. */
export function decodeRule(m: NetlinkMessage): RuleInfo | undefined {
  const b = body(m);
  const table = cString(b?.attrs.get(NFTA_RULE_TABLE));
  const chain = cString(b?.attrs.get(NFTA_RULE_CHAIN));
  if (!b || table === undefined || chain === undefined) return undefined;
  const exprs: string[] = [];
  for (const e of attrList(b.attrs.get(NFTA_RULE_EXPRESSIONS))) {
    if (e.type !== NFTA_LIST_ELEM) continue;
    exprs.push(cString(attrMap(e.value).get(NFTA_EXPR_NAME)) ?? '?');
  }
  const handle = be64(b.attrs.get(NFTA_RULE_HANDLE));
  const comment = decodeComment(b.attrs.get(NFTA_RULE_USERDATA));
  return {
    family: b.family,
    table,
    chain,
    ...(handle === undefined ? {} : { handle: Number(handle) }),
    ...(comment === undefined ? {} : { comment }),
    exprs,
  };
}

export interface SetInfo {
  family: number;
  table: string;
  name: string;
  keyType?: number;
  keyLen?: number;
}

/** A NEWSET dump entry. */
export function decodeSet(m: NetlinkMessage): SetInfo | undefined {
  const b = body(m);
  const table = cString(b?.attrs.get(NFTA_SET_TABLE));
  const name = cString(b?.attrs.get(NFTA_SET_NAME));
  if (!b || table === undefined || name === undefined) return undefined;
  const keyType = be32(b.attrs.get(NFTA_SET_KEY_TYPE));
  const keyLen = be32(b.attrs.get(NFTA_SET_KEY_LEN));
  return { family: b.family, table, name, ...(keyType === undefined ? {} : { keyType }), ...(keyLen === undefined ? {} : { keyLen }) };
}

export interface SetElems {
  family: number;
  table: string;
  set: string;
  keys: Buffer[];
}

/** A NEWSETELEM dump entry: the keys of its elements (copies). */
export function decodeSetElems(m: NetlinkMessage): SetElems | undefined {
  const b = body(m);
  const table = cString(b?.attrs.get(NFTA_SET_ELEM_LIST_TABLE));
  const set = cString(b?.attrs.get(NFTA_SET_ELEM_LIST_SET));
  if (!b || table === undefined || set === undefined) return undefined;
  const keys: Buffer[] = [];
  for (const e of attrList(b.attrs.get(NFTA_SET_ELEM_LIST_ELEMENTS))) {
    if (e.type !== NFTA_LIST_ELEM) continue;
    const key = attrMap(attrMap(e.value).get(NFTA_SET_ELEM_KEY)).get(NFTA_DATA_VALUE);
    if (key) keys.push(Buffer.from(key));
  }
  return { family: b.family, table, set, keys };
}

/** Decode every nf_tables message of a datagram with `decode`, dropping what does not decode. */
export function decodeAll<T>(datagram: Buffer, decode: (m: NetlinkMessage) => T | undefined): T[] {
  const out: T[] = [];
  for (const m of decodeMessages(datagram)) {
    const v = decode(m);
    if (v !== undefined) out.push(v);
  }
  return out;
}

/** Top-level attribute names of the messages we send, for error reports (nf_tables.h enums). */
const TOP_NAMES: Record<number, string[]> = {
  [NFT_MSG_NEWTABLE]: ['', 'NFTA_TABLE_NAME', 'NFTA_TABLE_FLAGS'],
  [NFT_MSG_DELTABLE]: ['', 'NFTA_TABLE_NAME'],
  [NFT_MSG_DESTROYTABLE]: ['', 'NFTA_TABLE_NAME'],
  [NFT_MSG_NEWCHAIN]: ['', 'NFTA_CHAIN_TABLE', 'NFTA_CHAIN_HANDLE', 'NFTA_CHAIN_NAME', 'NFTA_CHAIN_HOOK', 'NFTA_CHAIN_POLICY', 'NFTA_CHAIN_USE', 'NFTA_CHAIN_TYPE'],
  [NFT_MSG_NEWRULE]: ['', 'NFTA_RULE_TABLE', 'NFTA_RULE_CHAIN', 'NFTA_RULE_HANDLE', 'NFTA_RULE_EXPRESSIONS', 'NFTA_RULE_COMPAT', 'NFTA_RULE_POSITION', 'NFTA_RULE_USERDATA'],
  [NFT_MSG_NEWSET]: ['', 'NFTA_SET_TABLE', 'NFTA_SET_NAME', 'NFTA_SET_FLAGS', 'NFTA_SET_KEY_TYPE', 'NFTA_SET_KEY_LEN', 'NFTA_SET_DATA_TYPE', 'NFTA_SET_DATA_LEN', 'NFTA_SET_POLICY', 'NFTA_SET_DESC', 'NFTA_SET_ID'],
  [NFT_MSG_NEWSETELEM]: ['', 'NFTA_SET_ELEM_LIST_TABLE', 'NFTA_SET_ELEM_LIST_SET', 'NFTA_SET_ELEM_LIST_ELEMENTS', 'NFTA_SET_ELEM_LIST_SET_ID'],
  [NFT_MSG_DELSETELEM]: ['', 'NFTA_SET_ELEM_LIST_TABLE', 'NFTA_SET_ELEM_LIST_SET', 'NFTA_SET_ELEM_LIST_ELEMENTS', 'NFTA_SET_ELEM_LIST_SET_ID'],
};

/**
 * The attribute of `m` that starts at `offset` (counted from its nlmsghdr, as the kernel's
 * NLMSGERR_ATTR_OFFS is), as a path of types ("NFTA_RULE_EXPRESSIONS > 1 > 2 > 3"); undefined
 * when no attribute starts there. Never throws.
 */
export function attrPathAt(m: NftMessage, offset: number): string | undefined {
  const names = TOP_NAMES[m.type & 0xff] ?? [];
  const walk = (buf: Buffer, base: number, depth: number): string[] | undefined => {
    let off = 0;
    for (const a of attrList(buf)) {
      const start = base + off;
      const end = start + 4 + a.value.length;
      off += (4 + a.value.length + 3) & ~3;
      if (offset < start || offset >= end) continue;
      const name = depth === 0 ? names[a.type] || String(a.type) : String(a.type);
      if (offset === start) return [name];
      const inner = a.nested ? walk(a.value, start + 4, depth + 1) : undefined;
      return inner ? [name, ...inner] : undefined;
    }
    return undefined;
  };
  if (offset < 16 + NFGENMSG_LEN || m.payload.length < NFGENMSG_LEN) return undefined;
  return walk(m.payload.subarray(NFGENMSG_LEN), 16 + NFGENMSG_LEN, 0)?.join(' > ');
}
