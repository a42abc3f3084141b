// SPDX-License-Identifier: MIT
/*
 * bench_rxe_storm: our rxe's ODP fault modes under a fault storm
 * (issue 8: "a fault never stalls other QPs ... measure both ways").
 *
 * On one rxe device (loopback, $VERBS_DEV, default rxe0): N storm QP pairs,
 * each iteration MADV_DONTNEED of every responder region, then one RDMA
 * WRITE of --chunk bytes per QP into it (every page faults on the
 * responder), all QPs in flight together; and one resident QP pair whose
 * buffers are never dropped, doing back-to-back --lat-size WRITEs and
 * timing each.  Per repetition and per mode (inline / deferred, written to
 * /sys/module/rdma_rxe/parameters/odp_fault, the order alternating per
 * repetition), it measures
 *   - quiet: the resident QP's WRITE latency with nothing else running;
 *   - storm: the storm's throughput (MB/s of faulting WRITEs) over
 *     --iters iterations while the resident QP keeps writing, and the
 *     resident QP's latency and op rate meanwhile;
 * and prints one JSON object per (rep, mode), then a summary object with
 * the deferred/inline ratios (median, min, max over repetitions).  The
 * rxe port counters odp_deferred_faults and send_rnr_err are reported as
 * deltas per run: in deferred mode they show the faults were deferred.
 *
 *   bench_rxe_storm [--qps N] [--chunk BYTES] [--iters N] [--reps N]
 *                   [--lat-size BYTES] [--quiet-ops N] [--shared 0|1]
 *
 * --shared 1 puts the resident QP's target in the storm's responder MR
 * (pages after the dropped range): a fault must not stall another access
 * to the same MR either.
 *
 * Without the parameter (Debian's rxe, upstream's ODP rxe of the 6.18
 * anchor kernel) it measures the one mode the device has, named "kernel",
 * and the summary gives only its storm/quiet latency ratio.
 *
 * Exit 77 when the device is missing.
 * Built from tests/verbs/vt.c (device, QP and MR helpers).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vt.h"
#include "sample.h"

#define PARAM	"/sys/module/rdma_rxe/parameters/odp_fault"
#define MAXQP	64
#define MAXLAT	200000

static int nqp = 8, iters = 20, reps = 3, quiet_ops = 300, shared;
static int fixed_mode;		/* no odp_fault parameter: one mode */
static size_t chunk = 64 * 1024, lat_size = 4096;

struct storm {
	struct vpair	p[MAXQP];
	struct ibv_mr	*ma, *mb;
	char		*a, *b;
	double		secs;
	atomic_int	done;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set_mode(const char *mode)
{
	FILE *f;

	if (fixed_mode)
		return;
	f = fopen(PARAM, "w");
	if (!f)
		t_skip("%s: %s (an rxe without odp_fault)", PARAM,
		       strerror(errno));
	if (fprintf(f, "%s\n", mode) < 0 || fclose(f))
		FAIL("writing %s to %s: %s", mode, PARAM, strerror(errno));
}

static long long port_counter(const char *dev, const char *name)
{
	char path[256], buf[64];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/%s", dev, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = atoll(buf);
	fclose(f);
	return v;
}

static void *storm_run(void *arg)
{
	struct storm *s = arg;
	size_t len = (size_t)nqp * chunk;
	struct ibv_wc wc;
	double t0;
	int it, q;

	t0 = now_s();
	for (it = 0; it < iters; it++) {
		xmadvise(s->b, len, MADV_DONTNEED);
		for (q = 0; q < nqp; q++)
			post_op(s->p[q].a, IBV_WR_RDMA_WRITE, it, s->ma,
				s->a + q * chunk, chunk, s->mb->rkey,
				(uintptr_t)(s->b + q * chunk), 0, 0);
		for (q = 0; q < nqp; q++) {
			wait_wcs(s->p[q].cqa, 1, &wc, "storm WRITE");
			expect_wc(&wc, IBV_WC_SUCCESS, "storm WRITE");
		}
	}
	s->secs = now_s() - t0;
	atomic_store(&s->done, 1);
	return NULL;
}

/* Median and 99th percentile of n samples (sorted in place). */
static void pct(double *v, int n, double *med, double *p99)
{
	qsort(v, n, sizeof(*v), sample_cmp);
	*med = n ? v[n / 2] : 0;
	*p99 = n ? v[(int)(n * 0.99) < n ? (int)(n * 0.99) : n - 1] : 0;
}

/* One resident WRITE, its latency in microseconds. */
static double lat_op(struct vpair *r, struct ibv_mr *ml, char *l,
		     struct ibv_mr *mr, char *rb)
{
	double t0 = now_s();

	if (op_write(r, ml, l, lat_size, mr, rb) != IBV_WC_SUCCESS)
		FAIL("resident WRITE failed");
	return (now_s() - t0) * 1e6;
}

struct result {
	double	storm_mbps, quiet_med, quiet_p99, storm_med, storm_p99;
	double	res_ops_quiet, res_ops_storm;
};

static double *lat;

static void run_mode(struct vdev *d, struct storm *s, struct vpair *r,
		     struct ibv_mr *ml, char *l, struct ibv_mr *mr, char *rb,
		     const char *mode, int rep, struct result *out)
{
	long long c0 = port_counter(d->name, "odp_deferred_faults");
	long long n0 = port_counter(d->name, "send_rnr_err");
	double t0, tq;
	pthread_t th;
	int n = 0, i;

	set_mode(mode);
	/* quiet: the resident QP alone */
	t0 = now_s();
	for (i = 0; i < quiet_ops; i++)
		lat[n++] = lat_op(r, ml, l, mr, rb);
	tq = now_s() - t0;
	out->res_ops_quiet = quiet_ops / tq;
	pct(lat, n, &out->quiet_med, &out->quiet_p99);

	/* storm, with the resident QP writing meanwhile */
	atomic_store(&s->done, 0);
	n = 0;
	if (pthread_create(&th, NULL, storm_run, s))
		FAIL("pthread_create");
	t0 = now_s();
	while (!atomic_load(&s->done) && n < MAXLAT)
		lat[n++] = lat_op(r, ml, l, mr, rb);
	tq = now_s() - t0;
	pthread_join(th, NULL);
	out->res_ops_storm = n / tq;
	pct(lat, n, &out->storm_med, &out->storm_p99);
	out->storm_mbps = (double)nqp * chunk * iters / s->secs / 1e6;

	printf("{\"bench\": \"rxe_storm\", \"rep\": %d, \"mode\": \"%s\", "
	       "\"qps\": %d, \"chunk\": %zu, \"iters\": %d, \"shared_mr\": %d, "
	       "\"storm_secs\": %.3f, \"storm_MBps\": %.2f, "
	       "\"storm_us_per_page\": %.2f, "
	       "\"resident_size\": %zu, "
	       "\"resident_quiet_us_median\": %.1f, \"resident_quiet_us_p99\": %.1f, "
	       "\"resident_quiet_ops\": %.1f, "
	       "\"resident_storm_us_median\": %.1f, \"resident_storm_us_p99\": %.1f, "
	       "\"resident_storm_ops\": %.1f, \"resident_storm_samples\": %d, "
	       "\"odp_deferred_faults\": %lld, \"send_rnr_err\": %lld}\n",
	       rep, mode, nqp, chunk, iters, shared, s->secs, out->storm_mbps,
	       s->secs * 1e6 / ((double)nqp * iters * chunk / page_size),
	       lat_size,
	       out->quiet_med, out->quiet_p99, out->res_ops_quiet,
	       out->storm_med, out->storm_p99, out->res_ops_storm, n,
	       port_counter(d->name, "odp_deferred_faults") - c0,
	       port_counter(d->name, "send_rnr_err") - n0);
}

static void summary3(const char *name, double *v, int n, int last)
{
	double s[64], med;
	int i;

	for (i = 0; i < n; i++)
		s[i] = v[i];
	med = sample_median(s, n);
	printf("\"%s\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f}%s",
	       name, med, s[0], s[n - 1], last ? "" : ", ");
}

static int bench(void)
{
	struct result res[2][64];
	double ratio[4][64];
	struct vpair r;
	struct storm *s;
	struct vdev d;
	char *l, *rb;
	struct ibv_mr *ml, *mr;
	size_t len;
	int q, rep, m;
	const char *modes[2] = { "inline", "deferred" };
	int nmodes = 2;
	FILE *f;
	char old[32] = "inline";

	if (nqp < 1 || nqp > MAXQP || reps < 1 || reps > 64 || !chunk ||
	    quiet_ops < 1 || quiet_ops > MAXLAT)
		FAIL("bad arguments");
	f = fopen(PARAM, "r");
	if (f) {
		if (!fgets(old, sizeof(old), f))
			strcpy(old, "inline");
		fclose(f);
		old[strcspn(old, "\n")] = 0;
	} else {
		fixed_mode = 1;
		modes[0] = "kernel";
		nmodes = 1;
	}

	lat = calloc(MAXLAT, sizeof(*lat));
	s = calloc(1, sizeof(*s));
	if (!lat || !s)
		FAIL("calloc");
	v_open(&d);
	len = (size_t)nqp * chunk;
	for (q = 0; q < nqp; q++)
		pair_create(&d, &s->p[q]);
	s->a = map_anon(len, 0);
	/* --shared 1: the resident target is the page(s) after the storm's */
	s->b = map_anon(len + (shared ? lat_size : 0), 0);
	fill_pat(s->a, len, 7);
	s->ma = v_reg(&d, s->a, len, 0);
	s->mb = v_reg(&d, s->b, len + (shared ? lat_size : 0), 0);

	pair_create(&d, &r);
	l = map_anon(lat_size, 0);
	rb = shared ? s->b + len : map_anon(lat_size, 0);
	fill_pat(l, lat_size, 9);
	memset(rb, 0, lat_size);
	ml = v_reg(&d, l, lat_size, 0);
	mr = shared ? s->mb : v_reg(&d, rb, lat_size, 0);
	/* warm up: the resident pages in the cache, the storm's paths used */
	for (q = 0; q < 20; q++)
		lat_op(&r, ml, l, mr, rb);

	for (rep = 0; rep < reps; rep++) {
		for (m = 0; m < nmodes; m++) {
			int mode = (rep % 2) ? nmodes - 1 - m : m;

			run_mode(&d, s, &r, ml, l, mr, rb, modes[mode], rep,
				 &res[mode][rep]);
		}
		ratio[2][rep] = res[0][rep].storm_med / res[0][rep].quiet_med;
		if (fixed_mode)
			continue;
		ratio[0][rep] = res[1][rep].storm_mbps / res[0][rep].storm_mbps;
		ratio[1][rep] = res[1][rep].storm_med / res[0][rep].storm_med;
		ratio[3][rep] = res[1][rep].storm_med / res[1][rep].quiet_med;
	}
	set_mode(old);

	printf("{\"bench\": \"rxe_storm_summary\", \"qps\": %d, \"chunk\": %zu, "
	       "\"iters\": %d, \"shared_mr\": %d, \"reps\": %d, ", nqp, chunk,
	       iters, shared, reps);
	if (fixed_mode) {
		summary3("resident_latency_storm_over_quiet_kernel", ratio[2],
			 reps, 1);
		goto out;
	}
	summary3("storm_MBps_deferred_over_inline", ratio[0], reps, 0);
	summary3("resident_storm_latency_deferred_over_inline", ratio[1], reps, 0);
	summary3("resident_latency_storm_over_quiet_inline", ratio[2], reps, 0);
	summary3("resident_latency_storm_over_quiet_deferred", ratio[3], reps, 1);
out:
	printf("}\n");

	v_dereg(ml);
	if (!shared)
		v_dereg(mr);
	pair_destroy(&r);
	v_dereg(s->ma);
	v_dereg(s->mb);
	for (q = 0; q < nqp; q++)
		pair_destroy(&s->p[q]);
	v_close(&d);
	return T_PASS;
}

int main(int argc, char **argv)
{
	int i;

	page_size = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	cur_test = "bench_rxe_storm";
	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--qps"))
			nqp = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--chunk"))
			chunk = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--iters"))
			iters = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--reps"))
			reps = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--lat-size"))
			lat_size = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--quiet-ops"))
			quiet_ops = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--shared"))
			shared = atoi(argv[i + 1]);
		else
			break;
	}
	if (i < argc) {
		fprintf(stderr, "usage: %s [--qps N] [--chunk BYTES] [--iters N] "
			"[--reps N] [--lat-size BYTES] [--quiet-ops N] [--shared 0|1]\n",
			argv[0]);
		return 2;
	}
	return bench();
}
