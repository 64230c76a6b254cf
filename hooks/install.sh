#!/bin/sh
# Copy the built hook (run `npm run build` first) from this checkout, then set the host up with
# `oci-slaac-hook install` (README, "Install the hook"):
#   $PREFIX/lib/oci-slaac-hook/{dist/oci-slaac-{hook,runtime,cni}{,.main}.js{,.cache},dist/oci-slaac-hook.{stage,delegate}.js{,.cache},build/Release/osh_native.node}
#   $PREFIX/bin/oci-slaac-hook                       (the operator command)
#   $PREFIX/share/man/man{8,5}/                       (oci-slaac-hook(8), oci-slaac-runtime(8), oci-slaac-hook.toml(5))
# This script copies those files and nothing else; then the installed command's `install` writes
# config.toml (with the parent it finds), podman's hooks.d files, the agent's unit (enabled where
# systemd runs), the runtime wrapper $PREFIX/bin/oci-slaac-runtime, and, when asked, Docker's
# daemon.json runtime, containerd's runtime and the CNI plugin — and records them, so that
# `oci-slaac-hook uninstall` undoes exactly that. Arguments are passed to `install`:
#   sh hooks/install.sh --parent eth0 --docker
# Environment, for the same (kept from before `install` existed): PREFIX (/usr/local),
# HOOKS_DIR (--hooks-dir), CONFIG_DIR (--config-dir), SYSTEMD_DIR (--systemd-dir),
# DOCKER_DAEMON_JSON (--docker PATH), CNI_BIN_DIR (--cni DIR), CNI_TYPE (--cni-type NAME).
set -eu
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
NODE=$(command -v node)
LIB="$PREFIX/lib/oci-slaac-hook"

[ -f dist/oci-slaac-hook.js ] && [ -f dist/oci-slaac-runtime.js ] && [ -f dist/oci-slaac-cni.js ] && [ -f build/Release/osh_native.node ] || { echo "hooks/install.sh: run 'npm run build' first" >&2; exit 1; }
install -d "$LIB/dist" "$LIB/build/Release" "$PREFIX/bin"
install -m 0755 dist/oci-slaac-hook.js "$LIB/dist/oci-slaac-hook.js"
install -m 0644 dist/oci-slaac-hook.main.js dist/oci-slaac-hook.main.js.cache "$LIB/dist/"
# The hook stages' own bundle and the thin client (launch.js runs them for a stage when they are there).
for f in dist/oci-slaac-hook.stage.js dist/oci-slaac-hook.stage.js.cache dist/oci-slaac-hook.delegate.js dist/oci-slaac-hook.delegate.js.cache; do [ ! -f "$f" ] || install -m 0644 "$f" "$LIB/dist/"; done
install -m 0755 build/Release/osh_native.node "$LIB/build/Release/osh_native.node"
install -m 0755 dist/oci-slaac-runtime.js "$LIB/dist/oci-slaac-runtime.js"
install -m 0644 dist/oci-slaac-runtime.main.js dist/oci-slaac-runtime.main.js.cache "$LIB/dist/"
install -m 0755 dist/oci-slaac-cni.js "$LIB/dist/oci-slaac-cni.js"
install -m 0644 dist/oci-slaac-cni.main.js dist/oci-slaac-cni.main.js.cache "$LIB/dist/"
ln -sf "$LIB/dist/oci-slaac-hook.js" "$PREFIX/bin/oci-slaac-hook"
# The man pages (scripts/man.ts, from hooks/manual.ts): man oci-slaac-hook, oci-slaac-runtime, oci-slaac-hook.toml.
install -d "$PREFIX/share/man/man8" "$PREFIX/share/man/man5"
install -m 0644 dist/man/oci-slaac-hook.8 dist/man/oci-slaac-runtime.8 "$PREFIX/share/man/man8/"
install -m 0644 dist/man/oci-slaac-hook.toml.5 "$PREFIX/share/man/man5/"
set -- --prefix "$PREFIX" "$@"
[ -z "${HOOKS_DIR:-}" ] || set -- --hooks-dir "$HOOKS_DIR" "$@"
[ -z "${CONFIG_DIR:-}" ] || set -- --config-dir "$CONFIG_DIR" "$@"
[ -z "${SYSTEMD_DIR:-}" ] || set -- --systemd-dir "$SYSTEMD_DIR" "$@"
[ -z "${DOCKER_DAEMON_JSON:-}" ] || set -- --docker "$DOCKER_DAEMON_JSON" "$@"
[ -z "${CNI_BIN_DIR:-}" ] || set -- --cni "$CNI_BIN_DIR" "$@"
[ -z "${CNI_TYPE:-}" ] || set -- --cni-type "$CNI_TYPE" "$@"
echo "copied to $LIB; now: oci-slaac-hook install $*"
exec "$NODE" "$LIB/dist/oci-slaac-hook.js" install "$@"
