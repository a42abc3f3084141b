// SPDX-License-Identifier: GPL-2.0
/*
 * odp: counters, and their debugfs view.
 *
 * Each MR counts its own events; every count is added to the device sum as
 * well, so the device figures outlive deregistered MRs.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "odp_verbs.h"

atomic64_t odp_dev_stats[ODP_ABI_STAT_MAX];

/* The ABI's counters are the core's, in the same order. */
#define ODP_SAME_STAT(n) \
	static_assert((int)ODP_ABI_STAT_##n == (int)ODP_UMEM_STAT_##n)
ODP_SAME_STAT(FAULTS);
ODP_SAME_STAT(PAGES_FAULTED);
ODP_SAME_STAT(INVALIDATIONS);
ODP_SAME_STAT(PAGES_INVALIDATED);
ODP_SAME_STAT(RETRIES);
ODP_SAME_STAT(BUSY_RETRIES);
ODP_SAME_STAT(PREFETCHES);
ODP_SAME_STAT(NONBLOCK_INVALIDATIONS);
ODP_SAME_STAT(NONBLOCK_REFUSED);
ODP_SAME_STAT(ACCESSES);
ODP_SAME_STAT(ACCESS_BYTES);
ODP_SAME_STAT(FAULT_ERRORS);
ODP_SAME_STAT(PAGES_MAPPED);
ODP_SAME_STAT(MAX);

const char * const odp_stat_names[ODP_ABI_STAT_MAX] = {
	[ODP_ABI_STAT_FAULTS]			= "faults",
	[ODP_ABI_STAT_PAGES_FAULTED]		= "pages_faulted",
	[ODP_ABI_STAT_INVALIDATIONS]		= "invalidations",
	[ODP_ABI_STAT_PAGES_INVALIDATED]	= "pages_invalidated",
	[ODP_ABI_STAT_RETRIES]			= "retries",
	[ODP_ABI_STAT_BUSY_RETRIES]		= "busy_retries",
	[ODP_ABI_STAT_PREFETCHES]		= "prefetches",
	[ODP_ABI_STAT_NONBLOCK_INVALIDATIONS]	= "nonblock_invalidations",
	[ODP_ABI_STAT_NONBLOCK_REFUSED]		= "nonblock_refused",
	[ODP_ABI_STAT_ACCESSES]			= "accesses",
	[ODP_ABI_STAT_ACCESS_BYTES]		= "access_bytes",
	[ODP_ABI_STAT_FAULT_ERRORS]		= "fault_errors",
	[ODP_ABI_STAT_PAGES_MAPPED]		= "pages_mapped",
};

/* Protects odp_all_mrs: every registered MR, for debugfs. */
DEFINE_MUTEX(odp_all_mrs_lock);
LIST_HEAD(odp_all_mrs);

/* Ours, in the ODP core's debugfs folder (the retry hook is the core's). */
static struct dentry *odp_debugfs_stats, *odp_debugfs_mrs;

static int odp_stats_show(struct seq_file *s, void *unused)
{
	int i;

	for (i = 0; i < ODP_ABI_STAT_MAX; i++)
		seq_printf(s, "%s %lld\n", odp_stat_names[i],
			   atomic64_read(&odp_dev_stats[i]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(odp_stats);

static int odp_mrs_show(struct seq_file *s, void *unused)
{
	u64 values[ODP_ABI_STAT_MAX];
	struct odp_mr *mr;
	int i;

	mutex_lock(&odp_all_mrs_lock);
	list_for_each_entry(mr, &odp_all_mrs, all_node) {
		seq_printf(s, "mr %u pid %d lkey 0x%x addr 0x%llx length %llu access 0x%x",
			   mr->uobj.handle, mr->tgid, mr->lkey, mr->addr,
			   mr->length, mr->access);
		odp_umem_read_stats(mr->umem, values, ODP_ABI_STAT_MAX);
		for (i = 0; i < ODP_ABI_STAT_MAX; i++)
			seq_printf(s, " %s=%llu", odp_stat_names[i], values[i]);
		seq_putc(s, '\n');
	}
	mutex_unlock(&odp_all_mrs_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(odp_mrs);

void odp_debugfs_init(void)
{
	struct dentry *dir = odp_core_debugfs_dir();

	odp_debugfs_stats = debugfs_create_file("stats", 0444, dir, NULL,
						&odp_stats_fops);
	odp_debugfs_mrs = debugfs_create_file("mrs", 0444, dir, NULL,
					      &odp_mrs_fops);
}

void odp_debugfs_exit(void)
{
	debugfs_remove(odp_debugfs_mrs);
	debugfs_remove(odp_debugfs_stats);
}
