// SPDX-License-Identifier: GPL-2.0
/*
 * odp: registration and deregistration of on-demand paging memory regions.
 *
 * Registration inserts the MR's own mmu_interval_notifier over the pages of
 * the range and faults nothing in: its cost does not depend on the length.
 * No page of an MR is ever pinned.
 */
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

	mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	if (!mr)
		return NULL;

	kref_init(&mr->ref);
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
	return mr;
}

static void odp_mr_free(struct odp_mr *mr)
{
	xa_destroy(&mr->pt);
	mmdrop(mr->mm);
	kfree_rcu(mr, rcu);
}

/* Publish the MR in the context: handle, keys, PD use count. */
static int odp_mr_publish(struct odp_ctx *ctx, struct odp_mr *mr, u32 pd_handle)
{
	struct odp_pd *pd;
	int ret;

	mutex_lock(&ctx->lock);
	pd = odp_pd_lookup(ctx, pd_handle);
	if (!pd) {
		ret = -EINVAL;
		goto out;
	}
	/* The handle is the lkey's upper 24 bits; the low byte varies. */
	ret = xa_alloc(&ctx->mrs, &mr->handle, mr, XA_LIMIT(1, (1U << 24) - 1),
		       GFP_KERNEL);
	if (ret)
		goto out;
	mr->lkey = mr->handle << 8 | ctx->mr_key++;
	mr->rkey = mr->lkey;
	mr->pd = pd;
	mr->pd_handle = pd->handle;
	pd->num_mrs++;
out:
	mutex_unlock(&ctx->lock);
	return ret;
}

int odp_mr_register(struct odp_ctx *ctx, struct odp_abi_reg_mr *cmd)
{
	struct odp_mr *mr;
	int ret;

	if (cmd->reserved)
		return -EINVAL;
	ret = odp_mr_check_access(cmd->access);
	if (ret)
		return ret;
	ret = odp_mr_check_range(cmd->addr, cmd->length);
	if (ret)
		return ret;

	mr = odp_mr_alloc(ctx, cmd);
	if (!mr)
		return -ENOMEM;

	ret = odp_mr_check_vmas(ctx->mm, mr->page_start, mr->page_end,
				cmd->access & ODP_ACCESS_NEEDS_WRITE);
	if (ret)
		goto err_free;

	ret = mmu_interval_notifier_insert(&mr->notifier, ctx->mm,
					   mr->page_start,
					   mr->page_end - mr->page_start,
					   &odp_mr_notifier_ops);
	if (ret)
		goto err_free;

	ret = odp_mr_publish(ctx, mr, cmd->pd_handle);
	if (ret)
		goto err_remove;

	mutex_lock(&odp_all_mrs_lock);
	list_add_tail(&mr->all_node, &odp_all_mrs);
	mutex_unlock(&odp_all_mrs_lock);

	cmd->mr_handle = mr->handle;
	cmd->lkey = mr->lkey;
	cmd->rkey = mr->rkey;
	return 0;

err_remove:
	mmu_interval_notifier_remove(&mr->notifier);
err_free:
	odp_mr_free(mr);
	return ret;
}

static void odp_mr_release(struct kref *ref)
{
	struct odp_mr *mr = container_of(ref, struct odp_mr, ref);

	mutex_lock(&odp_all_mrs_lock);
	list_del(&mr->all_node);
	mutex_unlock(&odp_all_mrs_lock);

	/*
	 * Drop every entry while the notifier still guarantees the pages are
	 * alive; after mmu_interval_notifier_remove() nothing does.
	 */
	odp_mr_zap_all(mr);
	mmu_interval_notifier_remove(&mr->notifier);
	odp_mr_free(mr);
}

void odp_mr_put(struct odp_mr *mr)
{
	kref_put(&mr->ref, odp_mr_release);
}

/* Caller holds ctx->lock. Unpublish: no new lookup finds the MR. */
static struct odp_mr *odp_mr_unpublish(struct odp_ctx *ctx, u32 handle)
{
	struct odp_mr *mr;

	mr = xa_erase(&ctx->mrs, handle);
	if (mr)
		mr->pd->num_mrs--;
	return mr;
}

int odp_mr_deregister(struct odp_ctx *ctx, u32 handle)
{
	struct odp_mr *mr;

	mutex_lock(&ctx->lock);
	mr = odp_mr_unpublish(ctx, handle);
	mutex_unlock(&ctx->lock);
	if (!mr)
		return -EINVAL;

	/* Accesses and prefetches under way hold their own references. */
	odp_mr_put(mr);
	return 0;
}

void odp_mr_destroy_all(struct odp_ctx *ctx)
{
	struct odp_mr *mr;
	unsigned long index;

	/* Put outside ctx->lock: the release waits for invalidations. */
	xa_for_each(&ctx->mrs, index, mr) {
		mutex_lock(&ctx->lock);
		odp_mr_unpublish(ctx, index);
		mutex_unlock(&ctx->lock);
		odp_mr_put(mr);
	}
}

struct odp_mr *odp_mr_get_by_handle(struct odp_ctx *ctx, u32 handle)
{
	struct odp_mr *mr;

	rcu_read_lock();
	mr = xa_load(&ctx->mrs, handle);
	if (mr && !kref_get_unless_zero(&mr->ref))
		mr = NULL;
	rcu_read_unlock();
	return mr;
}

static struct odp_mr *odp_mr_get_key(struct odp_ctx *ctx, u32 lkey,
				     bool any_pd, u32 pd_handle)
{
	struct odp_mr *mr;

	rcu_read_lock();
	mr = xa_load(&ctx->mrs, lkey >> 8);
	if (!mr || mr->lkey != lkey ||
	    (!any_pd && mr->pd_handle != pd_handle) ||
	    !kref_get_unless_zero(&mr->ref))
		mr = NULL;
	rcu_read_unlock();
	return mr;
}

struct odp_mr *odp_mr_get_by_lkey(struct odp_ctx *ctx, u32 lkey)
{
	return odp_mr_get_key(ctx, lkey, true, 0);
}

/* The MR of @lkey, if it is registered on PD @pd_handle. */
struct odp_mr *odp_mr_get_in_pd(struct odp_ctx *ctx, u32 lkey, u32 pd_handle)
{
	return odp_mr_get_key(ctx, lkey, false, pd_handle);
}

/* Is [iova, iova + length) inside the registered bytes of the MR? */
bool odp_mr_contains(struct odp_mr *mr, u64 iova, u64 length)
{
	u64 end;

	if (!length || check_add_overflow(iova, length, &end))
		return false;
	return iova >= mr->addr && end <= mr->addr + mr->length;
}
