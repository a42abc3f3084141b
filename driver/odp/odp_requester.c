// SPDX-License-Identifier: GPL-2.0
/*
 * odp: the requester.  Sends the user's send WRs as messages, segment by
 * segment, gathering local data through the MRs' translation caches, and
 * completes them when the peer's responses arrive.
 */
#include "odp_transport.h"

static const u8 odp_wire_op_of_wr[] = {
	[ODP_ABI_WR_RDMA_WRITE]			= ODP_WIRE_WRITE,
	[ODP_ABI_WR_RDMA_WRITE_WITH_IMM]	= ODP_WIRE_WRITE_IMM,
	[ODP_ABI_WR_SEND]			= ODP_WIRE_SEND,
	[ODP_ABI_WR_SEND_WITH_IMM]		= ODP_WIRE_SEND_IMM,
	[ODP_ABI_WR_RDMA_READ]			= ODP_WIRE_READ_REQ,
	[ODP_ABI_WR_ATOMIC_CMP_AND_SWP]		= ODP_WIRE_CMP_SWAP,
	[ODP_ABI_WR_ATOMIC_FETCH_AND_ADD]	= ODP_WIRE_FETCH_ADD,
};

static bool odp_wr_carries_data(u32 opcode)
{
	return opcode == ODP_ABI_WR_RDMA_WRITE ||
	       opcode == ODP_ABI_WR_RDMA_WRITE_WITH_IMM ||
	       opcode == ODP_ABI_WR_SEND ||
	       opcode == ODP_ABI_WR_SEND_WITH_IMM;
}

/* Fail the WR at the head of @list and take the QP to the error state. */
static void odp_requester_fail(struct odp_qp *qp, struct odp_swqe *wqe,
			       u32 status)
{
	odp_sq_remove(qp, wqe);
	odp_qp_complete_send(qp, wqe, status);
	odp_qp_set_error(qp, ODP_QP_ERR_WR, status);
}

/*
 * Fill the next message of @wqe into @tx.  For data-carrying WRs that is the
 * next segment of the payload.  Returns true if it was the last one.
 */
static int odp_requester_fill(struct odp_qp *qp, struct odp_swqe *wqe,
			      struct odp_wire_buf *tx, bool *last)
{
	struct odp_wire_hdr *hdr = odp_wire_hdr(tx);
	u32 seg = 0;
	int ret;

	hdr->op = odp_wire_op_of_wr[wqe->opcode];
	hdr->imm = (__force __be32)wqe->imm;
	hdr->rkey = cpu_to_be32(wqe->rkey);
	hdr->addr = cpu_to_be64(wqe->remote_addr + wqe->done);
	hdr->total = cpu_to_be32(wqe->length);
	hdr->compare_add = cpu_to_be64(wqe->compare_add);
	hdr->swap = cpu_to_be64(wqe->swap);

	if (odp_wr_carries_data(wqe->opcode)) {
		seg = min_t(u32, wqe->length - wqe->done, ODP_WIRE_MAX_PAYLOAD);
		ret = odp_sge_copy(qp->ctx, qp->pd, wqe->sge, wqe->num_sge,
				   wqe->done, odp_wire_payload(tx), seg, false);
		if (ret)
			return ret;
		hdr->length = cpu_to_be32(seg);
		hdr->flags = (wqe->done ? 0 : ODP_WIRE_FIRST) |
			     (wqe->done + seg == wqe->length ? ODP_WIRE_LAST : 0);
		wqe->done += seg;
	} else {
		/* READ_REQ and atomics: one message, no payload. */
		hdr->flags = ODP_WIRE_FIRST | ODP_WIRE_LAST;
	}
	*last = hdr->flags & ODP_WIRE_LAST;
	return 0;
}

/*
 * A WR at the head of the send queue failed locally.  Completions come in
 * post order, so it completes with its error only once every WR sent before
 * it is answered; until then it stays at the head and sending stops (the
 * last answer runs the work again, and the WR is tried once more).
 */
static void odp_requester_local_error(struct odp_qp *qp, struct odp_swqe *wqe,
				      u32 status)
{
	if (odp_sq_all_answered(qp))
		odp_requester_fail(qp, wqe, status);
}

/*
 * Before the first byte of a WR moves, its whole local side must be valid:
 * a WR rejected for a bad lkey, PD, bounds or rights sends nothing.
 */
static int odp_requester_check(struct odp_qp *qp, struct odp_swqe *wqe)
{
	bool write = !odp_wr_carries_data(wqe->opcode);

	int ret;

	if (wqe->checked)
		return 0;
	ret = odp_sge_check(qp->ctx, qp->pd, wqe->sge, wqe->num_sge,
			    wqe->length, write);
	wqe->checked = !ret;
	return ret;
}

/* Send the next message of the WR at the head of the send queue. */
bool odp_requester_step(struct odp_qp *qp)
{
	struct odp_wire_buf *tx;
	struct odp_swqe *wqe;
	bool last;
	int ret;

	wqe = odp_sq_head(qp);
	if (!wqe)
		return false;
	ret = odp_requester_check(qp, wqe);
	if (ret) {
		/* Fails it once every WR before it is answered. */
		odp_requester_local_error(qp, wqe, ODP_ABI_WC_LOC_PROT_ERR);
		return false;
	}
	/* Wait for the peer to consume requests, or for a send slot. */
	if (!odp_credits_left(qp) || !odp_tx_reserve(qp))
		return false;

	tx = odp_tx_alloc(qp);
	if (!tx) {
		odp_tx_unreserve(qp);
		odp_requester_local_error(qp, wqe, ODP_ABI_WC_GENERAL_ERR);
		return false;
	}
	ret = odp_requester_fill(qp, wqe, tx, &last);
	if (ret) {
		odp_tx_free(tx);
		odp_tx_unreserve(qp);
		odp_requester_local_error(qp, wqe, ODP_ABI_WC_LOC_PROT_ERR);
		return false;
	}
	if (last) {
		/* Before posting: the response may come back at once. */
		odp_sq_mark_sent(qp, wqe);
	}
	odp_credit_take(qp);
	ret = odp_tx_post(qp, tx);
	if (ret) {
		odp_qp_set_error(qp, ODP_QP_ERR_WIRE_POST, ret);
		return false;
	}
	return true;
}

/* The statuses a responder answers with; anything else is a broken peer. */
static bool odp_remote_status_valid(u8 status)
{
	return status == ODP_ABI_WC_REM_ACCESS_ERR ||
	       status == ODP_ABI_WC_REM_INV_REQ_ERR ||
	       status == ODP_ABI_WC_REM_OP_ERR;
}

static void odp_requester_done(struct odp_qp *qp, struct odp_swqe *wqe)
{
	odp_sq_remove(qp, wqe);
	odp_qp_complete_send(qp, wqe, ODP_ABI_WC_SUCCESS);
}

/* Scatter READ data, or the old value of an atomic, into the local SGEs. */
static int odp_requester_scatter(struct odp_qp *qp, struct odp_swqe *wqe,
				 struct odp_wire_buf *rx)
{
	struct odp_wire_hdr *hdr = odp_wire_hdr(rx);
	u32 len = be32_to_cpu(hdr->length);
	u64 old;

	if (hdr->op == ODP_WIRE_ATOMIC_RESP) {
		old = be64_to_cpu(hdr->compare_add);
		return odp_sge_copy(qp->ctx, qp->pd, wqe->sge, wqe->num_sge, 0,
				    &old, sizeof(old), true);
	}
	if (len > wqe->length - wqe->done)
		return -EPROTO;
	return odp_sge_copy(qp->ctx, qp->pd, wqe->sge, wqe->num_sge,
			    wqe->done, odp_wire_payload(rx), len, true);
}

static bool odp_response_matches(u8 op, u32 opcode)
{
	if (op == ODP_WIRE_ACK)
		return odp_wr_carries_data(opcode);
	if (op == ODP_WIRE_READ_RESP)
		return opcode == ODP_ABI_WR_RDMA_READ;
	return opcode == ODP_ABI_WR_ATOMIC_CMP_AND_SWP ||
	       opcode == ODP_ABI_WR_ATOMIC_FETCH_AND_ADD;
}

/* A response: it answers the oldest WR sent and not completed. */
enum odp_rx_result odp_requester_response(struct odp_qp *qp,
					  struct odp_wire_buf *rx)
{
	struct odp_wire_hdr *hdr = odp_wire_hdr(rx);
	bool error = hdr->status != ODP_ABI_WC_SUCCESS;
	struct odp_swqe *wqe = odp_sq_answered_wr(qp, error);
	int ret;

	if (!wqe) {
		/* An answer to nothing we sent. */
		odp_qp_set_error(qp, ODP_QP_ERR_BAD_MSG, hdr->op);
		return ODP_RX_ERROR;
	}
	if (error) {
		odp_requester_fail(qp, wqe, odp_remote_status_valid(hdr->status) ?
				   hdr->status : ODP_ABI_WC_BAD_RESP_ERR);
		return ODP_RX_ERROR;
	}

	if (!odp_response_matches(hdr->op, wqe->opcode)) {
		odp_requester_fail(qp, wqe, ODP_ABI_WC_BAD_RESP_ERR);
		return ODP_RX_ERROR;
	}
	if (hdr->op != ODP_WIRE_ACK) {
		ret = odp_requester_scatter(qp, wqe, rx);
		if (ret) {
			odp_requester_fail(qp, wqe, ret == -EPROTO ?
					   ODP_ABI_WC_BAD_RESP_ERR :
					   ODP_ABI_WC_LOC_PROT_ERR);
			return ODP_RX_ERROR;
		}
		if (hdr->op == ODP_WIRE_READ_RESP) {
			wqe->done += be32_to_cpu(hdr->length);
			if (!(hdr->flags & ODP_WIRE_LAST))
				return ODP_RX_DONE;
			if (wqe->done != wqe->length) {
				odp_requester_fail(qp, wqe,
						   ODP_ABI_WC_BAD_RESP_ERR);
				return ODP_RX_ERROR;
			}
		}
	}
	odp_requester_done(qp, wqe);
	return ODP_RX_DONE;
}
