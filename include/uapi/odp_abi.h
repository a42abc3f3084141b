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

#define ODP_IOC_MAGIC		0xD0

#define ODP_IOC_QUERY_DEVICE	_IOR(ODP_IOC_MAGIC, 0x00, struct odp_abi_query_device)
#define ODP_IOC_ALLOC_PD	_IOWR(ODP_IOC_MAGIC, 0x01, struct odp_abi_alloc_pd)
#define ODP_IOC_DEALLOC_PD	_IOW(ODP_IOC_MAGIC, 0x02, struct odp_abi_dealloc_pd)
#define ODP_IOC_REG_MR		_IOWR(ODP_IOC_MAGIC, 0x03, struct odp_abi_reg_mr)
#define ODP_IOC_DEREG_MR	_IOW(ODP_IOC_MAGIC, 0x04, struct odp_abi_dereg_mr)
#define ODP_IOC_MR_ACCESS	_IOW(ODP_IOC_MAGIC, 0x05, struct odp_abi_mr_access)
#define ODP_IOC_ADVISE_MR	_IOW(ODP_IOC_MAGIC, 0x06, struct odp_abi_advise_mr)
#define ODP_IOC_QUERY_STATS	_IOWR(ODP_IOC_MAGIC, 0x07, struct odp_abi_query_stats)

#endif /* _UAPI_ODP_ABI_H */
