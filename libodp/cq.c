// SPDX-License-Identifier: MIT
/*
 * Completion queues: a ring in the kernel that the QPs of the context fill
 * and odp_poll_cq() drains, and the names of the completion statuses.
 */
#include <stdlib.h>

#include "odp_int.h"

/* Completions fetched per ioctl, on the stack. */
#define POLL_BATCH	64

struct odp_cq *odp_create_cq(struct odp_context *context, int cqe)
{
	struct odp_abi_create_cq cmd = { 0 };
	struct odp_cq *cq;
	int err;

	if (!context || cqe <= 0) {
		errno = EINVAL;
		return NULL;
	}

	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;

	cmd.cqe = (uint32_t)cqe;
	err = odp_cmd(context, ODP_IOC_CREATE_CQ, &cmd);
	if (err) {
		free(cq);
		errno = err;
		return NULL;
	}

	cq->context = context;
	cq->handle = cmd.cq_handle;
	cq->cqe = (int)cmd.cqe;
	return cq;
}

/* On failure (EBUSY: QPs still use it) the CQ stays valid. */
int odp_destroy_cq(struct odp_cq *cq)
{
	struct odp_abi_destroy_cq cmd = { 0 };
	int err;

	if (!cq)
		return odp_fail(EINVAL);

	cmd.cq_handle = cq->handle;
	err = odp_cmd(cq->context, ODP_IOC_DESTROY_CQ, &cmd);
	if (err)
		return err;

	free(cq);
	return 0;
}

static void wc_from_abi(struct odp_wc *wc, const struct odp_abi_wc *a)
{
	wc->wr_id = a->wr_id;
	wc->status = (enum odp_wc_status)a->status;
	wc->opcode = (enum odp_wc_opcode)a->opcode;
	wc->vendor_err = a->vendor_err;
	wc->byte_len = a->byte_len;
	wc->imm_data = a->imm_data;
	wc->qp_num = a->qp_num;
	wc->wc_flags = a->wc_flags;
}

/*
 * Like ibv_poll_cq(): the number of completions written to wc (0 if the CQ
 * is empty), or a negative errno value (errno is set too). An error after
 * some completions were taken returns those; the next call reports it
 * (EOVERFLOW, a lost completion, stays until the CQ is destroyed).
 */
int odp_poll_cq(struct odp_cq *cq, int num_entries, struct odp_wc *wc)
{
	struct odp_abi_wc batch[POLL_BATCH];
	struct odp_abi_poll_cq cmd;
	int done = 0, err;
	uint32_t i;

	if (!cq || num_entries < 0 || (num_entries && !wc)) {
		errno = EINVAL;
		return -EINVAL;
	}

	while (done < num_entries) {
		uint32_t want = (uint32_t)(num_entries - done);

		if (want > POLL_BATCH)
			want = POLL_BATCH;
		cmd.cq_handle = cq->handle;
		cmd.num_entries = want;
		cmd.wc = odp_ptr(batch);
		err = odp_cmd(cq->context, ODP_IOC_POLL_CQ, &cmd);
		if (err)
			return done ? done : -err;
		for (i = 0; i < cmd.num_entries && i < want; i++)
			wc_from_abi(&wc[done + i], &batch[i]);
		done += (int)i;
		if (i < want)
			break;	/* the CQ is empty */
	}
	return done;
}

static const char *const status_str[] = {
	[ODP_WC_SUCCESS]		= "success",
	[ODP_WC_LOC_LEN_ERR]		= "local length error",
	[ODP_WC_LOC_QP_OP_ERR]		= "local QP operation error",
	[ODP_WC_LOC_PROT_ERR]		= "local protection error",
	[ODP_WC_WR_FLUSH_ERR]		= "Work Request Flushed Error",
	[ODP_WC_BAD_RESP_ERR]		= "bad response error",
	[ODP_WC_LOC_ACCESS_ERR]		= "local access error",
	[ODP_WC_REM_INV_REQ_ERR]	= "remote invalid request error",
	[ODP_WC_REM_ACCESS_ERR]		= "remote access error",
	[ODP_WC_REM_OP_ERR]		= "remote operation error",
	[ODP_WC_RETRY_EXC_ERR]		= "transport retry counter exceeded",
	[ODP_WC_FATAL_ERR]		= "fatal error",
	[ODP_WC_GENERAL_ERR]		= "general error",
};

/* The strings of ibv_wc_status_str(), for the statuses libodp has. */
const char *odp_wc_status_str(enum odp_wc_status status)
{
	unsigned int s = (unsigned int)status;

	if (s >= sizeof(status_str) / sizeof(status_str[0]) || !status_str[s])
		return "unknown";
	return status_str[s];
}
