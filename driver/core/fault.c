// SPDX-License-Identifier: GPL-2.0
/*
 * odp_core: resolving device faults on a umem with hmm_range_fault().
 *
 * The protocol of Documentation/mm/hmm.rst: read the notifier sequence,
 * fault the CPU page table with only mmap_lock held, then take the umem lock
 * and install the translations only if no invalidation ran in between
 * (mmu_interval_read_retry()); otherwise start again.
 */
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "odp_trace.h"
#include "umem.h"

static unsigned long odp_hmm_flags(unsigned int flags)
{
	if (flags & ODP_UMEM_FAULT_NO_FAULT)
		return 0;
	if (flags & ODP_UMEM_FAULT_WRITE)
		return HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
	return HMM_PFN_REQ_FAULT;
}

/* Fault one batch [start, end) of at most ODP_FAULT_BATCH_PAGES pages. */
static int odp_umem_fault_batch(struct odp_umem *umem, unsigned long start,
				unsigned long end, unsigned int flags,
				unsigned long *pfns)
{
	struct hmm_range range = {
		.notifier	= &umem->notifier,
		.start		= start,
		.end		= end,
		.hmm_pfns	= pfns,
		.default_flags	= odp_hmm_flags(flags),
	};
	unsigned long timeout, pages = 0;
	struct mem_cgroup *old_memcg;
	unsigned int retries = 0, undone = 0;
	int ret;

	timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	for (;;) {
		if (odp_retry_expired(timeout, undone)) {
			ret = -EBUSY;
			break;
		}

		range.notifier_seq = mmu_interval_read_begin(&umem->notifier);
		ret = mmap_read_lock_killable(umem->mm);
		if (ret)
			break;
		ret = hmm_range_fault(&range);
		mmap_read_unlock(umem->mm);
		if (ret == -EBUSY) {
			odp_umem_inc(umem, ODP_UMEM_STAT_BUSY_RETRIES);
			undone++;
			continue;
		}
		if (ret)
			break;

		odp_retry_hook_maybe(ODP_HOOK_FAULT);

		/*
		 * The table's blocks, allocated with reclaim before the lock
		 * that the notifier takes.  The cache is the umem's memory,
		 * whoever faults.
		 */
		old_memcg = set_active_memcg(umem->memcg);
		ret = odp_pt_prepare(umem, &range);
		set_active_memcg(old_memcg);
		if (ret)
			break;

		mutex_lock(&umem->lock);
		if (umem->dead) {
			mutex_unlock(&umem->lock);
			ret = -EINVAL;
			break;
		}
		if (!mmu_interval_read_retry(&umem->notifier,
					     range.notifier_seq)) {
			pages = odp_pt_install(umem, &range);
			mutex_unlock(&umem->lock);
			if (pages) {
				odp_umem_inc(umem, ODP_UMEM_STAT_FAULTS);
				odp_umem_count(umem, ODP_UMEM_STAT_PAGES_FAULTED,
					       pages);
			}
			break;
		}
		mutex_unlock(&umem->lock);
		odp_umem_inc(umem, ODP_UMEM_STAT_RETRIES);
		trace_odp_retry(umem, start, end, range.notifier_seq,
				READ_ONCE(umem->notifier.invalidate_seq));
		retries++;
		undone++;
	}
	trace_odp_fault(umem, start, end, flags, pages, retries, ret);
	return ret;
}

/*
 * ODP_UMEM_FAULT_CHECK: whether every page of [start, end) is in the cache
 * with the permission asked for, without faulting or walking the CPU page
 * table (a consumer that must not fault in its own context asks this first).
 */
static int odp_umem_check(struct odp_umem *umem, unsigned long start,
			  unsigned long end, bool write)
{
	struct page *pages[32];
	int ret = 0;

	mutex_lock(&umem->lock);
	while (start < end && !ret) {
		unsigned long n = min_t(unsigned long, (end - start) >> PAGE_SHIFT,
					ARRAY_SIZE(pages));

		if (umem->dead)
			ret = -EINVAL;
		else if (odp_pt_lookup(umem, start, n, write, pages) < n)
			ret = -EAGAIN;
		start += n << PAGE_SHIFT;
	}
	mutex_unlock(&umem->lock);
	return ret;
}

/**
 * odp_umem_fault - make the pages of [start, end) of a umem device-accessible
 * @umem: the umem; the caller keeps it from being freed
 * @start: page-aligned start, inside the umem
 * @end: page-aligned end, inside the umem
 * @flags: ODP_UMEM_FAULT_WRITE to fault for write, ODP_UMEM_FAULT_NO_FAULT
 *	to only map the pages that are present, ODP_UMEM_FAULT_CHECK to only
 *	say whether all are in the cache already (-EAGAIN if not)
 *
 * Return: 0, or -EFAULT (not mapped), -EPERM (no write permission), -EBUSY
 * (kept being invalidated), -ESRCH (address space gone), -EINVAL (outside
 * the umem, or the umem was killed), -ENOMEM, -EINTR.
 */
int odp_umem_fault(struct odp_umem *umem, unsigned long start,
		   unsigned long end, unsigned int flags)
{
	/* Most faults are a packet's page or a few: no allocation for them. */
	unsigned long stack_pfns[ODP_FAULT_STACK_PAGES] __uninitialized;
	unsigned long *pfns = stack_pfns;
	int ret = 0;

	if (start >= end || start < umem->start || end > umem->end ||
	    !PAGE_ALIGNED(start) || !PAGE_ALIGNED(end))
		return -EINVAL;
	if (umem->implicit)
		return odp_implicit_fault(umem, start, end, flags);
	if (flags & ODP_UMEM_FAULT_CHECK)
		return odp_umem_check(umem, start, end,
				      flags & ODP_UMEM_FAULT_WRITE);
	if (end - start > sizeof(stack_pfns) / sizeof(*pfns) * PAGE_SIZE) {
		pfns = kvmalloc_array(ODP_FAULT_BATCH_PAGES, sizeof(*pfns),
				      GFP_KERNEL_ACCOUNT);
		if (!pfns)
			return -ENOMEM;
	}

	if (!mmget_not_zero(umem->mm)) {
		ret = -ESRCH;
		goto out;
	}
	while (start < end && !ret) {
		unsigned long batch_end;

		batch_end = min(end, start + ODP_FAULT_BATCH_PAGES * PAGE_SIZE);
		ret = odp_umem_fault_batch(umem, start, batch_end, flags, pfns);
		start = batch_end;
	}
	mmput(umem->mm);
out:
	if (pfns != stack_pfns)
		kvfree(pfns);
	if (ret)
		odp_umem_inc(umem, ODP_UMEM_STAT_FAULT_ERRORS);
	return ret;
}
EXPORT_SYMBOL_GPL(odp_umem_fault);

/**
 * odp_umem_prefetch - fault [start, end) of a umem in ahead of device access
 * @umem: the umem; the caller keeps it from being freed
 * @start: page-aligned start, inside the umem
 * @end: page-aligned end, inside the umem
 * @flags: as for odp_umem_fault()
 *
 * odp_umem_fault(), counted as a prefetch and traced (odp_prefetch).
 * Return: as odp_umem_fault().
 */
int odp_umem_prefetch(struct odp_umem *umem, unsigned long start,
		      unsigned long end, unsigned int flags)
{
	int ret = odp_umem_fault(umem, start, end, flags);

	odp_umem_inc(umem, ODP_UMEM_STAT_PREFETCHES);
	trace_odp_prefetch(umem, start, end, flags, ret);
	return ret;
}
EXPORT_SYMBOL_GPL(odp_umem_prefetch);
