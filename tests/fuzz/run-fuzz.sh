#!/bin/bash
# SPDX-License-Identifier: MIT
# `make fuzz` runs this inside the VM: both fuzzers one after the other,
#   tests/fuzz/run-fuzz.sh SECONDS [SEED]
# each for SECONDS (default 300), with SEED or a seed of their own (printed).
# Full output in $ODP_OUT/{ioctl,peer}_fuzz.log; a summary line per fuzzer:
#   fuzz: <name> seed=N <iterations|sessions>=N elapsed_s=S exit=RC
# Exit status: 0 if both exited 0.
set -u
secs=${1:-300}
seed=${2:-}
out=${ODP_OUT:-/tmp}
here=$(cd "$(dirname "$0")" && pwd)
rc=0
summary=()

run() {	# run <name> <args...>
	local name=$1 log="$out/$1.log" r
	shift
	echo "=== $name $* ==="
	# Seconds past the limit for the last operation, the checks and the exit.
	timeout --kill-after=10 $((secs + 240)) "$here/$name" "$@" >"$log" 2>&1
	r=$?
	grep -E '^(VIOLATION|reproduce:)|KERNEL PROBLEM' "$log" | head -40
	tail -n 60 "$log"
	summary+=("fuzz: $name $(grep -E '^seed=[0-9]+ ' "$log" | tail -1 |
		grep -oE '(seed|iterations|sessions|messages|elapsed_s|threads)=[0-9.]+' |
		tr '\n' ' ')exit=$r")
	[ $r = 0 ] || rc=1
}

run ioctl_fuzz -t "$secs" -j 4 ${seed:+-s "$seed"}
run peer_fuzz -t "$secs" ${seed:+-s "$seed"}
echo "=== summary ==="
printf '%s\n' "${summary[@]}"
exit $rc
