// SPDX-License-Identifier: MIT
/*
 * ODP MRs under plain verbs: what an unmodified libibverbs application sees
 * on an ODP device (our rxe).  Both sides of every transfer are ODP MRs
 * (IBV_ACCESS_ON_DEMAND, nothing pinned) of this process; two RC QPs are
 * connected to each other over rxe0 (loopback).  One named test per
 * behaviour; `verbs_odp -l` lists them, `verbs_odp NAME` runs one.
 *
 * Each test checks the data byte by byte and the MRs' ODP counters from
 * `rdma stat show mr` (printed as `<mr>.<counter>=<delta>`).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vt.h"

#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE	(1 << 1)
#endif

#define KIB		1024UL
#define MIB		(1024UL * 1024)
#define HUGE_SZ		(2 * MIB)

static const char *wc_name(int st)
{
	return st < 0 ? "none" : ibv_wc_status_str(st);
}

#define EXPECT_ST(got, want, what)					\
	do {								\
		int _g = (got);						\
		if (_g != (int)(want))					\
			FAIL("%s: status %d (%s), expected %d (%s)",	\
			     (what), _g, wc_name(_g), (int)(want),	\
			     wc_name(want));				\
	} while (0)

/* A local protection error of a bad local SGE: the verbs spec's LOC_PROT_ERR
 * (rxe reports exactly that for memory it cannot fault in). */
#define EXPECT_LOCAL_ERR(got, what)					\
	do {								\
		int _g = (got);						\
		if (_g != IBV_WC_LOC_PROT_ERR && _g != IBV_WC_LOC_ACCESS_ERR) \
			FAIL("%s: status %d (%s), expected a local "	\
			     "protection/access error", (what), _g,	\
			     wc_name(_g));				\
	} while (0)

static void stats2(struct ibv_mr *a, struct ibv_mr *b, struct mrstat s[2])
{
	struct ibv_mr *mrs[2] = { a, b };

	mr_stats(2, mrs, s);
}

/* ====================================================================== */
/* MADV_DONTNEED of both sides before every iteration                      */
/* ====================================================================== */

#define DN_LEN		(64 * KIB)
#define DN_ITERS	6

/* SEND / WRITE / READ of the whole buffer, both buffers dropped first. */
static int dontneed_xfer(enum ibv_wr_opcode op, const char *name)
{
	size_t npages = DN_LEN / page_size;
	struct mrstat s0[2], s1[2], da, db;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	char *a, *b;
	int it;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(DN_LEN, 0);
	b = map_anon(DN_LEN, 0);
	ma = v_reg(&d, a, DN_LEN, 0);
	mb = v_reg(&d, b, DN_LEN, 0);
	stats2(ma, mb, s0);

	for (it = 0; it < DN_ITERS; it++) {
		uint32_t seed = 100 * op + it + 1;
		char *src = op == IBV_WR_RDMA_READ ? b : a;
		char *dst = op == IBV_WR_RDMA_READ ? a : b;
		char what[64];
		int st, rst = 0;

		xmadvise(a, DN_LEN, MADV_DONTNEED);
		xmadvise(b, DN_LEN, MADV_DONTNEED);
		fill_pat(src, DN_LEN, seed);
		if (op == IBV_WR_SEND)
			st = op_send(&p, ma, a, DN_LEN, mb, b, &rst);
		else if (op == IBV_WR_RDMA_WRITE)
			st = op_write(&p, ma, a, DN_LEN, mb, b);
		else
			st = op_read(&p, ma, a, DN_LEN, mb, b);
		snprintf(what, sizeof(what), "%s iteration %d", name, it);
		EXPECT_ST(st, IBV_WC_SUCCESS, what);
		EXPECT_ST(rst, IBV_WC_SUCCESS, what);
		check_pat(dst, DN_LEN, seed, what);
		check_pat(src, DN_LEN, seed, what);
	}

	stats2(ma, mb, s1);
	da = stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	printf("iters=%d pages=%zu\n", DN_ITERS, npages);
	/* Every iteration faults every page of both MRs again ... */
	CHECK_STAT(S(da, PAGE_FAULTS) >= (int64_t)(DN_ITERS * npages),
	           "a: page_faults %lld < %zu", (long long)S(da, PAGE_FAULTS),
	           DN_ITERS * npages);
	CHECK_STAT(S(db, PAGE_FAULTS) >= (int64_t)(DN_ITERS * npages),
	           "b: page_faults %lld < %zu", (long long)S(db, PAGE_FAULTS),
	           DN_ITERS * npages);
	/* ... and the next MADV_DONTNEED zaps them all. */
	CHECK_STAT(S(da, PAGE_INVALIDATIONS) >= (int64_t)((DN_ITERS - 1) * npages),
	           "a: page_invalidations %lld < %zu",
	           (long long)S(da, PAGE_INVALIDATIONS), (DN_ITERS - 1) * npages);
	CHECK_STAT(S(db, PAGE_INVALIDATIONS) >= (int64_t)((DN_ITERS - 1) * npages),
	           "b: page_invalidations %lld < %zu",
	           (long long)S(db, PAGE_INVALIDATIONS), (DN_ITERS - 1) * npages);

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

static int t_dontneed_send(void)
{
	return dontneed_xfer(IBV_WR_SEND, "SEND");
}

static int t_dontneed_write(void)
{
	return dontneed_xfer(IBV_WR_RDMA_WRITE, "WRITE");
}

static int t_dontneed_read(void)
{
	return dontneed_xfer(IBV_WR_RDMA_READ, "READ");
}

static uint64_t word_val(int it, size_t pg, int k)
{
	return 0x0101010101010101ULL * (uint64_t)(k + 1) +
	       ((uint64_t)it << 40) + ((uint64_t)pg << 20) + 7;
}

/*
 * One atomic per page of the responder's buffer (the original value lands
 * in the matching page of ours), both buffers dropped first.  On odd
 * iterations the responder's pages are left unmapped (the atomic must fault
 * in a zero page for write); every third CAS does not match.
 */
static int dontneed_atomic(enum ibv_wr_opcode op)
{
	size_t npages = DN_LEN / page_size, pg;
	struct mrstat s0[2], s1[2], da, db;
	struct ibv_wc wc[64];
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	char *a, *b;
	int it;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(DN_LEN, 0);
	b = map_anon(DN_LEN, 0);
	ma = v_reg(&d, a, DN_LEN, 0);
	mb = v_reg(&d, b, DN_LEN, 0);
	stats2(ma, mb, s0);

	for (it = 0; it < DN_ITERS; it++) {
		size_t off = 8 * (size_t)(it % 16) + 64;

		xmadvise(a, DN_LEN, MADV_DONTNEED);
		xmadvise(b, DN_LEN, MADV_DONTNEED);
		for (pg = 0; pg < npages; pg++) {
			uint64_t init = it % 2 ? 0 : word_val(it, pg, 0);
			uint64_t cmp = pg % 3 == 2 ? init + 1 : init;
			uint64_t arg = word_val(it, pg, 1);
			char *rw = b + pg * page_size + off;

			if (!(it % 2))
				*(uint64_t *)rw = init;
			post_op(p.a, op, pg, ma, a + pg * page_size + off, 8,
				mb->rkey, (uintptr_t)rw,
				op == IBV_WR_ATOMIC_CMP_AND_SWP ? cmp : arg,
				op == IBV_WR_ATOMIC_CMP_AND_SWP ? arg : 0);
		}
		wait_wcs(p.cqa, (int)npages, wc, "atomics");
		for (pg = 0; pg < npages; pg++) {
			uint64_t init = it % 2 ? 0 : word_val(it, pg, 0);
			uint64_t arg = word_val(it, pg, 1);
			uint64_t old = *(uint64_t *)(a + pg * page_size + off);
			uint64_t now = *(uint64_t *)(b + pg * page_size + off);
			uint64_t want;

			expect_wc(&wc[pg], IBV_WC_SUCCESS, "atomic");
			if (op == IBV_WR_ATOMIC_CMP_AND_SWP)
				want = pg % 3 == 2 ? init : arg;
			else
				want = init + arg;
			if (old != init || now != want)
				FAIL("iteration %d page %zu: returned 0x%llx "
				     "(expected 0x%llx), responder holds 0x%llx "
				     "(expected 0x%llx)", it, pg,
				     (unsigned long long)old,
				     (unsigned long long)init,
				     (unsigned long long)now,
				     (unsigned long long)want);
		}
	}

	stats2(ma, mb, s1);
	da = stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	printf("iters=%d pages=%zu\n", DN_ITERS, npages);
	CHECK_STAT(S(da, PAGE_FAULTS) >= (int64_t)(DN_ITERS * npages),
	           "a: page_faults %lld", (long long)S(da, PAGE_FAULTS));
	CHECK_STAT(S(db, PAGE_FAULTS) >= (int64_t)(DN_ITERS * npages),
	           "b: page_faults %lld", (long long)S(db, PAGE_FAULTS));
	CHECK_STAT(S(da, PAGE_INVALIDATIONS) >= (int64_t)((DN_ITERS - 1) * npages),
	           "a: page_invalidations %lld", (long long)S(da, PAGE_INVALIDATIONS));
	CHECK_STAT(S(db, PAGE_INVALIDATIONS) >= (int64_t)((DN_ITERS - 1) * npages),
	           "b: page_invalidations %lld", (long long)S(db, PAGE_INVALIDATIONS));

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

static int t_dontneed_cas(void)
{
	return dontneed_atomic(IBV_WR_ATOMIC_CMP_AND_SWP);
}

static int t_dontneed_fadd(void)
{
	return dontneed_atomic(IBV_WR_ATOMIC_FETCH_AND_ADD);
}

/* ====================================================================== */
/* Unaligned multi-page transfers, MTU 1024                                */
/* ====================================================================== */

static const struct xfer {
	size_t len, loff, roff;		/* loff in ours, roff in the responder's */
} xfers[] = {
	{ 8 * KIB, 0, 0 },
	{ 8 * KIB, 1, 3 },
	{ 8 * KIB + 100, 4095, 17 },
	{ 12 * KIB + 5, 2049, 4000 },
	{ 16 * KIB, 0, 1031 },
	{ 24 * KIB - 3, 513, 1 },
	{ 40000, 100, 100 },
	{ 64 * KIB, 4095, 4097 },
	{ 64 * KIB + 511, 3000, 1000 },
	{ MIB, 123, 4567 },
	{ MIB, 0, 0 },
};

#define UA_LEN	(MIB + 16 * KIB)

static int unaligned(enum ibv_wr_opcode op, const char *name)
{
	struct mrstat s0[2], s1[2], da, db;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	size_t i, bytes = 0;
	char *a, *b;
	int pass;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(UA_LEN, 0);
	b = map_anon(UA_LEN, 0);
	ma = v_reg(&d, a, UA_LEN, 0);
	mb = v_reg(&d, b, UA_LEN, 0);
	stats2(ma, mb, s0);

	for (i = 0; i < sizeof(xfers) / sizeof(xfers[0]); i++) {
		const struct xfer *x = &xfers[i];
		char *src = op == IBV_WR_RDMA_READ ? b + x->roff : a + x->loff;
		char *dst = op == IBV_WR_RDMA_READ ? a + x->loff : b + x->roff;
		char *dbase = op == IBV_WR_RDMA_READ ? a : b;

		/* Pass 0: nothing of either buffer mapped; pass 1: all is. */
		for (pass = 0; pass < 2; pass++) {
			uint32_t seed = 7000 + 10 * (uint32_t)i + pass;
			uint8_t bg = pass ? 0xee : 0;
			size_t tail = UA_LEN - (dst - dbase) - x->len;
			char what[128];
			int st, rst = 0;

			xmadvise(a, UA_LEN, MADV_DONTNEED);
			xmadvise(b, UA_LEN, MADV_DONTNEED);
			if (pass)
				memset(dbase, bg, UA_LEN);
			fill_pat(src, x->len, seed);
			if (op == IBV_WR_SEND)
				st = op_send(&p, ma, a + x->loff, x->len, mb,
					     b + x->roff, &rst);
			else if (op == IBV_WR_RDMA_WRITE)
				st = op_write(&p, ma, a + x->loff, x->len, mb,
					      b + x->roff);
			else
				st = op_read(&p, ma, a + x->loff, x->len, mb,
					     b + x->roff);
			snprintf(what, sizeof(what),
				 "%s of %zu bytes, local offset %zu, remote "
				 "offset %zu, %s target", name, x->len, x->loff,
				 x->roff, pass ? "mapped" : "unmapped");
			EXPECT_ST(st, IBV_WC_SUCCESS, what);
			EXPECT_ST(rst, IBV_WC_SUCCESS, what);
			check_pat(dst, x->len, seed, what);
			check_bytes(dbase, dst - dbase, bg, "before the target");
			check_bytes(dst + x->len, tail < 8192 ? tail : 8192, bg,
				    "after the target");
			bytes += x->len;
		}
	}

	stats2(ma, mb, s1);
	da = stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	printf("transfers=%zu bytes=%zu mtu=1024\n",
	       2 * sizeof(xfers) / sizeof(xfers[0]), bytes);
	CHECK_STAT(S(da, PAGE_FAULTS) > 0 && S(db, PAGE_FAULTS) > 0,
	           "no page faults counted");
	CHECK_STAT(S(da, PAGE_INVALIDATIONS) > 0 && S(db, PAGE_INVALIDATIONS) > 0,
	           "no invalidations counted");

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

static int t_unaligned_write(void)
{
	return unaligned(IBV_WR_RDMA_WRITE, "WRITE");
}

static int t_unaligned_read(void)
{
	return unaligned(IBV_WR_RDMA_READ, "READ");
}

static int t_unaligned_send(void)
{
	return unaligned(IBV_WR_SEND, "SEND");
}

/* ====================================================================== */
/* munmap, mmap again, mprotect, bad local SGEs                            */
/* ====================================================================== */

#define MU_PAGES	4

static void *map_fixed(void *addr, size_t len)
{
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	if (p != addr)
		FAIL("mmap(%p, MAP_FIXED): %s", addr, strerror(errno));
	return p;
}

/*
 * The responder's buffer is mapped, faulted in by a WRITE, then its middle
 * pages unmapped: a WRITE (or READ) there fails with REM_ACCESS_ERR and
 * changes nothing; after mmap(MAP_FIXED) at the same address the same MR
 * works again.
 */
static int munmap_remote(int do_read)
{
	size_t len = MU_PAGES * page_size, hole = 2 * page_size;
	struct mrstat s0[2], s1[2], db;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	char *a, *b;
	int st;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(len, 0);
	b = map_anon(len, 0);
	ma = v_reg(&d, a, len, 0);
	mb = v_reg(&d, b, len, 0);
	fill_pat(a, len, 1);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS, "first WRITE");
	check_pat(b, len, 1, "first WRITE");
	stats2(ma, mb, s0);

	unmap(b + page_size, hole);
	fill_pat(a, len, 2);
	if (do_read)
		st = op_read(&p, ma, a + page_size, hole, mb, b + page_size);
	else
		st = op_write(&p, ma, a + page_size, hole, mb, b + page_size);
	printf("unmapped_status=%d\n", st);
	EXPECT_ST(st, IBV_WC_REM_ACCESS_ERR,
		  do_read ? "READ from unmapped pages" : "WRITE to unmapped pages");
	check_pat(a, len, 2, "our buffer after the failed request");
	check_pat(b, page_size, 1, "the responder's first page");
	check_pat_off(b + 3 * page_size, page_size, 1, 3 * page_size,
		      "the responder's last page");

	stats2(ma, mb, s1);
	stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	CHECK_STAT(S(db, PAGE_INVALIDATIONS) >= 2, "munmap of 2 mapped pages: "
	           "%lld invalidations", (long long)S(db, PAGE_INVALIDATIONS));
	CHECK_STAT(S(db, FAULT_ERRORS) >= 1, "no fault error counted");

	/* The same address again: the same MR works. */
	map_fixed(b + page_size, hole);
	fill_pat(b + page_size, hole, 3);
	pair_connect(&p);
	if (do_read) {
		EXPECT_ST(op_read(&p, ma, a, len, mb, b), IBV_WC_SUCCESS,
			  "READ after mmap again");
		check_pat(a + page_size, hole, 3, "READ after mmap again");
		check_pat(a, page_size, 1, "READ after mmap again, page 0");
		check_pat_off(a + 3 * page_size, page_size, 1, 3 * page_size,
			      "READ after mmap again, page 3");
	} else {
		EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS,
			  "WRITE after mmap again");
		check_pat(b, len, 2, "WRITE after mmap again");
	}
	stats2(ma, mb, s0);
	db = stat_delta("remap.b", &s1[1], &s0[1]);
	CHECK_STAT(S(db, PAGE_FAULTS) >= 2, "the new pages were not faulted in");

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

static int t_munmap_remote_write(void)
{
	return munmap_remote(0);
}

static int t_munmap_remote_read(void)
{
	return munmap_remote(1);
}

/*
 * mprotect(PROT_READ) of the responder's buffer after a WRITE mapped it
 * writable: a WRITE fails with REM_ACCESS_ERR and leaves the pages as they
 * were; a READ still works; after PROT_READ|PROT_WRITE again, WRITE works.
 */
static int t_mprotect_remote_write(void)
{
	size_t len = MU_PAGES * page_size;
	struct mrstat s0[2], s1[2], db;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	char *a, *b;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(len, 0);
	b = map_anon(len, 0);
	ma = v_reg(&d, a, len, 0);
	mb = v_reg(&d, b, len, 0);
	fill_pat(a, len, 1);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS, "first WRITE");
	check_pat(b, len, 1, "first WRITE");
	fill_pat(b, len, 2);		/* the content to keep */
	stats2(ma, mb, s0);

	xmprotect(b, len, PROT_READ);
	fill_pat(a, len, 3);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_REM_ACCESS_ERR,
		  "WRITE into PROT_READ pages");
	check_pat(b, len, 2, "PROT_READ pages after the refused WRITE");
	stats2(ma, mb, s1);
	stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	CHECK_STAT(S(db, PAGE_INVALIDATIONS) >= (int64_t)MU_PAGES,
	           "mprotect of %d writable pages: %lld invalidations", MU_PAGES,
	           (long long)S(db, PAGE_INVALIDATIONS));
	CHECK_STAT(S(db, FAULT_ERRORS) >= 1, "no fault error counted");

	pair_connect(&p);
	EXPECT_ST(op_read(&p, ma, a, len, mb, b), IBV_WC_SUCCESS,
		  "READ of PROT_READ pages");
	check_pat(a, len, 2, "READ of PROT_READ pages");

	xmprotect(b, len, PROT_READ | PROT_WRITE);
	pair_connect(&p);
	fill_pat(a, len, 4);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS,
		  "WRITE after PROT_WRITE again");
	check_pat(b, len, 4, "WRITE after PROT_WRITE again");

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

/*
 * Our own SGE over unmapped pages of our MR (the WRITE's source, the READ's
 * target, the SEND's source): the request completes with a local
 * protection error (the verbs spec's LOC_PROT_ERR for an SGE the device
 * cannot access), the responder's memory is unchanged, and after
 * mmap(MAP_FIXED) at the same address the same MR works again.
 */
static int local_sge_unmapped(enum ibv_wr_opcode op, const char *name)
{
	size_t len = MU_PAGES * page_size, hole = 2 * page_size;
	struct mrstat s0[2], s1[2], da;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	char *a, *b, what[80];
	int st, rst = 0;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(len, 0);
	b = map_anon(len, 0);
	ma = v_reg(&d, a, len, 0);
	mb = v_reg(&d, b, len, 0);
	fill_pat(a, len, 1);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS, "first WRITE");
	fill_pat(b, len, 2);
	stats2(ma, mb, s0);
	unmap(a + page_size, hole);

	if (op == IBV_WR_SEND)
		st = op_send(&p, ma, a + page_size, hole, mb, b, &rst);
	else if (op == IBV_WR_RDMA_WRITE)
		st = op_write(&p, ma, a + page_size, hole, mb, b);
	else
		st = op_read(&p, ma, a + page_size, hole, mb, b);
	printf("status=%d recv_status=%d\n", st, rst);
	stats2(ma, mb, s1);
	da = stat_delta("a", &s0[0], &s1[0]);
	stat_delta("b", &s0[1], &s1[1]);
	snprintf(what, sizeof(what), "%s with a local SGE over unmapped pages",
		 name);
	check_pat(b, len, 2, "the responder's buffer after the failed request");
	check_pat(a, page_size, 1, "our first page");
	CHECK_STAT(S(da, FAULT_ERRORS) >= 1, "no fault error counted");
	EXPECT_LOCAL_ERR(st, what);

	/* Mapped again: the same MR works. */
	map_fixed(a + page_size, hole);
	fill_pat(a, len, 5);
	pair_connect(&p);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS,
		  "WRITE after mmap again");
	check_pat(b, len, 5, "WRITE after mmap again");

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

static int t_local_sge_unmapped_write(void)
{
	return local_sge_unmapped(IBV_WR_RDMA_WRITE, "WRITE");
}

static int t_local_sge_unmapped_read(void)
{
	return local_sge_unmapped(IBV_WR_RDMA_READ, "READ");
}

static int t_local_sge_unmapped_send(void)
{
	return local_sge_unmapped(IBV_WR_SEND, "SEND");
}

/*
 * A receive whose SGE lies over unmapped pages of our MR: the SEND fails
 * with REM_OP_ERR at the sender, the receive with a local protection error
 * (the verbs spec's LOC_PROT_ERR), and nothing of the receive buffer
 * around the hole changes.
 */
static int t_local_sge_unmapped_recv(void)
{
	size_t len = MU_PAGES * page_size, hole = 2 * page_size;
	struct mrstat s0[2], s1[2], db;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	char *a, *b;
	int st, rst = 0;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(len, 0);
	b = map_anon(len, 0);
	ma = v_reg(&d, a, len, 0);
	mb = v_reg(&d, b, len, 0);
	fill_pat(a, len, 1);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS, "first WRITE");
	fill_pat(b, len, 2);
	stats2(ma, mb, s0);
	unmap(b + page_size, hole);

	fill_pat(a, len, 3);
	st = op_send(&p, ma, a, hole, mb, b + page_size, &rst);
	printf("status=%d recv_status=%d\n", st, rst);
	stats2(ma, mb, s1);
	stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	check_pat(b, page_size, 2, "the receiver's first page");
	check_pat_off(b + 3 * page_size, page_size, 2, 3 * page_size,
		      "the receiver's last page");
	CHECK_STAT(S(db, FAULT_ERRORS) >= 1, "no fault error counted");
	EXPECT_ST(st, IBV_WC_REM_OP_ERR, "SEND into an unmapped receive");
	EXPECT_LOCAL_ERR(rst, "receive over unmapped pages");

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

/*
 * Atomics on the responder's pages that are unmapped, or mapped PROT_READ
 * after an atomic mapped them writable: REM_ACCESS_ERR, the word unchanged.
 */
static int remote_atomic_denied(int do_mprotect)
{
	size_t len = MU_PAGES * page_size;
	struct mrstat s0[2], s1[2], db;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	uint64_t *w, *res;
	char *a, *b;
	int k;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(len, 0);
	b = map_anon(len, 0);
	ma = v_reg(&d, a, len, 0);
	mb = v_reg(&d, b, len, 0);
	w = (uint64_t *)(b + 2 * page_size + 64);
	res = (uint64_t *)a;
	*w = 100;
	EXPECT_ST(op_atomic(&p, IBV_WR_ATOMIC_FETCH_AND_ADD, ma, res, mb, w, 1, 0),
		  IBV_WC_SUCCESS, "first FETCH_ADD");
	CHECK(*res == 100 && *w == 101, "first FETCH_ADD: %llu, %llu",
	      (unsigned long long)*res, (unsigned long long)*w);
	stats2(ma, mb, s0);
	if (do_mprotect)
		xmprotect(b, len, PROT_READ);
	else
		unmap(b + page_size, 2 * page_size);

	for (k = 0; k < 2; k++) {
		enum ibv_wr_opcode op = k ? IBV_WR_ATOMIC_CMP_AND_SWP :
					    IBV_WR_ATOMIC_FETCH_AND_ADD;
		int st;

		*res = 7;
		pair_connect(&p);
		st = op_atomic(&p, op, ma, res, mb, w, k ? 101 : 1, 555);
		printf("%s_status=%d\n", k ? "cas" : "fadd", st);
		EXPECT_ST(st, IBV_WC_REM_ACCESS_ERR, k ?
			  (do_mprotect ? "CMP_SWAP on a PROT_READ page" :
					 "CMP_SWAP on an unmapped page") :
			  (do_mprotect ? "FETCH_ADD on a PROT_READ page" :
					 "FETCH_ADD on an unmapped page"));
		CHECK(*res == 7, "the failed atomic wrote %llu into our buffer",
		      (unsigned long long)*res);
		if (do_mprotect)
			CHECK(*w == 101, "a denied atomic changed the word to %llu",
			      (unsigned long long)*w);
	}
	stats2(ma, mb, s1);
	stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	CHECK_STAT(S(db, PAGE_INVALIDATIONS) >= 1, "no invalidation counted");
	CHECK_STAT(S(db, FAULT_ERRORS) >= 2, "%lld fault errors for 2 denied atomics",
	           (long long)S(db, FAULT_ERRORS));

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

static int t_munmap_remote_atomic(void)
{
	return remote_atomic_denied(0);
}

static int t_mprotect_remote_atomic(void)
{
	return remote_atomic_denied(1);
}

typedef int (*cmd_advise_fn)(struct ibv_pd *, enum ibv_advise_mr_advice,
			     uint32_t, struct ibv_sge *, uint32_t);

/*
 * ibv_advise_mr(PREFETCH_WRITE, FLUSH) of both MRs, then traffic: the
 * pages are mapped before the first access (page_prefetch counted, no
 * fault left for the transfer).  librxe 44 has no advise_mr, so the public
 * ibv_advise_mr() returns EOPNOTSUPP in userspace whatever the kernel does;
 * the kernel verb is then reached through libibverbs' own provider helper,
 * ibv_cmd_advise_mr() (the uverbs ADVISE_MR method, a private symbol
 * looked up at run time; skip if it is missing).
 */
static int t_advise_mr(void)
{
	size_t len = 64 * KIB, npages = len / page_size;
	struct mrstat s0[2], s1[2], s2[2], da, db;
	struct ibv_mr *ma, *mb;
	struct ibv_sge sge[2];
	struct vpair p;
	struct vdev d;
	char *a, *b;
	int err;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(len, 0);
	b = map_anon(len, 0);
	ma = v_reg(&d, a, len, 0);
	mb = v_reg(&d, b, len, 0);
	fill_pat(a, len, 1);
	stats2(ma, mb, s0);
	sge[0] = (struct ibv_sge){ .addr = (uintptr_t)a, .length = len,
				   .lkey = ma->lkey };
	sge[1] = (struct ibv_sge){ .addr = (uintptr_t)b, .length = len,
				   .lkey = mb->lkey };
	err = ibv_advise_mr(d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, sge, 2);
	printf("ibv_advise_mr=%d\n", err);
	if (err == EOPNOTSUPP) {
		cmd_advise_fn cmd = (cmd_advise_fn)dlsym(RTLD_DEFAULT,
							 "ibv_cmd_advise_mr");

		if (!cmd)
			SKIP("ibv_advise_mr: EOPNOTSUPP (the provider has no "
			     "advise_mr) and libibverbs has no ibv_cmd_advise_mr");
		err = cmd(d.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			  IBV_ADVISE_MR_FLAG_FLUSH, sge, 2);
		printf("ibv_cmd_advise_mr=%d\n", err);
	}
	if (err)
		FAIL("advise_mr: %s", strerror(err));
	stats2(ma, mb, s1);
	da = stat_delta("prefetch.a", &s0[0], &s1[0]);
	db = stat_delta("prefetch.b", &s0[1], &s1[1]);
	CHECK_STAT(S(da, PAGE_PREFETCH) >= 1 && S(db, PAGE_PREFETCH) >= 1,
	           "page_prefetch did not grow");
	CHECK_STAT(S(da, PAGES_MAPPED) >= (int64_t)npages &&
	           S(db, PAGES_MAPPED) >= (int64_t)npages,
	           "prefetch mapped %lld and %lld of %zu pages",
	           (long long)S(da, PAGES_MAPPED), (long long)S(db, PAGES_MAPPED),
	           npages);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS, "WRITE");
	check_pat(b, len, 1, "WRITE after prefetch");
	stats2(ma, mb, s2);
	da = stat_delta("traffic.a", &s1[0], &s2[0]);
	db = stat_delta("traffic.b", &s1[1], &s2[1]);
	CHECK_STAT(!S(da, PAGE_FAULTS) && !S(db, PAGE_FAULTS),
	           "the prefetched pages were faulted again");

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

/* ====================================================================== */
/* fork, mremap, NUMA migration                                            */
/* ====================================================================== */

static void wr_byte(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		FAIL("pipe write: %s", strerror(errno));
}

static char rd_byte(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, ms) != 1 || read(fd, &c, 1) != 1)
		FAIL("no message from the other process within %d ms", ms);
	return c;
}

/* The child's own check: no FAIL (exit handlers), just a status. */
static int pat_ok(const void *buf, size_t len, uint32_t seed)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != pat(seed, i))
			return 0;
	return 1;
}

#define FK_PAGES	8

/*
 * fork() with the responder's ODP MR live and mapped writable:
 *  1. the parent's device WRITE into the first half must COW in the parent
 *     (the child still sees the pre-fork data there);
 *  2. the child writes its copy of the second half: the parent's device
 *     READ must still return the parent's data;
 *  3. the parent's CPU writes its second half: the device READ sees it.
 */
static int t_fork_cow(void)
{
	size_t len = FK_PAGES * page_size, half = len / 2;
	struct mrstat s0[2], s1[2], db;
	int p2c[2], c2p[2], status;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	char *a, *b;
	pid_t pid;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(2 * len, 0);		/* source | read-back */
	b = map_anon(len, 0);
	ma = v_reg(&d, a, 2 * len, 0);
	mb = v_reg(&d, b, len, 0);
	fill_pat(a, half, 11);
	fill_pat(a + half, half, 12);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS, "first WRITE");
	check_pat(b, half, 11, "first WRITE");
	stats2(ma, mb, s0);

	if (pipe(p2c) || pipe(c2p))
		FAIL("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (!pid) {
		int ok;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p2c[1]);
		close(c2p[0]);
		rd_byte(p2c[0], 30000);
		/* 1: the parent's device write did not reach our copy. */
		ok = pat_ok(b, half, 11) && pat_ok(b + half, half, 12);
		fill_pat(b + half, half, 22);	/* 2: our own COW copy */
		wr_byte(c2p[1], ok ? 'y' : '1');
		rd_byte(p2c[0], 30000);
		ok = pat_ok(b, half, 11) && pat_ok(b + half, half, 22);
		wr_byte(c2p[1], ok ? 'y' : '3');
		_exit(ok ? 0 : 1);
	}
	close(p2c[0]);
	close(c2p[1]);

	/* 1 */
	fill_pat(a, half, 13);
	EXPECT_ST(op_write(&p, ma, a, half, mb, b), IBV_WC_SUCCESS,
		  "WRITE after fork");
	check_pat(b, half, 13, "parent's first half after the device WRITE");
	wr_byte(p2c[1], 'g');
	if (rd_byte(c2p[0], 30000) != 'y')
		FAIL("the child's copy changed: the parent's device WRITE after "
		     "fork() landed in a page the child still maps");
	/* 2 */
	EXPECT_ST(op_read(&p, ma, a + len, len, mb, b), IBV_WC_SUCCESS,
		  "READ after the child wrote its copy");
	check_pat(a + len, half, 13, "device READ of the first half");
	check_pat(a + len + half, half, 12,
		  "device READ of the second half after the child wrote its copy");
	check_pat(b + half, half, 12, "parent's CPU view of the second half");
	/* 3 */
	fill_pat(b + half, half, 14);
	EXPECT_ST(op_read(&p, ma, a + len, len, mb, b), IBV_WC_SUCCESS,
		  "READ after the parent's CPU write");
	check_pat(a + len + half, half, 14,
		  "device READ after the parent's CPU write");
	wr_byte(p2c[1], 'g');
	if (rd_byte(c2p[0], 30000) != 'y')
		FAIL("the child's copy changed after the parent's writes");
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		FAIL("child status 0x%x", status);

	stats2(ma, mb, s1);
	stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	CHECK_STAT(S(db, PAGE_INVALIDATIONS) > 0,
	           "fork's write-protect / COW invalidated nothing");
	CHECK_STAT(S(db, PAGE_FAULTS) > 0, "no fault after fork");

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

/*
 * mremap(MREMAP_MAYMOVE|MREMAP_FIXED) of the responder's registered buffer:
 * the old range gives REM_ACCESS_ERR for WRITE and READ; a new MR on the
 * new range works, with the data that moved.
 */
static int t_mremap_move(void)
{
	size_t len = 8 * page_size;
	struct mrstat s0[2], s1[2], db;
	struct ibv_mr *ma, *mb, *mb2;
	struct vpair p;
	struct vdev d;
	char *a, *b, *y;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(len, 0);
	b = map_anon(len, 0);
	y = map_anon(len, 0);			/* where b goes */
	ma = v_reg(&d, a, len, 0);
	mb = v_reg(&d, b, len, 0);
	fill_pat(b, len, 1);
	EXPECT_ST(op_read(&p, ma, a, len, mb, b), IBV_WC_SUCCESS, "first READ");
	check_pat(a, len, 1, "first READ");
	fill_pat(a, len, 2);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS, "first WRITE");
	stats2(ma, mb, s0);

	if (mremap(b, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, y) != y)
		FAIL("mremap: %s", strerror(errno));
	/* Nothing may be mapped at b from here until the checks are done. */
	fill_pat(a, len, 3);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_REM_ACCESS_ERR,
		  "WRITE to the old range");
	pair_connect(&p);
	EXPECT_ST(op_read(&p, ma, a, len, mb, b), IBV_WC_REM_ACCESS_ERR,
		  "READ from the old range");
	check_pat(a, len, 3, "our buffer after the failed READ");
	check_pat(y, len, 2, "the moved pages");
	stats2(ma, mb, s1);
	stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	CHECK_STAT(S(db, PAGE_INVALIDATIONS) >= 8,
	           "mremap of 8 mapped pages: %lld invalidations",
	           (long long)S(db, PAGE_INVALIDATIONS));

	mb2 = v_reg(&d, y, len, 0);
	pair_connect(&p);
	EXPECT_ST(op_read(&p, ma, a, len, mb2, y), IBV_WC_SUCCESS,
		  "READ via a new MR on the new range");
	check_pat(a, len, 2, "READ via a new MR on the new range");
	fill_pat(a, len, 4);
	EXPECT_ST(op_write(&p, ma, a, len, mb2, y), IBV_WC_SUCCESS,
		  "WRITE via a new MR on the new range");
	check_pat(y, len, 4, "WRITE via a new MR on the new range");

	v_dereg(ma);
	v_dereg(mb);
	v_dereg(mb2);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

#define NM_PAGES	16
#define NM_ITERS	4

/* Move every page of [addr, addr+len) to node; FAIL unless all got there. */
static size_t move_to(void *addr, size_t len, int node)
{
	size_t n = len / page_size, i;
	void *pages[64];
	int nodes[64], status[64];

	if (n > 64)
		FAIL("move_to: %zu pages", n);
	for (i = 0; i < n; i++) {
		pages[i] = (char *)addr + i * page_size;
		nodes[i] = node;
		status[i] = -1;
	}
	if (syscall(SYS_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE))
		FAIL("move_pages(%zu pages to node %d): %s", n, node,
		     strerror(errno));
	for (i = 0; i < n; i++)
		if (status[i] != node)
			FAIL("move_pages: page %zu (%p) status %d, expected "
			     "node %d", i, pages[i], status[i], node);
	return n;
}

/* The node of the page at addr. */
static int page_node(void *addr)
{
	int status = -1;

	if (syscall(SYS_move_pages, 0, 1UL, &addr, NULL, &status, 0) ||
	    status < 0)
		FAIL("move_pages(query %p): %s, status %d", addr,
		     strerror(errno), status);
	return status;
}

/*
 * move_pages() of both registered buffers to the other NUMA node before
 * every WRITE and every READ: the data stays right, and the migrations
 * invalidate the device's translations.
 */
static int t_numa_migrate(void)
{
	size_t len = NM_PAGES * page_size, moved = 0;
	struct mrstat s0[2], s1[2], da, db;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	char *a, *b;
	int it, node;

	if (numa_nodes() < 2)
		SKIP("fewer than 2 NUMA nodes");
	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(2 * len, 0);		/* source | read-back */
	b = map_anon(len, 0);
	memset(a, 1, 2 * len);
	memset(b, 1, len);
	ma = v_reg(&d, a, 2 * len, 0);
	mb = v_reg(&d, b, len, 0);
	stats2(ma, mb, s0);

	/* Every move really moves: always to the node the pages are not on. */
	node = page_node(b);
	for (it = 0; it < NM_ITERS; it++) {
		fill_pat(a, len, 50 + it);
		node = !node;
		moved += move_to(a, 2 * len, node);
		moved += move_to(b, len, node);
		EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS,
			  "WRITE after migration");
		check_pat(b, len, 50 + it, "WRITE after migration");
		node = !node;
		moved += move_to(a, 2 * len, node);
		moved += move_to(b, len, node);
		EXPECT_ST(op_read(&p, ma, a + len, len, mb, b), IBV_WC_SUCCESS,
			  "READ after migration");
		check_pat(a + len, len, 50 + it, "READ after migration");
	}

	stats2(ma, mb, s1);
	da = stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	printf("pages_moved=%zu\n", moved);
	/* Every migration after the first moved device-mapped pages. */
	CHECK_STAT(S(db, PAGE_INVALIDATIONS) >= (int64_t)((2 * NM_ITERS - 1) * NM_PAGES),
	           "b: %lld invalidations for %d migrations of %d mapped pages",
	           (long long)S(db, PAGE_INVALIDATIONS), 2 * NM_ITERS - 1, NM_PAGES);
	CHECK_STAT(S(da, PAGE_INVALIDATIONS) > 0, "a: no invalidation");
	CHECK_STAT(S(db, PAGE_FAULTS) >= (int64_t)(2 * NM_ITERS * NM_PAGES),
	           "b: %lld faults", (long long)S(db, PAGE_FAULTS));

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

/* ====================================================================== */
/* Huge pages                                                              */
/* ====================================================================== */

/* WRITE, READ and SEND of about 1 MiB across the 2 MiB boundary. */
static void huge_traffic(struct vpair *p, struct ibv_mr *ma, char *a,
			 struct ibv_mr *mb, char *b, uint32_t seed)
{
	size_t len = MIB + 333;
	char *la = a + HUGE_SZ - 5000, *rb = b + HUGE_SZ - 3001;
	int rst;

	fill_pat(la, len, seed);
	EXPECT_ST(op_write(p, ma, la, len, mb, rb), IBV_WC_SUCCESS,
		  "WRITE across 2 MiB");
	check_pat(rb, len, seed, "WRITE across 2 MiB");

	la = a + 4097;
	rb = b + HUGE_SZ - MIB / 2 + 11;
	fill_pat(rb, len, seed + 1);
	EXPECT_ST(op_read(p, ma, la, len, mb, rb), IBV_WC_SUCCESS,
		  "READ across 2 MiB");
	check_pat(la, len, seed + 1, "READ across 2 MiB");

	la = a + HUGE_SZ + 1;
	rb = b + HUGE_SZ - 100;
	fill_pat(la, 256 * KIB, seed + 2);
	EXPECT_ST(op_send(p, ma, la, 256 * KIB, mb, rb, &rst), IBV_WC_SUCCESS,
		  "SEND across 2 MiB");
	EXPECT_ST(rst, IBV_WC_SUCCESS, "receive across 2 MiB");
	check_pat(rb, 256 * KIB, seed + 2, "SEND across 2 MiB");
}

/*
 * THP-backed buffers (2 MiB aligned, MADV_HUGEPAGE): traffic across the
 * huge page boundary, then again after a 4 KiB MADV_DONTNEED splits one
 * huge page and a whole huge page is dropped.
 */
static int t_thp(void)
{
	size_t len = 2 * HUGE_SZ;
	struct mrstat s0[2], s1[2], da, db;
	struct ibv_mr *ma, *mb;
	long huge_a, huge_b;
	struct vpair p;
	struct vdev d;
	char *a, *b;

	if (!thp_enabled())
		SKIP("transparent huge pages disabled");
	a = map_aligned(len, HUGE_SZ);
	b = map_aligned(len, HUGE_SZ);
	xmadvise(a, len, MADV_HUGEPAGE);
	xmadvise(b, len, MADV_HUGEPAGE);
	memset(a, 0x5a, len);
	memset(b, 0x5a, len);
	huge_a = anon_huge_bytes(a);
	huge_b = anon_huge_bytes(b);
	printf("anon_huge_a=%ld anon_huge_b=%ld\n", huge_a, huge_b);
	if (huge_a < (long)HUGE_SZ || huge_b < (long)HUGE_SZ)
		SKIP("no THP behind the buffers (AnonHugePages %ld, %ld)",
		     huge_a, huge_b);

	v_open(&d);
	pair_create(&d, &p);
	ma = v_reg(&d, a, len, 0);
	mb = v_reg(&d, b, len, 0);
	stats2(ma, mb, s0);
	huge_traffic(&p, ma, a, mb, b, 300);
	printf("anon_huge_after_traffic=%ld\n", anon_huge_bytes(b));
	CHECK(anon_huge_bytes(b) >= (long)HUGE_SZ,
	      "device traffic split the responder's huge pages");

	/* A 4 KiB hole in b's first huge page (PMD split), a's first dropped. */
	xmadvise(b + HUGE_SZ - 64 * KIB, page_size, MADV_DONTNEED);
	xmadvise(a, HUGE_SZ, MADV_DONTNEED);
	huge_traffic(&p, ma, a, mb, b, 400);

	stats2(ma, mb, s1);
	da = stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	CHECK_STAT(S(da, PAGE_FAULTS) > 0 && S(db, PAGE_FAULTS) > 0, "no faults");
	CHECK_STAT(S(db, PAGE_INVALIDATIONS) > 0, "the split invalidated nothing");
	CHECK_STAT(S(da, PAGE_INVALIDATIONS) > 0, "the drop invalidated nothing");

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

/*
 * hugetlb buffers (MAP_HUGETLB, 2 MiB pages) registered with
 * IBV_ACCESS_HUGETLB: the responder's pages are first touched by the
 * device; traffic across the boundary; then MADV_DONTNEED of all of it and
 * traffic again.
 */
static int t_hugetlb(void)
{
	size_t len = 2 * HUGE_SZ;
	struct mrstat s0[2], s1[2], da, db;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	char *a, *b;

	if (hugetlb_free() < 4)
		SKIP("fewer than 4 free 2 MiB hugetlb pages (%ld)",
		     hugetlb_free());
	a = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	b = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		SKIP("mmap(MAP_HUGETLB): %s", strerror(errno));

	v_open(&d);
	pair_create(&d, &p);
	ma = v_reg(&d, a, len, IBV_ACCESS_HUGETLB);
	mb = v_reg(&d, b, len, IBV_ACCESS_HUGETLB);
	stats2(ma, mb, s0);
	huge_traffic(&p, ma, a, mb, b, 500);
	check_bytes(b, HUGE_SZ - MIB / 2 + 11, 0, "untouched start of b");

	xmadvise(a, len, MADV_DONTNEED);
	xmadvise(b, len, MADV_DONTNEED);
	check_bytes(b, len, 0, "b after MADV_DONTNEED");
	huge_traffic(&p, ma, a, mb, b, 600);

	stats2(ma, mb, s1);
	da = stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	CHECK_STAT(S(da, PAGE_FAULTS) > 0 && S(db, PAGE_FAULTS) > 0, "no faults");
	CHECK_STAT(S(da, PAGE_INVALIDATIONS) > 0 && S(db, PAGE_INVALIDATIONS) > 0,
	           "MADV_DONTNEED of hugetlb pages invalidated nothing");

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	munmap(a, len);
	munmap(b, len);
	return T_PASS;
}

/* ====================================================================== */
/* Implicit ODP                                                            */
/* ====================================================================== */

/*
 * Two implicit MRs (ibv_reg_mr(pd, NULL, SIZE_MAX, ON_DEMAND)), one per
 * side; every buffer is mmap'ed after the registration and used at once as
 * the source and the target of SEND, WRITE, READ and both atomics.  Then
 * an unmapped address under the implicit rkey: REM_ACCESS_ERR.
 */
static int t_implicit(void)
{
	size_t len = 256 * KIB;
	struct mrstat s0[2], s1[2], da, db;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	char *a, *b, *big;
	uint64_t *wa, *wb;
	int rst;

	v_open(&d);
	pair_create(&d, &p);
	ma = v_reg_implicit(&d);
	mb = v_reg_implicit(&d);
	stats2(ma, mb, s0);

	a = map_anon(len, 0);
	b = map_anon(len, 0);
	fill_pat(a + 1, len - 8, 1);
	EXPECT_ST(op_send(&p, ma, a + 1, len - 8, mb, b + 3, &rst),
		  IBV_WC_SUCCESS, "SEND");
	EXPECT_ST(rst, IBV_WC_SUCCESS, "receive");
	check_pat(b + 3, len - 8, 1, "SEND");

	fill_pat(a, len, 2);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS, "WRITE");
	check_pat(b, len, 2, "WRITE");

	fill_pat(b + 100, 100 * KIB, 3);
	EXPECT_ST(op_read(&p, ma, a + 5000, 100 * KIB, mb, b + 100),
		  IBV_WC_SUCCESS, "READ");
	check_pat(a + 5000, 100 * KIB, 3, "READ");

	wa = (uint64_t *)(a + 64 * KIB);
	wb = (uint64_t *)(b + 128 * KIB);
	*wb = 41;
	EXPECT_ST(op_atomic(&p, IBV_WR_ATOMIC_FETCH_AND_ADD, ma, wa, mb, wb, 1, 0),
		  IBV_WC_SUCCESS, "FETCH_ADD");
	CHECK(*wa == 41 && *wb == 42, "FETCH_ADD: returned %llu, holds %llu",
	      (unsigned long long)*wa, (unsigned long long)*wb);
	EXPECT_ST(op_atomic(&p, IBV_WR_ATOMIC_CMP_AND_SWP, ma, wa + 1, mb, wb,
			    42, 0xabcdef), IBV_WC_SUCCESS, "CMP_SWAP");
	CHECK(wa[1] == 42 && *wb == 0xabcdef, "CMP_SWAP: returned %llu, holds 0x%llx",
	      (unsigned long long)wa[1], (unsigned long long)*wb);

	/* A fresh 1 MiB target nobody touched, and one untouched source. */
	big = map_anon(MIB, 0);
	EXPECT_ST(op_write(&p, ma, b, len, mb, big + 1), IBV_WC_SUCCESS,
		  "WRITE into fresh memory");
	check_bytes(big, 1, 0, "byte before the WRITE");
	CHECK(!memcmp(big + 1, b, len), "WRITE into fresh memory: data differs");
	EXPECT_ST(op_read(&p, ma, a, 64 * KIB, mb, big + 512 * KIB),
		  IBV_WC_SUCCESS, "READ of untouched memory");
	check_bytes(a, 64 * KIB, 0, "READ of untouched memory");

	stats2(ma, mb, s1);
	da = stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	CHECK_STAT(S(da, PAGE_FAULTS) > 0, "a: no faults counted");
	CHECK_STAT(S(db, PAGE_FAULTS) > 0, "b: no faults counted");

	/* Unmapped under the implicit MR: an access error, nothing else. */
	unmap(big, MIB);
	EXPECT_ST(op_write(&p, ma, a, len, mb, big), IBV_WC_REM_ACCESS_ERR,
		  "WRITE to unmapped memory under the implicit MR");
	pair_connect(&p);
	EXPECT_ST(op_read(&p, ma, a, len, mb, big), IBV_WC_REM_ACCESS_ERR,
		  "READ of unmapped memory under the implicit MR");
	pair_connect(&p);
	fill_pat(a, len, 9);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS,
		  "WRITE after the errors");
	check_pat(b, len, 9, "WRITE after the errors");

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

/* ====================================================================== */
/* kill -9 mid-traffic                                                     */
/* ====================================================================== */

#define KL_LEN		(MIB)
#define KL_CHUNK	(64 * KIB)
#define KL_DEPTH	16

/* The victim: streams WRITEs and READs over its own QPs until killed. */
static void kill_victim(int fd)
{
	struct ibv_wc wc[KL_DEPTH];
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	uint64_t n = 0;
	int out = 0;
	char *a, *b;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(KL_LEN, 0);
	b = map_anon(KL_LEN, 0);
	memset(a, 7, KL_LEN);
	ma = v_reg(&d, a, KL_LEN, 0);
	mb = v_reg(&d, b, KL_LEN, 0);
	for (;;) {
		while (out < KL_DEPTH) {
			size_t off = (n % (KL_LEN / KL_CHUNK)) * KL_CHUNK;

			post_op(p.a, n % 2 ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE,
				n, ma, a + off, KL_CHUNK, mb->rkey,
				(uintptr_t)b + off, 0, 0);
			n++;
			out++;
		}
		wait_wcs(p.cqa, 1, wc, "victim");
		out--;
		expect_wc(wc, IBV_WC_SUCCESS, "victim's request");
		if (n == 2 * KL_DEPTH)
			wr_byte(fd, 's');	/* streaming, WRs in flight */
		if (n % 8 == 0)
			xmadvise(b, KL_LEN, MADV_DONTNEED);
	}
}

/*
 * A process doing RDMA on its own QPs and ODP MRs is killed with SIGKILL
 * while its WRs are in flight: its MRs and QPs disappear from `rdma res
 * show` and the device's MR and QP counts are back to what they were (the
 * kernel log is checked by the harness).
 */
static int t_kill9_midtraffic(void)
{
	const char *dev = getenv("VERBS_DEV") ? getenv("VERBS_DEV") : "rxe0";
	int mrs_before, qps_before, mrs_during, qps_during, mrs, qps;
	int fds[2], status;
	uint64_t end;
	struct vdev d;
	pid_t pid;

	v_open(&d);			/* only to skip without ODP */
	v_close(&d);
	mrs_before = rdma_mr_count(dev, -1);
	qps_before = rdma_qp_count(dev, -1);
	if (pipe(fds))
		FAIL("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		kill_victim(fds[1]);
		_exit(1);
	}
	close(fds[1]);
	rd_byte(fds[0], 30000);
	mrs_during = rdma_mr_count(dev, pid);
	qps_during = rdma_qp_count(dev, pid);
	printf("victim=%d mrs_before=%d qps_before=%d victim_mrs=%d "
	       "victim_qps=%d\n", (int)pid, mrs_before, qps_before, mrs_during,
	       qps_during);
	usleep(100 * 1000);
	if (kill(pid, SIGKILL))
		FAIL("kill: %s", strerror(errno));
	if (waitpid(pid, &status, 0) != pid)
		FAIL("waitpid: %s", strerror(errno));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		FAIL("the victim was not killed by SIGKILL (status 0x%x): it "
		     "failed before", status);
	CHECK(mrs_during == 2 && qps_during == 2,
	      "the victim had %d MRs and %d QPs, expected 2 and 2",
	      mrs_during, qps_during);

	end = now_ms() + 10000;
	do {
		mrs = rdma_mr_count(dev, -1);
		qps = rdma_qp_count(dev, -1);
		if (mrs == mrs_before && qps == qps_before &&
		    !rdma_mr_count(dev, pid))
			break;
		usleep(100 * 1000);
	} while (now_ms() < end);
	printf("mrs_after=%d qps_after=%d victim_mrs_after=%d\n", mrs, qps,
	       rdma_mr_count(dev, pid));
	CHECK(mrs == mrs_before && qps == qps_before,
	      "10 s after the kill: %d MRs (before %d), %d QPs (before %d)",
	      mrs, mrs_before, qps, qps_before);
	return T_PASS;
}

/* ====================================================================== */
/* A fault storm over many QPs                                             */
/* ====================================================================== */

#define ST_QPS		16
#define ST_CHUNK	(64 * KIB)
#define ST_ITERS	4

/*
 * 16 QP pairs share one ODP MR per side; before every iteration all pages
 * of both are dropped, then every QP WRITEs its slice and READs it back
 * (all 32 requests posted before any is waited for).
 */
static int t_storm_16qp(void)
{
	size_t len = ST_QPS * ST_CHUNK, npages = len / page_size;
	struct mrstat s0[2], s1[2], da, db;
	struct vpair p[ST_QPS];
	struct ibv_mr *ma, *mb;
	struct ibv_wc wc[2];
	struct vdev d;
	char *a, *b;
	int it, q;

	v_open(&d);
	for (q = 0; q < ST_QPS; q++)
		pair_create(&d, &p[q]);
	a = map_anon(2 * len, 0);		/* sources | read-backs */
	b = map_anon(len, 0);
	ma = v_reg(&d, a, 2 * len, 0);
	mb = v_reg(&d, b, len, 0);
	stats2(ma, mb, s0);

	for (it = 0; it < ST_ITERS; it++) {
		xmadvise(a, 2 * len, MADV_DONTNEED);
		xmadvise(b, len, MADV_DONTNEED);
		for (q = 0; q < ST_QPS; q++)
			fill_pat(a + q * ST_CHUNK, ST_CHUNK, 1000 * it + q);
		for (q = 0; q < ST_QPS; q++) {
			char *src = a + q * ST_CHUNK, *rb = b + q * ST_CHUNK;

			post_op(p[q].a, IBV_WR_RDMA_WRITE, 1, ma, src, ST_CHUNK,
				mb->rkey, (uintptr_t)rb, 0, 0);
			post_op(p[q].a, IBV_WR_RDMA_READ, 2, ma, src + len,
				ST_CHUNK, mb->rkey, (uintptr_t)rb, 0, 0);
		}
		for (q = 0; q < ST_QPS; q++) {
			char what[64];

			snprintf(what, sizeof(what), "iteration %d QP %d", it, q);
			wait_wcs(p[q].cqa, 2, wc, what);
			expect_wc(&wc[0], IBV_WC_SUCCESS, what);
			expect_wc(&wc[1], IBV_WC_SUCCESS, what);
		}
		for (q = 0; q < ST_QPS; q++) {
			char what[64];

			snprintf(what, sizeof(what), "iteration %d QP %d WRITE",
				 it, q);
			check_pat(b + q * ST_CHUNK, ST_CHUNK, 1000 * it + q, what);
			snprintf(what, sizeof(what), "iteration %d QP %d READ",
				 it, q);
			check_pat(a + len + q * ST_CHUNK, ST_CHUNK,
				  1000 * it + q, what);
		}
	}

	stats2(ma, mb, s1);
	da = stat_delta("a", &s0[0], &s1[0]);
	db = stat_delta("b", &s0[1], &s1[1]);
	printf("qps=%d iters=%d\n", ST_QPS, ST_ITERS);
	CHECK_STAT(S(da, PAGE_FAULTS) >= (int64_t)(ST_ITERS * 2 * npages),
	           "a: %lld faults", (long long)S(da, PAGE_FAULTS));
	CHECK_STAT(S(db, PAGE_FAULTS) >= (int64_t)(ST_ITERS * npages),
	           "b: %lld faults", (long long)S(db, PAGE_FAULTS));
	CHECK_STAT(S(db, PAGE_INVALIDATIONS) >= (int64_t)((ST_ITERS - 1) * npages),
	           "b: %lld invalidations", (long long)S(db, PAGE_INVALIDATIONS));

	v_dereg(ma);
	v_dereg(mb);
	for (q = 0; q < ST_QPS; q++)
		pair_destroy(&p[q]);
	v_close(&d);
	return T_PASS;
}

/*
 * A message into a buffer whose head is in the device's cache and whose
 * tail was dropped since: with odp_fault=deferred the responder NAKs the
 * first packet into the tail (an RNR NAK in the middle of the message) and
 * the requester's retry goes on from there.  1 MiB + unaligned, so the
 * fault-ahead of one deferred fault (256 KiB) does not cover the rest and
 * a fully dropped buffer (first iteration) NAKs several times too.
 */
#define TAIL_LEN	(1024 * KIB + 5000)
#define TAIL_OFF	100
#define TAIL_ITERS	4

static int tail_xfer(enum ibv_wr_opcode op, const char *name)
{
	size_t maplen = TAIL_LEN + 2 * page_size;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	char *a, *b;
	int it;

	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(maplen, 0);
	b = map_anon(maplen, 0);
	ma = v_reg(&d, a, maplen, 0);
	mb = v_reg(&d, b, maplen, 0);

	for (it = 0; it < TAIL_ITERS; it++) {
		/* it 0: all dropped; then the tail from 3/8, 5/8, 7/8 on */
		size_t cut = it ? (size_t)TAIL_LEN * (2 * it + 1) / 8 /
				  page_size * page_size : 0;
		uint32_t seed = 300 * op + it + 1;
		char what[80];
		int st, rst = 0;

		/* the whole buffer into the device's cache, then the tail out */
		fill_pat(a + TAIL_OFF, TAIL_LEN, seed + 1000);
		if (op == IBV_WR_SEND)
			st = op_send(&p, ma, a + TAIL_OFF, TAIL_LEN, mb,
				     b + TAIL_OFF, &rst);
		else
			st = op_write(&p, ma, a + TAIL_OFF, TAIL_LEN, mb,
				      b + TAIL_OFF);
		snprintf(what, sizeof(what), "%s iteration %d warm-up", name, it);
		EXPECT_ST(st, IBV_WC_SUCCESS, what);
		EXPECT_ST(rst, IBV_WC_SUCCESS, what);
		xmadvise(b + cut, maplen - cut, MADV_DONTNEED);

		fill_pat(a + TAIL_OFF, TAIL_LEN, seed);
		if (op == IBV_WR_SEND)
			st = op_send(&p, ma, a + TAIL_OFF, TAIL_LEN, mb,
				     b + TAIL_OFF, &rst);
		else
			st = op_write(&p, ma, a + TAIL_OFF, TAIL_LEN, mb,
				      b + TAIL_OFF);
		snprintf(what, sizeof(what), "%s iteration %d (tail from %zu)",
			 name, it, cut);
		EXPECT_ST(st, IBV_WC_SUCCESS, what);
		EXPECT_ST(rst, IBV_WC_SUCCESS, what);
		check_pat(b + TAIL_OFF, TAIL_LEN, seed, what);
	}
	printf("iters=%d len=%lu\n", TAIL_ITERS, (unsigned long)TAIL_LEN);

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	return T_PASS;
}

static int t_dropped_tail_write(void)
{
	return tail_xfer(IBV_WR_RDMA_WRITE, "WRITE");
}

static int t_dropped_tail_send(void)
{
	return tail_xfer(IBV_WR_SEND, "SEND");
}

/*
 * An explicit ODP MR over 16 GiB of address space of which only the first
 * 64 KiB is mapped.  Registration touches nothing of the range (our rxe's
 * translation cache allocates 8 bytes per GiB of the span with the MR, and
 * a table and a block of entries only where a page is faulted); the mapped
 * start works both ways, and a WRITE to the span's
 * last page, which nothing maps, is a remote access error.
 */
#define SPARSE_SPAN	(16ULL << 30)
#define SPARSE_BASE	(1ULL << 45)	/* 32 TiB: nothing is mapped there */

static int t_sparse_span(void)
{
	size_t len = 64 * KIB;
	struct ibv_mr *ma, *mb;
	struct vpair p;
	struct vdev d;
	char *a, *b;

	b = mmap((void *)SPARSE_BASE, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (b == MAP_FAILED)
		FAIL("mmap of 64 KiB at %#llx: %s", SPARSE_BASE, strerror(errno));
	CHECK((uintptr_t)b == SPARSE_BASE, "mmap at %#llx gave %p",
	      SPARSE_BASE, (void *)b);
	v_open(&d);
	pair_create(&d, &p);
	a = map_anon(len, 0);
	ma = v_reg(&d, a, len, 0);
	mb = v_reg(&d, b, SPARSE_SPAN, 0);

	fill_pat(a, len, 11);
	EXPECT_ST(op_write(&p, ma, a, len, mb, b), IBV_WC_SUCCESS,
		  "WRITE into the mapped start of the span");
	check_pat(b, len, 11, "WRITE");
	fill_pat(b + 100, len - 200, 12);
	EXPECT_ST(op_read(&p, ma, a + 100, len - 200, mb, b + 100),
		  IBV_WC_SUCCESS, "READ from the mapped start of the span");
	check_pat(a + 100, len - 200, 12, "READ");
	EXPECT_ST(op_write(&p, ma, a, 4 * KIB, mb,
			   b + SPARSE_SPAN - 4 * KIB),
		  IBV_WC_REM_ACCESS_ERR, "WRITE to the span's unmapped end");
	printf("span=%llu mapped=%zu\n", SPARSE_SPAN, len);

	v_dereg(ma);
	v_dereg(mb);
	pair_destroy(&p);
	v_close(&d);
	unmap(a, len);
	unmap(b, len);
	return T_PASS;
}

static const struct vtest tests[] = {
	{ "dontneed_send", t_dontneed_send },
	{ "dontneed_write", t_dontneed_write },
	{ "dontneed_read", t_dontneed_read },
	{ "dontneed_cas", t_dontneed_cas },
	{ "dontneed_fadd", t_dontneed_fadd },
	{ "unaligned_write", t_unaligned_write },
	{ "unaligned_read", t_unaligned_read },
	{ "unaligned_send", t_unaligned_send },
	{ "munmap_remote_write", t_munmap_remote_write },
	{ "munmap_remote_read", t_munmap_remote_read },
	{ "mprotect_remote_write", t_mprotect_remote_write },
	{ "local_sge_unmapped_write", t_local_sge_unmapped_write },
	{ "local_sge_unmapped_read", t_local_sge_unmapped_read },
	{ "local_sge_unmapped_send", t_local_sge_unmapped_send },
	{ "local_sge_unmapped_recv", t_local_sge_unmapped_recv },
	{ "munmap_remote_atomic", t_munmap_remote_atomic },
	{ "mprotect_remote_atomic", t_mprotect_remote_atomic },
	{ "advise_mr", t_advise_mr },
	{ "fork_cow", t_fork_cow },
	{ "mremap_move", t_mremap_move },
	{ "numa_migrate", t_numa_migrate },
	{ "thp", t_thp },
	{ "hugetlb", t_hugetlb },
	{ "implicit", t_implicit },
	{ "kill9_midtraffic", t_kill9_midtraffic },
	{ "storm_16qp", t_storm_16qp },
	{ "dropped_tail_write", t_dropped_tail_write },
	{ "dropped_tail_send", t_dropped_tail_send },
	{ "sparse_span", t_sparse_span },
};

TEST_MAIN(tests)
