// The nf_tables codec without a kernel: exact bytes of small encodings (big-endian integers,
// NLA_F_NESTED, nfgenmsg, batch framing, the comment userdata), round trips through the dump
// decoders, decoders that never throw on truncated or random input, and the policy ruleset's
// messages in the order the kernel needs them.
import t from 'tap';
import { decodeMessages, encodeAttrs, encodeMessage, type NetlinkMessage } from '../../runtime/wire/rtnetlink/codec';
import { RtnetlinkSocket, type NetlinkDatagram, type NetlinkTransport } from '../../runtime/system/rtnetlink/socket';
import { NftHandle } from '../../runtime/system/nftables';
import {
  attrPathAt,
  batchBegin,
  commentUserdata,
  counterExpr,
  decodeAll,
  decodeChain,
  decodeComment,
  decodeRule,
  decodeSet,
  decodeSetElems,
  decodeTable,
  encodeBatch,
  flushSet,
  ifnameValue,
  metaExpr,
  newChain,
  newRule,
  newSet,
  newSetElems,
  newTable,
  nfgenmsg,
  nftType,
  SETELEM_CHUNK,
  verdictExpr,
  type NftMessage,
} from '../../runtime/wire/nftables/codec';
import {
  NFPROTO_INET,
  NFT_JUMP,
  NFT_META_IIFNAME,
  NFT_MSG_NEWRULE,
  NFT_MSG_DELSETELEM,
  NFT_MSG_DELTABLE,
  NFT_MSG_DESTROYTABLE,
  NFT_MSG_GETTABLE,
  NFT_MSG_NEWSETELEM,
  NFT_TYPE_IP6ADDR,
  NF_ACCEPT,
} from '../../runtime/wire/nftables/constants';
import { membersUpdate, policyRuleset } from '../../runtime/wire/nftables/ruleset';
import type { Policy } from '../../runtime/core/policy';

const hex = (b: Buffer): string => b.toString('hex');
/** An encoded message as the kernel would hand it back in a dump. */
const asReply = (m: NftMessage): NetlinkMessage => ({ length: 16 + m.payload.length, type: m.type, flags: 0, seq: 1, pid: 0, payload: m.payload });

t.test('nfgenmsg: family, version 0, res_id big-endian', async (t) => {
  t.equal(hex(nfgenmsg(NFPROTO_INET)), '01000000');
  t.equal(hex(nfgenmsg(0, 10)), '0000000a', 'res_id NFNL_SUBSYS_NFTABLES in network order');
  t.equal(nftType(NFT_MSG_NEWRULE), 0x0a06, 'NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWRULE');
});

t.test('NEWTABLE: exact bytes, big-endian flags', async (t) => {
  const m = newTable(NFPROTO_INET, 't');
  t.equal(m.type, 0x0a00);
  t.equal(m.flags, 0x1 | 0x4 | 0x400, 'REQUEST | ACK | CREATE');
  t.equal(hex(m.payload), '01000000' + '06000100' + '74000000' + '08000200' + '00000000');
});

t.test('meta expression: NLA_F_NESTED on nested attributes, big-endian registers and keys', async (t) => {
  const m = newRule(NFPROTO_INET, 'T', 'c', [metaExpr(NFT_META_IIFNAME)]);
  // nfgenmsg, TABLE "T", CHAIN "c", then EXPRESSIONS (0x8004) { LIST_ELEM (0x8001) { NAME "meta", DATA (0x8002) { DREG 1, KEY 6 } } }
  const expressions =
    '28000480' + '24000180' + '09000100' + '6d657461' + '00000000' + '14000280' + '08000100' + '00000001' + '08000200' + '00000006';
  t.equal(hex(m.payload), '01000000' + '06000100' + '54000000' + '06000200' + '63000000' + expressions);
  t.equal(m.flags & 0x800, 0x800, 'NLM_F_APPEND: rules go at the end of the chain');
});

t.test('verdicts: negative codes in two\'s complement, jump names its chain', async (t) => {
  const m = newRule(NFPROTO_INET, 'T', 'c', [verdictExpr(NFT_JUMP, 'guard')]);
  t.match(hex(m.payload), /08000100fffffffd0a00020067756172640000/, 'NFTA_VERDICT_CODE -3, NFTA_VERDICT_CHAIN "guard"');
  const accept = newRule(NFPROTO_INET, 'T', 'c', [verdictExpr(NF_ACCEPT)]);
  t.match(hex(accept.payload), /0800010000000001/, 'NF_ACCEPT = 1');
  t.match(hex(newRule(NFPROTO_INET, 'T', 'c', [counterExpr()]).payload), /0c00010000000000000000000c0002000000000000000000/, 'counter: be64 bytes and packets, 0');
});

t.test('interface names and comments', async (t) => {
  t.equal(hex(ifnameValue('eth0')), '65746830' + '00'.repeat(12), 'IFNAMSIZ zero-padded');
  t.throws(() => ifnameValue('x'.repeat(16)), RangeError, 'longer than IFNAMSIZ-1');
  t.throws(() => ifnameValue(''), RangeError);
  t.equal(hex(commentUserdata('ab')), '0003616200', 'NFTNL_UDATA_RULE_COMMENT, length with the NUL, text, NUL');
  t.throws(() => commentUserdata('x'.repeat(128)), RangeError, 'nft refuses comments over 127 bytes');
  t.equal(decodeComment(commentUserdata('fingerprint')), 'fingerprint');
  t.equal(decodeComment(Buffer.from([1, 2, 0, 0, 0, 3, 0x61, 0x62, 0])), 'ab', 'other TLVs skipped');
  t.equal(decodeComment(Buffer.from([0, 9, 0x61])), undefined, 'a length past the end');
});

t.test('batch framing: BEGIN and END carry res_id NFNL_SUBSYS_NFTABLES, consecutive seqs', async (t) => {
  const buf = encodeBatch([newTable(NFPROTO_INET, 't')], 100);
  const ms = decodeMessages(buf);
  t.same(
    ms.map((m) => [m.type, m.flags, m.seq]),
    [
      [0x10, 0x1, 100],
      [0x0a00, 0x405, 101],
      [0x11, 0x1, 102],
    ],
  );
  t.equal(hex(buf.subarray(0, 20)), '14000000' + '1000' + '0100' + '64000000' + '00000000' + '0000000a');
  t.equal(batchBegin().flags & 0x4, 0, 'no ACK asked of the framing: the kernel never acks BEGIN/END');
});

t.test('round trips through the dump decoders', async (t) => {
  t.same(decodeTable(asReply(newTable(NFPROTO_INET, 'oci'))), { family: 1, name: 'oci', flags: 0 });
  t.same(decodeChain(asReply(newChain(NFPROTO_INET, 'oci', 'guard'))), { family: 1, table: 'oci', name: 'guard' });
  t.same(decodeSet(asReply(newSet({ family: 1, table: 'oci', name: 'net_a', id: 1, keyType: NFT_TYPE_IP6ADDR, keyLen: 16 }))), {
    family: 1,
    table: 'oci',
    name: 'net_a',
    keyType: 8,
    keyLen: 16,
  });
  const keys = [Buffer.alloc(16, 1), Buffer.alloc(16, 2)];
  const [elems] = newSetElems(1, 'oci', 'net_a', keys, 1);
  t.ok(elems);
  if (elems) t.same(decodeSetElems(asReply(elems))?.keys, keys);
  const rule = decodeRule(asReply(newRule(1, 'oci', 'guard', [metaExpr(NFT_META_IIFNAME), counterExpr(), verdictExpr(NF_ACCEPT)], 'tag')));
  t.same(rule, { family: 1, table: 'oci', chain: 'guard', comment: 'tag', exprs: ['meta', 'counter', 'immediate'] });
  const flush = flushSet(1, 'oci', 'net_a');
  t.equal(flush.type, nftType(NFT_MSG_DELSETELEM));
  t.same(decodeSetElems(asReply(flush))?.keys, [], 'a flush has no elements');
  t.same(decodeAll(encodeBatch([newTable(1, 'x'), newTable(1, 'y')], 1), decodeTable).map((x) => x.name), ['x', 'y']);
});

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('decoders never throw on truncated, mutated or random input', async (t) => {
  const next = rng(0x5eed);
  const valid = policyRuleset('oci_slaac_hook', 'eth0', {
    mode: 'restricted',
    expose: [{ proto: 'tcp', from: 80, to: 90 }],
    networks: ['blue'],
    allowFrom: [{ prefix: '2001:db8::', length: 32 }],
    echo: true,
  }, { blue: ['2001:db8::1', '2001:db8::2'] }, 'tag').map((m) => m.payload);
  const decoders: ((m: NetlinkMessage) => unknown)[] = [decodeTable, decodeChain, decodeRule, decodeSet, decodeSetElems];
  let runs = 0;
  let threw = 0;
  for (let i = 0; i < 2000; i++) {
    let payload: Buffer;
    const pick = next();
    const base = valid[Math.floor(next() * valid.length)] ?? Buffer.alloc(0);
    if (pick < 0.35) payload = base.subarray(0, Math.floor(next() * (base.length + 1))); // truncated
    else if (pick < 0.7) {
      payload = Buffer.from(base); // a few bytes flipped: lengths and types go wrong
      for (let k = 0; k < 1 + Math.floor(next() * 6); k++) payload[Math.floor(next() * payload.length)] = Math.floor(next() * 256);
    } else {
      payload = Buffer.alloc(Math.floor(next() * 256));
      for (let k = 0; k < payload.length; k++) payload[k] = Math.floor(next() * 256);
    }
    const m: NetlinkMessage = { length: 16 + payload.length, type: 0x0a06, flags: 0, seq: 1, pid: 0, payload };
    for (const d of decoders) {
      runs++;
      try {
        d(m);
        decodeComment(payload);
        decodeAll(payload, d);
      } catch {
        threw++;
      }
    }
  }
  t.equal(runs, 10000);
  t.equal(threw, 0, 'no decoder threw');
});

const POLICY: Policy = {
  mode: 'restricted',
  expose: [
    { proto: 'tcp', from: 8080, to: 8080 },
    { proto: 'udp', from: 5000, to: 5010 },
  ],
  networks: ['blue', 'red'],
  allowFrom: [{ prefix: '2001:db8:ff::', length: 48 }],
  echo: true,
};

t.test('the policy ruleset: messages in the order the kernel needs', async (t) => {
  const ms = policyRuleset('T', 'eth0', POLICY, { blue: ['2001:db8:a1::3', '2001:db8:a1::3'] }, 'tag');
  t.same(
    ms.map((m) => m.what),
    [
      'NEWTABLE T',
      'NEWSET net_blue',
      'NEWSETELEM net_blue (1)', // duplicates dropped
      'NEWSET net_red', // no members: no NEWSETELEM (the kernel wants elements in one)
      'NEWCHAIN input',
      'NEWCHAIN guard',
      'NEWRULE input: iifname "eth0" jump guard',
      'NEWRULE guard: ct state established,related accept',
      'NEWRULE guard: icmpv6 type 1-4 accept',
      'NEWRULE guard: icmpv6 type 130-137 accept',
      'NEWRULE guard: icmpv6 type 143 accept',
      'NEWRULE guard: icmpv6 type echo-request accept',
      'NEWRULE guard: ip6 saddr 2001:db8:ff::/48 accept',
      'NEWRULE guard: ip6 saddr @net_blue accept',
      'NEWRULE guard: ip6 saddr @net_red accept',
      'NEWRULE guard: tcp dport 8080 accept',
      'NEWRULE guard: udp dport 5000-5010 accept',
      'NEWRULE guard: counter drop comment "tag"',
    ],
  );
  const rules = ms.filter((m) => m.type === nftType(NFT_MSG_NEWRULE)).map((m) => decodeRule(asReply(m)));
  t.same(rules[0]?.exprs, ['meta', 'cmp', 'immediate']);
  t.same(rules[1]?.exprs, ['ct', 'bitwise', 'cmp', 'immediate'], 'ct state: mask then cmp neq 0');
  t.same(rules[2]?.exprs, ['meta', 'cmp', 'payload', 'cmp', 'cmp', 'immediate'], 'a type range: cmp gte + cmp lte');
  t.same(rules[6]?.exprs, ['meta', 'cmp', 'payload', 'bitwise', 'cmp', 'immediate'], 'a prefix: bitwise + cmp');
  t.same(rules[7]?.exprs, ['meta', 'cmp', 'payload', 'lookup', 'immediate']);
  t.same(rules[9]?.exprs, ['meta', 'cmp', 'payload', 'cmp', 'immediate'], 'one port: cmp eq');
  t.same(rules.at(-1), { family: 1, table: 'T', chain: 'guard', comment: 'tag', exprs: ['counter', 'immediate'] });
  // the /48 prefix and its mask, as the kernel gets them
  t.match(hex(ms[12]?.payload ?? Buffer.alloc(0)), /ffffffffffff00000000000000000000/);
  t.match(hex(ms[12]?.payload ?? Buffer.alloc(0)), /20010db800ff00000000000000000000/);

  const quiet = policyRuleset('T', 'eth0', { ...POLICY, echo: false, networks: [], allowFrom: [], expose: [] }, {}, 'x');
  t.equal(quiet.length, 9, 'table, 2 chains, input rule, ct + 3 ICMPv6 rules, drop');
  t.notOk(quiet.some((m) => m.what.includes('echo-request')), 'no echo rule when echo is false');
  t.throws(() => policyRuleset('T', 'a-very-long-ifname', POLICY, {}, 'x'), RangeError);
  t.throws(() => policyRuleset('T', 'eth0', POLICY, { blue: ['not-an-address'] }, 'x'), /invalid network member address/);
  t.throws(() => policyRuleset('T', 'eth0', { ...POLICY, expose: [{ proto: 'tcp', from: 9, to: 8 }] }, {}, 'x'), RangeError);
});

t.test('membersUpdate: a flush, then the members in chunks', async (t) => {
  t.same(membersUpdate('T', 'blue', []).map((m) => m.what), ['DELSETELEM net_blue (flush)']);
  const two = membersUpdate('T', 'blue', ['2001:db8::1', '2001:db8::2']);
  t.same(two.map((m) => m.type), [nftType(NFT_MSG_DELSETELEM), nftType(NFT_MSG_NEWSETELEM)]);
  t.same(decodeSetElems(asReply(two[1] as NftMessage))?.keys.map(hex), ['20010db8000000000000000000000001', '20010db8000000000000000000000002']);
  const many = Array.from({ length: 2000 }, (_, i) => `2001:db8::${(i + 1).toString(16)}`);
  const chunks = membersUpdate('T', 'blue', many).slice(1);
  t.equal(chunks.length, Math.ceil(2000 / SETELEM_CHUNK), 'split: an attribute length is a u16');
  t.ok(chunks.every((m) => m.payload.length < 0xffff));
  t.equal(chunks.reduce((n, m) => n + (decodeSetElems(asReply(m))?.keys.length ?? 0), 0), 2000);
});

// ---- NftHandle and RtnetlinkSocket.transaction against a scripted nf_tables ----

const PORT = 0x4321;

/** nf_tables in a box: batches answered per message as the kernel does (acks queued in sendmsg). */
class ScriptedNftables implements NetlinkTransport {
  readonly portId = PORT;
  readonly batches: NetlinkMessage[][] = [];
  readonly gets: NetlinkMessage[] = [];
  private inbox: NetlinkDatagram[] = [];
  tableExists = true;
  destroySupported = true;
  refuseBegin = false;
  /** errno (and bad attribute offset) for a message, or 0. */
  refuse: (m: NetlinkMessage) => { errno: number; offset?: number } | undefined = () => undefined;

  send(datagram: Buffer): void {
    const ms = decodeMessages(datagram);
    const first = ms[0];
    if (!first) return;
    if (first.type !== 0x10) {
      this.gets.push(first);
      if ((first.type & 0xff) === NFT_MSG_GETTABLE && !this.tableExists) this.reply(first, 2);
      else {
        this.inbox.push({ data: encodeMessage({ type: nftType(0), flags: 0, seq: first.seq, pid: PORT }, newTable(1, 'T').payload), truncated: false, groups: 0 });
        this.reply(first, 0);
      }
      return;
    }
    this.batches.push(ms);
    if (this.refuseBegin) {
      this.reply(first, 22); // nfnetlink_rcv_skb_batch: the whole datagram dropped, one error
      return;
    }
    for (const m of ms.slice(1, -1)) {
      let refusal = this.refuse(m);
      if (!refusal && (m.type & 0xff) === NFT_MSG_DESTROYTABLE && !this.destroySupported) refusal = { errno: 22 };
      if (refusal) this.reply(m, refusal.errno, refusal.offset);
      else if (m.flags & 0x4) this.reply(m, 0);
    }
  }

  private reply(req: NetlinkMessage, errno: number, offset?: number): void {
    const err = Buffer.alloc(20);
    err.writeInt32LE(-errno, 0);
    encodeMessage({ type: req.type, flags: req.flags, seq: req.seq, pid: 0 }, Buffer.alloc(0)).copy(err, 4);
    const offs = Buffer.alloc(4);
    offs.writeUInt32LE(offset ?? 0);
    const tlvs = offset === undefined ? Buffer.alloc(0) : encodeAttrs([{ type: 2, value: offs }]);
    const data = encodeMessage({ type: 2, flags: offset === undefined ? 0x100 : 0x300, seq: req.seq, pid: PORT }, Buffer.concat([err, tlvs]));
    this.inbox.push({ data, truncated: false, groups: 0 });
  }

  receive(): NetlinkDatagram | null {
    return this.inbox.shift() ?? null;
  }
  get queued(): number {
    return this.inbox.length;
  }
  watch(): () => void {
    return () => undefined;
  }
  membership(): void {}
  close(): void {}
}

const kinds = (ms: NetlinkMessage[] | undefined): number[] => (ms ?? []).map((m) => (m.type >> 8 === 10 ? m.type & 0xff : m.type));

t.test('install: DESTROYTABLE first; GETTABLE + DELTABLE on kernels without it', async (t) => {
  const k = new ScriptedNftables();
  const h = NftHandle.over(RtnetlinkSocket.over(k, { timeoutMs: 50 }));
  h.install('T', 'eth0', POLICY, {}, 'tag');
  t.same(kinds(k.batches[0]).slice(0, 3), [0x10, NFT_MSG_DESTROYTABLE, 0], 'BEGIN, DESTROYTABLE, NEWTABLE');
  t.equal(k.gets.length, 0, 'no GETTABLE needed');
  t.ok(k.batches[0]?.slice(1, -1).every((m) => m.flags & 0x4), 'every change asks for an ack');

  const old = new ScriptedNftables();
  old.destroySupported = false;
  const h2 = NftHandle.over(RtnetlinkSocket.over(old, { timeoutMs: 50 }));
  h2.install('T', 'eth0', POLICY, {}, 'tag');
  t.equal(old.batches.length, 2, 'refused once, then again without DESTROYTABLE');
  t.same(kinds(old.batches[1]).slice(0, 3), [0x10, NFT_MSG_DELTABLE, 0], 'the table existed: DELTABLE, NEWTABLE');
  old.tableExists = false;
  h2.install('T', 'eth0', POLICY, {}, 'tag');
  t.equal(old.batches.length, 3, 'DESTROYTABLE is not tried again');
  t.same(kinds(old.batches[2]).slice(0, 2), [0x10, 0], 'no table: no DELTABLE (ENOENT would abort the batch)');
});

t.test('transaction: the first refusal named with its attribute, the rest drained', async (t) => {
  const k = new ScriptedNftables();
  const sock = RtnetlinkSocket.over(k, { timeoutMs: 50 });
  const h = NftHandle.over(sock);
  // refuse NEWSET's name (NFTA_SET_NAME is its second attribute: 16 + 4 + 8 bytes of "T\0" + pad)
  k.refuse = (m) => ((m.type & 0xff) === 9 ? { errno: 34, offset: 16 + 4 + 8 } : undefined);
  let caught: unknown;
  try {
    h.install('T', 'eth0', POLICY, { blue: [] }, 'tag');
  } catch (err) {
    caught = err;
  }
  t.match(caught, { name: 'TransactionError', code: 'ERANGE', errno: 34, index: 3, extack: 'NFTA_SET_NAME' });
  t.match((caught as Error).message, /^install nf_tables table inet T: NEWSET net_blue: ERANGE: NFTA_SET_NAME$/);
  t.equal(k.queued, 0, 'every later ack was read: the socket is clean');
  k.refuse = () => undefined;
  h.setMembers('T', 'blue', ['2001:db8::1']);
  t.same(kinds(k.batches.at(-1)), [0x10, NFT_MSG_DELSETELEM, NFT_MSG_NEWSETELEM, 0x11], 'the next batch goes through');

  k.refuse = (m) => ((m.type & 0xff) === NFT_MSG_DELSETELEM ? { errno: 2 } : undefined);
  t.throws(() => h.setMembers('T', 'nosuch', []), { code: 'ENOENT', message: /DELSETELEM net_nosuch \(flush\): ENOENT$/ });

  // The kernel refused the batch as a whole (BEGIN) and answers nothing else: no waiting for acks.
  k.refuse = () => undefined;
  k.refuseBegin = true;
  const started = Date.now();
  t.throws(() => h.setMembers('T', 'blue', []), { code: 'EINVAL', index: 0, message: /: BATCH_BEGIN: EINVAL$/ });
  t.ok(Date.now() - started < 50, 'no wait for acks that will never come');
  t.equal(k.queued, 0);
  k.refuseBegin = false;
  t.equal(h.deleteTable('T'), true);
  k.refuse = (m) => ((m.type & 0xff) === NFT_MSG_DELTABLE ? { errno: 2 } : undefined);
  t.equal(h.deleteTable('T'), false, 'ENOENT: there was none');
  k.tableExists = false;
  t.equal(h.read('T'), undefined, 'GETTABLE ENOENT: undefined');
});

t.test('attrPathAt names nested attributes and never throws', async (t) => {
  const rule = newRule(1, 'T', 'c', [metaExpr(NFT_META_IIFNAME)]);
  // EXPRESSIONS at 16 + 4 + 8 + 8 = 36; its LIST_ELEM at 40; NAME at 44; DATA at 56; DREG at 60
  t.equal(attrPathAt(rule, 36), 'NFTA_RULE_EXPRESSIONS');
  t.equal(attrPathAt(rule, 60), 'NFTA_RULE_EXPRESSIONS > 1 > 2 > 1');
  t.equal(attrPathAt(rule, 61), undefined, 'inside a value, no attribute starts');
  t.equal(attrPathAt(rule, 0), undefined);
  t.equal(attrPathAt({ ...rule, payload: Buffer.alloc(2) }, 30), undefined);
});
