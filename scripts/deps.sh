#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Installs and checks what building and booting a Rust-enabled kernel needs, then writes
# $CACHE/toolchain.env, which scripts/toolchain.sh reads. Idempotent: a second run only checks.
. "$(dirname "$0")/lib.sh"

BINDGEN_VERSION=${BINDGEN_VERSION:-0.73.2}
BINDGEN_MIN=0.71.1
LIBCLANG_VERSION=${LIBCLANG_VERSION:-18.1.1}
TOOLS=$CACHE/tools

HOST_PKGS="make gcc flex bison bc libelf-dev libssl-dev cpio kmod rsync python3 xz-utils
	dpkg-dev git unzip qemu-system-x86 debian-archive-keyring busybox-static file
	python3-sphinx python3-yaml graphviz python3-ply python3-git clang-19 lld-19 llvm-19
	libclang1-19 qemu-system-arm device-tree-compiler"

host_packages() {
	local missing=()
	for p in $HOST_PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && { say "host packages: all present"; return; }
	[ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}): run 'make deps' as root or install them with apt-get"
	say "host packages: installing ${missing[*]}"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ver_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1)" = "$2" ]; }

rust_src() {
	command -v rustc >/dev/null || die "rustc not found: install a Rust toolchain (rustup) first"
	local rv dest
	rv=$(rustc --version | awk '{print $2}')
	ver_ge "$rv" 1.85.0 || die "rustc $rv is too old: Linux 7.3 needs 1.85.0 or newer"
	dest=$CACHE/rust-src-$rv
	RUST_LIB_SRC=$dest/usr/src/rustc-$rv/library
	if [ -f "$RUST_LIB_SRC/core/src/lib.rs" ]; then
		say "rust-src $rv: present"
		return
	fi
	# rustup's own rust-src cannot be downloaded here: take Debian's, same upstream version.
	papt_update
	local v
	v=$(versions_of rust-src | grep -E "^$rv\+" | head -1) ||
		true
	[ -n "$v" ] || die "Debian's $SUITE has no rust-src for rustc $rv (it offers: $(versions_of rust-src | tr '\n' ' ')); install a rustc matching one of those"
	say "rust-src $rv: fetching Debian's $v"
	rm -rf "$dest"
	fetch_deb rust-src "$v" "$dest" || die "cannot download rust-src $v"
	[ -f "$RUST_LIB_SRC/core/src/lib.rs" ] || die "rust-src $v has no library/ for $rv"
}

bindgen() {
	BINDGEN=$TOOLS/bin/bindgen
	if [ -x "$BINDGEN" ] && ver_ge "$("$BINDGEN" --version | awk '{print $2}')" "$BINDGEN_MIN"; then
		say "bindgen: $("$BINDGEN" --version) present"
		return
	fi
	say "bindgen: cargo install bindgen-cli $BINDGEN_VERSION (about a minute)"
	cargo install --locked --quiet --root "$TOOLS" bindgen-cli --version "$BINDGEN_VERSION" >&2 ||
		die "cargo install bindgen-cli failed (crates.io reachable? BINDGEN_VERSION=$BINDGEN_VERSION)"
}

libclang() {
	# Bookworm's libclang 14 is too old for bindgen on 7.3 (>= 17 is needed); PyPI's wheel is not.
	local dir=$TOOLS/libclang-$LIBCLANG_VERSION
	LIBCLANG_PATH=$dir/clang/native
	if [ ! -f "$LIBCLANG_PATH/libclang.so" ]; then
		say "libclang: fetching the PyPI wheel libclang==$LIBCLANG_VERSION"
		local tmp
		tmp=$(mktemp -d)
		python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "libclang==$LIBCLANG_VERSION" >&2 ||
			die "pip download libclang==$LIBCLANG_VERSION failed (PyPI reachable?)"
		rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
		unzip -q "$tmp"/*.whl -d "$dir.tmp"
		rm -rf "$dir" && mkdir -p "$dir"
		mv "$(dirname "$(find "$dir.tmp" -type d -path '*/clang/native' | head -1)")" "$dir/clang"
		rm -rf "$dir.tmp" "$tmp"
	fi
	[ -f "$LIBCLANG_PATH/libclang.so" ] || die "libclang.so not found under $LIBCLANG_PATH"
	say "libclang: $LIBCLANG_VERSION at $LIBCLANG_PATH"
}

# A static busybox for the arm64 VM's initramfs, from Debian's arm64 archive of the host's
# release, through an apt state of its own: the host gets no foreign architecture.
busybox_arm64() {
	local dest=$TOOLS/busybox-arm64 dir=$CACHE/apt-arm64 tmp suite opts
	if [ -x "$dest/bin/busybox" ]; then
		say "busybox (arm64): present"
		return
	fi
	suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
	mkdir -p "$dir/state/lists/partial" "$dir/cache/archives/partial"
	touch "$dir/state/status"
	printf 'deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian %s main\n' \
		"$suite" >"$dir/sources.list"
	opts=(-o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o Dir::State="$dir/state" -o Dir::State::Status="$dir/state/status"
		-o Dir::Cache="$dir/cache" -o APT::Architecture=arm64 -o APT::Architectures=arm64
		-o APT::Sandbox::User=root -o Acquire::Languages=none)
	apt-get -q "${opts[@]}" update >&2 || die "cannot read Debian's $suite arm64 index; check the network"
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get -q "${opts[@]}" download busybox-static >&2) ||
		{ rm -rf "$tmp"; die "cannot download busybox-static for arm64"; }
	mkdir -p "$dest"
	dpkg -x "$tmp"/*.deb "$dest"
	rm -rf "$tmp"
	say "busybox (arm64): $dest/bin/busybox"
}

mkdir -p "$CACHE" "$TOOLS"
stage "deps: host packages" host_packages
stage "deps: Rust library source" rust_src
stage "deps: bindgen" bindgen
stage "deps: libclang" libclang
stage "deps: busybox for arm64" busybox_arm64

cat >"$CACHE/toolchain.env.tmp" <<EOM
# Written by scripts/deps.sh; do not edit. Read by scripts/toolchain.sh.
RUST_LIB_SRC='$RUST_LIB_SRC'
LIBCLANG_PATH='$LIBCLANG_PATH'
BINDGEN='$BINDGEN'
EOM
mv "$CACHE/toolchain.env.tmp" "$CACHE/toolchain.env"
rm -f "$CACHE/toolchain.mk"
say "deps: toolchain recorded in $CACHE/toolchain.env"
