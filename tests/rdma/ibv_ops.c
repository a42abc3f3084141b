// SPDX-License-Identifier: MIT
/*
 * ibv_ops: the scenarios of rdma_ops (rdma_ops.c, built again with
 * -DRDMA_IBV) over plain libibverbs + librdmacm, with pinned MRs on rxe:
 * the compatibility anchor that shows the scenarios' expectations are what
 * a verbs device does.  This file is its transport: the device and PDs of
 * rdma_cm, connections through an rdma_cm event channel (IPv4), QPs made by
 * rdma_create_qp().
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "rdma.h"

const int xport_has_odp = 0;

/*
 * IBV_OPS_ODP=1: every MR is registered with IBV_ACCESS_ON_DEMAND (the
 * device must report ODP for RC), so the scenarios run over verbs ODP MRs
 * of our rxe.  xport_has_odp stays 0: the scenarios that read libodp's
 * per-MR counters or need a hole in an MR are not run in this mode.
 */
static int ibv_odp(void)
{
	static int odp = -1;

	if (odp < 0) {
		const char *e = getenv("IBV_OPS_ODP");

		odp = e && *e && strcmp(e, "0");
	}
	return odp;
}

/* In ODP mode, a device without RC ODP for every opcode is an error. */
static int ep_check_odp(struct ibv_context *ctx)
{
	const uint32_t need = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
			      IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
			      IBV_ODP_SUPPORT_ATOMIC;
	struct ibv_device_attr_ex attr;
	int err;

	if (!ibv_odp())
		return 0;
	err = ibv_query_device_ex(ctx, NULL, &attr);
	if (err) {
		fprintf(stderr, "ibv_query_device_ex: %s\n", strerror(err));
		return -1;
	}
	if (!(attr.odp_caps.general_caps & IBV_ODP_SUPPORT) ||
	    (attr.odp_caps.per_transport_caps.rc_odp_caps & need) != need) {
		fprintf(stderr, "IBV_OPS_ODP=1: %s has no RC ODP (general 0x%llx rc 0x%x)\n",
			ibv_get_device_name(ctx->device),
			(unsigned long long)attr.odp_caps.general_caps,
			attr.odp_caps.per_transport_caps.rc_odp_caps);
		return -1;
	}
	return 0;
}

struct ep {
	struct ibv_context		**devs;		/* rdma_get_devices() */
	struct ibv_context		*ctx;
	struct ibv_pd			*pd;
	struct ibv_pd			*pd2;
	struct rdma_event_channel	*ch;
	struct rdma_cm_id		*listen_id;
	struct sockaddr_in		addr;
};

struct link_priv {
	struct rdma_cm_id	*id;
	struct ep		*ep;
};

struct ep *ep_open(const char *devname, int server,
		   const struct sockaddr_in *addr)
{
	struct ep *ep = calloc(1, sizeof(*ep));
	uint64_t end = now_ms() + 20000;
	int n = 0, err;

	if (!ep)
		return NULL;
	ep->addr = *addr;
	ep->devs = rdma_get_devices(&n);
	for (int i = 0; ep->devs && i < n && !ep->ctx; i++) {
		const char *d = ibv_get_device_name(ep->devs[i]->device);

		if (devname ? !strcmp(d, devname) : !strcmp(d, "rxe0"))
			ep->ctx = ep->devs[i];
	}
	if (!ep->ctx && !devname && n)
		ep->ctx = ep->devs[0];
	if (!ep->ctx) {
		fprintf(stderr, "no RDMA device %s\n", devname ? devname : "(any)");
		errno = ENODEV;
		goto fail;
	}
	if (ep_check_odp(ep->ctx)) {
		errno = EOPNOTSUPP;
		goto fail;
	}
	ep->pd = ibv_alloc_pd(ep->ctx);
	if (!ep->pd) {
		fprintf(stderr, "ibv_alloc_pd: %s\n", strerror(errno));
		goto fail;
	}
	ep->ch = rdma_create_event_channel();
	if (!ep->ch) {
		fprintf(stderr, "rdma_create_event_channel: %s\n", strerror(errno));
		goto fail;
	}
	if (fcntl(ep->ch->fd, F_SETFL, fcntl(ep->ch->fd, F_GETFL) | O_NONBLOCK)) {
		fprintf(stderr, "fcntl: %s\n", strerror(errno));
		goto fail;
	}
	if (!server)
		return ep;
	if (rdma_create_id(ep->ch, &ep->listen_id, NULL, RDMA_PS_TCP)) {
		fprintf(stderr, "rdma_create_id: %s\n", strerror(errno));
		goto fail;
	}
	while (rdma_bind_addr(ep->listen_id, (struct sockaddr *)addr)) {
		if (errno != EADDRINUSE || now_ms() > end) {
			fprintf(stderr, "rdma_bind_addr(%s:%d): %s\n",
				inet_ntoa(addr->sin_addr), ntohs(addr->sin_port),
				strerror(errno));
			goto fail;
		}
		sleep_us(100000);
	}
	if (rdma_listen(ep->listen_id, 8)) {
		fprintf(stderr, "rdma_listen: %s\n", strerror(errno));
		goto fail;
	}
	return ep;
fail:
	err = errno;
	ep_close(ep);
	errno = err;
	return NULL;
}

void ep_stop_listening(struct ep *ep)
{
	if (ep->listen_id)
		rdma_destroy_id(ep->listen_id);
	ep->listen_id = NULL;
}

void ep_close(struct ep *ep)
{
	if (!ep)
		return;
	ep_stop_listening(ep);
	if (ep->ch)
		rdma_destroy_event_channel(ep->ch);
	/* MRs still registered keep their PD busy: the process exit frees them. */
	if (ep->pd2)
		ibv_dealloc_pd(ep->pd2);
	if (ep->pd)
		ibv_dealloc_pd(ep->pd);
	if (ep->devs)
		rdma_free_devices(ep->devs);
	free(ep);
}

xpd *ep_pd(struct ep *ep)
{
	return ep->pd;
}

xpd *ep_pd2(struct ep *ep)
{
	if (!ep->pd2) {
		ep->pd2 = ibv_alloc_pd(ep->ctx);
		if (!ep->pd2)
			FAIL("ibv_alloc_pd (second PD): %s", strerror(errno));
	}
	return ep->pd2;
}

xmr *ep_reg_mr(xpd *pd, void *addr, size_t len, int access)
{
	if (ibv_odp())
		access |= IBV_ACCESS_ON_DEMAND;
	return ibv_reg_mr(pd, addr, len, access);
}

int mr_stats(xmr *mr, struct stats *s)
{
	(void)mr;
	memset(s, 0, sizeof(*s));
	return 0;
}

/*
 * The next event of the channel for id (any id if NULL) within timeout_ms;
 * events of other ids (disconnects of earlier links) are acknowledged and
 * dropped.  Returns the event type, or -1 (errno ETIMEDOUT) on timeout.
 * *child gets the new id of a CONNECT_REQUEST.
 */
static int wait_event(struct ep *ep, struct rdma_cm_id *id,
		      struct rdma_cm_id **child, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	struct rdma_cm_event *ev;

	for (;;) {
		struct pollfd pfd = { .fd = ep->ch->fd, .events = POLLIN };
		int left = (int)(end - now_ms()), type, status;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&pfd, 1, left) <= 0)
			continue;
		if (rdma_get_cm_event(ep->ch, &ev)) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			FAIL("rdma_get_cm_event: %s", strerror(errno));
		}
		type = ev->event;
		status = ev->status;
		if (type == RDMA_CM_EVENT_CONNECT_REQUEST) {
			if (!child || id) {
				/* Not expecting one: refuse it. */
				rdma_reject(ev->id, NULL, 0);
				rdma_ack_cm_event(ev);
				rdma_destroy_id(ev->id);
				continue;
			}
			*child = ev->id;
			rdma_ack_cm_event(ev);
			return type;
		}
		if (!id || ev->id != id) {
			rdma_ack_cm_event(ev);
			continue;
		}
		rdma_ack_cm_event(ev);
		errno = status < 0 ? -status : status;
		return type;
	}
}

static void link_make_qp(struct ep *ep, struct link *l, struct rdma_cm_id *id,
			 const struct link_caps *cap)
{
	struct ibv_qp_init_attr attr = { 0 };
	struct link_priv *p = l->priv;

	if (id->verbs != ep->ctx)
		FAIL("rdma_cm chose device %s, the PD is on %s",
		     ibv_get_device_name(id->verbs->device),
		     ibv_get_device_name(ep->ctx->device));
	l->scq = ibv_create_cq(ep->ctx, cap->cqe, NULL, NULL, 0);
	l->rcq = ibv_create_cq(ep->ctx, cap->cqe, NULL, NULL, 0);
	if (!l->scq || !l->rcq)
		FAIL("ibv_create_cq(%d): %s", cap->cqe, strerror(errno));
	attr.send_cq = l->scq;
	attr.recv_cq = l->rcq;
	attr.cap.max_send_wr = cap->max_send_wr;
	attr.cap.max_recv_wr = cap->max_recv_wr;
	attr.cap.max_send_sge = cap->max_send_sge ? cap->max_send_sge : 1;
	attr.cap.max_recv_sge = cap->max_recv_sge ? cap->max_recv_sge : 1;
	attr.qp_type = IBV_QPT_RC;
	if (rdma_create_qp(id, ep->pd, &attr))
		FAIL("rdma_create_qp: %s", strerror(errno));
	l->qp = id->qp;
	p->id = id;
	l->cap = *cap;
	/* rxe rounds the queues up: what the QP really has. */
	l->cap.max_send_wr = attr.cap.max_send_wr;
	l->cap.max_recv_wr = attr.cap.max_recv_wr;
	l->cap.max_send_sge = attr.cap.max_send_sge;
	l->cap.max_recv_sge = attr.cap.max_recv_sge;
}

static struct rdma_conn_param conn_param(void)
{
	struct rdma_conn_param p = {
		.responder_resources	= 16,
		.initiator_depth	= 16,
		.retry_count		= 7,
		.rnr_retry_count	= 7,
	};
	return p;
}

int link_create_unconnected(struct ep *ep, struct link *l,
			    const struct link_caps *cap)
{
	struct link_priv *p = calloc(1, sizeof(*p));
	struct rdma_cm_id *id;

	memset(l, 0, sizeof(*l));
	l->priv = p;
	p->ep = ep;
	if (rdma_create_id(ep->ch, &id, NULL, RDMA_PS_TCP))
		FAIL("rdma_create_id: %s", strerror(errno));
	p->id = id;
	if (rdma_resolve_addr(id, NULL, (struct sockaddr *)&ep->addr, 2000) ||
	    wait_event(ep, id, NULL, 5000) != RDMA_CM_EVENT_ADDR_RESOLVED)
		FAIL("rdma_resolve_addr: %s", strerror(errno));
	if (rdma_resolve_route(id, 2000) ||
	    wait_event(ep, id, NULL, 5000) != RDMA_CM_EVENT_ROUTE_RESOLVED)
		FAIL("rdma_resolve_route: %s", strerror(errno));
	link_make_qp(ep, l, id, cap);
	return 0;
}

int link_connect(struct ep *ep, struct link *l, const struct link_caps *cap,
		 link_prep_fn prep, void *arg, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	int err = ETIMEDOUT;

	while (now_ms() < end) {
		struct link_priv *p = calloc(1, sizeof(*p));
		struct rdma_conn_param param = conn_param();
		struct rdma_cm_id *id;
		int ev;

		memset(l, 0, sizeof(*l));
		l->priv = p;
		p->ep = ep;
		if (rdma_create_id(ep->ch, &id, NULL, RDMA_PS_TCP))
			FAIL("rdma_create_id: %s", strerror(errno));
		p->id = id;
		if (rdma_resolve_addr(id, NULL, (struct sockaddr *)&ep->addr, 2000)) {
			err = errno;
			goto retry;
		}
		ev = wait_event(ep, id, NULL, 5000);
		if (ev != RDMA_CM_EVENT_ADDR_RESOLVED) {
			err = ev < 0 ? errno : EHOSTUNREACH;
			goto retry;
		}
		if (rdma_resolve_route(id, 2000)) {
			err = errno;
			goto retry;
		}
		ev = wait_event(ep, id, NULL, 5000);
		if (ev != RDMA_CM_EVENT_ROUTE_RESOLVED) {
			err = ev < 0 ? errno : EHOSTUNREACH;
			goto retry;
		}
		link_make_qp(ep, l, id, cap);
		if (prep)
			prep(l, arg);
		if (rdma_connect(id, &param)) {
			err = errno;
			goto retry;
		}
		ev = wait_event(ep, id, NULL, (int)(end - now_ms()) + 1);
		if (ev == RDMA_CM_EVENT_ESTABLISHED)
			return 0;
		err = ev == RDMA_CM_EVENT_REJECTED ? ECONNREFUSED :
		      ev < 0 ? errno : ECONNABORTED;
retry:
		link_destroy(l);
		sleep_us(100000);
	}
	return err;
}

int link_accept(struct ep *ep, struct link *l, const struct link_caps *cap,
		link_prep_fn prep, void *arg, int timeout_ms)
{
	struct link_priv *p = calloc(1, sizeof(*p));
	struct rdma_conn_param param = conn_param();
	struct rdma_cm_id *child = NULL;
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	int ev;

	memset(l, 0, sizeof(*l));
	l->priv = p;
	p->ep = ep;
	ev = wait_event(ep, NULL, &child, timeout_ms);
	if (ev != RDMA_CM_EVENT_CONNECT_REQUEST) {
		free(p);
		l->priv = NULL;
		return ev < 0 ? errno : ECONNABORTED;
	}
	link_make_qp(ep, l, child, cap);
	if (prep)
		prep(l, arg);
	if (rdma_accept(child, &param)) {
		int err = errno;

		link_destroy(l);
		return err;
	}
	ev = wait_event(ep, child, NULL, (int)(end - now_ms()) + 1);
	if (ev != RDMA_CM_EVENT_ESTABLISHED) {
		int err = ev < 0 ? errno : ECONNABORTED;

		link_destroy(l);
		return err;
	}
	return 0;
}

void link_destroy(struct link *l)
{
	struct link_priv *p = l->priv;

	if (p && p->id) {
		rdma_disconnect(p->id);
		if (p->id->qp)
			rdma_destroy_qp(p->id);
	}
	if (l->scq)
		ibv_destroy_cq(l->scq);
	if (l->rcq)
		ibv_destroy_cq(l->rcq);
	if (p && p->id)
		rdma_destroy_id(p->id);
	free(p);
	memset(l, 0, sizeof(*l));
}

/* rxe's provider may return a negative errno value: make it positive. */
int x_post_send(struct link *l, xsend_wr *wr, xsend_wr **bad)
{
	int ret;

	*bad = NULL;
	ret = ibv_post_send(l->qp, wr, bad);
	return ret < 0 ? -ret : ret;
}

int x_post_recv(struct link *l, xrecv_wr *wr, xrecv_wr **bad)
{
	int ret;

	*bad = NULL;
	ret = ibv_post_recv(l->qp, wr, bad);
	return ret < 0 ? -ret : ret;
}
