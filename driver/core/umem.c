// SPDX-License-Identifier: GPL-2.0
/*
 * odp_core: creating and ending a umem, its counters, and the module.
 */
#include <linux/debugfs.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "umem.h"

static atomic_t odp_umem_ids = ATOMIC_INIT(0);

u32 odp_umem_next_id(void)
{
	return atomic_inc_return(&odp_umem_ids);
}

/**
 * odp_umem_create - on-demand paged device view of [start, end) of @mm
 * @mm: the address space; the umem mmgrab()s it (never mmget(): it must not
 *	keep the process's memory alive)
 * @start: page-aligned start
 * @end: page-aligned end, above @start
 * @memcg: where the translation cache is charged, or NULL (current's)
 * @sums: the consumer's per-CPU totals that every count of this umem is
 *	added to as well, or NULL
 *
 * Inserts the umem's own interval notifier and faults nothing in.  What it
 * allocates beyond that is the translation cache's directory, 8 bytes per
 * GiB of the range (pt.c).
 *
 * Return: the umem, or an ERR_PTR (-EINVAL, -ENOMEM).
 */
struct odp_umem *odp_umem_create(struct mm_struct *mm, unsigned long start,
				 unsigned long end, struct mem_cgroup *memcg,
				 struct odp_umem_sums __percpu *sums)
{
	struct odp_umem *umem;
	int ret;

	if (start >= end || !PAGE_ALIGNED(start) || !PAGE_ALIGNED(end))
		return ERR_PTR(-EINVAL);
	umem = kzalloc(sizeof(*umem), GFP_KERNEL_ACCOUNT);
	if (!umem)
		return ERR_PTR(-ENOMEM);
	umem->access_counts = alloc_percpu_gfp(struct odp_umem_access_counts,
					       GFP_KERNEL_ACCOUNT);
	if (!umem->access_counts) {
		kfree(umem);
		return ERR_PTR(-ENOMEM);
	}
	umem->id = odp_umem_next_id();
	umem->start = start;
	umem->end = end;
	umem->sums = sums;
	mutex_init(&umem->lock);
	spin_lock_init(&umem->inflight_lock);
	INIT_LIST_HEAD(&umem->inflight);
	init_waitqueue_head(&umem->inflight_wq);

	umem->memcg = memcg;

	ret = odp_pt_init(umem);
	if (ret)
		goto err_counts;
	ret = mmu_interval_notifier_insert(&umem->notifier, mm, start,
					   end - start, &odp_umem_notifier_ops);
	if (ret)
		goto err_pt;
	mmgrab(mm);
	umem->mm = mm;
	if (memcg)
		css_get(&memcg->css);
	return umem;

err_pt:
	odp_pt_free(umem);
err_counts:
	free_percpu(umem->access_counts);
	kfree(umem);
	return ERR_PTR(ret);
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
	/* Accesses read it without the lock (access.c). */
	WRITE_ONCE(umem->dead, true);
	mutex_unlock(&umem->lock);
	odp_access_slots_wait(umem, umem->start, umem->end, true);
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
	odp_pt_free(umem);
	/* Killed: no access counts any more. */
	free_percpu(umem->access_counts);
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
		this_cpu_add(umem->sums->v[stat], n);
}
EXPORT_SYMBOL_GPL(odp_umem_count);

/* The first @n counters, in enum odp_umem_stat order. */
void odp_umem_read_stats(struct odp_umem *umem, u64 *values, unsigned int n)
{
	unsigned int i, cpu;

	for (i = 0; i < min_t(unsigned int, n, ODP_UMEM_STAT_MAX); i++)
		values[i] = atomic64_read(&umem->stats[i]);
	/* Counted apart, per CPU, by the accesses (access.c). */
	if (!umem->access_counts)
		return;
	for_each_possible_cpu(cpu) {
		struct odp_umem_access_counts *c =
			per_cpu_ptr(umem->access_counts, cpu);

		if (n > ODP_UMEM_STAT_ACCESSES)
			values[ODP_UMEM_STAT_ACCESSES] += READ_ONCE(c->accesses);
		if (n > ODP_UMEM_STAT_ACCESS_BYTES)
			values[ODP_UMEM_STAT_ACCESS_BYTES] += READ_ONCE(c->bytes);
	}
}
EXPORT_SYMBOL_GPL(odp_umem_read_stats);

/**
 * odp_umem_sums_read - a consumer's totals, summed over the CPUs
 * @sums: the per-CPU totals given to odp_umem_create()
 * @values: where the first @n counters go, in enum odp_umem_stat order
 * @n: how many
 *
 * Not a snapshot: counts that race with the read may or may not be in it.
 * The gauge ODP_UMEM_STAT_PAGES_MAPPED is the sum of per-CPU increments and
 * decrements (a page may be mapped on one CPU and dropped on another), so a
 * racing read can see a drop without its map: it is never reported below 0.
 * (On 64-bit, each per-CPU value is read whole; the module is built for
 * 64-bit kernels.)
 */
void odp_umem_sums_read(struct odp_umem_sums __percpu *sums, u64 *values,
			unsigned int n)
{
	unsigned int i, cpu;

	n = min_t(unsigned int, n, ODP_UMEM_STAT_MAX);
	memset(values, 0, n * sizeof(*values));
	for_each_possible_cpu(cpu) {
		struct odp_umem_sums *s = per_cpu_ptr(sums, cpu);

		for (i = 0; i < n; i++)
			values[i] += READ_ONCE(s->v[i]);
	}
	if (n > ODP_UMEM_STAT_PAGES_MAPPED &&
	    (s64)values[ODP_UMEM_STAT_PAGES_MAPPED] < 0)
		values[ODP_UMEM_STAT_PAGES_MAPPED] = 0;
}
EXPORT_SYMBOL_GPL(odp_umem_sums_read);

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
	odp_retry_hook_exit();
}

module_init(odp_core_init);
module_exit(odp_core_exit);

MODULE_DESCRIPTION("On-demand paging of user memory for RDMA devices");
MODULE_LICENSE("GPL");
