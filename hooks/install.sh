#!/bin/sh
# Install the built hook (run `npm run build` first) for runc, crun and podman, and the runtime
# wrapper for Docker, containerd and Kubernetes:
#   $PREFIX/lib/oci-slaac-hook/{dist/oci-slaac-{hook,runtime,cni}{,.main}.js{,.cache},build/Release/osh_native.node}
#   $PREFIX/bin/oci-slaac-hook                       (the operator command)
#   $PREFIX/share/man/man{8,5}/                       (oci-slaac-hook(8), oci-slaac-runtime(8), oci-slaac-hook.toml(5))
#   $CNI_BIN_DIR/$CNI_TYPE                           (opt-in: the CNI plugin, see below)
#   $PREFIX/bin/oci-slaac-runtime                    (the runtime wrapper: runc's argv, our hooks added)
#   $HOOKS_DIR/oci-slaac-hook-{prestart,poststop}.json (podman's hooks.d)
#   $CONFIG_DIR/config.toml                          (only if absent; set "parent" in it)
#   $SYSTEMD_DIR/oci-slaac-hook-agent.service        (the agent's unit; enabled and started when
#                                                      systemd runs and SYSTEMD_DIR is the default)
# PREFIX defaults to /usr/local, CONFIG_DIR to /etc/oci-slaac-hook; HOOKS_DIR to
# /usr/share/containers/oci/hooks.d, the only directory podman 4.3 on Debian 12 reads by
# default. SYSTEMD_DIR defaults to /etc/systemd/system.
# DOCKER_DAEMON_JSON=/etc/docker/daemon.json (opt-in, unset by default) also registers the wrapper
# there as Docker's runtime "slaac" (`oci-slaac-hook docker-install`).
# CNI_BIN_DIR=/opt/cni/bin (opt-in; podman 4.3 on Debian reads /usr/lib/cni) also installs the CNI
# plugin there under the type name CNI_TYPE (default "slaac"): a script naming node's path, as the
# runtime wrapper is (a runtime's PATH may not have this node). Conflists: hooks/cni/.
set -eu
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
HOOKS_DIR=${HOOKS_DIR:-/usr/share/containers/oci/hooks.d}
CONFIG_DIR=${CONFIG_DIR:-/etc/oci-slaac-hook}
SYSTEMD_DEFAULT=/etc/systemd/system
SYSTEMD_DIR=${SYSTEMD_DIR:-$SYSTEMD_DEFAULT}
NODE=$(command -v node)
LIB="$PREFIX/lib/oci-slaac-hook"

[ -f dist/oci-slaac-hook.js ] && [ -f dist/oci-slaac-runtime.js ] && [ -f dist/oci-slaac-cni.js ] && [ -f build/Release/osh_native.node ] || { echo "hooks/install.sh: run 'npm run build' first" >&2; exit 1; }
install -d "$LIB/dist" "$LIB/build/Release" "$PREFIX/bin" "$HOOKS_DIR" "$CONFIG_DIR"
install -m 0755 dist/oci-slaac-hook.js "$LIB/dist/oci-slaac-hook.js"
install -m 0644 dist/oci-slaac-hook.main.js dist/oci-slaac-hook.main.js.cache "$LIB/dist/"
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
# The wrapper runs under dockerd's or containerd's environment, whose PATH may not have this node:
# a script naming node's path, as the hooks.d files and the agent's unit do. Written beside and
# renamed, so that it replaces a link there instead of writing through it.
printf '#!/bin/sh\nexec '\''%s'\'' '\''%s'\'' "$@"\n' "$NODE" "$LIB/dist/oci-slaac-runtime.js" >"$PREFIX/bin/.oci-slaac-runtime.tmp"
chmod 0755 "$PREFIX/bin/.oci-slaac-runtime.tmp"
mv -f "$PREFIX/bin/.oci-slaac-runtime.tmp" "$PREFIX/bin/oci-slaac-runtime"
for stage in prestart poststop; do
	sed -e "s|/usr/local/lib/oci-slaac-hook|$LIB|g" -e "s|\"/usr/bin/node\"|\"$NODE\"|" \
		"hooks/hooks.d/oci-slaac-hook-$stage.json" >"$HOOKS_DIR/oci-slaac-hook-$stage.json"
done
if [ ! -f "$CONFIG_DIR/config.toml" ]; then
	cat >"$CONFIG_DIR/config.toml" <<'TOML'
# oci-slaac-hook configuration; see README.md for every key.
# parent = "eth0"        # the physical NIC containers' interfaces hang off (required)
# mode = "macvlan"       # or "ipvlan"
# dad = "strict"         # or "optimistic"
#
# Containers may choose the NIC, the link's kind and mode or a static IID by annotation only
# among values listed here (none by default):
# [annotation_allow]
# parent = ["eth1", "eth2"]
# ipvlan_mode = ["l2", "l3"]
#
# Rootless podman users, through the agent's broker (README, "Rootless podman"); ipvlan l3s
# recommended for them:
# [rootless]
# enable = true
# quota = { alice = 4, "@containers" = 2 }
TOML
	chmod 0644 "$CONFIG_DIR/config.toml" # rootless hooks read it as the user
fi
AGENT_ARGS=""
[ "$CONFIG_DIR" = /etc/oci-slaac-hook ] || AGENT_ARGS=" --config $CONFIG_DIR/config.toml"
install -d "$SYSTEMD_DIR"
sed -e "s|/usr/local/lib/oci-slaac-hook|$LIB|g" -e "s|^ExecStart=/usr/bin/node |ExecStart=$NODE |" -e "s|\( agent\)$|\1$AGENT_ARGS|" \
	hooks/oci-slaac-hook-agent.service >"$SYSTEMD_DIR/oci-slaac-hook-agent.service"
chmod 0644 "$SYSTEMD_DIR/oci-slaac-hook-agent.service"
AGENT="unit in $SYSTEMD_DIR"
if [ "$SYSTEMD_DIR" = "$SYSTEMD_DEFAULT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload
	systemctl enable oci-slaac-hook-agent.service
	systemctl restart oci-slaac-hook-agent.service || echo "hooks/install.sh: the agent did not start: see journalctl -u oci-slaac-hook-agent" >&2
	AGENT="agent enabled and started (systemctl status oci-slaac-hook-agent)"
fi
if [ -n "${CNI_BIN_DIR:-}" ]; then
	CNI_TYPE=${CNI_TYPE:-slaac}
	install -d "$CNI_BIN_DIR"
	printf '#!/bin/sh\nexec '\''%s'\'' '\''%s'\'' "$@"\n' "$NODE" "$LIB/dist/oci-slaac-cni.js" >"$CNI_BIN_DIR/.$CNI_TYPE.tmp"
	chmod 0755 "$CNI_BIN_DIR/.$CNI_TYPE.tmp"
	mv -f "$CNI_BIN_DIR/.$CNI_TYPE.tmp" "$CNI_BIN_DIR/$CNI_TYPE"
	echo "CNI plugin: $CNI_BIN_DIR/$CNI_TYPE (network configs: hooks/cni/*.conflist)"
fi
if [ -n "${DOCKER_DAEMON_JSON:-}" ]; then
	"$NODE" "$LIB/dist/oci-slaac-hook.js" docker-install --daemon-json "$DOCKER_DAEMON_JSON" --runtime-path "$PREFIX/bin/oci-slaac-runtime"
fi
echo "installed to $LIB; hooks.d files in $HOOKS_DIR; $AGENT; edit $CONFIG_DIR/config.toml"
