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

int odp_cq_create(struct odp_ctx *ctx, struct odp_abi_create_cq *cmd)
{
	struct odp_cq *cq;
	int ret;

	if (!cmd->cqe || cmd->cqe > ODP_MAX_CQE)
		return -EINVAL;

	cq = kzalloc(sizeof(*cq), GFP_KERNEL);
	if (!cq)
		return -ENOMEM;
	cq->ring = kvcalloc(cmd->cqe, sizeof(*cq->ring), GFP_KERNEL);
	if (!cq->ring) {
		kfree(cq);
		return -ENOMEM;
	}
	cq->ctx = ctx;
	kref_init(&cq->ref);
	cq->cqe = cmd->cqe;
	spin_lock_init(&cq->lock);

	mutex_lock(&ctx->lock);
	ret = xa_alloc(&ctx->cqs, &cq->handle, cq, xa_limit_31b, GFP_KERNEL);
	mutex_unlock(&ctx->lock);
	if (ret) {
		kvfree(cq->ring);
		kfree(cq);
		return ret;
	}
	cmd->cq_handle = cq->handle;
	return 0;
}

static void odp_cq_release(struct kref *ref)
{
	struct odp_cq *cq = container_of(ref, struct odp_cq, ref);

	kvfree(cq->ring);
	kfree_rcu(cq, rcu);
}

static void odp_cq_put(struct odp_cq *cq)
{
	kref_put(&cq->ref, odp_cq_release);
}

/* Polling is the hot path: no ctx->lock, which posting holds. */
static struct odp_cq *odp_cq_get(struct odp_ctx *ctx, u32 handle)
{
	struct odp_cq *cq;

	rcu_read_lock();
	cq = xa_load(&ctx->cqs, handle);
	if (cq && !kref_get_unless_zero(&cq->ref))
		cq = NULL;
	rcu_read_unlock();
	return cq;
}

int odp_cq_destroy(struct odp_ctx *ctx, u32 handle)
{
	struct odp_cq *cq;
	int ret = 0;

	mutex_lock(&ctx->lock);
	cq = xa_load(&ctx->cqs, handle);
	if (!cq)
		ret = -EINVAL;
	else if (cq->num_qps)
		ret = -EBUSY;
	else
		xa_erase(&ctx->cqs, handle);
	mutex_unlock(&ctx->lock);

	if (!ret)
		odp_cq_put(cq);
	return ret;
}

/* Called once the QPs are gone. */
void odp_cq_destroy_all(struct odp_ctx *ctx)
{
	struct odp_cq *cq;
	unsigned long index;

	xa_for_each(&ctx->cqs, index, cq) {
		xa_erase(&ctx->cqs, index);
		odp_cq_put(cq);
	}
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
	*overflow = cq->overflow;
	for (n = 0; n < max && cq->count; n++) {
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
