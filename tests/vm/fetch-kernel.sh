#!/bin/bash
# Fetch the newest Debian 12 (bookworm) linux 6.12 (default) or 6.1 kernel into
# a cache folder.
#
#   tests/vm/fetch-kernel.sh [--series 6.12|6.1]          resolve, download if needed, print the version
#   tests/vm/fetch-kernel.sh [--series 6.12|6.1] --kdir   ... and print the headers dir instead
#   tests/vm/fetch-kernel.sh --upstream the newest linux-image-6.18.*+deb13-amd64 of
#                                       trixie-backports (image and modules only), the
#                                       upstream anchor of the benchmarks (its rxe has
#                                       upstream's ODP); boot it with tests/vm/run --kver
#                                       <ver> --stock-rxe --no-module --odp-core none
#
# The .debs are downloaded with `apt-get download` and unpacked with `dpkg-deb -x`
# into ${ODP_CACHE:-$HOME/.cache/odp}/kernel/<ver>/; nothing is installed on the
# host.  <cache>/kernel/current names the 6.12 version that the build and the
# VM use by default, <cache>/kernel/current-6.1 the 6.1 one (`make ... KVER=6.1`).
# The series can also be given as ODP_KSERIES=6.1.
# Set ODP_KVER=<ver> to pin a version that is already in the cache (or in the
# archive).  The newest version is resolved every time, because old versions
# leave the archive.
#
# Debian names the two series differently: 6.12 as 6.12.<n>+deb12-amd64 with a
# linux-kbuild-6.12.<n>+deb12 per upload; 6.1 by ABI as 6.1.0-<abi>-amd64, with
# one linux-kbuild-6.1 package whose version must equal the image's.
#
# --upstream uses a private apt configuration under <cache>/apt-trixie-backports/
# (its own sources list, lists and archives; the host's apt config and lists are
# never changed) and does not change <cache>/kernel/current.
set -euo pipefail

CACHE=${ODP_CACHE:-$HOME/.cache/odp}
KROOT=$CACHE/kernel
PRINT=version
UPSTREAM=
APT_OPTS=()
SERIES=${ODP_KSERIES:-6.12}
while [ $# -gt 0 ]; do
	case "$1" in
	--kdir) PRINT=kdir ;;
	--upstream) UPSTREAM=1 ;;
	--series) SERIES=${2:?--series needs 6.12 or 6.1}; shift ;;
	--series=*) SERIES=${1#--series=} ;;
	*) echo "usage: $0 [--series 6.12|6.1] [--kdir] | --upstream" >&2; exit 2 ;;
	esac
	shift
done
case "$SERIES" in
6.12) CURRENT=$KROOT/current ;;
6.1) CURRENT=$KROOT/current-6.1 ;;
*) echo "fetch-kernel: unknown series '$SERIES' (6.12 or 6.1)" >&2; exit 2 ;;
esac

log() { echo "fetch-kernel: $*" >&2; }

# Print the newest <ver> (e.g. 6.12.117+deb12-amd64) whose image, headers,
# headers-common and kbuild packages are all known to apt (one apt-cache call:
# each one costs most of a second).
resolve() {
	local names v kpkg re
	if [ -n "$UPSTREAM" ]; then
		names=$(apt-cache "${APT_OPTS[@]}" pkgnames linux-image-6.18 2>/dev/null)
		sed -nE 's/^linux-image-(6\.18\.[0-9]+\+deb13-amd64)(-unsigned)?$/\1/p' <<<"$names" |
			sort -u -V -r | head -n1 | grep .
		return
	fi
	names=$(apt-cache pkgnames linux- 2>/dev/null | sort -u)
	if [ "$SERIES" = 6.1 ]; then
		re='6\.1\.0-[0-9]+-amd64'
	else
		re='6\.12\.[0-9]+\+deb12-amd64'
	fi
	for v in $(sed -nE "s/^linux-image-($re)(-unsigned)?\$/\\1/p" <<<"$names" |
		   sort -u -V -r); do
		kpkg=${v%-amd64}
		if grep -qxF "linux-headers-$v" <<<"$names" &&
		   grep -qxF "linux-headers-$kpkg-common" <<<"$names" &&
		   { [ "$SERIES" = 6.1 ] || grep -qxF "linux-kbuild-$kpkg" <<<"$names"; }; then
			echo "$v"
			return 0
		fi
	done
	return 1
}

have_pkg() { apt-cache "${APT_OPTS[@]}" show --no-all-versions "$1" >/dev/null 2>&1; }

# kbuild_pkg <ver> <image package>: the linux-kbuild package (with =<version>
# for 6.1, whose kbuild package is shared by all ABIs).
kbuild_pkg() {
	local iv
	case "$1" in
	6.1.*)
		iv=$(apt-cache show --no-all-versions "$2" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
		[ -n "$iv" ] || return 1
		echo "linux-kbuild-6.1=$iv" ;;
	*)	echo "linux-kbuild-${1%-amd64}" ;;
	esac
}

apt_update() {
	if [ -n "$UPSTREAM" ]; then
		log "apt-get update of the private trixie-backports lists"
		apt-get -qq "${APT_OPTS[@]}" -o APT::Sandbox::User="$(id -un)" update >&2
	elif [ "$(id -u)" = 0 ]; then
		log "running apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	fi
}

# fetch <ver>: download + unpack into $KROOT/<ver>.  Returns non-zero on any
# failure (written with explicit checks: it runs inside `if`, where set -e
# does not apply).
fetch() {
	local v=$1 kpkg=${1%-amd64} dir=$KROOT/$1 tmp img deb kbuild
	tmp=$(mktemp -d "$KROOT/.fetch-$v.XXXXXX") || return 1
	img=linux-image-$v-unsigned
	have_pkg "$img" || img=linux-image-$v
	[ -z "$UPSTREAM" ] || img=linux-image-$v	# trixie's -unsigned is only a virtual name
	kbuild=$(kbuild_pkg "$v" "$img") || { rm -rf "$tmp"; return 1; }
	local pkgs=("$img" "linux-headers-$v" "linux-headers-$kpkg-common" "$kbuild")
	[ -z "$UPSTREAM" ] || pkgs=("$img")	# booted only, nothing is built against it
	log "downloading ${pkgs[*]}"
	# _apt cannot write into a root-owned mktemp dir: let apt fetch as the caller.
	if ! (cd "$tmp" && apt-get -q "${APT_OPTS[@]}" -o APT::Sandbox::User="$(id -un)" download \
		"${pkgs[@]}" >&2); then
		rm -rf "$tmp"
		return 1
	fi
	mkdir "$tmp/root"
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$tmp/root" || { rm -rf "$tmp"; return 1; }
	done
	# The image's exact Debian version ("<package> <version> <source>"): the
	# rxe source package must be that version (scripts/fetch-rxe-source.sh).
	deb=$(ls "$tmp/$img"_*.deb) &&
		printf '%s %s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" \
			"$(dpkg-deb -f "$deb" Source)" >"$tmp/root/.image-package" || { rm -rf "$tmp"; return 1; }
	# The arch headers include the -common Makefile by absolute path.
	[ -n "$UPSTREAM" ] || sed -i "s|^include /usr/src/|include $dir/usr/src/|" \
		"$tmp/root/usr/src/linux-headers-$v/Makefile" || { rm -rf "$tmp"; return 1; }
	# Modules may be shipped under lib/ or usr/lib/: make lib/modules the real one.
	if [ ! -d "$tmp/root/lib/modules/$v/kernel" ] && [ -d "$tmp/root/usr/lib/modules/$v/kernel" ]; then
		mkdir -p "$tmp/root/lib/modules/$v" &&
			cp -a "$tmp/root/usr/lib/modules/$v/." "$tmp/root/lib/modules/$v/" &&
			rm -rf "$tmp/root/usr/lib/modules" || { rm -rf "$tmp"; return 1; }
	fi
	if ! depmod -b "$tmp/root" "$v" || [ ! -f "$tmp/root/boot/vmlinuz-$v" ] ||
	   [ ! -f "$tmp/root/lib/modules/$v/modules.dep" ]; then
		log "unpacked $v is incomplete"
		rm -rf "$tmp"
		return 1
	fi
	rm -rf "$dir" && mv "$tmp/root" "$dir" && rm -rf "$tmp" || return 1
	touch "$dir/.complete"
	du -sh "$dir" | sed 's/^/fetch-kernel: cached /' >&2
}

mkdir -p "$KROOT"
exec 9>"$KROOT/.lock"
flock 9		# one fetch at a time (parallel runs share the cache)

if [ -n "$UPSTREAM" ]; then
	apt_dir=$CACHE/apt-trixie-backports
	mkdir -p "$apt_dir/state/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/preferences.d"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main" \
		>"$apt_dir/sources.list"
	APT_OPTS=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
		  -o "Dir::Etc::preferencesparts=$apt_dir/preferences.d" -o "Dir::State=$apt_dir/state"
		  -o "Dir::Cache=$apt_dir/cache")
	ver=${ODP_KVER:-}
	[ -n "$ver" ] || ver=$(resolve) || { apt_update; ver=$(resolve) || ver=; }
	if [ -z "$ver" ]; then
		ver=$(cd "$KROOT" && ls -d 6.18.*+deb13-amd64 2>/dev/null | sort -V | tail -n1)
		[ -n "$ver" ] && [ -f "$KROOT/$ver/.complete" ] ||
			{ log "no linux-image-6.18.*+deb13-amd64 in trixie-backports and none cached"; exit 1; }
		log "cannot resolve with apt; using cached $ver"
	fi
	if [ ! -f "$KROOT/$ver/.complete" ] && ! fetch "$ver"; then
		apt_update
		fetch "$ver" || { log "cannot fetch kernel $ver"; exit 1; }
	fi
	log "upstream kernel $ver in $KROOT/$ver"
	echo "$ver"
	exit 0
fi
ver=${ODP_KVER:-}
if [ -z "$ver" ]; then
	ver=$(resolve) || { apt_update; ver=$(resolve) || ver=; }
fi
if [ -z "$ver" ]; then
	# Offline and nothing resolvable: fall back on what is cached.
	ver=$(cat "$CURRENT" 2>/dev/null || true)
	[ -n "$ver" ] && [ -f "$KROOT/$ver/.complete" ] ||
		{ log "no linux-image-$SERIES.* (amd64) in apt's lists and none cached"; exit 1; }
	log "cannot resolve with apt; using cached $ver"
fi

if [ ! -f "$KROOT/$ver/.complete" ]; then
	# A stale package list names versions that are gone: update once and retry.
	if ! fetch "$ver"; then
		apt_update
		[ -n "${ODP_KVER:-}" ] || ver=$(resolve) || { log "no kernel to fetch"; exit 1; }
		fetch "$ver" || { log "cannot fetch kernel $ver"; exit 1; }
	fi
fi
if [ "$(cat "$CURRENT" 2>/dev/null || true)" != "$ver" ]; then
	echo "$ver" >"$CURRENT.tmp" && mv "$CURRENT.tmp" "$CURRENT"
fi
log "kernel $ver in $KROOT/$ver"
if [ $PRINT = kdir ]; then
	echo "$KROOT/$ver/usr/src/linux-headers-$ver"
else
	echo "$ver"
fi
