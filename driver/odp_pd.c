// SPDX-License-Identifier: GPL-2.0
/*
 * odp: protection domains.
 */
#include <linux/slab.h>

#include "odp.h"

int odp_pd_alloc(struct odp_ctx *ctx, u32 *handle)
{
	struct odp_pd *pd;
	int ret;

	pd = kzalloc(sizeof(*pd), GFP_KERNEL);
	if (!pd)
		return -ENOMEM;
	pd->ctx = ctx;

	mutex_lock(&ctx->lock);
	ret = xa_alloc(&ctx->pds, &pd->handle, pd, xa_limit_31b, GFP_KERNEL);
	mutex_unlock(&ctx->lock);
	if (ret) {
		kfree(pd);
		return ret;
	}
	*handle = pd->handle;
	return 0;
}

int odp_pd_dealloc(struct odp_ctx *ctx, u32 handle)
{
	struct odp_pd *pd;
	int ret = 0;

	mutex_lock(&ctx->lock);
	pd = xa_load(&ctx->pds, handle);
	if (!pd)
		ret = -EINVAL;
	else if (pd->num_mrs)
		ret = -EBUSY;
	else
		xa_erase(&ctx->pds, handle);
	mutex_unlock(&ctx->lock);

	if (!ret)
		kfree(pd);
	return ret;
}

/* Caller holds ctx->lock; the PD stays valid while it does. */
struct odp_pd *odp_pd_lookup(struct odp_ctx *ctx, u32 handle)
{
	lockdep_assert_held(&ctx->lock);
	return xa_load(&ctx->pds, handle);
}
