#!/bin/bash
# Install the Debian 12 packages that building, testing (in QEMU) and the demo
# need.  Idempotent: does nothing when everything is installed; otherwise runs
# `apt-get update` once and installs what is missing.  Needs root (or sudo).
#
#   scripts/install-deps.sh          build + VM tests + demo
#   scripts/install-deps.sh --lint   + sparse and the 6.12 kernel source (checkpatch.pl)
#
# Kernel images/headers are NOT installed here: tests/vm/fetch-kernel.sh
# downloads and unpacks them into ~/.cache/odp.
set -euo pipefail

PKGS=(
	# module build against the Debian 6.12 headers (built with gcc-12; BTF needs pahole)
	make gcc gcc-12 libc6-dev bc flex bison libelf-dev libssl-dev pahole kmod
	# fetching the kernel, the initramfs, the VM
	apt xz-utils zstd cpio busybox-static qemu-system-x86
	# our rdma_rxe: Debian's rxe source + our patch series (make rxe)
	patch
	# in the guest: rxe, verbs tools, mounts, NUMA, the tests
	iproute2 rdma-core ibverbs-providers ibverbs-utils libibverbs-dev librdmacm-dev
	perftest numactl libnuma-dev util-linux mount procps python3 python3-pytest
	python3-pyverbs
	# benchmarks: the plot (on the host) and profiles in the guest
	gnuplot-nox linux-perf
	# make lint's userspace part (cppcheck); make install (pkg-config, man pages)
	cppcheck pkg-config man-db groff-base
	# tests/host/test_dkms.py installs Debian's dkms .deb in the guest, whose
	# root is this host's /: dkms's own dependencies must be here
	dpkg-dev lsb-release
)
if [ "${1:-}" = "--lint" ]; then
	PKGS+=(sparse perl linux-source-6.12)
fi

missing=()
for p in "${PKGS[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages present"
	exit 0
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
	SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
# A failing third-party source must not stop us: Debian's own lists are what we need.
$SUDO apt-get update -q || echo "install-deps: apt-get update reported errors; trying anyway" >&2
$SUDO apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"
