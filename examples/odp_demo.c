// SPDX-License-Identifier: MIT
/*
 * odp_demo: on-demand paging in one sitting.
 *
 * Registers 64 pages the process has never touched, lets the "device" (the
 * odp driver's engine) read and write them through its translation cache,
 * throws the pages away with madvise(MADV_DONTNEED) behind its back, and
 * shows with the driver's counters that it faulted, was invalidated and
 * faulted again - without ever pinning a page.
 *
 * Exit status: 0 if every expectation held, 1 otherwise (it doubles as a
 * smoke test). Usage: odp_demo [device path, default /dev/odp]
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <odp.h>

#define NPAGES	64

static struct odp_mr *mr;
static uint64_t now[ODP_STAT_MAX], before[ODP_STAT_MAX];

static void fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fprintf(stderr, "odp_demo: FAILED: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

#define expect(cond, ...)	do { if (!(cond)) fail(__VA_ARGS__); } while (0)

/* Take a new snapshot of the MR's counters; the old one goes to before[]. */
static void snap(void)
{
	int n;

	memcpy(before, now, sizeof(now));
	n = odp_query_mr_stats(mr, now, ODP_STAT_MAX);
	expect(n == ODP_STAT_MAX, "odp_query_mr_stats: %d counters (%s)", n,
	       n < 0 ? strerror(errno) : "expected all");
}

#define VAL(s)		now[ODP_STAT_##s]
#define DELTA(s)	(now[ODP_STAT_##s] - before[ODP_STAT_##s])

static int all_bytes(const unsigned char *p, size_t len, unsigned char c)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

static unsigned int resident_pages(void *addr, size_t len, size_t page)
{
	unsigned char vec[NPAGES];
	unsigned int n = 0;

	expect(!mincore(addr, len, vec), "mincore: %s", strerror(errno));
	for (size_t i = 0; i < len / page; i++)
		n += vec[i] & 1;
	return n;
}

int main(int argc, char **argv)
{
	struct odp_device_attr attr;
	struct odp_context *ctx;
	struct odp_pd *pd;
	struct odp_sge sge;
	unsigned char *mem, *buf, *pattern;
	size_t page, len;
	unsigned int resident;
	uint64_t iova;
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);	/* keep the story and errors in order */
	printf("odp_demo: on-demand paging, step by step\n");

	ctx = odp_open_device(argc > 1 ? argv[1] : NULL);
	expect(ctx, "odp_open_device: %s (is odp.ko loaded?)", strerror(errno));
	err = odp_query_device(ctx, &attr);
	expect(!err, "odp_query_device: %s", strerror(err));
	page = attr.page_size;
	expect(page == (size_t)sysconf(_SC_PAGESIZE), "device page size %zu",
	       page);
	printf(" 1. opened the device: ABI %u, page size %zu, %u counters\n",
	       attr.abi_version, page, attr.num_stats);

	pd = odp_alloc_pd(ctx);
	expect(pd, "odp_alloc_pd: %s", strerror(errno));

	/* 64 fresh anonymous pages: no page exists behind them yet. */
	len = NPAGES * page;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	expect(mem != MAP_FAILED, "mmap: %s", strerror(errno));
	buf = malloc(len);
	pattern = malloc(len);
	expect(buf && pattern, "out of memory");

	mr = odp_reg_mr(pd, mem, len, ODP_ACCESS_LOCAL_WRITE |
			ODP_ACCESS_REMOTE_READ | ODP_ACCESS_REMOTE_WRITE |
			ODP_ACCESS_ON_DEMAND);
	expect(mr, "odp_reg_mr: %s", strerror(errno));
	iova = (uintptr_t)mem;
	snap();
	resident = resident_pages(mem, len, page);
	printf(" 2. registered %d untouched pages (lkey 0x%x): "
	       "pages_mapped=%llu faults=%llu, CPU-resident pages=%u\n",
	       NPAGES, mr->lkey, (unsigned long long)VAL(PAGES_MAPPED),
	       (unsigned long long)VAL(FAULTS), resident);
	expect(VAL(PAGES_MAPPED) == 0 && VAL(FAULTS) == 0 && resident == 0,
	       "registration faulted pages in (pages_mapped=%llu, "
	       "resident=%u)", (unsigned long long)VAL(PAGES_MAPPED),
	       resident);

	/* First device touch: every page faults; untouched anon reads zero. */
	memset(buf, 0xa5, len);
	err = odp_mr_read(mr, iova, buf, len);
	expect(!err, "odp_mr_read: %s", strerror(err));
	expect(all_bytes(buf, len, 0), "the device read non-zero data from "
	       "untouched memory");
	snap();
	printf(" 3. device read %zu KiB: faults=%llu pages_faulted=%llu "
	       "pages_mapped=%llu; the data is all zero (the zero page)\n",
	       len / 1024, (unsigned long long)VAL(FAULTS),
	       (unsigned long long)VAL(PAGES_FAULTED),
	       (unsigned long long)VAL(PAGES_MAPPED));
	expect(VAL(FAULTS) >= 1 && VAL(PAGES_FAULTED) >= NPAGES,
	       "the first read did not fault the %d pages", NPAGES);
	expect(VAL(PAGES_MAPPED) == NPAGES, "pages_mapped=%llu, expected %d",
	       (unsigned long long)VAL(PAGES_MAPPED), NPAGES);

	/*
	 * The device writes; the CPU must see it in the process's memory. The
	 * read mapped the shared zero page: writing needs a write fault, whose
	 * copy-on-write invalidates those read-only entries page by page.
	 */
	for (size_t i = 0; i < len; i++)
		pattern[i] = (unsigned char)(i / page + i % 251 + 1);
	err = odp_mr_write(mr, iova, pattern, len);
	expect(!err, "odp_mr_write: %s", strerror(err));
	expect(!memcmp(mem, pattern, len),
	       "the CPU does not see what the device wrote");
	snap();
	printf(" 4. device wrote a pattern: +%llu faults, +%llu invalidations; "
	       "the CPU reads the pattern in all %d pages\n", (unsigned long long)DELTA(FAULTS),
	       (unsigned long long)DELTA(INVALIDATIONS), NPAGES);

	/* The kernel drops the pages behind the device's back. */
	expect(!madvise(mem, len, MADV_DONTNEED), "madvise: %s",
	       strerror(errno));
	snap();
	printf(" 5. madvise(MADV_DONTNEED): +%llu invalidations, "
	       "+%llu pages_invalidated, pages_mapped=%llu\n",
	       (unsigned long long)DELTA(INVALIDATIONS),
	       (unsigned long long)DELTA(PAGES_INVALIDATED),
	       (unsigned long long)VAL(PAGES_MAPPED));
	expect(DELTA(INVALIDATIONS) >= 1 && DELTA(PAGES_INVALIDATED) >= NPAGES,
	       "MADV_DONTNEED did not invalidate the %d pages", NPAGES);
	expect(VAL(PAGES_MAPPED) == 0, "pages_mapped=%llu after MADV_DONTNEED",
	       (unsigned long long)VAL(PAGES_MAPPED));

	/* The device never saw stale pages: it faults again and reads zero. */
	memset(buf, 0xa5, len);
	err = odp_mr_read(mr, iova, buf, len);
	expect(!err, "odp_mr_read: %s", strerror(err));
	expect(all_bytes(buf, len, 0), "the device read stale data after "
	       "MADV_DONTNEED");
	snap();
	printf(" 6. device read again: +%llu faults, +%llu pages_faulted; "
	       "the data is zero again (the pattern went with the pages)\n",
	       (unsigned long long)DELTA(FAULTS),
	       (unsigned long long)DELTA(PAGES_FAULTED));
	expect(DELTA(FAULTS) >= 1 && DELTA(PAGES_FAULTED) >= NPAGES,
	       "the second read did not fault the pages again");

	/* Drop them once more, then prefetch for write, synchronously. */
	expect(!madvise(mem, len, MADV_DONTNEED), "madvise: %s",
	       strerror(errno));
	snap();
	expect(VAL(PAGES_MAPPED) == 0, "pages_mapped=%llu after MADV_DONTNEED",
	       (unsigned long long)VAL(PAGES_MAPPED));
	sge.addr = iova;
	sge.length = (uint32_t)len;
	sge.lkey = mr->lkey;
	err = odp_advise_mr(pd, ODP_ADVISE_PREFETCH_WRITE,
			    ODP_ADVISE_FLAG_FLUSH, &sge, 1);
	expect(!err, "odp_advise_mr: %s", strerror(err));
	snap();
	resident = resident_pages(mem, len, page);
	printf(" 7. MADV_DONTNEED again, then prefetch (PREFETCH_WRITE|FLUSH): "
	       "+%llu prefetches, pages_mapped 0 -> %llu before any access; "
	       "CPU-resident pages=%u\n", (unsigned long long)DELTA(PREFETCHES),
	       (unsigned long long)VAL(PAGES_MAPPED), resident);
	expect(DELTA(PREFETCHES) >= 1, "the prefetch was not counted");
	expect(VAL(PAGES_MAPPED) == NPAGES, "pages_mapped=%llu after prefetch",
	       (unsigned long long)VAL(PAGES_MAPPED));
	expect(resident == NPAGES, "a write prefetch left %u of %d pages "
	       "resident", resident, NPAGES);

	printf("    MR counters:");
	for (unsigned int i = 0; i < ODP_STAT_MAX; i++)
		printf("%s %s=%llu", i % 5 ? "" : "\n     ", odp_stat_name(i),
		       (unsigned long long)now[i]);
	printf("\n");

	err = odp_dereg_mr(mr);
	expect(!err, "odp_dereg_mr: %s", strerror(err));
	err = odp_dealloc_pd(pd);
	expect(!err, "odp_dealloc_pd: %s", strerror(err));
	err = odp_close_device(ctx);
	expect(!err, "odp_close_device: %s", strerror(err));
	munmap(mem, len);
	free(buf);
	free(pattern);
	printf(" 8. deregistered the MR, freed the PD, closed the device\n"
	       "odp_demo: PASS\n");
	return 0;
}
