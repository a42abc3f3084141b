/* SPDX-License-Identifier: MIT */
/*
 * What the benchmark programs do with a sample's timed operations: the
 * median (under TCG on a shared host a single 10 us system call now and then
 * takes milliseconds - the vCPU thread was preempted - which a mean would
 * carry into the figure), a random order for states that take turns, and
 * the batches in which their memory is prepared ahead of them.
 * Depends on nothing but libc, so that the libodp programs (common.h) and
 * the libibverbs ones (tests/verbs/vt.h) can both include it.
 */
#ifndef BENCH_SAMPLE_H
#define BENCH_SAMPLE_H

#include <stddef.h>
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

/* @rounds rounds of @n states each, every round in its own random order. */
static inline void sample_shuffle_rounds(int *order, int rounds, int n,
					 unsigned int *seed)
{
	for (int i = 0; i < rounds; i++)
		sample_shuffle(&order[i * n], n, seed);
}

/*
 * Bytes of memory prepared ahead of the timed operations that unmap it: a
 * range written just before its operation would leave the operation to run
 * in what the writing left in the VM (QEMU's software TLB full of the
 * range's pages), which costs a registered range's notifier more than a
 * plain range's unmapping, and more after two THPs than after 16 small
 * pages (benchmarks/README.md).  So every operation finds what the ones
 * before it left.
 */
#define SAMPLE_AHEAD_BYTES	(64UL << 20)

/*
 * The end of the batch of operations that starts at @c0 (of @calls, in
 * state order @order): as many as SAMPLE_AHEAD_BYTES of their memory holds,
 * at least one.  An operation in state @bare prepares @len bytes, any other
 * 2 * @len.
 */
static inline int sample_batch_end(const int *order, int c0, int calls,
				   int bare, size_t len)
{
	size_t bytes = 0;
	int c1;

	for (c1 = c0; c1 < calls; c1++) {
		size_t b = order[c1] == bare ? len : 2 * len;

		if (c1 > c0 && bytes + b > SAMPLE_AHEAD_BYTES)
			break;
		bytes += b;
	}
	return c1;
}

#endif
