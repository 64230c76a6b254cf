#!/bin/sh
# Everything a fresh Debian 12 machine (as root, Node.js >= 20 with npm installed) needs to build,
# demo and test oci-slaac-hook: Debian packages, then `npm ci`. Idempotent; non-interactive.
# Shared by .ci/run, the README's two commands and the Vagrant host VM's provisioning.
set -eu
cd "$(dirname "$0")/.."
exec </dev/null

[ "$(id -u)" = 0 ] || { echo "vm/setup.sh: must run as root" >&2; exit 1; }

step() { printf '==> %s\n' "$*"; }
. vm/apt-ensure.sh

# radvd ndisc6 tshark tcpdump iproute2: the netns lab (vm/lab.sh) and its checks
# iputils-ping curl procps kmod:        ping and fetch from the lab router; pgrep/ps; modprobe
# runc crun podman busybox-static:      the container runtimes the hook serves, a busybox rootfs
# catatonit:                            podman pods (the infra container's pause image)
# containernetworking-plugins iptables uidmap: podman's default (CNI bridge) network; the CNI
#                                       macvlan plugin is also the benchmark's peer
# bind9 bind9-utils bind9-dnsutils knot knot-dnsutils: the lab's authoritative DNS (BIND9, and
#                                       Knot for interop), nsupdate/dig/tsig-keygen for the tests
# build-essential python3:              node-gyp for the native addon (headers: Debian's nodejs)
# ca-certificates:                      the npm registry over https
# qemu-system-x86 cpio:                 the CI VM (vm/ci-vm.sh: Debian's kernel, which has ipvlan)
# vagrant vagrant-libvirt:              `vagrant validate` of the Vagrantfile testbed
# docker.io containerd:                 Docker 20.10 and its containerd/ctr, for the OCI runtime wrapper's e2e test
# nftables:                             `nft`, for the policy tests to list and edit the tables our code makes
# lintian:                              checks the .deb (scripts/package-deb.sh; dpkg-dev and binutils come
#                                       with build-essential) in tests/e2e/packages.test.ts
# iperf3:                               the data-plane throughput of `npm run bench -- --scale`
PACKAGES="qemu-system-x86 cpio vagrant vagrant-libvirt radvd ndisc6 tshark tcpdump iproute2 iputils-ping curl procps kmod runc crun podman catatonit busybox-static docker.io containerd containernetworking-plugins iptables nftables uidmap bind9 bind9-utils bind9-dnsutils knot knot-dnsutils build-essential python3 ca-certificates lintian iperf3"

# shellcheck disable=SC2086
apt_ensure $PACKAGES

step "check node >= 20 and npm"
command -v node >/dev/null && command -v npm >/dev/null || { echo "vm/setup.sh: Node.js >= 20 with npm is required" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "vm/setup.sh: Node.js >= 20 required, found $(node --version)" >&2; exit 1; }
echo "node $(node --version), npm $(npm --version)"

step "npm ci"
# npm ci builds the addon (binding.gyp): against Debian's node headers, never a download.
npm_config_nodedir=/usr npm ci --no-audit --no-fund
