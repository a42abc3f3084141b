#!/bin/bash
# Build the debug kernel of the test VM (KASAN, lockdep, DEBUG_LIST,
# DEBUG_OBJECTS, kmemleak, failslab) from Debian's linux-source-6.12 at exactly
# the version of the Debian kernel the VM runs; print its release (uname -r).
#
#   tests/vm/debug-kernel.sh           build if needed, print e.g. 6.12.117-odp-debug
#   tests/vm/debug-kernel.sh --kdir    ... and print the build dir (for M= builds)
#   ODP_DEBUG_CONFIG_ONLY=1 tests/vm/debug-kernel.sh   write and check the config only
#   ODP_DEBUG_JOBS=N                    make -jN (default: nproc)
#
# Everything lives in ${ODP_CACHE:-$HOME/.cache/odp}, nothing in git, nothing
# is installed on the host:
#   debug-kernel/<debver>/linux-source-6.12/   the source tree (extracted once)
#   debug-kernel/<debver>/build/               the O= build dir (.config, vmlinux)
#   kernel/<release>/                          what the VM runner boots, laid out
#       like the Debian kernels next to it: boot/vmlinuz-<release>,
#       boot/config-<release>, lib/modules/<release>/ (modules_install + depmod,
#       build -> the build dir), .complete
#   kernel/debug                               names <release> (as kernel/current
#                                              names the Debian one)
#
# The config is x86_64 defconfig + kvm_guest.config, then the fragment
# tests/vm/debug-kernel.config (what the VM never uses off, the debug options
# and what the suite needs on), then olddefconfig; every line of the fragment
# is checked against the result.  A build is skipped when the source version,
# the fragment and this script are those of the last complete build.
set -euo pipefail

CACHE=${ODP_CACHE:-$HOME/.cache/odp}
here=$(cd "$(dirname "$0")" && pwd)
FRAGMENT=$here/debug-kernel.config
LOCALVERSION=-odp-debug
JOBS=${ODP_DEBUG_JOBS:-$(nproc)}
PRINT=version
[ "${1:-}" = "--kdir" ] && PRINT=kdir

log() { echo "debug-kernel: $*" >&2; }
die() { log "$*"; exit 1; }

# --- which source: the Debian package version of the kernel the VM runs ------
vmver=$(bash "$here/fetch-kernel.sh")		# e.g. 6.12.117+deb12-amd64
pkgh=$CACHE/kernel/$vmver/usr/src/linux-headers-$vmver/include/generated/package.h
debver=$(sed -nE 's/^#define LINUX_PACKAGE_ID " Debian (.*)"$/\1/p' "$pkgh" 2>/dev/null || true)
[ -n "$debver" ] || die "cannot read the Debian version of $vmver from $pkgh"
upstream=${vmver%%+*}				# 6.12.117
series=$(cut -d. -f1,2 <<<"$upstream")		# 6.12
srcpkg=linux-source-$series
release=$upstream$LOCALVERSION
top=$CACHE/debug-kernel/$debver
src=$top/$srcpkg
build=$top/build
kroot=$CACHE/kernel/$release

key=$(cat "$0" "$FRAGMENT" <(echo "$debver $release") | sha256sum | cut -c1-16)
done_() {
	if [ $PRINT = kdir ]; then echo "$build"; else echo "$release"; fi
	exit 0
}

mkdir -p "$CACHE/debug-kernel" "$CACHE/kernel"
exec 8>"$CACHE/debug-kernel/.lock"
flock 8		# one build at a time
if [ -f "$kroot/.complete" ] && [ "$(cat "$kroot/.debug-key" 2>/dev/null)" = "$key" ] &&
   [ -f "$build/Module.symvers" ]; then
	[ "$(cat "$CACHE/kernel/debug" 2>/dev/null)" = "$release" ] ||
		echo "$release" >"$CACHE/kernel/debug"
	log "$release is up to date (Debian $srcpkg $debver, $kroot)"
	done_
fi

# --- the source tree, once per Debian version ----------------------------------
if [ ! -f "$top/.extracted" ]; then
	tmp=$(mktemp -d "$CACHE/debug-kernel/.fetch.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	log "downloading $srcpkg=$debver (the source of the VM's kernel $vmver)"
	dl() { (cd "$tmp" && apt-get -q -o APT::Sandbox::User="$(id -un)" download "$srcpkg=$debver" >&2); }
	if ! dl; then
		if [ "$(id -u)" = 0 ]; then
			log "running apt-get update"
			DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
		fi
		dl || die "$srcpkg=$debver is not in the archive (any more?): the VM runs $vmver," \
			"whose source must be exactly that version. If a newer kernel replaced it," \
			"move the VM to it (tests/vm/fetch-kernel.sh, after apt-get update) and retry."
	fi
	deb=$(echo "$tmp"/*.deb)
	[ -f "$deb" ] || die "apt-get download left no .deb in $tmp"
	got=$(dpkg-deb -f "$deb" Version)
	[ "$got" = "$debver" ] || die "downloaded $srcpkg $got, wanted $debver"
	log "extracting the $srcpkg tree (about 1.7 GB)"
	rm -rf "$top" && mkdir -p "$top"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$srcpkg.tar.xz" | tar -xJ -C "$top"
	[ -f "$src/Makefile" ] || die "no $src/Makefile after extraction"
	mkv=$(make -s -C "$src" kernelversion)
	[ "$mkv" = "$upstream" ] || die "$srcpkg $debver is Linux $mkv, the VM kernel is $upstream"
	rm -rf "$tmp"
	trap - EXIT
	touch "$top/.extracted"
fi

# --- config ---------------------------------------------------------------------
kmake() { make -C "$src" O="$build" LOCALVERSION= "$@"; }
mkdir -p "$build"
log "writing the config ($build/.config)"
kmake -s x86_64_defconfig >&2
kmake -s kvm_guest.config >&2
args=()
while read -r line; do
	case "$line" in
	"# CONFIG_"*" is not set") n=${line#\# CONFIG_}; args+=(--disable "${n%% *}") ;;
	CONFIG_*=y) n=${line%%=*}; args+=(--enable "${n#CONFIG_}") ;;
	CONFIG_*=m) n=${line%%=*}; args+=(--module "${n#CONFIG_}") ;;
	CONFIG_*=\"*\") n=${line%%=*}; v=${line#*=}; v=${v#\"}; args+=(--set-str "${n#CONFIG_}" "${v%\"}") ;;
	CONFIG_*=*) n=${line%%=*}; args+=(--set-val "${n#CONFIG_}" "${line#*=}") ;;
	""|"#"*) ;;
	*) die "$FRAGMENT: cannot parse: $line" ;;
	esac
done <"$FRAGMENT"
"$src/scripts/config" --file "$build/.config" --set-str LOCALVERSION "$LOCALVERSION" \
	--disable LOCALVERSION_AUTO "${args[@]}"
# Twice: options that appear only once others are on (a menu enabled by the
# fragment) are set on the second pass.
kmake -s olddefconfig >&2
"$src/scripts/config" --file "$build/.config" "${args[@]}"
kmake -s olddefconfig >&2
bad=0
while read -r line; do
	case "$line" in
	"# CONFIG_"*" is not set")
		n=${line#\# }; n=${n%% *}
		if grep -q "^$n=" "$build/.config"; then log "config: wanted $n off, got $(grep "^$n=" "$build/.config")"; bad=1; fi ;;
	CONFIG_*=*)
		n=${line%%=*}
		if ! grep -qxF "$line" "$build/.config"; then
			log "config: wanted $line, got $(grep -E "^$n=|^# $n is not set" "$build/.config" || echo "no $n at all")"
			bad=1
		fi ;;
	esac
done <"$FRAGMENT"
[ $bad = 0 ] || die "the config differs from $FRAGMENT (dependencies?); fix the fragment"
log "config: $(grep -c '=[ym]$' "$build/.config") options on ($(grep -c '=y$' "$build/.config") y, $(grep -c '=m$' "$build/.config") m)"
if [ -n "${ODP_DEBUG_CONFIG_ONLY:-}" ]; then
	log "ODP_DEBUG_CONFIG_ONLY: stopping after the config"
	exit 0
fi

# --- build + install -------------------------------------------------------------
log "building bzImage + modules with -j$JOBS (log: $top/build.log)"
t0=$(date +%s)
if ! kmake -j"$JOBS" bzImage modules >"$top/build.log" 2>&1; then
	tail -n 40 "$top/build.log" >&2
	die "kernel build failed (see $top/build.log)"
fi
t1=$(date +%s)
got=$(cat "$build/include/config/kernel.release")
[ "$got" = "$release" ] || die "the kernel calls itself $got, expected $release"
times >"$top/.times"		# not in a subshell: its children would be none
cpu=$(tail -n 1 "$top/.times")	# user and system time of the children (the compilers)
log "built in $(( (t1 - t0) / 60 )) min $(( (t1 - t0) % 60 )) s wall (compilers' user, system time: $cpu)"

stage=$(mktemp -d "$CACHE/kernel/.debug-$release.XXXXXX")
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/boot"
kmake -s INSTALL_MOD_PATH="$stage" modules_install >&2
depmod -b "$stage" "$release"
[ -f "$stage/lib/modules/$release/modules.dep" ] || die "modules_install + depmod left no modules.dep"
ln -sfn "$build" "$stage/lib/modules/$release/build"
cp "$build/arch/x86/boot/bzImage" "$stage/boot/vmlinuz-$release"
cp "$build/.config" "$stage/boot/config-$release"
cp "$build/System.map" "$stage/boot/System.map-$release"
echo "$key" >"$stage/.debug-key"
echo "wall $(( t1 - t0 )) s; user, system: $cpu; -j$JOBS" >"$stage/.build-time"
touch "$stage/.complete"
rm -rf "$kroot" && mv "$stage" "$kroot"
trap - EXIT
echo "$release" >"$CACHE/kernel/debug.tmp" && mv "$CACHE/kernel/debug.tmp" "$CACHE/kernel/debug"
log "installed $release in $kroot ($(du -sh "$kroot/lib/modules/$release" | cut -f1) of modules)"
# Debug kernels of other Debian versions (the VM has moved on): 2.5 GB each.
for d in "$CACHE"/debug-kernel/*/ "$CACHE"/kernel/*/; do
	d=${d%/}
	case "$d" in "$top"|"$kroot") continue ;; esac
	if [ -f "$d/.extracted" ] || [ -f "$d/.debug-key" ]; then
		log "removing $d (an older debug kernel)"
		rm -rf "$d"
	fi
done
done_
