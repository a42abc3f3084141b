// SPDX-License-Identifier: GPL-2.0
/*
 * odp: protection domains.  A PD is only a name that MRs and QPs share;
 * it cannot be destroyed while one of them uses it.
 */
#include <linux/slab.h>

#include "odp_verbs.h"

static void odp_pd_destroy(struct odp_uobj *uobj)
{
}

static void odp_pd_free(struct odp_uobj *uobj)
{
	kfree_rcu(container_of(uobj, struct odp_pd, uobj), uobj.rcu);
}

static const struct odp_uobj_ops odp_pd_ops = {
	.type		= ODP_UOBJ_PD,
	.max_handle	= INT_MAX,
	.destroy	= odp_pd_destroy,
	.free		= odp_pd_free,
};

/* A new PD, reserved (see odp_uobj.c); cmd->pd_handle is its handle. */
struct odp_uobj *odp_pd_alloc(struct odp_ctx *ctx, struct odp_abi_alloc_pd *cmd)
{
	struct odp_pd *pd;
	int ret;

	if (cmd->reserved)
		return ERR_PTR(-EINVAL);
	pd = kzalloc(sizeof(*pd), GFP_KERNEL_ACCOUNT);
	if (!pd)
		return ERR_PTR(-ENOMEM);
	ret = odp_uobj_reserve(ctx, &pd->uobj, &odp_pd_ops);
	if (ret) {
		kfree(pd);
		return ERR_PTR(ret);
	}
	cmd->pd_handle = pd->uobj.handle;
	return &pd->uobj;
}
