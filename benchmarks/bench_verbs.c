// SPDX-License-Identifier: MIT
/*
 * ODP through plain libibverbs on an RDMA device (rxe0: our ODP rxe on the
 * 6.12 kernel, or upstream's rxe on the 6.18 anchor kernel).  Every figure
 * has its baseline measured in the same process, interleaved with it.  The
 * QPs are RC pairs of one process connected to each other (tests/verbs/vt.c:
 * GID index 1, path MTU 1024).  Prints JSON Lines, one sample per line.
 *
 *   bench_verbs storm  [--qps N] [--size B] [--iters N] [--reps N] [--op write|read]
 *	N QP pairs over one ODP MR per side (each pair its own slice of B
 *	bytes; --mr-per-qp: one MR per pair and side).  One iteration: one
 *	WR of B bytes posted on every pair, then all completions waited for.
 *	Timed per repetition, in this order: "resident" (pages stay
 *	device-mapped), "storm" (MADV_DONTNEED of both sides' buffers before
 *	every iteration: every page is faulted in again by the device),
 *	"storm_prefetch" (the same, then advise_mr(PREFETCH_WRITE, FLUSH) of
 *	both MRs before posting: the faults happen in the syscall, not in the
 *	transfer).  After the timed runs one checked iteration (pattern in
 *	the sources, both sides dropped first) says whether the data arrived.
 *
 *   bench_verbs reg    [--size B] [--reps N]
 *	ibv_reg_mr + ibv_dereg_mr of B bytes (default 1 GiB) of untouched and
 *	of touched anonymous memory: IBV_ACCESS_ON_DEMAND vs pinned.
 *
 *   bench_verbs fault  [--batches 1,16,256] [--iters N] [--reps N]
 *	The device's fault path per page against the CPU's first touch of as
 *	much fresh memory.  Per batch of P pages: "write_fault" = RDMA WRITE
 *	of P pages into a target dropped (MADV_DONTNEED) before every
 *	iteration, minus "write_resident", the same WRITE into a resident
 *	target; "prefetch" = advise_mr(PREFETCH_WRITE, FLUSH) of P dropped
 *	pages; "cpu" = MADV_DONTNEED then one write per page by the CPU.
 *	The timed regions contain only the transfer / the advise call / the
 *	touches, never the madvise.
 *
 *   bench_verbs inval  [--sizes 16,512,8192] [--reps N] [--no-thp]
 *	munmap and MADV_DONTNEED of touched anonymous ranges (4 KiB pages;
 *	THP: 2 MiB-aligned with MADV_HUGEPAGE), timed alone, in four
 *	states: "plain" (no MR over it), "registered" (an ODP MR over it,
 *	nothing device-mapped), "mapped" (every page device-mapped by
 *	advise_mr(PREFETCH_WRITE, FLUSH)) - all three after the same calls,
 *	over the range or another one (inval_time()) - and "bare" (no MR, no
 *	calls before).  As bench_inval does, a small range is done "inner"
 *	times per state and rep, on fresh ranges written in batches before
 *	their calls (SAMPLE_AHEAD_BYTES), and the sample is the median of
 *	those: one call of a few tens of microseconds is mostly the VM's
 *	noise.
 *
 *   bench_verbs check
 *	Not a timing: whether the data arrives.  RDMA WRITE, READ and SEND of
 *	8, 16 and 64 KiB (path MTU 1024: 8 to 64 packets, several per page),
 *	page-aligned and at offset 100, through ODP MRs (freshly registered:
 *	the first transfer faults; then again after MADV_DONTNEED of the
 *	target) and through pinned MRs; every byte compared.  Per case: the
 *	wrong bytes, the pages with wrong bytes, and the distinct offsets
 *	(inside the target's page) where the first wrong byte of a page sits
 *	(1024 everywhere = only each page's first packet arrived).
 *
 * advise_mr: Debian 12's librxe (rdma-core 44) has no advise_mr, so
 * ibv_advise_mr() returns EOPNOTSUPP in userspace whatever the kernel can
 * do; the kernel verb is then called through libibverbs' own provider
 * helper ibv_cmd_advise_mr() (the uverbs ADVISE_MR method; a private symbol
 * looked up with dlsym).  "advise" in the first line says which was used.
 *
 * VERBS_DEV (default rxe0), VERBS_GID (default 1) as for tests/verbs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "../tests/verbs/vt.h"
#include "sample.h"

#define KIB	1024UL
#define MIB	(1024 * KIB)
#define GIB	(1024 * MIB)
#define HUGE_SZ	(2 * MIB)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- advise_mr ---------------------------------------------------------- */

typedef int (*cmd_advise_fn)(struct ibv_pd *, enum ibv_advise_mr_advice,
			     uint32_t, struct ibv_sge *, uint32_t);
static cmd_advise_fn cmd_advise;
static const char *advise_how = "none";

/* Synchronous prefetch for write of n SGEs; 0 or an errno. */
static int advise(struct ibv_pd *pd, struct ibv_sge *sge, uint32_t n)
{
	int err;

	if (!cmd_advise) {
		err = ibv_advise_mr(pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				    IBV_ADVISE_MR_FLAG_FLUSH, sge, n);
		if (err != EOPNOTSUPP) {
			advise_how = "ibv_advise_mr";
			return err;
		}
		cmd_advise = (cmd_advise_fn)dlsym(RTLD_DEFAULT,
						  "ibv_cmd_advise_mr");
		if (!cmd_advise)
			return EOPNOTSUPP;
		advise_how = "ibv_cmd_advise_mr";
	}
	return cmd_advise(pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			  IBV_ADVISE_MR_FLAG_FLUSH, sge, n);
}

/* Prefetch [addr, addr+len) of mr in SGEs of at most 1 GiB. */
static int advise_range(struct ibv_pd *pd, struct ibv_mr *mr, void *addr,
			size_t len)
{
	struct ibv_sge sge[8];
	uint32_t n = 0;
	size_t off = 0;

	while (off < len && n < 8) {
		size_t l = len - off > GIB ? GIB : len - off;

		sge[n++] = (struct ibv_sge){ .addr = (uintptr_t)addr + off,
					     .length = (uint32_t)l,
					     .lkey = mr->lkey };
		off += l;
	}
	return advise(pd, sge, n);
}

/* ---- options -------------------------------------------------------------- */

static size_t opt_size;
static int opt_qps = 8, opt_iters, opt_reps = 3, opt_thp = 1, opt_mr_per_qp;
static const char *opt_op = "write";
static char opt_list[256];

static size_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	switch (*end) {
	case 'k': case 'K': v *= KIB; break;
	case 'm': case 'M': v *= MIB; break;
	case 'g': case 'G': v *= GIB; break;
	}
	return (size_t)v;
}

static int parse_list(const char *s, long *out, int max)
{
	char buf[256], *tok, *save = NULL;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok && n < max;
	     tok = strtok_r(NULL, ",", &save))
		out[n++] = atol(tok);
	return n;
}

static void header(const char *what, struct vdev *d)
{
	printf("{\"bench\":\"verbs\",\"part\":\"info\",\"what\":\"%s\","
	       "\"dev\":\"%s\",\"odp_general\":%llu,\"odp_rc\":%u,"
	       "\"page_size\":%ld}\n", what, d->name,
	       (unsigned long long)d->attr.odp_caps.general_caps,
	       d->attr.odp_caps.per_transport_caps.rc_odp_caps, page_size);
}

/* ---- storm -------------------------------------------------------------- */

struct storm {
	struct vdev	d;
	struct vpair	*p;
	struct ibv_mr	**ma, **mb;	/* per pair (the same MR if shared) */
	char		*a, *b;		/* sources, targets: qps * size each */
	size_t		size, len;
	enum ibv_wr_opcode op;
};

static void storm_post_all(struct storm *s)
{
	struct ibv_wc wc[64];
	int i;

	for (i = 0; i < opt_qps; i++) {
		char *la = s->a + i * s->size, *rb = s->b + i * s->size;

		/* READ: a reads b's slice into its own; WRITE: a -> b. */
		post_op(s->p[i].a, s->op, i, s->ma[i], la, (uint32_t)s->size,
			s->mb[i]->rkey, (uintptr_t)rb, 0, 0);
	}
	for (i = 0; i < opt_qps; i++) {
		wait_wcs(s->p[i].cqa, 1, wc, "storm");
		expect_wc(wc, IBV_WC_SUCCESS, "storm");
	}
}

static int storm_prefetch(struct storm *s)
{
	struct ibv_sge sge[2 * 64];
	int i, n = 0, err;

	if (opt_mr_per_qp) {
		for (i = 0; i < opt_qps; i++) {
			sge[n++] = (struct ibv_sge){ .addr = (uintptr_t)s->a + i * s->size,
				.length = (uint32_t)s->size, .lkey = s->ma[i]->lkey };
			sge[n++] = (struct ibv_sge){ .addr = (uintptr_t)s->b + i * s->size,
				.length = (uint32_t)s->size, .lkey = s->mb[i]->lkey };
		}
	} else {
		sge[n++] = (struct ibv_sge){ .addr = (uintptr_t)s->a,
			.length = (uint32_t)s->len, .lkey = s->ma[0]->lkey };
		sge[n++] = (struct ibv_sge){ .addr = (uintptr_t)s->b,
			.length = (uint32_t)s->len, .lkey = s->mb[0]->lkey };
	}
	err = advise(s->d.pd, sge, n);
	return err;
}

/* One timed run of opt_iters iterations; ns, or 0 if prefetch is missing. */
static uint64_t storm_run(struct storm *s, int drop, int prefetch)
{
	uint64_t t0 = now_ns();
	int it;

	for (it = 0; it < opt_iters; it++) {
		if (drop) {
			xmadvise(s->a, s->len, MADV_DONTNEED);
			xmadvise(s->b, s->len, MADV_DONTNEED);
		}
		if (prefetch) {
			int err = storm_prefetch(s);

			if (err) {
				printf("{\"bench\":\"verbs\",\"part\":\"storm_error\","
				       "\"error\":\"advise_mr: %s\"}\n", strerror(err));
				return 0;
			}
		}
		storm_post_all(s);
	}
	return now_ns() - t0;
}

static int storm_check(struct storm *s)
{
	xmadvise(s->a, s->len, MADV_DONTNEED);
	xmadvise(s->b, s->len, MADV_DONTNEED);
	if (s->op == IBV_WR_RDMA_READ)
		fill_pat(s->b, s->len, 7);
	else
		fill_pat(s->a, s->len, 7);
	/* The filled side is CPU-resident but not device-mapped: faults. */
	storm_post_all(s);
	return !memcmp(s->a, s->b, s->len);
}

static int do_storm(void)
{
	struct storm s = { 0 };
	int i, rep;

	if (opt_qps > 64)
		FAIL("--qps: at most 64");
	s.size = opt_size ? opt_size : 64 * KIB;
	s.len = s.size * opt_qps;
	s.op = !strcmp(opt_op, "read") ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
	if (!opt_iters)
		opt_iters = 20;
	v_open(&s.d);
	header("storm", &s.d);
	s.p = calloc(opt_qps, sizeof(*s.p));
	s.ma = calloc(opt_qps, sizeof(*s.ma));
	s.mb = calloc(opt_qps, sizeof(*s.mb));
	s.a = map_anon(s.len, 0);
	s.b = map_anon(s.len, 0);
	memset(s.a, 1, s.len);
	memset(s.b, 2, s.len);
	for (i = 0; i < opt_qps; i++) {
		pair_create(&s.d, &s.p[i]);
		if (opt_mr_per_qp || !i) {
			s.ma[i] = opt_mr_per_qp ? v_reg(&s.d, s.a + i * s.size, s.size, 0)
						: v_reg(&s.d, s.a, s.len, 0);
			s.mb[i] = opt_mr_per_qp ? v_reg(&s.d, s.b + i * s.size, s.size, 0)
						: v_reg(&s.d, s.b, s.len, 0);
		} else {
			s.ma[i] = s.ma[0];
			s.mb[i] = s.mb[0];
		}
	}
	/* Warm-up: pages device-mapped, QPs past their first packets. */
	storm_post_all(&s);
	for (rep = 0; rep < opt_reps; rep++) {
		uint64_t res = storm_run(&s, 0, 0);
		uint64_t st = storm_run(&s, 1, 0);
		uint64_t pf = storm_run(&s, 1, 1);
		double n = (double)opt_iters * opt_qps;
		char pfr[32] = "null";

		if (pf)
			snprintf(pfr, sizeof(pfr), "%.1f", n * 1e9 / pf);
		printf("{\"bench\":\"verbs\",\"part\":\"storm\",\"op\":\"%s\","
		       "\"qps\":%d,\"size\":%zu,\"shared_mr\":%d,\"iters\":%d,"
		       "\"rep\":%d,\"resident_ns\":%llu,\"storm_ns\":%llu,"
		       "\"storm_prefetch_ns\":%llu,\"resident_msg_per_s\":%.1f,"
		       "\"storm_msg_per_s\":%.1f,\"storm_prefetch_msg_per_s\":%s,"
		       "\"advise\":\"%s\"}\n",
		       opt_op, opt_qps, s.size, !opt_mr_per_qp, opt_iters, rep,
		       (unsigned long long)res, (unsigned long long)st,
		       (unsigned long long)pf, n * 1e9 / res, n * 1e9 / st,
		       pfr, advise_how);
		fflush(stdout);
	}
	printf("{\"bench\":\"verbs\",\"part\":\"storm_check\",\"op\":\"%s\","
	       "\"qps\":%d,\"size\":%zu,\"data_ok\":%s}\n", opt_op, opt_qps,
	       s.size, storm_check(&s) ? "true" : "false");
	for (i = 0; i < opt_qps; i++) {
		if (opt_mr_per_qp || !i) {
			v_dereg(s.ma[i]);
			v_dereg(s.mb[i]);
		}
		pair_destroy(&s.p[i]);
	}
	v_close(&s.d);
	return 0;
}

/* ---- reg ---------------------------------------------------------------- */

static uint64_t reg_once(struct vdev *d, void *buf, size_t len, int odp,
			 uint64_t *dereg_ns)
{
	int acc = ACC_ALL | (odp ? IBV_ACCESS_ON_DEMAND : 0);
	uint64_t t0 = now_ns(), t1, t2;
	struct ibv_mr *mr = ibv_reg_mr(d->pd, buf, len, acc);

	t1 = now_ns();
	if (!mr)
		FAIL("ibv_reg_mr(%zu, %s): %s", len, odp ? "ODP" : "pinned",
		     strerror(errno));
	v_dereg(mr);
	t2 = now_ns();
	*dereg_ns = t2 - t1;
	return t1 - t0;
}

static int do_reg(void)
{
	size_t len = opt_size ? opt_size : GIB;
	struct vdev d;
	int rep, touched;

	v_open(&d);
	header("reg", &d);
	for (touched = 0; touched < 2; touched++) {
		for (rep = 0; rep < opt_reps; rep++) {
			uint64_t odp_reg, odp_dereg, pin_reg, pin_dereg;
			char *buf = map_anon(len, 0);

			if (touched)
				memset(buf, 1, len);
			/* Alternate the order: neither always goes first. */
			if (rep & 1) {
				pin_reg = reg_once(&d, buf, len, 0, &pin_dereg);
				odp_reg = reg_once(&d, buf, len, 1, &odp_dereg);
			} else {
				odp_reg = reg_once(&d, buf, len, 1, &odp_dereg);
				pin_reg = reg_once(&d, buf, len, 0, &pin_dereg);
			}
			unmap(buf, len);
			printf("{\"bench\":\"verbs\",\"part\":\"reg\",\"size\":%zu,"
			       "\"touched\":%d,\"rep\":%d,\"odp_reg_ns\":%llu,"
			       "\"odp_dereg_ns\":%llu,\"pinned_reg_ns\":%llu,"
			       "\"pinned_dereg_ns\":%llu}\n", len, touched, rep,
			       (unsigned long long)odp_reg,
			       (unsigned long long)odp_dereg,
			       (unsigned long long)pin_reg,
			       (unsigned long long)pin_dereg);
			fflush(stdout);
		}
	}
	v_close(&d);
	return 0;
}

/* ---- fault -------------------------------------------------------------- */

static int do_fault(void)
{
	long batches[16];
	int nb = parse_list(opt_list[0] ? opt_list : "1,16,256", batches, 16);
	struct vdev d;
	struct vpair p;
	int bi, rep, it;

	if (!opt_iters)
		opt_iters = 50;
	v_open(&d);
	header("fault", &d);
	pair_create(&d, &p);
	for (bi = 0; bi < nb; bi++) {
		size_t len = (size_t)batches[bi] * page_size;
		char *src = map_anon(len, 0), *dst = map_anon(len, 0);
		char *cpu = map_anon(len, 0);
		struct ibv_mr *ms, *md;

		/* Never THP here: the batches are of 4 KiB pages. */
		xmadvise(dst, len, MADV_NOHUGEPAGE);
		xmadvise(cpu, len, MADV_NOHUGEPAGE);
		memset(src, 3, len);
		ms = v_reg(&d, src, len, 0);
		md = v_reg(&d, dst, len, 0);
		if (op_write(&p, ms, src, len, md, dst) != IBV_WC_SUCCESS)
			FAIL("warm-up WRITE failed");
		for (rep = 0; rep < opt_reps; rep++) {
			uint64_t res = 0, flt = 0, pf = 0, c = 0, t0;
			struct ibv_wc wc;
			int pf_err = 0;

			for (it = 0; it < opt_iters; it++) {
				/* resident target */
				t0 = now_ns();
				post_op(p.a, IBV_WR_RDMA_WRITE, 1, ms, src, (uint32_t)len,
					md->rkey, (uintptr_t)dst, 0, 0);
				wait_wcs(p.cqa, 1, &wc, "resident");
				res += now_ns() - t0;
				expect_wc(&wc, IBV_WC_SUCCESS, "resident");
				/* dropped target: the responder faults */
				xmadvise(dst, len, MADV_DONTNEED);
				t0 = now_ns();
				post_op(p.a, IBV_WR_RDMA_WRITE, 2, ms, src, (uint32_t)len,
					md->rkey, (uintptr_t)dst, 0, 0);
				wait_wcs(p.cqa, 1, &wc, "fault");
				flt += now_ns() - t0;
				expect_wc(&wc, IBV_WC_SUCCESS, "fault");
				/* dropped target, prefetched */
				xmadvise(dst, len, MADV_DONTNEED);
				if (!pf_err) {
					t0 = now_ns();
					pf_err = advise_range(d.pd, md, dst, len);
					pf += now_ns() - t0;
				}
				/* No prefetch: map the target again, untimed. */
				if (pf_err) {
					post_op(p.a, IBV_WR_RDMA_WRITE, 3, ms, src,
						(uint32_t)len, md->rkey,
						(uintptr_t)dst, 0, 0);
					wait_wcs(p.cqa, 1, &wc, "remap");
				}
				/* the CPU's own first touch */
				xmadvise(cpu, len, MADV_DONTNEED);
				t0 = now_ns();
				for (size_t o = 0; o < len; o += page_size)
					((volatile char *)cpu)[o] = 1;
				c += now_ns() - t0;
			}
			printf("{\"bench\":\"verbs\",\"part\":\"fault\",\"pages\":%ld,"
			       "\"iters\":%d,\"rep\":%d,\"write_resident_ns\":%llu,"
			       "\"write_fault_ns\":%llu,\"prefetch_ns\":%s%llu,"
			       "\"cpu_ns\":%llu,\"advise\":\"%s\"%s%s%s}\n",
			       batches[bi], opt_iters, rep,
			       (unsigned long long)res, (unsigned long long)flt,
			       pf_err ? "null,\"prefetch_failed\":" : "",
			       (unsigned long long)pf, (unsigned long long)c,
			       advise_how, pf_err ? ",\"prefetch_error\":\"" : "",
			       pf_err ? strerror(pf_err) : "", pf_err ? "\"" : "");
			fflush(stdout);
		}
		v_dereg(ms);
		v_dereg(md);
		unmap(src, len);
		unmap(dst, len);
		unmap(cpu, len);
	}
	pair_destroy(&p);
	v_close(&d);
	return 0;
}

/* ---- inval -------------------------------------------------------------- */

enum { BARE, PLAIN, REGISTERED, MAPPED, NSTATES };

/* The touched ranges of one timed call. */
struct inval_ranges {
	char *buf;	/* what the call unmaps */
	char *other;	/* the second range (not for bare) */
	char *guard;	/* keeps the next call's ranges apart */
	long huge_bytes;
};

/*
 * An inaccessible mapping after each call's ranges, too big for a hole that
 * aligning them left: no range shares a VMA with another call's, so every
 * munmap() splits and frees the same VMAs whatever was prepared before.
 */
#define INVAL_GUARD	(2 * HUGE_SZ)

/* Map and write the ranges of one call in state @st. */
static void inval_prepare(size_t len, int thp, int st, struct inval_ranges *r)
{
	char **p[2] = { &r->buf, &r->other };

	r->other = NULL;
	for (int i = 0; i < (st == BARE ? 1 : 2); i++) {
		*p[i] = thp ? map_aligned(len, HUGE_SZ) : map_anon(len, 0);
		xmadvise(*p[i], len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
		memset(*p[i], 5, len);
	}
	r->huge_bytes = anon_huge_bytes(r->buf);
	r->guard = mmap(NULL, INVAL_GUARD, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->guard == MAP_FAILED)
		FAIL("mmap: %s", strerror(errno));
}

/*
 * One timed munmap or MADV_DONTNEED of @r->buf in state @st, then unmap
 * what is left of @r.
 *
 * Plain, registered and mapped make the same calls first - two ODP
 * registrations and a prefetch through the second, each over buf or over
 * other - and differ only in what covers buf: plain: nothing (both MRs
 * cover other); registered: the first MR; mapped: the second, prefetched
 * one.  What registration and prefetch leave behind in the VM (caches,
 * QEMU's TLB and translated code) then weighs the same on all three.  Bare
 * makes none of those calls: the never-registered process, for reference.
 */
static uint64_t inval_time(struct vdev *d, size_t len, int st, int munmap_op,
			   struct inval_ranges *r, int *err)
{
	struct ibv_mr *mr[2] = { NULL, NULL };
	char *buf = r->buf, *other = r->other;
	uint64_t t0, dt;

	if (st != BARE) {
		mr[0] = v_reg(d, st == REGISTERED ? buf : other, len, 0);
		mr[1] = v_reg(d, st == MAPPED ? buf : other, len, 0);
		*err = advise_range(d->pd, mr[1], st == MAPPED ? buf : other, len);
	}
	t0 = now_ns();
	if (munmap_op) {
		if (munmap(buf, len))
			FAIL("munmap: %s", strerror(errno));
	} else {
		xmadvise(buf, len, MADV_DONTNEED);
	}
	dt = now_ns() - t0;
	for (int i = 0; i < 2; i++)
		if (mr[i])
			v_dereg(mr[i]);
	if (other)
		unmap(other, len);
	if (!munmap_op)
		unmap(buf, len);
	unmap(r->guard, INVAL_GUARD);
	return dt;
}

/*
 * Calls per sample: a range of fewer than 2048 4 KiB pages, or of fewer than
 * 64 huge pages, is unmapped that many pages' worth of times (at most
 * INVAL_MAX_INNER) and the sample is the median.  A THP costs the CPU about
 * what 16 small pages do, and its own spread is as wide.
 */
#define INVAL_INNER_PAGES	2048
#define INVAL_INNER_HUGE	64
#define INVAL_MAX_INNER		128

/*
 * One sample of every state: @n timed calls of inval_time() each, on fresh
 * ranges, the states taking turns call by call so that whatever drifts in
 * the VM meanwhile weighs on all alike, in a new random order every round
 * so that each state follows each other one as often (what the call before
 * left in QEMU's TLB and translated code shows in the next).  The ranges of
 * each batch of calls (sample_batch_end()) are prepared before them.  @ns
 * gets each state's median.
 */
static void inval_sample(struct vdev *d, size_t len, int thp, int munmap_op,
			 int n, int rep, uint64_t *ns, long *huge_bytes,
			 int *err)
{
	static double t[NSTATES][INVAL_MAX_INNER];
	static struct inval_ranges r[INVAL_MAX_INNER * NSTATES];
	static int order[INVAL_MAX_INNER * NSTATES];
	unsigned int seed = (unsigned int)rep * 7919U + 1;
	int calls = n * NSTATES;

	sample_shuffle_rounds(order, n, NSTATES, &seed);
	for (int c0 = 0, c1; c0 < calls; c0 = c1) {
		c1 = sample_batch_end(order, c0, calls, BARE, len);
		for (int c = c0; c < c1; c++)
			inval_prepare(len, thp, order[c], &r[c]);
		for (int c = c0; c < c1; c++) {
			int st = order[c];

			t[st][c / NSTATES] = inval_time(d, len, st, munmap_op,
							&r[c], err);
			huge_bytes[st] = r[c].huge_bytes;
		}
	}
	for (int st = 0; st < NSTATES; st++)
		ns[st] = (uint64_t)sample_median(t[st], n);
}

static int do_inval(void)
{
	long sizes[16];
	int ns = parse_list(opt_list[0] ? opt_list : "16,512,8192", sizes, 16);
	struct vdev d;
	int si, rep, thp, op, err = 0;

	v_open(&d);
	header("inval", &d);
	for (thp = 0; thp <= opt_thp; thp++) {
		for (si = 0; si < ns; si++) {
			size_t len = (size_t)sizes[si] * page_size;

			long units, per;
			int inner;

			if (thp && len % HUGE_SZ)
				continue;
			units = thp ? (long)(len / HUGE_SZ) : sizes[si];
			per = thp ? INVAL_INNER_HUGE : INVAL_INNER_PAGES;
			inner = units >= per ? 1 : (int)(per / units);
			if (inner > INVAL_MAX_INNER)
				inner = INVAL_MAX_INNER;
			for (op = 0; op < 2; op++) {
				for (rep = 0; rep < opt_reps; rep++) {
					uint64_t ns_[NSTATES];
					long huge[NSTATES];

					inval_sample(&d, len, thp, op, inner, rep, ns_,
						     huge, &err);
					printf("{\"bench\":\"verbs\",\"part\":\"inval\","
					       "\"kind\":\"%s\",\"op\":\"%s\",\"pages\":%ld,"
					       "\"rep\":%d,\"inner\":%d,\"bare_ns\":%llu,"
					       "\"plain_ns\":%llu,"
					       "\"registered_ns\":%llu,\"mapped_ns\":%llu,"
					       "\"huge_bytes\":%ld,\"advise\":\"%s\"%s%s%s}\n",
					       thp ? "thp" : "4k", op ? "munmap" : "dontneed",
					       sizes[si], rep, inner,
					       (unsigned long long)ns_[BARE],
					       (unsigned long long)ns_[PLAIN],
					       (unsigned long long)ns_[REGISTERED],
					       (unsigned long long)ns_[MAPPED],
					       huge[MAPPED], advise_how,
					       err ? ",\"map_error\":\"" : "",
					       err ? strerror(err) : "", err ? "\"" : "");
					fflush(stdout);
				}
			}
		}
	}
	v_close(&d);
	return 0;
}

/* ---- check -------------------------------------------------------------- */

enum { CK_WRITE, CK_READ, CK_SEND };
static const char *const ck_name[] = { "write", "read", "send" };

/* One transfer of len bytes src -> dst; the completion status. */
static int ck_xfer(struct vpair *p, int op, struct ibv_mr *ms, char *src,
		   struct ibv_mr *md, char *dst, size_t len)
{
	int rst = 0, st;

	switch (op) {
	case CK_WRITE:
		return op_write(p, ms, src, len, md, dst);
	case CK_READ:	/* the local dst reads the remote src */
		return op_read(p, md, dst, len, ms, src);
	default:
		st = op_send(p, ms, src, len, md, dst, &rst);
		return st ? st : rst;
	}
}

/* Compare dst with the pattern; print one JSON line. */
static int ck_report(int op, size_t len, size_t off, const char *mode,
		     const char *pass, int st, const char *dst, uint32_t seed)
{
	size_t i, bad = 0, pages_bad = 0, last_page = (size_t)-1;
	long offs[4];
	int noffs = 0, k;
	char o[64] = "";

	for (i = 0; i < len; i++) {
		size_t pg = ((uintptr_t)dst + i) / page_size;
		long in_pg = (long)(((uintptr_t)dst + i) % page_size);

		if ((uint8_t)dst[i] == pat(seed, i))
			continue;
		bad++;
		if (pg == last_page)
			continue;
		last_page = pg;
		pages_bad++;
		for (k = 0; k < noffs && offs[k] != in_pg; k++)
			;
		if (k == noffs && noffs < 4)
			offs[noffs++] = in_pg;
	}
	for (k = 0; k < noffs; k++)
		snprintf(o + strlen(o), sizeof(o) - strlen(o), "%s%ld",
			 k ? "," : "", offs[k]);
	printf("{\"bench\":\"verbs\",\"part\":\"check\",\"op\":\"%s\","
	       "\"size\":%zu,\"offset\":%zu,\"mode\":\"%s\",\"pass\":\"%s\","
	       "\"status\":%d,\"bad_bytes\":%zu,\"pages\":%zu,"
	       "\"pages_bad\":%zu,\"first_bad_in_page\":[%s]}\n",
	       ck_name[op], len, off, mode, pass, st, bad,
	       (len + off + page_size - 1) / page_size, pages_bad, o);
	fflush(stdout);
	return bad || st;
}

static int do_check(void)
{
	static const size_t sizes[] = { 8 * KIB, 16 * KIB, 64 * KIB };
	static const size_t offs[] = { 0, 100 };
	struct vdev d;
	struct vpair p;
	int op, si, oi, pinned, wrong = 0;
	uint32_t seed = 11;

	v_open(&d);
	header("check", &d);
	pair_create(&d, &p);
	for (op = CK_WRITE; op <= CK_SEND; op++) {
		for (si = 0; si < 3; si++) {
			for (oi = 0; oi < 2; oi++) {
				for (pinned = 0; pinned < 2; pinned++) {
					size_t len = sizes[si], off = offs[oi];
					size_t map = len + page_size;
					char *sb = map_anon(map, 0), *db = map_anon(map, 0);
					char *src = sb + off, *dst = db + off;
					int acc = ACC_ALL | (pinned ? 0 : IBV_ACCESS_ON_DEMAND);
					struct ibv_mr *ms, *md;
					int st;

					xmadvise(sb, map, MADV_NOHUGEPAGE);
					xmadvise(db, map, MADV_NOHUGEPAGE);
					fill_pat(src, len, ++seed);
					memset(db, 0, map);
					ms = ibv_reg_mr(d.pd, src, len, acc);
					md = ibv_reg_mr(d.pd, dst, len, acc);
					if (!ms || !md)
						FAIL("ibv_reg_mr: %s", strerror(errno));
					st = ck_xfer(&p, op, ms, src, md, dst, len);
					wrong += ck_report(op, len, off,
							   pinned ? "pinned" : "odp",
							   "first", st, dst, seed);
					if (st)
						pair_connect(&p);
					if (!pinned) {
						/* The target dropped: faulted again. */
						xmadvise(db, map, MADV_DONTNEED);
						st = ck_xfer(&p, op, ms, src, md, dst, len);
						wrong += ck_report(op, len, off, "odp",
								   "dropped", st, dst,
								   seed);
						if (st)
							pair_connect(&p);
					}
					v_dereg(ms);
					v_dereg(md);
					unmap(sb, map);
					unmap(db, map);
				}
			}
		}
	}
	printf("{\"bench\":\"verbs\",\"part\":\"check_done\",\"wrong_cases\":%d}\n",
	       wrong);
	pair_destroy(&p);
	v_close(&d);
	return 0;
}

/* ---- main --------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_verbs storm|reg|fault|inval|check [--qps N] [--size B] "
		"[--iters N] [--reps N] [--op write|read] [--mr-per-qp]\n"
		"       [--batches L] [--sizes L] [--no-thp]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "qps", 1, NULL, 'q' }, { "size", 1, NULL, 's' },
		{ "iters", 1, NULL, 'n' }, { "reps", 1, NULL, 'r' },
		{ "op", 1, NULL, 'o' }, { "mr-per-qp", 0, NULL, 'm' },
		{ "batches", 1, NULL, 'b' }, { "sizes", 1, NULL, 'b' },
		{ "no-thp", 0, NULL, 'T' }, { NULL, 0, NULL, 0 },
	};
	const char *what;
	int c;

	if (argc < 2)
		usage();
	what = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'q': opt_qps = atoi(optarg); break;
		case 's': opt_size = parse_size(optarg); break;
		case 'n': opt_iters = atoi(optarg); break;
		case 'r': opt_reps = atoi(optarg); break;
		case 'o': opt_op = optarg; break;
		case 'm': opt_mr_per_qp = 1; break;
		case 'b': snprintf(opt_list, sizeof(opt_list), "%s", optarg); break;
		case 'T': opt_thp = 0; break;
		default: usage();
		}
	}
	page_size = sysconf(_SC_PAGESIZE);
	cur_test = what;
	if (!strcmp(what, "storm"))
		return do_storm();
	if (!strcmp(what, "reg"))
		return do_reg();
	if (!strcmp(what, "fault"))
		return do_fault();
	if (!strcmp(what, "inval"))
		return do_inval();
	if (!strcmp(what, "check"))
		return do_check();
	usage();
	return 2;
}
