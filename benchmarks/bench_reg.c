// SPDX-License-Identifier: MIT
/*
 * bench_reg: registration and deregistration cost vs size.
 *
 * Subject:  odp_reg_mr(ODP_ACCESS_ON_DEMAND) / odp_dereg_mr (libodp).
 * Baseline: ibv_reg_mr / ibv_dereg_mr (pinned, libibverbs) on the same RDMA
 *           device (rxe0), same access flags, same buffer.
 *
 * For every size, both are measured on the same memory: first every rep of
 * ODP, then every rep of pinning (freeing a big pinned MR leaves the kernel
 * work to do for a while - unpinning, freeing rxe's page list -, which would
 * otherwise land in the ODP calls that follow it):
 *   untouched: fresh anonymous memory that was never touched.  ODP registers
 *              the same buffer `inner` times (it faults nothing, so it stays
 *              untouched); pinned registration faults every page in, so it
 *              gets a fresh mapping each time (mapping it is not timed).
 *   touched_4k, touched_thp: one store per page before the first
 *              registration, in 4 KiB pages (MADV_NOHUGEPAGE) or in
 *              transparent huge pages (2 MiB aligned, MADV_HUGEPAGE; sizes
 *              from 2 MiB); both register the same, now resident, buffer.
 *              Op "dereg_mapped" (ODP only): deregistration of an MR whose
 *              every page was made device-accessible first (synchronous
 *              prefetch), i.e. including the teardown of its translations.
 *
 * Untouched memory follows the system's THP policy (recorded by run.py).
 * Pinned registration of untouched memory allocates it, so sizes above
 * --pinned-max are ODP-only; touched buffers above --touched-max are not
 * made (the VM has ~3 GiB).
 *
 * Output (JSON Lines, see common.h), one sample per (impl, state, size,
 * op, rep): "ns" is the median of `inner` operations.  ODP is cheap and
 * gets --reps at every size; the pinned baseline and the mapped
 * deregistration get --big-reps from 256 MiB.
 */
#include <getopt.h>
#include <infiniband/verbs.h>

#include <odp.h>

#include "common.h"
#include "sample.h"

#define MAX_SIZES	32

static struct {
	unsigned long	sizes[MAX_SIZES];
	int		nsizes;
	int		reps;
	int		big_reps;	/* for sizes >= 256 MiB */
	unsigned long	pinned_max;
	unsigned long	touched_max;
	unsigned long	mapped_max;
	int		odp_only;	/* no pinned baseline (for profiles) */
	int		states;		/* bit 0 untouched, 1 touched_4k, 2 touched_thp */
	const char	*ibdev;
} opt = {
	.reps		= 5,
	.big_reps	= 3,
	.pinned_max	= 1 * GIB,
	.touched_max	= 1 * GIB,
	.mapped_max	= 256 * MIB,
	.states		= 7,
	.ibdev		= "rxe0",
};

static struct odp_context *octx;
static struct odp_pd *opd;
static struct ibv_context *ictx;
static struct ibv_pd *ipd;

#define ACCESS_RW	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

/* Operations per sample: many for the cheap ones, one for big pins. */
static int inner_odp(unsigned long size)
{
	(void)size;
	return 16;
}

static int inner_pinned(unsigned long size)
{
	return size <= 1 * MIB ? 8 : size <= 16 * MIB ? 3 : 1;
}

static void emit(const char *impl, const char *state, unsigned long size,
		 const char *op, int rep, double ns, int inner)
{
	sample("reg", "\"impl\":\"%s\",\"state\":\"%s\",\"size\":%lu,"
	       "\"op\":\"%s\",\"rep\":%d,\"ns\":%.1f,\"inner\":%d",
	       impl, state, size, op, rep, ns, inner);
}

static void odp_pair(void *buf, unsigned long size, const char *state, int rep)
{
	int k = inner_odp(size);
	double reg[64], dereg[64];

	for (int i = 0; i < k; i++) {
		double t0 = now_ns(), t1, t2;
		struct odp_mr *mr = odp_reg_mr(opd, buf, size, ACCESS_RW |
					       ODP_ACCESS_ON_DEMAND);

		t1 = now_ns();
		if (!mr)
			die("odp_reg_mr %lu: %s", size, strerror(errno));
		if (odp_dereg_mr(mr))
			die("odp_dereg_mr: %s", strerror(errno));
		t2 = now_ns();
		reg[i] = t1 - t0;
		dereg[i] = t2 - t1;
	}
	emit("odp", state, size, "reg", rep, sample_median(reg, k), k);
	emit("odp", state, size, "dereg", rep, sample_median(dereg, k), k);
}

/* buf NULL: a fresh untouched mapping for every registration. */
static void pinned_pair(void *buf, unsigned long size, const char *state,
			int rep)
{
	int k = inner_pinned(size);
	double reg[64], dereg[64];

	for (int i = 0; i < k; i++) {
		void *p = buf ? buf : map_mem(size, MEM_DEFAULT);
		double t0 = now_ns(), t1, t2;
		struct ibv_mr *mr = ibv_reg_mr(ipd, p, size, ACCESS_RW);

		t1 = now_ns();
		if (!mr)
			die("ibv_reg_mr %lu: %s", size, strerror(errno));
		if (ibv_dereg_mr(mr))
			die("ibv_dereg_mr: %s", strerror(errno));
		t2 = now_ns();
		reg[i] = t1 - t0;
		dereg[i] = t2 - t1;
		if (!buf)
			unmap_mem(p, size);
	}
	emit("pinned", state, size, "reg", rep, sample_median(reg, k), k);
	emit("pinned", state, size, "dereg", rep, sample_median(dereg, k), k);
}

/* ODP dereg of an MR whose pages are all device-mapped. */
static void odp_mapped_dereg(void *buf, unsigned long size, const char *state,
			     int rep)
{
	struct odp_mr *mr = odp_reg_mr(opd, buf, size, ACCESS_RW |
				       ODP_ACCESS_ON_DEMAND);
	uint64_t v[ODP_STAT_MAX] = { 0 };
	unsigned long off;
	double t0, t1;

	if (!mr)
		die("odp_reg_mr %lu: %s", size, strerror(errno));
	for (off = 0; off < size; off += 1 * GIB) {
		struct odp_sge sge = {
			.addr	= (uintptr_t)buf + off,
			.length	= (uint32_t)(size - off < GIB ? size - off : GIB),
			.lkey	= mr->lkey,
		};
		int err = odp_advise_mr(opd, ODP_ADVISE_PREFETCH_WRITE,
					ODP_ADVISE_FLAG_FLUSH, &sge, 1);

		if (err)
			die("odp_advise_mr: %s", strerror(err));
	}
	if (odp_query_mr_stats(mr, v, ODP_STAT_MAX) < 0)
		die("odp_query_mr_stats: %s", strerror(errno));
	if (v[ODP_STAT_PAGES_MAPPED] != size / page_size())
		die("mapped %llu pages of %lu", (unsigned long long)v[ODP_STAT_PAGES_MAPPED],
		    size / page_size());
	t0 = now_ns();
	if (odp_dereg_mr(mr))
		die("odp_dereg_mr: %s", strerror(errno));
	t1 = now_ns();
	emit("odp", state, size, "dereg_mapped", rep, t1 - t0, 1);
}

static void open_devices(void)
{
	struct ibv_device **list;
	int n;

	octx = odp_open_device(NULL);
	if (!octx)
		die("odp_open_device: %s", strerror(errno));
	opd = odp_alloc_pd(octx);
	if (!opd)
		die("odp_alloc_pd: %s", strerror(errno));

	list = ibv_get_device_list(&n);
	if (!list)
		die("ibv_get_device_list: %s", strerror(errno));
	for (int i = 0; i < n && !ictx; i++)
		if (!strcmp(ibv_get_device_name(list[i]), opt.ibdev))
			ictx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!ictx)
		die("ibv_open_device %s failed", opt.ibdev);
	ipd = ibv_alloc_pd(ictx);
	if (!ipd)
		die("ibv_alloc_pd: %s", strerror(errno));
}

/*
 * The first registration of a process on each device costs extra (the mm's
 * first mmu notifier, the verbs device's first MR): not part of the curve.
 */
static void warm_up(void)
{
	void *p = map_mem(64 * KIB, MEM_DEFAULT);
	struct odp_mr *omr;
	struct ibv_mr *imr;

	touch_pages(p, 64 * KIB);
	omr = odp_reg_mr(opd, p, 64 * KIB, ACCESS_RW | ODP_ACCESS_ON_DEMAND);
	imr = ibv_reg_mr(ipd, p, 64 * KIB, ACCESS_RW);
	if (!omr || !imr)
		die("warm-up registration failed: %s", strerror(errno));
	odp_dereg_mr(omr);
	ibv_dereg_mr(imr);
	unmap_mem(p, 64 * KIB);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_reg [--sizes 4K,1M,1G] [--reps N] "
		"[--big-reps N] [--pinned-max SIZE] [--touched-max SIZE] "
		"[--mapped-max SIZE] [--ibdev rxe0] [--odp-only] [--states MASK]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "sizes", 1, NULL, 's' }, { "reps", 1, NULL, 'r' },
		{ "pinned-max", 1, NULL, 'p' }, { "touched-max", 1, NULL, 't' },
		{ "mapped-max", 1, NULL, 'm' }, { "ibdev", 1, NULL, 'd' },
		{ "big-reps", 1, NULL, 'R' }, { "odp-only", 0, NULL, 'O' },
		{ "states", 1, NULL, 'S' },
		{ 0 }
	};
	unsigned long one = 0;
	int c;

	opt.nsizes = parse_sizes("4K,64K,1M,16M,256M,1G,4G", opt.sizes, MAX_SIZES);
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's': opt.nsizes = parse_sizes(optarg, opt.sizes, MAX_SIZES); break;
		case 'r': opt.reps = atoi(optarg); break;
		case 'R': opt.big_reps = atoi(optarg); break;
		case 'O': opt.odp_only = 1; opt.pinned_max = 0; opt.mapped_max = 0; break;
		case 'S': opt.states = atoi(optarg); break;
		case 'p': parse_sizes(optarg, &one, 1); opt.pinned_max = one; break;
		case 't': parse_sizes(optarg, &one, 1); opt.touched_max = one; break;
		case 'm': parse_sizes(optarg, &one, 1); opt.mapped_max = one; break;
		case 'd': opt.ibdev = optarg; break;
		default: usage();
		}
	}
	if (opt.reps < 1 || opt.big_reps < 1)
		usage();
	open_devices();
	if (!opt.odp_only)
		warm_up();

	for (int s = 0; s < opt.nsizes; s++) {
		unsigned long size = opt.sizes[s];
		int reps = size >= 256 * MIB ? opt.big_reps : opt.reps;
		void *buf;

		fprintf(stderr, "bench_reg: %lu bytes\n", size);
		/* Untouched: the same buffer for ODP, fresh ones for pinning. */
		if (opt.states & 1) {
			buf = map_mem(size, MEM_DEFAULT);
			for (int r = 0; r < opt.reps; r++)
				odp_pair(buf, size, "untouched", r);
			unmap_mem(buf, size);
			for (int r = 0; r < reps && size <= opt.pinned_max; r++)
				pinned_pair(NULL, size, "untouched", r);
		}

		if (size > opt.touched_max)
			continue;
		for (int k = 0; k < 2; k++) {
			enum mem_kind kind = k ? MEM_THP : MEM_4K;
			const char *state = k ? "touched_thp" : "touched_4k";

			/* Below 2 MiB there is no huge page to be had. */
			if ((kind == MEM_THP && size < THP_SIZE) ||
			    !(opt.states & (2 << k)))
				continue;
			buf = map_mem(size, kind);
			touch_pages(buf, size);
			/* Let the kernel finish what faulting it all in left to do. */
			if (size >= 256 * MIB)
				usleep(300 * 1000);
			for (int r = 0; r < opt.reps; r++)
				odp_pair(buf, size, state, r);
			for (int r = 0; r < reps && size <= opt.mapped_max; r++)
				odp_mapped_dereg(buf, size, state, r);
			for (int r = 0; r < reps && size <= opt.pinned_max; r++)
				pinned_pair(buf, size, state, r);
			unmap_mem(buf, size);
		}
	}

	ibv_dealloc_pd(ipd);
	ibv_close_device(ictx);
	odp_dealloc_pd(opd);
	odp_close_device(octx);
	return 0;
}
