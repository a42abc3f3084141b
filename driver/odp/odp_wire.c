// SPDX-License-Identifier: GPL-2.0
/*
 * odp: the wire under a QP.  DMA-mapped message buffers on a kernel RC QP,
 * and the QP's work item that moves the user's work requests: requests go
 * out through odp_requester.c, incoming requests are executed by
 * odp_responder.c, and responses complete the requests they answer.
 *
 * The work item is the only code that takes entries off the QP's queues or
 * touches the payload of received messages, so per QP everything happens
 * in order without further locking.  It runs in process context because
 * executing a message may fault pages in.
 */
#include <linux/dma-mapping.h>
#include <linux/memcontrol.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "odp_transport.h"

static void odp_qp_flush(struct odp_qp *qp);

static struct ib_device *odp_qp_ibdev(struct odp_qp *qp)
{
	return qp->dev->ibdev;
}

/* Send slots: at most ODP_WIRE_TX_DEPTH messages on the kernel QP. */
bool odp_tx_reserve(struct odp_qp *qp)
{
	bool ok;

	spin_lock_bh(&qp->wq_lock);
	ok = qp->tx_outstanding < ODP_WIRE_TX_DEPTH;
	if (ok)
		qp->tx_outstanding++;
	spin_unlock_bh(&qp->wq_lock);
	return ok;
}

void odp_tx_unreserve(struct odp_qp *qp)
{
	spin_lock_bh(&qp->wq_lock);
	qp->tx_outstanding--;
	spin_unlock_bh(&qp->wq_lock);
	wake_up_all(&qp->tx_wq);
}

static bool odp_tx_idle(struct odp_qp *qp)
{
	bool idle;

	spin_lock_bh(&qp->wq_lock);
	idle = !qp->tx_outstanding;
	spin_unlock_bh(&qp->wq_lock);
	return idle;
}

/*
 * Before disconnecting, give the messages already posted (an answer the
 * peer is waiting for) the time to be acknowledged; a dead peer cannot make
 * this wait longer than ODP_TX_LINGER.
 */
#define ODP_TX_LINGER	(2 * HZ)

void odp_tx_linger(struct odp_qp *qp)
{
	wait_event_timeout(qp->tx_wq, odp_tx_idle(qp), ODP_TX_LINGER);
}

/* A message buffer for a reserved send slot. */
struct odp_wire_buf *odp_tx_alloc(struct odp_qp *qp)
{
	struct odp_wire_buf *tx;

	tx = kzalloc(sizeof(*tx), GFP_KERNEL_ACCOUNT);
	if (!tx)
		return NULL;
	tx->data = kzalloc(ODP_WIRE_BUF_SIZE, GFP_KERNEL_ACCOUNT);
	if (!tx->data) {
		kfree(tx);
		return NULL;
	}
	tx->qp = qp;
	return tx;
}

void odp_tx_free(struct odp_wire_buf *tx)
{
	kfree(tx->data);
	kfree(tx);
}

static void odp_tx_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct odp_wire_buf *tx = container_of(wc->wr_cqe, struct odp_wire_buf,
					       cqe);
	struct odp_qp *qp = tx->qp;

	ib_dma_unmap_single(cq->device, tx->dma, tx->len, DMA_TO_DEVICE);
	odp_tx_free(tx);
	odp_tx_unreserve(qp);
	/* The link failed (peer gone): everything outstanding flushes. */
	if (wc->status != IB_WC_SUCCESS && wc->status != IB_WC_WR_FLUSH_ERR)
		odp_qp_set_error(qp);
	else
		odp_qp_kick(qp);
}

/* Post a filled message; tx->len is set from the header. Consumes @tx. */
int odp_tx_post(struct odp_qp *qp, struct odp_wire_buf *tx)
{
	struct ib_device *ibdev = odp_qp_ibdev(qp);
	struct ib_sge sge;
	struct ib_send_wr wr = {
		.wr_cqe		= &tx->cqe,
		.sg_list	= &sge,
		.num_sge	= 1,
		.opcode		= IB_WR_SEND,
		.send_flags	= IB_SEND_SIGNALED,
	};
	int ret;

	/* Every message tells the peer how many of its requests we are done with. */
	odp_wire_hdr(tx)->consumed = cpu_to_be32(qp->req_consumed);
	qp->req_advertised = qp->req_consumed;
	tx->len = sizeof(struct odp_wire_hdr) +
		  be32_to_cpu(odp_wire_hdr(tx)->length);
	tx->cqe.done = odp_tx_done;
	tx->dma = ib_dma_map_single(ibdev, tx->data, tx->len, DMA_TO_DEVICE);
	if (ib_dma_mapping_error(ibdev, tx->dma)) {
		ret = -ENOMEM;
		goto err;
	}
	sge.addr = tx->dma;
	sge.length = tx->len;
	sge.lkey = qp->dev->pd->local_dma_lkey;
	ret = ib_post_send(qp->cm_id->qp, &wr, NULL);
	if (ret) {
		ib_dma_unmap_single(ibdev, tx->dma, tx->len, DMA_TO_DEVICE);
		goto err;
	}
	return 0;
err:
	odp_tx_free(tx);
	odp_tx_unreserve(qp);
	return ret;
}

static void odp_rx_done(struct ib_cq *cq, struct ib_wc *wc);

static int odp_rx_post(struct odp_qp *qp, struct odp_wire_buf *rx)
{
	struct ib_sge sge = {
		.addr	= rx->dma,
		.length	= ODP_WIRE_BUF_SIZE,
		.lkey	= qp->dev->pd->local_dma_lkey,
	};
	struct ib_recv_wr wr = {
		.wr_cqe		= &rx->cqe,
		.sg_list	= &sge,
		.num_sge	= 1,
	};

	rx->cqe.done = odp_rx_done;
	ib_dma_sync_single_for_device(odp_qp_ibdev(qp), rx->dma,
				      ODP_WIRE_BUF_SIZE, DMA_FROM_DEVICE);
	return ib_post_recv(qp->cm_id->qp, &wr, NULL);
}

static bool odp_wire_op_is_response(u8 op)
{
	return op == ODP_WIRE_ACK || op == ODP_WIRE_READ_RESP ||
	       op == ODP_WIRE_ATOMIC_RESP || op == ODP_WIRE_CREDIT;
}

/* A request of the peer (anything too short to tell is checked later). */
static bool odp_rx_is_request(struct odp_wire_buf *rx)
{
	return rx->len >= sizeof(struct odp_wire_hdr) &&
	       !odp_wire_op_is_response(odp_wire_hdr(rx)->op);
}

/*
 * Take the peer's count of our requests it is done with, in arrival order
 * (later processing is not: responses overtake stalled requests).  It can
 * only grow, and not past what we sent.  Caller holds wq_lock.
 */
static bool odp_rx_take_credits(struct odp_qp *qp, struct odp_wire_buf *rx)
{
	u32 consumed;

	if (rx->len < sizeof(struct odp_wire_hdr))
		return true;	/* odp_rx_check() fails it */
	consumed = be32_to_cpu(odp_wire_hdr(rx)->consumed);
	if (consumed - qp->peer_consumed > qp->req_sent - qp->peer_consumed)
		return false;
	qp->peer_consumed = consumed;
	return true;
}

static void odp_rx_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct odp_wire_buf *rx = container_of(wc->wr_cqe, struct odp_wire_buf,
					       cqe);
	struct odp_qp *qp = rx->qp;
	bool broken = false;

	if (wc->status != IB_WC_SUCCESS) {
		if (wc->status != IB_WC_WR_FLUSH_ERR)
			odp_qp_set_error(qp);
		return;
	}
	ib_dma_sync_single_for_cpu(cq->device, rx->dma, ODP_WIRE_BUF_SIZE,
				   DMA_FROM_DEVICE);
	rx->len = wc->byte_len;
	/* The peer may send as soon as it is connected, before we know. */
	spin_lock_bh(&qp->wq_lock);
	if (qp->state == ODP_QPS_RTS || qp->state == ODP_QPS_CONNECTING) {
		broken = !odp_rx_take_credits(qp, rx);
		if (odp_rx_is_request(rx)) {
			list_add_tail(&rx->node, &qp->rx_req);
			/* The peer sent more requests than credits allow. */
			if (++qp->rx_req_count > ODP_WIRE_REQ_CREDITS + 1)
				broken = true;
		} else {
			list_add_tail(&rx->node, &qp->rx_resp);
		}
	}
	spin_unlock_bh(&qp->wq_lock);
	/* A broken or hostile peer. */
	if (broken)
		odp_qp_set_error(qp);
	else
		odp_qp_kick(qp);
}

static void odp_qp_async_event(struct ib_event *event, void *context)
{
	struct odp_qp *qp = context;

	if (event->event == IB_EVENT_QP_FATAL ||
	    event->event == IB_EVENT_QP_REQ_ERR ||
	    event->event == IB_EVENT_QP_ACCESS_ERR)
		odp_qp_set_error(qp);
}

static void odp_rx_bufs_free(struct odp_qp *qp, struct ib_device *ibdev)
{
	int i;

	if (!qp->rx_bufs)
		return;
	for (i = 0; i < ODP_WIRE_RX_DEPTH; i++) {
		struct odp_wire_buf *rx = &qp->rx_bufs[i];

		if (!rx->data)
			continue;
		if (rx->dma)
			ib_dma_unmap_single(ibdev, rx->dma, ODP_WIRE_BUF_SIZE,
					    DMA_FROM_DEVICE);
		kfree(rx->data);
	}
	kfree(qp->rx_bufs);
	qp->rx_bufs = NULL;
}

static int odp_rx_bufs_alloc(struct odp_qp *qp)
{
	struct ib_device *ibdev = odp_qp_ibdev(qp);
	int i;

	qp->rx_bufs = kcalloc(ODP_WIRE_RX_DEPTH, sizeof(*qp->rx_bufs),
			      GFP_KERNEL_ACCOUNT);
	if (!qp->rx_bufs)
		return -ENOMEM;
	for (i = 0; i < ODP_WIRE_RX_DEPTH; i++) {
		struct odp_wire_buf *rx = &qp->rx_bufs[i];

		rx->qp = qp;
		rx->data = kmalloc(ODP_WIRE_BUF_SIZE, GFP_KERNEL_ACCOUNT);
		if (!rx->data)
			return -ENOMEM;
		rx->dma = ib_dma_map_single(ibdev, rx->data, ODP_WIRE_BUF_SIZE,
					    DMA_FROM_DEVICE);
		if (ib_dma_mapping_error(ibdev, rx->dma)) {
			rx->dma = 0;
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Create the kernel CQ and RC QP on qp->cm_id and post the receive
 * buffers.  Caller holds qp->lock; on error odp_qp_detach() cleans up.
 */
int odp_wire_setup(struct odp_qp *qp)
{
	struct ib_qp_init_attr attr = {
		.event_handler	= odp_qp_async_event,
		.qp_context	= qp,
		.qp_type	= IB_QPT_RC,
		.sq_sig_type	= IB_SIGNAL_REQ_WR,
		/* One more each for ib_drain_qp(). */
		.cap = {
			.max_send_wr	= ODP_WIRE_TX_DEPTH + 1,
			.max_recv_wr	= ODP_WIRE_RX_DEPTH + 1,
			.max_send_sge	= 1,
			.max_recv_sge	= 1,
		},
	};
	struct ib_cq *cq;
	int i, ret;

	cq = ib_alloc_cq(odp_qp_ibdev(qp), qp,
			 ODP_WIRE_TX_DEPTH + ODP_WIRE_RX_DEPTH + 2, 0,
			 IB_POLL_SOFTIRQ);
	if (IS_ERR(cq))
		return PTR_ERR(cq);
	qp->ib_cq = cq;
	attr.send_cq = cq;
	attr.recv_cq = cq;

	ret = rdma_create_qp(qp->cm_id, qp->dev->pd, &attr);
	if (ret)
		return ret;
	ret = odp_rx_bufs_alloc(qp);
	if (ret)
		return ret;
	for (i = 0; i < ODP_WIRE_RX_DEPTH && !ret; i++)
		ret = odp_rx_post(qp, &qp->rx_bufs[i]);
	return ret;
}

/* After the kernel QP is drained and destroyed: free what setup made. */
void odp_wire_teardown(struct odp_qp *qp)
{
	struct ib_device *ibdev = qp->dev ? odp_qp_ibdev(qp) : NULL;

	spin_lock_bh(&qp->wq_lock);
	INIT_LIST_HEAD(&qp->rx_req);
	INIT_LIST_HEAD(&qp->rx_resp);
	qp->rx_req_count = 0;
	spin_unlock_bh(&qp->wq_lock);

	if (qp->ib_cq) {
		ib_free_cq(qp->ib_cq);
		qp->ib_cq = NULL;
	}
	if (ibdev)
		odp_rx_bufs_free(qp, ibdev);
}

static enum odp_qp_state odp_qp_state(struct odp_qp *qp)
{
	enum odp_qp_state state;

	spin_lock_bh(&qp->wq_lock);
	state = qp->state;
	spin_unlock_bh(&qp->wq_lock);
	return state;
}

static struct odp_wire_buf *odp_rx_peek(struct odp_qp *qp,
					struct list_head *list)
{
	struct odp_wire_buf *rx;

	spin_lock_bh(&qp->wq_lock);
	rx = list_first_entry_or_null(list, struct odp_wire_buf, node);
	spin_unlock_bh(&qp->wq_lock);
	return rx;
}

/* Done with @rx: give the buffer back to the kernel QP. */
static void odp_rx_recycle(struct odp_qp *qp, struct odp_wire_buf *rx,
			   bool request)
{
	spin_lock_bh(&qp->wq_lock);
	list_del(&rx->node);
	if (request)
		qp->rx_req_count--;
	spin_unlock_bh(&qp->wq_lock);
	if (odp_rx_post(qp, rx))
		odp_qp_set_error(qp);
}

/* The header fields every message must get right. */
static bool odp_rx_check(struct odp_wire_buf *rx)
{
	struct odp_wire_hdr *hdr = odp_wire_hdr(rx);

	return rx->len >= sizeof(*hdr) && !hdr->reserved &&
	       be32_to_cpu(hdr->length) <= rx->len - sizeof(*hdr);
}

static enum odp_rx_result odp_rx_one(struct odp_qp *qp,
				     struct odp_wire_buf *rx)
{
	u8 op = odp_wire_hdr(rx)->op;

	if (!odp_rx_check(rx)) {
		/* Not ours, or broken: nothing sane to answer. */
		odp_qp_set_error(qp);
		return ODP_RX_ERROR;
	}
	if (op == ODP_WIRE_CREDIT)
		return ODP_RX_DONE;
	if (odp_wire_op_is_response(op))
		return odp_requester_response(qp, rx);
	return odp_responder_request(qp, rx);
}

/*
 * Handle received messages until stalled or out of them: first the
 * responses to our requests, which never wait, then the peer's requests in
 * order (a SEND may wait for a receive WR, and what came after it waits
 * behind it, as on an RC QP; our own requests do not).
 */
static bool odp_qp_process_rx(struct odp_qp *qp)
{
	struct odp_wire_buf *rx;
	bool progress = false;

	while (odp_qp_state(qp) == ODP_QPS_RTS &&
	       (rx = odp_rx_peek(qp, &qp->rx_resp))) {
		if (odp_rx_one(qp, rx) != ODP_RX_DONE)
			return progress;
		odp_rx_recycle(qp, rx, false);
		progress = true;
	}
	while (odp_qp_state(qp) == ODP_QPS_RTS &&
	       (rx = odp_rx_peek(qp, &qp->rx_req))) {
		u32 consumed = qp->req_consumed;

		if (odp_rx_one(qp, rx) != ODP_RX_DONE)
			break;
		/* Answered requests were counted before the answer went out. */
		if (qp->req_consumed == consumed)
			qp->req_consumed++;
		odp_rx_recycle(qp, rx, true);
		progress = true;
	}
	return progress;
}

/*
 * Credits: a side sends a request message only while fewer than
 * ODP_WIRE_REQ_CREDITS of its request messages are not yet consumed by the
 * peer, which says how many it consumed in every message it sends.  When
 * nothing else went out to say it, a CREDIT message does, so that a
 * requester waiting for credits is never forgotten.
 */
static void odp_qp_return_credits(struct odp_qp *qp)
{
	struct odp_wire_buf *tx;

	if (qp->req_consumed == qp->req_advertised ||
	    odp_qp_state(qp) != ODP_QPS_RTS || !odp_tx_reserve(qp))
		return;
	tx = odp_tx_alloc(qp);
	if (!tx) {
		odp_tx_unreserve(qp);
		odp_qp_set_error(qp);
		return;
	}
	odp_wire_hdr(tx)->op = ODP_WIRE_CREDIT;
	if (odp_tx_post(qp, tx))
		odp_qp_set_error(qp);
}

bool odp_credits_left(struct odp_qp *qp)
{
	bool left;

	spin_lock_bh(&qp->wq_lock);
	left = qp->req_sent - qp->peer_consumed < ODP_WIRE_REQ_CREDITS;
	spin_unlock_bh(&qp->wq_lock);
	return left;
}

/* A request message is about to go out: before, as its answer may race. */
void odp_credit_take(struct odp_qp *qp)
{
	spin_lock_bh(&qp->wq_lock);
	qp->req_sent++;
	spin_unlock_bh(&qp->wq_lock);
}

/*
 * The peer disconnected: what it sent before (the answer to our last
 * request, typically) is handled first, then the QP goes to error.
 */
static void odp_qp_check_disconnected(struct odp_qp *qp)
{
	bool gone;

	spin_lock_bh(&qp->wq_lock);
	gone = qp->disconnected && qp->state == ODP_QPS_RTS;
	spin_unlock_bh(&qp->wq_lock);
	if (gone)
		odp_qp_set_error(qp);
}

void odp_qp_work(struct work_struct *work)
{
	struct odp_qp *qp = container_of(work, struct odp_qp, work);
	struct mem_cgroup *old_memcg;
	bool progress;

	if (READ_ONCE(qp->destroyed))
		return;
	/* Wire buffers and translations are the QP owner's memory. */
	old_memcg = set_active_memcg(qp->ctx->memcg);
	do {
		progress = odp_qp_process_rx(qp);
		while (odp_qp_state(qp) == ODP_QPS_RTS &&
		       odp_requester_step(qp))
			progress = true;
	} while (progress);
	odp_qp_return_credits(qp);

	odp_qp_check_disconnected(qp);
	if (odp_qp_state(qp) == ODP_QPS_ERROR)
		odp_qp_flush(qp);
	set_active_memcg(old_memcg);
}

/* Complete every WR left with WR_FLUSH_ERR, in order. */
static void odp_qp_flush(struct odp_qp *qp)
{
	struct odp_swqe *swqe;
	struct odp_rwqe *rwqe;

	for (;;) {
		spin_lock_bh(&qp->wq_lock);
		swqe = list_first_entry_or_null(&qp->sq_sent, struct odp_swqe,
						node);
		if (!swqe)
			swqe = list_first_entry_or_null(&qp->sq,
							struct odp_swqe, node);
		if (swqe)
			list_del(&swqe->node);
		spin_unlock_bh(&qp->wq_lock);
		if (!swqe)
			break;
		odp_qp_complete_send(qp, swqe, ODP_ABI_WC_WR_FLUSH_ERR);
	}
	for (;;) {
		spin_lock_bh(&qp->wq_lock);
		rwqe = list_first_entry_or_null(&qp->rq, struct odp_rwqe, node);
		if (rwqe)
			list_del(&rwqe->node);
		spin_unlock_bh(&qp->wq_lock);
		if (!rwqe)
			break;
		odp_qp_complete_recv(qp, rwqe, ODP_ABI_WC_WR_FLUSH_ERR,
				     ODP_ABI_WC_RECV, 0, false);
	}
}

/*
 * Check the first @len bytes of an SGE list as a whole before any byte
 * moves: every SGE that holds some of them names an MR of the QP's PD that
 * contains that part and grants local write if @write.
 * Return: 0, -EINVAL (bad lkey, PD or bounds) or -EACCES.
 */
int odp_sge_check(struct odp_qp *qp, const struct odp_abi_sge *sge,
		  u32 num_sge, u32 len, bool write)
{
	u32 access = write ? ODP_ABI_ACCESS_LOCAL_WRITE : 0;
	u32 i;

	for (i = 0; i < num_sge && len; i++) {
		u32 n = min(len, sge[i].length);
		struct odp_mr *mr;
		int ret;

		if (!n)
			continue;
		mr = odp_mr_lookup(qp->ctx, sge[i].lkey, qp->pd, access,
				   sge[i].addr, n, &ret);
		if (!mr)
			return ret;
		odp_mr_put(mr);
		len -= n;
	}
	return len ? -EINVAL : 0;
}

/*
 * Copy @len bytes between @buf and the SGE list from byte @offset on,
 * through each SGE's MR (on the QP's PD), faulting as needed.
 * Return: 0, -EINVAL (bad lkey or bounds), -EACCES, or a fault error.
 */
int odp_sge_copy(struct odp_qp *qp, const struct odp_abi_sge *sge,
		 u32 num_sge, u32 offset, void *buf, u32 len, bool write)
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
		mr = odp_mr_lookup(qp->ctx, sge[i].lkey, qp->pd, access,
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

/* The completion status of a local SGE that odp_sge_copy() failed on. */
u32 odp_sge_error_status(int err)
{
	return err == -EINVAL || err == -EACCES ? ODP_ABI_WC_LOC_PROT_ERR :
						  ODP_ABI_WC_LOC_ACCESS_ERR;
}
