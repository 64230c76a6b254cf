#!/bin/sh
# lan role: the lab's layer-2 segment, a bridge "br0" inside its own netns.
#
# usage: lan.sh up|down|env
#
# Environment (defaults in brackets):
#   LAB_NAME       [osh]                      prefix of the lab's objects
#   LAB_RUN_DIR    [/run/oci-slaac-hook-lab]  state dir ($LAB_RUN_DIR/$LAB_NAME)
#   LAB_LAN_NETNS  [$LAB_NAME-lan]            netns holding br0. Empty = there
#                  is no lab bridge (inside a VM the hypervisor's network is the
#                  LAN): up and down do nothing.
#
# br0 has IPv6 disabled (it is a switch, not a node) and multicast snooping off,
# so ND/RA multicast floods to every port. Roles attach with lab_attach
# (common.sh): one veth end in this netns enslaved to br0, the other end where
# the role wants its NIC.
set -eu

LAB_ROLE=lan
LAB_ROLES_DIR=$(cd "$(dirname "$0")" && pwd)
. "$LAB_ROLES_DIR/common.sh"

lan_up() {
	lab_check_name
	if [ -z "$LAB_LAN_NETNS" ]; then
		lab_log "up (no lab bridge: LAB_LAN_NETNS is empty)"
		return 0
	fi
	lab_netns_add "$LAB_LAN_NETNS"
	ns=$LAB_LAN_NETNS
	# No IPv6 on anything in this netns unless asked: set defaults first so
	# ports moved in later start disabled too.
	lab_sysctl "$ns" net/ipv6/conf/default/disable_ipv6 1
	lab_sysctl "$ns" net/ipv6/conf/all/disable_ipv6 1
	if ! lab_link_exists "$ns" "$LAB_BRIDGE"; then
		ip -n "$ns" link add "$LAB_BRIDGE" type bridge stp_state 0 forward_delay 0 mcast_snooping 0
		ip -n "$ns" link set dev "$LAB_BRIDGE" alias "$(lab_alias_for lan)"
	fi
	lab_sysctl "$ns" "net/ipv6/conf/$LAB_BRIDGE/disable_ipv6" 1
	ip -n "$ns" link set dev "$LAB_BRIDGE" type bridge mcast_snooping 0
	ip -n "$ns" link set dev "$LAB_BRIDGE" up
	lab_log "up (netns $ns, bridge $LAB_BRIDGE)"
}

lan_down() {
	[ -n "$LAB_LAN_NETNS" ] || return 0
	owned=
	[ "$LAB_LAN_NETNS" != "$LAB_NAME-lan" ] || owned=owned
	if lab_netns_del "$LAB_LAN_NETNS" $owned; then
		lab_log "down (netns $LAB_LAN_NETNS deleted)"
	fi
	lab_state_cleanup
}

case ${1:-} in
up) lan_up ;;
down) lan_down ;;
env) lab_print_env LAB_NAME LAB_RUN_DIR LAB_LAN_NETNS ;;
*) lab_role_main_usage ;;
esac
