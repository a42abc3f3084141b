# shellcheck shell=bash
# Sourced by the guest command of a two-host test (tests/host/conftest.py):
# runs the steps of one side, each under `timeout`, and records them.
#
#   serve   NAME LIMIT CMD...          run CMD once (a server: it waits for
#                                      its client inside LIMIT seconds)
#   connect NAME LIMIT RETRY CMD...    run CMD (a client); while it fails to
#                                      connect (its output matches
#                                      $CONNECT_RETRY_RE; perftest says
#                                      "Couldn't connect to") try again, for at
#                                      most RETRY seconds in all
#   steps_done                         exit 0 if every step passed, else 1
#
# Every step's output goes to the console and to $ODP_OUT/step-NAME.log; its
# result to the console as "ODP-STEP NAME rc=RC secs=S tries=N", which the
# host parses.  A step's exit status 77 counts as a skip, not a failure.
set -u
CONNECT_RETRY_RE=${CONNECT_RETRY_RE:-"odp_connect: |[Cc]onnect(ion)? (refused|failed|timed out)|ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT|Couldn't connect to"}
_STEPS_FAILED=0

_step_now() { local up _; read -r up _ </proc/uptime; echo "${up%.*}"; }

_step_run() {	# _step_run NAME LIMIT CMD...: one try; sets _rc
	local name=$1 limit=$2
	shift 2
	echo "ODP-STEP-START $name: $*"
	timeout --kill-after=5 "$limit" "$@" </dev/null >"$ODP_OUT/step-$name.try" 2>&1
	_rc=$?
	cat "$ODP_OUT/step-$name.try"
	cat "$ODP_OUT/step-$name.try" >>"$ODP_OUT/step-$name.log"
	[ $_rc = 124 ] && echo "ODP-STEP $name: timed out after ${limit}s"
	return 0
}

# The link to the other VM when a step failed: a stalled socket network
# (once on 6.1: ARP to the peer unanswered from mid-step on) shows here as
# counters that stopped and an incomplete neighbour entry.
_step_net() {
	local dev=${ODP_PAIR_NETDEV:-eth0}

	ip -s -o link show "$dev" 2>&1 | tr -s ' ' | sed 's/^/ODP-STEP-NET link: /'
	echo "ODP-STEP-NET neigh: $(ip neigh show dev "$dev" 2>&1 | tr '\n' ';')"
	grep -h virtio /proc/interrupts 2>/dev/null | tr -s ' ' |
		sed 's/^/ODP-STEP-NET irq: /'
}

_step_end() {	# _step_end NAME RC START TRIES
	echo "ODP-STEP $1 rc=$2 secs=$(($(_step_now) - $3)) tries=$4"
	rm -f "$ODP_OUT/step-$1.try"
	case $2 in
	0|77) ;;
	*) _STEPS_FAILED=$((_STEPS_FAILED + 1)); _step_net ;;
	esac
}

serve() {
	local name=$1 start
	start=$(_step_now)
	: >"$ODP_OUT/step-$name.log"
	_step_run "$@"
	_step_end "$name" "$_rc" "$start" 1
}

connect() {
	local name=$1 limit=$2 retry=$3 start tries=0
	shift 3
	start=$(_step_now)
	: >"$ODP_OUT/step-$name.log"
	while :; do
		tries=$((tries + 1))
		_step_run "$name" "$limit" "$@"
		[ "$_rc" = 0 ] || [ "$_rc" = 77 ] || [ "$_rc" = 124 ] || [ "$_rc" = 137 ] && break
		grep -Eq "$CONNECT_RETRY_RE" "$ODP_OUT/step-$name.try" || break
		[ $(($(_step_now) - start)) -lt "$retry" ] || { echo "ODP-STEP $name: no connection in ${retry}s"; break; }
		echo "ODP-STEP $name: not connected (try $tries, rc=$_rc), again in 2 s"
		sleep 2
	done
	_step_end "$name" "$_rc" "$start" "$tries"
}

steps_done() {
	echo "ODP-STEPS-DONE failed=$_STEPS_FAILED"
	[ "$_STEPS_FAILED" = 0 ]
}
