#!/bin/bash
# PID 1 of the test VM, started by the initramfs after switch_root into the
# host's / (read-only 9p + tmpfs overlay).  The host runner (tests/vm/run)
# passes odp_out=<dir> on the kernel command line; <dir> is a writable 9p share
# holding vm.env (settings) and cmd.sh (the command).  This script sets the
# guest up, runs the command with a time limit, unloads the module, saves
# dmesg, prints the exit marker that the host looks for, and powers off.
#
# Under TCG every program started costs ~0.1 s, so this script uses bash
# builtins where it can and mounts everything with one `mount -a`.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
umask 022

uptime_s() { local up _; read -r up _ </proc/uptime; echo "$up"; }
log() { echo "odp-vm: [$(uptime_s)] $*"; }

# kmemleak (debug kernel): objects count as leaks once they are 5 s old and
# were found unreferenced; the first scan after a change may miss some, hence
# two scans (Documentation/dev-tools/kmemleak.rst).  The report goes to
# $ODP_OUT/kmemleak.txt (empty: no leaks); the host fails the run otherwise.
KMEMLEAK=/sys/kernel/debug/kmemleak
kmemleak_scan() {
	local t0=$SECONDS status=ok
	[ -n "${ODP_KMEMLEAK:-}" ] || return 0
	if [ ! -w $KMEMLEAK ]; then
		echo "ODP-VM-KMEMLEAK missing secs=0"
		return 0
	fi
	log "kmemleak: scanning"
	sleep 5
	{ echo scan >$KMEMLEAK && echo scan >$KMEMLEAK && cat $KMEMLEAK >"$ODP_OUT/kmemleak.txt"; } ||
		status=failed
	echo "ODP-VM-KMEMLEAK $status secs=$((SECONDS - t0))"
}

finish() {	# finish <rc> <rmmod status>: save dmesg, print the marker, power off
	local rc=$1 rmmod_status=$2 taint=0
	kmemleak_scan
	read -r taint </proc/sys/kernel/tainted
	dmesg >"$ODP_OUT/dmesg.txt" 2>&1
	echo "$rc" >"$ODP_OUT/exit-status"
	umount "$ODP_OUT" || sync
	echo "ODP-VM-EXIT rc=$rc rmmod=$rmmod_status taint=$taint"
	busybox poweroff -f
	echo o >/proc/sysrq-trigger
	sleep 60
}

mount -t proc proc /proc
exec </dev/null >/dev/console 2>&1

ODP_OUT=
read -r -a cmdline </proc/cmdline
for arg in "${cmdline[@]}"; do
	case "$arg" in
	odp_out=*) ODP_OUT=${arg#odp_out=} ;;
	esac
done
if [ -z "$ODP_OUT" ] || ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none \
		out "$ODP_OUT"; then
	log "cannot mount the output share (odp_out=$ODP_OUT)"
	echo "ODP-VM-EXIT rc=98 rmmod=skipped taint=0"
	busybox poweroff -f
fi
# vm.env: ODP_REPO ODP_KVER ODP_KROOT ODP_TIMEOUT ODP_MODULE ODP_RXE_MODULE
# ODP_RXE_BUILT ODP_CORE_MODULE ODP_NET_ADDR ODP_KMEMLEAK
# shellcheck source=/dev/null
. "$ODP_OUT/vm.env"
# ODP_RXE tells the command which rxe runs: "ours" (build/rxe), "stock"
# (the kernel's own, without ODP: Debian's 6.1 and 6.12) or "upstream" (the
# kernel's own that reports ODP caps: upstream's ODP, Linux 6.15 and later,
# e.g. trixie-backports' 6.18); the last two are told apart once rxe0 is up.
ODP_RXE=stock
[ -z "${ODP_RXE_MODULE:-}" ] || ODP_RXE=ours
export ODP_OUT ODP_REPO ODP_KVER ODP_RXE ODP_VM=1

setup_failed() {
	log "SETUP FAILED: $*"
	echo "ODP-VM-SETUP-FAILED: $*"
	finish 97 skipped
}

# --- file systems (/dev is devtmpfs, moved here by the initramfs) -----------
# A fresh tmpfs on /tmp, /run, /dev/shm, unless the repository, the output
# folder or the kernel cache live below one of them (a clone in /tmp): then
# the overlay's copy of the host folder stays (writable, in RAM all the same).
tmpfs_unless_used() {	# <dir> <mode>
	local p
	for p in "$ODP_REPO" "$ODP_OUT" "$ODP_KROOT"; do
		case "$p/" in "$1"/*) log "keeping the host's $1 (it holds $p)" >&2; return ;; esac
	done
	echo "tmpfs $1 tmpfs mode=$2 0 0"
}
cat >/etc/fstab <<EOF
sysfs     /sys                 sysfs     defaults                        0 0
devpts    /dev/pts             devpts    gid=5,mode=620,ptmxmode=666     0 0
$(tmpfs_unless_used /dev/shm 1777)
$(tmpfs_unless_used /tmp 1777)
$(tmpfs_unless_used /run 0755)
debugfs   /sys/kernel/debug    debugfs   defaults                        0 0
tracefs   /sys/kernel/tracing  tracefs   defaults                        0 0
cgroup2   /sys/fs/cgroup       cgroup2   defaults                        0 0
hugetlbfs /dev/hugepages       hugetlbfs mode=1777                       0 0
$ODP_KROOT/lib/modules/$ODP_KVER /lib/modules/$ODP_KVER none bind        0 0
EOF
mkdir -p /dev/pts /dev/shm /dev/hugepages "/lib/modules/$ODP_KVER"
mount -a || setup_failed "mount -a (/etc/fstab)"
echo odp-vm >/proc/sys/kernel/hostname
log "file systems mounted"

# kmemleak: what boot left unreferenced is not this run's doing: scan once,
# keep that report as kmemleak-boot.txt and clear it (those objects are
# never reported again); the scan in finish() then shows only new leaks.
if [ -n "${ODP_KMEMLEAK:-}" ]; then
	[ -w $KMEMLEAK ] || setup_failed "no $KMEMLEAK (kmemleak disabled at boot?)"
	echo scan >$KMEMLEAK && cat $KMEMLEAK >"$ODP_OUT/kmemleak-boot.txt" && echo clear >$KMEMLEAK ||
		setup_failed "kmemleak: boot scan"
	# The host's log scan ignores kmemleak's "new suspected memory leaks"
	# before this line (its wording is tests/vm/run's KMEMLEAK_BASELINE).
	echo "odp-vm: kmemleak baseline: $(grep -c '^unreferenced object' "$ODP_OUT/kmemleak-boot.txt") objects left by boot cleared" >/dev/kmsg
fi

# --- our modules -------------------------------------------------------------
OURS=()		# module names we inserted, in load order (removed in reverse)
insmod_ours() {	# <file.ko>: its dependencies that are not loaded yet by modprobe, then it
	local file=$1 name deps dep
	name=${file##*/}
	name=${name%.ko}
	deps=$(modinfo -F depends "$file")
	for dep in ${deps//,/ }; do
		[ -d "/sys/module/$dep" ] || modprobe "$dep" || setup_failed "modprobe $dep (needed by $name)"
	done
	insmod "$file" || setup_failed "insmod $file"
	OURS+=("$name")
	log "$name inserted"
}

# --- network + rxe ----------------------------------------------------------
if [ -n "${ODP_NET_ADDR:-}" ]; then
	# A QEMU socket network to another VM (two hosts): rxe0 on eth0.
	netdev=eth0
	modprobe -a ib_uverbs rdma_ucm virtio_net || setup_failed "modprobe"
	for _ in {1..50}; do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done
	ip -batch - <<-EOF || setup_failed "configure eth0"
	link set lo up
	addr add $ODP_NET_ADDR dev eth0
	link set eth0 up
	EOF
else
	# One host: rxe0 on a dummy netdev; loopback traffic works.
	netdev=d0
	modprobe -a ib_uverbs rdma_ucm dummy || setup_failed "modprobe"
	ip -batch - <<-EOF || setup_failed "create the dummy netdev d0"
	link set lo up
	link add d0 type dummy
	addr add 10.99.0.1/24 dev d0
	link set d0 up
	EOF
fi
# Our ODP core library goes in first: our rxe and odp.ko use its exports.
[ -z "${ODP_CORE_MODULE:-}" ] || insmod_ours "$ODP_CORE_MODULE"
if [ -n "${ODP_RXE_MODULE:-}" ]; then
	# Ours replaces Debian's: the rdma link type "rxe" has room for one module.
	if [ -d /sys/module/rdma_rxe ]; then
		rdma link show rxe0 >/dev/null 2>&1 && { rdma link del rxe0 || setup_failed "rdma link del rxe0 (Debian's rxe)"; }
		rmmod rdma_rxe || setup_failed "rmmod Debian's rdma_rxe"
	fi
	insmod_ours "$ODP_RXE_MODULE"	# after ib_core ib_uverbs udp_tunnel ip6_udp_tunnel
	read -r srcv </sys/module/rdma_rxe/srcversion || srcv=
	[ -n "$srcv" ] && [ "$srcv" = "$(modinfo -F srcversion "$ODP_RXE_MODULE")" ] ||
		setup_failed "the loaded rdma_rxe (srcversion '${srcv}') is not $ODP_RXE_BUILT"
	read -r taint </sys/module/rdma_rxe/taint || taint=
	echo "ODP-VM-RXE: ours $ODP_RXE_BUILT srcversion=$srcv taint=$taint"
else
	modprobe rdma_rxe || setup_failed "modprobe rdma_rxe"
	echo "ODP-VM-RXE: stock $(modinfo -F filename rdma_rxe) intree=$(modinfo -F intree rdma_rxe)"
fi
rdma link add rxe0 type rxe netdev $netdev || setup_failed "rdma link add rxe0 type rxe netdev $netdev"
[ -c /dev/infiniband/uverbs0 ] || setup_failed "no /dev/infiniband/uverbs0"
log "rxe0 up on $netdev"
if [ "$ODP_RXE" = stock ]; then
	# The kernel's own rxe: ODP caps (general_odp_caps: ODP_SUPPORT) make it
	# upstream's ODP rxe.
	caps=$(ibv_devinfo -v -d rxe0 2>&1) || setup_failed "ibv_devinfo -v -d rxe0"
	if [[ $caps =~ general_odp_caps:[[:space:]]+ODP_SUPPORT ]]; then
		ODP_RXE=upstream
		log "the kernel's own rxe reports ODP caps: ODP_RXE=upstream"
	fi
fi

# --- the module under test --------------------------------------------------
if [ -n "${ODP_MODULE:-}" ]; then
	insmod_ours "$ODP_MODULE"
	if [ "${OURS[-1]}" = odp ]; then
		for _ in {1..50}; do [ -c /dev/odp ] && break; sleep 0.1; done
		[ -c /dev/odp ] || setup_failed "odp.ko loaded but /dev/odp did not appear"
		chmod 0666 /dev/odp
	fi
fi

# --- the command ------------------------------------------------------------
cd "$ODP_REPO" || setup_failed "cd $ODP_REPO"
echo "ODP-VM-CMD-START uptime=$(uptime_s)"
PY_COLORS=0 COLUMNS=120 PYTHONDONTWRITEBYTECODE=1 \
	timeout --kill-after=10 "$ODP_TIMEOUT" bash "$ODP_OUT/cmd.sh" </dev/null
rc=$?
echo "ODP-VM-CMD-DONE rc=$rc uptime=$(uptime_s)"
[ $rc = 124 ] && log "COMMAND TIMED OUT after ${ODP_TIMEOUT}s"
cd /

# Our modules out again, last in first out; rxe0 goes before our rxe.  Any
# failure fails the run (the host sees rmmod=failed).
rmmod_status=skipped
for ((i = ${#OURS[@]} - 1; i >= 0; i--)); do
	name=${OURS[i]}
	[ "$rmmod_status" = failed ] || rmmod_status=ok
	if [ "$name" = rdma_rxe ] && rdma link show rxe0 >/dev/null 2>&1 && ! rdma link del rxe0; then
		log "rdma link del rxe0 FAILED"
		rmmod_status=failed
	fi
	if rmmod "$name"; then
		log "$name removed"
	else
		rmmod_status=failed
		log "rmmod $name FAILED (refcount $(cat "/sys/module/$name/refcnt" 2>/dev/null))"
	fi
done
finish $rc $rmmod_status
