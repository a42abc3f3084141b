// SPDX-License-Identifier: MIT
/*
 * odp_stress: RDMA traffic over ODP MRs while the memory under it is
 * mutated and processes are killed, every byte verified.
 *
 *   odp_stress [-n PROCS] [-m THREADS] [-t SECONDS] [-s SEED] [-k KILL_MS]
 *              [-r MUT_US] [-a ADDR] [-P PORT] [-T HANG_S] [-W WARMUP_S] [-v]
 *
 * The supervisor (this process) forks PROCS worker processes in pairs: an
 * even one is a server, the odd one after it its client.  Each worker runs
 * THREADS traffic threads; thread t of a client talks to thread t of its
 * server through a control RC QP and a data RC QP of its own context (one
 * context per thread, loopback over ADDR on rxe0), plus one mutator thread
 * that mutates the buffers of all the worker's threads.  The supervisor
 * kill -9's a random worker every ~KILL_MS and starts a replacement, and
 * migrate_pages() whole workers between the NUMA nodes.
 *
 * A round (client thread t, round r, the server sends the round number):
 *   W(p)   RDMA WRITE of the slot of source page p into the server's page p
 *          (the last one WRITE_WITH_IMM), p < NP
 *   SEND   SEND_WITH_IMM of L bytes (1 .. 2.5 pages, random offset) into the
 *          server's receive area (3 pages)
 *   R(p)   RDMA READ of the server's slot p into destination page p
 *   FADD, CAS on two words of the server's atomic page
 * as one list of 2*NP + 3 WRs; then the client checks what it can see and
 * reports to the server, which checks its memory with the CPU.  Every byte
 * written encodes (pair, thread, round, page) in its pattern seed and its
 * offset (pattern_byte(), never 0).
 *
 * Mutations (the worker's mutator, one buffer lock held for each, which the
 * traffic threads hold for every CPU access to their buffers): MADV_DONTNEED,
 * munmap + mmap again (a hole meanwhile), mprotect(PROT_READ or PROT_NONE)
 * and back, move_pages() to the other node, fork() (the child checks that
 * its copy of every private buffer does not change while the parent's
 * traffic goes on, touches it and exits), mremap() of a whole buffer to
 * another address and re-registration.  Per page and buffer the mutator
 * counts, in memory shared by all workers, mutations started and done, and
 * separately those that may lose data ("disc": DONTNEED of private anon,
 * munmap of anon) and those that may make an access fail ("brk": munmap,
 * mprotect, mremap).
 *
 * Legal outcomes, for a window [snapshot, check] of a page (touched = a
 * mutation of that class was in progress at the snapshot or started since):
 *   - a page no disc mutation touched holds exactly the data (strict);
 *   - data that passed through a disc-touched page (its source, its target,
 *     or the page it was read back from) may read as zeros, all of the
 *     page's part, never a mix and never other data;
 *   - a WR may fail only with an access error of its own side, and only if
 *     a brk mutation touched a page it accesses: LOC_PROT_ERR
 *     for local SGE pages, REM_ACCESS_ERR for WRITE/READ/atomic targets,
 *     REM_OP_ERR for a SEND whose receive buffer broke; the responder's
 *     receive then completes with LOC_PROT_ERR.  DONTNEED,
 *     migration and fork never make anything fail;
 *   - after the first unsuccessful WR every WR completes, in order, with
 *     WR_FLUSH_ERR or that error; a WRITE at or after the failed one may or
 *     may not have executed (after a local error, any later WRITE may have:
 *     it was sent before the QP stopped), a WRITE after a remote error did
 *     not;  a failed WR leads to a reconnect of the data QP;
 *   - when the peer process was killed (its kill count changed) any error
 *     status is legal, but every WR still completes within HANG_S seconds
 *     (no hang), the control link breaks, and the survivor reconnects to
 *     the replacement; the server then accepts, per page, its last data,
 *     the data of the round in flight, or zeros if disc-touched;
 *   - atomics: the value returned is one of the values the word may hold
 *     (its known value, 0 if disc-touched, the results of atomics that may
 *     have executed);
 *   - bytes outside every SGE never change; a fork child's private memory
 *     never changes after fork() returned.
 * Anything else is a FAIL: the worker says exactly what on stderr, exit 1.
 *
 * At the end: totals (operations, bytes verified, per-MR counters summed
 * over every MR that existed, including those of killed processes up to
 * their last round, and the device counters of debugfs before/after), and
 * the leak checks: no MR left in debugfs, module refcount back, unreclaimable
 * slab, kmalloc slabs and MemAvailable back to the baseline taken after a
 * warm-up, within the tolerances printed.  Output is key=value tokens.
 * Exit 0 pass, 1 fail, 77 skip (no /dev/odp).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <odp.h>

#define T_PASS	0
#define T_FAIL	1
#define T_SKIP	77

#define PS		4096
#define NP		8			/* WRITE/READ pages */
#define RP		3			/* receive area / SEND source pages */
#define SRV_AP		NP			/* server: atomic page */
#define SRV_RECV	(NP + 1)		/* server: receive area */
#define SRV_NPAGES	(NP + 1 + RP)
#define SRC_SEND	NP			/* client source: SEND area */
#define SRC_NPAGES	(NP + RP)
#define DST_AP		NP			/* client destination: atomic results */
#define DST_NPAGES	(NP + 1)
#define MAXPG		12
#define SLOT_IN		64			/* the slot of a page: [64, PS - 64) */
#define SLOT_LEN	(PS - 2 * SLOT_IN)
#define AW_OFF		256			/* server atomic words */
#define AR_OFF		512			/* client atomic results */
#define NWR		(2 * NP + 3)
#define IDX_W(p)	(p)
#define IDX_SEND	NP
#define IDX_R(p)	(NP + 1 + (p))
#define IDX_FADD	(2 * NP + 1)
#define IDX_CAS		(2 * NP + 2)
#define MAX_PROCS	16
#define MAX_THR		8
#define NCAND		8
#define CTRL_SLOTS	4
#define CMSG_SZ		512
#define NSTATUS		32

#define DEBUGFS		"/sys/kernel/debug/odp"

/* ---- options --------------------------------------------------------- */

static struct {
	int nproc, nthr, time_s, kill_ms, mut_us, hang_s, warmup_s, verbose;
	int mig_ms;
	int port;
	uint32_t seed;
	const char *addr;
	const char *dev;
} opt = {
	.nproc = 4, .nthr = 2, .time_s = 30, .kill_ms = 2500, .mut_us = 3000,
	.hang_s = 60, .warmup_s = 3, .mig_ms = 1250, .port = 19000, .addr = "10.99.0.1",
	.dev = "rxe0",
};

/* ---- small things ------------------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_us(unsigned int us)
{
	struct timespec ts = { .tv_sec = us / 1000000,
			       .tv_nsec = (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

struct rng { uint64_t s; };

static uint64_t rnd(struct rng *r)
{
	uint64_t x = r->s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static unsigned int rndn(struct rng *r, unsigned int n)
{
	return n ? (unsigned int)(rnd(r) % n) : 0;
}

static uint32_t mix32(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (uint32_t)x | 1;
}

/* As tests/progs/helpers.h: never 0. */
static inline uint8_t pattern_byte(uint32_t seed, size_t off)
{
	uint32_t x = seed * 2654435761u + (uint32_t)off * 40503u +
		     (uint32_t)(off >> 12) * 977u;

	x ^= x >> 13;
	return (uint8_t)(x % 255u) + 1;
}

static void fill_pattern(uint8_t *b, size_t len, uint32_t seed, size_t off0)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pattern_byte(seed, off0 + i);
}

/* First byte that differs from the pattern, or -1. */
static long diff_pattern(const uint8_t *b, size_t len, uint32_t seed,
			 size_t off0)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != pattern_byte(seed, off0 + i))
			return (long)i;
	return -1;
}

static long diff_const(const uint8_t *b, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		if (b[i] != v)
			return (long)i;
	return -1;
}

/*
 * What @len bytes at @b hold, for a FAIL message: runs of "data" (the
 * pattern of @seed from @off0), "prev" (that of @prev), "zero" and
 * "other", as "data 0-243, zero 244-4095"; the first 8 runs at most.
 */
static const char *byte_runs(const uint8_t *b, size_t len, uint32_t seed,
			     uint32_t prev, size_t off0, char *out, size_t size)
{
	static const char *const kind[] = { "data", "prev", "zero", "other" };
	size_t used = 0, start = 0;
	int runs = 0, k = -1;

	out[0] = '\0';
	for (size_t i = 0; i <= len; i++) {
		int ki = i == len ? -1 :
			 b[i] == pattern_byte(seed, off0 + i) ? 0 :
			 b[i] == pattern_byte(prev, off0 + i) ? 1 :
			 b[i] == 0 ? 2 : 3;

		if (ki == k)
			continue;
		if (k >= 0 && runs++ < 8 && used < size)
			used += (size_t)snprintf(out + used, size - used, "%s%s %zu-%zu",
						 used ? ", " : "", kind[k], start, i - 1);
		k = ki;
		start = i;
	}
	return out;
}

/* ---- memory shared by all processes ------------------------------------ */

/* Per page of a buffer: mutations started/done; of those, disc and brk. */
struct pgcnt {
	uint32_t st, dn, dst, ddn, bst, bdn, pad[2];
};

enum { K_DONTNEED, K_MUNMAP, K_MPROTECT, K_MIGRATE, K_FORK, K_MREMAP, NKIND };
static const char *const kind_names[NKIND] = {
	"dontneed", "munmap", "mprotect", "migrate", "fork", "mremap",
};

/* Per-thread statistics, all sums except where noted (S_MAX_*). */
enum {
	S_ROUNDS, S_WR_OK, S_WR_FAILED, S_WR_FLUSHED, S_BYTES,
	S_PG_STRICT, S_PG_LENIENT, S_PG_ZERO, S_PG_OLD, S_PG_MAYBE_NEW,
	S_RECV_OK, S_RECV_ERR, S_RECV_FLUSH, S_ATOMIC_OK, S_ATOMIC_UNREAD,
	S_PEER_LOST, S_RECONNECT_DATA, S_RECONNECT_ALL, S_CONNECT_RETRIES,
	S_DETECT_MS_SUM, S_MAX_DETECT_MS, S_MAX_WAIT_MS, S_CTRL_MSGS,
	S_LOST_SETTLES, S_MIGRATED_PAGES, S_FORK_CHILDREN, S_FORK_CHECKED_BYTES,
	S_SRV_CHECKS, S_MR_REGS, S_QPS,
	S_MUT0,				/* + kind */
	S_CLI_ST = S_MUT0 + NKIND,	/* + status: client data WR completions */
	S_SRV_ST = S_CLI_ST + NSTATUS,	/* + status: server data receives */
	S_N = S_SRV_ST + NSTATUS
};
static const char *const s_names[S_MUT0] = {
	"rounds", "wr_ok", "wr_failed", "wr_flushed",
	"bytes_verified", "pages_strict", "pages_lenient", "pages_zero",
	"pages_old", "pages_maybe_new", "recv_ok", "recv_err", "recv_flushed",
	"atomic_ok", "atomic_unreadable", "peer_lost", "reconnect_data",
	"reconnect_all", "connect_retries", "detect_ms_sum", "detect_ms_max",
	"wait_ms_max", "ctrl_msgs", "lost_settles", "migrated_pages",
	"fork_children", "fork_checked_bytes", "server_checks", "mr_regs",
	"qps_created",
};

static int s_is_max(int i)
{
	return i == S_MAX_DETECT_MS || i == S_MAX_WAIT_MS;
}

/* The last mutations of a page, for failure messages. */
#define NHIST	8
struct mlog {
	uint32_t kind, t0, t1, pad;	/* ms since the run began; t1 0: running */
};

struct bufshm {
	struct pgcnt pg[MAXPG];
	struct mlog hist[MAXPG][NHIST];
	uint32_t hidx[MAXPG];
	uint32_t kind;
	uint64_t live[ODP_STAT_MAX];	/* the current MR's counters */
	uint64_t acc[ODP_STAT_MAX];	/* MRs deregistered since */
};

struct thrshm {
	struct bufshm buf[3];		/* server: [0]; client: src, dst; [2] ctrl */
	uint64_t s[S_N];
	uint32_t srv_round;		/* server: next round, kept across kills */
	uint32_t phase;
	uint64_t beat_ms;		/* last progress */
};

struct procshm {
	int32_t pid;
	uint32_t inc;			/* incarnation */
	uint32_t kills;			/* raised before each kill -9 */
	uint32_t dead_inc;		/* the last incarnation killed */
	uint64_t kill_ms;
	struct thrshm thr[MAX_THR];
};

struct totals {
	uint64_t s[S_N];
	uint64_t mr[ODP_STAT_MAX];
};

struct shm {
	uint64_t t0_ms;			/* the run began */
	uint64_t mig_t0[4], mig_t1[4];	/* the supervisor's last migrate_pages() */
	int32_t mig_pid[4];
	uint32_t mig_idx;
	volatile int stop;
	volatile int failed;
	uint32_t inc_next;
	struct procshm proc[MAX_PROCS];
	struct totals dead;		/* of killed incarnations */
};

static struct shm *shm;

static uint32_t ld32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static void inc32(uint32_t *p)
{
	__atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST);
}

/* A window of one page: counters at its start. */
struct win {
	uint32_t st, dst, bst;
	uint8_t busy, dbusy, bbusy;
};

static void win_open(const struct pgcnt *c, struct win *w)
{
	uint32_t dn = ld32(&c->dn), ddn = ld32(&c->ddn), bdn = ld32(&c->bdn);

	w->st = ld32(&c->st);
	w->dst = ld32(&c->dst);
	w->bst = ld32(&c->bst);
	w->busy = w->st != dn;
	w->dbusy = w->dst != ddn;
	w->bbusy = w->bst != bdn;
}

static int t_any(const struct pgcnt *c, const struct win *w)
{
	return w->busy || ld32(&c->st) != w->st;
}

static int t_disc(const struct pgcnt *c, const struct win *w)
{
	return w->dbusy || ld32(&c->dst) != w->dst;
}

static int t_brk(const struct pgcnt *c, const struct win *w)
{
	return w->bbusy || ld32(&c->bst) != w->bst;
}

/* ---- failing ------------------------------------------------------------ */

static int me = -1;			/* worker index, -1: supervisor */
static uint32_t my_inc;

__attribute__((noreturn, format(printf, 2, 3)))
static void fail_(const char *tag, const char *fmt, ...)
{
	char text[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fprintf(stderr, "FAIL %s (pid %d, incarnation %u, seed %u): %s\n",
		tag, getpid(), my_inc, opt.seed, text);
	fflush(stderr);
	if (shm) {
		shm->failed = 1;
		shm->stop = 1;
	}
	_exit(T_FAIL);
}

/* ---- buffers ------------------------------------------------------------ */

enum { BK_PRIVATE, BK_SHARED, BK_MEMFD };
static const char *const bk_names[] = { "private", "shared", "memfd" };

struct thr;

struct buf {
	pthread_mutex_t lock;		/* CPU access and layout changes */
	char *addr;
	char *alt;			/* PROT_NONE reservation for mremap */
	size_t len;
	int npages, kind, fd, access;
	struct odp_pd *pd;
	struct odp_mr *mr;
	struct bufshm *sh;
	struct thr *owner;
	const char *name;
};

static int data_lost(int bkind, int k)
{
	return (k == K_DONTNEED && bkind == BK_PRIVATE) ||
	       (k == K_MUNMAP && bkind != BK_MEMFD);
}

static int breaks(int k)
{
	return k == K_MUNMAP || k == K_MPROTECT || k == K_MREMAP;
}

static void *reserve(void *hint, size_t len, int noreplace)
{
	return mmap(hint, len, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		    (noreplace ? MAP_FIXED_NOREPLACE : 0), -1, 0);
}

static void mr_add_stats(struct odp_mr *mr, uint64_t *acc, uint64_t *live,
			 const char *tag)
{
	uint64_t v[ODP_STAT_MAX] = { 0 };
	int n = odp_query_mr_stats(mr, v, ODP_STAT_MAX);

	if (n < 0)
		fail_(tag, "odp_query_mr_stats: %s", strerror(errno));
	for (int i = 0; i < n && i < ODP_STAT_MAX; i++) {
		if (acc)
			acc[i] += v[i];
		if (live)
			live[i] = v[i];
	}
}

static void buf_create(struct buf *b, const char *name, int npages, int kind,
		       struct odp_pd *pd, int access, struct bufshm *sh,
		       struct thr *owner, const char *tag)
{
	int flags = kind == BK_PRIVATE ? MAP_PRIVATE : MAP_SHARED;

	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->lock, NULL);
	b->name = name;
	b->npages = npages;
	b->len = (size_t)npages * PS;
	b->kind = kind;
	b->fd = -1;
	b->pd = pd;
	b->access = access | ODP_ACCESS_ON_DEMAND;
	b->sh = sh;
	b->owner = owner;
	sh->kind = (uint32_t)kind;
	if (kind == BK_MEMFD) {
		b->fd = memfd_create("odp_stress", MFD_CLOEXEC);
		if (b->fd < 0 || ftruncate(b->fd, (off_t)b->len))
			fail_(tag, "memfd: %s", strerror(errno));
	} else {
		flags |= MAP_ANONYMOUS;
	}
	b->addr = mmap(NULL, b->len, PROT_READ | PROT_WRITE, flags, b->fd, 0);
	b->alt = reserve(NULL, b->len, 0);
	if (b->addr == MAP_FAILED || b->alt == MAP_FAILED)
		fail_(tag, "mmap %s buffer: %s", name, strerror(errno));
	b->mr = odp_reg_mr(pd, b->addr, b->len, b->access);
	if (!b->mr)
		fail_(tag, "odp_reg_mr(%s, %zu): %s", name, b->len,
		      strerror(errno));
	/* A killed predecessor may have died in the middle of a mutation. */
	for (int p = 0; p < MAXPG; p++) {
		struct pgcnt *c = &sh->pg[p];

		__atomic_store_n(&c->dn, ld32(&c->st), __ATOMIC_SEQ_CST);
		__atomic_store_n(&c->ddn, ld32(&c->dst), __ATOMIC_SEQ_CST);
		__atomic_store_n(&c->bdn, ld32(&c->bst), __ATOMIC_SEQ_CST);
	}
}

static void buf_destroy(struct buf *b, const char *tag)
{
	pthread_mutex_lock(&b->lock);
	if (b->mr) {
		mr_add_stats(b->mr, b->sh->acc, NULL, tag);
		memset(b->sh->live, 0, sizeof(b->sh->live));
		if (odp_dereg_mr(b->mr))
			fail_(tag, "odp_dereg_mr(%s): %s", b->name,
			      strerror(errno));
		b->mr = NULL;
	}
	munmap(b->addr, b->len);
	munmap(b->alt, b->len);
	if (b->fd >= 0)
		close(b->fd);
	pthread_mutex_unlock(&b->lock);
}

/* The current MR's counters into shared memory (buffer lock held). */
static void buf_refresh_stats(struct buf *b, const char *tag)
{
	mr_add_stats(b->mr, NULL, b->sh->live, tag);
}

/* ---- processes, threads -------------------------------------------------- */

struct link {
	struct odp_qp *qp;
	struct odp_cq *scq, *rcq;
};

struct cands {
	int n, unknown;
	uint64_t v[NCAND];
};

struct thr {
	int idx;
	struct worker *w;
	char tag[48];
	struct rng rng;
	struct odp_context *ctx;
	struct odp_pd *pd;
	struct odp_listener *lis_ctrl, *lis_data;
	struct buf b[2];
	int nbuf;
	char *cmem;			/* control buffer: never mutated */
	struct odp_mr *cmr;
	struct link ctrl, data;
	struct thrshm *sh;
	struct thrshm *peer;		/* the peer thread's shared memory */
	uint32_t peer_kills0;		/* the peer's kill count at connect */
	uint32_t peer_inc;		/* the peer's incarnation, 0: unknown */
	int ctrl_status;		/* the control link's last failed wc status */
	pthread_t th;
	/* server */
	uint32_t known[NP];		/* seed of page p's slot, 0: zeros */
	struct win swin[MAXPG];		/* since the last check */
	/* client */
	struct win rwin[MAXPG];		/* remote pages since the last check */
	struct cands cand[2];
	uint32_t cand_round[2];		/* the round that set them */
	uint64_t aw_seen[2];		/* server: the words at the last check */
	uint64_t aw_pfn, aw_ms;		/* server: its page and time then */
	int aw_node;
	uint32_t check_ms;		/* client: its last check */
};

struct worker {
	int pi, role, pair;
	struct procshm *sh;
	struct thr thr[MAX_THR];
	struct buf *bufs[MAX_THR * 2];
	int nbufs;
	pthread_t mut_th;
	volatile int mut_stop;
	uint8_t *forksnap;
	size_t forksnap_len;
	uint64_t *forkdiag;		/* shared with the fork child */
	struct rng rng;
};

static struct worker W;

static int stopping(void)
{
	return shm->stop;
}

static void beat(struct thr *t, uint32_t phase)
{
	t->sh->phase = phase;
	__atomic_store_n(&t->sh->beat_ms, now_ms(), __ATOMIC_RELAXED);
}

#define ADD(t, i, n)	__atomic_add_fetch(&(t)->sh->s[(i)], (uint64_t)(n), \
					   __ATOMIC_RELAXED)

static void set_max(struct thr *t, int i, uint64_t v)
{
	uint64_t cur = __atomic_load_n(&t->sh->s[i], __ATOMIC_RELAXED);

	while (v > cur &&
	       !__atomic_compare_exchange_n(&t->sh->s[i], &cur, v, 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

#define TFAIL(t, ...)	fail_((t)->tag, __VA_ARGS__)

/* ---- seeds --------------------------------------------------------------- */

static uint32_t seed_w(const struct thr *t, uint32_t r, int p)
{
	uint64_t id = (uint64_t)(W.pair * MAX_THR + t->idx + 1);

	return mix32(id << 40 | (uint64_t)r << 8 | (uint64_t)p);
}

static uint32_t seed_s(const struct thr *t, uint32_t r)
{
	return seed_w(t, r, 0xff);
}

static uint64_t fadd_of(uint32_t r)
{
	return 1 + r % 7;
}

static uint64_t swap_of(const struct thr *t, uint32_t r)
{
	return (uint64_t)seed_w(t, r, 0xfe) << 32 | r;
}

/* ---- links --------------------------------------------------------------- */

struct caps {
	uint32_t swr, rwr;
	int cqe;
};
static const struct caps ctrl_caps = { 4, CTRL_SLOTS + 2, 16 };
static const struct caps data_caps = { 64, 8, 128 };

static void link_create(struct thr *t, struct link *l, const struct caps *c)
{
	struct odp_qp_init_attr attr = { 0 };

	memset(l, 0, sizeof(*l));
	l->scq = odp_create_cq(t->ctx, c->cqe);
	l->rcq = odp_create_cq(t->ctx, c->cqe);
	if (!l->scq || !l->rcq)
		TFAIL(t, "odp_create_cq: %s", strerror(errno));
	attr.send_cq = l->scq;
	attr.recv_cq = l->rcq;
	attr.cap.max_send_wr = c->swr;
	attr.cap.max_recv_wr = c->rwr;
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_sge = 1;
	attr.qp_type = ODP_QPT_RC;
	l->qp = odp_create_qp(t->pd, &attr);
	if (!l->qp)
		TFAIL(t, "odp_create_qp: %s", strerror(errno));
	ADD(t, S_QPS, 1);
}

static void link_destroy_qp(struct thr *t, struct link *l)
{
	int err;

	if (l->qp && (err = odp_destroy_qp(l->qp)))
		TFAIL(t, "odp_destroy_qp: %s", strerror(err));
	l->qp = NULL;
}

static void link_destroy(struct thr *t, struct link *l)
{
	int err;

	link_destroy_qp(t, l);
	if (l->scq && (err = odp_destroy_cq(l->scq)))
		TFAIL(t, "odp_destroy_cq: %s", strerror(err));
	if (l->rcq && (err = odp_destroy_cq(l->rcq)))
		TFAIL(t, "odp_destroy_cq: %s", strerror(err));
	memset(l, 0, sizeof(*l));
}

/* 1 and the completion, 0 on timeout (timeout_ms 0: just poll once). */
static int poll1(struct thr *t, struct odp_cq *cq, struct odp_wc *wc,
		 int timeout_ms)
{
	uint64_t start = 0;
	unsigned int spins = 0;

	for (;;) {
		int n = odp_poll_cq(cq, 1, wc);

		if (n < 0)
			TFAIL(t, "odp_poll_cq: %s", strerror(-n));
		if (n) {
			if (start)
				set_max(t, S_MAX_WAIT_MS, now_ms() - start);
			return 1;
		}
		if (!timeout_ms)
			return 0;
		if (spins < 8) {
			spins++;
			sched_yield();
			continue;
		}
		if (!start)
			start = now_ms();
		else if (now_ms() - start > (uint64_t)timeout_ms)
			return 0;
		sleep_us(300);
	}
}

static struct sockaddr_in addr_of(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };

	if (inet_pton(AF_INET, opt.addr, &a.sin_addr) != 1)
		fail_("main", "bad address %s", opt.addr);
	return a;
}

static int port_of(int pair, int t, int data)
{
	return opt.port + (pair * MAX_THR + t) * 2 + data;
}

/* ---- the control connection ------------------------------------------------ */

enum { M_HELLO = 1, M_GO, M_REPORT, M_BYE };
#define CMAGIC	0x0d957e55u

struct cmsg;
struct cmsg {
	uint32_t magic, type, round, inc;
	uint64_t raddr;			/* GO: the server's buffer */
	uint32_t rkey, pad;
	uint64_t aw[2];			/* GO: the atomic words at its check */
	uint64_t cas_cmp;		/* REPORT: the CAS compared with this */
	int32_t k, e;			/* REPORT */
	uint32_t status, local_err, reconnect;
	uint32_t src_disc, ssrc_disc;	/* client pages disc-touched */
	uint32_t send_len, send_off;
	uint32_t cand_n[2], cand_unknown[2];
	uint64_t cand[2][NCAND];
	/* An atomic returned a value the word cannot hold: the server adds
	 * its view before failing. */
	uint32_t abad, abad_round;	/* word + 1 */
	uint32_t chk_prev_ms, chk_ms;	/* the client's last two checks */
	uint64_t abad_got, abad_add;
	char abad_text[240];
};

_Static_assert(sizeof(struct cmsg) <= CMSG_SZ, "control message too big");

static void ctrl_post(struct thr *t, int slot)
{
	struct odp_sge sge = {
		.addr = (uintptr_t)(t->cmem + slot * CMSG_SZ),
		.length = CMSG_SZ, .lkey = t->cmr->lkey,
	};
	struct odp_recv_wr wr = { .wr_id = (uint64_t)slot, .sg_list = &sge,
				  .num_sge = 1 };
	struct odp_recv_wr *bad;
	int err = odp_post_recv(t->ctrl.qp, &wr, &bad);

	if (err)
		TFAIL(t, "post_recv (control): %s", strerror(err));
}

/* 0 sent; 1 the link broke; 2 timed out. */
static int ctrl_send(struct thr *t, const struct cmsg *m)
{
	struct odp_sge sge = {
		.addr = (uintptr_t)(t->cmem + CTRL_SLOTS * CMSG_SZ),
		.length = sizeof(*m), .lkey = t->cmr->lkey,
	};
	struct odp_send_wr wr = { .wr_id = 777, .sg_list = &sge, .num_sge = 1,
				  .opcode = ODP_WR_SEND,
				  .send_flags = ODP_SEND_SIGNALED };
	struct odp_send_wr *bad;
	struct odp_wc wc;
	int err;

	memcpy(t->cmem + CTRL_SLOTS * CMSG_SZ, m, sizeof(*m));
	err = odp_post_send(t->ctrl.qp, &wr, &bad);
	if (err)
		TFAIL(t, "post_send (control): %s", strerror(err));
	if (!poll1(t, t->ctrl.scq, &wc, opt.hang_s * 1000))
		return 2;
	if (wc.wr_id != 777)
		TFAIL(t, "control send: completion of wr_id %llu",
		      (unsigned long long)wc.wr_id);
	ADD(t, S_CTRL_MSGS, 1);
	if (wc.status == ODP_WC_SUCCESS)
		return 0;
	t->ctrl_status = wc.status;
	return 1;
}

static int ctrl_recv(struct thr *t, struct cmsg *m, int timeout_ms)
{
	struct odp_wc wc;

	if (!poll1(t, t->ctrl.rcq, &wc, timeout_ms))
		return 2;
	if (wc.status != ODP_WC_SUCCESS) {
		t->ctrl_status = wc.status;
		return 1;
	}
	if (wc.wr_id >= CTRL_SLOTS || wc.byte_len != sizeof(*m))
		TFAIL(t, "control receive: wr_id %llu, %u bytes",
		      (unsigned long long)wc.wr_id, wc.byte_len);
	memcpy(m, t->cmem + wc.wr_id * CMSG_SZ, sizeof(*m));
	if (m->magic != CMAGIC)
		TFAIL(t, "control message with magic %#x", m->magic);
	ctrl_post(t, (int)wc.wr_id);
	ADD(t, S_CTRL_MSGS, 1);
	return 0;
}

static void ctrl_prep(struct thr *t)
{
	for (int i = 0; i < CTRL_SLOTS; i++)
		ctrl_post(t, i);
}

/*
 * Is the peer we talk to gone (killed)?  Incarnations only grow and the
 * supervisor records the killed one before the kill, so once we know the
 * peer's incarnation (the client's HELLO, the server's GO) that is exact.
 * Before that: a client connected to a server that accepted after our
 * connect began, so a kill since then shows in the kill count; a server may
 * have accepted the connection of a client killed before (its kernel
 * finishes the handshake while the process dies), so any break counts.
 */
static int peer_gone(struct thr *t)
{
	struct procshm *p = &shm->proc[W.pi ^ 1];

	if (t->peer_inc)
		return t->peer_inc <= ld32(&p->dead_inc);
	if (W.role == 0)
		return 1;
	return ld32(&p->kills) != t->peer_kills0;
}

/*
 * What debugfs says of QP @qp_num (odp.ko's `qps` line: its state and why
 * it went to error), for a failure message; "" when it cannot be read.
 */
static const char *qp_debug_line(uint32_t qp_num, char *buf, size_t size)
{
	FILE *f = fopen("/sys/kernel/debug/odp/qps", "re");
	char want[32];
	int n = snprintf(want, sizeof(want), "qp %u ", qp_num);

	buf[0] = 0;
	if (!f)
		return buf;
	while (fgets(buf, (int)size, f))
		if (!strncmp(buf, want, (size_t)n)) {
			buf[strcspn(buf, "\n")] = 0;
			fclose(f);
			return buf;
		}
	fclose(f);
	buf[0] = 0;
	return buf;
}

/*
 * The link to the peer broke (rc 1), or a wait on it timed out (rc 2).
 * Legal only if the peer was killed, or at the end of the run; and a
 * timeout is never legal: a killed peer's QPs must flush ours.
 */
static void peer_lost(struct thr *t, int rc, const char *what)
{
	int peer = W.pi ^ 1;
	uint64_t d;

	if (stopping())
		return;
	if (rc == 2)
		TFAIL(t, "%s: nothing for %d s (peer incarnation %u %s, slot "
		      "killed %u times): a hang", what, opt.hang_s, t->peer_inc,
		      peer_gone(t) ? "was killed" : "alive",
		      ld32(&shm->proc[peer].kills));
	if (!peer_gone(t)) {
		char dq[300], cq[300];

		TFAIL(t, "%s: the link to the peer (incarnation %u) broke (last "
		      "control completion status: %s), but the peer was not "
		      "killed (debugfs: data: %s; control: %s)", what,
		      t->peer_inc, t->ctrl_status ?
		      odp_wc_status_str(t->ctrl_status) : "none failed",
		      t->data.qp ? qp_debug_line(t->data.qp->qp_num, dq,
						 sizeof(dq)) : "no QP",
		      t->ctrl.qp ? qp_debug_line(t->ctrl.qp->qp_num, cq,
						 sizeof(cq)) : "no QP");
	}
	d = now_ms() - __atomic_load_n(&shm->proc[peer].kill_ms,
				       __ATOMIC_SEQ_CST);
	ADD(t, S_DETECT_MS_SUM, d);
	set_max(t, S_MAX_DETECT_MS, d);
	ADD(t, S_PEER_LOST, 1);
}

/* ---- the mutator ------------------------------------------------------------ */

static uint32_t rel_ms(void)
{
	return (uint32_t)(now_ms() - shm->t0_ms) | 1;
}

static void hist_begin(struct buf *b, int p, int k)
{
	uint32_t i = b->sh->hidx[p]++ % NHIST;

	b->sh->hist[p][i] = (struct mlog){ (uint32_t)k, rel_ms(), 0, 0 };
}

static void hist_end(struct buf *b, int p)
{
	b->sh->hist[p][(b->sh->hidx[p] - 1) % NHIST].t1 = rel_ms();
}

/* "kind@t0-t1 ..." of the page's last mutations, oldest first. */
static void hist_fmt(const struct bufshm *sh, int p, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = 0;
	for (uint32_t j = 0; j < NHIST && o < size; j++) {
		uint32_t i = (sh->hidx[p] + j) % NHIST;
		const struct mlog *m = &sh->hist[p][i];

		if (!m->t0)
			continue;
		o += (size_t)snprintf(buf + o, size - o, " %s@%u-%u",
				      kind_names[m->kind % NKIND], m->t0, m->t1);
	}
	if (o < size)
		snprintf(buf + o, size - o, " (now %u ms)", rel_ms());
}

static void mut_begin(struct buf *b, int p0, int n, int k)
{
	for (int p = p0; p < p0 + n; p++) {
		struct pgcnt *c = &b->sh->pg[p];

		hist_begin(b, p, k);
		inc32(&c->st);
		if (data_lost(b->kind, k))
			inc32(&c->dst);
		if (breaks(k))
			inc32(&c->bst);
	}
}

static void mut_end(struct buf *b, int p0, int n, int k)
{
	for (int p = p0; p < p0 + n; p++) {
		struct pgcnt *c = &b->sh->pg[p];

		if (breaks(k))
			inc32(&c->bdn);
		if (data_lost(b->kind, k))
			inc32(&c->ddn);
		inc32(&c->dn);
		hist_end(b, p);
	}
}

static void mut_remap(struct buf *b, int p0, int n, unsigned int hole_us)
{
	char *a = b->addr + (size_t)p0 * PS;
	size_t len = (size_t)n * PS;
	int flags = MAP_FIXED_NOREPLACE |
		    (b->kind == BK_PRIVATE ? MAP_PRIVATE : MAP_SHARED) |
		    (b->kind == BK_MEMFD ? 0 : MAP_ANONYMOUS);
	void *q;

	if (munmap(a, len))
		fail_("mutator", "munmap: %s", strerror(errno));
	sleep_us(hole_us);
	q = mmap(a, len, PROT_READ | PROT_WRITE, flags, b->fd,
		 b->kind == BK_MEMFD ? (off_t)p0 * PS : 0);
	if (q != a)
		fail_("mutator", "mmap of the hole at %p again: %s (another "
		      "mapping took it?)", (void *)a,
		      q == MAP_FAILED ? strerror(errno) : "moved");
}

static void mut_mremap(struct buf *b, const char *tag)
{
	char *old = b->addr, *dst = b->alt;
	void *q = mremap(old, b->len, b->len, MREMAP_MAYMOVE | MREMAP_FIXED,
			 dst);

	if (q == MAP_FAILED && errno == EFAULT) {
		/* Several VMAs (after a munmap + mmap): page by page. */
		for (int p = 0; p < b->npages; p++) {
			q = mremap(old + (size_t)p * PS, PS, PS,
				   MREMAP_MAYMOVE | MREMAP_FIXED,
				   dst + (size_t)p * PS);
			if (q == MAP_FAILED)
				break;
		}
	}
	if (q == MAP_FAILED)
		fail_(tag, "mremap(%s, %p -> %p): %s", b->name, (void *)old,
		      (void *)dst, strerror(errno));
	b->addr = dst;
	b->alt = reserve(old, b->len, 1);
	if (b->alt != old) {
		if (b->alt != MAP_FAILED)
			munmap(b->alt, b->len);
		b->alt = reserve(NULL, b->len, 0);
		if (b->alt == MAP_FAILED)
			fail_(tag, "mmap(reservation): %s", strerror(errno));
	}
	/* The old MR covers the old range: replace it. */
	mr_add_stats(b->mr, b->sh->acc, NULL, tag);
	memset(b->sh->live, 0, sizeof(b->sh->live));
	if (odp_dereg_mr(b->mr))
		fail_(tag, "odp_dereg_mr(%s) after mremap: %s", b->name,
		      strerror(errno));
	b->mr = odp_reg_mr(b->pd, b->addr, b->len, b->access);
	if (!b->mr)
		fail_(tag, "odp_reg_mr(%s) after mremap: %s", b->name,
		      strerror(errno));
	ADD(b->owner, S_MR_REGS, 1);
}

static int nnodes;

static void mut_migrate(struct buf *b, int p0, int n, struct thr *owner)
{
	void *pages[MAXPG];
	int nodes[MAXPG], status[MAXPG];
	long moved = 0;

	for (int i = 0; i < n; i++)
		pages[i] = b->addr + (size_t)(p0 + i) * PS;
	if (move_pages(0, (unsigned long)n, pages, NULL, status, 0))
		fail_("mutator", "move_pages(query): %s", strerror(errno));
	for (int i = 0; i < n; i++)
		nodes[i] = status[i] >= 0 ? (status[i] + 1) % nnodes : 0;
	if (move_pages(0, (unsigned long)n, pages, nodes, status,
		       MPOL_MF_MOVE) < 0)
		fail_("mutator", "move_pages: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		moved += status[i] == nodes[i];
	ADD(owner, S_MIGRATED_PAGES, moved);
}

/*
 * fork(): the child copies every private buffer (and the control buffers,
 * which the device writes into), waits while the parent's traffic goes
 * on, and compares: nothing may have changed its private memory.  Then it
 * touches some pages (COW on its side) and exits.
 */
struct fregion { const char *addr; size_t len; const char *name; int thr; };

static void mut_fork(struct rng *rng)
{
	struct fregion reg[MAX_THR * 3];
	int nreg = 0, status;
	size_t total = 0;
	unsigned int wait_us = 2000 + rndn(rng, 20000);
	pid_t pid;

	for (int i = 0; i < W.nbufs; i++) {
		struct buf *b = W.bufs[i];

		if (b->kind == BK_PRIVATE)
			reg[nreg++] = (struct fregion){ b->addr, b->len, b->name,
							b->owner->idx };
	}
	for (int t = 0; t < opt.nthr; t++)
		reg[nreg++] = (struct fregion){ W.thr[t].cmem, PS, "ctrl", t };
	for (int i = 0; i < nreg; i++)
		total += reg[i].len;
	if (total > W.forksnap_len)
		fail_("mutator", "fork snapshot too small");
	W.forkdiag[0] = 0;
	for (int i = 0; i < W.nbufs; i++)
		for (int p = 0; p < W.bufs[i]->npages; p++)
			hist_begin(W.bufs[i], p, K_FORK);
	pid = fork();
	if (pid < 0)
		fail_("mutator", "fork: %s", strerror(errno));
	if (!pid) {
		size_t off = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (int i = 0; i < nreg; i++) {
			memcpy(W.forksnap + off, reg[i].addr, reg[i].len);
			off += reg[i].len;
		}
		sleep_us(wait_us);
		off = 0;
		for (int i = 0; i < nreg; i++) {
			const uint8_t *a = (const uint8_t *)reg[i].addr;

			for (size_t j = 0; j < reg[i].len; j++) {
				if (a[j] == W.forksnap[off + j])
					continue;
				W.forkdiag[0] = 1;
				W.forkdiag[1] = (uint64_t)i;
				W.forkdiag[2] = j;
				W.forkdiag[3] = W.forksnap[off + j];
				W.forkdiag[4] = a[j];
				_exit(3);
			}
			off += reg[i].len;
		}
		for (int i = 0; i < nreg; i++)
			((volatile char *)reg[i].addr)[(size_t)rndn(rng,
				(unsigned int)(reg[i].len / PS)) * PS + 1] ^= 0x5a;
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
		struct fregion *f = &reg[W.forkdiag[1]];

		fail_("mutator", "fork child: its private copy of %s buffer of "
		      "thread %d changed after fork() while the parent's "
		      "traffic went on: byte %llu (page %llu) was 0x%02llx, then "
		      "0x%02llx (the device wrote into a page the child owns)",
		      f->name, f->thr, (unsigned long long)W.forkdiag[2],
		      (unsigned long long)W.forkdiag[2] / PS,
		      (unsigned long long)W.forkdiag[3],
		      (unsigned long long)W.forkdiag[4]);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_("mutator", "fork child: status %#x", status);
	for (int i = 0; i < W.nbufs; i++)
		for (int p = 0; p < W.bufs[i]->npages; p++)
			hist_end(W.bufs[i], p);
	ADD(&W.thr[0], S_FORK_CHILDREN, 1);
	ADD(&W.thr[0], S_FORK_CHECKED_BYTES, total);
}

static void *mutator(void *arg)
{
	struct rng *rng = arg;
	/* Weights of dontneed, munmap, mprotect, migrate, fork, mremap. */
	static const int weight[NKIND] = { 30, 18, 18, 22, 4, 8 };

	while (!W.mut_stop && !stopping()) {
		struct buf *b;
		int k, p0, n, x;
		unsigned int hole = rndn(rng, 400);

		sleep_us(opt.mut_us / 2 + rndn(rng, (unsigned int)opt.mut_us));
		if (!W.nbufs)
			continue;
		b = W.bufs[rndn(rng, (unsigned int)W.nbufs)];
		x = (int)rndn(rng, 100);
		for (k = 0; k < NKIND - 1 && x >= weight[k]; k++)
			x -= weight[k];
		if (k == K_MIGRATE && nnodes < 2)
			k = K_DONTNEED;
		n = 1 + (int)rndn(rng, 3);
		p0 = (int)rndn(rng, (unsigned int)b->npages);
		if (p0 + n > b->npages)
			n = b->npages - p0;
		if (k == K_FORK) {
			mut_fork(rng);
			ADD(b->owner, S_MUT0 + k, 1);
			continue;
		}
		if (k == K_MREMAP) {
			p0 = 0;
			n = b->npages;
		}
		pthread_mutex_lock(&b->lock);
		mut_begin(b, p0, n, k);
		switch (k) {
		case K_DONTNEED:
			if (madvise(b->addr + (size_t)p0 * PS, (size_t)n * PS,
				    MADV_DONTNEED))
				fail_("mutator", "madvise: %s", strerror(errno));
			break;
		case K_MUNMAP:
			mut_remap(b, p0, n, hole);
			break;
		case K_MPROTECT: {
			char *a = b->addr + (size_t)p0 * PS;

			if (mprotect(a, (size_t)n * PS,
				     rndn(rng, 2) ? PROT_READ : PROT_NONE))
				fail_("mutator", "mprotect: %s", strerror(errno));
			sleep_us(hole);
			if (mprotect(a, (size_t)n * PS, PROT_READ | PROT_WRITE))
				fail_("mutator", "mprotect back: %s",
				      strerror(errno));
			break;
		}
		case K_MIGRATE:
			mut_migrate(b, p0, n, b->owner);
			break;
		case K_MREMAP:
			mut_mremap(b, "mutator");
			break;
		}
		mut_end(b, p0, n, k);
		pthread_mutex_unlock(&b->lock);
		ADD(b->owner, S_MUT0 + k, 1);
	}
	return NULL;
}

/* ---- candidate values of an atomic word --------------------------------------- */

static void c_set(struct cands *c, uint64_t v)
{
	c->n = 1;
	c->unknown = 0;
	c->v[0] = v;
}

static void c_add(struct cands *c, uint64_t v)
{
	if (c->unknown)
		return;
	for (int i = 0; i < c->n; i++)
		if (c->v[i] == v)
			return;
	if (c->n == NCAND) {
		c->unknown = 1;
		return;
	}
	c->v[c->n++] = v;
}

static int c_has(const struct cands *c, uint64_t v)
{
	if (c->unknown)
		return 1;
	for (int i = 0; i < c->n; i++)
		if (c->v[i] == v)
			return 1;
	return 0;
}

static uint64_t c_apply1(int cas, uint64_t x, uint64_t a, uint64_t swap)
{
	return cas ? (x == a ? swap : x) : x + a;
}

/* The atomic may have executed: c := c u f(c). */
static void c_maybe(struct cands *c, int cas, uint64_t a, uint64_t swap)
{
	int n = c->n;

	for (int i = 0; i < n && !c->unknown; i++)
		c_add(c, c_apply1(cas, c->v[i], a, swap));
}

static void c_fmt(const struct cands *c, char *buf, size_t size)
{
	size_t o = 0;

	if (c->unknown) {
		snprintf(buf, size, "(unknown)");
		return;
	}
	buf[0] = 0;
	for (int i = 0; i < c->n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%#llx", i ? "," : "",
				      (unsigned long long)c->v[i]);
}

/* ---- the client ------------------------------------------------------------- */

struct coll {
	int k;		/* first WR that did not succeed (NWR: none) */
	int e;		/* the WR that carried the error (-1: none) */
	int status;
	int nerr;	/* completions with an error other than WR_FLUSH_ERR */
};

static const char *st(int s)
{
	return odp_wc_status_str((enum odp_wc_status)s);
}

static int is_loc_err(int s)
{
	return s == ODP_WC_LOC_PROT_ERR;
}

/*
 * The completions of the round's list, in post order (see rdma_ops.c's
 * collect()): 0, or -1 if one did not come within the hang bound.
 */
static int collect(struct thr *t, uint64_t base, const uint8_t *sig,
		   const int *wc_op, struct coll *c)
{
	int next = 0;
	struct odp_wc wc;

	c->k = NWR;
	c->e = -1;
	c->status = 0;
	c->nerr = 0;
	while (next < NWR) {
		int i;

		if (!poll1(t, t->data.scq, &wc, opt.hang_s * 1000))
			return -1;
		i = (int)(wc.wr_id - base);
		if (wc.wr_id < base || i < next || i >= NWR)
			TFAIL(t, "completion for wr %lld (%s) out of post order: "
			      "expected %d..%d", (long long)(wc.wr_id - base),
			      st(wc.status), next, NWR - 1);
		if (c->k < NWR && i != next)
			TFAIL(t, "wr %d completed (%s) but wr %d, after the "
			      "unsuccessful wr %d, never did", i, st(wc.status),
			      next, c->k);
		if (wc.status == ODP_WC_SUCCESS) {
			if (c->k < NWR)
				TFAIL(t, "wr %d completed successfully after wr %d "
				      "did not", i, c->k);
			if (!sig[i])
				TFAIL(t, "unsignaled wr %d completed", i);
			if ((int)wc.opcode != wc_op[i])
				TFAIL(t, "wr %d: completion opcode %d, expected %d",
				      i, wc.opcode, wc_op[i]);
		} else {
			if (c->k == NWR)
				c->k = i;
			if (wc.status != ODP_WC_WR_FLUSH_ERR && !c->nerr++) {
				c->e = i;
				c->status = wc.status;
			}
			if (wc.status < NSTATUS)
				ADD(t, S_CLI_ST + (int)wc.status, 1);
		}
		next = i + 1;
	}
	return 0;
}

/* Pages of the area [off, off + len) of a buffer part starting at page base. */
static uint32_t pages_mask(size_t off, size_t len)
{
	uint32_t m = 0;

	for (size_t p = off / PS; p * PS < off + len; p++)
		m |= 1u << p;
	return m;
}

/*
 * Was WR e's error legal?  Its status must be an access error of the side
 * whose page a brk mutation touched during the round.
 */
static void check_error_legal(struct thr *t, const struct coll *c,
			      struct win *swin, struct win *dwin,
			      const struct pgcnt *rpg, size_t soff, size_t L)
{
	struct buf *src = &t->b[0], *dst = &t->b[1];
	int e = c->e, s = c->status, ok = 0, loc = is_loc_err(s), rp;
	const char *what;
	char hist[400];
	uint32_t m;

#define LBRK(b, w, p)	t_brk(&(b)->sh->pg[(p)], &(w)[(p)])
#define RBRK(p)		t_brk(&rpg[(p)], &t->rwin[(p)])
	if (e < 0)
		TFAIL(t, "wrs %d..%d all completed with WR_FLUSH_ERR: none with "
		      "the error that stopped the QP (debugfs: %s)", c->k,
		      NWR - 1, qp_debug_line(t->data.qp->qp_num, hist,
					     sizeof(hist)));
	if (c->nerr > 1)
		TFAIL(t, "%d WRs completed with errors other than WR_FLUSH_ERR "
		      "(the first: wr %d, %s): one error, then flushes", c->nerr,
		      e, st(s));
	if (e < NP) {
		what = "WRITE";
		rp = e;
		ok = loc ? LBRK(src, swin, e) :
		     s == ODP_WC_REM_ACCESS_ERR && RBRK(e);
	} else if (e == IDX_SEND) {
		what = "SEND";
		rp = SRV_RECV;
		if (loc) {
			m = pages_mask(soff, L);
			for (int p = 0; p < RP; p++)
				ok |= (m >> p & 1) && LBRK(src, swin, SRC_SEND + p);
		} else if (s == ODP_WC_REM_OP_ERR) {
			m = pages_mask(0, L);
			for (int p = 0; p < RP; p++)
				ok |= (m >> p & 1) && RBRK(SRV_RECV + p);
		}
	} else if (e < IDX_FADD) {
		int p = e - NP - 1;

		what = "READ";
		rp = p;
		ok = loc ? LBRK(dst, dwin, p) :
		     s == ODP_WC_REM_ACCESS_ERR && RBRK(p);
	} else {
		what = e == IDX_FADD ? "FETCH_ADD" : "CMP_SWAP";
		rp = SRV_AP;
		ok = loc ? LBRK(dst, dwin, DST_AP) :
		     s == ODP_WC_REM_ACCESS_ERR && RBRK(SRV_AP);
	}
#undef LBRK
#undef RBRK
	if (!ok) {
		/* The remote page's last mutations, in ms since t0. */
		hist[0] = 0;
		if (!loc)
			hist_fmt(&t->peer->buf[0], rp, hist, sizeof(hist));
		TFAIL(t, "wr %d (%s) failed with %s (%d), but no munmap, mprotect "
		      "or mremap touched the %s page it accesses during the "
		      "round (DONTNEED, migration and fork never make an access "
		      "fail); remote page %d's mutations:%s, t0 %llu ms "
		      "CLOCK_MONOTONIC", e, what, st(s), s,
		      loc ? "local" : "remote", rp, loc ? " (not shown)" : hist,
		      (unsigned long long)shm->t0_ms);
	}
	ADD(t, S_WR_FAILED, 1);
}

/* Client: one round. Returns 0, or 1 if the peer was lost meanwhile. */
static int client_round(struct thr *t, const struct cmsg *go, struct cmsg *rep)
{
	struct buf *src = &t->b[0], *dst = &t->b[1];
	const struct pgcnt *rpg = t->peer->buf[0].pg;
	uint32_t r = go->round;
	uint64_t base = (uint64_t)r << 8;
	size_t soff = rndn(&t->rng, PS), L;
	struct win swin[MAXPG], dwin[MAXPG];
	struct odp_send_wr wr[NWR], *bad;
	struct odp_sge sg[NWR];
	uint8_t sig[NWR];
	int wc_op[NWR], err;
	uint32_t src_lkey, dst_lkey, rkey = go->rkey;
	uint64_t raddr = go->raddr, cas_cmp;
	char *sa, *da;
	struct coll c;
	uint64_t bytes = 0;
	uint32_t src_disc = 0, ssrc_disc = 0;
	int rdisc[MAXPG], rany[MAXPG], rbrk[MAXPG];
	uint32_t abad = 0;
	uint64_t abad_got = 0, abad_add = 0;
	char abad_text[240] = "";

	L = 1 + rndn(&t->rng, (unsigned int)(RP * PS - soff - 1));
	/* Sources: the slots, the SEND message; the rest of the pages 0. */
	pthread_mutex_lock(&src->lock);
	sa = src->addr;
	for (int p = 0; p < NP; p++)
		fill_pattern((uint8_t *)sa + (size_t)p * PS + SLOT_IN, SLOT_LEN,
			     seed_w(t, r, p), 0);
	memset(sa + (size_t)SRC_SEND * PS, 0, RP * PS);
	fill_pattern((uint8_t *)sa + (size_t)SRC_SEND * PS + soff, L,
		     seed_s(t, r), 0);
	for (int p = 0; p < src->npages; p++)
		win_open(&src->sh->pg[p], &swin[p]);
	src_lkey = src->mr->lkey;
	pthread_mutex_unlock(&src->lock);
	/* Destinations: 0xee everywhere. */
	pthread_mutex_lock(&dst->lock);
	da = dst->addr;
	memset(da, 0xee, dst->len);
	for (int p = 0; p < dst->npages; p++)
		win_open(&dst->sh->pg[p], &dwin[p]);
	dst_lkey = dst->mr->lkey;
	pthread_mutex_unlock(&dst->lock);

	cas_cmp = !t->cand[1].unknown && t->cand[1].n ? t->cand[1].v[0] : 0;
	memset(wr, 0, sizeof(wr));
	for (int i = 0; i < NWR; i++) {
		wr[i].wr_id = base + (uint64_t)i;
		wr[i].sg_list = &sg[i];
		wr[i].num_sge = 1;
		wr[i].next = i + 1 < NWR ? &wr[i + 1] : NULL;
		sig[i] = i % 4 == 3 || i >= IDX_FADD || i == IDX_SEND;
		wr[i].send_flags = sig[i] ? ODP_SEND_SIGNALED : 0;
		if (i < NP) {
			sg[i] = (struct odp_sge){ (uintptr_t)sa + (size_t)i * PS +
						  SLOT_IN, SLOT_LEN, src_lkey };
			wr[i].opcode = i == NP - 1 ? ODP_WR_RDMA_WRITE_WITH_IMM :
						     ODP_WR_RDMA_WRITE;
			wr[i].imm_data = htonl(r);
			wr[i].wr.rdma.remote_addr = raddr + (uint64_t)i * PS +
						    SLOT_IN;
			wr[i].wr.rdma.rkey = rkey;
			wc_op[i] = ODP_WC_RDMA_WRITE;
		} else if (i == IDX_SEND) {
			sg[i] = (struct odp_sge){ (uintptr_t)sa + SRC_SEND * PS +
						  soff, (uint32_t)L, src_lkey };
			wr[i].opcode = ODP_WR_SEND_WITH_IMM;
			wr[i].imm_data = htonl(r ^ 0x5e000000u);
			wc_op[i] = ODP_WC_SEND;
		} else if (i < IDX_FADD) {
			int p = i - NP - 1;

			sg[i] = (struct odp_sge){ (uintptr_t)da + (size_t)p * PS +
						  SLOT_IN, SLOT_LEN, dst_lkey };
			wr[i].opcode = ODP_WR_RDMA_READ;
			wr[i].wr.rdma.remote_addr = raddr + (uint64_t)p * PS +
						    SLOT_IN;
			wr[i].wr.rdma.rkey = rkey;
			wc_op[i] = ODP_WC_RDMA_READ;
		} else {
			int cas = i == IDX_CAS;

			sg[i] = (struct odp_sge){ (uintptr_t)da + DST_AP * PS +
						  AR_OFF + (cas ? 8 : 0), 8,
						  dst_lkey };
			wr[i].opcode = cas ? ODP_WR_ATOMIC_CMP_AND_SWP :
					     ODP_WR_ATOMIC_FETCH_AND_ADD;
			wr[i].wr.atomic.remote_addr = raddr + SRV_AP * PS +
						      AW_OFF + (cas ? 8 : 0);
			wr[i].wr.atomic.rkey = rkey;
			wr[i].wr.atomic.compare_add = cas ? cas_cmp : fadd_of(r);
			wr[i].wr.atomic.swap = swap_of(t, r);
			wc_op[i] = cas ? ODP_WC_COMP_SWAP : ODP_WC_FETCH_ADD;
		}
	}
	beat(t, 10);
	err = odp_post_send(t->data.qp, wr, &bad);
	if (err)
		TFAIL(t, "post_send of the round's %d WRs: %s (bad wr %lld)",
		      NWR, strerror(err), bad ? (long long)(bad->wr_id - base) : -1);
	if (collect(t, base, sig, wc_op, &c)) {
		peer_lost(t, 2, "data completions");
		return 1;
	}
	beat(t, 11);
	/* Remote pages: what happened to them, and the next window. */
	for (int p = 0; p < SRV_NPAGES; p++) {
		rdisc[p] = t_disc(&rpg[p], &t->rwin[p]);
		rany[p] = t_any(&rpg[p], &t->rwin[p]);
		rbrk[p] = t_brk(&rpg[p], &t->rwin[p]);
	}
	if (c.k < NWR) {
		if (peer_gone(t)) {
			peer_lost(t, 1, "data WR");
			return 1;
		}
		check_error_legal(t, &c, swin, dwin, rpg, soff, L);
		ADD(t, S_WR_FLUSHED, (uint64_t)(NWR - c.k - 1));
	}
	for (int p = 0; p < SRV_NPAGES; p++)
		win_open(&rpg[p], &t->rwin[p]);
	rep->chk_prev_ms = t->check_ms;
	t->check_ms = rel_ms();
	ADD(t, S_WR_OK, (uint64_t)c.k);

	/* Sources: the CPU view is unchanged, or zeros where disc. */
	pthread_mutex_lock(&src->lock);
	sa = src->addr;
	for (int p = 0; p < src->npages; p++) {
		const uint8_t *pg = (const uint8_t *)sa + (size_t)p * PS;
		int disc = t_disc(&src->sh->pg[p], &swin[p]);
		long d;

		if (disc)
			p < NP ? (src_disc |= 1u << p) :
				 (ssrc_disc |= 1u << (p - SRC_SEND));
		if (p < NP) {
			long h = diff_const(pg, SLOT_IN, 0);
			long tl = diff_const(pg + SLOT_IN + SLOT_LEN, SLOT_IN, 0);

			if (h >= 0 || tl >= 0)
				TFAIL(t, "round %u: source page %d: byte %ld outside "
				      "the slot is not 0", r, p,
				      h >= 0 ? h : SLOT_IN + SLOT_LEN + tl);
			d = diff_pattern(pg + SLOT_IN, SLOT_LEN, seed_w(t, r, p), 0);
			if (d >= 0 && !(disc && diff_const(pg + SLOT_IN, SLOT_LEN,
							   0) < 0))
				TFAIL(t, "round %u: source page %d (%s) changed: "
				      "byte %ld is 0x%02x, expected 0x%02x%s", r, p,
				      bk_names[src->kind], SLOT_IN + d,
				      pg[SLOT_IN + d], pattern_byte(seed_w(t, r, p),
							(size_t)d),
				      disc ? " or all zeros" : "");
		} else {
			/* The SEND area, page p - SRC_SEND. */
			size_t a0 = (size_t)(p - SRC_SEND) * PS;

			for (size_t x = 0; x < PS; x++) {
				size_t ao = a0 + x;
				uint8_t want = ao >= soff && ao < soff + L ?
					pattern_byte(seed_s(t, r), ao - soff) : 0;

				if (pg[x] == want)
					continue;
				if (disc && diff_const(pg, PS, 0) < 0)
					break;
				TFAIL(t, "round %u: SEND source page %d changed: "
				      "byte %zu is 0x%02x, expected 0x%02x (message "
				      "at %zu, %zu bytes)%s", r, p - SRC_SEND, x,
				      pg[x], want, soff, L,
				      disc ? " or all zeros" : "");
			}
		}
		bytes += PS;
	}
	pthread_mutex_unlock(&src->lock);

	/* READ results and atomics in the destination. */
	pthread_mutex_lock(&dst->lock);
	da = dst->addr;
	for (int p = 0; p < DST_NPAGES; p++) {
		const uint8_t *pg = (const uint8_t *)da + (size_t)p * PS;
		int ldisc = t_disc(&dst->sh->pg[p], &dwin[p]);
		int any = t_any(&dst->sh->pg[p], &dwin[p]) || rany[p] ||
			  (p < NP && t_any(&src->sh->pg[p], &swin[p]));

		if (p < NP) {
			size_t ranges[2][2] = { { 0, SLOT_IN },
						{ SLOT_IN + SLOT_LEN, SLOT_IN } };
			uint32_t seed = seed_w(t, r, p);
			long d;

			for (int j = 0; j < 2; j++) {
				const uint8_t *h = pg + ranges[j][0];

				if (diff_const(h, ranges[j][1], 0xee) >= 0 &&
				    !(ldisc && diff_const(h, ranges[j][1], 0) < 0))
					TFAIL(t, "round %u: READ into page %d wrote "
					      "outside its SGE: byte %zu is 0x%02x",
					      r, p, ranges[j][0] + (size_t)
					      diff_const(h, ranges[j][1], 0xee),
					      h[diff_const(h, ranges[j][1], 0xee)]);
			}
			bytes += 2 * SLOT_IN;
			if (IDX_R(p) >= c.k)
				continue;
			d = diff_pattern(pg + SLOT_IN, SLOT_LEN, seed, 0);
			if (d < 0) {
				ADD(t, any ? S_PG_LENIENT : S_PG_STRICT, 1);
			} else if ((ldisc || rdisc[p] || (src_disc >> p & 1)) &&
				   diff_const(pg + SLOT_IN, SLOT_LEN, 0) < 0) {
				ADD(t, S_PG_ZERO, 1);
			} else {
				TFAIL(t, "round %u: READ of page %d returned neither "
				      "the data written (seed %#x: byte %ld is 0x%02x, "
				      "expected 0x%02x)%s; disc-touched: local %d, "
				      "remote %d, source %d", r, p, seed, SLOT_IN + d,
				      pg[SLOT_IN + d], pattern_byte(seed, (size_t)d),
				      ldisc || rdisc[p] || (src_disc >> p & 1) ?
				      " nor zeros" : "", ldisc, rdisc[p],
				      src_disc >> p & 1);
			}
			bytes += SLOT_LEN;
		} else {
			/* Atomic results at AR_OFF, AR_OFF + 8; 0xee elsewhere. */
			for (size_t x = 0; x < PS; x++) {
				if (x >= AR_OFF && x < AR_OFF + 16)
					continue;
				if (pg[x] != 0xee && !(ldisc && pg[x] == 0))
					TFAIL(t, "round %u: atomic results page: byte "
					      "%zu is 0x%02x (outside the SGEs)", r, x,
					      pg[x]);
			}
			bytes += PS - 16;
			for (int w = 0; w < 2; w++) {
				int idx = w ? IDX_CAS : IDX_FADD, cas = w;
				uint64_t a = cas ? cas_cmp : fadd_of(r);
				uint64_t sw = swap_of(t, r), v;
				struct cands *cd = &t->cand[w];
				char cs[256];

				memcpy(&v, pg + AR_OFF + 8 * w, 8);
				if (rdisc[SRV_AP])
					c_add(cd, 0);
				if (idx < c.k && !(ldisc && v == 0)) {
					if (!c_has(cd, v) && !abad) {
						/* The server adds its view and fails. */
						c_fmt(cd, cs, sizeof(cs));
						abad = (uint32_t)w + 1;
						abad_got = v;
						abad_add = a;
						snprintf(abad_text, sizeof(abad_text),
							 "%s returned %#llx, the word can only "
							 "hold %.60s (server's view at GO %u; remote "
							 "atomic page touched %d, brk %d, disc "
							 "%d)", cas ? "CMP_SWAP" : "FETCH_ADD",
							 (unsigned long long)v, cs,
							 t->cand_round[w], rany[SRV_AP],
							 rbrk[SRV_AP], rdisc[SRV_AP]);
					}
					c_set(cd, c_apply1(cas, v, a, sw));
					t->cand_round[w] = r;
					ADD(t, S_ATOMIC_OK, 1);
					bytes += 8;
				} else {
					if (idx < c.k)
						ADD(t, S_ATOMIC_UNREAD, 1);
					c_maybe(cd, cas, a, sw);
				}
				if (rdisc[SRV_AP])
					c_add(cd, 0);
			}
		}
	}
	pthread_mutex_unlock(&dst->lock);

	{
		uint32_t prev = rep->chk_prev_ms;

		memset(rep, 0, sizeof(*rep));
		rep->chk_prev_ms = prev;
		rep->chk_ms = t->check_ms;
	}
	rep->magic = CMAGIC;
	rep->type = M_REPORT;
	rep->round = r;
	rep->k = c.k;
	rep->e = c.e;
	rep->status = (uint32_t)c.status;
	rep->local_err = c.e >= 0 && is_loc_err(c.status);
	rep->reconnect = c.k < NWR;
	rep->src_disc = src_disc;
	rep->ssrc_disc = ssrc_disc;
	rep->send_len = (uint32_t)L;
	rep->send_off = (uint32_t)soff;
	rep->cas_cmp = cas_cmp;
	rep->abad = abad;
	rep->abad_round = r;
	rep->abad_got = abad_got;
	rep->abad_add = abad_add;
	memcpy(rep->abad_text, abad_text, sizeof(rep->abad_text));
	for (int w = 0; w < 2; w++) {
		rep->cand_n[w] = (uint32_t)t->cand[w].n;
		rep->cand_unknown[w] = (uint32_t)t->cand[w].unknown;
		memcpy(rep->cand[w], t->cand[w].v, sizeof(rep->cand[w]));
	}
	ADD(t, S_ROUNDS, 1);
	ADD(t, S_BYTES, bytes);
	/* Our MRs' counters, for the totals (also if we get killed). */
	for (int i = 0; i < 2; i++) {
		pthread_mutex_lock(&t->b[i].lock);
		buf_refresh_stats(&t->b[i], t->tag);
		pthread_mutex_unlock(&t->b[i].lock);
	}
	mr_add_stats(t->cmr, NULL, t->sh->buf[2].live, t->tag);
	return 0;
}

/*
 * Connect a link, retrying while the server is (re)starting: 0, -1 at the
 * stop, 1 if the server we talk to was killed meanwhile (a data link:
 * its replacement waits for a control connection first).
 */
static int client_connect(struct thr *t, struct link *l, int data)
{
	struct sockaddr_in a = addr_of(port_of(W.pair, t->idx, data));
	uint64_t start = now_ms();
	uint32_t kills = ld32(&shm->proc[W.pi ^ 1].kills);

	for (int tries = 0;; tries++) {
		int err;

		if (stopping())
			return -1;
		link_create(t, l, data ? &data_caps : &ctrl_caps);
		if (!data)
			ctrl_prep(t);
		beat(t, data ? 2 : 1);
		err = odp_connect(l->qp, (struct sockaddr *)&a, 5000);
		if (!err)
			return 0;
		link_destroy(t, l);
		if (tries)
			ADD(t, S_CONNECT_RETRIES, 1);
		if (data && peer_gone(t))
			return 1;
		/* The bound restarts whenever the server was killed again. */
		if (ld32(&shm->proc[W.pi ^ 1].kills) != kills) {
			kills = ld32(&shm->proc[W.pi ^ 1].kills);
			start = now_ms();
		}
		if (now_ms() - start > (uint64_t)opt.hang_s * 1000)
			TFAIL(t, "cannot connect to %s:%d for %d s (last error %s)",
			      opt.addr, ntohs(a.sin_port), opt.hang_s,
			      strerror(err));
		sleep_us(20000 + rndn(&t->rng, 100000));
	}
}

static void *client_thread(void *arg)
{
	struct thr *t = arg;
	struct cmsg m, rep;

	while (!stopping()) {
		int rc;

		t->peer_kills0 = ld32(&shm->proc[W.pi ^ 1].kills);
		t->peer_inc = 0;
		if (client_connect(t, &t->ctrl, 0))
			break;
		if (client_connect(t, &t->data, 1)) {
			link_destroy(t, &t->ctrl);
			continue;
		}
		/*
		 * The remote window opens before HELLO: the server reads the
		 * address and rkey for its first GO after HELLO, and an mremap
		 * that changes them must be inside the window.
		 */
		for (int p = 0; p < SRV_NPAGES; p++)
			win_open(&t->peer->buf[0].pg[p], &t->rwin[p]);
		memset(&m, 0, sizeof(m));
		m.magic = CMAGIC;
		m.type = M_HELLO;
		m.inc = my_inc;
		rc = ctrl_send(t, &m);
		while (!rc) {
			beat(t, 3);
			rc = ctrl_recv(t, &m, opt.hang_s * 1000);
			if (rc)
				break;
			if (m.type != M_GO)
				TFAIL(t, "expected GO, got message type %u", m.type);
			if (stopping()) {
				memset(&m, 0, sizeof(m));
				m.magic = CMAGIC;
				m.type = M_BYE;
				ctrl_send(t, &m);
				goto out;
			}
			/*
			 * What the atomic words hold: what the server saw at its
			 * check, with no WR outstanding (atomics of the last round
			 * that may have executed late, after our check, are in).
			 */
			for (int w = 0; w < 2; w++) {
				c_set(&t->cand[w], m.aw[w]);
				t->cand_round[w] = m.round;
			}
			t->peer_inc = m.inc;
			if (client_round(t, &m, &rep)) {
				rc = -1;
				break;
			}
			rc = ctrl_send(t, &rep);
			if (rep.abad) {
				/* The server's message has its view of the word. */
				for (int i = 0; i < 100 && !shm->failed; i++)
					sleep_us(100000);
				TFAIL(t, "round %u: %s", rep.round, rep.abad_text);
			}
			if (rc)
				break;
			if (rep.reconnect) {
				link_destroy(t, &t->data);
				ADD(t, S_RECONNECT_DATA, 1);
				rc = client_connect(t, &t->data, 1);
				if (rc) {
					if (rc > 0)
						peer_lost(t, 1, "data reconnect");
					rc = -1;
					break;
				}
			}
		}
		if (rc > 0)
			peer_lost(t, rc, rc == 2 ? "control" : "control link");
		link_destroy(t, &t->data);
		link_destroy(t, &t->ctrl);
		ADD(t, S_RECONNECT_ALL, 1);
	}
out:
	link_destroy(t, &t->data);
	link_destroy(t, &t->ctrl);
	return NULL;
}

/* ---- the server ------------------------------------------------------------- */

/* The PFN backing addr (0: none or unknown), from /proc/self/pagemap. */
static uint64_t pfn_of(const void *addr)
{
	static __thread int fd = -1;
	uint64_t e = 0;

	if (fd < 0)
		fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, &e, sizeof(e),
			    (off_t)((uintptr_t)addr / PS * sizeof(e))) != sizeof(e))
		return 0;
	return e >> 63 ? e & ((1ULL << 55) - 1) : 0;
}

static int node_of(void *addr)
{
	int status = -1;

	if (move_pages(0, 1, &addr, NULL, &status, 0))
		return -1;
	return status;
}


/*
 * Check the receive area after round r: the SEND's L bytes (landed 1), or
 * maybe part of them (2: its receive failed), or nothing (0); zeros
 * elsewhere.  Zeros are also allowed where a disc mutation touched the
 * receive page or the client's source page (rep->ssrc_disc).
 */
static uint64_t srv_check_recv_area(struct thr *t, const uint8_t *ra,
				    uint32_t r, const struct cmsg *rep,
				    int landed)
{
	size_t L = landed ? rep->send_len : 0, soff = rep->send_off;
	uint32_t seed = seed_s(t, r);

	/* Pieces: boundaries of the receive pages and the source pages. */
	for (size_t i = 0; i < RP * PS;) {
		size_t end;
		int rdisc, sdisc = 0, zok;
		long d;

		if (i < L) {
			size_t nr = (i / PS + 1) * PS, ns = ((soff + i) / PS + 1) *
							    PS - soff;

			end = nr < ns ? nr : ns;
			if (end > L)
				end = L;
			sdisc = rep->ssrc_disc >> ((soff + i) / PS) & 1;
		} else {
			end = (i / PS + 1) * PS;
		}
		rdisc = t_disc(&t->b[0].sh->pg[SRV_RECV + i / PS],
			       &t->swin[SRV_RECV + i / PS]);
		zok = rdisc || sdisc || landed == 2;
		if (i < L) {
			char runs[256];

			d = diff_pattern(ra + i, end - i, seed, i);
			if (d >= 0 && !(zok && diff_const(ra + i, end - i, 0) < 0))
				TFAIL(t, "round %u: received SEND (%zu bytes from "
				      "source offset %zu): byte %zu is 0x%02x, "
				      "expected 0x%02x%s; bytes %zu-%zu hold: %s "
				      "(disc-touched: receive page %d, source page %d; "
				      "landed %d)", r, L, soff, i + (size_t)d,
				      ra[i + d], pattern_byte(seed, i + (size_t)d),
				      zok ? " or zeros" : "", i, end - 1,
				      byte_runs(ra + i, end - i, seed, seed_s(t, r - 1),
						i, runs, sizeof(runs)),
				      rdisc, sdisc, landed);
		} else {
			d = diff_const(ra + i, end - i, 0);
			if (d >= 0)
				TFAIL(t, "round %u: receive area byte %zu is 0x%02x, "
				      "expected 0 (%s, message %zu bytes)", r,
				      i + (size_t)d, ra[i + d],
				      landed ? "beyond the message" :
				      "no message landed", L);
		}
		i = end;
	}
	return RP * PS;
}

/*
 * The receive completions of round r: #0 (wr_id 2r) for the
 * WRITE_WITH_IMM, #1 (2r + 1) for the SEND.  exec[j]: its WR may have
 * executed (1) or must have (2).  wait: both must come (the round
 * succeeded); otherwise the QP is gone already and we take what is there.
 * lost: no report (the client is gone): the SEND's length is learnt from
 * the completion (rep->send_len).  Returns what of the SEND landed: 0
 * nothing, 1 all, 2 maybe part (its receive failed).
 */
static int srv_recvs(struct thr *t, uint32_t r, struct cmsg *rep,
		     const int *exec, int wait, int lost)
{
	int got = 0, landed = 0;
	struct odp_wc wc;

	while (got < 2) {
		uint64_t want = 2 * (uint64_t)r + (uint64_t)got;

		if (!poll1(t, t->data.rcq, &wc, wait ? opt.hang_s * 1000 : 0)) {
			if (wait)
				TFAIL(t, "round %u: receive %d of the round did not "
				      "complete within %d s, though the client's "
				      "WR completed", r, got, opt.hang_s);
			break;
		}
		if (wc.wr_id != want)
			TFAIL(t, "round %u: receive completion wr_id %llu (%s), "
			      "expected %llu", r, (unsigned long long)wc.wr_id,
			      st(wc.status), (unsigned long long)want);
		if (wc.status < NSTATUS)
			ADD(t, S_SRV_ST + (int)wc.status, 1);
		if (wc.status == ODP_WC_SUCCESS) {
			int sendr = got == 1;
			uint32_t imm = htonl(sendr ? r ^ 0x5e000000u : r);

			if (sendr && lost)
				rep->send_len = wc.byte_len;
			if (!exec[got])
				TFAIL(t, "round %u: receive %d completed, but its "
				      "%s cannot have executed (k %d, error wr %d %s)",
				      r, got, sendr ? "SEND" : "WRITE_WITH_IMM",
				      rep->k, rep->e, st((int)rep->status));
			if ((int)wc.opcode != (sendr ? ODP_WC_RECV :
					       ODP_WC_RECV_RDMA_WITH_IMM) ||
			    !(wc.wc_flags & ODP_WC_WITH_IMM) || wc.imm_data != imm ||
			    (sendr && wc.byte_len != rep->send_len) ||
			    (sendr && (!wc.byte_len || wc.byte_len >= RP * PS)))
				TFAIL(t, "round %u: receive %d: opcode %d flags %#x "
				      "imm %#x byte_len %u, expected opcode %d, imm "
				      "%#x, %u bytes", r, got, wc.opcode, wc.wc_flags,
				      wc.imm_data, wc.byte_len,
				      sendr ? ODP_WC_RECV : ODP_WC_RECV_RDMA_WITH_IMM,
				      imm, sendr ? rep->send_len : 0);
			ADD(t, S_RECV_OK, 1);
			if (sendr)
				landed = 1;
		} else if (wc.status == ODP_WC_WR_FLUSH_ERR) {
			ADD(t, S_RECV_FLUSH, 1);
		} else {
			uint32_t m = rep->send_len ? pages_mask(0, rep->send_len) :
						     (1u << RP) - 1;
			int ok = 0;

			for (int p = 0; p < RP; p++)
				ok |= (m >> p & 1) &&
				      t_brk(&t->b[0].sh->pg[SRV_RECV + p],
					    &t->swin[SRV_RECV + p]);
			if (got != 1 || !is_loc_err(wc.status) || !ok)
				TFAIL(t, "round %u: receive %d completed with %s (%d)"
				      "%s", r, got, st(wc.status), wc.status,
				      got == 1 && is_loc_err(wc.status) ?
				      ", but no munmap, mprotect or mremap touched "
				      "the receive area" : "");
			if (lost)
				rep->send_len = RP * PS - 1;
			ADD(t, S_RECV_ERR, 1);
			landed = 2;
		}
		got++;
	}
	for (int j = 0; j < 2; j++)
		if (exec[j] == 2 && got <= j)
			TFAIL(t, "round %u: receive %d never completed, but its WR "
			      "succeeded", r, j);
	return landed;
}

/*
 * Check the server's memory after round r (buffer lock held), given the
 * client's report (or, when the client was lost, a report that says
 * nothing is known: k 0, e -1, every source page disc, atomics unknown).
 */
static void srv_check(struct thr *t, uint32_t r, const struct cmsg *rep,
		      int landed)
{
	struct buf *b = &t->b[0];
	const uint8_t *ba = (const uint8_t *)b->addr;
	uint64_t bytes = 0;
	int k = rep->k, e = rep->e, local = (int)rep->local_err;

	for (int p = 0; p < NP; p++) {
		const uint8_t *pg = ba + (size_t)p * PS;
		uint32_t seed = seed_w(t, r, p), old = t->known[p];
		int disc = t_disc(&b->sh->pg[p], &t->swin[p]);
		int any = t_any(&b->sh->pg[p], &t->swin[p]);
		int i = IDX_W(p), must = i < k, may, zok, is_new, is_zero, is_old;
		long h = diff_const(pg, SLOT_IN, 0);
		long tl = diff_const(pg + SLOT_IN + SLOT_LEN, SLOT_IN, 0);

		may = must || e < 0 || i <= e || local;
		zok = disc || (may && (rep->src_disc >> p & 1));
		if (h >= 0 || tl >= 0)
			TFAIL(t, "round %u: page %d: byte %ld outside the slot is "
			      "0x%02x, expected 0", r, p,
			      h >= 0 ? h : SLOT_IN + SLOT_LEN + tl,
			      h >= 0 ? pg[h] : pg[SLOT_IN + SLOT_LEN + tl]);
		is_new = diff_pattern(pg + SLOT_IN, SLOT_LEN, seed, 0) < 0;
		is_zero = diff_const(pg + SLOT_IN, SLOT_LEN, 0) < 0;
		is_old = old ? diff_pattern(pg + SLOT_IN, SLOT_LEN, old, 0) < 0 :
			       is_zero;
		if (!((is_new && may) || (is_old && !must) || (is_zero && zok))) {
			uint32_t ref = may ? seed : old;
			long d = ref ? diff_pattern(pg + SLOT_IN, SLOT_LEN, ref, 0) :
				       diff_const(pg + SLOT_IN, SLOT_LEN, 0);

			if (d < 0)
				d = 0;
			TFAIL(t, "round %u: page %d (%s buffer): the slot holds "
			      "neither %s%s%s (first difference at byte %ld: 0x%02x "
			      "vs 0x%02x); WRITE %d %s (k %d, error wr %d %s), %s",
			      r, p, bk_names[b->kind],
			      may ? "this round's data" : "",
			      !must ? (may ? " nor its last data" : "its last data") : "",
			      zok ? " nor zeros" : "", SLOT_IN + d,
			      pg[SLOT_IN + d], ref ? pattern_byte(ref, (size_t)d) : 0,
			      i, must ? "succeeded" : may ? "may have executed" :
			      "did not execute", k, e, st((int)rep->status),
			      disc ? "disc-touched" : any ? "touched, not disc" :
			      "no mutation");
		}
		if (is_new && may)
			ADD(t, !must ? S_PG_MAYBE_NEW : any ? S_PG_LENIENT :
			    S_PG_STRICT, 1);
		else if (is_old && !must)
			ADD(t, S_PG_OLD, 1);
		else
			ADD(t, S_PG_ZERO, 1);
		t->known[p] = is_new && may ? seed : is_old && !must ? old : 0;
		bytes += PS;
	}
	/* The atomic page: two words, zeros elsewhere. */
	{
		const uint8_t *pg = ba + (size_t)SRV_AP * PS;
		int disc = t_disc(&b->sh->pg[SRV_AP], &t->swin[SRV_AP]);

		for (size_t x = 0; x < PS; x++)
			if ((x < AW_OFF || x >= AW_OFF + 16) && pg[x])
				TFAIL(t, "round %u: atomic page byte %zu is 0x%02x, "
				      "expected 0", r, x, pg[x]);
		bytes += PS - 16;
		for (int w = 0; w < 2; w++) {
			struct cands c = { .n = (int)rep->cand_n[w],
					   .unknown = (int)rep->cand_unknown[w] };
			uint64_t v;
			char cs[256];

			int i = w ? IDX_CAS : IDX_FADD;
			int maybe = i >= k && (e < 0 || i <= e || local);

			memcpy(c.v, rep->cand[w], sizeof(c.v));
			memcpy(&v, pg + AW_OFF + 8 * w, 8);
			/*
			 * Zeroed since the client's check; and an atomic that may
			 * have executed may have done so after that, until we took
			 * the QP down.
			 */
			if (disc) {
				c_add(&c, 0);
				if (maybe)
					c_add(&c, c_apply1(w, 0, w ? rep->cas_cmp :
							   fadd_of(r), swap_of(t, r)));
			}
			if (!c_has(&c, v) || rep->abad == (uint32_t)w + 1) {
				char hist[600], mig[200];
				const struct pgcnt *pc = &b->sh->pg[SRV_AP];
				size_t o = 0;

				c_fmt(&c, cs, sizeof(cs));
				hist_fmt(b->sh, SRV_AP, hist, sizeof(hist));
				mig[0] = 0;
				for (int j = 0; j < 4; j++)
					o += (size_t)snprintf(mig + o, sizeof(mig) - o,
						" pid %d@%llu-%llu", shm->mig_pid[j],
						(unsigned long long)shm->mig_t0[j],
						(unsigned long long)shm->mig_t1[j]);
				TFAIL(t, "round %u: atomic word %d: %s%s; the server's "
				      "CPU sees %#llx (%s), saw %#llx at GO "
				      "(at %llu ms, pfn %#llx node %d; now pfn %#llx node "
				      "%d; the client checked at %u and %u ms); "
				      "%s buffer at %p, atomic page counters st %u dn %u "
				      "disc %u/%u brk %u/%u, server window: touched %d "
				      "disc %d brk %d; its last mutations:%s; the "
				      "supervisor's last migrate_pages():%s", r, w,
				      rep->abad == (uint32_t)w + 1 ? "the client's " : "",
				      rep->abad == (uint32_t)w + 1 ? rep->abad_text :
				      "the client's results say it can only be",
				      (unsigned long long)v,
				      rep->abad != (uint32_t)w + 1 ? cs :
				      v == rep->abad_got + rep->abad_add ?
				      "= what it returned + the add: the page held it" :
				      "not what the atomic returned + the add",
				      (unsigned long long)t->aw_seen[w],
				      (unsigned long long)t->aw_ms,
				      (unsigned long long)t->aw_pfn, t->aw_node,
				      (unsigned long long)pfn_of(pg), node_of((void *)pg),
				      rep->chk_prev_ms, rep->chk_ms,
				      bk_names[b->kind], (void *)b->addr,
				      pc->st, pc->dn, pc->dst, pc->ddn, pc->bst, pc->bdn,
				      t_any(pc, &t->swin[SRV_AP]), disc,
				      t_brk(pc, &t->swin[SRV_AP]), hist, mig);
			}
			if (!c.unknown)
				bytes += 8;
		}
	}
	bytes += srv_check_recv_area(t, ba + (size_t)SRV_RECV * PS, r, rep,
				     landed);
	ADD(t, S_BYTES, bytes);
}

/* After a check (buffer lock held): a fresh receive area, new windows. */
static void srv_prepare(struct thr *t)
{
	struct buf *b = &t->b[0];

	memset(b->addr + (size_t)SRV_RECV * PS, 0, RP * PS);
	for (int p = 0; p < b->npages; p++)
		win_open(&b->sh->pg[p], &t->swin[p]);
	buf_refresh_stats(b, t->tag);
	mr_add_stats(t->cmr, NULL, t->sh->buf[2].live, t->tag);
}

static void srv_post_recvs(struct thr *t, uint32_t r, uint64_t addr,
			   uint32_t lkey)
{
	struct odp_sge sge[2];
	struct odp_recv_wr wr[2], *bad;
	int err;

	for (int j = 0; j < 2; j++) {
		sge[j] = (struct odp_sge){ addr + SRV_RECV * PS, RP * PS, lkey };
		wr[j] = (struct odp_recv_wr){ .wr_id = 2 * (uint64_t)r + (uint64_t)j,
					      .next = j ? NULL : &wr[1],
					      .sg_list = &sge[j], .num_sge = 1 };
	}
	err = odp_post_recv(t->data.qp, wr, &bad);
	if (err)
		TFAIL(t, "post_recv (data): %s", strerror(err));
}

/*
 * Accept on a listener, in 1 s attempts (each with a new QP: a failed
 * accept leaves it in error) for up to bound_ms (0: until the stop).
 * 0, or an errno value.
 */
static int srv_accept(struct thr *t, struct odp_listener *lis, struct link *l,
		      int data, int bound_ms)
{
	uint64_t start = now_ms();
	int err;

	for (;;) {
		beat(t, data ? 21 : 20);
		link_create(t, l, data ? &data_caps : &ctrl_caps);
		if (!data)
			ctrl_prep(t);
		err = odp_accept(lis, l->qp, 1000);
		if (!err)
			return 0;
		link_destroy(t, l);
		if (stopping())
			return ECANCELED;
		if (data && t->peer_inc && peer_gone(t))
			return ECONNABORTED;
		if (bound_ms && now_ms() - start > (uint64_t)bound_ms)
			return err;
	}
}

/*
 * The client of round r is gone: take the data QP down first (nothing
 * executes after), then see what landed; every page may hold its last data,
 * the round's, or zeros.
 */
static void srv_lost(struct thr *t, uint32_t r, int sent_go)
{
	static const int maybe[2] = { 1, 1 };
	struct cmsg rep = { .k = 0, .e = -1, .local_err = 1,
			    .src_disc = ~0u, .ssrc_disc = ~0u,
			    .cand_unknown = { 1, 1 } };
	int landed = 0;

	link_destroy_qp(t, &t->data);
	if (sent_go && t->data.rcq)
		landed = srv_recvs(t, r, &rep, maybe, 0, 1);
	link_destroy(t, &t->data);
	if (sent_go) {
		pthread_mutex_lock(&t->b[0].lock);
		srv_check(t, r, &rep, landed);
		srv_prepare(t);
		pthread_mutex_unlock(&t->b[0].lock);
		ADD(t, S_SRV_CHECKS, 1);
		ADD(t, S_LOST_SETTLES, 1);
	}
}

static void *server_thread(void *arg)
{
	struct thr *t = arg;
	struct cmsg m;

	memset(t->known, 0, sizeof(t->known));
	pthread_mutex_lock(&t->b[0].lock);
	srv_prepare(t);
	pthread_mutex_unlock(&t->b[0].lock);
	while (!stopping()) {
		int rc, sent_go = 0;

		t->peer_inc = 0;
		if (srv_accept(t, t->lis_ctrl, &t->ctrl, 0, 0))
			continue;
		if (srv_accept(t, t->lis_data, &t->data, 1, opt.hang_s * 1000)) {
			/* The client died between its two connects. */
			link_destroy(t, &t->ctrl);
			continue;
		}
		rc = ctrl_recv(t, &m, opt.hang_s * 1000);
		if (!rc && m.type != M_HELLO)
			TFAIL(t, "expected HELLO, got message type %u", m.type);
		if (!rc)
			t->peer_inc = m.inc;
		while (!rc) {
			int exec[2], landed;
			uint32_t r = t->sh->srv_round;
			struct cmsg go = { .magic = CMAGIC, .type = M_GO };

			pthread_mutex_lock(&t->b[0].lock);
			go.round = r;
			go.inc = my_inc;
			go.raddr = (uintptr_t)t->b[0].addr;
			go.rkey = t->b[0].mr->rkey;
			/*
			 * The atomic words now, with no WR outstanding: the
			 * client's window opened before (at its last check, or
			 * before HELLO), so what happens to them after is in it.
			 */
			memcpy(t->aw_seen, t->b[0].addr + (size_t)SRV_AP * PS +
			       AW_OFF, sizeof(t->aw_seen));
			t->aw_pfn = pfn_of(t->b[0].addr + (size_t)SRV_AP * PS);
			t->aw_node = node_of(t->b[0].addr + (size_t)SRV_AP * PS);
			t->aw_ms = rel_ms();
			go.aw[0] = t->aw_seen[0];
			go.aw[1] = t->aw_seen[1];
			srv_post_recvs(t, r, go.raddr, t->b[0].mr->lkey);
			pthread_mutex_unlock(&t->b[0].lock);
			beat(t, 22);
			sent_go = 1;
			rc = ctrl_send(t, &go);
			if (rc)
				break;
			rc = ctrl_recv(t, &m, opt.hang_s * 1000);
			if (rc)
				break;
			if (m.type == M_BYE)
				goto out;
			if (m.type != M_REPORT || m.round != r)
				TFAIL(t, "expected the REPORT of round %u, got type %u "
				      "round %u", r, m.type, m.round);
			beat(t, 23);
			/* Which receive-consuming WRs executed. */
			for (int j = 0; j < 2; j++) {
				int i = j ? IDX_SEND : IDX_W(NP - 1);

				exec[j] = i < m.k ? 2 : m.e < 0 || i <= m.e ||
					  m.local_err ? 1 : 0;
			}
			if (m.reconnect) {
				/* WRs sent before the client's QP stopped may
				 * still be here: none executes after this. */
				link_destroy_qp(t, &t->data);
				landed = srv_recvs(t, r, &m, exec, 0, 0);
				link_destroy(t, &t->data);
			} else {
				landed = srv_recvs(t, r, &m, exec, 1, 0);
			}
			pthread_mutex_lock(&t->b[0].lock);
			srv_check(t, r, &m, landed);
			srv_prepare(t);
			pthread_mutex_unlock(&t->b[0].lock);
			ADD(t, S_SRV_CHECKS, 1);
			t->sh->srv_round = r + 1;
			sent_go = 0;
			if (m.reconnect) {
				int err;

				ADD(t, S_RECONNECT_DATA, 1);
				err = srv_accept(t, t->lis_data, &t->data, 1,
						 opt.hang_s * 1000);
				if (err) {
					if (!peer_gone(t) && !stopping())
						TFAIL(t, "the client did not reconnect "
						      "its data QP within %d s: %s",
						      opt.hang_s, strerror(err));
					rc = 1;
					break;
				}
			}
		}
		if (rc)
			peer_lost(t, rc, "control link");
		srv_lost(t, t->sh->srv_round, sent_go);
		if (sent_go)
			t->sh->srv_round++;
		link_destroy(t, &t->ctrl);
		ADD(t, S_RECONNECT_ALL, 1);
	}
out:
	link_destroy(t, &t->data);
	link_destroy(t, &t->ctrl);
	return NULL;
}

/* ---- a worker process ------------------------------------------------------- */

static void thr_setup(struct thr *t)
{
	int err;

	t->ctx = odp_open_device(NULL);
	if (!t->ctx)
		TFAIL(t, "odp_open_device: %s", strerror(errno));
	err = odp_bind_device(t->ctx, opt.dev, 1, NULL);
	if (err)
		TFAIL(t, "odp_bind_device(%s): %s", opt.dev, strerror(err));
	t->pd = odp_alloc_pd(t->ctx);
	if (!t->pd)
		TFAIL(t, "odp_alloc_pd: %s", strerror(errno));
	t->cmem = mmap(NULL, PS, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->cmem == MAP_FAILED)
		TFAIL(t, "mmap: %s", strerror(errno));
	t->cmr = odp_reg_mr(t->pd, t->cmem, PS,
			    ODP_ACCESS_ON_DEMAND | ODP_ACCESS_LOCAL_WRITE);
	if (!t->cmr)
		TFAIL(t, "odp_reg_mr(control): %s", strerror(errno));
	ADD(t, S_MR_REGS, 1);
	if (W.role == 0) {
		buf_create(&t->b[0], "server", SRV_NPAGES, (int)rndn(&t->rng, 3),
			   t->pd, ODP_ACCESS_LOCAL_WRITE | ODP_ACCESS_REMOTE_WRITE |
			   ODP_ACCESS_REMOTE_READ | ODP_ACCESS_REMOTE_ATOMIC,
			   &t->sh->buf[0], t, t->tag);
		t->nbuf = 1;
		for (int d = 0; d < 2; d++) {
			struct sockaddr_in a = addr_of(port_of(W.pair, t->idx, d));
			uint64_t start = now_ms();
			struct odp_listener **l = d ? &t->lis_data : &t->lis_ctrl;

			/* A killed predecessor's listener may linger a moment. */
			while (!(*l = odp_listen(t->ctx, (struct sockaddr *)&a, 8))) {
				if (errno != EADDRINUSE ||
				    now_ms() - start > (uint64_t)opt.hang_s * 1000)
					TFAIL(t, "odp_listen(%s:%d): %s", opt.addr,
					      ntohs(a.sin_port), strerror(errno));
				sleep_us(50000);
			}
		}
	} else {
		/* The sources need no local write: the device only reads them. */
		buf_create(&t->b[0], "source", SRC_NPAGES, (int)rndn(&t->rng, 3),
			   t->pd, 0, &t->sh->buf[0], t, t->tag);
		buf_create(&t->b[1], "destination", DST_NPAGES,
			   (int)rndn(&t->rng, 3), t->pd, ODP_ACCESS_LOCAL_WRITE,
			   &t->sh->buf[1], t, t->tag);
		t->nbuf = 2;
	}
	for (int i = 0; i < t->nbuf; i++)
		W.bufs[W.nbufs++] = &t->b[i];
	ADD(t, S_MR_REGS, t->nbuf);
}

static void thr_teardown(struct thr *t)
{
	for (int i = 0; i < t->nbuf; i++)
		buf_destroy(&t->b[i], t->tag);
	mr_add_stats(t->cmr, t->sh->buf[2].acc, NULL, t->tag);
	memset(t->sh->buf[2].live, 0, sizeof(t->sh->buf[2].live));
	if (odp_dereg_mr(t->cmr))
		TFAIL(t, "odp_dereg_mr(control): %s", strerror(errno));
	if (t->lis_ctrl && odp_destroy_listener(t->lis_ctrl))
		TFAIL(t, "odp_destroy_listener: %s", strerror(errno));
	if (t->lis_data && odp_destroy_listener(t->lis_data))
		TFAIL(t, "odp_destroy_listener: %s", strerror(errno));
	if (odp_dealloc_pd(t->pd))
		TFAIL(t, "odp_dealloc_pd: %s", strerror(errno));
	if (odp_close_device(t->ctx))
		TFAIL(t, "odp_close_device: %s", strerror(errno));
}

static void worker_main(int pi)
{
	struct rng mrng;

	me = pi;
	memset(&W, 0, sizeof(W));
	W.pi = pi;
	W.role = pi & 1;
	W.pair = pi / 2;
	W.sh = &shm->proc[pi];
	my_inc = W.sh->inc;
	W.rng.s = mix32((uint64_t)opt.seed << 32 | (uint64_t)my_inc << 8 |
			(uint64_t)pi) | (uint64_t)opt.seed << 32 | 1;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	W.forksnap_len = (size_t)opt.nthr * (SRV_NPAGES + SRC_NPAGES +
					     DST_NPAGES + 1) * PS;
	W.forksnap = malloc(W.forksnap_len);
	W.forkdiag = mmap(NULL, PS, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!W.forksnap || W.forkdiag == MAP_FAILED)
		fail_("worker", "out of memory");
	memset(W.forksnap, 0, W.forksnap_len);
	for (int i = 0; i < opt.nthr; i++) {
		struct thr *t = &W.thr[i];

		t->idx = i;
		t->w = &W;
		t->sh = &W.sh->thr[i];
		t->peer = &shm->proc[pi ^ 1].thr[i];
		t->rng.s = rnd(&W.rng) | 1;
		snprintf(t->tag, sizeof(t->tag), "%s%d.t%d",
			 W.role ? "client" : "server", W.pair, i);
		thr_setup(t);
	}
	mrng.s = rnd(&W.rng) | 1;
	if (pthread_create(&W.mut_th, NULL, mutator, &mrng))
		fail_("worker", "pthread_create");
	for (int i = 0; i < opt.nthr; i++)
		if (pthread_create(&W.thr[i].th, NULL,
				   W.role ? client_thread : server_thread,
				   &W.thr[i]))
			fail_("worker", "pthread_create");
	for (int i = 0; i < opt.nthr; i++)
		pthread_join(W.thr[i].th, NULL);
	W.mut_stop = 1;
	pthread_join(W.mut_th, NULL);
	for (int i = 0; i < opt.nthr; i++)
		thr_teardown(&W.thr[i]);
	fflush(stdout);
	_exit(T_PASS);
}

/* ---- the supervisor ----------------------------------------------------------- */

static pid_t spawn(int pi)
{
	pid_t pid;

	shm->proc[pi].inc = ++shm->inc_next;
	for (int t = 0; t < MAX_THR; t++)
		shm->proc[pi].thr[t].beat_ms = now_ms();
	pid = fork();
	if (pid < 0)
		fail_("supervisor", "fork: %s", strerror(errno));
	if (!pid)
		worker_main(pi);
	shm->proc[pi].pid = pid;
	return pid;
}

/* Fold a dead (or finished) incarnation's figures into the totals. */
static void fold(struct totals *to, int pi, int reset)
{
	struct procshm *p = &shm->proc[pi];

	for (int t = 0; t < MAX_THR; t++) {
		struct thrshm *th = &p->thr[t];

		for (int i = 0; i < S_N; i++) {
			if (s_is_max(i))
				to->s[i] = th->s[i] > to->s[i] ? th->s[i] : to->s[i];
			else
				to->s[i] += th->s[i];
		}
		for (int b = 0; b < 3; b++)
			for (int i = 0; i < ODP_STAT_MAX; i++)
				to->mr[i] += th->buf[b].acc[i] + th->buf[b].live[i];
		if (reset) {
			memset(th->s, 0, sizeof(th->s));
			for (int b = 0; b < 3; b++) {
				memset(th->buf[b].acc, 0, sizeof(th->buf[b].acc));
				memset(th->buf[b].live, 0, sizeof(th->buf[b].live));
			}
		}
	}
}

static int read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n, tot = 0;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf + tot, size - 1 - (size_t)tot)) > 0)
		tot += n;
	close(fd);
	buf[tot] = 0;
	return (int)tot;
}

static int write_text(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n < 0 ? -1 : 0;
}

static int dev_stats(uint64_t *v)
{
	static char buf[4096];
	char *line, *save;
	int n = 0;

	memset(v, 0, ODP_STAT_MAX * sizeof(*v));
	if (read_text(DEBUGFS "/stats", buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char name[64];
		unsigned long long val;

		if (sscanf(line, "%63s %llu", name, &val) != 2)
			continue;
		for (int i = 0; i < ODP_STAT_MAX; i++)
			if (odp_stat_name((unsigned int)i) &&
			    !strcmp(name, odp_stat_name((unsigned int)i))) {
				v[i] = val;
				n++;
			}
	}
	return n;
}

static int debugfs_mr_count(void)
{
	static char buf[1 << 20];
	int n = 0;

	if (read_text(DEBUGFS "/mrs", buf, sizeof(buf)) < 0)
		return -1;
	for (char *p = buf; *p; p++)
		n += *p == '\n';
	return n;
}

static long module_refcnt(void)
{
	char buf[64];

	if (read_text("/sys/module/odp/refcnt", buf, sizeof(buf)) < 0)
		return -1;
	return strtol(buf, NULL, 10);
}

struct memsnap {
	long mem_avail_kb, slab_kb, sunreclaim_kb;
	long kmalloc_kb;		/* active objects of kmalloc-* and odp caches */
	long odp_objs;
	long pcp_kb;			/* free pages on per-CPU lists */
};

/*
 * Free pages the per-CPU lists hold (the pagesets' "count:" lines of
 * /proc/zoneinfo).  MemAvailable leaves them out, and nothing a user can
 * write drains them: on 6.1 they swung by tens of MiB between two
 * snapshots of an idle VM, the size of the MemAvailable tolerance.
 */
static long pcp_free_kb(char *buf, size_t size)
{
	char *line, *save;
	long pages = 0, n;

	if (read_text("/proc/zoneinfo", buf, size) <= 0)
		return 0;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, " count: %ld", &n) == 1)
			pages += n;
	return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Settle what can be settled, then read the figures. */
static void mem_snapshot(struct memsnap *m)
{
	static char buf[1 << 18];
	DIR *d;
	struct dirent *e;
	char *line, *save;

	sync();
	write_text("/proc/sys/vm/drop_caches", "3");
	/* SLUB: release per-CPU and empty slabs of every cache. */
	d = opendir("/sys/kernel/slab");
	while (d && (e = readdir(d))) {
		char path[512];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", e->d_name);
		write_text(path, "1");
	}
	if (d)
		closedir(d);
	write_text("/proc/sys/vm/compact_memory", "1");
	memset(m, 0, sizeof(*m));
	if (read_text("/proc/meminfo", buf, sizeof(buf)) > 0) {
		for (line = strtok_r(buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			sscanf(line, "MemAvailable: %ld", &m->mem_avail_kb);
			sscanf(line, "Slab: %ld", &m->slab_kb);
			sscanf(line, "SUnreclaim: %ld", &m->sunreclaim_kb);
		}
	}
	m->pcp_kb = pcp_free_kb(buf, sizeof(buf));
	if (read_text("/proc/slabinfo", buf, sizeof(buf)) > 0) {
		long bytes = 0;

		for (line = strtok_r(buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char name[128];
			long active, num, size;

			if (sscanf(line, "%127s %ld %ld %ld", name, &active, &num,
				   &size) != 4)
				continue;
			if (!strncmp(name, "kmalloc-", 8) || strstr(name, "odp"))
				bytes += active * size;
			if (strstr(name, "odp"))
				m->odp_objs += active;
		}
		m->kmalloc_kb = bytes / 1024;
	}
}

static pid_t pids[MAX_PROCS];
static int killed_pid[MAX_PROCS];

/* Reap worker exits; a worker that ends by itself before the stop failed. */
static void reap(int block_all)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, block_all ? 0 : WNOHANG);
		int pi = -1;

		if (pid <= 0)
			return;
		for (int i = 0; i < opt.nproc; i++)
			if (pids[i] == pid)
				pi = i;
		if (pi < 0)
			continue;
		pids[pi] = 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == T_PASS &&
		    shm->stop)
			continue;
		if (!shm->failed)
			fprintf(stderr, "FAIL supervisor: worker %d (%s%d, pid %d) "
				"%s %d%s\n", pi, pi & 1 ? "client" : "server",
				pi / 2, pid, WIFEXITED(status) ? "exited with" :
				"killed by signal", WIFEXITED(status) ?
				WEXITSTATUS(status) : WTERMSIG(status),
				shm->stop ? "" : " before the end of the run");
		shm->failed = 1;
		shm->stop = 1;
	}
}

static void dump_phases(void)
{
	uint64_t now = now_ms();

	for (int i = 0; i < opt.nproc; i++)
		for (int t = 0; t < opt.nthr; t++) {
			struct thrshm *th = &shm->proc[i].thr[t];

			fprintf(stderr, "  %s%d.t%d pid %d phase %u, last progress "
				"%llu ms ago\n", i & 1 ? "client" : "server", i / 2,
				t, shm->proc[i].pid, th->phase,
				(unsigned long long)(now - th->beat_ms));
		}
}

static void stack_of(pid_t pid)
{
	char path[64], buf[4096];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		char p2[320];

		if (e->d_name[0] == '.')
			continue;
		snprintf(p2, sizeof(p2), "/proc/%d/task/%s/stack", pid, e->d_name);
		if (read_text(p2, buf, sizeof(buf)) > 0)
			fprintf(stderr, "--- task %s of %d:\n%s", e->d_name, pid, buf);
	}
	if (d)
		closedir(d);
}

/* One phase: workers run for secs; kills and migrations if chaos. */
static uint64_t mig_max_ms;

static void run_phase(int secs, int chaos, struct rng *rng, uint64_t *kills,
		      uint64_t *migrations)
{
	uint64_t start = now_ms(), end = start + (uint64_t)secs * 1000;
	uint64_t next_kill = start + (uint64_t)opt.kill_ms / 2 +
			     rndn(rng, (unsigned int)opt.kill_ms);
	uint64_t next_mig = start + (uint64_t)opt.mig_ms;

	shm->stop = 0;
	for (int i = 0; i < opt.nproc; i++) {
		shm->proc[i].kills = 0;
		pids[i] = spawn(i);
	}
	while (!shm->stop && now_ms() < end) {
		uint64_t now = now_ms();

		sleep_us(20000);
		reap(0);
		if (shm->stop)
			break;
		if (chaos && now >= next_kill) {
			int pi = (int)rndn(rng, (unsigned int)opt.nproc);
			pid_t pid = pids[pi];
			uint64_t t0 = now_ms();
			int status;

			next_kill = now + (uint64_t)opt.kill_ms / 2 +
				    rndn(rng, (unsigned int)opt.kill_ms);
			if (!pid)
				continue;
			__atomic_store_n(&shm->proc[pi].kill_ms, now_ms(),
					 __ATOMIC_SEQ_CST);
			__atomic_store_n(&shm->proc[pi].dead_inc,
					 shm->proc[pi].inc, __ATOMIC_SEQ_CST);
			inc32(&shm->proc[pi].kills);
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, WNOHANG) == 0) {
				if (now_ms() - t0 > (uint64_t)opt.hang_s * 1000) {
					fprintf(stderr, "FAIL supervisor: worker %d "
						"(pid %d) did not die within %d s of "
						"SIGKILL\n", pi, pid, opt.hang_s);
					stack_of(pid);
					shm->failed = 1;
					shm->stop = 1;
					return;
				}
				sleep_us(10000);
			}
			if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
				fprintf(stderr, "FAIL supervisor: worker %d (pid %d) "
					"ended with status %#x before our SIGKILL\n",
					pi, pid, status);
				shm->failed = 1;
				shm->stop = 1;
				return;
			}
			killed_pid[pi] = pid;
			pids[pi] = 0;
			(*kills)++;
			fold(&shm->dead, pi, 1);
			/* The peer sees the loss first, now and then. */
			if (rndn(rng, 2))
				sleep_us(rndn(rng, 500000));
			pids[pi] = spawn(pi);
		}
		if (chaos && nnodes > 1 && opt.mig_ms && now >= next_mig) {
			int pi = (int)rndn(rng, (unsigned int)opt.nproc);
			unsigned long from = 1ul << rndn(rng, 2), to = from ^ 3;
			uint64_t t0 = now_ms();

			next_mig = now + (uint64_t)opt.mig_ms / 2 +
				   rndn(rng, (unsigned int)opt.mig_ms);
			if (pids[pi]) {
				uint32_t j = shm->mig_idx++ % 4;

				shm->mig_pid[j] = pids[pi];
				shm->mig_t0[j] = now_ms() - shm->t0_ms;
				shm->mig_t1[j] = 0;
				if (migrate_pages(pids[pi], 8, &from, &to) >= 0)
					(*migrations)++;
				shm->mig_t1[j] = now_ms() - shm->t0_ms;
			}
			if (now_ms() - t0 > mig_max_ms)
				mig_max_ms = now_ms() - t0;
		}
		/* Hang watch: every thread makes progress within the bound. */
		for (int i = 0; i < opt.nproc; i++)
			for (int t = 0; t < opt.nthr; t++) {
				uint64_t b = shm->proc[i].thr[t].beat_ms;

				if (pids[i] && b && now > b &&
				    now - b > 2 * (uint64_t)opt.hang_s * 1000) {
					fprintf(stderr, "FAIL supervisor: %s%d.t%d "
						"made no progress for %llu ms\n",
						i & 1 ? "client" : "server", i / 2, t,
						(unsigned long long)(now - b));
					dump_phases();
					stack_of(pids[i]);
					shm->failed = 1;
					shm->stop = 1;
				}
			}
	}
	/* The end: workers finish their round and exit. */
	shm->stop = 1;
	{
		uint64_t t0 = now_ms();

		for (;;) {
			int alive = 0;

			reap(0);
			for (int i = 0; i < opt.nproc; i++)
				alive += pids[i] != 0;
			if (!alive)
				break;
			if (now_ms() - t0 > (uint64_t)(2 * opt.hang_s + 30) * 1000) {
				fprintf(stderr, "FAIL supervisor: workers did not "
					"exit within %d s of the stop\n",
					2 * opt.hang_s + 30);
				dump_phases();
				for (int i = 0; i < opt.nproc; i++)
					if (pids[i]) {
						stack_of(pids[i]);
						kill(pids[i], SIGKILL);
					}
				shm->failed = 1;
				reap(1);
				break;
			}
			sleep_us(50000);
		}
	}
}

static void usage(const char *a0)
{
	fprintf(stderr,
		"usage: %s [-n PROCS] [-m THREADS] [-t SECONDS] [-s SEED] "
		"[-k KILL_MS] [-r MUT_US] [-M MIG_MS] [-a ADDR] [-P PORT] "
		"[-d DEV] [-T HANG_S] [-W WARMUP_S] [-v]\n"
		"  PROCS worker processes (even: server/client pairs, default 4),\n"
		"  THREADS traffic threads each (default 2), a kill -9 every\n"
		"  ~KILL_MS (0: none), a mutation every ~MUT_US per worker,\n"
		"  migrate_pages() of a whole worker every ~MIG_MS (0: none).\n", a0);
	exit(2);
}

int main(int argc, char **argv)
{
	struct totals tot;
	uint64_t dev0[ODP_STAT_MAX], dev1[ODP_STAT_MAX], kills = 0, migs = 0;
	uint64_t wkills = 0, wmigs = 0, t_start, t_run;
	struct memsnap m0, m1;
	struct rng rng;
	int c, mrs0, leak_ok = 1, mrs_left = -1;
	long ref0, ref1 = -1;
	char nbuf[64];

	opt.seed = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
	while ((c = getopt(argc, argv, "n:m:t:s:k:r:M:a:P:d:T:W:v")) != -1) {
		switch (c) {
		case 'n': opt.nproc = atoi(optarg); break;
		case 'm': opt.nthr = atoi(optarg); break;
		case 't': opt.time_s = atoi(optarg); break;
		case 's': opt.seed = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'k': opt.kill_ms = atoi(optarg); break;
		case 'r': opt.mut_us = atoi(optarg); break;
		case 'M': opt.mig_ms = atoi(optarg); break;
		case 'a': opt.addr = optarg; break;
		case 'P': opt.port = atoi(optarg); break;
		case 'd': opt.dev = optarg; break;
		case 'T': opt.hang_s = atoi(optarg); break;
		case 'W': opt.warmup_s = atoi(optarg); break;
		case 'v': opt.verbose = 1; break;
		default: usage(argv[0]);
		}
	}
	if (opt.nproc < 2 || opt.nproc > MAX_PROCS || opt.nproc % 2 ||
	    opt.nthr < 1 || opt.nthr > MAX_THR || opt.time_s < 1 ||
	    opt.mut_us < 100 || opt.hang_s < 5 || opt.kill_ms < 0 ||
	    opt.mig_ms < 0)
		usage(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("seed=%u procs=%d threads=%d time_s=%d kill_ms=%d mut_us=%d "
	       "mig_ms=%d\n", opt.seed, opt.nproc, opt.nthr, opt.time_s,
	       opt.kill_ms, opt.mut_us, opt.mig_ms);
	if (sysconf(_SC_PAGESIZE) != PS) {
		fprintf(stderr, "SKIP: page size is not %d\n", PS);
		return T_SKIP;
	}
	if (access("/dev/odp", F_OK)) {
		fprintf(stderr, "SKIP: /dev/odp missing (odp.ko not loaded)\n");
		return T_SKIP;
	}
	if (geteuid() != 0 || access(DEBUGFS "/stats", R_OK)) {
		fprintf(stderr, "SKIP: needs root and %s (leak checks)\n", DEBUGFS);
		return T_SKIP;
	}
	nnodes = 0;
	for (int i = 0; i < 64; i++) {
		snprintf(nbuf, sizeof(nbuf), "/sys/devices/system/node/node%d", i);
		nnodes += access(nbuf, F_OK) == 0;
	}
	if (nnodes < 1)
		nnodes = 1;
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		fail_("supervisor", "mmap: %s", strerror(errno));
	memset(shm, 0, sizeof(*shm));
	rng.s = mix32(opt.seed) | (uint64_t)opt.seed << 32 | 1;
	mrs0 = debugfs_mr_count();
	ref0 = module_refcnt();

	/*
	 * Warm-up: the same traffic, no chaos, so that what the kernel sets up
	 * once (rdma_cm and rxe state, slab pages of the caches involved,
	 * page tables of the shared libraries) is in the baseline.
	 */
	if (opt.warmup_s > 0) {
		shm->t0_ms = now_ms();
		run_phase(opt.warmup_s, 0, &rng, &wkills, &wmigs);
		if (shm->failed) {
			printf("result=fail phase=warmup\n");
			return T_FAIL;
		}
		for (int i = 0; i < 100 && debugfs_mr_count() > mrs0; i++)
			sleep_us(100000);
		memset(shm, 0, sizeof(*shm));
	}
	sleep_us(500000);
	mem_snapshot(&m0);
	dev_stats(dev0);
	printf("baseline: mem_avail_kb=%ld pcp_kb=%ld slab_kb=%ld sunreclaim_kb=%ld "
	       "kmalloc_kb=%ld mrs=%d module_refcnt=%ld nodes=%d\n",
	       m0.mem_avail_kb, m0.pcp_kb, m0.slab_kb, m0.sunreclaim_kb,
	       m0.kmalloc_kb,
	       debugfs_mr_count(), ref0, nnodes);

	t_start = now_ms();
	shm->t0_ms = t_start;
	run_phase(opt.time_s, 1, &rng, &kills, &migs);
	t_run = now_ms() - t_start;

	/* Totals: the dead incarnations' plus the last ones'. */
	tot = shm->dead;
	for (int i = 0; i < opt.nproc; i++)
		fold(&tot, i, 0);
	dev_stats(dev1);

	/* Leaks: every object of ours goes once every process has exited. */
	{
		uint64_t t0 = now_ms();

		while ((mrs_left = debugfs_mr_count()) > mrs0 &&
		       now_ms() - t0 < 30000)
			sleep_us(100000);
		while ((ref1 = module_refcnt()) > ref0 && now_ms() - t0 < 30000)
			sleep_us(100000);
	}
	/*
	 * Memory: compare after settling (RCU frees, per-CPU slabs).  Try for
	 * a while: deferred frees (kfree_rcu, work items) trail the exits.
	 */
	{
		/* Justified in tests/stress/README.md. */
		const long tol_slab_kb = 2048, tol_kmalloc_kb = 1024;
		const long tol_avail_kb = 16384;
		long d_sunr = 0, d_kmal = 0, d_avail = 0;

		for (int i = 0; i < 10; i++) {
			sleep_us(1000000);
			mem_snapshot(&m1);
			d_sunr = m1.sunreclaim_kb - m0.sunreclaim_kb;
			d_kmal = m1.kmalloc_kb - m0.kmalloc_kb;
			/* Pages on per-CPU lists are free memory too. */
			d_avail = m0.mem_avail_kb + m0.pcp_kb -
				  m1.mem_avail_kb - m1.pcp_kb;
			if (d_sunr <= tol_slab_kb && d_kmal <= tol_kmalloc_kb &&
			    d_avail <= tol_avail_kb)
				break;
		}
		printf("leak.mrs_left=%d leak.module_refcnt=%ld "
		       "leak.sunreclaim_kb=%ld leak.kmalloc_kb=%ld "
		       "leak.mem_avail_drop_kb=%ld leak.slab_kb=%ld "
		       "leak.odp_cache_objs=%ld leak.pcp_kb=%ld "
		       "tol.sunreclaim_kb=%ld "
		       "tol.kmalloc_kb=%ld tol.mem_avail_kb=%ld\n",
		       mrs_left - mrs0, ref1, d_sunr, d_kmal, d_avail,
		       m1.slab_kb - m0.slab_kb, m1.odp_objs - m0.odp_objs,
		       m0.pcp_kb - m1.pcp_kb,
		       tol_slab_kb, tol_kmalloc_kb, tol_avail_kb);
		if (mrs_left != mrs0 || ref1 != ref0 || d_sunr > tol_slab_kb ||
		    d_kmal > tol_kmalloc_kb || d_avail > tol_avail_kb ||
		    m1.odp_objs > m0.odp_objs)
			leak_ok = 0;
	}

	/* Report. */
	{
		uint64_t ops = tot.s[S_WR_OK] + tot.s[S_RECV_OK] + tot.s[S_CTRL_MSGS];
		uint64_t muts = 0, st_cli = 0, st_srv = 0;

		for (int k = 0; k < NKIND; k++)
			muts += tot.s[S_MUT0 + k];
		printf("duration_ms=%llu kills=%llu migrate_pages_calls=%llu "
		       "migrate_pages_max_ms=%llu mutations=%llu\n",
		       (unsigned long long)t_run, (unsigned long long)kills,
		       (unsigned long long)migs, (unsigned long long)mig_max_ms,
		       (unsigned long long)muts);
		printf("operations=%llu data_wrs_ok=%llu recvs_ok=%llu "
		       "ctrl_msgs=%llu bytes_verified=%llu\n",
		       (unsigned long long)ops, (unsigned long long)tot.s[S_WR_OK],
		       (unsigned long long)tot.s[S_RECV_OK],
		       (unsigned long long)tot.s[S_CTRL_MSGS],
		       (unsigned long long)tot.s[S_BYTES]);
		for (int i = 0; i < S_MUT0; i++)
			printf("%sstat.%s=%llu", i ? " " : "", s_names[i],
			       (unsigned long long)tot.s[i]);
		printf("\n");
		for (int k = 0; k < NKIND; k++)
			printf("%smut.%s=%llu", k ? " " : "", kind_names[k],
			       (unsigned long long)tot.s[S_MUT0 + k]);
		printf("\n");
		for (int s = 1; s < NSTATUS; s++) {
			if (tot.s[S_CLI_ST + s]) {
				printf("err.client.%s=%llu ",
				       odp_wc_status_str((enum odp_wc_status)s),
				       (unsigned long long)tot.s[S_CLI_ST + s]);
				st_cli += tot.s[S_CLI_ST + s];
			}
		}
		for (int s = 1; s < NSTATUS; s++) {
			if (tot.s[S_SRV_ST + s]) {
				printf("err.server_recv.%s=%llu ",
				       odp_wc_status_str((enum odp_wc_status)s),
				       (unsigned long long)tot.s[S_SRV_ST + s]);
				st_srv += tot.s[S_SRV_ST + s];
			}
		}
		printf("err.client_total=%llu err.server_recv_total=%llu\n",
		       (unsigned long long)st_cli, (unsigned long long)st_srv);
		/* pages_mapped is a gauge: no sum over MRs. */
		for (int i = 0; i < ODP_STAT_PAGES_MAPPED; i++)
			printf("%smr.%s=%llu", i ? " " : "",
			       odp_stat_name((unsigned int)i),
			       (unsigned long long)tot.mr[i]);
		printf("\n");
		for (int i = 0; i < ODP_STAT_MAX; i++)
			printf("%sdev.%s=%llu", i ? " " : "",
			       odp_stat_name((unsigned int)i),
			       (unsigned long long)(i == ODP_STAT_PAGES_MAPPED ?
						    dev1[i] : dev1[i] - dev0[i]));
		printf("\n");
		printf("faults=%llu invalidations=%llu dev_faults=%llu "
		       "dev_invalidations=%llu\n",
		       (unsigned long long)tot.mr[ODP_STAT_FAULTS],
		       (unsigned long long)tot.mr[ODP_STAT_INVALIDATIONS],
		       (unsigned long long)(dev1[ODP_STAT_FAULTS] - dev0[ODP_STAT_FAULTS]),
		       (unsigned long long)(dev1[ODP_STAT_INVALIDATIONS] -
					    dev0[ODP_STAT_INVALIDATIONS]));
		/* The device sums every MR's counts: never less than ours. */
		for (int i = 0; i < ODP_STAT_MAX; i++) {
			if (i == ODP_STAT_PAGES_MAPPED)
				continue;
			if (dev1[i] - dev0[i] < tot.mr[i]) {
				fprintf(stderr, "FAIL supervisor: device counter %s "
					"moved %llu, less than the sum of the MRs' "
					"%llu\n", odp_stat_name((unsigned int)i),
					(unsigned long long)(dev1[i] - dev0[i]),
					(unsigned long long)tot.mr[i]);
				shm->failed = 1;
			}
		}
		if (dev1[ODP_STAT_PAGES_MAPPED] != dev0[ODP_STAT_PAGES_MAPPED]) {
			fprintf(stderr, "FAIL supervisor: pages_mapped is %llu after "
				"every MR is gone (was %llu)\n",
				(unsigned long long)dev1[ODP_STAT_PAGES_MAPPED],
				(unsigned long long)dev0[ODP_STAT_PAGES_MAPPED]);
			leak_ok = 0;
		}
	}
	printf("leaks=%d\n", !leak_ok);
	if (!leak_ok)
		fprintf(stderr, "FAIL supervisor: leak (see leak.* above)\n");
	printf("result=%s\n", shm->failed || !leak_ok ? "fail" : "pass");
	return shm->failed || !leak_ok ? T_FAIL : T_PASS;
}
