#!/bin/bash
# make lint: the driver must build warning-free with W=1, sparse must report
# nothing in our files, and checkpatch --strict must report nothing; our rxe
# (Debian's rxe + driver/rxe/patches + driver/rxe/*.c) must add no W=1 or
# sparse finding to those of the pristine rxe, and each patch must pass
# checkpatch --strict as a patch; and the userspace C (libodp, the examples,
# tools/) must pass cppcheck, the Python tools must compile.
#
#   scripts/lint.sh <kernel headers dir> [<kernel release of our rxe>]
#   scripts/lint.sh --user       only the userspace part (cppcheck, python)
#
# checkpatch.pl (+ spelling.txt, const_structs.checkpatch) is taken from the
# linux-source-6.12 package's tarball into ${ODP_CACHE:-~/.cache/odp}/checkpatch/.
set -uo pipefail

KDIR=$1
RXE_KVER=${2:-}		# empty: no rxe for this kernel (6.1)
REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${ODP_CACHE:-$HOME/.cache/odp}
LOGDIR=$REPO/build/lint
mkdir -p "$LOGDIR"
status=0
fail() { echo "lint: FAILED: $*"; status=1; }

# Userspace: cppcheck over libodp, the examples and the C tools (warnings,
# style, performance, portability; variableScope is off: declarations at the
# top of a block are this project's style), and every Python tool compiles.
# A finding that is wrong gets an inline "// cppcheck-suppress <id>".
lint_user() {
	local c_files py_files f
	shopt -s nullglob globstar
	c_files=("$REPO"/libodp/*.c "$REPO"/examples/*.c "$REPO"/tools/**/*.c)
	py_files=()
	for f in "$REPO"/tools/**/*; do
		[ -f "$f" ] && head -n1 "$f" | grep -q '^#!.*python3' && py_files+=("$f")
	done
	shopt -u globstar
	command -v cppcheck >/dev/null || { fail "no cppcheck: run scripts/install-deps.sh"; return; }
	echo "lint: cppcheck on ${#c_files[@]} files"
	if ! cppcheck -q --std=c11 --enable=warning,style,performance,portability \
		--suppress=variableScope --inline-suppr --error-exitcode=1 \
		-I "$REPO/include" -I "$REPO/libodp" "${c_files[@]}" >"$LOGDIR/cppcheck.log" 2>&1; then
		cat "$LOGDIR/cppcheck.log"
		fail "cppcheck (log: build/lint/cppcheck.log)"
	fi
	echo "lint: python3 -m py_compile on ${#py_files[@]} tools"
	for f in "${py_files[@]}"; do
		/usr/bin/python3 -c 'import sys; compile(open(sys.argv[1]).read(), sys.argv[1], "exec")' "$f" ||
			fail "python: $f"
	done
}

if [ "$KDIR" = --user ]; then
	lint_user
	[ $status = 0 ] && echo "lint: OK (cppcheck, python)"
	exit $status
fi

shopt -s nullglob
sources=()
for f in "$REPO"/driver/*.[ch] "$REPO"/driver/*/*.[ch] "$REPO"/include/uapi/*.h; do
	case "$f" in *.mod.c) ;; *) sources+=("$f") ;; esac	# not kbuild's generated file
done
[ -f "$REPO/driver/Kbuild" ] || { echo "lint: driver/Kbuild does not exist"; exit 1; }

# Build a fresh copy (build/lint/driver, with build/lint/include -> include):
# every file gets compiled and the developer's own build is left alone.
SRC=$LOGDIR/driver
rm -rf "$SRC" "$LOGDIR/include"
mkdir -p "$SRC"
(cd "$REPO/driver" && find . \( -name '*.[ch]' ! -name '*.mod.c' -o -name Kbuild \) \
	-exec cp --parents {} "$SRC"/ \;)
ln -s ../../include "$LOGDIR/include"

# 1. W=1, warnings are errors.
echo "lint: W=1 build"
if ! make -C "$KDIR" M="$SRC" W=1 KCFLAGS=-Werror modules >"$LOGDIR/w1.log" 2>&1; then
	cat "$LOGDIR/w1.log"
	fail "W=1 build (log: build/lint/w1.log)"
elif grep -i 'warning' "$LOGDIR/w1.log"; then
	fail "W=1 build printed warnings (log: build/lint/w1.log)"
fi

# 2. sparse on every file (C=2: check the files that need no rebuild too).
# Our files are the ones under $REPO (kernel headers are named relative to KDIR).
echo "lint: sparse (C=2)"
make -C "$KDIR" M="$SRC" C=2 modules >"$LOGDIR/sparse.log" 2>&1 ||
	{ cat "$LOGDIR/sparse.log"; fail "sparse build (log: build/lint/sparse.log)"; }
if grep -E "^$REPO/[^ :]+:[0-9]+(:[0-9]+)?: (warning|error)" "$LOGDIR/sparse.log"; then
	fail "sparse warnings in our files (log: build/lint/sparse.log)"
fi

# 3. checkpatch --strict.
CP=$CACHE/checkpatch
if [ ! -f "$CP/checkpatch.pl" ]; then
	tarball=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n1)
	[ -n "$tarball" ] || { fail "no /usr/src/linux-source-6.12.tar.*: run scripts/install-deps.sh --lint"; exit 1; }
	echo "lint: extracting checkpatch.pl from $tarball"
	mkdir -p "$CP.tmp"
	top=$(basename "${tarball%.tar.*}")
	tar -xf "$tarball" -C "$CP.tmp" --strip-components=2 \
		"$top/scripts/checkpatch.pl" "$top/scripts/spelling.txt" "$top/scripts/const_structs.checkpatch" &&
		rm -rf "$CP" && mv "$CP.tmp" "$CP" || { rm -rf "$CP.tmp"; fail "extracting checkpatch"; exit 1; }
fi
echo "lint: checkpatch --strict on ${#sources[@]} files"
(cd "$REPO" && perl "$CP/checkpatch.pl" --strict --no-tree --show-types --color=never -f \
	"${sources[@]#"$REPO"/}") >"$LOGDIR/checkpatch.log" 2>&1
if grep -qE '^(ERROR|WARNING|CHECK):' "$LOGDIR/checkpatch.log" ||
   grep -E '^total: ' "$LOGDIR/checkpatch.log" | grep -qvE '^total: 0 errors, 0 warnings, 0 checks'; then
	# One line per finding + where it is; the whole report is in the log.
	awk '/^(ERROR|WARNING|CHECK):/ { msg = $0; next }
	     msg != "" && /^#[0-9]+: FILE:/ { print $3 " " msg; msg = "" }' "$LOGDIR/checkpatch.log"
	grep -E '^total: ' "$LOGDIR/checkpatch.log" | grep -vE '^total: 0 errors, 0 warnings, 0 checks'
	fail "checkpatch (log: build/lint/checkpatch.log)"
fi

# 4. Our rxe.  Debian's rxe has W=1 and sparse findings of its own: what
# counts is what the patches and our files add.  Both trees are built with
# W=1 C=2; a finding is "<file>: <message>" (line numbers shift with the
# patches); those of the patched tree that the pristine one lacks fail.
findings() {
	sed -nE "s#^$1/([^ :]+):[0-9]+(:[0-9]+)?: (warning|error): (.*)\$#\1: \4#p" "$2" | sort -u
}

lint_rxe() {
	local src stock=$LOGDIR/rxe-stock patched=$LOGDIR/rxe p n=0
	local symvers=$SRC/Module.symvers
	[ -f "$SRC/core/Module.symvers" ] && symvers=$SRC/core/Module.symvers
	echo "lint: rxe ($RXE_KVER): W=1 + sparse against the pristine rxe, checkpatch on the patches"
	src=$(bash "$REPO/scripts/fetch-rxe-source.sh" --kver "$RXE_KVER") ||
		{ fail "rxe source for $RXE_KVER"; return; }
	rm -rf "$stock" "$patched" "$LOGDIR/rxe-src"
	mkdir -p "$stock"
	cp -a "$src/drivers/infiniband/sw/rxe/." "$stock/"
	if ! make -s -C "$REPO/driver/rxe" prepare KVER="$RXE_KVER" KDIR="$KDIR" \
		RXE_BUILD="$patched" RXE_STAGE="$LOGDIR/rxe-src" RXE_EXTRA_SYMBOLS="$symvers" \
		>"$LOGDIR/rxe-prepare.log" 2>&1; then
		cat "$LOGDIR/rxe-prepare.log"
		fail "rxe: staging the patched source"
		return
	fi
	make -C "$KDIR" M="$stock" CONFIG_RDMA_RXE=m W=1 C=2 modules \
		>"$LOGDIR/rxe-stock.log" 2>&1 || { fail "pristine rxe build (log: build/lint/rxe-stock.log)"; return; }
	make -C "$KDIR" M="$patched" CONFIG_RDMA_RXE=m W=1 C=2 KBUILD_EXTRA_SYMBOLS="$symvers" modules \
		>"$LOGDIR/rxe.log" 2>&1 || { cat "$LOGDIR/rxe.log"; fail "our rxe build (log: build/lint/rxe.log)"; return; }
	comm -13 <(findings "$stock" "$LOGDIR/rxe-stock.log") <(findings "$patched" "$LOGDIR/rxe.log") \
		>"$LOGDIR/rxe-new-findings.txt"
	if [ -s "$LOGDIR/rxe-new-findings.txt" ]; then
		cat "$LOGDIR/rxe-new-findings.txt"
		fail "W=1/sparse findings that our rxe adds (logs: build/lint/rxe.log, rxe-stock.log)"
	fi
	# The series carries no Signed-off-by: it is applied at build time,
	# never sent as a DCO'd submission.
	: >"$LOGDIR/checkpatch-rxe.log"
	for p in "$REPO"/driver/rxe/patches/*.patch; do
		n=$((n + 1))
		{ echo "== ${p#"$REPO"/}"
		  perl "$CP/checkpatch.pl" --strict --no-tree --show-types --color=never \
			--ignore MISSING_SIGN_OFF --patch - <"$p"; } >>"$LOGDIR/checkpatch-rxe.log" 2>&1
	done
	echo "lint: checkpatch --strict on $n rxe patches"
	if grep -qE '^(ERROR|WARNING|CHECK):' "$LOGDIR/checkpatch-rxe.log"; then
		grep -E '^(== |ERROR|WARNING|CHECK|#[0-9]+: FILE)' "$LOGDIR/checkpatch-rxe.log"
		fail "checkpatch on the rxe patches (log: build/lint/checkpatch-rxe.log)"
	fi
}
[ -z "$RXE_KVER" ] || lint_rxe

# 5. Userspace.
lint_user

[ $status = 0 ] && echo "lint: OK (W=1, sparse, checkpatch --strict${RXE_KVER:+, our rxe}, cppcheck, python)"
exit $status
