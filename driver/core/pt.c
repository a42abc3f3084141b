// SPDX-License-Identifier: GPL-2.0
/*
 * odp_core: the device page table of a umem.
 *
 * An xarray indexed by page number from umem->pt_base (odp_pt_index()).
 * pt_base is the umem's start aligned down to PUD_SIZE, so a huge page's
 * block of indices is aligned as its address is, and the indices stay
 * small: a 1 GiB umem needs three levels of xarray nodes where a user
 * address's own page number (35 bits) needs six, on every lookup.  A page the
 * CPU maps with a huge mapping (a PMD-mapped THP, a hugetlb page) is ONE
 * multi-index entry of that order, not 512 entries: faulting, looking up
 * and dropping it costs one xarray operation.  An entry points at the
 * first page of its block, tagged ODP_PTE_WRITE when the device may write.
 *
 * The table changes only under odp_umem.lock, which the notifier takes:
 * nothing here allocates with reclaim under it.  An xarray node that cannot
 * be had with GFP_NOWAIT is allocated by odp_pt_nomem() with the lock
 * dropped, and the caller revalidates (fault.c).
 */
#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/xarray.h>

#include "umem.h"

static unsigned long odp_pt_index(const struct odp_umem *umem,
				  unsigned long addr)
{
	return (addr - umem->pt_base) >> PAGE_SHIFT;
}

/*
 * Pages present in [index, last], each entry counted at its order.
 * @blockable: may reschedule every ODP_ZAP_BATCH entries (the walk over a
 * multi-GB umem that a zap counts first would otherwise hold the CPU).
 */
static unsigned long odp_pt_count(struct odp_umem *umem, unsigned long index,
				  unsigned long last, bool blockable)
{
	XA_STATE(xas, &umem->pt, index);
	unsigned long n = 0, entries = 0;
	void *entry;

	rcu_read_lock();
	xas_for_each(&xas, entry, last) {
		n += 1UL << xas_get_order(&xas);
		if (blockable && !(++entries % ODP_ZAP_BATCH)) {
			xas_pause(&xas);
			rcu_read_unlock();
			cond_resched();
			rcu_read_lock();
		}
	}
	rcu_read_unlock();
	return n;
}

/*
 * Store @entry over [index, index + 2^order) with @xas: whatever was there
 * (smaller entries, or a block this one is part of) goes, and the change in
 * pages present is added to *@delta.
 *
 * Nothing here allocates with reclaim: a node the xarray needs is taken from
 * @xas (one that odp_pt_nomem() got earlier) or tried with GFP_NOWAIT under
 * the xa_lock by the xarray itself.  Return: 0, or -ENOMEM when neither gave
 * one; @xas then holds that error for odp_pt_nomem().
 */
static int odp_pt_store(struct odp_umem *umem, struct xa_state *xas,
			unsigned long index, unsigned int order, void *entry,
			long *delta)
{
	unsigned long nr = 1UL << order;
	unsigned int old_order;
	unsigned long before;
	void *old;

	/* A bigger block around this index is dropped whole first. */
	old = xa_load(&umem->pt, index);
	old_order = old ? xa_get_order(&umem->pt, index) : 0;
	if (old_order > order) {
		XA_STATE_ORDER(big, &umem->pt, index & ~((1UL << old_order) - 1),
			       old_order);

		/* Storing NULL allocates nothing and cannot fail. */
		xas_lock(&big);
		xas_store(&big, NULL);
		xas_unlock(&big);
		*delta -= 1L << old_order;
		before = 0;
	} else if (!order) {
		/* One page: what was there is the entry just looked up. */
		before = old ? 1 : 0;
	} else {
		before = odp_pt_count(umem, index, index + nr - 1, false);
	}

	xas_set_order(xas, index, order);
	xas_lock(xas);
	xas_store(xas, entry);
	xas_unlock(xas);
	if (xas_error(xas))
		return xas_error(xas);
	*delta += nr - before;
	return 0;
}

/**
 * odp_pt_install - enter what hmm_range_fault() found for @range
 * @umem: the umem; caller holds umem->lock and checked read_retry
 * @range: the walked range and its pfns
 * @xas: the caller's xa_state on umem->pt, kept across calls: it carries
 *	the node odp_pt_nomem() allocated
 * @pos: pages of @range already entered; advanced as entries go in
 * @installed: increased by the number of pages entered
 *
 * Return: 0 once all of @range is entered, or -ENOMEM when the xarray needs
 * a node that cannot be had without reclaim: the caller drops umem->lock,
 * calls odp_pt_nomem(), and, if no invalidation ran meanwhile, calls again
 * to go on from *@pos.  The gauge of present pages is kept either way.
 */
int odp_pt_install(struct odp_umem *umem, const struct hmm_range *range,
		   struct xa_state *xas, unsigned long *pos,
		   unsigned long *installed)
{
	unsigned long first = odp_pt_index(umem, range->start);
	unsigned long npages = (range->end - range->start) >> PAGE_SHIFT;
	unsigned long i = *pos;
	long added = 0;
	int ret = 0;

	lockdep_assert_held(&umem->lock);
	while (i < npages) {
		unsigned long pfn = range->hmm_pfns[i];
		unsigned int order = 0, map_order;
		void *entry;

		if (!(pfn & HMM_PFN_VALID) || (pfn & HMM_PFN_ERROR)) {
			i++;
			continue;
		}
		/* A whole aligned huge block inside the walk: one entry. */
		map_order = hmm_pfn_to_map_order(pfn);
		if (map_order && !((first + i) & ((1UL << map_order) - 1)) &&
		    i + (1UL << map_order) <= npages)
			order = map_order;
		entry = xa_tag_pointer(hmm_pfn_to_page(pfn),
				       pfn & HMM_PFN_WRITE ? ODP_PTE_WRITE : 0);
		ret = odp_pt_store(umem, xas, first + i, order, entry, &added);
		if (ret)
			break;
		*installed += 1UL << order;
		i += 1UL << order;
	}
	*pos = i;
	odp_umem_count(umem, ODP_UMEM_STAT_PAGES_MAPPED, added);
	return ret;
}

/**
 * odp_pt_nomem - get the node a failed odp_pt_install() needs, with reclaim
 * @umem: the umem; caller holds neither umem->lock nor any other lock
 * @xas: the xa_state odp_pt_install() failed with
 *
 * Charged like every node of the table (XA_FLAGS_ACCOUNT) to the active
 * memory cgroup: the fault makes that the umem's.  Return: true if the
 * caller may try again.
 */
bool odp_pt_nomem(struct odp_umem *umem, struct xa_state *xas)
{
	lockdep_assert_not_held(&umem->lock);
	return xas_nomem(xas, GFP_KERNEL);
}

/* Free the node @xas may still hold (any state, no lock needed). */
void odp_pt_done(struct xa_state *xas)
{
	/* xas_nomem() frees what it holds when no -ENOMEM is pending. */
	xas_set(xas, 0);
	xas_nomem(xas, 0);
}

/**
 * odp_pt_lookup - the pages of [start, start + npages pages) the device may
 *	touch for this access
 * @umem: the umem; caller holds umem->lock, or holds the range in flight
 *	(access.c: an invalidation then waits for it before the pages go)
 * @start: page-aligned address
 * @npages: pages wanted
 * @write: the access writes: only writable entries count
 * @pages: where the pages go
 *
 * Return: how many leading pages are present (0: the first needs a fault).
 */
unsigned long odp_pt_lookup(struct odp_umem *umem, unsigned long start,
			    unsigned long npages, bool write,
			    struct page **pages)
{
	unsigned long index = odp_pt_index(umem, start), i = 0;

	rcu_read_lock();
	while (i < npages) {
		XA_STATE(xas, &umem->pt, index + i);
		unsigned long nr, off;
		struct page *base;
		void *entry;

		entry = xas_load(&xas);
		if (!entry || (write && xa_pointer_tag(entry) != ODP_PTE_WRITE))
			break;
		nr = 1UL << xas_get_order(&xas);
		base = xa_untag_pointer(entry);
		for (off = (index + i) & (nr - 1); off < nr && i < npages; off++)
			pages[i++] = nth_page(base, off);
	}
	rcu_read_unlock();
	return i;
}

/*
 * The order of the block to drop at @index, at most @last: as big as the
 * alignment of @index and the room up to @last allow, but no bigger than
 * ODP_ZAP_BATCH pages unless the entry there (@order) is.
 */
static unsigned int odp_pt_block_order(unsigned long index, unsigned long last,
				       unsigned int order)
{
	unsigned int fit = ilog2(last - index + 1);
	unsigned int align = index ? __ffs(index) : BITS_PER_LONG - 1;

	return max(min3(fit, align, (unsigned int)ilog2(ODP_ZAP_BATCH)), order);
}

/*
 * Erase every entry that [index, last] touches, under one xa_lock: from
 * each entry found on, one store of NULL over the biggest aligned block
 * that fits, which takes out whole leaf nodes (64 entries) or subtrees
 * with a single slot store.  A block never cuts an entry: entries are
 * aligned to their size, so an entry smaller than a block that touches it
 * lies inside the block, and a block starts at an entry's first index (the
 * entry found, aligned down: one that crosses @index is taken from its
 * start) and is at least as big as that entry (one that crosses @last is
 * taken whole, and nothing beyond it).  Nothing outside [index, last] but
 * such crossing entries goes: a block bigger than its entry fits before
 * @last.
 */
static void odp_pt_erase(struct odp_umem *umem, unsigned long index,
			 unsigned long last, bool blockable)
{
	XA_STATE(xas, &umem->pt, index);
	unsigned long covered = 0;

	xas_lock(&xas);
	while (index <= last) {
		unsigned int order;
		void *entry;

		/* Order 0 again: a walk stops at the level of the order. */
		xas_set_order(&xas, index, 0);
		entry = xas_find(&xas, last);
		if (!entry)
			break;
		order = xas_get_order(&xas);
		index = xas.xa_index & ~((1UL << order) - 1);
		order = odp_pt_block_order(index, last, order);
		xas_set_order(&xas, index, order);
		/* Storing NULL allocates nothing and cannot fail. */
		xas_store(&xas, NULL);
		index += 1UL << order;
		covered += 1UL << order;
		/* Unmapping gigabytes: let others run (umem->lock stays). */
		if (blockable && covered >= ODP_ZAP_BATCH) {
			covered = 0;
			xas_unlock(&xas);
			cond_resched();
			xas_lock(&xas);
		}
	}
	xas_unlock(&xas);
}

/*
 * Take write permission from every entry of [index, last], in one walk
 * under xa_lock: each writable entry is replaced by the same page untagged
 * (a multi-index entry in its one canonical slot, its siblings point
 * there).  Return: pages protected.
 */
static unsigned long odp_pt_protect(struct odp_umem *umem, unsigned long index,
				    unsigned long last, bool blockable)
{
	XA_STATE(xas, &umem->pt, index);
	unsigned long changed = 0, entries = 0;
	void *entry;

	xas_lock(&xas);
	xas_for_each(&xas, entry, last) {
		if (xa_pointer_tag(entry) == ODP_PTE_WRITE) {
			/* The slot exists: nothing to allocate, cannot fail. */
			xas_store(&xas, xa_untag_pointer(entry));
			changed += 1UL << xas_get_order(&xas);
		}
		if (blockable && !(++entries % ODP_ZAP_BATCH)) {
			xas_pause(&xas);
			xas_unlock(&xas);
			cond_resched();
			xas_lock(&xas);
		}
	}
	xas_unlock(&xas);
	return changed;
}

/**
 * odp_pt_zap - drop (or write-protect) the entries of [start, end)
 * @umem: the umem; caller holds umem->lock
 * @start: page-aligned start
 * @end: page-aligned end
 * @write_protect: keep the entries, read-only
 * @blockable: may reschedule every ODP_ZAP_BATCH pages
 *
 * A huge entry that [start, end) only partly covers goes (or is protected)
 * whole: the cache may always hold less.  Dropping first counts what is
 * present with one walk under RCU (the table changes only under
 * umem->lock, which the caller holds, so the count is exact; for the whole
 * umem the PAGES_MAPPED gauge is that count), and does nothing more when
 * that is 0; then erases by aligned blocks (odp_pt_erase()).  Return:
 * pages changed.
 */
unsigned long odp_pt_zap(struct odp_umem *umem, unsigned long start,
			 unsigned long end, bool write_protect, bool blockable)
{
	unsigned long index = odp_pt_index(umem, start);
	unsigned long last = odp_pt_index(umem, end) - 1;
	unsigned long changed;

	lockdep_assert_held(&umem->lock);
	if (write_protect) {
		changed = odp_pt_protect(umem, index, last, blockable);
		odp_umem_count(umem, ODP_UMEM_STAT_PAGES_INVALIDATED, changed);
		return changed;
	}

	/*
	 * All of the umem (munmap of a whole registered buffer, its
	 * deregistration): the gauge of present pages is exact under
	 * umem->lock, which every change of pt holds, so no walk counts them.
	 */
	if (start <= umem->start && end >= umem->end)
		changed = atomic64_read(&umem->stats[ODP_UMEM_STAT_PAGES_MAPPED]);
	else
		changed = odp_pt_count(umem, index, last, blockable);
	if (!changed)
		return 0;
	odp_pt_erase(umem, index, last, blockable);
	odp_umem_count(umem, ODP_UMEM_STAT_PAGES_INVALIDATED, changed);
	odp_umem_count(umem, ODP_UMEM_STAT_PAGES_MAPPED, -(s64)changed);
	return changed;
}
