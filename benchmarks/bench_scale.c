// SPDX-License-Identifier: MIT
/*
 * bench_scale: many MRs in one address space.
 *
 * Part "mrs": for N MRs (1 ... 100k) of one page each, side by side in one
 * mapping of one process:
 *   - registration and deregistration rate (all N registered at once);
 *   - slab memory of the kernel per MR: /proc/slabinfo before and after
 *     registering the N MRs (the module has no memory accounting of its
 *     own), per cache, so the owner of each byte can be seen;
 *   - invalidation cost with N MRs sharing the mm, each against the same
 *     operation measured in the same rep before any MR existed:
 *       unrelated  madvise(MADV_DONTNEED) of 16 resident pages that no MR
 *                  covers (every invalidation of the mm looks the interval
 *                  tree up);
 *       one        madvise(MADV_DONTNEED) of one device-mapped page of one
 *                  MR (baseline: the same page, CPU-touched, no MR);
 *       all        madvise(MADV_DONTNEED) of the whole region, all N MRs
 *                  device-mapped (baseline: the region CPU-touched, no MR).
 *
 * Part "pinned": the baseline of part "mrs": N pinned one-page MRs
 * (ibv_reg_mr on rxe0, memory CPU-touched first), registration and
 * deregistration rate and slab memory per MR, the same way.
 *
 * Part "pages": one MR of M pages, device-mapped with a synchronous read
 * prefetch of untouched memory (every entry points at the shared zero page,
 * so no page is allocated); /proc/slabinfo before and after gives the
 * translation cache's memory per mapped page.
 *
 * Part "numa_probe" (--numa-probe SECONDS): M resident pages of one MR
 * device-mapped by a write prefetch; then the process keeps running (reading
 * its memory) for SECONDS, and the driver's counters say how many of the M
 * translations survived and how many invalidations arrived meanwhile.  With
 * automatic NUMA balancing on, its scanner changes the protection of the
 * process's pages (MMU_NOTIFY_PROTECTION_VMA), which drops translations.
 * run.py runs it with kernel.numa_balancing 1 and 0.
 *
 * Output (JSON Lines).  Needs root for /proc/slabinfo.
 */
#include <getopt.h>
#include <infiniband/verbs.h>

#include <odp.h>

#include "common.h"

#define MAX_LIST	16
#define MAX_CACHES	512
#define PROBE_PAGES	16
#define PROBE_INNER	32

static struct {
	unsigned long	mrs[MAX_LIST];
	int		nmrs;
	unsigned long	pinned[MAX_LIST];
	int		npinned;
	unsigned long	map_pages[MAX_LIST];
	int		nmap;
	int		reps;
	int		big_reps;	/* for N >= 100000 */
	int		numa_probe;	/* seconds, 0: off */
	unsigned long	numa_pages;
} opt = {
	.numa_pages	= 32768,
	.reps		= 3,
	.big_reps	= 3,
};

static struct odp_context *ctx;
static struct odp_pd *pd;
static struct ibv_context *ictx;
static struct ibv_pd *ipd;
static int max_pinned_mrs;

struct slab {
	char		name[64];
	long		active_objs, num_objs, objsize, pagesperslab, num_slabs;
};

struct slabinfo {
	int		n;
	struct slab	c[MAX_CACHES];
	long		meminfo_slab_kb;
	long		meminfo_pagetables_kb;
};

static long meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	size_t kl = strlen(key);
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return v;
}

static long meminfo_sysctl(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/*
 * Flush the per-CPU (partial) slabs of the kmalloc caches and of the
 * xarray nodes' cache, so that /proc/slabinfo's active_objs counts the
 * objects in use: SLUB counts the free objects of per-CPU slabs as active.
 * Needs root; best effort.
 */
static void slab_shrink(void)
{
	/* The caches MRs and translations come from (the rest: too slow). */
	FILE *ls = popen("cd /sys/kernel/slab 2>/dev/null && "
			 "ls -d kmalloc-* radix_tree_node 2>/dev/null", "r");
	char name[256], path[512];

	while (ls && fgets(name, sizeof(name), ls)) {
		FILE *f;

		name[strcspn(name, "\n")] = 0;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", name);
		f = fopen(path, "w");
		if (f) {
			fputs("1", f);
			fclose(f);
		}
	}
	if (ls)
		pclose(ls);
}

static void slab_read(struct slabinfo *s)
{
	FILE *f = fopen("/proc/slabinfo", "r");
	char line[512];

	if (!f)
		die("/proc/slabinfo: %s (needs root)", strerror(errno));
	fclose(f);
	slab_shrink();
	f = fopen("/proc/slabinfo", "r");
	if (!f)
		die("/proc/slabinfo: %s", strerror(errno));
	/* name active_objs num_objs objsize objperslab pagesperslab : ... */
	s->n = 0;
	while (fgets(line, sizeof(line), f) && s->n < MAX_CACHES) {
		struct slab *c = &s->c[s->n];
		long objperslab, limit, batch, shared, active_slabs;

		if (sscanf(line, "%63s %ld %ld %ld %ld %ld : tunables %ld %ld %ld : "
			   "slabdata %ld %ld", c->name, &c->active_objs,
			   &c->num_objs, &c->objsize, &objperslab,
			   &c->pagesperslab, &limit, &batch, &shared,
			   &active_slabs, &c->num_slabs) == 11)
			s->n++;
	}
	fclose(f);
	s->meminfo_slab_kb = meminfo("Slab");
	s->meminfo_pagetables_kb = meminfo("PageTables");
}

/*
 * Print the difference as JSON fields: total object bytes and slab bytes,
 * and the caches whose object bytes grew the most.
 */
static void slab_delta(const struct slabinfo *a, const struct slabinfo *b,
		       char *out, size_t outlen)
{
	struct { const char *name; long obj, slabb; } top[6] = { { 0 } };
	long obj_total = 0, slab_total = 0;
	size_t used = 0;

	for (int i = 0; i < b->n; i++) {
		const struct slab *cb = &b->c[i];
		const struct slab *ca = NULL;
		long obj, slabb;

		for (int j = 0; j < a->n && !ca; j++)
			if (!strcmp(a->c[j].name, cb->name))
				ca = &a->c[j];
		obj = cb->active_objs * cb->objsize -
		      (ca ? ca->active_objs * ca->objsize : 0);
		slabb = (cb->num_slabs * cb->pagesperslab -
			 (ca ? ca->num_slabs * ca->pagesperslab : 0)) *
			(long)page_size();
		obj_total += obj;
		slab_total += slabb;
		for (int t = 0; t < 6; t++) {
			if (!top[t].name || obj > top[t].obj) {
				memmove(&top[t + 1], &top[t],
					sizeof(top[0]) * (size_t)(5 - t));
				top[t].name = cb->name;
				top[t].obj = obj;
				top[t].slabb = slabb;
				break;
			}
		}
	}
	used += (size_t)snprintf(out + used, outlen - used,
		"\"slab_obj_bytes\":%ld,\"slab_bytes\":%ld,"
		"\"meminfo_slab_bytes\":%ld,\"pagetables_bytes\":%ld,\"caches\":[",
		obj_total, slab_total,
		(b->meminfo_slab_kb - a->meminfo_slab_kb) * 1024,
		(b->meminfo_pagetables_kb - a->meminfo_pagetables_kb) * 1024);
	for (int t = 0; t < 5 && top[t].name; t++)
		used += (size_t)snprintf(out + used, outlen - used,
			"%s{\"name\":\"%s\",\"obj_bytes\":%ld,\"slab_bytes\":%ld}",
			t ? "," : "", top[t].name, top[t].obj, top[t].slabb);
	snprintf(out + used, outlen - used, "]");
}

static void prefetch_sges(struct odp_sge *sge, int n, enum odp_advice advice)
{
	int err = odp_advise_mr(pd, advice, ODP_ADVISE_FLAG_FLUSH, sge,
				(uint32_t)n);

	if (err)
		die("odp_advise_mr: %s", strerror(err));
}

/* Prefetch (write) one page of each MR, 64 SGEs per call. */
static void map_all(struct odp_mr **mrs, unsigned long n)
{
	struct odp_sge sge[64];
	int k = 0;

	for (unsigned long i = 0; i < n; i++) {
		sge[k].addr = (uintptr_t)mrs[i]->addr;
		sge[k].length = (uint32_t)page_size();
		sge[k].lkey = mrs[i]->lkey;
		if (++k == 64) {
			prefetch_sges(sge, k, ODP_ADVISE_PREFETCH_WRITE);
			k = 0;
		}
	}
	if (k)
		prefetch_sges(sge, k, ODP_ADVISE_PREFETCH_WRITE);
}

static double dontneed(void *p, size_t len)
{
	double t0 = now_ns();

	if (madvise(p, len, MADV_DONTNEED))
		die("madvise: %s", strerror(errno));
	return now_ns() - t0;
}

/* Mean time of madvise(DONTNEED) of the resident probe range. */
static double probe_unrelated(char *probe)
{
	double ns = 0;

	for (int i = 0; i < PROBE_INNER; i++) {
		touch_pages(probe, PROBE_PAGES * page_size());
		ns += dontneed(probe, PROBE_PAGES * page_size());
	}
	return ns / PROBE_INNER;
}

/* Mean time of madvise(DONTNEED) of one resident page: CPU or device made it. */
static double probe_one(char *page, struct odp_mr *mr)
{
	double ns = 0;

	for (int i = 0; i < PROBE_INNER; i++) {
		if (mr) {
			struct odp_sge sge = {
				.addr = (uintptr_t)page,
				.length = (uint32_t)page_size(),
				.lkey = mr->lkey,
			};

			prefetch_sges(&sge, 1, ODP_ADVISE_PREFETCH_WRITE);
		} else {
			touch_pages(page, page_size());
		}
		ns += dontneed(page, page_size());
	}
	return ns / PROBE_INNER;
}

static void run_mrs(unsigned long n, int rep)
{
	size_t ps = page_size(), len = n * ps;
	char *region = map_mem(len, MEM_4K);
	char *probe = map_mem(PROBE_PAGES * ps, MEM_4K);
	struct odp_mr **mrs = calloc(n, sizeof(*mrs));
	struct slabinfo *s0 = malloc(sizeof(*s0)), *s1 = malloc(sizeof(*s1));
	double t0, t_reg, t_dereg, map_ns;
	double base_unrel, base_one, base_all, unrel, one, all;
	uint64_t inval_pages = 0;
	char delta[2048];

	if (!mrs || !s0 || !s1)
		die("out of memory");

	/* Baselines: the same operations before any MR exists. */
	base_unrel = probe_unrelated(probe);
	base_one = probe_one(region + (n / 2) * ps, NULL);
	touch_pages(region, len);
	base_all = dontneed(region, len);

	slab_read(s0);
	t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		mrs[i] = odp_reg_mr(pd, region + i * ps, ps,
				    ODP_ACCESS_LOCAL_WRITE | ODP_ACCESS_ON_DEMAND);
		if (!mrs[i])
			die("odp_reg_mr #%lu: %s", i, strerror(errno));
	}
	t_reg = now_ns() - t0;
	slab_read(s1);
	slab_delta(s0, s1, delta, sizeof(delta));

	unrel = probe_unrelated(probe);
	one = probe_one(region + (n / 2) * ps, mrs[n / 2]);
	t0 = now_ns();
	map_all(mrs, n);
	map_ns = now_ns() - t0;
	all = dontneed(region, len);
	for (unsigned long i = 0; i < n; i++) {
		uint64_t v[ODP_STAT_MAX] = { 0 };

		if (odp_query_mr_stats(mrs[i], v, ODP_STAT_MAX) < 0)
			die("odp_query_mr_stats: %s", strerror(errno));
		inval_pages += v[ODP_STAT_PAGES_INVALIDATED];
	}

	t0 = now_ns();
	for (unsigned long i = 0; i < n; i++)
		if (odp_dereg_mr(mrs[i]))
			die("odp_dereg_mr: %s", strerror(errno));
	t_dereg = now_ns() - t0;

	sample("scale", "\"part\":\"mrs\",\"mrs\":%lu,\"rep\":%d,"
	       "\"reg_ns\":%.1f,\"dereg_ns\":%.1f,\"map_ns\":%.1f,"
	       "\"unrelated_ns\":%.1f,\"unrelated_base_ns\":%.1f,"
	       "\"one_ns\":%.1f,\"one_base_ns\":%.1f,"
	       "\"all_ns\":%.1f,\"all_base_ns\":%.1f,"
	       "\"pages_invalidated\":%llu,%s",
	       n, rep, t_reg, t_dereg, map_ns, unrel, base_unrel, one,
	       base_one, all, base_all, (unsigned long long)inval_pages, delta);

	free(s0);
	free(s1);
	free(mrs);
	unmap_mem(probe, PROBE_PAGES * ps);
	unmap_mem(region, len);
}

static void run_pinned(unsigned long n, int rep)
{
	size_t ps = page_size(), len = n * ps;
	char *region = map_mem(len, MEM_4K);
	struct ibv_mr **mrs = calloc(n, sizeof(*mrs));
	struct slabinfo *s0 = malloc(sizeof(*s0)), *s1 = malloc(sizeof(*s1));
	double t0, t_reg, t_dereg;
	char delta[2048];

	if (!mrs || !s0 || !s1)
		die("out of memory");
	touch_pages(region, len);
	slab_read(s0);
	t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		mrs[i] = ibv_reg_mr(ipd, region + i * ps, ps,
				    IBV_ACCESS_LOCAL_WRITE);
		if (!mrs[i])
			die("ibv_reg_mr #%lu: %s", i, strerror(errno));
	}
	t_reg = now_ns() - t0;
	slab_read(s1);
	slab_delta(s0, s1, delta, sizeof(delta));
	t0 = now_ns();
	for (unsigned long i = 0; i < n; i++)
		if (ibv_dereg_mr(mrs[i]))
			die("ibv_dereg_mr: %s", strerror(errno));
	t_dereg = now_ns() - t0;

	sample("scale", "\"part\":\"pinned\",\"mrs\":%lu,\"rep\":%d,"
	       "\"reg_ns\":%.1f,\"dereg_ns\":%.1f,%s", n, rep, t_reg,
	       t_dereg, delta);
	free(s0);
	free(s1);
	free(mrs);
	unmap_mem(region, len);
}

static void run_numa_probe(void)
{
	size_t ps = page_size(), len = opt.numa_pages * ps;
	char *region = map_mem(len, MEM_4K);
	uint64_t v0[ODP_STAT_MAX] = { 0 }, v1[ODP_STAT_MAX] = { 0 };
	struct odp_mr *mr;
	struct odp_sge sge;
	unsigned long sum = 0;
	double t0;

	touch_pages(region, len);
	mr = odp_reg_mr(pd, region, len, ODP_ACCESS_LOCAL_WRITE |
			ODP_ACCESS_ON_DEMAND);
	if (!mr)
		die("odp_reg_mr: %s", strerror(errno));
	sge = (struct odp_sge){ .addr = (uintptr_t)region,
				.length = (uint32_t)len, .lkey = mr->lkey };
	prefetch_sges(&sge, 1, ODP_ADVISE_PREFETCH_WRITE);
	if (odp_query_mr_stats(mr, v0, ODP_STAT_MAX) < 0)
		die("odp_query_mr_stats: %s", strerror(errno));
	t0 = now_ns();
	while (now_ns() - t0 < opt.numa_probe * 1e9)
		sum += read_pages(region, len);
	if (odp_query_mr_stats(mr, v1, ODP_STAT_MAX) < 0)
		die("odp_query_mr_stats: %s", strerror(errno));
	sample("scale", "\"part\":\"numa_probe\",\"numa_balancing\":%ld,"
	       "\"seconds\":%d,\"pages\":%lu,\"mapped_before\":%llu,"
	       "\"mapped_after\":%llu,\"invalidations\":%llu,"
	       "\"pages_invalidated\":%llu,\"sum\":%lu",
	       meminfo_sysctl("/proc/sys/kernel/numa_balancing"), opt.numa_probe,
	       opt.numa_pages, (unsigned long long)v0[ODP_STAT_PAGES_MAPPED],
	       (unsigned long long)v1[ODP_STAT_PAGES_MAPPED],
	       (unsigned long long)(v1[ODP_STAT_INVALIDATIONS] - v0[ODP_STAT_INVALIDATIONS]),
	       (unsigned long long)(v1[ODP_STAT_PAGES_INVALIDATED] -
				    v0[ODP_STAT_PAGES_INVALIDATED]), sum);
	if (odp_dereg_mr(mr))
		die("odp_dereg_mr: %s", strerror(errno));
	unmap_mem(region, len);
}

static void open_verbs(const char *name)
{
	struct ibv_device **list;
	struct ibv_device_attr attr;
	int n;

	list = ibv_get_device_list(&n);
	if (!list)
		die("ibv_get_device_list: %s", strerror(errno));
	for (int i = 0; i < n && !ictx; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ictx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!ictx)
		die("ibv_open_device %s failed", name);
	ipd = ibv_alloc_pd(ictx);
	if (!ipd)
		die("ibv_alloc_pd: %s", strerror(errno));
	if (ibv_query_device(ictx, &attr))
		die("ibv_query_device failed");
	max_pinned_mrs = attr.max_mr;
	sample("scale", "\"part\":\"device\",\"ibdev\":\"%s\",\"max_mr\":%d",
	       name, attr.max_mr);
}

static void run_pages(unsigned long m, int rep)
{
	size_t ps = page_size(), len = m * ps;
	char *region = map_mem(len, MEM_4K);
	struct slabinfo *s0 = malloc(sizeof(*s0)), *s1 = malloc(sizeof(*s1));
	struct odp_mr *mr;
	uint64_t v[ODP_STAT_MAX] = { 0 };
	char delta[2048];
	double t0, t_map;

	if (!s0 || !s1)
		die("out of memory");
	mr = odp_reg_mr(pd, region, len, ODP_ACCESS_LOCAL_WRITE |
			ODP_ACCESS_ON_DEMAND);
	if (!mr)
		die("odp_reg_mr: %s", strerror(errno));
	slab_read(s0);
	t0 = now_ns();
	for (size_t off = 0; off < len; off += GIB) {
		struct odp_sge sge = {
			.addr = (uintptr_t)region + off,
			.length = (uint32_t)(len - off < GIB ? len - off : GIB),
			.lkey = mr->lkey,
		};

		prefetch_sges(&sge, 1, ODP_ADVISE_PREFETCH);
	}
	t_map = now_ns() - t0;
	slab_read(s1);
	slab_delta(s0, s1, delta, sizeof(delta));
	if (odp_query_mr_stats(mr, v, ODP_STAT_MAX) < 0)
		die("odp_query_mr_stats: %s", strerror(errno));
	if (odp_dereg_mr(mr))
		die("odp_dereg_mr: %s", strerror(errno));

	sample("scale", "\"part\":\"pages\",\"pages\":%lu,\"rep\":%d,"
	       "\"map_ns\":%.1f,\"pages_mapped\":%llu,%s", m, rep, t_map,
	       (unsigned long long)v[ODP_STAT_PAGES_MAPPED], delta);
	free(s0);
	free(s1);
	unmap_mem(region, len);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mrs", 1, NULL, 'n' }, { "pages", 1, NULL, 'p' },
		{ "reps", 1, NULL, 'r' }, { "big-reps", 1, NULL, 'R' },
		{ "pinned", 1, NULL, 'P' }, { "numa-probe", 1, NULL, 'N' },
		{ "numa-pages", 1, NULL, 'M' }, { 0 }
	};
	int c;

	opt.nmrs = parse_sizes("1,10,100,1000,10000,100000", opt.mrs, MAX_LIST);
	opt.nmap = parse_sizes("512,32768,262144", opt.map_pages, MAX_LIST);
	opt.npinned = parse_sizes("1,10,100,1000,10000", opt.pinned, MAX_LIST);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'n': opt.nmrs = *optarg ? parse_sizes(optarg, opt.mrs, MAX_LIST) : 0; break;
		case 'p': opt.nmap = *optarg ? parse_sizes(optarg, opt.map_pages, MAX_LIST) : 0; break;
		case 'r': opt.reps = atoi(optarg); break;
		case 'R': opt.big_reps = atoi(optarg); break;
		case 'N': opt.numa_probe = atoi(optarg); break;
		case 'M': opt.numa_pages = strtoul(optarg, NULL, 0); break;
		case 'P': opt.npinned = *optarg ? parse_sizes(optarg, opt.pinned, MAX_LIST) : 0; break;
		default:
			fprintf(stderr, "usage: bench_scale [--mrs 1,10,...] "
				"[--pages 512,...] [--pinned 1,10,...] [--reps N] [--big-reps N] "
				"[--numa-probe SECONDS] [--numa-pages N]\n");
			return 1;
		}
	}

	ctx = odp_open_device(NULL);
	if (!ctx)
		die("odp_open_device: %s", strerror(errno));
	pd = odp_alloc_pd(ctx);
	if (!pd)
		die("odp_alloc_pd: %s", strerror(errno));

	if (opt.numa_probe) {
		run_numa_probe();
		odp_dealloc_pd(pd);
		odp_close_device(ctx);
		return 0;
	}
	open_verbs("rxe0");

	for (int i = 0; i < opt.nmap; i++)
		for (int r = 0; r < opt.reps; r++)
			run_pages(opt.map_pages[i], r);
	for (int i = 0; i < opt.nmrs; i++) {
		int reps = opt.mrs[i] >= 100000 ? opt.big_reps : opt.reps;

		fprintf(stderr, "bench_scale: %lu MRs\n", opt.mrs[i]);
		for (int r = 0; r < reps; r++)
			run_mrs(opt.mrs[i], r);
	}

	for (int i = 0; i < opt.npinned; i++) {
		int reps = opt.pinned[i] >= 100000 ? opt.big_reps : opt.reps;

		if (opt.pinned[i] > (unsigned long)max_pinned_mrs) {
			fprintf(stderr, "bench_scale: rxe0 allows %d MRs, skipping %lu\n",
				max_pinned_mrs, opt.pinned[i]);
			continue;
		}
		fprintf(stderr, "bench_scale: %lu pinned MRs\n", opt.pinned[i]);
		for (int r = 0; r < reps; r++)
			run_pinned(opt.pinned[i], r);
	}

	ibv_dealloc_pd(ipd);
	ibv_close_device(ictx);
	odp_dealloc_pd(pd);
	odp_close_device(ctx);
	return 0;
}
