// SPDX-License-Identifier: GPL-2.0
/*
 * odp: device access to an MR through its translation cache.
 *
 * The device (here the CPU copying on its behalf; the RDMA transport uses
 * the same calls) reads and writes only pages whose entries it looked up
 * under mr->lock.  Before dropping the lock it puts the range on
 * mr->inflight; the invalidation of any page of the range waits until it is
 * taken off.  So a fault never holds mr->lock while copying, and an
 * invalidation of another part of the MR does not wait for the copy.
 */
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>

#include "odp.h"

/* Pages one access holds in flight at most. */
#define ODP_ACCESS_CHUNK_PAGES	32

bool odp_inflight_overlaps(struct odp_mr *mr, unsigned long start,
			   unsigned long end)
{
	struct odp_inflight *inf;
	bool overlaps = false;

	spin_lock(&mr->inflight_lock);
	list_for_each_entry(inf, &mr->inflight, node) {
		if (inf->start < end && start < inf->end) {
			overlaps = true;
			break;
		}
	}
	spin_unlock(&mr->inflight_lock);
	return overlaps;
}

/*
 * Look up the pages from @start on, up to @npages, that are mapped with the
 * permission the access needs, and hold them in flight.  Returns how many
 * leading pages were found (0: the first one needs a fault), or -EINVAL
 * once the MR is deregistered.
 */
static long odp_mr_begin_access(struct odp_mr *mr, unsigned long start,
				unsigned long npages, bool write,
				struct page **pages, struct odp_inflight *inf)
{
	unsigned long first = (start - mr->page_start) >> PAGE_SHIFT;
	unsigned long i;

	mutex_lock(&mr->lock);
	if (mr->dead) {
		mutex_unlock(&mr->lock);
		return -EINVAL;
	}
	for (i = 0; i < npages; i++) {
		void *entry = xa_load(&mr->pt, first + i);

		if (!entry || (write && xa_pointer_tag(entry) != ODP_PTE_WRITE))
			break;
		pages[i] = xa_untag_pointer(entry);
	}
	if (i) {
		inf->start = start;
		inf->end = start + i * PAGE_SIZE;
		spin_lock(&mr->inflight_lock);
		list_add(&inf->node, &mr->inflight);
		spin_unlock(&mr->inflight_lock);
	}
	mutex_unlock(&mr->lock);
	return i;
}

static void odp_mr_end_access(struct odp_mr *mr, struct odp_inflight *inf)
{
	spin_lock(&mr->inflight_lock);
	list_del(&inf->node);
	spin_unlock(&mr->inflight_lock);
	wake_up_all(&mr->inflight_wq);
}

/* Copy @len bytes between @buf and the held pages, from @offset in the first. */
static void odp_copy_pages(struct page **pages, unsigned int offset,
			   void *buf, size_t len, bool write)
{
	while (len) {
		size_t n = min_t(size_t, len, PAGE_SIZE - offset);
		void *vaddr = kmap_local_page(*pages);

		if (write) {
			memcpy(vaddr + offset, buf, n);
			/*
			 * Mark it dirty while the access still fences
			 * invalidation: the page is still mapped, so it cannot
			 * be truncated under us (as in umem_odp).
			 */
			folio_mark_dirty(page_folio(*pages));
		} else {
			memcpy(buf, vaddr + offset, n);
		}
		kunmap_local(vaddr);
		buf += n;
		len -= n;
		offset = 0;
		pages++;
	}
}

/*
 * Hold up to @max pages from the page of @iova on (not past @end_page),
 * faulting them in as needed.  Returns how many are held, or an error.
 */
static long odp_mr_hold(struct odp_mr *mr, u64 iova, unsigned long end_page,
			unsigned long max, bool write, struct page **pages,
			struct odp_inflight *inf)
{
	unsigned long start = ALIGN_DOWN(iova, PAGE_SIZE);
	unsigned long deadline, npages;
	int ret;

	npages = min((end_page - start) >> PAGE_SHIFT, max);
	deadline = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	for (;;) {
		long held;

		held = odp_mr_begin_access(mr, start, npages, write, pages, inf);
		if (held)
			return held;
		/* Invalidated again between fault and lookup, for too long? */
		if (time_after(jiffies, deadline))
			return -EBUSY;
		ret = odp_mr_fault(mr, start,
				   min(end_page,
				       start + ODP_FAULT_BATCH_PAGES * PAGE_SIZE),
				   write ? ODP_FAULT_WRITE : 0);
		if (ret)
			return ret;
	}
}

/**
 * odp_mr_access_kernel - device read or write of an MR range
 * @mr: the MR; the caller holds a reference and checked range and access
 * @iova: start, inside the MR
 * @buf: kernel buffer
 * @len: bytes
 * @write: true to write @buf into the MR, false to read the MR into @buf
 *
 * Faults missing pages in batches and retries until the whole range is
 * done.  Return: 0 or an error of odp_mr_fault(), -EINTR on a fatal signal.
 */
int odp_mr_access_kernel(struct odp_mr *mr, u64 iova, void *buf, size_t len,
			 bool write)
{
	unsigned long end_page = PAGE_ALIGN(iova + len);
	size_t done = 0;
	int ret = 0;

	while (done < len) {
		struct page *pages[ODP_ACCESS_CHUNK_PAGES];
		struct odp_inflight inf;
		long held;
		size_t n;

		held = odp_mr_hold(mr, iova, end_page, ODP_ACCESS_CHUNK_PAGES,
				   write, pages, &inf);
		if (held < 0) {
			ret = held;
			break;
		}
		n = min_t(size_t, len - done,
			  held * PAGE_SIZE - offset_in_page(iova));
		odp_retry_hook_maybe(ODP_HOOK_INFLIGHT);
		odp_copy_pages(pages, offset_in_page(iova), buf + done, n,
			       write);
		odp_mr_end_access(mr, &inf);

		done += n;
		iova += n;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
	}

	odp_stat_inc(mr, ODP_ABI_STAT_ACCESSES);
	odp_stat_add(mr, ODP_ABI_STAT_ACCESS_BYTES, done);
	return ret;
}

/**
 * odp_mr_atomic - 8-byte atomic on an MR, as a responder executes it
 * @mr: the MR; the caller holds a reference and checked range and access
 * @iova: 8-byte aligned address inside the MR
 * @cmp_swap: compare-and-swap if true, else fetch-and-add
 * @compare_add: the value compared with, or added
 * @swap: the value swapped in
 * @old: the value before
 *
 * A real CPU atomic on the page: atomic against other device atomics, from
 * any QP, and against the CPU's own.
 */
int odp_mr_atomic(struct odp_mr *mr, u64 iova, bool cmp_swap, u64 compare_add,
		  u64 swap, u64 *old)
{
	struct odp_inflight inf;
	struct page *page;
	long held;
	void *vaddr;
	u64 *word;

	held = odp_mr_hold(mr, iova, PAGE_ALIGN(iova + sizeof(u64)), 1, true,
			   &page, &inf);
	if (held < 0)
		return held;

	vaddr = kmap_local_page(page);
	word = vaddr + offset_in_page(iova);
	if (cmp_swap)
		*old = cmpxchg64(word, compare_add, swap);
	else
		*old = atomic64_fetch_add(compare_add, (atomic64_t *)word);
	kunmap_local(vaddr);
	folio_mark_dirty(page_folio(page));
	odp_mr_end_access(mr, &inf);

	odp_stat_inc(mr, ODP_ABI_STAT_ACCESSES);
	odp_stat_add(mr, ODP_ABI_STAT_ACCESS_BYTES, sizeof(u64));
	return 0;
}
