#!/bin/bash
# Build (or reuse) the busybox initramfs for kernel <ver>; print its path.
# Usage: tests/vm/mkinitramfs.sh <ver>
# Cached as <cache>/kernel/<ver>/initramfs-<hash>.cpio, keyed on the kernel
# version and on this script + the init it packs.
set -euo pipefail

ver=$1
CACHE=${ODP_CACHE:-$HOME/.cache/odp}
kroot=$CACHE/kernel/$ver
here=$(cd "$(dirname "$0")" && pwd)
# + their dependencies (netfs, 9pnet).  virtio_pci is built in on 6.12 (modprobe
# says "builtin", skipped), a module on 6.1: first, so that the 9p devices exist.
MODULES="virtio_pci 9p 9pnet_virtio overlay"

[ -f "$kroot/.complete" ] || { echo "mkinitramfs: kernel $ver not cached" >&2; exit 1; }
key=$(cat "$here/mkinitramfs.sh" "$here/initramfs-init" /bin/busybox | sha256sum | cut -c1-12)
out=$kroot/initramfs-$key.cpio
if [ -f "$out" ]; then
	echo "$out"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/modules" "$tmp/dev"
# The kernel opens /dev/console for init before anything is mounted.
mknod -m 600 "$tmp/dev/console" c 5 1 2>/dev/null || true
cp /bin/busybox "$tmp/bin/busybox"
install -m 0755 "$here/initramfs-init" "$tmp/init"
# modprobe --show-depends prints "insmod <path>" in load order (dependencies
# first), or "builtin <name>" for what the kernel has built in: Debian's
# kernel has 9p and overlay as modules, the debug kernel (debug-kernel.sh)
# has them built in; the init loads whatever modules.load lists.
: >"$tmp/modules.load"
for m in $MODULES; do
	deps=$(modprobe -d "$kroot" -S "$ver" --show-depends "$m") ||
		{ echo "mkinitramfs: $m: neither a module nor built into $ver" >&2; exit 1; }
	grep -qE "^(insmod|builtin) " <<<"$deps" ||
		{ echo "mkinitramfs: $m: unexpected modprobe output: $deps" >&2; exit 1; }
	awk '$1 == "insmod" { print $2 }' <<<"$deps"
done | awk '!seen[$0]++' |
	while read -r ko; do
		name=$(basename "$ko")
		case "$name" in
		*.ko.xz) xz -dc "$ko" >"$tmp/modules/${name%.xz}"; name=${name%.xz} ;;
		*.ko.zst) zstd -qdc "$ko" >"$tmp/modules/${name%.zst}"; name=${name%.zst} ;;
		*.ko.gz) gzip -dc "$ko" >"$tmp/modules/${name%.gz}"; name=${name%.gz} ;;
		*) cp "$ko" "$tmp/modules/$name" ;;
		esac
		echo "$name" >>"$tmp/modules.load"
	done
# Older initramfs of this kernel (built by another version of this script,
# e.g. in another worktree) go once they are an hour old: a runner may have
# been handed one a moment ago and not have started qemu yet.
find "$kroot" -maxdepth 1 -name 'initramfs-*.cpio' -mmin +60 -delete
(cd "$tmp" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"
echo "$out"
