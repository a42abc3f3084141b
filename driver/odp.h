/* SPDX-License-Identifier: GPL-2.0 */
/*
 * odp: on-demand paging memory regions for RDMA.
 *
 * Internal objects and their locking rules.  The object layer (ctx, pd, mr),
 * the fault and invalidation protocol (fault, inval) and device access
 * (engine) know nothing about transports.
 *
 * Lock order, outermost first:
 *   odp_ctx.lock -> mmap_lock (read) -> odp_mr.lock -> odp_mr.inflight_lock
 * odp_mr.lock is also taken inside mmu notifier invalidation, so nothing
 * may allocate memory with reclaim (GFP_KERNEL) while holding it.
 */
#ifndef ODP_H
#define ODP_H

#include <linux/jump_label.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "../include/uapi/odp_abi.h"

struct dentry;
struct file;
struct mem_cgroup;
struct net;
struct odp_device;
struct odp_ctx;

/* The kinds of objects a context holds: one handle table each. */
enum odp_uobj_type {
	ODP_UOBJ_PD,
	ODP_UOBJ_MR,
	ODP_UOBJ_CQ,
	ODP_UOBJ_QP,
	ODP_UOBJ_LISTENER,
	ODP_UOBJ_MAX,
};

struct odp_uobj;

/* What the handle table needs to know of an object type (odp_uobj.c). */
struct odp_uobj_ops {
	enum odp_uobj_type	type;
	u32			max_handle;
	bool			cyclic;		/* no quick reuse of handles */
	/*
	 * Unpublished (destroyed, aborted, or its context closed): release
	 * what the object holds in the device and in other objects, so that
	 * nothing runs on its behalf once this returns.  May sleep.  Called
	 * once; the object's memory stays until the last reference.
	 */
	void			(*destroy)(struct odp_uobj *uobj);
	/* The last reference is gone: free the memory (after RCU). */
	void			(*free)(struct odp_uobj *uobj);
};

/*
 * The part every user-visible object shares, as uverbs' ib_uobject: an
 * object is built completely, with its handle reserved but invisible
 * (odp_uobj_reserve()); it is published in one step (odp_uobj_commit())
 * only after the ioctl's result reached the caller; it is looked up only
 * with a reference (odp_uobj_get(), RCU); destroying it unpublishes it
 * first (under odp_ctx.lock, refused while other objects use it) and
 * tears it down after.
 */
struct odp_uobj {
	const struct odp_uobj_ops *ops;		/* constant */
	/* The owner; valid until ops->destroy() returns. */
	struct odp_ctx		*ctx;
	u32			handle;		/* constant once reserved */
	struct kref		ref;		/* table + lookups */
	/* Published objects that use this one; changed under odp_ctx.lock. */
	unsigned int		usecnt;
	struct rcu_head		rcu;		/* lookups are RCU */
};

/*
 * A context: one per open /dev/odp.  Bound to the opener's address space for
 * its whole life (mmgrab() only: the context never keeps the mm's pages
 * alive), to its network namespace (connections are made there) and to its
 * memory cgroup (what the context's objects allocate, from any thread, is
 * charged there).
 */
struct odp_ctx {
	struct mm_struct	*mm;		/* constant */
	struct net		*net;		/* constant, a reference */
	struct mem_cgroup	*memcg;		/* constant, a reference or NULL */
	/*
	 * Protects publishing and unpublishing in the tables and the use
	 * counts of the objects in them, and dev/port.  Lookups of published
	 * objects are RCU (odp_uobj_get()) and do not take it.
	 */
	struct mutex		lock;
	struct xarray		uobjs[ODP_UOBJ_MAX];	/* handle -> odp_uobj */
	u32			next_handle[ODP_UOBJ_MAX]; /* of cyclic types */
	u8			mr_key;		/* low byte of the next lkey */
	struct odp_device	*dev;		/* bound RDMA device, or NULL */
	u32			port;
};

struct odp_pd {
	struct odp_uobj		uobj;		/* usecnt: MRs and QPs on it */
};

/*
 * A memory region.  Its device page table ("pt") maps each page of
 * [page_start, page_end) that the device may touch to the struct page the
 * CPU page table had when the entry was faulted, tagged ODP_PTE_WRITE when
 * the device may write it.
 *
 * Invariant: an entry is present in pt only between a fault that saw no
 * invalidation (mmu_interval_read_retry() false under lock) and the next
 * invalidation of its page, which erases it under lock.  The device reads or
 * writes a page only through an entry it looked up under lock, and only
 * while an odp_inflight covering the page is on mr->inflight; the
 * invalidation waits for such accesses before it returns.  So the device
 * never touches a page after the mm has been told it may free it.
 */
struct odp_mr {
	struct odp_uobj		uobj;
	struct mmu_interval_notifier notifier;
	struct mm_struct	*mm;		/* mmgrab()ed; constant */
	struct mem_cgroup	*memcg;		/* charged for pt; constant */

	/* Constant after registration. */
	u64			addr;		/* as registered, any byte */
	u64			length;
	unsigned long		page_start;	/* PAGE_ALIGN_DOWN(addr) */
	unsigned long		page_end;	/* PAGE_ALIGN(addr + length) */
	struct odp_pd		*pd;		/* a use and a reference */
	u32			lkey;
	u32			rkey;
	u32			access;		/* ODP_ABI_ACCESS_* */
	pid_t			tgid;

	/*
	 * Serialises faults against invalidations: protects pt and the check
	 * of the notifier sequence (mmu_interval_read_retry()).  Taken in the
	 * notifier callback: no GFP_KERNEL allocation under it.
	 */
	struct mutex		lock;
	struct xarray		pt;		/* page index -> tagged page */
	/*
	 * Set under lock when the MR is deregistered: no entry is installed
	 * and no access begins after that, whoever still holds a reference.
	 */
	bool			dead;

	/* Device accesses under way; see odp_engine.c. */
	spinlock_t		inflight_lock;	/* protects inflight */
	struct list_head	inflight;	/* of struct odp_inflight */
	wait_queue_head_t	inflight_wq;	/* woken when one ends */

	atomic64_t		stats[ODP_ABI_STAT_MAX];
	struct list_head	all_node;	/* on odp_all_mrs, for debugfs */
};

/*
 * Tag of a pt entry (xa_tag_pointer()): 0 read-only, ODP_PTE_WRITE writable.
 * (Tag 2 is the xarray's own, for internal entries.)
 */
#define ODP_PTE_WRITE		1UL

/* A device access to [start, end) of an MR that invalidation must wait for. */
struct odp_inflight {
	struct list_head	node;
	unsigned long		start;
	unsigned long		end;
};

/* Flags of odp_mr_fault(). */
#define ODP_FAULT_WRITE		BIT(0)	/* the device will write */
#define ODP_FAULT_NO_FAULT	BIT(1)	/* map only what is present */

/* Pages one hmm_range_fault() call asks for at most. */
#define ODP_FAULT_BATCH_PAGES	512

/* odp_uobj.c */
int odp_uobj_reserve(struct odp_ctx *ctx, struct odp_uobj *uobj,
		     const struct odp_uobj_ops *ops);
void odp_uobj_commit(struct odp_ctx *ctx, struct odp_uobj *uobj);
void odp_uobj_abort(struct odp_ctx *ctx, struct odp_uobj *uobj);
struct odp_uobj *odp_uobj_get(struct odp_ctx *ctx, enum odp_uobj_type type,
			      u32 handle);
struct odp_uobj *odp_uobj_get_use(struct odp_ctx *ctx, enum odp_uobj_type type,
				  u32 handle);
void odp_uobj_unuse(struct odp_ctx *ctx, struct odp_uobj *uobj);
void odp_uobj_put(struct odp_uobj *uobj);
int odp_uobj_destroy(struct odp_ctx *ctx, enum odp_uobj_type type, u32 handle);
void odp_uobj_destroy_all(struct odp_ctx *ctx, enum odp_uobj_type type);

/* odp_ctx.c */
struct odp_ctx *odp_ctx_create(void);
void odp_ctx_destroy(struct odp_ctx *ctx);

/* odp_pd.c */
struct odp_uobj *odp_pd_alloc(struct odp_ctx *ctx,
			      struct odp_abi_alloc_pd *cmd);

/* odp_mr.c */
struct odp_uobj *odp_mr_register(struct odp_ctx *ctx,
				 struct odp_abi_reg_mr *cmd);
struct odp_mr *odp_mr_get_by_handle(struct odp_ctx *ctx, u32 handle);
struct odp_mr *odp_mr_lookup(struct odp_ctx *ctx, u32 key, struct odp_pd *pd,
			     u32 access, u64 iova, u64 length, int *err);
void odp_mr_put(struct odp_mr *mr);
bool odp_mr_contains(struct odp_mr *mr, u64 iova, u64 length);

/* odp_fault.c */
int odp_mr_fault(struct odp_mr *mr, unsigned long start, unsigned long end,
		 unsigned int flags);

/* odp_retry_hook.c: where the debugfs retry hook can park (tests only). */
enum odp_hook_point {
	ODP_HOOK_FAULT,		/* between hmm_range_fault() and read_retry */
	ODP_HOOK_INFLIGHT,	/* a device access holding its pages */
};

DECLARE_STATIC_KEY_FALSE(odp_retry_hook_key);
void odp_retry_hook(enum odp_hook_point point);
void odp_retry_hook_init(struct dentry *dir);

static inline void odp_retry_hook_maybe(enum odp_hook_point point)
{
	if (static_branch_unlikely(&odp_retry_hook_key))
		odp_retry_hook(point);
}

/* odp_inval.c */
extern const struct mmu_interval_notifier_ops odp_mr_notifier_ops;
void odp_mr_zap_all(struct odp_mr *mr);

/* odp_engine.c */
int odp_mr_access_kernel(struct odp_mr *mr, u64 iova, void *buf, size_t len,
			 bool write);
int odp_mr_atomic(struct odp_mr *mr, u64 iova, bool cmp_swap, u64 compare_add,
		  u64 swap, u64 *old);
bool odp_inflight_overlaps(struct odp_mr *mr, unsigned long start,
			   unsigned long end);

/* odp_prefetch.c */
int odp_advise(struct odp_ctx *ctx, struct odp_abi_advise_mr *cmd);
int odp_prefetch_init(void);
void odp_prefetch_exit(void);

/* odp_stats.c */
extern atomic64_t odp_dev_stats[ODP_ABI_STAT_MAX];
extern const char * const odp_stat_names[ODP_ABI_STAT_MAX];
extern struct mutex odp_all_mrs_lock;
extern struct list_head odp_all_mrs;

static inline void odp_stat_add(struct odp_mr *mr, enum odp_abi_stat stat,
				s64 n)
{
	atomic64_add(n, &mr->stats[stat]);
	atomic64_add(n, &odp_dev_stats[stat]);
}

static inline void odp_stat_inc(struct odp_mr *mr, enum odp_abi_stat stat)
{
	odp_stat_add(mr, stat, 1);
}

void odp_debugfs_init(void);
void odp_debugfs_exit(void);

/* odp_uverbs.c */
long odp_ioctl(struct file *filp, unsigned int cmd, unsigned long arg);

#endif /* ODP_H */
