#!/bin/sh
# dns role: an authoritative DNS server (BIND 9 "named" or Knot "knotd") that
# accepts RFC 2136 dynamic updates signed with a TSIG key (RFC 8945): the
# server the hook publishes containers' names and addresses to.
#
# usage: dns.sh up|down|env
#
# The node holds a static address (nodad, ignores RAs) like the peer role.
# Primary zones: the forward zone and the reverse (ip6.arpa) zone of the lab
# prefix (or every zone of LAB_DNS_REVERSE_ZONES), each with SOA and NS
# (ns1.<forward zone>, with an AAAA for the server's address; a PTR for it too
# in the reverse zone it lies in). The TSIG key is generated whenever up
# (re)starts the server and written BIND-style (key "NAME" { algorithm
# hmac-sha256; secret "BASE64"; };) to $LAB_RUN_DIR/$LAB_NAME/tsig.key, usable
# as is with `nsupdate -k`. That key may add and delete AAAA, PTR and TXT
# records anywhere in every zone; nothing else may update. Zones start empty
# (SOA, NS, ns1) on every (re)start.
#
# up is idempotent: with the server running and the same settings it does
# nothing (same key). Otherwise it (re)starts the server with a fresh key and
# fresh zones and waits (bounded) until the server answers SOA queries for
# both zones on its address. down stops the server, verifies it is gone and
# removes the netns (when the lab made it) and every file up wrote.
#
# With LAB_LAN_NETNS set, the NIC is one end of a veth pair whose other end is
# a port of the lab bridge. With LAB_LAN_NETNS empty (a VM), LAB_DNS_IF is a
# real interface that must already exist; up adds the address and starts the
# server, down stops the server and removes the address. With LAB_DNS_NETNS
# set, everything happens inside that netns; empty = the current netns.
#
# Environment (defaults in brackets):
#   LAB_NAME             [osh]                      prefix of the lab's objects
#   LAB_RUN_DIR          [/run/oci-slaac-hook-lab]  state: $LAB_RUN_DIR/$LAB_NAME/dns/
#                        (config, zone files, journals, pid, log) and
#                        $LAB_RUN_DIR/$LAB_NAME/tsig.key
#   LAB_LAN_NETNS        [$LAB_NAME-lan]            bridge netns; empty = real NIC
#   LAB_DNS              [bind]                     bind (named) | knot (knotd)
#   LAB_DNS_NETNS        [$LAB_NAME-dns]            empty = current netns
#   LAB_DNS_IF           [d0]                       the server's NIC
#   LAB_DNS_MAC          [02:5c:<hash of LAB_NAME>:05] MAC of the veth (only
#                        when the lab creates it)
#   LAB_DNS_ADDR         [2001:db8:1::53]           static address (/64 unless a
#                        /len is given); the router's default RDNSS
#   LAB_DNS_PORT         [53]                       UDP and TCP port
#   LAB_DNS_ZONE         [lab.example]              forward zone
#   LAB_PREFIX           [2001:db8:1::/64]          the lab prefix (router role)
#   LAB_DNS_REVERSE_ZONE [ip6.arpa zone of LAB_PREFIX, e.g.
#                        0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa; LAB_PREFIX's
#                        length must then be a multiple of 4; the first of
#                        LAB_DNS_REVERSE_ZONES when that is set]
#   LAB_DNS_REVERSE_ZONES [$LAB_DNS_REVERSE_ZONE] every reverse zone served,
#                        separated by spaces (e.g. the lab prefix's and a
#                        renumbering prefix's); must include
#                        LAB_DNS_REVERSE_ZONE when both are set
#   LAB_DNS_KEY_NAME     [oci-slaac-hook]           TSIG key name (hmac-sha256)
set -eu

LAB_ROLE=dns
LAB_ROLES_DIR=$(cd "$(dirname "$0")" && pwd)
. "$LAB_ROLES_DIR/common.sh"

: "${LAB_DNS:=bind}"
LAB_DNS_NETNS=${LAB_DNS_NETNS-$LAB_NAME-dns}
: "${LAB_DNS_IF:=d0}"
: "${LAB_DNS_MAC:=$(lab_mac dns 5)}"
: "${LAB_DNS_ADDR:=2001:db8:1::53}"
: "${LAB_DNS_PORT:=53}"
: "${LAB_DNS_ZONE:=lab.example}"
: "${LAB_PREFIX:=2001:db8:1::/64}"
: "${LAB_DNS_KEY_NAME:=oci-slaac-hook}"
LAB_DNS_ZONE=${LAB_DNS_ZONE%.}

DNS_VARS="LAB_NAME LAB_RUN_DIR LAB_LAN_NETNS LAB_DNS LAB_DNS_NETNS LAB_DNS_IF LAB_DNS_MAC LAB_DNS_ADDR LAB_DNS_PORT
LAB_DNS_ZONE LAB_DNS_REVERSE_ZONE LAB_DNS_REVERSE_ZONES LAB_DNS_KEY_NAME"

DIR=$LAB_STATE_DIR/dns
KEYFILE=$LAB_STATE_DIR/tsig.key
PARAMS=$DIR/params

# 32 lower-case hex digits of an IPv6 address (no embedded IPv4), or nothing.
ip6_nibbles() {
	printf '%s\n' "$1" | awk '{
		a = tolower($0)
		if (a !~ /^[0-9a-f:]+$/) exit
		n = split(a, parts, "::")
		if (n > 2) exit
		head = parts[1]; tail = (n == 2) ? parts[2] : ""
		nh = (head == "") ? 0 : split(head, h, ":")
		nt = (tail == "") ? 0 : split(tail, t, ":")
		if (n == 1 && nh != 8) exit
		if (n == 2 && nh + nt > 7) exit
		out = ""
		for (i = 1; i <= nh; i++) { if (length(h[i]) < 1 || length(h[i]) > 4) exit; out = out sprintf("%4s", h[i]) }
		for (i = 0; i < 8 - nh - nt; i++) out = out "0000"
		for (i = 1; i <= nt; i++) { if (length(t[i]) < 1 || length(t[i]) > 4) exit; out = out sprintf("%4s", t[i]) }
		gsub(/ /, "0", out)
		print out
	}'
}

# ip6.arpa name of the first $2 nibbles of hex string $1 (no trailing dot).
ip6_arpa() {
	printf '%s\n' "$1" | awk -v n="$2" '{
		s = ""
		for (i = n; i >= 1; i--) s = s substr($0, i, 1) "."
		print s "ip6.arpa"
	}'
}

default_reverse_zone() {
	len=${LAB_PREFIX#*/}
	case $LAB_PREFIX in */*) ;; *) lab_die "LAB_PREFIX must be prefix/len (got '$LAB_PREFIX')" ;; esac
	lab_check_uint "LAB_PREFIX length" "$len"
	[ "$len" -ge 4 ] && [ "$len" -le 124 ] && [ $((len % 4)) -eq 0 ] ||
		lab_die "LAB_PREFIX length $len is not a multiple of 4 in 4..124: set LAB_DNS_REVERSE_ZONE"
	nib=$(ip6_nibbles "${LAB_PREFIX%/*}")
	[ -n "$nib" ] || lab_die "LAB_PREFIX: not an IPv6 prefix: '$LAB_PREFIX'"
	ip6_arpa "$nib" $((len / 4))
}

# Each zone without its trailing dot, one space between.
LAB_DNS_REVERSE_ZONES=$(for z in ${LAB_DNS_REVERSE_ZONES:-}; do printf '%s ' "${z%.}"; done)
LAB_DNS_REVERSE_ZONES=${LAB_DNS_REVERSE_ZONES% }
if [ -z "${LAB_DNS_REVERSE_ZONE:-}" ] && [ -n "$LAB_DNS_REVERSE_ZONES" ]; then
	LAB_DNS_REVERSE_ZONE=${LAB_DNS_REVERSE_ZONES%% *}
fi
if [ -z "${LAB_DNS_REVERSE_ZONE:-}" ]; then
	# (validate() repeats this to report a bad LAB_PREFIX; down must not care)
	LAB_DNS_REVERSE_ZONE=$(default_reverse_zone 2>/dev/null) || LAB_DNS_REVERSE_ZONE=
fi
LAB_DNS_REVERSE_ZONE=${LAB_DNS_REVERSE_ZONE%.}
: "${LAB_DNS_REVERSE_ZONES:=$LAB_DNS_REVERSE_ZONE}"

dns_addr() {
	lab_addr_len "$LAB_DNS_ADDR"
}

check_domain() {
	case $2 in
	'' | *[!A-Za-z0-9.-]* | .* | *..*) lab_die "$1 must be a domain name (got '$2')" ;;
	esac
}

validate() {
	lab_check_name
	lab_check_ifname "$LAB_DNS_IF"
	case $LAB_DNS in bind | knot) ;; *) lab_die "LAB_DNS must be bind or knot (got '$LAB_DNS')" ;; esac
	[ -n "$LAB_DNS_REVERSE_ZONE" ] || default_reverse_zone >/dev/null
	lab_check_uint LAB_DNS_PORT "$LAB_DNS_PORT"
	[ "$LAB_DNS_PORT" -ge 1 ] && [ "$LAB_DNS_PORT" -le 65535 ] || lab_die "LAB_DNS_PORT must be 1..65535 (got $LAB_DNS_PORT)"
	check_domain LAB_DNS_ZONE "$LAB_DNS_ZONE"
	check_domain LAB_DNS_REVERSE_ZONE "$LAB_DNS_REVERSE_ZONE"
	case " $LAB_DNS_REVERSE_ZONES " in
	*" $LAB_DNS_REVERSE_ZONE "*) ;;
	*) lab_die "LAB_DNS_REVERSE_ZONES ($LAB_DNS_REVERSE_ZONES) does not include LAB_DNS_REVERSE_ZONE ($LAB_DNS_REVERSE_ZONE)" ;;
	esac
	seen=
	for z in $LAB_DNS_REVERSE_ZONES; do
		check_domain LAB_DNS_REVERSE_ZONES "$z"
		case $z in *.ip6.arpa) ;; *) lab_die "LAB_DNS_REVERSE_ZONES: $z is not under ip6.arpa" ;; esac
		case " $seen " in *" $z "*) lab_die "LAB_DNS_REVERSE_ZONES: $z is listed twice" ;; esac
		seen="$seen $z"
	done
	check_domain LAB_DNS_KEY_NAME "$LAB_DNS_KEY_NAME"
	[ -n "$(ip6_nibbles "${LAB_DNS_ADDR%/*}")" ] || lab_die "LAB_DNS_ADDR: not an IPv6 address: '$LAB_DNS_ADDR'"
	case $LAB_DNS in
	bind) command -v named >/dev/null || lab_die "named not found (apt install bind9)" ;;
	knot) command -v knotd >/dev/null || lab_die "knotd not found (apt install knot)" ;;
	esac
	command -v dig >/dev/null || command -v kdig >/dev/null || lab_die "dig or kdig not found (apt install bind9-dnsutils or knot-dnsutils)"
}

# ---------------------------------------------------------------- processes

# Is pid $1 a live named or knotd process? A zombie is not: a daemon's exit is
# reaped by init, which can take a while (over a second in some sandboxes).
pid_is_server() {
	case ${1:-} in '' | *[!0-9]*) return 1 ;; esac
	_st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	case $_st in *") Z "* | *") X "*) return 1 ;; esac
	case $(cat "/proc/$1/comm" 2>/dev/null) in named | knotd) return 0 ;; esac
	return 1
}

# named/knotd processes whose command line names a file in $DIR.
server_pids_for_dir() {
	[ -d "$DIR" ] || return 0
	for _f in $(grep -lsF -- "$DIR/" /proc/[0-9]*/cmdline 2>/dev/null || true); do
		_p=${_f#/proc/}
		_p=${_p%/cmdline}
		if pid_is_server "$_p"; then echo "$_p"; fi
	done
}

server_pid() {
	for f in "$DIR/named.pid" "$DIR/knotd.pid"; do
		p=$(cat "$f" 2>/dev/null || true)
		if pid_is_server "$p"; then
			echo "$p"
			return 0
		fi
	done
}

server_stop() {
	lab_stop_pids pid_is_server $(server_pid) $(server_pids_for_dir) || return 1
	rm -f "$DIR/named.pid" "$DIR/knotd.pid"
}

# ---------------------------------------------------------------- files

gen_key() {
	secret=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
	(
		umask 077
		cat >"$KEYFILE.new" <<EOF
key "$LAB_DNS_KEY_NAME" {
	algorithm hmac-sha256;
	secret "$secret";
};
EOF
	)
	mv "$KEYFILE.new" "$KEYFILE"
}

key_secret() {
	sed -n 's/^[[:space:]]*secret[[:space:]]*"\([^"]*\)".*/\1/p' "$KEYFILE" | head -n 1
}

gen_forward_zone() {
	cat <<EOF
; generated by vm/roles/dns.sh for lab "$LAB_NAME" -- do not edit
\$ORIGIN $LAB_DNS_ZONE.
\$TTL 60
@	IN	SOA	ns1.$LAB_DNS_ZONE. hostmaster.$LAB_DNS_ZONE. 1 3600 600 86400 60
@	IN	NS	ns1.$LAB_DNS_ZONE.
ns1	IN	AAAA	${LAB_DNS_ADDR%/*}
EOF
}

# The zone file of reverse zone $1.
gen_reverse_zone() {
	cat <<EOF
; generated by vm/roles/dns.sh for lab "$LAB_NAME" -- do not edit
\$ORIGIN $1.
\$TTL 60
@	IN	SOA	ns1.$LAB_DNS_ZONE. hostmaster.$LAB_DNS_ZONE. 1 3600 600 86400 60
@	IN	NS	ns1.$LAB_DNS_ZONE.
EOF
	ptr=$(ip6_arpa "$(ip6_nibbles "${LAB_DNS_ADDR%/*}")" 32)
	case $ptr in
	*."$1") echo "$ptr.	IN	PTR	ns1.$LAB_DNS_ZONE." ;;
	esac
}

# "N ZONE FILE" a line for each reverse zone: reverse.zone for the first (as
# before there were several), reverse-N.zone for the others.
reverse_zone_files() {
	n=0
	for z in $LAB_DNS_REVERSE_ZONES; do
		n=$((n + 1))
		if [ "$n" -eq 1 ]; then f=reverse.zone; else f=reverse-$n.zone; fi
		echo "$n $z $DIR/$f"
	done
}

gen_named_conf() {
	cat <<EOF
// generated by vm/roles/dns.sh for lab "$LAB_NAME" -- do not edit
options {
	directory "$DIR";
	pid-file "$DIR/named.pid";
	session-keyfile "$DIR/session.key";
	managed-keys-directory "$DIR";
	dump-file "$DIR/named_dump.db";
	statistics-file "$DIR/named.stats";
	listen-on port $LAB_DNS_PORT { none; };
	listen-on-v6 port $LAB_DNS_PORT { ${LAB_DNS_ADDR%/*}; };
	recursion no;
	notify no;
	dnssec-validation no;
	allow-query { any; };
	allow-transfer { none; };
};
controls { };
logging {
	channel lab { file "$DIR/named.log"; severity info; print-time yes; print-severity yes; print-category yes; };
	category default { lab; };
	category general { lab; };
	category update { lab; };
	category update-security { lab; };
	category security { lab; };
};
include "$KEYFILE";
zone "$LAB_DNS_ZONE" {
	type primary;
	file "$DIR/forward.zone";
	update-policy { grant "$LAB_DNS_KEY_NAME" zonesub AAAA PTR TXT; };
};
EOF
	reverse_zone_files | while read -r _n z f; do
		cat <<EOF
zone "$z" {
	type primary;
	file "$f";
	update-policy { grant "$LAB_DNS_KEY_NAME" zonesub AAAA PTR TXT; };
};
EOF
	done
}

gen_knot_conf() {
	cat <<EOF
# generated by vm/roles/dns.sh for lab "$LAB_NAME" -- do not edit
server:
    rundir: "$DIR"
    pidfile: "$DIR/knotd.pid"
    listen: "${LAB_DNS_ADDR%/*}@$LAB_DNS_PORT"

control:
    listen: "$DIR/knot.sock"

database:
    storage: "$DIR/db"

log:
  - target: "$DIR/knotd.log"
    any: info

key:
  - id: "$LAB_DNS_KEY_NAME"
    algorithm: hmac-sha256
    secret: "$(key_secret)"

acl:
  - id: lab-update
    key: "$LAB_DNS_KEY_NAME"
    action: update
    update-type: [AAAA, PTR, TXT]

template:
  - id: default
    storage: "$DIR"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
    semantic-checks: off
    acl: lab-update

zone:
  - domain: "$LAB_DNS_ZONE"
    file: "$DIR/forward.zone"
EOF
	reverse_zone_files | while read -r _n z f; do
		printf '  - domain: "%s"\n    file: "%s"\n' "$z" "$f"
	done
}

# Remove everything up writes (server already stopped).
clean_files() {
	rm -f "$KEYFILE" "$KEYFILE.new"
	[ -d "$DIR" ] || return 0
	case $LAB_NAME in
	'' | *[!a-z0-9-]* | -*) lab_die "refusing to remove $DIR: bad LAB_NAME '$LAB_NAME'" ;;
	esac
	rm -rf -- "$DIR"
}

# ---------------------------------------------------------------- queries

# SOA of zone $1 from the server, one line (empty if no answer).
soa() {
	if command -v dig >/dev/null; then
		lab_nsx "$LAB_DNS_NETNS" dig +short +norec +time=1 +tries=1 -p "$LAB_DNS_PORT" "@${LAB_DNS_ADDR%/*}" "$1" SOA 2>/dev/null | grep -v '^;' || true
	else
		lab_nsx "$LAB_DNS_NETNS" kdig +short +norec +time=1 +retry=0 -p "$LAB_DNS_PORT" "@${LAB_DNS_ADDR%/*}" "$1" SOA 2>/dev/null | grep -v '^;' || true
	fi
}

wait_answers() {
	n=100
	while :; do
		ok=1
		for z in "$LAB_DNS_ZONE" $LAB_DNS_REVERSE_ZONES; do
			if [ -z "$(soa "$z")" ]; then
				ok=
				break
			fi
		done
		if [ -n "$ok" ]; then
			return 0
		fi
		n=$((n - 1))
		if [ "$n" -le 0 ]; then
			cat "$DIR/named.log" "$DIR/knotd.log" "$DIR/start.log" >&2 2>/dev/null || true
			server_stop || true
			lab_die "$LAB_DNS did not answer SOA queries for $LAB_DNS_ZONE and $LAB_DNS_REVERSE_ZONES on [${LAB_DNS_ADDR%/*}]:$LAB_DNS_PORT within 10 s"
		fi
		sleep 0.1
	done
}

server_start() {
	ns=$LAB_DNS_NETNS
	case $LAB_DNS in
	bind)
		conf=$DIR/named.conf
		gen_named_conf >"$conf"
		if ! named-checkconf -z "$conf" >"$DIR/start.log" 2>&1; then
			cat "$DIR/start.log" >&2
			lab_die "named-checkconf rejects $conf"
		fi
		# Daemonizes once its sockets are open; no -u: stays root (files under $DIR).
		if ! lab_nsx "$ns" named -c "$conf" -n 2 >>"$DIR/start.log" 2>&1; then
			cat "$DIR/start.log" "$DIR/named.log" >&2 2>/dev/null || true
			lab_die "named failed to start"
		fi
		;;
	knot)
		conf=$DIR/knot.conf
		gen_knot_conf >"$conf"
		mkdir -p "$DIR/db"
		if ! knotc -c "$conf" conf-check >"$DIR/start.log" 2>&1; then
			cat "$DIR/start.log" >&2
			lab_die "knotc conf-check rejects $conf"
		fi
		if ! lab_nsx "$ns" knotd -c "$conf" -d >>"$DIR/start.log" 2>&1; then
			cat "$DIR/start.log" "$DIR/knotd.log" >&2 2>/dev/null || true
			lab_die "knotd failed to start"
		fi
		;;
	esac
	wait_answers
	[ -n "$(server_pid)" ] || lab_die "$LAB_DNS answers but its pidfile names no live process"
}

# ---------------------------------------------------------------- up / down

params() {
	for v in $DNS_VARS; do
		eval "printf '%s=%s\n' \"\$v\" \"\${$v-}\""
	done
}

dns_up() {
	validate
	ns=$LAB_DNS_NETNS
	lab_role_plug dns "$ns" "$LAB_DNS_IF" "$LAB_DNS_MAC" "$(dns_addr)"
	[ -z "$ns" ] || ip -n "$ns" link set lo up

	mkdir -p "$DIR"
	running=$(server_pid)
	if [ -n "$running" ] && [ -s "$KEYFILE" ] && params | cmp -s - "$PARAMS"; then
		lab_log "up ($LAB_DNS pid $running already running on [${LAB_DNS_ADDR%/*}]:$LAB_DNS_PORT${ns:+ in netns $ns})"
		return 0
	fi
	server_stop || true
	# Fresh state: new key, zones without journals.
	clean_files
	mkdir -p "$DIR"
	gen_key
	gen_forward_zone >"$DIR/forward.zone"
	reverse_zone_files | while read -r _n z f; do gen_reverse_zone "$z" >"$f"; done
	server_start
	params >"$PARAMS"
	lab_log "up ($LAB_DNS pid $(server_pid) on [${LAB_DNS_ADDR%/*}]:$LAB_DNS_PORT${ns:+ in netns $ns}, zones $LAB_DNS_ZONE $LAB_DNS_REVERSE_ZONES, key $LAB_DNS_KEY_NAME in $KEYFILE)"
}

dns_down() {
	did=
	if server_stop; then did=1; fi
	if lab_role_unplug dns "$LAB_DNS_NETNS" "$LAB_DNS_IF" "$(dns_addr)"; then did=1; fi
	if [ -e "$DIR" ] || [ -e "$KEYFILE" ]; then did=1; fi
	clean_files
	lab_state_cleanup
	if [ -n "$did" ]; then lab_log "down"; fi
}

case ${1:-} in
up) dns_up ;;
down) dns_down ;;
env) lab_print_env $DNS_VARS ;;
*) lab_role_main_usage ;;
esac
