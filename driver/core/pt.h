/* SPDX-License-Identifier: GPL-2.0 */
/*
 * odp_core: the format of the device page table (pt.c says how it works),
 * and the lookup of one page, inline for the fast path of an access.
 */
#ifndef ODP_CORE_PT_H
#define ODP_CORE_PT_H

#include <linux/mm.h>

#include "umem.h"

/*
 * An entry (unsigned long): 0 when the device may not touch the page; else
 * the page's pfn above ODP_PTE_PFN_SHIFT, ODP_PTE_PRESENT, ODP_PTE_WRITE
 * when the device may write, and ODP_PTE_HUGE in a block's first entry when
 * it maps the whole block.
 */
#define ODP_PTE_PRESENT		BIT(0)
#define ODP_PTE_WRITE		BIT(1)
#define ODP_PTE_HUGE		BIT(2)
#define ODP_PTE_PFN_SHIFT	3

#define ODP_PT_BLOCK_SHIFT	(PMD_SHIFT - PAGE_SHIFT)
#define ODP_PT_BLOCK_PAGES	BIT(ODP_PT_BLOCK_SHIFT)
#define ODP_PT_BLOCK_MASK	(ODP_PT_BLOCK_PAGES - 1)

/* A table: the blocks of ODP_PT_TABLE_BLOCKS consecutive PMD-sized spans. */
#define ODP_PT_TABLE_SHIFT	(PUD_SHIFT - PMD_SHIFT)
#define ODP_PT_TABLE_BLOCKS	BIT(ODP_PT_TABLE_SHIFT)
#define ODP_PT_TABLE_MASK	(ODP_PT_TABLE_BLOCKS - 1)

struct odp_pt_table {
	unsigned long		*blocks[ODP_PT_TABLE_BLOCKS];
};

static inline unsigned long odp_pt_index(const struct odp_umem *umem,
					 unsigned long addr)
{
	return (addr - umem->pt_base) >> PAGE_SHIFT;
}

/* The table of block @b, or NULL; any context, with or without lock. */
static inline struct odp_pt_table *odp_pt_table(struct odp_umem *umem,
						unsigned long b)
{
	return READ_ONCE(umem->pt_dir[b >> ODP_PT_TABLE_SHIFT]);
}

/* The block of entry @index, or NULL; any context, with or without lock. */
static inline unsigned long *odp_pt_block(struct odp_umem *umem,
					  unsigned long index)
{
	unsigned long b = index >> ODP_PT_BLOCK_SHIFT;
	struct odp_pt_table *table = odp_pt_table(umem, b);

	return table ? READ_ONCE(table->blocks[b & ODP_PT_TABLE_MASK]) : NULL;
}

static inline bool odp_pte_usable(unsigned long pte, bool write)
{
	return pte & ODP_PTE_PRESENT && (!write || pte & ODP_PTE_WRITE);
}

static inline struct page *odp_pte_page(unsigned long pte,
					unsigned long offset)
{
	return pfn_to_page((pte >> ODP_PTE_PFN_SHIFT) + offset);
}

/**
 * odp_pt_lookup_page - the page at @addr, if the device may touch it
 * @umem: the umem; as for odp_pt_lookup()
 * @addr: page-aligned address inside the umem
 * @write: the access writes: only a writable entry counts
 *
 * odp_pt_lookup() of one page, without the call.  Return: the page, or NULL
 * when it needs a fault.
 */
static inline struct page *odp_pt_lookup_page(struct odp_umem *umem,
					      unsigned long addr, bool write)
{
	unsigned long index = odp_pt_index(umem, addr);
	unsigned long *block = odp_pt_block(umem, index);
	unsigned long pte, off = 0;

	if (!block)
		return NULL;
	/* A huge entry maps the block; its first entry's pfn is its first page. */
	pte = READ_ONCE(block[0]);
	if (pte & ODP_PTE_HUGE)
		off = index & ODP_PT_BLOCK_MASK;
	else
		pte = READ_ONCE(block[index & ODP_PT_BLOCK_MASK]);
	return odp_pte_usable(pte, write) ? odp_pte_page(pte, off) : NULL;
}

#endif /* ODP_CORE_PT_H */
