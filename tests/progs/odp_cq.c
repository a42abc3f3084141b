// SPDX-License-Identifier: MIT
/*
 * Completion queues: what a poll takes off the ring.
 *
 * Completions come from a QP whose connect failed (nobody listens on the
 * port): it is in the error state, so every receive posted on it completes
 * at once with WR_FLUSH_ERR, in post order, with its wr_id.  No peer is
 * needed.  The polls are raw POLL_CQ ioctls, so that the test controls the
 * user buffer and sees num_entries as the kernel wrote it back.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uapi/odp_abi.h>

#include "helpers.h"

#define IBDEV		"rxe0"
#define ADDR		"10.99.0.1"
/* Nobody listens there; a port of its own per process. */
#define DEAD_PORT	(23000 + getpid() % 1000)
#define NRECV		8
/* Time for the QP's work item to flush what was posted. */
#define FLUSH_WAIT_MS	3000

struct cqt {
	struct odp_context *ctx;
	struct odp_pd *pd;
	struct odp_cq *cq;
	struct odp_qp *qp;
};

/* A QP in the error state on a CQ of cqe entries. */
static void setup_error_qp(struct cqt *c, int cqe)
{
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct odp_qp_init_attr attr = { 0 };
	int r;

	c->ctx = open_bound_device(IBDEV);
	c->pd = odp_alloc_pd(c->ctx);
	if (!c->pd)
		FAIL("odp_alloc_pd: %s", strerror(errno));
	c->cq = odp_create_cq(c->ctx, cqe);
	if (!c->cq)
		FAIL("odp_create_cq(%d): %s", cqe, strerror(errno));
	attr.send_cq = c->cq;
	attr.recv_cq = c->cq;
	attr.cap.max_send_wr = 1;
	attr.cap.max_recv_wr = NRECV;
	attr.qp_type = ODP_QPT_RC;
	c->qp = odp_create_qp(c->pd, &attr);
	if (!c->qp)
		FAIL("odp_create_qp: %s", strerror(errno));
	dst.sin_port = htons(DEAD_PORT);
	inet_pton(AF_INET, ADDR, &dst.sin_addr);
	r = odp_connect(c->qp, (struct sockaddr *)&dst, 5000);
	printf("connect_errno=%d\n", r);
	if (!r)
		FAIL("odp_connect to %s:%d, where nobody listens, succeeded",
		     ADDR, DEAD_PORT);
}

static void teardown(struct cqt *c)
{
	EXPECT_OK(odp_destroy_qp(c->qp));
	EXPECT_OK(odp_destroy_cq(c->cq));
	EXPECT_OK(odp_dealloc_pd(c->pd));
	EXPECT_OK(odp_close_device(c->ctx));
}

/* Post n receives with wr_id 0 .. n-1 (no SGE: nothing ever lands). */
static void post_recvs(struct cqt *c, int n)
{
	struct odp_recv_wr wr[NRECV], *bad = NULL;
	int i, r;

	memset(wr, 0, sizeof(wr));
	for (i = 0; i < n; i++) {
		wr[i].wr_id = i;
		wr[i].next = i + 1 < n ? &wr[i + 1] : NULL;
	}
	r = odp_post_recv(c->qp, wr, &bad);
	if (r)
		FAIL("odp_post_recv of %d: %s", n, strerror(r));
}

/* POLL_CQ into wc; returns 0 or errno, *n the entries the kernel reported. */
static int raw_poll(struct cqt *c, struct odp_abi_wc *wc, uint32_t room,
		    uint32_t *n)
{
	struct odp_abi_poll_cq cmd = {
		.cq_handle	= c->cq->handle,
		.num_entries	= room,
		.wc		= (uintptr_t)wc,
	};
	int r;

	r = ioctl(c->ctx->cmd_fd, ODP_IOC_POLL_CQ, &cmd) ? errno : 0;
	*n = cmd.num_entries;
	return r;
}

/*
 * A poll whose buffer faults half-way: the kernel may write only what fits
 * before the fault, and must not take more off the ring than it reported
 * written.  Before, it took a whole batch off the ring, failed the copy
 * with EFAULT and reported 0 entries: those completions were gone.
 */
static int cq_poll_efault(void)
{
	const size_t half = 4 * sizeof(struct odp_abi_wc);
	struct odp_abi_wc got[NRECV], *wc;
	uint32_t n, first, total, i;
	uint64_t end;
	char *map;
	int r;
	struct cqt c;

	setup_error_qp(&c, 64);
	post_recvs(&c, NRECV);
	usleep(FLUSH_WAIT_MS * 1000);

	/* room for NRECV entries, the second half of them on a PROT_NONE page */
	map = map_anon(2 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	xmprotect(map + page_size, page_size, PROT_NONE);
	wc = (struct odp_abi_wc *)(map + page_size - half);
	r = raw_poll(&c, wc, NRECV, &n);
	printf("efault_poll_errno=%d efault_poll_entries=%u\n", r, n);
	if (r != EFAULT)
		FAIL("POLL_CQ into a buffer whose second half is PROT_NONE "
		     "returned %d (%s) with %u entries, expected EFAULT",
		     r, r ? strerror(r) : "success", n);
	if (n > 4)
		FAIL("the faulting poll reported %u entries written, but only 4 "
		     "fit before the PROT_NONE page", n);
	for (i = 0; i < n; i++)
		got[i] = wc[i];
	first = n;

	/* A correct poll gets every completion the faulting one did not. */
	total = first;
	end = now_ms() + FLUSH_WAIT_MS;
	while (total < NRECV && now_ms() < end) {
		r = raw_poll(&c, got + total, NRECV - total, &n);
		if (r)
			FAIL("POLL_CQ after the faulting one: %s", strerror(r));
		total += n;
		if (!n)
			usleep(10000);
	}
	printf("later_poll_entries=%u total_entries=%u\n", total - first, total);
	if (total != NRECV)
		FAIL("%u of %d completions came out of the CQ (%u from the faulting "
		     "poll, %u after): the faulting poll lost %u", total, NRECV,
		     first, total - first, NRECV - total);
	for (i = 0; i < NRECV; i++) {
		if (got[i].wr_id != i ||
		    got[i].status != ODP_ABI_WC_WR_FLUSH_ERR)
			FAIL("completion %u: wr_id %llu status %u, expected wr_id %u "
			     "WR_FLUSH_ERR, in post order", i,
			     (unsigned long long)got[i].wr_id, got[i].status, i);
	}
	unmap(map, 2 * page_size);
	teardown(&c);
	return T_PASS;
}

/*
 * A CQ overrun is an error the CQ keeps, as a verbs CQ does: every later
 * poll reports EOVERFLOW and none takes (and so silently drops) entries.
 */
static int cq_overrun(void)
{
	struct odp_abi_wc wc[NRECV];
	struct odp_wc lwc[NRECV];
	uint32_t n;
	int i, r;
	struct cqt c;

	setup_error_qp(&c, 4);
	post_recvs(&c, NRECV);
	usleep(FLUSH_WAIT_MS * 1000);

	for (i = 0; i < 3; i++) {
		r = raw_poll(&c, wc, NRECV, &n);
		printf("overrun_poll%d_errno=%d overrun_poll%d_entries=%u\n",
		       i, r, i, n);
		if (r != EOVERFLOW || n)
			FAIL("poll %d of a CQ of 4 that got %d completions: %d (%s) "
			     "with %u entries, expected EOVERFLOW and none", i,
			     NRECV, r, r ? strerror(r) : "success", n);
	}
	r = odp_poll_cq(c.cq, NRECV, lwc);
	printf("overrun_libodp=%d\n", r);
	if (r != -EOVERFLOW)
		FAIL("odp_poll_cq of the overrun CQ returned %d, expected %d "
		     "(-EOVERFLOW)", r, -EOVERFLOW);
	teardown(&c);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "cq_poll_efault", cq_poll_efault },
	{ "cq_overrun", cq_overrun },
};

TEST_MAIN(tests)
