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
set -eu

LAB_ROLE=host
LAB_ROLES_DIR=$(cd "$(dirname "$0")" && pwd)
. "$LAB_ROLES_DIR/common.sh"

LAB_HOST_NETNS=${LAB_HOST_NETNS-}
: "${LAB_HOST_IF:=$LAB_NAME-nic0}"
: "${LAB_HOST_MAC:=$(lab_mac host 2)}"

host_up() {
	lab_check_name
	lab_check_ifname "$LAB_HOST_IF"
	ns=$LAB_HOST_NETNS
	lab_role_netns "$ns"
	lab_attach host lan-host "$ns" "$LAB_HOST_IF" "$LAB_HOST_MAC"
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
	lab_log "up ($ifc${ns:+ in netns $ns}, ${ll:-no link-local}, accept_ra=0 autoconf=0)"
}

host_down() {
	ns=$LAB_HOST_NETNS
	did=
	if [ -n "$LAB_LAN_NETNS" ]; then
		if lab_detach host "$ns" "$LAB_HOST_IF"; then did=1; fi
		if [ -n "$ns" ] && lab_netns_del "$ns"; then did=1; fi
	fi
	# With a real NIC (LAB_LAN_NETNS empty) there is nothing to undo: the
	# sysctls stay (the NIC must keep ignoring the lab's RAs).
	lab_state_cleanup
	if [ -n "$did" ]; then lab_log "down"; fi
}

case ${1:-} in
up) host_up ;;
down) host_down ;;
env) lab_print_env LAB_NAME LAB_RUN_DIR LAB_LAN_NETNS LAB_HOST_NETNS LAB_HOST_IF LAB_HOST_MAC ;;
*) lab_role_main_usage ;;
esac
