// SPDX-License-Identifier: GPL-2.0
/*
 * odp: completion queues.  A ring of work completions in kernel memory,
 * filled by QP work and drained by ODP_IOC_POLL_CQ.
 */
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "odp_transport.h"

#define ODP_MAX_CQE	65536

/* Nothing runs on a CQ's behalf: QPs, its only writers, are gone first. */
static void odp_cq_destroy(struct odp_uobj *uobj)
{
}

static void odp_cq_free(struct odp_uobj *uobj)
{
	struct odp_cq *cq = container_of(uobj, struct odp_cq, uobj);

	kvfree(cq->ring);
	kfree_rcu(cq, uobj.rcu);
}

static const struct odp_uobj_ops odp_cq_ops = {
	.type		= ODP_UOBJ_CQ,
	.max_handle	= INT_MAX,
	.destroy	= odp_cq_destroy,
	.free		= odp_cq_free,
};

/* A new CQ, reserved (see odp_uobj.c); its ring is charged to the caller. */
struct odp_uobj *odp_cq_create(struct odp_ctx *ctx,
			       struct odp_abi_create_cq *cmd)
{
	struct odp_cq *cq;
	int ret;

	if (!cmd->cqe || cmd->cqe > ODP_MAX_CQE)
		return ERR_PTR(-EINVAL);

	cq = kzalloc(sizeof(*cq), GFP_KERNEL_ACCOUNT);
	if (!cq)
		return ERR_PTR(-ENOMEM);
	/*
	 * Up to 4 MiB: a user at the limit of its memory cgroup gets ENOMEM,
	 * not the OOM killer (nor a warning).
	 */
	cq->ring = kvcalloc(cmd->cqe, sizeof(*cq->ring),
			    GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN);
	if (!cq->ring) {
		kfree(cq);
		return ERR_PTR(-ENOMEM);
	}
	cq->cqe = cmd->cqe;
	spin_lock_init(&cq->lock);

	ret = odp_uobj_reserve(ctx, &cq->uobj, &odp_cq_ops);
	if (ret) {
		kvfree(cq->ring);
		kfree(cq);
		return ERR_PTR(ret);
	}
	cmd->cq_handle = cq->uobj.handle;
	return &cq->uobj;
}

static struct odp_cq *odp_cq_get(struct odp_ctx *ctx, u32 handle)
{
	struct odp_uobj *uobj = odp_uobj_get(ctx, ODP_UOBJ_CQ, handle);

	return uobj ? container_of(uobj, struct odp_cq, uobj) : NULL;
}

static void odp_cq_put(struct odp_cq *cq)
{
	odp_uobj_put(&cq->uobj);
}

/* Add one completion.  A full CQ loses it and reports overflow on poll. */
void odp_cq_push(struct odp_cq *cq, const struct odp_abi_wc *wc)
{
	unsigned long flags;

	spin_lock_irqsave(&cq->lock, flags);
	if (cq->count == cq->cqe) {
		cq->overflow = true;
	} else {
		cq->ring[(cq->head + cq->count) % cq->cqe] = *wc;
		cq->count++;
	}
	spin_unlock_irqrestore(&cq->lock, flags);
}

/* Take up to @max completions off the ring into @wc. */
static u32 odp_cq_take(struct odp_cq *cq, struct odp_abi_wc *wc, u32 max,
		       bool *overflow)
{
	unsigned long flags;
	u32 n;

	spin_lock_irqsave(&cq->lock, flags);
	/*
	 * An overrun CQ is in error, as a verbs CQ is: every poll says so
	 * and none takes entries (they would be lost with the error).
	 */
	*overflow = cq->overflow;
	for (n = 0; n < max && cq->count && !cq->overflow; n++) {
		wc[n] = cq->ring[cq->head];
		cq->head = (cq->head + 1) % cq->cqe;
		cq->count--;
	}
	spin_unlock_irqrestore(&cq->lock, flags);
	return n;
}

#define ODP_POLL_BATCH	16

int odp_cq_poll(struct odp_ctx *ctx, struct odp_abi_poll_cq *cmd)
{
	struct odp_abi_wc __user *uwc = u64_to_user_ptr(cmd->wc);
	struct odp_abi_wc wc[ODP_POLL_BATCH];
	u32 want = cmd->num_entries, done = 0;
	bool overflow;
	struct odp_cq *cq;
	int ret = 0;

	cq = odp_cq_get(ctx, cmd->cq_handle);
	if (!cq)
		return -EINVAL;

	while (done < want) {
		u32 n = odp_cq_take(cq, wc, min_t(u32, want - done,
						  ODP_POLL_BATCH), &overflow);

		if (overflow) {
			ret = -EOVERFLOW;
			break;
		}
		if (!n)
			break;
		if (copy_to_user(uwc + done, wc, n * sizeof(wc[0]))) {
			ret = -EFAULT;
			break;
		}
		done += n;
	}
	odp_cq_put(cq);
	cmd->num_entries = done;
	return ret;
}
