// SPDX-License-Identifier: GPL-2.0
/*
 * odp_core: the device page table of a umem.
 *
 * Three levels, like the CPU's last three, from umem->pt_base (the umem's
 * start aligned down to PMD_SIZE): the directory umem->pt_dir has a slot
 * per 1 GiB of the span, which points to a table (struct odp_pt_table, a
 * page) once a page of that GiB was faulted; a table points to a block of
 * ODP_PT_BLOCK_PAGES entries for each 2 MiB of it that was ever faulted;
 * an entry is a pfn and its permission.  A
 * page the CPU maps with a PMD (a THP, a 2 MiB hugetlb page) is ONE entry,
 * the first of its block, marked ODP_PTE_HUGE: faulting, looking it up and
 * dropping it is one store or load.  Its pfn is also its first page's, so
 * a reader that takes it for that page's 4 KiB entry is right too.  A
 * bigger mapping (a 1 GiB hugetlb page) is one such entry in each of its
 * blocks.
 *
 * A lookup is three loads and no call (pt.h).  The tables and blocks hung
 * from an xarray until 2026-12, and its xa_load(), with an RCU read section
 * whose unlock is a call on Debian's kernel, was the larger part of what
 * the fast path of an access (access.c) cost beyond rxe's copy of a pinned
 * page.  The directory is allocated with the umem: 8 bytes per GiB of the
 * span (8 bytes up to 1 GiB, 1 MiB for the whole 47-bit address space), so
 * registration stays flat in the length.  (A flat array of block pointers,
 * 8 bytes per 2 MiB, made registering and freeing a 4 GiB umem four and ten
 * times as costly as a small one's under QEMU's TCG.)
 *
 * Tables and blocks are allocated before the fault takes odp_umem.lock
 * (odp_pt_prepare(): GFP_KERNEL, charged to the umem's memcg) and stay
 * until the umem is freed.  So an invalidation only clears entries: it
 * neither frees nor allocates, and nothing that a lookup without the lock
 * reads is ever freed under it.  The price is a block (a page) for each
 * 2 MiB of the umem that was ever device-mapped (0.2% of it) and a table
 * (a page) for each such GiB: what a flat per-page array would cost for
 * all of the umem from registration on.
 *
 * Entries change only under odp_umem.lock.  An entry goes in with a store
 * release, as rcu_assign_pointer() would publish it, so that whoever finds
 * it (READ_ONCE() and the address dependency) sees the page as the walk
 * did; it goes out with WRITE_ONCE(), and access.c says how an
 * invalidation knows that no lookup still uses it.  Tables and blocks are
 * added with cmpxchg() (a full barrier after they were zeroed) without
 * odp_umem.lock, and never removed before odp_pt_free().
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
 * Charged to the umem's memcg, as its tables and blocks are; quiet when it
 * fails (the length comes from the user).  Return: 0 or -ENOMEM.
 */
int odp_pt_init(struct odp_umem *umem)
{
	unsigned long blocks;
	struct mem_cgroup *old;

	umem->pt_base = ALIGN_DOWN(umem->start, PMD_SIZE);
	blocks = (ALIGN(umem->end, PMD_SIZE) - umem->pt_base) >> PMD_SHIFT;
	umem->pt_tables = DIV_ROUND_UP(blocks, ODP_PT_TABLE_BLOCKS);
	old = set_active_memcg(umem->memcg);
	umem->pt_dir = kvcalloc(umem->pt_tables, sizeof(*umem->pt_dir),
				GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	set_active_memcg(old);
	return umem->pt_dir ? 0 : -ENOMEM;
}

/*
 * Put @size zeroed bytes into *@slot unless something is there (another
 * fault's, added meanwhile, is kept).  Return: 0 or -ENOMEM.
 */
static int odp_pt_fill(void **slot, size_t size)
{
	void *new;

	if (READ_ONCE(*slot))
		return 0;
	new = kzalloc(size, GFP_KERNEL_ACCOUNT);
	if (!new)
		return -ENOMEM;
	if (cmpxchg(slot, NULL, new))
		kfree(new);
	return 0;
}

/* Add block @b (and its table) unless it is there.  Return: 0 or -ENOMEM. */
static int odp_pt_add_block(struct odp_umem *umem, unsigned long b)
{
	struct odp_pt_table *table;
	int ret;

	ret = odp_pt_fill((void **)&umem->pt_dir[b >> ODP_PT_TABLE_SHIFT],
			  sizeof(*table));
	if (ret)
		return ret;
	table = odp_pt_table(umem, b);
	return odp_pt_fill((void **)&table->blocks[b & ODP_PT_TABLE_MASK],
			   ODP_PT_BLOCK_PAGES * sizeof(unsigned long));
}

/**
 * odp_pt_prepare - allocate the tables and blocks for what @range found
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
 * visited (a GiB without a table is skipped whole), and a zap of the whole
 * umem with nothing present (its gauge) looks at none.  Return: pages
 * changed.
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
		struct odp_pt_table *table = odp_pt_table(umem, b);
		unsigned long b0 = b << ODP_PT_BLOCK_SHIFT;
		unsigned long lo = max(index, b0) - b0;
		unsigned long hi = min(last, b0 + ODP_PT_BLOCK_MASK) - b0;
		unsigned long *block;

		if (!table) {
			/* Nothing of this GiB was faulted: on to the next. */
			b |= ODP_PT_TABLE_MASK;
			continue;
		}
		block = READ_ONCE(table->blocks[b & ODP_PT_TABLE_MASK]);
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

/* Free the tables, blocks and directory of a umem nobody touches any more. */
void odp_pt_free(struct odp_umem *umem)
{
	unsigned long t, i;

	for (t = 0; t < umem->pt_tables; t++) {
		struct odp_pt_table *table = umem->pt_dir[t];

		if (!table)
			continue;
		for (i = 0; i < ODP_PT_TABLE_BLOCKS; i++)
			kfree(table->blocks[i]);
		kfree(table);
	}
	kvfree(umem->pt_dir);
}
