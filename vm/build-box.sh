#!/bin/sh
# Build the Vagrant box of the testbed (Vagrantfile) locally, without downloading a box: a
# Debian 12 image made with debootstrap, packed as a vagrant-libvirt box (box.img qcow2 +
# metadata.json + Vagrantfile in a tar) and added with `vagrant box add --name`.
#
# usage: sh vm/build-box.sh            (as root; idempotent: does nothing when a box of that
#                                       name is already added, unless OSH_BOX_FORCE=1)
#
# What is in the image: minbase + systemd/dbus/udev, Debian's kernel (linux-image-amd64, which
# has ipvlan as a module), grub on an MBR disk (one ext4 partition labelled "rootfs"; the kernel
# line says root=LABEL=rootfs net.ifnames=0, so the NICs are eth0 (Vagrant's management network,
# DHCP by systemd-networkd), eth1, ...), openssh-server (host keys made at first boot), the
# "vagrant" user with Vagrant's insecure public key and sudo NOPASSWD, rsync (the synced folder),
# the lab roles' tools (iproute2, radvd, ndisc6, ping), and Node.js >= 20:
#   - OSH_BOX_NODE_DEB set: that nodejs .deb;
#   - otherwise the build machine's own nodejs package, re-packed from the installed files with
#     dpkg-repack (Debian 12's nodejs is 18: the machine must have a nodejs >= 20 package, e.g.
#     from NodeSource).
# With OSH_BOX_HOST_PACKAGES=1 (default) every package vm/setup.sh installs is installed too
# (its PACKAGES line is read), and the build machine's npm cache (~/.npm/_cacache) is copied to
# /root/.npm, so that `vm/setup.sh` in the host VM needs neither a Debian mirror nor (with
# npm_config_prefer_offline, which the Vagrantfile sets) the npm registry.
#
# Network: only this machine's Debian mirror (apt sources), through debootstrap and apt-get;
# debootstrap and the image's apt reuse /var/cache/apt/archives. Nothing else is downloaded.
#
# Environment (defaults in brackets):
#   OSH_BOX_NAME           [oci-slaac-hook/debian12]   name given to `vagrant box add`
#   OSH_BOX_WORK           [/var/tmp/oci-slaac-hook-box] work dir (logs, the re-packed nodejs
#                          .deb, the image while it is built)
#   OSH_BOX_MIRROR         [first deb.debian.org-style URI of this machine's apt sources,
#                          else http://deb.debian.org/debian]
#   OSH_BOX_SUITE          [bookworm]
#   OSH_BOX_SIZE           [12G]   virtual disk size (sparse)
#   OSH_BOX_NODE_DEB       []      a nodejs .deb to install instead of re-packing this machine's
#   OSH_BOX_HOST_PACKAGES  [1]     1 = also vm/setup.sh's packages and the npm cache; 0 = not
#   OSH_BOX_FORCE          []      1 = rebuild and re-add even if the box exists
#   OSH_BOX_KEEP           []      1 = keep the .box file in OSH_BOX_WORK after `vagrant box add`
#   VAGRANT_HOME           [$HOME/.vagrant.d] where `vagrant box add` puts the box: run
#                          `vagrant up` as the same user (root) or with the same VAGRANT_HOME
set -eu

[ "$(id -u)" = 0 ] || { echo "build-box.sh: must run as root" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
exec </dev/null

: "${OSH_BOX_NAME:=oci-slaac-hook/debian12}"
: "${OSH_BOX_WORK:=/var/tmp/oci-slaac-hook-box}"
: "${OSH_BOX_SUITE:=bookworm}"
: "${OSH_BOX_SIZE:=12G}"
: "${OSH_BOX_HOST_PACKAGES:=1}"
OSH_BOX_NODE_DEB=${OSH_BOX_NODE_DEB-}
OSH_BOX_FORCE=${OSH_BOX_FORCE-}

step() { printf '==> build-box: %s\n' "$*"; }
die() {
	echo "build-box.sh: error: $*" >&2
	exit 1
}

case $OSH_BOX_HOST_PACKAGES in 0 | 1) ;; *) die "OSH_BOX_HOST_PACKAGES must be 0 or 1" ;; esac
case $OSH_BOX_SIZE in *[!0-9]*G | G) die "OSH_BOX_SIZE must be a number of GiB like 12G" ;; *[0-9]G) ;; *) die "OSH_BOX_SIZE must be a number of GiB like 12G" ;; esac

export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true
# shellcheck source=vm/apt-ensure.sh
. "$REPO/vm/apt-ensure.sh"
apt_ensure debootstrap qemu-utils fdisk e2fsprogs dpkg-repack vagrant vagrant-libvirt

if [ -z "$OSH_BOX_FORCE" ] && vagrant box list 2>/dev/null | grep -q "^$OSH_BOX_NAME[[:space:]]*(libvirt"; then
	step "box $OSH_BOX_NAME (libvirt) already added; OSH_BOX_FORCE=1 rebuilds it"
	exit 0
fi

if [ -z "${OSH_BOX_MIRROR:-}" ]; then
	OSH_BOX_MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}')
	[ -n "$OSH_BOX_MIRROR" ] || OSH_BOX_MIRROR=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	: "${OSH_BOX_MIRROR:=http://deb.debian.org/debian}"
fi

T0=$(date +%s)
mkdir -p "$OSH_BOX_WORK"
WORK=$(cd "$OSH_BOX_WORK" && pwd)
IMG=$WORK/disk.raw
MNT=$WORK/mnt
LOOP=

cleanup() {
	set +e
	if mountpoint -q "$MNT" 2>/dev/null; then
		for m in var/cache/apt/archives dev/pts dev proc sys; do
			umount "$MNT/$m" 2>/dev/null
		done
		umount "$MNT"
	fi
	if [ -n "$LOOP" ]; then
		partx -d "$LOOP" 2>/dev/null
		losetup -d "$LOOP"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- Node.js for the image -------------------------------------------------------------------
if [ -n "$OSH_BOX_NODE_DEB" ]; then
	[ -f "$OSH_BOX_NODE_DEB" ] || die "OSH_BOX_NODE_DEB=$OSH_BOX_NODE_DEB is not a file"
	NODE_DEB=$(cd "$(dirname "$OSH_BOX_NODE_DEB")" && pwd)/$(basename "$OSH_BOX_NODE_DEB")
else
	command -v node >/dev/null || die "no node on this machine: set OSH_BOX_NODE_DEB to a nodejs (>= 20) .deb"
	major=$(node -p 'process.versions.node.split(".")[0]')
	[ "$major" -ge 20 ] || die "this machine's node is $(node --version) (< 20): set OSH_BOX_NODE_DEB to a nodejs (>= 20) .deb"
	pkg=$(dpkg -S "$(readlink -f "$(command -v node)")" 2>/dev/null | cut -d: -f1 | head -n 1)
	[ -n "$pkg" ] || die "$(command -v node) does not belong to a Debian package: set OSH_BOX_NODE_DEB to a nodejs (>= 20) .deb"
	ver=$(dpkg-query -W -f='${Version}' "$pkg")
	mkdir -p "$WORK/node"
	NODE_DEB=$(ls "$WORK/node/${pkg}_$(echo "$ver" | sed 's/^[0-9]*://')_"*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$NODE_DEB" ]; then
		step "dpkg-repack $pkg $ver (this machine's node $(node --version))"
		(cd "$WORK/node" && dpkg-repack "$pkg" >"$WORK/node/dpkg-repack.log" 2>&1) ||
			{ tail -n 5 "$WORK/node/dpkg-repack.log" >&2; die "dpkg-repack $pkg failed"; }
		NODE_DEB=$(ls "$WORK/node/${pkg}_"*.deb | head -n 1)
	fi
fi
step "node package: $NODE_DEB"

# --- disk: one MBR partition, ext4 labelled rootfs --------------------------------------------
step "disk image $IMG ($OSH_BOX_SIZE)"
rm -f "$IMG"
truncate -s "$OSH_BOX_SIZE" "$IMG"
echo 'label: dos
start=2048, type=83, bootable' | sfdisk -q "$IMG"
LOOP=$(losetup -f --show "$IMG")
# No udev here: ask the kernel for the partition devices ourselves.
partx -a "$LOOP" 2>/dev/null || partx -u "$LOOP"
PART=${LOOP}p1
n=50
while [ ! -b "$PART" ] && [ "$n" -gt 0 ]; do
	sleep 0.1
	n=$((n - 1))
done
if [ ! -b "$PART" ]; then
	# devtmpfs did not make the node: make it from sysfs.
	dev=$(cat "/sys/class/block/$(basename "$PART")/dev" 2>/dev/null) || die "no partition device for $LOOP"
	mknod "$PART" b "${dev%:*}" "${dev#*:}"
fi
mkfs.ext4 -q -L rootfs "$PART"
mkdir -p "$MNT"
mount "$PART" "$MNT"

# --- debootstrap -------------------------------------------------------------------------------
BASE="systemd-sysv,dbus,udev,kmod,linux-image-amd64,grub-pc,initramfs-tools,openssh-server,sudo,rsync,ca-certificates,iproute2,radvd,ndisc6,iputils-ping,procps,python3,libstdc++6,less"
step "debootstrap --variant=minbase $OSH_BOX_SUITE from $OSH_BOX_MIRROR"
mkdir -p /var/cache/apt/archives
debootstrap --variant=minbase --include="$BASE" --cache-dir=/var/cache/apt/archives \
	"$OSH_BOX_SUITE" "$MNT" "$OSH_BOX_MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
	{ tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log: $WORK/debootstrap.log)"; }

mount -t proc proc "$MNT/proc"
mount -t sysfs sys "$MNT/sys"
mount --bind /dev "$MNT/dev"
mount --bind /dev/pts "$MNT/dev/pts"
mount --bind /var/cache/apt/archives "$MNT/var/cache/apt/archives"
inchroot() { chroot "$MNT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true LANG=C.UTF-8 "$@"; }

# --- Node.js, the host VM's packages, the npm cache ------------------------------------------
cp "$NODE_DEB" "$MNT/tmp/nodejs.deb"
# The same sources as this machine (its security updates too), so the image gets the versions
# that are in this machine's package cache; the mirror alone when this machine has none.
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
	cp /etc/apt/sources.list.d/debian.sources "$MNT/etc/apt/sources.list.d/debian.sources"
	: >"$MNT/etc/apt/sources.list"
else
	echo "deb $OSH_BOX_MIRROR $OSH_BOX_SUITE main" >"$MNT/etc/apt/sources.list"
fi
inchroot apt-get update -q >"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log" >&2; die "apt-get update in the image failed"; }
EXTRA=
if [ "$OSH_BOX_HOST_PACKAGES" = 1 ]; then
	EXTRA=$(sed -n 's/^PACKAGES="\(.*\)"$/\1/p' "$REPO/vm/setup.sh")
	[ -n "$EXTRA" ] || die "no PACKAGES=\"...\" line in $REPO/vm/setup.sh"
	echo 'wireshark-common wireshark-common/install-setuid boolean false' | inchroot debconf-set-selections
fi
step "apt-get install in the image: the node package${EXTRA:+ and vm/setup.sh's packages}"
# shellcheck disable=SC2086
inchroot apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef \
	-o Dpkg::Options::=--force-confold /tmp/nodejs.deb $EXTRA >>"$WORK/apt.log" 2>&1 ||
	{ tail -n 30 "$WORK/apt.log" >&2; die "apt-get install in the image failed (log: $WORK/apt.log)"; }
rm -f "$MNT/tmp/nodejs.deb"
if [ -z "$OSH_BOX_NODE_DEB" ] && [ -d /usr/lib/node_modules/npm ]; then
	# npm upgrades itself in place (npm install -g npm): the files dpkg-repack finds by the
	# package's file list are then a mix of two versions. Take this machine's npm as it is.
	rm -rf "$MNT/usr/lib/node_modules/npm"
	cp -a /usr/lib/node_modules/npm "$MNT/usr/lib/node_modules/npm"
fi
inchroot node --version >/dev/null || die "node does not run in the image"
inchroot npm --version >/dev/null || die "npm does not run in the image"
step "image: node $(inchroot node --version), npm $(inchroot npm --version)"
if [ "$OSH_BOX_HOST_PACKAGES" = 1 ] && [ -d "${HOME:-/root}/.npm/_cacache" ]; then
	step "npm cache ${HOME:-/root}/.npm/_cacache -> /root/.npm/_cacache"
	mkdir -p "$MNT/root/.npm"
	cp -a "${HOME:-/root}/.npm/_cacache" "$MNT/root/.npm/"
fi
# Daemons the packages enabled that no VM role wants running by itself (the roles start radvd,
# named or knotd themselves, with their own configuration).
for u in radvd named bind9 knot; do
	inchroot systemctl disable "$u.service" >/dev/null 2>&1 || true
done

# --- system configuration ---------------------------------------------------------------------
step "configure: fstab, hostname, network, ssh, vagrant user, grub"
echo 'LABEL=rootfs / ext4 errors=remount-ro 0 1' >"$MNT/etc/fstab"
echo debian12 >"$MNT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian12\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$MNT/etc/hosts"
# Every VM must make its own machine-id (systemd-networkd's DHCP client id comes from it).
: >"$MNT/etc/machine-id"
rm -f "$MNT/var/lib/dbus/machine-id"
# eth0 = Vagrant's management network (DHCP). Other NICs are left alone for the lab roles.
mkdir -p "$MNT/etc/systemd/network"
cat >"$MNT/etc/systemd/network/10-eth0.network" <<'EOF'
[Match]
Name=eth0

[Network]
DHCP=ipv4
IPv6AcceptRA=no
EOF
inchroot systemctl enable systemd-networkd.service >/dev/null 2>&1
# No resolver daemon in the image: the DNS of vagrant-libvirt's default management network.
printf 'nameserver 192.168.121.1\n' >"$MNT/etc/resolv.conf"
# One image, several VMs: host keys are made at each VM's first boot.
rm -f "$MNT"/etc/ssh/ssh_host_*
mkdir -p "$MNT/etc/systemd/system/ssh.service.d"
cat >"$MNT/etc/systemd/system/ssh.service.d/keygen.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF
echo 'UseDNS no' >"$MNT/etc/ssh/sshd_config.d/vagrant.conf"
inchroot useradd -m -s /bin/bash -U vagrant 2>/dev/null || true
echo 'vagrant:vagrant' | inchroot chpasswd
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$MNT/etc/sudoers.d/vagrant"
chmod 0440 "$MNT/etc/sudoers.d/vagrant"
KEY=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -n 1)
[ -n "$KEY" ] || die "Vagrant's insecure public key (keys/vagrant.pub of the vagrant package) not found"
mkdir -p "$MNT/home/vagrant/.ssh"
cp "$KEY" "$MNT/home/vagrant/.ssh/authorized_keys"
chmod 0700 "$MNT/home/vagrant/.ssh"
chmod 0600 "$MNT/home/vagrant/.ssh/authorized_keys"
inchroot chown -R vagrant:vagrant /home/vagrant/.ssh

cat >"$MNT/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="net.ifnames=0 biosdevname=0 console=tty0 console=ttyS0,115200"
GRUB_TERMINAL="console serial"
GRUB_DISABLE_OS_PROBER=true
EOF
inchroot update-initramfs -u -k all >/dev/null 2>&1 || die "update-initramfs failed"
inchroot grub-install --target=i386-pc "$LOOP" >"$WORK/grub.log" 2>&1 ||
	{ cat "$WORK/grub.log" >&2; die "grub-install failed"; }
inchroot update-grub >>"$WORK/grub.log" 2>&1 || { cat "$WORK/grub.log" >&2; die "update-grub failed"; }
# grub-mkconfig saw the loop device as the root: boot by label instead.
sed -i 's|root=/dev/loop[0-9]*p1|root=LABEL=rootfs|g' "$MNT/boot/grub/grub.cfg"
grep -q 'root=LABEL=rootfs' "$MNT/boot/grub/grub.cfg" || die "grub.cfg has no root=LABEL=rootfs"

# (No `apt-get clean`: the image's package cache is this machine's, bind-mounted.)
rm -rf "$MNT/var/lib/apt/lists/"*
cleanup
trap - EXIT
LOOP=

# --- the box -------------------------------------------------------------------------------
step "qcow2 and box file"
rm -rf "$WORK/box"
mkdir -p "$WORK/box"
qemu-img convert -O qcow2 "$IMG" "$WORK/box/box.img"
rm -f "$IMG"
size=$(echo "$OSH_BOX_SIZE" | sed 's/G$//')
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %s}\n' "$size" >"$WORK/box/metadata.json"
cat >"$WORK/box/Vagrantfile" <<'EOF'
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
  end
end
EOF
(cd "$WORK/box" && tar cf "$WORK/oci-slaac-hook-debian12.box" metadata.json Vagrantfile box.img)
rm -rf "$WORK/box"
step "vagrant box add --name $OSH_BOX_NAME"
vagrant box add --force --name "$OSH_BOX_NAME" "$WORK/oci-slaac-hook-debian12.box"
# vagrant keeps its own copy (~/.vagrant.d/boxes): drop ours unless asked to keep it.
if [ "${OSH_BOX_KEEP:-}" = 1 ]; then
	kept=" (kept: $WORK/oci-slaac-hook-debian12.box)"
else
	rm -f "$WORK/oci-slaac-hook-debian12.box"
	kept=
fi
step "done in $(($(date +%s) - T0)) s: box $OSH_BOX_NAME$kept"
