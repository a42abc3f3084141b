// SPDX-License-Identifier: MIT
/*
 * bench_fault: the cost of device faults, per page and per batch, against
 * the CPU's own first touch of the same amount of fresh memory in the same
 * process.
 *
 * A region of P fresh pages (4 KiB pages: MADV_NOHUGEPAGE; THP: 2 MiB
 * aligned, MADV_HUGEPAGE) is made accessible in batches of N pages:
 *
 *   mode          subject (ODP, one call per batch)          baseline (CPU)
 *   fault_write   odp_advise_mr(PREFETCH_WRITE, FLUSH)       one store per page
 *   fault_read    odp_advise_mr(PREFETCH, FLUSH)             one load per page
 *   access_write  odp_mr_write() of N pages (fault + copy)   memset() of N pages
 *
 * A synchronous write prefetch of N pages is exactly one device fault of N
 * pages (one hmm_range_fault() call for N <= 512, the driver's batch): the
 * kernel allocates and zeroes the pages as for the CPU's faults, and the
 * driver installs N translations.  The MR is registered before the clock
 * starts (registration faults nothing).  With THP the first batch that
 * touches a 2 MiB range faults the whole huge page, for the CPU and for the
 * device alike; P covers several of them.
 *
 * Each rep measures the baseline and the subject on their own fresh
 * regions, alternating which goes first.  Output (JSON Lines): per (kind,
 * mode, batch, rep) the whole region's time for both, and the driver's
 * fault counters for the subject.
 */
#include <getopt.h>

#include <odp.h>

#include "common.h"

#define MAX_BATCHES	16

static struct {
	unsigned long	batches[MAX_BATCHES];
	int		nbatches;
	unsigned long	pages_4k;
	unsigned long	pages_thp;
	int		reps;
	int		do_4k, do_thp;
	const char	*modes;		/* NULL: all */
} opt = {
	.pages_4k	= 4096,
	.pages_thp	= 8192,
	.reps		= 7,
	.do_4k		= 1,
	.do_thp		= 1,
};

enum mode { FAULT_WRITE, FAULT_READ, ACCESS_WRITE, NMODES };
static const char *const mode_name[] = {
	[FAULT_WRITE] = "fault_write",
	[FAULT_READ] = "fault_read",
	[ACCESS_WRITE] = "access_write",
};

static struct odp_context *ctx;
static struct odp_pd *pd;
static char *src;		/* the data odp_mr_write() moves */

static double cpu_run(enum mode m, enum mem_kind kind, size_t len,
		      size_t batch_len)
{
	char *p = map_mem(len, kind);
	double t0, t1;

	t0 = now_ns();
	switch (m) {
	case FAULT_WRITE:
		touch_pages(p, len);
		break;
	case FAULT_READ:
		if (read_pages(p, len) != 0)
			die("fresh memory is not zero");
		break;
	case ACCESS_WRITE:
		for (size_t off = 0; off < len; off += batch_len)
			memset(p + off, 0x5a, batch_len);
		break;
	default:
		break;
	}
	t1 = now_ns();
	/* The stores must not be optimised away: look at one. */
	if (m != FAULT_READ && ((volatile char *)p)[len - page_size()] == 0)
		die("CPU stores lost");
	unmap_mem(p, len);
	return t1 - t0;
}

static double odp_run(enum mode m, enum mem_kind kind, size_t len,
		      size_t batch_len, uint64_t *stats)
{
	char *p = map_mem(len, kind);
	struct odp_mr *mr;
	double t0, t1;

	mr = odp_reg_mr(pd, p, len, ODP_ACCESS_LOCAL_WRITE |
			ODP_ACCESS_ON_DEMAND);
	if (!mr)
		die("odp_reg_mr: %s", strerror(errno));

	t0 = now_ns();
	for (size_t off = 0; off < len; off += batch_len) {
		struct odp_sge sge = {
			.addr	= (uintptr_t)p + off,
			.length	= (uint32_t)batch_len,
			.lkey	= mr->lkey,
		};
		int err = 0;

		switch (m) {
		case FAULT_WRITE:
			err = odp_advise_mr(pd, ODP_ADVISE_PREFETCH_WRITE,
					    ODP_ADVISE_FLAG_FLUSH, &sge, 1);
			break;
		case FAULT_READ:
			err = odp_advise_mr(pd, ODP_ADVISE_PREFETCH,
					    ODP_ADVISE_FLAG_FLUSH, &sge, 1);
			break;
		case ACCESS_WRITE:
			err = odp_mr_write(mr, (uintptr_t)p + off, src,
					   batch_len);
			break;
		default:
			break;
		}
		if (err)
			die("%s: %s", mode_name[m], strerror(err));
	}
	t1 = now_ns();

	if (odp_query_mr_stats(mr, stats, ODP_STAT_MAX) < 0)
		die("odp_query_mr_stats: %s", strerror(errno));
	if (stats[ODP_STAT_PAGES_MAPPED] != len / page_size())
		die("%s: %llu pages mapped, expected %zu", mode_name[m],
		    (unsigned long long)stats[ODP_STAT_PAGES_MAPPED],
		    len / page_size());
	if (m == ACCESS_WRITE && p[len - 1] != 0x5a)
		die("device write lost");
	if (odp_dereg_mr(mr))
		die("odp_dereg_mr: %s", strerror(errno));
	unmap_mem(p, len);
	return t1 - t0;
}

static void run(enum mem_kind kind, unsigned long pages)
{
	const char *kname = kind == MEM_THP ? "thp" : "4k";
	size_t len = pages * page_size();

	for (int b = 0; b < opt.nbatches; b++) {
		unsigned long n = opt.batches[b];
		size_t batch_len = n * page_size();

		if (pages % n)
			die("%lu pages are not a multiple of the batch %lu", pages, n);
		for (int m = 0; m < NMODES; m++) {
			if (opt.modes && !strstr(opt.modes, mode_name[m]))
				continue;
			for (int r = 0; r < opt.reps; r++) {
				uint64_t st[ODP_STAT_MAX] = { 0 };
				double cpu, dev;

				if (r % 2) {
					dev = odp_run(m, kind, len, batch_len, st);
					cpu = cpu_run(m, kind, len, batch_len);
				} else {
					cpu = cpu_run(m, kind, len, batch_len);
					dev = odp_run(m, kind, len, batch_len, st);
				}
				sample("fault", "\"kind\":\"%s\",\"mode\":\"%s\","
				       "\"batch\":%lu,\"pages\":%lu,\"rep\":%d,"
				       "\"cpu_ns\":%.1f,\"odp_ns\":%.1f,"
				       "\"faults\":%llu,\"pages_faulted\":%llu,"
				       "\"retries\":%llu",
				       kname, mode_name[m], n, pages, r, cpu, dev,
				       (unsigned long long)st[ODP_STAT_FAULTS],
				       (unsigned long long)st[ODP_STAT_PAGES_FAULTED],
				       (unsigned long long)(st[ODP_STAT_RETRIES] +
							    st[ODP_STAT_BUSY_RETRIES]));
			}
		}
	}
}

static void thp_check(void)
{
	char *p = map_mem(THP_SIZE, MEM_THP);
	FILE *f;
	char line[256];
	unsigned long anon_huge = 0;

	touch_pages(p, THP_SIZE);
	f = fopen("/proc/self/smaps_rollup", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %lu kB", &anon_huge) == 1)
			break;
	if (f)
		fclose(f);
	unmap_mem(p, THP_SIZE);
	sample("fault", "\"check\":\"thp\",\"anon_huge_kb\":%lu", anon_huge);
	if (anon_huge < THP_SIZE / KIB)
		fprintf(stderr, "bench_fault: no THP after touching 2 MiB "
			"(AnonHugePages %lu kB)\n", anon_huge);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "batches", 1, NULL, 'b' }, { "pages", 1, NULL, 'p' },
		{ "thp-pages", 1, NULL, 'P' }, { "reps", 1, NULL, 'r' },
		{ "no-thp", 0, NULL, 'T' }, { "no-4k", 0, NULL, 'K' },
		{ "modes", 1, NULL, 'm' }, { 0 }
	};
	unsigned long maxb = 0;
	int c;

	opt.nbatches = parse_sizes("1,16,64,512", opt.batches, MAX_BATCHES);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'b': opt.nbatches = parse_sizes(optarg, opt.batches, MAX_BATCHES); break;
		case 'p': opt.pages_4k = strtoul(optarg, NULL, 0); break;
		case 'P': opt.pages_thp = strtoul(optarg, NULL, 0); break;
		case 'r': opt.reps = atoi(optarg); break;
		case 'T': opt.do_thp = 0; break;
		case 'K': opt.do_4k = 0; break;
		case 'm': opt.modes = optarg; break;
		default:
			fprintf(stderr, "usage: bench_fault [--batches 1,16,64,512] "
				"[--pages N] [--thp-pages N] [--reps N] [--no-thp] [--no-4k] "
				"[--modes fault_write,fault_read,access_write]\n");
			return 1;
		}
	}
	for (int b = 0; b < opt.nbatches; b++)
		if (opt.batches[b] > maxb)
			maxb = opt.batches[b];

	ctx = odp_open_device(NULL);
	if (!ctx)
		die("odp_open_device: %s", strerror(errno));
	pd = odp_alloc_pd(ctx);
	if (!pd)
		die("odp_alloc_pd: %s", strerror(errno));
	src = map_mem(maxb * page_size(), MEM_4K);
	memset(src, 0x5a, maxb * page_size());

	if (opt.do_4k)
		run(MEM_4K, opt.pages_4k);
	if (opt.do_thp) {
		thp_check();
		run(MEM_THP, opt.pages_thp);
	}

	odp_dealloc_pd(pd);
	odp_close_device(ctx);
	return 0;
}
