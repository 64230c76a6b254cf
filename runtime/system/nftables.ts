/**
 * nf_tables in a chosen network namespace, spoken over NETLINK_NETFILTER from our own socket (no
 * `nft` process): the container's policy table made or replaced in one atomic batch, a network's
 * member set replaced atomically, the table deleted, and the table read back.
 *
 * Changes go as nfnetlink batches (BATCH_BEGIN, the NFT_MSG_* changes, BATCH_END in one
 * datagram): the kernel applies a batch entirely or not at all, so a failure never leaves half a
 * table. Reads are plain GET requests and dumps on the same socket.
 */
import { NetlinkError } from '../core/errors';
import { formatIPv6 } from '../core/ipv6';
import type { Policy } from '../core/policy';
import type { NetnsHandle } from './netns';
import { RtnetlinkSocket, TransactionError } from './rtnetlink/socket';
import { attrString } from '../wire/rtnetlink/codec';
import {
  attrPathAt,
  decodeChain,
  decodeRule,
  decodeSet,
  decodeSetElems,
  decodeTable,
  delTable,
  destroyTable,
  dumpPayload,
  framed,
  getTablePayload,
  nftType,
  type NftMessage,
} from '../wire/nftables/codec';
import {
  NETLINK_NETFILTER,
  NFPROTO_INET,
  NFTA_RULE_TABLE,
  NFTA_SET_ELEM_LIST_SET,
  NFTA_SET_ELEM_LIST_TABLE,
  NFTA_SET_TABLE,
  NFT_MSG_GETCHAIN,
  NFT_MSG_GETRULE,
  NFT_MSG_GETSET,
  NFT_MSG_GETSETELEM,
  NFT_MSG_GETTABLE,
  NFT_MSG_NEWCHAIN,
  NFT_MSG_NEWRULE,
  NFT_MSG_NEWSET,
  NFT_MSG_NEWSETELEM,
  NFT_MSG_NEWTABLE,
} from '../wire/nftables/constants';
import { membersUpdate, policyRuleset } from '../wire/nftables/ruleset';

const ENOENT = 2;
const EINVAL = 22;
const EOPNOTSUPP = 95;

/** A table as the kernel lists it (`nft list table inet T`, reduced). */
export interface NftTableView {
  chains: string[];
  /** In chain order, then rule order within each chain. */
  rules: { chain: string; handle?: number; comment?: string; exprs: string[] }[];
  /** Set name → its elements (IPv6 text for 16-byte keys, hex otherwise). */
  sets: Record<string, string[]>;
}

export class NftHandle {
  /** NFT_MSG_DESTROYTABLE (Linux 6.3+) works here; false once the kernel refused it. */
  private destroyWorks = true;

  private constructor(private readonly sock: RtnetlinkSocket) {}

  /**
   * A NETLINK_NETFILTER socket inside `netns` (the current namespace when omitted). `timeoutMs`
   * bounds every wait for the kernel (default 5 s). Equivalent to: what `ip netns exec NS nft …`
   * opens, without entering the namespace (the addon's socketat does the setns around socket()).
   */
  static open(netns?: NetnsHandle, opts: { timeoutMs?: number } = {}): NftHandle {
    return new NftHandle(RtnetlinkSocket.open(netns, { ...opts, protocol: NETLINK_NETFILTER }));
  }

  /**
   * Make table `table` (family inet) from `policy` (see wire/nftables/ruleset.ts), replacing any
   * table of that name, in ONE batch: readers see the old table or the new one, never neither.
   * The old one goes with NFT_MSG_DESTROYTABLE (no ENOENT when absent); on kernels before 6.3
   * (which refuse that message type with EINVAL) a GETTABLE decides whether to add a DELTABLE,
   * which would fail with ENOENT — and abort the batch — when there is nothing to delete.
   * Equivalent to: `nft -f FILE` where FILE is `destroy table inet T` then `table inet T { … }`.
   * Throws TransactionError (a NetlinkError) naming the refused message; nothing changes then.
   */
  install(table: string, ifname: string, policy: Policy, members: Record<string, string[]>, tag: string): void {
    const ruleset = policyRuleset(table, ifname, policy, members, tag);
    const what = `install nf_tables table inet ${table}`;
    if (this.destroyWorks) {
      try {
        this.batch(what, [destroyTable(NFPROTO_INET, table), ...ruleset]);
        return;
      } catch (err) {
        // Message 1 (after BATCH_BEGIN) is the DESTROYTABLE: an old kernel knows no such type.
        if (!(err instanceof TransactionError && err.index === 1 && (err.errno === EINVAL || err.errno === EOPNOTSUPP))) throw err;
        this.destroyWorks = false;
      }
    }
    const replace = this.tableExists(table) ? [delTable(NFPROTO_INET, table)] : [];
    this.batch(what, [...replace, ...ruleset]);
  }

  /**
   * Replace the members of network `network`'s set (`net_<network>`) with `addresses`, in one
   * batch (flush, then add: no moment with a partial set). ENOENT when the table or set is absent.
   * Equivalent to: `nft -f FILE` with `flush set inet T net_N` and `add element inet T net_N { … }`.
   */
  setMembers(table: string, network: string, addresses: string[]): void {
    this.batch(`set members of ${network} in nf_tables table inet ${table}`, membersUpdate(table, network, addresses));
  }

  /**
   * Delete table `table` (family inet) with everything in it; false when there was none.
   * Equivalent to: `nft delete table inet T`.
   */
  deleteTable(table: string): boolean {
    try {
      this.batch(`delete nf_tables table inet ${table}`, [delTable(NFPROTO_INET, table)]);
      return true;
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENOENT) return false;
      throw err;
    }
  }

  /**
   * Table `table` (family inet) as the kernel has it: chain names, rules (chain, handle, comment,
   * expression names) and each set's elements; undefined when there is no such table. Separate
   * GETTABLE and dumps: not one snapshot should the table change meanwhile.
   * Equivalent to: `nft list table inet T` (and `nft list set inet T S` for each set).
   */
  read(table: string): NftTableView | undefined {
    if (!this.tableExists(table)) return undefined;
    const mine = <T extends { family: number; table: string }>(x: T | undefined): x is T => x !== undefined && x.family === NFPROTO_INET && x.table === table;
    const chains = this.sock
      .dump(`list chains of inet ${table}`, nftType(NFT_MSG_GETCHAIN), dumpPayload(NFPROTO_INET), nftType(NFT_MSG_NEWCHAIN))
      .map(decodeChain)
      .filter(mine)
      .map((c) => c.name);
    const rules = this.sock
      .dump(`list rules of inet ${table}`, nftType(NFT_MSG_GETRULE), dumpPayload(NFPROTO_INET, [attrString(NFTA_RULE_TABLE, table)]), nftType(NFT_MSG_NEWRULE))
      .map(decodeRule)
      .filter(mine)
      .map((r) => ({
        chain: r.chain,
        ...(r.handle === undefined ? {} : { handle: r.handle }),
        ...(r.comment === undefined ? {} : { comment: r.comment }),
        exprs: r.exprs,
      }));
    const setNames = this.sock
      .dump(`list sets of inet ${table}`, nftType(NFT_MSG_GETSET), dumpPayload(NFPROTO_INET, [attrString(NFTA_SET_TABLE, table)]), nftType(NFT_MSG_NEWSET))
      .map(decodeSet)
      .filter(mine)
      .map((s) => s.name);
    const sets: Record<string, string[]> = {};
    for (const name of setNames) {
      const payload = dumpPayload(NFPROTO_INET, [attrString(NFTA_SET_ELEM_LIST_TABLE, table), attrString(NFTA_SET_ELEM_LIST_SET, name)]);
      sets[name] = this.sock
        .dump(`list set inet ${table} ${name}`, nftType(NFT_MSG_GETSETELEM), payload, nftType(NFT_MSG_NEWSETELEM))
        .map(decodeSetElems)
        .filter((e) => e !== undefined && e.set === name)
        .flatMap((e) => e?.keys ?? [])
        .map((k) => (k.length === 16 ? formatIPv6(k) : k.toString('hex')));
    }
    return { chains, rules, sets };
  }

  /** A handle over a socket already open (a NETLINK_NETFILTER one, or a scripted kernel in tests). */
  static over(sock: RtnetlinkSocket): NftHandle {
    return new NftHandle(sock);
  }

  close(): void {
    this.sock.close();
  }

  /** Whether table `table` (family inet) exists: GETTABLE, ENOENT when not (`nft list table inet T`). */
  private tableExists(table: string): boolean {
    try {
      const got = this.sock.get(`get nf_tables table inet ${table}`, nftType(NFT_MSG_GETTABLE), getTablePayload(NFPROTO_INET, table), nftType(NFT_MSG_NEWTABLE));
      return got.map(decodeTable).some((t) => t?.name === table);
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENOENT) return false;
      throw err;
    }
  }

  /** One nfnetlink batch: BATCH_BEGIN, `messages`, BATCH_END, every change acknowledged. */
  private batch(what: string, messages: NftMessage[]): void {
    const all = framed(messages);
    try {
      this.sock.transaction(what, all);
    } catch (err) {
      // nf_tables mostly points at the offending attribute (NL_SET_BAD_ATTR) without words: name it.
      const refused = err instanceof TransactionError && err.attrOffset !== undefined ? all[err.index] : undefined;
      const path = refused && err instanceof TransactionError && err.attrOffset !== undefined ? attrPathAt(refused, err.attrOffset) : undefined;
      if (!(err instanceof TransactionError) || !path) throw err;
      const extack = `${err.extack ? `${err.extack}: ` : ''}${path}`;
      throw new TransactionError(new NetlinkError(err.request, err.code, err.errno, extack), err.index, err.attrOffset);
    }
  }
}
