// SPDX-License-Identifier: MIT
/* The transport of rdma_ops: libodp (ODP MRs, QPs connected by odp.ko). */
#define _GNU_SOURCE
#include <unistd.h>

#include "rdma.h"

const int xport_has_odp = 1;

struct ep {
	struct odp_context	*ctx;
	struct odp_pd		*pd;
	struct odp_pd		*pd2;
	struct odp_listener	*listener;
	struct sockaddr_in	addr;
};

static const char *pick_device(const char *want, char *name, size_t size)
{
	struct odp_device **list;
	const char *found = NULL;
	int n;

	list = odp_get_device_list(&n);
	if (!list)
		return NULL;
	for (int i = 0; i < n && !found; i++) {
		const char *d = odp_get_device_name(list[i]);

		if (want ? !strcmp(d, want) : !strcmp(d, "rxe0"))
			found = d;
	}
	if (!found && !want && n)
		found = odp_get_device_name(list[0]);
	if (found)
		snprintf(name, size, "%s", found);
	odp_free_device_list(list);
	return found ? name : NULL;
}

struct ep *ep_open(const char *devname, int server,
		   const struct sockaddr_in *addr)
{
	char name[ODP_IBDEV_NAME_MAX];
	struct ep *ep = calloc(1, sizeof(*ep));
	uint64_t end = now_ms() + 20000;
	int err;

	if (!ep)
		return NULL;
	ep->addr = *addr;
	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing (odp.ko not loaded)");
	/* After `rdma link add` the device may take a moment to show up. */
	while (!pick_device(devname, name, sizeof(name))) {
		if (now_ms() > end) {
			fprintf(stderr, "no RDMA device %s\n",
				devname ? devname : "(any)");
			errno = ENODEV;
			goto fail;
		}
		sleep_us(100000);
	}
	ep->ctx = odp_open_device(NULL);
	if (!ep->ctx) {
		fprintf(stderr, "odp_open_device: %s\n", strerror(errno));
		goto fail;
	}
	err = odp_bind_device(ep->ctx, name, 1, NULL);
	if (err) {
		fprintf(stderr, "odp_bind_device(%s): %s\n", name, strerror(err));
		goto fail;
	}
	ep->pd = odp_alloc_pd(ep->ctx);
	if (!ep->pd) {
		fprintf(stderr, "odp_alloc_pd: %s\n", strerror(errno));
		goto fail;
	}
	if (!server)
		return ep;
	for (;;) {
		ep->listener = odp_listen(ep->ctx, (struct sockaddr *)addr, 8);
		if (ep->listener)
			return ep;
		/* The previous session's listener may still be going away. */
		if (errno != EADDRINUSE || now_ms() > end) {
			fprintf(stderr, "odp_listen(%s:%d): %s\n",
				inet_ntoa(addr->sin_addr), ntohs(addr->sin_port),
				strerror(errno));
			goto fail;
		}
		sleep_us(100000);
	}
fail:
	err = errno;
	ep_close(ep);
	errno = err;
	return NULL;
}

void ep_stop_listening(struct ep *ep)
{
	if (ep->listener)
		odp_destroy_listener(ep->listener);
	ep->listener = NULL;
}

void ep_close(struct ep *ep)
{
	if (!ep)
		return;
	ep_stop_listening(ep);
	/* Closing the context releases whatever is left on it. */
	if (ep->ctx)
		odp_close_device(ep->ctx);
	free(ep);
}

xpd *ep_pd(struct ep *ep)
{
	return ep->pd;
}

xpd *ep_pd2(struct ep *ep)
{
	if (!ep->pd2) {
		ep->pd2 = odp_alloc_pd(ep->ctx);
		if (!ep->pd2)
			FAIL("odp_alloc_pd (second PD): %s", strerror(errno));
	}
	return ep->pd2;
}

xmr *ep_reg_mr(xpd *pd, void *addr, size_t len, int access)
{
	return odp_reg_mr(pd, addr, len, access | ODP_ACCESS_ON_DEMAND);
}

int mr_stats(xmr *mr, struct stats *s)
{
	uint64_t v[ODP_STAT_MAX] = { 0 };
	int n;

	memset(s, 0, sizeof(*s));
	n = odp_query_mr_stats(mr, v, ODP_STAT_MAX);
	if (n < 0)
		FAIL("odp_query_mr_stats: %s", strerror(errno));
	for (int i = 0; i < n && i < NSTATS; i++)
		s->v[i] = v[i];
	return n;
}

static int link_create(struct ep *ep, struct link *l,
		       const struct link_caps *cap)
{
	struct odp_qp_init_attr attr = { 0 };

	memset(l, 0, sizeof(*l));
	l->scq = odp_create_cq(ep->ctx, cap->cqe);
	l->rcq = odp_create_cq(ep->ctx, cap->cqe);
	if (!l->scq || !l->rcq)
		FAIL("odp_create_cq(%d): %s", cap->cqe, strerror(errno));
	attr.send_cq = l->scq;
	attr.recv_cq = l->rcq;
	attr.cap.max_send_wr = cap->max_send_wr;
	attr.cap.max_recv_wr = cap->max_recv_wr;
	attr.cap.max_send_sge = cap->max_send_sge;
	attr.cap.max_recv_sge = cap->max_recv_sge;
	attr.qp_type = ODP_QPT_RC;
	l->qp = odp_create_qp(ep->pd, &attr);
	if (!l->qp)
		FAIL("odp_create_qp: %s", strerror(errno));
	l->cap = *cap;
	return 0;
}

int link_create_unconnected(struct ep *ep, struct link *l,
			    const struct link_caps *cap)
{
	return link_create(ep, l, cap);
}

int link_connect(struct ep *ep, struct link *l, const struct link_caps *cap,
		 link_prep_fn prep, void *arg, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	int err;

	for (;;) {
		int left = (int)(end - now_ms());

		link_create(ep, l, cap);
		if (prep)
			prep(l, arg);
		err = odp_connect(l->qp, (struct sockaddr *)&ep->addr,
				  left > 0 ? left : 1);
		if (!err)
			return 0;
		link_destroy(l);
		/* Not listening yet, or the previous session going away. */
		if (now_ms() + 100 >= end || err == EINVAL || err == ENODEV)
			return err;
		sleep_us(100000);
	}
}

int link_accept(struct ep *ep, struct link *l, const struct link_caps *cap,
		link_prep_fn prep, void *arg, int timeout_ms)
{
	int err;

	link_create(ep, l, cap);
	if (prep)
		prep(l, arg);
	err = odp_accept(ep->listener, l->qp, timeout_ms);
	if (err)
		link_destroy(l);
	return err;
}

void link_destroy(struct link *l)
{
	int err;

	if (l->qp && (err = odp_destroy_qp(l->qp)))
		FAIL("odp_destroy_qp: %s", strerror(err));
	/* The QP was their only user: once it is destroyed, they can go. */
	if (l->scq && (err = odp_destroy_cq(l->scq)))
		FAIL("odp_destroy_cq: %s%s", strerror(err), l->qp ?
		     " (right after odp_destroy_qp() of its only QP returned 0)" : "");
	if (l->rcq && (err = odp_destroy_cq(l->rcq)))
		FAIL("odp_destroy_cq: %s%s", strerror(err), l->qp ?
		     " (right after odp_destroy_qp() of its only QP returned 0)" : "");
	memset(l, 0, sizeof(*l));
}

int x_post_send(struct link *l, xsend_wr *wr, xsend_wr **bad)
{
	return odp_post_send(l->qp, wr, bad);
}

int x_post_recv(struct link *l, xrecv_wr *wr, xrecv_wr **bad)
{
	return odp_post_recv(l->qp, wr, bad);
}
