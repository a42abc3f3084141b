#!/bin/bash
# Fetch Debian's pristine rxe (Soft-RoCE) source for the kernel the VM boots.
#
#   scripts/fetch-rxe-source.sh [--kver <kver>]   print the source tree's root
#
# On a host (DKMS, `make install KVER=... KDIR=...`) the kernel is not in the
# cache: then its headers (${ODP_KDIR:-/lib/modules/<kver>/build}) name the
# Debian version, cross-checked against /boot/vmlinuz-<kver> and the installed
# linux-image-<kver> package where those exist.
#
# The kernel (<kver>, default <cache>/kernel/current, fetched by
# tests/vm/fetch-kernel.sh) names the exact Debian package version: the
# version of its linux-image package (e.g. 6.12.117+deb12-amd64 ->
# 6.12.117-1~deb12u1), cross-checked against the version compiled into its
# vmlinuz and into its headers.  `apt-get download linux-source-6.12=<version>`
# fetches that source (about 150 MB; nothing is installed), and only
# drivers/infiniband/sw/rxe/ and the top Makefile are extracted into
#
#   ${ODP_CACHE:-~/.cache/odp}/rxe-source/<version>/{drivers/infiniband/sw/rxe,Makefile,.complete}
#
# (a kernel-shaped tree: patches with kernel paths apply there with patch -p1).
# The .deb is deleted afterwards.  Cached: no apt call, no download.  The
# debug kernel (make debug-kernel) takes the rxe source from the Debian tree
# it was built from, see below.  Any
# disagreement between the versions is an error: a module built from another
# kernel's rxe source must never be loaded.
set -euo pipefail

CACHE=${ODP_CACHE:-$HOME/.cache/odp}
KROOT=$CACHE/kernel
SROOT=$CACHE/rxe-source
RXE=drivers/infiniband/sw/rxe

log() { echo "fetch-rxe-source: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

check_tree() {	# <root>: the extracted kernel Makefile must say $upstream
	local v p s
	v=$(sed -n 's/^VERSION = //p' "$1/Makefile")
	p=$(sed -n 's/^PATCHLEVEL = //p' "$1/Makefile")
	s=$(sed -n 's/^SUBLEVEL = //p' "$1/Makefile")
	[ "$v.$p.$s" = "$upstream" ] ||
		die "$pkg $ver holds Linux $v.$p.$s, the kernel is $upstream ($kver)"
	[ -f "$1/$RXE/Makefile" ] && [ -f "$1/$RXE/rxe.c" ] || die "no $RXE in $pkg $ver"
}

stamp() { printf '%s %s %s\n' "$pkg" "$ver" "$kver"; }

kver=${ODP_KVER:-}
case "${1:-}" in
--kver) kver=${2:?--kver needs a value} ;;
"") ;;
*) die "usage: $0 [--kver <kernel version>]" ;;
esac
[ -n "$kver" ] || kver=$(cat "$KROOT/current" 2>/dev/null) ||
	die "no kernel in $KROOT: run tests/vm/fetch-kernel.sh (make kernel) first"
kdir=$KROOT/$kver
hdrver() {	# <headers dir>: the headers' LINUX_PACKAGE_ID " Debian <version>"
	sed -n 's/^#define LINUX_PACKAGE_ID " Debian \(.*\)"$/\1/p' \
		"$1/include/generated/package.h" 2>/dev/null || true
}
bootver() {	# <vmlinuz>: the bzImage header carries "... Debian <version> (<date>)"
	grep -aom1 "$kver ([^)]*) #[^(]* Debian [^ ]* (" "$1" 2>/dev/null |
		sed -n 's/.* Debian \([^ ]*\) ($/\1/p' || true
}

# --- the debug kernel (tests/vm/debug-kernel.sh, make debug-kernel) ----------
# It is built from the whole linux-source-<x.y> tree of one Debian version,
# <cache>/debug-kernel/<version>/linux-source-<x.y>, into .../<version>/build,
# which its lib/modules/<kver>/build points to.  Its rxe source is that
# tree's own: copied (with the top Makefile) into <cache>/rxe-source/<kver>/,
# stamped with the tree's package and version, after checking that the
# build dir is that tree's (its `source` link), that it calls itself <kver>,
# and that the tree is the Linux release <kver> names.
if [ -f "$kdir/.debug-key" ]; then
	build=$(readlink -f "$kdir/lib/modules/$kver/build") ||
		die "debug kernel $kver: no lib/modules/$kver/build link in $kdir"
	top=${build%/build}
	ver=${top##*/}				# 6.12.117-1~deb12u1
	upstream=${ver%%-*}			# 6.12.117
	series=$(cut -d. -f1,2 <<<"$upstream")	# 6.12
	pkg=linux-source-$series
	tree=$top/$pkg
	[ "${build##*/}" = build ] && [ -f "$top/.extracted" ] && [ -d "$tree" ] ||
		die "debug kernel $kver: $build is not the build dir of an extracted $pkg"
	[ "$(readlink -f "$build/source")" = "$(readlink -f "$tree")" ] ||
		die "debug kernel $kver: $build was built from $(readlink -f "$build/source"), not $tree"
	rel=$(cat "$build/include/config/kernel.release" 2>/dev/null) || rel=
	[ "$rel" = "$kver" ] || die "debug kernel $kver: its build dir says release '${rel:-?}'"
	case "$kver" in "$upstream"-*) ;; *) die "debug kernel $kver is not Linux $upstream ($pkg $ver)" ;; esac
	check_tree "$tree"
	mkdir -p "$SROOT"
	exec 9>"$SROOT/.lock"
	flock 9
	dir=$SROOT/$kver
	if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$(stamp)" ] &&
	   diff -rq "$tree/$RXE" "$dir/$RXE" >/dev/null; then
		echo "$dir"
		exit 0
	fi
	tmp=$(mktemp -d "$SROOT/.copy-$kver.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/$RXE"
	cp "$tree/Makefile" "$tmp/"
	cp -a "$tree/$RXE/." "$tmp/$RXE/"
	check_tree "$tmp"
	stamp >"$tmp/.complete"
	rm -rf "$dir" && mv "$tmp" "$dir"
	log "$pkg $ver (the debug kernel $kver's own tree): $(ls "$dir/$RXE" | wc -l) files in $dir/$RXE"
	echo "$dir"
	exit 0
fi

# --- the Debian version of the kernel we build against and boot -------------
# 1. The image package's own Version (recorded by fetch-kernel.sh from the
#    .deb's control file), or for caches made before it did so, the first
#    line of the package's changelog ("linux-6.12 (6.12.117-1~deb12u1) ...").
#    Not the signed package's Source version (6.12.117+1~deb12u1): the binary
#    Version is the linux source version.
if [ -f "$kdir/.complete" ]; then
imgver=
if [ -f "$kdir/.image-package" ]; then
	read -r _ imgver _ <"$kdir/.image-package"
else
	for cl in "$kdir"/usr/share/doc/linux-image-"$kver"*/changelog.Debian.gz; do
		[ -f "$cl" ] || continue
		imgver=$(zcat "$cl" | sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p')
		break
	done
fi
[ -n "$imgver" ] || die "cannot tell the Debian version of kernel $kver (no $kdir/.image-package, no changelog)"
# 2. What the VM boots: the bzImage header carries "... Debian <version> (<date>)".
bootver=$(bootver "$kdir/boot/vmlinuz-$kver")
# 3. What modules are built against: the headers' LINUX_PACKAGE_ID " Debian <version>".
hdrver=$(hdrver "$kdir/usr/src/linux-headers-$kver")
[ "$bootver" = "$imgver" ] ||
	die "linux-image-$kver is version $imgver, but its vmlinuz says '${bootver:-?}'"
[ "$hdrver" = "$imgver" ] ||
	die "linux-image-$kver is version $imgver, but its headers say '${hdrver:-?}'"
else
	# --- a host's installed kernel (DKMS): its headers name the version -------
	hdir=${ODP_KDIR:-/lib/modules/$kver/build}
	[ -f "$hdir/include/generated/package.h" ] ||
		die "kernel $kver is neither in $KROOT (make kernel) nor has headers in $hdir"
	imgver=$(hdrver "$hdir")
	[ -n "$imgver" ] || die "$hdir/include/generated/package.h names no Debian version"
	if [ -r "/boot/vmlinuz-$kver" ]; then
		bootver=$(bootver "/boot/vmlinuz-$kver")
		[ "$bootver" = "$imgver" ] ||
			die "the headers of $kver say $imgver, /boot/vmlinuz-$kver says '${bootver:-?}'"
	fi
	pkgver=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "linux-image-$kver" 2>/dev/null) || true
	case "$pkgver" in
	"installed $imgver" | "" | not-installed*) ;;
	*) die "the headers of $kver say $imgver, the package linux-image-$kver is '$pkgver'" ;;
	esac
fi
ver=$imgver
upstream=${ver%%-*}			# 6.12.117
series=$(cut -d. -f1,2 <<<"$upstream")	# 6.12
# 6.12 kernels are named after the upstream version (6.12.117+deb12-amd64),
# 6.1 ones after their ABI (6.1.0-57-amd64 is 6.1.192-3).
case "$kver" in "$upstream"+*|"$series".0-[0-9]*-amd64) ;; *) die "kernel $kver does not match Debian version $ver" ;; esac
pkg=linux-source-$series
dir=$SROOT/$ver

mkdir -p "$SROOT"
exec 9>"$SROOT/.lock"
flock 9		# one fetch at a time (parallel builds share the cache)
if [ -f "$dir/.complete" ]; then
	read -r p v _ <"$dir/.complete"
	[ "$p $v" = "$pkg $ver" ] || die "$dir/.complete says '$p $v', expected '$pkg $ver'"
	check_tree "$dir"
	echo "$dir"
	exit 0
fi

# --- download + extract -------------------------------------------------------
have_ver() { apt-cache show "$pkg=$ver" >/dev/null 2>&1; }
if ! have_ver && [ "$(id -u)" = 0 ]; then
	log "running apt-get update"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
fi
have_ver || die "$pkg=$ver is not in apt's lists (gone from the archive?): the rxe source must be that of kernel $kver"
tmp=$(mktemp -d "$SROOT/.fetch-$ver.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "downloading $pkg=$ver (about 150 MB)"
# _apt cannot write into a root-owned mktemp dir: let apt fetch as the caller.
(cd "$tmp" && apt-get -q -o APT::Sandbox::User="$(id -un)" download "$pkg=$ver" >&2) ||
	die "apt-get download $pkg=$ver failed"
deb=$(ls "$tmp"/"$pkg"_*.deb)
dp=$(dpkg-deb -f "$deb" Package) && dv=$(dpkg-deb -f "$deb" Version) || die "cannot read $deb"
[ "$dp $dv" = "$pkg $ver" ] || die "downloaded $deb is '$dp $dv', expected '$pkg $ver'"
tarball=usr/src/$pkg.tar.xz
log "extracting $RXE from $tarball"
mkdir "$tmp/src"
# Stream: the 150 MB tarball is never written out; xz decodes the whole of it.
dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "./$tarball" | xz -dc |
	tar -x -C "$tmp/src" --strip-components=1 "$pkg/Makefile" "$pkg/$RXE" ||
	die "extracting $RXE from $deb failed"
rm -f "$deb"
check_tree "$tmp/src"
stamp >"$tmp/src/.complete"
rm -rf "$dir" && mv "$tmp/src" "$dir"
log "$pkg $ver: $(ls "$dir/$RXE" | wc -l) files in $dir/$RXE"
echo "$dir"
