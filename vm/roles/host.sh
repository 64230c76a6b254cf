#!/bin/sh
# host role: the machine that runs containers; its NIC plays the physical NIC
# the OCI hook attaches containers to.
#
# usage: host.sh up|down|env
#
# The host NIC hears the lab router's RAs but must NOT use them: accept_ra=0
# and autoconf=0 (no lab prefix, no default route from the lab; this matters
# most when the host is the root network namespace). It keeps its EUI-64
# link-local address; up waits until that address has passed DAD.
#
# With LAB_LAN_NETNS set, the NIC is one end of a veth pair whose other end is
# a port of the lab bridge. With LAB_LAN_NETNS empty (a VM), LAB_HOST_IF is a
# real interface that must already exist; up only configures it.
#
# Environment (defaults in brackets):
#   LAB_NAME       [osh]                      prefix of the lab's objects
#   LAB_RUN_DIR    [/run/oci-slaac-hook-lab]  state dir ($LAB_RUN_DIR/$LAB_NAME)
#   LAB_LAN_NETNS  [$LAB_NAME-lan]            bridge netns; empty = real NIC
#   LAB_HOST_NETNS []                         empty = the current (root) network
#                  namespace, which is what the container-runtime tests use; a
#                  name = a netns of that name (created if missing; deleted by
#                  down only if up created it)
#   LAB_HOST_IF    [$LAB_NAME-nic0]           the host NIC (<= 15 characters)
#   LAB_HOST_MAC   [02:5c:<hash of LAB_NAME>:02] MAC of the veth (only when the
#                  lab creates it)
#   LAB_HOST_ADDR  []                         empty = no global address (the
#                  NIC has its link-local address only). An address (/64 unless
#                  a /len is given), e.g. 2001:db8:1::2/64 = a static address
#                  added with nodad (usable at once), so the host itself can
#                  talk to lab nodes (the DNS server). It brings only the
#                  on-link route it implies, never a default route. down (or
#                  up with another value) removes it again.
#   LAB_HOST_ROLE  [host]                     role name: log prefix, ifalias
#                  "oci-slaac-hook-lab:<name>:<role>", bridge port "lan-<role>"
#                  (a-z0-9, at most 11 characters). vm/lab.sh runs this script a
#                  second time with LAB_HOST_ROLE=hostb for a second host.
set -eu

LAB_ROLE=${LAB_HOST_ROLE:-host}
LAB_ROLES_DIR=$(cd "$(dirname "$0")" && pwd)
. "$LAB_ROLES_DIR/common.sh"

LAB_HOST_NETNS=${LAB_HOST_NETNS-}
: "${LAB_HOST_IF:=$LAB_NAME-nic0}"
: "${LAB_HOST_MAC:=$(lab_mac host 2)}"
LAB_HOST_ADDR=${LAB_HOST_ADDR-}
case $LAB_ROLE in
'' | *[!a-z0-9]*) lab_die "LAB_HOST_ROLE must be [a-z0-9]+ (got '$LAB_ROLE')" ;;
esac
[ "${#LAB_ROLE}" -le 11 ] || lab_die "LAB_HOST_ROLE must be at most 11 characters (got '$LAB_ROLE')"
# The address up added (so down, or up with another LAB_HOST_ADDR, removes it).
ADDR_STATE=$LAB_STATE_DIR/$LAB_ROLE.addr

host_addr() {
	lab_addr_len "$LAB_HOST_ADDR"
}

# Remove the address a previous up added (if it is still there), forget it.
host_addr_forget() {
	_old=$(cat "$ADDR_STATE" 2>/dev/null || true)
	_did=1
	if [ -n "$_old" ] && { [ -z "$1" ] || lab_netns_exists "$1"; } &&
		lab_ip "$1" -6 addr del "$_old" dev "$LAB_HOST_IF" 2>/dev/null; then
		_did=0
	fi
	rm -f "$ADDR_STATE"
	return $_did
}

host_up() {
	lab_check_name
	lab_check_ifname "$LAB_HOST_IF"
	ns=$LAB_HOST_NETNS
	lab_role_netns "$ns"
	lab_attach "$LAB_ROLE" "lan-$LAB_ROLE" "$ns" "$LAB_HOST_IF" "$LAB_HOST_MAC"
	ifc=$LAB_HOST_IF
	# Before the first link-up: never learn anything from the lab's RAs.
	lab_sysctl "$ns" "net/ipv6/conf/$ifc/disable_ipv6" 0
	lab_sysctl "$ns" "net/ipv6/conf/$ifc/accept_ra" 0
	lab_sysctl "$ns" "net/ipv6/conf/$ifc/autoconf" 0
	if [ "$(lab_sysctl_get "$ns" "net/ipv6/conf/$ifc/addr_gen_mode")" != 0 ]; then
		# eui64 (0); changing the mode regenerates the link-local address.
		lab_ip "$ns" link set dev "$ifc" addrgenmode eui64
	fi
	lab_ip "$ns" link set dev "$ifc" up
	lab_wait_linklocal "$ns" "$ifc"
	ll=$(lab_ip "$ns" -6 -o addr show dev "$ifc" scope link | awk '{print $4}' | head -n 1)
	addr=$(host_addr)
	if [ "$(cat "$ADDR_STATE" 2>/dev/null || true)" != "$addr" ]; then
		host_addr_forget "$ns" || true
	fi
	if [ -n "$addr" ]; then
		mkdir -p "$LAB_STATE_DIR"
		echo "$addr" >"$ADDR_STATE"
		lab_ip "$ns" -6 addr replace "$addr" dev "$ifc" nodad
	fi
	lab_log "up ($ifc${ns:+ in netns $ns}, ${ll:-no link-local}${addr:+, $addr nodad}, accept_ra=0 autoconf=0)"
}

host_down() {
	ns=$LAB_HOST_NETNS
	did=
	if [ -n "$LAB_LAN_NETNS" ]; then
		if lab_detach "$LAB_ROLE" "$ns" "$LAB_HOST_IF"; then did=1; fi
		if [ -n "$ns" ] && lab_netns_del "$ns"; then did=1; fi
	fi
	# With a real NIC (LAB_LAN_NETNS empty) only the address is undone: the
	# sysctls stay (the NIC must keep ignoring the lab's RAs).
	if host_addr_forget "$ns"; then did=1; fi
	lab_state_cleanup
	if [ -n "$did" ]; then lab_log "down"; fi
}

case ${1:-} in
up) host_up ;;
down) host_down ;;
env) lab_print_env LAB_NAME LAB_RUN_DIR LAB_LAN_NETNS LAB_HOST_NETNS LAB_HOST_IF LAB_HOST_MAC LAB_HOST_ADDR ;;
*) lab_role_main_usage ;;
esac
