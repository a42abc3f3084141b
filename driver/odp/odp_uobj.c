// SPDX-License-Identifier: GPL-2.0
/*
 * odp: the handle tables of a context, one discipline for every object type
 * (PD, MR, CQ, QP, listener), as uverbs' rdma_core.c keeps it:
 *
 *  - build: the create ioctl builds the object completely and reserves its
 *    handle; the handle is not visible to lookups yet;
 *  - publish: after the result was copied out to the caller, the object is
 *    stored under its handle in one step (or, if the copy failed, the
 *    reservation is dropped and the object destroyed: nobody saw it);
 *  - look up: only with a reference (RCU + kref_get_unless_zero()), or,
 *    for an object another one will use, with a use count taken under
 *    odp_ctx.lock, which makes destroying the used object fail with EBUSY;
 *  - destroy: unpublish under odp_ctx.lock, then tear down (ops->destroy),
 *    then drop the table's reference; the memory goes with the last one.
 */
#include <linux/rcupdate.h>
#include <linux/xarray.h>

#include "odp_verbs.h"

static struct xarray *odp_uobj_table(struct odp_ctx *ctx,
				     enum odp_uobj_type type)
{
	return &ctx->uobjs[type];
}

static void odp_uobj_release(struct kref *ref)
{
	struct odp_uobj *uobj = container_of(ref, struct odp_uobj, ref);

	uobj->ops->free(uobj);
}

void odp_uobj_put(struct odp_uobj *uobj)
{
	kref_put(&uobj->ref, odp_uobj_release);
}

/**
 * odp_uobj_reserve - give a new object a handle that lookups cannot find yet
 * @ctx: the context
 * @uobj: the object's common part, not yet initialised
 * @ops: its type
 *
 * Return: 0 with uobj->handle set, or -ENOMEM / -EBUSY (table full).
 */
int odp_uobj_reserve(struct odp_ctx *ctx, struct odp_uobj *uobj,
		     const struct odp_uobj_ops *ops)
{
	struct xarray *xa = odp_uobj_table(ctx, ops->type);
	struct xa_limit limit = XA_LIMIT(1, ops->max_handle);
	int ret;

	uobj->ops = ops;
	uobj->ctx = ctx;
	kref_init(&uobj->ref);
	uobj->usecnt = 0;

	/* A NULL entry reserves the index: xa_load() returns NULL for it. */
	if (ops->cyclic) {
		mutex_lock(&ctx->lock);
		ret = xa_alloc_cyclic(xa, &uobj->handle, NULL, limit,
				      &ctx->next_handle[ops->type],
				      GFP_KERNEL_ACCOUNT);
		mutex_unlock(&ctx->lock);
		return ret < 0 ? ret : 0;
	}
	return xa_alloc(xa, &uobj->handle, NULL, limit, GFP_KERNEL_ACCOUNT);
}

/* Publish a reserved object: from here on others may look it up. */
void odp_uobj_commit(struct odp_ctx *ctx, struct odp_uobj *uobj)
{
	struct xarray *xa = odp_uobj_table(ctx, uobj->ops->type);

	/* Replacing a reserved entry allocates nothing: it cannot fail. */
	mutex_lock(&ctx->lock);
	WARN_ON(xa_store(xa, uobj->handle, uobj, GFP_KERNEL));
	mutex_unlock(&ctx->lock);
}

static void odp_uobj_teardown(struct odp_uobj *uobj)
{
	uobj->ops->destroy(uobj);
	odp_uobj_put(uobj);
}

/* Drop a reserved object that was never published. */
void odp_uobj_abort(struct odp_ctx *ctx, struct odp_uobj *uobj)
{
	xa_release(odp_uobj_table(ctx, uobj->ops->type), uobj->handle);
	odp_uobj_teardown(uobj);
}

/* A reference to the published object of @handle, or NULL. */
struct odp_uobj *odp_uobj_get(struct odp_ctx *ctx, enum odp_uobj_type type,
			      u32 handle)
{
	struct odp_uobj *uobj;

	rcu_read_lock();
	uobj = xa_load(odp_uobj_table(ctx, type), handle);
	if (uobj && !kref_get_unless_zero(&uobj->ref))
		uobj = NULL;
	rcu_read_unlock();
	return uobj;
}

/*
 * A use and a reference of the published object of @handle, for an object
 * being built on it (an MR on a PD, a QP on a PD and CQs): destroying it
 * fails with EBUSY until odp_uobj_unuse(); odp_uobj_put() drops the
 * reference.
 */
struct odp_uobj *odp_uobj_get_use(struct odp_ctx *ctx, enum odp_uobj_type type,
				  u32 handle)
{
	struct odp_uobj *uobj;

	mutex_lock(&ctx->lock);
	uobj = xa_load(odp_uobj_table(ctx, type), handle);
	if (uobj) {
		kref_get(&uobj->ref);
		uobj->usecnt++;
	}
	mutex_unlock(&ctx->lock);
	return uobj;
}

void odp_uobj_unuse(struct odp_ctx *ctx, struct odp_uobj *uobj)
{
	mutex_lock(&ctx->lock);
	uobj->usecnt--;
	mutex_unlock(&ctx->lock);
}

/* Unpublish the object of @handle (not while used) and tear it down. */
int odp_uobj_destroy(struct odp_ctx *ctx, enum odp_uobj_type type, u32 handle)
{
	struct xarray *xa = odp_uobj_table(ctx, type);
	struct odp_uobj *uobj;
	int ret = 0;

	mutex_lock(&ctx->lock);
	uobj = xa_load(xa, handle);
	if (!uobj)
		ret = -EINVAL;
	else if (uobj->usecnt)
		ret = -EBUSY;
	else
		xa_erase(xa, handle);
	mutex_unlock(&ctx->lock);

	if (!ret)
		odp_uobj_teardown(uobj);
	return ret;
}

/*
 * The context is closing: tear down every object of @type.  Callers go
 * from users to what they use (QPs before CQs and PDs), so that use counts
 * are down to zero by then; nobody else can reach the tables any more.
 */
void odp_uobj_destroy_all(struct odp_ctx *ctx, enum odp_uobj_type type)
{
	struct xarray *xa = odp_uobj_table(ctx, type);
	struct odp_uobj *uobj;
	unsigned long index;

	xa_for_each(xa, index, uobj) {
		mutex_lock(&ctx->lock);
		xa_erase(xa, index);
		WARN_ON_ONCE(uobj->usecnt);
		mutex_unlock(&ctx->lock);
		odp_uobj_teardown(uobj);
	}
	xa_destroy(xa);
}
