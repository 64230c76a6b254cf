#!/bin/sh
# The netns lab: a LAN (bridge in its own netns), a router sending RAs (radvd),
# a host whose NIC plays the physical NIC (root netns by default) and a peer
# holding a static address; optionally a second host (hostb, in a netns of its
# own) and an authoritative DNS server accepting TSIG-signed dynamic updates.
#
# usage: vm/lab.sh up|down|status|env
#   up      lan, router, host, [hostb,] peer[, dns] (idempotent; one line per role)
#   down    dns, peer, hostb, host, router, lan (idempotent; silent when nothing
#           exists; the optional roles are always taken down if present)
#   status  what exists of the lab named $LAB_NAME (exit 3 if nothing)
#   env     the effective LAB_* values, one NAME=value a line
#
# Optional roles:
#   LAB_HOSTB        [] 1 = a second host: vm/roles/host.sh run again with
#                    LAB_HOST_ROLE=hostb and these instead of the LAB_HOST_* values:
#   LAB_HOSTB_NETNS  [$LAB_NAME-hostb]  its netns (must not be empty)
#   LAB_HOSTB_IF     [nic0]             its NIC
#   LAB_HOSTB_MAC    [02:5c:<hash of LAB_NAME>:04]
#   LAB_HOSTB_ADDR   [2001:db8:1::3/64] static nodad address; empty = none
#   LAB_DNS          [] bind|knot = include the dns role (vm/roles/dns.sh:
#                    LAB_DNS_NETNS, LAB_DNS_IF, LAB_DNS_MAC, LAB_DNS_ADDR,
#                    LAB_DNS_PORT, LAB_DNS_ZONE, LAB_DNS_REVERSE_ZONE,
#                    LAB_DNS_REVERSE_ZONES, LAB_DNS_KEY_NAME); the TSIG key
#                    is written to $LAB_RUN_DIR/$LAB_NAME/tsig.key
#
# Configuration: environment variables only; see vm/roles/*.sh for the full
# list with defaults (LAB_NAME [osh], LAB_RUN_DIR, LAB_LAN_NETNS,
# LAB_ROUTER_*, LAB_PREFIX, LAB_*_LIFETIME, LAB_MTU, LAB_RDNSS, LAB_DNSSL,
# LAB_ROUTE*, LAB_CUR_HOP_LIMIT, LAB_REACHABLE_MS, LAB_RETRANS_MS, LAB_MANAGED,
# LAB_OTHER, LAB_ROUTER_PREFERENCE, LAB_RA_INTERVAL, LAB_RA_MIN_INTERVAL,
# LAB_HOST_NETNS, LAB_HOST_IF, LAB_HOST_MAC, LAB_HOST_ADDR, LAB_PEER_*).
set -eu

ROLES=$(cd "$(dirname "$0")/roles" && pwd)
LAB_ROLE=lab
. "$ROLES/common.sh"

[ "$(id -u)" = 0 ] || lab_die "must run as root"

LAB_HOSTB=${LAB_HOSTB-}
LAB_DNS=${LAB_DNS-}
LAB_HOSTB_NETNS=${LAB_HOSTB_NETNS-$LAB_NAME-hostb}
: "${LAB_HOSTB_IF:=nic0}"
: "${LAB_HOSTB_MAC:=$(lab_mac hostb 4)}"
LAB_HOSTB_ADDR=${LAB_HOSTB_ADDR-2001:db8:1::3/64}
case $LAB_HOSTB in '' | 0 | 1) ;; *) lab_die "LAB_HOSTB must be empty, 0 or 1 (got '$LAB_HOSTB')" ;; esac
case $LAB_DNS in '' | bind | knot) ;; *) lab_die "LAB_DNS must be empty, bind or knot (got '$LAB_DNS')" ;; esac

# The second host: host.sh with the LAB_HOSTB_* values.
role_hostb() {
	LAB_HOST_ROLE=hostb LAB_HOST_NETNS=$LAB_HOSTB_NETNS LAB_HOST_IF=$LAB_HOSTB_IF \
		LAB_HOST_MAC=$LAB_HOSTB_MAC LAB_HOST_ADDR=$LAB_HOSTB_ADDR sh "$ROLES/host.sh" "$@"
}

# dns.sh with the default server when LAB_DNS is empty (down, status).
role_dns() {
	LAB_DNS=${LAB_DNS:-bind} sh "$ROLES/dns.sh" "$@"
}

role_host() { sh "$ROLES/host.sh" "$@"; }
role_peer() { sh "$ROLES/peer.sh" "$@"; }

# "role_ROLE up" for each ROLE (functions above) at the same time -- they touch
# different interfaces and namespaces, and their slow part is waiting (DAD of
# a host's link-local address, the DNS server's start) -- then print their
# output in argument order. Fails if any of them failed.
up_together() {
	_tmp=$(mktemp -d "${TMPDIR:-/tmp}/oci-slaac-hook-lab-up.XXXXXX")
	_i=0
	_pids=
	for _r in "$@"; do
		_i=$((_i + 1))
		"role_$_r" up >"$_tmp/$_i.out" 2>"$_tmp/$_i.err" &
		_pids="$_pids $!"
	done
	_rc=0
	_i=0
	for _p in $_pids; do
		_i=$((_i + 1))
		wait "$_p" || _rc=1
		cat "$_tmp/$_i.out"
		cat "$_tmp/$_i.err" >&2
	done
	rm -rf "$_tmp"
	return $_rc
}

lab_env() {
	{
		lab_print_env LAB_HOSTB LAB_DNS
		sh "$ROLES/lan.sh" env
		sh "$ROLES/router.sh" env
		sh "$ROLES/host.sh" env
		if [ "$LAB_HOSTB" = 1 ]; then
			lab_print_env LAB_HOSTB_NETNS LAB_HOSTB_IF LAB_HOSTB_MAC LAB_HOSTB_ADDR
		fi
		sh "$ROLES/peer.sh" env
		if [ -n "$LAB_DNS" ]; then role_dns env; fi
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
	bns=$LAB_HOSTB_NETNS
	if [ -n "$bns" ] && lab_netns_exists "$bns" && lab_link_exists "$bns" "$LAB_HOSTB_IF"; then
		a=$(ip -n "$bns" -6 -o addr show dev "$LAB_HOSTB_IF" 2>/dev/null | awk '{print $4}' | tr '\n' ' ')
		echo "hostb: $LAB_HOSTB_IF in netns $bns, addresses: ${a:-none}"
		any=1
	elif [ "$LAB_HOSTB" = 1 ]; then
		echo "hostb: absent"
	fi
	pns=$LAB_PEER_NETNS
	if { [ -z "$pns" ] || lab_netns_exists "$pns"; } && lab_link_exists "$pns" "$LAB_PEER_IF"; then
		echo "peer: $LAB_PEER_IF${pns:+ in netns $pns}, $LAB_PEER_ADDR"
		any=1
	else
		echo "peer: absent"
	fi
	dpid=
	for f in "$LAB_STATE_DIR/dns/named.pid" "$LAB_STATE_DIR/dns/knotd.pid"; do
		p=$(cat "$f" 2>/dev/null || true)
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null; then
			dpid="$(cat "/proc/$p/comm" 2>/dev/null) pid $p"
		fi
	done
	dns_netns=${LAB_DNS_NETNS-$LAB_NAME-dns}
	if [ -n "$dpid" ] || { [ -n "$dns_netns" ] && lab_netns_exists "$dns_netns"; }; then
		echo "dns: ${dpid:-server not running}${dns_netns:+ in netns $dns_netns}${dpid:+, key $LAB_STATE_DIR/tsig.key}"
		any=1
	elif [ -n "$LAB_DNS" ]; then
		echo "dns: absent"
	fi
	[ -n "$any" ] || return 3
}

case ${1:-} in
up)
	lab_check_name
	sh "$ROLES/lan.sh" up
	sh "$ROLES/router.sh" up
	roles="host peer"
	if [ "$LAB_HOSTB" = 1 ]; then
		[ -n "$LAB_HOSTB_NETNS" ] || lab_die "LAB_HOSTB_NETNS must not be empty"
		roles="host hostb peer"
	fi
	if [ -n "$LAB_DNS" ]; then roles="$roles dns"; fi
	# shellcheck disable=SC2086
	up_together $roles
	;;
down)
	rc=0
	role_dns down || rc=1
	sh "$ROLES/peer.sh" down || rc=1
	if [ -n "$LAB_HOSTB_NETNS" ]; then role_hostb down || rc=1; fi
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
