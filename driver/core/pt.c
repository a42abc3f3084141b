// SPDX-License-Identifier: GPL-2.0
/*
 * odp_core: the device page table of a umem.
 *
 * Two levels, like the CPU's last two.  umem->pt_dir, a flat array indexed
 * by PMD-sized block from umem->pt_base (the umem's start aligned down to
 * PMD_SIZE), points to a block of ODP_PT_BLOCK_PAGES entries for every
 * block that was ever faulted, and is NULL for the others; an entry is a
 * pfn and its permission.  A
 * page the CPU maps with a PMD (a THP, a 2 MiB hugetlb page) is ONE entry,
 * the first of its block, marked ODP_PTE_HUGE: faulting, looking it up and
 * dropping it is one store or load.  Its pfn is also its first page's, so
 * a reader that takes it for that page's 4 KiB entry is right too.  A
 * bigger mapping (a 1 GiB hugetlb page) is one such entry in each of its
 * blocks.
 *
 * The directory is allocated with the umem: a pointer per 2 MiB of its span
 * (4 KiB for 1 GiB), so that a lookup is two loads and no call.  It was an
 * xarray, whose xa_load() with its RCU read section was most of what the
 * fast path of an access (access.c) cost beyond rxe's copy of a pinned
 * page.  A block is allocated before the fault takes odp_umem.lock
 * (odp_pt_prepare(): GFP_KERNEL, charged to the umem's memcg) and stays
 * until the umem is freed.  So an invalidation only clears entries: it
 * neither frees nor allocates, and nothing that a lookup without the lock
 * reads is ever freed under it.  The price is a block (a page) for each
 * 2 MiB of the umem that was ever device-mapped, 0.2% of it, which a flat
 * per-page array would cost for all of the umem.
 *
 * Entries change only under odp_umem.lock.  An entry goes in with a store
 * release, as rcu_assign_pointer() would publish it, so that whoever finds
 * it (READ_ONCE() and the address dependency) sees the page as the walk
 * did; it goes out with WRITE_ONCE(), and access.c says how an
 * invalidation knows that no lookup still uses it.  Blocks are added to
 * the directory with cmpxchg() (a full barrier after the block was zeroed)
 * without odp_umem.lock, and never removed before odp_pt_free().
 */
#include <linux/hmm.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "pt.h"

/* Is this hmm_pfns[] value a page the device may map? */
static bool odp_hmm_pfn_valid(unsigned long hpfn)
{
	return (hpfn & HMM_PFN_VALID) && !(hpfn & HMM_PFN_ERROR);
}

/**
 * odp_pt_init - allocate the directory of a new umem
 * @umem: the umem, its start, end and memcg set
 *
 * Charged to the umem's memcg, as its blocks are.  A span too big for one
 * (more than 2 GiB of directory, for a span of 512 TiB) fails quietly: the
 * length comes from the user.  Return: 0 or -ENOMEM.
 */
int odp_pt_init(struct odp_umem *umem)
{
	struct mem_cgroup *old;

	umem->pt_base = ALIGN_DOWN(umem->start, PMD_SIZE);
	umem->pt_blocks = (ALIGN(umem->end, PMD_SIZE) - umem->pt_base) >>
			  PMD_SHIFT;
	old = set_active_memcg(umem->memcg);
	umem->pt_dir = kvcalloc(umem->pt_blocks, sizeof(*umem->pt_dir),
				GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	set_active_memcg(old);
	return umem->pt_dir ? 0 : -ENOMEM;
}

/* Add block @b to the directory unless it is there.  Return: 0 or -ENOMEM. */
static int odp_pt_add_block(struct odp_umem *umem, unsigned long b)
{
	unsigned long *block;

	if (READ_ONCE(umem->pt_dir[b]))
		return 0;
	block = kcalloc(ODP_PT_BLOCK_PAGES, sizeof(*block), GFP_KERNEL_ACCOUNT);
	if (!block)
		return -ENOMEM;
	/* Another fault's may have come in meanwhile: then keep that one. */
	if (cmpxchg(&umem->pt_dir[b], NULL, block))
		kfree(block);
	return 0;
}

/**
 * odp_pt_prepare - allocate the blocks that what @range found goes into
 * @umem: the umem; the caller holds no lock: this allocates with reclaim,
 *	charged to the active memcg (fault.c makes that the umem's)
 * @range: the walked range and its pfns
 *
 * Return: 0, or -ENOMEM.
 */
int odp_pt_prepare(struct odp_umem *umem, const struct hmm_range *range)
{
	unsigned long first = odp_pt_index(umem, range->start);
	unsigned long npages = (range->end - range->start) >> PAGE_SHIFT;
	unsigned long i = 0;
	int ret;

	lockdep_assert_not_held(&umem->lock);
	while (i < npages) {
		unsigned long b = (first + i) >> ODP_PT_BLOCK_SHIFT;
		unsigned long next = min(npages, ((b + 1) << ODP_PT_BLOCK_SHIFT) -
					 first);

		while (i < next && !odp_hmm_pfn_valid(range->hmm_pfns[i]))
			i++;
		if (i < next) {
			ret = odp_pt_add_block(umem, b);
			if (ret)
				return ret;
		}
		i = next;
	}
	return 0;
}

/*
 * Clear @block's entries [lo, hi] (or take their write permission away);
 * return the pages that changed.  A huge entry goes (or is protected)
 * whole, whatever part of its block [lo, hi] covers.
 */
static unsigned long odp_pt_zap_block(unsigned long *block, unsigned long lo,
				      unsigned long hi, bool write_protect)
{
	unsigned long huge = block[0];
	unsigned long i, changed = 0;

	if (huge & ODP_PTE_HUGE) {
		if (!write_protect) {
			WRITE_ONCE(block[0], 0);
			return ODP_PT_BLOCK_PAGES;
		}
		if (!(huge & ODP_PTE_WRITE))
			return 0;
		WRITE_ONCE(block[0], huge & ~ODP_PTE_WRITE);
		return ODP_PT_BLOCK_PAGES;
	}
	for (i = lo; i <= hi; i++) {
		unsigned long pte = block[i];

		if (!pte || (write_protect && !(pte & ODP_PTE_WRITE)))
			continue;
		WRITE_ONCE(block[i], write_protect ? pte & ~ODP_PTE_WRITE : 0);
		changed++;
	}
	return changed;
}

/* Make @pte @block's huge entry; return the change in pages present. */
static long odp_pt_set_huge(unsigned long *block, unsigned long pte)
{
	long before = 0;
	unsigned long i;

	if (block[0] & ODP_PTE_HUGE) {
		before = ODP_PT_BLOCK_PAGES;
	} else {
		/* The 4 KiB entries go first: a reader then finds none. */
		for (i = 1; i < ODP_PT_BLOCK_PAGES; i++) {
			if (block[i]) {
				WRITE_ONCE(block[i], 0);
				before++;
			}
		}
		before += !!block[0];
	}
	/* Published: a lookup that finds it sees the page (see the top). */
	smp_store_release(&block[0], pte | ODP_PTE_HUGE);
	return ODP_PT_BLOCK_PAGES - before;
}

/* Make @pte entry @i of @block; return the change in pages present. */
static long odp_pt_set(unsigned long *block, unsigned long i, unsigned long pte)
{
	long delta = 1;

	/* The huge entry goes whole: the cache may always hold less. */
	if (block[0] & ODP_PTE_HUGE) {
		WRITE_ONCE(block[0], 0);
		delta -= ODP_PT_BLOCK_PAGES;
	}
	if (block[i])
		delta--;
	/* Published: a lookup that finds it sees the page (see the top). */
	smp_store_release(&block[i], pte);
	return delta;
}

/**
 * odp_pt_install - enter what hmm_range_fault() found for @range
 * @umem: the umem; caller holds umem->lock and checked read_retry, and
 *	odp_pt_prepare()d @range after the walk
 * @range: the walked range and its pfns
 *
 * A PMD-mapped page (or part of a bigger mapping) whose whole block the walk
 * covers becomes one huge entry; every other page its own.  The gauge of
 * present pages is kept.  Return: the pages entered.
 */
unsigned long odp_pt_install(struct odp_umem *umem,
			     const struct hmm_range *range)
{
	unsigned long first = odp_pt_index(umem, range->start);
	unsigned long npages = (range->end - range->start) >> PAGE_SHIFT;
	unsigned long i = 0, installed = 0;
	long added = 0;

	lockdep_assert_held(&umem->lock);
	while (i < npages) {
		unsigned long hpfn = range->hmm_pfns[i], index = first + i;
		unsigned long *block, pte;

		if (!odp_hmm_pfn_valid(hpfn)) {
			i++;
			continue;
		}
		/* Blocks are never removed before odp_pt_free(). */
		block = odp_pt_block(umem, index);
		if (WARN_ON_ONCE(!block))
			break;
		pte = page_to_pfn(hmm_pfn_to_page(hpfn)) << ODP_PTE_PFN_SHIFT |
		      ODP_PTE_PRESENT;
		if (hpfn & HMM_PFN_WRITE)
			pte |= ODP_PTE_WRITE;
		if (hmm_pfn_to_map_order(hpfn) >= ODP_PT_BLOCK_SHIFT &&
		    !(index & ODP_PT_BLOCK_MASK) &&
		    i + ODP_PT_BLOCK_PAGES <= npages) {
			added += odp_pt_set_huge(block, pte);
			i += ODP_PT_BLOCK_PAGES;
			installed += ODP_PT_BLOCK_PAGES;
		} else {
			added += odp_pt_set(block, index & ODP_PT_BLOCK_MASK, pte);
			i++;
			installed++;
		}
	}
	odp_umem_count(umem, ODP_UMEM_STAT_PAGES_MAPPED, added);
	return installed;
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

	while (i < npages) {
		unsigned long off = (index + i) & ODP_PT_BLOCK_MASK;
		unsigned long *block = odp_pt_block(umem, index + i);
		unsigned long pte;

		if (!block)
			break;
		pte = READ_ONCE(block[0]);
		if (pte & ODP_PTE_HUGE) {
			if (!odp_pte_usable(pte, write))
				break;
			for (; off < ODP_PT_BLOCK_PAGES && i < npages; off++)
				pages[i++] = odp_pte_page(pte, off);
			continue;
		}
		for (; off < ODP_PT_BLOCK_PAGES && i < npages; off++) {
			pte = READ_ONCE(block[off]);
			if (!odp_pte_usable(pte, write))
				return i;
			pages[i++] = odp_pte_page(pte, 0);
		}
	}
	return i;
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
 * whole: the cache may always hold less.  Only blocks that exist are
 * visited (a NULL in the directory is skipped), and a zap of the whole umem
 * with nothing present (its gauge) looks at none.  Return: pages changed.
 */
unsigned long odp_pt_zap(struct odp_umem *umem, unsigned long start,
			 unsigned long end, bool write_protect, bool blockable)
{
	unsigned long index = odp_pt_index(umem, start);
	unsigned long last = odp_pt_index(umem, end) - 1;
	unsigned long changed = 0, covered = 0;
	unsigned long b;

	lockdep_assert_held(&umem->lock);
	if (!write_protect && start <= umem->start && end >= umem->end &&
	    !atomic64_read(&umem->stats[ODP_UMEM_STAT_PAGES_MAPPED]))
		return 0;

	for (b = index >> ODP_PT_BLOCK_SHIFT; b <= last >> ODP_PT_BLOCK_SHIFT;
	     b++) {
		unsigned long *block = READ_ONCE(umem->pt_dir[b]);
		unsigned long b0 = b << ODP_PT_BLOCK_SHIFT;
		unsigned long lo = max(index, b0) - b0;
		unsigned long hi = min(last, b0 + ODP_PT_BLOCK_MASK) - b0;

		if (!block)
			continue;
		changed += odp_pt_zap_block(block, lo, hi, write_protect);
		covered += hi - lo + 1;
		/* Unmapping gigabytes: let others run (umem->lock stays). */
		if (blockable && covered >= ODP_ZAP_BATCH) {
			covered = 0;
			cond_resched();
		}
	}

	if (!changed)
		return 0;
	odp_umem_count(umem, ODP_UMEM_STAT_PAGES_INVALIDATED, changed);
	if (!write_protect)
		odp_umem_count(umem, ODP_UMEM_STAT_PAGES_MAPPED, -(s64)changed);
	return changed;
}

/* Free every block of a umem nobody touches any more (odp_umem_free()). */
void odp_pt_free(struct odp_umem *umem)
{
	unsigned long b;

	for (b = 0; b < umem->pt_blocks; b++)
		kfree(umem->pt_dir[b]);
	kvfree(umem->pt_dir);
}
