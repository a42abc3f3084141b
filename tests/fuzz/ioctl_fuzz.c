// SPDX-License-Identifier: MIT
/*
 * ioctl_fuzz: raw ioctls on /dev/odp, seeded and time-bounded.
 *
 *   ioctl_fuzz [-s SEED] [-t SECONDS] [-j THREADS] [-n ITERATIONS] [-p PORT] [-v]
 *
 * Worker threads share one context (and a few more fds that are reopened
 * underneath them) and issue random operations: every ioctl with random
 * and boundary field values, wrong sizes and directions, wild argument
 * pointers (never dereferenced by the fuzzer itself), handles that are
 * stale, reused or of another type; MRs over memory that a churn thread
 * munmaps, remaps, mprotects and madvises underneath accesses and
 * prefetches; QPs connected to a listener of the same context and destroyed
 * mid-traffic; fork children and a process that receives the fds over a
 * unix socket (SCM_RIGHTS), where every well-formed ioctl must fail with
 * EPERM.
 *
 * It prints `seed=N` first and per-operation counts at the end.  Exit 0
 * unless it saw an invariant violation: an ioctl that succeeded although
 * its argument was invalid (short struct, non-zero unknown tail, wrong
 * direction, unreadable pointer, invalid create arguments, handle 0 or
 * >= 2^31), an ioctl in another process that did not fail with EPERM, a
 * device access that moved wrong data, an operation stuck for a minute, or
 * a kernel report in /dev/kmsg (also the runner's oracle).  Each thread's
 * operations come from its own stream of the seed (thread i: stream i), so
 * `-j 1` with the same seed replays the same sequence; the last operations
 * of every thread are printed when something is found.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/falloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "uapi/odp_abi.h"
#include "fuzz_common.h"

#define DEV		"/dev/odp"
#define IBDEV		"rxe0"
#define MAX_THREADS	32
#define NSLOTS		4	/* fds: 0 shared for good, 1..3 reopened */
#define POOL		64	/* handles remembered per type */
#define RING		48	/* operations remembered per thread */
#define SCRATCH		(256 * 1024)
#define TASK_SIZE_4L	0x7ffffffff000ULL

/* ---- operations --------------------------------------------------------- */

enum op {
	OP_RAW, OP_QUERY_DEVICE, OP_ALLOC_PD, OP_DEALLOC_PD, OP_REG_MR,
	OP_DEREG_MR, OP_MR_ACCESS, OP_ADVISE, OP_QUERY_STATS, OP_BIND,
	OP_CREATE_CQ, OP_DESTROY_CQ, OP_POLL_CQ, OP_CREATE_QP, OP_DESTROY_QP,
	OP_LISTEN, OP_DESTROY_LISTEN, OP_ACCEPT, OP_CONNECT, OP_POST_SEND,
	OP_POST_RECV, OP_TRAFFIC, OP_CHECK, OP_FORK, OP_SCM, OP_REOPEN, OP_MAX
};

static const char *const op_name[OP_MAX] = {
	"raw", "query_device", "alloc_pd", "dealloc_pd", "reg_mr", "dereg_mr",
	"mr_access", "advise_mr", "query_stats", "bind_device", "create_cq",
	"destroy_cq", "poll_cq", "create_qp", "destroy_qp", "listen",
	"destroy_listen", "accept", "connect", "post_send", "post_recv",
	"traffic", "check", "fork", "scm_rights", "reopen",
};

/* Relative weights of the operations a worker picks. */
static const unsigned int op_weight[OP_MAX] = {
	[OP_RAW] = 8, [OP_QUERY_DEVICE] = 2, [OP_ALLOC_PD] = 6,
	[OP_DEALLOC_PD] = 4, [OP_REG_MR] = 14, [OP_DEREG_MR] = 8,
	[OP_MR_ACCESS] = 12, [OP_ADVISE] = 10, [OP_QUERY_STATS] = 3,
	[OP_BIND] = 2, [OP_CREATE_CQ] = 4, [OP_DESTROY_CQ] = 3,
	[OP_POLL_CQ] = 4, [OP_CREATE_QP] = 4, [OP_DESTROY_QP] = 3,
	[OP_LISTEN] = 2, [OP_DESTROY_LISTEN] = 2, [OP_ACCEPT] = 1,
	[OP_CONNECT] = 1, [OP_POST_SEND] = 5, [OP_POST_RECV] = 4,
	[OP_TRAFFIC] = 3, [OP_CHECK] = 4, [OP_FORK] = 1, [OP_SCM] = 1,
	[OP_REOPEN] = 1,
};

/* The ioctls, for raw numbers and for the other processes' EPERM checks. */
static const unsigned long known_cmds[] = {
	ODP_IOC_QUERY_DEVICE, ODP_IOC_ALLOC_PD, ODP_IOC_DEALLOC_PD,
	ODP_IOC_REG_MR, ODP_IOC_DEREG_MR, ODP_IOC_MR_ACCESS, ODP_IOC_ADVISE_MR,
	ODP_IOC_QUERY_STATS, ODP_IOC_BIND_DEVICE, ODP_IOC_CREATE_CQ,
	ODP_IOC_DESTROY_CQ, ODP_IOC_POLL_CQ, ODP_IOC_CREATE_QP,
	ODP_IOC_DESTROY_QP, ODP_IOC_LISTEN, ODP_IOC_DESTROY_LISTEN,
	ODP_IOC_ACCEPT, ODP_IOC_CONNECT, ODP_IOC_POST_SEND, ODP_IOC_POST_RECV,
};
#define NCMDS (sizeof(known_cmds) / sizeof(known_cmds[0]))

/* ---- global state ------------------------------------------------------- */

static uint64_t g_seed;
static unsigned int g_threads = 4;
static uint64_t g_deadline_ms, g_start_ms;
static uint64_t g_max_iters;
static unsigned int g_port_base = 18000;
static int g_verbose;
static atomic_bool g_stop;
static atomic_uint_fast64_t g_iters;
static atomic_int g_violations;
static atomic_uint_fast64_t g_calls[OP_MAX], g_ok[OP_MAX];
static atomic_uint_fast64_t g_errno[OP_MAX][8];
static const int errno_bucket[8] = { EINVAL, EFAULT, EPERM, ENOTTY, EBUSY,
				      EACCES, ENODEV, 0 /* other */ };
static pthread_mutex_t g_out_lock = PTHREAD_MUTEX_INITIALIZER;

static int g_fd[NSLOTS];			/* fd numbers; stable */
static pthread_mutex_t g_slot_lock = PTHREAD_MUTEX_INITIALIZER;

/* Memory the kernel may be pointed at. */
struct area {
	uint8_t *addr;
	size_t len;
	int kind;		/* 0 anon, 1 anon THP, 2 memfd, 3 hugetlb */
	int memfd;
	pthread_mutex_t lock;	/* the churn thread's, against itself */
};
#define NAREAS 5
static struct area g_area[NAREAS];
static uint8_t *g_ro;		/* PROT_READ, pattern, never changes */
static uint8_t *g_none;		/* PROT_NONE, never changes */
#define STATIC_LEN (4 * 4096)

/* Handles seen, per type; stale ones stay until overwritten. */
enum htype { H_PD, H_MR, H_CQ, H_QP, H_LN, H_MAX };
struct hent {
	uint32_t handle;
	uint32_t key;		/* MR: lkey == rkey */
	uint64_t addr, len;	/* MR */
	uint32_t access;
	uint32_t pd;		/* MR: its PD */
	int slot;
};
static struct {
	pthread_mutex_t lock;
	struct hent e[H_MAX][POOL];
	unsigned int n[H_MAX];
} g_pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The process that receives fds over a unix socket. */
static int g_scm_sock = -1;
static pid_t g_scm_pid;
static pthread_mutex_t g_scm_lock = PTHREAD_MUTEX_INITIALIZER;

struct thr {
	unsigned int id;
	pthread_t pt;
	pid_t tid;
	struct rng r;
	uint8_t *scratch;	/* arguments and buffers; the kernel may scribble */
	uint8_t *priv;		/* private MR data for OP_CHECK, 2 pages */
	uint64_t iter;
	char ring[RING][160];
	unsigned int nring;
	_Atomic uint64_t op_start_ms;	/* 0: between operations */
	_Atomic int op_unbounded;	/* may block until a signal */
	char cur[160];
	bool copied;		/* the last issue() returned the kernel's output */
	atomic_bool done;
};
static struct thr g_thr[MAX_THREADS];

/* ---- reporting ----------------------------------------------------------- */

static void note(struct thr *t, const char *fmt, ...)
{
	char *s = t->ring[t->nring++ % RING];
	va_list ap;
	int n;

	n = snprintf(s, 160, "#%llu ", (unsigned long long)t->iter);
	va_start(ap, fmt);
	vsnprintf(s + n, 160 - n, fmt, ap);
	va_end(ap);
	snprintf(t->cur, sizeof(t->cur), "%s", s);
	if (g_verbose)
		fprintf(stderr, "t%u %s\n", t->id, s);
}

static void dump_rings(void)
{
	for (unsigned int i = 0; i < g_threads; i++) {
		struct thr *t = &g_thr[i];
		unsigned int n = t->nring < RING ? t->nring : RING;

		fprintf(stderr, "--- thread %u (tid %d): last %u operations ---\n",
			i, t->tid, n);
		for (unsigned int k = t->nring - n; k < t->nring; k++)
			fprintf(stderr, "  t%u %s\n", i, t->ring[k % RING]);
	}
}

static void violation(struct thr *t, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&g_out_lock);
	fprintf(stderr, "VIOLATION (seed=%llu thread %u iteration %llu): ",
		(unsigned long long)g_seed, t ? t->id : 0,
		(unsigned long long)(t ? t->iter : 0));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (t)
		fprintf(stderr, "  during: %s\n", t->cur);
	pthread_mutex_unlock(&g_out_lock);
	atomic_fetch_add(&g_violations, 1);
}

static void count(enum op op, int err)
{
	unsigned int b;

	atomic_fetch_add(&g_calls[op], 1);
	if (!err) {
		atomic_fetch_add(&g_ok[op], 1);
		return;
	}
	for (b = 0; b < 7; b++)
		if (errno_bucket[b] == err)
			break;
	atomic_fetch_add(&g_errno[op][b], 1);
}

/* ---- handles -------------------------------------------------------------- */

static void pool_add(enum htype ty, const struct hent *e)
{
	pthread_mutex_lock(&g_pool.lock);
	g_pool.e[ty][g_pool.n[ty]++ % POOL] = *e;
	pthread_mutex_unlock(&g_pool.lock);
}

static bool pool_pick(struct rng *r, enum htype ty, struct hent *out)
{
	bool ok = false;

	pthread_mutex_lock(&g_pool.lock);
	if (g_pool.n[ty]) {
		unsigned int n = g_pool.n[ty] < POOL ? g_pool.n[ty] : POOL;

		*out = g_pool.e[ty][rnd_below(r, n)];
		ok = true;
	}
	pthread_mutex_unlock(&g_pool.lock);
	return ok;
}

/*
 * A handle for an argument of type @ty: usually one seen (maybe stale, maybe
 * of another fd), else of another type, small, boundary or random.  *never
 * is set when it is one no context ever hands out (0 or >= 2^31).
 */
static uint32_t pick_handle(struct thr *t, enum htype ty, bool *never)
{
	struct hent e;
	uint32_t h;
	unsigned int c = rnd_below(&t->r, 100);

	if (c < 60 && pool_pick(&t->r, ty, &e))
		h = e.handle;
	else if (c < 72 && pool_pick(&t->r, rnd_below(&t->r, H_MAX), &e))
		h = e.handle;
	else if (c < 88)
		h = rnd_below(&t->r, 10);
	else if (c < 96)
		h = rnd_boundary32(&t->r);
	else
		h = rnd32(&t->r);
	*never = h == 0 || h >= 0x80000000U;
	return h;
}

/* An lkey/rkey: of an MR seen, or mangled, or made up. */
static uint32_t pick_key(struct thr *t, struct hent *mr_out)
{
	struct hent e;
	unsigned int c = rnd_below(&t->r, 100);

	memset(mr_out, 0, sizeof(*mr_out));
	if (c < 75 && pool_pick(&t->r, H_MR, &e)) {
		*mr_out = e;
		if (chance(&t->r, 10))
			return e.key ^ (1U << rnd_below(&t->r, 8));
		return e.key;
	}
	if (c < 85)
		return rnd_below(&t->r, 0x1000);
	return rnd_boundary32(&t->r);
}

static int pick_slot(struct thr *t)
{
	return chance(&t->r, 75) ? 0 : (int)rnd_below(&t->r, NSLOTS);
}

/* ---- addresses -------------------------------------------------------------- */

/* Kinds of pointers that the kernel can never read. */
static uint64_t bad_pointer(struct rng *r)
{
	switch (rnd_below(r, 6)) {
	case 0:
		return 0;
	case 1:
		return 0x1000 + rnd_below(r, 0xe000);		/* below mmap_min_addr */
	case 2:
		return 0xffff888000000000ULL + rnd_below(r, 1 << 20);	/* kernel */
	case 3:
		return 0x0000800000000000ULL + rnd_below(r, 4096);	/* non-canonical */
	case 4:
		return (uintptr_t)g_none + rnd_below(r, STATIC_LEN);
	default:
		return 0xfffffffffffff000ULL + rnd_below(r, 4096);
	}
}

/* A range inside an area the kernel may touch as it likes. */
static uint64_t area_range(struct rng *r, __u64 *len)
{
	struct area *a = &g_area[rnd_below(r, NAREAS)];
	uint64_t off, l;

	if (!a->addr)
		a = &g_area[0];
	off = chance(r, 30) ? rnd_below(r, 4) * 4096 : rnd_below(r, a->len);
	if (chance(r, 50) && off % 8)
		off &= ~7ULL;
	l = chance(r, 20) ? a->len - off : 1 + rnd_below(r, a->len - off);
	if (chance(r, 10))
		l = rnd_below(r, 64) + 1;
	*len = l;
	return (uintptr_t)a->addr + off;
}

/* ---- issuing an ioctl ------------------------------------------------------------ */

/*
 * Issue @cmd with a copy of the @ksize bytes at @arg, often mangled: a
 * short or longer struct, non-zero bytes past the known struct, the wrong
 * direction, or a pointer the kernel cannot use.  @invalid says why the
 * arguments themselves must be refused (NULL: they may be valid).  On
 * success with the arguments as given, the kernel's output is copied back
 * to @arg and t->copied is set.  Returns 0 or the errno.
 */
static int issue(struct thr *t, enum op op, int fd, unsigned long cmd,
		 void *arg, size_t ksize, const char *invalid)
{
	unsigned int dir = _IOC_DIR(cmd), v = rnd_below(&t->r, 100);
	size_t usize = ksize, i;
	const char *must = NULL, *tail_must = NULL;
	uint8_t *buf = t->scratch;
	void *p = buf;
	bool own = true;
	long ret;
	int err;

	memcpy(buf, arg, ksize);
	memset(buf + ksize, 0, 256);
	if (v < 4) {
		usize = rnd_below(&t->r, ksize);
		must = "struct shorter than its first version";
	} else if (v < 8) {
		usize = ksize + 1 + rnd_below(&t->r, 128);
	} else if (v < 11) {
		usize = ksize + 1 + rnd_below(&t->r, 128);
		i = ksize + rnd_below(&t->r, usize - ksize);
		buf[i] = 1 + rnd_below(&t->r, 255);
		if (dir & _IOC_WRITE)
			tail_must = "non-zero bytes past the known struct";
	} else if (v < 14) {
		unsigned int d;

		do
			d = rnd_below(&t->r, 4);
		while (d == dir);
		dir = d;
		must = "wrong direction";
	}
	if (chance(&t->r, 5)) {
		own = false;
		switch (rnd_below(&t->r, 3)) {
		case 0:
			p = (void *)(uintptr_t)bad_pointer(&t->r);
			if (!must)
				must = "argument pointer the kernel cannot use";
			break;
		case 1:
			p = g_ro + rnd_below(&t->r, 4096);
			if (!must && (_IOC_DIR(cmd) & _IOC_READ) &&
			    _IOC_DIR(cmd) == dir)
				must = "read-only argument for an output";
			break;
		default: {
			__u64 l;

			p = (void *)(uintptr_t)area_range(&t->r, &l);
			break;
		}
		}
	}
	/* What our buffer holds matters only if the kernel reads our buffer. */
	if (own && !must)
		must = tail_must ? tail_must : invalid;

	cmd = _IOC(dir, _IOC_TYPE(cmd), _IOC_NR(cmd), usize);
	note(t, "%s fd%d cmd=%#lx size=%zu arg=%p%s%s", op_name[op], fd, cmd,
	     usize, p, must ? " must-fail:" : "", must ? must : "");
	ret = ioctl(fd, cmd, p);
	err = ret < 0 ? errno : 0;
	count(op, err);
	if (ret > 0)
		violation(t, "%s returned %ld", op_name[op], ret);
	if (!err && must)
		violation(t, "%s succeeded although: %s", op_name[op], must);
	t->copied = !err && own && usize >= ksize && dir == _IOC_DIR(cmd);
	if (t->copied)
		memcpy(arg, buf, ksize);
	return err;
}

/* ---- the operations ------------------------------------------------------------- */

static void op_raw(struct thr *t)
{
	unsigned int nr, type, dir, size;
	uint8_t *buf = t->scratch;
	unsigned long cmd;
	void *p = buf;
	long ret;
	int err;

	type = chance(&t->r, 80) ? ODP_IOC_MAGIC : rnd_below(&t->r, 256);
	nr = chance(&t->r, 70) ? rnd_below(&t->r, 0x18) : rnd_below(&t->r, 256);
	dir = rnd_below(&t->r, 4);
	size = chance(&t->r, 60) ? rnd_below(&t->r, 160) :
				   rnd_below(&t->r, 1 << 14);
	rnd_fill(&t->r, buf, size < 4096 ? size : 4096);
	if (size > 4096)
		memset(buf + 4096, 0, size - 4096);
	if (chance(&t->r, 10))
		p = (void *)(uintptr_t)bad_pointer(&t->r);
	cmd = _IOC(dir, type, nr, size);
	note(t, "raw fd%d cmd=%#lx arg=%p", g_fd[0], cmd, p);
	ret = ioctl(g_fd[pick_slot(t)], cmd, p);
	err = ret < 0 ? errno : 0;
	count(OP_RAW, err);
	if (!err && type != ODP_IOC_MAGIC)
		violation(t, "raw ioctl %#lx of another type succeeded", cmd);
	if (!err && p != buf)
		violation(t, "raw ioctl %#lx with pointer %p succeeded", cmd, p);
	if (!err) {
		bool known = false;

		for (unsigned int i = 0; i < NCMDS; i++)
			if (_IOC_NR(known_cmds[i]) == nr && _IOC_TYPE(known_cmds[i]) == type)
				known = _IOC_DIR(known_cmds[i]) == dir &&
					size >= _IOC_SIZE(known_cmds[i]);
		if (!known)
			violation(t, "raw ioctl %#lx (unknown nr, wrong dir or short) succeeded",
				  cmd);
	}
}

static uint32_t pick_access(struct thr *t, const char **invalid)
{
	uint32_t a;

	if (chance(&t->r, 85)) {
		a = ODP_ABI_ACCESS_ON_DEMAND | ODP_ABI_ACCESS_LOCAL_WRITE;
		a |= rnd_below(&t->r, 8) << 1;	/* remote write/read/atomic */
		if (chance(&t->r, 15))
			a &= ~ODP_ABI_ACCESS_LOCAL_WRITE;
	} else {
		a = chance(&t->r, 50) ? rnd32(&t->r) : rnd_below(&t->r, 256);
	}
	if (a & ~ODP_ABI_ACCESS_SUPPORTED)
		*invalid = "unknown access bits";
	else if (!(a & ODP_ABI_ACCESS_ON_DEMAND))
		*invalid = "no ON_DEMAND";
	else if ((a & (ODP_ABI_ACCESS_REMOTE_WRITE | ODP_ABI_ACCESS_REMOTE_ATOMIC)) &&
		 !(a & ODP_ABI_ACCESS_LOCAL_WRITE))
		*invalid = "remote write/atomic without local write";
	return a;
}

static void op_reg_mr(struct thr *t)
{
	struct odp_abi_reg_mr c = { 0 };
	const char *invalid = NULL;
	int slot = pick_slot(t);
	bool never;
	bool writes;
	int err;

	c.access = pick_access(t, &invalid);
	writes = c.access & (ODP_ABI_ACCESS_LOCAL_WRITE | ODP_ABI_ACCESS_REMOTE_WRITE |
			     ODP_ABI_ACCESS_REMOTE_ATOMIC);
	switch (rnd_below(&t->r, 10)) {
	case 0:
		c.addr = (uintptr_t)g_ro + rnd_below(&t->r, STATIC_LEN);
		c.length = 1 + rnd_below(&t->r, (uintptr_t)g_ro + STATIC_LEN - c.addr);
		if (writes && !invalid)
			invalid = "write access on a read-only mapping";
		break;
	case 1:
		c.addr = (uintptr_t)g_none + rnd_below(&t->r, STATIC_LEN);
		c.length = 1 + rnd_below(&t->r, (uintptr_t)g_none + STATIC_LEN - c.addr);
		if (!invalid)
			invalid = "PROT_NONE mapping";
		break;
	case 2:
		c.addr = bad_pointer(&t->r);
		c.length = chance(&t->r, 50) ? rnd_boundary(&t->r) : 1 + rnd_below(&t->r, 8192);
		if (!invalid)
			invalid = "starts unmapped, PROT_NONE, in the kernel or non-canonical";
		break;
	case 3:
		/* Never a random address inside our own memory. */
		c.addr = chance(&t->r, 50) ? rnd_boundary(&t->r) : rnd64(&t->r) | (1ULL << 47);
		c.length = rnd_boundary(&t->r);
		break;
	case 4:
		/* The fuzzer's own text: readable, never writable. */
		c.addr = (uintptr_t)op_reg_mr & ~4095ULL;
		c.length = 1 + rnd_below(&t->r, 4096);
		if (writes && !invalid)
			invalid = "write access on text";
		break;
	default:
		c.addr = area_range(&t->r, &c.length);
		break;
	}
	if (!c.length && !invalid)
		invalid = "length 0";
	if (!invalid && (c.addr + c.length < c.addr || c.addr + c.length > TASK_SIZE_4L))
		invalid = "range overflows or leaves the user address space";
	if (!invalid && c.addr + c.length <= 0x10000)
		invalid = "range below mmap_min_addr";
	c.pd_handle = pick_handle(t, H_PD, &never);
	if (never && !invalid)
		invalid = "PD handle never issued";
	if (chance(&t->r, 4)) {
		c.reserved = 1 + rnd_below(&t->r, 0xffffffff);
		if (!invalid)
			invalid = "reserved field set";
	}
	err = issue(t, OP_REG_MR, g_fd[slot], ODP_IOC_REG_MR, &c, sizeof(c), invalid);
	if (!err && t->copied) {
		struct hent e = { .handle = c.mr_handle, .key = c.lkey, .addr = c.addr,
				  .len = c.length, .access = c.access, .pd = c.pd_handle,
				  .slot = slot };

		if (c.lkey != c.rkey || c.lkey >> 8 != c.mr_handle)
			violation(t, "reg_mr: lkey %#x rkey %#x handle %u", c.lkey, c.rkey,
				  c.mr_handle);
		pool_add(H_MR, &e);
	}
}

static void op_simple_destroy(struct thr *t, enum op op, enum htype ty,
			      unsigned long cmd)
{
	struct { uint32_t handle, reserved; } c;
	const char *invalid = NULL;
	bool never;

	c.handle = pick_handle(t, ty, &never);
	c.reserved = chance(&t->r, 4) ? rnd32(&t->r) | 1 : 0;
	if (never)
		invalid = "handle never issued";
	if (c.reserved)
		invalid = "reserved field set";
	issue(t, op, g_fd[pick_slot(t)], cmd, &c, sizeof(c), invalid);
}

static void op_alloc_pd(struct thr *t)
{
	struct odp_abi_alloc_pd c = { 0 };
	const char *invalid = NULL;
	int slot = pick_slot(t);

	if (chance(&t->r, 5)) {
		c.reserved = rnd32(&t->r) | 1;
		invalid = "reserved field set";
	}
	if (!issue(t, OP_ALLOC_PD, g_fd[slot], ODP_IOC_ALLOC_PD, &c, sizeof(c), invalid) &&
	    t->copied) {
		struct hent e = { .handle = c.pd_handle, .slot = slot };

		if (!c.pd_handle || c.pd_handle >= 0x80000000U)
			violation(t, "alloc_pd returned handle %u", c.pd_handle);
		pool_add(H_PD, &e);
	}
}

/* SGEs at @sg: keys and ranges of MRs seen, or anything. */
static void fill_sges(struct thr *t, struct odp_abi_sge *sg, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct hent mr;

		sg[i].lkey = pick_key(t, &mr);
		if (mr.len && chance(&t->r, 85)) {
			uint64_t off = rnd_below(&t->r, mr.len);

			sg[i].addr = mr.addr + off;
			sg[i].length = chance(&t->r, 70) ?
				1 + rnd_below(&t->r, mr.len - off) : rnd_boundary32(&t->r);
			if (chance(&t->r, 5))
				sg[i].length = 0;
		} else {
			sg[i].addr = chance(&t->r, 50) ? rnd_boundary(&t->r) : rnd64(&t->r);
			sg[i].length = rnd_boundary32(&t->r);
		}
	}
}

/* A user buffer for the kernel to read or write: scratch, or anything. */
static uint64_t user_buf(struct thr *t, uint64_t len, bool *bad)
{
	__u64 l;

	*bad = false;
	switch (rnd_below(&t->r, 10)) {
	case 0:
		*bad = true;
		return bad_pointer(&t->r);
	case 1:
		return (uintptr_t)g_ro + rnd_below(&t->r, 4096);
	case 2:
		return area_range(&t->r, &l);
	default:
		if (len > SCRATCH / 2)
			return (uintptr_t)t->scratch + SCRATCH / 2;	/* runs off: EFAULT */
		return (uintptr_t)t->scratch + SCRATCH / 2 +
		       rnd_below(&t->r, SCRATCH / 2 - len + 1);
	}
}

static void op_mr_access(struct thr *t)
{
	struct odp_abi_mr_access c = { 0 };
	const char *invalid = NULL;
	struct hent mr;
	bool bad;

	c.lkey = pick_key(t, &mr);
	c.dir = chance(&t->r, 95) ? rnd_below(&t->r, 2) : rnd_boundary32(&t->r);
	if (c.dir > ODP_ABI_DIR_WRITE)
		invalid = "bad dir";
	if (mr.len && chance(&t->r, 85)) {
		uint64_t off = rnd_below(&t->r, mr.len);

		c.iova = mr.addr + off;
		c.length = chance(&t->r, 80) ? 1 + rnd_below(&t->r, mr.len - off) :
					       rnd_boundary(&t->r);
	} else {
		c.iova = rnd_boundary(&t->r);
		c.length = rnd_boundary(&t->r);
	}
	if (c.length > (1 << 24) && chance(&t->r, 90))
		c.length = 1 + rnd_below(&t->r, 1 << 16);
	if (!c.length && !invalid)
		invalid = "length 0";
	c.buf = user_buf(t, c.length, &bad);
	if (bad && c.length && !invalid)
		invalid = "buffer the kernel cannot use";
	issue(t, OP_MR_ACCESS, g_fd[pick_slot(t)], ODP_IOC_MR_ACCESS, &c, sizeof(c),
	      invalid);
}

static void op_advise(struct thr *t)
{
	struct odp_abi_advise_mr c = { 0 };
	struct odp_abi_sge *sg = (void *)(t->scratch + 8192);
	const char *invalid = NULL;
	struct hent e;
	bool never;

	c.advice = chance(&t->r, 90) ? rnd_below(&t->r, 3) : rnd_boundary32(&t->r);
	c.flags = chance(&t->r, 90) ? rnd_below(&t->r, 2) : rnd_boundary32(&t->r);
	c.pd_handle = pick_handle(t, H_PD, &never);
	c.num_sge = chance(&t->r, 85) ? 1 + rnd_below(&t->r, 4) : rnd_boundary32(&t->r);
	fill_sges(t, sg, c.num_sge < 80 ? c.num_sge : 80);
	/* Often ranges of one MR seen, on its own PD: prefetches that run. */
	if (chance(&t->r, 60) && pool_pick(&t->r, H_MR, &e) && c.num_sge <= 80) {
		c.pd_handle = e.pd;
		never = false;
		for (unsigned int i = 0; i < c.num_sge; i++) {
			uint64_t off = rnd_below(&t->r, e.len);

			sg[i].addr = e.addr + off;
			sg[i].length = 1 + rnd_below(&t->r, e.len - off < (1 << 24) ?
							   e.len - off : (1 << 24));
			sg[i].lkey = e.key;
		}
	}
	c.sg_list = (uintptr_t)sg;
	if (chance(&t->r, 5)) {
		c.sg_list = bad_pointer(&t->r);
		if (c.num_sge)
			invalid = "sg_list the kernel cannot read";
	}
	if (c.advice > 2)
		invalid = "unknown advice";
	if (c.flags & ~1U)
		invalid = "unknown flags";
	if (!c.num_sge || c.num_sge > ODP_ABI_ADVISE_MAX_SGE)
		invalid = "num_sge out of range";
	if (never)
		invalid = "PD handle never issued";
	issue(t, OP_ADVISE, g_fd[pick_slot(t)], ODP_IOC_ADVISE_MR, &c, sizeof(c), invalid);
}

static void op_query_stats(struct thr *t)
{
	struct odp_abi_query_stats c = { 0 };
	const char *invalid = NULL;
	bool never, bad;

	c.mr_handle = chance(&t->r, 15) ? ODP_ABI_STATS_DEVICE : pick_handle(t, H_MR, &never);
	if (c.mr_handle != ODP_ABI_STATS_DEVICE && never)
		invalid = "MR handle never issued";
	c.num_stats = chance(&t->r, 70) ? rnd_below(&t->r, 20) : rnd_boundary32(&t->r);
	c.stats = user_buf(t, 8ULL * (c.num_stats < 64 ? c.num_stats : 64), &bad);
	if (bad && c.num_stats && !invalid)
		invalid = "stats pointer the kernel cannot use";
	issue(t, OP_QUERY_STATS, g_fd[pick_slot(t)], ODP_IOC_QUERY_STATS, &c, sizeof(c),
	      invalid);
}

static void op_bind(struct thr *t)
{
	struct odp_abi_bind_device c = { 0 };
	const char *invalid = NULL;

	if (chance(&t->r, 70)) {
		strcpy(c.name, IBDEV);
	} else {
		rnd_fill(&t->r, c.name, sizeof(c.name));
		if (chance(&t->r, 50))
			c.name[rnd_below(&t->r, sizeof(c.name))] = 0;
		if (strncmp(c.name, IBDEV, sizeof(c.name)))
			invalid = "no such device";
	}
	c.port_num = chance(&t->r, 80) ? rnd_below(&t->r, 2) : rnd_boundary32(&t->r);
	if (c.port_num > 1)
		invalid = "no such port";
	if (chance(&t->r, 5)) {
		c.reserved = rnd32(&t->r) | 1;
		/* The driver does not check it (an output-only struct tail). */
	}
	issue(t, OP_BIND, g_fd[pick_slot(t)], ODP_IOC_BIND_DEVICE, &c, sizeof(c), invalid);
}

static void op_create_cq(struct thr *t)
{
	struct odp_abi_create_cq c = { 0 };
	const char *invalid = NULL;
	int slot = pick_slot(t);

	c.cqe = chance(&t->r, 80) ? 1 + rnd_below(&t->r, 256) : rnd_boundary32(&t->r);
	if (!c.cqe)
		invalid = "cqe 0";
	if (!issue(t, OP_CREATE_CQ, g_fd[slot], ODP_IOC_CREATE_CQ, &c, sizeof(c), invalid) &&
	    t->copied) {
		struct hent e = { .handle = c.cq_handle, .slot = slot };

		pool_add(H_CQ, &e);
	}
}

static void op_poll_cq(struct thr *t)
{
	struct odp_abi_poll_cq c = { 0 };
	const char *invalid = NULL;
	bool never, bad;

	c.cq_handle = pick_handle(t, H_CQ, &never);
	if (never)
		invalid = "CQ handle never issued";
	c.num_entries = chance(&t->r, 80) ? rnd_below(&t->r, 64) : rnd_boundary32(&t->r);
	c.wc = user_buf(t, sizeof(struct odp_abi_wc) *
			   (uint64_t)(c.num_entries < 64 ? c.num_entries : 64), &bad);
	issue(t, OP_POLL_CQ, g_fd[pick_slot(t)], ODP_IOC_POLL_CQ, &c, sizeof(c), invalid);
}

static int create_qp(struct thr *t, int slot, struct odp_abi_create_qp *c, bool fuzz)
{
	const char *invalid = NULL;
	bool never;

	if (fuzz) {
		c->pd_handle = pick_handle(t, H_PD, &never);
		if (never)
			invalid = "PD handle never issued";
		c->send_cq = pick_handle(t, H_CQ, &never);
		if (never)
			invalid = "send CQ handle never issued";
		c->recv_cq = pick_handle(t, H_CQ, &never);
		if (never)
			invalid = "recv CQ handle never issued";
		c->max_send_wr = chance(&t->r, 80) ? 1 + rnd_below(&t->r, 64) : rnd_boundary32(&t->r);
		c->max_recv_wr = chance(&t->r, 80) ? 1 + rnd_below(&t->r, 64) : rnd_boundary32(&t->r);
		c->max_send_sge = chance(&t->r, 80) ? rnd_below(&t->r, 17) : rnd_boundary32(&t->r);
		c->max_recv_sge = chance(&t->r, 80) ? rnd_below(&t->r, 17) : rnd_boundary32(&t->r);
		c->sq_sig_all = chance(&t->r, 90) ? rnd_below(&t->r, 2) : rnd_boundary32(&t->r);
	}
	if (!c->max_send_wr || !c->max_recv_wr)
		invalid = "max_*_wr 0";
	if (c->max_send_sge > ODP_ABI_MAX_SGE || c->max_recv_sge > ODP_ABI_MAX_SGE)
		invalid = "max_*_sge above ODP_ABI_MAX_SGE";
	if (c->sq_sig_all > 1)
		invalid = "sq_sig_all not 0/1";
	if (fuzz ? !issue(t, OP_CREATE_QP, g_fd[slot], ODP_IOC_CREATE_QP, c, sizeof(*c),
			  invalid) && t->copied :
		   !ioctl(g_fd[slot], ODP_IOC_CREATE_QP, c)) {
		struct hent e = { .handle = c->qp_handle, .slot = slot };

		if (!fuzz && invalid)
			violation(t, "create_qp succeeded although: %s", invalid);
		pool_add(H_QP, &e);
		return 0;
	}
	return -1;
}

static void op_create_qp(struct thr *t)
{
	struct odp_abi_create_qp c = { 0 };

	create_qp(t, pick_slot(t), &c, true);
}

static void op_listen(struct thr *t)
{
	struct odp_abi_listen c = { 0 };
	const char *invalid = NULL;
	int slot = pick_slot(t);

	c.addr = chance(&t->r, 70) ? inet_addr("10.99.0.1") :
		 chance(&t->r, 50) ? 0 : rnd32(&t->r);
	c.port = chance(&t->r, 80) ? htons(g_port_base + 1000 + rnd_below(&t->r, 200)) :
				     rnd_boundary32(&t->r);
	c.backlog = chance(&t->r, 80) ? 1 + rnd_below(&t->r, 8) : rnd_boundary32(&t->r);
	if (!c.backlog || c.backlog > 1024)
		invalid = "backlog 0 or above 1024";
	if (c.port > 65535)
		invalid = "port above 65535";
	if (!issue(t, OP_LISTEN, g_fd[slot], ODP_IOC_LISTEN, &c, sizeof(c), invalid) &&
	    t->copied) {
		struct hent e = { .handle = c.listen_handle, .slot = slot };

		pool_add(H_LN, &e);
	}
}

static void op_accept(struct thr *t)
{
	struct odp_abi_accept c = { 0 };
	const char *invalid = NULL;
	bool never1, never2;

	c.listen_handle = pick_handle(t, H_LN, &never1);
	c.qp_handle = pick_handle(t, H_QP, &never2);
	c.timeout_ms = chance(&t->r, 90) ? 1 + rnd_below(&t->r, 300) : rnd_boundary32(&t->r);
	if (c.timeout_ms > 3000)
		c.timeout_ms = 1 + c.timeout_ms % 3000;
	if (chance(&t->r, 4))
		c.reserved = rnd32(&t->r) | 1;
	if (never1 || never2)
		invalid = "handle never issued";
	if (c.reserved)
		invalid = "reserved field set";
	issue(t, OP_ACCEPT, g_fd[pick_slot(t)], ODP_IOC_ACCEPT, &c, sizeof(c), invalid);
}

static void op_connect(struct thr *t)
{
	struct odp_abi_connect c = { 0 };
	const char *invalid = NULL;
	bool never;

	c.qp_handle = pick_handle(t, H_QP, &never);
	if (never)
		invalid = "QP handle never issued";
	switch (rnd_below(&t->r, 4)) {
	case 0:
		c.addr = inet_addr("10.99.0.2");	/* nobody */
		break;
	case 1:
		c.addr = rnd32(&t->r);
		break;
	default:
		c.addr = inet_addr("10.99.0.1");
	}
	c.port = chance(&t->r, 80) ? htons(g_port_base + 1000 + rnd_below(&t->r, 200)) :
				     rnd_boundary32(&t->r);
	c.timeout_ms = 1 + rnd_below(&t->r, 2000);
	issue(t, OP_CONNECT, g_fd[pick_slot(t)], ODP_IOC_CONNECT, &c, sizeof(c), invalid);
}

static void fill_send_wrs(struct thr *t, struct odp_abi_send_wr *wr, unsigned int n,
			  struct odp_abi_sge *sg)
{
	for (unsigned int i = 0; i < n; i++) {
		struct hent mr;
		unsigned int ns = chance(&t->r, 90) ? rnd_below(&t->r, 3) :
						      rnd_below(&t->r, 20);

		memset(&wr[i], 0, sizeof(wr[i]));
		wr[i].wr_id = rnd64(&t->r);
		wr[i].opcode = chance(&t->r, 95) ? rnd_below(&t->r, 7) : rnd_boundary32(&t->r);
		wr[i].send_flags = chance(&t->r, 90) ? ODP_ABI_SEND_SIGNALED :
						       rnd_boundary32(&t->r);
		fill_sges(t, sg, ns);
		if (wr[i].opcode == ODP_ABI_WR_ATOMIC_CMP_AND_SWP ||
		    wr[i].opcode == ODP_ABI_WR_ATOMIC_FETCH_AND_ADD) {
			if (chance(&t->r, 80)) {
				ns = 1;
				sg[0].length = 8;
				sg[0].addr &= ~7ULL;
			}
		}
		wr[i].sg_list = (uintptr_t)sg;
		wr[i].num_sge = ns;
		sg += ns;
		wr[i].imm_data = rnd32(&t->r);
		wr[i].rkey = pick_key(t, &mr);
		if (mr.len && chance(&t->r, 80)) {
			wr[i].remote_addr = mr.addr + rnd_below(&t->r, mr.len);
			if (chance(&t->r, 70))
				wr[i].remote_addr &= ~7ULL;
		} else {
			wr[i].remote_addr = rnd_boundary(&t->r);
		}
		if (chance(&t->r, 3))
			wr[i].reserved = rnd32(&t->r) | 1;
		wr[i].compare_add = rnd64(&t->r);
		wr[i].swap = rnd64(&t->r);
	}
}

static void fill_recv_wrs(struct thr *t, struct odp_abi_recv_wr *wr, unsigned int n,
			  struct odp_abi_sge *sg)
{
	for (unsigned int i = 0; i < n; i++) {
		unsigned int ns = chance(&t->r, 90) ? rnd_below(&t->r, 3) :
						      rnd_below(&t->r, 20);

		memset(&wr[i], 0, sizeof(wr[i]));
		wr[i].wr_id = rnd64(&t->r);
		fill_sges(t, sg, ns);
		wr[i].sg_list = (uintptr_t)sg;
		wr[i].num_sge = ns;
		sg += ns;
		if (chance(&t->r, 3))
			wr[i].reserved = rnd32(&t->r) | 1;
	}
}

static int post(struct thr *t, int slot, uint32_t qp, bool send, unsigned int n,
		bool fuzz_handle)
{
	struct odp_abi_post c = { 0 };
	const char *invalid = NULL;
	void *wrs = t->scratch + 16384;
	struct odp_abi_sge *sg = (void *)(t->scratch + 65536);
	bool never = false;

	c.qp_handle = fuzz_handle ? pick_handle(t, H_QP, &never) : qp;
	if (never && n)
		invalid = "QP handle never issued";
	c.num_wr = n;
	if (send)
		fill_send_wrs(t, wrs, n, sg);
	else
		fill_recv_wrs(t, wrs, n, sg);
	c.wr_list = (uintptr_t)wrs;
	if (chance(&t->r, 4)) {
		c.wr_list = bad_pointer(&t->r);
		if (n && !invalid)
			invalid = "wr_list the kernel cannot read";
	}
	if (chance(&t->r, 3)) {
		c.reserved = rnd32(&t->r) | 1;
		invalid = "reserved field set";
	}
	return issue(t, send ? OP_POST_SEND : OP_POST_RECV, g_fd[slot],
		     send ? ODP_IOC_POST_SEND : ODP_IOC_POST_RECV, &c, sizeof(c), invalid);
}

/* A checked access: the device moves exactly the bytes asked. */
static void op_check(struct thr *t)
{
	struct odp_abi_reg_mr reg = { 0 };
	struct odp_abi_mr_access acc = { 0 };
	struct odp_abi_dereg_mr dr = { 0 };
	struct odp_abi_alloc_pd pd = { 0 };
	uint8_t *src = t->scratch + 131072, *dst = t->scratch + 196608;
	uint64_t off = rnd_below(&t->r, 4096), len = 1 + rnd_below(&t->r, 8192 - off);
	int fd = g_fd[0];

	note(t, "check off=%llu len=%llu", (unsigned long long)off, (unsigned long long)len);
	if (ioctl(fd, ODP_IOC_ALLOC_PD, &pd))
		return;
	reg.addr = (uintptr_t)t->priv + off;
	reg.length = len;
	reg.pd_handle = pd.pd_handle;
	reg.access = ODP_ABI_ACCESS_ON_DEMAND | ODP_ABI_ACCESS_LOCAL_WRITE;
	if (ioctl(fd, ODP_IOC_REG_MR, &reg)) {
		count(OP_CHECK, errno);
		goto out_pd;
	}
	rnd_fill(&t->r, src, len);
	acc.lkey = reg.lkey;
	acc.dir = ODP_ABI_DIR_WRITE;
	acc.iova = reg.addr;
	acc.length = len;
	acc.buf = (uintptr_t)src;
	if (!ioctl(fd, ODP_IOC_MR_ACCESS, &acc) && memcmp(t->priv + off, src, len))
		violation(t, "check: device write of %llu bytes at +%llu: CPU sees other data",
			  (unsigned long long)len, (unsigned long long)off);
	if (chance(&t->r, 50))
		madvise(t->priv, 8192, MADV_DONTNEED);
	rnd_fill(&t->r, t->priv + off, len);
	acc.dir = ODP_ABI_DIR_READ;
	acc.buf = (uintptr_t)dst;
	if (!ioctl(fd, ODP_IOC_MR_ACCESS, &acc)) {
		if (memcmp(t->priv + off, dst, len))
			violation(t, "check: device read of %llu bytes at +%llu: other data than CPU wrote",
				  (unsigned long long)len, (unsigned long long)off);
		count(OP_CHECK, 0);
	} else {
		count(OP_CHECK, errno);
	}
	dr.mr_handle = reg.mr_handle;
	ioctl(fd, ODP_IOC_DEREG_MR, &dr);
out_pd:
	ioctl(fd, ODP_IOC_DEALLOC_PD, &pd);
}

/* ---- connected QPs ---------------------------------------------------------------- */

struct acceptor {
	int fd;
	struct odp_abi_accept c;
	int err;
	pid_t tid;
};

static void *acceptor_main(void *arg)
{
	struct acceptor *a = arg;

	a->tid = syscall(SYS_gettid);
	a->err = ioctl(a->fd, ODP_IOC_ACCEPT, &a->c) ? errno : 0;
	return NULL;
}

static void poll_some(struct thr *t, int fd, uint32_t cq)
{
	struct odp_abi_poll_cq p = { .cq_handle = cq, .num_entries = 16,
				     .wc = (uintptr_t)(t->scratch + 131072) };

	count(OP_POLL_CQ, ioctl(fd, ODP_IOC_POLL_CQ, &p) ? errno : 0);
}

/*
 * Two QPs of one context connected through a listener of the same context,
 * with traffic between MRs over churned memory, destroyed mid-traffic.
 */
static void op_traffic(struct thr *t)
{
	int slot = chance(&t->r, 80) ? 0 : pick_slot(t);
	int fd = g_fd[slot];
	struct odp_abi_alloc_pd pd = { 0 };
	struct odp_abi_create_cq cq[2] = { { .cqe = 64 }, { .cqe = 64 } };
	struct odp_abi_create_qp qp[2];
	struct odp_abi_listen ln = { 0 };
	struct odp_abi_connect cn = { 0 };
	struct acceptor acc = { .fd = fd };
	pthread_t at;
	bool qp_alive[2] = { true, true }, ln_alive = true;
	int i, k, err;

	note(t, "traffic fd%d", fd);
	if (ioctl(fd, ODP_IOC_ALLOC_PD, &pd))
		return;
	for (i = 0; i < 2; i++) {
		struct odp_abi_reg_mr reg = { 0 };

		reg.addr = area_range(&t->r, &reg.length);
		reg.pd_handle = pd.pd_handle;
		reg.access = ODP_ABI_ACCESS_ON_DEMAND | ODP_ABI_ACCESS_LOCAL_WRITE |
			     ODP_ABI_ACCESS_REMOTE_WRITE | ODP_ABI_ACCESS_REMOTE_READ |
			     ODP_ABI_ACCESS_REMOTE_ATOMIC;
		if (!ioctl(fd, ODP_IOC_REG_MR, &reg)) {
			struct hent e = { .handle = reg.mr_handle, .key = reg.lkey,
					  .addr = reg.addr, .len = reg.length,
					  .access = reg.access, .pd = pd.pd_handle,
					  .slot = slot };

			pool_add(H_MR, &e);
		}
	}
	for (i = 0; i < 2; i++) {
		if (ioctl(fd, ODP_IOC_CREATE_CQ, &cq[i]))
			return;
		struct hent e = { .handle = cq[i].cq_handle, .slot = slot };

		pool_add(H_CQ, &e);
	}
	for (i = 0; i < 2; i++) {
		memset(&qp[i], 0, sizeof(qp[i]));
		qp[i].pd_handle = pd.pd_handle;
		qp[i].send_cq = cq[i].cq_handle;
		qp[i].recv_cq = cq[rnd_below(&t->r, 2)].cq_handle;
		qp[i].max_send_wr = 1 + rnd_below(&t->r, 64);
		qp[i].max_recv_wr = 1 + rnd_below(&t->r, 64);
		qp[i].max_send_sge = rnd_below(&t->r, 5);
		qp[i].max_recv_sge = rnd_below(&t->r, 5);
		qp[i].sq_sig_all = rnd_below(&t->r, 2);
		if (create_qp(t, slot, &qp[i], false))
			return;
	}
	{
		struct hent e = { .handle = pd.pd_handle, .slot = slot };

		pool_add(H_PD, &e);
	}
	ln.addr = inet_addr("10.99.0.1");
	ln.port = htons(g_port_base + t->id * 32 + rnd_below(&t->r, 32));
	ln.backlog = 1 + rnd_below(&t->r, 4);
	if (ioctl(fd, ODP_IOC_LISTEN, &ln)) {
		count(OP_TRAFFIC, errno);
		return;
	}
	{
		struct hent e = { .handle = ln.listen_handle, .slot = slot };

		pool_add(H_LN, &e);
	}
	acc.c.listen_handle = ln.listen_handle;
	acc.c.qp_handle = qp[1].qp_handle;
	/* 0: until a signal, or until the listener or the QP goes. */
	acc.c.timeout_ms = chance(&t->r, 20) ? 0 : 3000;
	if (pthread_create(&at, NULL, acceptor_main, &acc))
		return;
	cn.qp_handle = qp[0].qp_handle;
	cn.addr = ln.addr;
	cn.port = ln.port;
	cn.timeout_ms = 3000;
	if (chance(&t->r, 5))
		usleep(rnd_below(&t->r, 20000));
	err = ioctl(fd, ODP_IOC_CONNECT, &cn) ? errno : 0;
	count(OP_CONNECT, err);
	if (err) {
		/* Destroying the accepting QP or the listener ends the accept. */
		struct odp_abi_destroy_qp dq = { .qp_handle = qp[1].qp_handle };
		struct odp_abi_destroy_listen dl = { .listen_handle = ln.listen_handle };

		if (chance(&t->r, 50)) {
			ioctl(fd, ODP_IOC_DESTROY_QP, &dq);
			qp_alive[1] = false;
		} else {
			ioctl(fd, ODP_IOC_DESTROY_LISTEN, &dl);
			ln_alive = false;
		}
	}
	t->op_unbounded = 1;
	pthread_join(at, NULL);
	t->op_unbounded = 0;
	count(OP_ACCEPT, acc.err);
	count(OP_TRAFFIC, err ? err : acc.err);

	for (k = 0; k < 1 + (int)rnd_below(&t->r, 6) && !g_stop; k++) {
		i = rnd_below(&t->r, 2);
		switch (rnd_below(&t->r, 6)) {
		case 0:
			post(t, slot, qp[i].qp_handle, false, 1 + rnd_below(&t->r, 8), false);
			break;
		case 1:
		case 2:
			post(t, slot, qp[i].qp_handle, true, 1 + rnd_below(&t->r, 8), false);
			break;
		case 3:
			poll_some(t, fd, cq[i].cq_handle);
			break;
		case 4:
			usleep(rnd_below(&t->r, 5000));
			break;
		default:
			if (qp_alive[i] && chance(&t->r, 40)) {
				struct odp_abi_destroy_qp dq = { .qp_handle = qp[i].qp_handle };

				note(t, "traffic: destroy qp %u mid-traffic", qp[i].qp_handle);
				count(OP_DESTROY_QP, ioctl(fd, ODP_IOC_DESTROY_QP, &dq) ? errno : 0);
				qp_alive[i] = false;
			}
		}
	}
	if (ln_alive && chance(&t->r, 70)) {
		struct odp_abi_destroy_listen dl = { .listen_handle = ln.listen_handle };

		count(OP_DESTROY_LISTEN, ioctl(fd, ODP_IOC_DESTROY_LISTEN, &dl) ? errno : 0);
	}
	for (i = 0; i < 2; i++) {
		struct odp_abi_destroy_qp dq = { .qp_handle = qp[i].qp_handle };

		if (qp_alive[i] && chance(&t->r, 60))
			count(OP_DESTROY_QP, ioctl(fd, ODP_IOC_DESTROY_QP, &dq) ? errno : 0);
	}
	/* The rest is left to others: random destroys, reopen, the end. */
}

/* ---- other processes --------------------------------------------------------------- */

/*
 * In another process (a fork child, the fd receiver): every well-formed
 * ioctl on a context it did not open fails with EPERM.  Async-signal-safe
 * (runs in a child of a multi-threaded process).  Returns the number that
 * did not.
 */
static unsigned int foreign_ioctls(int fd, struct rng *r, unsigned int n, uint8_t *buf)
{
	unsigned int bad = 0;

	for (unsigned int i = 0; i < n; i++) {
		unsigned long cmd = known_cmds[rnd_below(r, NCMDS)];
		size_t ks = _IOC_SIZE(cmd);

		if (chance(r, 50))
			memset(buf, 0, ks + 64);
		else
			rnd_fill(r, buf, ks);
		if (chance(r, 20)) {	/* longer, with a zero tail */
			size_t more = rnd_below(r, 64);

			memset(buf + ks, 0, more);
			cmd = _IOC(_IOC_DIR(cmd), _IOC_TYPE(cmd), _IOC_NR(cmd), ks + more);
		}
		if (ioctl(fd, cmd, buf) == 0 || errno != EPERM) {
			bad++;
			if (bad < 4) {
				char msg[160];
				int len = snprintf(msg, sizeof(msg),
						   "foreign process %d: ioctl %#lx on fd %d: %s (want EPERM)\n",
						   (int)getpid(), cmd, fd, strerror(errno));

				if (write(2, msg, len) < 0)
					bad++;
			}
		}
	}
	return bad;
}

static void op_fork(struct thr *t)
{
	uint64_t child_seed = rnd64(&t->r);
	unsigned int kill_after = chance(&t->r, 50) ? rnd_below(&t->r, 50) : 0;
	int status = 0;
	pid_t pid;

	note(t, "fork seed=%llu kill_after=%ums", (unsigned long long)child_seed, kill_after);
	pid = fork();
	if (pid < 0) {
		count(OP_FORK, errno);
		return;
	}
	if (!pid) {
		struct rng r;
		struct odp_abi_alloc_pd pd = { 0 };
		struct odp_abi_reg_mr reg = { 0 };
		struct odp_abi_advise_mr adv = { 0 };
		struct odp_abi_sge sge;
		unsigned int bad;
		int fd;

		rng_seed(&r, child_seed, 0);
		bad = foreign_ioctls(g_fd[rnd_below(&r, NSLOTS)], &r, 10, t->scratch);
		if (bad)
			_exit(3);
		/* Its own context, with MRs over its copy of the memory. */
		fd = open(DEV, O_RDWR);
		if (fd < 0)
			_exit(0);
		if (ioctl(fd, ODP_IOC_ALLOC_PD, &pd))
			_exit(0);
		for (int i = 0; i < 4; i++) {
			reg.addr = area_range(&r, &reg.length);
			reg.pd_handle = pd.pd_handle;
			reg.access = ODP_ABI_ACCESS_ON_DEMAND | ODP_ABI_ACCESS_LOCAL_WRITE;
			if (ioctl(fd, ODP_IOC_REG_MR, &reg))
				continue;
			sge.addr = reg.addr;
			sge.length = reg.length > 65536 ? 65536 : reg.length;
			sge.lkey = reg.lkey;
			adv.advice = rnd_below(&r, 3);
			adv.flags = rnd_below(&r, 2);
			adv.pd_handle = pd.pd_handle;
			adv.num_sge = 1;
			adv.sg_list = (uintptr_t)&sge;
			ioctl(fd, ODP_IOC_ADVISE_MR, &adv);
		}
		/* Exit with everything live, or be killed meanwhile. */
		if (kill_after)
			for (int i = 0; i < 1000; i++)
				ioctl(fd, ODP_IOC_ADVISE_MR, &adv);
		_exit(0);
	}
	if (kill_after) {
		usleep(kill_after * 1000);
		kill(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) &&
	    WEXITSTATUS(status) == 3)
		violation(t, "fork child: an ioctl on the inherited fd did not fail with EPERM");
	count(OP_FORK, 0);
}

struct scm_req {
	uint64_t seed;
	uint32_t nops;		/* UINT32_MAX: quit */
	uint32_t hold;		/* keep the fd open a while */
};

struct scm_rep {
	uint32_t bad;
	uint32_t done;
};

static void scm_receiver(int sock)
{
	int held[4] = { -1, -1, -1, -1 };
	unsigned int nheld = 0;
	uint8_t *buf = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	for (;;) {
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct scm_req req;
		struct scm_rep rep = { 0 };
		struct iovec iov = { &req, sizeof(req) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm;
		struct rng r;
		int fd = -1;

		if (recvmsg(sock, &mh, 0) != sizeof(req))
			break;
		if (req.nops == UINT32_MAX)
			break;
		cm = CMSG_FIRSTHDR(&mh);
		if (cm && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		rng_seed(&r, req.seed, 0);
		if (fd >= 0) {
			rep.bad = foreign_ioctls(fd, &r, req.nops, buf);
			rep.done = req.nops;
			if (req.hold) {
				if (held[nheld % 4] >= 0)
					close(held[nheld % 4]);
				held[nheld++ % 4] = fd;
			} else {
				close(fd);
			}
		}
		if (write(sock, &rep, sizeof(rep)) != sizeof(rep))
			break;
	}
	/* The last reference to a context may be closed here. */
	for (int i = 0; i < 4; i++)
		if (held[i] >= 0)
			close(held[i]);
	_exit(0);
}

static void op_scm(struct thr *t)
{
	struct scm_req req = { .seed = rnd64(&t->r), .nops = 1 + rnd_below(&t->r, 20),
			       .hold = chance(&t->r, 50) };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &req, sizeof(req) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	struct pollfd pfd = { .fd = g_scm_sock, .events = POLLIN };
	struct scm_rep rep;
	int fd, own = -1;

	if (g_scm_sock < 0)
		return;
	/* A slot's fd, or a fresh context with objects whose last close is there. */
	if (chance(&t->r, 30)) {
		struct odp_abi_alloc_pd pd = { 0 };
		struct odp_abi_reg_mr reg = { 0 };

		own = open(DEV, O_RDWR | O_CLOEXEC);
		if (own < 0)
			return;
		if (!ioctl(own, ODP_IOC_ALLOC_PD, &pd)) {
			reg.addr = area_range(&t->r, &reg.length);
			reg.pd_handle = pd.pd_handle;
			reg.access = ODP_ABI_ACCESS_ON_DEMAND | ODP_ABI_ACCESS_LOCAL_WRITE;
			ioctl(own, ODP_IOC_REG_MR, &reg);
		}
		fd = own;
	} else {
		fd = g_fd[pick_slot(t)];
	}
	note(t, "scm_rights fd%d nops=%u hold=%u", fd, req.nops, req.hold);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	pthread_mutex_lock(&g_scm_lock);
	if (sendmsg(g_scm_sock, &mh, 0) != sizeof(req)) {
		pthread_mutex_unlock(&g_scm_lock);
		count(OP_SCM, errno);
		goto out;
	}
	if (own >= 0) {
		close(own);
		own = -1;
	}
	int pr;
	ssize_t rr;

	do
		pr = poll(&pfd, 1, 30000);
	while (pr < 0 && errno == EINTR);
	do
		rr = pr == 1 ? read(g_scm_sock, &rep, sizeof(rep)) : -1;
	while (rr < 0 && errno == EINTR && pr == 1);
	if (pr != 1 || rr != sizeof(rep)) {
		pthread_mutex_unlock(&g_scm_lock);
		violation(t, "scm_rights: the receiving process did not answer in 30 s");
		close(g_scm_sock);
		g_scm_sock = -1;
		goto out;
	}
	pthread_mutex_unlock(&g_scm_lock);
	if (rep.bad)
		violation(t, "scm_rights: %u of %u ioctls on a received fd did not fail with EPERM",
			  rep.bad, rep.done);
	count(OP_SCM, 0);
out:
	if (own >= 0)
		close(own);
}

/* Replace a slot's context under the threads using it. */
static void op_reopen(struct thr *t)
{
	int slot = 1 + rnd_below(&t->r, NSLOTS - 1);
	int fd = open(DEV, O_RDWR | O_CLOEXEC);

	note(t, "reopen slot %d", slot);
	if (fd < 0) {
		count(OP_REOPEN, errno);
		return;
	}
	if (chance(&t->r, 70)) {
		struct odp_abi_bind_device b = { .port_num = 1 };

		strcpy(b.name, IBDEV);
		ioctl(fd, ODP_IOC_BIND_DEVICE, &b);
	}
	pthread_mutex_lock(&g_slot_lock);
	dup3(fd, g_fd[slot], O_CLOEXEC);	/* atomically: the old context's last close */
	pthread_mutex_unlock(&g_slot_lock);
	close(fd);
	count(OP_REOPEN, 0);
}

/* ---- the memory churn ------------------------------------------------------------ */

static void area_map(struct area *a, struct rng *r)
{
	int flags = MAP_FIXED | MAP_NORESERVE;
	void *p;

	switch (a->kind) {
	case 2:
		if (chance(r, 20))
			if (ftruncate(a->memfd, chance(r, 50) ? a->len / 2 : a->len))
				break;
		p = mmap(a->addr, a->len, PROT_READ | PROT_WRITE, flags | MAP_SHARED, a->memfd, 0);
		break;
	case 3:
		p = mmap(a->addr, a->len, PROT_READ | PROT_WRITE,
			 flags | MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (p == MAP_FAILED)
			p = mmap(a->addr, a->len, PROT_READ | PROT_WRITE,
				 flags | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	default:
		p = mmap(a->addr, a->len, PROT_READ | PROT_WRITE,
			 flags | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED && a->kind == 1)
			madvise(a->addr, a->len, MADV_HUGEPAGE);
	}
	(void)p;
}

static void *churn_main(void *arg)
{
	struct rng r;

	(void)arg;
	rng_seed(&r, g_seed, 1000);
	while (!g_stop) {
		struct area *a = &g_area[rnd_below(&r, NAREAS)];
		uint64_t off, len;

		if (!a->addr)
			continue;
		off = rnd_below(&r, a->len / 4096) * 4096;
		len = (1 + rnd_below(&r, (a->len - off) / 4096)) * 4096;
		if (a->kind == 3) {	/* hugetlb: whole huge pages only */
			off = 0;
			len = a->len;
		}
		switch (rnd_below(&r, 9)) {
		case 0:
			madvise(a->addr + off, len, MADV_DONTNEED);
			break;
		case 1:
			madvise(a->addr + off, len, MADV_FREE);
			break;
		case 2:
			munmap(a->addr + off, len);
			usleep(rnd_below(&r, 2000));
			area_map(a, &r);
			break;
		case 3:
			mprotect(a->addr + off, len, chance(&r, 50) ? PROT_READ : PROT_NONE);
			usleep(rnd_below(&r, 3000));
			mprotect(a->addr, a->len, PROT_READ | PROT_WRITE);
			break;
		case 4:
			if (a->kind == 2)
				fallocate(a->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					  off, len);
			break;
		case 5:
			madvise(a->addr + off, len, MADV_COLD);
			break;
		case 6:
			area_map(a, &r);
			__attribute__((fallthrough));	/* writable now */
		default:
			/* The CPU writes, racing device reads and writes. */
			if (a->kind != 2 || chance(&r, 10)) {
				if (a->kind == 2 && ftruncate(a->memfd, a->len))
					break;
				memset(a->addr + off, rnd64(&r), len < 65536 ? len : 65536);
			}
		}
		usleep(rnd_below(&r, 3000));
	}
	return NULL;
}

/* ---- the workers ----------------------------------------------------------------- */

static void run_op(struct thr *t, enum op op)
{
	switch (op) {
	case OP_RAW: op_raw(t); break;
	case OP_QUERY_DEVICE: {
		struct odp_abi_query_device c = { 0 };

		if (!issue(t, op, g_fd[pick_slot(t)], ODP_IOC_QUERY_DEVICE, &c, sizeof(c), NULL) &&
		    t->copied && c.abi_version != ODP_ABI_VERSION)
			violation(t, "query_device: abi_version %u", c.abi_version);
		break;
	}
	case OP_ALLOC_PD: op_alloc_pd(t); break;
	case OP_DEALLOC_PD: op_simple_destroy(t, op, H_PD, ODP_IOC_DEALLOC_PD); break;
	case OP_REG_MR: op_reg_mr(t); break;
	case OP_DEREG_MR: op_simple_destroy(t, op, H_MR, ODP_IOC_DEREG_MR); break;
	case OP_MR_ACCESS: op_mr_access(t); break;
	case OP_ADVISE: op_advise(t); break;
	case OP_QUERY_STATS: op_query_stats(t); break;
	case OP_BIND: op_bind(t); break;
	case OP_CREATE_CQ: op_create_cq(t); break;
	case OP_DESTROY_CQ: op_simple_destroy(t, op, H_CQ, ODP_IOC_DESTROY_CQ); break;
	case OP_POLL_CQ: op_poll_cq(t); break;
	case OP_CREATE_QP: op_create_qp(t); break;
	case OP_DESTROY_QP: op_simple_destroy(t, op, H_QP, ODP_IOC_DESTROY_QP); break;
	case OP_LISTEN: op_listen(t); break;
	case OP_DESTROY_LISTEN:
		op_simple_destroy(t, op, H_LN, ODP_IOC_DESTROY_LISTEN);
		break;
	case OP_ACCEPT: op_accept(t); break;
	case OP_CONNECT: op_connect(t); break;
	case OP_POST_SEND:
	case OP_POST_RECV: {
		struct hent q = { 0 };
		bool fuzz = !pool_pick(&t->r, H_QP, &q) || chance(&t->r, 30);

		post(t, fuzz ? pick_slot(t) : q.slot, q.handle, op == OP_POST_SEND,
		     chance(&t->r, 90) ? rnd_below(&t->r, 9) : rnd_boundary32(&t->r) % 200,
		     fuzz);
		break;
	}
	case OP_TRAFFIC: op_traffic(t); break;
	case OP_CHECK: op_check(t); break;
	case OP_FORK: op_fork(t); break;
	case OP_SCM: op_scm(t); break;
	case OP_REOPEN: op_reopen(t); break;
	default: break;
	}
}

static void sig_nop(int sig)
{
	(void)sig;
}

static void *worker_main(void *arg)
{
	struct thr *t = arg;
	unsigned int total = 0;

	t->tid = syscall(SYS_gettid);
	for (int i = 0; i < OP_MAX; i++)
		total += op_weight[i];
	while (!g_stop) {
		unsigned int w = rnd_below(&t->r, total);
		uint64_t it = atomic_fetch_add(&g_iters, 1);
		enum op op;

		if (g_max_iters && it >= g_max_iters)
			break;
		if (now_ms() >= g_deadline_ms)
			break;
		for (op = 0; op < OP_MAX; op++) {
			if (w < op_weight[op])
				break;
			w -= op_weight[op];
		}
		t->iter++;
		t->op_start_ms = now_ms();
		run_op(t, op);
		t->op_start_ms = 0;
	}
	t->done = true;
	return NULL;
}

/* The kernel stacks of our threads, for a hang report. */
static void dump_stacks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char path[320], buf[4096];
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stack", de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			fprintf(stderr, "--- kernel stack of tid %s ---\n%s", de->d_name, buf);
		}
	}
	if (d)
		closedir(d);
}

/* Interrupt every other thread's blocking ioctl (accept until a signal). */
static void signal_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	pid_t self = syscall(SYS_gettid);

	while (d && (de = readdir(d))) {
		pid_t tid = atoi(de->d_name);

		if (tid > 0 && tid != self)
			syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
	}
	if (d)
		closedir(d);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ioctl_fuzz [-s SEED] [-t SECONDS] [-j THREADS] [-n ITERATIONS] [-p PORT] [-v]\n");
	exit(2);
}

static void setup_memory(void)
{
	static const size_t lens[NAREAS] = { 2 << 20, 65536, 65536, 65536, 2 << 20 };
	static const int kinds[NAREAS] = { 1, 0, 0, 2, 3 };

	for (int i = 0; i < NAREAS; i++) {
		struct area *a = &g_area[i];
		/*
		 * Reserve room to align to 2 MiB and at least 8 MiB of PROT_NONE
		 * after the area: a length that runs past it faults there.
		 */
		uint8_t *p = mmap(NULL, lens[i] + (10 << 20), PROT_NONE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		struct rng r;

		if (p == MAP_FAILED)
			continue;
		a->addr = (uint8_t *)(((uintptr_t)p + (2 << 20) - 1) & ~((uintptr_t)(2 << 20) - 1));
		a->len = lens[i];
		a->kind = kinds[i];
		a->memfd = -1;
		if (a->kind == 2) {
			a->memfd = memfd_create("odp-fuzz", MFD_CLOEXEC);
			if (a->memfd < 0 || ftruncate(a->memfd, a->len))
				a->kind = 0;
		}
		rng_seed(&r, g_seed, 2000 + i);
		area_map(a, &r);
	}
	g_ro = mmap(NULL, STATIC_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g_none = mmap(NULL, STATIC_LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g_ro == MAP_FAILED || g_none == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	memset(g_ro, 0x5a, STATIC_LEN);
	mprotect(g_ro, STATIC_LEN, PROT_READ);
}

int main(int argc, char **argv)
{
	uint64_t seconds = 60, iters_at_end;
	struct sigaction sa = { .sa_handler = sig_nop };
	pthread_t churn;
	int opt, kfd, sv[2];
	bool hang = false;
	uint64_t hang_at = 0;

	g_seed = now_ns() ^ ((uint64_t)getpid() << 32);
	while ((opt = getopt(argc, argv, "s:t:j:n:p:vh")) != -1) {
		switch (opt) {
		case 's': g_seed = strtoull(optarg, NULL, 0); break;
		case 't': seconds = strtoull(optarg, NULL, 0); break;
		case 'j': g_threads = atoi(optarg); break;
		case 'n': g_max_iters = strtoull(optarg, NULL, 0); break;
		case 'p': g_port_base = atoi(optarg); break;
		case 'v': g_verbose = 1; break;
		default: usage();
		}
	}
	if (!g_threads || g_threads > MAX_THREADS)
		usage();
	printf("seed=%llu\n", (unsigned long long)g_seed);
	printf("threads=%u time_limit=%llu iterations_limit=%llu\n", g_threads,
	       (unsigned long long)seconds, (unsigned long long)g_max_iters);
	fflush(stdout);

	if (access(DEV, R_OK | W_OK)) {
		fprintf(stderr, "%s: %s (odp.ko not loaded?)\n", DEV, strerror(errno));
		return 77;
	}
	sigaction(SIGUSR1, &sa, NULL);	/* no SA_RESTART: interrupts a blocking ioctl */
	signal(SIGPIPE, SIG_IGN);
	setup_memory();

	/* The fd receiver: forked before any thread. */
	if (!socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		g_scm_pid = fork();
		if (!g_scm_pid) {
			close(sv[0]);
			scm_receiver(sv[1]);
		}
		close(sv[1]);
		g_scm_sock = sv[0];
	}

	for (int i = 0; i < NSLOTS; i++) {
		struct odp_abi_bind_device b = { .port_num = 1 };

		g_fd[i] = open(DEV, O_RDWR | O_CLOEXEC);
		if (g_fd[i] < 0) {
			perror(DEV);
			return 2;
		}
		strcpy(b.name, IBDEV);
		if (ioctl(g_fd[i], ODP_IOC_BIND_DEVICE, &b) && i == 0)
			fprintf(stderr, "note: bind %s: %s (QPs will fail)\n", IBDEV, strerror(errno));
	}
	kfd = kmsg_open();
	if (kfd < 0)
		fprintf(stderr, "note: /dev/kmsg not readable: kernel reports not watched here\n");

	/*
	 * The workers' memory is mapped before the churn thread starts: its
	 * munmap leaves a hole in an area for up to 2 ms before it maps the
	 * area again (MAP_FIXED), and a mapping made meanwhile may land in
	 * that hole, to be replaced, munmapped and mprotected by the churn.
	 */
	for (unsigned int i = 0; i < g_threads; i++) {
		struct thr *t = &g_thr[i];

		t->id = i;
		rng_seed(&t->r, g_seed, i);
		/* 8 MiB of PROT_NONE after it: a copy that runs off faults there. */
		t->scratch = mmap(NULL, SCRATCH + (8 << 20), PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (t->scratch != MAP_FAILED)
			mprotect(t->scratch + SCRATCH, 8 << 20, PROT_NONE);
		t->priv = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (t->scratch == MAP_FAILED || t->priv == MAP_FAILED) {
			perror("mmap");
			return 2;
		}
	}
	g_start_ms = now_ms();
	g_deadline_ms = g_start_ms + seconds * 1000;
	pthread_create(&churn, NULL, churn_main, NULL);
	for (unsigned int i = 0; i < g_threads; i++)
		pthread_create(&g_thr[i].pt, NULL, worker_main, &g_thr[i]);

	/* Monitor: kernel log, stuck operations, the deadline. */
	for (;;) {
		bool all_done = true;
		uint64_t now;

		usleep(250000);
		now = now_ms();
		if (kmsg_check(kfd, "ioctl_fuzz: ")) {
			violation(NULL, "kernel report in the log (above)");
			dump_rings();
			g_stop = true;
		}
		for (unsigned int i = 0; i < g_threads; i++) {
			struct thr *t = &g_thr[i];
			uint64_t st = t->op_start_ms;

			if (!t->done)
				all_done = false;
			if (st && st < now && !t->op_unbounded && now - st > 60000 && !hang) {
				violation(t, "operation stuck for %llu s",
					  (unsigned long long)(now - st) / 1000);
				dump_rings();
				dump_stacks();
				hang = true;
				hang_at = now;
				g_stop = true;
			}
		}
		if (all_done)
			break;
		if (now >= g_deadline_ms || g_stop) {
			g_stop = true;
			signal_threads();
		}
		if (now > g_deadline_ms + 90000 && !hang) {
			violation(NULL, "threads still running 90 s after the deadline");
			dump_rings();
			dump_stacks();
			hang = true;
			hang_at = now;
		}
		if (hang && now > hang_at + 30000)
			break;
	}
	iters_at_end = g_iters;
	if (!hang) {
		for (unsigned int i = 0; i < g_threads; i++)
			pthread_join(g_thr[i].pt, NULL);
		pthread_join(churn, NULL);
		for (int i = 0; i < NSLOTS; i++)
			close(g_fd[i]);
		if (g_scm_sock >= 0) {
			struct scm_req q = { .nops = UINT32_MAX };

			if (write(g_scm_sock, &q, sizeof(q)) < 0)
				perror("scm quit");
			waitpid(g_scm_pid, NULL, 0);
		}
		/* Deferred work of the closed contexts. */
		usleep(500000);
		if (kmsg_check(kfd, "ioctl_fuzz: ")) {
			violation(NULL, "kernel report in the log (above)");
			dump_rings();
		}
	}

	printf("seed=%llu iterations=%llu elapsed_s=%.1f threads=%u\n",
	       (unsigned long long)g_seed, (unsigned long long)iters_at_end,
	       (now_ms() - g_start_ms) / 1000.0, g_threads);
	for (int i = 0; i < OP_MAX; i++) {
		printf("count.%s=%llu ok.%s=%llu", op_name[i],
		       (unsigned long long)g_calls[i], op_name[i],
		       (unsigned long long)g_ok[i]);
		for (int b = 0; b < 8; b++)
			if (g_errno[i][b])
				printf(" %s.%s=%llu", op_name[i],
				       b < 7 ? strerrorname_np(errno_bucket[b]) : "other",
				       (unsigned long long)g_errno[i][b]);
		printf("\n");
	}
	printf("violations=%d\n", (int)g_violations);
	fflush(stdout);
	if (hang)
		_exit(1);
	return g_violations ? 1 : 0;
}
