# ODP RDMA stack: odp.ko + libodp + tests.  See README.md.
#
#   make demo     install deps, fetch the kernel, build, run examples/odp_demo in a VM
#   make check    install deps, fetch the kernel, build, run the test suite in a VM
#                 (extra pytest arguments: make check T="-k mr -x")
#   make lint     W=1 -Werror build, sparse, checkpatch --strict; our rxe: no
#                 W=1/sparse finding beyond the pristine rxe's, checkpatch on its
#                 patches; cppcheck over libodp, examples and tools (make check
#                 runs it first)
#   make install  libodp, odp.h, libodp.pc, man pages, odpstat, the examples and
#                 the modules (DESTDIR, PREFIX); make install-dkms: the DKMS source
#   make fuzz     install deps, build, run both fuzzers (tests/fuzz) in one VM,
#                 FUZZ_TIME seconds each (default 300), FUZZ_SEED to replay a run
#   make bench    install deps, build, run benchmarks/run.py in one VM (~10 min),
#                 its verbs part again on upstream's 6.18 kernel (a second VM), then
#                 write Documentation/benchmarks.{md,png,json} (benchmarks/report.py)
#   make check-upstream   install deps, build the userspace test programs, run
#                 rdma-core's suite, our verbs ODP cases, ibv_ops over ODP MRs and
#                 perftest --odp on upstream's rxe (trixie-backports' 6.18) in one
#                 VM; upstream's known defects are xfails (Documentation/upstream-rxe.md)
#   make stress   install deps, build, run tests/stress/odp_stress for STRESS_TIME
#                 seconds (default 300) in a VM: traffic under mutation and kill -9
#   make debug-kernel      build the debug kernel (KASAN, lockdep, kmemleak, ...)
#                          from Debian's linux-source-6.12 into the cache
#   make check KERNEL=debug   the suite on it (our modules built into build/debug/);
#                 KERNEL=debug works for module, rxe, check, demo, vm, fuzz, stress
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
# Exported: sub-makes and scripts see the same series.
export ODP_KSERIES := $(if $(filter 6.1 6.1.%,$(KVER)),6.1,6.12)
KPTR		:= $(if $(filter 6.1,$(ODP_KSERIES)),current-6.1,current)

# KREL is the kernel release the recipes build for and boot.  KVER cannot be
# it: a command-line KVER overrides every assignment, and KVER=6.1 names a
# series.  A full release on the command line (make install KVER=$$(uname -r)
# KDIR=...) is taken as it is; otherwise KREL comes from the cache's pointer
# file, read when a recipe runs, i.e. after `kernel` has written it.
# KERNEL=debug: build against and run on the debug kernel of `make
# debug-kernel` (tests/vm/debug-kernel.sh) instead of Debian's.
KERNEL		?=
ifeq ($(KERNEL),debug)
KREL		 = $(shell cat $(ODP_CACHE)/kernel/debug 2>/dev/null)
KDIR		 = $(ODP_CACHE)/kernel/$(KREL)/lib/modules/$(KREL)/build
# The debug kernel's modules are built apart from Debian's: odp_core.ko and
# odp.ko in a mirror of driver/ made of links to its sources, our rxe in
# build/debug/rxe/ (from the rxe source of the debug kernel's own tree).
MODDIR		:= build/debug/driver
RXE_ARGS	:= RXE_BUILD=$(CURDIR)/build/debug/rxe RXE_STAGE=$(CURDIR)/build/debug/rxe-src \
		   RXE_EXTRA_SYMBOLS=$(CURDIR)/$(MODDIR)/Module.symvers
# The runner (also when the two-host tests start it) boots the debug kernel
# and takes the modules in build/debug/.
export ODP_VM_KERNEL := debug
# KASAN and lockdep make everything several times slower: the harness's time
# limits (tests/conftest.py) are multiplied by this in the VM.
ODP_TIMEOUT_SCALE ?= 4
VM_ENV		:= --env ODP_TIMEOUT_SCALE $(ODP_TIMEOUT_SCALE)
else ifeq ($(KERNEL),)
KREL		 = $(if $(filter-out 6.1 6.12,$(KVER)),$(KVER),$(shell cat $(ODP_CACHE)/kernel/$(KPTR) 2>/dev/null))
KDIR		 = $(ODP_CACHE)/kernel/$(KREL)/usr/src/linux-headers-$(KREL)
MODDIR		:= driver
RXE_ARGS	:=
VM_ENV		:=
else
$(error KERNEL=$(KERNEL): the choices are KERNEL=debug or none (Debian's kernel))
endif
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

.PHONY: all deps kernel debug-kernel module rxe lib progs examples bench-progs check demo vm \
	lint clean fuzz

all: module rxe lib progs examples

deps:
	bash scripts/install-deps.sh

# KDIR given on the command line (a host's /lib/modules/<kver>/build, as
# DKMS and `make install KVER=... KDIR=...` do): build against it, fetch
# nothing.  KERNEL=debug: the debug kernel's tree.
ifeq ($(KERNEL),debug)
kernel: debug-kernel
else
kernel:
ifeq ($(origin KDIR),command line)
	@test -f $(KDIR)/Makefile || { echo "make: KDIR=$(KDIR) holds no kernel headers"; exit 1; }
else
	@bash tests/vm/fetch-kernel.sh --series $(ODP_KSERIES) >/dev/null
endif
endif

# The debug kernel (KASAN, lockdep, DEBUG_LIST/OBJECTS, kmemleak, failslab)
# from Debian's source of the VM kernel's exact version; source, build and
# install live in $(ODP_CACHE).  About 15 min on 2 cores; a repeated
# `make debug-kernel` does nothing.
debug-kernel:
	@bash tests/vm/debug-kernel.sh >/dev/null

# KERNEL=debug: build/debug/driver/ mirrors driver/'s Kbuild and the
# directories it names (obj-m) by links to their Kbuild files and sources
# (dangling links go), so that kbuild's objects for the debug kernel stay
# apart from those for Debian's.
module: kernel
	@test -f driver/Kbuild || { echo "make: driver/Kbuild does not exist yet"; exit 1; }
ifeq ($(KERNEL),debug)
	@set -e; mkdir -p $(MODDIR) && ln -sfn ../../include build/debug/include; \
	 find $(MODDIR) -type l ! -exec test -e {} \; -delete; \
	 ln -sfnr driver/Kbuild $(MODDIR)/Kbuild; \
	 for d in $$(sed -n 's/^obj-m[[:space:]]*:=//p' driver/Kbuild); do \
		mkdir -p $(MODDIR)/$$d; \
		for f in driver/$${d%/}/Kbuild driver/$${d%/}/*.[ch]; do \
			case "$$f" in *.mod.c) continue ;; esac; \
			[ -L "$(MODDIR)/$${f#driver/}" ] || ln -sr "$$f" "$(MODDIR)/$${f#driver/}"; \
		done; \
	 done
endif
	$(MAKE) -C $(KDIR) M=$(CURDIR)/$(MODDIR) modules

# Our rdma_rxe.ko (build/rxe/): Debian's rxe source of this kernel + the
# patch series and own files of driver/rxe/ (see driver/rxe/Makefile).  After
# `module`: the ODP rxe links against the ODP core's exports (its
# Module.symvers, RXE_EXTRA_SYMBOLS).  The VM runner loads it instead of
# Debian's rdma_rxe unless given --stock-rxe.  KERNEL=debug: build/debug/rxe/,
# from the rxe source of the tree the debug kernel was built from (the same
# Debian linux-source version; scripts/fetch-rxe-source.sh checks that).
rxe: module
ifeq ($(ODP_KSERIES),6.1)
	@echo "make: no ODP rxe for 6.1 (driver/rxe/README.md); the VM loads Debian's rdma_rxe"
else
	ODP_KDIR=$(KDIR) $(MAKE) -C driver/rxe KVER=$(KREL) KDIR=$(KDIR) $(RXE_ARGS)
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

# The benchmark programs: `make bench` runs them, the suite's test_bench.py
# their short form.
bench-progs: lib
	$(MAKE) -C benchmarks

# `make lint` first (about 35 s: W=1, sparse, checkpatch, cppcheck), then
# the suite runs inside the VM (odp.ko loaded, rxe0 up); the runner prints the
# console, pytest's summary line and the timings, and fails on kernel warnings.
# Two-host tests (tests/host) run on the host and boot two VMs each; the
# single-VM suite runs last so that its summary closes the output.
check:
	$(MAKE) deps
	$(MAKE) module rxe lib progs examples bench-progs
	$(MAKE) lint
	@if [ -d tests/host ]; then \
		$(PYTHON) -m pytest -v -rs --confcutdir=tests/host -p no:cacheprovider \
			--junitxml=$(CHECK_OUT)-host.xml tests/host; fi
	$(VM) --timeout $(VM_TIMEOUT) --out $(CHECK_OUT) --env PYTEST_ADDOPTS "$$T" $(VM_ENV) -- \
		$(PYTHON) -m pytest -v -rs -p no:cacheprovider --ignore=tests/host \
			--junitxml=$(CHECK_OUT)/junit.xml tests/

demo:
	$(MAKE) deps
	$(MAKE) module rxe lib examples
	@test -x examples/odp_demo || { echo "make: examples/odp_demo was not built"; exit 1; }
	$(VM) --timeout $(VM_TIMEOUT) --out $(DEMO_OUT) $(VM_ENV) -- examples/odp_demo

# Both fuzzers in one VM, FUZZ_TIME seconds each; every run prints its seed
# (FUZZ_SEED=N replays one).  Logs in build/vm-out/fuzz-<date>/.
FUZZ_TIME	?= 300
FUZZ_SEED	?=
FUZZ_OUT	:= $(CURDIR)/build/vm-out/fuzz-$(RUN_ID)
fuzz:
	$(MAKE) deps
	$(MAKE) module rxe lib progs
	$(VM) --timeout $$(( 2 * $(FUZZ_TIME) + 600 )) --out $(FUZZ_OUT) $(VM_ENV) -- \
		bash tests/fuzz/run-fuzz.sh $(FUZZ_TIME) $(FUZZ_SEED)

# Any command in the VM, e.g. make vm CMD='ibv_devinfo; numactl -H'
vm: module rxe
	$(VM) --timeout $(VM_TIMEOUT) $(VM_ENV) -- bash -c '$(CMD)'

# The benchmarks run in one VM; the report is written on the host from the
# JSON the VM left in BENCH_OUT, also when a benchmark failed (it says so).
# Then the upstream anchor: Debian trixie-backports' 6.18 kernel (its own rxe
# has upstream's ODP; fetch-kernel.sh --upstream, a private apt config in
# $(ODP_CACHE)) boots in a second VM and runs the verbs part (run.py --only
# verbs) into BENCH_OUT-upstream; the report shows both side by side.
# BENCH_UPSTREAM=0 skips it.
BENCH_OUT	:= $(CURDIR)/build/vm-out/bench-$(RUN_ID)
BENCH_TIMEOUT	?= 2400
BENCH_UPSTREAM	?= 1
.PHONY: bench
bench:
	@mkdir -p build && date +%s >build/.bench-start
	$(MAKE) deps
	$(MAKE) module rxe lib examples
	$(MAKE) -C tests/verbs
	$(MAKE) bench-progs
	@rc=0; $(VM) --timeout $(BENCH_TIMEOUT) --out $(BENCH_OUT) -- \
		/usr/bin/python3 benchmarks/run.py || rc=$$?; \
	up=; if [ "$(BENCH_UPSTREAM)" = 1 ]; then \
		kv=$$(bash tests/vm/fetch-kernel.sh --upstream) && \
		{ $(VM) --kver $$kv --stock-rxe --no-module --odp-core none \
			--timeout $(BENCH_TIMEOUT) --out $(BENCH_OUT)-upstream -- \
			/usr/bin/python3 benchmarks/run.py --only verbs || rc=$$?; } || rc=$$?; \
		up="--upstream $(BENCH_OUT)-upstream/bench.json"; fi; \
	if [ -f $(BENCH_OUT)/bench.json ]; then \
		$(PYTHON) benchmarks/report.py --started $$(cat build/.bench-start) $$up \
			$(BENCH_OUT)/bench.json || rc=$$?; \
	else echo "make: no $(BENCH_OUT)/bench.json: Documentation/benchmarks.* not updated"; rc=1; fi; \
	exit $$rc

# The upstream anchor's tests: Debian trixie-backports' 6.18 kernel
# (fetch-kernel.sh --upstream), whose own rxe has upstream's ODP, boots with
# no module of ours (nothing kernel-side is built) and runs the verbs-level
# tests there: rdma-core's packaged suite, tests/verbs' ODP cases, ibv_ops'
# scenarios over pinned and ODP MRs, perftest --odp.  The guest tells the
# tests ODP_RXE=upstream (its rxe reports ODP caps); upstream's known defects
# are xfails that name them, after checking the failure is theirs
# (Documentation/upstream-rxe.md).  Logs in build/vm-out/check-upstream-<date>/.
UPSTREAM_TESTS	:= tests/test_rdma_core_suite.py tests/test_verbs_odp.py \
		   tests/test_rdma_ibv.py tests/test_perftest_odp.py
UPSTREAM_OUT	:= $(CURDIR)/build/vm-out/check-upstream-$(RUN_ID)
UPSTREAM_TIMEOUT ?= 1500
.PHONY: check-upstream
check-upstream:
	$(MAKE) deps
	$(MAKE) lib progs examples
	$(MAKE) -C tests/verbs
	kv=$$(bash tests/vm/fetch-kernel.sh --upstream) && \
	$(VM) --kver $$kv --stock-rxe --no-module --odp-core none \
		--timeout $(UPSTREAM_TIMEOUT) --out $(UPSTREAM_OUT) --env PYTEST_ADDOPTS "$$T" -- \
		$(PYTHON) -m pytest -v -rfEsxX -p no:cacheprovider \
			--junitxml=$(UPSTREAM_OUT)/junit.xml $(UPSTREAM_TESTS)

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
	$(VM) --timeout $$(( $(STRESS_TIME) + 600 )) --out $(STRESS_OUT) $(VM_ENV) -- \
		tests/stress/odp_stress -t $(STRESS_TIME) $(STRESS_ARGS)

lint: kernel
	bash scripts/install-deps.sh --lint
	bash scripts/lint.sh $(KDIR) $(if $(filter 6.1,$(ODP_KSERIES)),,$(KREL))

# --- make install --------------------------------------------------------
# Installs, under DESTDIR (staging) and PREFIX (default /usr/local):
#   $(LIBDIR)/libodp.so.1.0.0 (SONAME libodp.so.1, symbol versions of
#   libodp/libodp.map) + the libodp.so.1 and libodp.so links + libodp.a,
#   $(INCLUDEDIR)/odp.h, $(PKGCONFIGDIR)/libodp.pc, the man pages (with an
#   alias page per call that shares a page, as rdma-core installs them),
#   the tools (odpstat) and examples (odp_demo, odp_rc_pingpong,
#   odp_write_bw) in $(BINDIR), and the kernel modules odp_core.ko, odp.ko
#   and our rdma_rxe.ko in /lib/modules/$(KREL)/updates/ (searched by depmod
#   before the in-tree rxe).  KVER/KDIR default to the VM kernel of the
#   cache; for the running kernel: make install KVER=$$(uname -r)
#   KDIR=/lib/modules/$$(uname -r)/build.  Or let DKMS build the modules for
#   every kernel: make install-userspace install-dkms (dkms.conf).
VERSION		:= $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' dkms.conf)
PREFIX		?= /usr/local
DESTDIR		?=
BINDIR		?= $(PREFIX)/bin
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
MANDIR		?= $(PREFIX)/share/man
PKGCONFIGDIR	?= $(LIBDIR)/pkgconfig
INSTALL_MODDIR	 = /lib/modules/$(KREL)/updates
DKMS_SRCDIR	?= /usr/src/odp-$(VERSION)
INSTALL		?= install
EXAMPLES	:= odp_demo odp_rc_pingpong odp_write_bw
TOOLS		:= tools/odpstat/odpstat
# No ODP rxe on 6.1 (driver/rxe/README.md).
MODULES		 = driver/core/odp_core.ko driver/odp/odp.ko \
		   $(if $(filter 6.1,$(ODP_KSERIES)),,build/rxe/rdma_rxe.ko)
# What DKMS needs to build the modules (make module rxe), no build products.
DKMS_FILES	 = dkms.conf Makefile scripts/fetch-rxe-source.sh \
		   $(wildcard include/uapi/*.h) \
		   $(shell find driver -name '*.[ch]' ! -name '*.mod.c' -o -name Kbuild \
			-o -path 'driver/rxe/*' -type f ! -name '*.o' ! -name '.*' 2>/dev/null)

.PHONY: install install-userspace install-lib install-headers install-man install-tools \
	install-modules install-dkms uninstall

install: install-userspace install-modules

install-userspace: install-lib install-headers install-man install-tools

install-lib: lib
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 0755 libodp/libodp.so.1.0.0 $(DESTDIR)$(LIBDIR)/
	ln -sf libodp.so.1.0.0 $(DESTDIR)$(LIBDIR)/libodp.so.1
	ln -sf libodp.so.1 $(DESTDIR)$(LIBDIR)/libodp.so
	$(INSTALL) -m 0644 libodp/libodp.a $(DESTDIR)$(LIBDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' libodp/libodp.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/libodp.pc
	@if [ -z "$(DESTDIR)" ] && [ -w /etc/ld.so.cache ]; then ldconfig; fi

install-headers:
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR)
	$(INSTALL) -m 0644 include/odp.h $(DESTDIR)$(INCLUDEDIR)/

# A page documents several calls (NAME: odp_reg_mr, odp_dereg_mr); each
# further name gets a one-line ".so man3/<page>.3" page, as rdma-core's
# ibv_dereg_mr.3 is (scripts/man-aliases.sh).
install-man:
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0644 man/*.3 $(DESTDIR)$(MANDIR)/man3/
	bash scripts/man-aliases.sh man | while read -r alias page; do \
		echo ".so man3/$$page" >$(DESTDIR)$(MANDIR)/man3/$$alias; done
	$(INSTALL) -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/

# The examples in examples/ carry the build tree's rpath; the installed ones
# are linked again without it, so they use the installed libodp.
install-tools: lib
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(TOOLS) $(DESTDIR)$(BINDIR)/
	for p in $(EXAMPLES); do \
		$(CC) -std=gnu11 -Wall -Wextra -Werror -Iinclude $(CPPFLAGS) $(or $(CFLAGS),-O2 -g) \
			$(LDFLAGS) -o $(DESTDIR)$(BINDIR)/$$p examples/$$p.c -Llibodp -lodp || exit 1; \
	done

install-modules: module rxe
	$(INSTALL) -d $(DESTDIR)$(INSTALL_MODDIR)
	$(INSTALL) -m 0644 $(MODULES) $(DESTDIR)$(INSTALL_MODDIR)/
	@if [ -z "$(DESTDIR)" ]; then echo "depmod -a $(KREL)"; depmod -a $(KREL); \
	 else echo "make: DESTDIR set: run depmod -a $(KREL) on the target"; fi

# The source DKMS builds from; then: dkms install odp/$(VERSION) [-k <kernel>]
install-dkms:
	rm -rf $(DESTDIR)$(DKMS_SRCDIR)
	$(INSTALL) -d $(DESTDIR)$(DKMS_SRCDIR)
	cp --parents $(DKMS_FILES) $(DESTDIR)$(DKMS_SRCDIR)/
	$(INSTALL) -d $(DESTDIR)/usr/share/dkms/modules_to_force_install
	echo odp_version-override >$(DESTDIR)/usr/share/dkms/modules_to_force_install/odp

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libodp.so.1.0.0 $(DESTDIR)$(LIBDIR)/libodp.so.1 \
	      $(DESTDIR)$(LIBDIR)/libodp.so $(DESTDIR)$(LIBDIR)/libodp.a \
	      $(DESTDIR)$(PKGCONFIGDIR)/libodp.pc $(DESTDIR)$(INCLUDEDIR)/odp.h \
	      $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(TOOLS)) $(EXAMPLES)) \
	      $(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(wildcard man/*.3))) \
	      $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(wildcard man/*.8))) \
	      $(addprefix $(DESTDIR)$(INSTALL_MODDIR)/,$(notdir $(MODULES))) \
	      $(DESTDIR)/usr/share/dkms/modules_to_force_install/odp
	bash scripts/man-aliases.sh man | while read -r alias page; do \
		rm -f $(DESTDIR)$(MANDIR)/man3/$$alias; done
	rm -rf $(DESTDIR)$(DKMS_SRCDIR)

clean:
	@if [ -n "$(KREL)" ] && [ -d "$(KDIR)" ]; then \
		$(MAKE) -C $(KDIR) M=$(CURDIR)/$(MODDIR) clean; fi
	rm -f driver/*/*.o driver/*/.*.o driver/*/*.ko driver/.*.cmd driver/*/.*.cmd \
		driver/*/*.mod driver/*/*.mod.c driver/Module.symvers driver/modules.order \
		driver/*/modules.order
	-@[ ! -f libodp/Makefile ] || $(MAKE) -C libodp clean
	-@[ ! -f tests/progs/Makefile ] || $(MAKE) -C tests/progs clean
	-@[ ! -f tests/stress/Makefile ] || $(MAKE) -C tests/stress clean
	-@[ ! -f examples/Makefile ] || $(MAKE) -C examples clean
	-@[ ! -f tests/fuzz/Makefile ] || $(MAKE) -C tests/fuzz clean
	-@[ ! -f tests/rdma/Makefile ] || $(MAKE) -C tests/rdma clean
	-@[ ! -f tests/verbs/Makefile ] || $(MAKE) -C tests/verbs clean
	-@[ ! -f benchmarks/Makefile ] || $(MAKE) -C benchmarks clean
	rm -rf build
