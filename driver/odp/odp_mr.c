// SPDX-License-Identifier: GPL-2.0
/*
 * odp: registration and deregistration of on-demand paging memory regions.
 *
 * Registration creates the MR's umem in the ODP core, which inserts its own
 * mmu_interval_notifier over the pages of the range and faults nothing in:
 * what it allocates is 8 bytes per GiB of the length (the translation
 * cache's directory).  No page of an MR is ever pinned.
 * The lookup of a key and the copy to and from an SGE list through the MRs
 * (for the transport) are here too; neither knows anything about QPs.
 */
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "odp_verbs.h"

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

/*
 * Deregistered, aborted or its context closed: end every device access of
 * the MR (odp_umem_kill() waits for those under way), so that nothing
 * touches its memory once deregistration returns, even if others (an
 * access in another thread, a queued prefetch) still hold references.
 */
static void odp_mr_destroy(struct odp_uobj *uobj)
{
	struct odp_mr *mr = container_of(uobj, struct odp_mr, uobj);

	odp_umem_kill(mr->umem);
	mutex_lock(&odp_all_mrs_lock);
	list_del_init(&mr->all_node);
	mutex_unlock(&odp_all_mrs_lock);
	/* The PD may go now; the MR keeps only a reference to its memory. */
	odp_uobj_unuse(uobj->ctx, &mr->pd->uobj);
}

static void odp_mr_free(struct odp_uobj *uobj)
{
	struct odp_mr *mr = container_of(uobj, struct odp_mr, uobj);

	odp_umem_free(mr->umem);
	odp_uobj_put(&mr->pd->uobj);
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

static int odp_mr_check_cmd(const struct odp_abi_reg_mr *cmd)
{
	int ret;

	if (cmd->reserved)
		return -EINVAL;
	ret = odp_mr_check_access(cmd->access);
	if (ret)
		return ret;
	return odp_mr_check_range(cmd->addr, cmd->length);
}

/*
 * Build an MR on PD @cmd->pd_handle: reserve its handle, create its umem
 * (the core inserts the notifier) and take a use of the PD.  Nothing can
 * see it until odp_uobj_commit().
 */
struct odp_uobj *odp_mr_register(struct odp_ctx *ctx,
				 struct odp_abi_reg_mr *cmd)
{
	unsigned long start, end;
	struct odp_uobj *pd;
	struct odp_mr *mr;
	int ret;

	ret = odp_mr_check_cmd(cmd);
	if (ret)
		return ERR_PTR(ret);
	start = ALIGN_DOWN(cmd->addr, PAGE_SIZE);
	end = PAGE_ALIGN(cmd->addr + cmd->length);
	ret = odp_mr_check_vmas(ctx->mm, start, end,
				cmd->access & ODP_ACCESS_NEEDS_WRITE);
	if (ret)
		return ERR_PTR(ret);

	mr = kzalloc(sizeof(*mr), GFP_KERNEL_ACCOUNT);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->addr = cmd->addr;
	mr->length = cmd->length;
	mr->access = cmd->access;
	mr->tgid = current->tgid;
	INIT_LIST_HEAD(&mr->all_node);

	pd = odp_uobj_get_use(ctx, ODP_UOBJ_PD, cmd->pd_handle);
	if (!pd) {
		ret = -EINVAL;
		goto err_free;
	}
	mr->umem = odp_umem_create(ctx->mm, start, end, ctx->memcg,
				   &odp_dev_sums);
	if (IS_ERR(mr->umem)) {
		ret = PTR_ERR(mr->umem);
		goto err_pd;
	}
	ret = odp_uobj_reserve(ctx, &mr->uobj, &odp_mr_ops);
	if (ret)
		goto err_umem;

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

err_umem:
	odp_umem_kill(mr->umem);
	odp_umem_free(mr->umem);
err_pd:
	odp_uobj_unuse(ctx, pd);
	odp_uobj_put(pd);
err_free:
	kfree(mr);
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

/*
 * SGE lists: the local side of a work request, each SGE through its MR,
 * as rxe's copy_data() in rxe_mr.c.
 */

/**
 * odp_sge_check - check the first @len bytes of an SGE list as a whole
 * @ctx: the context whose MRs the lkeys name
 * @pd: the PD every MR must be on
 * @sge: the list
 * @num_sge: its length
 * @len: bytes from the start of the list the request will touch
 * @write: the request writes them (needs local write)
 *
 * Done before any byte of the request moves: every SGE that holds some of
 * the bytes names an MR on @pd that contains that part and grants local
 * write if @write.
 *
 * Return: 0, -EINVAL (bad lkey, PD or bounds) or -EACCES.
 */
int odp_sge_check(struct odp_ctx *ctx, struct odp_pd *pd,
		  const struct odp_abi_sge *sge, u32 num_sge, u32 len,
		  bool write)
{
	u32 access = write ? ODP_ABI_ACCESS_LOCAL_WRITE : 0;
	u32 i;

	for (i = 0; i < num_sge && len; i++) {
		u32 n = min(len, sge[i].length);
		struct odp_mr *mr;
		int ret;

		if (!n)
			continue;
		mr = odp_mr_lookup(ctx, sge[i].lkey, pd, access, sge[i].addr, n,
				   &ret);
		if (!mr)
			return ret;
		odp_mr_put(mr);
		len -= n;
	}
	return len ? -EINVAL : 0;
}

/**
 * odp_sge_copy - copy between a buffer and an SGE list
 * @ctx: the context whose MRs the lkeys name
 * @pd: the PD every MR must be on
 * @sge: the list
 * @num_sge: its length
 * @offset: where in the list's bytes to start
 * @buf: kernel buffer
 * @len: bytes to copy
 * @write: into the SGEs' memory (else out of it)
 *
 * Each SGE's part goes through its MR, faulting pages in as needed.
 * Whatever fails, the WR or receive completes LOC_PROT_ERR: a bad lkey,
 * range or rights and a page that cannot be faulted in are all the local
 * SGE's protection error, as ODP NICs and our rxe report them.
 *
 * Return: 0, -EINVAL (bad lkey or bounds), -EACCES, or a fault error.
 */
int odp_sge_copy(struct odp_ctx *ctx, struct odp_pd *pd,
		 const struct odp_abi_sge *sge, u32 num_sge, u32 offset,
		 void *buf, u32 len, bool write)
{
	u32 access = write ? ODP_ABI_ACCESS_LOCAL_WRITE : 0;
	u32 i;

	for (i = 0; i < num_sge && len; i++) {
		struct odp_mr *mr;
		u32 n;
		int ret;

		if (offset >= sge[i].length) {
			offset -= sge[i].length;
			continue;
		}
		n = min(len, sge[i].length - offset);
		mr = odp_mr_lookup(ctx, sge[i].lkey, pd, access,
				   sge[i].addr + offset, n, &ret);
		if (!mr)
			return ret;
		ret = odp_umem_copy(mr->umem, sge[i].addr + offset, buf, n,
				    write);
		odp_mr_put(mr);
		if (ret)
			return ret;
		buf += n;
		len -= n;
		offset = 0;
	}
	return len ? -EINVAL : 0;
}
