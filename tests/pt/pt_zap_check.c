// SPDX-License-Identifier: GPL-2.0
/*
 * tests/pt/run.sh builds this with the kernel's tools/testing/radix-tree
 * harness (the kernel's lib/xarray.c in user space) and driver/core/pt.c's
 * zap (ptzap.inc): random translation tables, random zaps and
 * write-protects of random ranges, each result compared with a model.
 *
 *   pt_zap_check SEED
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"

/* What pt.c's zap needs from umem.h, and nothing of the rest. */
#define ODP_ZAP_BATCH	1024
#define ODP_PTE_WRITE	1UL
enum { ODP_UMEM_STAT_PAGES_INVALIDATED, ODP_UMEM_STAT_PAGES_MAPPED };
struct odp_umem {
	struct xarray pt;
};

static void odp_umem_count(struct odp_umem *u, int stat, long n)
{
	(void)u; (void)stat; (void)n;
}

#define lockdep_assert_held(x)	do { } while (0)
#define cond_resched()		do { } while (0)
#ifndef min3
#define min3(a, b, c)		min(min(a, b), c)
#endif
#include "ptzap.inc"

#define N	20000UL		/* pages of the table */
#define ROUNDS	300		/* tables */
#define ZAPS	20		/* zaps or write-protects per table */

static unsigned long base;	/* first index: a 2 MiB aligned address */
static int ord[N];		/* model: order of the entry starting here, -1 */
static unsigned long val[N];	/* model: its value, bit 0 = ODP_PTE_WRITE */

/* The table holds exactly the model's entries, at their orders. */
static void check(struct odp_umem *u, const char *what)
{
	XA_STATE(xas, &u->pt, base);
	unsigned long seen = 0, want = 0, i;
	void *e;

	rcu_read_lock();
	xas_for_each(&xas, e, base + N - 1) {
		unsigned int o = xas_get_order(&xas);

		i = (xas.xa_index & ~((1UL << o) - 1)) - base;
		if (ord[i] != (int)o || (unsigned long)e != val[i]) {
			printf("%s: page %lu: order %u value %lx, model order %d value %lx\n",
			       what, i, o, (unsigned long)e, ord[i], val[i]);
			exit(1);
		}
		seen++;
	}
	rcu_read_unlock();
	for (i = 0; i < N; i++)
		want += ord[i] >= 0;
	if (seen != want) {
		printf("%s: %lu entries, model %lu\n", what, seen, want);
		exit(1);
	}
}

static void fill(struct odp_umem *u)
{
	unsigned long i;

	for (i = 0; i < N; i++)
		ord[i] = -1;
	/* Runs of 4 KiB entries, holes, THPs, orders 1-3, a few of order 14. */
	for (i = 0; i < N;) {
		int r = rand() % 100, o = 0;

		if (r < 5) {
			i += 1 + rand() % 100;
			continue;
		}
		if (r < 12)
			o = 9;
		else if (r < 15)
			o = 1 + rand() % 3;
		else if (r < 16)
			o = 14;
		if (((base + i) & ((1UL << o) - 1)) || i + (1UL << o) > N)
			o = 0;
		ord[i] = o;
		val[i] = ((unsigned long)(0x1000 + rand() % 100000) << 4) | (rand() & 1);
		{
			XA_STATE_ORDER(xas, &u->pt, base + i, o);

			do {
				xas_lock(&xas);
				xas_store(&xas, (void *)val[i]);
				xas_unlock(&xas);
			} while (xas_nomem(&xas, GFP_KERNEL));
			assert(!xas_error(&xas));
		}
		i += 1UL << o;
	}
}

/* The model of odp_pt_zap(): every entry [a, b] touches goes whole. */
static unsigned long model_zap(unsigned long a, unsigned long b, bool wp)
{
	unsigned long i, n = 0;

	for (i = 0; i < N; i++) {
		if (ord[i] < 0 || i + (1UL << ord[i]) - 1 < a || i > b)
			continue;
		if (!wp) {
			n += 1UL << ord[i];
			ord[i] = -1;
		} else if (val[i] & ODP_PTE_WRITE) {
			n += 1UL << ord[i];
			val[i] &= ~ODP_PTE_WRITE;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned int seed = argc > 1 ? atoi(argv[1]) : 1;
	struct odp_umem u;
	int round, z;

	srand(seed);
	radix_tree_init();
	for (round = 0; round < ROUNDS; round++) {
		xa_init(&u.pt);
		base = 0x7f0000000UL + (rand() % 4096) * 512;
		fill(&u);
		check(&u, "fill");
		for (z = 0; z < ZAPS; z++) {
			unsigned long a = rand() % N;
			unsigned long b = a + rand() % (rand() % 2 ? 64 : 5000);
			bool wp = rand() % 4 == 0;
			unsigned long want, got;

			if (b >= N)
				b = N - 1;
			want = model_zap(a, b, wp);
			got = odp_pt_zap(&u, (base + a) << 12, (base + b + 1) << 12, wp, true);
			if (got != want) {
				printf("round %d: %s of [%lu, %lu]: %lu pages, model %lu\n",
				       round, wp ? "write-protect" : "zap", a, b, got, want);
				exit(1);
			}
			check(&u, wp ? "write-protect" : "zap");
		}
		odp_pt_zap(&u, base << 12, (base + N) << 12, false, true);
		model_zap(0, N - 1, false);
		check(&u, "zap of all");
		assert(xa_empty(&u.pt));
		xa_destroy(&u.pt);
	}
	rcu_barrier();
	printf("ok, seed %u: %d tables, %d zaps each\n", seed, ROUNDS, ZAPS);
	return 0;
}
