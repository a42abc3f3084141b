// SPDX-License-Identifier: MIT
/*
 * Destroying a QP while something else holds it (issue 7, item 7): a
 * connect or accept that is failing, a connection being rejected, the
 * device going away.  Those holders keep their own QP reference and, as
 * they give up, tear the transport down and kick the QP's work item; a kick
 * that lands after destroy's cancel_work_sync() would run the work on freed
 * memory.
 *
 * On a production kernel such a use after free usually goes unseen: these
 * races are meant for the debug kernel (KASAN, DEBUG_OBJECTS, lockdep;
 * `make check KERNEL=debug`).  Here they check what they can: every
 * connect and accept returns, with an errno the API documents, within a
 * bound; every destroy succeeds once; the context closes.
 *
 *   qp_connect_refused_destroy  connect to a port nobody listens on (REJ)
 *                               racing DESTROY_QP of the connecting QP
 *   qp_accept_reject_destroy    connect + accept pairs on a listener,
 *                               racing DESTROY_QP of either QP and
 *                               DESTROY_LISTEN (which rejects what is
 *                               pending)
 *   qp_race_devremove           the pairs with SEND traffic, for
 *                               ODP_RACE_MS, tolerating a device that
 *                               disappears (pytest removes rxe0 meanwhile)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uapi/odp_abi.h>

#include "helpers.h"

#define IBDEV		"rxe0"
#define ADDR		"10.99.0.1"
#define CONNECT_TO_MS	3000
/* A connect or accept must be back this long after its QP was destroyed. */
#define RETURN_BOUND_MS	10000
#define MSG		64

static unsigned int race_ms(void)
{
	const char *s = getenv("ODP_RACE_MS");
	long v = s ? strtol(s, NULL, 0) : 0;

	return v > 0 ? (unsigned int)v : 2500;
}

static uint16_t port_base(void)
{
	return (uint16_t)(24000 + (getpid() % 1000) * 4);
}

static struct sockaddr_in sin_of(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port) };

	inet_pton(AF_INET, ADDR, &sin.sin_addr);
	return sin;
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

struct side {
	struct odp_context *ctx;
	struct odp_pd *pd;
	struct odp_cq *cq;
	char *buf;
	struct odp_mr *mr;
};

/* 0, or the errno of the step that failed (tolerant mode: no FAIL). */
static int side_open(struct side *s, int tolerant)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->ctx = odp_open_device(NULL);
	if (!s->ctx)
		FAIL("odp_open_device: %s", strerror(errno));
	r = odp_bind_device(s->ctx, IBDEV, 1, NULL);
	if (r == ENODEV && !tolerant)
		SKIP("no RDMA device %s", IBDEV);
	if (r) {
		if (!tolerant)
			FAIL("odp_bind_device(%s): %s", IBDEV, strerror(r));
		odp_close_device(s->ctx);
		s->ctx = NULL;
		return r;
	}
	s->pd = odp_alloc_pd(s->ctx);
	s->cq = odp_create_cq(s->ctx, 256);
	if (!s->pd || !s->cq)
		FAIL("odp_alloc_pd / odp_create_cq: %s", strerror(errno));
	s->buf = map_anon(page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	s->mr = odp_reg_mr(s->pd, s->buf, page_size,
			   ODP_ACCESS_ON_DEMAND | ODP_ACCESS_LOCAL_WRITE);
	if (!s->mr)
		FAIL("odp_reg_mr: %s", strerror(errno));
	return 0;
}

static void side_close(struct side *s)
{
	if (!s->ctx)
		return;
	/* Closing the context destroys whatever a failed step left. */
	EXPECT_OK(odp_close_device(s->ctx));
	unmap(s->buf, page_size);
	s->ctx = NULL;
}

/* A new QP; NULL (tolerant: the device went) or FAIL. */
static struct odp_qp *new_qp(struct side *s, int tolerant)
{
	struct odp_qp_init_attr attr = {
		.send_cq = s->cq,
		.recv_cq = s->cq,
		.cap = { .max_send_wr = 8, .max_recv_wr = 8 },
		.qp_type = ODP_QPT_RC,
	};
	struct odp_qp *qp = odp_create_qp(s->pd, &attr);

	if (!qp && !tolerant)
		FAIL("odp_create_qp: %s", strerror(errno));
	return qp;
}

/*
 * A raw DESTROY_QP, so that libodp does not free the struct odp_qp another
 * thread is still connecting or accepting with; freed after the join.
 */
static int raw_destroy_qp(struct odp_qp *qp)
{
	struct odp_abi_destroy_qp a = { .qp_handle = qp->handle };

	return ioctl(qp->context->cmd_fd, ODP_IOC_DESTROY_QP, &a) ? errno : 0;
}

static void post_recvs(struct side *s, struct odp_qp *qp, int n)
{
	struct odp_sge sge = { (uintptr_t)s->buf, MSG, s->mr->lkey };
	struct odp_recv_wr wr = { .sg_list = &sge, .num_sge = 1 }, *bad;
	int i;

	/* In any state: a QP in error flushes them (and kicks its work). */
	for (i = 0; i < n; i++)
		odp_post_recv(qp, &wr, &bad);
}

static int post_sends(struct side *s, struct odp_qp *qp, int n)
{
	struct odp_sge sge = { (uintptr_t)s->buf, MSG, s->mr->lkey };
	struct odp_send_wr wr = { .sg_list = &sge, .num_sge = 1,
				  .opcode = ODP_WR_SEND,
				  .send_flags = ODP_SEND_SIGNALED }, *bad;
	int i, r = 0;

	for (i = 0; i < n && !r; i++)
		r = odp_post_send(qp, &wr, &bad);
	return r;
}

static void drain_cq(struct side *s)
{
	struct odp_wc wc[16];

	while (odp_poll_cq(s->cq, 16, wc) > 0)
		;
}

/* A blocking call in a thread of its own, and when it came back. */
struct call {
	pthread_t th;
	struct odp_qp *qp;
	struct odp_listener *ln;
	struct sockaddr_in dst;
	int ret;
	uint64_t done_ms;
	int done;
};

static void *connect_thread(void *p)
{
	struct call *c = p;

	c->ret = odp_connect(c->qp, (struct sockaddr *)&c->dst, CONNECT_TO_MS);
	c->done_ms = now_ms();
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *accept_thread(void *p)
{
	struct call *c = p;

	c->ret = odp_accept(c->ln, c->qp, CONNECT_TO_MS);
	c->done_ms = now_ms();
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void start(struct call *c, void *(*fn)(void *))
{
	if (pthread_create(&c->th, NULL, fn, c))
		FAIL("pthread_create");
}

/* Join a call that must come back by deadline (ms); FAIL if it does not. */
static void join(struct call *c, uint64_t deadline, const char *what)
{
	while (!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE)) {
		if (now_ms() > deadline)
			FAIL("%s still blocked %d ms after its QP was destroyed",
			     what, RETURN_BOUND_MS);
		usleep(1000);
	}
	pthread_join(c->th, NULL);
}

/* The errnos a connect or accept whose QP goes away may end with. */
static int errno_ok(int r, int tolerant)
{
	switch (r) {
	case 0:			/* done before the destroy */
	case ECONNREFUSED:	/* rejected */
	case ECONNABORTED:	/* its QP was destroyed */
	case ECONNRESET:	/* the peer's QP was destroyed first */
	case ETIMEDOUT:
	case EINVAL:		/* the QP handle was already gone */
		return 1;
	case ENODEV:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EADDRNOTAVAIL:
		return tolerant;
	default:
		return 0;
	}
}

static void count(int *hist, int r)
{
	hist[r < 0 || r > 127 ? 127 : r]++;
}

static void print_hist(const char *tag, const int *hist)
{
	int i;

	for (i = 0; i < 128; i++)
		if (hist[i])
			printf("%s.errno%d=%d ", tag, i, hist[i]);
	printf("\n");
}

static int qp_connect_refused_destroy(void)
{
	uint64_t end = now_ms() + race_ms();
	uint32_t seed = (uint32_t)getpid() * 2654435761u | 1;
	int hist[128] = { 0 };
	unsigned int iters = 0;
	struct side s;

	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing (odp.ko not loaded)");
	side_open(&s, 0);
	while (now_ms() < end) {
		struct call c = { .dst = sin_of(port_base() + 3) };
		uint64_t destroyed;
		int r;

		c.qp = new_qp(&s, 0);
		start(&c, connect_thread);
		/* From before the connect starts to after the REJ arrived. */
		usleep(rnd(&seed) % 4000);
		post_recvs(&s, c.qp, 2);
		r = raw_destroy_qp(c.qp);
		if (r)
			FAIL("DESTROY_QP of a connecting QP: %s", strerror(r));
		destroyed = now_ms();
		join(&c, destroyed + RETURN_BOUND_MS, "odp_connect");
		if (!errno_ok(c.ret, 0) || !c.ret)
			FAIL("odp_connect to a dead port whose QP was destroyed "
			     "returned %d (%s)", c.ret,
			     c.ret ? strerror(c.ret) : "success");
		count(hist, c.ret);
		free(c.qp);
		drain_cq(&s);
		iters++;
	}
	printf("iters=%u ", iters);
	print_hist("connect", hist);
	side_close(&s);
	return T_PASS;
}

/*
 * One round: a connect and an accept on the listener; after a random delay,
 * destroy the client QP, the server QP, or the listener (rejecting what is
 * pending), in a random order.  With traffic, a round that connected first
 * sends a few messages.  Returns 0, or (tolerant) an errno that says the
 * device went away.
 */
struct pair_stats {
	int conn[128], acc[128];
	unsigned int rounds, connected, listener_destroyed;
};

static int pair_round(struct side *cli, struct side *srv,
		      struct odp_listener **ln, uint16_t port, uint32_t *seed,
		      int traffic, int tolerant, struct pair_stats *st)
{
	struct call c = { .dst = sin_of(port) }, a = { 0 };
	uint32_t how = rnd(seed);
	uint64_t destroyed;
	int r;

	c.qp = new_qp(cli, tolerant);
	a.qp = new_qp(srv, tolerant);
	if (!c.qp || !a.qp) {
		r = errno;
		free(c.qp);	/* the context's close destroys it */
		free(a.qp);
		return r ?: ENODEV;
	}
	a.ln = *ln;
	post_recvs(srv, a.qp, 4);
	start(&a, accept_thread);
	start(&c, connect_thread);
	if (traffic && how % 2) {
		uint64_t until = now_ms() + CONNECT_TO_MS;

		/* Let it connect and carry some SENDs first. */
		while (!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE) &&
		       now_ms() < until)
			usleep(1000);
		if (__atomic_load_n(&c.done, __ATOMIC_ACQUIRE) && !c.ret)
			post_sends(cli, c.qp, 4);
		usleep(rnd(seed) % 2000);
	} else {
		usleep(rnd(seed) % 6000);
	}
	switch ((how >> 4) % 4) {
	case 0:
		r = raw_destroy_qp(c.qp) ?: raw_destroy_qp(a.qp);
		break;
	case 1:
		r = raw_destroy_qp(a.qp) ?: raw_destroy_qp(c.qp);
		break;
	case 2:
		/* Rejects the pending request, wakes the accept. */
		r = odp_destroy_listener(*ln);
		*ln = NULL;
		st->listener_destroyed++;
		r = r ?: raw_destroy_qp(c.qp) ?: raw_destroy_qp(a.qp);
		break;
	default:
		r = raw_destroy_qp(c.qp);
		usleep(rnd(seed) % 1000);
		r = r ?: raw_destroy_qp(a.qp);
		break;
	}
	if (r)
		FAIL("destroy in round %u: %s", st->rounds, strerror(r));
	destroyed = now_ms();
	join(&c, destroyed + RETURN_BOUND_MS, "odp_connect");
	join(&a, destroyed + RETURN_BOUND_MS, "odp_accept");
	if (!errno_ok(c.ret, tolerant))
		FAIL("odp_connect in round %u returned %d (%s)", st->rounds,
		     c.ret, strerror(c.ret));
	if (!errno_ok(a.ret, tolerant))
		FAIL("odp_accept in round %u returned %d (%s)", st->rounds,
		     a.ret, strerror(a.ret));
	count(st->conn, c.ret);
	count(st->acc, a.ret);
	st->connected += !c.ret && !a.ret;
	st->rounds++;
	free(c.qp);
	free(a.qp);
	drain_cq(cli);
	drain_cq(srv);
	/* Tolerant: an errno only a device going away gives, start over. */
	if (!errno_ok(c.ret, 0))
		return c.ret;
	if (!errno_ok(a.ret, 0))
		return a.ret;
	if (!*ln) {
		struct sockaddr_in src = sin_of(port);

		*ln = odp_listen(srv->ctx, (struct sockaddr *)&src, 4);
		if (!*ln)
			return errno;
	}
	return 0;
}

static void print_pairs(const struct pair_stats *st)
{
	printf("rounds=%u connected=%u listener_destroyed=%u\n", st->rounds,
	       st->connected, st->listener_destroyed);
	print_hist("connect", st->conn);
	print_hist("accept", st->acc);
}

static int qp_accept_reject_destroy(void)
{
	uint64_t end = now_ms() + race_ms();
	uint32_t seed = (uint32_t)getpid() * 2246822519u | 1;
	uint16_t port = port_base();
	struct sockaddr_in src = sin_of(port);
	struct pair_stats st = { 0 };
	struct odp_listener *ln;
	struct side cli, srv;

	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing (odp.ko not loaded)");
	side_open(&srv, 0);
	side_open(&cli, 0);
	ln = odp_listen(srv.ctx, (struct sockaddr *)&src, 4);
	if (!ln)
		FAIL("odp_listen(%s:%u): %s", ADDR, port, strerror(errno));
	while (now_ms() < end) {
		int r = pair_round(&cli, &srv, &ln, port, &seed, 0, 0, &st);

		if (r)
			FAIL("odp_listen again: %s", strerror(r));
	}
	print_pairs(&st);
	if (ln)
		EXPECT_OK(odp_destroy_listener(ln));
	side_close(&cli);
	side_close(&srv);
	return T_PASS;
}

/*
 * For ODP_RACE_MS: pairs with traffic while the device may vanish and come
 * back (the harness does `rdma link del` / `add`).  A context whose device
 * went is closed and a new one bound, as soon as the device is back.
 */
static int qp_race_devremove(void)
{
	uint64_t end = now_ms() + race_ms();
	uint32_t seed = (uint32_t)getpid() * 3266489917u | 1;
	uint16_t port = port_base() + 1;
	struct pair_stats st = { 0 };
	unsigned int reopened = 0;
	struct odp_listener *ln = NULL;
	struct side cli = { 0 }, srv = { 0 };

	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing (odp.ko not loaded)");
	while (now_ms() < end) {
		struct sockaddr_in src = sin_of(port);
		int r;

		if (!srv.ctx || !cli.ctx || !ln) {
			side_close(&cli);
			side_close(&srv);
			if (side_open(&srv, 1) || side_open(&cli, 1)) {
				usleep(50000);
				continue;
			}
			ln = odp_listen(srv.ctx, (struct sockaddr *)&src, 4);
			if (!ln) {
				usleep(50000);
				continue;
			}
			reopened++;
		}
		r = pair_round(&cli, &srv, &ln, port, &seed, 1, 1, &st);
		/* The device went: start over (closing destroys the rest). */
		if (r)
			ln = NULL;
	}
	printf("reopened=%u ", reopened);
	print_pairs(&st);
	side_close(&cli);
	side_close(&srv);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "qp_connect_refused_destroy", qp_connect_refused_destroy },
	{ "qp_accept_reject_destroy", qp_accept_reject_destroy },
	{ "qp_race_devremove", qp_race_devremove },
};

TEST_MAIN(tests)
