// SPDX-License-Identifier: GPL-2.0
/*
 * odp: resolving device faults on an MR with hmm_range_fault().
 *
 * The protocol of Documentation/mm/hmm.rst: read the notifier sequence,
 * fault the CPU page table with only mmap_lock held, then take the MR lock
 * and install the translations only if no invalidation ran in between
 * (mmu_interval_read_retry()); otherwise start again.
 */
#include <linux/debugfs.h>
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "odp.h"

/*
 * The retry hook: a debugfs knob that parks one fault between
 * hmm_range_fault() and mmu_interval_read_retry() ("arm"), or one device
 * access while it holds its pages in flight ("arm_inflight"), so that a test
 * can run a real invalidation exactly there: the first must retry, the
 * second must be waited for (or refused when it cannot be).
 */
enum odp_retry_hook_state {
	ODP_HOOK_IDLE,
	ODP_HOOK_ARMED,
	ODP_HOOK_PARKED,
	ODP_HOOK_RELEASED,
};

static const char * const odp_hook_state_names[] = {
	[ODP_HOOK_IDLE]		= "idle",
	[ODP_HOOK_ARMED]	= "armed",
	[ODP_HOOK_PARKED]	= "parked",
	[ODP_HOOK_RELEASED]	= "released",
};

#define ODP_HOOK_PARK_TIMEOUT	(10 * HZ)

/* Protects odp_hook_state and odp_hook_point. */
static DEFINE_SPINLOCK(odp_hook_lock);
static enum odp_retry_hook_state odp_hook_state;
static enum odp_hook_point odp_hook_point;
static DECLARE_WAIT_QUEUE_HEAD(odp_hook_wq);

void odp_retry_hook(enum odp_hook_point point)
{
	bool park = false;

	if (likely(READ_ONCE(odp_hook_state) != ODP_HOOK_ARMED))
		return;

	spin_lock(&odp_hook_lock);
	if (odp_hook_state == ODP_HOOK_ARMED && odp_hook_point == point) {
		odp_hook_state = ODP_HOOK_PARKED;
		park = true;
	}
	spin_unlock(&odp_hook_lock);
	if (!park)
		return;

	wait_event_timeout(odp_hook_wq,
			   READ_ONCE(odp_hook_state) == ODP_HOOK_RELEASED,
			   ODP_HOOK_PARK_TIMEOUT);

	spin_lock(&odp_hook_lock);
	odp_hook_state = ODP_HOOK_IDLE;
	spin_unlock(&odp_hook_lock);
}

static ssize_t odp_hook_read(struct file *file, char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	const char *name = odp_hook_state_names[READ_ONCE(odp_hook_state)];
	char buf[16];
	int len;

	len = scnprintf(buf, sizeof(buf), "%s\n", name);
	return simple_read_from_buffer(ubuf, count, ppos, buf, len);
}

static ssize_t odp_hook_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	char buf[16];
	int ret = 0;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';

	spin_lock(&odp_hook_lock);
	if (sysfs_streq(buf, "arm") && odp_hook_state == ODP_HOOK_IDLE) {
		odp_hook_state = ODP_HOOK_ARMED;
		odp_hook_point = ODP_HOOK_FAULT;
	} else if (sysfs_streq(buf, "arm_inflight") &&
		   odp_hook_state == ODP_HOOK_IDLE) {
		odp_hook_state = ODP_HOOK_ARMED;
		odp_hook_point = ODP_HOOK_INFLIGHT;
	} else if (sysfs_streq(buf, "disarm") &&
		   odp_hook_state == ODP_HOOK_ARMED) {
		odp_hook_state = ODP_HOOK_IDLE;
	} else if (sysfs_streq(buf, "release") &&
		   odp_hook_state == ODP_HOOK_PARKED) {
		odp_hook_state = ODP_HOOK_RELEASED;
	} else {
		ret = -EINVAL;
	}
	spin_unlock(&odp_hook_lock);

	if (ret)
		return ret;
	wake_up_all(&odp_hook_wq);
	return count;
}

static const struct file_operations odp_hook_fops = {
	.owner	= THIS_MODULE,
	.read	= odp_hook_read,
	.write	= odp_hook_write,
	.llseek	= default_llseek,
};

void odp_retry_hook_init(struct dentry *dir)
{
	debugfs_create_file("retry_hook", 0600, dir, NULL, &odp_hook_fops);
}

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

		odp_retry_hook(ODP_HOOK_FAULT);

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
