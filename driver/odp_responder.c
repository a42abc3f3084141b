// SPDX-License-Identifier: GPL-2.0
/*
 * odp: the responder.  Executes the peer's requests on this side's ODP
 * MRs, checking the rkey, the access rights granted at registration and
 * the bounds, as a NIC's responder does, and faulting pages in through the
 * MRs' translation caches.  Every request that ends a WR is answered; an
 * error answers with its status and takes this QP to the error state.
 */
#include "odp_transport.h"

static struct odp_rwqe *odp_rq_head(struct odp_qp *qp)
{
	struct odp_rwqe *wqe;

	spin_lock_bh(&qp->wq_lock);
	wqe = list_first_entry_or_null(&qp->rq, struct odp_rwqe, node);
	spin_unlock_bh(&qp->wq_lock);
	return wqe;
}

static void odp_rq_complete(struct odp_qp *qp, struct odp_rwqe *wqe,
			    u32 status, u32 opcode, __be32 imm, bool with_imm)
{
	spin_lock_bh(&qp->wq_lock);
	list_del(&wqe->node);
	spin_unlock_bh(&qp->wq_lock);
	odp_qp_complete_recv(qp, wqe, status, opcode, (__force u32)imm,
			     with_imm);
}

/*
 * Post the answer for a send slot the caller reserved.  A non-success
 * status takes the QP to the error state after the answer is posted.
 */
static enum odp_rx_result odp_responder_answer(struct odp_qp *qp, u8 op,
					       u8 status, u64 old)
{
	struct odp_wire_buf *tx = odp_tx_alloc(qp);
	struct odp_wire_hdr *hdr;

	if (!tx) {
		odp_tx_unreserve(qp);
		odp_qp_set_error(qp);
		return ODP_RX_ERROR;
	}
	hdr = odp_wire_hdr(tx);
	hdr->op = status ? ODP_WIRE_ACK : op;
	hdr->status = status;
	hdr->flags = ODP_WIRE_FIRST | ODP_WIRE_LAST;
	hdr->compare_add = cpu_to_be64(old);
	if (odp_tx_post(qp, tx) || status) {
		odp_qp_set_error(qp);
		return ODP_RX_ERROR;
	}
	return ODP_RX_DONE;
}

static enum odp_rx_result odp_responder_ack(struct odp_qp *qp, u8 status)
{
	return odp_responder_answer(qp, ODP_WIRE_ACK, status, 0);
}

/* The MR @hdr's rkey names, if it grants @access over [addr, addr+len). */
static struct odp_mr *odp_responder_mr(struct odp_qp *qp,
				       const struct odp_wire_hdr *hdr,
				       u32 access, u64 addr, u32 len)
{
	struct odp_mr *mr;

	mr = odp_mr_get_in_pd(qp->ctx, be32_to_cpu(hdr->rkey), qp->pd->handle);
	if (mr && (!(mr->access & access) || !odp_mr_contains(mr, addr, len))) {
		odp_mr_put(mr);
		mr = NULL;
	}
	return mr;
}

/* Move @len bytes between @buf and remote memory at @addr. */
static int odp_responder_copy(struct odp_qp *qp, const struct odp_wire_hdr *hdr,
			      u32 access, u64 addr, void *buf, u32 len)
{
	bool write = access == ODP_ABI_ACCESS_REMOTE_WRITE;
	struct odp_mr *mr;
	int ret;

	if (!len)
		return 0;	/* zero-length: no rkey check, as in IB */
	mr = odp_responder_mr(qp, hdr, access, addr, len);
	if (!mr)
		return -EACCES;
	ret = odp_mr_access_kernel(mr, addr, buf, len, write);
	odp_mr_put(mr);
	return ret;
}

static enum odp_rx_result odp_responder_write(struct odp_qp *qp,
					      struct odp_wire_buf *rx)
{
	struct odp_wire_hdr *hdr = odp_wire_hdr(rx);
	bool imm = hdr->op == ODP_WIRE_WRITE_IMM;
	bool last = hdr->flags & ODP_WIRE_LAST;
	struct odp_rwqe *rwqe = NULL;

	/* WRITE with immediate consumes a receive WR: wait for one. */
	if (last && imm) {
		rwqe = odp_rq_head(qp);
		if (!rwqe)
			return ODP_RX_STALL;
	}
	if (!odp_tx_reserve(qp))
		return ODP_RX_STALL;

	if (odp_responder_copy(qp, hdr, ODP_ABI_ACCESS_REMOTE_WRITE,
			       be64_to_cpu(hdr->addr), odp_wire_payload(rx),
			       be32_to_cpu(hdr->length)))
		return odp_responder_ack(qp, ODP_ABI_WC_REM_ACCESS_ERR);

	if (!last) {
		odp_tx_unreserve(qp);
		return ODP_RX_DONE;
	}
	/* Answer first: the user may destroy the QP once it sees the receive. */
	if (odp_responder_ack(qp, ODP_ABI_WC_SUCCESS) != ODP_RX_DONE)
		return ODP_RX_ERROR;
	if (rwqe) {
		rwqe->received = be32_to_cpu(hdr->total);
		odp_rq_complete(qp, rwqe, ODP_ABI_WC_SUCCESS,
				ODP_ABI_WC_RECV_RDMA_WITH_IMM, hdr->imm, true);
	}
	return ODP_RX_DONE;
}

static enum odp_rx_result odp_responder_send(struct odp_qp *qp,
					     struct odp_wire_buf *rx)
{
	struct odp_wire_hdr *hdr = odp_wire_hdr(rx);
	u32 len = be32_to_cpu(hdr->length);
	struct odp_rwqe *rwqe;
	bool imm;
	int ret;

	rwqe = odp_rq_head(qp);
	if (!rwqe)
		return ODP_RX_STALL;	/* RNR: wait for a receive WR */
	if (!odp_tx_reserve(qp))
		return ODP_RX_STALL;

	if (len > rwqe->length - rwqe->received) {
		odp_rq_complete(qp, rwqe, ODP_ABI_WC_LOC_LEN_ERR,
				ODP_ABI_WC_RECV, 0, false);
		return odp_responder_ack(qp, ODP_ABI_WC_REM_INV_REQ_ERR);
	}
	ret = odp_sge_copy(qp, rwqe->sge, rwqe->num_sge, rwqe->received,
			   odp_wire_payload(rx), len, true);
	if (ret) {
		odp_rq_complete(qp, rwqe, odp_sge_error_status(ret),
				ODP_ABI_WC_RECV, 0, false);
		return odp_responder_ack(qp, ODP_ABI_WC_REM_OP_ERR);
	}
	rwqe->received += len;
	if (!(hdr->flags & ODP_WIRE_LAST)) {
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

/*
 * Answer a READ with as many READ_RESP messages as it takes.  Progress is
 * kept in qp->read_resp_done, so a stall (no send slot) resumes there.
 */
static enum odp_rx_result odp_responder_read(struct odp_qp *qp,
					     struct odp_wire_buf *rx)
{
	struct odp_wire_hdr *hdr = odp_wire_hdr(rx);
	u32 total = be32_to_cpu(hdr->total);
	u64 addr = be64_to_cpu(hdr->addr);

	do {
		u32 done = qp->read_resp_done;
		u32 n = min_t(u32, total - done, ODP_WIRE_MAX_PAYLOAD);
		struct odp_wire_hdr *resp;
		struct odp_wire_buf *tx;

		if (!odp_tx_reserve(qp))
			return ODP_RX_STALL;
		tx = odp_tx_alloc(qp);
		if (!tx) {
			odp_tx_unreserve(qp);
			odp_qp_set_error(qp);
			return ODP_RX_ERROR;
		}
		if (odp_responder_copy(qp, hdr, ODP_ABI_ACCESS_REMOTE_READ,
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
		if (odp_tx_post(qp, tx)) {
			odp_qp_set_error(qp);
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
	u64 addr = be64_to_cpu(hdr->addr);
	struct odp_mr *mr;
	u64 old;
	int ret;

	if (!odp_tx_reserve(qp))
		return ODP_RX_STALL;
	if (addr % sizeof(u64))
		return odp_responder_ack(qp, ODP_ABI_WC_REM_INV_REQ_ERR);

	mr = odp_responder_mr(qp, hdr, ODP_ABI_ACCESS_REMOTE_ATOMIC, addr,
			      sizeof(u64));
	if (!mr)
		return odp_responder_ack(qp, ODP_ABI_WC_REM_ACCESS_ERR);
	ret = odp_mr_atomic(mr, addr, hdr->op == ODP_WIRE_CMP_SWAP,
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
