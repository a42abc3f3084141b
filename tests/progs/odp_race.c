// SPDX-License-Identifier: MIT
/*
 * Device access racing invalidation.  Readers and a writer access the MR in
 * loops while the main thread zaps / unmaps / remaps pages under them,
 * bounded by iterations and time.  Every result must be correct data or a
 * clean EFAULT (only while a munmap is in progress), never stale data:
 *
 * R pages: the mutator's step k on page p is started[p]++, zap or remap,
 *   memset(page, g), val[p] = g, completed[p]++ with g increasing.  A
 *   reader loads c0 = completed[p] then v0 = val[p], reads, loads s1 =
 *   started[p].  If s1 == c0 nothing touched the page meanwhile and the read
 *   must return v0 in every byte; otherwise each byte is 0 or >= v0.  After
 *   each step the mutator itself reads the page: it must be all g.
 * W pages: a writer device-writes w and checks the CPU view the same way:
 *   all w if no zap started since; else each byte 0, w, or a value it wrote
 *   to that page before.  (MADV_DONTNEED calls invalidate_range_end() before
 *   tlb_finish_mmu(): once the device has faulted the new page, the writer's
 *   CPU may still read the old page through a stale TLB entry until madvise
 *   returns.  That is the CPU's window, not the device's.)  The mutator only
 *   MADV_DONTNEEDs W pages.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"

#define NR	8		/* pages read by readers, mutated with new data */
#define NW	4		/* pages written by the writer, zapped */
#define NPG	(NR + NW)
#define NREADERS 2

struct pstate {
	atomic_uint started;
	atomic_uint completed;
	atomic_uint val;
};

static struct pstate pst[NPG];
static atomic_int stop;
static atomic_ulong n_reads, n_read_efault, n_writes, n_write_efault,
	n_strict, n_prefetch, n_busy, n_old_cpu_view;
static uint8_t written[NPG][256];	/* values the writer ever wrote to a page */
static struct odp_mr *rmr;
static struct odp_pd *rpd;
static char *base;
static int remap_mode;

static char *pg(int p)
{
	return base + (size_t)p * page_size;
}

static void *reader(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg * 7919 + 1;
	char *out = malloc(page_size);

	while (!atomic_load(&stop)) {
		int p = rand_r(&seed) % NR;
		unsigned int c0 = atomic_load(&pst[p].completed);
		unsigned int v0 = atomic_load(&pst[p].val);
		unsigned int s1;
		int r;
		long i;

		r = dev_read(rmr, pg(p), out, page_size);
		s1 = atomic_load(&pst[p].started);
		atomic_fetch_add(&n_reads, 1);
		if (r == EBUSY) {
			atomic_fetch_add(&n_busy, 1);
			continue;
		}
		if (r == EFAULT) {
			if (remap_mode && s1 != c0) {
				atomic_fetch_add(&n_read_efault, 1);
				continue;
			}
			FAIL("reader: EFAULT on page %d with no munmap in progress "
			     "(started %u completed %u)", p, s1, c0);
		}
		if (r)
			FAIL("reader: device read of page %d returned %d (%s)", p,
			     r, strerror(r));
		if (s1 == c0) {
			atomic_fetch_add(&n_strict, 1);
			for (i = 0; i < page_size; i++)
				if ((uint8_t)out[i] != v0)
					FAIL("STALE: page %d byte %ld read 0x%02x, expected "
					     "0x%02x (no mutation in flight, step %u)",
					     p, i, (uint8_t)out[i], v0, c0);
		} else {
			for (i = 0; i < page_size; i++) {
				uint8_t b = out[i];

				if (b && b < v0)
					FAIL("STALE: page %d byte %ld read 0x%02x older "
					     "than 0x%02x completed before the read",
					     p, i, b, v0);
			}
		}
	}
	free(out);
	return NULL;
}

/* Say all we know about a write that the CPU does not see. */
static void writer_fail(int p, long i, uint8_t b, uint8_t w, unsigned int c0)
{
	const uint8_t *cpu = (const uint8_t *)pg(p);
	unsigned int hist[256] = { 0 }, s1 = atomic_load(&pst[p].started);
	unsigned int c1 = atomic_load(&pst[p].completed);
	char *out = malloc(page_size), *fresh;
	long j;
	int r;

	for (j = 0; j < page_size; j++)
		hist[cpu[j]]++;
	fprintf(stderr, "writer: page %d byte %ld is 0x%02x after the device wrote 0x%02x; "
		"zaps started %u completed %u (completed %u before the write)\n",
		p, i, b, w, s1, c1, c0);
	for (j = 0; j < 256; j++)
		if (hist[j])
			fprintf(stderr, "  CPU view now: %u bytes of 0x%02lx\n", hist[j], j);
	r = dev_read(rmr, pg(p), out, page_size);
	fprintf(stderr, "  device read now: ret %d byte0 0x%02x\n", r, (uint8_t)out[0]);
	fresh = map_anon(page_size, PROT_READ, MAP_PRIVATE);
	fprintf(stderr, "  a fresh zero-page mapping reads 0x%02x\n", (uint8_t)fresh[0]);
	FAIL("LOST/STALE: page %d byte %ld is 0x%02x after the device wrote 0x%02x",
	     p, i, b, w);
}

static void *writer(void *arg)
{
	char *in = malloc(page_size);
	unsigned int k = 0;

	(void)arg;
	while (!atomic_load(&stop)) {
		int p = NR + (k % NW);
		uint8_t w = (uint8_t)(k % 250) + 1;
		unsigned int c0 = atomic_load(&pst[p].completed);
		unsigned int s1;
		const uint8_t *cpu = (const uint8_t *)pg(p);
		int r;
		long i;

		k++;
		written[p][w] = 1;
		memset(in, w, page_size);
		r = dev_write(rmr, pg(p), in, page_size);
		atomic_fetch_add(&n_writes, 1);
		if (r == EBUSY) {
			atomic_fetch_add(&n_busy, 1);
			continue;
		}
		if (r == EFAULT) {
			atomic_fetch_add(&n_write_efault, 1);
			FAIL("writer: EFAULT on page %d, which is only ever zapped", p);
		}
		if (r)
			FAIL("writer: device write of page %d returned %d (%s)", p,
			     r, strerror(r));
		/* The CPU view: read bytes first, then look at started. */
		for (i = 0; i < page_size; i++)
			in[i] = __atomic_load_n(&cpu[i], __ATOMIC_RELAXED);
		s1 = atomic_load(&pst[p].started);
		for (i = 0; i < page_size; i++) {
			uint8_t b = in[i];

			if (b == w || b == 0)
				continue;
			if (s1 == c0 || !written[p][b])
				writer_fail(p, i, b, w, c0);
			atomic_fetch_add(&n_old_cpu_view, 1);
			break;
		}
		if (s1 == c0) {
			atomic_fetch_add(&n_strict, 1);
			for (i = 0; i < page_size; i++)
				if ((uint8_t)in[i] != w)
					FAIL("LOST WRITE: page %d byte %ld is 0x%02x, the "
					     "device wrote 0x%02x and no zap ran meanwhile",
					     p, i, (uint8_t)in[i], w);
		}
	}
	free(in);
	return NULL;
}

static void *prefetcher(void *arg)
{
	struct odp_sge sge = {
		.addr = (uintptr_t)base,
		.length = NPG * page_size,
		.lkey = rmr->lkey,
	};
	int r;

	(void)arg;
	while (!atomic_load(&stop)) {
		r = odp_advise_mr(rpd, ODP_ADVISE_PREFETCH, 0, &sge, 1);
		if (r)
			FAIL("async prefetch returned %d (%s); without FLUSH only "
			     "validation errors are reported", r, strerror(r));
		atomic_fetch_add(&n_prefetch, 1);
		usleep(2000);
	}
	return NULL;
}

static void mutate(int p, unsigned int g, unsigned int step)
{
	char *a = pg(p);

	atomic_fetch_add(&pst[p].started, 1);
	if (!remap_mode || p >= NR || step % 3 == 0) {
		xmadvise(a, page_size, MADV_DONTNEED);
	} else if (step % 3 == 1) {
		unmap(a, page_size);
		if (mmap(a, page_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != a)
			FAIL("mmap MAP_FIXED: %s", strerror(errno));
	} else {
		if (mmap(a, page_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != a)
			FAIL("mmap MAP_FIXED over: %s", strerror(errno));
	}
	if (p < NR) {
		memset(a, g, page_size);
		atomic_store(&pst[p].val, g);
	}
	atomic_fetch_add(&pst[p].completed, 1);
}

static int run_race(int remap, unsigned int steps, unsigned int max_ms)
{
	struct tctx t;
	struct stats s0, s1, d;
	pthread_t th[NREADERS + 2];
	char *out;
	unsigned int k, done_steps = 0;
	uint64_t end;
	int i, nth = 0;

	t_open(&t);
	remap_mode = remap;
	base = map_anon(NPG * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	for (i = 0; i < NR; i++) {
		memset(pg(i), 1, page_size);
		atomic_store(&pst[i].val, 1);
	}
	rmr = reg_mr(&t, base, NPG * page_size, ACC_RW);
	rpd = t.pd;
	out = malloc(page_size);
	mr_stats(rmr, &s0);

	for (i = 0; i < NREADERS; i++)
		pthread_create(&th[nth++], NULL, reader, (void *)(uintptr_t)i);
	pthread_create(&th[nth++], NULL, writer, NULL);
	if (remap)
		pthread_create(&th[nth++], NULL, prefetcher, NULL);

	end = now_ms() + max_ms;
	for (k = 0; k < steps && now_ms() < end; k++) {
		int p = k % NPG;
		unsigned int g = 2 + k / NPG;	/* < 256 for steps <= 3000 */
		int r;

		mutate(p, g, k / NPG);
		done_steps++;
		if (p >= NR)
			continue;
		/* Sequential: after zap + CPU write, the device sees the new value. */
		r = dev_read(rmr, pg(p), out, page_size);
		if (r)
			FAIL("mutator: device read of page %d returned %d (%s)", p, r,
			     strerror(r));
		for (long b = 0; b < page_size; b++)
			if ((uint8_t)out[b] != g)
				FAIL("STALE: after zap + memset(0x%02x) of page %d the "
				     "device read byte %ld = 0x%02x", g, p, b,
				     (uint8_t)out[b]);
	}
	atomic_store(&stop, 1);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);

	/* Quiescent: device view == CPU view everywhere. */
	for (i = 0; i < NPG; i++) {
		EXPECT_OK(dev_read(rmr, pg(i), out, page_size));
		if (memcmp(out, pg(i), page_size))
			FAIL("quiescent: device view of page %d differs from the CPU view", i);
	}
	mr_stats(rmr, &s1);
	stats_delta(&s0, &s1, &d);
	print_stats("race.", &d);
	printf("steps=%u reads=%lu read_efault=%lu writes=%lu strict_checks=%lu "
	       "prefetches=%lu ebusy=%lu old_cpu_view=%lu\n", done_steps,
	       atomic_load(&n_reads), atomic_load(&n_read_efault),
	       atomic_load(&n_writes), atomic_load(&n_strict),
	       atomic_load(&n_prefetch), atomic_load(&n_busy),
	       atomic_load(&n_old_cpu_view));
	EXPECT_U64(D(d, INVALIDATIONS), >=, done_steps, "invalidations (one zap per step at least)");
	EXPECT_U64(D(d, ACCESSES), >=, atomic_load(&n_reads) + atomic_load(&n_writes) -
		   atomic_load(&n_read_efault) - atomic_load(&n_busy), "accesses");
	CHECK(done_steps >= 100, "only %u steps in %u ms", done_steps, max_ms);
	CHECK(atomic_load(&n_reads) > 0 && atomic_load(&n_writes) > 0,
	      "reader/writer threads did not run");

	EXPECT_OK(odp_dereg_mr(rmr));
	t_close(&t);
	return T_PASS;
}

static int race_dontneed(void)
{
	return run_race(0, 2400, 25000);
}

static int race_munmap_mmap(void)
{
	return run_race(1, 2400, 25000);
}

static const struct odp_test tests[] = {
	{ "race_dontneed", race_dontneed },
	{ "race_munmap_mmap", race_munmap_mmap },
};

TEST_MAIN(tests)
