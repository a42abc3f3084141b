// SPDX-License-Identifier: MIT
/*
 * Network namespaces: a context lives in the network namespace of the
 * process that opened /dev/odp, as a socket does.  A process in a fresh
 * namespace (unshare(CLONE_NEWNET): only a loopback that is down, no route
 * anywhere) must not reach 10.99.0.1, which exists only in the initial
 * namespace, nor listen on it, nor receive connections from the initial
 * namespace on a wildcard listener.
 *
 * Each test runs the side in the fresh namespace in a child that calls
 * unshare() before it opens /dev/odp; the initial-namespace side runs in the
 * test process.  A step of the isolated side may fail at any point (bind,
 * listen, connect): any error is isolation.  Every wait is bounded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define IBDEV		"rxe0"
#define ADDR		"10.99.0.1"
#define CONNECT_TIMEOUT_MS 3000
/* A failing connect must end within this (the timeout plus slack). */
#define CONNECT_BOUND_MS   6000
#define ACCEPT_TIMEOUT_MS  10000

static uint16_t test_port(int off)
{
	const char *s = getenv("ODP_NETNS_PORT");
	long base = s ? strtol(s, NULL, 0) : 0;

	if (base <= 0 || base > 65000)
		base = 19000 + (getpid() % 1000) * 4;
	return (uint16_t)(base + off);
}

static struct sockaddr_in sin_of(const char *addr, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		FAIL("inet_pton(%s)", addr);
	return sin;
}

/* ---- one side: context, PD, CQ, QP ---------------------------------- */

struct side {
	struct odp_context *ctx;
	struct odp_pd *pd;
	struct odp_cq *cq;
	struct odp_qp *qp[2];
	const char *step;	/* the step that failed */
	int err;
};

static struct odp_qp *new_qp(struct side *s)
{
	struct odp_qp_init_attr attr = { 0 };

	attr.send_cq = s->cq;
	attr.recv_cq = s->cq;
	attr.cap.max_send_wr = 4;
	attr.cap.max_recv_wr = 4;
	attr.qp_type = ODP_QPT_RC;
	return odp_create_qp(s->pd, &attr);
}

/* 0, or the errno of the step that failed (named in s->step). */
static int side_open(struct side *s, int nqp)
{
	int i;

	memset(s, 0, sizeof(*s));
	s->step = "odp_open_device";
	s->ctx = odp_open_device(NULL);
	if (!s->ctx)
		return s->err = errno;
	s->step = "odp_bind_device";
	s->err = odp_bind_device(s->ctx, IBDEV, 1, NULL);
	if (s->err)
		return s->err;
	s->step = "odp_alloc_pd";
	s->pd = odp_alloc_pd(s->ctx);
	if (!s->pd)
		return s->err = errno;
	s->step = "odp_create_cq";
	s->cq = odp_create_cq(s->ctx, 16);
	if (!s->cq)
		return s->err = errno;
	s->step = "odp_create_qp";
	for (i = 0; i < nqp; i++) {
		s->qp[i] = new_qp(s);
		if (!s->qp[i])
			return s->err = errno;
	}
	s->step = NULL;
	return 0;
}

/* ---- a blocked accept in a thread, waited for with a bound ---------- */

struct accepter {
	struct odp_listener *ln;
	struct odp_qp *qp;
	pthread_t th;
	int ret;
	volatile int done;
};

static void *accept_fn(void *p)
{
	struct accepter *a = p;

	a->ret = odp_accept(a->ln, a->qp, ACCEPT_TIMEOUT_MS);
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void accept_start(struct accepter *a, struct odp_listener *ln,
			 struct odp_qp *qp)
{
	memset(a, 0, sizeof(*a));
	a->ln = ln;
	a->qp = qp;
	if (pthread_create(&a->th, NULL, accept_fn, a))
		FAIL("pthread_create");
}

/* 1 once the accept returned (joined), 0 if still blocked after ms. */
static int accept_wait(struct accepter *a, unsigned int ms)
{
	uint64_t end = now_ms() + ms;

	while (!__atomic_load_n(&a->done, __ATOMIC_ACQUIRE)) {
		if (now_ms() > end)
			return 0;
		usleep(5000);
	}
	pthread_join(a->th, NULL);
	return 1;
}

/* ---- the side in a fresh namespace, in a child ---------------------- */

/* What the child reports, in a shared page. */
struct report {
	volatile int phase;	/* 1: result written; 2: listening */
	int err;		/* errno of the failed step, 0 if all worked */
	char step[32];
	unsigned long long ms;	/* how long the last step took */
	int accept_ret;
};

static struct report *report_page(void)
{
	struct report *r = mmap(NULL, (size_t)page_size, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (r == MAP_FAILED)
		FAIL("mmap: %s", strerror(errno));
	memset(r, 0, sizeof(*r));
	return r;
}

static void report_step(struct report *r, const char *step, int err)
{
	r->err = err;
	snprintf(r->step, sizeof(r->step), "%s", step ? step : "");
}

/* Wait until the child reached phase (or exited); 1 if it did. */
static int wait_phase(struct report *r, pid_t pid, int phase, unsigned int ms)
{
	uint64_t end = now_ms() + ms;
	int status;

	while (__atomic_load_n(&r->phase, __ATOMIC_ACQUIRE) < phase) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			FAIL("the child exited (status 0x%x) before phase %d",
			     status, phase);
		if (now_ms() > end)
			return 0;
		usleep(5000);
	}
	return 1;
}

static void reap(pid_t pid)
{
	uint64_t end = now_ms() + 10000;
	int status;

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ms() > end)
			FAIL("child %d did not exit within 10 s of SIGKILL", pid);
		usleep(5000);
	}
}

static pid_t fork_isolated(void)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	alarm(60);
	if (unshare(CLONE_NEWNET))
		SKIP("unshare(CLONE_NEWNET): %s", strerror(errno));
	return 0;
}

/* A client connecting to ADDR:port, in a fresh namespace or not. */
static pid_t fork_client(struct report *r, uint16_t port, int isolate)
{
	struct sockaddr_in dst = sin_of(ADDR, port);
	pid_t parent = getpid(), pid;
	struct side s;
	uint64_t t0;
	int err;

	if (isolate) {
		pid = fork_isolated();
	} else {
		pid = fork();
		if (pid < 0)
			FAIL("fork: %s", strerror(errno));
		if (!pid) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(1);
			alarm(60);
		}
	}
	if (pid)
		return pid;

	t0 = now_ms();
	err = side_open(&s, 1);
	if (!err) {
		s.step = "odp_connect";
		err = odp_connect(s.qp[0], (struct sockaddr *)&dst,
				  CONNECT_TIMEOUT_MS);
	}
	r->ms = now_ms() - t0;
	report_step(r, err ? s.step : NULL, err);
	__atomic_store_n(&r->phase, 1, __ATOMIC_RELEASE);
	/* Stay connected until the parent has seen the accept through. */
	pause();
	_exit(0);
}

/*
 * Server on ADDR in the initial namespace.  A client in the same namespace
 * connects (the control); a client in a fresh namespace must not.
 */
static int netns_connect_out(void)
{
	uint16_t port = test_port(0);
	struct sockaddr_in src = sin_of(ADDR, port);
	struct report *rep = report_page();
	struct odp_listener *ln;
	struct accepter acc;
	struct side srv;
	pid_t pid;
	int r;

	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing (odp.ko not loaded)");
	r = side_open(&srv, 2);
	if (r == ENODEV && !strcmp(srv.step, "odp_bind_device"))
		SKIP("no RDMA device %s", IBDEV);
	if (r)
		FAIL("server %s: %s", srv.step, strerror(r));
	ln = odp_listen(srv.ctx, (struct sockaddr *)&src, 4);
	if (!ln)
		FAIL("odp_listen(%s:%u): %s", ADDR, port, strerror(errno));

	/* Control: the same client in the initial namespace connects. */
	accept_start(&acc, ln, srv.qp[0]);
	pid = fork_client(rep, port, 0);
	if (!wait_phase(rep, pid, 1, 20000))
		FAIL("control client: no result within 20 s");
	printf("control.connect_errno=%d control.step=%s control.ms=%llu\n",
	       rep->err, rep->step[0] ? rep->step : "none", rep->ms);
	if (rep->err)
		FAIL("control client in the initial namespace: %s: %s",
		     rep->step, strerror(rep->err));
	if (!accept_wait(&acc, ACCEPT_TIMEOUT_MS + 5000))
		FAIL("control: the server's accept did not return");
	if (acc.ret)
		FAIL("control: the server's accept: %s", strerror(acc.ret));
	reap(pid);

	/* The client in a fresh namespace. */
	memset(rep, 0, sizeof(*rep));
	accept_start(&acc, ln, srv.qp[1]);
	pid = fork_client(rep, port, 1);
	if (!wait_phase(rep, pid, 1, CONNECT_BOUND_MS + 10000))
		FAIL("client in a fresh netns: no result within %d ms",
		     CONNECT_BOUND_MS + 10000);
	printf("netns.connect_errno=%d netns.step=%s netns.ms=%llu\n",
	       rep->err, rep->step[0] ? rep->step : "none", rep->ms);
	/* Wake the accept (no connection came, or the escaped one did). */
	if (!accept_wait(&acc, rep->err ? 0 : ACCEPT_TIMEOUT_MS + 5000)) {
		EXPECT_OK(odp_destroy_listener(ln));
		ln = NULL;
		if (!accept_wait(&acc, 5000))
			FAIL("the server's accept did not end after its listener "
			     "was destroyed");
	}
	printf("netns.server_accept=%d\n", acc.ret);
	reap(pid);
	if (!rep->err)
		FAIL("a client in a fresh network namespace (no route to %s) "
		     "connected to %s:%u, a listener of the initial namespace "
		     "(server accept: %s): rdma_cm ids ignore the caller's "
		     "namespace", ADDR, ADDR, port,
		     acc.ret ? strerror(acc.ret) : "success");
	if (rep->ms > CONNECT_BOUND_MS)
		FAIL("the isolated client took %llu ms to fail (%s: %s), bound %d ms",
		     rep->ms, rep->step, strerror(rep->err), CONNECT_BOUND_MS);
	if (ln)
		EXPECT_OK(odp_destroy_listener(ln));
	EXPECT_OK(odp_close_device(srv.ctx));
	return T_PASS;
}

/* In a fresh namespace, listening on ADDR (absent there) must fail. */
static int netns_listen_addr(void)
{
	uint16_t port = test_port(1);
	struct sockaddr_in src = sin_of(ADDR, port);
	struct odp_listener *ln;
	struct side s;
	int r;

	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing (odp.ko not loaded)");
	alarm(60);
	if (unshare(CLONE_NEWNET))
		SKIP("unshare(CLONE_NEWNET): %s", strerror(errno));
	r = side_open(&s, 0);
	if (r) {
		/* Isolated already at this step: nothing to listen with. */
		printf("netns.step=%s netns.errno=%d listen_errno=-1\n", s.step, r);
		return T_PASS;
	}
	ln = odp_listen(s.ctx, (struct sockaddr *)&src, 4);
	r = ln ? 0 : errno;
	printf("listen_errno=%d\n", r);
	if (ln)
		FAIL("odp_listen(%s:%u) succeeded in a fresh network namespace, "
		     "where %s does not exist", ADDR, port, ADDR);
	EXPECT_OK(odp_close_device(s.ctx));
	return T_PASS;
}

/*
 * A wildcard listener in a fresh namespace; a client in the initial
 * namespace connecting to ADDR:port must not reach it.
 */
static int netns_listen_any(void)
{
	uint16_t port = test_port(2);
	struct report *rep = report_page();
	struct sockaddr_in dst = sin_of(ADDR, port);
	struct side cli;
	uint64_t t0, ms;
	pid_t pid;
	int r;

	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing (odp.ko not loaded)");
	pid = fork_isolated();
	if (!pid) {
		struct sockaddr_in any = sin_of("0.0.0.0", port);
		struct odp_listener *ln;
		struct accepter acc;
		struct side s;

		r = side_open(&s, 1);
		if (r) {
			report_step(rep, s.step, r);
			__atomic_store_n(&rep->phase, 2, __ATOMIC_RELEASE);
			pause();
			_exit(0);
		}
		ln = odp_listen(s.ctx, (struct sockaddr *)&any, 4);
		if (!ln) {
			report_step(rep, "odp_listen", errno);
			__atomic_store_n(&rep->phase, 2, __ATOMIC_RELEASE);
			pause();
			_exit(0);
		}
		accept_start(&acc, ln, s.qp[0]);
		__atomic_store_n(&rep->phase, 2, __ATOMIC_RELEASE);
		/* Until the parent's connect is over (phase 3), then report. */
		while (__atomic_load_n(&rep->phase, __ATOMIC_ACQUIRE) < 3)
			usleep(5000);
		if (!accept_wait(&acc, 0)) {
			odp_destroy_listener(ln);
			accept_wait(&acc, 5000);
		}
		rep->accept_ret = acc.ret;
		__atomic_store_n(&rep->phase, 4, __ATOMIC_RELEASE);
		pause();
		_exit(0);
	}

	if (!wait_phase(rep, pid, 2, 20000))
		FAIL("isolated listener: not ready within 20 s");
	printf("netns.listen_step=%s netns.listen_errno=%d\n",
	       rep->step[0] ? rep->step : "none", rep->err);
	if (rep->err) {
		/* No listener in the fresh namespace: nothing can reach it. */
		reap(pid);
		return T_PASS;
	}

	r = side_open(&cli, 1);
	if (r)
		FAIL("client %s: %s", cli.step, strerror(r));
	t0 = now_ms();
	r = odp_connect(cli.qp[0], (struct sockaddr *)&dst, CONNECT_TIMEOUT_MS);
	ms = now_ms() - t0;
	__atomic_store_n(&rep->phase, 3, __ATOMIC_RELEASE);
	wait_phase(rep, pid, 4, 10000);
	printf("connect_errno=%d connect_ms=%llu netns.accept=%d\n", r,
	       (unsigned long long)ms, rep->accept_ret);
	reap(pid);
	if (!r)
		FAIL("a client in the initial namespace connected to %s:%u, "
		     "reaching a wildcard listener of another network namespace "
		     "(its accept: %s)", ADDR, port,
		     rep->accept_ret ? strerror(rep->accept_ret) : "success");
	if (ms > CONNECT_BOUND_MS)
		FAIL("the connect took %llu ms to fail, bound %d ms",
		     (unsigned long long)ms, CONNECT_BOUND_MS);
	EXPECT_OK(odp_close_device(cli.ctx));
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "netns_connect_out", netns_connect_out },
	{ "netns_listen_addr", netns_listen_addr },
	{ "netns_listen_any", netns_listen_any },
};

TEST_MAIN(tests)
