#!/bin/sh
# The netns lab: a LAN (bridge in its own netns), a router sending RAs (radvd),
# a host whose NIC plays the physical NIC (root netns by default) and a peer
# holding a static address.
#
# usage: vm/lab.sh up|down|status|env
#   up      lan, router, host, peer (idempotent; one line per role)
#   down    peer, host, router, lan (idempotent; silent when nothing exists)
#   status  what exists of the lab named $LAB_NAME (exit 3 if nothing)
#   env     the effective LAB_* values, one NAME=value a line
#
# Configuration: environment variables only; see vm/roles/*.sh for the full
# list with defaults (LAB_NAME [osh], LAB_RUN_DIR, LAB_LAN_NETNS,
# LAB_ROUTER_*, LAB_PREFIX, LAB_*_LIFETIME, LAB_MTU, LAB_RDNSS, LAB_DNSSL,
# LAB_ROUTE*, LAB_CUR_HOP_LIMIT, LAB_REACHABLE_MS, LAB_RETRANS_MS, LAB_MANAGED,
# LAB_OTHER, LAB_ROUTER_PREFERENCE, LAB_RA_INTERVAL, LAB_RA_MIN_INTERVAL,
# LAB_HOST_NETNS, LAB_HOST_IF, LAB_HOST_MAC, LAB_PEER_*).
set -eu

ROLES=$(cd "$(dirname "$0")/roles" && pwd)
LAB_ROLE=lab
. "$ROLES/common.sh"

[ "$(id -u)" = 0 ] || lab_die "must run as root"

lab_env() {
	{
		sh "$ROLES/lan.sh" env
		sh "$ROLES/router.sh" env
		sh "$ROLES/host.sh" env
		sh "$ROLES/peer.sh" env
	} | awk -F= '!seen[$1]++'
}

lab_status() {
	# shellcheck disable=SC2046
	eval "$(lab_env | sed "s/'/'\\\\''/g; s/=\\(.*\\)/='\\1'/")"
	any=
	if [ -n "$LAB_LAN_NETNS" ] && lab_netns_exists "$LAB_LAN_NETNS"; then
		ports=$(ip -n "$LAB_LAN_NETNS" -o link show master "$LAB_BRIDGE" 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | tr '\n' ' ')
		echo "lan: netns $LAB_LAN_NETNS, bridge $LAB_BRIDGE, ports: ${ports:-none}"
		any=1
	else
		echo "lan: absent"
	fi
	rns=$LAB_ROUTER_NETNS
	pid=$(cat "$LAB_STATE_DIR/router/radvd.pid" 2>/dev/null || true)
	if lab_pid_is_radvd "$pid"; then rad="radvd pid $pid"; else rad="radvd not running"; fi
	if { [ -z "$rns" ] || lab_netns_exists "$rns"; } && lab_link_exists "$rns" "$LAB_ROUTER_IF"; then
		echo "router: $LAB_ROUTER_IF${rns:+ in netns $rns}, $rad"
		any=1
	elif [ -n "$rns" ] && lab_netns_exists "$rns"; then
		echo "router: netns $rns without $LAB_ROUTER_IF, $rad"
		any=1
	else
		echo "router: absent${pid:+, $rad}"
	fi
	hns=$LAB_HOST_NETNS
	if { [ -z "$hns" ] || lab_netns_exists "$hns"; } && lab_link_exists "$hns" "$LAB_HOST_IF"; then
		ll=$(lab_ip "$hns" -6 -o addr show dev "$LAB_HOST_IF" 2>/dev/null | awk '{print $4}' | tr '\n' ' ')
		echo "host: $LAB_HOST_IF${hns:+ in netns $hns}, addresses: ${ll:-none}"
		any=1
	else
		echo "host: absent"
	fi
	pns=$LAB_PEER_NETNS
	if { [ -z "$pns" ] || lab_netns_exists "$pns"; } && lab_link_exists "$pns" "$LAB_PEER_IF"; then
		echo "peer: $LAB_PEER_IF${pns:+ in netns $pns}, $LAB_PEER_ADDR"
		any=1
	else
		echo "peer: absent"
	fi
	[ -n "$any" ] || return 3
}

case ${1:-} in
up)
	lab_check_name
	sh "$ROLES/lan.sh" up
	sh "$ROLES/router.sh" up
	sh "$ROLES/host.sh" up
	sh "$ROLES/peer.sh" up
	;;
down)
	rc=0
	sh "$ROLES/peer.sh" down || rc=1
	sh "$ROLES/host.sh" down || rc=1
	sh "$ROLES/router.sh" down || rc=1
	sh "$ROLES/lan.sh" down || rc=1
	exit $rc
	;;
status) lab_status ;;
env) lab_env ;;
*)
	echo "usage: $0 up|down|status|env" >&2
	exit 2
	;;
esac
