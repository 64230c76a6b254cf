#!/bin/sh
# `npm run package:deb` (which builds first): OUT_DIR/oci-slaac-hook_<version>-<revision>_<arch>.deb
# from the built tree (dist/ bundles and man pages, build/Release/osh_native.node) with dpkg-deb,
# no debhelper. Usage: sh scripts/package-deb.sh [OUT_DIR]   (default dist; prints the .deb's path)
#   /usr/lib/oci-slaac-hook/dist/              the bundles, their V8 code caches, the launchers
#                                              (#!/usr/bin/node)
#   /usr/lib/oci-slaac-hook/build/Release/     the N-API addon, stripped (runtime/system/native.ts)
#   /usr/bin/oci-slaac-{hook,runtime,cni}      links to the launchers
#   /usr/share/containers/oci/hooks.d/         podman's hooks.d files (prestart, poststop)
#   /lib/systemd/system/                       the agent's unit
#   /etc/oci-slaac-hook/config.toml            a conffile naming no parent: the hook then lets
#                                              every container start untouched, and logs why
#   /usr/share/man/man8, man5                  oci-slaac-hook(8), oci-slaac-runtime(8),
#                                              oci-slaac-hook.toml(5)
#   /usr/share/doc/oci-slaac-hook/             copyright (machine-readable), changelog.Debian.gz
#   /usr/share/lintian/overrides/oci-slaac-hook
# The maintainer scripts, copyright, default config and overrides are in packaging/deb/.
# DEB_REVISION (default 1) is the Debian revision; SOURCE_DATE_EPOCH (default: the last commit's
# time) dates the changelog entry.
set -eu
cd "$(dirname "$0")/.."
OUT_DIR=${1:-dist}
PKG=oci-slaac-hook
LIB=/usr/lib/$PKG
SRC=packaging/deb

for f in dist/oci-slaac-hook.js dist/oci-slaac-runtime.js dist/oci-slaac-cni.js dist/man/oci-slaac-hook.8 build/Release/osh_native.node; do
	[ -f "$f" ] || { echo "scripts/package-deb.sh: $f is missing: run 'npm run build' first (npm run package:deb does)" >&2; exit 1; }
done
for tool in dpkg-deb dpkg-shlibdeps strip gzip md5sum; do
	command -v "$tool" >/dev/null 2>&1 || { echo "scripts/package-deb.sh: $tool not found (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done

VERSION="$(node -p 'require("./package.json").version')-${DEB_REVISION:-1}"
ARCH=$(dpkg --print-architecture)
MAINTAINER="oci-slaac-hook maintainers <maintainers@users.noreply.h-seed-f23cc52b.example>"
EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
DEB="$OUT_DIR/${PKG}_${VERSION}_${ARCH}.deb"

umask 022
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/$PKG-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
R="$STAGE/root"

# The program: bundles and caches as built; the launchers run Debian's node, not the first on PATH.
install -d "$R$LIB/dist" "$R$LIB/build/Release" "$R/usr/bin"
for name in oci-slaac-hook oci-slaac-runtime oci-slaac-cni; do
	sed '1s|^#!/usr/bin/env node$|#!/usr/bin/node|' "dist/$name.js" >"$R$LIB/dist/$name.js"
	chmod 0755 "$R$LIB/dist/$name.js"
	install -m 0644 "dist/$name.main.js" "$R$LIB/dist/"
	[ ! -f "dist/$name.main.js.cache" ] || install -m 0644 "dist/$name.main.js.cache" "$R$LIB/dist/"
	# The hook stages' own bundle and the thin client (launch.js runs them for a stage when they are there).
	for f in "dist/$name.stage.js" "dist/$name.stage.js.cache" "dist/$name.delegate.js" "dist/$name.delegate.js.cache"; do [ ! -f "$f" ] || install -m 0644 "$f" "$R$LIB/dist/"; done
	ln -s "../lib/$PKG/dist/$name.js" "$R/usr/bin/$name"
done
install -m 0644 build/Release/osh_native.node "$R$LIB/build/Release/osh_native.node"
# As dh_strip does: no symbols, no .comment or .note sections.
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$R$LIB/build/Release/osh_native.node"

# podman's hooks.d files and the agent's unit, pointed at /usr/lib/oci-slaac-hook.
install -d "$R/usr/share/containers/oci/hooks.d" "$R/lib/systemd/system"
for stage in prestart poststop; do
	sed "s|/usr/local/lib/$PKG|$LIB|g" "hooks/hooks.d/$PKG-$stage.json" >"$R/usr/share/containers/oci/hooks.d/$PKG-$stage.json"
done
{
	echo "# $PKG's agent (see oci-slaac-hook(8), \"agent\"); installed by the $PKG package."
	sed -e '/^#/d' -e "s|/usr/local/lib/$PKG|$LIB|g" -e "s|^Documentation=.*|Documentation=man:oci-slaac-hook(8) man:oci-slaac-hook.toml(5)|" hooks/oci-slaac-hook-agent.service
} >"$R/lib/systemd/system/oci-slaac-hook-agent.service"

install -d "$R/etc/$PKG"
install -m 0644 "$SRC/config.toml" "$R/etc/$PKG/config.toml"

install -d "$R/usr/share/man/man8" "$R/usr/share/man/man5"
for page in oci-slaac-hook.8 oci-slaac-runtime.8; do gzip -9n <"dist/man/$page" >"$R/usr/share/man/man8/$page.gz"; done
gzip -9n <dist/man/oci-slaac-hook.toml.5 >"$R/usr/share/man/man5/oci-slaac-hook.toml.5.gz"

DOC="$R/usr/share/doc/$PKG"
install -d "$DOC" "$R/usr/share/lintian/overrides"
install -m 0644 "$SRC/copyright" "$DOC/copyright"
{
	printf '%s (%s) unstable; urgency=medium\n\n' "$PKG" "$VERSION"
	printf '  * Built from the oci-slaac-hook repository by scripts/package-deb.sh.\n\n'
	printf ' -- %s  %s\n' "$MAINTAINER" "$(LC_ALL=C date -u -R -d "@$EPOCH")"
} | gzip -9n >"$DOC/changelog.Debian.gz"
install -m 0644 "$SRC/lintian-overrides" "$R/usr/share/lintian/overrides/$PKG"

# Control: libc6's version from the addon's symbols (dpkg-shlibdeps wants a debian/control beside it).
install -d "$STAGE/src/debian" "$R/DEBIAN"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PKG" "$PKG" >"$STAGE/src/debian/control"
SHLIBS=$(cd "$STAGE/src" && dpkg-shlibdeps -O "$R$LIB/build/Release/osh_native.node" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$SHLIBS" ] || { echo "scripts/package-deb.sh: dpkg-shlibdeps found no dependency for the addon" >&2; exit 1; }
SIZE=$(du -sk --exclude=DEBIAN "$R" | cut -f1)
cat >"$R/DEBIAN/control" <<EOF
Package: $PKG
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $SIZE
Depends: nodejs (>= 20), $SHLIBS
Section: net
Priority: optional
Description: OCI hook giving each container its own SLAAC IPv6 address
 Every container gets its own real, globally routable IPv6 address from the
 router's advertisement: verified unique on the link with duplicate address
 detection, with no NAT, no overlay and no port mapping.
 .
 The hook (runc, crun, podman's hooks.d) creates a macvlan or ipvlan interface
 on the host's NIC inside the container's network namespace and does SLAAC
 there itself, before the container's first process runs. Also included: a
 runtime wrapper for Docker and containerd, a CNI plugin, and an agent that
 keeps the addresses alive. Set "parent" in /etc/oci-slaac-hook/config.toml;
 until then containers start untouched.
EOF
echo "/etc/$PKG/config.toml" >"$R/DEBIAN/conffiles"
for script in postinst prerm postrm; do install -m 0755 "$SRC/$script" "$R/DEBIAN/$script"; done
(cd "$R" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort | xargs md5sum) >"$R/DEBIAN/md5sums"
chmod 0644 "$R/DEBIAN/control" "$R/DEBIAN/conffiles" "$R/DEBIAN/md5sums"

mkdir -p "$OUT_DIR"
SOURCE_DATE_EPOCH=$EPOCH dpkg-deb --root-owner-group -Zxz --build "$R" "$DEB" >/dev/null
echo "$DEB"
