#!/bin/bash
# SPDX-License-Identifier: MIT
# The guest side of tests/host/test_dkms.py: install the stack on the VM as
# on a Debian 12 host, with Debian's dkms, and run traffic on the installed
# modules.  Started by tests/vm/run --stock-rxe --no-module --odp-core none
# (Debian's rdma_rxe and rxe0 are up, none of our modules is loaded).
# Everything it installs lands in the guest's tmpfs overlay, never on the
# host.  Each step prints "DKMS-STEP <name> ok" (the host test checks them);
# the first failing step ends the script with its output.
#
# On Debian's 6.1 kernel dkms builds odp_core and odp only (dkms.conf: no ODP
# rxe for 6.1); Debian's rdma_rxe stays, and the traffic step runs the
# installed odp_write_bw (odp.ko's RDMA over rxe0) instead of ib_write_bw --odp.
#
#   ODP_DKMS_DEB  Debian's dkms .deb (downloaded by the host test)
set -euo pipefail
kver=$(uname -r)
repo=$(pwd)
cache=${ODP_HOST_CACHE:-/root/.cache/odp}	# the host's cache, read-only here
step() { echo "DKMS-STEP $1 ok${2:+ $2}"; }
run() { echo "+ $*"; "$@"; }
export ODP_CACHE=/var/cache/odp			# what dkms.conf uses by default
case "$kver" in
6.1.*) odp_rxe= ; mods=(odp_core odp) ;;
*) odp_rxe=1; mods=(odp_core odp rdma_rxe) ;;
esac

# dkms uses bash's <(...), which needs /dev/fd (udev makes the link on a
# host; the VM's devtmpfs has none).
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd

# 1. dkms, as `apt install dkms` would put it (its dependencies are the
#    host's: gcc, make, patch, dpkg-dev, kmod, lsb-release).
# (--no-triggers: man-db's index rebuild takes minutes under TCG.)
run dpkg -i --no-triggers "$ODP_DKMS_DEB" >/dev/null
step dkms "$(dkms --version)"

# 2. The headers where Debian's linux-headers package puts them: the
#    modules folder's build link names /usr/src/linux-headers-<kver>.
[ "$(readlink "/lib/modules/$kver/build")" = "/usr/src/linux-headers-$kver" ]
ln -sfn "$cache/kernel/$kver/usr/src/linux-headers-$kver" "/usr/src/linux-headers-$kver"
test -f "/lib/modules/$kver/build/Makefile"
step headers "/lib/modules/$kver/build"

# 3. The guest has no network: the rxe source that the dkms build fetches
#    with apt-get download on a host comes from the host's cache instead
#    (the same fetch-rxe-source.sh finds it there and checks its version).
if [ -n "$odp_rxe" ]; then
	debver=$(sed -n 's/^#define LINUX_PACKAGE_ID " Debian \(.*\)"$/\1/p' \
		"/lib/modules/$kver/build/include/generated/package.h")
	mkdir -p "$ODP_CACHE/rxe-source"
	cp -a "$cache/rxe-source/$debver" "$ODP_CACHE/rxe-source/"
	step rxe-source "$debver"
else
	step rxe-source "none needed: no ODP rxe for $kver"
fi

# 4. The userspace part and the DKMS source.
run make -s install-userspace PREFIX=/usr/local
run make -s install-dkms
test -f /usr/src/odp-*/dkms.conf
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
step make-install "odp/$ver"

# 5. dkms add, build, install for the VM kernel.
cd /
run dkms add "odp/$ver"
t0=$SECONDS
if ! run dkms build "odp/$ver" -k "$kver"; then
	cat "/var/lib/dkms/odp/$ver/build/make.log" || true
	exit 1
fi
step dkms-build "$((SECONDS - t0)) s"
run dkms install "odp/$ver" -k "$kver"
run dkms status odp
for m in "${mods[@]}"; do
	f=$(modinfo -k "$kver" -n "$m")
	case "$f" in
	"/lib/modules/$kver/updates/"*) echo "$m: $f" ;;
	*) echo "$m resolves to $f, not to updates/"; exit 1 ;;
	esac
done
step dkms-install

# 6. Swap Debian's rxe for the installed one, load odp.ko, create rxe0.
run rdma link del rxe0
run rmmod rdma_rxe
run modprobe rdma_rxe
run modprobe odp
# rdma_rxe exists twice (Debian's, ours): the loaded one must be ours by
# srcversion.  odp and odp_core exist only where dkms put them (and carry
# no srcversion); modprobe's resolution names that file.
if [ -n "$odp_rxe" ] &&
   [ "$(cat /sys/module/rdma_rxe/srcversion)" != "$(modinfo -k "$kver" -F srcversion rdma_rxe)" ]; then
	echo "the loaded rdma_rxe is not the installed one"; exit 1
fi
for m in odp_core odp; do
	[ -d "/sys/module/$m" ] || { echo "$m is not loaded"; exit 1; }
	grep -q "updates/dkms/$m.ko" <<<"$(modprobe --show-depends "$m")" ||
		{ echo "modprobe $m: $(modprobe --show-depends "$m")"; exit 1; }
done
run rdma link add rxe0 type rxe netdev d0
for _ in {1..50}; do [ -c /dev/odp ] && break; sleep 0.1; done
ibv_devinfo -v -d rxe0 >/tmp/devinfo
grep -A3 -i "odp" /tmp/devinfo || true
if [ -n "$odp_rxe" ]; then
	grep -q "general_odp_caps:" /tmp/devinfo
	grep -q ODP_SUPPORT <<<"$(grep -A2 "general_odp_caps:" /tmp/devinfo)"
fi
if [ -n "$odp_rxe" ]; then
	step modprobe "rdma_rxe $(cat /sys/module/rdma_rxe/srcversion)"
else
	step modprobe "odp_core odp; Debian's rdma_rxe"
fi

# 7. The installed demo, on the installed libodp.
# (Not `ldd | grep -q`: grep's early exit can kill ldd with SIGPIPE, which
# pipefail turns into a failure; seen on 6.1.)
libs=$(ldd /usr/local/bin/odp_demo)
grep -q "/usr/local/lib/libodp.so.1" <<<"$libs" || { echo "$libs"; exit 1; }
run timeout 120 /usr/local/bin/odp_demo
step demo

# 8. ib_write_bw --odp on the installed rxe (6.1: the installed odp_write_bw
#    through odp.ko); odpstat (installed) sees it.
port=18600
if [ -n "$odp_rxe" ]; then
	bw_cmd=(ib_write_bw -d rxe0 -x 1 -F --odp -s 65536 -n 2000 -p $port)
	stat_dev=rxe0
else
	bw_cmd=(/usr/local/bin/odp_write_bw -s 65536 -n 2000 -p $port)
	stat_dev=odp
fi
timeout 120 "${bw_cmd[@]}" >/tmp/srv.log 2>&1 &
srv=$!
for _ in {1..100}; do
	# perftest listens on TCP; odp.ko's listener shows in rdma's cm_id list.
	{ ss -ltn | grep -q ":$port "; } || { rdma res show cm_id 2>/dev/null | grep LISTEN | grep -q ":$port"; } && break
	sleep 0.1
done
timeout 120 "${bw_cmd[@]}" 10.99.0.1 >/tmp/cli.log 2>&1 &
cli=$!
sleep 1
/usr/local/bin/odpstat --device $stat_dev --json >"$ODP_OUT/odpstat.json" || true
rc=0; wait $cli || rc=$?
wait $srv || rc=$?
cat /tmp/cli.log
[ $rc = 0 ] || { cat /tmp/srv.log; exit 1; }
# ib_write_bw's result line: bytes iterations BW-peak BW-average ...;
# odp_write_bw's: bytes iterations BW-average ...
col=4; [ -n "$odp_rxe" ] || col=3
bw=$(awk -v c=$col '$1 == 65536 { print $c }' /tmp/cli.log)
[ -n "$bw" ] || { echo "no result line"; exit 1; }
cat "$ODP_OUT/odpstat.json"
step write-bw "$bw MB/s"

# 9. Remove: the device, the modules, the DKMS package; Debian's rxe again.
run rdma link del rxe0
if [ -n "$odp_rxe" ]; then run rmmod odp rdma_rxe odp_core; else run rmmod odp odp_core; fi
run dkms remove "odp/$ver" --all
case "$(modinfo -k "$kver" -n rdma_rxe)" in
"/lib/modules/$kver/kernel/"*) ;;
*) echo "rdma_rxe still resolves to $(modinfo -k "$kver" -n rdma_rxe)"; exit 1 ;;
esac
if modinfo -k "$kver" odp >/dev/null 2>&1; then echo "odp.ko still installed"; exit 1; fi
run modprobe rdma_rxe
run rdma link add rxe0 type rxe netdev d0
step removed
