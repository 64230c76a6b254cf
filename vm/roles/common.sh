# shellcheck shell=sh
# Shared helpers for the lab role scripts (lan.sh, router.sh, host.sh, peer.sh).
# Sourced, never run. POSIX sh (dash): no bashisms.
#
# Variables common to every role (each role script documents them too):
#   LAB_NAME      default "osh"   prefix of everything the lab creates
#                                 (netns "<name>-lan", "<name>-router", ...;
#                                 at most 10 characters so "<name>-nic0" fits
#                                 in an interface name).
#   LAB_RUN_DIR   default "/run/oci-slaac-hook-lab"
#                                 state files live in $LAB_RUN_DIR/$LAB_NAME/.
#   LAB_LAN_NETNS default "<name>-lan" (an empty value is kept as empty)
#                                 netns that holds the lab's bridge br0. A role
#                                 whose NIC does not exist yet gets a veth pair:
#                                 one end in this netns enslaved to br0, the
#                                 other end is the role's NIC. Empty = the
#                                 role's NIC is a real interface (inside a VM):
#                                 no plumbing is created or removed, only the
#                                 role is configured on that interface.
#
# Safety: every interface the lab creates gets the ifalias
# "oci-slaac-hook-lab:<name>:<role>"; an existing interface without that
# alias is never modified by the plumbing code nor deleted.

: "${LAB_NAME:=osh}"
: "${LAB_RUN_DIR:=/run/oci-slaac-hook-lab}"
LAB_LAN_NETNS=${LAB_LAN_NETNS-$LAB_NAME-lan}
LAB_STATE_DIR=$LAB_RUN_DIR/$LAB_NAME
LAB_BRIDGE=br0
LAB_ALIAS_PREFIX=oci-slaac-hook-lab

export LAB_NAME LAB_RUN_DIR LAB_LAN_NETNS

lab_die() {
	echo "${LAB_ROLE:-lab}: error: $*" >&2
	exit 1
}

lab_log() {
	echo "${LAB_ROLE:-lab}: $*"
}

lab_check_name() {
	case $LAB_NAME in
	'' | *[!a-z0-9-]* | -*) lab_die "LAB_NAME must be [a-z0-9-]+ (got '$LAB_NAME')" ;;
	esac
	[ "${#LAB_NAME}" -le 10 ] || lab_die "LAB_NAME must be at most 10 characters (got '$LAB_NAME')"
}

lab_check_ifname() {
	[ -n "$1" ] || lab_die "empty interface name"
	[ "${#1}" -le 15 ] || lab_die "interface name '$1' is longer than 15 characters"
	case $1 in
	*[!A-Za-z0-9_.-]*) lab_die "bad interface name '$1'" ;;
	esac
}

# Decimal unsigned integer check: lab_check_uint NAME VALUE
lab_check_uint() {
	case $2 in
	'' | *[!0-9]*) lab_die "$1 must be a non-negative integer (got '$2')" ;;
	esac
}

lab_check_onoff() {
	case $2 in
	on | off) ;;
	*) lab_die "$1 must be on or off (got '$2')" ;;
	esac
}

lab_check_pref() {
	case $2 in
	low | medium | high) ;;
	*) lab_die "$1 must be low, medium or high (got '$2')" ;;
	esac
}

# Run a command in netns $1 ("" = the current namespace).
lab_nsx() {
	_ns=$1
	shift
	if [ -n "$_ns" ]; then
		ip netns exec "$_ns" "$@"
	else
		"$@"
	fi
}

lab_netns_exists() {
	[ -n "$1" ] && [ -e "/var/run/netns/$1" ]
}

# Create netns $1 (if missing) and remember that the lab created it.
lab_netns_add() {
	mkdir -p "$LAB_STATE_DIR"
	if ! lab_netns_exists "$1"; then
		ip netns add "$1"
		: >"$LAB_STATE_DIR/netns.$1"
	fi
	ip -n "$1" link set lo up
}

# The netns a role lives in ($1; empty = the current one): made by the lab when the
# lab also makes the LAN, otherwise (a VM's real NIC) it must already exist.
lab_role_netns() {
	[ -n "$1" ] || return 0
	if [ -n "$LAB_LAN_NETNS" ]; then
		lab_netns_add "$1"
	else
		lab_netns_exists "$1" || lab_die "netns '$1' does not exist"
	fi
}

# Delete netns $1 if the lab created it (marker) or $2 = "owned" (a name that
# only the lab uses, e.g. "<name>-router"). Returns 0 if something was deleted.
lab_netns_del() {
	if lab_netns_exists "$1"; then
		if [ -e "$LAB_STATE_DIR/netns.$1" ] || [ "${2:-}" = owned ]; then
			ip netns del "$1"
			rm -f "$LAB_STATE_DIR/netns.$1"
			return 0
		fi
	fi
	rm -f "$LAB_STATE_DIR/netns.$1"
	return 1
}

# Does link $2 exist in netns $1?
lab_link_exists() {
	if [ -n "$1" ]; then
		ip -n "$1" link show dev "$2" >/dev/null 2>&1
	else
		ip link show dev "$2" >/dev/null 2>&1
	fi
}

lab_ip() {
	_ns=$1
	shift
	if [ -n "$_ns" ]; then
		ip -n "$_ns" "$@"
	else
		ip "$@"
	fi
}

# ifalias of link $2 in netns $1 (empty if none).
lab_link_alias() {
	lab_ip "$1" -o link show dev "$2" 2>/dev/null | sed -n 's/.*[[:space:]]alias[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' | head -n 1
}

lab_alias_for() {
	echo "$LAB_ALIAS_PREFIX:$LAB_NAME:$1"
}

# Write a sysctl of the namespace netns $1: lab_sysctl NS net/ipv6/conf/IF/accept_ra 0
lab_sysctl() {
	lab_nsx "$1" sh -c 'echo "$2" > "/proc/sys/$1"' sysctl "$2" "$3"
}

lab_sysctl_get() {
	lab_nsx "$1" cat "/proc/sys/$2"
}

# Deterministic locally administered unicast MAC for role $1 (index $2, 1..255).
lab_mac() {
	_sum=$(printf '%s' "$LAB_NAME" | cksum | awk '{print $1}')
	printf '02:5c:%02x:%02x:%02x:%02x\n' $(((_sum >> 16) & 255)) $(((_sum >> 8) & 255)) $((_sum & 255)) "$2"
}

# Lab bridge netns must exist before a role can be attached.
lab_require_lan() {
	[ -n "$LAB_LAN_NETNS" ] || return 0
	lab_netns_exists "$LAB_LAN_NETNS" || lab_die "lan netns '$LAB_LAN_NETNS' does not exist: run lan.sh up first"
	lab_link_exists "$LAB_LAN_NETNS" "$LAB_BRIDGE" || lab_die "bridge $LAB_BRIDGE missing in netns '$LAB_LAN_NETNS': run lan.sh up first"
}

# lab_attach ROLE LAN_END ROLE_NETNS ROLE_IF MAC
# Create (idempotently) a veth pair: LAN_END inside $LAB_LAN_NETNS enslaved to
# br0 and up; ROLE_IF inside ROLE_NETNS ("" = current netns), left DOWN so the
# caller can write its sysctls before the first link-up. A no-op when
# LAB_LAN_NETNS is empty (the role's NIC is real).
lab_attach() {
	_role=$1 _lan_end=$2 _ns=$3 _if=$4 _mac=$5
	[ -n "$LAB_LAN_NETNS" ] || {
		lab_link_exists "$_ns" "$_if" || lab_die "interface '$_if' does not exist (LAB_LAN_NETNS is empty: the NIC must already exist)"
		return 0
	}
	lab_require_lan
	lab_check_ifname "$_if"
	_alias=$(lab_alias_for "$_role")
	if lab_link_exists "$_ns" "$_if"; then
		[ "$(lab_link_alias "$_ns" "$_if")" = "$_alias" ] ||
			lab_die "interface '$_if' exists${_ns:+ in netns $_ns} and was not made by this lab (alias != $_alias): refusing to touch it"
		lab_link_exists "$LAB_LAN_NETNS" "$_lan_end" ||
			lab_die "interface '$_if' exists but its lan end '$_lan_end' is missing: run down first"
	else
		if lab_link_exists "$LAB_LAN_NETNS" "$_lan_end"; then
			# stale lan end (its peer vanished with a deleted netns?)
			ip -n "$LAB_LAN_NETNS" link del "$_lan_end"
		fi
		# Create the pair inside the role's namespace, push the lan end over.
		lab_ip "$_ns" link add "$_if" address "$_mac" type veth peer name "$_lan_end" netns "$LAB_LAN_NETNS"
		lab_ip "$_ns" link set dev "$_if" alias "$_alias"
		ip -n "$LAB_LAN_NETNS" link set dev "$_lan_end" alias "$(lab_alias_for "lan-$_role")"
	fi
	# The bridge port itself carries no IPv6 (no link-local, no MLD, no DAD noise).
	lab_sysctl "$LAB_LAN_NETNS" "net/ipv6/conf/$_lan_end/disable_ipv6" 1
	ip -n "$LAB_LAN_NETNS" link set dev "$_lan_end" master "$LAB_BRIDGE" up
}

# lab_detach ROLE ROLE_NETNS ROLE_IF : delete ROLE_IF if the lab made it.
# Returns 0 if something was deleted.
lab_detach() {
	_role=$1 _ns=$2 _if=$3
	[ -n "$LAB_LAN_NETNS" ] || return 1
	[ -z "$_ns" ] || lab_netns_exists "$_ns" || return 1
	lab_link_exists "$_ns" "$_if" || return 1
	[ "$(lab_link_alias "$_ns" "$_if")" = "$(lab_alias_for "$_role")" ] || return 1
	lab_ip "$_ns" link del dev "$_if"
}

# Wait (bounded, $3 tenths of a second, default 50) until IF in netns $1 has a
# link-local address that is not tentative. Fails on dadfailed or timeout.
lab_wait_linklocal() {
	_ns=$1 _if=$2 _n=${3:-50}
	while :; do
		_ll=$(lab_ip "$_ns" -6 -o addr show dev "$_if" scope link 2>/dev/null || true)
		case $_ll in
		*dadfailed*) lab_die "link-local address on $_if failed DAD" ;;
		esac
		if [ -n "$_ll" ] && [ -z "$(lab_ip "$_ns" -6 -o addr show dev "$_if" tentative 2>/dev/null || true)" ]; then
			return 0
		fi
		_n=$((_n - 1))
		if [ "$_n" -le 0 ]; then
			case $(lab_ip "$_ns" -o link show dev "$_if" 2>/dev/null) in
			*NO-CARRIER*) lab_die "timeout waiting for a usable link-local address on $_if: the link has no carrier" ;;
			esac
			lab_die "timeout waiting for a usable link-local address on $_if"
		fi
		sleep 0.1
	done
}

# Print "NAME=value" for each variable named in the arguments.
lab_print_env() {
	for _v in "$@"; do
		eval "printf '%s=%s\n' \"\$_v\" \"\${$_v-}\""
	done
}

# Is pid $1 alive and a radvd process?
lab_pid_is_radvd() {
	[ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null &&
		[ "$(cat "/proc/$1/comm" 2>/dev/null)" = radvd ]
}

# PIDs of radvd processes whose command line names config file $1.
lab_radvd_pids_for_conf() {
	for _d in /proc/[0-9]*; do
		[ "$(cat "$_d/comm" 2>/dev/null)" = radvd ] || continue
		if tr '\0' '\n' <"$_d/cmdline" 2>/dev/null | grep -qxF -- "$1"; then
			echo "${_d#/proc/}"
		fi
	done
}

# Remove the lab's state dir once nothing is left in it.
lab_state_cleanup() {
	rmdir "$LAB_STATE_DIR" 2>/dev/null || true
}

lab_role_main_usage() {
	echo "usage: $0 up|down|env" >&2
	exit 2
}

# Stop daemons: SIGTERM, wait up to 5 s while `$1 PID` says a pid is still the daemon, then
# SIGKILL and wait again; dies if one survives that. $2...: pids (repeats and blanks fine).
# Returns 1 when there was nothing to stop.
lab_stop_pids() {
	still_running=$1
	shift
	pids=$(echo "$@" | tr ' ' '\n' | sort -u | tr '\n' ' ')
	[ -n "$(echo $pids)" ] || return 1
	kill $pids 2>/dev/null || true
	for phase in term kill; do
		n=50
		while [ "$n" -gt 0 ]; do
			alive=
			for p in $pids; do
				if "$still_running" "$p"; then alive="$alive $p"; fi
			done
			[ -n "$alive" ] || return 0
			n=$((n - 1))
			sleep 0.1
		done
		[ "$phase" = term ] || lab_die "pid(s)$alive survived SIGKILL"
		kill -9 $alive 2>/dev/null || true
		pids=$alive
	done
}

# Undo a role's plumbing ($1 role, $2 netns or empty, $3 interface, $4 its static address): in
# the lab, its netns (deleted when the lab made it, or when it is the lab's own <name>-<role>)
# or its veth; on a real NIC (LAB_LAN_NETNS empty), only the address. 0 if anything was undone.
lab_role_unplug() {
	if [ -n "$LAB_LAN_NETNS" ]; then
		if [ -n "$2" ]; then
			owned=
			[ "$2" != "$LAB_NAME-$1" ] || owned=owned
			lab_netns_del "$2" $owned
		else
			lab_detach "$1" "" "$3"
		fi
	else
		{ [ -z "$2" ] || lab_netns_exists "$2"; } && lab_ip "$2" -6 addr del "$4" dev "$3" 2>/dev/null
	fi
}

# An address with its prefix length: /64 unless one is given (empty stays empty).
lab_addr_len() {
	case $1 in '' | */*) echo "$1" ;; *) echo "$1/64" ;; esac
}

# Plug in a role that holds a static address ($1 role, $2 netns or empty, $3 interface, $4 MAC,
# $5 address/len): its netns, its port on the LAN, an interface that ignores RAs, the address
# without DAD, up. On a lab veth the link-local skips DAD too, so the role is quiet on the
# bridge once `up` returns (it still answers NS).
lab_role_plug() {
	lab_role_netns "$2"
	lab_attach "$1" "lan-$1" "$2" "$3" "$4"
	lab_sysctl "$2" "net/ipv6/conf/$3/disable_ipv6" 0
	lab_sysctl "$2" "net/ipv6/conf/$3/accept_ra" 0
	lab_sysctl "$2" "net/ipv6/conf/$3/autoconf" 0
	if [ -n "$LAB_LAN_NETNS" ]; then lab_sysctl "$2" "net/ipv6/conf/$3/accept_dad" 0; fi
	lab_ip "$2" -6 addr replace "$5" dev "$3" nodad
	lab_ip "$2" link set dev "$3" up
}
