// SPDX-License-Identifier: GPL-2.0
/*
 * odp: the QP's work item, which moves the user's work requests.  Requests
 * go out through odp_requester.c, incoming requests are executed by
 * odp_responder.c, and responses complete the requests they answer; a QP in
 * error has its WRs flushed here.
 *
 * The work item is the only code that takes entries off the QP's queues or
 * touches the payload of received messages, so per QP everything happens
 * in order without further locking.  It runs in process context because
 * executing a message may fault pages in.
 */
#include <linux/memcontrol.h>
#include <linux/sched/mm.h>

#include "odp_transport.h"

/* Done with @rx: off its queue, and the buffer back to the kernel QP. */
static void odp_rx_recycle(struct odp_qp *qp, struct odp_wire_buf *rx,
			   bool request)
{
	int ret;

	odp_rx_dequeue(qp, rx, request);
	ret = odp_rx_post(qp, rx);
	if (ret)
		odp_qp_set_error(qp, ODP_QP_ERR_WIRE_POST, ret);
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
		odp_qp_set_error(qp, ODP_QP_ERR_BAD_MSG, op);
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
	       (rx = odp_rx_resp_head(qp))) {
		if (odp_rx_one(qp, rx) != ODP_RX_DONE)
			return progress;
		odp_rx_recycle(qp, rx, false);
		progress = true;
	}
	while (odp_qp_state(qp) == ODP_QPS_RTS &&
	       (rx = odp_rx_req_head(qp))) {
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
 *
 * But only once ODP_WIRE_CREDIT_BATCH consumed requests are unadvertised:
 * a CREDIT costs the peer a receive buffer like any message, and one per
 * run of the work item (a multi-message WRITE consumed message by message)
 * filled the peer's buffers faster than its work item freed them.  No
 * requester waits on fewer: one that has all ODP_WIRE_REQ_CREDITS out
 * while fewer than the batch are consumed here has more than the batch
 * still to be consumed here, and consuming them crosses the mark.
 */
#define ODP_WIRE_CREDIT_BATCH	(ODP_WIRE_REQ_CREDITS / 2)

static void odp_qp_return_credits(struct odp_qp *qp)
{
	struct odp_wire_buf *tx;
	int ret;

	if (qp->req_consumed - qp->req_advertised < ODP_WIRE_CREDIT_BATCH ||
	    odp_qp_state(qp) != ODP_QPS_RTS || !odp_tx_reserve(qp))
		return;
	tx = odp_tx_alloc(qp);
	if (!tx) {
		odp_tx_unreserve(qp);
		odp_qp_set_error(qp, ODP_QP_ERR_NOMEM, 0);
		return;
	}
	odp_wire_hdr(tx)->op = ODP_WIRE_CREDIT;
	qp->credit_msgs++;
	ret = odp_tx_post(qp, tx);
	if (ret)
		odp_qp_set_error(qp, ODP_QP_ERR_WIRE_POST, ret);
}

/* Complete every WR left with WR_FLUSH_ERR, in order. */
static void odp_qp_flush(struct odp_qp *qp)
{
	struct odp_swqe *swqe;
	struct odp_rwqe *rwqe;

	while ((swqe = odp_sq_pop(qp)))
		odp_qp_complete_send(qp, swqe, ODP_ABI_WC_WR_FLUSH_ERR);
	while ((rwqe = odp_rq_pop(qp)))
		odp_qp_complete_recv(qp, rwqe, ODP_ABI_WC_WR_FLUSH_ERR,
				     ODP_ABI_WC_RECV, 0, false);
}

void odp_qp_work(struct work_struct *work)
{
	struct odp_qp *qp = container_of(work, struct odp_qp, work);
	struct mem_cgroup *old_memcg;
	bool progress;

	if (READ_ONCE(qp->destroyed))
		return;
	WRITE_ONCE(qp->work_ran, jiffies);
	/* Wire buffers and translations are the QP owner's memory. */
	old_memcg = set_active_memcg(qp->ctx->memcg);
	do {
		progress = odp_qp_process_rx(qp);
		while (odp_qp_state(qp) == ODP_QPS_RTS &&
		       odp_requester_step(qp))
			progress = true;
	} while (progress);
	odp_qp_return_credits(qp);

	/*
	 * The peer disconnected: what it sent before (the answer to our last
	 * request, typically) was handled above, now the QP goes to error.
	 */
	if (odp_qp_peer_gone(qp))
		odp_qp_set_error(qp, ODP_QP_ERR_PEER_GONE, 0);
	if (odp_qp_state(qp) == ODP_QPS_ERROR)
		odp_qp_flush(qp);
	set_active_memcg(old_memcg);
}
