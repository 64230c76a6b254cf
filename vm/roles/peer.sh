#!/bin/sh
# peer role: another node on the LAN whose kernel holds a static address
# (added with nodad, usable at once) and ignores RAs. Tests use it as "a kernel
# that holds an address": DAD for that address from anyone else must see a
# duplicate (the peer's kernel answers the DAD NS with an NA).
#
# usage: peer.sh up|down|env
#
# With LAB_LAN_NETNS set, the NIC is one end of a veth pair whose other end is
# a port of the lab bridge. With LAB_LAN_NETNS empty (a VM), LAB_PEER_IF is a
# real interface that must already exist. With LAB_PEER_NETNS set, everything
# happens inside that netns; empty = the current network namespace.
#
# Environment (defaults in brackets):
#   LAB_NAME       [osh]                      prefix of the lab's objects
#   LAB_RUN_DIR    [/run/oci-slaac-hook-lab]  state dir ($LAB_RUN_DIR/$LAB_NAME)
#   LAB_LAN_NETNS  [$LAB_NAME-lan]            bridge netns; empty = real NIC
#   LAB_PEER_NETNS [$LAB_NAME-peer]           empty = current netns
#   LAB_PEER_IF    [p0]                       the peer's NIC
#   LAB_PEER_MAC   [02:5c:<hash of LAB_NAME>:03] MAC of the veth (only when the
#                  lab creates it)
#   LAB_PEER_ADDR  [2001:db8:1::100]          static address (/64 unless a /len
#                  is given)
# On a lab veth the peer does no DAD at all (accept_dad=0); it still answers
# Neighbor Solicitations for its addresses, which is what the tests rely on.
set -eu

LAB_ROLE=peer
LAB_ROLES_DIR=$(cd "$(dirname "$0")" && pwd)
. "$LAB_ROLES_DIR/common.sh"

LAB_PEER_NETNS=${LAB_PEER_NETNS-$LAB_NAME-peer}
: "${LAB_PEER_IF:=p0}"
: "${LAB_PEER_MAC:=$(lab_mac peer 3)}"
: "${LAB_PEER_ADDR:=2001:db8:1::100}"

peer_addr() {
	lab_addr_len "$LAB_PEER_ADDR"
}

peer_up() {
	lab_check_name
	lab_check_ifname "$LAB_PEER_IF"
	ns=$LAB_PEER_NETNS
	ifc=$LAB_PEER_IF
	lab_role_plug peer "$ns" "$ifc" "$LAB_PEER_MAC" "$(peer_addr)"
	lab_log "up ($ifc${ns:+ in netns $ns}, $(peer_addr) nodad, accept_ra=0)"
}

peer_down() {
	did=
	if lab_role_unplug peer "$LAB_PEER_NETNS" "$LAB_PEER_IF" "$(peer_addr)"; then did=1; fi
	lab_state_cleanup
	if [ -n "$did" ]; then lab_log "down"; fi
}

case ${1:-} in
up) peer_up ;;
down) peer_down ;;
env) lab_print_env LAB_NAME LAB_RUN_DIR LAB_LAN_NETNS LAB_PEER_NETNS LAB_PEER_IF LAB_PEER_MAC LAB_PEER_ADDR ;;
*) lab_role_main_usage ;;
esac
