// SPDX-License-Identifier: MIT
/*
 * fork(): COW of MAP_PRIVATE anonymous memory under a parent's MR, a
 * MAP_SHARED anonymous region shared with the child, and the rule that a
 * context is bound to the mm that opened it (the child gets EPERM).
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define NPAGES	16

/*
 * After fork the child writes its copy: the parent's device read still
 * shows the parent's data; a parent device write lands in the parent's
 * page and never in the child's.
 */
static int fork_cow_child_write(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	struct chan c;
	char *buf, *out, *in;
	pid_t pid;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	memset(buf, 'P', len);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	in = malloc(len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	mr_stats(mr, &s);
	chan_init(&c);

	pid = fork_child(&c);
	if (!pid) {
		chan_recv(c.p2c[0]);
		memset(buf, 'C', len);
		chan_send(c.c2p[1], 'w');
		chan_recv(c.p2c[0]);
		check_bytes(buf, len, 'C', "child's copy after the parent's device write");
		_exit(0);
	}
	mr_delta(mr, &s, &d, "fork");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by fork() write-protecting the parent");

	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, len, 'P', "parent's device read right after fork");

	chan_send(c.p2c[1], 'w');
	chan_recv(c.c2p[0]);
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, len, 'P', "parent's device read after the child wrote 'C' to its copy");
	check_bytes(buf, len, 'P', "parent's CPU view");

	memset(in, 'Q', len);
	EXPECT_OK(dev_write(mr, buf, in, len));
	check_bytes(buf, len, 'Q', "parent's CPU view after its device write");
	chan_send(c.p2c[1], 'c');
	wait_child_ok(pid, "child checking its copy");
	mr_delta(mr, &s, &d, "after");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/*
 * After fork the parent's CPU writes break COW in the parent: new pages,
 * so the device must drop the old ones and read the parent's new data.
 */
static int fork_cow_parent_cpu_write(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	struct chan c;
	char *buf, *out;
	pid_t pid;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	memset(buf, 'P', len);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	chan_init(&c);

	pid = fork_child(&c);
	if (!pid) {
		chan_recv(c.p2c[0]);
		check_bytes(buf, len, 'P', "child's copy after the parent's CPU write");
		_exit(0);
	}
	mr_stats(mr, &s);
	memset(buf, 'R', len);			/* COW break in the parent */
	mr_delta(mr, &s, &d, "cpu_write");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by the parent's COW break");

	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, len, 'R', "parent's device read after its CPU write (stale 'P' = old page)");
	chan_send(c.p2c[1], 'c');
	wait_child_ok(pid, "child checking its copy");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/*
 * After fork, before anyone wrote: the parent's device write must break COW
 * (fault for write), so the child keeps the old data.
 */
static int fork_cow_parent_device_write(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	struct chan c;
	char *buf, *out, *in;
	pid_t pid;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	memset(buf, 'P', len);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	in = malloc(len);
	/* A device write first, so the device holds writable entries. */
	memset(in, 'P', len);
	EXPECT_OK(dev_write(mr, buf, in, len));
	chan_init(&c);

	pid = fork_child(&c);
	if (!pid) {
		chan_recv(c.p2c[0]);
		check_bytes(buf, len, 'P', "child's copy after the parent's device write");
		_exit(0);
	}
	mr_stats(mr, &s);
	memset(in, 'D', len);
	EXPECT_OK(dev_write(mr, buf, in, len));
	mr_delta(mr, &s, &d, "dev_write");
	EXPECT_U64(D(d, FAULTS), >=, 1, "faults: the write must fault to break COW");
	check_bytes(buf, len, 'D', "parent's CPU view after its device write");
	chan_send(c.p2c[1], 'c');
	wait_child_ok(pid, "child checking its copy (parent's device write leaked into the child)");
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, len, 'D', "parent's device read");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* The child that inherited the fd cannot use the context: EPERM. */
static int fork_child_eperm(void)
{
	size_t len = 4 * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out;
	pid_t pid;
	int before;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	memset(buf, 'P', len);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	before = debugfs_mr_count_pid(getpid());
	mr_stats(mr, &s);

	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (!pid) {
		struct odp_device_attr attr;
		struct odp_sge sge = {
			.addr = (uintptr_t)buf, .length = page_size,
			.lkey = mr->lkey,
		};
		uint64_t v[ODP_STAT_MAX];
		struct odp_pd *pd;
		struct odp_mr *mr2;

		memset(out, 0, len);
		EXPECT_ERRNO(dev_read(mr, buf, out, len), EPERM);
		check_bytes(out, len, 0, "child's buffer after a refused read");
		EXPECT_ERRNO(dev_write(mr, buf, out, len), EPERM);
		check_bytes(buf, len, 'P', "child's memory after a refused write");
		EXPECT_ERRNO(odp_query_device(t.ctx, &attr), EPERM);
		EXPECT_ERRNO(odp_advise_mr(t.pd, ODP_ADVISE_PREFETCH,
					   ODP_ADVISE_FLAG_FLUSH, &sge, 1), EPERM);
		errno = 0;
		CHECK(odp_query_mr_stats(mr, v, ODP_STAT_MAX) < 0 && errno == EPERM,
		      "child's odp_query_mr_stats: errno %d", errno);
		errno = 0;
		pd = odp_alloc_pd(t.ctx);
		CHECK(!pd && errno == EPERM, "child's odp_alloc_pd: %p errno %d",
		      (void *)pd, errno);
		errno = 0;
		mr2 = odp_reg_mr(t.pd, buf, len, ACC_RW);
		CHECK(!mr2 && errno == EPERM, "child's odp_reg_mr: %p errno %d",
		      (void *)mr2, errno);
		EXPECT_ERRNO(odp_dereg_mr(mr), EPERM);
		_exit(0);
	}
	wait_child_ok(pid, "child using the inherited context");

	/* Nothing changed for the parent. */
	EXPECT_U64(debugfs_mr_count_pid(getpid()), ==, before, "parent's MRs in debugfs");
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, len, 'P', "parent's device read after the child's attempts");
	mr_delta(mr, &s, &d, "after");
	EXPECT_U64(D(d, ACCESSES), ==, 1, "accesses (only the parent's)");
	EXPECT_U64(D(d, PREFETCHES), ==, 0, "prefetches");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* MAP_SHARED anonymous: the child's writes are what the parent's MR sees. */
static int fork_shared_anon(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	struct chan c;
	char *buf, *out, *in;
	pid_t pid;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_SHARED);
	memset(buf, 'P', len);
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	in = malloc(len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	mr_stats(mr, &s);
	chan_init(&c);

	pid = fork_child(&c);
	if (!pid) {
		chan_recv(c.p2c[0]);
		memset(buf, 'C', len);
		chan_send(c.c2p[1], 'w');
		chan_recv(c.p2c[0]);
		check_bytes(buf, len, 'Q', "child's view after the parent's device write");
		_exit(0);
	}
	chan_send(c.p2c[1], 'w');
	chan_recv(c.c2p[0]);
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, len, 'C', "parent's device read of the child's write");
	mr_delta(mr, &s, &d, "child_write");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");

	memset(in, 'Q', len);
	EXPECT_OK(dev_write(mr, buf, in, len));
	chan_send(c.p2c[1], 'c');
	wait_child_ok(pid, "child checking the parent's device write");
	check_bytes(buf, len, 'Q', "parent's CPU view");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "fork_cow_child_write", fork_cow_child_write },
	{ "fork_cow_parent_cpu_write", fork_cow_parent_cpu_write },
	{ "fork_cow_parent_device_write", fork_cow_parent_device_write },
	{ "fork_child_eperm", fork_child_eperm },
	{ "fork_shared_anon", fork_shared_anon },
};

TEST_MAIN(tests)
