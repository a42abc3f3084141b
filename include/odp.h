/* SPDX-License-Identifier: MIT */
/*
 * libodp: a verbs-like API over the odp kernel module's /dev/odp.
 *
 * Conventions are those of libibverbs: functions that return a pointer
 * return NULL and set errno on failure; functions that return int return 0
 * on success or a positive errno value (errno is set to it as well).
 * Objects have explicit create/destroy pairs and point back to their context.
 */
#ifndef ODP_H
#define ODP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Access flags: same values as IBV_ACCESS_*. */
enum odp_access_flags {
	ODP_ACCESS_LOCAL_WRITE		= 1 << 0,
	ODP_ACCESS_REMOTE_WRITE		= 1 << 1,
	ODP_ACCESS_REMOTE_READ		= 1 << 2,
	ODP_ACCESS_REMOTE_ATOMIC	= 1 << 3,
	ODP_ACCESS_ON_DEMAND		= 1 << 6,
};

/* Advice for odp_advise_mr(): same values as IBV_ADVISE_MR_ADVICE_*. */
enum odp_advice {
	ODP_ADVISE_PREFETCH		= 0,
	ODP_ADVISE_PREFETCH_WRITE	= 1,
	ODP_ADVISE_PREFETCH_NO_FAULT	= 2,
};

enum odp_advise_flags {
	ODP_ADVISE_FLAG_FLUSH		= 1 << 0,
};

/* Counter indices, see odp_stat_name(). New ones are only appended. */
enum odp_stat {
	ODP_STAT_FAULTS,
	ODP_STAT_PAGES_FAULTED,
	ODP_STAT_INVALIDATIONS,
	ODP_STAT_PAGES_INVALIDATED,
	ODP_STAT_RETRIES,
	ODP_STAT_BUSY_RETRIES,
	ODP_STAT_PREFETCHES,
	ODP_STAT_NONBLOCK_INVALIDATIONS,
	ODP_STAT_NONBLOCK_REFUSED,
	ODP_STAT_ACCESSES,
	ODP_STAT_ACCESS_BYTES,
	ODP_STAT_FAULT_ERRORS,
	ODP_STAT_PAGES_MAPPED,	/* a gauge, not a counter */
	ODP_STAT_MAX
};

struct odp_context {
	int		cmd_fd;		/* the open /dev/odp */
	uint32_t	abi_version;
};

struct odp_device_attr {
	uint32_t	abi_version;
	uint32_t	page_size;
	uint64_t	max_mr_size;
	uint32_t	num_stats;	/* counters the kernel keeps */
	uint32_t	access_flags;	/* supported enum odp_access_flags */
};

struct odp_pd {
	struct odp_context	*context;
	uint32_t		handle;
};

struct odp_mr {
	struct odp_context	*context;
	struct odp_pd		*pd;
	void			*addr;
	size_t			length;
	uint32_t		handle;
	uint32_t		lkey;
	uint32_t		rkey;
	int			access;
};

/* Same layout as struct ibv_sge. */
struct odp_sge {
	uint64_t	addr;
	uint32_t	length;
	uint32_t	lkey;
};

/* Device: path NULL opens the default /dev/odp. */
struct odp_context *odp_open_device(const char *path);
int odp_close_device(struct odp_context *context);
int odp_query_device(struct odp_context *context, struct odp_device_attr *attr);

/* Protection domains. */
struct odp_pd *odp_alloc_pd(struct odp_context *context);
int odp_dealloc_pd(struct odp_pd *pd);

/* Memory regions. access must contain ODP_ACCESS_ON_DEMAND. */
struct odp_mr *odp_reg_mr(struct odp_pd *pd, void *addr, size_t length,
			  int access);
int odp_dereg_mr(struct odp_mr *mr);

/* Prefetch, like ibv_advise_mr(). */
int odp_advise_mr(struct odp_pd *pd, enum odp_advice advice, uint32_t flags,
		  struct odp_sge *sg_list, uint32_t num_sge);

/*
 * Device access to an MR through the driver's translation cache: the device
 * reads [iova, iova + length) of the MR into buf, or writes buf there,
 * faulting pages in as needed. buf may lie in the MR itself, but should not
 * overlap [iova, iova + length).
 */
int odp_mr_read(struct odp_mr *mr, uint64_t iova, void *buf, size_t length);
int odp_mr_write(struct odp_mr *mr, uint64_t iova, const void *buf,
		 size_t length);

/*
 * Counters: fill up to n values (indexed by enum odp_stat) for one MR, or
 * summed over the whole device. Return the number of values written, or -1
 * with errno set.
 */
int odp_query_mr_stats(struct odp_mr *mr, uint64_t *values, unsigned int n);
int odp_query_device_stats(struct odp_context *context, uint64_t *values,
			   unsigned int n);
/* Name of a counter ("faults", "pages_faulted", ...), NULL if unknown. */
const char *odp_stat_name(unsigned int stat);

/*
 * Transport (LIBODP_1.1): RC queue pairs over an RDMA device, connected by
 * IPv4 address and port, with libibverbs' values for every opcode, flag and
 * status. Every SGE names an ODP MR (lkey); every remote address names an
 * ODP MR of the peer process (rkey, its virtual address).
 */

struct sockaddr;

#define ODP_IBDEV_NAME_MAX	64
#define ODP_IBDEV_PATH_MAX	256

/* An RDMA device, as listed in /sys/class/infiniband. */
struct odp_device {
	char	name[ODP_IBDEV_NAME_MAX];	/* "rxe0" */
	char	ibdev_path[ODP_IBDEV_PATH_MAX];	/* /sys/class/infiniband/rxe0 */
};

/* enum ibv_port_state */
enum odp_port_state {
	ODP_PORT_NOP		= 0,
	ODP_PORT_DOWN		= 1,
	ODP_PORT_INIT		= 2,
	ODP_PORT_ARMED		= 3,
	ODP_PORT_ACTIVE		= 4,
	ODP_PORT_ACTIVE_DEFER	= 5,
};

struct odp_port_attr {
	enum odp_port_state	state;
	uint32_t		max_msg_sz;
};

/* enum ibv_wc_status */
enum odp_wc_status {
	ODP_WC_SUCCESS			= 0,
	ODP_WC_LOC_LEN_ERR		= 1,
	ODP_WC_LOC_QP_OP_ERR		= 2,
	ODP_WC_LOC_PROT_ERR		= 4,
	ODP_WC_WR_FLUSH_ERR		= 5,
	ODP_WC_BAD_RESP_ERR		= 7,
	ODP_WC_LOC_ACCESS_ERR		= 8,
	ODP_WC_REM_INV_REQ_ERR		= 9,
	ODP_WC_REM_ACCESS_ERR		= 10,
	ODP_WC_REM_OP_ERR		= 11,
	ODP_WC_RETRY_EXC_ERR		= 12,
	ODP_WC_FATAL_ERR		= 19,
	ODP_WC_GENERAL_ERR		= 21,
};

/* enum ibv_wc_opcode */
enum odp_wc_opcode {
	ODP_WC_SEND			= 0,
	ODP_WC_RDMA_WRITE		= 1,
	ODP_WC_RDMA_READ		= 2,
	ODP_WC_COMP_SWAP		= 3,
	ODP_WC_FETCH_ADD		= 4,
	ODP_WC_RECV			= 1 << 7,	/* test opcode & ODP_WC_RECV */
	ODP_WC_RECV_RDMA_WITH_IMM	= (1 << 7) + 1,
};

/* enum ibv_wc_flags */
enum odp_wc_flags {
	ODP_WC_WITH_IMM			= 1 << 1,
};

/* The essentials of struct ibv_wc, in its order. */
struct odp_wc {
	uint64_t		wr_id;
	enum odp_wc_status	status;
	enum odp_wc_opcode	opcode;
	uint32_t		vendor_err;
	uint32_t		byte_len;	/* receives: bytes received */
	uint32_t		imm_data;	/* network order; with ODP_WC_WITH_IMM */
	uint32_t		qp_num;
	unsigned int		wc_flags;	/* enum odp_wc_flags */
};

struct odp_cq {
	struct odp_context	*context;
	uint32_t		handle;
	int			cqe;		/* capacity */
};

/* enum ibv_qp_type; only RC exists. */
enum odp_qp_type {
	ODP_QPT_RC		= 2,
};

struct odp_qp_cap {
	uint32_t	max_send_wr;	/* 1 .. 4096 */
	uint32_t	max_recv_wr;	/* 1 .. 4096 */
	uint32_t	max_send_sge;	/* 0 (means 1) .. 16 */
	uint32_t	max_recv_sge;	/* 0 (means 1) .. 16 */
};

struct odp_qp_init_attr {
	void			*qp_context;
	struct odp_cq		*send_cq;
	struct odp_cq		*recv_cq;
	struct odp_qp_cap	cap;
	enum odp_qp_type	qp_type;	/* ODP_QPT_RC */
	int			sq_sig_all;	/* every send WR completes */
};

struct odp_qp {
	struct odp_context	*context;
	void			*qp_context;
	struct odp_pd		*pd;
	struct odp_cq		*send_cq;
	struct odp_cq		*recv_cq;
	uint32_t		handle;
	uint32_t		qp_num;
	enum odp_qp_type	qp_type;
};

/* A bound IPv4 address and port that connection requests arrive on. */
struct odp_listener {
	struct odp_context	*context;
	uint32_t		handle;
};

/* enum ibv_wr_opcode */
enum odp_wr_opcode {
	ODP_WR_RDMA_WRITE		= 0,
	ODP_WR_RDMA_WRITE_WITH_IMM	= 1,
	ODP_WR_SEND			= 2,
	ODP_WR_SEND_WITH_IMM		= 3,
	ODP_WR_RDMA_READ		= 4,
	ODP_WR_ATOMIC_CMP_AND_SWP	= 5,
	ODP_WR_ATOMIC_FETCH_AND_ADD	= 6,
};

/* enum ibv_send_flags; only SIGNALED is supported. */
enum odp_send_flags {
	ODP_SEND_SIGNALED		= 1 << 1,
};

/* struct ibv_send_wr, less what the transport does not have. */
struct odp_send_wr {
	uint64_t		wr_id;
	struct odp_send_wr	*next;
	struct odp_sge		*sg_list;
	int			num_sge;
	enum odp_wr_opcode	opcode;
	unsigned int		send_flags;	/* enum odp_send_flags */
	uint32_t		imm_data;	/* network order */
	union {
		struct {
			uint64_t	remote_addr;
			uint32_t	rkey;
		} rdma;
		struct {
			uint64_t	remote_addr;	/* 8-byte aligned */
			uint64_t	compare_add;
			uint64_t	swap;
			uint32_t	rkey;
		} atomic;
	} wr;
};

struct odp_recv_wr {
	uint64_t		wr_id;
	struct odp_recv_wr	*next;
	struct odp_sge		*sg_list;
	int			num_sge;
};

/* RDMA devices: a NULL-terminated list, freed with odp_free_device_list(). */
struct odp_device **odp_get_device_list(int *num_devices);
void odp_free_device_list(struct odp_device **list);
const char *odp_get_device_name(struct odp_device *device);

/*
 * Bind a context to an RDMA device and port (0 means 1), once. QPs need a
 * bound context. odp_open_ib_device() is odp_open_device(NULL) and
 * odp_bind_device(, name, 1, NULL) in one call.
 */
int odp_bind_device(struct odp_context *context, const char *ibdev_name,
		    uint8_t port_num, struct odp_port_attr *port_attr);
struct odp_context *odp_open_ib_device(struct odp_device *device);

/* Completion queues, like ibv_create_cq() / ibv_poll_cq(). */
struct odp_cq *odp_create_cq(struct odp_context *context, int cqe);
int odp_destroy_cq(struct odp_cq *cq);
/* Returns the number of completions (>= 0), or a negative errno value. */
int odp_poll_cq(struct odp_cq *cq, int num_entries, struct odp_wc *wc);
const char *odp_wc_status_str(enum odp_wc_status status);

/* Queue pairs. */
struct odp_qp *odp_create_qp(struct odp_pd *pd,
			     struct odp_qp_init_attr *qp_init_attr);
int odp_destroy_qp(struct odp_qp *qp);

/*
 * Connections, IPv4 only (struct sockaddr_in). odp_connect() and
 * odp_accept() block until the connection is established or fails.
 */
int odp_connect(struct odp_qp *qp, const struct sockaddr *dst, int timeout_ms);
struct odp_listener *odp_listen(struct odp_context *context,
				const struct sockaddr *src, int backlog);
int odp_accept(struct odp_listener *listener, struct odp_qp *qp,
	       int timeout_ms);
int odp_destroy_listener(struct odp_listener *listener);

/* Work requests, like ibv_post_send() / ibv_post_recv(). */
int odp_post_send(struct odp_qp *qp, struct odp_send_wr *wr,
		  struct odp_send_wr **bad_wr);
int odp_post_recv(struct odp_qp *qp, struct odp_recv_wr *wr,
		  struct odp_recv_wr **bad_wr);

#ifdef __cplusplus
}
#endif

#endif /* ODP_H */
