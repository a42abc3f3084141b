// SPDX-License-Identifier: MIT
/*
 * Counters: names and debugfs layout, device sums of the MR counters, the
 * pages_mapped gauge across dereg; many MRs on one region; overlapping MRs.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"

#define NPAGES	16

static const char *const names[] = {
	"faults", "pages_faulted", "invalidations", "pages_invalidated",
	"retries", "busy_retries", "prefetches", "nonblock_invalidations",
	"nonblock_refused", "accesses", "access_bytes", "fault_errors",
	"pages_mapped",
};

/* Counter names: libodp, query_device, and debugfs stats agree. */
static int stats_names(void)
{
	struct tctx t;
	uint64_t v[ODP_STAT_MAX + 4];
	char line[128], name[64];
	unsigned long long val;
	unsigned int i = 0;
	FILE *f;
	int n;

	t_open(&t);
	printf("num_stats=%u page_size=%u max_mr_size=%llu abi_version=%u access_flags=0x%x\n",
	       t.attr.num_stats, t.attr.page_size,
	       (unsigned long long)t.attr.max_mr_size, t.attr.abi_version,
	       t.attr.access_flags);
	EXPECT_U64(t.attr.num_stats, ==, ODP_STAT_MAX, "num_stats of the device");
	EXPECT_U64(t.attr.abi_version, ==, 1, "abi_version");
	EXPECT_U64(t.attr.page_size, ==, (uint64_t)page_size, "page_size");
	EXPECT_U64(t.attr.access_flags & ODP_ACCESS_ON_DEMAND, !=, 0, "ON_DEMAND supported");
	for (i = 0; i < ODP_STAT_MAX; i++) {
		const char *nm = odp_stat_name(i);

		CHECK(nm && !strcmp(nm, names[i]), "odp_stat_name(%u) = %s, expected %s",
		      i, nm ? nm : "NULL", names[i]);
	}
	CHECK(!odp_stat_name(ODP_STAT_MAX), "odp_stat_name(ODP_STAT_MAX) is not NULL");

	/* A short query fills only what was asked. */
	memset(v, 0xa5, sizeof(v));
	n = odp_query_device_stats(t.ctx, v, 3);
	EXPECT_U64(n, ==, 3, "values written for n = 3");
	CHECK(v[3] == 0xa5a5a5a5a5a5a5a5ULL, "n = 3 query wrote v[3]");
	n = odp_query_device_stats(t.ctx, v, ODP_STAT_MAX + 4);
	EXPECT_U64(n, ==, ODP_STAT_MAX, "values written for n = ODP_STAT_MAX + 4");

	f = fopen(DEBUGFS_STATS, "r");
	CHECK(f, "%s: %s", DEBUGFS_STATS, strerror(errno));
	i = 0;
	while (fgets(line, sizeof(line), f)) {
		CHECK(sscanf(line, "%63s %llu", name, &val) == 2,
		      "%s line %u is not `name value`: %s", DEBUGFS_STATS, i, line);
		CHECK(i < ODP_STAT_MAX, "%s has more than %d lines", DEBUGFS_STATS,
		      ODP_STAT_MAX);
		CHECK(!strcmp(name, names[i]), "%s line %u is %s, expected %s",
		      DEBUGFS_STATS, i, name, names[i]);
		i++;
	}
	fclose(f);
	EXPECT_U64(i, ==, ODP_STAT_MAX, "lines in debugfs stats");
	t_close(&t);
	return T_PASS;
}

/*
 * Device counters move by exactly the sum of the MR counters, across two
 * contexts, and debugfs stats shows the same numbers as the ioctl.
 */
static int stats_device_sums_mrs(void)
{
	size_t len = NPAGES * page_size, ps = page_size;
	struct tctx t, t2;
	struct stats d0, d1, dbg, m[3], sum;
	struct odp_mr *mr[3];
	struct odp_sge sge;
	char *buf, *out;
	unsigned int i, j;

	t_open(&t);
	t_open(&t2);
	buf = map_anon(3 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	out = malloc(len);
	dev_stats(t.ctx, &d0);
	mr[0] = reg_mr(&t, buf, len, ACC_RW);
	mr[1] = reg_mr(&t, buf + len, len, ACC_RW);
	mr[2] = reg_mr(&t2, buf + 2 * len, len, ACC_RW);	/* other context */

	/* A little of everything. */
	fill_pattern(buf, 3 * len, 80);
	EXPECT_OK(dev_read(mr[0], buf, out, len));
	EXPECT_OK(dev_write(mr[1], buf + len, out, len));
	xmadvise(buf, 3 * len, MADV_DONTNEED);
	EXPECT_OK(dev_read(mr[0], buf, out, 4 * ps));
	sge.addr = (uintptr_t)(buf + 2 * len);
	sge.length = len;
	sge.lkey = mr[2]->lkey;
	EXPECT_OK(odp_advise_mr(t2.pd, ODP_ADVISE_PREFETCH_WRITE, ODP_ADVISE_FLAG_FLUSH,
				&sge, 1));
	unmap(buf + len + 8 * ps, ps);
	EXPECT_ERRNO(dev_read(mr[1], buf + len, out, len), EFAULT);

	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < 3; i++) {
		mr_stats(mr[i], &m[i]);
		for (j = 0; j < ODP_STAT_MAX; j++)
			sum.v[j] += m[i].v[j];
	}
	dev_stats(t.ctx, &d1);
	CHECK(debugfs_stats(&dbg) == ODP_STAT_MAX, "%s: not every counter", DEBUGFS_STATS);
	print_stats("mrsum.", &sum);
	print_stats("dev0.", &d0);
	print_stats("dev1.", &d1);
	for (j = 0; j < ODP_STAT_MAX; j++) {
		uint64_t dd = d1.v[j] - d0.v[j];

		if (dd != sum.v[j])
			FAIL("device %s moved by %llu, the MRs' sum is %llu", stat_name(j),
			     (unsigned long long)dd, (unsigned long long)sum.v[j]);
		if (dbg.v[j] != d1.v[j])
			FAIL("%s %s = %llu, ODP_STATS_DEVICE says %llu", DEBUGFS_STATS,
			     stat_name(j), (unsigned long long)dbg.v[j],
			     (unsigned long long)d1.v[j]);
	}
	/* Device-wide: both contexts see the same sums. */
	dev_stats(t2.ctx, &d0);
	for (j = 0; j < ODP_STAT_MAX; j++)
		EXPECT_U64(d0.v[j], ==, d1.v[j], stat_name(j));
	EXPECT_U64(sum.v[ODP_STAT_FAULTS], >, 0, "faults");
	EXPECT_U64(sum.v[ODP_STAT_INVALIDATIONS], >, 0, "invalidations");
	EXPECT_U64(sum.v[ODP_STAT_PREFETCHES], >, 0, "prefetches");
	EXPECT_U64(sum.v[ODP_STAT_FAULT_ERRORS], >, 0, "fault_errors");

	for (i = 0; i < 3; i++)
		EXPECT_OK(odp_dereg_mr(mr[i]));
	t_close(&t2);
	t_close(&t);
	return T_PASS;
}

/* The MR lines of debugfs: format, and the same numbers as the ioctl. */
static int stats_debugfs_mrs(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, dbg;
	struct odp_mr *mr;
	unsigned int h, lkey, access;
	unsigned long long addr, length;
	char line[1024], *buf, *out;
	int pid, i;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	out = malloc(len);
	mr = reg_mr(&t, buf + 10, len - 20, ACC_RW | ODP_ACCESS_REMOTE_READ);
	EXPECT_OK(dev_read(mr, buf + 10, out, len - 20));
	xmadvise(buf, page_size, MADV_DONTNEED);
	mr_stats(mr, &s);

	CHECK(!debugfs_mr_stats(mr->handle, getpid(), &dbg, line, sizeof(line)),
	      "MR handle %u pid %d not in %s", mr->handle, getpid(), DEBUGFS_MRS);
	printf("line=\"%s\"\n", line);
	CHECK(sscanf(line, "mr %u pid %d lkey 0x%x addr 0x%llx length %llu access 0x%x",
		     &h, &pid, &lkey, &addr, &length, &access) == 6,
	      "line does not match `mr <handle> pid <tgid> lkey 0x<lkey> addr 0x<addr> "
	      "length <n> access 0x<flags>`: %s", line);
	EXPECT_U64(h, ==, mr->handle, "handle");
	EXPECT_U64(pid, ==, getpid(), "pid");
	EXPECT_U64(lkey, ==, mr->lkey, "lkey");
	EXPECT_U64(addr, ==, (uintptr_t)(buf + 10), "addr");
	EXPECT_U64(length, ==, len - 20, "length");
	EXPECT_U64(access, ==, ACC_RW | ODP_ACCESS_REMOTE_READ, "access");
	for (i = 0; i < ODP_STAT_MAX; i++) {
		char key[64];

		snprintf(key, sizeof(key), " %s=", names[i]);
		CHECK(strstr(line, key), "no `%s` in the MR line", key + 1);
		if (s.v[i] != dbg.v[i])
			FAIL("debugfs %s=%llu, the ioctl says %llu", names[i],
			     (unsigned long long)dbg.v[i], (unsigned long long)s.v[i]);
	}
	EXPECT_U64(s.v[ODP_STAT_PAGES_MAPPED], ==, NPAGES - 1, "pages_mapped");
	EXPECT_OK(odp_dereg_mr(mr));
	CHECK(debugfs_mr_stats(mr->handle, getpid(), &dbg, NULL, 0),
	      "MR still in debugfs after dereg");
	t_close(&t);
	return T_PASS;
}

/* Dereg drops the pages_mapped gauge; the monotonic counters stay. */
static int stats_monotonic_after_dereg(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats a, b;
	struct odp_mr *mr;
	char *buf, *out;
	unsigned int j;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	out = malloc(len);
	mr = reg_mr(&t, buf, len, ACC_RW);
	EXPECT_OK(dev_read(mr, buf, out, len));
	dev_stats(t.ctx, &a);
	EXPECT_OK(odp_dereg_mr(mr));
	dev_stats(t.ctx, &b);
	print_stats("before.", &a);
	print_stats("after.", &b);
	EXPECT_U64(a.v[ODP_STAT_PAGES_MAPPED] - b.v[ODP_STAT_PAGES_MAPPED], ==, NPAGES,
		   "device pages_mapped drop at dereg of an MR with 16 entries");
	for (j = 0; j < ODP_STAT_MAX; j++)
		if (j != ODP_STAT_PAGES_MAPPED && b.v[j] < a.v[j])
			FAIL("device counter %s went down at dereg: %llu -> %llu",
			     stat_name(j), (unsigned long long)a.v[j],
			     (unsigned long long)b.v[j]);
	t_close(&t);
	return T_PASS;
}

/* Many MRs on one region: all fault, one madvise invalidates them all. */
static int many_mrs(void)
{
	const char *env = getenv("ODP_MANY_MRS");
	int n = env ? atoi(env) : 1000, i, j, base_mrs;
	size_t len = 4 * page_size;
	struct tctx t;
	struct stats d0, d1, s;
	struct odp_mr **mr;
	uint32_t *lkeys;
	char *buf, out[64];
	uint64_t t0;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	memset(buf, 'M', len);
	mr = calloc(n, sizeof(*mr));
	lkeys = calloc(n, sizeof(*lkeys));
	base_mrs = debugfs_mr_count();
	dev_stats(t.ctx, &d0);
	t0 = now_ms();
	for (i = 0; i < n; i++) {
		mr[i] = odp_reg_mr(t.pd, buf, len, ACC_RW);
		if (!mr[i])
			FAIL("registration %d of %d: %s", i, n, strerror(errno));
		lkeys[i] = mr[i]->lkey;
	}
	printf("n=%d reg_ms=%llu\n", n, (unsigned long long)(now_ms() - t0));
	EXPECT_U64(debugfs_mr_count(), ==, base_mrs + n, "MRs in debugfs");
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (lkeys[i] == lkeys[j])
				FAIL("MRs %d and %d share lkey 0x%x", i, j, lkeys[i]);

	for (i = 0; i < n; i++) {
		memset(out, 0, sizeof(out));
		EXPECT_OK(dev_read(mr[i], buf + page_size, out, sizeof(out)));
		check_bytes(out, sizeof(out), 'M', "read through one of many MRs");
	}
	dev_stats(t.ctx, &d1);
	EXPECT_U64(d1.v[ODP_STAT_PAGES_MAPPED] - d0.v[ODP_STAT_PAGES_MAPPED], >=, n,
		   "device pages_mapped after one read per MR");
	d0 = d1;

	xmadvise(buf + page_size, page_size, MADV_DONTNEED);
	dev_stats(t.ctx, &d1);
	printf("invalidations=%llu pages_invalidated=%llu\n",
	       (unsigned long long)(d1.v[ODP_STAT_INVALIDATIONS] - d0.v[ODP_STAT_INVALIDATIONS]),
	       (unsigned long long)(d1.v[ODP_STAT_PAGES_INVALIDATED] -
				    d0.v[ODP_STAT_PAGES_INVALIDATED]));
	EXPECT_U64(d1.v[ODP_STAT_INVALIDATIONS] - d0.v[ODP_STAT_INVALIDATIONS], ==, n,
		   "device invalidations by one MADV_DONTNEED under n MRs");
	EXPECT_U64(d1.v[ODP_STAT_PAGES_INVALIDATED] - d0.v[ODP_STAT_PAGES_INVALIDATED], ==, n,
		   "device pages_invalidated (one page under each MR)");
	for (i = 0; i < n; i += n / 10 ? n / 10 : 1) {
		mr_stats(mr[i], &s);
		EXPECT_U64(s.v[ODP_STAT_INVALIDATIONS], ==, 1, "invalidations of one MR");
		EXPECT_U64(s.v[ODP_STAT_PAGES_MAPPED], ==, 0, "pages_mapped of one MR");
	}
	memset(out, 0xaa, sizeof(out));
	EXPECT_OK(dev_read(mr[n - 1], buf + page_size, out, sizeof(out)));
	check_bytes(out, sizeof(out), 0, "read after MADV_DONTNEED");

	t0 = now_ms();
	for (i = 0; i < n; i++)
		EXPECT_OK(odp_dereg_mr(mr[i]));
	printf("dereg_ms=%llu\n", (unsigned long long)(now_ms() - t0));
	EXPECT_U64(debugfs_mr_count(), ==, base_mrs, "MRs in debugfs after dereg");
	t_close(&t);
	return T_PASS;
}

/*
 * Overlapping MRs A [0,16) and B [8,24): a madvise over [8,16) invalidates
 * both, one over [0,4) only A.
 */
static int overlapping_mrs(void)
{
	size_t ps = page_size;
	struct tctx t;
	struct stats sa, sb, da, db;
	struct odp_mr *a, *b;
	char *buf, *out;

	t_open(&t);
	buf = map_anon(24 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(buf, 24 * ps, 81);
	out = malloc(24 * ps);
	a = reg_mr(&t, buf, 16 * ps, ACC_RW);
	b = reg_mr(&t, buf + 8 * ps, 16 * ps, ACC_RW);
	EXPECT_OK(dev_read(a, buf, out, 16 * ps));
	check_pattern(out, 16 * ps, 81, "read through A");
	EXPECT_OK(dev_read(b, buf + 8 * ps, out, 16 * ps));
	check_pattern_off(out, 16 * ps, 81, 8 * ps, "read through B");
	mr_stats(a, &sa);
	mr_stats(b, &sb);

	xmadvise(buf + 8 * ps, 8 * ps, MADV_DONTNEED);
	mr_delta(a, &sa, &da, "a_mid");
	mr_delta(b, &sb, &db, "b_mid");
	EXPECT_U64(D(da, INVALIDATIONS), >=, 1, "A invalidations by the shared range");
	EXPECT_U64(D(db, INVALIDATIONS), >=, 1, "B invalidations by the shared range");
	EXPECT_U64(D(da, PAGES_INVALIDATED), ==, 8, "A pages_invalidated");
	EXPECT_U64(D(db, PAGES_INVALIDATED), ==, 8, "B pages_invalidated");
	EXPECT_U64(D(da, PAGES_MAPPED), ==, 8, "A pages_mapped");
	EXPECT_U64(D(db, PAGES_MAPPED), ==, 8, "B pages_mapped");

	xmadvise(buf, 4 * ps, MADV_DONTNEED);
	mr_delta(a, &sa, &da, "a_low");
	mr_delta(b, &sb, &db, "b_low");
	EXPECT_U64(D(da, PAGES_INVALIDATED), ==, 4, "A pages_invalidated by [0,4)");
	EXPECT_U64(D(db, INVALIDATIONS), ==, 0, "B invalidations by [0,4) outside B");
	EXPECT_U64(D(db, PAGES_MAPPED), ==, 8, "B pages_mapped");

	memset(out, 0xaa, 24 * ps);
	EXPECT_OK(dev_read(b, buf + 8 * ps, out, 16 * ps));
	check_bytes(out, 8 * ps, 0, "B's zapped half");
	check_pattern_off(out + 8 * ps, 8 * ps, 81, 16 * ps, "B's other half");
	memset(out, 0xaa, 24 * ps);
	EXPECT_OK(dev_read(a, buf, out, 16 * ps));
	check_bytes(out, 4 * ps, 0, "A pages 0-3");
	check_pattern_off(out + 4 * ps, 4 * ps, 81, 4 * ps, "A pages 4-7");
	check_bytes(out + 8 * ps, 8 * ps, 0, "A pages 8-15");

	EXPECT_OK(odp_dereg_mr(a));
	EXPECT_OK(odp_dereg_mr(b));
	t_close(&t);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "stats_names", stats_names },
	{ "stats_device_sums_mrs", stats_device_sums_mrs },
	{ "stats_debugfs_mrs", stats_debugfs_mrs },
	{ "stats_monotonic_after_dereg", stats_monotonic_after_dereg },
	{ "many_mrs", many_mrs },
	{ "overlapping_mrs", overlapping_mrs },
};

TEST_MAIN(tests)
