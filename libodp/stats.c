// SPDX-License-Identifier: MIT
/* Counters of an MR or of the whole device, and their names. */
#include "odp_int.h"

static const char *const stat_names[] = {
	[ODP_STAT_FAULTS]			= "faults",
	[ODP_STAT_PAGES_FAULTED]		= "pages_faulted",
	[ODP_STAT_INVALIDATIONS]		= "invalidations",
	[ODP_STAT_PAGES_INVALIDATED]		= "pages_invalidated",
	[ODP_STAT_RETRIES]			= "retries",
	[ODP_STAT_BUSY_RETRIES]			= "busy_retries",
	[ODP_STAT_PREFETCHES]			= "prefetches",
	[ODP_STAT_NONBLOCK_INVALIDATIONS]	= "nonblock_invalidations",
	[ODP_STAT_NONBLOCK_REFUSED]		= "nonblock_refused",
	[ODP_STAT_ACCESSES]			= "accesses",
	[ODP_STAT_ACCESS_BYTES]			= "access_bytes",
	[ODP_STAT_FAULT_ERRORS]			= "fault_errors",
	[ODP_STAT_PAGES_MAPPED]			= "pages_mapped",
};

_Static_assert(sizeof(stat_names) / sizeof(stat_names[0]) == ODP_STAT_MAX,
	       "a counter has no name");

static int query_stats(struct odp_context *ctx, uint32_t handle,
		       uint64_t *values, unsigned int n)
{
	struct odp_abi_query_stats cmd = { 0 };
	int err;

	if (n && !values) {
		errno = EINVAL;
		return -1;
	}

	cmd.mr_handle = handle;
	cmd.num_stats = n;
	cmd.stats = odp_ptr(values);
	err = odp_cmd(ctx, ODP_IOC_QUERY_STATS, &cmd);
	if (err)
		return -1;
	/* The kernel never writes more than it was given room for. */
	return (int)(cmd.num_stats < n ? cmd.num_stats : n);
}

int odp_query_mr_stats(struct odp_mr *mr, uint64_t *values, unsigned int n)
{
	if (!mr) {
		errno = EINVAL;
		return -1;
	}
	return query_stats(mr->context, mr->handle, values, n);
}

int odp_query_device_stats(struct odp_context *context, uint64_t *values,
			   unsigned int n)
{
	if (!context) {
		errno = EINVAL;
		return -1;
	}
	return query_stats(context, ODP_ABI_STATS_DEVICE, values, n);
}

const char *odp_stat_name(unsigned int stat)
{
	if (stat >= ODP_STAT_MAX)
		return NULL;
	return stat_names[stat];
}
