// SPDX-License-Identifier: MIT
/*
 * Queue pairs and work requests. A list of WRs becomes one array of ABI
 * WRs and one ioctl, so that a list is queued as a whole with respect to
 * other threads posting on the same QP, as with ibv_post_send(). The SGE
 * arrays go to the kernel as they are: struct odp_sge has the layout of
 * struct odp_abi_sge (abi_check.c).
 */
#include <stdlib.h>
#include <string.h>

#include "odp_int.h"

/* WRs converted on the stack; longer lists take one malloc(). */
#define POST_STACK_WRS	16

struct odp_qp *odp_create_qp(struct odp_pd *pd,
			     struct odp_qp_init_attr *qp_init_attr)
{
	struct odp_abi_create_qp cmd = { 0 };
	struct odp_qp_init_attr *attr = qp_init_attr;
	struct odp_qp *qp;
	int err;

	if (!pd || !attr || !attr->send_cq || !attr->recv_cq ||
	    attr->qp_type != ODP_QPT_RC) {
		errno = EINVAL;
		return NULL;
	}

	qp = calloc(1, sizeof(*qp));
	if (!qp)
		return NULL;

	cmd.pd_handle = pd->handle;
	cmd.send_cq = attr->send_cq->handle;
	cmd.recv_cq = attr->recv_cq->handle;
	cmd.max_send_wr = attr->cap.max_send_wr;
	cmd.max_recv_wr = attr->cap.max_recv_wr;
	cmd.max_send_sge = attr->cap.max_send_sge;
	cmd.max_recv_sge = attr->cap.max_recv_sge;
	cmd.sq_sig_all = !!attr->sq_sig_all;
	err = odp_cmd(pd->context, ODP_IOC_CREATE_QP, &cmd);
	if (err) {
		free(qp);
		errno = err;
		return NULL;
	}

	qp->context = pd->context;
	qp->qp_context = attr->qp_context;
	qp->pd = pd;
	qp->send_cq = attr->send_cq;
	qp->recv_cq = attr->recv_cq;
	qp->handle = cmd.qp_handle;
	qp->qp_num = cmd.qp_num;
	qp->qp_type = attr->qp_type;
	return qp;
}

/*
 * Destroying a connected QP disconnects it; WRs still queued are dropped
 * without completions, as with ibv_destroy_qp().
 */
int odp_destroy_qp(struct odp_qp *qp)
{
	struct odp_abi_destroy_qp cmd = { 0 };
	int err;

	if (!qp)
		return odp_fail(EINVAL);

	cmd.qp_handle = qp->handle;
	err = odp_cmd(qp->context, ODP_IOC_DESTROY_QP, &cmd);
	if (err)
		return err;

	free(qp);
	return 0;
}

static void send_to_abi(void *abi, const void *w)
{
	const struct odp_send_wr *wr = w;
	struct odp_abi_send_wr *a = abi;

	memset(a, 0, sizeof(*a));
	a->wr_id = wr->wr_id;
	a->opcode = (uint32_t)wr->opcode;
	a->send_flags = wr->send_flags;
	a->sg_list = odp_ptr(wr->sg_list);
	a->num_sge = (uint32_t)wr->num_sge;
	a->imm_data = wr->imm_data;

	switch (wr->opcode) {
	case ODP_WR_SEND:
	case ODP_WR_SEND_WITH_IMM:
		break;		/* wr.rdma may be garbage: not read */
	case ODP_WR_ATOMIC_CMP_AND_SWP:
	case ODP_WR_ATOMIC_FETCH_AND_ADD:
		a->remote_addr = wr->wr.atomic.remote_addr;
		a->rkey = wr->wr.atomic.rkey;
		a->compare_add = wr->wr.atomic.compare_add;
		a->swap = wr->wr.atomic.swap;
		break;
	default:	/* RDMA; an unknown opcode is the kernel's to refuse */
		a->remote_addr = wr->wr.rdma.remote_addr;
		a->rkey = wr->wr.rdma.rkey;
		break;
	}
}

static void recv_to_abi(void *abi, const void *w)
{
	const struct odp_recv_wr *wr = w;
	struct odp_abi_recv_wr *a = abi;

	memset(a, 0, sizeof(*a));
	a->wr_id = wr->wr_id;
	a->sg_list = odp_ptr(wr->sg_list);
	a->num_sge = (uint32_t)wr->num_sge;
}

/* What differs between the send and the receive lists. */
struct wr_kind {
	unsigned long	req;		/* ODP_IOC_POST_SEND or _RECV */
	size_t		abi_size;	/* of one ABI WR */
	const void	*(*next)(const void *wr);
	int		(*num_sge)(const void *wr);
	void		(*to_abi)(void *abi, const void *wr);
};

/*
 * Convert the list and post it in one ioctl. Returns 0 or the errno, with
 * *bad_wr the first WR not posted. The only local check is that num_sge is
 * not negative (it cannot be converted); the WRs before such a one are
 * posted, as by a provider that checks as it goes.
 */
static int post_list(struct odp_qp *qp, const struct wr_kind *k,
		     const void *wr, const void **bad_wr)
{
	uint64_t stack[POST_STACK_WRS * sizeof(struct odp_abi_send_wr) /
		       sizeof(uint64_t)];
	struct odp_abi_post cmd = { 0 };
	const void *w, *first_bad = NULL;
	uint32_t n = 0, i;
	char *abi = (char *)stack;
	int err = 0;

	for (w = wr; w && !first_bad; w = k->next(w)) {
		if (k->num_sge(w) < 0)
			first_bad = w;
		else
			n++;
	}
	if (n > POST_STACK_WRS) {
		abi = malloc(n * k->abi_size);
		if (!abi) {
			*bad_wr = wr;
			return odp_fail(ENOMEM);
		}
	}
	for (i = 0, w = wr; i < n; i++, w = k->next(w))
		k->to_abi(abi + i * k->abi_size, w);

	if (n) {
		cmd.qp_handle = qp->handle;
		cmd.num_wr = n;
		cmd.wr_list = odp_ptr(abi);
		err = odp_cmd(qp->context, k->req, &cmd);
	}
	if (err) {
		/* At least one WR was not posted: bad_wr < n. */
		uint32_t bad = cmd.bad_wr < n ? cmd.bad_wr : n - 1;

		for (first_bad = wr; bad--; )
			first_bad = k->next(first_bad);
	} else if (first_bad) {
		err = EINVAL;
	}

	if (abi != (char *)stack)
		free(abi);
	*bad_wr = first_bad;
	return err ? odp_fail(err) : 0;
}

_Static_assert(sizeof(struct odp_abi_recv_wr) <= sizeof(struct odp_abi_send_wr),
	       "the stack buffer is sized for send WRs");

static const void *send_next(const void *wr)
{
	return ((const struct odp_send_wr *)wr)->next;
}

static int send_num_sge(const void *wr)
{
	return ((const struct odp_send_wr *)wr)->num_sge;
}

static const void *recv_next(const void *wr)
{
	return ((const struct odp_recv_wr *)wr)->next;
}

static int recv_num_sge(const void *wr)
{
	return ((const struct odp_recv_wr *)wr)->num_sge;
}

static const struct wr_kind send_kind = {
	.req		= ODP_IOC_POST_SEND,
	.abi_size	= sizeof(struct odp_abi_send_wr),
	.next		= send_next,
	.num_sge	= send_num_sge,
	.to_abi		= send_to_abi,
};

static const struct wr_kind recv_kind = {
	.req		= ODP_IOC_POST_RECV,
	.abi_size	= sizeof(struct odp_abi_recv_wr),
	.next		= recv_next,
	.num_sge	= recv_num_sge,
	.to_abi		= recv_to_abi,
};

/* Like ibv_post_send(): 0, or an errno value with *bad_wr set. */
int odp_post_send(struct odp_qp *qp, struct odp_send_wr *wr,
		  struct odp_send_wr **bad_wr)
{
	const void *bad = wr;
	int err;

	err = qp && wr ? post_list(qp, &send_kind, wr, &bad) : odp_fail(EINVAL);
	if (err && bad_wr)
		*bad_wr = (struct odp_send_wr *)bad;
	return err;
}

int odp_post_recv(struct odp_qp *qp, struct odp_recv_wr *wr,
		  struct odp_recv_wr **bad_wr)
{
	const void *bad = wr;
	int err;

	err = qp && wr ? post_list(qp, &recv_kind, wr, &bad) : odp_fail(EINVAL);
	if (err && bad_wr)
		*bad_wr = (struct odp_recv_wr *)bad;
	return err;
}
