// SPDX-License-Identifier: GPL-2.0
/*
 * odp: contexts, one per open file, bound to the opener's address space,
 * network namespace and memory cgroup.
 */
#include <linux/memcontrol.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <net/net_namespace.h>

#include "odp_verbs.h"
#include "odp_transport.h"

struct odp_ctx *odp_ctx_create(void)
{
	struct odp_ctx *ctx;
	int i;

	if (!current->mm)
		return ERR_PTR(-EINVAL);

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return ERR_PTR(-ENOMEM);

	mutex_init(&ctx->lock);
	INIT_LIST_HEAD(&ctx->dev_node);
	for (i = 0; i < ODP_UOBJ_MAX; i++)
		xa_init_flags(&ctx->uobjs[i], XA_FLAGS_ALLOC1);
	/*
	 * mmgrab(), not mmget(): the context must not keep the address space
	 * (and so every page of it) alive after the process exits.
	 */
	mmgrab(current->mm);
	ctx->mm = current->mm;
	/* Like a socket: the namespace of the opener, for good. */
	ctx->net = get_net(current->nsproxy->net_ns);
	/*
	 * QP work, cm handlers and prefetches run in kernel threads: they
	 * charge what they allocate for this context here (set_active_memcg()).
	 */
	ctx->memcg = get_mem_cgroup_from_mm(current->mm);
	return ctx;
}

/*
 * The last reference to the file is gone: either the process closed it, or
 * it exited (its mm may already be torn down, in which case every MR was
 * already invalidated by exit_mmap()).
 */
void odp_ctx_destroy(struct odp_ctx *ctx)
{
	/* Users before what they use: QPs use CQs, PDs and MRs. */
	odp_uobj_destroy_all(ctx, ODP_UOBJ_LISTENER);
	odp_uobj_destroy_all(ctx, ODP_UOBJ_QP);
	odp_uobj_destroy_all(ctx, ODP_UOBJ_CQ);
	odp_uobj_destroy_all(ctx, ODP_UOBJ_MR);
	odp_uobj_destroy_all(ctx, ODP_UOBJ_PD);

	if (ctx->dev) {
		odp_device_unbind(ctx);
		odp_device_put(ctx->dev);
	}
	mem_cgroup_put(ctx->memcg);
	put_net(ctx->net);
	mmdrop(ctx->mm);
	kfree(ctx);
}
