// SPDX-License-Identifier: GPL-2.0
/*
 * odp: resolving device faults on an MR with hmm_range_fault().
 *
 * The protocol of Documentation/mm/hmm.rst: read the notifier sequence,
 * fault the CPU page table with only mmap_lock held, then take the MR lock
 * and install the translations only if no invalidation ran in between
 * (mmu_interval_read_retry()); otherwise start again.
 */
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "odp.h"

/*
 * Install the translations hmm_range_fault() found.  Caller holds mr->lock
 * and has checked that no invalidation ran since the walk.
 */
static int odp_mr_install(struct odp_mr *mr, const struct hmm_range *range)
{
	unsigned long first = (range->start - mr->page_start) >> PAGE_SHIFT;
	unsigned long npages = (range->end - range->start) >> PAGE_SHIFT;
	unsigned long i, installed = 0, added = 0;
	int ret = 0;

	lockdep_assert_held(&mr->lock);

	for (i = 0; i < npages; i++) {
		unsigned long pfn = range->hmm_pfns[i];
		void *entry, *old;

		if (!(pfn & HMM_PFN_VALID) || (pfn & HMM_PFN_ERROR))
			continue;
		entry = xa_tag_pointer(hmm_pfn_to_page(pfn),
				       pfn & HMM_PFN_WRITE ? ODP_PTE_WRITE : 0);
		/* No reclaim under mr->lock: invalidation takes it. */
		old = xa_store(&mr->pt, first + i, entry,
			       GFP_ATOMIC | __GFP_ACCOUNT);
		if (xa_is_err(old)) {
			ret = xa_err(old);
			break;
		}
		installed++;
		if (!old)
			added++;
	}

	if (installed) {
		odp_stat_inc(mr, ODP_ABI_STAT_FAULTS);
		odp_stat_add(mr, ODP_ABI_STAT_PAGES_FAULTED, installed);
		odp_stat_add(mr, ODP_ABI_STAT_PAGES_MAPPED, added);
	}
	return ret;
}

static unsigned long odp_hmm_flags(unsigned int flags)
{
	if (flags & ODP_FAULT_NO_FAULT)
		return 0;
	if (flags & ODP_FAULT_WRITE)
		return HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
	return HMM_PFN_REQ_FAULT;
}

/* Fault one batch [start, end) of at most ODP_FAULT_BATCH_PAGES pages. */
static int odp_mr_fault_batch(struct odp_mr *mr, unsigned long start,
			      unsigned long end, unsigned int flags,
			      unsigned long *pfns)
{
	struct hmm_range range = {
		.notifier	= &mr->notifier,
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

		range.notifier_seq = mmu_interval_read_begin(&mr->notifier);
		ret = mmap_read_lock_killable(mr->mm);
		if (ret)
			return ret;
		ret = hmm_range_fault(&range);
		mmap_read_unlock(mr->mm);
		if (ret == -EBUSY) {
			odp_stat_inc(mr, ODP_ABI_STAT_BUSY_RETRIES);
			continue;
		}
		if (ret)
			return ret;

		odp_retry_hook_maybe(ODP_HOOK_FAULT);

		mutex_lock(&mr->lock);
		if (mr->dead) {
			mutex_unlock(&mr->lock);
			return -EINVAL;
		}
		if (!mmu_interval_read_retry(&mr->notifier, range.notifier_seq))
			break;
		mutex_unlock(&mr->lock);
		odp_stat_inc(mr, ODP_ABI_STAT_RETRIES);
	}

	ret = odp_mr_install(mr, &range);
	mutex_unlock(&mr->lock);
	return ret;
}

/**
 * odp_mr_fault - make the pages of [start, end) of an MR device-accessible
 * @mr: the MR; the caller holds a reference
 * @start: page-aligned start, inside the MR
 * @end: page-aligned end, inside the MR
 * @flags: ODP_FAULT_WRITE to fault for write, ODP_FAULT_NO_FAULT to only
 *	map the pages that are present
 *
 * Return: 0, or -EFAULT (not mapped), -EPERM (no write permission), -EBUSY
 * (kept being invalidated), -ESRCH (address space gone), -EINVAL (the MR
 * was deregistered), -ENOMEM, -EINTR.
 */
int odp_mr_fault(struct odp_mr *mr, unsigned long start, unsigned long end,
		 unsigned int flags)
{
	unsigned long *pfns;
	int ret = 0;

	pfns = kvmalloc_array(ODP_FAULT_BATCH_PAGES, sizeof(*pfns),
			      GFP_KERNEL_ACCOUNT);
	if (!pfns)
		return -ENOMEM;

	if (!mmget_not_zero(mr->mm)) {
		ret = -ESRCH;
		goto out;
	}
	while (start < end && !ret) {
		unsigned long batch_end;

		batch_end = min(end, start + ODP_FAULT_BATCH_PAGES * PAGE_SIZE);
		ret = odp_mr_fault_batch(mr, start, batch_end, flags, pfns);
		start = batch_end;
	}
	mmput(mr->mm);
out:
	kvfree(pfns);
	if (ret)
		odp_stat_inc(mr, ODP_ABI_STAT_FAULT_ERRORS);
	return ret;
}
