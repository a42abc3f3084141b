/* SPDX-License-Identifier: GPL-2.0 */
/*
 * odp: the objects of a context (PD, MR, and the handle tables every object
 * type shares) and their locking rules, as rxe_verbs.h holds rxe's.  The
 * memory of an MR is the ODP core's business (driver/core/odp_core.h);
 * transport objects are in odp_transport.h.
 *
 * Lock order, outermost first (the core's own locks: driver/core/umem.h):
 *   odp_ctx.lock -> the core's locks
 * odp_ctx.lock is never held across a device access or a fault.
 */
#ifndef ODP_VERBS_H
#define ODP_VERBS_H

#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/types.h>
#include <linux/xarray.h>

#include <rdma/ib_verbs.h>

#include "../../include/uapi/odp_abi.h"
#include "../core/odp_core.h"

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
	/*
	 * While on dev->ctxs (under odp_device.lock): the binding is charged
	 * to the binder's rdma cgroup as one hca_handle, as a uverbs context
	 * is; the charge goes with the context or with the device.
	 */
	struct list_head	dev_node;
	struct ib_rdmacg_object	cg_obj;
};

struct odp_pd {
	struct odp_uobj		uobj;		/* usecnt: MRs and QPs on it */
};

/*
 * A memory region: keys, rights and a PD around a umem of the ODP core
 * (driver/core/odp_core.h), which does faults, invalidation and device
 * access.  Deregistration kills the umem (no access after it returns); the
 * memory goes with the last reference.
 */
struct odp_mr {
	struct odp_uobj		uobj;
	struct odp_umem		*umem;		/* constant */

	/* Constant after registration. */
	u64			addr;		/* as registered, any byte */
	u64			length;
	struct odp_pd		*pd;		/* a use and a reference */
	u32			lkey;
	u32			rkey;
	u32			access;		/* ODP_ABI_ACCESS_* */
	pid_t			tgid;

	struct list_head	all_node;	/* on odp_all_mrs, for debugfs */
};

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
int odp_sge_check(struct odp_ctx *ctx, struct odp_pd *pd,
		  const struct odp_abi_sge *sge, u32 num_sge, u32 len,
		  bool write);
int odp_sge_copy(struct odp_ctx *ctx, struct odp_pd *pd,
		 const struct odp_abi_sge *sge, u32 num_sge, u32 offset,
		 void *buf, u32 len, bool write);

/* odp_prefetch.c */
int odp_advise(struct odp_ctx *ctx, struct odp_abi_advise_mr *cmd);
int odp_prefetch_init(void);
void odp_prefetch_exit(void);

/* odp_stats.c */
DECLARE_PER_CPU(struct odp_umem_sums, odp_dev_sums);
void odp_dev_stats_read(u64 *values, unsigned int n);
extern const char * const odp_stat_names[ODP_ABI_STAT_MAX];
extern struct mutex odp_all_mrs_lock;
extern struct list_head odp_all_mrs;

void odp_debugfs_init(void);
void odp_debugfs_exit(void);

/* odp_uverbs.c */
long odp_ioctl(struct file *filp, unsigned int cmd, unsigned long arg);

#endif /* ODP_VERBS_H */
