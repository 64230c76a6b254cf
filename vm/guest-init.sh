#!/bin/sh
# PID 1 of the CI VM (vm/ci-vm.sh): the machine's own root filesystem, read-only under a tmpfs
# overlay, booted with Debian's kernel. Mounts what a Debian system and the container runtimes
# expect, makes the kernel's modules loadable, runs the command from the "out" share in the repo
# and writes its exit status back to that share, then powers off.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH HOME=/root LANG=C.UTF-8 CI=${CI:-true} TERM=dumb

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o mode=0755 run /run
# /tmp stays the overlay's (writable, in memory): a tmpfs over it would hide a checkout under /tmp.
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /run/osh-out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /run/osh-out

# Modules of the booted kernel (veth, bridge, macvlan, ipvlan, …) load on demand from the
# unpacked package, which the runner names.
kver=$(uname -r)
mkdir -p "/lib/modules/$kver"
mount --bind "$(cat /run/osh-out/modules)" "/lib/modules/$kver"
hostname osh-ci-vm
ip link set lo up
# Let runc and crun put containers under a cgroup of their own.
echo '+cpu +memory +pids' >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null

repo=$(cat /run/osh-out/repo)
echo "ci-vm: guest up: kernel $kver, $(nproc) CPUs, $(($(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024)) MiB"
cd "$repo" && sh -c "$(cat /run/osh-out/cmd)" </dev/null
echo $? >/run/osh-out/rc.tmp && mv /run/osh-out/rc.tmp /run/osh-out/rc
sync
mkfifo /run/osh-halt
echo o >/proc/sysrq-trigger
# PID 1 must not exit (a panic) and nothing may be exec'd from the vanishing 9p root: block in
# the shell itself until the power goes.
read -r _ </run/osh-halt
