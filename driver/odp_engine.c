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
 * leading pages were found (0: the first one needs a fault).
 */
static unsigned long odp_mr_begin_access(struct odp_mr *mr,
					 unsigned long start,
					 unsigned long npages, bool write,
					 struct page **pages,
					 struct odp_inflight *inf)
{
	unsigned long first = (start - mr->page_start) >> PAGE_SHIFT;
	unsigned long i;

	mutex_lock(&mr->lock);
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
	unsigned long deadline;
	size_t done = 0;
	int ret = 0;

	deadline = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	while (done < len) {
		struct page *pages[ODP_ACCESS_CHUNK_PAGES];
		unsigned long start = ALIGN_DOWN(iova, PAGE_SIZE);
		unsigned int offset = offset_in_page(iova);
		struct odp_inflight inf;
		unsigned long npages;
		size_t n;

		npages = min_t(unsigned long, (end_page - start) >> PAGE_SHIFT,
			       ODP_ACCESS_CHUNK_PAGES);
		npages = odp_mr_begin_access(mr, start, npages, write, pages,
					     &inf);
		if (!npages) {
			/* Invalidated again before we could use it? */
			if (time_after(jiffies, deadline)) {
				ret = -EBUSY;
				break;
			}
			ret = odp_mr_fault(mr, start,
					   min(end_page, start +
					       ODP_FAULT_BATCH_PAGES * PAGE_SIZE),
					   write ? ODP_FAULT_WRITE : 0);
			if (ret)
				break;
			continue;
		}

		n = min_t(size_t, len - done, npages * PAGE_SIZE - offset);
		odp_copy_pages(pages, offset, buf + done, n, write);
		odp_mr_end_access(mr, &inf);

		done += n;
		iova += n;
		deadline = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
	}

	odp_stat_inc(mr, ODP_ABI_STAT_ACCESSES);
	odp_stat_add(mr, ODP_ABI_STAT_ACCESS_BYTES, done);
	return ret;
}
