// SPDX-License-Identifier: GPL-2.0
/*
 * odp_core: device access to a umem through its translation cache.
 *
 * The device (here the CPU copying on its behalf; the RDMA transport uses
 * the same calls) reads and writes only pages it holds "in flight": it puts
 * the range on umem->inflight first, then looks the entries up, without
 * umem->lock; the invalidation of any page of the range waits until it is
 * taken off.  So an access never takes umem->lock (a fault or an
 * invalidation of the umem does not stall it, nor does it stall them), and
 * an invalidation of another part of the umem does not wait for the copy.
 *
 * Why an access never uses a page after its invalidation returned, with
 * A an access and I an invalidation of a page A looks up:
 *
 *   A: add to inflight (under inflight_lock); look the entry up
 *   I: zap the entry (under umem->lock); then check inflight
 *      (under inflight_lock) and wait while an overlapping access is on it
 *
 * The critical sections of inflight_lock are totally ordered.  If A's comes
 * first, I's check finds A and waits for its end.  If I's comes first, the
 * zap is before I's release of inflight_lock and A's lookup after A's
 * acquire of it: A finds the entry gone (or read-only) and faults, and the
 * fault, which takes umem->lock and checks mmu_interval_read_retry(),
 * installs nothing stale.  Either way I returns only after the last access
 * that could have read the old entry ended.  The same argument holds for
 * odp_umem_kill() with "set dead" in place of the zap.
 *
 * The fast path.  Most accesses are one packet of rxe: at most a page,
 * whose entry is present.  Two trips through inflight_lock were most of
 * what such an access cost beyond rxe's copy of a pinned page, so it runs
 * with preemption off and announces itself in its CPU's access slot
 * instead: no lock, nothing shared with other CPUs, one full barrier.
 *
 *   A: slot := (umem, page), odd seq; smp_mb(); read dead; look up
 *   I: zap the entry (or set dead); smp_mb(); read each CPU's slot
 *
 * This is the store-buffering pattern with a full barrier on both sides:
 * A's lookup finds the entry gone (A takes the slow path, which faults),
 * or I's read finds A's slot and I spins until its seq moves on (A's copy
 * is before that store, a release).  The spin is short - A copies at most
 * a page and cannot sleep or be preempted - so a non-blockable
 * invalidation may spin too.  Only task context takes the fast path: with
 * preemption off nothing else on the CPU can, so a slot is never reused
 * while it is in use.
 */
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/wait.h>

#include "pt.h"

/* Pages one access holds in flight at most. */
#define ODP_ACCESS_CHUNK_PAGES	32

/* The fast-path access a CPU has under way (see the top of the file). */
struct odp_access_slot {
	unsigned long		seq;	/* odd while one is under way */
	struct odp_umem		*umem;
	unsigned long		page;	/* the address of its page */
};

static DEFINE_PER_CPU(struct odp_access_slot, odp_access_slot);

/* Announce an access of @page of @umem; preemption is off. */
static struct odp_access_slot *odp_slot_begin(struct odp_umem *umem,
					      unsigned long page)
{
	struct odp_access_slot *slot = this_cpu_ptr(&odp_access_slot);

	/*
	 * The last access's even seq before these fields: a reader that still
	 * sees that access's odd seq after reading them read its fields.
	 */
	smp_wmb();
	WRITE_ONCE(slot->umem, umem);
	WRITE_ONCE(slot->page, page);
	/* Odd after the fields: whoever sees it odd sees them. */
	smp_store_release(&slot->seq, slot->seq + 1);
	/* The slot before the lookup: pairs with odp_access_slots_wait(). */
	smp_mb();
	return slot;
}

static void odp_slot_end(struct odp_access_slot *slot)
{
	/* Even, after the access's every read and write of the page. */
	smp_store_release(&slot->seq, slot->seq + 1);
}

/**
 * odp_access_slots_wait - wait for the fast-path accesses to a range
 * @umem: the umem
 * @start: page-aligned start of the range
 * @end: page-aligned end
 * @blockable: may reschedule while it waits; else it only spins
 *
 * Called after the range's entries were zapped (or dead was set), with or
 * without umem->lock.  Return: whether it waited.
 */
bool odp_access_slots_wait(struct odp_umem *umem, unsigned long start,
			   unsigned long end, bool blockable)
{
	bool waited = false;
	int cpu;

	/* The zap (or dead) before the reads: pairs with odp_slot_begin(). */
	smp_mb();
	if (!READ_ONCE(umem->fast_accessed))
		return false;
	for_each_possible_cpu(cpu) {
		struct odp_access_slot *slot = per_cpu_ptr(&odp_access_slot, cpu);
		struct odp_umem *owner;
		unsigned long seq, page;

		/* Odd: the fields stored before it are the access's. */
		seq = smp_load_acquire(&slot->seq);
		if (!(seq & 1))
			continue;
		owner = READ_ONCE(slot->umem);
		page = READ_ONCE(slot->page);
		/* Still the same access?  Else the fields may be a later one's. */
		smp_rmb();
		if (READ_ONCE(slot->seq) != seq || owner != umem ||
		    page >= end || page + PAGE_SIZE <= start)
			continue;
		while (READ_ONCE(slot->seq) == seq) {
			if (blockable)
				cond_resched();
			else
				cpu_relax();
		}
		/* Its copy is done before whatever the caller does next. */
		smp_acquire__after_ctrl_dep();
		waited = true;
	}
	return waited;
}

bool odp_inflight_overlaps(struct odp_umem *umem, unsigned long start,
			   unsigned long end)
{
	struct odp_inflight *inf;
	bool overlaps = false;

	spin_lock(&umem->inflight_lock);
	list_for_each_entry(inf, &umem->inflight, node) {
		if (inf->start < end && start < inf->end) {
			overlaps = true;
			break;
		}
	}
	spin_unlock(&umem->inflight_lock);
	return overlaps;
}

/* Count for the umem, its parent and the consumer's totals (any context). */
static __always_inline void odp_umem_count_accesses(struct odp_umem *umem,
						    u64 accesses, u64 bytes)
{
	this_cpu_add(umem->access_counts->accesses, accesses);
	this_cpu_add(umem->access_counts->bytes, bytes);
	if (umem->sums) {
		this_cpu_add(umem->sums->v[ODP_UMEM_STAT_ACCESSES], accesses);
		this_cpu_add(umem->sums->v[ODP_UMEM_STAT_ACCESS_BYTES], bytes);
	}
	if (unlikely(umem->parent)) {
		atomic64_add(accesses,
			     &umem->parent->stats[ODP_UMEM_STAT_ACCESSES]);
		atomic64_add(bytes,
			     &umem->parent->stats[ODP_UMEM_STAT_ACCESS_BYTES]);
	}
}

/* Take @inf off inflight; count @accesses accesses and @bytes bytes. */
static void odp_umem_end_access(struct odp_umem *umem, struct odp_inflight *inf,
				u64 accesses, u64 bytes)
{
	bool wake;

	spin_lock(&umem->inflight_lock);
	list_del(&inf->node);
	/*
	 * Wake only if an invalidation (or odp_umem_kill()) waits: most
	 * accesses end with nobody waiting, and wake_up_all() would take the
	 * wait queue's lock, shared by every access to the umem, each time.
	 *
	 * No wake-up is lost.  A waiter (wait_event()) puts itself on
	 * inflight_wq and then checks odp_inflight_overlaps() under
	 * inflight_lock.  If that check's critical section came after ours,
	 * it sees our entry gone and does not sleep.  If it came before, the
	 * waiter queued itself before its release of inflight_lock, which
	 * our acquire of it follows: our look at the queue here sees it.
	 */
	wake = waitqueue_active(&umem->inflight_wq);
	spin_unlock(&umem->inflight_lock);
	if (wake)
		wake_up_all(&umem->inflight_wq);
	if (accesses | bytes)
		odp_umem_count_accesses(umem, accesses, bytes);
}

/*
 * Hold [start, start + npages pages) in flight, then look up the pages from
 * @start on that are mapped with the permission the access needs (see the
 * top of this file for why in this order).  Returns how many leading pages
 * were found and stay held (0: the first one needs a fault, nothing is
 * held), or -EINVAL once the umem is killed.
 */
static long odp_umem_begin_access(struct odp_umem *umem, unsigned long start,
				  unsigned long npages, bool write,
				  struct page **pages, struct odp_inflight *inf)
{
	unsigned long i;

	/* The whole window: the lookup may find any page of it. */
	inf->start = start;
	inf->end = start + npages * PAGE_SIZE;
	spin_lock(&umem->inflight_lock);
	list_add(&inf->node, &umem->inflight);
	spin_unlock(&umem->inflight_lock);

	if (READ_ONCE(umem->dead)) {
		odp_umem_end_access(umem, inf, 0, 0);
		return -EINVAL;
	}
	i = odp_pt_lookup(umem, start, npages, write, pages);
	if (!i)
		odp_umem_end_access(umem, inf, 0, 0);
	return i;
}

/*
 * Mark a folio the device wrote dirty, as the CPU's write would.  A folio
 * already dirty is left alone, as unpin_user_pages_dirty_lock() does, for
 * the reason it gives: seeing it dirty races only with writeback's
 * clear_page_dirty_for_io(), which then writes our data back anyway.  Most
 * writes land on dirty folios, and folio_mark_dirty() is a call per page.
 */
static void odp_folio_written(struct folio *folio)
{
	if (!folio_test_dirty(folio))
		folio_mark_dirty(folio);
}

/* Copy @n bytes between @buf and @page from @offset, not past its end. */
static __always_inline void odp_copy_page(struct page *page,
					  unsigned int offset, void *buf,
					  size_t n, bool write)
{
	void *vaddr = kmap_local_page(page);

	/*
	 * The kernel's memcpy(), called as rxe's own copy calls it.  Knowing
	 * n <= PAGE_SIZE, gcc would inline a "rep movsq" of its own choosing
	 * instead of the copy the kernel picked for this CPU (alternatives).
	 * Under QEMU's TCG, which runs every iteration of a rep string
	 * instruction as a translated block of its own, that is the slower
	 * one by far.
	 */
	OPTIMIZER_HIDE_VAR(n);

	if (write) {
		memcpy(vaddr + offset, buf, n);
		/*
		 * Mark it dirty while the access still fences invalidation:
		 * the page is still mapped, so it cannot be truncated under us
		 * (as in umem_odp).
		 */
		odp_folio_written(page_folio(page));
	} else {
		memcpy(buf, vaddr + offset, n);
	}
	kunmap_local(vaddr);
}

/* Copy @len bytes between @buf and the held pages, from @offset in the first. */
static void odp_copy_pages(struct page **pages, unsigned int offset,
			   void *buf, size_t len, bool write)
{
	while (len) {
		size_t n = min_t(size_t, len, PAGE_SIZE - offset);

		odp_copy_page(*pages, offset, buf, n, write);
		buf += n;
		len -= n;
		offset = 0;
		pages++;
	}
}

/*
 * Hold up to @max pages from the page of @iova on (not past @end_page),
 * faulting them in as needed, and with them the pages up to @fault_end
 * (at least @end_page) that the caller says it will access next: they
 * fault in the same walk, but only the held ones must succeed.  Returns
 * how many are held, or an error.
 */
static long odp_umem_hold(struct odp_umem *umem, u64 iova, unsigned long end_page,
			  unsigned long fault_end, unsigned long max, bool write,
			  struct page **pages, struct odp_inflight *inf)
{
	unsigned int flags = write ? ODP_UMEM_FAULT_WRITE : 0;
	unsigned long start = ALIGN_DOWN(iova, PAGE_SIZE);
	unsigned long batch = start + ODP_FAULT_BATCH_PAGES * PAGE_SIZE;
	unsigned long deadline, npages;
	unsigned int faults = 0;
	int ret;

	npages = min((end_page - start) >> PAGE_SHIFT, max);
	deadline = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	for (;;) {
		long held;

		held = odp_umem_begin_access(umem, start, npages, write, pages, inf);
		if (held)
			return held;
		/* Invalidated again between fault and lookup, too often? */
		if (odp_retry_expired(deadline, faults))
			return -EBUSY;
		ret = odp_umem_fault(umem, start, min(fault_end, batch), flags);
		/* Something ahead may not be mapped; that is not this access's. */
		if (ret && fault_end > end_page)
			ret = odp_umem_fault(umem, start, min(end_page, batch),
					     flags);
		if (ret)
			return ret;
		faults++;
		/* Faulted ahead once: what invalidations undo is faulted alone. */
		fault_end = end_page;
	}
}

/*
 * The fast path (see the top of the file): an access of at most one page
 * whose entry is present.  Returns false, having done nothing, when it is
 * the slow path's: not in task context, a test hook armed for another
 * point (those park on inflight), the entry missing, or the umem dead.
 * Inline, with the page's lookup and copy: the call of each was a good
 * part of its cost under QEMU's TCG, where every return is a jump that
 * must be looked up.
 */
static __always_inline bool odp_umem_copy_fast(struct odp_umem *umem,
					       u64 iova, void *buf, size_t len,
					       bool write)
{
	unsigned long page = ALIGN_DOWN(iova, PAGE_SIZE);
	struct odp_access_slot *slot;
	struct page *pg = NULL;

	if (!in_task())
		return false;
	if (static_branch_unlikely(&odp_retry_hook_key) &&
	    !odp_retry_hook_armed(ODP_HOOK_FAST))
		return false;
	/* Before the slot: odp_access_slots_wait() reads it after its zap. */
	if (unlikely(!READ_ONCE(umem->fast_accessed)))
		WRITE_ONCE(umem->fast_accessed, true);

	preempt_disable();
	slot = odp_slot_begin(umem, page);
	if (likely(!READ_ONCE(umem->dead)))
		pg = odp_pt_lookup_page(umem, page, write);
	if (likely(pg)) {
		if (static_branch_unlikely(&odp_retry_hook_key))
			odp_retry_hook_spin(ODP_HOOK_FAST);
		odp_copy_page(pg, offset_in_page(iova), buf, len, write);
	}
	odp_slot_end(slot);
	preempt_enable();
	if (likely(pg))
		odp_umem_count_accesses(umem, 1, len);
	return pg;
}

/*
 * The slow path of odp_umem_copy_ahead(): the range a chunk of pages at a
 * time, in flight, faulting what is missing.  Out of line, so that the
 * fast path's frame has no page array (nor its stack protector).
 */
static noinline int odp_umem_copy_held(struct odp_umem *umem, u64 iova,
				       void *buf, size_t len, bool write,
				       unsigned long fault_end)
{
	unsigned long end_page = PAGE_ALIGN(iova + len);
	size_t done = 0;
	int ret = 0;

	while (done < len) {
		/* Filled by the lookup: not zeroed (INIT_STACK_ALL_ZERO) per call. */
		struct page *pages[ODP_ACCESS_CHUNK_PAGES] __uninitialized;
		struct odp_inflight inf;
		long held;
		size_t n;

		held = odp_umem_hold(umem, iova, end_page, fault_end,
				     ODP_ACCESS_CHUNK_PAGES, write, pages, &inf);
		if (held < 0) {
			ret = held;
			break;
		}
		n = min_t(size_t, len - done,
			  held * PAGE_SIZE - offset_in_page(iova));
		odp_retry_hook_maybe(ODP_HOOK_INFLIGHT);
		odp_copy_pages(pages, offset_in_page(iova), buf + done, n,
			       write);
		/* The access is counted with its last chunk. */
		odp_umem_end_access(umem, &inf, done + n == len, n);

		done += n;
		iova += n;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
	}
	/* Ended before its last chunk: counted here (its bytes are). */
	if (done < len)
		odp_umem_count_accesses(umem, 1, 0);
	return ret;
}

/**
 * odp_umem_copy_ahead - device read or write of a umem range, and a hint
 * @umem: the umem; the caller keeps it from being freed and checked access
 * @iova: start, inside the umem
 * @buf: kernel buffer
 * @len: bytes
 * @write: true to write @buf into the umem, false to read the umem into @buf
 * @ahead: bytes after the range that the caller will access the same way
 *	next (the rest of an RDMA message): a fault takes them along, in the
 *	same walk, instead of one fault per packet.  Failing to fault them
 *	fails nothing.  Ignored for an implicit umem.
 *
 * Faults missing pages in batches and retries until the whole range is
 * done.  Return: 0 or an error of odp_umem_fault(), -EINVAL if the range is
 * not inside the umem, -EINTR on a fatal signal.
 */
int odp_umem_copy_ahead(struct odp_umem *umem, u64 iova, void *buf,
			size_t len, bool write, size_t ahead)
{
	if (!odp_umem_covers(umem, iova, len))
		return -EINVAL;
	if (umem->implicit)
		return odp_implicit_copy(umem, iova, buf, len, write);
	if (likely(len && offset_in_page(iova) + len <= PAGE_SIZE) &&
	    odp_umem_copy_fast(umem, iova, buf, len, write))
		return 0;
	/* Not past the umem's end (covers: iova + len <= end). */
	ahead = min_t(u64, ahead, umem->end - (iova + len));
	return odp_umem_copy_held(umem, iova, buf, len, write,
				  PAGE_ALIGN(iova + len + ahead));
}
EXPORT_SYMBOL_GPL(odp_umem_copy_ahead);

/**
 * odp_umem_copy - device read or write of a umem range
 * @umem: the umem; the caller keeps it from being freed and checked access
 * @iova: start, inside the umem
 * @buf: kernel buffer
 * @len: bytes
 * @write: true to write @buf into the umem, false to read the umem into @buf
 *
 * odp_umem_copy_ahead() with nothing ahead.
 */
int odp_umem_copy(struct odp_umem *umem, u64 iova, void *buf, size_t len,
		  bool write)
{
	return odp_umem_copy_ahead(umem, iova, buf, len, write, 0);
}
EXPORT_SYMBOL_GPL(odp_umem_copy);

/**
 * odp_umem_atomic - 8-byte atomic on a umem, as a responder executes it
 * @umem: the umem; the caller keeps it from being freed and checked access
 * @iova: 8-byte aligned address inside the umem
 * @op: compare-and-swap, fetch-and-add or atomic write
 * @a: the value compared with, added, or written
 * @b: the value swapped in
 * @old: the value before (not for ODP_UMEM_WRITE), or NULL
 *
 * A real CPU atomic on the page: atomic against other device atomics, from
 * any QP, and against the CPU's own.
 */
int odp_umem_atomic(struct odp_umem *umem, u64 iova,
		    enum odp_umem_atomic_op op, u64 a, u64 b, u64 *old)
{
	/* Aligned: the word is inside one page, and nothing is faulted ahead. */
	unsigned long end_page = PAGE_ALIGN(iova + sizeof(u64));
	struct odp_inflight inf;
	struct page *page;
	u64 *word, prev = 0;
	long held;
	void *vaddr;

	if (iova % sizeof(u64) || !odp_umem_covers(umem, iova, sizeof(u64)))
		return -EINVAL;
	if (umem->implicit)
		return odp_implicit_atomic(umem, iova, op, a, b, old);
	held = odp_umem_hold(umem, iova, end_page, end_page, 1, true, &page, &inf);
	if (held < 0)
		return held;

	vaddr = kmap_local_page(page);
	word = vaddr + offset_in_page(iova);
	switch (op) {
	case ODP_UMEM_CMP_SWAP:
		prev = cmpxchg64(word, a, b);
		break;
	case ODP_UMEM_FETCH_ADD:
		prev = atomic64_fetch_add(a, (atomic64_t *)word);
		break;
	case ODP_UMEM_WRITE:
		/* IBA A19.4.2: visible only after every earlier write. */
		smp_store_release(word, a);
		break;
	}
	kunmap_local(vaddr);
	odp_folio_written(page_folio(page));
	odp_umem_end_access(umem, &inf, 1, sizeof(u64));
	if (old)
		*old = prev;
	return 0;
}
EXPORT_SYMBOL_GPL(odp_umem_atomic);
