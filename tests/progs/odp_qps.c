// SPDX-License-Identifier: MIT
/*
 * debugfs `qps`: where a QP's messages are.
 *
 * qps_view: a new QP shows in state reset with no kernel QP and no buffer;
 * a connected pair (loopback over rxe0) shows both in rts, each with its
 * kernel QP's number and all 32 receive buffers posted; one SEND moves the
 * credit counts by one on both sides (req_sent and peer_consumed on the
 * sender, req_consumed on the receiver) and leaves no send slot in flight;
 * a 1 MiB SEND (some 65 request messages) costs the sender at most one
 * CREDIT message per 8 messages consumed (it once cost one per message,
 * and the flood of CREDITs took every receive buffer of a busy peer);
 * destroyed QPs leave the file.
 *
 * qps_rnr_recovery: a side whose work item is stuck (a fault parked by the
 * core's retry hook) while its 1 MiB READ is answered runs out of receive
 * buffers (rx_posted 0), so its kernel QP answers the peer with RNR NAKs.
 * Once the fault is let go the READ must complete promptly: the RNR wait
 * the QP asks for is 0.32 ms, not the CM's default of 655 ms, which cost
 * every such episode over half a second (on 6.1's rxe, a few messages per
 * second).
 *
 * qps_error_cause: a QP in the error state says why, whatever its WRs
 * completed with.  An RDMA WRITE to an rkey the server never gave out
 * completes with REM_ACCESS_ERR: both lines read "error wr 10" (the
 * client's WR failed; the server answered it with that status).  On a new
 * pair, the server destroys its QP: the client's reads "error peer_gone 0",
 * though nothing of its own failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <unistd.h>

#include "helpers.h"

#define IBDEV		"rxe0"
#define ADDR		"10.99.0.1"
#define PORT		18950	/* qps_view; qps_rnr_recovery and
				 * qps_error_cause the next ones */
#define DEBUGFS_QPS	DEBUGFS_DIR "/qps"
#define RX_DEPTH	32	/* ODP_WIRE_RX_DEPTH */
#define CREDIT_BATCH	8	/* ODP_WIRE_CREDIT_BATCH */
#define BIG		(1 << 20)
/*
 * From letting the parked fault go to the READ's completion: the rest of
 * the READ (some 60 messages, about 100 ms under TCG) plus one RNR wait
 * (0.32 ms asked, a jiffy or two given).  The CM's default wait alone is
 * 655 ms.
 */
#define RNR_BOUND_MS	400

struct qps_side {
	struct odp_context *ctx;
	struct odp_pd *pd;
	struct odp_cq *cq;
	struct odp_qp *qp;
};

struct qps_accept {
	struct odp_listener *ln;
	struct odp_qp *qp;
	int ret;
};

/* The fields of the qps line of @qp_num, by name. */
struct qps_line {
	char state[16];
	int disconnected;
	unsigned int wire_qpn, sq, rq, rx_req, rx_resp;
	int rx_posted, tx_outstanding;
	unsigned int req_sent, peer_consumed, req_consumed, req_advertised;
	unsigned int credit_msgs;
	char text[512];
};

/* 1 and the line's fields if debugfs shows @qp_num, else 0. */
static int qps_find(uint32_t qp_num, struct qps_line *l)
{
	char buf[16384], *line, *save = NULL, *rest;
	unsigned int num;
	int at = 0;

	if (read_file(DEBUGFS_QPS, buf, sizeof(buf)) < 0)
		FAIL("read %s: %s", DEBUGFS_QPS, strerror(errno));
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "qp %u ", &num) != 1 || num != qp_num)
			continue;
		snprintf(l->text, sizeof(l->text), "%s", line);
		if (sscanf(line, "qp %*u wire_qpn %u state %15s%n",
			   &l->wire_qpn, l->state, &at) != 2 || !at)
			FAIL("qps line not in the documented format: %s", line);
		rest = line + at;
		l->disconnected = !strncmp(rest, " disconnected", 13);
		if (l->disconnected)
			rest += 13;
		if (sscanf(rest,
			   " sq %u rq %u rx_posted %d rx_req %u rx_resp %u tx_outstanding %d req_sent %u peer_consumed %u req_consumed %u req_advertised %u credit_msgs %u",
			   &l->sq, &l->rq, &l->rx_posted, &l->rx_req,
			   &l->rx_resp, &l->tx_outstanding, &l->req_sent,
			   &l->peer_consumed, &l->req_consumed,
			   &l->req_advertised, &l->credit_msgs) != 11)
			FAIL("qps line not in the documented format: %s", line);
		return 1;
	}
	return 0;
}

static void qps_side_open(struct qps_side *s)
{
	struct odp_qp_init_attr attr = { 0 };

	s->ctx = open_bound_device(IBDEV);
	s->pd = odp_alloc_pd(s->ctx);
	s->cq = odp_create_cq(s->ctx, 16);
	if (!s->pd || !s->cq)
		FAIL("odp_alloc_pd / odp_create_cq: %s", strerror(errno));
	attr.send_cq = s->cq;
	attr.recv_cq = s->cq;
	attr.cap.max_send_wr = 4;
	attr.cap.max_recv_wr = 4;
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_sge = 1;
	attr.qp_type = ODP_QPT_RC;
	s->qp = odp_create_qp(s->pd, &attr);
	if (!s->qp)
		FAIL("odp_create_qp: %s", strerror(errno));
}

static void qps_side_close(struct qps_side *s)
{
	if (s->qp)
		EXPECT_OK(odp_destroy_qp(s->qp));
	odp_destroy_cq(s->cq);
	odp_dealloc_pd(s->pd);
	odp_close_device(s->ctx);
}

static void *qps_accepter(void *p)
{
	struct qps_accept *a = p;

	a->ret = odp_accept(a->ln, a->qp, 10000);
	return NULL;
}

static void qps_connect(struct qps_side *srv, struct qps_side *cli,
			uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port) };
	struct qps_accept a = { .qp = srv->qp };
	pthread_t th;
	int r;

	inet_pton(AF_INET, ADDR, &sin.sin_addr);
	a.ln = odp_listen(srv->ctx, (struct sockaddr *)&sin, 1);
	if (!a.ln)
		FAIL("odp_listen(%s:%u): %s", ADDR, port, strerror(errno));
	if (pthread_create(&th, NULL, qps_accepter, &a))
		FAIL("pthread_create");
	r = odp_connect(cli->qp, (struct sockaddr *)&sin, 10000);
	pthread_join(th, NULL);
	if (r || a.ret)
		FAIL("connect: %s, accept: %s", strerror(r), strerror(a.ret));
	odp_destroy_listener(a.ln);
}

/* One completion on @cq into @wc within 10 s: odp_poll_cq()'s count. */
static int qps_poll_wc(struct odp_cq *cq, struct odp_wc *wc)
{
	uint64_t end = now_ms() + 10000;
	int n;

	while (!(n = odp_poll_cq(cq, 1, wc)) && now_ms() < end)
		usleep(1000);
	return n;
}

/* One completion on @cq within 10 s, successful. */
static void qps_wait_wc(struct odp_cq *cq, const char *what)
{
	struct odp_wc wc;
	int n = qps_poll_wc(cq, &wc);

	if (n != 1 || wc.status != ODP_WC_SUCCESS)
		FAIL("%s: poll %d, status %s", what, n,
		     n == 1 ? odp_wc_status_str(wc.status) : "-");
}

/* The line of @qp_num once it reads @rx_posted and no send slot is out. */
static void qps_wait_quiet(uint32_t qp_num, struct qps_line *l)
{
	uint64_t end = now_ms() + 10000;

	do {
		if (!qps_find(qp_num, l))
			FAIL("qp %u missing from %s", qp_num, DEBUGFS_QPS);
		if (l->rx_posted == RX_DEPTH && !l->tx_outstanding &&
		    !l->rx_req && !l->rx_resp)
			return;
		usleep(10000);
	} while (now_ms() < end);
	FAIL("qp %u never quiet: %s", qp_num, l->text);
}

/*
 * One SEND of @len bytes, client to server, through freshly registered
 * MRs: the posted receive shows on the server's line, both sides complete,
 * the bytes arrive; @s1 and @c1 are the lines once both are quiet.
 */
static void qps_send(struct qps_side *srv, struct qps_side *cli, size_t len,
		     struct qps_line *s1, struct qps_line *c1)
{
	char *out = malloc(len), *in = malloc(len);
	struct odp_mr *smr, *rmr;
	struct odp_sge ssge, rsge;
	struct odp_send_wr swr = { .wr_id = 1, .sg_list = &ssge, .num_sge = 1,
				   .opcode = ODP_WR_SEND,
				   .send_flags = ODP_SEND_SIGNALED };
	struct odp_recv_wr rwr = { .wr_id = 2, .sg_list = &rsge,
				   .num_sge = 1 };

	if (!out || !in)
		FAIL("malloc");
	memset(out, 0x5a, len);
	smr = odp_reg_mr(cli->pd, out, len, ACC_RW);
	rmr = odp_reg_mr(srv->pd, in, len, ACC_RW);
	if (!smr || !rmr)
		FAIL("odp_reg_mr: %s", strerror(errno));
	ssge = (struct odp_sge){ (uintptr_t)out, len, smr->lkey };
	rsge = (struct odp_sge){ (uintptr_t)in, len, rmr->lkey };
	EXPECT_OK(odp_post_recv(srv->qp, &rwr, NULL));
	if (!qps_find(srv->qp->qp_num, s1) || s1->rq != 1)
		FAIL("a posted receive: %s", s1->text);
	EXPECT_OK(odp_post_send(cli->qp, &swr, NULL));
	qps_wait_wc(srv->cq, "the receive");
	qps_wait_wc(cli->cq, "the send");
	if (memcmp(in, out, len))
		FAIL("the %zu-byte SEND arrived changed", len);
	qps_wait_quiet(srv->qp->qp_num, s1);
	qps_wait_quiet(cli->qp->qp_num, c1);
	EXPECT_OK(odp_dereg_mr(smr));
	EXPECT_OK(odp_dereg_mr(rmr));
	free(out);
	free(in);
}

/*
 * One SEND of BIG bytes after the lines @s0 and @c0: the server answers
 * once, so every other word of the consumed count must ride a CREDIT
 * message, at most one per CREDIT_BATCH.
 */
static void qps_big_send(struct qps_side *srv, struct qps_side *cli,
			 const struct qps_line *s0, const struct qps_line *c0)
{
	struct qps_line s1, c1;
	unsigned int msgs;

	qps_send(srv, cli, BIG, &s1, &c1);
	msgs = s1.req_consumed - s0->req_consumed;
	printf("big.messages=%u big.credit_msgs=%u\n", msgs,
	       s1.credit_msgs - s0->credit_msgs);
	if (msgs < BIG / 16384 || c1.req_sent - c0->req_sent != msgs ||
	    (s1.credit_msgs - s0->credit_msgs) * CREDIT_BATCH > msgs)
		FAIL("1 MiB SEND:\n  before %s\n         %s\n  after  %s\n         %s",
		     s0->text, c0->text, s1.text, c1.text);
}

static void qps_hook(const char *cmd)
{
	int r = write_file(DEBUGFS_RETRY_HOOK, cmd);

	if (r)
		FAIL("write '%s' to %s: %s", cmd, DEBUGFS_RETRY_HOOK,
		     strerror(-r));
}

/* Wait up to 10 s for the line of @qp_num to show no receive buffer. */
static void qps_wait_starved(uint32_t qp_num, struct qps_line *l)
{
	uint64_t end = now_ms() + 10000;

	do {
		if (!qps_find(qp_num, l))
			FAIL("qp %u missing from %s", qp_num, DEBUGFS_QPS);
		if (!l->rx_posted)
			return;
		usleep(5000);
	} while (now_ms() < end);
	FAIL("qp %u kept receive buffers while its work item was parked: %s",
	     qp_num, l->text);
}

static int qps_rnr_recovery(void)
{
	char *src = malloc(BIG), *dst = malloc(BIG), st[64] = "";
	struct odp_mr *smr, *dmr;
	struct odp_sge sge, pf;
	struct odp_send_wr wr = { .wr_id = 5, .sg_list = &sge, .num_sge = 1,
				  .opcode = ODP_WR_RDMA_READ,
				  .send_flags = ODP_SEND_SIGNALED };
	struct qps_side srv, cli;
	struct qps_line starved;
	uint64_t t0, ms;

	if (access(DEBUGFS_QPS, R_OK) || access(DEBUGFS_RETRY_HOOK, W_OK))
		SKIP("%s or %s missing", DEBUGFS_QPS, DEBUGFS_RETRY_HOOK);
	if (!src || !dst)
		FAIL("malloc");
	qps_side_open(&srv);
	qps_side_open(&cli);
	qps_connect(&srv, &cli, PORT + 1);

	/* The server's pages are in, so the first fault is the client's. */
	memset(src, 0x3c, BIG);
	smr = odp_reg_mr(srv.pd, src, BIG, ODP_ACCESS_REMOTE_READ |
			 ODP_ACCESS_ON_DEMAND);
	dmr = odp_reg_mr(cli.pd, dst, BIG, ACC_RW);
	if (!smr || !dmr)
		FAIL("odp_reg_mr: %s", strerror(errno));
	pf = (struct odp_sge){ (uintptr_t)src, BIG, smr->lkey };
	EXPECT_OK(odp_advise_mr(srv.pd, ODP_ADVISE_PREFETCH,
				ODP_ADVISE_FLAG_FLUSH, &pf, 1));

	sge = (struct odp_sge){ (uintptr_t)dst, BIG, dmr->lkey };
	wr.wr.rdma.remote_addr = (uintptr_t)src;
	wr.wr.rdma.rkey = smr->rkey;
	qps_hook("arm");
	EXPECT_OK(odp_post_send(cli.qp, &wr, NULL));
	qps_wait_starved(cli.qp->qp_num, &starved);
	if (read_file(DEBUGFS_RETRY_HOOK, st, sizeof(st)) < 0 ||
	    strcmp(st, "parked"))
		FAIL("retry_hook reads '%s' with the client starved, expected 'parked'",
		     st);
	/* The server's next READ_RESP meets the empty receive queue. */
	usleep(100 * 1000);

	t0 = now_ms();
	qps_hook("release");
	qps_wait_wc(cli.cq, "the READ");
	ms = now_ms() - t0;
	printf("rnr.starved=\"%s\"\nrnr.release_to_completion_ms=%" PRIu64 "\n",
	       starved.text, ms);
	if (memcmp(src, dst, BIG))
		FAIL("the READ brought back different bytes");
	CHECK(ms < RNR_BOUND_MS,
	      "the READ completed %" PRIu64 " ms after the client's work item went on (bound %d ms)",
	      ms, RNR_BOUND_MS);

	EXPECT_OK(odp_dereg_mr(smr));
	EXPECT_OK(odp_dereg_mr(dmr));
	EXPECT_OK(odp_destroy_qp(srv.qp));
	EXPECT_OK(odp_destroy_qp(cli.qp));
	odp_close_device(srv.ctx);
	odp_close_device(cli.ctx);
	free(src);
	free(dst);
	return T_PASS;
}

static int qps_view(void)
{
	struct qps_side srv, cli;
	struct qps_line s0, c0, s1, c1;
	uint32_t snum, cnum;
	uint64_t end;

	if (access(DEBUGFS_QPS, R_OK))
		SKIP("%s missing", DEBUGFS_QPS);
	qps_side_open(&srv);
	qps_side_open(&cli);

	if (!qps_find(srv.qp->qp_num, &s0))
		FAIL("new qp %u missing from %s", srv.qp->qp_num, DEBUGFS_QPS);
	if (strcmp(s0.state, "reset") || s0.wire_qpn || s0.rx_posted ||
	    s0.tx_outstanding || s0.sq || s0.rq)
		FAIL("new QP: %s", s0.text);

	qps_connect(&srv, &cli, PORT);
	qps_wait_quiet(srv.qp->qp_num, &s0);
	qps_wait_quiet(cli.qp->qp_num, &c0);
	if (strcmp(s0.state, "rts") || strcmp(c0.state, "rts") ||
	    !s0.wire_qpn || !c0.wire_qpn || s0.wire_qpn == c0.wire_qpn)
		FAIL("connected pair:\n  %s\n  %s", s0.text, c0.text);

	qps_send(&srv, &cli, 64, &s1, &c1);
	printf("qps.server=\"%s\"\nqps.client=\"%s\"\n", s1.text, c1.text);
	if (c1.req_sent != c0.req_sent + 1 ||
	    c1.peer_consumed != c0.peer_consumed + 1 ||
	    s1.req_consumed != s0.req_consumed + 1 || s1.rq || c1.sq)
		FAIL("one SEND:\n  before %s\n         %s\n  after  %s\n         %s",
		     s0.text, c0.text, s1.text, c1.text);

	qps_big_send(&srv, &cli, &s1, &c1);

	snum = srv.qp->qp_num;
	cnum = cli.qp->qp_num;
	EXPECT_OK(odp_destroy_qp(srv.qp));
	EXPECT_OK(odp_destroy_qp(cli.qp));
	srv.qp = NULL;
	cli.qp = NULL;
	/* The last reference may be a moment behind the destroy. */
	for (end = now_ms() + 10000;
	     qps_find(snum, &s1) || qps_find(cnum, &c1); usleep(10000))
		if (now_ms() > end)
			FAIL("destroyed QPs still in %s", DEBUGFS_QPS);
	qps_side_close(&srv);
	qps_side_close(&cli);
	return T_PASS;
}

/* The line of @qp_num once it is in the error state, within 10 s. */
static void qps_wait_error(uint32_t qp_num, struct qps_line *l)
{
	uint64_t end = now_ms() + 10000;

	do {
		if (!qps_find(qp_num, l))
			FAIL("qp %u missing from %s", qp_num, DEBUGFS_QPS);
		if (!strcmp(l->state, "error"))
			return;
		usleep(10000);
	} while (now_ms() < end);
	FAIL("qp %u not in the error state: %s", qp_num, l->text);
}

/* Whether @l ends with " error <cause> <detail>" as expected. */
static void qps_expect_cause(const struct qps_line *l, const char *cause,
			     int detail, const char *what)
{
	char want[64];
	size_t n = (size_t)snprintf(want, sizeof(want), " error %s %d", cause,
				    detail);
	size_t len = strlen(l->text);

	if (len < n || strcmp(l->text + len - n, want))
		FAIL("%s: expected the line to end with \"%s\": %s", what,
		     want, l->text);
}

static int qps_error_cause(void)
{
	struct qps_side srv, cli;
	struct qps_line s, c;
	char buf[64] = { 0 };
	struct odp_mr *mr;
	struct odp_sge sge;
	struct odp_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = ODP_WR_RDMA_WRITE,
				  .send_flags = ODP_SEND_SIGNALED };
	struct odp_wc wc;
	int n;

	if (access(DEBUGFS_QPS, R_OK))
		SKIP("%s missing", DEBUGFS_QPS);

	/* A WR that fails: both sides say so. */
	qps_side_open(&srv);
	qps_side_open(&cli);
	qps_connect(&srv, &cli, PORT + 2);
	mr = odp_reg_mr(cli.pd, buf, sizeof(buf), ACC_RW);
	if (!mr)
		FAIL("odp_reg_mr: %s", strerror(errno));
	sge = (struct odp_sge){ (uintptr_t)buf, sizeof(buf), mr->lkey };
	wr.wr.rdma.remote_addr = 4096;
	wr.wr.rdma.rkey = 0xbad0bad;
	EXPECT_OK(odp_post_send(cli.qp, &wr, NULL));
	n = qps_poll_wc(cli.cq, &wc);
	if (n != 1 || wc.status != ODP_WC_REM_ACCESS_ERR)
		FAIL("WRITE to a bad rkey: poll %d, status %s", n,
		     n == 1 ? odp_wc_status_str(wc.status) : "-");
	qps_wait_error(cli.qp->qp_num, &c);
	qps_wait_error(srv.qp->qp_num, &s);
	printf("cause.wr.client=\"%s\"\ncause.wr.server=\"%s\"\n", c.text,
	       s.text);
	qps_expect_cause(&c, "wr", ODP_WC_REM_ACCESS_ERR, "the requester");
	qps_expect_cause(&s, "wr", ODP_WC_REM_ACCESS_ERR, "the responder");
	EXPECT_OK(odp_dereg_mr(mr));
	qps_side_close(&srv);
	qps_side_close(&cli);

	/* The peer goes: nothing of ours failed, and the line says why. */
	qps_side_open(&srv);
	qps_side_open(&cli);
	qps_connect(&srv, &cli, PORT + 3);
	EXPECT_OK(odp_destroy_qp(srv.qp));
	srv.qp = NULL;
	qps_wait_error(cli.qp->qp_num, &c);
	printf("cause.peer_gone.client=\"%s\"\n", c.text);
	qps_expect_cause(&c, "peer_gone", 0, "the survivor");
	qps_side_close(&srv);
	qps_side_close(&cli);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "qps_view", qps_view },
	{ "qps_rnr_recovery", qps_rnr_recovery },
	{ "qps_error_cause", qps_error_cause },
};

TEST_MAIN(tests)
