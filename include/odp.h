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
 * faulting pages in as needed. buf must not overlap the MR's range.
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

#ifdef __cplusplus
}
#endif

#endif /* ODP_H */
