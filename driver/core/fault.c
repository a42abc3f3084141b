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
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "umem.h"

/*
 * Install the translations hmm_range_fault() found.  Caller holds umem->lock
 * and has checked that no invalidation ran since the walk.
 */
static int odp_umem_install(struct odp_umem *umem, const struct hmm_range *range)
{
	unsigned long installed;
	int ret;

	ret = odp_pt_install(umem, range, &installed);
	if (installed) {
		odp_umem_inc(umem, ODP_UMEM_STAT_FAULTS);
		odp_umem_count(umem, ODP_UMEM_STAT_PAGES_FAULTED, installed);
	}
	return ret;
}

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
	unsigned long timeout;
	int ret;

	timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	for (;;) {
		if (time_after(jiffies, timeout))
			return -EBUSY;

		range.notifier_seq = mmu_interval_read_begin(&umem->notifier);
		ret = mmap_read_lock_killable(umem->mm);
		if (ret)
			return ret;
		ret = hmm_range_fault(&range);
		mmap_read_unlock(umem->mm);
		if (ret == -EBUSY) {
			odp_umem_inc(umem, ODP_UMEM_STAT_BUSY_RETRIES);
			continue;
		}
		if (ret)
			return ret;

		odp_retry_hook_maybe(ODP_HOOK_FAULT);

		mutex_lock(&umem->lock);
		if (umem->dead) {
			mutex_unlock(&umem->lock);
			return -EINVAL;
		}
		if (!mmu_interval_read_retry(&umem->notifier, range.notifier_seq))
			break;
		mutex_unlock(&umem->lock);
		odp_umem_inc(umem, ODP_UMEM_STAT_RETRIES);
	}

	ret = odp_umem_install(umem, &range);
	mutex_unlock(&umem->lock);
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
	unsigned long *pfns;
	int ret = 0;

	if (start >= end || start < umem->start || end > umem->end ||
	    !PAGE_ALIGNED(start) || !PAGE_ALIGNED(end))
		return -EINVAL;
	if (umem->implicit)
		return odp_implicit_fault(umem, start, end, flags);
	if (flags & ODP_UMEM_FAULT_CHECK)
		return odp_umem_check(umem, start, end,
				      flags & ODP_UMEM_FAULT_WRITE);
	pfns = kvmalloc_array(ODP_FAULT_BATCH_PAGES, sizeof(*pfns),
			      GFP_KERNEL_ACCOUNT);
	if (!pfns)
		return -ENOMEM;

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
	kvfree(pfns);
	if (ret)
		odp_umem_inc(umem, ODP_UMEM_STAT_FAULT_ERRORS);
	return ret;
}
EXPORT_SYMBOL_GPL(odp_umem_fault);
