#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Host-side check of the ODP core's device page table (all of
# driver/core/pt.c) on the kernel's own xarray code, built in user space with
# the kernel's tools/testing/radix-tree harness: random faults of 4 KiB
# pages, holes, errors and PMD-mapped runs (whole, or cut by the walk),
# random zaps and write-protects of random ranges, and lookups, every result
# compared with a model (each page's entry and permission, the counts
# returned, the gauge of present pages), under ASan/UBSan, with 64-slot
# xarray nodes (as the kernel) and 8-slot ones (deeper trees).  Not part of
# `make check` (it needs a kernel source tree and liburcu-dev); exit 77 when
# either is missing.
#
#   tests/pt/run.sh [KSRC]   KSRC: a Linux 6.12 source tree (default: the
#                            debug kernel's, $ODP_CACHE/debug-kernel/*/linux-source-6.12)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${ODP_CACHE:-$HOME/.cache/odp}
KSRC=${1:-$(ls -d "$CACHE"/debug-kernel/*/linux-source-6.12 2>/dev/null | head -1)}
if [ -z "$KSRC" ] || [ ! -f "$KSRC/lib/xarray.c" ]; then
	echo "pt: no kernel source tree (give KSRC, or run make debug-kernel): skip"; exit 77
fi
if ! echo "#include <urcu.h>" | cc -E -x c - >/dev/null 2>&1; then
	echo "pt: liburcu-dev missing: skip"; exit 77
fi
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkdir -p "$W/tools/testing" "$W/include"
cp -r "$KSRC/tools/testing/radix-tree" "$KSRC/tools/testing/shared" "$W/tools/testing/"
cp -r "$KSRC/tools/include" "$KSRC/tools/lib" "$W/tools/"
cp -r "$KSRC/lib" "$W/"
cp -r "$KSRC/include/linux" "$KSRC/include/asm-generic" "$KSRC/include/uapi" "$W/include/"
# All of pt.c after its #include lines (pt_check.c stands in for those).
sed '1,/^#include "umem.h"$/d' "$REPO/driver/core/pt.c" > "$W/tools/testing/radix-tree/pt.inc"
cp "$HERE/pt_check.c" "$W/tools/testing/radix-tree/"
cd "$W/tools/testing/radix-tree"
OBJS="xarray-shared.o radix-tree.o idr.o linux.o slab.o find_bit.o bitmap.o hweight.o vsprintf.o test.o"
CF="-I../shared -I. -I../../include -I../../../lib -g -O1 -Wall -D_LGPL_SOURCE -fsanitize=address -fsanitize=undefined"
for shift in 6 3; do
	make -s clean >/dev/null 2>&1 || true
	make -s SHIFT=$shift $OBJS >/dev/null
	cc $CF -c pt_check.c -o pt_check.o
	cc -fsanitize=address -fsanitize=undefined -o pt_check pt_check.o $OBJS -lpthread -lurcu
	for seed in 1 2 3; do
		echo -n "pt: XA_CHUNK_SHIFT=$shift: "
		./pt_check $seed
	done
done
echo "pt: OK"
