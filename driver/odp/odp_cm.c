// SPDX-License-Identifier: GPL-2.0
/*
 * odp: connections through the kernel's rdma_cm, by IPv4 address and port,
 * as kernel ULPs (NVMe-oF, RDS, SMB Direct) make them.
 *
 * Each connected QP owns one rdma_cm_id and the kernel RC QP on it.  A
 * listener owns a listening id; connection requests wait on it until
 * ODP_IOC_ACCEPT takes one onto a QP.
 */
#include <linux/in.h>
#include <linux/memcontrol.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <rdma/ib_cm.h>
#include <rdma/rdma_cm.h>

#include "odp_transport.h"

#define ODP_CM_TIMEOUT_MS	5000

static int odp_cm_status_errno(enum rdma_cm_event_type event)
{
	switch (event) {
	case RDMA_CM_EVENT_REJECTED:
		return -ECONNREFUSED;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		return -EHOSTUNREACH;
	default:
		return -ECONNABORTED;
	}
}

static struct rdma_conn_param odp_conn_param(void)
{
	/*
	 * Infinite RNR retries: a peer with no receive buffer posted yet
	 * makes the sender wait, not fail.
	 */
	return (struct rdma_conn_param) {
		.retry_count	 = 7,
		.rnr_retry_count = 7,
	};
}

/* ROUTE_RESOLVED on the active side: set up the QP and connect. */
static int odp_qp_route_resolved(struct odp_qp *qp, struct rdma_cm_id *id)
{
	struct rdma_conn_param param = odp_conn_param();
	int ret;

	mutex_lock(&qp->lock);
	if (qp->detached) {
		ret = -ECONNABORTED;
	} else if (id->device != qp->dev->ibdev) {
		ret = -ENETUNREACH;	/* the route is over another device */
	} else {
		/* A cm thread: charge the wire buffers to the QP's owner. */
		struct mem_cgroup *old = set_active_memcg(qp->ctx->memcg);

		ret = odp_wire_setup(qp);
		set_active_memcg(old);
		/* In the handler: rdma_connect() would take handler_mutex. */
		if (!ret)
			ret = rdma_connect_locked(id, &param);
	}
	mutex_unlock(&qp->lock);
	return ret;
}

static int odp_qp_cm_event(struct odp_qp *qp, struct rdma_cm_id *id,
			   struct rdma_cm_event *ev)
{
	int ret = 0;

	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		ret = rdma_resolve_route(id, ODP_CM_TIMEOUT_MS);
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		ret = odp_qp_route_resolved(qp, id);
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		odp_qp_established(qp);
		odp_qp_conn_done(qp, 0);
		odp_qp_kick(qp);
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
		rdma_disconnect(id);
		/* The work item errors the QP after what arrived before. */
		odp_qp_set_disconnected(qp);
		odp_qp_conn_done(qp, -ECONNRESET);
		odp_qp_kick(qp);
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_REJECTED:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		odp_qp_set_error(qp, ODP_QP_ERR_CONNECT, ev->event);
		odp_qp_conn_done(qp, odp_cm_status_errno(ev->event));
		break;
	default:
		break;
	}
	if (ret) {
		odp_qp_set_error(qp, ODP_QP_ERR_CONNECT, ret);
		odp_qp_conn_done(qp, ret);
	}
	/* Never let rdma_cm destroy the id: odp_qp_detach() does. */
	return 0;
}

/* A connection request: queue it for an accept, or reject it. */
static int odp_listener_request(struct odp_listener *ln,
				struct rdma_cm_id *id)
{
	struct odp_conn_req *req;
	bool queued = false;

	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (req) {
		req->cm_id = id;
		spin_lock(&ln->lock);
		if (!ln->detached && ln->num_pending < ln->backlog &&
		    id->device == ln->dev->ibdev) {
			list_add_tail(&req->node, &ln->pending);
			ln->num_pending++;
			queued = true;
		}
		spin_unlock(&ln->lock);
	}
	if (!queued) {
		kfree(req);
		rdma_reject(id, NULL, 0, IB_CM_REJ_CONSUMER_DEFINED);
		return 1;	/* rdma_cm destroys the new id */
	}
	wake_up_all(&ln->wait);
	return 0;
}

/*
 * Any other event on a request nobody accepted yet (the peer gave up,
 * timed out, was rejected): forget it, so that it neither counts against
 * the backlog nor fails a later accept.
 */
static int odp_listener_forget(struct odp_listener *ln, struct rdma_cm_id *id)
{
	struct odp_conn_req *req, *found = NULL;

	spin_lock(&ln->lock);
	list_for_each_entry(req, &ln->pending, node) {
		if (req->cm_id == id) {
			list_del(&req->node);
			ln->num_pending--;
			found = req;
			break;
		}
	}
	spin_unlock(&ln->lock);
	if (!found)
		return 0;	/* taken by an accept meanwhile: its business */
	kfree(found);
	return 1;		/* rdma_cm destroys the id */
}

static int odp_listener_cm_event(struct odp_listener *ln,
				 struct rdma_cm_id *id,
				 struct rdma_cm_event *ev)
{
	if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST)
		return odp_listener_request(ln, id);
	return odp_listener_forget(ln, id);
}

static int odp_cm_handler(struct rdma_cm_id *id, struct rdma_cm_event *ev)
{
	enum odp_cm_owner_type *owner = id->context;

	if (*owner == ODP_CM_LISTENER)
		return odp_listener_cm_event(id->context, id, ev);
	return odp_qp_cm_event(id->context, id, ev);
}

static void odp_sockaddr_in(struct sockaddr_in *sin, u32 addr, u32 port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = (__force __be32)addr;
	sin->sin_port = (__force __be16)port;
}

static int odp_qp_wait_connected(struct odp_qp *qp, u32 timeout_ms)
{
	unsigned long timeout = msecs_to_jiffies(timeout_ms ?: ODP_CM_TIMEOUT_MS);
	long left;

	left = wait_for_completion_interruptible_timeout(&qp->connected,
							 timeout);
	/* Not restartable: the QP is torn down on the way out. */
	if (left < 0)
		return -EINTR;
	if (!left)
		return -ETIMEDOUT;
	return qp->conn_status;
}

/* A connect or accept that did not get through leaves the QP in error. */
static int odp_qp_connect_result(struct odp_qp *qp, int ret)
{
	if (ret)
		odp_qp_detach(qp);
	return ret;
}

int odp_connect(struct odp_ctx *ctx, struct odp_abi_connect *cmd)
{
	struct sockaddr_in dst;
	struct rdma_cm_id *id;
	struct odp_qp *qp;
	int ret;

	qp = odp_qp_get(ctx, cmd->qp_handle);
	if (!qp)
		return -EINVAL;
	ret = odp_qp_start_connecting(qp, READ_ONCE(ctx->dev));
	if (ret)
		goto out;

	/* In the caller's network namespace, as a socket would be. */
	id = rdma_create_id(ctx->net, odp_cm_handler, qp, RDMA_PS_TCP,
			    IB_QPT_RC);
	if (IS_ERR(id)) {
		ret = PTR_ERR(id);
		goto out_detach;
	}
	/*
	 * detach_lock from publishing the id until rdma_resolve_addr() has
	 * returned: a concurrent destroy must not rdma_destroy_id() the id
	 * under it (rdma_cm WARNs on the state change, then the id is gone).
	 * The id's handlers run from rdma_cm's workqueue and never take
	 * detach_lock, so this does not wait for them.
	 */
	mutex_lock(&qp->detach_lock);
	mutex_lock(&qp->lock);
	if (qp->detached) {
		mutex_unlock(&qp->lock);
		mutex_unlock(&qp->detach_lock);
		rdma_destroy_id(id);
		ret = -ECONNABORTED;
		goto out_detach;
	}
	qp->cm_id = id;
	mutex_unlock(&qp->lock);

	odp_sockaddr_in(&dst, cmd->addr, cmd->port);
	ret = rdma_resolve_addr(id, NULL, (struct sockaddr *)&dst,
				ODP_CM_TIMEOUT_MS);
	mutex_unlock(&qp->detach_lock);
	if (!ret)
		ret = odp_qp_wait_connected(qp, cmd->timeout_ms);
out_detach:
	ret = odp_qp_connect_result(qp, ret);
out:
	odp_qp_put(qp);
	return ret;
}

/* Tear the transport of a QP down; it stays, in the error state. */
void odp_qp_detach(struct odp_qp *qp)
{
	struct odp_device *dev;
	struct rdma_cm_id *id;

	mutex_lock(&qp->detach_lock);
	mutex_lock(&qp->lock);
	qp->detached = true;
	id = qp->cm_id;
	/* An accept waiting for a request on this QP gives up. */
	if (qp->accepting_on)
		wake_up_all(&qp->accepting_on->wait);
	mutex_unlock(&qp->lock);

	odp_qp_set_error(qp, ODP_QP_ERR_DETACHED, 0);
	odp_qp_conn_done(qp, -ECONNABORTED);
	/* A work run that saw the QP ready may still post: let it finish. */
	flush_work(&qp->work);

	if (id) {
		if (id->qp) {
			odp_tx_linger(qp);
			rdma_disconnect(id);
			ib_drain_qp(id->qp);
			rdma_destroy_qp(id);
		}
		/* No work or callback uses it now; a second detach skips it. */
		mutex_lock(&qp->lock);
		qp->cm_id = NULL;
		mutex_unlock(&qp->lock);
		/* Waits for handlers; they see detached and do nothing. */
		rdma_destroy_id(id);
	}
	odp_wire_teardown(qp);

	/* Only here does qp->dev change; removal waits for detach_lock. */
	dev = qp->dev;
	if (dev) {
		mutex_lock(&dev->lock);
		list_del_init(&qp->dev_node);
		mutex_unlock(&dev->lock);
		odp_rdmacg_uncharge(&qp->cg_obj, dev->ibdev,
				    RDMACG_RESOURCE_HCA_OBJECT);
		odp_qp_clear_dev(qp);
		odp_device_put(dev);
	}
	mutex_unlock(&qp->detach_lock);
	/* Flush what is left on the queues with WR_FLUSH_ERR. */
	odp_qp_kick(qp);
}

void odp_qps_detach_device(struct odp_device *dev)
{
	struct odp_qp *qp;

	for (;;) {
		mutex_lock(&dev->lock);
		qp = list_first_entry_or_null(&dev->qps, struct odp_qp,
					      dev_node);
		if (qp)
			kref_get(&qp->uobj.ref);
		mutex_unlock(&dev->lock);
		if (!qp)
			break;
		odp_qp_detach(qp);
		odp_qp_put(qp);
	}
}

/* Listeners */

static void odp_listener_put(struct odp_listener *ln)
{
	odp_uobj_put(&ln->uobj);
}

static struct odp_listener *odp_listener_get(struct odp_ctx *ctx, u32 handle)
{
	struct odp_uobj *uobj = odp_uobj_get(ctx, ODP_UOBJ_LISTENER, handle);

	return uobj ? container_of(uobj, struct odp_listener, uobj) : NULL;
}

/* Reject and free what is pending; the listening id is gone. */
static void odp_listener_reject_pending(struct odp_listener *ln)
{
	struct odp_conn_req *req, *tmp;
	LIST_HEAD(pending);

	spin_lock(&ln->lock);
	list_splice_init(&ln->pending, &pending);
	ln->num_pending = 0;
	spin_unlock(&ln->lock);
	list_for_each_entry_safe(req, tmp, &pending, node) {
		rdma_reject(req->cm_id, NULL, 0, IB_CM_REJ_CONSUMER_DEFINED);
		rdma_destroy_id(req->cm_id);
		kfree(req);
	}
}

/*
 * Stop listening, reject what is pending, wake accepters, give the device
 * and the rdma cgroup charge back.  Serialised by dev->lock's list: the
 * first caller (destroy or device removal) does it, a second finds
 * dev_node empty.
 */
static void odp_listener_detach(struct odp_listener *ln)
{
	struct odp_device *dev = ln->dev;
	struct rdma_cm_id *id;
	bool was_on;

	spin_lock(&ln->lock);
	ln->detached = true;
	id = ln->cm_id;
	ln->cm_id = NULL;
	spin_unlock(&ln->lock);
	wake_up_all(&ln->wait);

	/* After this no handler runs, so pending no longer grows. */
	if (id)
		rdma_destroy_id(id);
	odp_listener_reject_pending(ln);

	mutex_lock(&dev->lock);
	was_on = !list_empty(&ln->dev_node);
	list_del_init(&ln->dev_node);
	mutex_unlock(&dev->lock);
	if (was_on)
		odp_rdmacg_uncharge(&ln->cg_obj, dev->ibdev,
				    RDMACG_RESOURCE_HCA_OBJECT);
}

void odp_listeners_detach_device(struct odp_device *dev)
{
	struct odp_listener *ln;

	for (;;) {
		mutex_lock(&dev->lock);
		ln = list_first_entry_or_null(&dev->listeners,
					      struct odp_listener, dev_node);
		if (ln)
			kref_get(&ln->uobj.ref);
		mutex_unlock(&dev->lock);
		if (!ln)
			break;
		odp_listener_detach(ln);
		odp_listener_put(ln);
	}
}

static void odp_listener_destroy(struct odp_uobj *uobj)
{
	odp_listener_detach(container_of(uobj, struct odp_listener, uobj));
}

static void odp_listener_free(struct odp_uobj *uobj)
{
	struct odp_listener *ln = container_of(uobj, struct odp_listener, uobj);

	odp_device_put(ln->dev);
	kfree_rcu(ln, uobj.rcu);
}

static const struct odp_uobj_ops odp_listener_ops = {
	.type		= ODP_UOBJ_LISTENER,
	.max_handle	= INT_MAX,
	.destroy	= odp_listener_destroy,
	.free		= odp_listener_free,
};

static int odp_listener_start(struct odp_listener *ln, struct net *net,
			      u32 addr, u32 port)
{
	struct sockaddr_in src;
	struct rdma_cm_id *id;
	int ret;

	/* In the caller's network namespace, as a socket would be. */
	id = rdma_create_id(net, odp_cm_handler, ln, RDMA_PS_TCP, IB_QPT_RC);
	if (IS_ERR(id))
		return PTR_ERR(id);
	odp_sockaddr_in(&src, addr, port);
	ret = rdma_bind_addr(id, (struct sockaddr *)&src);
	if (!ret)
		ret = rdma_listen(id, ln->backlog);
	if (ret) {
		rdma_destroy_id(id);
		return ret;
	}
	spin_lock(&ln->lock);
	if (!ln->detached) {
		ln->cm_id = id;
		id = NULL;
	}
	spin_unlock(&ln->lock);
	/* The device went away meanwhile. */
	if (id) {
		rdma_destroy_id(id);
		return -ENODEV;
	}
	return 0;
}

/* Charge the listener and put it on the device, unless that is gone. */
static int odp_listener_attach_device(struct odp_listener *ln,
				      struct odp_device *dev)
{
	int ret;

	mutex_lock(&dev->lock);
	if (dev->removed) {
		ret = -ENODEV;
	} else {
		ret = odp_rdmacg_charge(&ln->cg_obj, dev->ibdev,
					RDMACG_RESOURCE_HCA_OBJECT);
		if (!ret)
			list_add_tail(&ln->dev_node, &dev->listeners);
	}
	mutex_unlock(&dev->lock);
	return ret;
}

/* A new listener, listening already, reserved (see odp_uobj.c). */
struct odp_uobj *odp_listen(struct odp_ctx *ctx, struct odp_abi_listen *cmd)
{
	struct odp_device *dev = READ_ONCE(ctx->dev);
	struct odp_listener *ln;
	int ret;

	if (!dev)
		return ERR_PTR(-ENODEV);
	if (!cmd->backlog || cmd->backlog > 1024 || cmd->port > U16_MAX)
		return ERR_PTR(-EINVAL);

	ln = kzalloc(sizeof(*ln), GFP_KERNEL_ACCOUNT);
	if (!ln)
		return ERR_PTR(-ENOMEM);
	ln->type = ODP_CM_LISTENER;
	spin_lock_init(&ln->lock);
	INIT_LIST_HEAD(&ln->pending);
	INIT_LIST_HEAD(&ln->dev_node);
	init_waitqueue_head(&ln->wait);
	ln->backlog = cmd->backlog;
	kref_get(&dev->ref);
	ln->dev = dev;

	ret = odp_uobj_reserve(ctx, &ln->uobj, &odp_listener_ops);
	if (ret) {
		odp_listener_free(&ln->uobj);
		return ERR_PTR(ret);
	}
	ret = odp_listener_attach_device(ln, dev);
	if (!ret)
		ret = odp_listener_start(ln, ctx->net, cmd->addr, cmd->port);
	if (ret) {
		odp_uobj_abort(ctx, &ln->uobj);
		return ERR_PTR(ret);
	}
	cmd->listen_handle = ln->uobj.handle;
	return &ln->uobj;
}

static struct odp_conn_req *odp_listener_take(struct odp_listener *ln)
{
	struct odp_conn_req *req = NULL;

	spin_lock(&ln->lock);
	if (!list_empty(&ln->pending)) {
		req = list_first_entry(&ln->pending, struct odp_conn_req,
				       node);
		list_del(&req->node);
		ln->num_pending--;
	}
	spin_unlock(&ln->lock);
	return req;
}

/*
 * Wait for a connection request on @ln for @qp.  Destroying the listener
 * or the QP ends the wait: odp_qp_detach() wakes ln->wait through
 * qp->accepting_on.
 */
static int odp_listener_wait(struct odp_listener *ln, struct odp_qp *qp,
			     u32 timeout_ms, struct odp_conn_req **req)
{
	long timeout = timeout_ms ? msecs_to_jiffies(timeout_ms) :
				    MAX_SCHEDULE_TIMEOUT;
	long left;

	mutex_lock(&qp->lock);
	if (qp->accepting_on) {
		mutex_unlock(&qp->lock);
		return -EBUSY;
	}
	qp->accepting_on = ln;
	mutex_unlock(&qp->lock);

	left = wait_event_interruptible_timeout(ln->wait,
						(*req = odp_listener_take(ln)) ||
						READ_ONCE(ln->detached) ||
						READ_ONCE(qp->detached),
						timeout);
	mutex_lock(&qp->lock);
	qp->accepting_on = NULL;
	mutex_unlock(&qp->lock);

	if (*req)
		return 0;
	if (left < 0)
		return -EINTR;
	return left ? -ECONNABORTED : -ETIMEDOUT;
}

/*
 * Put the QP on the requested id and accept it.  detach_lock keeps the id
 * alive; rdma_accept() needs the id's handler lock, which must not nest
 * inside qp->lock (handlers take qp->lock).  *@owned: the QP took the id
 * (odp_qp_detach() destroys it, maybe right after detach_lock is dropped),
 * else it is still the caller's.
 */
static int odp_qp_accept_on(struct odp_qp *qp, struct rdma_cm_id *id,
			    bool *owned)
{
	struct rdma_conn_param param = odp_conn_param();
	int ret;

	mutex_lock(&qp->detach_lock);
	mutex_lock(&qp->lock);
	if (qp->detached) {
		ret = -ECONNABORTED;
		*owned = false;
	} else {
		qp->cm_id = id;
		*owned = true;
		ret = odp_wire_setup(qp);
	}
	mutex_unlock(&qp->lock);
	if (!ret) {
		/* From here on the id's events are the QP's. */
		rdma_lock_handler(id);
		id->context = qp;
		ret = rdma_accept(id, &param);
		rdma_unlock_handler(id);
	}
	mutex_unlock(&qp->detach_lock);
	/*
	 * Our QP attributes and parameters are constants: rdma_create_qp()
	 * and rdma_accept() fail with EINVAL only because the id's CM state
	 * moved on, that is, the peer withdrew its request (REJ, timeout)
	 * after the listener queued it.
	 */
	return ret == -EINVAL ? -ECONNABORTED : ret;
}

int odp_accept(struct odp_ctx *ctx, struct odp_abi_accept *cmd)
{
	struct odp_conn_req *req = NULL;
	struct odp_listener *ln;
	struct odp_qp *qp;
	int ret;

	if (cmd->reserved)
		return -EINVAL;
	ln = odp_listener_get(ctx, cmd->listen_handle);
	if (!ln)
		return -EINVAL;
	qp = odp_qp_get(ctx, cmd->qp_handle);
	if (!qp) {
		ret = -EINVAL;
		goto out_ln;
	}
	ret = odp_qp_start_connecting(qp, ln->dev);
	if (ret)
		goto out_qp;

	ret = odp_listener_wait(ln, qp, cmd->timeout_ms, &req);
	if (!ret) {
		bool owned;

		ret = odp_qp_accept_on(qp, req->cm_id, &owned);
		/* Not qp->cm_id: a detach may have taken and destroyed it. */
		if (ret && !owned) {
			rdma_reject(req->cm_id, NULL, 0,
				    IB_CM_REJ_CONSUMER_DEFINED);
			rdma_destroy_id(req->cm_id);
		}
		kfree(req);
	}
	if (!ret)
		ret = odp_qp_wait_connected(qp, 0);
	ret = odp_qp_connect_result(qp, ret);
out_qp:
	odp_qp_put(qp);
out_ln:
	odp_listener_put(ln);
	return ret;
}
