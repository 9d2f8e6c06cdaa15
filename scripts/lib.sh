# SPDX-License-Identifier: GPL-2.0
# Shared shell helpers for the kernel::sg scripts: logging, timing, the private apt.
# Sourced, never run. Expects CACHE to be set by the Makefile.

set -euo pipefail

: "${CACHE:?CACHE is not set (run through the top-level Makefile)}"
# The repository: the folder above scripts/.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# stage NAME CMD...: run one stage and print how long it took.
stage() {
	local name=$1 t0=$SECONDS
	shift
	say "$name"
	# Explicit, since `set -e` does not apply where the caller tests our status.
	"$@" || { local rc=$?; say "$name: FAILED after $((SECONDS - t0)) s"; return $rc; }
	say "$name: done in $((SECONDS - t0)) s"
}

# Debian trixie-backports through an apt state of our own, so that nothing from trixie is
# ever installed into the host system: we only download .debs and unpack them with dpkg -x.
APT_DIR=$CACHE/apt
SUITE=${SUITE:-trixie-backports}
papt() {
	apt-get -q -o Dir::Etc::SourceList="$APT_DIR/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State="$APT_DIR/state" \
		-o Dir::State::Status="$APT_DIR/state/status" \
		-o Dir::Cache="$APT_DIR/cache" \
		-o APT::Sandbox::User=root "$@"
}
papt_cache() {
	apt-cache -o Dir::Etc::SourceList="$APT_DIR/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State="$APT_DIR/state" \
		-o Dir::State::Status="$APT_DIR/state/status" \
		-o Dir::Cache="$APT_DIR/cache" "$@"
}

# papt_update: refresh the private lists at most once a day.
papt_update() {
	mkdir -p "$APT_DIR/state/lists/partial" "$APT_DIR/cache/archives/partial"
	touch "$APT_DIR/state/status"
	printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian %s main\n' \
		"$SUITE" >"$APT_DIR/sources.list"
	if [ -z "$(find "$APT_DIR/state/lists" -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
		papt update >&2 || die "cannot read Debian's $SUITE index; check the network and /usr/share/keyrings/debian-archive-keyring.gpg"
	fi
}

# fetch_deb PKG VERSION DEST: download one package (an exact version) and unpack it in DEST.
fetch_deb() {
	local pkg=$1 ver=$2 dest=$3 tmp
	tmp=$(mktemp -d)
	(cd "$tmp" && papt download "$pkg=$ver" >&2) ||
		{ rm -rf "$tmp"; return 1; }
	mkdir -p "$dest"
	dpkg -x "$tmp"/*.deb "$dest"
	rm -rf "$tmp"
}

# versions_of PKG: the versions the private archive offers, newest first.
versions_of() {
	papt_cache madison "$1" | awk -F'|' '{gsub(/ /, "", $2); print $2}'
}
