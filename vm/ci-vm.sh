#!/bin/sh
# The CI VM: runs a command under Debian's own kernel (linux-image-amd64, which ships ipvlan as a
# module; this machine's kernel has no ipvlan), without building an image. qemu boots the kernel
# with a small busybox initramfs that mounts this machine's root filesystem read-only over 9p
# (virtio) under a tmpfs overlay, and switch_roots into vm/guest-init.sh, which runs the command.
# Nothing leaves the VM: it has no network device at all; the command's output comes back on the
# serial console, its exit status through a writable 9p share.
#
# usage: vm/ci-vm.sh test            the VM suite: `npx tap tests/vm` inside the VM
#        vm/ci-vm.sh run CMD [ARG]…  any command (run by sh -c in the repo, as root)
#        vm/ci-vm.sh prepare         only fetch the kernel and build the initramfs (cached)
#
# Environment (defaults in brackets):
#   OSH_VM_CACHE    [/var/cache/oci-slaac-hook/vm]  the kernel package, extracted, and the
#                   initramfs, keyed by the package version (fetched once with apt-get download)
#   OSH_VM_KERNEL   [the package linux-image-amd64 depends on]  e.g. linux-image-6.1.0-56-amd64
#   OSH_VM_ACCEL    [auto]  kvm | tcg | auto = kvm only when /dev/kvm opens and the CPU flags
#                   show vmx or svm (this kind of machine has a PVM /dev/kvm that cannot boot a
#                   stock kernel), else tcg
#   OSH_VM_MEM      [2048]  MiB of guest memory (the overlay's tmpfs lives in it)
#   OSH_VM_CPUS     [2]
#   OSH_VM_TIMEOUT  [1500]  seconds before a VM is killed (exit 124)
#   OSH_VM_CPU      [Nehalem under TCG, host under KVM]  qemu's -cpu: under TCG a named model,
#                   not "max": a CI run with `-cpu max -smp 2` hung for 35 minutes with both
#                   vCPUs in a soft lockup (runc and its child, in the kernel), a known weak spot
#                   of multi-vCPU TCG with every emulated feature on
#   OSH_VM_ATTEMPTS [2]  `test` boots again, once, when the guest kernel locked up or the VM
#                   ended without the suite's status (never when a test failed): each attempt's
#                   whole console output is printed, and the retry says why
#
# Requires root (9p passthrough of /) and qemu-system-x86, kmod, busybox-static, cpio
# (vm/setup.sh installs them).
set -eu

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${OSH_VM_CACHE:-/var/cache/oci-slaac-hook/vm}
ACCEL=${OSH_VM_ACCEL:-auto}
MEM=${OSH_VM_MEM:-2048}
CPUS=${OSH_VM_CPUS:-2}
TIMEOUT=${OSH_VM_TIMEOUT:-1500}
ATTEMPTS=${OSH_VM_ATTEMPTS:-2}

die() { echo "ci-vm: $*" >&2; exit 2; }
step() { echo "ci-vm: $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (9p passthrough of the root filesystem)"
for c in qemu-system-x86_64 modprobe depmod cpio /bin/busybox apt-get dpkg; do
	command -v "$c" >/dev/null || die "missing $c (run vm/setup.sh)"
done

# The kernel package: the one linux-image-amd64 currently depends on, unless named.
kernel_package() {
	if [ -n "${OSH_VM_KERNEL:-}" ]; then echo "$OSH_VM_KERNEL"; return; fi
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1)
	[ -n "$pkg" ] || die "apt knows no linux-image-amd64 (apt-get update?)"
	echo "$pkg"
}

# Fetch and unpack the kernel package once: $KDIR/boot/vmlinuz-$KVER, $KDIR/lib/modules/$KVER.
prepare_kernel() {
	PKG=$(kernel_package)
	KVER=${PKG#linux-image-}
	KDIR=$CACHE/$PKG
	if [ ! -f "$KDIR/.unpacked" ]; then
		step "fetching $PKG (cached in $KDIR)"
		rm -rf "$KDIR" && mkdir -p "$KDIR/deb"
		(cd "$KDIR/deb" && apt-get download -q "$PKG" 2>&1 | grep -v 'unsandboxed' >&2 || true)
		deb=$(ls "$KDIR"/deb/*.deb 2>/dev/null | head -n 1)
		[ -n "$deb" ] || die "apt-get download $PKG failed"
		dpkg-deb -x "$deb" "$KDIR/root"
		rm -rf "$KDIR/deb"
		depmod -b "$KDIR/root" "$KVER"
		touch "$KDIR/.unpacked"
	fi
	KERNEL=$KDIR/root/boot/vmlinuz-$KVER
	MODULES=$KDIR/root/lib/modules/$KVER
	[ -f "$KERNEL" ] || die "no kernel image in $KDIR"
}

# The initramfs: busybox, the modules needed to mount the root (virtio-pci, 9p, overlay) in
# dependency order, and /init. Rebuilt when this script changes.
INITRAMFS_MODULES="virtio_pci 9pnet_virtio 9p overlay"
prepare_initramfs() {
	stamp=$(cksum <"$0" | cut -d' ' -f1)
	INITRD=$KDIR/initramfs-$stamp.cpio.gz
	[ -f "$INITRD" ] && return
	step "building the initramfs"
	work=$(mktemp -d)
	mkdir -p "$work/bin" "$work/m" "$work/proc" "$work/sys" "$work/dev" "$work/lower" "$work/upper" "$work/newroot"
	cp /bin/busybox "$work/bin/busybox"
	for m in $INITRAMFS_MODULES; do modprobe -d "$KDIR/root" -S "$KVER" --show-depends "$m"; done |
		sed -n 's/^insmod \([^ ]*\).*/\1/p' | awk '!seen[$0]++' >"$work/order.full"
	: >"$work/m/order"
	while read -r ko; do
		cp "$ko" "$work/m/"
		basename "$ko" >>"$work/m/order"
	done <"$work/order.full"
	rm "$work/order.full"
	cat >"$work/init" <<'EOF'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
while read -r ko; do $B insmod "/m/$ko" || echo "initramfs: insmod $ko failed"; done </m/order
cmdline=$($B cat /proc/cmdline)
guest_init=
for w in $cmdline; do case $w in osh.init=*) guest_init=${w#osh.init=} ;; esac; done
if ! $B mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose root /lower; then
	echo "initramfs: cannot mount the root share"; echo o >/proc/sysrq-trigger
fi
$B mount -t tmpfs -o mode=0755 upper /upper
$B mkdir -p /upper/data /upper/work
if ! $B mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work root /newroot; then
	echo "initramfs: cannot mount the overlay"; echo o >/proc/sysrq-trigger
fi
$B umount /proc /sys /dev
exec $B switch_root /newroot /bin/sh "$guest_init"
EOF
	chmod 755 "$work/init"
	(cd "$work" && find . | cpio -o -H newc --quiet) | gzip -1 >"$INITRD.tmp"
	mv "$INITRD.tmp" "$INITRD"
	rm -rf "$work"
}

choose_accel() {
	case $ACCEL in
	kvm | tcg) echo "$ACCEL" ;;
	auto)
		if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then echo kvm; else echo tcg; fi ;;
	*) die "OSH_VM_ACCEL must be kvm, tcg or auto (got '$ACCEL')" ;;
	esac
}

# Boot once, run "$@" (sh -c) in the repo inside the VM, print its output; sets BOOT_RC to the
# command's status, or 124 (timed out) / 125 (the VM ended without one: a guest panic, which a
# soft lockup now is).
boot_once() {
	out=$(mktemp -d /tmp/osh-vm.XXXXXX)
	trap 'rm -rf "$out"' EXIT
	printf '%s\n' "$*" >"$out/cmd"
	printf '%s\n' "$REPO" >"$out/repo"
	printf '%s\n' "$MODULES" >"$out/modules"
	accel=$(choose_accel)
	if [ "$accel" = kvm ]; then acc="-accel kvm -cpu ${OSH_VM_CPU:-host}"; else acc="-accel tcg,tb-size=64 -cpu ${OSH_VM_CPU:-Nehalem}"; fi
	step "booting $(basename "$KERNEL") under $accel ($MEM MiB, $CPUS CPUs, ${TIMEOUT}s limit): $*"
	set +e
	# softlockup_panic=1: a vCPU stuck in the kernel for 20 s panics the guest, and panic=-1 with
	# -no-reboot ends qemu at once, instead of spinning until the time limit.
	# shellcheck disable=SC2086
	timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 $acc -m "$MEM" -smp "$CPUS" \
		-nodefaults -no-user-config -nographic -no-reboot -serial stdio -monitor none \
		-nic none \
		-kernel "$KERNEL" -initrd "$INITRD" \
		-append "console=ttyS0 quiet loglevel=4 panic=-1 oops=panic softlockup_panic=1 osh.init=$REPO/vm/guest-init.sh" \
		-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
		-device virtio-9p-pci,fsdev=root,mount_tag=root \
		-fsdev local,id=out,path="$out",security_model=none,multidevs=remap \
		-device virtio-9p-pci,fsdev=out,mount_tag=out </dev/null
	qrc=$?
	set -e
	if [ "$qrc" = 124 ]; then
		step "timed out after ${TIMEOUT}s"; BOOT_RC=124
	elif [ ! -f "$out/rc" ]; then
		step "the VM ended (qemu exit $qrc) without the command's status"; BOOT_RC=125
	else
		BOOT_RC=$(cat "$out/rc"); step "exit $BOOT_RC"
	fi
	rm -rf "$out"
}

# Boot and run "$@", exit with its status. With more than one attempt, a VM that timed out or
# ended without a status (the guest, not a test, failed) is booted again.
boot() {
	attempt=1
	while :; do
		boot_once "$@"
		case $BOOT_RC in 124 | 125) ;; *) exit "$BOOT_RC" ;; esac
		[ "$attempt" -lt "$ATTEMPTS" ] || exit "$BOOT_RC"
		attempt=$((attempt + 1))
		step "the guest itself failed (status $BOOT_RC: see its console above), not a test: attempt $attempt of $ATTEMPTS"
	done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
prepare_kernel
prepare_initramfs
case $cmd in
prepare) step "kernel $KERNEL, initramfs $INITRD" ;;
test) boot "node_modules/.bin/tap --reporter=tap --timeout=600 tests/vm/*.test.ts" ;;
run) [ $# -gt 0 ] || die "usage: vm/ci-vm.sh run CMD [ARG]…"; ATTEMPTS=1; boot "$@" ;;
*) die "usage: vm/ci-vm.sh test | run CMD [ARG]… | prepare" ;;
esac
