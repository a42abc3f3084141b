#!/bin/bash
# The check of odp.ko's transport under load that found its 655 ms RNR
# waits on 6.1 (Documentation/running-on-a-host.md, "Fixed: libodp traffic
# crawled on 6.1"): run in a VM, e.g.
#   tests/vm/run --kver 6.1 --stock-rxe -- bash tests/vm/write-bw-loop.sh
# It loops examples/odp_write_bw (server and client over rxe0, loopback)
# and, when a run does not finish in 15 s, prints the QPs, debugfs qps
# twice 2 s apart, rxe0's counters and rxe's RNR/retransmit debug lines
# (dynamic debug), then stops the run.  Exit 1 then, 0 if every run
# finished; each finished run prints its RNR NAK count.
set -u
runs=${1:-10}
C=/sys/kernel/debug/dynamic_debug/control
[ -e $C ] || mount -t debugfs none /sys/kernel/debug
for f in rxe_comp.c rxe_req.c; do
	grep -E "$f:[0-9]+ .*(rnr|fired)" $C | sed -E 's/^[^:]*:([0-9]+) .*/\1/' |
		while read -r line; do echo "file $f line $line +pt" >$C; done
done
port=18700
for i in $(seq 1 "$runs"); do
	port=$((port + 1))
	dmesg -C
	timeout 60 examples/odp_write_bw -s 65536 -n 2000 -p $port >/tmp/srv.log 2>&1 &
	srv=$!
	for _ in {1..100}; do
		rdma res show cm_id 2>/dev/null | grep LISTEN | grep -q ":$port" && break
		sleep 0.1
	done
	timeout 60 examples/odp_write_bw -s 65536 -n 2000 -p $port 10.99.0.1 >/tmp/cli.log 2>&1 &
	cli=$!
	for _ in {1..150}; do kill -0 $cli 2>/dev/null || break; sleep 0.1; done
	if kill -0 $cli 2>/dev/null; then
		echo "run $i: no progress for 15 s"
		rdma res show qp
		cat /sys/kernel/debug/odp/qps
		sleep 2
		cat /sys/kernel/debug/odp/qps
		rdma statistic show link rxe0/1
		dmesg | grep -E "rnr|fired" | tail -20
		kill $cli $srv 2>/dev/null
		wait
		exit 1
	fi
	wait
	echo "run $i: done ($(dmesg | grep -c 'set rnr nak timer') RNR NAKs)"
done
exit 0
