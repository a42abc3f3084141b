#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Host-side check of the ODP core's zap (driver/core/pt.c: odp_pt_zap() and
# what it calls) on the kernel's own xarray code, built in user space with
# the kernel's tools/testing/radix-tree harness: random tables of 4 KiB,
# small multi-order, THP (order 9) and order-14 entries, random zaps and
# write-protects of random ranges, every result compared with a model
# (which entries are left, with which tag, and the count returned), under
# ASan/UBSan, with 64-slot nodes (as the kernel) and 8-slot ones (deeper
# trees).  Not part of `make check` (it needs a kernel source tree and
# liburcu-dev); exit 77 when either is missing.
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
# The zap and its helpers, as they are in pt.c (no kernel-only parts).
python3 - "$REPO/driver/core/pt.c" "$W/tools/testing/radix-tree/ptzap.inc" <<'PY'
import sys
s = open(sys.argv[1]).read()
a = s[s.index('/* Pages present in'):s.index('/*\n * Store @entry over')]
b = s[s.index('/*\n * The order of the block to drop at @index'):]
open(sys.argv[2], 'w').write(a + b)
PY
cp "$HERE/pt_zap_check.c" "$W/tools/testing/radix-tree/"
cd "$W/tools/testing/radix-tree"
OBJS="xarray-shared.o radix-tree.o idr.o linux.o slab.o find_bit.o bitmap.o hweight.o vsprintf.o test.o"
CF="-I../shared -I. -I../../include -I../../../lib -g -O1 -Wall -D_LGPL_SOURCE -fsanitize=address -fsanitize=undefined"
for shift in 6 3; do
	make -s clean >/dev/null 2>&1 || true
	make -s SHIFT=$shift $OBJS >/dev/null
	cc $CF -c pt_zap_check.c -o pt_zap_check.o
	cc -fsanitize=address -fsanitize=undefined -o pt_zap_check pt_zap_check.o $OBJS -lpthread -lurcu
	for seed in 1 2 3; do
		echo -n "pt: XA_CHUNK_SHIFT=$shift: "
		./pt_zap_check $seed
	done
done
echo "pt: OK"
