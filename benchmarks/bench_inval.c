// SPDX-License-Identifier: MIT
/*
 * bench_inval: what registration adds to the CPU's own unmapping.
 *
 * munmap() or madvise(MADV_DONTNEED) of S resident pages, in four states:
 *   plain       not registered                               (the baseline)
 *   registered  inside an ODP MR, no page device-mapped      (notifier only)
 *   mapped      inside an ODP MR, every page device-mapped   (the subject)
 *   bare        not registered, and no preparation at all    (for reference)
 * Plain, registered and mapped make the same calls before the timed one -
 * two ODP registrations and a synchronous prefetch through the second, each
 * over the range or over a second resident range of the same size - and
 * differ only in what covers the range: plain: nothing (both MRs cover the
 * other range); registered: the first MR; mapped: the second.  What those
 * calls leave behind in the VM (caches, QEMU's TLB and translated code)
 * then weighs the same on all three; bare shows how much that is.
 * Preparing is not timed; only the munmap()/madvise() call is, and the
 * ranges are mapped and touched in batches before their calls
 * (SAMPLE_AHEAD_BYTES in sample.h says why).  Small ranges
 * (under inner_pages 4 KiB pages, or inner_pages / 32 huge pages) repeat the
 * operation on `inner` separate ranges per sample, which reports their
 * median.  The states take turns call by call, in a random order
 * each round.
 *
 * Output (JSON Lines): per (kind, op, pages, state, rep) the mean time of
 * one operation, and for the mapped state the driver's count of
 * invalidated pages (which must equal S).
 *
 * --profile-loop SECONDS (for perf): one MR of S pages, then over and over
 * a synchronous read prefetch of untouched memory (which maps the shared
 * zero page: nothing is allocated or cleared) and MADV_DONTNEED of the
 * range, so that a profile shows the invalidation path rather than the
 * clearing of fresh pages.  --profile-thp: in a THP-enabled range (the huge
 * zero page).
 */
#include <getopt.h>

#include <odp.h>

#include "common.h"
#include "sample.h"

#define MAX_SIZES	16
#define MAX_INNER	256

static struct {
	unsigned long	sizes[MAX_SIZES];	/* pages, 4 KiB */
	int		nsizes;
	unsigned long	thp_sizes[MAX_SIZES];	/* pages, THP */
	int		nthp;
	int		reps;
	unsigned long	inner_pages;		/* pages per sample, at least */
	int		profile_loop;		/* seconds, 0: off */
	int		profile_thp;
} opt = {
	.reps		= 7,
	.inner_pages	= 2048,
};

enum state { PLAIN, REGISTERED, MAPPED, BARE, NSTATES };
static const char *const state_name[] = { "plain", "registered", "mapped",
					   "bare" };
enum op { DONTNEED, MUNMAP, NOPS };
static const char *const op_name[] = { "dontneed", "munmap" };

static struct odp_context *ctx;
static struct odp_pd *pd;

static struct odp_mr *reg_odp(char *p, size_t len)
{
	struct odp_mr *mr = odp_reg_mr(pd, p, len, ODP_ACCESS_LOCAL_WRITE |
				       ODP_ACCESS_ON_DEMAND);

	if (!mr)
		die("odp_reg_mr: %s", strerror(errno));
	return mr;
}

static void prefetch(struct odp_mr *mr, char *p, size_t len)
{
	struct odp_sge sge = {
		.addr = (uintptr_t)p, .length = (uint32_t)len, .lkey = mr->lkey,
	};
	int err = odp_advise_mr(pd, ODP_ADVISE_PREFETCH_WRITE,
				ODP_ADVISE_FLAG_FLUSH, &sge, 1);

	if (err)
		die("odp_advise_mr: %s", strerror(err));
}

/*
 * Add what @mr invalidated of @p to *@invalidated, check that nothing of it
 * stays mapped, deregister it.
 */
static void dereg_counted(struct odp_mr *mr, enum op op, uint64_t *invalidated)
{
	uint64_t v[ODP_STAT_MAX] = { 0 };

	if (odp_query_mr_stats(mr, v, ODP_STAT_MAX) < 0)
		die("odp_query_mr_stats: %s", strerror(errno));
	*invalidated += v[ODP_STAT_PAGES_INVALIDATED];
	if (v[ODP_STAT_PAGES_MAPPED])
		die("%llu pages still mapped after %s",
		    (unsigned long long)v[ODP_STAT_PAGES_MAPPED], op_name[op]);
	if (odp_dereg_mr(mr))
		die("odp_dereg_mr: %s", strerror(errno));
}

/* The touched ranges of one timed operation. */
struct ranges {
	char *p;	/* what the operation unmaps */
	char *other;	/* the second range (not for bare) */
	char *guard;	/* keeps the next operation's ranges apart */
};

/*
 * An inaccessible mapping after each operation's ranges, too big for a hole
 * that aligning them left: no range shares a VMA with another operation's,
 * so every munmap() splits and frees the same VMAs whatever was prepared
 * before.
 */
#define GUARD_BYTES	(2 * THP_SIZE)

/* Map and touch the ranges of one operation in state @st. */
static void prepare(enum state st, enum mem_kind kind, size_t len,
		    struct ranges *r)
{
	r->p = map_mem(len, kind);
	touch_pages(r->p, len);
	r->other = NULL;
	if (st != BARE) {
		r->other = map_mem(len, kind);
		touch_pages(r->other, len);
	}
	r->guard = mmap(NULL, GUARD_BYTES, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->guard == MAP_FAILED)
		die("mmap: %s", strerror(errno));
}

/* One timed operation on @r, prepared for @st; unmaps @r.  Returns ns. */
static double one(enum op op, enum state st, size_t len, struct ranges *r,
		  uint64_t *invalidated)
{
	char *p = r->p, *other = r->other;
	struct odp_mr *mr[2] = { NULL, NULL };
	double t0, t1;
	int ret;

	if (st != BARE) {
		mr[0] = reg_odp(st == REGISTERED ? p : other, len);
		mr[1] = reg_odp(st == MAPPED ? p : other, len);
		prefetch(mr[1], st == MAPPED ? p : other, len);
	}

	t0 = now_ns();
	ret = op == MUNMAP ? munmap(p, len) : madvise(p, len, MADV_DONTNEED);
	t1 = now_ns();
	if (ret)
		die("%s: %s", op_name[op], strerror(errno));

	for (int i = 0; i < 2; i++) {
		if (!mr[i])
			continue;
		/* The MR over @p: what it invalidated counts. */
		if (mr[i]->addr == p)
			dereg_counted(mr[i], op, invalidated);
		else if (odp_dereg_mr(mr[i]))
			die("odp_dereg_mr: %s", strerror(errno));
	}
	if (other)
		unmap_mem(other, len);
	if (op != MUNMAP)
		unmap_mem(p, len);
	unmap_mem(r->guard, GUARD_BYTES);
	return t1 - t0;
}

/*
 * One sample of every state: @inner operations each, the states taking
 * turns call by call, in a new random order every round (whatever drifts
 * weighs on all alike, and each state follows each other one as often).
 * The ranges of each batch of operations (sample_batch_end()) are prepared
 * before them.
 */
static void sample_states(enum op op, enum mem_kind kind, size_t len,
			  int inner, int rep, double ns[][MAX_INNER],
			  uint64_t *inval)
{
	static struct ranges r[MAX_INNER * NSTATES];
	static int order[MAX_INNER * NSTATES];
	unsigned int seed = (unsigned int)rep * 7919U + 1;
	int calls = inner * NSTATES;

	sample_shuffle_rounds(order, inner, NSTATES, &seed);
	for (int c0 = 0, c1; c0 < calls; c0 = c1) {
		c1 = sample_batch_end(order, c0, calls, BARE, len);
		for (int c = c0; c < c1; c++)
			prepare(order[c], kind, len, &r[c]);
		for (int c = c0; c < c1; c++)
			ns[order[c]][c / NSTATES] = one(op, order[c], len, &r[c],
							 &inval[order[c]]);
	}
}

static void run(enum mem_kind kind, const unsigned long *sizes, int n)
{
	const char *kname = kind == MEM_THP ? "thp" : "4k";

	for (int s = 0; s < n; s++) {
		unsigned long pages = sizes[s];
		size_t len = pages * page_size();
		/* A THP costs the CPU about what 16 small pages do. */
		unsigned long units = kind == MEM_THP ? len / THP_SIZE : pages;
		unsigned long per = kind == MEM_THP ? opt.inner_pages / 32 :
				    opt.inner_pages;
		int inner = units >= per ? 1 : (int)(per / units);

		if (inner > MAX_INNER)
			inner = MAX_INNER;

		for (int op = 0; op < NOPS; op++) {
			for (int r = 0; r < opt.reps; r++) {
				static double ns[NSTATES][MAX_INNER];
				uint64_t inval[NSTATES] = { 0 };

				sample_states(op, kind, len, inner, r, ns, inval);
				for (int st = 0; st < NSTATES; st++)
					sample("inval", "\"kind\":\"%s\",\"op\":\"%s\","
					       "\"pages\":%lu,\"state\":\"%s\",\"rep\":%d,"
					       "\"ns\":%.1f,\"inner\":%d,"
					       "\"pages_invalidated\":%llu",
					       kname, op_name[op], pages,
					       state_name[st], r, sample_median(ns[st], inner),
					       inner,
					       (unsigned long long)inval[st] / inner);
			}
		}
	}
}

static void profile_loop(void)
{
	enum mem_kind kind = opt.profile_thp ? MEM_THP : MEM_4K;
	unsigned long pages = opt.sizes[0];
	size_t len = pages * page_size();
	char *p = map_mem(len, kind);
	struct odp_mr *mr = odp_reg_mr(pd, p, len, ODP_ACCESS_LOCAL_WRITE |
				       ODP_ACCESS_ON_DEMAND);
	struct odp_sge sge = { .addr = (uintptr_t)p, .length = (uint32_t)len };
	unsigned long loops = 0;
	double t0 = now_ns();

	if (!mr)
		die("odp_reg_mr: %s", strerror(errno));
	sge.lkey = mr->lkey;
	while (now_ns() - t0 < opt.profile_loop * 1e9) {
		int err = odp_advise_mr(pd, ODP_ADVISE_PREFETCH,
					ODP_ADVISE_FLAG_FLUSH, &sge, 1);

		if (err)
			die("odp_advise_mr: %s", strerror(err));
		if (madvise(p, len, MADV_DONTNEED))
			die("madvise: %s", strerror(errno));
		loops++;
	}
	sample("inval", "\"profile_loop\":%lu,\"pages\":%lu,\"kind\":\"%s\"",
	       loops, pages, opt.profile_thp ? "thp" : "4k");
	odp_dereg_mr(mr);
	unmap_mem(p, len);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "sizes", 1, NULL, 's' }, { "thp-sizes", 1, NULL, 'T' },
		{ "reps", 1, NULL, 'r' }, { "inner-pages", 1, NULL, 'i' },
		{ "profile-loop", 1, NULL, 'L' }, { "profile-thp", 0, NULL, 'H' },
		{ 0 }
	};
	int c;

	opt.nsizes = parse_sizes("16,512,8192", opt.sizes, MAX_SIZES);
	opt.nthp = parse_sizes("512,8192", opt.thp_sizes, MAX_SIZES);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': opt.nsizes = parse_sizes(optarg, opt.sizes, MAX_SIZES); break;
		case 'T': opt.nthp = *optarg ? parse_sizes(optarg, opt.thp_sizes, MAX_SIZES) : 0; break;
		case 'r': opt.reps = atoi(optarg); break;
		case 'i': opt.inner_pages = strtoul(optarg, NULL, 0); break;
		case 'L': opt.profile_loop = atoi(optarg); break;
		case 'H': opt.profile_thp = 1; break;
		default:
			fprintf(stderr, "usage: bench_inval [--sizes PAGES,...] "
				"[--thp-sizes PAGES,...] [--reps N] [--inner-pages N] "
				"[--profile-loop SECONDS [--profile-thp]]\n");
			return 1;
		}
	}

	ctx = odp_open_device(NULL);
	if (!ctx)
		die("odp_open_device: %s", strerror(errno));
	pd = odp_alloc_pd(ctx);
	if (!pd)
		die("odp_alloc_pd: %s", strerror(errno));

	if (opt.profile_loop) {
		profile_loop();
	} else {
		run(MEM_4K, opt.sizes, opt.nsizes);
		run(MEM_THP, opt.thp_sizes, opt.nthp);
	}

	odp_dealloc_pd(pd);
	odp_close_device(ctx);
	return 0;
}
