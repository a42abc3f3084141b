// SPDX-License-Identifier: MIT
/*
 * ACCEPT at the edges of a connection's life.
 *
 * accept_destroy_qp*: an ACCEPT blocked on a QP that another thread
 * destroys must end at once with ECONNABORTED, as it does when its listener
 * is destroyed, not sleep on until its timeout (or forever with timeout 0).
 * No client ever comes.  The destroy is a raw DESTROY_QP ioctl, so that
 * libodp does not free the struct odp_qp the accepting thread was given.
 *
 * accept_withdrawn: clients that give up mid-connect (their QP destroyed at
 * delays swept over the time a connect takes) while an accept takes their
 * request: the accept ends with a connection error, never EINVAL (its
 * arguments were fine).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <uapi/odp_abi.h>

#include "helpers.h"

#define IBDEV		"rxe0"
#define LISTEN_ADDR	"10.99.0.1"
#define LISTEN_PORT_BASE 18000
#define DESTROY_AFTER_MS 300
/* How long after the destroy the accept may take to return. */
#define WAKE_BOUND_MS	1000

struct acc {
	struct odp_context *ctx;
	struct odp_pd *pd;
	struct odp_cq *cq;
	struct odp_qp *qp;
	struct odp_listener *ln;
	int timeout_ms;
	/* results */
	int ret;
	uint64_t done_ms;
	volatile int done;
};

static void *accepter(void *p)
{
	struct acc *a = p;

	a->ret = odp_accept(a->ln, a->qp, a->timeout_ms);
	a->done_ms = now_ms();
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static struct odp_qp *new_qp(struct acc *a)
{
	struct odp_qp_init_attr attr = { 0 };
	struct odp_qp *qp;

	attr.send_cq = a->cq;
	attr.recv_cq = a->cq;
	attr.cap.max_send_wr = 4;
	attr.cap.max_recv_wr = 4;
	attr.qp_type = ODP_QPT_RC;
	qp = odp_create_qp(a->pd, &attr);
	if (!qp)
		FAIL("odp_create_qp: %s", strerror(errno));
	return qp;
}

static void setup(struct acc *a, int timeout_ms, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	memset(a, 0, sizeof(*a));
	a->timeout_ms = timeout_ms;
	a->ctx = open_bound_device(IBDEV);
	a->pd = odp_alloc_pd(a->ctx);
	if (!a->pd)
		FAIL("odp_alloc_pd: %s", strerror(errno));
	a->cq = odp_create_cq(a->ctx, 16);
	if (!a->cq)
		FAIL("odp_create_cq: %s", strerror(errno));
	a->qp = new_qp(a);
	/* Port 0 (accept_destroy_qp*): an ephemeral port nobody connects to. */
	sin.sin_port = htons(port);
	inet_pton(AF_INET, LISTEN_ADDR, &sin.sin_addr);
	a->ln = odp_listen(a->ctx, (struct sockaddr *)&sin, 4);
	if (!a->ln)
		FAIL("odp_listen(%s:%u): %s", LISTEN_ADDR, port, strerror(errno));
}

static int raw_destroy_qp(struct odp_context *ctx, uint32_t handle)
{
	struct odp_abi_destroy_qp a = { .qp_handle = handle };

	return ioctl(ctx->cmd_fd, ODP_IOC_DESTROY_QP, &a) ? errno : 0;
}

/* Wait up to ms for the accepting thread; 1 if it is done. */
static int wait_done(struct acc *a, pthread_t th, unsigned int ms)
{
	uint64_t end = now_ms() + ms;

	while (!__atomic_load_n(&a->done, __ATOMIC_ACQUIRE)) {
		if (now_ms() > end)
			return 0;
		usleep(5000);
	}
	pthread_join(th, NULL);
	return 1;
}

/*
 * Block an accept with the given timeout, destroy its QP after
 * DESTROY_AFTER_MS, and expect ECONNABORTED within WAKE_BOUND_MS.  If the
 * accept is still blocked after wait_ms, destroy the listener (which does
 * wake it) so that the test never hangs, and fail.
 */
static int accept_destroy(int timeout_ms, unsigned int wait_ms)
{
	struct acc a;
	pthread_t th;
	uint64_t t0, destroyed;
	int r;

	setup(&a, timeout_ms, 0);
	t0 = now_ms();
	if (pthread_create(&th, NULL, accepter, &a))
		FAIL("pthread_create");
	usleep(DESTROY_AFTER_MS * 1000);
	if (__atomic_load_n(&a.done, __ATOMIC_ACQUIRE))
		FAIL("odp_accept returned %d (%s) before its QP was destroyed, "
		     "with no client", a.ret, strerror(a.ret));

	destroyed = now_ms();
	r = raw_destroy_qp(a.ctx, a.qp->handle);
	if (r)
		FAIL("DESTROY_QP of the QP an accept is blocked on: %s", strerror(r));
	printf("destroy_ms=%llu\n", (unsigned long long)(now_ms() - destroyed));

	if (!wait_done(&a, th, wait_ms)) {
		printf("accept_returned=0\n");
		/* Wake it the way that works, then report. */
		r = odp_destroy_listener(a.ln);
		if (r || !wait_done(&a, th, 5000))
			FAIL("odp_accept still blocked %u ms after its QP was "
			     "destroyed, and destroying the listener (%s) did not "
			     "end it either", wait_ms, r ? strerror(r) : "ok");
		FAIL("odp_accept(timeout %d ms) still blocked %u ms after its QP "
		     "was destroyed (ended only by destroying the listener: %d %s)",
		     timeout_ms, wait_ms, a.ret, strerror(a.ret));
	}
	printf("accept_returned=1 accept_errno=%d accept_ms=%llu "
	       "after_destroy_ms=%llu\n", a.ret,
	       (unsigned long long)(a.done_ms - t0),
	       (unsigned long long)(a.done_ms - destroyed));
	if (a.ret != ECONNABORTED)
		FAIL("odp_accept on a destroyed QP returned %d (%s) after %llu ms "
		     "(%llu ms after the destroy), expected ECONNABORTED",
		     a.ret, a.ret ? strerror(a.ret) : "success",
		     (unsigned long long)(a.done_ms - t0),
		     (unsigned long long)(a.done_ms - destroyed));
	if (a.done_ms - destroyed > WAKE_BOUND_MS)
		FAIL("odp_accept returned %llu ms after its QP was destroyed "
		     "(bound %d ms)", (unsigned long long)(a.done_ms - destroyed),
		     WAKE_BOUND_MS);

	/* The QP is gone; everything else still works and goes. */
	r = raw_destroy_qp(a.ctx, a.qp->handle);
	if (r != EINVAL)
		FAIL("second DESTROY_QP: %d (%s), expected EINVAL", r, strerror(r));
	free(a.qp);
	EXPECT_OK(odp_destroy_listener(a.ln));
	EXPECT_OK(odp_destroy_cq(a.cq));
	EXPECT_OK(odp_dealloc_pd(a.pd));
	EXPECT_OK(odp_close_device(a.ctx));
	return T_PASS;
}

/* accept(timeout 3000 ms): ECONNABORTED at once, not ETIMEDOUT at 3 s. */
static int accept_destroy_qp(void)
{
	return accept_destroy(3000, 4000);
}

/* accept(timeout 0 = forever): ECONNABORTED at once, not never. */
static int accept_destroy_qp_forever(void)
{
	return accept_destroy(0, 3000);
}

/*
 * Clients that give up mid-connect: a thread connects while another destroys
 * its QP after a delay swept over [0, 2 x the time a connect takes], so that
 * some clients withdraw (rdma_cm sends a REJ) just as the accept takes their
 * request.
 */
#define WITHDRAW_ROUNDS		400
#define WITHDRAW_CALIBRATE	5
#define WITHDRAW_ACCEPT_MS	1000

struct withdraw_counts {
	unsigned int connected, aborted, refused, reset, timedout;
	unsigned int client_ok;
};

struct connector {
	struct odp_qp *qp;
	const struct sockaddr_in *dst;
	int ret;
};

static void *connect_fn(void *p)
{
	struct connector *c = p;

	c->ret = odp_connect(c->qp, (const struct sockaddr *)c->dst, 0);
	return NULL;
}

/* Count an accept's result; FAIL on one no connection attempt may give. */
static void withdraw_count(struct withdraw_counts *c, int ret,
			   unsigned int delay_us, int client_ret)
{
	switch (ret) {
	case 0:
		c->connected++;
		break;
	case ECONNABORTED:
		c->aborted++;
		break;
	case ECONNREFUSED:
		c->refused++;
		break;
	case ECONNRESET:
		c->reset++;
		break;
	case ETIMEDOUT:
		c->timedout++;
		break;
	default:
		FAIL("odp_accept of a request whose client gave up %u us into "
		     "its connect (which returned %s) returned %d (%s); a "
		     "withdrawn request must end the accept with a connection "
		     "error", delay_us, client_ret ? strerror(client_ret) : "ok",
		     ret, strerror(ret));
	}
}

/*
 * One round: accept on a fresh server QP while a client connects and, after
 * delay_us (or never, if negative), destroys its QP.  Returns the client's
 * connect result.
 */
static int withdraw_round(struct acc *a, const struct sockaddr_in *dst,
			  long delay_us)
{
	struct connector c = { .qp = new_qp(a), .dst = dst };
	pthread_t acc_th, con_th;
	int r;

	a->done = 0;
	a->qp = new_qp(a);
	if (pthread_create(&acc_th, NULL, accepter, a) ||
	    pthread_create(&con_th, NULL, connect_fn, &c))
		FAIL("pthread_create");
	if (delay_us >= 0) {
		usleep((useconds_t)delay_us);
		/* Raw, so that libodp does not free what connect_fn uses. */
		r = raw_destroy_qp(a->ctx, c.qp->handle);
		if (r)
			FAIL("DESTROY_QP of a connecting QP: %s", strerror(r));
	}
	pthread_join(con_th, NULL);
	if (!wait_done(a, acc_th, WITHDRAW_ACCEPT_MS + 5000))
		FAIL("odp_accept(timeout %d ms) still blocked after %d ms",
		     WITHDRAW_ACCEPT_MS, WITHDRAW_ACCEPT_MS + 5000);
	if (delay_us < 0)
		EXPECT_OK(odp_destroy_qp(c.qp));
	else
		free(c.qp);
	EXPECT_OK(odp_destroy_qp(a->qp));
	a->qp = NULL;
	return c.ret;
}

static int accept_withdrawn(void)
{
	uint16_t port = LISTEN_PORT_BASE + getpid() % 1000;
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct withdraw_counts c = { 0 };
	unsigned int delay_us, span_us;
	struct acc a;
	uint64_t t0;
	int i, r;

	setup(&a, WITHDRAW_ACCEPT_MS, port);
	EXPECT_OK(odp_destroy_qp(a.qp));
	dst.sin_port = htons(port);
	inet_pton(AF_INET, LISTEN_ADDR, &dst.sin_addr);

	/* How long a whole connect takes here. */
	t0 = now_us();
	for (i = 0; i < WITHDRAW_CALIBRATE; i++) {
		r = withdraw_round(&a, &dst, -1);
		if (r || a.ret)
			FAIL("connect/accept with nobody giving up: %s / %s",
			     strerror(r), strerror(a.ret));
	}
	span_us = (unsigned int)(2 * (now_us() - t0) / WITHDRAW_CALIBRATE) + 1;

	srand((unsigned int)getpid());
	for (i = 0; i < WITHDRAW_ROUNDS; i++) {
		delay_us = (unsigned int)rand() % span_us;
		r = withdraw_round(&a, &dst, delay_us);
		if (!r)
			c.client_ok++;
		withdraw_count(&c, a.ret, delay_us, r);
	}
	printf("rounds=%d span_us=%u client_connected=%u accept_connected=%u "
	       "accept_aborted=%u accept_refused=%u accept_reset=%u "
	       "accept_timedout=%u\n", WITHDRAW_ROUNDS, span_us, c.client_ok,
	       c.connected, c.aborted, c.refused, c.reset, c.timedout);
	EXPECT_OK(odp_destroy_listener(a.ln));
	EXPECT_OK(odp_destroy_cq(a.cq));
	EXPECT_OK(odp_dealloc_pd(a.pd));
	EXPECT_OK(odp_close_device(a.ctx));
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "accept_destroy_qp", accept_destroy_qp },
	{ "accept_destroy_qp_forever", accept_destroy_qp_forever },
	{ "accept_withdrawn", accept_withdrawn },
};

TEST_MAIN(tests)
