// SPDX-License-Identifier: GPL-2.0
/*
 * odp: the responder.  Executes the peer's requests on this side's ODP
 * MRs, checking the rkey, the access rights granted at registration and
 * the bounds, as a NIC's responder does, and faulting pages in through the
 * MRs' translation caches.  Every request that ends a WR is answered; an
 * error answers with its status and takes this QP to the error state.
 */
#include "odp_transport.h"

static void odp_rq_complete(struct odp_qp *qp, struct odp_rwqe *wqe,
			    u32 status, u32 opcode, __be32 imm, bool with_imm)
{
	odp_rq_remove(qp, wqe);
	odp_qp_complete_recv(qp, wqe, status, opcode, (__force u32)imm,
			     with_imm);
}

/*
 * Post the answer for a send slot the caller reserved.  The request is done
 * with (it counts as consumed in the answer itself).  A non-success status
 * takes the QP to the error state after the answer is posted.
 */
static enum odp_rx_result odp_responder_answer(struct odp_qp *qp, u8 op,
					       u8 status, u64 old)
{
	struct odp_wire_buf *tx = odp_tx_alloc(qp);
	struct odp_wire_hdr *hdr;
	int ret;

	qp->resp_wr.active = false;
	if (!tx) {
		odp_tx_unreserve(qp);
		odp_qp_set_error(qp, ODP_QP_ERR_NOMEM, 0);
		return ODP_RX_ERROR;
	}
	qp->req_consumed++;
	hdr = odp_wire_hdr(tx);
	hdr->op = status ? ODP_WIRE_ACK : op;
	hdr->status = status;
	hdr->flags = ODP_WIRE_FIRST | ODP_WIRE_LAST;
	hdr->compare_add = cpu_to_be64(old);
	ret = odp_tx_post(qp, tx);
	if (ret || status) {
		odp_qp_set_error(qp, ret ? ODP_QP_ERR_WIRE_POST : ODP_QP_ERR_WR,
				 ret ?: status);
		return ODP_RX_ERROR;
	}
	return ODP_RX_DONE;
}

static enum odp_rx_result odp_responder_ack(struct odp_qp *qp, u8 status)
{
	return odp_responder_answer(qp, ODP_WIRE_ACK, status, 0);
}

/*
 * The MR @rkey names, if it is on the QP's PD, grants @access and holds all
 * of [addr, addr + len): a NIC's responder checks the whole request before
 * it touches memory.  Zero-length requests check nothing, as in IB.
 */
static int odp_responder_check(struct odp_qp *qp, u32 rkey, u32 access,
			       u64 addr, u64 len)
{
	struct odp_mr *mr;
	int ret;

	if (!len)
		return 0;
	mr = odp_mr_lookup(qp->ctx, rkey, qp->pd, access, addr, len, &ret);
	if (!mr)
		return ret;
	odp_mr_put(mr);
	return 0;
}

/* Move @len bytes between @buf and this side's memory at @addr. */
static int odp_responder_copy(struct odp_qp *qp, u32 rkey, u32 access,
			      u64 addr, void *buf, u32 len)
{
	bool write = access == ODP_ABI_ACCESS_REMOTE_WRITE;
	struct odp_mr *mr;
	int ret;

	if (!len)
		return 0;
	/* Checked as a whole already; the MR may be gone since. */
	mr = odp_mr_lookup(qp->ctx, rkey, qp->pd, access, addr, len, &ret);
	if (!mr)
		return ret;
	ret = odp_umem_copy(mr->umem, addr, buf, len, write);
	odp_mr_put(mr);
	return ret;
}

/*
 * Where a message of a multi-message SEND or WRITE stands.  The first one
 * opens the request (and the caller checks it as a whole); every later one
 * must continue it exactly: same op and rkey, at the next address, within
 * the announced total, the last one completing it.  Returns false for a
 * message that breaks this (a broken or hostile peer).
 */
static bool odp_responder_track(struct odp_qp *qp,
				const struct odp_wire_hdr *hdr)
{
	struct odp_resp_wr *wr = &qp->resp_wr;
	u32 len = be32_to_cpu(hdr->length);
	bool first = hdr->flags & ODP_WIRE_FIRST;
	bool last = hdr->flags & ODP_WIRE_LAST;

	if (hdr->flags & ~(ODP_WIRE_FIRST | ODP_WIRE_LAST))
		return false;
	if (first) {
		if (wr->active)
			return false;
		wr->op = hdr->op;
		wr->rkey = be32_to_cpu(hdr->rkey);
		wr->addr = be64_to_cpu(hdr->addr);
		wr->total = be32_to_cpu(hdr->total);
		wr->left = wr->total;
	} else if (!wr->active || wr->op != hdr->op ||
		   wr->rkey != be32_to_cpu(hdr->rkey) ||
		   wr->addr != be64_to_cpu(hdr->addr)) {
		return false;
	}
	if (len > wr->left || (last && len != wr->left) ||
	    (!last && !len))
		return false;
	wr->active = true;
	return true;
}

/* The message was handled: on to the next part of the request. */
static void odp_responder_advance(struct odp_qp *qp, u32 len, bool last)
{
	qp->resp_wr.addr += len;
	qp->resp_wr.left -= len;
	if (last)
		qp->resp_wr.active = false;
}

static enum odp_rx_result odp_responder_write(struct odp_qp *qp,
					      struct odp_wire_buf *rx)
{
	struct odp_wire_hdr *hdr = odp_wire_hdr(rx);
	bool imm = hdr->op == ODP_WIRE_WRITE_IMM;
	bool last = hdr->flags & ODP_WIRE_LAST;
	u32 len = be32_to_cpu(hdr->length);
	struct odp_rwqe *rwqe = NULL;
	struct odp_resp_wr *wr = &qp->resp_wr;

	/* WRITE with immediate consumes a receive WR: wait for one. */
	if (last && imm) {
		rwqe = odp_rq_head(qp);
		if (!rwqe)
			return ODP_RX_STALL;
	}
	if (!odp_tx_reserve(qp))
		return ODP_RX_STALL;

	if (!odp_responder_track(qp, hdr))
		return odp_responder_ack(qp, ODP_ABI_WC_REM_INV_REQ_ERR);
	if ((hdr->flags & ODP_WIRE_FIRST) &&
	    odp_responder_check(qp, wr->rkey, ODP_ABI_ACCESS_REMOTE_WRITE,
				wr->addr, wr->total))
		return odp_responder_ack(qp, ODP_ABI_WC_REM_ACCESS_ERR);
	if (odp_responder_copy(qp, wr->rkey, ODP_ABI_ACCESS_REMOTE_WRITE,
			       wr->addr, odp_wire_payload(rx), len))
		return odp_responder_ack(qp, ODP_ABI_WC_REM_ACCESS_ERR);
	odp_responder_advance(qp, len, last);

	if (!last) {
		odp_tx_unreserve(qp);
		return ODP_RX_DONE;
	}
	/* Answer first: the user may destroy the QP once it sees the receive. */
	if (odp_responder_ack(qp, ODP_ABI_WC_SUCCESS) != ODP_RX_DONE)
		return ODP_RX_ERROR;
	if (rwqe) {
		rwqe->received = wr->total;
		odp_rq_complete(qp, rwqe, ODP_ABI_WC_SUCCESS,
				ODP_ABI_WC_RECV_RDMA_WITH_IMM, hdr->imm, true);
	}
	return ODP_RX_DONE;
}

/*
 * The first message of a SEND: the whole message must fit the receive WR
 * and its SGEs must be valid for all of it before a byte lands.
 */
static enum odp_rx_result odp_responder_send_first(struct odp_qp *qp,
						   struct odp_rwqe *rwqe)
{
	u32 total = qp->resp_wr.total;
	int ret;

	if (total > rwqe->length) {
		odp_rq_complete(qp, rwqe, ODP_ABI_WC_LOC_LEN_ERR,
				ODP_ABI_WC_RECV, 0, false);
		return odp_responder_ack(qp, ODP_ABI_WC_REM_INV_REQ_ERR);
	}
	ret = odp_sge_check(qp->ctx, qp->pd, rwqe->sge, rwqe->num_sge, total,
			    true);
	if (ret) {
		odp_rq_complete(qp, rwqe, ODP_ABI_WC_LOC_PROT_ERR,
				ODP_ABI_WC_RECV, 0, false);
		return odp_responder_ack(qp, ODP_ABI_WC_REM_OP_ERR);
	}
	return ODP_RX_DONE;
}

static enum odp_rx_result odp_responder_send(struct odp_qp *qp,
					     struct odp_wire_buf *rx)
{
	struct odp_wire_hdr *hdr = odp_wire_hdr(rx);
	u32 len = be32_to_cpu(hdr->length);
	bool last = hdr->flags & ODP_WIRE_LAST;
	struct odp_rwqe *rwqe;
	bool imm;
	int ret;

	rwqe = odp_rq_head(qp);
	if (!rwqe)
		return ODP_RX_STALL;	/* RNR: wait for a receive WR */
	if (!odp_tx_reserve(qp))
		return ODP_RX_STALL;

	if (!odp_responder_track(qp, hdr))
		return odp_responder_ack(qp, ODP_ABI_WC_REM_INV_REQ_ERR);
	if ((hdr->flags & ODP_WIRE_FIRST) &&
	    odp_responder_send_first(qp, rwqe) != ODP_RX_DONE)
		return ODP_RX_ERROR;
	ret = odp_sge_copy(qp->ctx, qp->pd, rwqe->sge, rwqe->num_sge,
			   rwqe->received, odp_wire_payload(rx), len, true);
	if (ret) {
		odp_rq_complete(qp, rwqe, ODP_ABI_WC_LOC_PROT_ERR,
				ODP_ABI_WC_RECV, 0, false);
		return odp_responder_ack(qp, ODP_ABI_WC_REM_OP_ERR);
	}
	rwqe->received += len;
	odp_responder_advance(qp, len, last);
	if (!last) {
		odp_tx_unreserve(qp);
		return ODP_RX_DONE;
	}
	/* Answer first: the user may destroy the QP once it sees the receive. */
	if (odp_responder_ack(qp, ODP_ABI_WC_SUCCESS) != ODP_RX_DONE)
		return ODP_RX_ERROR;
	imm = hdr->op == ODP_WIRE_SEND_IMM;
	odp_rq_complete(qp, rwqe, ODP_ABI_WC_SUCCESS, ODP_ABI_WC_RECV,
			imm ? hdr->imm : 0, imm);
	return ODP_RX_DONE;
}

/* READ and atomics are one message each, with no payload. */
static bool odp_responder_single(const struct odp_wire_hdr *hdr)
{
	if (hdr->flags != (ODP_WIRE_FIRST | ODP_WIRE_LAST) || hdr->length)
		return false;
	return hdr->op == ODP_WIRE_READ_REQ ||
	       be32_to_cpu(hdr->total) == sizeof(u64);
}

/*
 * Answer a READ with as many READ_RESP messages as it takes, after checking
 * the whole range.  Progress is kept in qp->read_resp_done, so a stall (no
 * send slot) resumes there.
 */
static enum odp_rx_result odp_responder_read(struct odp_qp *qp,
					     struct odp_wire_buf *rx)
{
	struct odp_wire_hdr *hdr = odp_wire_hdr(rx);
	u32 rkey = be32_to_cpu(hdr->rkey);
	u32 total = be32_to_cpu(hdr->total);
	u64 addr = be64_to_cpu(hdr->addr);

	if (!qp->read_resp_done) {
		if (!odp_tx_reserve(qp))
			return ODP_RX_STALL;
		if (!odp_responder_single(hdr) || qp->resp_wr.active)
			return odp_responder_ack(qp,
						 ODP_ABI_WC_REM_INV_REQ_ERR);
		if (odp_responder_check(qp, rkey, ODP_ABI_ACCESS_REMOTE_READ,
					addr, total))
			return odp_responder_ack(qp,
						 ODP_ABI_WC_REM_ACCESS_ERR);
		odp_tx_unreserve(qp);
	}

	do {
		u32 done = qp->read_resp_done;
		u32 n = min_t(u32, total - done, ODP_WIRE_MAX_PAYLOAD);
		struct odp_wire_hdr *resp;
		struct odp_wire_buf *tx;
		int ret;

		if (!odp_tx_reserve(qp))
			return ODP_RX_STALL;
		tx = odp_tx_alloc(qp);
		if (!tx) {
			odp_tx_unreserve(qp);
			odp_qp_set_error(qp, ODP_QP_ERR_NOMEM, 0);
			return ODP_RX_ERROR;
		}
		if (odp_responder_copy(qp, rkey, ODP_ABI_ACCESS_REMOTE_READ,
				       addr + done, odp_wire_payload(tx), n)) {
			odp_tx_free(tx);
			qp->read_resp_done = 0;
			return odp_responder_ack(qp, ODP_ABI_WC_REM_ACCESS_ERR);
		}
		resp = odp_wire_hdr(tx);
		resp->op = ODP_WIRE_READ_RESP;
		resp->length = cpu_to_be32(n);
		resp->flags = (done ? 0 : ODP_WIRE_FIRST) |
			      (done + n == total ? ODP_WIRE_LAST : 0);
		/* The last response is the READ's answer: consumed with it. */
		if (done + n == total)
			qp->req_consumed++;
		ret = odp_tx_post(qp, tx);
		if (ret) {
			odp_qp_set_error(qp, ODP_QP_ERR_WIRE_POST, ret);
			return ODP_RX_ERROR;
		}
		qp->read_resp_done = done + n;
	} while (qp->read_resp_done < total);

	qp->read_resp_done = 0;
	return ODP_RX_DONE;
}

static enum odp_rx_result odp_responder_atomic(struct odp_qp *qp,
					       struct odp_wire_buf *rx)
{
	struct odp_wire_hdr *hdr = odp_wire_hdr(rx);
	u32 rkey = be32_to_cpu(hdr->rkey);
	u64 addr = be64_to_cpu(hdr->addr);
	struct odp_mr *mr;
	u64 old;
	int ret;

	if (!odp_tx_reserve(qp))
		return ODP_RX_STALL;
	if (!odp_responder_single(hdr) || qp->resp_wr.active ||
	    addr % sizeof(u64))
		return odp_responder_ack(qp, ODP_ABI_WC_REM_INV_REQ_ERR);

	mr = odp_mr_lookup(qp->ctx, rkey, qp->pd, ODP_ABI_ACCESS_REMOTE_ATOMIC,
			   addr, sizeof(u64), &ret);
	if (!mr)
		return odp_responder_ack(qp, ODP_ABI_WC_REM_ACCESS_ERR);
	ret = odp_umem_atomic(mr->umem, addr,
			      hdr->op == ODP_WIRE_CMP_SWAP ? ODP_UMEM_CMP_SWAP :
							     ODP_UMEM_FETCH_ADD,
			      be64_to_cpu(hdr->compare_add),
			      be64_to_cpu(hdr->swap), &old);
	odp_mr_put(mr);
	if (ret)
		return odp_responder_ack(qp, ODP_ABI_WC_REM_ACCESS_ERR);
	return odp_responder_answer(qp, ODP_WIRE_ATOMIC_RESP,
				    ODP_ABI_WC_SUCCESS, old);
}

enum odp_rx_result odp_responder_request(struct odp_qp *qp,
					 struct odp_wire_buf *rx)
{
	switch (odp_wire_hdr(rx)->op) {
	case ODP_WIRE_SEND:
	case ODP_WIRE_SEND_IMM:
		return odp_responder_send(qp, rx);
	case ODP_WIRE_WRITE:
	case ODP_WIRE_WRITE_IMM:
		return odp_responder_write(qp, rx);
	case ODP_WIRE_READ_REQ:
		return odp_responder_read(qp, rx);
	case ODP_WIRE_CMP_SWAP:
	case ODP_WIRE_FETCH_ADD:
		return odp_responder_atomic(qp, rx);
	default:
		if (!odp_tx_reserve(qp))
			return ODP_RX_STALL;
		return odp_responder_ack(qp, ODP_ABI_WC_REM_INV_REQ_ERR);
	}
}
