// SPDX-License-Identifier: GPL-2.0
/*
 * odp: contexts, one per open file, bound to the opener's address space.
 */
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "odp.h"
#include "odp_transport.h"

struct odp_ctx *odp_ctx_create(void)
{
	struct odp_ctx *ctx;

	if (!current->mm)
		return ERR_PTR(-EINVAL);

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return ERR_PTR(-ENOMEM);

	mutex_init(&ctx->lock);
	xa_init_flags(&ctx->pds, XA_FLAGS_ALLOC1);
	xa_init_flags(&ctx->mrs, XA_FLAGS_ALLOC1);
	xa_init_flags(&ctx->cqs, XA_FLAGS_ALLOC1);
	xa_init_flags(&ctx->qps, XA_FLAGS_ALLOC1);
	xa_init_flags(&ctx->listeners, XA_FLAGS_ALLOC1);
	/*
	 * mmgrab(), not mmget(): the context must not keep the address space
	 * (and so every page of it) alive after the process exits.
	 */
	mmgrab(current->mm);
	ctx->mm = current->mm;
	return ctx;
}

/*
 * The last reference to the file is gone: either the process closed it, or
 * it exited (its mm may already be torn down, in which case every MR was
 * already invalidated by exit_mmap()).
 */
void odp_ctx_destroy(struct odp_ctx *ctx)
{
	struct odp_pd *pd;
	unsigned long index;

	/* Users before what they use: QPs use CQs, PDs and MRs. */
	odp_listener_destroy_all(ctx);
	odp_qp_destroy_all(ctx);
	odp_cq_destroy_all(ctx);
	odp_mr_destroy_all(ctx);

	xa_for_each(&ctx->pds, index, pd)
		kfree(pd);
	xa_destroy(&ctx->pds);
	xa_destroy(&ctx->mrs);
	xa_destroy(&ctx->cqs);
	xa_destroy(&ctx->qps);
	xa_destroy(&ctx->listeners);
	if (ctx->dev)
		odp_device_put(ctx->dev);
	mmdrop(ctx->mm);
	kfree(ctx);
}
