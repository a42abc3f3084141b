/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * Kernel/user ABI of the odp module: ioctls on /dev/odp.
 *
 * Shared verbatim by driver/ and libodp/.  Every ioctl argument is a
 * fixed-size struct of naturally aligned __u32/__u64 fields whose size is
 * encoded in the ioctl number.  The driver dispatches on _IOC_NR() and reads
 * the argument with copy_struct_from_user(), so the ABI grows by appending
 * fields at the end: an older binary passes a shorter struct (new fields
 * read as zero), a newer binary may pass a longer one as long as the fields
 * the kernel does not know are zero (else -E2BIG).  Output is written back
 * truncated to the caller's size.  Reserved fields must be zero.
 */
#ifndef _UAPI_ODP_ABI_H
#define _UAPI_ODP_ABI_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define ODP_ABI_VERSION		1
#define ODP_DEVICE_NAME		"odp"	/* /dev/odp */

/* MR access flags: the same bit values as enum ibv_access_flags. */
enum odp_abi_access_flags {
	ODP_ABI_ACCESS_LOCAL_WRITE	= 1 << 0,
	ODP_ABI_ACCESS_REMOTE_WRITE	= 1 << 1,
	ODP_ABI_ACCESS_REMOTE_READ	= 1 << 2,
	ODP_ABI_ACCESS_REMOTE_ATOMIC	= 1 << 3,
	ODP_ABI_ACCESS_ON_DEMAND	= 1 << 6,
};

#define ODP_ABI_ACCESS_SUPPORTED					\
	(ODP_ABI_ACCESS_LOCAL_WRITE | ODP_ABI_ACCESS_REMOTE_WRITE |	\
	 ODP_ABI_ACCESS_REMOTE_READ | ODP_ABI_ACCESS_REMOTE_ATOMIC |	\
	 ODP_ABI_ACCESS_ON_DEMAND)

/* Advice for ODP_IOC_ADVISE_MR: the values of enum ibv_advise_mr_advice. */
enum odp_abi_advice {
	ODP_ABI_ADVISE_PREFETCH		= 0,	/* fault for read */
	ODP_ABI_ADVISE_PREFETCH_WRITE	= 1,	/* fault for write */
	ODP_ABI_ADVISE_PREFETCH_NO_FAULT	= 2,	/* map only what is resident */
};

/* ODP_IOC_ADVISE_MR flags. */
enum odp_abi_advise_flags {
	/* Wait until the prefetch is done and report its error. */
	ODP_ABI_ADVISE_FLAG_FLUSH	= 1 << 0,
};

/* ODP_IOC_MR_ACCESS direction. */
enum odp_abi_access_dir {
	ODP_ABI_DIR_READ	= 0,	/* device reads the MR into the caller's buffer */
	ODP_ABI_DIR_WRITE	= 1,	/* device writes the caller's buffer into the MR */
};

/*
 * Counters, kept per MR and summed per device.  Indices into the array that
 * ODP_IOC_QUERY_STATS fills; new counters are only ever appended.
 */
enum odp_abi_stat {
	ODP_ABI_STAT_FAULTS,		/* fault operations that installed entries */
	ODP_ABI_STAT_PAGES_FAULTED,		/* entries installed by those faults */
	ODP_ABI_STAT_INVALIDATIONS,		/* notifier callbacks that hit an MR */
	ODP_ABI_STAT_PAGES_INVALIDATED,	/* entries zapped or write-protected */
	ODP_ABI_STAT_RETRIES,		/* mmu_interval_read_retry() collisions */
	ODP_ABI_STAT_BUSY_RETRIES,		/* hmm_range_fault() returned -EBUSY */
	ODP_ABI_STAT_PREFETCHES,		/* advise requests executed */
	ODP_ABI_STAT_NONBLOCK_INVALIDATIONS,/* non-blockable callbacks handled */
	ODP_ABI_STAT_NONBLOCK_REFUSED,	/* non-blockable callbacks refused */
	ODP_ABI_STAT_ACCESSES,		/* device accesses through the cache */
	ODP_ABI_STAT_ACCESS_BYTES,		/* bytes moved by those accesses */
	ODP_ABI_STAT_FAULT_ERRORS,		/* faults that failed (unmapped, perm) */
	ODP_ABI_STAT_PAGES_MAPPED,		/* gauge: entries in the cache now */
	ODP_ABI_STAT_MAX
};

struct odp_abi_query_device {
	__u32 abi_version;		/* out: ODP_ABI_VERSION */
	__u32 page_size;		/* out */
	__aligned_u64 max_mr_size;	/* out */
	__u32 num_stats;		/* out: ODP_ABI_STAT_MAX of the kernel */
	__u32 access_flags;		/* out: supported access flags */
};

struct odp_abi_alloc_pd {
	__u32 pd_handle;		/* out */
	__u32 reserved;
};

struct odp_abi_dealloc_pd {
	__u32 pd_handle;
	__u32 reserved;
};

struct odp_abi_reg_mr {
	__aligned_u64 addr;		/* start of the range, any byte */
	__aligned_u64 length;		/* bytes, > 0 */
	__u32 pd_handle;
	__u32 access;			/* enum odp_abi_access_flags */
	__u32 mr_handle;		/* out */
	__u32 lkey;			/* out */
	__u32 rkey;			/* out */
	__u32 reserved;
};

struct odp_abi_dereg_mr {
	__u32 mr_handle;
	__u32 reserved;
};

/* Device access to an MR through its translation cache (the engine). */
struct odp_abi_mr_access {
	__u32 lkey;
	__u32 dir;			/* enum odp_abi_access_dir */
	__aligned_u64 iova;		/* address inside the MR */
	__aligned_u64 length;
	__aligned_u64 buf;		/* user buffer, must not overlap the MR range */
};

/* One range of an advise request; the layout of struct ibv_sge. */
struct odp_abi_sge {
	__aligned_u64 addr;
	__u32 length;
	__u32 lkey;
};

#define ODP_ABI_ADVISE_MAX_SGE	64

struct odp_abi_advise_mr {
	__u32 advice;			/* enum odp_abi_advice */
	__u32 flags;			/* enum odp_abi_advise_flags */
	__u32 pd_handle;
	__u32 num_sge;			/* 1 .. ODP_ABI_ADVISE_MAX_SGE */
	__aligned_u64 sg_list;		/* user pointer to struct odp_abi_sge[num_sge] */
};

struct odp_abi_query_stats {
	__u32 mr_handle;		/* ODP_ABI_STATS_DEVICE for the device sums */
	__u32 num_stats;		/* in: room at stats; out: entries written */
	__aligned_u64 stats;		/* user pointer to __u64[num_stats] */
};

#define ODP_ABI_STATS_DEVICE	0xffffffffU

/*
 * Transport (RDMA over a kernel RC QP of an RDMA device).  Values of
 * opcodes, flags and statuses are those of libibverbs.
 */
#define ODP_ABI_IBDEV_NAME_MAX	64

struct odp_abi_bind_device {
	char name[ODP_ABI_IBDEV_NAME_MAX];	/* e.g. "rxe0", NUL-terminated */
	__u32 port_num;			/* in: 0 means 1 */
	__u32 port_state;		/* out: enum ib_port_state */
	__u32 max_msg_size;		/* out */
	__u32 reserved;
};

struct odp_abi_create_cq {
	__u32 cqe;			/* in: capacity; out: actual */
	__u32 cq_handle;		/* out */
};

struct odp_abi_destroy_cq {
	__u32 cq_handle;
	__u32 reserved;
};

/* enum ibv_wc_status */
enum odp_abi_wc_status {
	ODP_ABI_WC_SUCCESS		= 0,
	ODP_ABI_WC_LOC_LEN_ERR		= 1,
	ODP_ABI_WC_LOC_QP_OP_ERR	= 2,
	ODP_ABI_WC_LOC_PROT_ERR		= 4,
	ODP_ABI_WC_WR_FLUSH_ERR		= 5,
	ODP_ABI_WC_BAD_RESP_ERR		= 7,
	ODP_ABI_WC_LOC_ACCESS_ERR	= 8,
	ODP_ABI_WC_REM_INV_REQ_ERR	= 9,
	ODP_ABI_WC_REM_ACCESS_ERR	= 10,
	ODP_ABI_WC_REM_OP_ERR		= 11,
	ODP_ABI_WC_RETRY_EXC_ERR	= 12,
	ODP_ABI_WC_FATAL_ERR		= 19,
	ODP_ABI_WC_GENERAL_ERR		= 21,
};

/* enum ibv_wc_opcode */
enum odp_abi_wc_opcode {
	ODP_ABI_WC_SEND			= 0,
	ODP_ABI_WC_RDMA_WRITE		= 1,
	ODP_ABI_WC_RDMA_READ		= 2,
	ODP_ABI_WC_COMP_SWAP		= 3,
	ODP_ABI_WC_FETCH_ADD		= 4,
	ODP_ABI_WC_RECV			= 128,
	ODP_ABI_WC_RECV_RDMA_WITH_IMM	= 129,
};

#define ODP_ABI_WC_WITH_IMM	(1 << 1)	/* IBV_WC_WITH_IMM */

struct odp_abi_wc {
	__aligned_u64 wr_id;
	__u32 status;			/* enum odp_abi_wc_status */
	__u32 opcode;			/* enum odp_abi_wc_opcode */
	__u32 byte_len;
	__u32 imm_data;			/* network order, as in ibv_wc */
	__u32 qp_num;
	__u32 wc_flags;
	__u32 vendor_err;
	__u32 reserved;
};

struct odp_abi_poll_cq {
	__u32 cq_handle;
	__u32 num_entries;		/* in: room at wc; out: entries written */
	__aligned_u64 wc;		/* user pointer to struct odp_abi_wc[] */
};

struct odp_abi_create_qp {
	__u32 pd_handle;
	__u32 send_cq;
	__u32 recv_cq;
	__u32 max_send_wr;
	__u32 max_recv_wr;
	__u32 max_send_sge;
	__u32 max_recv_sge;
	__u32 sq_sig_all;
	__u32 qp_handle;		/* out */
	__u32 qp_num;			/* out */
};

struct odp_abi_destroy_qp {
	__u32 qp_handle;
	__u32 reserved;
};

/* IPv4 only for now; addresses and ports in network byte order. */
struct odp_abi_listen {
	__u32 addr;
	__u32 port;
	__u32 backlog;
	__u32 listen_handle;		/* out */
};

struct odp_abi_destroy_listen {
	__u32 listen_handle;
	__u32 reserved;
};

struct odp_abi_accept {
	__u32 listen_handle;
	__u32 qp_handle;
	__u32 timeout_ms;		/* 0: wait until a signal */
	__u32 reserved;
};

struct odp_abi_connect {
	__u32 qp_handle;
	__u32 addr;
	__u32 port;
	__u32 timeout_ms;		/* 0: the default, 5 s */
};

/* enum ibv_wr_opcode */
enum odp_abi_wr_opcode {
	ODP_ABI_WR_RDMA_WRITE		= 0,
	ODP_ABI_WR_RDMA_WRITE_WITH_IMM	= 1,
	ODP_ABI_WR_SEND			= 2,
	ODP_ABI_WR_SEND_WITH_IMM	= 3,
	ODP_ABI_WR_RDMA_READ		= 4,
	ODP_ABI_WR_ATOMIC_CMP_AND_SWP	= 5,
	ODP_ABI_WR_ATOMIC_FETCH_AND_ADD	= 6,
};

/* enum ibv_send_flags */
#define ODP_ABI_SEND_SIGNALED	(1 << 1)

#define ODP_ABI_MAX_SGE		16

struct odp_abi_send_wr {
	__aligned_u64 wr_id;
	__u32 opcode;			/* enum odp_abi_wr_opcode */
	__u32 send_flags;
	__aligned_u64 sg_list;		/* user pointer to struct odp_abi_sge[] */
	__u32 num_sge;
	__u32 imm_data;			/* network order */
	__aligned_u64 remote_addr;
	__u32 rkey;
	__u32 reserved;
	__aligned_u64 compare_add;
	__aligned_u64 swap;
};

struct odp_abi_recv_wr {
	__aligned_u64 wr_id;
	__aligned_u64 sg_list;		/* user pointer to struct odp_abi_sge[] */
	__u32 num_sge;
	__u32 reserved;
};

struct odp_abi_post {
	__u32 qp_handle;
	__u32 num_wr;
	__aligned_u64 wr_list;		/* odp_abi_send_wr[] or odp_abi_recv_wr[] */
	__u32 bad_wr;			/* out: index of the first WR not posted */
	__u32 reserved;
};

#define ODP_IOC_MAGIC		0xD0

#define ODP_IOC_QUERY_DEVICE	_IOR(ODP_IOC_MAGIC, 0x00, struct odp_abi_query_device)
#define ODP_IOC_ALLOC_PD	_IOWR(ODP_IOC_MAGIC, 0x01, struct odp_abi_alloc_pd)
#define ODP_IOC_DEALLOC_PD	_IOW(ODP_IOC_MAGIC, 0x02, struct odp_abi_dealloc_pd)
#define ODP_IOC_REG_MR		_IOWR(ODP_IOC_MAGIC, 0x03, struct odp_abi_reg_mr)
#define ODP_IOC_DEREG_MR	_IOW(ODP_IOC_MAGIC, 0x04, struct odp_abi_dereg_mr)
#define ODP_IOC_MR_ACCESS	_IOW(ODP_IOC_MAGIC, 0x05, struct odp_abi_mr_access)
#define ODP_IOC_ADVISE_MR	_IOW(ODP_IOC_MAGIC, 0x06, struct odp_abi_advise_mr)
#define ODP_IOC_QUERY_STATS	_IOWR(ODP_IOC_MAGIC, 0x07, struct odp_abi_query_stats)
#define ODP_IOC_BIND_DEVICE	_IOWR(ODP_IOC_MAGIC, 0x08, struct odp_abi_bind_device)
#define ODP_IOC_CREATE_CQ	_IOWR(ODP_IOC_MAGIC, 0x09, struct odp_abi_create_cq)
#define ODP_IOC_DESTROY_CQ	_IOW(ODP_IOC_MAGIC, 0x0a, struct odp_abi_destroy_cq)
#define ODP_IOC_POLL_CQ		_IOWR(ODP_IOC_MAGIC, 0x0b, struct odp_abi_poll_cq)
#define ODP_IOC_CREATE_QP	_IOWR(ODP_IOC_MAGIC, 0x0c, struct odp_abi_create_qp)
#define ODP_IOC_DESTROY_QP	_IOW(ODP_IOC_MAGIC, 0x0d, struct odp_abi_destroy_qp)
#define ODP_IOC_LISTEN		_IOWR(ODP_IOC_MAGIC, 0x0e, struct odp_abi_listen)
#define ODP_IOC_DESTROY_LISTEN	_IOW(ODP_IOC_MAGIC, 0x0f, struct odp_abi_destroy_listen)
#define ODP_IOC_ACCEPT		_IOW(ODP_IOC_MAGIC, 0x10, struct odp_abi_accept)
#define ODP_IOC_CONNECT		_IOW(ODP_IOC_MAGIC, 0x11, struct odp_abi_connect)
#define ODP_IOC_POST_SEND	_IOWR(ODP_IOC_MAGIC, 0x12, struct odp_abi_post)
#define ODP_IOC_POST_RECV	_IOWR(ODP_IOC_MAGIC, 0x13, struct odp_abi_post)

#endif /* _UAPI_ODP_ABI_H */
