# Sourced by vm/setup.sh and vm/build-box.sh (POSIX sh): apt_ensure PKG… installs, without a
# question, those of the Debian packages not installed yet. Needs a step() of the caller's.
apt_ensure() {
	missing=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
	done
	if [ -z "$missing" ]; then
		step "Debian packages already installed"
		return 0
	fi
	step "apt-get install$missing"
	export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true NEEDRESTART_MODE=a
	echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing
}
