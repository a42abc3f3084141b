// SPDX-License-Identifier: GPL-2.0
/*
 * odp: prefetch (advise), synchronous with ODP_ABI_ADVISE_FLAG_FLUSH,
 * otherwise queued to a workqueue.
 */
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include "odp_verbs.h"

struct odp_prefetch_range {
	struct odp_mr	*mr;		/* a reference */
	unsigned long	start;		/* page-aligned */
	unsigned long	end;
};

struct odp_prefetch {
	struct work_struct		work;
	unsigned int			fault_flags;
	u32				num_ranges;
	struct odp_prefetch_range	ranges[] __counted_by(num_ranges);
};

static struct workqueue_struct *odp_prefetch_wq;

static unsigned int odp_advice_fault_flags(u32 advice)
{
	switch (advice) {
	case ODP_ABI_ADVISE_PREFETCH_WRITE:
		return ODP_UMEM_FAULT_WRITE;
	case ODP_ABI_ADVISE_PREFETCH_NO_FAULT:
		return ODP_UMEM_FAULT_NO_FAULT;
	default:
		return 0;
	}
}

static void odp_prefetch_free(struct odp_prefetch *pf)
{
	u32 i;

	for (i = 0; i < pf->num_ranges; i++)
		if (pf->ranges[i].mr)
			odp_mr_put(pf->ranges[i].mr);
	kfree(pf);
}

/* Run every range; return the first error, but try them all. */
static int odp_prefetch_run(struct odp_prefetch *pf)
{
	int ret = 0;
	u32 i;

	for (i = 0; i < pf->num_ranges; i++) {
		struct odp_prefetch_range *r = &pf->ranges[i];
		int err;

		err = odp_umem_fault(r->mr->umem, r->start, r->end,
				     pf->fault_flags);
		odp_umem_count(r->mr->umem, ODP_UMEM_STAT_PREFETCHES, 1);
		if (err && !ret)
			ret = err;
	}
	return ret;
}

static void odp_prefetch_work(struct work_struct *work)
{
	struct odp_prefetch *pf = container_of(work, struct odp_prefetch, work);

	struct mem_cgroup *old;

	/* Errors are counted as fault_errors; nobody waits for them. */
	old = set_active_memcg(odp_umem_memcg(pf->ranges[0].mr->umem));
	odp_prefetch_run(pf);
	set_active_memcg(old);
	odp_prefetch_free(pf);
}

/* Resolve one SGE to an MR reference and a page range, checking it. */
static int odp_prefetch_resolve(struct odp_ctx *ctx, struct odp_pd *pd,
				u32 advice, const struct odp_abi_sge *sge,
				struct odp_prefetch_range *r)
{
	u32 access = advice == ODP_ABI_ADVISE_PREFETCH_WRITE ?
		     ODP_ABI_ACCESS_LOCAL_WRITE : 0;
	int ret;

	r->mr = odp_mr_lookup(ctx, sge->lkey, pd, access, sge->addr,
			      sge->length, &ret);
	if (!r->mr)
		return ret;
	r->start = ALIGN_DOWN(sge->addr, PAGE_SIZE);
	r->end = PAGE_ALIGN(sge->addr + sge->length);
	return 0;
}

static struct odp_prefetch *odp_prefetch_build(struct odp_ctx *ctx,
					       const struct odp_abi_advise_mr *cmd)
{
	const struct odp_abi_sge __user *usge = u64_to_user_ptr(cmd->sg_list);
	struct odp_prefetch *pf;
	int ret = 0;
	u32 i;

	struct odp_uobj *pd;

	pd = odp_uobj_get(ctx, ODP_UOBJ_PD, cmd->pd_handle);
	if (!pd)
		return ERR_PTR(-EINVAL);
	pf = kzalloc(struct_size(pf, ranges, cmd->num_sge), GFP_KERNEL_ACCOUNT);
	if (!pf) {
		odp_uobj_put(pd);
		return ERR_PTR(-ENOMEM);
	}
	pf->num_ranges = cmd->num_sge;
	pf->fault_flags = odp_advice_fault_flags(cmd->advice);

	for (i = 0; i < cmd->num_sge && !ret; i++) {
		struct odp_abi_sge sge;

		if (copy_from_user(&sge, &usge[i], sizeof(sge)))
			ret = -EFAULT;
		else
			ret = odp_prefetch_resolve(ctx,
						   container_of(pd, struct odp_pd, uobj),
						   cmd->advice, &sge,
						   &pf->ranges[i]);
	}
	odp_uobj_put(pd);
	if (ret) {
		odp_prefetch_free(pf);
		return ERR_PTR(ret);
	}
	return pf;
}

int odp_advise(struct odp_ctx *ctx, struct odp_abi_advise_mr *cmd)
{
	struct odp_prefetch *pf;
	int ret;

	if (cmd->advice > ODP_ABI_ADVISE_PREFETCH_NO_FAULT ||
	    cmd->flags & ~ODP_ABI_ADVISE_FLAG_FLUSH ||
	    !cmd->num_sge || cmd->num_sge > ODP_ABI_ADVISE_MAX_SGE)
		return -EINVAL;

	pf = odp_prefetch_build(ctx, cmd);
	if (IS_ERR(pf))
		return PTR_ERR(pf);

	if (!(cmd->flags & ODP_ABI_ADVISE_FLAG_FLUSH)) {
		INIT_WORK(&pf->work, odp_prefetch_work);
		queue_work(odp_prefetch_wq, &pf->work);
		return 0;
	}

	ret = odp_prefetch_run(pf);
	odp_prefetch_free(pf);
	return ret;
}

int odp_prefetch_init(void)
{
	odp_prefetch_wq = alloc_workqueue("odp_prefetch", WQ_UNBOUND, 0);
	return odp_prefetch_wq ? 0 : -ENOMEM;
}

/* Runs the prefetches still queued; they hold the MRs they touch. */
void odp_prefetch_exit(void)
{
	destroy_workqueue(odp_prefetch_wq);
}
