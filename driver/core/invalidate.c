// SPDX-License-Identifier: GPL-2.0
/*
 * odp_core: invalidation of a umem's translations by its mmu_interval_notifier.
 *
 * After the callback returns true the device never touches the old pages
 * again: the entries are gone (or write-protected) and every device access
 * that looked them up has finished.
 */
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/wait.h>

#include "odp_trace.h"
#include "umem.h"

/*
 * Events that only take write permission away from pages that stay where
 * they are: fork's copy-on-write protection and writeback's mkclean
 * (PROTECTION_PAGE), and clear_refs' soft-dirty tracking.  The device may
 * keep reading through its entries; only writes must fault again.  Every
 * other event (unmap, madvise, migration, mprotect - which may remove read
 * access too -, exclusive access, release) drops the entries.
 *
 * This rests on an assumption about the core mm, checked against 6.1 and
 * 6.12: a PROTECTION_PAGE or SOFT_DIRTY invalidation never changes which
 * page backs an address, and whatever changes it later (the COW break
 * after fork, migration, reclaim, truncation) sends an invalidation of its
 * own (CLEAR, MIGRATE, UNMAP), which drops the read-only entry too.  If a
 * kernel ever replaced pages under PROTECTION_PAGE, keeping read entries
 * would let the device read a page the process no longer maps: treat the
 * event like any other then.
 */
static bool odp_event_write_protects(enum mmu_notifier_event event)
{
	return event == MMU_NOTIFY_PROTECTION_PAGE ||
	       event == MMU_NOTIFY_SOFT_DIRTY;
}

static bool odp_umem_invalidate(struct mmu_interval_notifier *mni,
				const struct mmu_notifier_range *range,
				unsigned long cur_seq)
{
	struct odp_umem *umem = container_of(mni, struct odp_umem, notifier);
	unsigned long start = max(range->start, umem->start);
	unsigned long end = min(range->end, umem->end);
	bool blockable = mmu_notifier_range_blockable(range);
	bool wp = odp_event_write_protects(range->event);
	unsigned long pages, pages_refused = 0;
	bool waited = false;

	if (blockable) {
		mutex_lock(&umem->lock);
	} else {
		/*
		 * The OOM reaper cannot sleep.  Succeed when nothing needs
		 * sleeping for: the lock is free and no device access to the
		 * range is on inflight; refuse otherwise, and it retries later.
		 * This first look only spares the entries when an access is
		 * seen at once; the one after the zap below decides.
		 */
		if (!mutex_trylock(&umem->lock))
			goto refuse;
		if (odp_inflight_overlaps(umem, start, end)) {
			mutex_unlock(&umem->lock);
			goto refuse;
		}
	}

	/* From here on, every fault that walked the old page table retries. */
	mmu_interval_set_seq(mni, cur_seq);
	pages = odp_pt_zap(umem, start, end, wp, blockable);

	/*
	 * Accesses look entries up without umem->lock, after putting
	 * themselves on inflight or in their CPU's slot: one that looked
	 * before the zap is there now, one that looks from now on finds the
	 * entries gone (access.c says why).  Wait for the first kind.  A slot's
	 * access copies at most a page with preemption off, so even the
	 * non-blockable case spins for it; one on inflight may sleep, so the
	 * non-blockable case refuses (the entries are gone already, which is
	 * harmless: the cache may always hold less; the mm tries again later).
	 */
	waited = odp_access_slots_wait(umem, start, end, blockable);
	if (odp_inflight_overlaps(umem, start, end)) {
		if (!blockable) {
			mutex_unlock(&umem->lock);
			pages_refused = pages;
			goto refuse;
		}
		waited = true;
		wait_event(umem->inflight_wq,
			   !odp_inflight_overlaps(umem, start, end));
	}
	mutex_unlock(&umem->lock);
	trace_odp_invalidate(umem, start, end, range->event, pages, wp, waited,
			     blockable, false);

	odp_umem_inc(umem, ODP_UMEM_STAT_INVALIDATIONS);
	if (!blockable)
		odp_umem_inc(umem, ODP_UMEM_STAT_NONBLOCK_INVALIDATIONS);
	/* An implicit child that maps nothing now may go. */
	if (umem->parent)
		odp_implicit_child_idle(umem);
	return true;

refuse:
	odp_umem_inc(umem, ODP_UMEM_STAT_NONBLOCK_REFUSED);
	trace_odp_invalidate(umem, start, end, range->event, pages_refused, wp,
			     false, false, true);
	return false;
}

const struct mmu_interval_notifier_ops odp_umem_notifier_ops = {
	.invalidate = odp_umem_invalidate,
};

/*
 * Drop every entry of a umem that is going away.  It is dead (no fault
 * installs, no access begins) and no access is in flight any more.
 */
void odp_umem_zap_all(struct odp_umem *umem)
{
	mutex_lock(&umem->lock);
	odp_pt_zap(umem, umem->start, umem->end, false, true);
	mutex_unlock(&umem->lock);
}
