// SPDX-License-Identifier: MIT
/*
 * The ODP core's own behaviour, seen through odp.ko's MR access ioctls:
 *
 * fault_nomem     device read and write of fresh pages while every
 *                 non-sleeping allocation of this thread from the xarray's
 *                 node cache fails (failslab, set up by test_core.py):
 *                 the translation entries still go in.
 * zap_latency     munmap of a 1.5 GiB MR of 4 KiB pages, all faulted, while a
 *                 SCHED_FIFO thread on the same CPU measures how late its
 *                 1 ms timer wakes: the zap must let it run.  First the same
 *                 munmap of memory no MR covers: the kernel's own lateness,
 *                 the baseline (on the debug kernel, freeing the pages alone
 *                 keeps the CPU some 40-60 ms at a time).
 * trace_workload  a fixed sequence of faults, invalidations and a prefetch
 *                 whose tracepoints test_trace.py checks; prints the
 *                 addresses.
 * trace_inflight  an invalidation that waits for a device access in flight
 *                 (retry hook "arm_inflight"), for the same.
 * fast_inflight   the same for the fast path of a one-page access (hook
 *                 "arm_fast": it spins in its CPU's access slot): the
 *                 invalidation waits, the read returns the data from before.
 * zap_shape       MADV_DONTNEED of 3001 of 5000 faulted 4 KiB pages, from an
 *                 odd page on, across the table's 512-page blocks:
 *                 exactly those entries go, the neighbours stay (read without
 *                 a fault); clear_refs soft-dirty then write-protects only
 *                 the writable entries and keeps every entry for reads.
 * zap_shape_thp   the same with 64 4 KiB pages next to two THPs: soft-dirty
 *                 keeps the huge entries for reads, MADV_DONTNEED of one
 *                 whole THP leaves the other and the small pages.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

/* ---- fault_nomem ------------------------------------------------------ */

/* This thread's failslab switch (task-filter=Y). */
static void make_it_fail(int on)
{
	CHECK(!write_file("/proc/thread-self/make-it-fail", on ? "1" : "0"),
	      "/proc/thread-self/make-it-fail: %s", strerror(errno));
}

static int fault_nomem(void)
{
	size_t npages = 64, len = npages * page_size;
	struct stats before, d;
	struct tctx t;
	struct odp_mr *mr;
	char *buf, *out, *in;
	int r_read, r_write;

	if (access("/proc/thread-self/make-it-fail", W_OK))
		SKIP("no /proc/thread-self/make-it-fail (kernel without FAULT_INJECTION)");
	t_open(&t);
	/* Fresh pages far from anything registered: the xarray needs nodes. */
	buf = map_anon(2 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	out = malloc(len);
	in = malloc(len);
	CHECK(out && in, "malloc");
	fill_pattern(buf, len, 31);
	fill_pattern(in, len, 32);
	mr = reg_mr(&t, buf, 2 * len, ACC_RW);
	mr_stats(mr, &before);

	make_it_fail(1);
	r_read = dev_read(mr, buf, out, len);
	r_write = dev_write(mr, buf + len, in, len);
	make_it_fail(0);

	printf("read=%d write=%d\n", r_read, r_write);
	mr_delta(mr, &before, &d, "mr");
	EXPECT_OK(r_read);
	EXPECT_OK(r_write);
	check_pattern(out, len, 31, "device read");
	check_pattern(buf + len, len, 32, "CPU view of the device write");
	EXPECT_U64(D(d, PAGES_FAULTED), ==, 2 * npages, "pages_faulted");
	EXPECT_U64(D(d, FAULT_ERRORS), ==, 0, "fault_errors");

	EXPECT_OK(odp_dereg_mr(mr));
	free(out);
	free(in);
	unmap(buf, 2 * len);
	t_close(&t);
	return T_PASS;
}

/* ---- zap_latency ------------------------------------------------------ */

#define ZAP_BYTES	(3UL << 29)
#define TICK_NS		1000000L

static atomic_bool ticker_stop, ticker_ready;
static atomic_long ticker_max_ns, ticker_ticks;

static long ts_ns(const struct timespec *t)
{
	return t->tv_sec * 1000000000L + t->tv_nsec;
}

static void pin_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	CHECK(!sched_setaffinity(0, sizeof(set), &set), "sched_setaffinity: %s",
	      strerror(errno));
}

/* Sleep TICK_NS at a time; record the worst lateness of a wake-up. */
static void *ticker(void *arg)
{
	struct timespec next, now;

	(void)arg;
	pin_cpu0();
	clock_gettime(CLOCK_MONOTONIC, &next);
	atomic_store(&ticker_ready, true);
	while (!atomic_load(&ticker_stop)) {
		long late;

		next.tv_nsec += TICK_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		late = ts_ns(&now) - ts_ns(&next);
		if (late > atomic_load(&ticker_max_ns))
			atomic_store(&ticker_max_ns, late);
		atomic_fetch_add(&ticker_ticks, 1);
		/* Behind by more than a tick: start again from now. */
		if (late > TICK_NS)
			next = now;
	}
	return NULL;
}

/* 1.5 GiB of 4 KiB pages, each written: faulted, one entry per page. */
static char *zap_map(void)
{
	char *buf = map_anon(ZAP_BYTES, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_NORESERVE);

	xmadvise(buf, ZAP_BYTES, MADV_NOHUGEPAGE);
	memset(buf, 1, ZAP_BYTES);
	return buf;
}

/* munmap @buf with the ticker running: its ms, and the ticker's worst ms. */
static void zap_unmap_timed(char *buf, long *munmap_ms, long *late_ms)
{
	struct timespec t0, t1;

	atomic_store(&ticker_max_ns, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unmap(buf, ZAP_BYTES);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	usleep(20000);
	*munmap_ms = (ts_ns(&t1) - ts_ns(&t0)) / 1000000;
	*late_ms = atomic_load(&ticker_max_ns) / 1000000;
}

static int zap_latency(void)
{
	struct sched_param sp = { .sched_priority = 50 };
	long warm_max, base_ms, base_late, ms, late;
	struct stats before, d;
	struct odp_sge sge;
	pthread_attr_t attr;
	struct odp_mr *mr;
	pthread_t thr;
	struct tctx t;
	char *buf;
	int ret;

	t_open(&t);
	pin_cpu0();
	pthread_attr_init(&attr);
	pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
	pthread_attr_setschedparam(&attr, &sp);
	ret = pthread_create(&thr, &attr, ticker, NULL);
	if (ret == EPERM)
		SKIP("SCHED_FIFO not allowed");
	CHECK(!ret, "pthread_create: %s", strerror(ret));
	while (!atomic_load(&ticker_ready))
		usleep(1000);
	/* The ticker's own noise on this VM, before any zap. */
	usleep(200000);
	warm_max = atomic_exchange(&ticker_max_ns, 0);

	/* The baseline: the kernel's own unmap of the same memory. */
	zap_unmap_timed(zap_map(), &base_ms, &base_late);

	buf = zap_map();
	mr = reg_mr(&t, buf, ZAP_BYTES, ACC_RW);
	mr_stats(mr, &before);
	sge.addr = (uintptr_t)buf;
	sge.length = ZAP_BYTES;
	sge.lkey = mr->lkey;
	EXPECT_OK(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH_WRITE,
				ODP_ADVISE_FLAG_FLUSH, &sge, 1));
	mr_delta(mr, &before, &d, "mr");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, ZAP_BYTES / page_size, "pages_mapped");

	zap_unmap_timed(buf, &ms, &late);	/* the MR's notifier zaps it all */
	atomic_store(&ticker_stop, true);
	pthread_join(thr, NULL);

	mr_delta(mr, &before, &d, "mr");
	printf("munmap_ms=%ld max_late_ms=%ld base_munmap_ms=%ld "
	       "base_max_late_ms=%ld warm_max_late_ms=%ld ticks=%ld\n", ms,
	       late, base_ms, base_late, warm_max / 1000000,
	       atomic_load(&ticker_ticks));
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, ZAP_BYTES / page_size,
		   "pages_invalidated");
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* ---- trace_workload --------------------------------------------------- */

/*
 * 16 pages: device read of pages 0-7 (one fault), MADV_DONTNEED of pages
 * 2-3 (an invalidation, event clear, 2 pages), munmap of page 6 (event
 * unmap, 1 page), a write prefetch of pages 8-15, mprotect(PROT_READ) of
 * pages 8-9 (event protection_vma: both entries go), dereg.
 */
static int trace_workload(void)
{
	size_t ps = page_size, len = 16 * ps;
	struct odp_sge sge;
	struct odp_mr *mr;
	struct tctx t;
	char *buf, *out;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	xmadvise(buf, len, MADV_NOHUGEPAGE);
	out = malloc(len);
	CHECK(out, "malloc");
	fill_pattern(buf, len, 5);
	mr = reg_mr(&t, buf, len, ACC_RW);
	printf("addr=0x%lx len=%zu page_size=%zu\n", (unsigned long)buf, len, ps);

	EXPECT_OK(dev_read(mr, buf, out, 8 * ps));
	xmadvise(buf + 2 * ps, 2 * ps, MADV_DONTNEED);
	unmap(buf + 6 * ps, ps);
	sge.addr = (uintptr_t)(buf + 8 * ps);
	sge.length = 8 * ps;
	sge.lkey = mr->lkey;
	EXPECT_OK(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH_WRITE,
				ODP_ADVISE_FLAG_FLUSH, &sge, 1));
	xmprotect(buf + 8 * ps, 2 * ps, PROT_READ);

	EXPECT_OK(odp_dereg_mr(mr));
	free(out);
	t_close(&t);
	return T_PASS;
}

/*
 * A one-page device read parked by the retry hook armed with @arm:
 * "arm_inflight" parks it on the in-flight list, "arm_fast" in its CPU's
 * access slot on the fast path (spinning, preemption off).  MADV_DONTNEED
 * of its page must wait for it, the read returns what the page held before,
 * and the page reads zero afterwards.  The hook is released 200 ms after
 * the read parked.  Prints the address and how long the madvise took.
 */
struct parked {
	struct odp_mr	*mr;
	char		*addr;
	int		ret;
};

static void *parked_read(void *arg)
{
	struct parked *p = arg;
	char out[64];

	p->ret = dev_read(p->mr, p->addr, out, sizeof(out));
	if (!p->ret)
		check_pattern(out, sizeof(out), 9, "the parked read");
	return NULL;
}

static void *release_later(void *arg)
{
	(void)arg;
	usleep(200000);
	write_file(DEBUGFS_RETRY_HOOK, "release");
	return NULL;
}

static int parked_madvise(const char *arm)
{
	size_t len = 4 * page_size;
	struct parked p;
	pthread_t reader, releaser;
	struct tctx t;
	char state[32];
	uint64_t t0;

	t_open(&t);
	p.addr = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(p.addr, len, 9);
	p.mr = reg_mr(&t, p.addr, len, ACC_RW);
	printf("addr=0x%lx len=%zu\n", (unsigned long)p.addr, len);
	/*
	 * Fault first, so that the parked access is the lookup itself (and
	 * only a present entry takes the fast path).
	 */
	EXPECT_OK(dev_read(p.mr, p.addr, state, sizeof(state)));
	CHECK(!write_file(DEBUGFS_RETRY_HOOK, arm), "%s: %s", arm,
	      strerror(errno));
	CHECK(!pthread_create(&reader, NULL, parked_read, &p), "pthread_create");
	t0 = now_ms();
	do {
		usleep(1000);
		CHECK(read_file(DEBUGFS_RETRY_HOOK, state, sizeof(state)) >= 0,
		      "read retry_hook");
		CHECK(now_ms() - t0 < 5000, "the read never parked (hook %s)", state);
	} while (strcmp(state, "parked"));
	CHECK(!pthread_create(&releaser, NULL, release_later, NULL),
	      "pthread_create");
	t0 = now_ms();
	xmadvise(p.addr, page_size, MADV_DONTNEED);	/* waits for the read */
	printf("madvise_ms=%llu\n", (unsigned long long)(now_ms() - t0));
	pthread_join(releaser, NULL);
	pthread_join(reader, NULL);
	EXPECT_OK(p.ret);
	check_bytes(p.addr, page_size, 0, "the page after MADV_DONTNEED");
	EXPECT_OK(odp_dereg_mr(p.mr));
	t_close(&t);
	return T_PASS;
}

static int trace_inflight(void)
{
	return parked_madvise("arm_inflight");
}

static int fast_inflight(void)
{
	return parked_madvise("arm_fast");
}

/* ---- zap_shape --------------------------------------------------------- */

#define SHAPE_ALIGN	(16UL << 20)	/* 4096 pages: a block of 64 leaves */
#define SHAPE_SKEW	7UL		/* the MR starts this many pages in */
#define SHAPE_PAGES	5000UL		/* pages of the MR */
#define SHAPE_CUT	61UL		/* the zap starts this many pages in */
#define SHAPE_CUT_PAGES	3001UL		/* and drops this many */
#define SHAPE_HPAGE	(2UL << 20)

/* Is the page at addr soft-dirty (/proc/self/pagemap bit 55)? */
static int soft_dirty(const void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		SKIP("/proc/self/pagemap: %s", strerror(errno));
	if (pread(fd, &e, sizeof(e), (uintptr_t)addr / page_size * sizeof(e)) !=
	    sizeof(e))
		FAIL("pread pagemap: %s", strerror(errno));
	close(fd);
	return (e >> 55) & 1;
}

/* clear_refs soft-dirty: an invalidation that only write-protects. */
static void clear_soft_dirty(const void *probe)
{
	if (!soft_dirty(probe))
		SKIP("no soft-dirty tracking in this kernel (bit 55 clear after a write)");
	if (write_file("/proc/self/clear_refs", "4"))
		SKIP("cannot write /proc/self/clear_refs");
}

static int zap_shape(void)
{
	size_t ps = page_size, len = SHAPE_PAGES * ps;
	size_t cut = SHAPE_CUT * ps, cut_len = SHAPE_CUT_PAGES * ps;
	size_t tail = cut + cut_len;
	struct stats s, d;
	struct odp_mr *mr;
	struct tctx t;
	char *base, *buf, *out;

	t_open(&t);
	base = map_anon_aligned((SHAPE_SKEW + SHAPE_PAGES) * ps, SHAPE_ALIGN, 0);
	xmadvise(base, (SHAPE_SKEW + SHAPE_PAGES) * ps, MADV_NOHUGEPAGE);
	buf = base + SHAPE_SKEW * ps;
	fill_pattern(buf, len, 51);
	out = malloc(len);
	CHECK(out, "malloc");
	mr = reg_mr(&t, buf, len, ACC_RW);
	mr_stats(mr, &s);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 51, "device read");
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, SHAPE_PAGES, "pages_mapped");

	xmadvise(buf + cut, cut_len, MADV_DONTNEED);
	mr_delta(mr, &s, &d, "dontneed");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, SHAPE_CUT_PAGES, "pages_invalidated");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, SHAPE_PAGES - SHAPE_CUT_PAGES, "pages_mapped");

	/* The neighbours on both sides are still cached. */
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, cut));
	check_pattern(out, cut, 51, "pages before the zap");
	EXPECT_OK(dev_read(mr, buf + tail, out + tail, len - tail));
	check_pattern_off(out + tail, len - tail, 51, tail, "pages after the zap");
	mr_delta(mr, &s, &d, "neighbours");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults reading the neighbours");

	/* The zapped pages come back as the zero page: read-only entries. */
	EXPECT_OK(dev_read(mr, buf + cut, out + cut, cut_len));
	check_bytes(out + cut, cut_len, 0, "zapped pages");
	mr_delta(mr, &s, &d, "reread");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, SHAPE_PAGES, "pages_mapped");

	clear_soft_dirty(buf);
	mr_delta(mr, &s, &d, "clear_refs");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, SHAPE_PAGES - SHAPE_CUT_PAGES,
		   "pages_invalidated: only the writable entries are protected");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, SHAPE_PAGES, "pages_mapped: every entry kept");

	memset(out, 0xaa, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, cut, 51, "pages before the zap, after clear_refs");
	check_bytes(out + cut, cut_len, 0, "zapped pages, after clear_refs");
	check_pattern_off(out + tail, len - tail, 51, tail,
			  "pages after the zap, after clear_refs");
	mr_delta(mr, &s, &d, "read_protected");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults reading write-protected entries");

	EXPECT_OK(dev_write(mr, buf + tail + 5 * ps, "w", 1));
	mr_delta(mr, &s, &d, "write_protected");
	EXPECT_U64(D(d, FAULTS), >=, 1, "faults: a write after clear_refs");
	CHECK(buf[tail + 5 * ps] == 'w', "CPU view of the device write");

	EXPECT_OK(odp_dereg_mr(mr));
	unmap(base, (SHAPE_SKEW + SHAPE_PAGES) * ps);
	free(out);
	t_close(&t);
	return T_PASS;
}

static int zap_shape_thp(void)
{
	size_t ps = page_size, small = 64 * ps, len = small + 2 * SHAPE_HPAGE;
	uint64_t npages = len / ps, hpages = SHAPE_HPAGE / ps;
	struct stats s, d;
	struct odp_mr *mr;
	struct tctx t;
	char *base, *buf, *out;
	long kb;

	if (!thp_available())
		SKIP("THP unavailable (transparent_hugepage/enabled is never or missing)");
	t_open(&t);
	base = map_anon_aligned(3 * SHAPE_HPAGE, SHAPE_HPAGE, 0);
	xmadvise(base, SHAPE_HPAGE, MADV_NOHUGEPAGE);
	xmadvise(base + SHAPE_HPAGE, 2 * SHAPE_HPAGE, MADV_HUGEPAGE);
	buf = base + SHAPE_HPAGE - small;
	fill_pattern(buf, len, 52);
	kb = smaps_anon_huge_kb(base + SHAPE_HPAGE);
	printf("anon_huge_kb=%ld\n", kb);
	if (kb < 4096)
		SKIP("the kernel gave no THPs for an aligned MADV_HUGEPAGE region (AnonHugePages %ld kB)", kb);
	out = malloc(len);
	CHECK(out, "malloc");
	mr = reg_mr(&t, buf, len, ACC_RW);
	mr_stats(mr, &s);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 52, "device read");
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, npages, "pages_mapped");

	clear_soft_dirty(buf);
	mr_delta(mr, &s, &d, "clear_refs");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, npages,
		   "pages_invalidated: every entry was writable");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, npages, "pages_mapped: every entry kept");
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 52, "device read after clear_refs");
	mr_delta(mr, &s, &d, "read_protected");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults reading write-protected entries");

	/* The first THP, whole. */
	xmadvise(buf + small, SHAPE_HPAGE, MADV_DONTNEED);
	mr_delta(mr, &s, &d, "dontneed");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, hpages, "pages_invalidated");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, npages - hpages, "pages_mapped");
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, small));
	check_pattern(out, small, 52, "small pages before the THPs");
	EXPECT_OK(dev_read(mr, buf + small + SHAPE_HPAGE, out, SHAPE_HPAGE));
	check_pattern_off(out, SHAPE_HPAGE, 52, small + SHAPE_HPAGE, "the other THP");
	mr_delta(mr, &s, &d, "neighbours");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults reading the neighbours");

	EXPECT_OK(odp_dereg_mr(mr));
	unmap(base, 3 * SHAPE_HPAGE);
	free(out);
	t_close(&t);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "fault_nomem",	fault_nomem },
	{ "zap_latency",	zap_latency },
	{ "trace_workload",	trace_workload },
	{ "trace_inflight",	trace_inflight },
	{ "fast_inflight",	fast_inflight },
	{ "zap_shape",		zap_shape },
	{ "zap_shape_thp",	zap_shape_thp },
};

TEST_MAIN(tests)
