// SPDX-License-Identifier: MIT
/*
 * Object lifetime: a create ioctl racing a destroy of the handle it is about
 * to return.  Handles are small and guessable (the lowest free one), so any
 * thread of the process can destroy an object before its creator has even
 * seen the handle.  The driver must cope: an object becomes visible in the
 * context's table only once it is fully set up and its result was copied out
 * to the caller, and every call returns 0 or a clean errno.
 *
 * lifetime_race_<type>: creator threads create and destroy their own objects
 * while destroyer threads destroy handles 1 and 2 blindly, for ODP_RACE_MS
 * (default 2500 ms).  Every call returns 0 or EINVAL (EBUSY where the ABI
 * says so); afterwards nothing is left and the parents of the objects (PD,
 * CQs) can be freed, i.e. their use counts are right.
 *
 * lifetime_efault_<type>: the create's argument struct lies in a read-only
 * page, so the driver reads it but cannot write the result back: the create
 * fails with EFAULT and must leave nothing behind, and the object must never
 * be visible to another thread meanwhile (a thread destroying handle 1 in a
 * loop never succeeds).
 *
 * Raw ioctls on the context's fd throughout: libodp would not let a thread
 * destroy a handle it does not own.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uapi/odp_abi.h>

#include "helpers.h"

#define IBDEV		"rxe0"
#define LISTEN_ADDR	"10.99.0.1"
#define N_CREATORS	2
#define N_DESTROYERS	2
/* Destroyers guess handles 1 .. GUESS. */
#define GUESS		2
/* "Nothing left": every handle up to this (or the largest seen) is unknown. */
#define SCAN_HANDLES	4096
#define SCAN_MAX	(1u << 20)
#define WATCHDOG_S	30

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? errno : 0;
}

static unsigned int race_ms(void)
{
	const char *s = getenv("ODP_RACE_MS");
	long v = s ? strtol(s, NULL, 0) : 0;

	return v > 0 ? (unsigned int)v : 2500;
}

static void watchdog(int sig)
{
	static const char msg[] = "FAIL: watchdog: test still running after "
				  "30 s (a thread stuck in the kernel?)\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(T_FAIL);
	_exit(T_FAIL);
}

static void arm_watchdog(void)
{
	signal(SIGALRM, watchdog);
	alarm(WATCHDOG_S);
}

/* ---- object types --------------------------------------------------- */

struct env {
	struct odp_context *ctx;
	int fd;
	uint32_t pd;		/* for MRs and QPs */
	uint32_t cq;		/* for QPs */
	void *page;		/* registered by MRs */
	uint32_t addr;		/* 10.99.0.1, network order, for listeners */
};

/* Every destroy struct is { handle; reserved; }. */
struct destroy_arg {
	uint32_t handle;
	uint32_t reserved;
};

struct otype {
	const char *name;
	unsigned long create_req, destroy_req;
	size_t arg_size;
	size_t handle_off;	/* of the handle in the create struct */
	uint32_t handle_max;	/* the ABI's largest handle of the type */
	bool need_pd, need_cq, need_dev;
	void (*fill)(const struct env *e, void *arg);
};

static void fill_pd(const struct env *e, void *arg)
{
	(void)e;
	memset(arg, 0, sizeof(struct odp_abi_alloc_pd));
}

static void fill_mr(const struct env *e, void *arg)
{
	struct odp_abi_reg_mr a = {
		.addr = (uintptr_t)e->page, .length = (uint64_t)page_size,
		.pd_handle = e->pd,
		.access = ODP_ABI_ACCESS_ON_DEMAND | ODP_ABI_ACCESS_LOCAL_WRITE,
	};

	memcpy(arg, &a, sizeof(a));
}

static void fill_cq(const struct env *e, void *arg)
{
	struct odp_abi_create_cq a = { .cqe = 4 };

	(void)e;
	memcpy(arg, &a, sizeof(a));
}

static void fill_qp(const struct env *e, void *arg)
{
	struct odp_abi_create_qp a = {
		.pd_handle = e->pd, .send_cq = e->cq, .recv_cq = e->cq,
		.max_send_wr = 1, .max_recv_wr = 1,
		.max_send_sge = 1, .max_recv_sge = 1,
	};

	memcpy(arg, &a, sizeof(a));
}

/* Port 0: an ephemeral port, so that listeners never collide. */
static void fill_listen(const struct env *e, void *arg)
{
	struct odp_abi_listen a = { .addr = e->addr, .port = 0, .backlog = 1 };

	memcpy(arg, &a, sizeof(a));
}

static const struct otype T_PD = {
	"pd", ODP_IOC_ALLOC_PD, ODP_IOC_DEALLOC_PD,
	sizeof(struct odp_abi_alloc_pd),
	offsetof(struct odp_abi_alloc_pd, pd_handle), 0x7fffffff,
	false, false, false, fill_pd,
};
static const struct otype T_MR = {
	"mr", ODP_IOC_REG_MR, ODP_IOC_DEREG_MR,
	sizeof(struct odp_abi_reg_mr),
	offsetof(struct odp_abi_reg_mr, mr_handle), 0xffffff,
	true, false, false, fill_mr,
};
static const struct otype T_CQ = {
	"cq", ODP_IOC_CREATE_CQ, ODP_IOC_DESTROY_CQ,
	sizeof(struct odp_abi_create_cq),
	offsetof(struct odp_abi_create_cq, cq_handle), 0x7fffffff,
	false, false, false, fill_cq,
};
static const struct otype T_QP = {
	"qp", ODP_IOC_CREATE_QP, ODP_IOC_DESTROY_QP,
	sizeof(struct odp_abi_create_qp),
	offsetof(struct odp_abi_create_qp, qp_handle), 0x7fffffff,
	true, true, true, fill_qp,
};
static const struct otype T_LISTEN = {
	"listen", ODP_IOC_LISTEN, ODP_IOC_DESTROY_LISTEN,
	sizeof(struct odp_abi_listen),
	offsetof(struct odp_abi_listen, listen_handle), 0x7fffffff,
	false, false, true, fill_listen,
};

static void env_open(struct env *e, const struct otype *t)
{
	memset(e, 0, sizeof(*e));
	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing (odp.ko not loaded)");
	e->ctx = odp_open_device(NULL);
	if (!e->ctx)
		FAIL("odp_open_device: %s", strerror(errno));
	e->fd = e->ctx->cmd_fd;
	if (t->need_dev) {
		int r = odp_bind_device(e->ctx, IBDEV, 1, NULL);

		if (r == ENODEV)
			SKIP("no RDMA device %s", IBDEV);
		if (r)
			FAIL("odp_bind_device(%s): %s", IBDEV, strerror(r));
	}
	if (t->need_pd) {
		struct odp_abi_alloc_pd a = { 0 };

		EXPECT_OK(xioctl(e->fd, ODP_IOC_ALLOC_PD, &a));
		e->pd = a.pd_handle;
	}
	if (t->need_cq) {
		struct odp_abi_create_cq a = { .cqe = 16 };

		EXPECT_OK(xioctl(e->fd, ODP_IOC_CREATE_CQ, &a));
		e->cq = a.cq_handle;
	}
	e->page = map_anon((size_t)page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	memset(e->page, 0x5a, (size_t)page_size);
	if (inet_pton(AF_INET, LISTEN_ADDR, &e->addr) != 1)
		FAIL("inet_pton(%s)", LISTEN_ADDR);
}

static int obj_create(const struct env *e, const struct otype *t, void *arg,
		      uint32_t *handle)
{
	int r = xioctl(e->fd, t->create_req, arg);

	if (!r && handle)
		memcpy(handle, (char *)arg + t->handle_off, sizeof(*handle));
	return r;
}

static int obj_destroy(const struct env *e, const struct otype *t,
		       uint32_t handle)
{
	struct destroy_arg a = { .handle = handle };

	return xioctl(e->fd, t->destroy_req, &a);
}

/*
 * Nothing of type t is left in the context: every handle a create could
 * have handed out is unknown; the parents (PD, CQ) have no users left.
 */
static atomic_ulong creates_started;	/* handles a create may have consumed */
static atomic_uint max_handle_seen;

static void check_nothing_left(struct env *e, const struct otype *t)
{
	uint32_t h, last = atomic_load(&max_handle_seen) + 2;
	int r;

	if (last < SCAN_HANDLES)
		last = SCAN_HANDLES;
	if (last > SCAN_MAX)
		last = SCAN_MAX;
	for (h = 1; h <= last; h++) {
		r = obj_destroy(e, t, h);
		if (r != EINVAL)
			FAIL("%s handle %u exists after the test (destroy returned "
			     "%d %s, expected EINVAL): an object was left behind",
			     t->name, h, r, r ? strerror(r) : "success");
	}
	if (t == &T_MR) {
		int n = debugfs_mr_count_pid(getpid());

		if (n)
			FAIL("%d MRs of pid %d left in %s", n, getpid(), DEBUGFS_MRS);
	}
	if (t->need_cq) {
		r = obj_destroy(e, &T_CQ, e->cq);
		if (r)
			FAIL("DESTROY_CQ of the QPs' CQ: %s (a QP still counted on it)",
			     strerror(r));
	}
	if (t->need_pd) {
		r = obj_destroy(e, &T_PD, e->pd);
		if (r)
			FAIL("DEALLOC_PD of the objects' PD: %s (a user still counted on it)",
			     strerror(r));
	}
}

/* ---- the race ------------------------------------------------------- */

struct race {
	struct env *e;
	const struct otype *t;
	void *arg;		/* creators: the create struct (maybe read-only) */
	bool efault;		/* creators expect EFAULT */
	uint64_t deadline;
	/* results */
	unsigned long creates, own_destroys, lost, stolen, misses;
	int bad_errno;
	char what[160];
};

static atomic_bool race_stop;

static void race_fail(struct race *r, int err, const char *what, uint32_t h)
{
	r->bad_errno = err ? err : -1;
	snprintf(r->what, sizeof(r->what), "%s (handle %u)", what, h);
	atomic_store(&race_stop, true);
}

static bool race_running(const struct race *r)
{
	return !atomic_load(&race_stop) && now_ms() < r->deadline;
}

static void *creator(void *p)
{
	struct race *r = p;
	char local[sizeof(union { struct odp_abi_reg_mr a; struct odp_abi_create_qp b; })];
	uint32_t h = 0;
	int err;

	while (race_running(r)) {
		void *arg = r->arg;

		if (!r->efault) {
			arg = local;
			r->t->fill(r->e, arg);
		}
		atomic_fetch_add(&creates_started, 1);
		err = obj_create(r->e, r->t, arg, &h);
		r->creates++;
		if (r->efault) {
			if (err != EFAULT) {
				race_fail(r, err, "create with a read-only argument "
					  "returned other than EFAULT", 0);
				break;
			}
			continue;
		}
		if (err) {
			race_fail(r, err, "create failed", 0);
			break;
		}
		/*
		 * Handles come from the lowest free one (or, at most, one new
		 * value per create): anything else was read from an object
		 * that was freed under the creator.
		 */
		if (!h || h > r->t->handle_max ||
		    h > atomic_load(&creates_started) + GUESS + 2) {
			race_fail(r, EPROTO, "create returned a handle never "
				  "handed out", h);
			break;
		}
		{
			unsigned int m = atomic_load(&max_handle_seen);

			while (h > m && !atomic_compare_exchange_weak(&max_handle_seen, &m, h))
				;
		}
		err = obj_destroy(r->e, r->t, h);
		if (!err) {
			r->own_destroys++;
		} else if (err == EINVAL) {
			r->lost++;	/* a destroyer got it first */
		} else {
			race_fail(r, err, "destroy of the creator's own handle", h);
			break;
		}
	}
	return NULL;
}

static void *destroyer(void *p)
{
	struct race *r = p;
	uint32_t h;
	int err;

	while (race_running(r)) {
		for (h = 1; h <= GUESS; h++) {
			err = obj_destroy(r->e, r->t, h);
			if (!err) {
				r->stolen++;
			} else if (err == EINVAL) {
				r->misses++;
			} else {
				race_fail(r, err, "destroy of a guessed handle", h);
				return NULL;
			}
		}
	}
	return NULL;
}

static void run_race(struct env *e, const struct otype *t, void *ro_arg,
		     struct race *sum)
{
	struct race c[N_CREATORS], d[N_DESTROYERS];
	pthread_t tc[N_CREATORS], td[N_DESTROYERS];
	uint64_t deadline = now_ms() + race_ms();
	int i;

	atomic_store(&race_stop, false);
	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < N_CREATORS; i++) {
		c[i] = (struct race){ .e = e, .t = t, .arg = ro_arg,
				      .efault = ro_arg != NULL, .deadline = deadline };
		if (pthread_create(&tc[i], NULL, creator, &c[i]))
			FAIL("pthread_create");
	}
	for (i = 0; i < N_DESTROYERS; i++) {
		d[i] = (struct race){ .e = e, .t = t, .deadline = deadline };
		if (pthread_create(&td[i], NULL, destroyer, &d[i]))
			FAIL("pthread_create");
	}
	for (i = 0; i < N_CREATORS; i++)
		pthread_join(tc[i], NULL);
	for (i = 0; i < N_DESTROYERS; i++)
		pthread_join(td[i], NULL);

	for (i = 0; i < N_CREATORS + N_DESTROYERS; i++) {
		struct race *r = i < N_CREATORS ? &c[i] : &d[i - N_CREATORS];

		sum->creates += r->creates;
		sum->own_destroys += r->own_destroys;
		sum->lost += r->lost;
		sum->stolen += r->stolen;
		sum->misses += r->misses;
		if (r->bad_errno && !sum->bad_errno) {
			sum->bad_errno = r->bad_errno;
			memcpy(sum->what, r->what, sizeof(sum->what));
		}
	}
	printf("%s.creates=%lu %s.own_destroys=%lu %s.lost=%lu %s.stolen=%lu "
	       "%s.misses=%lu\n", t->name, sum->creates, t->name,
	       sum->own_destroys, t->name, sum->lost, t->name, sum->stolen,
	       t->name, sum->misses);
	if (sum->bad_errno)
		FAIL("%s: %s: %d (%s)", t->name, sum->what, sum->bad_errno,
		     sum->bad_errno > 0 ? strerror(sum->bad_errno) : "?");
	if (!sum->creates)
		FAIL("%s: no create ran in %u ms", t->name, race_ms());
	/* Each object made was destroyed exactly once, by whoever got it. */
	if (!ro_arg && sum->own_destroys + sum->stolen != sum->creates)
		FAIL("%s: %lu objects created, %lu destroyed by their creators and "
		     "%lu by the destroyers (%lu creators found theirs gone): the "
		     "handle table and the objects disagree", t->name,
		     sum->creates, sum->own_destroys, sum->stolen, sum->lost);
}

static int lifetime_race(const struct otype *t)
{
	struct env e;
	struct race sum;

	arm_watchdog();
	env_open(&e, t);
	run_race(&e, t, NULL, &sum);
	check_nothing_left(&e, t);
	odp_close_device(e.ctx);
	return T_PASS;
}

/* The create's argument in a read-only page: read works, write-back fails. */
static void *ro_arg_of(const struct env *e, const struct otype *t)
{
	void *page = map_anon((size_t)page_size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE);

	t->fill(e, page);
	xmprotect(page, (size_t)page_size, PROT_READ);
	return page;
}

static int lifetime_efault(const struct otype *t)
{
	struct env e;
	struct race sum;
	void *ro;
	uint32_t h;
	int r;

	arm_watchdog();
	env_open(&e, t);
	ro = ro_arg_of(&e, t);

	/* One create alone: EFAULT, and no object. */
	r = obj_create(&e, t, ro, NULL);
	if (r != EFAULT)
		FAIL("%s create with a read-only argument struct: %d (%s), "
		     "expected EFAULT", t->name, r, r ? strerror(r) : "success");
	for (h = 1; h <= GUESS; h++) {
		r = obj_destroy(&e, t, h);
		if (r != EINVAL)
			FAIL("%s handle %u exists after a create that failed with "
			     "EFAULT (destroy: %s)", t->name, h,
			     r ? strerror(r) : "success");
	}

	/* The same, while other threads destroy the handles it would get. */
	run_race(&e, t, ro, &sum);
	printf("visible=%lu\n", sum.stolen);
	if (sum.stolen)
		FAIL("%s: another thread destroyed %lu objects whose creates all "
		     "failed with EFAULT: each was visible in the context before "
		     "its result was copied out", t->name, sum.stolen);
	check_nothing_left(&e, t);
	odp_close_device(e.ctx);
	return T_PASS;
}

static int lifetime_race_pd(void) { return lifetime_race(&T_PD); }
static int lifetime_race_mr(void) { return lifetime_race(&T_MR); }
static int lifetime_race_cq(void) { return lifetime_race(&T_CQ); }
static int lifetime_race_qp(void) { return lifetime_race(&T_QP); }
static int lifetime_race_listen(void) { return lifetime_race(&T_LISTEN); }
static int lifetime_efault_pd(void) { return lifetime_efault(&T_PD); }
static int lifetime_efault_mr(void) { return lifetime_efault(&T_MR); }
static int lifetime_efault_cq(void) { return lifetime_efault(&T_CQ); }
static int lifetime_efault_qp(void) { return lifetime_efault(&T_QP); }
static int lifetime_efault_listen(void) { return lifetime_efault(&T_LISTEN); }

static const struct odp_test tests[] = {
	{ "lifetime_race_pd", lifetime_race_pd },
	{ "lifetime_race_mr", lifetime_race_mr },
	{ "lifetime_race_cq", lifetime_race_cq },
	{ "lifetime_race_qp", lifetime_race_qp },
	{ "lifetime_race_listen", lifetime_race_listen },
	{ "lifetime_efault_pd", lifetime_efault_pd },
	{ "lifetime_efault_mr", lifetime_efault_mr },
	{ "lifetime_efault_cq", lifetime_efault_cq },
	{ "lifetime_efault_qp", lifetime_efault_qp },
	{ "lifetime_efault_listen", lifetime_efault_listen },
};

TEST_MAIN(tests)
