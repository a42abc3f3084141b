// SPDX-License-Identifier: GPL-2.0
/*
 * odp_core: creating and ending a umem, its counters, and the module.
 */
#include <linux/debugfs.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "umem.h"

/**
 * odp_umem_create - on-demand paged device view of [start, end) of @mm
 * @mm: the address space; the umem mmgrab()s it (never mmget(): it must not
 *	keep the process's memory alive)
 * @start: page-aligned start
 * @end: page-aligned end, above @start
 * @memcg: where the translation cache is charged, or NULL (current's)
 * @sums: the consumer's totals, ODP_UMEM_STAT_MAX counters that every count
 *	of this umem is added to as well, or NULL
 *
 * Inserts the umem's own interval notifier and faults nothing in: the cost
 * does not depend on the length.
 *
 * Return: the umem, or an ERR_PTR (-EINVAL, -ENOMEM).
 */
struct odp_umem *odp_umem_create(struct mm_struct *mm, unsigned long start,
				 unsigned long end, struct mem_cgroup *memcg,
				 atomic64_t *sums)
{
	struct odp_umem *umem;
	int ret;

	if (start >= end || !PAGE_ALIGNED(start) || !PAGE_ALIGNED(end))
		return ERR_PTR(-EINVAL);
	umem = kzalloc(sizeof(*umem), GFP_KERNEL_ACCOUNT);
	if (!umem)
		return ERR_PTR(-ENOMEM);
	umem->start = start;
	umem->end = end;
	umem->sums = sums;
	mutex_init(&umem->lock);
	xa_init(&umem->pt);
	spin_lock_init(&umem->inflight_lock);
	INIT_LIST_HEAD(&umem->inflight);
	init_waitqueue_head(&umem->inflight_wq);

	ret = mmu_interval_notifier_insert(&umem->notifier, mm, start,
					   end - start, &odp_umem_notifier_ops);
	if (ret) {
		kfree(umem);
		return ERR_PTR(ret);
	}
	mmgrab(mm);
	umem->mm = mm;
	if (memcg) {
		css_get(&memcg->css);
		umem->memcg = memcg;
	}
	return umem;
}
EXPORT_SYMBOL_GPL(odp_umem_create);

/**
 * odp_umem_kill - end all device access to a umem
 * @umem: the umem
 *
 * From now on no entry is installed and no access begins (they fail with
 * -EINVAL); the accesses under way are waited for.  When this returns the
 * device touches none of the umem's pages again, whoever can still call in.
 * May sleep.
 */
void odp_umem_kill(struct odp_umem *umem)
{
	if (umem->implicit) {
		odp_implicit_kill(umem);
		return;
	}
	mutex_lock(&umem->lock);
	umem->dead = true;
	mutex_unlock(&umem->lock);
	wait_event(umem->inflight_wq,
		   !odp_inflight_overlaps(umem, umem->start, umem->end));
	odp_umem_zap_all(umem);
}
EXPORT_SYMBOL_GPL(odp_umem_kill);

/**
 * odp_umem_free - free a killed umem
 * @umem: the umem; nobody may call in any more (a fault of a holder would
 *	still use the notifier)
 */
void odp_umem_free(struct odp_umem *umem)
{
	WARN_ON_ONCE(!umem->dead);
	if (umem->implicit) {
		odp_implicit_free(umem);
		return;
	}
	mmu_interval_notifier_remove(&umem->notifier);
	xa_destroy(&umem->pt);
	mem_cgroup_put(umem->memcg);
	mmdrop(umem->mm);
	kfree_rcu(umem, rcu);
}
EXPORT_SYMBOL_GPL(odp_umem_free);

/* Add @n to a counter of the umem (its parent's, the consumer's total). */
void odp_umem_count(struct odp_umem *umem, enum odp_umem_stat stat, s64 n)
{
	atomic64_add(n, &umem->stats[stat]);
	if (umem->parent)
		atomic64_add(n, &umem->parent->stats[stat]);
	if (umem->sums)
		atomic64_add(n, &umem->sums[stat]);
}
EXPORT_SYMBOL_GPL(odp_umem_count);

/* The first @n counters, in enum odp_umem_stat order. */
void odp_umem_read_stats(struct odp_umem *umem, u64 *values, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < min_t(unsigned int, n, ODP_UMEM_STAT_MAX); i++)
		values[i] = atomic64_read(&umem->stats[i]);
}
EXPORT_SYMBOL_GPL(odp_umem_read_stats);

/* Where the umem's work should be charged (consumers' worker threads). */
struct mem_cgroup *odp_umem_memcg(struct odp_umem *umem)
{
	return umem->memcg;
}
EXPORT_SYMBOL_GPL(odp_umem_memcg);

static struct dentry *odp_core_debugfs;

/* The debugfs folder of the stack ("odp"), for the consumers' files too. */
struct dentry *odp_core_debugfs_dir(void)
{
	return odp_core_debugfs;
}
EXPORT_SYMBOL_GPL(odp_core_debugfs_dir);

static int __init odp_core_init(void)
{
	odp_core_debugfs = debugfs_create_dir("odp", NULL);
	odp_retry_hook_init(odp_core_debugfs);
	return 0;
}

static void __exit odp_core_exit(void)
{
	debugfs_remove_recursive(odp_core_debugfs);
}

module_init(odp_core_init);
module_exit(odp_core_exit);

MODULE_DESCRIPTION("On-demand paging of user memory for RDMA devices");
MODULE_LICENSE("GPL");
