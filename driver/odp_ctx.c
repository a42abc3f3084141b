// SPDX-License-Identifier: GPL-2.0
/*
 * odp: contexts, one per open file, bound to the opener's address space.
 */
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "odp.h"

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

	odp_mr_destroy_all(ctx);

	xa_for_each(&ctx->pds, index, pd)
		kfree(pd);
	xa_destroy(&ctx->pds);
	xa_destroy(&ctx->mrs);
	mmdrop(ctx->mm);
	kfree(ctx);
}
