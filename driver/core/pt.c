// SPDX-License-Identifier: GPL-2.0
/*
 * odp_core: the device page table of a umem.
 *
 * An xarray indexed by virtual page number (addr >> PAGE_SHIFT, so that a
 * huge page's block of indices is aligned as its address is).  A page the
 * CPU maps with a huge mapping (a PMD-mapped THP, a hugetlb page) is ONE
 * multi-index entry of that order, not 512 entries: faulting, looking up
 * and dropping it costs one xarray operation.  An entry points at the
 * first page of its block, tagged ODP_PTE_WRITE when the device may write.
 *
 * Every function here runs under odp_umem.lock (the table changes only
 * under it) and none allocates with reclaim: they run under the notifier.
 */
#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/xarray.h>

#include "umem.h"

/* Pages present in [index, last], each entry counted at its order. */
static unsigned long odp_pt_count(struct odp_umem *umem, unsigned long index,
				  unsigned long last)
{
	XA_STATE(xas, &umem->pt, index);
	unsigned long n = 0;
	void *entry;

	rcu_read_lock();
	xas_for_each(&xas, entry, last)
		n += 1UL << xas_get_order(&xas);
	rcu_read_unlock();
	return n;
}

/*
 * Store @entry over [index, index + 2^order): whatever was there (smaller
 * entries, or a block this one is part of) goes.  Returns the change in
 * pages present, or an xarray error.
 */
static long odp_pt_store(struct odp_umem *umem, unsigned long index,
			 unsigned int order, void *entry)
{
	unsigned long nr = 1UL << order;
	XA_STATE_ORDER(xas, &umem->pt, index, order);
	unsigned int old_order;
	long before;
	void *old;

	/* A bigger block around this index is dropped whole first. */
	old = xa_load(&umem->pt, index);
	old_order = old ? xa_get_order(&umem->pt, index) : 0;
	if (old_order > order) {
		XA_STATE_ORDER(big, &umem->pt, index & ~((1UL << old_order) - 1),
			       old_order);

		xas_lock(&big);
		xas_store(&big, NULL);
		xas_unlock(&big);
		if (xas_error(&big))
			return xas_error(&big);
		before = -(long)(1UL << old_order);
	} else {
		before = 0;
	}
	before -= odp_pt_count(umem, index, index + nr - 1);

	do {
		xas_lock(&xas);
		xas_store(&xas, entry);
		xas_unlock(&xas);
	} while (xas_nomem(&xas, GFP_ATOMIC | __GFP_ACCOUNT));
	if (xas_error(&xas))
		return xas_error(&xas);
	return nr + before;
}

/**
 * odp_pt_install - enter what hmm_range_fault() found for @range
 * @umem: the umem; caller holds umem->lock and checked read_retry
 * @range: the walked range and its pfns
 * @installed: set to the number of pages entered
 *
 * Return: 0 or -ENOMEM; the gauge of present pages is kept.
 */
int odp_pt_install(struct odp_umem *umem, const struct hmm_range *range,
		   unsigned long *installed)
{
	unsigned long first = range->start >> PAGE_SHIFT;
	unsigned long npages = (range->end - range->start) >> PAGE_SHIFT;
	unsigned long i = 0;
	long added = 0;

	lockdep_assert_held(&umem->lock);
	*installed = 0;
	while (i < npages) {
		unsigned long pfn = range->hmm_pfns[i];
		unsigned int order = 0, map_order;
		void *entry;
		long d;

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
		d = odp_pt_store(umem, first + i, order, entry);
		if (d < 0) {
			odp_umem_count(umem, ODP_UMEM_STAT_PAGES_MAPPED, added);
			return d;
		}
		added += d;
		*installed += 1UL << order;
		i += 1UL << order;
	}
	odp_umem_count(umem, ODP_UMEM_STAT_PAGES_MAPPED, added);
	return 0;
}

/**
 * odp_pt_lookup - the pages of [start, start + npages pages) the device may
 *	touch for this access
 * @umem: the umem; caller holds umem->lock
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
	unsigned long index = start >> PAGE_SHIFT, i = 0;

	lockdep_assert_held(&umem->lock);
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

/**
 * odp_pt_zap - drop (or write-protect) the entries of [start, end)
 * @umem: the umem; caller holds umem->lock
 * @start: page-aligned start
 * @end: page-aligned end
 * @write_protect: keep the entries, read-only
 * @blockable: may reschedule between entries
 *
 * A huge entry that [start, end) only partly covers goes (or is protected)
 * whole: the cache may always hold less.  Return: pages changed.
 */
unsigned long odp_pt_zap(struct odp_umem *umem, unsigned long start,
			 unsigned long end, bool write_protect, bool blockable)
{
	unsigned long index = start >> PAGE_SHIFT, last = (end >> PAGE_SHIFT) - 1;
	unsigned long changed = 0, dropped = 0, entries = 0;

	lockdep_assert_held(&umem->lock);
	while (index <= last) {
		XA_STATE(xas, &umem->pt, index);
		unsigned long base, nr;
		unsigned int order;
		void *entry;

		xas_lock(&xas);
		entry = xas_find(&xas, last);
		if (!entry) {
			xas_unlock(&xas);
			break;
		}
		order = xas_get_order(&xas);
		nr = 1UL << order;
		base = xas.xa_index & ~(nr - 1);
		if (!write_protect || xa_pointer_tag(entry) == ODP_PTE_WRITE) {
			xas_set_order(&xas, base, order);
			xas_store(&xas, write_protect ?
				  xa_untag_pointer(entry) : NULL);
			changed += nr;
			if (!write_protect)
				dropped += nr;
		}
		xas_unlock(&xas);
		index = base + nr;
		/* Unmapping gigabytes: let others run (umem->lock stays). */
		if (blockable && !(++entries % ODP_ZAP_BATCH))
			cond_resched();
	}
	odp_umem_count(umem, ODP_UMEM_STAT_PAGES_INVALIDATED, changed);
	odp_umem_count(umem, ODP_UMEM_STAT_PAGES_MAPPED, -(s64)dropped);
	return changed;
}
