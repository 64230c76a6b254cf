#!/bin/sh
# router role: an IPv6 router that sends Router Advertisements with radvd.
#
# usage: router.sh up|down|env
#
# With LAB_LAN_NETNS set (the netns lab), the router's NIC is one end of a veth
# pair whose other end is a port of the lab bridge. With LAB_LAN_NETNS empty
# (a VM), LAB_ROUTER_IF is a real interface that must already exist.
# With LAB_ROUTER_NETNS set, everything happens inside that netns (created if
# the lab makes the plumbing); empty = the current network namespace.
#
# Environment (defaults in brackets):
#   LAB_NAME               [osh]                      prefix of the lab's objects
#   LAB_RUN_DIR            [/run/oci-slaac-hook-lab]  state: $LAB_RUN_DIR/$LAB_NAME/router/
#                          (radvd.conf, radvd.pid, radvd.log)
#   LAB_LAN_NETNS          [$LAB_NAME-lan]            bridge netns; empty = real NIC
#   LAB_ROUTER_NETNS       [$LAB_NAME-router]         empty = current netns
#   LAB_ROUTER_IF          [r0]                       the router's NIC
#   LAB_ROUTER_MAC         [02:5c:<hash of LAB_NAME>:01] MAC of the veth (only
#                          when the lab creates it)
#   LAB_ROUTER_LAN_END     [lan-router]               its veth end on the lab bridge (a
#                          second router on one lab's LAN needs another name)
#   LAB_ROUTER_ADDR        [2001:db8:1::1]            static address (/64 unless
#                          a /len is given), added with nodad
#   (On a lab veth the router does no DAD at all: accept_dad=0, so its
#   link-local is usable at once. On a real NIC the kernel's DAD runs and up
#   waits for it.)
#   RA contents (radvd.conf):
#   LAB_PREFIX             [2001:db8:1::/64]          prefix information option
#                          (AdvOnLink on, AdvAutonomous on)
#   LAB_VALID_LIFETIME     [86400]                    seconds or "infinity"
#   LAB_PREFERRED_LIFETIME [14400]                    seconds or "infinity"
#   LAB_MTU                [1400]                     MTU option; 0 = no option
#   LAB_RDNSS              [2001:db8:1::53]           space separated; empty = none
#   LAB_RDNSS_LIFETIME     [2 * LAB_RA_INTERVAL]      seconds or "infinity"
#   LAB_DNSSL              [lab.example]              space separated; empty = none
#   LAB_DNSSL_LIFETIME     [2 * LAB_RA_INTERVAL]      seconds or "infinity"
#   LAB_ROUTE              [2001:db8:ff::/48]         route information option(s),
#                          space separated; empty = none
#   LAB_ROUTE_PREFERENCE   [high]                     low|medium|high
#   LAB_ROUTE_LIFETIME     [1800]                     seconds or "infinity"
#   LAB_ROUTER_LIFETIME    [1800]                     0 or LAB_RA_INTERVAL..9000
#   LAB_CUR_HOP_LIMIT      [64]
#   LAB_REACHABLE_MS       [30000]
#   LAB_RETRANS_MS         [1000]
#   LAB_MANAGED            [off]                      M flag, on|off
#   LAB_OTHER              [on]                       O flag, on|off
#   LAB_ROUTER_PREFERENCE  [medium]                   low|medium|high
#   LAB_RA_INTERVAL        [30]                       MaxRtrAdvInterval, 4..1800
#   LAB_RA_MIN_INTERVAL    [min(10, 0.75 * LAB_RA_INTERVAL), at least 3]
#                          MinRtrAdvInterval
set -eu

LAB_ROLE=router
LAB_ROLES_DIR=$(cd "$(dirname "$0")" && pwd)
. "$LAB_ROLES_DIR/common.sh"

LAB_ROUTER_NETNS=${LAB_ROUTER_NETNS-$LAB_NAME-router}
: "${LAB_ROUTER_IF:=r0}"
: "${LAB_ROUTER_MAC:=$(lab_mac router 1)}"
: "${LAB_ROUTER_ADDR:=2001:db8:1::1}"
: "${LAB_PREFIX:=2001:db8:1::/64}"
: "${LAB_VALID_LIFETIME:=86400}"
: "${LAB_PREFERRED_LIFETIME:=14400}"
: "${LAB_MTU:=1400}"
LAB_RDNSS=${LAB_RDNSS-2001:db8:1::53}
LAB_DNSSL=${LAB_DNSSL-lab.example}
LAB_ROUTE=${LAB_ROUTE-2001:db8:ff::/48}
: "${LAB_ROUTE_PREFERENCE:=high}"
: "${LAB_ROUTE_LIFETIME:=1800}"
: "${LAB_ROUTER_LIFETIME:=1800}"
: "${LAB_CUR_HOP_LIMIT:=64}"
: "${LAB_REACHABLE_MS:=30000}"
: "${LAB_RETRANS_MS:=1000}"
: "${LAB_MANAGED:=off}"
: "${LAB_OTHER:=on}"
: "${LAB_ROUTER_PREFERENCE:=medium}"
: "${LAB_RA_INTERVAL:=30}"
lab_check_uint LAB_RA_INTERVAL "$LAB_RA_INTERVAL"
if [ -z "${LAB_RA_MIN_INTERVAL:-}" ]; then
	LAB_RA_MIN_INTERVAL=$((LAB_RA_INTERVAL * 3 / 4))
	[ "$LAB_RA_MIN_INTERVAL" -le 10 ] || LAB_RA_MIN_INTERVAL=10
	[ "$LAB_RA_MIN_INTERVAL" -ge 3 ] || LAB_RA_MIN_INTERVAL=3
fi
: "${LAB_RDNSS_LIFETIME:=$((LAB_RA_INTERVAL * 2))}"
: "${LAB_DNSSL_LIFETIME:=$((LAB_RA_INTERVAL * 2))}"

ROUTER_VARS="LAB_NAME LAB_RUN_DIR LAB_LAN_NETNS LAB_ROUTER_NETNS LAB_ROUTER_IF LAB_ROUTER_MAC LAB_ROUTER_ADDR
LAB_PREFIX LAB_VALID_LIFETIME LAB_PREFERRED_LIFETIME LAB_MTU LAB_RDNSS LAB_RDNSS_LIFETIME LAB_DNSSL
LAB_DNSSL_LIFETIME LAB_ROUTE LAB_ROUTE_PREFERENCE LAB_ROUTE_LIFETIME LAB_ROUTER_LIFETIME LAB_CUR_HOP_LIMIT
LAB_REACHABLE_MS LAB_RETRANS_MS LAB_MANAGED LAB_OTHER LAB_ROUTER_PREFERENCE LAB_RA_INTERVAL LAB_RA_MIN_INTERVAL"

DIR=$LAB_STATE_DIR/router
CONF=$DIR/radvd.conf
PIDFILE=$DIR/radvd.pid
LOGFILE=$DIR/radvd.log

lifetime_ok() {
	[ "$2" = infinity ] || lab_check_uint "$1" "$2"
}

validate() {
	lab_check_name
	lab_check_ifname "$LAB_ROUTER_IF"
	for v in LAB_MTU LAB_ROUTER_LIFETIME LAB_CUR_HOP_LIMIT LAB_REACHABLE_MS LAB_RETRANS_MS LAB_RA_MIN_INTERVAL; do
		eval "lab_check_uint $v \"\$$v\""
	done
	for v in LAB_VALID_LIFETIME LAB_PREFERRED_LIFETIME LAB_RDNSS_LIFETIME LAB_DNSSL_LIFETIME LAB_ROUTE_LIFETIME; do
		eval "lifetime_ok $v \"\$$v\""
	done
	lab_check_onoff LAB_MANAGED "$LAB_MANAGED"
	lab_check_onoff LAB_OTHER "$LAB_OTHER"
	lab_check_pref LAB_ROUTER_PREFERENCE "$LAB_ROUTER_PREFERENCE"
	lab_check_pref LAB_ROUTE_PREFERENCE "$LAB_ROUTE_PREFERENCE"
	case $LAB_PREFIX in */*) ;; *) lab_die "LAB_PREFIX must be prefix/len (got '$LAB_PREFIX')" ;; esac
	# radvd only logs these (and then sends nothing): check them here.
	[ "$LAB_RA_INTERVAL" -ge 4 ] && [ "$LAB_RA_INTERVAL" -le 1800 ] ||
		lab_die "LAB_RA_INTERVAL must be 4..1800 (got $LAB_RA_INTERVAL)"
	[ "$LAB_RA_MIN_INTERVAL" -ge 3 ] && [ $((LAB_RA_MIN_INTERVAL * 4)) -le $((LAB_RA_INTERVAL * 3)) ] ||
		lab_die "LAB_RA_MIN_INTERVAL must be 3..0.75*LAB_RA_INTERVAL (got $LAB_RA_MIN_INTERVAL)"
	[ "$LAB_ROUTER_LIFETIME" -eq 0 ] || { [ "$LAB_ROUTER_LIFETIME" -ge "$LAB_RA_INTERVAL" ] && [ "$LAB_ROUTER_LIFETIME" -le 9000 ]; } ||
		lab_die "LAB_ROUTER_LIFETIME must be 0 or LAB_RA_INTERVAL..9000 (got $LAB_ROUTER_LIFETIME)"
	[ "$LAB_MTU" -eq 0 ] || [ "$LAB_MTU" -ge 1280 ] || lab_die "LAB_MTU must be 0 (no option) or >= 1280 (got $LAB_MTU)"
	[ "$LAB_CUR_HOP_LIMIT" -le 255 ] || lab_die "LAB_CUR_HOP_LIMIT must be 0..255 (got $LAB_CUR_HOP_LIMIT)"
}

gen_conf() {
	cat <<EOF
# generated by vm/roles/router.sh for lab "$LAB_NAME" -- do not edit
interface $LAB_ROUTER_IF {
	AdvSendAdvert on;
	MaxRtrAdvInterval $LAB_RA_INTERVAL;
	MinRtrAdvInterval $LAB_RA_MIN_INTERVAL;
	AdvManagedFlag $LAB_MANAGED;
	AdvOtherConfigFlag $LAB_OTHER;
	AdvLinkMTU $LAB_MTU;
	AdvReachableTime $LAB_REACHABLE_MS;
	AdvRetransTimer $LAB_RETRANS_MS;
	AdvCurHopLimit $LAB_CUR_HOP_LIMIT;
	AdvDefaultLifetime $LAB_ROUTER_LIFETIME;
	AdvDefaultPreference $LAB_ROUTER_PREFERENCE;
	AdvSourceLLAddress on;

	prefix $LAB_PREFIX {
		AdvOnLink on;
		AdvAutonomous on;
		AdvValidLifetime $LAB_VALID_LIFETIME;
		AdvPreferredLifetime $LAB_PREFERRED_LIFETIME;
	};
EOF
	for r in $LAB_ROUTE; do
		cat <<EOF

	route $r {
		AdvRoutePreference $LAB_ROUTE_PREFERENCE;
		AdvRouteLifetime $LAB_ROUTE_LIFETIME;
	};
EOF
	done
	if [ -n "$(echo $LAB_RDNSS)" ]; then
		cat <<EOF

	RDNSS $(echo $LAB_RDNSS) {
		AdvRDNSSLifetime $LAB_RDNSS_LIFETIME;
	};
EOF
	fi
	if [ -n "$(echo $LAB_DNSSL)" ]; then
		cat <<EOF

	DNSSL $(echo $LAB_DNSSL) {
		AdvDNSSLLifetime $LAB_DNSSL_LIFETIME;
	};
EOF
	fi
	echo "};"
}

radvd_pid() {
	p=$(cat "$PIDFILE" 2>/dev/null || true)
	if lab_pid_is_radvd "$p"; then echo "$p"; fi
}

radvd_stop() {
	lab_stop_pids lab_pid_is_radvd $(radvd_pid) $(lab_radvd_pids_for_conf "$CONF") || return 1
	rm -f "$PIDFILE"
}

radvd_start() {
	rm -f "$PIDFILE"
	: >"$LOGFILE"
	if ! lab_nsx "$LAB_ROUTER_NETNS" radvd -C "$CONF" -p "$PIDFILE" -m logfile -l "$LOGFILE"; then
		cat "$LOGFILE" >&2 || true
		lab_die "radvd failed to start"
	fi
	n=50
	while [ -z "$(radvd_pid)" ]; do
		n=$((n - 1))
		if [ "$n" -le 0 ]; then
			cat "$LOGFILE" >&2 || true
			lab_die "radvd did not come up (no live pid in $PIDFILE)"
		fi
		sleep 0.1
	done
	# radvd checks the interface settings after it daemonized and only logs
	# what it rejects (then stays up without advertising): look at its log.
	sleep 0.2
	if grep -qiE 'must be|error|invalid|failed|cannot|can.t' "$LOGFILE"; then
		cat "$LOGFILE" >&2
		radvd_stop || true
		lab_die "radvd rejected its configuration (see above)"
	fi
}

router_up() {
	validate
	ns=$LAB_ROUTER_NETNS
	lab_role_netns "$ns"
	lab_attach router "${LAB_ROUTER_LAN_END:-lan-router}" "$ns" "$LAB_ROUTER_IF" "$LAB_ROUTER_MAC"
	ifc=$LAB_ROUTER_IF
	lab_sysctl "$ns" net/ipv6/conf/all/forwarding 1
	lab_sysctl "$ns" "net/ipv6/conf/$ifc/forwarding" 1
	lab_sysctl "$ns" "net/ipv6/conf/$ifc/accept_ra" 0
	lab_sysctl "$ns" "net/ipv6/conf/$ifc/autoconf" 0
	lab_sysctl "$ns" "net/ipv6/conf/$ifc/disable_ipv6" 0
	if [ -n "$LAB_LAN_NETNS" ]; then
		# Lab veth: no DAD for the router's own link-local (usable at once, no
		# probe noise on the lab bridge). It still answers NS for it.
		lab_sysctl "$ns" "net/ipv6/conf/$ifc/accept_dad" 0
	fi
	case $LAB_ROUTER_ADDR in */*) addr=$LAB_ROUTER_ADDR ;; *) addr=$LAB_ROUTER_ADDR/64 ;; esac
	lab_ip "$ns" -6 addr replace "$addr" dev "$ifc" nodad
	lab_ip "$ns" link set dev "$ifc" up
	lab_wait_linklocal "$ns" "$ifc"

	mkdir -p "$DIR"
	gen_conf >"$CONF.new"
	running=$(radvd_pid)
	if [ -n "$running" ] && cmp -s "$CONF.new" "$CONF"; then
		rm -f "$CONF.new"
		lab_log "up (radvd pid $running already running on $ifc${ns:+ in netns $ns})"
		return 0
	fi
	radvd_stop || true
	mv "$CONF.new" "$CONF"
	if ! radvd -c -C "$CONF" >"$DIR/configtest.log" 2>&1; then
		cat "$DIR/configtest.log" >&2
		lab_die "radvd rejects $CONF"
	fi
	radvd_start
	lab_log "up (radvd pid $(radvd_pid) on $ifc${ns:+ in netns $ns}, $addr, prefix $LAB_PREFIX)"
}

router_down() {
	did=
	if radvd_stop; then did=1; fi
	ns=$LAB_ROUTER_NETNS
	if [ -n "$LAB_LAN_NETNS" ]; then
		if [ -n "$ns" ]; then
			owned=
			[ "$ns" != "$LAB_NAME-router" ] || owned=owned
			if lab_netns_del "$ns" $owned; then did=1; fi
		elif lab_detach router "" "$LAB_ROUTER_IF"; then
			did=1
		fi
	else
		# Real NIC: only undo what up added.
		case $LAB_ROUTER_ADDR in */*) addr=$LAB_ROUTER_ADDR ;; *) addr=$LAB_ROUTER_ADDR/64 ;; esac
		if { [ -z "$ns" ] || lab_netns_exists "$ns"; } &&
			lab_ip "$ns" -6 addr del "$addr" dev "$LAB_ROUTER_IF" 2>/dev/null; then
			did=1
		fi
	fi
	rm -f "$CONF" "$CONF.new" "$PIDFILE" "$LOGFILE" "$DIR/configtest.log"
	rmdir "$DIR" 2>/dev/null || true
	lab_state_cleanup
	if [ -n "$did" ]; then lab_log "down"; fi
}

case ${1:-} in
up) router_up ;;
down) router_down ;;
env) lab_print_env $ROUTER_VARS ;;
*) lab_role_main_usage ;;
esac
