/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the verbs ODP tests (tests/verbs/): plain libibverbs on an RDMA
 * device (rxe0 by default) with ODP MRs (IBV_ACCESS_ON_DEMAND) on both
 * sides, nothing pinned.
 *
 * A "pair" is two RC QPs of one process connected to each other by
 * modify_qp (loopback over the device's GID, index 1 = the IPv4 one on rxe):
 * QP a is the requester, QP b the responder, each with its own CQ.
 *
 * The ODP counters of an MR come from the kernel's `rdma stat show mr`
 * (per MR, as mlx5 names them: page_faults, page_invalidations, ...),
 * found by the MR's lkey and our pid in `rdma res show mr`.
 *
 * Exit status: 0 pass, 1 fail, 77 skip.  Output: `key=value` tokens.
 */
#ifndef VERBS_VT_H
#define VERBS_VT_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <infiniband/verbs.h>

#define T_PASS	0
#define T_FAIL	1
#define T_SKIP	77

struct vtest {
	const char *name;
	int (*fn)(void);
};

int run_tests(int argc, char **argv, const struct vtest *tests, size_t n);
#define TEST_MAIN(table)						\
	int main(int argc, char **argv)					\
	{								\
		return run_tests(argc, argv, table,			\
				 sizeof(table) / sizeof(table[0]));	\
	}

__attribute__((noreturn, format(printf, 3, 4)))
void t_fail(const char *file, int line, const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2)))
void t_skip(const char *fmt, ...);
#define FAIL(...)	t_fail(__FILE__, __LINE__, __VA_ARGS__)
#define SKIP(...)	t_skip(__VA_ARGS__)
#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "check `%s` failed:\n", #cond);	\
			FAIL(__VA_ARGS__);				\
		}							\
	} while (0)

extern long page_size;
extern const char *cur_test;

/* ---- memory --------------------------------------------------------- */

void *map_anon(size_t len, int flags);
/* Private anonymous mapping of len bytes aligned to align (power of 2). */
void *map_aligned(size_t len, size_t align);
void unmap(void *addr, size_t len);
void xmadvise(void *addr, size_t len, int advice);
void xmprotect(void *addr, size_t len, int prot);

/* Byte off of the pattern with this seed; never 0. */
static inline uint8_t pat(uint32_t seed, size_t off)
{
	uint32_t x = seed * 2654435761u + (uint32_t)off * 40503u +
		     (uint32_t)(off >> 10) * 977u;

	x ^= x >> 13;
	x *= 0x5bd1e995u;
	x ^= x >> 15;
	return (uint8_t)(x % 255u) + 1;
}
void fill_pat(void *buf, size_t len, uint32_t seed);
/*
 * FAIL unless buf holds the pattern; says where it differs: the first bad
 * offset, how many bytes, and the first runs of bad bytes (with their
 * offsets inside a page, which is what tells a per-packet bug apart).
 */
void check_pat(const void *buf, size_t len, uint32_t seed, const char *what);
/* The same for bytes [off, off+len) of the pattern. */
void check_pat_off(const void *buf, size_t len, uint32_t seed, size_t off,
		   const char *what);
/* FAIL unless every byte of buf is val. */
void check_bytes(const void *buf, size_t len, uint8_t val, const char *what);

/* ---- device and QPs ------------------------------------------------- */

struct vdev {
	struct ibv_context	*ctx;
	struct ibv_pd		*pd;
	struct ibv_device_attr_ex attr;
	union ibv_gid		gid;
	int			gid_index;
	uint8_t			port;
	const char		*name;
};

/*
 * Open the device ($VERBS_DEV, default rxe0), allocate a PD; SKIP if there
 * is no such device or it reports no ODP for RC SEND/RECV/WRITE/READ/ATOMIC.
 */
void v_open(struct vdev *d);
void v_close(struct vdev *d);

#define ACC_ALL	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |	\
		 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
/* An ODP MR with every right (plus extra access flags); FAIL on error. */
struct ibv_mr *v_reg(struct vdev *d, void *addr, size_t len, int extra);
/* The implicit ODP MR of the whole address space. */
struct ibv_mr *v_reg_implicit(struct vdev *d);
void v_dereg(struct ibv_mr *mr);

struct vpair {
	struct vdev	*d;
	struct ibv_cq	*cqa, *cqb;
	struct ibv_qp	*a, *b;		/* a requests, b responds */
};
void pair_create(struct vdev *d, struct vpair *p);
/* RESET (draining both CQs), then INIT, RTR, RTS, connected to each other. */
void pair_connect(struct vpair *p);
void pair_destroy(struct vpair *p);

/* ---- work requests -------------------------------------------------- */

/* Post one signaled RDMA WRITE / READ / SEND / atomic on qp. */
void post_op(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t wr_id,
	     struct ibv_mr *lmr, void *laddr, uint32_t len,
	     uint32_t rkey, uint64_t raddr, uint64_t cmp_add, uint64_t swap);
void post_recv1(struct ibv_qp *qp, uint64_t wr_id, struct ibv_mr *mr,
		void *addr, uint32_t len);
/* Wait for n completions (10 s, $VERBS_TIMEOUT_MS); FAIL on timeout. */
void wait_wcs(struct ibv_cq *cq, int n, struct ibv_wc *wc, const char *what);
/* FAIL unless the completion has this status. */
void expect_wc(const struct ibv_wc *wc, enum ibv_wc_status st,
	       const char *what);

/*
 * One operation on the pair, waited for; returns the requester's status.
 * WRITE / READ: laddr in lmr (ours), raddr in rmr (the responder's).
 * SEND: laddr -> a receive of len at raddr in rmr (posted first); the
 * receive's status goes to *recv_st (if not NULL; a receive that did not
 * complete, e.g. after a requester-side error, is -1).
 */
int op_write(struct vpair *p, struct ibv_mr *lmr, void *laddr, size_t len,
	     struct ibv_mr *rmr, void *raddr);
int op_read(struct vpair *p, struct ibv_mr *lmr, void *laddr, size_t len,
	    struct ibv_mr *rmr, void *raddr);
int op_send(struct vpair *p, struct ibv_mr *lmr, void *laddr, size_t len,
	    struct ibv_mr *rmr, void *raddr, int *recv_st);
int op_atomic(struct vpair *p, enum ibv_wr_opcode op, struct ibv_mr *lmr,
	      void *laddr, struct ibv_mr *rmr, void *raddr, uint64_t cmp_add,
	      uint64_t swap);

/* ---- ODP counters of MRs (rdma stat show mr) ------------------------ */

enum {
	ST_PAGE_FAULTS,
	ST_PAGE_FAULTS_HANDLED,
	ST_PAGE_INVALIDATIONS,
	ST_PAGE_INVALIDATION_EVENTS,
	ST_PAGE_PREFETCH,
	ST_FAULT_RETRIES,
	ST_FAULT_ERRORS,
	ST_PAGES_MAPPED,
	ST_MAX
};
struct mrstat {
	int64_t v[ST_MAX];
};
/*
 * The counters of n MRs of this process, from one `rdma` run each.
 *
 * VERBS_NO_MR_STATS=1: the device has no per-MR ODP counters (upstream's
 * rxe: `rdma stat show mr` lists its MRs without them); mr_stats() then
 * checks that this is so (an MR with counters FAILs) and sets no_mr_stats,
 * stat_delta() prints `<tag>.counters=none`, and CHECK_STAT() checks
 * nothing: the data and the completion statuses are all that is tested.
 */
extern int no_mr_stats;
void mr_stats(int n, struct ibv_mr *const *mrs, struct mrstat *out);
/* Print `<tag>.<counter>=<after-before>` (pages_mapped: after) and return
 * the delta. */
struct mrstat stat_delta(const char *tag, const struct mrstat *before,
			 const struct mrstat *after);
#define S(st, name)	((st).v[ST_##name])
/* CHECK of a condition on ODP counters: none where the device has none. */
#define CHECK_STAT(cond, ...)						\
	do {								\
		if (!no_mr_stats)					\
			CHECK(cond, __VA_ARGS__);			\
	} while (0)

/* Number of MRs of pid on the device in `rdma res show mr` (-1: all pids). */
int rdma_mr_count(const char *dev, pid_t pid);
/* The same for QPs (`rdma res show qp`). */
int rdma_qp_count(const char *dev, pid_t pid);

/* ---- misc ------------------------------------------------------------ */

uint64_t now_ms(void);
int thp_enabled(void);
long hugetlb_free(void);
/* Bytes of AnonHugePages (kB * 1024) of the mapping containing addr. */
long anon_huge_bytes(void *addr);
int numa_nodes(void);

#endif
