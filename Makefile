# ODP RDMA stack: odp.ko + libodp + tests.  See README.md.
#
#   make demo     install deps, fetch the kernel, build, run examples/odp_demo in a VM
#   make check    install deps, fetch the kernel, build, run the test suite in a VM
#                 (extra pytest arguments: make check T="-k mr -x")
#   make lint     W=1 -Werror build, sparse, checkpatch --strict
#   make fuzz     install deps, build, run both fuzzers (tests/fuzz) in one VM,
#                 FUZZ_TIME seconds each (default 300), FUZZ_SEED to replay a run
#   make bench    install deps, build, run benchmarks/run.py in one VM (~10 min),
#                 then write Documentation/benchmarks.{md,png,json} (benchmarks/report.py)
#   make stress   install deps, build, run tests/stress/odp_stress for STRESS_TIME
#                 seconds (default 300) in a VM: traffic under mutation and kill -9
#
# The Debian 6.12 kernel (image, headers, modules) is unpacked into
# $(ODP_CACHE)/kernel/<version>/ by tests/vm/fetch-kernel.sh; nothing is
# installed on the host except Debian packages (scripts/install-deps.sh).
#
# KVER=6.1 (e.g. make check KVER=6.1) builds for and boots Debian 12's own
# 6.1 kernel (the newest 6.1.0-<abi>-amd64) instead.  There our ODP rxe is
# not built (driver/rxe/README.md: 6.1's rxe runs its work in tasklets,
# which cannot sleep for a fault) and the VM loads Debian's rdma_rxe.

SHELL		:= /bin/bash
PYTHON		:= /usr/bin/python3
export ODP_CACHE ?= $(HOME)/.cache/odp

# The kernel series: KVER=6.1 (or a full 6.1.0-<abi>-amd64) selects 6.1.
# Command-line KVER overrides every assignment to it, so the version that the
# recipes use is KREL.  Exported: sub-makes and scripts see the same series.
export ODP_KSERIES := $(if $(filter 6.1 6.1.%,$(KVER)),6.1,6.12)
KPTR		:= $(if $(filter 6.1,$(ODP_KSERIES)),current-6.1,current)
# Evaluated when a recipe runs, i.e. after `kernel` has written .../current.
KREL		 = $(shell cat $(ODP_CACHE)/kernel/$(KPTR) 2>/dev/null)
KDIR		 = $(ODP_CACHE)/kernel/$(KREL)/usr/src/linux-headers-$(KREL)
# On 6.1 the VM runs Debian's rxe (see above).
VM_RXE		:= $(if $(filter 6.1,$(ODP_KSERIES)),--stock-rxe)

VM		 = $(PYTHON) tests/vm/run --kver $(KREL) $(VM_RXE)
# Limit on the command inside the VM, seconds (the VM gets 180 s more).
VM_TIMEOUT	?= 3600
# Extra pytest arguments for `make check`, e.g. T="-k 'mr and not huge' -x".
export T	?=
RUN_ID		:= $(shell date +%Y%m%d-%H%M%S)
CHECK_OUT	:= $(CURDIR)/build/vm-out/check-$(RUN_ID)
DEMO_OUT	:= $(CURDIR)/build/vm-out/demo-$(RUN_ID)

.PHONY: all deps kernel debug-kernel module rxe lib progs examples check demo vm lint clean fuzz

all: module rxe lib progs examples

deps:
	bash scripts/install-deps.sh

kernel:
	@bash tests/vm/fetch-kernel.sh --series $(ODP_KSERIES) >/dev/null

# The debug kernel (KASAN, lockdep, DEBUG_LIST/OBJECTS, kmemleak, failslab)
# from Debian's source of the VM kernel's exact version; source, build and
# install live in $(ODP_CACHE).  About 15 min on 2 cores; a repeated
# `make debug-kernel` does nothing.  (Booting it in the runner and
# `make check KERNEL=debug` are not merged yet.)
debug-kernel:
	@bash tests/vm/debug-kernel.sh >/dev/null

module: kernel
	@test -f driver/Kbuild || { echo "make: driver/Kbuild does not exist yet"; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR)/driver modules

# Our rdma_rxe.ko (build/rxe/): Debian's rxe source of this kernel + the
# patch series and own files of driver/rxe/ (see driver/rxe/Makefile).  After
# `module`: the ODP rxe links against the ODP core's exports (its
# Module.symvers, RXE_EXTRA_SYMBOLS).  The VM runner loads it instead of
# Debian's rdma_rxe unless given --stock-rxe.
rxe: module
ifeq ($(ODP_KSERIES),6.1)
	@echo "make: no ODP rxe for 6.1 (driver/rxe/README.md); the VM loads Debian's rdma_rxe"
else
	$(MAKE) -C driver/rxe KVER=$(KREL) KDIR=$(KDIR)
endif

# libodp, the test programs and the examples have their own Makefiles; a
# missing one is reported and skipped (the parts are written in parallel).
lib:
	@if [ -f libodp/Makefile ]; then $(MAKE) -C libodp; \
	 else echo "make: libodp/Makefile does not exist yet, skipping lib"; fi

progs: lib
	@if [ -f tests/progs/Makefile ]; then $(MAKE) -C tests/progs; \
	 else echo "make: tests/progs/Makefile does not exist yet, skipping progs"; fi
	@if [ -f tests/rdma/Makefile ]; then $(MAKE) -C tests/rdma; fi
	@if [ -f tests/fuzz/Makefile ]; then $(MAKE) -C tests/fuzz; fi
	@if [ -f tests/stress/Makefile ]; then $(MAKE) -C tests/stress; fi
	@if [ -f tests/verbs/Makefile ]; then $(MAKE) -C tests/verbs; fi

examples: lib
	@if [ -f examples/Makefile ]; then $(MAKE) -C examples; \
	 else echo "make: examples/Makefile does not exist yet, skipping examples"; fi

# The suite runs inside the VM (odp.ko loaded, rxe0 up); the runner prints the
# console, pytest's summary line and the timings, and fails on kernel warnings.
# Two-host tests (tests/host) run on the host and boot two VMs each; the
# single-VM suite runs last so that its summary closes the output.
check:
	$(MAKE) deps
	$(MAKE) module rxe lib progs examples
	@if [ -d tests/host ]; then \
		$(PYTHON) -m pytest -v -rs --confcutdir=tests/host -p no:cacheprovider \
			--junitxml=$(CHECK_OUT)-host.xml tests/host; fi
	$(VM) --timeout $(VM_TIMEOUT) --out $(CHECK_OUT) --env PYTEST_ADDOPTS "$$T" -- \
		$(PYTHON) -m pytest -v -rs -p no:cacheprovider --ignore=tests/host \
			--junitxml=$(CHECK_OUT)/junit.xml tests/

demo:
	$(MAKE) deps
	$(MAKE) module rxe lib examples
	@test -x examples/odp_demo || { echo "make: examples/odp_demo was not built"; exit 1; }
	$(VM) --timeout $(VM_TIMEOUT) --out $(DEMO_OUT) -- examples/odp_demo

# Both fuzzers in one VM, FUZZ_TIME seconds each; every run prints its seed
# (FUZZ_SEED=N replays one).  Logs in build/vm-out/fuzz-<date>/.
FUZZ_TIME	?= 300
FUZZ_SEED	?=
FUZZ_OUT	:= $(CURDIR)/build/vm-out/fuzz-$(RUN_ID)
fuzz:
	$(MAKE) deps
	$(MAKE) module rxe lib progs
	$(VM) --timeout $$(( 2 * $(FUZZ_TIME) + 600 )) --out $(FUZZ_OUT) -- \
		bash tests/fuzz/run-fuzz.sh $(FUZZ_TIME) $(FUZZ_SEED)

# Any command in the VM, e.g. make vm CMD='ibv_devinfo; numactl -H'
vm: module rxe
	$(VM) --timeout $(VM_TIMEOUT) -- bash -c '$(CMD)'

# The benchmarks run in one VM; the report is written on the host from the
# JSON the VM left in BENCH_OUT, also when a benchmark failed (it says so).
BENCH_OUT	:= $(CURDIR)/build/vm-out/bench-$(RUN_ID)
BENCH_TIMEOUT	?= 2400
.PHONY: bench
bench:
	@mkdir -p build && date +%s >build/.bench-start
	$(MAKE) deps
	$(MAKE) module rxe lib examples
	$(MAKE) -C benchmarks
	@rc=0; $(VM) --timeout $(BENCH_TIMEOUT) --out $(BENCH_OUT) -- \
		/usr/bin/python3 benchmarks/run.py || rc=$$?; \
	if [ -f $(BENCH_OUT)/bench.json ]; then \
		$(PYTHON) benchmarks/report.py --started $$(cat build/.bench-start) \
			$(BENCH_OUT)/bench.json || rc=$$?; \
	else echo "make: no $(BENCH_OUT)/bench.json: Documentation/benchmarks.* not updated"; rc=1; fi; \
	exit $$rc

# Traffic under mutation and kill -9 for STRESS_TIME seconds, every byte
# checked, then the leak checks (tests/stress/README.md).  STRESS_ARGS adds
# odp_stress options, e.g. STRESS_ARGS="-n 6 -m 3 -s 42".
STRESS_TIME	?= 300
STRESS_ARGS	?=
STRESS_OUT	:= $(CURDIR)/build/vm-out/stress-$(RUN_ID)
.PHONY: stress
stress:
	$(MAKE) deps
	$(MAKE) module rxe lib progs
	$(VM) --timeout $$(( $(STRESS_TIME) + 600 )) --out $(STRESS_OUT) -- \
		tests/stress/odp_stress -t $(STRESS_TIME) $(STRESS_ARGS)

lint: kernel
	bash scripts/install-deps.sh --lint
	bash scripts/lint.sh $(KDIR)

clean:
	@if [ -n "$(KREL)" ] && [ -d "$(KDIR)" ]; then \
		$(MAKE) -C $(KDIR) M=$(CURDIR)/driver clean; fi
	rm -f driver/*/*.o driver/*/.*.o driver/*/*.ko driver/.*.cmd driver/*/.*.cmd \
		driver/*/*.mod driver/*/*.mod.c driver/Module.symvers driver/modules.order \
		driver/*/modules.order
	-@[ ! -f libodp/Makefile ] || $(MAKE) -C libodp clean
	-@[ ! -f tests/progs/Makefile ] || $(MAKE) -C tests/progs clean
	-@[ ! -f tests/stress/Makefile ] || $(MAKE) -C tests/stress clean
	-@[ ! -f examples/Makefile ] || $(MAKE) -C examples clean
	-@[ ! -f tests/fuzz/Makefile ] || $(MAKE) -C tests/fuzz clean
	rm -rf build
