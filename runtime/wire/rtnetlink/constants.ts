/** rtnetlink UAPI numbers (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h). */

export const NETLINK_ROUTE = 0;
export const SOL_NETLINK = 270;
export const NETLINK_ADD_MEMBERSHIP = 1;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
export const NETLINK_GET_STRICT_CHK = 12;

export const NLMSG_HDRLEN = 16;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_ACK_TLVS = 0x200; // on NLMSG_ERROR
export const NLMSGERR_ATTR_MSG = 1;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

export const RTNLGRP_LINK = 1;
export const RTNLGRP_IPV6_IFADDR = 9;

export const AF_UNSPEC = 0;
export const AF_INET6 = 10;

export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const IFF_LOWER_UP = 0x10000;

export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINK = 5;
export const IFLA_MASTER = 10;
export const IFLA_OPERSTATE = 16;
export const IFLA_LINKINFO = 18;
export const IFLA_IFALIAS = 20;
export const IFLA_AF_SPEC = 26;
export const IFLA_NET_NS_FD = 28;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const IFLA_INET6_ADDR_GEN_MODE = 8;
export const IFLA_MACVLAN_MODE = 1;
export const IFLA_IPVLAN_MODE = 1;
export const IFLA_IPVLAN_FLAGS = 2;

export const MACVLAN_MODES = { private: 1, vepa: 2, bridge: 4, passthru: 8 } as const;
export const IPVLAN_MODES = { l2: 0, l3: 1, l3s: 2 } as const;
export const ADDR_GEN_MODES = { eui64: 0, none: 1, 'stable-privacy': 2, random: 3 } as const;

export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_CACHEINFO = 6;
export const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02;
export const IFA_F_OPTIMISTIC = 0x04;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;
export const IFA_F_NOPREFIXROUTE = 0x200;

export const RT_TABLE_MAIN = 254;
export const RTPROT_RA = 9;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RTN_UNICAST = 1;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_TABLE = 15;
export const RTA_PREF = 20;
export const RTA_EXPIRES = 23;
/** RFC 4191 preference as the kernel's ICMPV6_ROUTER_PREF_* value. */
export const ROUTE_PREFS = { medium: 0, high: 1, reserved: 2, low: 3 } as const;


export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;
export const NDA_DST = 1;
export const NDA_PROTOCOL = 12;
export const NTF_PROXY = 0x08;
export const NUD_PERMANENT = 0x80;
export const FRA_SRC = 2;
export const FRA_PRIORITY = 6;
export const FRA_TABLE = 15;
export const FRA_PROTOCOL = 21;
export const FR_ACT_TO_TBL = 1;
export const RTA_PREFSRC = 7;
export const RTPROT_STATIC = 4;
/**
 * Our own routing protocol number, on every host-side route, rule and proxy entry we make, so that
 * ours can always be told from the operator's (`ip -6 route show proto 86`). Unassigned in
 * iproute2's rt_protos (kernel 0–4, 8–19, babel 42, openr 99, bgp 186, isis 187, ospf 188, rip 189, eigrp 192).
 */
export const RTPROT_OSH = 86;
