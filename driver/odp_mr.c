// SPDX-License-Identifier: GPL-2.0
/*
 * odp: registration and deregistration of on-demand paging memory regions.
 *
 * Registration inserts the MR's own mmu_interval_notifier over the pages of
 * the range and faults nothing in: its cost does not depend on the length.
 * No page of an MR is ever pinned.
 */
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "odp.h"

#define ODP_ACCESS_NEEDS_WRITE						\
	(ODP_ABI_ACCESS_LOCAL_WRITE | ODP_ABI_ACCESS_REMOTE_WRITE |	\
	 ODP_ABI_ACCESS_REMOTE_ATOMIC)

static int odp_mr_check_access(u32 access)
{
	if (access & ~ODP_ABI_ACCESS_SUPPORTED)
		return -EINVAL;
	/* Only on-demand MRs exist here: this driver never pins pages. */
	if (!(access & ODP_ABI_ACCESS_ON_DEMAND))
		return -EOPNOTSUPP;
	/* The verbs rule: remote write and atomics need local write. */
	if ((access & (ODP_ABI_ACCESS_REMOTE_WRITE |
		       ODP_ABI_ACCESS_REMOTE_ATOMIC)) &&
	    !(access & ODP_ABI_ACCESS_LOCAL_WRITE))
		return -EINVAL;
	return 0;
}

static int odp_mr_check_range(u64 addr, u64 length)
{
	u64 end;

	if (!length || check_add_overflow(addr, length, &end))
		return -EINVAL;
	if (end > TASK_SIZE)
		return -EINVAL;
	return 0;
}

/*
 * The whole range must be mapped now, with the protection the access flags
 * need.  Later changes of the mappings are the notifier's business; this
 * only turns plain mistakes into an error at registration, as pinning
 * registration would.
 */
static int odp_mr_check_vmas(struct mm_struct *mm, unsigned long start,
			     unsigned long end, bool write)
{
	VMA_ITERATOR(vmi, mm, start);
	struct vm_area_struct *vma;
	unsigned long addr = start;
	int ret;

	ret = mmap_read_lock_killable(mm);
	if (ret)
		return ret;

	for_each_vma_range(vmi, vma, end) {
		if (vma->vm_start > addr)
			break;
		if (vma->vm_flags & (VM_IO | VM_PFNMAP))
			break;
		if (!(vma->vm_flags & VM_READ) ||
		    (write && !(vma->vm_flags & VM_WRITE))) {
			ret = -EACCES;
			goto out;
		}
		addr = vma->vm_end;
		if (addr >= end)
			break;
	}
	if (addr < end)
		ret = -EFAULT;
out:
	mmap_read_unlock(mm);
	return ret;
}

static struct odp_mr *odp_mr_alloc(struct odp_ctx *ctx,
				   struct odp_abi_reg_mr *cmd)
{
	struct odp_mr *mr;

	mr = kzalloc(sizeof(*mr), GFP_KERNEL_ACCOUNT);
	if (!mr)
		return NULL;

	mr->addr = cmd->addr;
	mr->length = cmd->length;
	mr->page_start = ALIGN_DOWN(cmd->addr, PAGE_SIZE);
	mr->page_end = PAGE_ALIGN(cmd->addr + cmd->length);
	mr->access = cmd->access;
	mr->tgid = current->tgid;
	mutex_init(&mr->lock);
	xa_init(&mr->pt);
	spin_lock_init(&mr->inflight_lock);
	INIT_LIST_HEAD(&mr->inflight);
	init_waitqueue_head(&mr->inflight_wq);
	INIT_LIST_HEAD(&mr->all_node);
	mmgrab(ctx->mm);
	mr->mm = ctx->mm;
	if (ctx->memcg) {
		css_get(&ctx->memcg->css);
		mr->memcg = ctx->memcg;
	}
	return mr;
}

/* Only for an MR that never had a notifier or a handle. */
static void odp_mr_free_unregistered(struct odp_mr *mr)
{
	mem_cgroup_put(mr->memcg);
	mmdrop(mr->mm);
	kfree(mr);
}

/*
 * Deregistered, aborted or its context closed: from now on no entry is
 * installed and no device access begins; wait for those under way, so that
 * nothing touches the MR's memory once deregistration returns, even if
 * others (an access in another thread, a queued prefetch) still hold
 * references.  The notifier stays until the last one: their faults use it.
 */
static void odp_mr_destroy(struct odp_uobj *uobj)
{
	struct odp_mr *mr = container_of(uobj, struct odp_mr, uobj);

	mutex_lock(&mr->lock);
	mr->dead = true;
	mutex_unlock(&mr->lock);
	wait_event(mr->inflight_wq,
		   !odp_inflight_overlaps(mr, mr->page_start, mr->page_end));
	odp_mr_zap_all(mr);

	mutex_lock(&odp_all_mrs_lock);
	list_del_init(&mr->all_node);
	mutex_unlock(&odp_all_mrs_lock);
	/* The PD may go now; the MR keeps only a reference to its memory. */
	odp_uobj_unuse(uobj->ctx, &mr->pd->uobj);
}

static void odp_mr_free(struct odp_uobj *uobj)
{
	struct odp_mr *mr = container_of(uobj, struct odp_mr, uobj);

	mmu_interval_notifier_remove(&mr->notifier);
	xa_destroy(&mr->pt);
	odp_uobj_put(&mr->pd->uobj);
	mem_cgroup_put(mr->memcg);
	mmdrop(mr->mm);
	kfree_rcu(mr, uobj.rcu);
}

static const struct odp_uobj_ops odp_mr_ops = {
	.type		= ODP_UOBJ_MR,
	/* The handle is the key's upper 24 bits; the low byte varies. */
	.max_handle	= (1U << 24) - 1,
	/* Reusing the lowest free handle would reissue stale keys soon. */
	.cyclic		= true,
	.destroy	= odp_mr_destroy,
	.free		= odp_mr_free,
};

/*
 * Build an MR on PD @cmd->pd_handle: reserve its handle, insert its notifier
 * and take a use of the PD.  Nothing can see it until odp_uobj_commit().
 */
struct odp_uobj *odp_mr_register(struct odp_ctx *ctx,
				 struct odp_abi_reg_mr *cmd)
{
	struct odp_uobj *pd;
	struct odp_mr *mr;
	int ret;

	if (cmd->reserved)
		return ERR_PTR(-EINVAL);
	ret = odp_mr_check_access(cmd->access);
	if (ret)
		return ERR_PTR(ret);
	ret = odp_mr_check_range(cmd->addr, cmd->length);
	if (ret)
		return ERR_PTR(ret);

	mr = odp_mr_alloc(ctx, cmd);
	if (!mr)
		return ERR_PTR(-ENOMEM);

	ret = odp_mr_check_vmas(ctx->mm, mr->page_start, mr->page_end,
				cmd->access & ODP_ACCESS_NEEDS_WRITE);
	if (ret)
		goto err_free;

	pd = odp_uobj_get_use(ctx, ODP_UOBJ_PD, cmd->pd_handle);
	if (!pd) {
		ret = -EINVAL;
		goto err_free;
	}
	ret = odp_uobj_reserve(ctx, &mr->uobj, &odp_mr_ops);
	if (ret)
		goto err_pd;
	ret = mmu_interval_notifier_insert(&mr->notifier, ctx->mm,
					   mr->page_start,
					   mr->page_end - mr->page_start,
					   &odp_mr_notifier_ops);
	if (ret)
		goto err_handle;

	mr->pd = container_of(pd, struct odp_pd, uobj);
	mutex_lock(&ctx->lock);
	mr->lkey = mr->uobj.handle << 8 | ctx->mr_key++;
	mutex_unlock(&ctx->lock);
	mr->rkey = mr->lkey;

	mutex_lock(&odp_all_mrs_lock);
	list_add_tail(&mr->all_node, &odp_all_mrs);
	mutex_unlock(&odp_all_mrs_lock);

	cmd->mr_handle = mr->uobj.handle;
	cmd->lkey = mr->lkey;
	cmd->rkey = mr->rkey;
	return &mr->uobj;

err_handle:
	xa_release(&ctx->uobjs[ODP_UOBJ_MR], mr->uobj.handle);
err_pd:
	odp_uobj_unuse(ctx, pd);
	odp_uobj_put(pd);
err_free:
	odp_mr_free_unregistered(mr);
	return ERR_PTR(ret);
}

void odp_mr_put(struct odp_mr *mr)
{
	odp_uobj_put(&mr->uobj);
}

struct odp_mr *odp_mr_get_by_handle(struct odp_ctx *ctx, u32 handle)
{
	struct odp_uobj *uobj = odp_uobj_get(ctx, ODP_UOBJ_MR, handle);

	return uobj ? container_of(uobj, struct odp_mr, uobj) : NULL;
}

/* Is [iova, iova + length) inside the registered bytes of the MR? */
bool odp_mr_contains(struct odp_mr *mr, u64 iova, u64 length)
{
	u64 end;

	if (!length || check_add_overflow(iova, length, &end))
		return false;
	return iova >= mr->addr && end <= mr->addr + mr->length;
}

/**
 * odp_mr_lookup - the one check of a key before a device access
 * @ctx: the context whose MRs the key may name
 * @key: an lkey or rkey
 * @pd: the PD the MR must be on, or NULL for any
 * @access: ODP_ABI_ACCESS_* rights the access needs (all of them), or 0
 * @iova: start of the whole range the request will touch
 * @length: its length, not 0
 * @err: set on failure: -EINVAL (no such key, other PD, out of bounds) or
 *	-EACCES (the MR does not grant @access)
 *
 * Return: the MR with a reference, or NULL.
 */
struct odp_mr *odp_mr_lookup(struct odp_ctx *ctx, u32 key, struct odp_pd *pd,
			     u32 access, u64 iova, u64 length, int *err)
{
	struct odp_mr *mr = odp_mr_get_by_handle(ctx, key >> 8);

	*err = -EINVAL;
	if (!mr)
		return NULL;
	if (mr->lkey != key || (pd && mr->pd != pd) ||
	    !odp_mr_contains(mr, iova, length))
		goto fail;
	if ((mr->access & access) != access) {
		*err = -EACCES;
		goto fail;
	}
	return mr;
fail:
	odp_mr_put(mr);
	return NULL;
}
