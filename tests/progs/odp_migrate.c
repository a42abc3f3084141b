// SPDX-License-Identifier: MIT
/* NUMA page migration of registered pages (move_pages(2), raw syscall). */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helpers.h"

#define NPAGES		16
#define MPOL_MF_MOVE_	(1 << 1)

static long move_pages_(unsigned long count, void **pages, const int *nodes,
			int *status)
{
	return syscall(SYS_move_pages, 0, count, pages, nodes, status,
		       MPOL_MF_MOVE_);
}

/* Current node of each page into status[]. */
static void query_nodes(char *buf, int *status)
{
	void *pages[NPAGES];
	int i;

	for (i = 0; i < NPAGES; i++)
		pages[i] = buf + i * page_size;
	if (move_pages_(NPAGES, pages, NULL, status))
		FAIL("move_pages(query): %s", strerror(errno));
}

/* Move every page to node; SKIP if the kernel cannot (no memory there). */
static void move_all(char *buf, int node)
{
	void *pages[NPAGES];
	int nodes[NPAGES], status[NPAGES], i;
	long r;

	for (i = 0; i < NPAGES; i++) {
		pages[i] = buf + i * page_size;
		nodes[i] = node;
	}
	r = move_pages_(NPAGES, pages, nodes, status);
	if (r < 0)
		FAIL("move_pages(to node %d): %s", node, strerror(errno));
	for (i = 0; i < NPAGES; i++)
		if (status[i] != node)
			SKIP("page %d not moved to node %d (status %d)", i, node,
			     status[i]);
}

/*
 * move_pages() the registered pages to the other node: invalidation, the
 * device reads the right data from the new pages and its writes land there.
 */
static int migrate_numa(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	int status[NPAGES], from, to, i;
	char *buf, *out, *in;

	if (numa_node_count() < 2)
		SKIP("one NUMA node only");
	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(buf, len, 50);
	query_nodes(buf, status);
	from = status[0];
	for (i = 1; i < NPAGES; i++)
		if (status[i] != from)
			move_all(buf, from);	/* make them all start on one node */
	to = from == 0 ? 1 : 0;
	printf("from_node=%d to_node=%d\n", from, to);

	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	in = malloc(len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 50, "device read before migration");
	mr_stats(mr, &s);
	EXPECT_U64(s.v[ODP_STAT_PAGES_MAPPED], ==, NPAGES, "pages_mapped before migration");

	move_all(buf, to);
	mr_delta(mr, &s, &d, "migrate");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by migration");
	EXPECT_U64(D(d, PAGES_INVALIDATED), >=, NPAGES, "pages_invalidated by migration");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, 0, "pages_mapped after migration");
	check_pattern(buf, len, 50, "CPU view after migration");

	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 50, "device read after migration");
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, PAGES_FAULTED), >=, NPAGES, "pages_faulted after migration");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");

	fill_pattern(in, len, 51);
	EXPECT_OK(dev_write(mr, buf, in, len));
	check_pattern(buf, len, 51, "CPU view of the device write into migrated pages");
	query_nodes(buf, status);
	for (i = 0; i < NPAGES; i++)
		CHECK(status[i] == to, "page %d is on node %d after the device write, expected %d",
		      i, status[i], to);

	/* And back: the device follows again. */
	move_all(buf, from);
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 51, "device read after migrating back");
	mr_delta(mr, &s, &d, "back");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by the second migration");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "migrate_numa", migrate_numa },
};

TEST_MAIN(tests)
