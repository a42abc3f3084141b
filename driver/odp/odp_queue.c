// SPDX-License-Identifier: GPL-2.0
/*
 * odp: a QP's state and queues.  Everything odp_qp.wq_lock protects is
 * read and changed here, through small named accessors, and nowhere else:
 * the posting ioctls produce WRs, the work item (odp_qp_work.c) consumes
 * them, the kernel QP's completion callbacks (softirq) queue received
 * messages and the rdma_cm handlers move the state.  No accessor sleeps;
 * each takes wq_lock with _bh, as the callbacks run in softirq.
 */
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "odp_transport.h"

void odp_qp_queues_init(struct odp_qp *qp)
{
	spin_lock_init(&qp->wq_lock);
	qp->state = ODP_QPS_RESET;
	INIT_LIST_HEAD(&qp->sq);
	INIT_LIST_HEAD(&qp->sq_sent);
	INIT_LIST_HEAD(&qp->rq);
	INIT_LIST_HEAD(&qp->rx_req);
	INIT_LIST_HEAD(&qp->rx_resp);
}

/* When the QP is freed: nothing else can reach it. */
void odp_qp_queues_free(struct odp_qp *qp)
{
	struct odp_swqe *swqe, *stmp;
	struct odp_rwqe *rwqe, *rtmp;

	list_splice_init(&qp->sq_sent, &qp->sq);
	list_for_each_entry_safe(swqe, stmp, &qp->sq, node)
		kfree(swqe);
	list_for_each_entry_safe(rwqe, rtmp, &qp->rq, node)
		kfree(rwqe);
}

/* State */

enum odp_qp_state odp_qp_state(struct odp_qp *qp)
{
	enum odp_qp_state state;

	spin_lock_bh(&qp->wq_lock);
	state = qp->state;
	spin_unlock_bh(&qp->wq_lock);
	return state;
}

/*
 * Run the QP's work: new WRs, received messages, or an error to flush.
 * Queued under wq_lock, after checking destroyed under it, so that once
 * odp_qp_mark_destroyed() returned nobody queues the work again and
 * destroy's cancel_work_sync() is final, whatever references others hold.
 */
void odp_qp_kick(struct odp_qp *qp)
{
	spin_lock_bh(&qp->wq_lock);
	if (!qp->destroyed)
		queue_work(system_unbound_wq, &qp->work);
	spin_unlock_bh(&qp->wq_lock);
}

/* Destroy: no more work is queued after this returns. */
void odp_qp_mark_destroyed(struct odp_qp *qp)
{
	spin_lock_bh(&qp->wq_lock);
	qp->destroyed = true;
	spin_unlock_bh(&qp->wq_lock);
}

/*
 * Move to the error state, for @cause (@detail: a status, errno or event
 * that says more, or 0); the work item flushes the queues.
 */
void odp_qp_set_error(struct odp_qp *qp, enum odp_qp_error_cause cause,
		      int detail)
{
	spin_lock_bh(&qp->wq_lock);
	if (qp->state != ODP_QPS_ERROR) {
		qp->state = ODP_QPS_ERROR;
		qp->error_cause = cause;
		qp->error_detail = detail;
	}
	spin_unlock_bh(&qp->wq_lock);
	odp_qp_kick(qp);
}

/* Move a RESET QP on @dev to CONNECTING. */
int odp_qp_start_connecting(struct odp_qp *qp, struct odp_device *dev)
{
	int ret = 0;

	spin_lock_bh(&qp->wq_lock);
	if (qp->state != ODP_QPS_RESET || qp->dev != dev)
		ret = -EINVAL;
	else
		qp->state = ODP_QPS_CONNECTING;
	spin_unlock_bh(&qp->wq_lock);
	return ret;
}

/* The connection is established: a CONNECTING QP is ready to send. */
void odp_qp_established(struct odp_qp *qp)
{
	spin_lock_bh(&qp->wq_lock);
	if (qp->state == ODP_QPS_CONNECTING)
		qp->state = ODP_QPS_RTS;
	spin_unlock_bh(&qp->wq_lock);
}

/* The peer left; the work item errors the QP after what arrived before. */
void odp_qp_set_disconnected(struct odp_qp *qp)
{
	spin_lock_bh(&qp->wq_lock);
	qp->disconnected = true;
	spin_unlock_bh(&qp->wq_lock);
}

/* Whether the peer left a QP that is still ready to send. */
bool odp_qp_peer_gone(struct odp_qp *qp)
{
	bool gone;

	spin_lock_bh(&qp->wq_lock);
	gone = qp->disconnected && qp->state == ODP_QPS_RTS;
	spin_unlock_bh(&qp->wq_lock);
	return gone;
}

/*
 * The first outcome of a connect or accept is the one that counts; the
 * waiter reads conn_status after the completion, when it no longer changes.
 */
void odp_qp_conn_done(struct odp_qp *qp, int status)
{
	spin_lock_bh(&qp->wq_lock);
	if (!qp->conn_settled) {
		qp->conn_settled = true;
		qp->conn_status = status;
	}
	spin_unlock_bh(&qp->wq_lock);
	complete_all(&qp->connected);
}

/* Detach: the QP is on no device any more (odp_qp_start_connecting()). */
void odp_qp_clear_dev(struct odp_qp *qp)
{
	spin_lock_bh(&qp->wq_lock);
	qp->dev = NULL;
	spin_unlock_bh(&qp->wq_lock);
}

/* Send queue */

/* Queue a new send WR at the tail. */
int odp_sq_post(struct odp_qp *qp, struct odp_swqe *wqe)
{
	int ret = 0;

	spin_lock_bh(&qp->wq_lock);
	if (qp->state == ODP_QPS_RESET || qp->state == ODP_QPS_CONNECTING) {
		ret = -EINVAL;
	} else if (qp->sq_count >= qp->max_send_wr) {
		ret = -ENOMEM;
	} else {
		list_add_tail(&wqe->node, &qp->sq);
		qp->sq_count++;
	}
	spin_unlock_bh(&qp->wq_lock);
	return ret;
}

/* The next WR to send, or NULL.  It stays queued. */
struct odp_swqe *odp_sq_head(struct odp_qp *qp)
{
	struct odp_swqe *wqe;

	spin_lock_bh(&qp->wq_lock);
	wqe = list_first_entry_or_null(&qp->sq, struct odp_swqe, node);
	spin_unlock_bh(&qp->wq_lock);
	return wqe;
}

/* The head WR is fully sent: it now waits for its answer. */
void odp_sq_mark_sent(struct odp_qp *qp, struct odp_swqe *wqe)
{
	spin_lock_bh(&qp->wq_lock);
	list_move_tail(&wqe->node, &qp->sq_sent);
	spin_unlock_bh(&qp->wq_lock);
}

/* Whether every WR sent so far has been answered. */
bool odp_sq_all_answered(struct odp_qp *qp)
{
	bool answered;

	spin_lock_bh(&qp->wq_lock);
	answered = list_empty(&qp->sq_sent);
	spin_unlock_bh(&qp->wq_lock);
	return answered;
}

/*
 * The WR a response answers: the oldest one not answered yet.  That is the
 * head of sq_sent; if none is fully sent, an error answer may also be for
 * the WR being sent, whose first messages the peer rejected.
 */
struct odp_swqe *odp_sq_answered_wr(struct odp_qp *qp, bool error)
{
	struct odp_swqe *wqe;

	spin_lock_bh(&qp->wq_lock);
	wqe = list_first_entry_or_null(&qp->sq_sent, struct odp_swqe, node);
	if (!wqe && error) {
		wqe = list_first_entry_or_null(&qp->sq, struct odp_swqe, node);
		if (wqe && !wqe->done)
			wqe = NULL;
	}
	spin_unlock_bh(&qp->wq_lock);
	return wqe;
}

/* Take @wqe (the head of sq or sq_sent) off its queue, to complete it. */
void odp_sq_remove(struct odp_qp *qp, struct odp_swqe *wqe)
{
	spin_lock_bh(&qp->wq_lock);
	list_del(&wqe->node);
	spin_unlock_bh(&qp->wq_lock);
}

/* Flushing: the oldest WR left (sent ones first), off its queue, or NULL. */
struct odp_swqe *odp_sq_pop(struct odp_qp *qp)
{
	struct odp_swqe *wqe;

	spin_lock_bh(&qp->wq_lock);
	wqe = list_first_entry_or_null(&qp->sq_sent, struct odp_swqe, node);
	if (!wqe)
		wqe = list_first_entry_or_null(&qp->sq, struct odp_swqe, node);
	if (wqe)
		list_del(&wqe->node);
	spin_unlock_bh(&qp->wq_lock);
	return wqe;
}

/* A send WR off the queues is completing: its slot is free for a post. */
void odp_sq_slot_free(struct odp_qp *qp)
{
	spin_lock_bh(&qp->wq_lock);
	qp->sq_count--;
	spin_unlock_bh(&qp->wq_lock);
}

/* Receive queue */

/* Queue a receive WR, in any state: a QP in error flushes it. */
int odp_rq_post(struct odp_qp *qp, struct odp_rwqe *wqe)
{
	int ret = 0;

	spin_lock_bh(&qp->wq_lock);
	if (qp->rq_count >= qp->max_recv_wr) {
		ret = -ENOMEM;
	} else {
		list_add_tail(&wqe->node, &qp->rq);
		qp->rq_count++;
	}
	spin_unlock_bh(&qp->wq_lock);
	return ret;
}

/* The receive WR the next SEND lands in, or NULL.  It stays queued. */
struct odp_rwqe *odp_rq_head(struct odp_qp *qp)
{
	struct odp_rwqe *wqe;

	spin_lock_bh(&qp->wq_lock);
	wqe = list_first_entry_or_null(&qp->rq, struct odp_rwqe, node);
	spin_unlock_bh(&qp->wq_lock);
	return wqe;
}

/* Take the head receive WR off the queue, to complete it. */
void odp_rq_remove(struct odp_qp *qp, struct odp_rwqe *wqe)
{
	spin_lock_bh(&qp->wq_lock);
	list_del(&wqe->node);
	spin_unlock_bh(&qp->wq_lock);
}

/* Flushing: the oldest receive WR, off the queue, or NULL. */
struct odp_rwqe *odp_rq_pop(struct odp_qp *qp)
{
	struct odp_rwqe *wqe;

	spin_lock_bh(&qp->wq_lock);
	wqe = list_first_entry_or_null(&qp->rq, struct odp_rwqe, node);
	if (wqe)
		list_del(&wqe->node);
	spin_unlock_bh(&qp->wq_lock);
	return wqe;
}

/* A receive WR off the queue is completing: its slot is free for a post. */
void odp_rq_slot_free(struct odp_qp *qp)
{
	spin_lock_bh(&qp->wq_lock);
	qp->rq_count--;
	spin_unlock_bh(&qp->wq_lock);
}

/* Received messages */

/*
 * Take the peer's count of our requests it is done with, in arrival order
 * (later processing is not: responses overtake stalled requests).  It can
 * only grow, and not past what we sent.  Caller holds wq_lock.
 */
static bool odp_rx_take_credits(struct odp_qp *qp, struct odp_wire_buf *rx)
{
	u32 consumed;

	if (rx->len < sizeof(struct odp_wire_hdr))
		return true;	/* the work item's header check fails it */
	consumed = be32_to_cpu(odp_wire_hdr(rx)->consumed);
	if (consumed - qp->peer_consumed > qp->req_sent - qp->peer_consumed)
		return false;
	qp->peer_consumed = consumed;
	return true;
}

/* A request of the peer (anything too short to tell is checked later). */
static bool odp_rx_is_request(struct odp_wire_buf *rx)
{
	return rx->len >= sizeof(struct odp_wire_hdr) &&
	       !odp_wire_op_is_response(odp_wire_hdr(rx)->op);
}

/*
 * A message arrived (CQ callback, softirq): queue it for the work item, the
 * peer's requests and the responses to ours apart.  The peer may send as
 * soon as it is connected, before we know.  Returns false if the peer broke
 * the credit rules (the caller errors the QP).
 */
bool odp_rx_enqueue(struct odp_qp *qp, struct odp_wire_buf *rx)
{
	bool ok = true;

	spin_lock_bh(&qp->wq_lock);
	if (qp->state == ODP_QPS_RTS || qp->state == ODP_QPS_CONNECTING) {
		ok = odp_rx_take_credits(qp, rx);
		if (odp_rx_is_request(rx)) {
			list_add_tail(&rx->node, &qp->rx_req);
			/* More requests than credits allow. */
			if (++qp->rx_req_count > ODP_WIRE_REQ_CREDITS + 1)
				ok = false;
		} else {
			list_add_tail(&rx->node, &qp->rx_resp);
		}
	}
	spin_unlock_bh(&qp->wq_lock);
	return ok;
}

/* The oldest received request, or NULL.  It stays queued. */
struct odp_wire_buf *odp_rx_req_head(struct odp_qp *qp)
{
	struct odp_wire_buf *rx;

	spin_lock_bh(&qp->wq_lock);
	rx = list_first_entry_or_null(&qp->rx_req, struct odp_wire_buf, node);
	spin_unlock_bh(&qp->wq_lock);
	return rx;
}

/* The oldest received response, or NULL.  It stays queued. */
struct odp_wire_buf *odp_rx_resp_head(struct odp_qp *qp)
{
	struct odp_wire_buf *rx;

	spin_lock_bh(&qp->wq_lock);
	rx = list_first_entry_or_null(&qp->rx_resp, struct odp_wire_buf, node);
	spin_unlock_bh(&qp->wq_lock);
	return rx;
}

/* Done with the head message @rx: off its queue. */
void odp_rx_dequeue(struct odp_qp *qp, struct odp_wire_buf *rx, bool request)
{
	spin_lock_bh(&qp->wq_lock);
	list_del(&rx->node);
	if (request)
		qp->rx_req_count--;
	spin_unlock_bh(&qp->wq_lock);
}

/* Teardown, the kernel QP drained: the buffers are about to be freed. */
void odp_rx_forget(struct odp_qp *qp)
{
	spin_lock_bh(&qp->wq_lock);
	INIT_LIST_HEAD(&qp->rx_req);
	INIT_LIST_HEAD(&qp->rx_resp);
	qp->rx_req_count = 0;
	spin_unlock_bh(&qp->wq_lock);
}

/* Request credits (see odp_qp_work.c) */

/* Whether one more request message may go out. */
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

/* For debugfs (odp_qp_debugfs.c): the counts at one instant. */
void odp_qp_queue_view(struct odp_qp *qp, struct odp_qp_queue_view *view)
{
	spin_lock_bh(&qp->wq_lock);
	view->state = qp->state;
	view->sq_count = qp->sq_count;
	view->rq_count = qp->rq_count;
	view->rx_req = qp->rx_req_count;
	view->rx_resp = list_count_nodes(&qp->rx_resp);
	view->req_sent = qp->req_sent;
	view->peer_consumed = qp->peer_consumed;
	view->disconnected = qp->disconnected;
	view->error_cause = qp->error_cause;
	view->error_detail = qp->error_detail;
	spin_unlock_bh(&qp->wq_lock);
}
