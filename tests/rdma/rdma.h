/* SPDX-License-Identifier: MIT */
/*
 * The RDMA transport tests: one scenario source (rdma_ops.c) built twice,
 *
 *   rdma_ops  over libodp (ODP MRs, nothing pinned: faults on both sides),
 *   ibv_ops   over libibverbs + librdmacm with pinned MRs (-DRDMA_IBV), the
 *             compatibility anchor: the same scenarios on plain rxe verbs.
 *
 * The scenario code uses the x* names below, which are libodp's or
 * libibverbs' (libodp has libibverbs' field names and values), and the small
 * transport interface at the end (xport_odp.c / ibv_ops.c): open a device,
 * connect or accept a QP, tear it down.
 */
#ifndef RDMA_TESTS_H
#define RDMA_TESTS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#ifdef RDMA_IBV
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#define XPORT_NAME		"ibv"
typedef struct ibv_context	xctx;
typedef struct ibv_pd		xpd;
typedef struct ibv_mr		xmr;
typedef struct ibv_cq		xcq;
typedef struct ibv_qp		xqp;
typedef struct ibv_sge		xsge;
typedef struct ibv_send_wr	xsend_wr;
typedef struct ibv_recv_wr	xrecv_wr;
typedef struct ibv_wc		xwc;

#define X_ACCESS_LOCAL_WRITE	IBV_ACCESS_LOCAL_WRITE
#define X_ACCESS_REMOTE_WRITE	IBV_ACCESS_REMOTE_WRITE
#define X_ACCESS_REMOTE_READ	IBV_ACCESS_REMOTE_READ
#define X_ACCESS_REMOTE_ATOMIC	IBV_ACCESS_REMOTE_ATOMIC
#define X_ACCESS_EXTRA		0

#define X_WR_RDMA_WRITE		IBV_WR_RDMA_WRITE
#define X_WR_RDMA_WRITE_WITH_IMM IBV_WR_RDMA_WRITE_WITH_IMM
#define X_WR_SEND		IBV_WR_SEND
#define X_WR_SEND_WITH_IMM	IBV_WR_SEND_WITH_IMM
#define X_WR_RDMA_READ		IBV_WR_RDMA_READ
#define X_WR_ATOMIC_CMP_AND_SWP	IBV_WR_ATOMIC_CMP_AND_SWP
#define X_WR_ATOMIC_FETCH_AND_ADD IBV_WR_ATOMIC_FETCH_AND_ADD
#define X_SEND_SIGNALED		IBV_SEND_SIGNALED

#define X_WC_SUCCESS		IBV_WC_SUCCESS
#define X_WC_LOC_LEN_ERR	IBV_WC_LOC_LEN_ERR
#define X_WC_LOC_PROT_ERR	IBV_WC_LOC_PROT_ERR
#define X_WC_WR_FLUSH_ERR	IBV_WC_WR_FLUSH_ERR
#define X_WC_REM_INV_REQ_ERR	IBV_WC_REM_INV_REQ_ERR
#define X_WC_REM_ACCESS_ERR	IBV_WC_REM_ACCESS_ERR
#define X_WC_REM_OP_ERR		IBV_WC_REM_OP_ERR
#define X_WC_SEND		IBV_WC_SEND
#define X_WC_RDMA_WRITE		IBV_WC_RDMA_WRITE
#define X_WC_RDMA_READ		IBV_WC_RDMA_READ
#define X_WC_COMP_SWAP		IBV_WC_COMP_SWAP
#define X_WC_FETCH_ADD		IBV_WC_FETCH_ADD
#define X_WC_RECV		IBV_WC_RECV
#define X_WC_RECV_RDMA_WITH_IMM	IBV_WC_RECV_RDMA_WITH_IMM
#define X_WC_WITH_IMM		IBV_WC_WITH_IMM

#define x_poll_cq(cq, n, wc)	ibv_poll_cq(cq, n, wc)
#define x_dereg_mr(mr)		ibv_dereg_mr(mr)
#define x_status_str(s)		ibv_wc_status_str(s)
#else
#include <odp.h>

#define XPORT_NAME		"odp"
typedef struct odp_context	xctx;
typedef struct odp_pd		xpd;
typedef struct odp_mr		xmr;
typedef struct odp_cq		xcq;
typedef struct odp_qp		xqp;
typedef struct odp_sge		xsge;
typedef struct odp_send_wr	xsend_wr;
typedef struct odp_recv_wr	xrecv_wr;
typedef struct odp_wc		xwc;

#define X_ACCESS_LOCAL_WRITE	ODP_ACCESS_LOCAL_WRITE
#define X_ACCESS_REMOTE_WRITE	ODP_ACCESS_REMOTE_WRITE
#define X_ACCESS_REMOTE_READ	ODP_ACCESS_REMOTE_READ
#define X_ACCESS_REMOTE_ATOMIC	ODP_ACCESS_REMOTE_ATOMIC
#define X_ACCESS_EXTRA		ODP_ACCESS_ON_DEMAND

#define X_WR_RDMA_WRITE		ODP_WR_RDMA_WRITE
#define X_WR_RDMA_WRITE_WITH_IMM ODP_WR_RDMA_WRITE_WITH_IMM
#define X_WR_SEND		ODP_WR_SEND
#define X_WR_SEND_WITH_IMM	ODP_WR_SEND_WITH_IMM
#define X_WR_RDMA_READ		ODP_WR_RDMA_READ
#define X_WR_ATOMIC_CMP_AND_SWP	ODP_WR_ATOMIC_CMP_AND_SWP
#define X_WR_ATOMIC_FETCH_AND_ADD ODP_WR_ATOMIC_FETCH_AND_ADD
#define X_SEND_SIGNALED		ODP_SEND_SIGNALED

#define X_WC_SUCCESS		ODP_WC_SUCCESS
#define X_WC_LOC_LEN_ERR	ODP_WC_LOC_LEN_ERR
#define X_WC_LOC_PROT_ERR	ODP_WC_LOC_PROT_ERR
#define X_WC_WR_FLUSH_ERR	ODP_WC_WR_FLUSH_ERR
#define X_WC_REM_INV_REQ_ERR	ODP_WC_REM_INV_REQ_ERR
#define X_WC_REM_ACCESS_ERR	ODP_WC_REM_ACCESS_ERR
#define X_WC_REM_OP_ERR		ODP_WC_REM_OP_ERR
#define X_WC_SEND		ODP_WC_SEND
#define X_WC_RDMA_WRITE		ODP_WC_RDMA_WRITE
#define X_WC_RDMA_READ		ODP_WC_RDMA_READ
#define X_WC_COMP_SWAP		ODP_WC_COMP_SWAP
#define X_WC_FETCH_ADD		ODP_WC_FETCH_ADD
#define X_WC_RECV		ODP_WC_RECV
#define X_WC_RECV_RDMA_WITH_IMM	ODP_WC_RECV_RDMA_WITH_IMM
#define X_WC_WITH_IMM		ODP_WC_WITH_IMM

#define x_poll_cq(cq, n, wc)	odp_poll_cq(cq, n, wc)
#define x_dereg_mr(mr)		odp_dereg_mr(mr)
#define x_status_str(s)		odp_wc_status_str(s)
#endif

#define X_ACCESS_ALL	(X_ACCESS_LOCAL_WRITE | X_ACCESS_REMOTE_WRITE | \
			 X_ACCESS_REMOTE_READ | X_ACCESS_REMOTE_ATOMIC)

/* ---- results and failures -------------------------------------------- */

#define T_PASS	0
#define T_FAIL	1
#define T_SKIP	77

extern const char *cur_test;	/* for messages */
extern const char *cur_side;	/* "client" / "server" */

/*
 * A failed check: says what on stderr, tells the peer (best effort, so a
 * two-host run shows both sides' reasons) and exits 1.
 */
__attribute__((noreturn, format(printf, 3, 4)))
void t_fail(const char *file, int line, const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2)))
void t_skip(const char *fmt, ...);
/* Called by t_fail() with the message, before exiting (set by rdma_ops.c). */
extern void (*fail_hook)(const char *text);

#define FAIL(...)	t_fail(__FILE__, __LINE__, __VA_ARGS__)
#define SKIP(...)	t_skip(__VA_ARGS__)
#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "check `%s` failed:\n", #cond);	\
			FAIL(__VA_ARGS__);				\
		}							\
	} while (0)
#define EXPECT_U64(got, op, want, what)					\
	do {								\
		uint64_t _g = (uint64_t)(got), _w = (uint64_t)(want);	\
		if (!(_g op _w))					\
			FAIL("%s: got %llu (%#llx), expected " #op " %llu (%#llx)", \
			     (what), (unsigned long long)_g,		\
			     (unsigned long long)_g,			\
			     (unsigned long long)_w,			\
			     (unsigned long long)_w);			\
	} while (0)

/* ---- memory and patterns --------------------------------------------- */

extern long page_size;

/* Byte off of the pattern with the given seed: never 0 (as in tests/progs). */
static inline uint8_t pattern_byte(uint32_t seed, size_t off)
{
	uint32_t x = seed * 2654435761u + (uint32_t)off * 40503u +
		     (uint32_t)(off >> 12) * 977u;
	x ^= x >> 13;
	return (uint8_t)(x % 255u) + 1;
}
void fill_pattern(void *buf, size_t len, uint32_t seed);
/* Index of the first byte that differs from the pattern, or -1. */
long diff_pattern(const void *buf, size_t len, uint32_t seed);
/* The same against a constant byte. */
long diff_bytes(const void *buf, size_t len, uint8_t val);
void check_pattern(const void *buf, size_t len, uint32_t seed,
		   const char *what);
void check_bytes(const void *buf, size_t len, uint8_t val, const char *what);

enum map_kind {
	MAP_KIND_PRIVATE = 0,	/* anonymous private: DONTNEED zeroes it */
	MAP_KIND_SHARED = 1,	/* anonymous shared: DONTNEED keeps the data */
	MAP_KIND_MEMFD = 2,	/* a memfd, MAP_SHARED: munmap + mmap keeps it */
};

/* A mapping of whole pages that can be zapped, unmapped and remapped. */
struct mapping {
	char	*addr;
	size_t	len;
	int	kind;
	int	fd;		/* MAP_KIND_MEMFD */
};
void map_create(struct mapping *m, size_t len, int kind);
void map_destroy(struct mapping *m);
/* munmap + mmap(MAP_FIXED) of [off, off+len) (same file pages for memfd). */
void map_remap(struct mapping *m, size_t off, size_t len);

uint64_t now_ms(void);
void sleep_us(unsigned int us);

/* ---- counters (zeros under ibverbs: pinned MRs have none) ------------ */

#define NSTATS	13
struct stats {
	uint64_t v[NSTATS];
};
enum {
	ST_FAULTS, ST_PAGES_FAULTED, ST_INVALIDATIONS, ST_PAGES_INVALIDATED,
	ST_RETRIES, ST_BUSY_RETRIES, ST_PREFETCHES, ST_NONBLOCK_INVALIDATIONS,
	ST_NONBLOCK_REFUSED, ST_ACCESSES, ST_ACCESS_BYTES, ST_FAULT_ERRORS,
	ST_PAGES_MAPPED,
};
extern const char *const stat_names[NSTATS];
/* The MR's counters; returns 0 (and zeros) where there are none. */
int mr_stats(xmr *mr, struct stats *s);
void stats_delta(const struct stats *a, const struct stats *b,
		 struct stats *d);
/* `tag.name=value` for every counter, one line. */
void print_stats(const char *tag, const struct stats *s);

/* ---- the transport (xport_odp.c or ibv_ops.c) ------------------------ */

extern const int xport_has_odp;		/* MRs fault on demand, have counters */

struct ep;				/* a device, PDs, a listener */

struct link_caps {
	uint32_t	max_send_wr;
	uint32_t	max_recv_wr;
	uint32_t	max_send_sge;
	uint32_t	max_recv_sge;
	int		cqe;		/* of each of the two CQs */
};

/* A connected RC QP with a send CQ and a receive CQ of its own. */
struct link {
	xqp		*qp;
	xcq		*scq;
	xcq		*rcq;
	struct link_caps cap;		/* what the QP really has */
	void		*priv;		/* the transport's */
};

/* Called after the QP exists and before it is connected: post receives. */
typedef void (*link_prep_fn)(struct link *l, void *arg);

/*
 * Open the device (name NULL: rxe0 if present, else the first one), a PD,
 * and for a server a listener on addr (retrying EADDRINUSE for a while).
 * Returns NULL with errno set on failure, after saying why on stderr.
 */
struct ep *ep_open(const char *devname, int server,
		   const struct sockaddr_in *addr);
void ep_close(struct ep *ep);
/* The listener is gone: new connections are refused. */
void ep_stop_listening(struct ep *ep);
xpd *ep_pd(struct ep *ep);
/* A second PD (for the rkey-of-another-PD test). */
xpd *ep_pd2(struct ep *ep);
/* Registration with the transport's mandatory flags (ON_DEMAND) added. */
xmr *ep_reg_mr(xpd *pd, void *addr, size_t len, int access);

/*
 * Client: connect to the ep's address; retries refused or unreachable
 * attempts until timeout_ms (the server may not listen yet).  Returns 0 or
 * an errno value.
 */
int link_connect(struct ep *ep, struct link *l, const struct link_caps *cap,
		 link_prep_fn prep, void *arg, int timeout_ms);
/* Server: accept the next connection request. */
int link_accept(struct ep *ep, struct link *l, const struct link_caps *cap,
		link_prep_fn prep, void *arg, int timeout_ms);
/* A QP that was never connected (0 or an errno value). */
int link_create_unconnected(struct ep *ep, struct link *l,
			    const struct link_caps *cap);
/* Disconnect, destroy the QP and CQs. */
void link_destroy(struct link *l);

/* libibverbs' conventions: 0 or a positive errno value; *bad set on error. */
int x_post_send(struct link *l, xsend_wr *wr, xsend_wr **bad);
int x_post_recv(struct link *l, xrecv_wr *wr, xrecv_wr **bad);

#endif /* RDMA_TESTS_H */
