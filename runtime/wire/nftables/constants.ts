/**
 * nf_tables UAPI numbers, from linux/netfilter/nfnetlink.h, linux/netfilter/nf_tables.h and
 * linux/netfilter.h (checked against the 6.1 headers in /usr/include and upstream for the 6.3+
 * additions). Only what the policy ruleset and its reading back need.
 *
 * Byte order: nf_tables' integer attributes are big-endian (the kernel reads them with
 * ntohl/be64_to_cpu), except register *contents*, which are whatever the loading expression
 * put there: meta/ct values are host order, packet payload is network order.
 */

/** Netlink protocol number of nfnetlink (linux/netlink.h NETLINK_NETFILTER). */
export const NETLINK_NETFILTER = 12;

// ---- nfnetlink.h ----
export const NFNETLINK_V0 = 0;
/** nf_tables' nfnetlink subsystem: message type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_*. */
export const NFNL_SUBSYS_NFTABLES = 10;
/** Batch framing (NLMSG_MIN_TYPE, NLMSG_MIN_TYPE + 1): res_id names the subsystem, big-endian. */
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;
export const NFNL_BATCH_GENID = 1;
/** nfgenmsg: u8 family, u8 version, be16 res_id. */
export const NFGENMSG_LEN = 4;

// ---- netlink.h flags nf_tables cares about besides rtnetlink's ----
/** NEWRULE: add at the end of the chain (without it the kernel adds the rule at the head). */
export const NLM_F_APPEND = 0x800;
export const NLA_F_NESTED = 0x8000;

// ---- linux/netfilter.h ----
export const NFPROTO_UNSPEC = 0;
export const NFPROTO_INET = 1;
export const NFPROTO_IPV4 = 2;
export const NFPROTO_IPV6 = 10;
export const NF_INET_PRE_ROUTING = 0;
export const NF_INET_LOCAL_IN = 1;
export const NF_INET_FORWARD = 2;
export const NF_INET_LOCAL_OUT = 3;
export const NF_INET_POST_ROUTING = 4;
export const NF_DROP = 0;
export const NF_ACCEPT = 1;

// ---- nf_tables.h: enum nf_tables_msg_types ----
export const NFT_MSG_NEWTABLE = 0;
export const NFT_MSG_GETTABLE = 1;
export const NFT_MSG_DELTABLE = 2;
export const NFT_MSG_NEWCHAIN = 3;
export const NFT_MSG_GETCHAIN = 4;
export const NFT_MSG_DELCHAIN = 5;
export const NFT_MSG_NEWRULE = 6;
export const NFT_MSG_GETRULE = 7;
export const NFT_MSG_DELRULE = 8;
export const NFT_MSG_NEWSET = 9;
export const NFT_MSG_GETSET = 10;
export const NFT_MSG_DELSET = 11;
export const NFT_MSG_NEWSETELEM = 12;
export const NFT_MSG_GETSETELEM = 13;
export const NFT_MSG_DELSETELEM = 14;
export const NFT_MSG_NEWGEN = 15;
export const NFT_MSG_GETGEN = 16;
/** Linux 6.3: like DELTABLE but no ENOENT when absent (after GETRULE_RESET = 25). */
export const NFT_MSG_DESTROYTABLE = 26;

/** NFT_NAME_MAXLEN: table, chain and set names including the NUL. */
export const NFT_NAME_MAXLEN = 256;
/** NFT_USERDATA_MAXLEN: NFTA_RULE_USERDATA / NFTA_SET_USERDATA. */
export const NFT_USERDATA_MAXLEN = 256;

// ---- registers and verdicts ----
export const NFT_REG_VERDICT = 0;
/** A 16-byte data register (the kernel still maps NFT_REG_1..4 onto NFT_REG32_00.., 4 each). */
export const NFT_REG_1 = 1;
export const NFT_CONTINUE = -1;
export const NFT_BREAK = -2;
export const NFT_JUMP = -3;
export const NFT_GOTO = -4;
export const NFT_RETURN = -5;

// ---- attributes ----
export const NFTA_LIST_ELEM = 1;

export const NFTA_HOOK_HOOKNUM = 1;
export const NFTA_HOOK_PRIORITY = 2;

export const NFTA_TABLE_NAME = 1;
export const NFTA_TABLE_FLAGS = 2;
export const NFTA_TABLE_USE = 3;
export const NFTA_TABLE_HANDLE = 4;

export const NFTA_CHAIN_TABLE = 1;
export const NFTA_CHAIN_HANDLE = 2;
export const NFTA_CHAIN_NAME = 3;
export const NFTA_CHAIN_HOOK = 4;
export const NFTA_CHAIN_POLICY = 5;
export const NFTA_CHAIN_USE = 6;
export const NFTA_CHAIN_TYPE = 7;

export const NFTA_RULE_TABLE = 1;
export const NFTA_RULE_CHAIN = 2;
export const NFTA_RULE_HANDLE = 3;
export const NFTA_RULE_EXPRESSIONS = 4;
export const NFTA_RULE_USERDATA = 7;

export const NFTA_EXPR_NAME = 1;
export const NFTA_EXPR_DATA = 2;

export const NFTA_DATA_VALUE = 1;
export const NFTA_DATA_VERDICT = 2;
export const NFTA_VERDICT_CODE = 1;
export const NFTA_VERDICT_CHAIN = 2;

export const NFTA_SET_TABLE = 1;
export const NFTA_SET_NAME = 2;
export const NFTA_SET_FLAGS = 3;
export const NFTA_SET_KEY_TYPE = 4;
export const NFTA_SET_KEY_LEN = 5;
export const NFTA_SET_ID = 10;

export const NFTA_SET_ELEM_LIST_TABLE = 1;
export const NFTA_SET_ELEM_LIST_SET = 2;
export const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
export const NFTA_SET_ELEM_LIST_SET_ID = 4;
export const NFTA_SET_ELEM_KEY = 1;
export const NFTA_SET_ELEM_FLAGS = 3;

export const NFTA_IMMEDIATE_DREG = 1;
export const NFTA_IMMEDIATE_DATA = 2;

export const NFTA_BITWISE_SREG = 1;
export const NFTA_BITWISE_DREG = 2;
export const NFTA_BITWISE_LEN = 3;
export const NFTA_BITWISE_MASK = 4;
export const NFTA_BITWISE_XOR = 5;

export const NFT_CMP_EQ = 0;
export const NFT_CMP_NEQ = 1;
export const NFT_CMP_LT = 2;
export const NFT_CMP_LTE = 3;
export const NFT_CMP_GT = 4;
export const NFT_CMP_GTE = 5;
export const NFTA_CMP_SREG = 1;
export const NFTA_CMP_OP = 2;
export const NFTA_CMP_DATA = 3;

export const NFTA_LOOKUP_SET = 1;
export const NFTA_LOOKUP_SREG = 2;
export const NFTA_LOOKUP_SET_ID = 4;

export const NFT_PAYLOAD_LL_HEADER = 0;
export const NFT_PAYLOAD_NETWORK_HEADER = 1;
export const NFT_PAYLOAD_TRANSPORT_HEADER = 2;
export const NFTA_PAYLOAD_DREG = 1;
export const NFTA_PAYLOAD_BASE = 2;
export const NFTA_PAYLOAD_OFFSET = 3;
export const NFTA_PAYLOAD_LEN = 4;

export const NFT_META_IIFNAME = 6;
export const NFT_META_NFPROTO = 15;
export const NFT_META_L4PROTO = 16;
export const NFTA_META_DREG = 1;
export const NFTA_META_KEY = 2;

export const NFT_CT_STATE = 0;
export const NFTA_CT_DREG = 1;
export const NFTA_CT_KEY = 2;
/** linux/netfilter/nf_conntrack_common.h NF_CT_STATE_BIT(IP_CT_*): invalid 1, established 2, related 4, new 8. */
export const NF_CT_STATE_INVALID_BIT = 1;
export const NF_CT_STATE_ESTABLISHED_BIT = 2;
export const NF_CT_STATE_RELATED_BIT = 4;
export const NF_CT_STATE_NEW_BIT = 8;

export const NFTA_COUNTER_BYTES = 1;
export const NFTA_COUNTER_PACKETS = 2;

// ---- userspace conventions nft relies on (not uapi, libnftnl/include/udata.h, nftables datatype.h) ----
/** NFTNL_UDATA_RULE_COMMENT: TLV (u8 type, u8 len, value) in NFTA_RULE_USERDATA; nft prints it as `comment "…"`. */
export const NFTNL_UDATA_RULE_COMMENT = 0;
/** nft's own bound on a comment (NFTNL_UDATA_COMMENT_MAXLEN). */
export const NFTNL_UDATA_COMMENT_MAXLEN = 128;
/** nftables datatype.h TYPE_IP6ADDR: NFTA_SET_KEY_TYPE for `type ipv6_addr`. */
export const NFT_TYPE_IP6ADDR = 8;
export const IFNAMSIZ = 16;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_SCTP = 132;
export const IPPROTO_ICMPV6 = 58;
