// SPDX-License-Identifier: MIT
/*
 * Anonymous private memory: first touch, zero page, MADV_DONTNEED, munmap,
 * mprotect, mremap, byte-granular and large sparse MRs.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"

#define NPAGES	16

static long vm_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* A fresh MR has every counter at zero: registration faults nothing. */
static void expect_fresh(struct odp_mr *mr)
{
	struct stats s;
	unsigned int i;

	mr_stats(mr, &s);
	print_stats("reg.", &s);
	for (i = 0; i < ODP_STAT_MAX; i++)
		EXPECT_U64(s.v[i], ==, 0, stat_name(i));
}

/* Device read of never-touched memory returns zeros (the zero page). */
static int anon_read_zero(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	expect_fresh(mr);
	mr_stats(mr, &s);

	out = malloc(len);
	memset(out, 0xaa, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, len, 0, "device read of untouched memory");
	mr_delta(mr, &s, &d, "read1");
	EXPECT_U64(D(d, FAULTS), >=, 1, "faults by the first read");
	EXPECT_U64(D(d, PAGES_FAULTED), ==, NPAGES, "pages_faulted by the first read");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped after the first read");
	EXPECT_U64(D(d, ACCESSES), ==, 1, "accesses");
	EXPECT_U64(D(d, ACCESS_BYTES), ==, len, "access_bytes");
	EXPECT_U64(D(d, INVALIDATIONS), ==, 0, "invalidations");
	EXPECT_U64(D(d, FAULT_ERRORS), ==, 0, "fault_errors");

	/* Everything is cached now: a second read faults nothing. */
	memset(out, 0xaa, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, len, 0, "second device read");
	mr_delta(mr, &s, &d, "read2");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults by the second read");
	EXPECT_U64(D(d, PAGES_FAULTED), ==, 0, "pages_faulted by the second read");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");
	EXPECT_U64(D(d, ACCESSES), ==, 1, "accesses");
	check_bytes(buf, len, 0, "CPU view");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/*
 * The device mapped the zero page; a CPU write then COW-replaces it and
 * must invalidate exactly that page, so the device sees the CPU's data.
 */
static int anon_read_zero_then_cpu_write(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, len, 0, "device read of untouched memory");
	mr_stats(mr, &s);

	memset(buf + 3 * page_size, 0x5a, page_size);
	mr_delta(mr, &s, &d, "cpu_write");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by the COW of the zero page");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, 1, "pages_invalidated by the COW of one page");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES - 1, "pages_mapped after the COW");

	memset(out, 0xaa, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, 3 * page_size, 0, "pages 0-2");
	check_bytes(out + 3 * page_size, page_size, 0x5a,
		    "page 3 (written by the CPU after the device mapped the zero page)");
	check_bytes(out + 4 * page_size, len - 4 * page_size, 0, "pages 4-15");
	mr_delta(mr, &s, &d, "reread");
	EXPECT_U64(D(d, PAGES_FAULTED), >=, 1, "pages_faulted by the re-read");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* Device write to never-touched memory faults for write; the CPU sees it. */
static int anon_write_first_touch(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *in, *out;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	expect_fresh(mr);
	mr_stats(mr, &s);

	in = malloc(len);
	out = malloc(len);
	fill_pattern(in, len, 1);
	EXPECT_OK(dev_write(mr, buf, in, len));
	mr_delta(mr, &s, &d, "write");
	EXPECT_U64(D(d, FAULTS), >=, 1, "faults by the device write");
	EXPECT_U64(D(d, PAGES_FAULTED), ==, NPAGES, "pages_faulted by the device write");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");
	EXPECT_U64(D(d, ACCESSES), ==, 1, "accesses");
	EXPECT_U64(D(d, ACCESS_BYTES), ==, len, "access_bytes");
	EXPECT_U64(D(d, INVALIDATIONS), ==, 0, "invalidations");
	check_pattern(buf, len, 1, "CPU view after the device write");


	/* Same pages: a CPU write needs no invalidation and the device sees it. */
	memset(buf, 0x77, page_size);
	memset(out, 0xaa, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, page_size, 0x77, "page 0 written by the CPU");
	check_pattern_off(out + page_size, len - page_size, 1, page_size,
			  "pages 1-15 written by the device");
	mr_delta(mr, &s, &d, "cpu_write");
	EXPECT_U64(D(d, INVALIDATIONS), ==, 0, "invalidations by a CPU write to a writable page");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults of the read after the device write");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/*
 * MADV_DONTNEED zaps the device's entries; the data reads as zero after,
 * and the next access faults again.  Repeated like rdma-core's test_odp.
 */
static int anon_dontneed(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out;
	int it;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	mr_stats(mr, &s);

	for (it = 0; it < 3; it++) {
		char tag[32];

		fill_pattern(buf, len, 10 + it);
		memset(out, 0, len);
		EXPECT_OK(dev_read(mr, buf, out, len));
		check_pattern(out, len, 10 + it, "device read of CPU data");
		snprintf(tag, sizeof(tag), "read%d", it);
		mr_delta(mr, &s, &d, tag);
		EXPECT_U64(D(d, PAGES_FAULTED), ==, NPAGES, "pages_faulted by the read");
		EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped after the read");

		xmadvise(buf, len, MADV_DONTNEED);
		snprintf(tag, sizeof(tag), "dontneed%d", it);
		mr_delta(mr, &s, &d, tag);
		EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by MADV_DONTNEED");
		EXPECT_U64(D(d, PAGES_INVALIDATED), ==, NPAGES, "pages_invalidated by MADV_DONTNEED");
		EXPECT_U64(D(d, PAGES_MAPPED), ==, 0, "pages_mapped after MADV_DONTNEED");
		EXPECT_U64(D(d, FAULTS), ==, 0, "faults by MADV_DONTNEED");

		memset(out, 0xaa, len);
		EXPECT_OK(dev_read(mr, buf, out, len));
		check_bytes(out, len, 0, "device read after MADV_DONTNEED");
		snprintf(tag, sizeof(tag), "reread%d", it);
		mr_delta(mr, &s, &d, tag);
		EXPECT_U64(D(d, FAULTS), >=, 1, "faults of the read after MADV_DONTNEED");
		EXPECT_U64(D(d, PAGES_FAULTED), ==, NPAGES, "pages_faulted after MADV_DONTNEED");
		EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");
		check_bytes(buf, len, 0, "CPU view after MADV_DONTNEED");
	}

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* MADV_DONTNEED of pages 4-7 zaps exactly those entries. */
static int anon_dontneed_partial(void)
{
	size_t len = NPAGES * page_size, ps = page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(buf, len, 2);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 2, "device read");
	mr_stats(mr, &s);

	xmadvise(buf + 4 * ps, 4 * ps, MADV_DONTNEED);
	mr_delta(mr, &s, &d, "dontneed");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, 4, "pages_invalidated by MADV_DONTNEED of 4 pages");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES - 4, "pages_mapped");

	/* The untouched part is still cached. */
	EXPECT_OK(dev_read(mr, buf, out, 4 * ps));
	check_pattern(out, 4 * ps, 2, "pages 0-3");
	EXPECT_OK(dev_read(mr, buf + 8 * ps, out, 8 * ps));
	check_pattern_off(out, 8 * ps, 2, 8 * ps, "pages 8-15");
	mr_delta(mr, &s, &d, "read_kept");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults reading pages that were not invalidated");

	memset(out, 0xaa, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, 4 * ps, 2, "pages 0-3");
	check_bytes(out + 4 * ps, 4 * ps, 0, "pages 4-7 after MADV_DONTNEED");
	check_pattern_off(out + 8 * ps, 8 * ps, 2, 8 * ps, "pages 8-15");
	mr_delta(mr, &s, &d, "read_all");
	EXPECT_U64(D(d, PAGES_FAULTED), >=, 4, "pages_faulted re-reading the zapped pages");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* munmap of part of an MR: that part fails with EFAULT, the rest works. */
static int anon_munmap_partial(void)
{
	size_t len = NPAGES * page_size, ps = page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out, *in;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(buf, len, 3);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	in = malloc(len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	mr_stats(mr, &s);

	unmap(buf + 8 * ps, 8 * ps);	/* the tail */
	unmap(buf + 2 * ps, 2 * ps);	/* a hole */
	mr_delta(mr, &s, &d, "munmap");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 2, "invalidations by two munmaps");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, 10, "pages_invalidated by munmap of 10 pages");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES - 10, "pages_mapped");

	EXPECT_ERRNO(dev_read(mr, buf + 8 * ps, out, 8 * ps), EFAULT);
	EXPECT_ERRNO(dev_read(mr, buf + 15 * ps, out, 1), EFAULT);
	EXPECT_ERRNO(dev_read(mr, buf + 2 * ps, out, ps), EFAULT);
	EXPECT_ERRNO(dev_read(mr, buf + 6 * ps, out, 4 * ps), EFAULT);
	EXPECT_ERRNO(dev_read(mr, buf, out, len), EFAULT);
	EXPECT_ERRNO(dev_write(mr, buf + 9 * ps, in, ps), EFAULT);
	EXPECT_ERRNO(dev_write(mr, buf + 3 * ps + 100, in, 10), EFAULT);
	mr_delta(mr, &s, &d, "efault");
	EXPECT_U64(D(d, FAULT_ERRORS), >=, 1, "fault_errors");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES - 10, "pages_mapped");

	/* The mapped pages still work, without faulting. */
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, 2 * ps));
	check_pattern(out, 2 * ps, 3, "pages 0-1");
	EXPECT_OK(dev_read(mr, buf + 4 * ps, out, 4 * ps));
	check_pattern_off(out, 4 * ps, 3, 4 * ps, "pages 4-7");
	mr_delta(mr, &s, &d, "read_rest");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults reading pages still mapped");
	fill_pattern(in, 4 * ps, 30);
	EXPECT_OK(dev_write(mr, buf + 4 * ps, in, 4 * ps));
	check_pattern(buf + 4 * ps, 4 * ps, 30, "CPU view of pages 4-7 after a device write");
	check_pattern(buf, 2 * ps, 3, "CPU view of pages 0-1");

	EXPECT_OK(odp_dereg_mr(mr));
	unmap(buf, 2 * ps);
	unmap(buf + 4 * ps, 4 * ps);
	t_close(&t);
	return T_PASS;
}

/* The MR is over addresses: new memory mapped there is what the device sees. */
static int anon_munmap_remap(void)
{
	size_t len = NPAGES * page_size, ps = page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out;
	void *p;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(buf, len, 4);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	mr_stats(mr, &s);

	/* Pages 4-5: munmap then mmap; pages 6-7: MAP_FIXED over them. */
	unmap(buf + 4 * ps, 2 * ps);
	EXPECT_ERRNO(dev_read(mr, buf + 4 * ps, out, ps), EFAULT);
	p = mmap(buf + 4 * ps, 2 * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(p == buf + 4 * ps, "mmap MAP_FIXED: %s", strerror(errno));
	p = mmap(buf + 6 * ps, 2 * ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(p == buf + 6 * ps, "mmap MAP_FIXED: %s", strerror(errno));
	mr_delta(mr, &s, &d, "remap");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 2, "invalidations");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, 4, "pages_invalidated");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES - 4, "pages_mapped");

	memset(buf + 4 * ps, 0x44, 4 * ps);
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, 4 * ps, 4, "pages 0-3");
	check_bytes(out + 4 * ps, 4 * ps, 0x44, "pages 4-7 of the new mappings");
	check_pattern_off(out + 8 * ps, 8 * ps, 4, 8 * ps, "pages 8-15");
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, PAGES_FAULTED), >=, 4, "pages_faulted");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* mprotect(PROT_READ): device write EPERM, read works; back to RW: works. */
static int anon_mprotect_ro(void)
{
	size_t len = NPAGES * page_size, ps = page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out, *in;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	in = malloc(len);
	fill_pattern(in, len, 5);
	EXPECT_OK(dev_write(mr, buf, in, len));
	check_pattern(buf, len, 5, "CPU view after the device write");
	mr_stats(mr, &s);

	xmprotect(buf, len, PROT_READ);
	mr_delta(mr, &s, &d, "mprotect_ro");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by mprotect(PROT_READ)");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, NPAGES, "pages_invalidated (zapped or write-protected)");

	fill_pattern(in, len, 6);
	EXPECT_ERRNO(dev_write(mr, buf, in, len), EPERM);
	EXPECT_ERRNO(dev_write(mr, buf + 5 * ps + 7, in, 1), EPERM);
	mr_delta(mr, &s, &d, "write_ro");
	EXPECT_U64(D(d, FAULT_ERRORS), >=, 1, "fault_errors");
	check_pattern(buf, len, 5, "CPU view after refused device writes");

	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 5, "device read of the read-only range");

	xmprotect(buf, len, PROT_READ | PROT_WRITE);
	EXPECT_OK(dev_write(mr, buf, in, len));
	check_pattern(buf, len, 6, "CPU view after the device write with RW back");
	mr_delta(mr, &s, &d, "write_rw");
	EXPECT_U64(D(d, FAULTS), >=, 1, "faults of the write after mprotect(RW)");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* mprotect(PROT_NONE): no device access at all; back to RW: data intact. */
static int anon_mprotect_none(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out;
	int r;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(buf, len, 7);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	mr_stats(mr, &s);

	xmprotect(buf, len, PROT_NONE);
	mr_delta(mr, &s, &d, "mprotect_none");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by mprotect(PROT_NONE)");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, 0, "pages_mapped after mprotect(PROT_NONE)");

	memset(out, 0, len);
	r = dev_read(mr, buf, out, len);
	printf("read_prot_none_errno=%d\n", r);
	CHECK(r == EFAULT || r == EPERM || r == EACCES,
	      "device read of a PROT_NONE range returned %d (%s), expected "
	      "EFAULT/EPERM/EACCES", r, r ? strerror(r) : "success");
	check_bytes(out, len, 0, "buffer of the refused read (must be untouched)");

	xmprotect(buf, len, PROT_READ | PROT_WRITE);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 7, "device read after mprotect(RW)");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* mremap to a new address: the old MR faults EFAULT, a new MR works. */
static int anon_mremap(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr, *mr2;
	char *buf, *dst, *out, *p;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	dst = map_anon(len, PROT_NONE, MAP_PRIVATE);	/* a place to move to */
	fill_pattern(buf, len, 8);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	mr_stats(mr, &s);

	p = mremap(buf, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	CHECK(p == dst, "mremap: %s", strerror(errno));
	mr_delta(mr, &s, &d, "mremap");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations of the old range");
	EXPECT_U64(D(d, PAGES_INVALIDATED), >=, NPAGES, "pages_invalidated of the old range");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, 0, "pages_mapped of the old MR");

	memset(out, 0, len);
	EXPECT_ERRNO(dev_read(mr, buf, out, len), EFAULT);
	EXPECT_ERRNO(dev_write(mr, buf, out, page_size), EFAULT);
	check_bytes(out, len, 0, "buffer of the refused read");

	mr2 = reg_mr(&t, dst, len, ACC_RW);
	EXPECT_OK(dev_read(mr2, dst, out, len));
	check_pattern(out, len, 8, "device read through an MR on the new address");
	fill_pattern(out, len, 9);
	EXPECT_OK(dev_write(mr2, dst, out, len));
	check_pattern(dst, len, 9, "CPU view of the moved range after a device write");
	mr_stats(mr2, &s);
	print_stats("new.", &s);
	EXPECT_U64(s.v[ODP_STAT_PAGES_MAPPED], ==, NPAGES, "pages_mapped of the new MR");

	EXPECT_OK(odp_dereg_mr(mr));
	EXPECT_OK(odp_dereg_mr(mr2));
	t_close(&t);
	return T_PASS;
}

/* Byte-granular MR: bounds are bytes, the notifier covers whole pages. */
static int anon_byte_granular(void)
{
	size_t ps = page_size, len = 2 * ps - 50;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *start, *out;

	t_open(&t);
	buf = map_anon(4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(buf, 4 * ps, 11);
	start = buf + 100;			/* [buf+100, buf+2ps+50) */
	mr = reg_mr(&t, start, len, ACC_RW);
	CHECK(mr->addr == start && mr->length == len, "mr addr %p length %zu",
	      mr->addr, mr->length);
	out = malloc(4 * ps);
	mr_stats(mr, &s);

	EXPECT_OK(dev_read(mr, start, out, len));
	check_pattern_off(out, len, 11, 100, "device read of the whole MR");
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, 3, "pages_mapped of an MR over 3 pages");

	EXPECT_ERRNO(dev_read(mr, start - 1, out, 1), EINVAL);
	EXPECT_ERRNO(dev_read(mr, start - 1, out, 2), EINVAL);
	EXPECT_ERRNO(dev_read(mr, start + len, out, 1), EINVAL);
	EXPECT_ERRNO(dev_read(mr, start + len - 1, out, 2), EINVAL);
	EXPECT_OK(dev_read(mr, start + len - 1, out, 1));
	CHECK((uint8_t)out[0] == pattern_byte(11, 100 + len - 1), "last byte");

	xmadvise(buf + 2 * ps, ps, MADV_DONTNEED);
	mr_delta(mr, &s, &d, "dontneed_last");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations of the partly covered last page");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, 2, "pages_mapped");
	EXPECT_OK(dev_read(mr, buf + 2 * ps, out, 50));
	check_bytes(out, 50, 0, "the 50 bytes in the zapped last page");

	xmadvise(buf + 3 * ps, ps, MADV_DONTNEED);	/* outside the MR */
	mr_delta(mr, &s, &d, "dontneed_outside");
	EXPECT_U64(D(d, INVALIDATIONS), ==, 0, "invalidations by a page outside the MR");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/*
 * Byte-granular MR over the first half of a page, the user buffer in the
 * second half (ABI.md: buf may lie inside the MR, only overlap with the
 * accessed range is undefined).  The page is untouched first, so the device
 * maps the zero page and copying out to the same page COWs it - an
 * invalidation of the very MR being accessed, which must not deadlock (the
 * data goes through a kernel bounce buffer).
 */
static int anon_buf_shares_page(void)
{
	size_t half = page_size / 2;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf;

	t_open(&t);
	buf = map_anon(page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, half, ACC_RW);
	mr_stats(mr, &s);

	EXPECT_OK(dev_read(mr, buf, buf + half, half));
	check_bytes(buf, page_size, 0, "page after reading its first half into its second");
	mr_delta(mr, &s, &d, "read");

	memset(buf + half, 'h', half);
	EXPECT_OK(dev_write(mr, buf, buf + half, half));
	check_bytes(buf, page_size, 'h', "page after writing its second half into its first");
	mr_delta(mr, &s, &d, "write");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* One MR across three VMAs: private anon, shared anon, private anon again. */
static int anon_multi_vma(void)
{
	size_t ps = page_size, len = 12 * ps;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *in, *out, *p;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	p = mmap(buf + 4 * ps, 4 * ps, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(p == buf + 4 * ps, "mmap MAP_SHARED|MAP_FIXED: %s", strerror(errno));
	mr = reg_mr(&t, buf, len, ACC_RW);
	in = malloc(len);
	out = malloc(len);
	mr_stats(mr, &s);

	fill_pattern(in, len, 12);
	EXPECT_OK(dev_write(mr, buf + 100, in, len - 200));
	check_pattern(buf + 100, len - 200, 12, "CPU view of a write across three VMAs");
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, 100, 0, "first 100 bytes");
	check_pattern(out + 100, len - 200, 12, "device read across three VMAs");
	check_bytes(out + len - 100, 100, 0, "last 100 bytes");
	mr_delta(mr, &s, &d, "access");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, 12, "pages_mapped");

	xmadvise(buf, len, MADV_DONTNEED);
	mr_delta(mr, &s, &d, "dontneed");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 3, "invalidations (one zap per VMA)");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, 0, "pages_mapped");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/*
 * A 5 MiB access at an unaligned offset: crosses the driver's copy, fault
 * and in-flight chunk boundaries; every byte lands where it belongs.
 */
static int anon_large_access(void)
{
	size_t len = 5UL << 20, off = 123, n = len - 200;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *in, *out;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	xmadvise(buf, len, MADV_NOHUGEPAGE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	in = malloc(len);
	out = malloc(len);
	mr_stats(mr, &s);

	fill_pattern(in, n, 13);
	EXPECT_OK(dev_write(mr, buf + off, in, n));
	check_bytes(buf, off, 0, "bytes before the write");
	check_pattern(buf + off, n, 13, "CPU view of a 5 MiB device write");
	check_bytes(buf + off + n, len - off - n, 0, "bytes after the write");
	mr_delta(mr, &s, &d, "write");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, len / page_size, "pages_mapped");
	EXPECT_U64(D(d, ACCESS_BYTES), ==, n, "access_bytes");

	/* Zap every other 64 KiB, then read it all back at another offset. */
	for (size_t o = 0; o < len; o += 128 << 10)
		xmadvise(buf + o, 64 << 10, MADV_DONTNEED);
	memset(out, 0xaa, len);
	EXPECT_OK(dev_read(mr, buf + 7, out, len - 7));
	for (size_t o = 0; o < len - 7; o += 4096) {
		size_t a = o + 7;	/* address offset of out[o] */
		size_t chunk = 4096 < len - 7 - o ? 4096 : len - 7 - o;

		for (size_t i = 0; i < chunk; i++) {
			size_t addr = a + i;
			uint8_t want = (addr % (128 << 10)) < (64 << 10) ? 0 :
				       (addr < off || addr >= off + n) ? 0 :
				       pattern_byte(13, addr - off);

			if ((uint8_t)out[o + i] != want)
				FAIL("5 MiB read: byte at offset %zu is 0x%02x, expected 0x%02x",
				     addr, (uint8_t)out[o + i], want);
		}
	}
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, len / page_size, "pages_mapped");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* Soft-dirty bit (bit 55) of each page in /proc/self/pagemap. */
static void soft_dirty_bits(char *buf, int n, int *bits)
{
	uint64_t e;
	int fd = open("/proc/self/pagemap", O_RDONLY), i;

	if (fd < 0)
		SKIP("/proc/self/pagemap: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		off_t at = ((uintptr_t)buf / page_size + i) * sizeof(e);

		if (pread(fd, &e, sizeof(e), at) != sizeof(e))
			FAIL("pread pagemap: %s", strerror(errno));
		bits[i] = (e >> 55) & 1;
	}
	close(fd);
}

/*
 * clear_refs soft-dirty (CRIU's incremental dump): the device keeps reading
 * through write-protected entries, and its writes fault so the kernel marks
 * exactly those pages soft-dirty again.
 */
static int anon_soft_dirty(void)
{
	size_t len = NPAGES * page_size, ps = page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	int bits[NPAGES], i;
	char *buf, *out, in[64];

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	fill_pattern(out, len, 14);
	EXPECT_OK(dev_write(mr, buf, out, len));	/* writable entries */
	soft_dirty_bits(buf, NPAGES, bits);
	if (!bits[0])
		SKIP("no soft-dirty tracking in this kernel (bit 55 clear after a write)");
	mr_stats(mr, &s);

	if (write_file("/proc/self/clear_refs", "4"))
		SKIP("cannot write /proc/self/clear_refs");
	soft_dirty_bits(buf, NPAGES, bits);
	for (i = 0; i < NPAGES; i++)
		CHECK(!bits[i], "page %d still soft-dirty after clear_refs", i);
	mr_delta(mr, &s, &d, "clear_refs");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by clear_refs");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, NPAGES, "pages_invalidated (write-protected)");

	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 14, "device read after clear_refs");

	memset(in, 'S', sizeof(in));
	EXPECT_OK(dev_write(mr, buf + 3 * ps, in, sizeof(in)));
	EXPECT_OK(dev_write(mr, buf + 7 * ps + 100, in, sizeof(in)));
	mr_delta(mr, &s, &d, "write");
	EXPECT_U64(D(d, FAULTS), >=, 1, "faults: a write after clear_refs must fault");
	soft_dirty_bits(buf, NPAGES, bits);
	for (i = 0; i < NPAGES; i++)
		CHECK(bits[i] == (i == 3 || i == 7),
		      "page %d soft-dirty %d after device writes to pages 3 and 7 only",
		      i, bits[i]);
	check_bytes(buf + 3 * ps, sizeof(in), 'S', "CPU view of page 3");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/*
 * The user buffer inside the MR, away from the accessed range: page 0 read
 * into page 2, page 3 written into page 1, on untouched memory (zero page,
 * COW of the destination invalidates the MR under its own access).
 */
static int anon_buf_inside_mr(void)
{
	size_t ps = page_size, len = 4 * ps;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	mr_stats(mr, &s);

	EXPECT_OK(dev_read(mr, buf, buf + 2 * ps, ps));		/* zeros */
	check_bytes(buf, len, 0, "MR after reading untouched page 0 into page 2");
	fill_pattern(buf, ps, 15);
	EXPECT_OK(dev_read(mr, buf, buf + 2 * ps, ps));
	check_pattern(buf + 2 * ps, ps, 15, "page 2 after reading page 0 into it");
	fill_pattern(buf + 3 * ps, ps, 16);
	EXPECT_OK(dev_write(mr, buf + ps, buf + 3 * ps, ps));
	check_pattern(buf + ps, ps, 16, "page 1 after writing page 3 into it");
	check_pattern(buf, ps, 15, "page 0 unchanged");
	mr_delta(mr, &s, &d, "access");
	EXPECT_U64(D(d, ACCESSES), ==, 3, "accesses");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/*
 * One invalidation of more than 1024 present pages: MADV_DONTNEED of a
 * 1280-page MR whose every page the device faulted.  Afterwards no entry
 * may be left (pages_mapped 0) and a device read must see the zeros the
 * CPU sees.  (An earlier driver zapped in batches of 1024 with xas_pause()
 * between; the 6.12.117 xas_pause() lacks "xa_index &= ~0UL << node->shift"
 * and, after the entry that emptied its node, resumed 63 entries too far:
 * pages 1024-1086 kept translations to the pages the DONTNEED freed.)
 */
static int anon_dontneed_large(void)
{
	size_t npages = 1280, len = npages * page_size, first = 0, nbad = 0;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	xmadvise(buf, len, MADV_NOHUGEPAGE);
	fill_pattern(buf, len, 21);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	if (!out)
		FAIL("malloc(%zu)", len);
	mr_stats(mr, &s);

	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 21, "device read of every page");
	mr_delta(mr, &s, &d, "fault");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, npages, "pages_mapped after the read");

	xmadvise(buf, len, MADV_DONTNEED);
	mr_delta(mr, &s, &d, "dontneed");
	check_bytes(buf, len, 0, "CPU view after MADV_DONTNEED");

	memset(out, 0xaa, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	for (size_t p = 0; p < npages; p++) {
		const unsigned char *pg = (const unsigned char *)out + p * page_size;
		size_t i;

		for (i = 0; i < (size_t)page_size && !pg[i]; i++)
			;
		if (i < (size_t)page_size && !nbad++)
			first = p;
	}
	printf("stale_pages=%zu first_stale=%zu\n", nbad, first);
	if (nbad || D(d, PAGES_MAPPED))
		FAIL("after one MADV_DONTNEED of all %zu pages, %llu translations "
		     "were left (pages_mapped) and a device read returned the "
		     "old data in %zu pages from page %zu on, where the CPU sees "
		     "zeros: the invalidation did not drop every entry", npages,
		     (unsigned long long)D(d, PAGES_MAPPED), nbad, first);

	EXPECT_OK(odp_dereg_mr(mr));
	free(out);
	t_close(&t);
	return T_PASS;
}

/* A 1 GiB never-touched MR: registration faults nothing, access is sparse. */
static int anon_large_sparse(void)
{
	size_t len = 1UL << 30, ps = page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, out[64];
	long rss0, rss1;
	uint64_t t0, t1, mapped;

	t_open(&t);
	if (t.attr.max_mr_size && t.attr.max_mr_size < len)
		SKIP("max_mr_size %llu < 1 GiB",
		     (unsigned long long)t.attr.max_mr_size);
	buf = map_anon(len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_NORESERVE);
	xmadvise(buf, len, MADV_NOHUGEPAGE);
	rss0 = vm_rss_kb();
	t0 = now_ms();
	mr = reg_mr(&t, buf, len, ACC_RW);
	t1 = now_ms();
	rss1 = vm_rss_kb();
	printf("reg_ms=%llu rss_growth_kb=%ld\n",
	       (unsigned long long)(t1 - t0), rss1 - rss0);
	expect_fresh(mr);
	CHECK(rss1 - rss0 < 4096,
	      "registering 1 GiB grew the RSS by %ld kB: registration faulted pages in",
	      rss1 - rss0);
	mr_stats(mr, &s);

	EXPECT_OK(dev_write(mr, buf + (512UL << 20) + 123, "odp!", 4));
	CHECK(!memcmp(buf + (512UL << 20) + 123, "odp!", 4), "CPU view of the device write");
	EXPECT_OK(dev_read(mr, buf + len - ps, out, sizeof(out)));
	check_bytes(out, sizeof(out), 0, "last page");
	mr_delta(mr, &s, &d, "access");
	EXPECT_U64(D(d, PAGES_FAULTED), >=, 2, "pages_faulted by two one-page accesses");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, D(d, PAGES_FAULTED), "pages_mapped");
	CHECK(D(d, PAGES_MAPPED) <= 1024, "two 64-byte accesses mapped %llu pages",
	      (unsigned long long)D(d, PAGES_MAPPED));
	mapped = D(d, PAGES_MAPPED);

	xmadvise(buf, len, MADV_DONTNEED);
	mr_delta(mr, &s, &d, "dontneed");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, mapped, "pages_invalidated (entries zapped, not pages of the range)");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, 0, "pages_mapped");

	EXPECT_OK(odp_dereg_mr(mr));
	unmap(buf, len);
	t_close(&t);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "anon_read_zero", anon_read_zero },
	{ "anon_read_zero_then_cpu_write", anon_read_zero_then_cpu_write },
	{ "anon_write_first_touch", anon_write_first_touch },
	{ "anon_dontneed", anon_dontneed },
	{ "anon_dontneed_partial", anon_dontneed_partial },
	{ "anon_munmap_partial", anon_munmap_partial },
	{ "anon_munmap_remap", anon_munmap_remap },
	{ "anon_mprotect_ro", anon_mprotect_ro },
	{ "anon_mprotect_none", anon_mprotect_none },
	{ "anon_mremap", anon_mremap },
	{ "anon_byte_granular", anon_byte_granular },
	{ "anon_multi_vma", anon_multi_vma },
	{ "anon_large_access", anon_large_access },
	{ "anon_dontneed_large", anon_dontneed_large },
	{ "anon_soft_dirty", anon_soft_dirty },
	{ "anon_buf_shares_page", anon_buf_shares_page },
	{ "anon_buf_inside_mr", anon_buf_inside_mr },
	{ "anon_large_sparse", anon_large_sparse },
};

TEST_MAIN(tests)
