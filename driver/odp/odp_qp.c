// SPDX-License-Identifier: GPL-2.0
/*
 * odp: queue pairs.  The user's work requests wait on the QP's queues
 * (odp_queue.c) until its work item (odp_qp_work.c) carries them over the
 * kernel RC QP; their completions go to the user's CQs in post order.
 */
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "odp_transport.h"

#define ODP_MAX_QP_WR	4096

/* QP numbers, 24 bits as in IB; 0 and 1 are the special QPs there. */
static atomic_t odp_next_qpn = ATOMIC_INIT(1);

static u32 odp_qpn_alloc(void)
{
	u32 qpn;

	do {
		qpn = atomic_inc_return(&odp_next_qpn) & 0xffffff;
	} while (qpn < 2);
	return qpn;
}

static bool odp_qp_caps_valid(const struct odp_abi_create_qp *cmd)
{
	return cmd->max_send_wr && cmd->max_send_wr <= ODP_MAX_QP_WR &&
	       cmd->max_recv_wr && cmd->max_recv_wr <= ODP_MAX_QP_WR &&
	       cmd->max_send_sge <= ODP_ABI_MAX_SGE &&
	       cmd->max_recv_sge <= ODP_ABI_MAX_SGE && cmd->sq_sig_all <= 1;
}

static struct odp_qp *odp_qp_alloc(const struct odp_abi_create_qp *cmd)
{
	struct odp_qp *qp;

	qp = kzalloc(sizeof(*qp), GFP_KERNEL_ACCOUNT);
	if (!qp)
		return NULL;
	qp->type = ODP_CM_QP;
	qp->qp_num = odp_qpn_alloc();
	qp->max_send_wr = cmd->max_send_wr;
	qp->max_recv_wr = cmd->max_recv_wr;
	qp->max_send_sge = max(cmd->max_send_sge, 1U);
	qp->max_recv_sge = max(cmd->max_recv_sge, 1U);
	qp->sq_sig_all = cmd->sq_sig_all;
	mutex_init(&qp->detach_lock);
	mutex_init(&qp->lock);
	INIT_LIST_HEAD(&qp->dev_node);
	INIT_LIST_HEAD(&qp->all_node);
	init_completion(&qp->connected);
	odp_qp_queues_init(qp);
	init_waitqueue_head(&qp->tx_wq);
	INIT_WORK(&qp->work, odp_qp_work);
	return qp;
}

/* Take uses of the PD and CQs the QP is created on. */
static int odp_qp_use(struct odp_ctx *ctx, struct odp_qp *qp,
		      const struct odp_abi_create_qp *cmd)
{
	struct odp_uobj *pd, *scq, *rcq;

	pd = odp_uobj_get_use(ctx, ODP_UOBJ_PD, cmd->pd_handle);
	scq = odp_uobj_get_use(ctx, ODP_UOBJ_CQ, cmd->send_cq);
	rcq = odp_uobj_get_use(ctx, ODP_UOBJ_CQ, cmd->recv_cq);
	if (pd && scq && rcq) {
		qp->pd = container_of(pd, struct odp_pd, uobj);
		qp->send_cq = container_of(scq, struct odp_cq, uobj);
		qp->recv_cq = container_of(rcq, struct odp_cq, uobj);
		return 0;
	}
	if (pd) {
		odp_uobj_unuse(ctx, pd);
		odp_uobj_put(pd);
	}
	if (scq) {
		odp_uobj_unuse(ctx, scq);
		odp_uobj_put(scq);
	}
	if (rcq) {
		odp_uobj_unuse(ctx, rcq);
		odp_uobj_put(rcq);
	}
	return -EINVAL;
}

static void odp_qp_unuse(struct odp_ctx *ctx, struct odp_qp *qp)
{
	odp_uobj_unuse(ctx, &qp->pd->uobj);
	odp_uobj_unuse(ctx, &qp->send_cq->uobj);
	odp_uobj_unuse(ctx, &qp->recv_cq->uobj);
}

/*
 * Put the QP on its device: charged to the caller's rdma cgroup (a kernel
 * QP and CQ are behind it) and on dev->qps, so that removing the device
 * finds it.  The charge and the list go in odp_qp_detach().
 */
static int odp_qp_attach_device(struct odp_qp *qp, struct odp_device *dev)
{
	int ret;

	mutex_lock(&dev->lock);
	if (dev->removed) {
		ret = -ENODEV;
	} else {
		ret = odp_rdmacg_charge(&qp->cg_obj, dev->ibdev,
					RDMACG_RESOURCE_HCA_OBJECT);
		if (!ret) {
			kref_get(&dev->ref);
			qp->dev = dev;
			list_add_tail(&qp->dev_node, &dev->qps);
		}
	}
	mutex_unlock(&dev->lock);
	return ret;
}

/*
 * Destroy (or abort, or the context closes): release the transport (which
 * also wakes a connect or accept blocked on the QP), stop the work item for
 * good and give the PD and CQs back, all before returning, as verbs
 * promise; whoever else still holds a reference (device removal, a blocked
 * connect) holds only the memory.
 */
static void odp_qp_destroy(struct odp_uobj *uobj)
{
	struct odp_qp *qp = container_of(uobj, struct odp_qp, uobj);

	odp_qp_detach(qp);
	/* odp_qp_kick() checks destroyed under wq_lock: none queues after. */
	odp_qp_mark_destroyed(qp);
	cancel_work_sync(&qp->work);
	odp_qp_unuse(uobj->ctx, qp);
}

static void odp_qp_free(struct odp_uobj *uobj)
{
	struct odp_qp *qp = container_of(uobj, struct odp_qp, uobj);

	odp_qp_debugfs_del(qp);
	odp_qp_queues_free(qp);
	odp_uobj_put(&qp->pd->uobj);
	odp_uobj_put(&qp->send_cq->uobj);
	odp_uobj_put(&qp->recv_cq->uobj);
	kfree_rcu(qp, uobj.rcu);
}

static const struct odp_uobj_ops odp_qp_ops = {
	.type		= ODP_UOBJ_QP,
	.max_handle	= INT_MAX,
	.destroy	= odp_qp_destroy,
	.free		= odp_qp_free,
};

/* A new QP on the bound device, reserved (see odp_uobj.c). */
struct odp_uobj *odp_qp_create(struct odp_ctx *ctx,
			       struct odp_abi_create_qp *cmd)
{
	struct odp_device *dev = READ_ONCE(ctx->dev);
	struct odp_qp *qp;
	int ret;

	if (!odp_qp_caps_valid(cmd))
		return ERR_PTR(-EINVAL);
	if (!dev)
		return ERR_PTR(-ENODEV);
	qp = odp_qp_alloc(cmd);
	if (!qp)
		return ERR_PTR(-ENOMEM);
	qp->ctx = ctx;

	ret = odp_qp_use(ctx, qp, cmd);
	if (ret) {
		kfree(qp);
		return ERR_PTR(ret);
	}
	ret = odp_uobj_reserve(ctx, &qp->uobj, &odp_qp_ops);
	if (ret) {
		odp_qp_unuse(ctx, qp);
		/* Only the table's reference: free() drops the PD and CQs. */
		odp_qp_free(&qp->uobj);
		return ERR_PTR(ret);
	}
	ret = odp_qp_attach_device(qp, dev);
	if (ret) {
		odp_uobj_abort(ctx, &qp->uobj);
		return ERR_PTR(ret);
	}
	odp_qp_debugfs_add(qp);
	cmd->qp_handle = qp->uobj.handle;
	cmd->qp_num = qp->qp_num;
	return &qp->uobj;
}

void odp_qp_put(struct odp_qp *qp)
{
	odp_uobj_put(&qp->uobj);
}

/* A reference to the published QP of @handle, or NULL. */
struct odp_qp *odp_qp_get(struct odp_ctx *ctx, u32 handle)
{
	struct odp_uobj *uobj = odp_uobj_get(ctx, ODP_UOBJ_QP, handle);

	return uobj ? container_of(uobj, struct odp_qp, uobj) : NULL;
}

static const u32 odp_wc_opcode_of_wr[] = {
	[ODP_ABI_WR_RDMA_WRITE]			= ODP_ABI_WC_RDMA_WRITE,
	[ODP_ABI_WR_RDMA_WRITE_WITH_IMM]	= ODP_ABI_WC_RDMA_WRITE,
	[ODP_ABI_WR_SEND]			= ODP_ABI_WC_SEND,
	[ODP_ABI_WR_SEND_WITH_IMM]		= ODP_ABI_WC_SEND,
	[ODP_ABI_WR_RDMA_READ]			= ODP_ABI_WC_RDMA_READ,
	[ODP_ABI_WR_ATOMIC_CMP_AND_SWP]		= ODP_ABI_WC_COMP_SWAP,
	[ODP_ABI_WR_ATOMIC_FETCH_AND_ADD]	= ODP_ABI_WC_FETCH_ADD,
};

/*
 * Complete a send WR (already off the queues) and free it.  Errors always
 * complete; successes only when signaled.
 */
void odp_qp_complete_send(struct odp_qp *qp, struct odp_swqe *wqe, u32 status)
{
	/* Free the slot first: a poller may post again at once. */
	odp_sq_slot_free(qp);

	if (status != ODP_ABI_WC_SUCCESS || wqe->signaled) {
		struct odp_abi_wc wc = {
			.wr_id		= wqe->wr_id,
			.status		= status,
			.opcode		= odp_wc_opcode_of_wr[wqe->opcode],
			.byte_len	= wqe->length,
			.qp_num		= qp->qp_num,
		};

		odp_cq_push(qp->send_cq, &wc);
	}
	kfree(wqe);
}

void odp_qp_complete_recv(struct odp_qp *qp, struct odp_rwqe *wqe, u32 status,
			  u32 opcode, u32 imm, bool with_imm)
{
	struct odp_abi_wc wc = {
		.wr_id		= wqe->wr_id,
		.status		= status,
		.opcode		= opcode,
		.byte_len	= wqe->received,
		.imm_data	= imm,
		.qp_num		= qp->qp_num,
		.wc_flags	= with_imm ? ODP_ABI_WC_WITH_IMM : 0,
	};

	/* Free the slot first: a poller may post again at once. */
	odp_rq_slot_free(qp);
	odp_cq_push(qp->recv_cq, &wc);
	kfree(wqe);
}

static bool odp_wr_opcode_valid(u32 opcode)
{
	return opcode < ARRAY_SIZE(odp_wc_opcode_of_wr);
}

static int odp_copy_sges(struct odp_abi_sge *sge, u64 uptr, u32 num,
			 u32 *total)
{
	u64 sum = 0;
	u32 i;

	if (copy_from_user(sge, u64_to_user_ptr(uptr), num * sizeof(*sge)))
		return -EFAULT;
	for (i = 0; i < num; i++)
		sum += sge[i].length;
	if (sum > U32_MAX)
		return -EINVAL;
	*total = sum;
	return 0;
}

static struct odp_swqe *odp_swqe_build(struct odp_qp *qp,
				       const struct odp_abi_send_wr *wr)
{
	struct odp_swqe *wqe;
	bool atomic;
	int ret;

	atomic = wr->opcode == ODP_ABI_WR_ATOMIC_CMP_AND_SWP ||
		 wr->opcode == ODP_ABI_WR_ATOMIC_FETCH_AND_ADD;
	if (!odp_wr_opcode_valid(wr->opcode) || wr->reserved ||
	    wr->num_sge > qp->max_send_sge ||
	    wr->send_flags & ~ODP_ABI_SEND_SIGNALED)
		return ERR_PTR(-EINVAL);
	if (atomic && (wr->num_sge != 1 || wr->remote_addr % 8))
		return ERR_PTR(-EINVAL);

	wqe = kzalloc(struct_size(wqe, sge, wr->num_sge), GFP_KERNEL_ACCOUNT);
	if (!wqe)
		return ERR_PTR(-ENOMEM);
	wqe->num_sge = wr->num_sge;
	ret = odp_copy_sges(wqe->sge, wr->sg_list, wr->num_sge, &wqe->length);
	if (!ret && atomic && wqe->length != 8)
		ret = -EINVAL;
	if (ret) {
		kfree(wqe);
		return ERR_PTR(ret);
	}
	wqe->wr_id = wr->wr_id;
	wqe->opcode = wr->opcode;
	wqe->signaled = qp->sq_sig_all ||
			(wr->send_flags & ODP_ABI_SEND_SIGNALED);
	wqe->imm = wr->imm_data;
	wqe->remote_addr = wr->remote_addr;
	wqe->rkey = wr->rkey;
	wqe->compare_add = wr->compare_add;
	wqe->swap = wr->swap;
	return wqe;
}

/*
 * Like ibv_post_send(): on error, cmd->bad_wr is the index of the first WR
 * not posted.  Only a QP reference is held: a WR array that faults (even
 * on userfaultfd) holds up nothing else of the context.
 */
int odp_post_send(struct odp_ctx *ctx, struct odp_abi_post *cmd)
{
	const struct odp_abi_send_wr __user *uwr = u64_to_user_ptr(cmd->wr_list);
	struct odp_qp *qp;
	int ret = 0;
	u32 i;

	qp = odp_qp_get(ctx, cmd->qp_handle);
	if (!qp)
		return -EINVAL;

	for (i = 0; i < cmd->num_wr; i++) {
		struct odp_abi_send_wr wr;
		struct odp_swqe *wqe;

		if (copy_from_user(&wr, &uwr[i], sizeof(wr))) {
			ret = -EFAULT;
			break;
		}
		wqe = odp_swqe_build(qp, &wr);
		if (IS_ERR(wqe)) {
			ret = PTR_ERR(wqe);
			break;
		}
		ret = odp_sq_post(qp, wqe);
		if (ret) {
			kfree(wqe);
			break;
		}
	}
	cmd->bad_wr = i;
	if (i)
		odp_qp_kick(qp);
	odp_qp_put(qp);
	return ret;
}

static struct odp_rwqe *odp_rwqe_build(struct odp_qp *qp,
				       const struct odp_abi_recv_wr *wr)
{
	struct odp_rwqe *wqe;
	int ret;

	if (wr->num_sge > qp->max_recv_sge || wr->reserved)
		return ERR_PTR(-EINVAL);
	wqe = kzalloc(struct_size(wqe, sge, wr->num_sge), GFP_KERNEL_ACCOUNT);
	if (!wqe)
		return ERR_PTR(-ENOMEM);
	wqe->num_sge = wr->num_sge;
	wqe->wr_id = wr->wr_id;
	ret = odp_copy_sges(wqe->sge, wr->sg_list, wr->num_sge, &wqe->length);
	if (ret) {
		kfree(wqe);
		return ERR_PTR(ret);
	}
	return wqe;
}

/* As odp_post_send(), for receive WRs. */
int odp_post_recv(struct odp_ctx *ctx, struct odp_abi_post *cmd)
{
	const struct odp_abi_recv_wr __user *uwr = u64_to_user_ptr(cmd->wr_list);
	struct odp_qp *qp;
	int ret = 0;
	u32 i;

	qp = odp_qp_get(ctx, cmd->qp_handle);
	if (!qp)
		return -EINVAL;

	for (i = 0; i < cmd->num_wr; i++) {
		struct odp_abi_recv_wr wr;
		struct odp_rwqe *wqe;

		if (copy_from_user(&wr, &uwr[i], sizeof(wr))) {
			ret = -EFAULT;
			break;
		}
		wqe = odp_rwqe_build(qp, &wr);
		if (IS_ERR(wqe)) {
			ret = PTR_ERR(wqe);
			break;
		}
		ret = odp_rq_post(qp, wqe);
		if (ret) {
			kfree(wqe);
			break;
		}
	}
	cmd->bad_wr = i;
	/* A SEND may be waiting for this receive ("RNR"). */
	odp_qp_kick(qp);
	odp_qp_put(qp);
	return ret;
}
