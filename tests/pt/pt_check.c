// SPDX-License-Identifier: GPL-2.0
/*
 * tests/pt/run.sh builds this with the kernel's tools/testing/radix-tree
 * harness (the kernel's lib/xarray.c in user space) and all of
 * driver/core/pt.c after its #include lines (pt.inc): random faults (4 KiB
 * pages, holes, errors, PMD-mapped runs whole or cut by the walk's ends),
 * zaps and write-protects of random ranges, and lookups, each result
 * compared with a model of one entry per page plus which blocks hold one
 * huge entry.
 *
 *   pt_check SEED
 */
#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <linux/slab.h>

#include "test.h"

/* What pt.c needs from the kernel and umem.h, and nothing of the rest. */
#define PMD_SHIFT		21
#define ODP_ZAP_BATCH		1024
#define kcalloc(n, size, gfp)	kzalloc((n) * (size), gfp)
#define lockdep_assert_held(x)		do { } while (0)
#define lockdep_assert_not_held(x)	do { } while (0)
#define cond_resched()		do { } while (0)
#ifndef smp_store_release
#define smp_store_release(p, v)	__atomic_store_n(p, v, __ATOMIC_RELEASE)
#endif
#undef WARN_ON_ONCE
#define WARN_ON_ONCE(c)	({ bool __c = (c); if (__c) { printf("WARN: %s\n", #c); exit(1); } __c; })

struct page;
#define pfn_to_page(pfn)	((struct page *)((unsigned long)(pfn) << 6))
#define page_to_pfn(page)	((unsigned long)(page) >> 6)

#define HMM_PFN_VALID		(1UL << 63)
#define HMM_PFN_WRITE		(1UL << 62)
#define HMM_PFN_ERROR		(1UL << 61)
#define HMM_PFN_ORDER_SHIFT	56
#define HMM_PFN_FLAGS		(0xFFUL << HMM_PFN_ORDER_SHIFT)
struct hmm_range {
	unsigned long start, end, *hmm_pfns;
};
#define hmm_pfn_to_page(h)	pfn_to_page((h) & ~HMM_PFN_FLAGS)
#define hmm_pfn_to_map_order(h)	((unsigned int)(((h) >> HMM_PFN_ORDER_SHIFT) & 0x1f))

enum { ODP_UMEM_STAT_PAGES_INVALIDATED, ODP_UMEM_STAT_PAGES_MAPPED, NSTATS };
struct odp_umem {
	unsigned long start, end, pt_base;
	struct xarray pt;
	long stats[NSTATS];
	int lock;
};
#define atomic64_read(p)	(*(p))

static void odp_umem_count(struct odp_umem *u, int stat, long n)
{
	u->stats[stat] += n;
}

#include "pt.inc"

#define BLOCK	512UL
#define N	(8 * BLOCK + 77)	/* pages of the umem */
#define ROUNDS	200
#define OPS	300

static unsigned long off;		/* umem->start's page in its block */
static unsigned long mpfn[N];		/* model: pfn, 0 = no entry */
static bool mwrite[N];
static bool mhuge[N / BLOCK + 2];	/* model: block holds one huge entry */
static unsigned long walk[N];

static unsigned long page_addr(struct odp_umem *u, unsigned long i)
{
	return u->start + (i << 12);
}

/* Block of umem page i, counted from pt_base. */
static unsigned long blk(unsigned long i)
{
	return (i + off) / BLOCK;
}

static void model_drop_block(unsigned long b, bool wp, unsigned long *n)
{
	for (unsigned long i = 0; i < N; i++) {
		if (blk(i) != b || !mpfn[i] || (wp && !mwrite[i]))
			continue;
		if (wp)
			mwrite[i] = false;
		else
			mpfn[i] = 0;
		++*n;
	}
	if (!wp)
		mhuge[b] = false;
}

/* Every huge entry [a, b] touches changes whole. */
static unsigned long model_zap(unsigned long a, unsigned long b, bool wp)
{
	unsigned long n = 0, i;

	for (i = a; i <= b; i++) {
		if (mhuge[blk(i)]) {
			unsigned long bb = blk(i);

			model_drop_block(bb, wp, &n);
			while (i + 1 <= b && blk(i + 1) == bb)
				i++;
			continue;
		}
		if (!mpfn[i] || (wp && !mwrite[i]))
			continue;
		if (wp)
			mwrite[i] = false;
		else
			mpfn[i] = 0;
		n++;
	}
	return n;
}

/* A walk of [a, a + len): what hmm_range_fault() could have found. */
static unsigned long fault(struct odp_umem *u, unsigned long a, unsigned long len)
{
	struct hmm_range r = {
		.start = page_addr(u, a), .end = page_addr(u, a + len),
		.hmm_pfns = walk,
	};
	unsigned long i, want = 0, got;

	for (i = 0; i < len;) {
		int k = rand() % 100;
		unsigned long pfn = 0x100000 + rand() % 1000000;
		unsigned long w = rand() % 2 ? HMM_PFN_WRITE : 0;

		if (k < 10) {
			walk[i++] = 0;
		} else if (k < 13) {
			walk[i++] = HMM_PFN_VALID | HMM_PFN_ERROR;
		} else if (k < 25 && (!i || !((a + i + off) % BLOCK))) {
			/* A PMD: the walk may hold all of it, or cut it. */
			unsigned long j = (a + i + off) % BLOCK;

			for (pfn &= ~(BLOCK - 1); j < BLOCK && i < len; j++)
				walk[i++] = HMM_PFN_VALID | w | (pfn + j) |
					    9UL << HMM_PFN_ORDER_SHIFT;
		} else {
			walk[i++] = HMM_PFN_VALID | w | pfn;
		}
	}
	/* The model of odp_pt_install(). */
	for (i = 0; i < len;) {
		unsigned long h = walk[i], p = a + i;

		if (!(h & HMM_PFN_VALID) || (h & HMM_PFN_ERROR)) {
			i++;
			continue;
		}
		if (hmm_pfn_to_map_order(h) == 9 && !((p + off) % BLOCK) &&
		    i + BLOCK <= len) {
			unsigned long n = 0;

			model_drop_block(blk(p), false, &n);
			mhuge[blk(p)] = true;
			for (unsigned long j = 0; j < BLOCK; j++) {
				mpfn[p + j] = (walk[i + j] & ~HMM_PFN_FLAGS);
				mwrite[p + j] = h & HMM_PFN_WRITE;
			}
			i += BLOCK;
			want += BLOCK;
			continue;
		}
		if (mhuge[blk(p)]) {
			unsigned long n = 0;

			model_drop_block(blk(p), false, &n);
		}
		mpfn[p] = h & ~HMM_PFN_FLAGS;
		mwrite[p] = h & HMM_PFN_WRITE;
		i++;
		want++;
	}
	if (odp_pt_prepare(u, &r)) {
		printf("prepare failed\n");
		exit(1);
	}
	got = odp_pt_install(u, &r);
	if (got != want) {
		printf("fault of [%lu, +%lu): %lu pages, model %lu\n", a, len, got, want);
		exit(1);
	}
	return got;
}

/* Lookups agree with the model, page by page and in runs; so does the gauge. */
static void check(struct odp_umem *u, const char *what)
{
	struct page *pages[N];
	unsigned long i, present = 0;

	for (i = 0; i < N; i++) {
		for (int write = 0; write < 2; write++) {
			unsigned long n = odp_pt_lookup(u, page_addr(u, i), 1,
							 write, pages);
			bool want = mpfn[i] && (!write || mwrite[i]);

			if (n != want || (n && pages[0] != pfn_to_page(mpfn[i]))) {
				printf("%s: page %lu (%s): %lu found (%lx), model %d (%lx)\n",
				       what, i, write ? "write" : "read", n,
				       n ? page_to_pfn(pages[0]) : 0, want, mpfn[i]);
				exit(1);
			}
		}
		present += !!mpfn[i];
	}
	if ((unsigned long)u->stats[ODP_UMEM_STAT_PAGES_MAPPED] != present) {
		printf("%s: gauge %ld, model %lu\n", what,
		       u->stats[ODP_UMEM_STAT_PAGES_MAPPED], present);
		exit(1);
	}
	for (int k = 0; k < 20; k++) {
		unsigned long a = rand() % N, len = 1 + rand() % (N - a), want;
		bool write = rand() % 2;

		for (want = 0; want < len; want++)
			if (!mpfn[a + want] || (write && !mwrite[a + want]))
				break;
		if (odp_pt_lookup(u, page_addr(u, a), len, write, pages) != want) {
			printf("%s: lookup of [%lu, +%lu): model %lu\n", what, a, len, want);
			exit(1);
		}
		for (i = 0; i < want; i++)
			assert(pages[i] == pfn_to_page(mpfn[a + i]));
	}
}

int main(int argc, char **argv)
{
	unsigned int seed = argc > 1 ? atoi(argv[1]) : 1;
	struct odp_umem u;
	int round, op;

	srand(seed);
	radix_tree_init();
	for (round = 0; round < ROUNDS; round++) {
		memset(&u, 0, sizeof(u));
		memset(mpfn, 0, sizeof(mpfn));
		memset(mhuge, 0, sizeof(mhuge));
		xa_init(&u.pt);
		off = rand() % 3 ? rand() % BLOCK : 0;
		u.pt_base = 0x7f0000000000UL + (rand() % 4096) * (BLOCK << 12);
		u.start = u.pt_base + (off << 12);
		u.end = u.start + (N << 12);
		for (op = 0; op < OPS; op++) {
			unsigned long a = rand() % N;
			unsigned long b = a + rand() % (rand() % 2 ? 64 : 3 * BLOCK);
			int k = rand() % 10;

			if (b >= N)
				b = N - 1;
			if (k < 5) {
				fault(&u, a, b - a + 1);
				check(&u, "fault");
			} else {
				bool wp = k < 7;
				unsigned long want = model_zap(a, b, wp);
				unsigned long got = odp_pt_zap(&u, page_addr(&u, a),
							       page_addr(&u, b + 1), wp,
							       true);

				if (got != want) {
					printf("round %d: %s of [%lu, %lu]: %lu pages, model %lu\n",
					       round, wp ? "write-protect" : "zap", a, b,
					       got, want);
					exit(1);
				}
				check(&u, wp ? "write-protect" : "zap");
			}
		}
		odp_pt_zap(&u, u.start, u.end, false, true);
		model_zap(0, N - 1, false);
		check(&u, "zap of all");
		odp_pt_free(&u);
		assert(xa_empty(&u.pt));
	}
	rcu_barrier();
	printf("ok, seed %u: %d tables, %d operations each\n", seed, ROUNDS, OPS);
	return 0;
}
