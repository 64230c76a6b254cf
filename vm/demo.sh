#!/bin/sh
# The demo: build a lab (router with radvd, a host NIC, a peer), then show what the hook's core
# sees on it: the router's advertisement, the SLAAC address a container named web1 would get,
# and duplicate address detection for a taken and a free address. Tears the lab down at the end.
set -eu
cd "$(dirname "$0")/.."
CLI="node dist/oci-slaac-hook.js"
export LAB_NAME="${LAB_NAME:-osh-demo}"
IF="${LAB_NAME}-nic0"
STATE_LIB="$(mktemp -d)"
export OCI_SLAAC_HOOK_STATE_LIB="$STATE_LIB"

cleanup() { sh vm/lab.sh down >/dev/null 2>&1 || true; rm -rf "$STATE_LIB"; }
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Lab: router (radvd) + host NIC $IF + peer, on one L2 segment"
sh vm/lab.sh up

say "oci-slaac-hook ra --interface $IF --name web1"
$CLI ra --interface "$IF" --name web1
ADDR=$($CLI ra --interface "$IF" --name web1 --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).slaac.addresses[0]))')

say "DAD for the peer's address (a kernel on the link holds it)"
$CLI dad "${LAB_PEER_ADDR:-2001:db8:1::100}" --interface "$IF" || echo "(exit $?: duplicate, as expected)"

say "DAD for web1's SLAAC address $ADDR"
$CLI dad "$ADDR" --interface "$IF"

say "Same, as JSON"
$CLI dad "$ADDR" --interface "$IF" --json

say "Tearing the lab down"
