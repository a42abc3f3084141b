/* SPDX-License-Identifier: MIT */
/*
 * What the benchmark programs do with a sample's timed operations: the
 * median (under TCG on a shared host a single 10 us system call now and then
 * takes milliseconds - the vCPU thread was preempted - which a mean would
 * carry into the figure), and a random order for states that take turns.
 * Depends on nothing but libc, so that the libodp programs (common.h) and
 * the libibverbs ones (tests/verbs/vt.h) can both include it.
 */
#ifndef BENCH_SAMPLE_H
#define BENCH_SAMPLE_H

#include <stdlib.h>

static inline int sample_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of @v[0..@n) (n > 0); sorts @v in place. */
static inline double sample_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), sample_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* @order: 0 .. @n - 1 in a random order (Fisher-Yates, rand_r(@seed)). */
static inline void sample_shuffle(int *order, int n, unsigned int *seed)
{
	for (int k = 0; k < n; k++)
		order[k] = k;
	for (int k = n - 1; k > 0; k--) {
		int j = rand_r(seed) % (k + 1), x = order[k];

		order[k] = order[j];
		order[j] = x;
	}
}

#endif
