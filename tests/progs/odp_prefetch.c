// SPDX-License-Identifier: MIT
/*
 * odp_advise_mr(): PREFETCH, PREFETCH_WRITE, PREFETCH_NO_FAULT, each with
 * FLUSH (synchronous) and without (queued; we poll the counters), partial
 * and multi-SGE requests, and the errors of the fault itself.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"

#define NPAGES		16
#define ASYNC_MS	15000

static struct odp_sge sge_of(struct odp_mr *mr, void *addr, size_t len)
{
	struct odp_sge s = {
		.addr = (uintptr_t)addr,
		.length = (uint32_t)len,
		.lkey = mr->lkey,
	};
	return s;
}

/* Pages of [addr, addr+n pages) resident in the CPU page tables. */
static int resident_pages(void *addr, int n)
{
	unsigned char vec[NPAGES];
	int i, r = 0;

	if (mincore(addr, n * page_size, vec))
		FAIL("mincore: %s", strerror(errno));
	for (i = 0; i < n; i++)
		r += vec[i] & 1;
	return r;
}

static void prefetch_read(int flush)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	struct odp_sge sge;
	char *buf, *out;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(buf, len, 60);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	mr_stats(mr, &s);

	sge = sge_of(mr, buf, len);
	EXPECT_OK(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH,
				flush ? ODP_ADVISE_FLAG_FLUSH : 0, &sge, 1));
	if (!flush) {
		struct stats w;

		/* Queued: poll until the pages show up and the request counted. */
		wait_mr_stat(mr, ODP_STAT_PAGES_MAPPED, NPAGES, ASYNC_MS, &w);
		wait_mr_stat(mr, ODP_STAT_PREFETCHES, 1, ASYNC_MS, &w);
	}
	mr_delta(mr, &s, &d, "prefetch");
	EXPECT_U64(D(d, PREFETCHES), ==, 1, "prefetches");
	EXPECT_U64(D(d, PAGES_FAULTED), ==, NPAGES, "pages_faulted by the prefetch");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped after the prefetch");
	EXPECT_U64(D(d, ACCESSES), ==, 0, "accesses (a prefetch moves no data)");

	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 60, "device read after the prefetch");
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults of a read after PREFETCH");
	EXPECT_U64(D(d, PAGES_FAULTED), ==, 0, "pages_faulted of a read after PREFETCH");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
}

static void prefetch_write(int flush)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	struct odp_sge sge;
	char *buf, *in;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	in = malloc(len);
	mr_stats(mr, &s);

	sge = sge_of(mr, buf, len);
	EXPECT_OK(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH_WRITE,
				flush ? ODP_ADVISE_FLAG_FLUSH : 0, &sge, 1));
	if (!flush) {
		struct stats w;

		/* Queued: poll until the pages show up and the request counted. */
		wait_mr_stat(mr, ODP_STAT_PAGES_MAPPED, NPAGES, ASYNC_MS, &w);
		wait_mr_stat(mr, ODP_STAT_PREFETCHES, 1, ASYNC_MS, &w);
	}
	mr_delta(mr, &s, &d, "prefetch");
	EXPECT_U64(D(d, PREFETCHES), ==, 1, "prefetches");
	EXPECT_U64(D(d, PAGES_FAULTED), ==, NPAGES, "pages_faulted by PREFETCH_WRITE");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped after PREFETCH_WRITE");
	EXPECT_U64(resident_pages(buf, NPAGES), ==, NPAGES,
		   "CPU-resident pages after PREFETCH_WRITE of untouched memory");

	fill_pattern(in, len, 61);
	EXPECT_OK(dev_write(mr, buf, in, len));
	check_pattern(buf, len, 61, "CPU view of the device write after PREFETCH_WRITE");
	mr_delta(mr, &s, &d, "write");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults of a write after PREFETCH_WRITE");
	EXPECT_U64(D(d, INVALIDATIONS), ==, 0, "invalidations");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
}

static void prefetch_no_fault(int flush)
{
	size_t len = NPAGES * page_size, half = len / 2;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	struct odp_sge sge;
	char *buf, *out;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(buf, half, 62);		/* touch pages 0-7 only */
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	EXPECT_U64(resident_pages(buf, NPAGES), ==, NPAGES / 2, "resident pages before");
	mr_stats(mr, &s);

	sge = sge_of(mr, buf, len);
	EXPECT_OK(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH_NO_FAULT,
				flush ? ODP_ADVISE_FLAG_FLUSH : 0, &sge, 1));
	if (!flush) {
		struct stats w;

		/* Queued: poll until the pages show up and the request counted. */
		wait_mr_stat(mr, ODP_STAT_PAGES_MAPPED, NPAGES / 2, ASYNC_MS, &w);
		wait_mr_stat(mr, ODP_STAT_PREFETCHES, 1, ASYNC_MS, &w);
	}
	mr_delta(mr, &s, &d, "prefetch");
	EXPECT_U64(D(d, PREFETCHES), ==, 1, "prefetches");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES / 2,
		   "pages_mapped after NO_FAULT with half the pages resident");
	EXPECT_U64(D(d, FAULT_ERRORS), ==, 0, "fault_errors");
	EXPECT_U64(resident_pages(buf, NPAGES), ==, NPAGES / 2,
		   "resident pages after NO_FAULT (it must not fault)");

	EXPECT_OK(dev_read(mr, buf, out, half));
	check_pattern(out, half, 62, "device read of the resident half");
	mr_delta(mr, &s, &d, "read_resident");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults reading the prefetched half");

	EXPECT_OK(dev_read(mr, buf + half, out, half));
	check_bytes(out, half, 0, "device read of the untouched half");
	mr_delta(mr, &s, &d, "read_rest");
	EXPECT_U64(D(d, PAGES_FAULTED), ==, NPAGES / 2, "pages_faulted reading the other half");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
}

static int prefetch_read_flush(void)	{ prefetch_read(1); return T_PASS; }
static int prefetch_read_async(void)	{ prefetch_read(0); return T_PASS; }
static int prefetch_write_flush(void)	{ prefetch_write(1); return T_PASS; }
static int prefetch_write_async(void)	{ prefetch_write(0); return T_PASS; }
static int prefetch_no_fault_flush(void) { prefetch_no_fault(1); return T_PASS; }
static int prefetch_no_fault_async(void) { prefetch_no_fault(0); return T_PASS; }

/* An SGE over pages 4-7 maps those four pages and no others. */
static int prefetch_partial_range(void)
{
	size_t len = NPAGES * page_size, ps = page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	struct odp_sge sge;
	char *buf, *out;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(buf, len, 63);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	mr_stats(mr, &s);

	sge = sge_of(mr, buf + 4 * ps + 10, 4 * ps - 20);	/* inside pages 4-7 */
	EXPECT_OK(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH, ODP_ADVISE_FLAG_FLUSH,
				&sge, 1));
	mr_delta(mr, &s, &d, "prefetch");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, 4, "pages_mapped by an SGE over 4 pages");

	EXPECT_OK(dev_read(mr, buf + 4 * ps, out, 4 * ps));
	check_pattern_off(out, 4 * ps, 63, 4 * ps, "pages 4-7");
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults reading the prefetched pages");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* Three MRs, one request with three SGEs: each MR gets its pages mapped. */
static int prefetch_multi_sge(void)
{
	size_t len = NPAGES * page_size, ps = page_size;
	struct tctx t;
	struct stats s[3];
	struct odp_mr *mr[3];
	struct odp_sge sge[3];
	char *buf;
	int i;

	t_open(&t);
	buf = map_anon(3 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(buf, 3 * len, 64);
	for (i = 0; i < 3; i++) {
		mr[i] = reg_mr(&t, buf + i * len, len, ACC_RW);
		sge[i] = sge_of(mr[i], buf + i * len, (size_t)(i + 1) * ps);
	}
	EXPECT_OK(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH, ODP_ADVISE_FLAG_FLUSH,
				sge, 3));
	for (i = 0; i < 3; i++) {
		char tag[16];

		mr_stats(mr[i], &s[i]);
		snprintf(tag, sizeof(tag), "mr%d.", i);
		print_stats(tag, &s[i]);
		EXPECT_U64(s[i].v[ODP_STAT_PAGES_MAPPED], ==, i + 1, "pages_mapped of each MR");
		EXPECT_U64(s[i].v[ODP_STAT_PREFETCHES], >=, 1, "prefetches of each MR");
		EXPECT_OK(odp_dereg_mr(mr[i]));
	}
	t_close(&t);
	return T_PASS;
}

/* FLUSH reports the fault error: EFAULT for an unmapped page. */
static int prefetch_flush_efault(void)
{
	size_t len = NPAGES * page_size, ps = page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	struct odp_sge sge;
	char *buf;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	unmap(buf + 8 * ps, ps);
	mr_stats(mr, &s);

	sge = sge_of(mr, buf, len);
	EXPECT_ERRNO(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH, ODP_ADVISE_FLAG_FLUSH,
				   &sge, 1), EFAULT);
	mr_delta(mr, &s, &d, "prefetch");
	EXPECT_U64(D(d, FAULT_ERRORS), >=, 1, "fault_errors");
	sge = sge_of(mr, buf, 8 * ps);
	EXPECT_OK(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH, ODP_ADVISE_FLAG_FLUSH,
				&sge, 1));

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* Without FLUSH the same error is only counted. */
static int prefetch_async_error_counted(void)
{
	size_t len = NPAGES * page_size, ps = page_size;
	struct tctx t;
	struct stats s, w;
	struct odp_mr *mr;
	struct odp_sge sge;
	char *buf;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	unmap(buf + 8 * ps, ps);
	mr_stats(mr, &s);

	sge = sge_of(mr, buf, len);
	EXPECT_OK(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH, 0, &sge, 1));
	wait_mr_stat(mr, ODP_STAT_FAULT_ERRORS, s.v[ODP_STAT_FAULT_ERRORS] + 1,
		     ASYNC_MS, &w);
	print_stats("after.", &w);

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* PREFETCH_WRITE of a range mprotect()ed read-only: EPERM with FLUSH. */
static int prefetch_write_mprotect_eperm(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct odp_mr *mr;
	struct odp_sge sge;
	char *buf;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	xmprotect(buf, len, PROT_READ);
	sge = sge_of(mr, buf, len);
	EXPECT_ERRNO(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH_WRITE,
				   ODP_ADVISE_FLAG_FLUSH, &sge, 1), EPERM);
	EXPECT_OK(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH, ODP_ADVISE_FLAG_FLUSH,
				&sge, 1));
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* PREFETCH_WRITE on an MR without LOCAL_WRITE: EACCES, nothing mapped. */
static int prefetch_write_readonly_mr(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	struct odp_sge sge;
	char *buf;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RO);
	mr_stats(mr, &s);
	sge = sge_of(mr, buf, len);
	EXPECT_ERRNO(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH_WRITE,
				   ODP_ADVISE_FLAG_FLUSH, &sge, 1), EACCES);
	EXPECT_ERRNO(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH_WRITE, 0, &sge, 1),
		     EACCES);
	mr_delta(mr, &s, &d, "refused");
	EXPECT_U64(D(d, PREFETCHES), ==, 0, "prefetches");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, 0, "pages_mapped");
	EXPECT_OK(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH, ODP_ADVISE_FLAG_FLUSH,
				&sge, 1));
	mr_delta(mr, &s, &d, "read_prefetch");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "prefetch_read_flush", prefetch_read_flush },
	{ "prefetch_read_async", prefetch_read_async },
	{ "prefetch_write_flush", prefetch_write_flush },
	{ "prefetch_write_async", prefetch_write_async },
	{ "prefetch_no_fault_flush", prefetch_no_fault_flush },
	{ "prefetch_no_fault_async", prefetch_no_fault_async },
	{ "prefetch_partial_range", prefetch_partial_range },
	{ "prefetch_multi_sge", prefetch_multi_sge },
	{ "prefetch_flush_efault", prefetch_flush_efault },
	{ "prefetch_async_error_counted", prefetch_async_error_counted },
	{ "prefetch_write_mprotect_eperm", prefetch_write_mprotect_eperm },
	{ "prefetch_write_readonly_mr", prefetch_write_readonly_mr },
};

TEST_MAIN(tests)
