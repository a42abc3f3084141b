// SPDX-License-Identifier: MIT
/*
 * rdma_ops: RDMA scenarios between two processes (one VM, loopback on rxe0)
 * or two hosts, over libodp; built again as ibv_ops (-DRDMA_IBV, ibv_ops.c)
 * over plain libibverbs + librdmacm with pinned MRs.
 *
 *   rdma_ops server [-b ADDR] [-p PORT] [-t TEST] [-d DEV] [-T SEC]
 *   rdma_ops client [-p PORT] [-t TEST] [-d DEV] [-T SEC] ADDR
 *   rdma_ops -l                       the tests: name, flags, what it checks
 *
 * With -t both sides run one session of TEST in the calling process.
 * Without -t the client runs every test that needs no outside action (each
 * in a child process, one session each) and then ends the server, which
 * serves sessions (each in a child) until then.  Exit status: 0 pass, 1 fail,
 * 77 skip (all-tests mode: 1 if any failed).
 *
 * A session is one control connection plus the test's data connections, all
 * RC QPs on the same PD.  The client drives: it names the test (HELLO) and
 * then sends the server small requests over the control QP (SEND/RECV) -
 * allocate and register a buffer, fill or check it, madvise it, post or
 * expect a receive, post SENDs of its own, start a thread that invalidates
 * it, ... - so the server
 * is one generic responder and every scenario is written on the client side.
 * Addresses and rkeys travel in those messages, never over TCP.  A failing
 * side says why on stderr, tells the peer (which fails too, quoting it) and
 * exits 1.
 *
 * Output: `key=value` tokens.  `client.<counter>` / `server.<counter>` are
 * the ODP counter deltas of the test's main local MR of each side
 * (`odp_query_mr_stats()`; zeros under ibverbs), plus per-test values.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rdma.h"

#define DEFAULT_PORT	18600
#define CTRL_SLOTS	8
#define SLOT_SIZE	1024
#define CTRL_WRID	0xc0de0000ULL
#define CTRL_SEND_WRID	(CTRL_WRID + 0xff)
#define MAX_REGIONS	16
#define MAX_LINKS	2
#define MAX_PAGES	64
#define GUARD		64		/* bytes mapped after every buffer */
#define MAX_RSGE	5		/* SGEs of a receive the server posts */

/* ---- options ---------------------------------------------------------- */

static struct {
	int		port;
	const char	*bind;
	const char	*addr;
	const char	*test;
	const char	*dev;
	int		timeout_ms;	/* one completion or reply */
	int		connect_ms;	/* connecting, accepting */
} opt = {
	.port		= DEFAULT_PORT,
	.timeout_ms	= 30000,
	.connect_ms	= 60000,
};

/* ---- messages --------------------------------------------------------- */

enum msg_type { M_HELLO = 1, M_QUIT, M_REQ, M_ACK, M_FAIL };

/* Requests of the client; the server's answers are in the handlers. */
enum op {
	OP_ALLOC = 1, OP_FREE, OP_UNMAP, OP_DONTNEED, OP_FILL, OP_CHECK,
	OP_CHECK_ALL, OP_FILL_STRIDED, OP_CHECK_STRIDED, OP_SET64, OP_GET64,
	OP_POST_RECV, OP_EXPECT_RECV, OP_NO_RECV, OP_STATS, OP_MUTATE_START,
	OP_MUTATE_STOP, OP_SNAP, OP_ROUND_CHECK, OP_RECONNECT, OP_DONE,
	OP_RECV_REFILL, OP_RECV_DESTROY, OP_POST_SEND, OP_EXPECT_SEND, OP_NO_WC,
	OP_DIFF,
};

/* Session flags (HELLO a[1]). */
#define F_PEER_MAY_DIE	1	/* the peer may vanish: not a failure */

/* Everything from `type` on is 64-bit words, big-endian on the wire. */
struct msg {
	char		name[48];
	char		text[256];
	uint64_t	type;
	uint64_t	op;
	uint64_t	a[16];
	uint64_t	v[16];
};

_Static_assert(sizeof(struct msg) <= SLOT_SIZE, "a message fits a slot");

/* ---- sessions --------------------------------------------------------- */

enum mut_mode { MUT_NONE, MUT_DONTNEED, MUT_MUNMAP, MUT_MPROTECT };
static const char *const mut_names[] = { "none", "dontneed", "munmap", "mprotect" };

struct region {
	struct mapping	map;
	char		*buf;		/* map.addr + off */
	size_t		len;		/* of the MR */
	size_t		off;
	xmr		*mr;
	struct stats	base;		/* counters at registration */
	int		live;
	int		unmapped;
};

/*
 * A thread that keeps invalidating pages of a region (MADV_DONTNEED, munmap
 * + mmap again, or mprotect and back), one random page at a time.  Per page
 * it counts the mutations started and done, under `lock`, which it holds for
 * the whole mutation: a checker that takes the lock sees whole pages, and
 * knows from the counts whether a mutation overlapped a window.
 */
struct mutator {
	struct region	*r;
	int		npages;
	int		mode;
	int		prot;		/* MUT_MPROTECT: PROT_READ or PROT_NONE */
	unsigned int	period_us;
	unsigned int	hole_us;	/* how long a page stays unmapped/protected */
	unsigned long	max_ops;
	unsigned int	rng;
	pthread_t	th;
	int		running;
	volatile int	stop;
	pthread_mutex_t	lock;
	unsigned long	started[MAX_PAGES];
	unsigned long	done[MAX_PAGES];
	unsigned long	snap[MAX_PAGES];
	unsigned char	snap_busy[MAX_PAGES];
	unsigned long	ops;
};

struct sess {
	struct ep	*ep;
	int		server;
	uint64_t	flags;
	struct link	ctrl;
	struct mapping	ctrl_map;
	xmr		*ctrl_mr;
	int		ctrl_up;
	int		peer_failed;
	struct link	data[MAX_LINKS];
	int		ndata;
	struct link_caps data_caps;
	int		recv_posted[MAX_LINKS];	/* server: not yet expected */
	struct region	reg[MAX_REGIONS];
	struct mutator	*mut[MAX_REGIONS];
	uint32_t	known[MAX_PAGES];	/* server, races: seed per page (0: zeros) */
	unsigned long	chk_started[MAX_PAGES];	/* mutations begun by the last check */
	uint64_t	chk_pfn[MAX_PAGES];	/* the page's pfn at the last check */
	uint64_t	race_raddr;		/* client, races: the server's buffer */
	uint32_t	race_rkey;
};

static struct sess *the_sess;		/* for the failure hook */

/*
 * One receive more than the slots posted: the control path must not depend
 * on re-posting into a receive queue that is exactly full the moment a
 * completion was polled - post_recv_refill tests that on its own.
 */
static const struct link_caps ctrl_caps = {
	.max_send_wr = 4, .max_recv_wr = CTRL_SLOTS + 1,
	.max_send_sge = 1, .max_recv_sge = 1, .cqe = 64,
};
static const struct link_caps default_data_caps = {
	.max_send_wr = 256, .max_recv_wr = 256,
	.max_send_sge = 16, .max_recv_sge = 16, .cqe = 1024,
};

/* ---- completions ------------------------------------------------------ */

/* One completion of cq within timeout_ms: 1, or 0 on timeout. */
static int poll_wait(xcq *cq, xwc *wc, int timeout_ms)
{
	uint64_t end = 0;
	unsigned int spins = 0;

	for (;;) {
		int n = x_poll_cq(cq, 1, wc);

		if (n < 0)
			FAIL("poll_cq: %s", strerror(-n));
		if (n)
			return 1;
		/* Two vCPUs: let the kernel's work items run, do not spin. */
		if (spins < 16) {
			spins++;
			sched_yield();
			continue;
		}
		if (!end)
			end = now_ms() + (uint64_t)timeout_ms;
		else if (now_ms() > end)
			return 0;
		sleep_us(200);
	}
}

static const char *st(int status)
{
	return x_status_str(status);
}

/* The next completion of cq must be wr_id with status (and opcode, if >= 0). */
static void expect_wc(xcq *cq, uint64_t wr_id, int status, int opcode,
		      const char *what)
{
	xwc wc;

	if (!poll_wait(cq, &wc, opt.timeout_ms))
		FAIL("%s: no completion for wr_id %llu within %d ms", what,
		     (unsigned long long)wr_id, opt.timeout_ms);
	if (wc.wr_id != wr_id || (int)wc.status != status)
		FAIL("%s: completion wr_id %llu status %s (%d), expected wr_id "
		     "%llu status %s (%d)", what, (unsigned long long)wc.wr_id,
		     st(wc.status), wc.status, (unsigned long long)wr_id,
		     st(status), status);
	if (status == X_WC_SUCCESS && opcode >= 0 && (int)wc.opcode != opcode)
		FAIL("%s: completion opcode %d, expected %d", what, wc.opcode,
		     opcode);
}

/*
 * Under ibverbs only: rxe (the anchor) departs from the verbs spec in a few
 * statuses.  Where a test knows it, it accepts rxe's value as well and says
 * so (`rxe_deviation=...`); the odp build never accepts it.
 */
static void expect_wc_rxe(xcq *cq, uint64_t wr_id, int status, int rxe_status,
			  const char *what)
{
	xwc wc;

	if (xport_has_odp || rxe_status < 0) {
		expect_wc(cq, wr_id, status, -1, what);
		return;
	}
	if (!poll_wait(cq, &wc, opt.timeout_ms))
		FAIL("%s: no completion for wr_id %llu within %d ms", what,
		     (unsigned long long)wr_id, opt.timeout_ms);
	if (wc.wr_id != wr_id ||
	    ((int)wc.status != status && (int)wc.status != rxe_status))
		FAIL("%s: completion wr_id %llu status %s (%d), expected wr_id "
		     "%llu status %s (%d) (or rxe's %d)", what,
		     (unsigned long long)wc.wr_id, st(wc.status), wc.status,
		     (unsigned long long)wr_id, st(status), status, rxe_status);
	if ((int)wc.status == rxe_status && rxe_status != status)
		printf("rxe_deviation=%d (%s: %s instead of %s)\n", rxe_status,
		       what, st(rxe_status), st(status));
}

/* No completion on cq for wait_ms. */
static void expect_no_wc(xcq *cq, int wait_ms, const char *what)
{
	xwc wc;

	if (poll_wait(cq, &wc, wait_ms))
		FAIL("%s: unexpected completion wr_id %llu status %s (%d) "
		     "opcode %d", what, (unsigned long long)wc.wr_id,
		     st(wc.status), wc.status, wc.opcode);
}

/* ---- the control connection ------------------------------------------- */

static void msg_swap(struct msg *m)
{
	uint64_t *w = &m->type;
	size_t n = (sizeof(*m) - offsetof(struct msg, type)) / sizeof(uint64_t);

	for (size_t i = 0; i < n; i++)
		w[i] = htobe64(w[i]);
}

static void ctrl_post_slot(struct sess *s, int slot)
{
	xsge sge = {
		.addr	= (uintptr_t)(s->ctrl_map.addr + slot * SLOT_SIZE),
		.length	= SLOT_SIZE,
		.lkey	= s->ctrl_mr->lkey,
	};
	xrecv_wr wr, *bad;
	int err;

	memset(&wr, 0, sizeof(wr));
	wr.wr_id = CTRL_WRID + (uint64_t)slot;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	err = x_post_recv(&s->ctrl, &wr, &bad);
	if (err)
		FAIL("post_recv (control): %s", strerror(err));
}

static void ctrl_prep(struct link *l, void *arg)
{
	struct sess *s = arg;

	s->ctrl.qp = l->qp;	/* ctrl_post_slot() posts on s->ctrl */
	for (int i = 0; i < CTRL_SLOTS; i++) {
		xsge sge = {
			.addr	= (uintptr_t)(s->ctrl_map.addr + i * SLOT_SIZE),
			.length	= SLOT_SIZE,
			.lkey	= s->ctrl_mr->lkey,
		};
		xrecv_wr wr, *bad;
		int err;

		memset(&wr, 0, sizeof(wr));
		wr.wr_id = CTRL_WRID + (uint64_t)i;
		wr.sg_list = &sge;
		wr.num_sge = 1;
		err = x_post_recv(l, &wr, &bad);
		if (err)
			FAIL("post_recv (control): %s", strerror(err));
	}
}

/* Send one message and wait for its completion: 0, or -1 (never FAILs). */
static int ctrl_send_raw(struct sess *s, const struct msg *m, int timeout_ms)
{
	char *slot = s->ctrl_map.addr + CTRL_SLOTS * SLOT_SIZE;
	xsge sge = {
		.addr	= (uintptr_t)slot,
		.length	= sizeof(*m),
		.lkey	= s->ctrl_mr->lkey,
	};
	xsend_wr wr, *bad;
	xwc wc;
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	memcpy(slot, m, sizeof(*m));
	msg_swap((struct msg *)slot);
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = CTRL_SEND_WRID;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = X_WR_SEND;
	wr.send_flags = X_SEND_SIGNALED;
	if (x_post_send(&s->ctrl, &wr, &bad))
		return -1;
	for (;;) {
		int n = x_poll_cq(s->ctrl.scq, 1, &wc);

		if (n < 0)
			return -1;
		if (n)
			return wc.status == X_WC_SUCCESS ? 0 : -1;
		if (now_ms() > end)
			return -1;
		sleep_us(200);
	}
}

static void msg_send(struct sess *s, const struct msg *m)
{
	if (ctrl_send_raw(s, m, opt.timeout_ms)) {
		s->ctrl_up = 0;
		FAIL("control message (type %llu op %llu) not delivered: the "
		     "peer is gone", (unsigned long long)m->type,
		     (unsigned long long)m->op);
	}
}

/*
 * The next control message.  Returns -1 if the control connection broke
 * and the session allows the peer to vanish; FAILs otherwise, and when the
 * peer reports its failure.
 */
static int msg_recv(struct sess *s, struct msg *m, int timeout_ms)
{
	xwc wc;
	int slot;

	if (!poll_wait(s->ctrl.rcq, &wc, timeout_ms))
		FAIL("no control message from the %s for %d ms",
		     s->server ? "client" : "server", timeout_ms);
	if (wc.status != X_WC_SUCCESS) {
		s->ctrl_up = 0;
		if (s->flags & F_PEER_MAY_DIE)
			return -1;
		FAIL("control connection lost: receive completed with %s (%d)",
		     st(wc.status), wc.status);
	}
	slot = (int)(wc.wr_id - CTRL_WRID);
	if (slot < 0 || slot >= CTRL_SLOTS)
		FAIL("control receive with wr_id %#llx",
		     (unsigned long long)wc.wr_id);
	memcpy(m, s->ctrl_map.addr + slot * SLOT_SIZE, sizeof(*m));
	msg_swap(m);
	m->name[sizeof(m->name) - 1] = 0;
	m->text[sizeof(m->text) - 1] = 0;
	ctrl_post_slot(s, slot);
	if (m->type == M_FAIL) {
		s->peer_failed = 1;
		FAIL("the %s failed: %s", s->server ? "client" : "server",
		     m->text);
	}
	return 0;
}

/* Client: a request and its answer (in *m). */
static void call(struct sess *s, struct msg *m)
{
	uint64_t op = m->op;

	m->type = M_REQ;
	msg_send(s, m);
	if (msg_recv(s, m, 4 * opt.timeout_ms) < 0)
		FAIL("the server vanished (request %llu)", (unsigned long long)op);
	if (m->type != M_ACK || m->op != op)
		FAIL("answer type %llu op %llu to request %llu",
		     (unsigned long long)m->type, (unsigned long long)m->op,
		     (unsigned long long)op);
}

static void send_fail(const char *text)
{
	struct sess *s = the_sess;
	struct msg m;

	if (!s || !s->ctrl_up || s->peer_failed)
		return;
	memset(&m, 0, sizeof(m));
	m.type = M_FAIL;
	snprintf(m.text, sizeof(m.text), "%s: %s", cur_test, text);
	ctrl_send_raw(s, &m, 2000);
}

/* ---- regions ---------------------------------------------------------- */

static void mut_stop(struct sess *s, int idx);

static void region_free(struct sess *s, int idx)
{
	struct region *r = &s->reg[idx];
	int err;

	mut_stop(s, idx);
	if (r->mr && (err = x_dereg_mr(r->mr)))
		FAIL("dereg_mr: %s", strerror(err));
	if (!r->unmapped)
		map_destroy(&r->map);
	memset(r, 0, sizeof(*r));
}

/*
 * Buffer idx: len bytes at offset off into a fresh mapping of the kind
 * (GUARD more bytes mapped after it), registered with access (< 0: not
 * registered) on the first or second PD.
 */
static struct region *region_new(struct sess *s, int idx, size_t len,
				 size_t off, int kind, int access, int pd2)
{
	struct region *r;

	if (idx < 0 || idx >= MAX_REGIONS)
		FAIL("region %d out of range", idx);
	r = &s->reg[idx];
	if (r->live)
		region_free(s, idx);
	map_create(&r->map, off + len + GUARD, kind);
	r->buf = r->map.addr + off;
	r->len = len;
	r->off = off;
	if (access >= 0) {
		xpd *pd = pd2 ? ep_pd2(s->ep) : ep_pd(s->ep);

		r->mr = ep_reg_mr(pd, r->buf, len, access);
		if (!r->mr)
			FAIL("reg_mr(%zu bytes, access %#x): %s", len, access,
			     strerror(errno));
		mr_stats(r->mr, &r->base);
	}
	r->live = 1;
	return r;
}

static struct region *region_get(struct sess *s, uint64_t idx)
{
	if (idx >= MAX_REGIONS || !s->reg[idx].live)
		FAIL("no region %llu", (unsigned long long)idx);
	return &s->reg[idx];
}

/* Throw the pages away: they fault again (ODP only; pinned MRs would break). */
static void region_dontneed(struct region *r)
{
	if (xport_has_odp && madvise(r->map.addr, r->map.len, MADV_DONTNEED))
		FAIL("madvise(MADV_DONTNEED): %s", strerror(errno));
}

static void region_delta(struct region *r, struct stats *d)
{
	struct stats now;

	mr_stats(r->mr, &now);
	stats_delta(&r->base, &now, d);
}

/* A pointer into the mapping of r, off bytes from r->buf (may be < 0). */
static char *region_at(struct region *r, int64_t off, uint64_t len)
{
	int64_t from = (int64_t)r->off + off;

	if (from < 0 || (uint64_t)from + len > r->map.len)
		FAIL("range %lld+%llu outside the mapping of %zu bytes",
		     (long long)off, (unsigned long long)len, r->map.len);
	return r->map.addr + from;
}

static xsge sge_of(struct region *r, size_t off, size_t len)
{
	xsge g = {
		.addr	= (uintptr_t)(r->buf + off),
		.length	= (uint32_t)len,
		.lkey	= r->mr->lkey,
	};
	return g;
}

/*
 * n segments: segment i at base + i * stride, len0 + i * inc bytes of the
 * pattern seed0 + i.
 */
static void fill_strided(char *buf, int n, size_t base, size_t stride,
			 size_t len0, size_t inc, uint32_t seed0)
{
	for (int i = 0; i < n; i++)
		fill_pattern(buf + base + i * stride, len0 + i * inc, seed0 + i);
}

/* The segments, and every other byte of [buf, buf + total) is zero. */
static void check_strided(const char *buf, size_t total, int n, size_t base,
			  size_t stride, size_t len0, size_t inc,
			  uint32_t seed0, const char *what)
{
	size_t pos = 0;

	for (int i = 0; i <= n; i++) {
		size_t start = i < n ? base + i * stride : total;
		long d = diff_bytes(buf + pos, start - pos, 0);

		if (d >= 0)
			FAIL("%s: byte %zu (before segment %d) is 0x%02x, "
			     "expected 0 (untouched)", what, pos + (size_t)d, i,
			     (uint8_t)buf[pos + (size_t)d]);
		if (i == n)
			break;
		d = diff_pattern(buf + start, len0 + i * inc, seed0 + i);
		if (d >= 0)
			FAIL("%s: segment %d (%zu bytes at %zu): byte %ld is "
			     "0x%02x, expected 0x%02x", what, i, len0 + i * inc,
			     start, d, (uint8_t)buf[start + (size_t)d],
			     pattern_byte(seed0 + i, (size_t)d));
		pos = start + len0 + i * inc;
	}
}

/* ---- the mutator ------------------------------------------------------ */

static void *mut_thread(void *arg)
{
	struct mutator *m = arg;
	struct region *r = m->r;

	while (!m->stop && m->ops < m->max_ops) {
		int p = (int)(rand_r(&m->rng) % (unsigned int)m->npages);
		char *a = r->map.addr + (size_t)p * page_size;
		int err = 0;

		pthread_mutex_lock(&m->lock);
		__atomic_add_fetch(&m->started[p], 1, __ATOMIC_SEQ_CST);
		switch (m->mode) {
		case MUT_DONTNEED:
			err = madvise(a, page_size, MADV_DONTNEED);
			break;
		case MUT_MUNMAP:
			err = munmap(a, page_size);
			if (!err) {
				int kind = r->map.kind;
				void *q;

				sleep_us(m->hole_us);
				q = mmap(a, page_size, PROT_READ | PROT_WRITE,
					 MAP_FIXED | (kind == MAP_KIND_PRIVATE ?
						      MAP_PRIVATE : MAP_SHARED) |
					 (kind == MAP_KIND_MEMFD ? 0 : MAP_ANONYMOUS),
					 r->map.fd, kind == MAP_KIND_MEMFD ?
					 (off_t)p * page_size : 0);
				err = q == a ? 0 : -1;
			}
			break;
		case MUT_MPROTECT:
			err = mprotect(a, page_size, m->prot);
			if (!err) {
				sleep_us(m->hole_us);
				err = mprotect(a, page_size, PROT_READ | PROT_WRITE);
			}
			break;
		}
		if (err)
			FAIL("mutator (%s of page %d): %s", mut_names[m->mode], p,
			     strerror(errno));
		__atomic_add_fetch(&m->done[p], 1, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&m->lock);
		m->ops++;
		sleep_us(m->period_us + rand_r(&m->rng) % (m->period_us + 1));
	}
	return NULL;
}

static struct mutator *mut_start(struct sess *s, int idx, int npages, int mode,
				 int prot, unsigned int period_us,
				 unsigned int hole_us, unsigned long max_ops,
				 unsigned int seed)
{
	struct mutator *m;

	if (mode <= MUT_NONE || mode > MUT_MPROTECT || npages < 1 ||
	    npages > MAX_PAGES)
		FAIL("mutator: mode %d, %d pages", mode, npages);
	mut_stop(s, idx);
	m = calloc(1, sizeof(*m));
	m->r = region_get(s, (uint64_t)idx);
	m->npages = npages;
	m->mode = mode;
	m->prot = prot;
	m->period_us = period_us;
	m->hole_us = hole_us;
	m->max_ops = max_ops;
	m->rng = seed;
	pthread_mutex_init(&m->lock, NULL);
	if (pthread_create(&m->th, NULL, mut_thread, m))
		FAIL("pthread_create: %s", strerror(errno));
	m->running = 1;
	s->mut[idx] = m;
	return m;
}

/*
 * Stop the thread; its counts stay (a page a mutation hit before the stop
 * still counts as mutated) until mut_stop() frees it.
 */
static unsigned long mut_stop_count(struct sess *s, int idx)
{
	struct mutator *m = s->mut[idx];

	if (!m)
		return 0;
	m->stop = 1;
	if (m->running)
		pthread_join(m->th, NULL);
	m->running = 0;
	return m->ops;
}

static void mut_stop(struct sess *s, int idx)
{
	struct mutator *m = s->mut[idx];

	if (!m)
		return;
	mut_stop_count(s, idx);
	pthread_mutex_destroy(&m->lock);
	free(m);
	s->mut[idx] = NULL;
}

static void mut_lock(struct mutator *m)
{
	if (m)
		pthread_mutex_lock(&m->lock);
}

static void mut_unlock(struct mutator *m)
{
	if (m)
		pthread_mutex_unlock(&m->lock);
}

static void mut_snap(struct mutator *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	for (int p = 0; p < m->npages; p++) {
		m->snap[p] = m->started[p];
		m->snap_busy[p] = m->started[p] != m->done[p];
	}
	pthread_mutex_unlock(&m->lock);
}

/* No mutation of page p overlapped [snapshot, now); call with the lock held. */
static int mut_quiet(struct mutator *m, int p)
{
	return !m || (!m->snap_busy[p] && m->started[p] == m->snap[p]);
}

/* The pfn the CPU maps at @addr (0: none, or pagemap hides pfns). */
static uint64_t page_pfn(const void *addr)
{
	static int fd = -2;
	uint64_t e;
	off_t off = (off_t)((uintptr_t)addr / (uintptr_t)page_size) * 8;

	if (fd == -2)
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, &e, sizeof(e), off) != sizeof(e))
		return 0;
	return e >> 63 ? e & ((1ULL << 55) - 1) : 0;
}

/* /proc/kpageflags of @pfn, or ~0 when unreadable. */
static uint64_t pfn_flags(uint64_t pfn)
{
	int fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	uint64_t f = ~0ULL;

	if (fd >= 0) {
		if (pread(fd, &f, sizeof(f), (off_t)(pfn * 8)) != sizeof(f))
			f = ~0ULL;
		close(fd);
	}
	return f;
}

/*
 * What a slot that changed with nobody writing holds, for the failure
 * message: its zero bytes, the bytes still as @seed left them, its first
 * bytes, and whether it is another slot's data of any round.
 */
static void describe_slot(const char *slot, size_t wlen, uint32_t seed,
			  uint32_t seed_lo, uint32_t seed_hi, char *out,
			  size_t size)
{
	size_t zeros = 0, same = 0, n;
	uint32_t other = 0;

	for (size_t i = 0; i < wlen; i++) {
		zeros += !slot[i];
		same += (uint8_t)slot[i] == pattern_byte(seed, i);
	}
	for (uint32_t sd = seed_lo; sd < seed_hi && !other; sd++)
		if (diff_pattern(slot, wlen, sd) < 0)
			other = sd;
	n = (size_t)snprintf(out, size, "%zu of %zu bytes zero, %zu as before, "
			     "another slot's data: seed %u; first bytes", zeros,
			     wlen, same, other);
	for (size_t i = 0; i < 16 && n < size; i++)
		n += (size_t)snprintf(out + n, size - n, " %02x",
				      (uint8_t)slot[i]);
}

/* ---- the server: one generic responder -------------------------------- */

static void srv_post_recv(struct sess *s, const struct msg *m)
{
	uint64_t link = m->a[0], wr_id = m->a[1], count = m->a[2];
	uint64_t nsge = m->a[3], stride = m->a[4], bad_lkey = m->a[5];
	struct link *l;

	if (link >= (uint64_t)s->ndata || nsge > MAX_RSGE || count < 1)
		FAIL("post_recv request: link %llu, %llu SGEs",
		     (unsigned long long)link, (unsigned long long)nsge);
	l = &s->data[link];
	for (uint64_t j = 0; j < count; j++) {
		xsge sge[MAX_RSGE];
		xrecv_wr wr, *bad;
		int err;

		for (uint64_t i = 0; i < nsge; i++) {
			struct region *r = region_get(s, m->v[3 * i]);
			size_t off = m->v[3 * i + 1] + j * stride;

			sge[i] = sge_of(r, off, m->v[3 * i + 2]);
			if (bad_lkey)
				sge[i].lkey ^= 0x5a5a00;
		}
		memset(&wr, 0, sizeof(wr));
		wr.wr_id = wr_id + j;
		wr.sg_list = nsge ? sge : NULL;
		wr.num_sge = (int)nsge;
		err = x_post_recv(l, &wr, &bad);
		if (err)
			FAIL("post_recv (data, wr_id %llu): %s",
			     (unsigned long long)(wr_id + j), strerror(err));
		s->recv_posted[link]++;
	}
}

static void srv_expect_recv(struct sess *s, const struct msg *m)
{
	uint64_t link = m->a[0], wr_id = m->a[1], count = m->a[2];
	int status = (int)m->a[3], opcode = (int)m->a[4];
	uint32_t len0 = (uint32_t)m->a[5], flags = (uint32_t)m->a[6];
	uint32_t imm0 = (uint32_t)m->a[7], inc = (uint32_t)m->a[9];
	int timeout = m->a[8] ? (int)m->a[8] : opt.timeout_ms;
	int rxe_status = xport_has_odp ? -1 : (int)m->a[10] - 1;
	struct link *l;

	if (link >= (uint64_t)s->ndata)
		FAIL("expect_recv request: link %llu", (unsigned long long)link);
	l = &s->data[link];
	for (uint64_t j = 0; j < count; j++) {
		uint32_t want_len = len0 + (uint32_t)j * inc;
		xwc wc;

		if (!poll_wait(l->rcq, &wc, timeout))
			FAIL("receive wr_id %llu: no completion within %d ms",
			     (unsigned long long)(wr_id + j), timeout);
		s->recv_posted[link]--;
		if (rxe_status >= 0 && (int)wc.status == rxe_status &&
		    wc.wr_id == wr_id + j) {
			printf("server.rxe_deviation=%d (receive: %s instead "
			       "of %s)\n", rxe_status, st(rxe_status), st(status));
			continue;
		}
		if (wc.wr_id != wr_id + j || (int)wc.status != status)
			FAIL("receive: completion wr_id %llu status %s (%d), "
			     "expected wr_id %llu status %s (%d)",
			     (unsigned long long)wc.wr_id, st(wc.status),
			     wc.status, (unsigned long long)(wr_id + j),
			     st(status), status);
		if (status != X_WC_SUCCESS)
			continue;
		if ((int)wc.opcode != opcode || wc.byte_len != want_len ||
		    (wc.wc_flags & X_WC_WITH_IMM) != flags)
			FAIL("receive wr_id %llu: opcode %d byte_len %u wc_flags "
			     "%#x, expected opcode %d byte_len %u wc_flags %#x",
			     (unsigned long long)wc.wr_id, wc.opcode,
			     wc.byte_len, (unsigned int)wc.wc_flags, opcode,
			     want_len, flags);
		if ((flags & X_WC_WITH_IMM) &&
		    ntohl(wc.imm_data) != imm0 + (uint32_t)j)
			FAIL("receive wr_id %llu: imm_data %#x, expected %#x",
			     (unsigned long long)wc.wr_id, ntohl(wc.imm_data),
			     imm0 + (uint32_t)j);
	}
}

/*
 * Post count SENDs (one list, all signaled) on a data link: SEND j is
 * wr_id + j, one SGE {region, off + j * stride, len0 + j * inc}.
 */
static void srv_post_send(struct sess *s, const struct msg *m)
{
	uint64_t link = m->a[0], wr_id = m->a[1], count = m->a[2];
	struct region *r = region_get(s, m->a[3]);
	size_t off = m->a[4], len0 = m->a[5], stride = m->a[6], inc = m->a[7];
	xsend_wr *wr, *bad = NULL;
	xsge *sg;
	int err;

	if (link >= (uint64_t)s->ndata || count < 1 || count > 4096)
		FAIL("post_send request: link %llu, %llu SENDs",
		     (unsigned long long)link, (unsigned long long)count);
	wr = calloc(count, sizeof(*wr));
	sg = calloc(count, sizeof(*sg));
	if (!wr || !sg)
		FAIL("calloc");
	for (uint64_t j = 0; j < count; j++) {
		sg[j] = sge_of(r, off + j * stride, len0 + j * inc);
		wr[j].wr_id = wr_id + j;
		wr[j].opcode = X_WR_SEND;
		wr[j].sg_list = &sg[j];
		wr[j].num_sge = 1;
		wr[j].send_flags = X_SEND_SIGNALED;
		wr[j].next = j + 1 < count ? &wr[j + 1] : NULL;
	}
	err = x_post_send(&s->data[link], wr, &bad);
	if (err)
		FAIL("post_send (server, %llu SENDs): %s",
		     (unsigned long long)count, strerror(err));
	free(wr);
	free(sg);
}

/* The next count send completions of a data link (wr_id + j, status). */
static void srv_expect_send(struct sess *s, const struct msg *m)
{
	uint64_t link = m->a[0], wr_id = m->a[1], count = m->a[2];
	int status = (int)m->a[3];
	int timeout = m->a[4] ? (int)m->a[4] : opt.timeout_ms;

	if (link >= (uint64_t)s->ndata)
		FAIL("expect_send request: link %llu", (unsigned long long)link);
	for (uint64_t j = 0; j < count; j++) {
		xwc wc;

		if (!poll_wait(s->data[link].scq, &wc, timeout))
			FAIL("server's SEND wr_id %llu: no completion within %d ms",
			     (unsigned long long)(wr_id + j), timeout);
		if (wc.wr_id != wr_id + j || (int)wc.status != status)
			FAIL("server's SEND: completion wr_id %llu status %s (%d), "
			     "expected wr_id %llu status %s (%d)",
			     (unsigned long long)wc.wr_id, st(wc.status), wc.status,
			     (unsigned long long)(wr_id + j), st(status), status);
		if (status == X_WC_SUCCESS && (int)wc.opcode != X_WC_SEND)
			FAIL("server's SEND wr_id %llu: opcode %d",
			     (unsigned long long)wc.wr_id, wc.opcode);
	}
}

/*
 * How many bytes of [from, from+len) of region idx's mapping (len 0: to its
 * end) differ from what OP_ALLOC filled it with (pattern seed over the
 * whole mapping, or zeros): a[0] the count, a[1] the first + 1 (0: none),
 * a[2] the last + 1.  Never fails on a difference: the client reports.
 */
static void srv_diff(struct sess *s, const struct msg *m, struct msg *r)
{
	struct region *reg = region_get(s, m->a[0]);
	uint32_t seed = (uint32_t)m->a[1];
	size_t from = m->a[2], len = m->a[3];
	const uint8_t *p = (const uint8_t *)reg->map.addr;
	uint64_t n = 0, first = 0, last = 0;

	if (reg->unmapped || from > reg->map.len)
		FAIL("diff of region %llu from %zu", (unsigned long long)m->a[0],
		     from);
	if (!len || len > reg->map.len - from)
		len = reg->map.len - from;
	for (size_t i = from; i < from + len; i++) {
		uint8_t want = seed ? pattern_byte(seed, i) : 0;

		if (p[i] == want)
			continue;
		if (!n++)
			first = i + 1;
		last = i + 1;
	}
	r->a[0] = n;
	r->a[1] = first;
	r->a[2] = last;
}

/* Region bytes [off, off+len) hold the pattern seed from index pbase, or 0s. */
static void srv_check(struct sess *s, const struct msg *m)
{
	struct region *r = region_get(s, m->a[0]);
	int64_t off = (int64_t)m->a[1];
	uint64_t len = m->a[2], pbase = m->a[4];
	uint32_t seed = (uint32_t)m->a[3];
	const uint8_t *p = (const uint8_t *)region_at(r, off, len);

	for (uint64_t i = 0; i < len; i++) {
		uint8_t want = seed ? pattern_byte(seed, pbase + i) : 0;

		if (p[i] != want)
			FAIL("region %llu byte %lld: 0x%02x, expected 0x%02x "
			     "(%s, %llu bytes from %lld)",
			     (unsigned long long)m->a[0], (long long)(off + (int64_t)i),
			     p[i], want, seed ? "pattern" : "untouched zeros",
			     (unsigned long long)len, (long long)off);
	}
}

/*
 * A responder race round: the client wrote page slot p (W(p), list index p)
 * and read it back; W(p) succeeded iff p < k.  Check every page against
 * what it may hold, given whether a mutation overlapped the round (see the
 * races below), and learn what it holds now.
 */
static void srv_round_check(struct sess *s, const struct msg *m, struct msg *r)
{
	struct region *reg = region_get(s, m->a[0]);
	struct mutator *mu = s->mut[m->a[0]];
	int np = (int)m->a[1], mode = (int)m->a[6];
	size_t in_off = m->a[2], wlen = m->a[3];
	uint32_t seed0 = (uint32_t)m->a[4];
	uint64_t k = m->a[5], quiet_mask = 0;
	int local_err = (int)m->a[8];
	unsigned int strict = 0, lenient = 0, zeros = 0;

	if (np > MAX_PAGES)
		FAIL("round check of %d pages", np);
	for (int p = 0; p < np; p++) {
		char *pg = reg->buf + (size_t)p * page_size;
		uint32_t seed = seed0 + (uint32_t)p, old = s->known[p];
		int quiet, is_new, is_zero, is_old, ok;
		unsigned long started;
		uint64_t chk_pfn;
		long head, tail;
		const char *what;

		mut_lock(mu);
		/* What the page holds and the mutations that made it so. */
		started = mu ? mu->started[p] : 0;
		quiet = mut_quiet(mu, p);
		is_new = diff_pattern(pg + in_off, wlen, seed) < 0;
		is_zero = diff_bytes(pg + in_off, wlen, 0) < 0;
		is_old = old ? diff_pattern(pg + in_off, wlen, old) < 0 : is_zero;
		head = diff_bytes(pg, in_off, 0);
		tail = diff_bytes(pg + in_off + wlen, page_size - in_off - wlen, 0);
		chk_pfn = page_pfn(pg);
		mut_unlock(mu);

		if (head >= 0 || tail >= 0)
			FAIL("page %d: byte %ld outside the written slot is not 0",
			     p, head >= 0 ? head : (long)(in_off + wlen) + tail);
		/* MUT_MPROTECT never loses data: as strict as no mutation. */
		if ((uint64_t)p < k) {
			what = "written";
			ok = is_new || (!quiet && mode != MUT_MPROTECT &&
					mode != MUT_NONE && is_zero);
		} else if ((uint64_t)p == k || local_err) {
			/*
			 * The first unsuccessful WR; or, after a local error of
			 * the requester, a WRITE that was sent before the QP
			 * stopped and completed with WR_FLUSH_ERR: it may have
			 * executed here.
			 */
			what = "unsuccessful write";
			ok = is_new || is_old ||
			     (mode != MUT_MPROTECT && mode != MUT_NONE && is_zero);
		} else {
			what = "flushed write";
			ok = is_old || (!quiet && mode != MUT_MPROTECT &&
					mode != MUT_NONE && is_zero);
		}
		if (!ok) {
			long d = diff_pattern(pg + in_off, wlen, seed);

			FAIL("page %d (%s, k=%llu, %s, mode %s): slot holds "
			     "neither the data of this round (seed %u, first "
			     "difference at byte %ld: 0x%02x vs 0x%02x)%s%s",
			     p, what, (unsigned long long)k,
			     quiet ? "no mutation overlapped" : "mutated meanwhile",
			     mut_names[mode], seed, d,
			     d >= 0 ? (uint8_t)pg[in_off + (size_t)d] : 0,
			     d >= 0 ? pattern_byte(seed, (size_t)d) : 0,
			     (uint64_t)p >= k ? " nor its previous content" : "",
			     mode != MUT_NONE && mode != MUT_MPROTECT && !quiet ?
			     " nor zeros" : "");
		}
		s->known[p] = is_new ? seed : is_zero ? 0 : old;
		s->chk_started[p] = started;
		s->chk_pfn[p] = chk_pfn;
		if (quiet) {
			quiet_mask |= 1ULL << p;
			strict++;
		} else {
			lenient++;
		}
		zeros += is_zero && !is_new;
	}
	r->a[0] = quiet_mask;
	r->a[1] = strict;
	r->a[2] = lenient;
	r->a[3] = zeros;
}

/*
 * Before a race round: snapshot the mutation counts, and learn what each
 * page slot holds now - what the last round left (known[]), or zeros if a
 * mutation threw it away since; anything else changed with nobody writing.
 */
static void srv_snap(struct sess *s, const struct msg *m)
{
	struct region *reg = region_get(s, m->a[0]);
	struct mutator *mu = s->mut[m->a[0]];
	int np = (int)m->a[1];
	size_t in_off = m->a[2], wlen = m->a[3];

	if (np > MAX_PAGES || in_off + wlen > (size_t)page_size)
		FAIL("snap of %d pages", np);
	mut_lock(mu);
	if (m->a[4]) {
		memset(s->known, 0, sizeof(s->known));
		memset(s->chk_started, 0, sizeof(s->chk_started));
		if (mu)
			for (int p = 0; p < np; p++)
				s->chk_started[p] = mu->started[p];
	}
	for (int p = 0; p < np; p++) {
		char *slot = reg->buf + (size_t)p * page_size + in_off;
		int zapped = mu && mu->started[p] != s->chk_started[p] &&
			     (mu->mode == MUT_DONTNEED || mu->mode == MUT_MUNMAP);
		uint32_t seed0 = (uint32_t)m->a[5];
		char what[256];
		long d;

		if (s->known[p] && diff_pattern(slot, wlen, s->known[p]) < 0)
			continue;
		if (diff_bytes(slot, wlen, 0) < 0 && (!s->known[p] || zapped)) {
			s->known[p] = 0;
			continue;
		}
		/* What is it then?  An older round's data? */
		for (uint32_t r = 1; seed0 >= r * (uint32_t)np + 20000; r++) {
			uint32_t older = seed0 - r * (uint32_t)np + (uint32_t)p;

			if (diff_pattern(slot, wlen, older) < 0)
				FAIL("page %d changed between rounds, with no WR "
				     "outstanding: it holds the data of %u rounds "
				     "ago (seed %u), its last data was seed %u",
				     p, r, older, s->known[p]);
		}
		d = diff_pattern(slot, wlen, s->known[p]);
		describe_slot(slot, wlen, s->known[p], 20000, seed0 + (uint32_t)np,
			      what, sizeof(what));
		FAIL("page %d changed between rounds, with no WR outstanding: "
		     "neither its last data (seed %u, first difference at byte "
		     "%ld: 0x%02x) nor zeros%s; at %p, pfn %#llx (flags %#llx) "
		     "at the check, %#llx (flags %#llx) now; %s", p,
		     s->known[p], d, d >= 0 ? (uint8_t)slot[d] : 0,
		     zapped ? "" : " (no mutation since the last check)",
		     slot, (unsigned long long)s->chk_pfn[p],
		     (unsigned long long)pfn_flags(s->chk_pfn[p]),
		     (unsigned long long)page_pfn(slot),
		     (unsigned long long)pfn_flags(page_pfn(slot)), what);
	}
	/* The snapshot under the same hold: what we learnt is still true. */
	if (mu)
		for (int p = 0; p < mu->npages; p++) {
			mu->snap[p] = mu->started[p];
			mu->snap_busy[p] = mu->started[p] != mu->done[p];
		}
	mut_unlock(mu);
}

static void srv_stats(struct sess *s, const struct msg *m, struct msg *r)
{
	struct region *reg = region_get(s, m->a[0]);
	struct stats d;
	char tag[32];

	region_delta(reg, &d);
	for (int i = 0; i < NSTATS; i++)
		r->v[i] = d.v[i];
	snprintf(tag, sizeof(tag), "server.r%llu", (unsigned long long)m->a[0]);
	print_stats(tag, &d);
}

/* Data links: the server accepts what the client connects. */
static void data_prep_none(struct link *l, void *arg)
{
	(void)l;
	(void)arg;
}

static void srv_recv_refill(struct sess *s, const struct msg *m,
			    struct msg *r);

static int srv_handle(struct sess *s, struct msg *m, struct msg *r)
{
	struct region *reg;

	switch (m->op) {
	case OP_ALLOC:
		reg = region_new(s, (int)m->a[0], m->a[1], m->a[2], (int)m->a[3],
				 (int)(int64_t)m->a[4], (int)m->a[5]);
		if (m->a[6])
			fill_pattern(reg->map.addr, reg->map.len, (uint32_t)m->a[6]);
		r->a[0] = (uintptr_t)reg->buf;
		r->a[1] = reg->mr ? reg->mr->rkey : 0;
		r->a[2] = reg->len;
		r->a[3] = reg->off;
		r->a[4] = reg->map.len - reg->off - reg->len;
		break;
	case OP_FREE:
		region_free(s, (int)m->a[0]);
		break;
	case OP_UNMAP:
		reg = region_get(s, m->a[0]);
		if (munmap(reg->map.addr, reg->map.len))
			FAIL("munmap: %s", strerror(errno));
		reg->unmapped = 1;
		break;
	case OP_DONTNEED:
		region_dontneed(region_get(s, m->a[0]));
		break;
	case OP_FILL:
		reg = region_get(s, m->a[0]);
		if (m->a[3]) {
			char *p = region_at(reg, (int64_t)m->a[1], m->a[2]);

			for (uint64_t i = 0; i < m->a[2]; i++)
				p[i] = (char)pattern_byte((uint32_t)m->a[3], m->a[4] + i);
		} else {
			memset(region_at(reg, (int64_t)m->a[1], m->a[2]), 0, m->a[2]);
		}
		if (m->a[5])
			region_dontneed(reg);
		break;
	case OP_CHECK:
		srv_check(s, m);
		break;
	case OP_CHECK_ALL:
		reg = region_get(s, m->a[0]);
		if (reg->unmapped) {
			/* msync() fails with ENOMEM on an unmapped range. */
			if (!msync(reg->map.addr, reg->map.len, MS_ASYNC) ||
			    errno != ENOMEM)
				FAIL("region %llu was unmapped, now it is mapped "
				     "again", (unsigned long long)m->a[0]);
		} else if (m->a[1]) {
			check_pattern(reg->map.addr, reg->map.len, (uint32_t)m->a[1],
				      "region content (must be unchanged)");
		} else {
			check_bytes(reg->map.addr, reg->map.len, 0,
				    "region content (must be unchanged)");
		}
		break;
	case OP_FILL_STRIDED:
		reg = region_get(s, m->a[0]);
		fill_strided(reg->buf, (int)m->a[1], m->a[2], m->a[3], m->a[4],
			     m->a[5], (uint32_t)m->a[6]);
		if (m->a[7])
			region_dontneed(reg);
		break;
	case OP_CHECK_STRIDED:
		reg = region_get(s, m->a[0]);
		check_strided(reg->buf, reg->len, (int)m->a[1], m->a[2], m->a[3],
			      m->a[4], m->a[5], (uint32_t)m->a[6],
			      "server buffer");
		break;
	case OP_SET64:
		reg = region_get(s, m->a[0]);
		memcpy(region_at(reg, (int64_t)m->a[1], 8), &m->a[2], 8);
		if (m->a[3])
			region_dontneed(reg);
		break;
	case OP_GET64:
		reg = region_get(s, m->a[0]);
		memcpy(&r->a[0], region_at(reg, (int64_t)m->a[1], 8), 8);
		break;
	case OP_POST_RECV:
		srv_post_recv(s, m);
		break;
	case OP_EXPECT_RECV:
		srv_expect_recv(s, m);
		break;
	case OP_POST_SEND:
		srv_post_send(s, m);
		break;
	case OP_EXPECT_SEND:
		srv_expect_send(s, m);
		break;
	case OP_NO_WC:
		if (m->a[0] >= (uint64_t)s->ndata)
			FAIL("no_wc: link %llu", (unsigned long long)m->a[0]);
		expect_no_wc(m->a[1] ? s->data[m->a[0]].scq : s->data[m->a[0]].rcq,
			     (int)m->a[2], m->a[1] ? "server's send queue" :
			     "server's receive queue");
		break;
	case OP_DIFF:
		srv_diff(s, m, r);
		break;
	case OP_NO_RECV:
		if (m->a[0] >= (uint64_t)s->ndata)
			FAIL("no_recv: link %llu", (unsigned long long)m->a[0]);
		expect_no_wc(s->data[m->a[0]].rcq, 20, "receive queue");
		break;
	case OP_STATS:
		srv_stats(s, m, r);
		break;
	case OP_MUTATE_START:
		reg = region_get(s, m->a[0]);
		mut_start(s, (int)m->a[0], (int)(reg->len / page_size),
			  (int)m->a[1], (int)m->a[2], (unsigned int)m->a[3],
			  (unsigned int)m->a[4], m->a[5], (unsigned int)m->a[6]);
		break;
	case OP_MUTATE_STOP:
		r->a[0] = mut_stop_count(s, (int)m->a[0]);
		break;
	case OP_SNAP:
		srv_snap(s, m);
		break;
	case OP_ROUND_CHECK:
		srv_round_check(s, m, r);
		break;
	case OP_RECV_REFILL:
		srv_recv_refill(s, m, r);
		break;
	case OP_RECV_DESTROY:
		return 3;
	case OP_RECONNECT:
		return 2;
	case OP_DONE:
		return 1;
	default:
		FAIL("unknown request %llu", (unsigned long long)m->op);
	}
	return 0;
}

/*
 * Keep the receive queue of a data link full: post max_recv_wr receives
 * (64-byte slots of region a[3]), and re-post one the moment a completion is
 * polled, until a[1] completions.  A full queue that was just drained by
 * one completion must take one receive.
 */
static void srv_recv_refill(struct sess *s, const struct msg *m, struct msg *r)
{
	uint64_t link = m->a[0], total = m->a[1], posted = 0, done = 0;
	struct region *reg = region_get(s, m->a[3]);
	struct link *l;

	if (link >= (uint64_t)s->ndata)
		FAIL("recv_refill: link %llu", (unsigned long long)link);
	l = &s->data[link];
	while (done < total) {
		while (posted < total && posted - done < l->cap.max_recv_wr) {
			xsge sge = sge_of(reg, (posted % 64) * 64, 64);
			xrecv_wr wr, *bad;
			int err;

			memset(&wr, 0, sizeof(wr));
			wr.wr_id = posted;
			wr.sg_list = &sge;
			wr.num_sge = 1;
			err = x_post_recv(l, &wr, &bad);
			if (err)
				FAIL("post_recv with %llu of %u receives "
				     "outstanding, right after polling a "
				     "completion: %s", (unsigned long long)
				     (posted - done), l->cap.max_recv_wr,
				     strerror(err));
			posted++;
		}
		expect_wc(l->rcq, done, X_WC_SUCCESS, X_WC_RECV, "refilled receive");
		done++;
	}
	r->a[0] = done;
}

/* The client vanished (a test that allows it): the receives must flush. */
static void srv_peer_gone(struct sess *s)
{
	int flushed = 0, ctrl = 1;
	xwc wc;

	for (int i = 0; i < s->ndata; i++) {
		while (s->recv_posted[i] > 0) {
			if (!poll_wait(s->data[i].rcq, &wc, 20000))
				FAIL("a posted receive of data link %d never "
				     "completed after the peer went away", i);
			if (wc.status != X_WC_WR_FLUSH_ERR)
				FAIL("posted receive completed with %s (%d) after "
				     "the peer went away, expected WR_FLUSH_ERR",
				     st(wc.status), wc.status);
			s->recv_posted[i]--;
			flushed++;
		}
	}
	/* The control receive that reported it, and the other slots. */
	while (ctrl < CTRL_SLOTS && poll_wait(s->ctrl.rcq, &wc, 5000)) {
		if (wc.status != X_WC_WR_FLUSH_ERR)
			FAIL("control receive completed with %s (%d), expected "
			     "WR_FLUSH_ERR", st(wc.status), wc.status);
		ctrl++;
	}
	printf("peer_gone=1 server.data_recv_flushed=%d server.ctrl_recv_flushed=%d\n",
	       flushed, ctrl);
}

/* ---- sessions ---------------------------------------------------------- */

static struct sockaddr_in sockaddr_of(const char *host)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)opt.port);
	if (!host)
		sin.sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		FAIL("not an IPv4 address: %s", host);
	return sin;
}

static struct sess *sess_new(int server)
{
	struct sess *s = calloc(1, sizeof(*s));

	s->server = server;
	s->data_caps = default_data_caps;
	the_sess = s;
	return s;
}

static void sess_ctrl_mr(struct sess *s)
{
	map_create(&s->ctrl_map, (CTRL_SLOTS + 1) * SLOT_SIZE, MAP_KIND_PRIVATE);
	s->ctrl_mr = ep_reg_mr(ep_pd(s->ep), s->ctrl_map.addr, s->ctrl_map.len,
			       X_ACCESS_LOCAL_WRITE);
	if (!s->ctrl_mr)
		FAIL("reg_mr (control): %s", strerror(errno));
}

static void sess_end(struct sess *s)
{
	for (int i = 0; i < MAX_REGIONS; i++)
		mut_stop(s, i);
	for (int i = 0; i < s->ndata; i++)
		link_destroy(&s->data[i]);
	s->ctrl_up = 0;
	link_destroy(&s->ctrl);
	for (int i = 0; i < MAX_REGIONS; i++)
		if (s->reg[i].live)
			region_free(s, i);
	if (s->ctrl_mr)
		x_dereg_mr(s->ctrl_mr);
	map_destroy(&s->ctrl_map);
	ep_close(s->ep);
	the_sess = NULL;
	free(s);
}

/*
 * One session as the server.  want: the test the client must name (NULL:
 * any).  Returns 0 pass, 100 when the client said QUIT, 2 when no client
 * came; FAILs (exit 1) otherwise.
 */
static int serve_session(const char *want)
{
	struct sockaddr_in sin = sockaddr_of(opt.bind);
	struct sess *s = sess_new(1);
	struct msg m;
	int err;

	cur_side = "server";
	cur_test = want ? want : "?";
	s->ep = ep_open(opt.dev, 1, &sin);
	if (!s->ep)
		FAIL("cannot listen on %s:%d", opt.bind ? opt.bind : "*", opt.port);
	sess_ctrl_mr(s);
	err = link_accept(s->ep, &s->ctrl, &ctrl_caps, ctrl_prep, s, opt.connect_ms);
	if (err) {
		fprintf(stderr, "server: no client connected within %d ms: %s\n",
			opt.connect_ms, strerror(err));
		sess_end(s);
		return 2;
	}
	s->ctrl_up = 1;
	msg_recv(s, &m, opt.timeout_ms);
	if (m.type == M_QUIT) {
		sess_end(s);
		return 100;
	}
	if (m.type != M_HELLO)
		FAIL("first message has type %llu", (unsigned long long)m.type);
	cur_test = strdup(m.name);
	if (want && strcmp(want, m.name))
		FAIL("the client runs test %s, this server was started for %s",
		     m.name, want);
	s->ndata = (int)m.a[0];
	s->flags = m.a[1];
	if (m.a[2])
		s->data_caps.max_send_wr = (uint32_t)m.a[2];
	if (m.a[3])
		s->data_caps.max_recv_wr = (uint32_t)m.a[3];
	if (s->ndata > MAX_LINKS)
		FAIL("%d data links", s->ndata);
	memset(&m, 0, sizeof(m));
	m.type = M_ACK;
	msg_send(s, &m);
	for (int i = 0; i < s->ndata; i++) {
		err = link_accept(s->ep, &s->data[i], &s->data_caps,
				  data_prep_none, s, opt.connect_ms);
		if (err)
			FAIL("accepting data link %d: %s", i, strerror(err));
	}
	printf("test=%s side=server transport=%s\n", cur_test, XPORT_NAME);

	for (;;) {
		struct msg r;
		int ret;

		if (msg_recv(s, &m, 10 * opt.timeout_ms) < 0) {
			srv_peer_gone(s);
			break;
		}
		if (m.type != M_REQ)
			FAIL("message type %llu, expected a request",
			     (unsigned long long)m.type);
		memset(&r, 0, sizeof(r));
		r.type = M_ACK;
		r.op = m.op;
		ret = srv_handle(s, &m, &r);
		if (ret == 3) {
			/*
			 * The receive of data link a[0] completes: destroy the
			 * QP at once, then say so (and take the next link).
			 */
			int link = (int)m.a[0];

			if (link < 0 || link >= s->ndata)
				FAIL("recv_destroy: link %d", link);
			expect_wc(s->data[link].rcq, m.a[1], X_WC_SUCCESS,
				  X_WC_RECV, "receive before destroying the QP");
			s->recv_posted[link]--;
			link_destroy(&s->data[link]);
			msg_send(s, &r);
			ret = 2;
		} else if (ret == 1) {
			/*
			 * The last answer: the client may tear down as soon as
			 * it has it, before our SEND's acknowledgement leaves
			 * it (as with any RC peer); its completion may fail.
			 */
			if (ctrl_send_raw(s, &r, opt.timeout_ms))
				printf("done_answer_unacked=1\n");
			break;
		} else {
			msg_send(s, &r);
		}
		if (ret == 2) {
			int link = (int)m.a[0];

			if (link >= s->ndata)
				FAIL("reconnect link %d", link);
			link_destroy(&s->data[link]);
			s->recv_posted[link] = 0;
			err = link_accept(s->ep, &s->data[link], &s->data_caps,
					  data_prep_none, s, opt.connect_ms);
			if (err)
				FAIL("accepting data link %d again: %s", link,
				     strerror(err));
		}
	}
	sess_end(s);
	printf("result=pass\n");
	return 0;
}

/* ---- client helpers ----------------------------------------------------- */

struct rreg {
	uint64_t	addr;
	uint32_t	rkey;
	uint64_t	len;
	uint64_t	head;		/* mapped bytes before addr */
	uint64_t	tail;		/* mapped bytes after addr + len */
};

#define REQ(...)	((struct msg){ __VA_ARGS__ })

static struct rreg ralloc(struct sess *s, int idx, size_t len, size_t off,
			  int kind, int access, int pd2, uint32_t seed)
{
	struct msg m = REQ(.op = OP_ALLOC,
			   .a = { (uint64_t)idx, len, off, (uint64_t)kind,
				  (uint64_t)(int64_t)access, (uint64_t)pd2, seed });
	struct rreg r;

	call(s, &m);
	r.addr = m.a[0];
	r.rkey = (uint32_t)m.a[1];
	r.len = m.a[2];
	r.head = m.a[3];
	r.tail = m.a[4];
	return r;
}

static void rsimple(struct sess *s, int op, uint64_t a0)
{
	struct msg m = REQ(.op = (uint64_t)op, .a = { a0 });

	call(s, &m);
}

static void rdontneed(struct sess *s, int idx)
{
	rsimple(s, OP_DONTNEED, (uint64_t)idx);
}

/* Server region idx bytes [off, off+len): pattern seed from index pbase. */
static void rfill(struct sess *s, int idx, int64_t off, size_t len,
		  uint32_t seed, size_t pbase, int dontneed)
{
	struct msg m = REQ(.op = OP_FILL,
			   .a = { (uint64_t)idx, (uint64_t)off, len, seed, pbase,
				  (uint64_t)dontneed });

	call(s, &m);
}

/* The same, checked (seed 0: zeros). */
static void rcheck(struct sess *s, int idx, int64_t off, size_t len,
		   uint32_t seed, size_t pbase)
{
	struct msg m = REQ(.op = OP_CHECK,
			   .a = { (uint64_t)idx, (uint64_t)off, len, seed, pbase });

	call(s, &m);
}

/* The whole mapping is still what OP_ALLOC filled it with (or unmapped). */
static void rcheck_all(struct sess *s, int idx, uint32_t seed)
{
	struct msg m = REQ(.op = OP_CHECK_ALL, .a = { (uint64_t)idx, seed });

	call(s, &m);
}

static void rset64(struct sess *s, int idx, size_t off, uint64_t val,
		   int dontneed)
{
	struct msg m = REQ(.op = OP_SET64,
			   .a = { (uint64_t)idx, off, val, (uint64_t)dontneed });

	call(s, &m);
}

static uint64_t rget64(struct sess *s, int idx, size_t off)
{
	struct msg m = REQ(.op = OP_GET64, .a = { (uint64_t)idx, off });

	call(s, &m);
	return m.a[0];
}

/* Server: post count receives (wr_id + j), SGEs {region, off + j*stride, len}. */
static void rpost_recv(struct sess *s, int link, uint64_t wr_id, int count,
		       int nsge, const uint64_t (*sge)[3], size_t stride,
		       int bad_lkey)
{
	struct msg m = REQ(.op = OP_POST_RECV,
			   .a = { (uint64_t)link, wr_id, (uint64_t)count,
				  (uint64_t)nsge, stride, (uint64_t)bad_lkey });

	for (int i = 0; i < nsge; i++)
		for (int j = 0; j < 3; j++)
			m.v[3 * i + j] = sge[i][j];
	call(s, &m);
}

/* Server: the next count receive completions, checked. */
static void rexpect_recv_rxe(struct sess *s, int link, uint64_t wr_id,
			     int count, int status, int opcode, uint32_t len0,
			     uint32_t inc, unsigned int flags, uint32_t imm0,
			     int rxe_status)
{
	struct msg m = REQ(.op = OP_EXPECT_RECV,
			   .a = { (uint64_t)link, wr_id, (uint64_t)count,
				  (uint64_t)status, (uint64_t)opcode, len0, flags,
				  imm0, 0, inc, (uint64_t)(rxe_status + 1) });

	call(s, &m);
}

static void rexpect_recv(struct sess *s, int link, uint64_t wr_id, int count,
			 int status, int opcode, uint32_t len0, uint32_t inc,
			 unsigned int flags, uint32_t imm0)
{
	rexpect_recv_rxe(s, link, wr_id, count, status, opcode, len0, inc,
			 flags, imm0, -1);
}

static void rstats(struct sess *s, int idx, struct stats *d)
{
	struct msg m = REQ(.op = OP_STATS, .a = { (uint64_t)idx });

	call(s, &m);
	for (int i = 0; i < NSTATS; i++)
		d->v[i] = m.v[i];
}

static struct region *lregion(struct sess *s, int idx, size_t len, size_t off,
			      int kind, int access)
{
	return region_new(s, idx, len, off, kind, access, 0);
}

static void post_list(struct link *l, xsend_wr *wr)
{
	xsend_wr *bad = NULL;
	int err = x_post_send(l, wr, &bad);

	if (err)
		FAIL("post_send (opcode %d, wr_id %llu): %s", wr->opcode,
		     (unsigned long long)(bad ? bad->wr_id : wr->wr_id),
		     strerror(err));
}

static xsend_wr mk_wr(uint64_t wr_id, int opcode, xsge *sg, int nsge,
		      int signaled)
{
	xsend_wr w;

	memset(&w, 0, sizeof(w));
	w.wr_id = wr_id;
	w.opcode = opcode;
	w.sg_list = sg;
	w.num_sge = nsge;
	w.send_flags = signaled ? X_SEND_SIGNALED : 0;
	return w;
}

static xsend_wr mk_rdma(uint64_t wr_id, int opcode, xsge *sg, int nsge,
			int signaled, uint64_t raddr, uint32_t rkey)
{
	xsend_wr w = mk_wr(wr_id, opcode, sg, nsge, signaled);

	w.wr.rdma.remote_addr = raddr;
	w.wr.rdma.rkey = rkey;
	return w;
}

static xsend_wr mk_atomic(uint64_t wr_id, int opcode, xsge *sg, int signaled,
			  uint64_t raddr, uint32_t rkey, uint64_t compare_add,
			  uint64_t swap)
{
	xsend_wr w = mk_wr(wr_id, opcode, sg, 1, signaled);

	w.wr.atomic.remote_addr = raddr;
	w.wr.atomic.rkey = rkey;
	w.wr.atomic.compare_add = compare_add;
	w.wr.atomic.swap = swap;
	return w;
}

static void link_list(xsend_wr *w, int n)
{
	for (int i = 0; i < n; i++)
		w[i].next = i + 1 < n ? &w[i + 1] : NULL;
}

/*
 * Completions of n WRs posted as one list (wr_id base + i, signaled[i]),
 * strictly in post order: success for signaled WRs only, up to the first
 * WR that does not succeed (index k, returned; n if none).  From k on every
 * WR completes, signaled or not, one after the other, with WR_FLUSH_ERR or
 * an error of allowed[] (any error if n_allowed < 0), and one of them with
 * such an error: the WR that failed.  (WRs before the failed one that were
 * still in flight may complete with WR_FLUSH_ERR before it: they did not
 * fail, but the QP is in the error state by the time they complete.)
 * *err_status gets that error.  wc_opcode (optional): the opcode of each
 * WR's successful completion.
 */
static int collect(struct link *l, int n, uint64_t base,
		   const unsigned char *signaled, const int *wc_opcode,
		   const int *allowed, int n_allowed, int *err_status)
{
	int next = 0, k = n, err = -1;
	xwc wc;

	while (next < n) {
		int i;

		if (!poll_wait(l->scq, &wc, opt.timeout_ms))
			FAIL("no completion within %d ms: waiting for wr %d of "
			     "%d (first unsuccessful: %d)", opt.timeout_ms, next,
			     n, k);
		i = (int)(wc.wr_id - base);
		if (wc.wr_id < base || i < next || i >= n)
			FAIL("completion for wr %lld (status %s) out of post "
			     "order: expected wr %d..%d%s",
			     (long long)(wc.wr_id - base), st(wc.status), next,
			     n - 1, k < n ? " (after an unsuccessful one)" : "");
		if (k < n && i != next)
			FAIL("wr %d completed (%s) but wr %d, after the "
			     "unsuccessful wr %d, never did: every WR completes "
			     "once the QP is in the error state", i,
			     st(wc.status), next, k);
		if (wc.status == X_WC_SUCCESS) {
			if (k < n)
				FAIL("wr %d completed successfully after wr %d "
				     "did not", i, k);
			if (!signaled[i])
				FAIL("unsignaled wr %d completed successfully", i);
			if (wc_opcode && (int)wc.opcode != wc_opcode[i])
				FAIL("wr %d: completion opcode %d, expected %d",
				     i, wc.opcode, wc_opcode[i]);
		} else {
			int ok = n_allowed < 0 || wc.status == X_WC_WR_FLUSH_ERR;

			for (int j = 0; j < n_allowed; j++)
				ok |= (int)wc.status == allowed[j];
			if (!ok)
				FAIL("wr %d completed with %s (%d)", i,
				     st(wc.status), wc.status);
			if (k == n)
				k = i;
			if (err < 0 && (wc.status != X_WC_WR_FLUSH_ERR ||
					n_allowed < 0))
				err = wc.status;
		}
		next = i + 1;
	}
	if (k < n && err < 0)
		FAIL("wrs %d..%d all completed with WR_FLUSH_ERR: none with the "
		     "error that stopped the QP", k, n - 1);
	if (err_status)
		*err_status = err;
	return k;
}

/* Print the counters of both sides' main MRs; ODP: both must have faulted. */
static void report(struct sess *s, struct region *local, int ridx,
		   uint64_t min_local_faults, uint64_t min_remote_faults)
{
	struct stats l, r;

	region_delta(local, &l);
	rstats(s, ridx, &r);
	print_stats("client", &l);
	print_stats("server", &r);
	if (!xport_has_odp)
		return;
	EXPECT_U64(l.v[ST_FAULTS], >=, min_local_faults,
		   "client (requester) MR: faults");
	EXPECT_U64(r.v[ST_FAULTS], >=, min_remote_faults,
		   "server (responder) MR: faults");
}

/* ---- 1. every opcode, with faults on both sides ------------------------- */

#define OP_ITERS	8

/*
 * SEND, SEND_WITH_IMM, RDMA_WRITE, RDMA_WRITE_WITH_IMM: before every
 * iteration both buffers are thrown away (MADV_DONTNEED: the requester's
 * source is shared memory, so its data stays and must be faulted back; the
 * responder's target is private, so it faults zero pages in).  The server
 * checks every byte, the untouched bytes after it, and the receive
 * completion (opcode, byte_len, wc_flags, imm_data).
 */
static void op_data(struct sess *s, int opcode)
{
	struct link *l = &s->data[0];
	size_t len = 2 * page_size + 100;
	int is_send = opcode == X_WR_SEND || opcode == X_WR_SEND_WITH_IMM;
	int imm = opcode == X_WR_SEND_WITH_IMM ||
		  opcode == X_WR_RDMA_WRITE_WITH_IMM;
	struct region *src;
	struct rreg dst;

	/* A source needs no access flags: the device only reads it. */
	src = lregion(s, 0, len, 0, MAP_KIND_SHARED, 0);
	dst = ralloc(s, 0, len, 0, MAP_KIND_PRIVATE,
		     X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_WRITE, 0, 0);
	for (int i = 0; i < OP_ITERS; i++) {
		uint32_t seed = 100 + (uint32_t)i, immv = 0x5eed0000u + (uint32_t)i;
		uint64_t rsge[1][3] = { { 0, 0, len } };
		xsge sg;
		xsend_wr wr;

		rdontneed(s, 0);
		if (is_send)
			rpost_recv(s, 0, 1000 + (uint64_t)i, 1, 1, rsge, 0, 0);
		else if (imm)	/* consumes a receive; no SGE needed */
			rpost_recv(s, 0, 1000 + (uint64_t)i, 1, 0, rsge, 0, 0);
		fill_pattern(src->buf, len, seed);
		region_dontneed(src);

		sg = sge_of(src, 0, len);
		wr = mk_rdma((uint64_t)i, opcode, &sg, 1, 1, dst.addr, dst.rkey);
		if (imm)
			wr.imm_data = htonl(immv);
		post_list(l, &wr);
		expect_wc(l->scq, (uint64_t)i, X_WC_SUCCESS,
			  is_send ? X_WC_SEND : X_WC_RDMA_WRITE, "requester");

		if (is_send)
			rexpect_recv(s, 0, 1000 + (uint64_t)i, 1, X_WC_SUCCESS,
				     X_WC_RECV, (uint32_t)len, 0,
				     imm ? X_WC_WITH_IMM : 0, immv);
		else if (imm)
			rexpect_recv(s, 0, 1000 + (uint64_t)i, 1, X_WC_SUCCESS,
				     X_WC_RECV_RDMA_WITH_IMM, (uint32_t)len, 0,
				     X_WC_WITH_IMM, immv);
		else
			rsimple(s, OP_NO_RECV, 0);
		rcheck(s, 0, 0, len, seed, 0);
		rcheck(s, 0, (int64_t)len, dst.tail, 0, 0);
	}
	printf("iters=%d\n", OP_ITERS);
	report(s, src, 0, OP_ITERS, OP_ITERS);
}

static void t_send(struct sess *s)	{ op_data(s, X_WR_SEND); }
static void t_send_imm(struct sess *s)	{ op_data(s, X_WR_SEND_WITH_IMM); }
static void t_write(struct sess *s)	{ op_data(s, X_WR_RDMA_WRITE); }
static void t_write_imm(struct sess *s)	{ op_data(s, X_WR_RDMA_WRITE_WITH_IMM); }

/* RDMA_READ: the server's source (shared) and our target thrown away each time. */
static void t_read(struct sess *s)
{
	struct link *l = &s->data[0];
	size_t len = 2 * page_size + 100;
	struct region *dst;
	struct rreg src;

	dst = lregion(s, 0, len, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE);
	src = ralloc(s, 0, len, 0, MAP_KIND_SHARED,
		     X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_READ, 0, 0);
	for (int i = 0; i < OP_ITERS; i++) {
		uint32_t seed = 200 + (uint32_t)i;
		xsge sg = sge_of(dst, 0, len);
		xsend_wr wr = mk_rdma((uint64_t)i, X_WR_RDMA_READ, &sg, 1, 1,
				      src.addr, src.rkey);

		rfill(s, 0, 0, len, seed, 0, 1);
		region_dontneed(dst);
		post_list(l, &wr);
		expect_wc(l->scq, (uint64_t)i, X_WC_SUCCESS, X_WC_RDMA_READ,
			  "RDMA READ");
		check_pattern(dst->buf, len, seed, "RDMA READ data");
		check_bytes(dst->buf + len, dst->map.len - len, 0,
			    "bytes after the READ target");
	}
	rcheck(s, 0, (int64_t)len, src.tail, 0, 0);
	printf("iters=%d\n", OP_ITERS);
	report(s, dst, 0, OP_ITERS, OP_ITERS);
}

/*
 * ATOMIC_CMP_AND_SWP and ATOMIC_FETCH_AND_ADD on a word of the server's
 * shared page (thrown away before each iteration, its value stays), the old
 * value landing in our private page (thrown away too).  64-bit values that
 * carry across the 32-bit boundary.
 */
static void op_atomic(struct sess *s, int cas)
{
	struct link *l = &s->data[0];
	struct region *res;
	struct rreg word;
	const size_t woff = 16;

	res = lregion(s, 0, page_size, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE);
	word = ralloc(s, 0, page_size, 0, MAP_KIND_SHARED,
		      X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_ATOMIC, 0, 0);
	for (int i = 0; i < OP_ITERS; i++) {
		uint64_t v = 0x01234567fffffff0ULL + (uint64_t)i * 0x1111111111ULL;
		uint64_t x = cas ? ~v : 0xffffffffULL + (uint64_t)i * 3;
		uint64_t y = cas ? 0x5555555555555555ULL : 0x100000001ULL;
		uint64_t got, want_final;
		xsge sg = sge_of(res, 8, 8);
		xsend_wr wr;

		rset64(s, 0, woff, v, 1);
		region_dontneed(res);
		/* CAS: compare matches, swaps in x.  FETCH_ADD: adds x. */
		wr = mk_atomic(2 * (uint64_t)i, cas ? X_WR_ATOMIC_CMP_AND_SWP :
			       X_WR_ATOMIC_FETCH_AND_ADD, &sg, 1,
			       word.addr + woff, word.rkey, cas ? v : x, x);
		post_list(l, &wr);
		expect_wc(l->scq, 2 * (uint64_t)i, X_WC_SUCCESS,
			  cas ? X_WC_COMP_SWAP : X_WC_FETCH_ADD, "atomic");
		memcpy(&got, res->buf + 8, 8);
		EXPECT_U64(got, ==, v, "old value returned by the atomic");
		check_bytes(res->buf, 8, 0, "bytes before the atomic's result");
		check_bytes(res->buf + 16, res->map.len - 16, 0,
			    "bytes after the atomic's result");

		/* CAS: compare no longer matches, nothing swapped.  FA: again. */
		region_dontneed(res);
		wr = mk_atomic(2 * (uint64_t)i + 1, cas ? X_WR_ATOMIC_CMP_AND_SWP :
			       X_WR_ATOMIC_FETCH_AND_ADD, &sg, 1,
			       word.addr + woff, word.rkey, cas ? v : y, y);
		post_list(l, &wr);
		expect_wc(l->scq, 2 * (uint64_t)i + 1, X_WC_SUCCESS,
			  cas ? X_WC_COMP_SWAP : X_WC_FETCH_ADD, "atomic");
		memcpy(&got, res->buf + 8, 8);
		EXPECT_U64(got, ==, cas ? x : v + x,
			   cas ? "old value of a failed compare" :
				 "old value of the second fetch-add");
		want_final = cas ? x : v + x + y;
		EXPECT_U64(rget64(s, 0, woff), ==, want_final,
			   "the server's word after the atomics");
		rcheck(s, 0, 0, woff, 0, 0);
		rcheck(s, 0, woff + 8, page_size - woff - 8, 0, 0);
	}
	printf("iters=%d\n", OP_ITERS);
	report(s, res, 0, OP_ITERS, OP_ITERS);
}

static void t_cmp_swap(struct sess *s)	{ op_atomic(s, 1); }
static void t_fetch_add(struct sess *s)	{ op_atomic(s, 0); }

/* ---- 2. large, unaligned, multi-SGE, many outstanding ------------------- */

#define LARGE_LEN	((1u << 20) + 3)

/* 1 MiB + 3 bytes, from offset 5 of a page to offset 4093 of another. */
static void t_large_write(struct sess *s)
{
	struct link *l = &s->data[0];
	struct region *src;
	struct rreg dst;
	xsge sg;
	xsend_wr wr;

	src = lregion(s, 0, LARGE_LEN, 5, MAP_KIND_SHARED, 0);
	fill_pattern(src->buf, LARGE_LEN, 300);
	region_dontneed(src);
	dst = ralloc(s, 0, LARGE_LEN, 4093, MAP_KIND_PRIVATE,
		     X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_WRITE, 0, 0);
	sg = sge_of(src, 0, LARGE_LEN);
	wr = mk_rdma(1, X_WR_RDMA_WRITE, &sg, 1, 1, dst.addr, dst.rkey);
	post_list(l, &wr);
	expect_wc(l->scq, 1, X_WC_SUCCESS, X_WC_RDMA_WRITE, "1 MiB WRITE");
	rcheck(s, 0, 0, LARGE_LEN, 300, 0);
	rcheck(s, 0, -(int64_t)dst.head, dst.head, 0, 0);
	rcheck(s, 0, LARGE_LEN, dst.tail, 0, 0);
	report(s, src, 0, 1, 1);
	printf("bytes=%u\n", LARGE_LEN);
}

static void t_large_read(struct sess *s)
{
	struct link *l = &s->data[0];
	struct region *dst;
	struct rreg src;
	xsge sg;
	xsend_wr wr;

	dst = lregion(s, 0, LARGE_LEN, 11, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE);
	src = ralloc(s, 0, LARGE_LEN, 4093, MAP_KIND_SHARED,
		     X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_READ, 0, 0);
	rfill(s, 0, 0, LARGE_LEN, 301, 0, 1);
	sg = sge_of(dst, 0, LARGE_LEN);
	wr = mk_rdma(1, X_WR_RDMA_READ, &sg, 1, 1, src.addr, src.rkey);
	post_list(l, &wr);
	expect_wc(l->scq, 1, X_WC_SUCCESS, X_WC_RDMA_READ, "1 MiB READ");
	check_pattern(dst->buf, LARGE_LEN, 301, "1 MiB READ data");
	check_bytes(dst->map.addr, 11, 0, "bytes before the READ target");
	check_bytes(dst->buf + LARGE_LEN, dst->map.len - 11 - LARGE_LEN, 0,
		    "bytes after the READ target");
	report(s, dst, 0, 1, 1);
	printf("bytes=%u\n", LARGE_LEN);
}

/* 1 MiB + 3 SEND from one SGE into a receive of three SGEs over two MRs. */
static void t_large_send(struct sess *s)
{
	struct link *l = &s->data[0];
	const size_t a = 1000, b = 524289, c = LARGE_LEN - a - b;
	uint64_t rsge[3][3] = {
		{ 0, 0, a }, { 1, 0, b }, { 0, 2 * page_size + 7, c + 13 },
	};
	struct region *src;
	xsge sg;
	xsend_wr wr;

	src = lregion(s, 0, LARGE_LEN, 5, MAP_KIND_SHARED, 0);
	fill_pattern(src->buf, LARGE_LEN, 302);
	region_dontneed(src);
	ralloc(s, 0, 2 * page_size + 7 + c + 13, 1, MAP_KIND_PRIVATE,
	       X_ACCESS_LOCAL_WRITE, 0, 0);
	ralloc(s, 1, b, 3, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE, 0, 0);
	rpost_recv(s, 0, 77, 1, 3, rsge, 0, 0);
	sg = sge_of(src, 0, LARGE_LEN);
	wr = mk_wr(1, X_WR_SEND, &sg, 1, 1);
	post_list(l, &wr);
	expect_wc(l->scq, 1, X_WC_SUCCESS, X_WC_SEND, "1 MiB SEND");
	rexpect_recv(s, 0, 77, 1, X_WC_SUCCESS, X_WC_RECV, LARGE_LEN, 0, 0, 0);
	rcheck(s, 0, 0, a, 302, 0);
	rcheck(s, 0, (int64_t)a, 2 * page_size + 7 - a, 0, 0);
	rcheck(s, 1, 0, b, 302, a);
	rcheck(s, 0, 2 * page_size + 7, c, 302, a + b);
	rcheck(s, 0, 2 * page_size + 7 + c, 13, 0, 0);
	report(s, src, 0, 1, 1);
	printf("bytes=%u\n", LARGE_LEN);
}

/* SGE lists with odd lengths at odd addresses over two MRs. */
static const size_t msge_len[7] = { 1, 7, 4095, 4097, 13, 8191, 65537 };
static const size_t msge_off[7] = { 1, 0, 10, 100, 9000, 5000, 20000 };
#define MSGE_N		7
#define MSGE_TOTAL	(1 + 7 + 4095 + 4097 + 13 + 8191 + 65537)
#define MSGE_ROFF	4093

/*
 * Our SGE i: region i % 2 (A: offset 3, B: offset 4095 into their pages),
 * msge_off[i] + ... so that SGEs of one region never overlap; the stream of
 * all SGEs is the pattern seed from index 0.
 */
static void msge_layout(struct sess *s, xsge *sg, int fill, uint32_t seed)
{
	size_t pos = 0, cursor[2] = { 0, 0 };

	for (int i = 0; i < MSGE_N; i++) {
		struct region *r = &s->reg[i % 2];
		size_t off = cursor[i % 2] + msge_off[i];

		sg[i] = sge_of(r, off, msge_len[i]);
		if (fill)
			for (size_t j = 0; j < msge_len[i]; j++)
				r->buf[off + j] = (char)pattern_byte(seed, pos + j);
		cursor[i % 2] = off + msge_len[i];
		pos += msge_len[i];
	}
}

static void msge_regions(struct sess *s, int access, int kind)
{
	lregion(s, 0, 200000, 3, kind, access);
	lregion(s, 1, 100000, 4095, kind, access);
}

static void t_multi_sge_write(struct sess *s)
{
	struct link *l = &s->data[0];
	xsge sg[MSGE_N];
	xsend_wr wr;
	struct rreg dst;

	msge_regions(s, 0, MAP_KIND_SHARED);
	msge_layout(s, sg, 1, 400);
	region_dontneed(&s->reg[0]);
	region_dontneed(&s->reg[1]);
	dst = ralloc(s, 0, MSGE_ROFF + MSGE_TOTAL + 5, 0, MAP_KIND_PRIVATE,
		     X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_WRITE, 0, 0);
	wr = mk_rdma(1, X_WR_RDMA_WRITE, sg, MSGE_N, 1, dst.addr + MSGE_ROFF,
		     dst.rkey);
	post_list(l, &wr);
	expect_wc(l->scq, 1, X_WC_SUCCESS, X_WC_RDMA_WRITE, "multi-SGE WRITE");
	rcheck(s, 0, 0, MSGE_ROFF, 0, 0);
	rcheck(s, 0, MSGE_ROFF, MSGE_TOTAL, 400, 0);
	rcheck(s, 0, MSGE_ROFF + MSGE_TOTAL, 5 + dst.tail, 0, 0);
	report(s, &s->reg[0], 0, 1, 1);
}

/* READ scattered over the same SGE list; the bytes between stay 0xee. */
static void t_multi_sge_read(struct sess *s)
{
	struct link *l = &s->data[0];
	xsge sg[MSGE_N];
	xsend_wr wr;
	struct rreg src;

	msge_regions(s, X_ACCESS_LOCAL_WRITE, MAP_KIND_PRIVATE);
	for (int r = 0; r < 2; r++)
		memset(s->reg[r].map.addr, 0xee, s->reg[r].map.len);
	msge_layout(s, sg, 0, 0);
	src = ralloc(s, 0, MSGE_ROFF + MSGE_TOTAL + 5, 0, MAP_KIND_SHARED,
		     X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_READ, 0, 0);
	rfill(s, 0, MSGE_ROFF, MSGE_TOTAL, 401, 0, 1);
	wr = mk_rdma(1, X_WR_RDMA_READ, sg, MSGE_N, 1, src.addr + MSGE_ROFF,
		     src.rkey);
	post_list(l, &wr);
	expect_wc(l->scq, 1, X_WC_SUCCESS, X_WC_RDMA_READ, "multi-SGE READ");
	for (int r = 0; r < 2; r++) {
		/* Mark the SGEs' bytes after checking them: the rest is 0xee. */
		for (int i = r; i < MSGE_N; i += 2) {
			size_t p = 0;

			for (int j = 0; j < i; j++)
				p += msge_len[j];
			for (size_t j = 0; j < msge_len[i]; j++) {
				uint8_t *b = (uint8_t *)(uintptr_t)sg[i].addr + j;

				if (*b != pattern_byte(401, p + j))
					FAIL("multi-SGE READ: SGE %d byte %zu is "
					     "0x%02x, expected 0x%02x", i, j, *b,
					     pattern_byte(401, p + j));
				*b = 0xee;
			}
		}
		check_bytes(s->reg[r].map.addr, s->reg[r].map.len, 0xee,
			    "bytes outside the READ's SGEs");
	}
	printf("bytes=%d\n", MSGE_TOTAL);
	report(s, &s->reg[0], 0, 1, 1);
}

/* SEND gathered from the SGE list, scattered into 4 SGEs split elsewhere. */
static void t_multi_sge_send(struct sess *s)
{
	struct link *l = &s->data[0];
	xsge sg[MSGE_N];
	xsend_wr wr;
	const size_t r0 = 5000, r1 = 3, r2 = 70001;
	const size_t r3 = MSGE_TOTAL - r0 - r1 - r2;
	uint64_t rsge[4][3] = {
		{ 0, 1, r0 }, { 1, 7, r1 }, { 0, 1 + r0 + 50, r2 },
		{ 1, 7 + r1 + 1, r3 + 9 },
	};

	msge_regions(s, 0, MAP_KIND_SHARED);
	msge_layout(s, sg, 1, 402);
	region_dontneed(&s->reg[0]);
	region_dontneed(&s->reg[1]);
	ralloc(s, 0, 1 + r0 + 50 + r2 + 3, 3, MAP_KIND_PRIVATE,
	       X_ACCESS_LOCAL_WRITE, 0, 0);
	ralloc(s, 1, 7 + r1 + 1 + r3 + 9 + 2, 4093, MAP_KIND_PRIVATE,
	       X_ACCESS_LOCAL_WRITE, 0, 0);
	rpost_recv(s, 0, 88, 1, 4, rsge, 0, 0);
	wr = mk_wr(1, X_WR_SEND, sg, MSGE_N, 1);
	post_list(l, &wr);
	expect_wc(l->scq, 1, X_WC_SUCCESS, X_WC_SEND, "multi-SGE SEND");
	rexpect_recv(s, 0, 88, 1, X_WC_SUCCESS, X_WC_RECV, MSGE_TOTAL, 0, 0, 0);
	rcheck(s, 0, 0, 1, 0, 0);
	rcheck(s, 0, 1, r0, 402, 0);
	rcheck(s, 0, 1 + r0, 50, 0, 0);
	rcheck(s, 0, 1 + r0 + 50, r2, 402, r0 + r1);
	rcheck(s, 0, 1 + r0 + 50 + r2, 3, 0, 0);
	rcheck(s, 1, 0, 7, 0, 0);
	rcheck(s, 1, 7, r1, 402, r0);
	rcheck(s, 1, 7 + r1, 1, 0, 0);
	rcheck(s, 1, 7 + r1 + 1, r3, 402, r0 + r1 + r2);
	rcheck(s, 1, 7 + r1 + 1 + r3, 9 + 2, 0, 0);
	report(s, &s->reg[0], 0, 1, 1);
}

static void rstrided(struct sess *s, int op, int idx, int n, size_t base,
		     size_t stride, size_t len0, size_t inc, uint32_t seed0,
		     int dontneed)
{
	struct msg m = REQ(.op = (uint64_t)op,
			   .a = { (uint64_t)idx, (uint64_t)n, base, stride, len0,
				  inc, seed0, (uint64_t)dontneed });

	call(s, &m);
}

/* 128 WRITEs of odd lengths posted as one list, every third signaled. */
static void t_many_writes(struct sess *s)
{
	struct link *l = &s->data[0];
	enum { N = 128 };
	xsend_wr wr[N];
	xsge sg[N];
	unsigned char sig[N];
	int op[N];
	struct region *src;
	struct rreg dst;

	src = lregion(s, 0, 5 + N * 1200, 0, MAP_KIND_SHARED, 0);
	fill_strided(src->buf, N, 5, 1200, 1000, 1, 500);
	region_dontneed(src);
	dst = ralloc(s, 0, 3 + N * 1300, 0, MAP_KIND_PRIVATE,
		     X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_WRITE, 0, 0);
	for (int i = 0; i < N; i++) {
		sg[i] = sge_of(src, 5 + (size_t)i * 1200, 1000 + (size_t)i);
		sig[i] = i % 3 == 0 || i == N - 1;
		op[i] = X_WC_RDMA_WRITE;
		wr[i] = mk_rdma(5000 + (uint64_t)i, X_WR_RDMA_WRITE, &sg[i], 1,
				sig[i], dst.addr + 3 + (uint64_t)i * 1300, dst.rkey);
	}
	link_list(wr, N);
	post_list(l, wr);
	if (collect(l, N, 5000, sig, op, NULL, 0, NULL) != N)
		FAIL("a WRITE failed");
	rstrided(s, OP_CHECK_STRIDED, 0, N, 3, 1300, 1000, 1, 500, 0);
	printf("outstanding=%d\n", N);
	report(s, src, 0, 1, 1);
}

/* 64 READs of odd lengths posted as one list, every fourth signaled. */
static void t_many_reads(struct sess *s)
{
	struct link *l = &s->data[0];
	enum { N = 64 };
	xsend_wr wr[N];
	xsge sg[N];
	unsigned char sig[N];
	int op[N];
	struct region *dst;
	struct rreg src;

	dst = lregion(s, 0, 11 + N * 1200, 0, MAP_KIND_PRIVATE,
		      X_ACCESS_LOCAL_WRITE);
	src = ralloc(s, 0, 7 + N * 1300, 0, MAP_KIND_SHARED,
		     X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_READ, 0, 0);
	rstrided(s, OP_FILL_STRIDED, 0, N, 7, 1300, 900, 3, 600, 1);
	for (int i = 0; i < N; i++) {
		sg[i] = sge_of(dst, 11 + (size_t)i * 1200, 900 + 3 * (size_t)i);
		sig[i] = i % 4 == 3 || i == N - 1;
		op[i] = X_WC_RDMA_READ;
		wr[i] = mk_rdma(6000 + (uint64_t)i, X_WR_RDMA_READ, &sg[i], 1,
				sig[i], src.addr + 7 + (uint64_t)i * 1300, src.rkey);
	}
	link_list(wr, N);
	post_list(l, wr);
	if (collect(l, N, 6000, sig, op, NULL, 0, NULL) != N)
		FAIL("a READ failed");
	check_strided(dst->buf, dst->len, N, 11, 1200, 900, 3, 600,
		      "READ targets");
	printf("outstanding=%d\n", N);
	report(s, dst, 0, 1, 1);
}

/*
 * 96 WRs in one list, cycling WRITE, READ, FETCH_ADD, SEND, every other one
 * signaled: completions in post order with the right opcodes, fetch-adds on
 * one word return consecutive values (they execute in order), and
 * everything lands where it should.
 */
static void t_many_mixed(struct sess *s)
{
	struct link *l = &s->data[0];
	enum { N = 96, M = N / 4 };
	xsend_wr wr[N];
	xsge sg[N];
	unsigned char sig[N];
	int op[N];
	struct region *wsrc, *rdst, *res, *ssrc;
	struct rreg wdst, rsrc, word;
	uint64_t rs[1][3] = { { 3, 1, 400 } };

	wsrc = lregion(s, 0, N * 600, 0, MAP_KIND_SHARED, 0);
	rdst = lregion(s, 1, M * 500 + 5, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE);
	res = lregion(s, 2, M * 8, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE);
	ssrc = lregion(s, 3, M * 400, 0, MAP_KIND_SHARED, 0);
	fill_strided(wsrc->buf, M, 1, 600, 500, 1, 700);
	fill_strided(ssrc->buf, M, 0, 400, 300, 1, 900);
	region_dontneed(wsrc);
	region_dontneed(ssrc);

	wdst = ralloc(s, 0, M * 700 + 2, 0, MAP_KIND_PRIVATE,
		      X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_WRITE, 0, 0);
	rsrc = ralloc(s, 1, M * 500 + 3, 0, MAP_KIND_SHARED,
		      X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_READ, 0, 0);
	word = ralloc(s, 2, 64, 0, MAP_KIND_SHARED,
		      X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_ATOMIC, 0, 0);
	ralloc(s, 3, M * 400 + 1, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE, 0, 0);
	rstrided(s, OP_FILL_STRIDED, 1, M, 3, 500, 400, 1, 800, 1);
	rset64(s, 2, 8, 1000, 1);
	rpost_recv(s, 0, 2000, M, 1, rs, 400, 0);

	for (int i = 0; i < N; i++) {
		size_t j = (size_t)i / 4;
		uint64_t id = 7000 + (uint64_t)i;

		sig[i] = i % 2 == 1 || i == N - 1;
		switch (i % 4) {
		case 0:
			sg[i] = sge_of(wsrc, 1 + j * 600, 500 + j);
			wr[i] = mk_rdma(id, X_WR_RDMA_WRITE, &sg[i], 1, sig[i],
					wdst.addr + 2 + j * 700, wdst.rkey);
			op[i] = X_WC_RDMA_WRITE;
			break;
		case 1:
			sg[i] = sge_of(rdst, 5 + j * 500, 400 + j);
			wr[i] = mk_rdma(id, X_WR_RDMA_READ, &sg[i], 1, sig[i],
					rsrc.addr + 3 + j * 500, rsrc.rkey);
			op[i] = X_WC_RDMA_READ;
			break;
		case 2:
			sg[i] = sge_of(res, j * 8, 8);
			wr[i] = mk_atomic(id, X_WR_ATOMIC_FETCH_AND_ADD, &sg[i],
					  sig[i], word.addr + 8, word.rkey, 1, 0);
			op[i] = X_WC_FETCH_ADD;
			break;
		default:
			sg[i] = sge_of(ssrc, j * 400, 300 + j);
			wr[i] = mk_wr(id, X_WR_SEND, &sg[i], 1, sig[i]);
			op[i] = X_WC_SEND;
			break;
		}
	}
	link_list(wr, N);
	post_list(l, wr);
	if (collect(l, N, 7000, sig, op, NULL, 0, NULL) != N)
		FAIL("a WR failed");

	rstrided(s, OP_CHECK_STRIDED, 0, M, 2, 700, 500, 1, 700, 0);
	check_strided(rdst->buf, rdst->len, M, 5, 500, 400, 1, 800,
		      "READ targets");
	for (int j = 0; j < M; j++) {
		uint64_t got;

		memcpy(&got, res->buf + j * 8, 8);
		EXPECT_U64(got, ==, 1000 + (uint64_t)j,
			   "old value of a fetch-add (they execute in order)");
	}
	EXPECT_U64(rget64(s, 2, 8), ==, 1000 + M, "word after the fetch-adds");
	rexpect_recv(s, 0, 2000, M, X_WC_SUCCESS, X_WC_RECV, 300, 1, 0, 0);
	rstrided(s, OP_CHECK_STRIDED, 3, M, 1, 400, 300, 1, 900, 0);
	printf("outstanding=%d\n", N);
	report(s, wsrc, 0, 1, 1);
}

/* ---- 3. atomics from two QPs on one word -------------------------------- */

#define ATOMIC_N	200
#define ATOMIC_WINDOW	16

struct atomic_worker {
	struct sess	*s;
	struct link	*l;
	struct region	*res;
	uint64_t	raddr;
	uint32_t	rkey;
	int		cas;
	uint64_t	init;
	int		n;
	uint64_t	olds[ATOMIC_N];	/* successful ones */
	unsigned long	cas_failures;
};

/* FETCH_ADD(+1) n times, up to ATOMIC_WINDOW outstanding. */
static void *fadd_worker(void *arg)
{
	struct atomic_worker *w = arg;
	int posted = 0, done = 0;

	while (done < w->n) {
		while (posted < w->n && posted - done < ATOMIC_WINDOW) {
			xsge sg = sge_of(w->res, (size_t)posted * 8, 8);
			xsend_wr wr = mk_atomic((uint64_t)posted,
						X_WR_ATOMIC_FETCH_AND_ADD, &sg, 1,
						w->raddr, w->rkey, 1, 0);

			post_list(w->l, &wr);
			posted++;
		}
		expect_wc(w->l->scq, (uint64_t)done, X_WC_SUCCESS,
			  X_WC_FETCH_ADD, "fetch-add");
		memcpy(&w->olds[done], w->res->buf + (size_t)done * 8, 8);
		done++;
	}
	return NULL;
}

/* CAS(cur, cur + 1) until n of them succeeded; a failure tells the value. */
static void *cas_worker(void *arg)
{
	struct atomic_worker *w = arg;
	uint64_t cur = w->init, id = 0;
	int ok = 0;

	while (ok < w->n) {
		xsge sg = sge_of(w->res, 0, 8);
		xsend_wr wr = mk_atomic(id, X_WR_ATOMIC_CMP_AND_SWP, &sg, 1,
					w->raddr, w->rkey, cur, cur + 1);
		uint64_t old;

		post_list(w->l, &wr);
		expect_wc(w->l->scq, id, X_WC_SUCCESS, X_WC_COMP_SWAP,
			  "compare-and-swap");
		id++;
		memcpy(&old, w->res->buf, 8);
		if (old == cur) {
			w->olds[ok++] = old;
			cur = old + 1;
		} else {
			w->cas_failures++;
			cur = old;
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Two connections, one thread each, ATOMIC_N atomics each on the same word
 * of the server (whose page the server keeps throwing away meanwhile): the
 * final value is the sum, and the old values returned are exactly
 * init .. init + 2N - 1, each once.
 */
static void atomic_two_qp(struct sess *s, int cas)
{
	struct atomic_worker w[2];
	const uint64_t init = 0xffffff00ULL;	/* crosses 2^32 */
	uint64_t all[2 * ATOMIC_N];
	pthread_t th[2];
	struct rreg word;
	struct stats d;

	word = ralloc(s, 0, page_size, 0, MAP_KIND_SHARED,
		      X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_ATOMIC, 0, 0);
	rset64(s, 0, 64, init, 1);
	if (xport_has_odp) {
		struct msg m = REQ(.op = OP_MUTATE_START,
				   .a = { 0, MUT_DONTNEED, 0, 2000, 0, 100000, 7 });

		call(s, &m);
	}
	for (int i = 0; i < 2; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = s;
		w[i].l = &s->data[i];
		w[i].res = lregion(s, i, ATOMIC_N * 8, 0, MAP_KIND_PRIVATE,
				   X_ACCESS_LOCAL_WRITE);
		w[i].raddr = word.addr + 64;
		w[i].rkey = word.rkey;
		w[i].cas = cas;
		w[i].init = init;
		w[i].n = cas ? ATOMIC_N / 2 : ATOMIC_N;
	}
	for (int i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, cas ? cas_worker : fadd_worker,
				   &w[i]))
			FAIL("pthread_create: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	if (xport_has_odp) {
		struct msg m = REQ(.op = OP_MUTATE_STOP, .a = { 0 });

		call(s, &m);
		printf("server_invalidations_run=%llu\n", (unsigned long long)m.a[0]);
	}

	EXPECT_U64(rget64(s, 0, 64), ==, init + (uint64_t)(w[0].n + w[1].n),
		   "the word after the atomics of both QPs");
	memcpy(all, w[0].olds, (size_t)w[0].n * 8);
	memcpy(all + w[0].n, w[1].olds, (size_t)w[1].n * 8);
	qsort(all, (size_t)(w[0].n + w[1].n), 8, cmp_u64);
	for (int i = 0; i < w[0].n + w[1].n; i++)
		if (all[i] != init + (uint64_t)i)
			FAIL("old values: sorted value %d is %#llx, expected %#llx "
			     "(%s)", i, (unsigned long long)all[i],
			     (unsigned long long)(init + (uint64_t)i),
			     i && all[i] == all[i - 1] ? "returned twice" : "missing");
	printf("atomics=%d qp0=%d qp1=%d cas_failures=%lu\n", w[0].n + w[1].n,
	       w[0].n, w[1].n, w[0].cas_failures + w[1].cas_failures);
	rstats(s, 0, &d);
	print_stats("server", &d);
}

static void t_atomic_two_qp_fadd(struct sess *s) { atomic_two_qp(s, 0); }
static void t_atomic_two_qp_cas(struct sess *s)	 { atomic_two_qp(s, 1); }

/* ---- 4. errors ---------------------------------------------------------- */

enum err_kind {
	E_RKEY_WRITE, E_RKEY_READ, E_RKEY_ATOMIC, E_RKEY_WRITE_UNSIGNALED,
	E_BOUNDS_WRITE, E_BOUNDS_READ, E_BOUNDS_ATOMIC,
	E_ACCESS_WRITE, E_ACCESS_READ, E_ACCESS_CAS, E_ACCESS_FADD,
	E_UNMAPPED_WRITE, E_UNMAPPED_READ, E_UNMAPPED_ATOMIC,
	E_OTHER_PD_WRITE,
	E_LKEY_WRITE, E_LKEY_READ, E_LKEY_BOUNDS, E_LOCAL_READONLY,
	E_RECV_LEN, E_RECV_LKEY,
};

#define ERR_LEN		(2 * (size_t)page_size)
#define ERR_SEED(i)	(31 + (i))
#define BAD_KEY(k)	(((k) + 0x10000u) ^ 0x5a5a5au)

/*
 * The server has six MRs of two pages, filled with patterns: 0 all access,
 * 1 without REMOTE_WRITE, 2 without REMOTE_READ, 3 without REMOTE_ATOMIC,
 * 4 unmapped after registration, 5 on another PD.  We post the bad WR and a
 * good WRITE behind it (into MR 0) in one list, and have a receive posted:
 * the bad WR completes with its status, the WRITE and our receive with
 * WR_FLUSH_ERR; for remote errors the server's QP goes to the error state
 * too (its posted receive flushes); no byte of the server's memory changed.
 */
static void err_test(struct sess *s, int kind)
{
	struct link *l = &s->data[0];
	int remote = kind < E_LKEY_WRITE || kind >= E_RECV_LEN;
	int unsig = kind == E_RKEY_WRITE_UNSIGNALED;
	int want, want_srv = X_WC_WR_FLUSH_ERR, rxe_want = -1, rxe_srv = -1;
	struct region *loc, *ro;
	struct rreg r[6] = { { 0 } };
	uint64_t scratch[1][3] = { { 7, 0, 100 } };
	xsge sg[2], rsg;
	xsend_wr wr[2];
	xrecv_wr rwr, *rbad;
	int err;

	if (kind >= E_UNMAPPED_WRITE && kind <= E_UNMAPPED_ATOMIC && !xport_has_odp)
		SKIP("a pinned MR keeps its pages after munmap");
	r[0] = ralloc(s, 0, ERR_LEN, 0, MAP_KIND_PRIVATE, X_ACCESS_ALL, 0, ERR_SEED(0));
	r[1] = ralloc(s, 1, ERR_LEN, 0, MAP_KIND_PRIVATE,
		      X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_READ |
		      X_ACCESS_REMOTE_ATOMIC, 0, ERR_SEED(1));
	r[2] = ralloc(s, 2, ERR_LEN, 0, MAP_KIND_PRIVATE,
		      X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_WRITE |
		      X_ACCESS_REMOTE_ATOMIC, 0, ERR_SEED(2));
	r[3] = ralloc(s, 3, ERR_LEN, 0, MAP_KIND_PRIVATE,
		      X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_WRITE |
		      X_ACCESS_REMOTE_READ, 0, ERR_SEED(3));
	r[5] = ralloc(s, 5, ERR_LEN, 0, MAP_KIND_PRIVATE, X_ACCESS_ALL, 1, ERR_SEED(5));
	ralloc(s, 7, 1024, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE, 0, 0);

	/* The server's receives: the first takes a SEND, or flushes. */
	if (kind == E_RECV_LEN || kind == E_RECV_LKEY) {
		rpost_recv(s, 0, 900, 1, 1, scratch, 0, kind == E_RECV_LKEY);
		rpost_recv(s, 0, 901, 1, 1, scratch, 0, 0);
	} else {
		rpost_recv(s, 0, 900, 1, 1, scratch, 0, 0);
	}
	/*
	 * Last: the server maps nothing after this, so the hole stays unmapped
	 * (a later mmap() may reuse it, and the MR would follow: ODP MRs
	 * belong to addresses, not to pages).
	 */
	if (xport_has_odp) {
		r[4] = ralloc(s, 4, ERR_LEN, 0, MAP_KIND_PRIVATE, X_ACCESS_ALL, 0,
			      ERR_SEED(4));
		rsimple(s, OP_UNMAP, 4);
	}

	loc = lregion(s, 0, ERR_LEN, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE);
	fill_pattern(loc->buf, ERR_LEN, 41);
	ro = lregion(s, 1, page_size, 0, MAP_KIND_PRIVATE, 0);
	rsg = sge_of(loc, ERR_LEN - 64, 64);
	memset(&rwr, 0, sizeof(rwr));
	rwr.wr_id = 950;
	rwr.sg_list = &rsg;
	rwr.num_sge = 1;
	if ((err = x_post_recv(l, &rwr, &rbad)))
		FAIL("post_recv: %s", strerror(err));

	sg[0] = sge_of(loc, 0, 100);
	want = X_WC_REM_ACCESS_ERR;
	switch (kind) {
	case E_RKEY_WRITE:
	case E_RKEY_WRITE_UNSIGNALED:
		wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, sg, 1, !unsig, r[0].addr,
				BAD_KEY(r[0].rkey));
		break;
	case E_RKEY_READ:
		wr[0] = mk_rdma(1, X_WR_RDMA_READ, sg, 1, 1, r[0].addr,
				BAD_KEY(r[0].rkey));
		break;
	case E_RKEY_ATOMIC:
		sg[0].length = 8;
		wr[0] = mk_atomic(1, X_WR_ATOMIC_FETCH_AND_ADD, sg, 1, r[0].addr,
				  BAD_KEY(r[0].rkey), 1, 0);
		break;
	case E_BOUNDS_WRITE:	/* crosses the end */
		wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, sg, 1, 1,
				r[0].addr + ERR_LEN - 50, r[0].rkey);
		break;
	case E_BOUNDS_READ:	/* starts before the start */
		sg[0].length = 10;
		wr[0] = mk_rdma(1, X_WR_RDMA_READ, sg, 1, 1, r[0].addr - 1,
				r[0].rkey);
		break;
	case E_BOUNDS_ATOMIC:	/* just past the end */
		sg[0].length = 8;
		wr[0] = mk_atomic(1, X_WR_ATOMIC_FETCH_AND_ADD, sg, 1,
				  r[0].addr + ERR_LEN, r[0].rkey, 1, 0);
		break;
	case E_ACCESS_WRITE:
		wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, sg, 1, 1, r[1].addr, r[1].rkey);
		break;
	case E_ACCESS_READ:
		wr[0] = mk_rdma(1, X_WR_RDMA_READ, sg, 1, 1, r[2].addr, r[2].rkey);
		break;
	case E_ACCESS_CAS:
	case E_ACCESS_FADD:
		sg[0].length = 8;
		wr[0] = mk_atomic(1, kind == E_ACCESS_CAS ? X_WR_ATOMIC_CMP_AND_SWP :
				  X_WR_ATOMIC_FETCH_AND_ADD, sg, 1, r[3].addr,
				  r[3].rkey, 0, 1);
		break;
	case E_UNMAPPED_WRITE:
		wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, sg, 1, 1, r[4].addr, r[4].rkey);
		break;
	case E_UNMAPPED_READ:
		wr[0] = mk_rdma(1, X_WR_RDMA_READ, sg, 1, 1, r[4].addr, r[4].rkey);
		break;
	case E_UNMAPPED_ATOMIC:
		sg[0].length = 8;
		wr[0] = mk_atomic(1, X_WR_ATOMIC_FETCH_AND_ADD, sg, 1, r[4].addr,
				  r[4].rkey, 1, 0);
		break;
	case E_OTHER_PD_WRITE:
		wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, sg, 1, 1, r[5].addr, r[5].rkey);
		break;
	case E_LKEY_WRITE:
		sg[0].lkey = BAD_KEY(sg[0].lkey);
		wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, sg, 1, 1, r[0].addr, r[0].rkey);
		want = X_WC_LOC_PROT_ERR;
		break;
	case E_LKEY_READ:
		sg[0].lkey = BAD_KEY(sg[0].lkey);
		wr[0] = mk_rdma(1, X_WR_RDMA_READ, sg, 1, 1, r[0].addr, r[0].rkey);
		want = X_WC_LOC_PROT_ERR;
		break;
	case E_LKEY_BOUNDS:	/* the SGE goes past the end of its MR */
		sg[0] = sge_of(loc, ERR_LEN - 50, 100);
		wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, sg, 1, 1, r[0].addr, r[0].rkey);
		want = X_WC_LOC_PROT_ERR;
		break;
	case E_LOCAL_READONLY:	/* READ into an MR without LOCAL_WRITE */
		sg[0] = sge_of(ro, 0, 100);
		wr[0] = mk_rdma(1, X_WR_RDMA_READ, sg, 1, 1, r[0].addr, r[0].rkey);
		want = X_WC_LOC_PROT_ERR;
		break;
	case E_RECV_LEN:	/* 200 bytes into a 100-byte receive */
		sg[0].length = 200;
		wr[0] = mk_wr(1, X_WR_SEND, sg, 1, 1);
		want = X_WC_REM_INV_REQ_ERR;
		want_srv = X_WC_LOC_LEN_ERR;
		break;
	case E_RECV_LKEY:	/* into a receive with a bad lkey */
		wr[0] = mk_wr(1, X_WR_SEND, sg, 1, 1);
		want = X_WC_REM_OP_ERR;
		want_srv = X_WC_LOC_PROT_ERR;
		break;
	default:
		FAIL("error kind %d", kind);
	}
	/*
	 * A WRITE behind the bad WR must not land: the responder drops it (in
	 * the error state), or the requester never sends it.  Except behind a
	 * READ that fails when its response is scattered: the WRITE was sent
	 * meanwhile and may have executed, as on any RC NIC; a READ then.
	 */
	sg[1] = sge_of(loc, 0, 64);
	if (kind == E_LKEY_READ || kind == E_LOCAL_READONLY)
		wr[1] = mk_rdma(2, X_WR_RDMA_READ, &sg[1], 1, !unsig,
				r[0].addr + 256, r[0].rkey);
	else
		wr[1] = mk_rdma(2, X_WR_RDMA_WRITE, &sg[1], 1, !unsig,
				r[0].addr + 256, r[0].rkey);
	link_list(wr, 2);
	post_list(l, wr);

	/*
	 * rxe: a WR whose local gather fails completes with WR_FLUSH_ERR (its
	 * status is lost in the flush); a SEND longer than the receive gets
	 * REM_OP_ERR (and its receive LOC_QP_OP_ERR, not LOC_LEN_ERR); a
	 * receive with a bad lkey completes LOC_QP_OP_ERR.
	 */
	if (kind == E_LKEY_WRITE || kind == E_LKEY_BOUNDS)
		rxe_want = X_WC_WR_FLUSH_ERR;
	if (kind == E_RECV_LEN) {
		rxe_want = X_WC_REM_OP_ERR;
		rxe_srv = 2;	/* IBV_WC_LOC_QP_OP_ERR */
	}
	if (kind == E_RECV_LKEY)
		rxe_srv = 2;	/* IBV_WC_LOC_QP_OP_ERR */
	expect_wc_rxe(l->scq, 1, want, rxe_want, "the bad WR");
	expect_wc(l->scq, 2, X_WC_WR_FLUSH_ERR, -1, "the WR after the bad one");
	expect_wc(l->rcq, 950, X_WC_WR_FLUSH_ERR, -1, "our posted receive");
	expect_no_wc(l->scq, 50, "send queue after the flush");
	printf("status=%d flushed=2\n", want);

	if (remote) {
		/* The responder's QP is in the error state as well. */
		rexpect_recv_rxe(s, 0, 900, 1, want_srv, 0, 0, 0, 0, 0, rxe_srv);
		if (kind == E_RECV_LEN || kind == E_RECV_LKEY)
			rexpect_recv(s, 0, 901, 1, X_WC_WR_FLUSH_ERR, 0, 0, 0, 0, 0);
		printf("server_status=%d\n", want_srv);
	}
	for (int i = 0; i < 6; i++)
		if (i != 4 || xport_has_odp)
			rcheck_all(s, i, ERR_SEED(i));
	rcheck_all(s, 7, 0);
}

#define ERR_FN(name, kind) \
	static void t_err_##name(struct sess *s) { err_test(s, kind); }
ERR_FN(rkey_write, E_RKEY_WRITE)
ERR_FN(rkey_read, E_RKEY_READ)
ERR_FN(rkey_atomic, E_RKEY_ATOMIC)
ERR_FN(rkey_write_unsignaled, E_RKEY_WRITE_UNSIGNALED)
ERR_FN(bounds_write, E_BOUNDS_WRITE)
ERR_FN(bounds_read, E_BOUNDS_READ)
ERR_FN(bounds_atomic, E_BOUNDS_ATOMIC)
ERR_FN(access_write, E_ACCESS_WRITE)
ERR_FN(access_read, E_ACCESS_READ)
ERR_FN(access_cas, E_ACCESS_CAS)
ERR_FN(access_fadd, E_ACCESS_FADD)
ERR_FN(unmapped_write, E_UNMAPPED_WRITE)
ERR_FN(unmapped_read, E_UNMAPPED_READ)
ERR_FN(unmapped_atomic, E_UNMAPPED_ATOMIC)
ERR_FN(other_pd_write, E_OTHER_PD_WRITE)
ERR_FN(lkey_write, E_LKEY_WRITE)
ERR_FN(lkey_read, E_LKEY_READ)
ERR_FN(lkey_bounds, E_LKEY_BOUNDS)
ERR_FN(local_readonly, E_LOCAL_READONLY)
ERR_FN(recv_len, E_RECV_LEN)
ERR_FN(recv_lkey, E_RECV_LKEY)

/* ---- post-time errors ---------------------------------------------------- */

static void expect_post_err(struct link *l, xsend_wr *list, int want,
			    xsend_wr *want_bad, const char *what)
{
	xsend_wr *bad = NULL;
	int err = x_post_send(l, list, &bad);

	if (err != want)
		FAIL("%s: post_send returned %d (%s), expected %d (%s)", what, err,
		     err ? strerror(err) : "success", want, strerror(want));
	if (bad != want_bad)
		FAIL("%s: bad_wr is %s (wr_id %lld), expected wr_id %lld", what,
		     bad ? "a WR" : "NULL", bad ? (long long)bad->wr_id : -1LL,
		     want_bad ? (long long)want_bad->wr_id : -1LL);
}

/* [WRITE, opcode 0x55, WRITE]: EINVAL at the second; the first completes. */
static void t_post_bad_opcode(struct sess *s)
{
	struct link *l = &s->data[0];
	struct region *src;
	struct rreg dst;
	xsge sg;
	xsend_wr wr[3], w4;

	src = lregion(s, 0, page_size, 0, MAP_KIND_SHARED, 0);
	fill_pattern(src->buf, 64, 51);
	dst = ralloc(s, 0, page_size, 0, MAP_KIND_PRIVATE,
		     X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_WRITE, 0, 0);
	sg = sge_of(src, 0, 64);
	wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, &sg, 1, 1, dst.addr, dst.rkey);
	wr[1] = mk_rdma(2, 0x55, &sg, 1, 1, dst.addr + 64, dst.rkey);
	wr[2] = mk_rdma(3, X_WR_RDMA_WRITE, &sg, 1, 1, dst.addr + 128, dst.rkey);
	link_list(wr, 3);
	expect_post_err(l, wr, EINVAL, &wr[1], "bad opcode");
	expect_wc(l->scq, 1, X_WC_SUCCESS, X_WC_RDMA_WRITE, "WR before the bad one");
	expect_no_wc(l->scq, 200, "nothing else was posted");
	/* The QP still works. */
	w4 = mk_rdma(4, X_WR_RDMA_WRITE, &sg, 1, 1, dst.addr + 256, dst.rkey);
	post_list(l, &w4);
	expect_wc(l->scq, 4, X_WC_SUCCESS, X_WC_RDMA_WRITE, "WR after the refusal");
	rcheck(s, 0, 0, 64, 51, 0);
	rcheck(s, 0, 64, 192, 0, 0);
	rcheck(s, 0, 256, 64, 51, 0);
	rcheck(s, 0, 320, page_size - 320, 0, 0);
}

/* A QP that was never connected refuses send WRs, takes receives. */
static void t_post_unconnected(struct sess *s)
{
	struct link u;
	struct region *src = lregion(s, 0, page_size, 0, MAP_KIND_PRIVATE,
				     X_ACCESS_LOCAL_WRITE);
	xsge sg = sge_of(src, 0, 64);
	xsend_wr wr = mk_rdma(1, X_WR_RDMA_WRITE, &sg, 1, 1, 0x10000, 1);
	xrecv_wr rwr, *rbad;
	int err;

	link_create_unconnected(s->ep, &u, &default_data_caps);
	if (xport_has_odp) {
		expect_post_err(&u, &wr, EINVAL, &wr, "send on an unconnected QP");
	} else {
		/* rxe refuses it in the kernel, at the doorbell: no bad_wr. */
		xsend_wr *bad = &wr;

		err = x_post_send(&u, &wr, &bad);
		if (err != EINVAL || (bad && bad != &wr))
			FAIL("send on an unconnected QP: %d (%s)", err,
			     err ? strerror(err) : "success");
		if (!bad)
			printf("rxe_deviation=bad_wr_null (post_send on an "
			       "unconnected QP: EINVAL without bad_wr)\n");
	}
	memset(&rwr, 0, sizeof(rwr));
	rwr.wr_id = 2;
	rwr.sg_list = &sg;
	rwr.num_sge = 1;
	err = x_post_recv(&u, &rwr, &rbad);
	if (err)
		FAIL("post_recv on an unconnected QP: %s, expected success",
		     strerror(err));
	expect_no_wc(u.scq, 100, "unconnected QP's send CQ");
	link_destroy(&u);
}

/* A misaligned atomic is refused at post time, bad_wr pointing at it. */
static void t_post_misaligned_atomic(struct sess *s)
{
	struct link *l = &s->data[0];
	struct region *res = lregion(s, 0, page_size, 0, MAP_KIND_PRIVATE,
				     X_ACCESS_LOCAL_WRITE);
	struct rreg word;
	xsge sg[2];
	xsend_wr wr[2], c;
	uint64_t got;

	word = ralloc(s, 0, page_size, 0, MAP_KIND_SHARED,
		      X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_ATOMIC, 0, 0);
	rset64(s, 0, 8, 40, 0);
	sg[0] = sge_of(res, 0, 8);
	sg[1] = sge_of(res, 8, 8);
	wr[0] = mk_atomic(1, X_WR_ATOMIC_FETCH_AND_ADD, &sg[0], 1, word.addr + 8,
			  word.rkey, 2, 0);
	wr[1] = mk_atomic(2, X_WR_ATOMIC_FETCH_AND_ADD, &sg[1], 1, word.addr + 12,
			  word.rkey, 2, 0);
	link_list(wr, 2);
	expect_post_err(l, wr, EINVAL, &wr[1], "misaligned FETCH_ADD");
	expect_wc(l->scq, 1, X_WC_SUCCESS, X_WC_FETCH_ADD, "aligned FETCH_ADD");
	memcpy(&got, res->buf, 8);
	EXPECT_U64(got, ==, 40, "old value");
	c = mk_atomic(3, X_WR_ATOMIC_CMP_AND_SWP, &sg[1], 1, word.addr + 9,
		      word.rkey, 42, 1);
	expect_post_err(l, &c, EINVAL, &c, "misaligned CMP_AND_SWP");
	expect_no_wc(l->scq, 100, "nothing else was posted");
	EXPECT_U64(rget64(s, 0, 8), ==, 42, "the word");
	rcheck(s, 0, 0, 8, 0, 0);
	rcheck(s, 0, 16, page_size - 16, 0, 0);
}

/* An atomic whose SGE is not 8 bytes. */
static void t_post_atomic_short_sge(struct sess *s)
{
	struct link *l = &s->data[0];
	struct region *res = lregion(s, 0, page_size, 0, MAP_KIND_PRIVATE,
				     X_ACCESS_LOCAL_WRITE);
	struct rreg word = ralloc(s, 0, page_size, 0, MAP_KIND_SHARED,
				  X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_ATOMIC,
				  0, 0);
	xsge sg = sge_of(res, 0, 4);
	xsend_wr wr = mk_atomic(1, X_WR_ATOMIC_FETCH_AND_ADD, &sg, 1, word.addr,
				word.rkey, 1, 0);

	expect_post_err(l, &wr, EINVAL, &wr, "FETCH_ADD with a 4-byte SGE");
	expect_no_wc(l->scq, 100, "nothing was posted");
	EXPECT_U64(rget64(s, 0, 0), ==, 0, "the word");
}

/* More SGEs than the QP was created with: EINVAL, send and receive. */
static void t_post_too_many_sge(struct sess *s)
{
	struct link *l = &s->data[0];
	struct region *src = lregion(s, 0, page_size, 0, MAP_KIND_PRIVATE,
				     X_ACCESS_LOCAL_WRITE);
	struct rreg dst = ralloc(s, 0, page_size, 0, MAP_KIND_PRIVATE,
				 X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_WRITE,
				 0, 0);
	int n = (int)l->cap.max_send_sge + 1;
	xsge *sg = calloc((size_t)n + (size_t)l->cap.max_recv_sge + 1, sizeof(*sg));
	xsend_wr wr;
	xrecv_wr rwr, *rbad = NULL;
	int err;

	for (int i = 0; i < n + (int)l->cap.max_recv_sge + 1; i++)
		sg[i] = sge_of(src, (size_t)i, 1);
	wr = mk_rdma(1, X_WR_RDMA_WRITE, sg, n, 1, dst.addr, dst.rkey);
	expect_post_err(l, &wr, EINVAL, &wr, "send with max_send_sge + 1 SGEs");
	memset(&rwr, 0, sizeof(rwr));
	rwr.wr_id = 2;
	rwr.sg_list = sg;
	rwr.num_sge = (int)l->cap.max_recv_sge + 1;
	err = x_post_recv(l, &rwr, &rbad);
	if (err != EINVAL || rbad != &rwr)
		FAIL("receive with max_recv_sge + 1 SGEs: %d (%s), bad_wr %s",
		     err, err ? strerror(err) : "success",
		     rbad == &rwr ? "right" : "wrong");
	expect_no_wc(l->scq, 100, "nothing was posted");
	expect_no_wc(l->rcq, 10, "nothing was posted");
	rcheck_all(s, 0, 0);
}

/*
 * A full send queue: SENDs the server has no receive for stay outstanding
 * (RNR), the WR beyond max_send_wr gets ENOMEM; once the server posts the
 * receives, all complete in order and the queue takes WRs again.
 */
static void t_post_queue_full(struct sess *s)
{
	struct link *l = &s->data[0];
	int n = (int)l->cap.max_send_wr;
	struct region *src = lregion(s, 0, (size_t)(n + 2) * 64, 0,
				     MAP_KIND_SHARED, 0);
	xsend_wr *wr = calloc((size_t)n + 1, sizeof(*wr));
	xsge *sg = calloc((size_t)n + 1, sizeof(*sg));
	unsigned char *sig = calloc((size_t)n, 1);
	uint64_t rs[1][3] = { { 0, 0, 64 } };
	xsend_wr extra;

	fill_strided(src->buf, n + 2, 0, 64, 64, 0, 60);
	ralloc(s, 0, (size_t)(n + 2) * 64, 0, MAP_KIND_PRIVATE,
	       X_ACCESS_LOCAL_WRITE, 0, 0);
	for (int i = 0; i <= n; i++) {
		sg[i] = sge_of(src, (size_t)i * 64, 64);
		wr[i] = mk_wr(100 + (uint64_t)i, X_WR_SEND, &sg[i], 1, 1);
	}
	link_list(wr, n);
	post_list(l, wr);
	expect_post_err(l, &wr[n], ENOMEM, &wr[n], "send WR beyond max_send_wr");
	for (int i = 0; i < n; i++)
		sig[i] = 1;
	rpost_recv(s, 0, 300, n + 1, 1, rs, 64, 0);
	if (collect(l, n, 100, sig, NULL, NULL, 0, NULL) != n)
		FAIL("a SEND failed");
	extra = wr[n];
	extra.next = NULL;
	post_list(l, &extra);
	expect_wc(l->scq, 100 + (uint64_t)n, X_WC_SUCCESS, X_WC_SEND,
		  "SEND after the queue drained");
	rexpect_recv(s, 0, 300, n + 1, X_WC_SUCCESS, X_WC_RECV, 64, 0, 0, 0);
	rstrided(s, OP_CHECK_STRIDED, 0, n + 1, 0, 64, 64, 0, 60, 0);
	printf("max_send_wr=%d\n", n);
}

/*
 * Keep the send queue exactly full: max_send_wr WRITEs outstanding, and one
 * more posted the moment a completion is polled (as ib_write_bw does with
 * tx-depth = max_send_wr).  The polled completion freed its slot.
 */
static void t_post_send_refill(struct sess *s)
{
	struct link *l = &s->data[0];
	const int total = 400, depth = (int)l->cap.max_send_wr;
	struct region *src = lregion(s, 0, 64 * 64, 0, MAP_KIND_SHARED, 0);
	struct rreg dst = ralloc(s, 0, 64 * 64, 0, MAP_KIND_PRIVATE,
				 X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_WRITE,
				 0, 0);
	int posted = 0, done = 0;

	fill_strided(src->buf, 64, 0, 64, 64, 0, 80);
	while (done < total) {
		while (posted < total && posted - done < depth) {
			size_t off = (size_t)(posted % 64) * 64;
			xsge sg = sge_of(src, off, 64);
			xsend_wr wr = mk_rdma((uint64_t)posted, X_WR_RDMA_WRITE,
					      &sg, 1, 1, dst.addr + off, dst.rkey);
			xsend_wr *bad;
			int err = x_post_send(l, &wr, &bad);

			if (err)
				FAIL("post_send with %d of %d WRs outstanding, "
				     "right after polling a completion: %s",
				     posted - done, depth, strerror(err));
			posted++;
		}
		expect_wc(l->scq, (uint64_t)done, X_WC_SUCCESS, X_WC_RDMA_WRITE,
			  "refilled WRITE");
		done++;
	}
	rstrided(s, OP_CHECK_STRIDED, 0, 64, 0, 64, 64, 0, 80, 0);
	printf("refills=%d depth=%d\n", total - depth, depth);
}

/* The same for receives: the server keeps its receive queue full. */
static void t_post_recv_refill(struct sess *s)
{
	struct link *l = &s->data[0];
	const int total = 400, window = 16;
	struct region *src = lregion(s, 0, 64, 0, MAP_KIND_SHARED, 0);
	struct msg m = REQ(.type = M_REQ, .op = OP_RECV_REFILL,
			   .a = { 0, (uint64_t)total, 0, 0 });
	int posted = 0, done = 0;

	fill_pattern(src->buf, 64, 81);
	ralloc(s, 0, 64 * 64, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE, 0, 0);
	msg_send(s, &m);	/* the answer comes when all arrived */
	while (done < total) {
		while (posted < total && posted - done < window) {
			xsge sg = sge_of(src, 0, 64);
			xsend_wr wr = mk_wr((uint64_t)posted, X_WR_SEND, &sg, 1, 1);

			post_list(l, &wr);
			posted++;
		}
		expect_wc(l->scq, (uint64_t)done, X_WC_SUCCESS, X_WC_SEND, "SEND");
		done++;
	}
	if (msg_recv(s, &m, 4 * opt.timeout_ms) < 0 || m.type != M_ACK ||
	    m.op != OP_RECV_REFILL || m.a[0] != (uint64_t)total)
		FAIL("the server's refill loop did not finish");
	printf("refills=%d\n", total);
}

/*
 * A local error of WR k while WR k-1 is still in flight (a READ whose
 * response has not come back): completions stay in post order - the READ
 * completes first (successfully, or flushed), then the failed WR with
 * LOC_PROT_ERR, then the WRITE behind it flushed.
 */
static void t_err_lkey_after_inflight(struct sess *s)
{
	struct link *l = &s->data[0];
	const size_t rlen = 256 * 1024;
	struct region *dst, *src;
	struct rreg rs, rd;
	xsge sg[3];
	xsend_wr wr[3];
	xwc wc;

	dst = lregion(s, 0, rlen, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE);
	src = lregion(s, 1, page_size, 0, MAP_KIND_SHARED, 0);
	fill_pattern(src->buf, 64, 90);
	rs = ralloc(s, 0, rlen, 0, MAP_KIND_SHARED,
		    X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_READ, 0, 0);
	rd = ralloc(s, 1, page_size, 0, MAP_KIND_PRIVATE, X_ACCESS_ALL, 0, 0);
	rfill(s, 0, 0, rlen, 91, 0, 1);
	sg[0] = sge_of(dst, 0, rlen);
	sg[1] = sge_of(src, 0, 64);
	sg[1].lkey = BAD_KEY(sg[1].lkey);
	sg[2] = sge_of(src, 0, 64);
	wr[0] = mk_rdma(1, X_WR_RDMA_READ, &sg[0], 1, 1, rs.addr, rs.rkey);
	wr[1] = mk_rdma(2, X_WR_RDMA_WRITE, &sg[1], 1, 1, rd.addr, rd.rkey);
	wr[2] = mk_rdma(3, X_WR_RDMA_WRITE, &sg[2], 1, 1, rd.addr + 64, rd.rkey);
	link_list(wr, 3);
	post_list(l, wr);

	if (!poll_wait(l->scq, &wc, opt.timeout_ms))
		FAIL("no completion");
	if (wc.wr_id != 1)
		FAIL("first completion: wr_id %llu (%s), expected the READ "
		     "posted first (wr_id 1): completions out of post order",
		     (unsigned long long)wc.wr_id, st(wc.status));
	if (wc.status != X_WC_SUCCESS && wc.status != X_WC_WR_FLUSH_ERR)
		FAIL("READ in flight: %s (%d)", st(wc.status), wc.status);
	if (wc.status == X_WC_SUCCESS)
		check_pattern(dst->buf, rlen, 91, "READ data");
	printf("inflight_read_status=%d\n", wc.status);
	expect_wc_rxe(l->scq, 2, X_WC_LOC_PROT_ERR, X_WC_WR_FLUSH_ERR,
		      "the WRITE with a bad lkey");
	expect_wc(l->scq, 3, X_WC_WR_FLUSH_ERR, -1, "the WRITE behind it");
	expect_no_wc(l->scq, 50, "send queue");
	rcheck_all(s, 1, 0);
}

/*
 * The receiver destroys its QP the moment it has polled the receive of our
 * SEND: the SEND was received and consumed, so it completes successfully
 * here (the responder answers before it completes the receive; the answer
 * must not be lost in the teardown).  20 times, a new connection each.
 */
static void t_last_send_consumed(struct sess *s)
{
	struct link *l = &s->data[0];
	struct region *src = lregion(s, 0, 64, 0, MAP_KIND_SHARED, 0);
	uint64_t rs[1][3] = { { 0, 0, 64 } };
	int lost = 0, n = 20, err;

	fill_pattern(src->buf, 64, 95);
	ralloc(s, 0, 64, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE, 0, 0);
	for (int i = 0; i < n; i++) {
		struct msg m = REQ(.type = M_REQ, .op = OP_RECV_DESTROY,
				   .a = { 0, 500 + (uint64_t)i });
		xsge sg = sge_of(src, 0, 64);
		xsend_wr wr = mk_wr((uint64_t)i, X_WR_SEND, &sg, 1, 1);
		xwc wc;

		rpost_recv(s, 0, 500 + (uint64_t)i, 1, 1, rs, 0, 0);
		msg_send(s, &m);
		post_list(l, &wr);
		if (msg_recv(s, &m, 4 * opt.timeout_ms) < 0 || m.type != M_ACK ||
		    m.op != OP_RECV_DESTROY)
			FAIL("no answer to RECV_DESTROY");
		/* The server consumed the SEND and destroyed its QP. */
		if (!poll_wait(l->scq, &wc, opt.timeout_ms))
			FAIL("SEND %d: no completion", i);
		if (wc.wr_id != (uint64_t)i)
			FAIL("SEND %d: completion for wr_id %llu", i,
			     (unsigned long long)wc.wr_id);
		if (wc.status != X_WC_SUCCESS) {
			fprintf(stderr, "SEND %d: received and consumed by the "
				"peer, completed with %s (%d)\n", i, st(wc.status),
				wc.status);
			lost++;
		}
		link_destroy(l);
		err = link_connect(s->ep, l, &s->data_caps, NULL, NULL,
				   opt.connect_ms);
		if (err)
			FAIL("reconnecting: %s", strerror(err));
	}
	printf("sends=%d lost_acks=%d\n", n, lost);
	if (lost)
		FAIL("%d of %d SENDs that the peer received and consumed did not "
		     "complete successfully", lost, n);
}

/* ---- 5. invalidation races ---------------------------------------------- */

#define RACE_NP		16
#define RACE_IN		24		/* a page's slot starts here */
#define RACE_TAIL	40		/* and ends this far from the page end */
#define RACE_ROUNDS	10

struct race {
	int		requester;	/* the mutations are on our side */
	int		mode;
	int		serial;		/* one WR at a time, not one list */
	unsigned long	rounds, wr_ok, wr_err, reconnects, strict, lenient;
	unsigned long	zero_pages, read_strict, read_lenient;
	unsigned long	mutations;
};

static uint32_t race_seed(int r, int p)
{
	return 20000u + (uint32_t)(r * RACE_NP + p);
}

static void reconnect(struct sess *s, int link)
{
	struct msg m = REQ(.op = OP_RECONNECT, .a = { (uint64_t)link });
	int err;

	call(s, &m);
	link_destroy(&s->data[link]);
	err = link_connect(s->ep, &s->data[link], &s->data_caps, NULL, NULL,
			   opt.connect_ms);
	if (err)
		FAIL("reconnecting data link %d: %s", link, strerror(err));
}

/*
 * One round: WRITE our slot of every page into the server's page, then READ
 * each back into our other buffer, all in one list.  The side under
 * mutation decides per page whether a mutation overlapped the round:
 * if none did, the data must be exact; if one did, a DONTNEED or munmap may
 * have zeroed it afterwards (mprotect loses nothing).  An error completion
 * is allowed (the rest of the list flushes); then we reconnect.
 */
static void race_round(struct sess *s, struct race *rc, int r, int mutating)
{
	struct link *l = &s->data[0];
	struct region *src = &s->reg[0], *dst = &s->reg[1];
	struct mutator *msrc = s->mut[0], *mdst = s->mut[1];
	size_t wlen = page_size - RACE_IN - RACE_TAIL;
	enum { N = 2 * RACE_NP };
	static const int remote_errs[] = { X_WC_REM_ACCESS_ERR };
	/* A local page that cannot be faulted in: LOC_PROT_ERR (odp_poll_cq(3)) */
	static const int local_errs[] = { X_WC_LOC_PROT_ERR };
	xsend_wr wr[N];
	xsge sg[N];
	unsigned char sig[N];
	int k, err = 0, mode = mutating ? rc->mode : MUT_NONE;
	uint64_t quiet_mask;
	struct msg m;

	for (int p = 0; p < RACE_NP; p++) {
		mut_lock(msrc);
		fill_pattern(src->buf + (size_t)p * page_size + RACE_IN, wlen,
			     race_seed(r, p));
		mut_unlock(msrc);
		mut_lock(mdst);
		memset(dst->buf + (size_t)p * page_size, 0xee, page_size);
		mut_unlock(mdst);
	}
	if (rc->requester) {
		mut_snap(msrc);
		mut_snap(mdst);
	}
	m = REQ(.op = OP_SNAP, .a = { 0, RACE_NP, RACE_IN, wlen, r == 0,
				      race_seed(r, 0) });
	call(s, &m);
	for (int i = 0; i < N; i++) {
		size_t off = (size_t)(i % RACE_NP) * page_size + RACE_IN;

		sig[i] = i % 4 == 3 || i == N - 1;
		sg[i] = sge_of(i < RACE_NP ? src : dst, off, wlen);
		wr[i] = mk_rdma((uint64_t)i, i < RACE_NP ? X_WR_RDMA_WRITE :
				X_WR_RDMA_READ, &sg[i], 1, sig[i],
				s->race_raddr + off, s->race_rkey);
	}
	if (rc->serial) {
		/*
		 * Each WR alone, waited for: no WR is in flight when one fails;
		 * after a failure the QP is in the error state, post no more
		 * (they count as never executed).
		 */
		for (k = 0; k < N; k++) {
			xwc wc;

			wr[k].next = NULL;
			wr[k].send_flags = X_SEND_SIGNALED;
			post_list(l, &wr[k]);
			if (!poll_wait(l->scq, &wc, opt.timeout_ms))
				FAIL("round %d: no completion for wr %d", r, k);
			if (wc.wr_id != (uint64_t)k)
				FAIL("round %d: completion for wr %llu, expected %d",
				     r, (unsigned long long)wc.wr_id, k);
			if (wc.status == X_WC_SUCCESS)
				continue;
			if (!mutating || (wc.status != X_WC_LOC_PROT_ERR &&
					  wc.status != X_WC_REM_ACCESS_ERR))
				FAIL("round %d: wr %d completed with %s (%d)", r, k,
				     st(wc.status), wc.status);
			err = wc.status;
			break;
		}
	} else {
		link_list(wr, N);
		post_list(l, wr);
		k = collect(l, N, 0, sig, NULL,
			    rc->requester ? local_errs : remote_errs,
			    mutating ? (rc->requester ? 2 : 1) : 0, &err);
	}
	if (k < N && rc->mode == MUT_DONTNEED)
		FAIL("wr %d failed under MADV_DONTNEED, which never makes an "
		     "access fail", k);

	m = REQ(.op = OP_ROUND_CHECK,
		.a = { 0, RACE_NP, RACE_IN, wlen, race_seed(r, 0), (uint64_t)k,
		       rc->requester ? MUT_NONE : (uint64_t)mode, 0,
		       (uint64_t)(k < N && rc->requester && !rc->serial) });
	call(s, &m);
	quiet_mask = m.a[0];
	rc->strict += m.a[1];
	rc->lenient += m.a[2];
	rc->zero_pages += m.a[3];

	/* Our READs that succeeded. */
	for (int p = 0; p < RACE_NP; p++) {
		char *pg = dst->buf + (size_t)p * page_size;
		uint32_t seed = race_seed(r, p);
		int quiet, is_new, is_zero;
		long head, tail;

		if (RACE_NP + p >= k)
			break;
		mut_lock(mdst);
		quiet = rc->requester ? mut_quiet(mdst, p) :
			(int)((quiet_mask >> p) & 1);
		is_new = diff_pattern(pg + RACE_IN, wlen, seed) < 0;
		is_zero = diff_bytes(pg + RACE_IN, wlen, 0) < 0;
		head = diff_bytes(pg, RACE_IN, 0xee);
		tail = diff_bytes(pg + RACE_IN + wlen, RACE_TAIL, 0xee);
		if (head >= 0 && diff_bytes(pg, RACE_IN, 0) < 0)
			head = -1;	/* zapped */
		if (tail >= 0 && diff_bytes(pg + RACE_IN + wlen, RACE_TAIL, 0) < 0)
			tail = -1;
		mut_unlock(mdst);
		if (head >= 0 || tail >= 0)
			FAIL("round %d: READ into page %d wrote outside its SGE", r, p);
		if (!is_new && !(is_zero && !quiet && mode != MUT_MPROTECT &&
				 mode != MUT_NONE))
			FAIL("round %d: READ of page %d returned neither the data "
			     "written (seed %u, first difference at byte %ld)%s "
			     "(%s)", r, p, seed, diff_pattern(pg + RACE_IN, wlen, seed),
			     mode == MUT_MPROTECT || mode == MUT_NONE ? "" : " nor zeros",
			     quiet ? "no mutation overlapped" : "mutated meanwhile");
		if (quiet)
			rc->read_strict++;
		else
			rc->read_lenient++;
	}
	rc->rounds++;
	rc->wr_ok += (unsigned long)k;
	if (k < N) {
		rc->wr_err++;
		rc->reconnects++;
		reconnect(s, 0);
	}
}

static void race_test(struct sess *s, int requester, int mode, int serial)
{
	struct race rc = { .requester = requester, .mode = mode,
			   .serial = serial };
	struct rreg dst;
	struct stats d;

	dst = ralloc(s, 0, RACE_NP * page_size, 0, MAP_KIND_PRIVATE, X_ACCESS_ALL,
		     0, 0);
	s->race_raddr = dst.addr;
	s->race_rkey = dst.rkey;
	lregion(s, 0, RACE_NP * page_size, 0,
		requester ? MAP_KIND_MEMFD : MAP_KIND_SHARED, X_ACCESS_LOCAL_WRITE);
	lregion(s, 1, RACE_NP * page_size, 0, MAP_KIND_PRIVATE,
		X_ACCESS_LOCAL_WRITE);
	if (requester) {
		mut_start(s, 0, RACE_NP, mode, PROT_NONE, 300, 300, 1000000, 11);
		mut_start(s, 1, RACE_NP, mode, PROT_READ, 300, 300, 1000000, 12);
	} else {
		struct msg m = REQ(.op = OP_MUTATE_START,
				   .a = { 0, (uint64_t)mode, PROT_READ, 300, 300,
					  1000000, 13 });

		call(s, &m);
	}
	for (int r = 0; r < RACE_ROUNDS; r++)
		race_round(s, &rc, r, 1);
	if (requester) {
		rc.mutations = mut_stop_count(s, 0) + mut_stop_count(s, 1);
	} else {
		struct msg m = REQ(.op = OP_MUTATE_STOP, .a = { 0 });

		call(s, &m);
		rc.mutations = m.a[0];
	}
	/* Quiet again: a last round must be exact everywhere. */
	race_round(s, &rc, RACE_ROUNDS, 0);

	printf("mode=%s side=%s serial=%d rounds=%lu wr_ok=%lu wr_err=%lu reconnects=%lu "
	       "mutations=%lu strict=%lu lenient=%lu zero_pages=%lu "
	       "read_strict=%lu read_lenient=%lu\n", mut_names[mode],
	       requester ? "requester" : "responder", serial, rc.rounds, rc.wr_ok,
	       rc.wr_err, rc.reconnects, rc.mutations, rc.strict, rc.lenient,
	       rc.zero_pages, rc.read_strict, rc.read_lenient);
	if (!rc.mutations)
		FAIL("the mutator never ran");
	region_delta(&s->reg[requester ? 1 : 0], &d);
	print_stats("client", &d);
	rstats(s, 0, &d);
	print_stats("server", &d);
}

static void t_race_responder_dontneed(struct sess *s) { race_test(s, 0, MUT_DONTNEED, 0); }
static void t_race_responder_munmap(struct sess *s)   { race_test(s, 0, MUT_MUNMAP, 0); }
static void t_race_responder_mprotect(struct sess *s) { race_test(s, 0, MUT_MPROTECT, 0); }
static void t_race_requester_dontneed(struct sess *s) { race_test(s, 1, MUT_DONTNEED, 0); }
static void t_race_requester_munmap(struct sess *s)   { race_test(s, 1, MUT_MUNMAP, 0); }
static void t_race_requester_mprotect(struct sess *s) { race_test(s, 1, MUT_MPROTECT, 0); }
static void t_race_requester_munmap_serial(struct sess *s)   { race_test(s, 1, MUT_MUNMAP, 1); }
static void t_race_requester_mprotect_serial(struct sess *s) { race_test(s, 1, MUT_MPROTECT, 1); }

/* ---- 6, 7. the peer or the device goes away mid-stream ------------------ */

#define STREAM_LIMIT_MS	120000

/*
 * WRITE + READ rounds until a completion fails (the server was killed, the
 * device removed, ...): prints `streaming=1` after the first round, then at
 * the error the statuses; every outstanding WR and receive must complete
 * (no hang).  devremove: every error must be WR_FLUSH_ERR.
 */
static void stream_until_error(struct sess *s, int devremove)
{
	struct link *l = &s->data[0];
	enum { N = 2 * RACE_NP };
	struct region *src, *dst;
	struct rreg rb;
	uint64_t start = now_ms(), t_err;
	uint64_t rs[1][3] = { { 1, 0, 64 } };
	unsigned long rounds = 0;
	int k = N, status = 0, ctrl = 0;
	xrecv_wr rwr, *rbad;
	xsge rsg;
	xwc wc;

	rb = ralloc(s, 0, RACE_NP * page_size, 0, MAP_KIND_PRIVATE, X_ACCESS_ALL,
		    0, 0);
	ralloc(s, 1, page_size, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE, 0, 0);
	rpost_recv(s, 0, 900, 1, 1, rs, 0, 0);
	src = lregion(s, 0, RACE_NP * page_size, 0, MAP_KIND_SHARED, 0);
	dst = lregion(s, 1, RACE_NP * page_size, 0, MAP_KIND_PRIVATE,
		      X_ACCESS_LOCAL_WRITE);
	fill_pattern(src->buf, src->len, 70);
	rsg = sge_of(dst, 0, 64);
	memset(&rwr, 0, sizeof(rwr));
	rwr.wr_id = 950;
	rwr.sg_list = &rsg;
	rwr.num_sge = 1;
	if (x_post_recv(l, &rwr, &rbad))
		FAIL("post_recv");

	while (k == N) {
		xsend_wr wr[N];
		xsge sg[N];
		unsigned char sig[N];

		if (now_ms() - start > STREAM_LIMIT_MS)
			FAIL("no error completion within %d ms of streaming "
			     "(%lu rounds)", STREAM_LIMIT_MS, rounds);
		for (int i = 0; i < N; i++) {
			size_t off = (size_t)(i % RACE_NP) * page_size;

			sig[i] = i % 8 == 7;
			sg[i] = sge_of(i < RACE_NP ? src : dst, off, page_size);
			wr[i] = mk_rdma(rounds * N + (uint64_t)i,
					i < RACE_NP ? X_WR_RDMA_WRITE :
						      X_WR_RDMA_READ,
					&sg[i], 1, sig[i], rb.addr + off, rb.rkey);
		}
		link_list(wr, N);
		post_list(l, wr);
		k = collect(l, N, rounds * N, sig, NULL, NULL, -1, &status);
		if (!rounds++) {
			printf("streaming=1\n");
			fflush(stdout);
		}
	}
	t_err = now_ms();
	if (devremove && status != X_WC_WR_FLUSH_ERR)
		FAIL("after the device went away a WR completed with %s (%d), "
		     "expected WR_FLUSH_ERR", st(status), status);
	/* Our receives flush too: the data one and the control slots. */
	expect_wc(l->rcq, 950, X_WC_WR_FLUSH_ERR, -1, "our posted data receive");
	s->ctrl_up = 0;
	while (ctrl < CTRL_SLOTS && poll_wait(s->ctrl.rcq, &wc, 10000)) {
		if (wc.status != X_WC_WR_FLUSH_ERR)
			FAIL("control receive completed with %s (%d) after the "
			     "connection broke", st(wc.status), wc.status);
		ctrl++;
	}
	if (ctrl != CTRL_SLOTS)
		FAIL("%d of %d control receives completed (flushed)", ctrl,
		     CTRL_SLOTS);
	printf("rounds=%lu error_status=%d error_wr=%d flushed_after=%d "
	       "ctrl_flushed=%d drain_ms=%llu\n", rounds, status, k, N - k - 1,
	       ctrl, (unsigned long long)(now_ms() - t_err));
}

static void t_kill_stream(struct sess *s)	{ stream_until_error(s, 0); }
static void t_devremove_stream(struct sess *s)	{ stream_until_error(s, 1); }

/* ---- 8. the two directions of a QP are independent --------------------- */

/*
 * Client helpers for the server's own SENDs: post count SENDs {region,
 * off + j * stride, len0 + j * inc}, expect their completions, or none yet.
 */
static void rpost_send(struct sess *s, int link, uint64_t wr_id, int count,
		       int idx, size_t off, size_t len0, size_t stride,
		       size_t inc)
{
	struct msg m = REQ(.op = OP_POST_SEND,
			   .a = { (uint64_t)link, wr_id, (uint64_t)count,
				  (uint64_t)idx, off, len0, stride, inc });

	call(s, &m);
}

static void rexpect_send(struct sess *s, int link, uint64_t wr_id, int count,
			 int status)
{
	struct msg m = REQ(.op = OP_EXPECT_SEND,
			   .a = { (uint64_t)link, wr_id, (uint64_t)count,
				  (uint64_t)status, 0 });

	call(s, &m);
}

static void rno_wc(struct sess *s, int link, int send_cq, int wait_ms)
{
	struct msg m = REQ(.op = OP_NO_WC,
			   .a = { (uint64_t)link, (uint64_t)send_cq,
				  (uint64_t)wait_ms });

	call(s, &m);
}

#define INDEP_PROMPT_MS	3000	/* our request completes within this */
#define INDEP_SETTLE_MS	500	/* for the server's SENDs to reach us */
#define INDEP_SLOT	2048	/* one receive buffer */
#define INDEP_LEN0	1000	/* SEND j carries INDEP_LEN0 + 7 j bytes */
#define INDEP_OPLEN	3000	/* our WRITE and READ */

enum { IND_WRITE = 1, IND_READ = 2, IND_FADD = 4 };

/*
 * Our request while the peer's SENDs wait for a receive we have not
 * posted: an RC QP's two directions are independent, so the ACK, READ
 * response or atomic response of our request must not queue behind the
 * peer's SEND (which waits, RNR, for as long as we post no receive).
 */
static void indep_op(struct sess *s, int op, int nsend, struct rreg *tgt)
{
	struct link *l = &s->data[0];
	static const char *const names[] = {
		[IND_WRITE] = "RDMA WRITE", [IND_READ] = "RDMA READ",
		[IND_FADD] = "FETCH_AND_ADD",
	};
	static const int wc_op[] = {
		[IND_WRITE] = X_WC_RDMA_WRITE, [IND_READ] = X_WC_RDMA_READ,
		[IND_FADD] = X_WC_FETCH_ADD,
	};
	const uint64_t word0 = 0xfffffffeULL;
	struct region *src = &s->reg[1], *dst = &s->reg[2], *res = &s->reg[3];
	xsend_wr wr;
	xsge sg;
	xwc wc;
	uint64_t t0, got;

	switch (op) {
	case IND_WRITE:
		sg = sge_of(src, 0, INDEP_OPLEN);
		wr = mk_rdma(10, X_WR_RDMA_WRITE, &sg, 1, 1, tgt->addr, tgt->rkey);
		break;
	case IND_READ:
		rfill(s, 1, 8192, INDEP_OPLEN, 1201, 0, 0);
		sg = sge_of(dst, 0, INDEP_OPLEN);
		wr = mk_rdma(11, X_WR_RDMA_READ, &sg, 1, 1, tgt->addr + 8192,
			     tgt->rkey);
		break;
	default:
		rset64(s, 1, 12288, word0, 0);
		sg = sge_of(res, 0, 8);
		wr = mk_atomic(12, X_WR_ATOMIC_FETCH_AND_ADD, &sg, 1,
			       tgt->addr + 12288, tgt->rkey, 3, 0);
		break;
	}
	t0 = now_ms();
	post_list(l, &wr);
	if (!poll_wait(l->scq, &wc, INDEP_PROMPT_MS))
		FAIL("our %s did not complete within %d ms while the peer's "
		     "%d SEND%s wait%s for a receive we have not posted: the "
		     "two directions of the QP are not independent (its "
		     "response waits behind the peer's SEND)", names[op],
		     INDEP_PROMPT_MS, nsend, nsend > 1 ? "s" : "",
		     nsend > 1 ? "" : "s");
	if (wc.wr_id != wr.wr_id || wc.status != X_WC_SUCCESS ||
	    (int)wc.opcode != wc_op[op])
		FAIL("%s: completion wr_id %llu status %s (%d) opcode %d", names[op],
		     (unsigned long long)wc.wr_id, st(wc.status), wc.status,
		     wc.opcode);
	printf("%s_ms=%llu\n", op == IND_WRITE ? "write" : op == IND_READ ?
	       "read" : "fetch_add", (unsigned long long)(now_ms() - t0));
	switch (op) {
	case IND_WRITE:
		rcheck(s, 1, 0, INDEP_OPLEN, 1200, 0);
		break;
	case IND_READ:
		check_pattern(dst->buf, INDEP_OPLEN, 1201, "READ data");
		check_bytes(dst->buf + INDEP_OPLEN, dst->map.len - INDEP_OPLEN, 0,
			    "bytes after the READ target");
		break;
	default:
		memcpy(&got, res->buf, 8);
		EXPECT_U64(got, ==, word0, "old value of the fetch-add");
		EXPECT_U64(rget64(s, 1, 12288), ==, word0 + 3,
			   "the server's word after the fetch-add");
		break;
	}
}

static void indep_test(struct sess *s, int nsend, unsigned int ops)
{
	struct link *l = &s->data[0];
	struct region *rbuf;
	struct rreg tgt;
	xrecv_wr *rwr, *rbad = NULL;
	xsge *rsg;
	int err;

	/* The server's SEND sources: SEND j is the pattern 1100 + j. */
	ralloc(s, 0, (size_t)nsend * INDEP_SLOT, 0, MAP_KIND_PRIVATE,
	       X_ACCESS_LOCAL_WRITE, 0, 0);
	rstrided(s, OP_FILL_STRIDED, 0, nsend, 0, INDEP_SLOT, INDEP_LEN0, 7,
		 1100, 0);
	/* Its target of our WRITE (at 0), READ (8192) and atomic (12288). */
	tgt = ralloc(s, 1, 16384, 0, MAP_KIND_PRIVATE, X_ACCESS_ALL, 0, 0);

	rbuf = lregion(s, 0, (size_t)nsend * INDEP_SLOT, 0, MAP_KIND_PRIVATE,
		       X_ACCESS_LOCAL_WRITE);
	lregion(s, 1, INDEP_OPLEN, 0, MAP_KIND_SHARED, 0);
	fill_pattern(s->reg[1].buf, INDEP_OPLEN, 1200);
	lregion(s, 2, INDEP_OPLEN, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE);
	lregion(s, 3, 8, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE);

	/* The peer sends; we have no receive posted. */
	rpost_send(s, 0, 100, nsend, 0, 0, INDEP_LEN0, INDEP_SLOT, 7);
	sleep_us(INDEP_SETTLE_MS * 1000);

	for (int op = IND_WRITE; op <= IND_FADD; op <<= 1)
		if (ops & (unsigned int)op)
			indep_op(s, op, nsend, &tgt);

	/* The peer's SENDs still wait; nothing was received. */
	rno_wc(s, 0, 1, 100);
	expect_no_wc(l->rcq, 10, "our receive queue (nothing posted)");

	/* Now the receives: every SEND arrives, in order, intact. */
	rwr = calloc((size_t)nsend, sizeof(*rwr));
	rsg = calloc((size_t)nsend, sizeof(*rsg));
	for (int j = 0; j < nsend; j++) {
		rsg[j] = sge_of(rbuf, (size_t)j * INDEP_SLOT, INDEP_SLOT);
		rwr[j].wr_id = 300 + (uint64_t)j;
		rwr[j].sg_list = &rsg[j];
		rwr[j].num_sge = 1;
		rwr[j].next = j + 1 < nsend ? &rwr[j + 1] : NULL;
	}
	if ((err = x_post_recv(l, rwr, &rbad)))
		FAIL("post_recv (%d receives): %s", nsend, strerror(err));
	for (int j = 0; j < nsend; j++) {
		uint32_t want = INDEP_LEN0 + 7 * (uint32_t)j;
		char *slot = rbuf->buf + (size_t)j * INDEP_SLOT;
		xwc wc;

		if (!poll_wait(l->rcq, &wc, opt.timeout_ms))
			FAIL("receive %d of %d: no completion within %d ms", j,
			     nsend, opt.timeout_ms);
		if (wc.wr_id != 300 + (uint64_t)j || wc.status != X_WC_SUCCESS ||
		    (int)wc.opcode != X_WC_RECV || wc.byte_len != want)
			FAIL("receive %d: wr_id %llu status %s (%d) opcode %d "
			     "byte_len %u, expected wr_id %d success RECV byte_len "
			     "%u (the SENDs in order)", j,
			     (unsigned long long)wc.wr_id, st(wc.status),
			     wc.status, wc.opcode, wc.byte_len, 300 + j, want);
		check_pattern(slot, want, 1100 + (uint32_t)j, "received SEND data");
		check_bytes(slot + want, INDEP_SLOT - want, 0,
			    "receive buffer after the SEND's bytes");
	}
	rexpect_send(s, 0, 100, nsend, X_WC_SUCCESS);
	expect_no_wc(l->rcq, 10, "our receive queue");
	printf("sends=%d\n", nsend);
	free(rwr);
	free(rsg);
}

static void t_indep_write(struct sess *s)	{ indep_test(s, 1, IND_WRITE); }
static void t_indep_read(struct sess *s)	{ indep_test(s, 1, IND_READ); }
static void t_indep_atomic(struct sess *s)	{ indep_test(s, 1, IND_FADD); }
/* More SENDs than the 32 wire receive buffers of the odp transport. */
static void t_indep_many_sends(struct sess *s)
{
	indep_test(s, 40, IND_WRITE | IND_READ | IND_FADD);
}

/* ---- 9. a rejected request changes nothing ------------------------------ */

/*
 * Bounds and rights are checked over the whole request before any byte
 * moves: a request that fails leaves the responder's memory (all of its MR
 * and the bytes around it) and, for a READ, our target byte for byte as
 * they were, even when it is larger than a wire message of the odp
 * transport (16 KiB: ODP_WIRE_MAX_PAYLOAD).
 */
enum whole_kind {
	W_WRITE_TAIL, W_READ_TAIL, W_LOCAL_TAIL, W_LOCAL_LKEY2, W_LOCAL_HUGE,
	W_SEND_LEN,
};

#define WH_SEG		16384u		/* about one wire message */
#define WH_LEN		(2 * WH_SEG)	/* the request */
#define WH_HEAD		256		/* mapped before the server's MR */
#define WH_RSEED	1301		/* the server's mapping */
#define WH_LSEED	1302		/* ours */

/* Our buffer idx: a mapping of maplen bytes, its first mrlen registered. */
static struct region *lregion_part(struct sess *s, int idx, size_t maplen,
				   size_t mrlen, int kind, int access)
{
	struct region *r = region_new(s, idx, maplen, 0, kind, -1, 0);

	r->mr = ep_reg_mr(ep_pd(s->ep), r->buf, mrlen, access);
	if (!r->mr)
		FAIL("reg_mr(%zu bytes): %s", mrlen, strerror(errno));
	mr_stats(r->mr, &r->base);
	return r;
}

struct rdiff {
	uint64_t	n, first, last;	/* first/last: offset + 1, 0 if none */
};

/* Bytes of the server's mapping idx that changed (see srv_diff). */
static struct rdiff rdiff(struct sess *s, int idx, uint32_t seed, size_t from,
			  size_t len)
{
	struct msg m = REQ(.op = OP_DIFF,
			   .a = { (uint64_t)idx, seed, from, len });
	struct rdiff d;

	call(s, &m);
	d.n = m.a[0];
	d.first = m.a[1];
	d.last = m.a[2];
	return d;
}

static struct rdiff ldiff(const struct region *r, uint32_t seed)
{
	const uint8_t *p = (const uint8_t *)r->map.addr;
	struct rdiff d = { 0, 0, 0 };

	for (size_t i = 0; i < r->map.len; i++) {
		if (p[i] == pattern_byte(seed, i))
			continue;
		if (!d.n++)
			d.first = i + 1;
		d.last = i + 1;
	}
	return d;
}

/* A completion of cq within the time limit; FAILs on a timeout. */
static void wait_wc(xcq *cq, xwc *wc, const char *what)
{
	if (!poll_wait(cq, wc, opt.timeout_ms))
		FAIL("%s: no completion within %d ms", what, opt.timeout_ms);
}

/*
 * got must be want; under ibverbs rxe's known departure rxe_want (>= 0) is
 * accepted too, and printed as `<tag>rxe_deviation=`.  Returns 1 if fine.
 */
static int status_ok(int got, int want, int rxe_want, const char *tag,
		     const char *what)
{
	if (got == want)
		return 1;
	if (!xport_has_odp && rxe_want >= 0 && got == rxe_want) {
		printf("%srxe_deviation=%d (%s: %s instead of %s)\n", tag,
		       rxe_want, what, st(rxe_want), st(want));
		return 1;
	}
	return 0;
}

static void whole_test(struct sess *s, int kind)
{
	struct link *l = &s->data[0];
	int remote = kind == W_WRITE_TAIL || kind == W_READ_TAIL ||
		     kind == W_SEND_LEN;
	size_t rlen = kind == W_LOCAL_HUGE ? 4 * WH_SEG : WH_LEN;
	int want, rxe_want = -1, want_srv = X_WC_WR_FLUSH_ERR, rxe_srv = -1;
	uint64_t scratch[1][3] = { { 7, 0, 100 } };
	uint64_t rs16[1][3] = { { 0, 0, WH_SEG } };
	struct region *loc, *rb;
	struct rdiff rd, rd2 = { 0, 0, 0 }, ld;
	struct rreg r;
	xsge sg[2], gsg, rsg;
	xsend_wr wr[2];
	xrecv_wr rwr, *rbad;
	xwc wc;
	int err, st1, st2, fails = 0;

	/* The server: its MR (the pattern over all its mapping), a scratch. */
	r = ralloc(s, 0, rlen, WH_HEAD, MAP_KIND_PRIVATE, X_ACCESS_ALL, 0,
		   WH_RSEED);
	ralloc(s, 7, 1024, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE, 0, 0);
	if (kind == W_SEND_LEN) {
		/* The SEND's receive covers the first 16 KiB of the MR. */
		rpost_recv(s, 0, 900, 1, 1, rs16, 0, 0);
		rpost_recv(s, 0, 901, 1, 1, scratch, 0, 0);
	} else {
		rpost_recv(s, 0, 900, 1, 1, scratch, 0, 0);
	}

	/* Ours: the pattern over all the mapping, registered in part. */
	switch (kind) {
	case W_LOCAL_TAIL:	/* 16 KiB + 4 KiB registered of 32 KiB+ */
		loc = lregion_part(s, 0, WH_LEN, WH_SEG + 4096, MAP_KIND_PRIVATE,
				   X_ACCESS_LOCAL_WRITE);
		break;
	case W_LOCAL_HUGE:
		loc = lregion(s, 0, 4 * WH_SEG, 0, MAP_KIND_PRIVATE,
			      X_ACCESS_LOCAL_WRITE);
		break;
	default:
		loc = lregion(s, 0, WH_LEN, 0, MAP_KIND_PRIVATE,
			      X_ACCESS_LOCAL_WRITE);
		break;
	}
	fill_pattern(loc->map.addr, loc->map.len, WH_LSEED);
	rb = lregion(s, 1, 64, 0, MAP_KIND_PRIVATE, X_ACCESS_LOCAL_WRITE);
	rsg = sge_of(rb, 0, 64);
	memset(&rwr, 0, sizeof(rwr));
	rwr.wr_id = 950;
	rwr.sg_list = &rsg;
	rwr.num_sge = 1;
	if ((err = x_post_recv(l, &rwr, &rbad)))
		FAIL("post_recv: %s", strerror(err));

	sg[0] = sge_of(loc, 0, WH_LEN);
	want = X_WC_REM_ACCESS_ERR;
	switch (kind) {
	case W_WRITE_TAIL:	/* its last 16 KiB lie past the MR's end */
		wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, sg, 1, 1, r.addr + WH_SEG,
				r.rkey);
		break;
	case W_READ_TAIL:
		wr[0] = mk_rdma(1, X_WR_RDMA_READ, sg, 1, 1, r.addr + WH_SEG,
				r.rkey);
		break;
	case W_LOCAL_TAIL:	/* the SGE's second half is outside its MR */
		wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, sg, 1, 1, r.addr, r.rkey);
		want = X_WC_LOC_PROT_ERR;
		rxe_want = X_WC_WR_FLUSH_ERR;
		break;
	case W_LOCAL_LKEY2:	/* the second SGE has a bad lkey */
		sg[0] = sge_of(loc, 0, WH_SEG);
		sg[1] = sge_of(loc, WH_SEG, WH_SEG);
		sg[1].lkey = BAD_KEY(sg[1].lkey);
		wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, sg, 2, 1, r.addr, r.rkey);
		want = X_WC_LOC_PROT_ERR;
		rxe_want = X_WC_WR_FLUSH_ERR;
		break;
	case W_LOCAL_HUGE:	/* 2 GiB - 1 over an MR of 64 KiB */
		sg[0].length = 0x7fffffffu;
		wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, sg, 1, 1, r.addr, r.rkey);
		want = X_WC_LOC_PROT_ERR;
		rxe_want = X_WC_WR_FLUSH_ERR;
		break;
	case W_SEND_LEN:	/* 32 KiB into a receive of 16 KiB */
		wr[0] = mk_wr(1, X_WR_SEND, sg, 1, 1);
		want = X_WC_REM_INV_REQ_ERR;
		want_srv = X_WC_LOC_LEN_ERR;
		rxe_want = X_WC_REM_OP_ERR;
		rxe_srv = 2;	/* IBV_WC_LOC_QP_OP_ERR */
		break;
	default:
		FAIL("kind %d", kind);
	}
	/* A good WRITE behind it: flushed, it must not land either. */
	gsg = sge_of(loc, 0, 64);
	wr[1] = mk_rdma(2, X_WR_RDMA_WRITE, &gsg, 1, 1, r.addr + 64, r.rkey);
	link_list(wr, 2);
	post_list(l, wr);

	wait_wc(l->scq, &wc, "the bad WR");
	st1 = wc.status;
	if (wc.wr_id != 1)
		FAIL("first completion: wr_id %llu (%s), expected the bad WR",
		     (unsigned long long)wc.wr_id, st(wc.status));
	wait_wc(l->scq, &wc, "the WR behind the bad one");
	st2 = wc.status;
	if (wc.wr_id != 2)
		FAIL("second completion: wr_id %llu (%s), expected the WRITE "
		     "behind the bad WR", (unsigned long long)wc.wr_id,
		     st(wc.status));
	expect_wc(l->rcq, 950, X_WC_WR_FLUSH_ERR, -1, "our posted receive");
	expect_no_wc(l->scq, 50, "send queue after the flush");
	if (remote) {
		/* The responder's QP is in the error state as well. */
		rexpect_recv_rxe(s, 0, 900, 1, want_srv, 0, 0, 0, 0, 0, rxe_srv);
		if (kind == W_SEND_LEN)
			rexpect_recv(s, 0, 901, 1, X_WC_WR_FLUSH_ERR, 0, 0, 0, 0, 0);
		printf("server_status=%d\n", want_srv);
	}

	/*
	 * The server's memory: all of it, except (SEND into a too short
	 * receive) the receive's own 16 KiB, whose content is undefined.
	 */
	if (kind == W_SEND_LEN) {
		rd = rdiff(s, 0, WH_RSEED, 0, WH_HEAD);
		rd2 = rdiff(s, 0, WH_RSEED, WH_HEAD + WH_SEG, 0);
		rd.n += rd2.n;
		if (!rd.first && rd2.first)
			rd.first = rd2.first;
		if (rd2.last)
			rd.last = rd2.last;
	} else {
		rd = rdiff(s, 0, WH_RSEED, 0, 0);
	}
	ld = ldiff(loc, WH_LSEED);
	printf("status=%d flushed_status=%d remote_changed=%llu",
	       st1, st2, (unsigned long long)rd.n);
	if (rd.n)	/* offsets from the MR's start, end exclusive */
		printf(" remote_changed_from=%lld remote_changed_to=%lld",
		       (long long)rd.first - 1 - WH_HEAD,
		       (long long)rd.last - WH_HEAD);
	printf(" local_changed=%llu", (unsigned long long)ld.n);
	if (ld.n)
		printf(" local_changed_from=%lld local_changed_to=%lld",
		       (long long)ld.first - 1, (long long)ld.last);
	printf("\n");

	if (!status_ok(st1, want, rxe_want, "", "the bad WR")) {
		fprintf(stderr, "the bad WR completed with %s (%d), expected "
			"%s (%d)\n", st(st1), st1, st(want), want);
		fails++;
	}
	if (st2 != X_WC_WR_FLUSH_ERR) {
		fprintf(stderr, "the WRITE behind the bad WR completed with %s "
			"(%d), expected WR_FLUSH_ERR\n", st(st2), st2);
		fails++;
	}
	if (rd.n) {
		fprintf(stderr, "%llu bytes of the server's memory changed, "
			"offsets %lld..%lld from its MR's start (MR: %zu bytes)\n",
			(unsigned long long)rd.n,
			(long long)rd.first - 1 - WH_HEAD,
			(long long)rd.last - 1 - WH_HEAD, rlen);
		fails++;
	}
	if (ld.n) {
		fprintf(stderr, "%llu bytes of our buffer changed, offsets "
			"%lld..%lld\n", (unsigned long long)ld.n,
			(long long)ld.first - 1, (long long)ld.last - 1);
		fails++;
	}
	if (fails)
		FAIL("a rejected request: %d check%s failed (above): status %s "
		     "(%d), %llu remote and %llu local bytes changed", fails,
		     fails > 1 ? "s" : "", st(st1), st1,
		     (unsigned long long)rd.n, (unsigned long long)ld.n);
	rcheck_all(s, 7, 0);
}

#define WHOLE_FN(name, kind) \
	static void t_whole_##name(struct sess *s) { whole_test(s, kind); }
WHOLE_FN(write_tail, W_WRITE_TAIL)
WHOLE_FN(read_tail, W_READ_TAIL)
WHOLE_FN(local_tail, W_LOCAL_TAIL)
WHOLE_FN(local_lkey2, W_LOCAL_LKEY2)
WHOLE_FN(local_huge, W_LOCAL_HUGE)
WHOLE_FN(send_len, W_SEND_LEN)

#define WR_REPEAT	10
#define WR_REPEAT_LEN	(4 * WH_SEG)	/* 64 KiB: 5 wire messages */
#define WR_REPEAT_BIG	(64 * WH_SEG)	/* 1 MiB: more than 32 */

/*
 * A multi-message WRITE whose tail lies past the end of the remote MR,
 * WR_REPEAT times (a new connection each): it completes with REM_ACCESS_ERR
 * every time - never WR_FLUSH_ERR, however early the responder rejects it
 * and however far the requester got in sending it - the two WRITEs posted
 * behind it with WR_FLUSH_ERR, and the server's memory never changes.  Even
 * rounds: 64 KiB into an MR of 48 KiB (the last 16 KiB out); odd rounds:
 * 1 MiB into an MR of 8 KiB (rejected at its first message even by a
 * responder that checks message by message, while the requester still has
 * most of the WRITE to send).
 */
static void t_whole_write_repeat(struct sess *s)
{
	struct link *l = &s->data[0];
	int n_rem = 0, n_flush = 0, n_other = 0, n_changed = 0, n_bad_after = 0;
	struct region *src;
	char list[WR_REPEAT * 4 + 1] = "";

	src = lregion(s, 0, WR_REPEAT_BIG, 0, MAP_KIND_SHARED, 0);
	fill_pattern(src->buf, WR_REPEAT_BIG, 1303);
	for (int i = 0; i < WR_REPEAT; i++) {
		size_t mrlen = i % 2 ? 8192 : 3 * WH_SEG;
		size_t wlen = i % 2 ? WR_REPEAT_BIG : WR_REPEAT_LEN;
		struct rreg r;
		struct rdiff rd;
		xsge sg[3];
		xsend_wr wr[3];
		xwc wc;
		int st1;

		if (i)
			reconnect(s, 0);
		r = ralloc(s, 0, mrlen, WH_HEAD, MAP_KIND_PRIVATE, X_ACCESS_ALL, 0,
			   WH_RSEED + (uint32_t)i);
		region_dontneed(src);	/* gathering it faults: slower */
		sg[0] = sge_of(src, 0, wlen);
		sg[1] = sge_of(src, 0, 64);
		sg[2] = sge_of(src, 64, 64);
		wr[0] = mk_rdma(1, X_WR_RDMA_WRITE, &sg[0], 1, 1, r.addr, r.rkey);
		wr[1] = mk_rdma(2, X_WR_RDMA_WRITE, &sg[1], 1, 1, r.addr + 128,
				r.rkey);
		wr[2] = mk_rdma(3, X_WR_RDMA_WRITE, &sg[2], 1, 1, r.addr + 256,
				r.rkey);
		link_list(wr, 3);
		post_list(l, wr);
		wait_wc(l->scq, &wc, "the WRITE out of bounds");
		if (wc.wr_id != 1)
			FAIL("round %d: first completion wr_id %llu (%s), "
			     "expected the WRITE out of bounds", i,
			     (unsigned long long)wc.wr_id, st(wc.status));
		st1 = wc.status;
		for (uint64_t id = 2; id <= 3; id++) {
			wait_wc(l->scq, &wc, "a WRITE behind the bad one");
			if (wc.wr_id != id)
				FAIL("round %d: completion wr_id %llu, expected "
				     "%llu", i, (unsigned long long)wc.wr_id,
				     (unsigned long long)id);
			if (wc.status != X_WC_WR_FLUSH_ERR)
				n_bad_after++;
		}
		expect_no_wc(l->scq, 20, "send queue");
		rd = rdiff(s, 0, WH_RSEED + (uint32_t)i, 0, 0);
		if (st1 == X_WC_REM_ACCESS_ERR)
			n_rem++;
		else if (st1 == X_WC_WR_FLUSH_ERR)
			n_flush++;
		else
			n_other++;
		n_changed += rd.n != 0;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d",
			 i ? "," : "", st1);
		printf("round=%d len=%zu mr_len=%zu status=%d remote_changed=%llu\n",
		       i, wlen, mrlen, st1, (unsigned long long)rd.n);
	}
	printf("rounds=%d rem_access_err=%d wr_flush_err=%d other=%d "
	       "rounds_remote_changed=%d flushed_not_flush=%d statuses=%s\n",
	       WR_REPEAT, n_rem, n_flush, n_other, n_changed, n_bad_after, list);
	if (n_rem != WR_REPEAT || n_bad_after)
		FAIL("the WRITE with its tail out of bounds completed "
		     "with REM_ACCESS_ERR in %d of %d rounds (WR_FLUSH_ERR %d, "
		     "other %d; statuses %s), WRs behind it not WR_FLUSH_ERR: %d",
		     n_rem, WR_REPEAT, n_flush, n_other, list, n_bad_after);
	if (n_changed)
		FAIL("the rejected WRITE changed the server's memory in %d of "
		     "%d rounds", n_changed, WR_REPEAT);
}

/* ---- the tests ----------------------------------------------------------- */

#define T_MANUAL	1	/* needs an outside action: not in the all-tests run */
#define T_ODP		2	/* ODP only (pinned MRs cannot do it) */
#define T_MAYDIE	4	/* F_PEER_MAY_DIE */

struct test {
	const char	*name;
	void		(*fn)(struct sess *s);
	int		ndata;
	unsigned int	flags;
	uint32_t	wr;	/* max_send_wr of the data QPs (0: 256) */
	uint32_t	rwr;	/* max_recv_wr of the data QPs (0: 256) */
	const char	*what;
	const char	*ibv_skip;	/* why the ibverbs anchor cannot run it */
};

#define TEST(n, f, nd, fl, w, rw, desc, ...)				\
	{ .name = (n), .fn = (f), .ndata = (nd), .flags = (fl), .wr = (w),	\
	  .rwr = (rw), .what = (desc), __VA_ARGS__ }

static const struct test tests[] = {
	TEST("send", t_send, 1, 0, 0, 0, "SEND, faults on both sides"),
	TEST("send_imm", t_send_imm, 1, 0, 0, 0, "SEND_WITH_IMM: imm and wc_flags"),
	TEST("write", t_write, 1, 0, 0, 0, "RDMA_WRITE"),
	TEST("write_imm", t_write_imm, 1, 0, 0, 0, "RDMA_WRITE_WITH_IMM: RECV_RDMA_WITH_IMM"),
	TEST("read", t_read, 1, 0, 0, 0, "RDMA_READ"),
	TEST("cmp_swap", t_cmp_swap, 1, 0, 0, 0, "ATOMIC_CMP_AND_SWP"),
	TEST("fetch_add", t_fetch_add, 1, 0, 0, 0, "ATOMIC_FETCH_AND_ADD"),
	TEST("large_write", t_large_write, 1, 0, 0, 0, "1 MiB WRITE, unaligned"),
	TEST("large_read", t_large_read, 1, 0, 0, 0, "1 MiB READ, unaligned"),
	TEST("large_send", t_large_send, 1, 0, 0, 0, "1 MiB SEND into 3 SGEs"),
	TEST("multi_sge_write", t_multi_sge_write, 1, 0, 0, 0, "7 odd SGEs, WRITE"),
	TEST("multi_sge_read", t_multi_sge_read, 1, 0, 0, 0, "7 odd SGEs, READ"),
	TEST("multi_sge_send", t_multi_sge_send, 1, 0, 0, 0, "7 SGEs into 4"),
	TEST("many_writes", t_many_writes, 1, 0, 0, 0, "128 WRITEs outstanding"),
	TEST("many_reads", t_many_reads, 1, 0, 0, 0, "64 READs outstanding"),
	TEST("many_mixed", t_many_mixed, 1, 0, 0, 0, "96 mixed WRs, post order"),
	TEST("atomic_two_qp_fadd", t_atomic_two_qp_fadd, 2, 0, 0, 0, "fetch-adds from 2 QPs"),
	TEST("atomic_two_qp_cas", t_atomic_two_qp_cas, 2, 0, 0, 0, "CAS loops from 2 QPs"),
	TEST("err_rkey_write", t_err_rkey_write, 1, 0, 0, 0, "REM_ACCESS_ERR"),
	TEST("err_rkey_read", t_err_rkey_read, 1, 0, 0, 0, "REM_ACCESS_ERR"),
	TEST("err_rkey_atomic", t_err_rkey_atomic, 1, 0, 0, 0, "REM_ACCESS_ERR"),
	TEST("err_rkey_write_unsignaled", t_err_rkey_write_unsignaled, 1, 0, 0, 0,
	  "an unsignaled failing WR completes"),
	TEST("err_bounds_write", t_err_bounds_write, 1, 0, 0, 0, "REM_ACCESS_ERR"),
	TEST("err_bounds_read", t_err_bounds_read, 1, 0, 0, 0, "REM_ACCESS_ERR"),
	TEST("err_bounds_atomic", t_err_bounds_atomic, 1, 0, 0, 0, "REM_ACCESS_ERR"),
	TEST("err_access_write", t_err_access_write, 1, 0, 0, 0, "no REMOTE_WRITE"),
	TEST("err_access_read", t_err_access_read, 1, 0, 0, 0, "no REMOTE_READ"),
	TEST("err_access_cas", t_err_access_cas, 1, 0, 0, 0, "no REMOTE_ATOMIC"),
	TEST("err_access_fadd", t_err_access_fadd, 1, 0, 0, 0, "no REMOTE_ATOMIC"),
	TEST("err_unmapped_write", t_err_unmapped_write, 1, T_ODP, 0, 0, "munmapped target"),
	TEST("err_unmapped_read", t_err_unmapped_read, 1, T_ODP, 0, 0, "munmapped source"),
	TEST("err_unmapped_atomic", t_err_unmapped_atomic, 1, T_ODP, 0, 0, "munmapped word"),
	TEST("err_other_pd_write", t_err_other_pd_write, 1, 0, 0, 0, "rkey of another PD"),
	TEST("err_lkey_write", t_err_lkey_write, 1, 0, 0, 0, "LOC_PROT_ERR"),
	TEST("err_lkey_read", t_err_lkey_read, 1, 0, 0, 0, "LOC_PROT_ERR"),
	TEST("err_lkey_bounds", t_err_lkey_bounds, 1, 0, 0, 0, "LOC_PROT_ERR"),
	TEST("err_local_readonly", t_err_local_readonly, 1, 0, 0, 0, "LOC_PROT_ERR"),
	TEST("err_recv_len", t_err_recv_len, 1, 0, 0, 0, "REM_INV_REQ_ERR / LOC_LEN_ERR"),
	TEST("err_recv_lkey", t_err_recv_lkey, 1, 0, 0, 0, "REM_OP_ERR / LOC_PROT_ERR"),
	TEST("post_bad_opcode", t_post_bad_opcode, 1, 0, 0, 0, "EINVAL, bad_wr",
	  .ibv_skip = "rxe's provider posts any opcode (the WR fails when executed)"),
	TEST("post_unconnected", t_post_unconnected, 0, 0, 0, 0, "EINVAL"),
	TEST("post_misaligned_atomic", t_post_misaligned_atomic, 1, 0, 0, 0, "EINVAL"),
	TEST("post_atomic_short_sge", t_post_atomic_short_sge, 1, 0, 0, 0, "EINVAL"),
	TEST("post_too_many_sge", t_post_too_many_sge, 1, 0, 0, 0, "EINVAL"),
	TEST("post_queue_full", t_post_queue_full, 1, 0, 16, 0, "ENOMEM"),
	TEST("post_send_refill", t_post_send_refill, 1, 0, 16, 0,
	  "a full send queue takes a WR once a completion is polled"),
	TEST("post_recv_refill", t_post_recv_refill, 1, 0, 0, 16,
	  "a full receive queue takes a WR once a completion is polled"),
	TEST("last_send_consumed", t_last_send_consumed, 1, 0, 0, 0,
	     "a SEND the peer consumed completes, even if the peer then "
	     "destroys its QP"),
	TEST("err_lkey_after_inflight", t_err_lkey_after_inflight, 1, 0, 0, 0,
	  "a local error behind a READ in flight: post order"),
	TEST("indep_write", t_indep_write, 1, 0, 0, 0,
	  "our WRITE completes while the peer's SEND waits for a receive"),
	TEST("indep_read", t_indep_read, 1, 0, 0, 0,
	  "our READ completes while the peer's SEND waits for a receive"),
	TEST("indep_atomic", t_indep_atomic, 1, 0, 0, 0,
	  "our atomic completes while the peer's SEND waits for a receive"),
	TEST("indep_many_sends", t_indep_many_sends, 1, 0, 0, 0,
	  "40 SENDs of the peer wait: our WRITE/READ/atomic still complete"),
	TEST("whole_write_tail", t_whole_write_tail, 1, 0, 0, 0,
	  "32 KiB WRITE, tail out of the MR: REM_ACCESS_ERR, nothing written"),
	TEST("whole_read_tail", t_whole_read_tail, 1, 0, 0, 0,
	  "32 KiB READ, tail out of the MR: REM_ACCESS_ERR, nothing read"),
	TEST("whole_local_tail", t_whole_local_tail, 1, 0, 0, 0,
	  "WRITE, local SGE half out of its MR: LOC_PROT_ERR, nothing sent",
	  .ibv_skip = "rxe gathers packet by packet: it sends (and the peer "
		      "writes) the SGE's bytes inside the MR, then flushes"),
	TEST("whole_local_lkey2", t_whole_local_lkey2, 1, 0, 0, 0,
	  "WRITE, second SGE with a bad lkey: LOC_PROT_ERR, nothing sent",
	  .ibv_skip = "rxe gathers packet by packet: it sends (and the peer "
		      "writes) the first SGE, then flushes"),
	TEST("whole_local_huge", t_whole_local_huge, 1, 0, 0, 0,
	  "WRITE, 2 GiB - 1 SGE over 64 KiB: LOC_PROT_ERR, nothing sent",
	  .ibv_skip = "rxe checks no local SGE before sending: the peer's "
		      "REM_ACCESS_ERR and rxe's flushed local error race"),
	TEST("whole_send_len", t_whole_send_len, 1, 0, 0, 0,
	  "32 KiB SEND into 16 KiB: LOC_LEN_ERR, nothing past the receive"),
	TEST("whole_write_repeat", t_whole_write_repeat, 1, 0, 0, 0,
	  "WRITE, tail out: REM_ACCESS_ERR every time, never WR_FLUSH_ERR"),
	TEST("race_responder_dontneed", t_race_responder_dontneed, 1, T_ODP, 0, 0,
	  "server pages MADV_DONTNEED'd during the stream"),
	TEST("race_responder_munmap", t_race_responder_munmap, 1, T_ODP, 0, 0,
	  "server pages munmapped + mapped again during the stream"),
	TEST("race_responder_mprotect", t_race_responder_mprotect, 1, T_ODP, 0, 0,
	  "server pages made read-only and back during the stream"),
	TEST("race_requester_dontneed", t_race_requester_dontneed, 1, T_ODP, 0, 0,
	  "our pages MADV_DONTNEED'd during the stream"),
	TEST("race_requester_munmap", t_race_requester_munmap, 1, T_ODP, 0, 0,
	  "our pages munmapped + mapped again during the stream"),
	TEST("race_requester_mprotect", t_race_requester_mprotect, 1, T_ODP, 0, 0,
	  "our pages PROT_NONE/PROT_READ and back during the stream"),
	TEST("race_requester_munmap_serial", t_race_requester_munmap_serial, 1,
	     T_ODP, 0, 0, "the same, one WR in flight at a time"),
	TEST("race_requester_mprotect_serial", t_race_requester_mprotect_serial, 1,
	     T_ODP, 0, 0, "the same, one WR in flight at a time"),
	TEST("kill_stream", t_kill_stream, 1, T_MANUAL | T_MAYDIE, 0, 0,
	  "stream until the peer is killed"),
	TEST("devremove_stream", t_devremove_stream, 1, T_MANUAL | T_MAYDIE, 0, 0,
	  "stream until the device is removed"),
};

#define NTESTS	(sizeof(tests) / sizeof(tests[0]))

static const struct test *find_test(const char *name)
{
	for (size_t i = 0; i < NTESTS; i++)
		if (!strcmp(tests[i].name, name))
			return &tests[i];
	return NULL;
}

/* ---- the client ---------------------------------------------------------- */

static int run_client_test(const struct test *t)
{
	struct sockaddr_in sin = sockaddr_of(opt.addr);
	struct sess *s = sess_new(0);
	struct msg m;
	int err;

	cur_side = "client";
	cur_test = t->name;
	printf("test=%s side=client transport=%s\n", t->name, XPORT_NAME);
	if ((t->flags & T_ODP) && !xport_has_odp)
		SKIP("needs on-demand paging (pinned MRs cannot)");
	if (t->ibv_skip && !xport_has_odp)
		SKIP("%s", t->ibv_skip);
	if (t->flags & T_MAYDIE)
		s->flags |= F_PEER_MAY_DIE;
	if (t->wr)
		s->data_caps.max_send_wr = t->wr;
	if (t->rwr)
		s->data_caps.max_recv_wr = t->rwr;
	s->ep = ep_open(opt.dev, 0, &sin);
	if (!s->ep)
		FAIL("cannot open the RDMA device");
	sess_ctrl_mr(s);
	err = link_connect(s->ep, &s->ctrl, &ctrl_caps, ctrl_prep, s,
			   opt.connect_ms);
	if (err)
		FAIL("connecting to %s:%d: %s", opt.addr, opt.port, strerror(err));
	s->ctrl_up = 1;
	memset(&m, 0, sizeof(m));
	m.type = M_HELLO;
	snprintf(m.name, sizeof(m.name), "%s", t->name);
	m.a[0] = (uint64_t)t->ndata;
	m.a[1] = s->flags;
	m.a[2] = t->wr;
	m.a[3] = t->rwr;
	msg_send(s, &m);
	msg_recv(s, &m, opt.timeout_ms);
	if (m.type != M_ACK)
		FAIL("the server did not take the test");
	s->ndata = t->ndata;
	for (int i = 0; i < t->ndata; i++) {
		err = link_connect(s->ep, &s->data[i], &s->data_caps, NULL, NULL,
				   opt.connect_ms);
		if (err)
			FAIL("connecting data link %d: %s", i, strerror(err));
	}
	t->fn(s);
	if (s->ctrl_up) {
		m = REQ(.op = OP_DONE);
		call(s, &m);
	}
	sess_end(s);
	printf("result=pass\n");
	return T_PASS;
}

/* Every test (each in a child), then QUIT the server. */
static int run_all_clients(void)
{
	int passed = 0, failed = 0, skipped = 0;

	for (size_t i = 0; i < NTESTS; i++) {
		const struct test *t = &tests[i];
		int status;
		pid_t pid;

		if (t->flags & T_MANUAL)
			continue;
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			FAIL("fork: %s", strerror(errno));
		if (!pid)
			exit(run_client_test(t));
		if (waitpid(pid, &status, 0) < 0)
			FAIL("waitpid: %s", strerror(errno));
		if (WIFEXITED(status) && WEXITSTATUS(status) == T_PASS) {
			passed++;
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == T_SKIP) {
			skipped++;
		} else {
			failed++;
			printf("test=%s result=fail status=%#x\n", t->name, status);
		}
	}
	/* Tell the server we are done: a session that only says QUIT. */
	{
		struct sockaddr_in sin = sockaddr_of(opt.addr);
		struct sess *s = sess_new(0);
		struct msg m;

		cur_test = "quit";
		s->ep = ep_open(opt.dev, 0, &sin);
		if (s->ep) {
			sess_ctrl_mr(s);
			if (!link_connect(s->ep, &s->ctrl, &ctrl_caps, ctrl_prep, s,
					  opt.connect_ms)) {
				s->ctrl_up = 1;
				memset(&m, 0, sizeof(m));
				m.type = M_QUIT;
				ctrl_send_raw(s, &m, opt.timeout_ms);
			}
			sess_end(s);
		}
	}
	printf("summary passed=%d failed=%d skipped=%d\n", passed, failed, skipped);
	return failed ? T_FAIL : T_PASS;
}

/* Sessions until QUIT (each in a child), or one in-process with -t. */
static int run_server(void)
{
	int passed = 0, failed = 0;

	if (opt.test)
		return serve_session(opt.test);
	for (;;) {
		int status;
		pid_t pid;

		fflush(stdout);
		pid = fork();
		if (pid < 0)
			FAIL("fork: %s", strerror(errno));
		if (!pid)
			exit(serve_session(NULL));
		if (waitpid(pid, &status, 0) < 0)
			FAIL("waitpid: %s", strerror(errno));
		if (!WIFEXITED(status) || WEXITSTATUS(status) == T_FAIL) {
			failed++;
			continue;
		}
		if (WEXITSTATUS(status) == T_PASS || WEXITSTATUS(status) == T_SKIP) {
			passed++;
			continue;
		}
		/* 100: QUIT; 2: nobody came */
		break;
	}
	printf("summary sessions_passed=%d sessions_failed=%d\n", passed, failed);
	return failed ? T_FAIL : T_PASS;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s server [-b ADDR] [-p PORT] [-t TEST] [-d DEV] [-T SEC]\n"
		"       %s client [-p PORT] [-t TEST] [-d DEV] [-T SEC] ADDR\n"
		"       %s -l\n", argv0, argv0, argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	int server, c;

	page_size = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	fail_hook = send_fail;

	if (argc > 1 && !strcmp(argv[1], "-l")) {
		for (size_t i = 0; i < NTESTS; i++)
			printf("%s%s%s\t%s\n", tests[i].name,
			       tests[i].flags & T_MANUAL ? " manual" : "",
			       tests[i].flags & T_ODP ? " odp" : "",
			       tests[i].what);
		return 0;
	}
	if (argc < 2)
		usage(argv[0]);
	if (!strcmp(argv[1], "server"))
		server = 1;
	else if (!strcmp(argv[1], "client"))
		server = 0;
	else
		usage(argv[0]);
	optind = 2;
	while ((c = getopt(argc, argv, "b:p:t:d:T:")) != -1) {
		switch (c) {
		case 'b': opt.bind = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 't': opt.test = optarg; break;
		case 'd': opt.dev = optarg; break;
		case 'T': opt.timeout_ms = atoi(optarg) * 1000; break;
		default: usage(argv[0]);
		}
	}
	if (opt.port <= 0 || opt.port > 65535 || opt.timeout_ms <= 0)
		usage(argv[0]);
	if (!server) {
		if (optind != argc - 1)
			usage(argv[0]);
		opt.addr = argv[optind];
	} else if (optind != argc) {
		usage(argv[0]);
	}
	if (opt.test && !find_test(opt.test)) {
		fprintf(stderr, "unknown test %s (rdma_ops -l lists them)\n", opt.test);
		return 2;
	}
	if (server)
		return run_server();
	if (opt.test)
		return run_client_test(find_test(opt.test));
	return run_all_clients();
}
