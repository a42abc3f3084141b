// SPDX-License-Identifier: GPL-2.0
/*
 * odp: the wire under a QP.  The kernel RC QP and CQ on the QP's rdma_cm
 * id, its DMA-mapped message buffers, the send slots, and posting: a filled
 * message goes out with odp_tx_post(), received ones are queued for the
 * QP's work item (odp_qp_work.c), which gives each buffer back with
 * odp_rx_post() once handled.
 */
#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "odp_transport.h"

static struct ib_device *odp_qp_ibdev(struct odp_qp *qp)
{
	return qp->dev->ibdev;
}

/* Send slots: at most ODP_WIRE_TX_DEPTH messages on the kernel QP. */
bool odp_tx_reserve(struct odp_qp *qp)
{
	return atomic_add_unless(&qp->tx_outstanding, 1, ODP_WIRE_TX_DEPTH);
}

/*
 * A slot comes back (send completion, softirq, or a message not posted).
 * Only odp_tx_linger() waits, and only for the last slot: no wake-up
 * otherwise, and none when nobody sleeps.  The fully ordered
 * atomic_dec_return() and the barrier in wq_has_sleeper() pair with the
 * one set_current_state() makes in the waiter's prepare_to_wait_event(),
 * between queueing itself and reading the count: either the waiter reads 0
 * or we see it queued and wake it.
 */
void odp_tx_unreserve(struct odp_qp *qp)
{
	if (!atomic_dec_return(&qp->tx_outstanding) &&
	    wq_has_sleeper(&qp->tx_wq))
		wake_up_all(&qp->tx_wq);
}

/*
 * Before disconnecting, give the messages already posted (an answer the
 * peer is waiting for) the time to be acknowledged; a dead peer cannot make
 * this wait longer than ODP_TX_LINGER.
 */
#define ODP_TX_LINGER	(2 * HZ)

void odp_tx_linger(struct odp_qp *qp)
{
	wait_event_timeout(qp->tx_wq, !atomic_read(&qp->tx_outstanding),
			   ODP_TX_LINGER);
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
		odp_qp_set_error(qp, ODP_QP_ERR_WIRE_SEND, wc->status);
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

/* Give a receive buffer to the kernel QP. */
int odp_rx_post(struct odp_qp *qp, struct odp_wire_buf *rx)
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
	int ret;

	rx->cqe.done = odp_rx_done;
	ib_dma_sync_single_for_device(odp_qp_ibdev(qp), rx->dma,
				      ODP_WIRE_BUF_SIZE, DMA_FROM_DEVICE);
	/* Before the post: its completion may come first. */
	atomic_inc(&qp->rx_posted);
	ret = ib_post_recv(qp->cm_id->qp, &wr, NULL);
	if (ret)
		atomic_dec(&qp->rx_posted);
	return ret;
}

static void odp_rx_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct odp_wire_buf *rx = container_of(wc->wr_cqe, struct odp_wire_buf,
					       cqe);
	struct odp_qp *qp = rx->qp;

	atomic_dec(&qp->rx_posted);
	if (wc->status != IB_WC_SUCCESS) {
		if (wc->status != IB_WC_WR_FLUSH_ERR)
			odp_qp_set_error(qp, ODP_QP_ERR_WIRE_RECV, wc->status);
		return;
	}
	ib_dma_sync_single_for_cpu(cq->device, rx->dma, ODP_WIRE_BUF_SIZE,
				   DMA_FROM_DEVICE);
	rx->len = wc->byte_len;
	/* A broken or hostile peer. */
	if (!odp_rx_enqueue(qp, rx))
		odp_qp_set_error(qp, ODP_QP_ERR_BAD_MSG, 0);
	else
		odp_qp_kick(qp);
}

static void odp_qp_async_event(struct ib_event *event, void *context)
{
	struct odp_qp *qp = context;

	if (event->event == IB_EVENT_QP_FATAL ||
	    event->event == IB_EVENT_QP_REQ_ERR ||
	    event->event == IB_EVENT_QP_ACCESS_ERR)
		odp_qp_set_error(qp, ODP_QP_ERR_ASYNC, event->event);
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

	/*
	 * When every receive buffer is taken (the work item is behind), the
	 * kernel QP answers the peer's next message with an RNR NAK, and the
	 * peer waits this long before it sends again.  The CM's default, 0,
	 * means 655 ms: on 6.1's rxe, whose tasklets starve the work item,
	 * that turned a busy connection into a crawl of a few messages per
	 * second.  0.32 ms is a few of the work item's messages.
	 */
	ret = rdma_set_min_rnr_timer(qp->cm_id, IB_RNR_TIMER_000_32);
	if (ret)
		return ret;
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
	WRITE_ONCE(qp->wire_qpn, qp->cm_id->qp->qp_num);
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

	odp_rx_forget(qp);
	if (qp->ib_cq) {
		ib_free_cq(qp->ib_cq);
		qp->ib_cq = NULL;
	}
	if (ibdev)
		odp_rx_bufs_free(qp, ibdev);
}
