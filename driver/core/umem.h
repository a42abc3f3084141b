/* SPDX-License-Identifier: GPL-2.0 */
/*
 * odp_core internals: the umem and its locking rules.
 *
 * Lock order, outermost first:
 *   mmap_lock (read) -> odp_umem.lock -> odp_umem.inflight_lock
 * pt.c adds tables and blocks with cmpxchg(), before the fault takes
 * odp_umem.lock.  A device access takes only inflight_lock, or
 * on its fast path no lock at all (its CPU's access slot, access.c).
 * odp_umem.lock is taken inside mmu notifier invalidation, so nothing may
 * allocate memory with reclaim (GFP_KERNEL) while holding it: the fault
 * allocates the table's blocks before it takes the lock
 * (pt.c odp_pt_prepare()).
 */
#ifndef ODP_CORE_UMEM_H
#define ODP_CORE_UMEM_H

#include <linux/jiffies.h>
#include <linux/jump_label.h>
#include <linux/list.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "odp_core.h"

struct odp_pt_table;

/*
 * The device page table ("pt", pt.c) maps each page of [start, end) that
 * the device may touch to the page the CPU page table had when the entry
 * was faulted, with write permission or without; a PMD-mapped page is one
 * entry.
 *
 * Invariant: an entry is present in pt only between a fault that saw no
 * invalidation (mmu_interval_read_retry() false under lock) and the next
 * invalidation of its page, which clears it under lock.  The device reads or
 * writes a page only through an entry it looked up (without the lock)
 * after putting an odp_inflight covering the page on inflight (or
 * its CPU's access slot on the fast path), and only until it takes that
 * off; the invalidation checks inflight and the slots after its zap and
 * waits for such accesses before it returns (access.c argues the order).
 * So the device never touches a page after the mm has been told it may
 * free it.
 */
struct odp_umem {
	struct mmu_interval_notifier notifier;
	u32			id;		/* for tracepoints; constant */
	struct mm_struct	*mm;		/* mmgrab()ed; constant */
	struct mem_cgroup	*memcg;		/* charged for pt; constant */
	unsigned long		start;		/* page-aligned; constant */
	unsigned long		end;
	/* Where pt's first block starts: start aligned down to PMD_SIZE. */
	unsigned long		pt_base;		/* constant */
	/*
	 * pt.c: the directory, a table (or NULL) per PUD_SIZE from pt_base,
	 * and its length.  Allocated with the umem; tables and blocks are
	 * only added, with cmpxchg(), and freed with the umem.
	 */
	struct odp_pt_table	**pt_dir;
	unsigned long		pt_tables;		/* constant */

	/*
	 * Serialises faults against invalidations: protects changes to pt,
	 * dead and the check of the notifier sequence
	 * (mmu_interval_read_retry()).  Taken in the notifier callback: no
	 * GFP_KERNEL allocation under it.  Device accesses do not take it:
	 * they read pt's entries and dead with READ_ONCE(), after putting
	 * themselves on inflight (access.c).
	 */
	struct mutex		lock;
	/* Set by odp_umem_kill(): no entry is installed, no access begins. */
	bool			dead;

	/*
	 * Device accesses under way; see access.c.  Its critical sections
	 * order an access's lookup against an invalidation's zap.
	 */
	spinlock_t		inflight_lock;	/* protects inflight */
	struct list_head	inflight;	/* of struct odp_inflight */
	/*
	 * Set by the first access that takes the fast path (a CPU's access
	 * slot, access.c); until then invalidations need not look at the
	 * slots.  Never cleared.
	 */
	bool			fast_accessed;
	/*
	 * ODP_UMEM_STAT_ACCESSES and _ACCESS_BYTES of this umem, per CPU, so
	 * that counting an access takes no atomic operation;
	 * odp_umem_read_stats() adds them to stats[].  NULL for an implicit
	 * parent (its children count into its stats[]).
	 */
	struct odp_umem_access_counts __percpu *access_counts;
	/* Woken when one ends while somebody waits (wq_has_sleeper()). */
	wait_queue_head_t	inflight_wq;

	atomic64_t		stats[ODP_UMEM_STAT_MAX];
	/* The consumer's totals, or NULL; constant.  this_cpu_add() only. */
	struct odp_umem_sums __percpu *sums;

	/*
	 * Implicit ODP (implicit.c): a parent covers the whole address space
	 * and has no notifier or pt of its own; its lock protects children
	 * and dead.  A child covers one aligned ODP_IMPLICIT_CHUNK and is
	 * created on first access, and reaped once it maps nothing and
	 * nobody uses it.
	 */
	bool			implicit;	/* a parent; constant */
	struct odp_umem		*parent;	/* of a child; constant */
	struct xarray		children;	/* chunk index -> child */
	struct work_struct	reap;		/* frees idle children */
	atomic_t		users;		/* of a child: accesses under way */
	struct rcu_head		rcu;		/* freed after RCU (implicit.c) */
};

/* The span of one child of an implicit umem: a THP's worth. */
#define ODP_IMPLICIT_SHIFT	PMD_SHIFT
#define ODP_IMPLICIT_CHUNK	BIT(ODP_IMPLICIT_SHIFT)

/* A blockable zap may reschedule after each this many pages (pt.c). */
#define ODP_ZAP_BATCH		1024

/* Ids of umems, for the tracepoints (odp_trace.h). */
u32 odp_umem_next_id(void);

struct odp_umem_access_counts {
	u64			accesses;
	u64			bytes;
};

/* A device access to [start, end) of a umem that invalidation waits for. */
struct odp_inflight {
	struct list_head	node;
	unsigned long		start;
	unsigned long		end;
};

/* Pages one hmm_range_fault() call asks for at most. */
#define ODP_FAULT_BATCH_PAGES	512
/* Faults of up to this many pages keep their pfns on the stack. */
#define ODP_FAULT_STACK_PAGES	16

/*
 * A fault (or an access) that invalidations keep undoing gives up with
 * -EBUSY, like every HMM user, but only once they undid it both for
 * HMM_RANGE_DEFAULT_TIMEOUT and at least ODP_RETRY_MIN times.  Time alone
 * would fail a walk that waited long for the mm once (its mmap_lock read
 * queued behind a writer while migrate_pages() held the lock for seconds,
 * a page under migration or I/O) and then met one invalidation of another
 * part of the umem: a slow mm, not a livelock.
 */
#define ODP_RETRY_MIN		8

static inline bool odp_retry_expired(unsigned long deadline,
				     unsigned int retries)
{
	return retries >= ODP_RETRY_MIN && time_after(jiffies, deadline);
}

/* Is [iova, iova + len) inside the pages of the umem (and not empty)? */
static inline bool odp_umem_covers(struct odp_umem *umem, u64 iova, u64 len)
{
	return len && iova >= umem->start && iova < umem->end &&
	       len <= umem->end - iova;
}

static inline void odp_umem_inc(struct odp_umem *umem, enum odp_umem_stat stat)
{
	odp_umem_count(umem, stat, 1);
}

/* invalidate.c */
extern const struct mmu_interval_notifier_ops odp_umem_notifier_ops;
void odp_umem_zap_all(struct odp_umem *umem);

/* pt.c: the device page table (pt), under odp_umem.lock */
struct hmm_range;
int odp_pt_init(struct odp_umem *umem);
int odp_pt_prepare(struct odp_umem *umem, const struct hmm_range *range);
unsigned long odp_pt_install(struct odp_umem *umem,
			     const struct hmm_range *range);
unsigned long odp_pt_lookup(struct odp_umem *umem, unsigned long start,
			    unsigned long npages, bool write,
			    struct page **pages);
unsigned long odp_pt_zap(struct odp_umem *umem, unsigned long start,
			 unsigned long end, bool write_protect, bool blockable);
void odp_pt_free(struct odp_umem *umem);

/* implicit.c */
int odp_implicit_copy(struct odp_umem *parent, u64 va, void *buf, size_t len,
		      bool to_umem);
int odp_implicit_atomic(struct odp_umem *parent, u64 va,
			enum odp_umem_atomic_op op, u64 a, u64 b, u64 *old);
int odp_implicit_fault(struct odp_umem *parent, unsigned long start,
		       unsigned long end, unsigned int flags);
void odp_implicit_kill(struct odp_umem *parent);
void odp_implicit_free(struct odp_umem *parent);
void odp_implicit_child_idle(struct odp_umem *child);

/* access.c */
bool odp_inflight_overlaps(struct odp_umem *umem, unsigned long start,
			   unsigned long end);
bool odp_access_slots_wait(struct odp_umem *umem, unsigned long start,
			   unsigned long end, bool blockable);

/* retry_hook.c: where the debugfs retry hook can park (tests only). */
enum odp_hook_point {
	ODP_HOOK_FAULT,		/* between hmm_range_fault() and read_retry */
	ODP_HOOK_INFLIGHT,	/* a device access holding its pages */
	ODP_HOOK_FAST,		/* a fast-path access in its CPU's slot */
};

DECLARE_STATIC_KEY_FALSE(odp_retry_hook_key);
void odp_retry_hook(enum odp_hook_point point);
void odp_retry_hook_spin(enum odp_hook_point point);
bool odp_retry_hook_armed(enum odp_hook_point point);
void odp_retry_hook_init(struct dentry *dir);
void odp_retry_hook_exit(void);

static inline void odp_retry_hook_maybe(enum odp_hook_point point)
{
	if (static_branch_unlikely(&odp_retry_hook_key))
		odp_retry_hook(point);
}

#endif /* ODP_CORE_UMEM_H */
