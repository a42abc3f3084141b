// SPDX-License-Identifier: GPL-2.0
/*
 * odp: debugfs `qps`, one line per QP with where its messages are: posted
 * WRs, receive buffers on the kernel QP and waiting for the work item, send
 * slots in flight, request credits, and when the work item last ran.  What
 * `rdma res show qp` is for a kernel QP, for finding a connection that
 * stopped moving.
 */
#include <linux/debugfs.h>
#include <linux/jiffies.h>
#include <linux/seq_file.h>

#include "odp_transport.h"

/* Protects odp_all_qps: every QP from create to free. */
static DEFINE_MUTEX(odp_all_qps_lock);
static LIST_HEAD(odp_all_qps);
static struct dentry *odp_debugfs_qps;

void odp_qp_debugfs_add(struct odp_qp *qp)
{
	mutex_lock(&odp_all_qps_lock);
	list_add_tail(&qp->all_node, &odp_all_qps);
	mutex_unlock(&odp_all_qps_lock);
}

/* Before the QP is freed; a QP never added is on no list. */
void odp_qp_debugfs_del(struct odp_qp *qp)
{
	mutex_lock(&odp_all_qps_lock);
	list_del_init(&qp->all_node);
	mutex_unlock(&odp_all_qps_lock);
}

static const char *odp_qp_state_name(enum odp_qp_state state)
{
	switch (state) {
	case ODP_QPS_RESET:
		return "reset";
	case ODP_QPS_CONNECTING:
		return "connecting";
	case ODP_QPS_RTS:
		return "rts";
	case ODP_QPS_ERROR:
		return "error";
	}
	return "?";
}

static const char *odp_qp_error_cause_name(enum odp_qp_error_cause cause)
{
	static const char *const names[] = {
		[ODP_QP_ERR_NONE]	= "none",
		[ODP_QP_ERR_WR]		= "wr",
		[ODP_QP_ERR_CONNECT]	= "connect",
		[ODP_QP_ERR_DETACHED]	= "detached",
		[ODP_QP_ERR_PEER_GONE]	= "peer_gone",
		[ODP_QP_ERR_WIRE_SEND]	= "wire_send",
		[ODP_QP_ERR_WIRE_RECV]	= "wire_recv",
		[ODP_QP_ERR_WIRE_POST]	= "wire_post",
		[ODP_QP_ERR_BAD_MSG]	= "bad_msg",
		[ODP_QP_ERR_NOMEM]	= "nomem",
		[ODP_QP_ERR_ASYNC]	= "async",
	};

	return cause < ARRAY_SIZE(names) && names[cause] ? names[cause] : "?";
}

static const char *odp_qp_work_name(struct odp_qp *qp)
{
	unsigned int busy = work_busy(&qp->work);

	if (busy & WORK_BUSY_RUNNING)
		return "running";
	return busy & WORK_BUSY_PENDING ? "queued" : "idle";
}

/* The fields only the QP's work item writes. */
struct odp_qp_work_view {
	u32	req_consumed;
	u32	req_advertised;
	u32	credit_msgs;
	u32	read_resp_done;
	bool	resp_active;
};

/*
 * Read without the work item's serialisation: a view for people, which may
 * be a message behind; nothing is computed from it.
 */
static void odp_qp_work_view(struct odp_qp *qp, struct odp_qp_work_view *w)
{
	/* data_race(): a stale count is a fine answer here (see above). */
	w->req_consumed = data_race(qp->req_consumed);
	/* data_race(): as above. */
	w->req_advertised = data_race(qp->req_advertised);
	/* data_race(): as above. */
	w->credit_msgs = data_race(qp->credit_msgs);
	/* data_race(): as above. */
	w->read_resp_done = data_race(qp->read_resp_done);
	/* data_race(): as above. */
	w->resp_active = data_race(qp->resp_wr.active);
}

static void odp_qp_show_one(struct seq_file *s, struct odp_qp *qp)
{
	unsigned long ran = READ_ONCE(qp->work_ran);
	struct odp_qp_queue_view view;
	struct odp_qp_work_view work;

	odp_qp_queue_view(qp, &view);
	odp_qp_work_view(qp, &work);
	seq_printf(s, "qp %u wire_qpn %u state %s%s sq %u rq %u",
		   qp->qp_num, READ_ONCE(qp->wire_qpn),
		   odp_qp_state_name(view.state),
		   view.disconnected ? " disconnected" : "",
		   view.sq_count, view.rq_count);
	seq_printf(s, " rx_posted %d rx_req %u rx_resp %u tx_outstanding %d",
		   atomic_read(&qp->rx_posted), view.rx_req, view.rx_resp,
		   atomic_read(&qp->tx_outstanding));
	seq_printf(s, " req_sent %u peer_consumed %u req_consumed %u req_advertised %u credit_msgs %u",
		   view.req_sent, view.peer_consumed, work.req_consumed,
		   work.req_advertised, work.credit_msgs);
	seq_printf(s, " resp_active %d read_resp_done %u work %s",
		   work.resp_active, work.read_resp_done,
		   odp_qp_work_name(qp));
	if (ran)
		seq_printf(s, " work_ran_ms_ago %u",
			   jiffies_to_msecs(jiffies - ran));
	if (view.state == ODP_QPS_ERROR)
		seq_printf(s, " error %s %d",
			   odp_qp_error_cause_name(view.error_cause),
			   view.error_detail);
	seq_putc(s, '\n');
}

static int odp_qps_show(struct seq_file *s, void *unused)
{
	struct odp_qp *qp;

	mutex_lock(&odp_all_qps_lock);
	list_for_each_entry(qp, &odp_all_qps, all_node)
		odp_qp_show_one(s, qp);
	mutex_unlock(&odp_all_qps_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(odp_qps);

/* Beside `stats` and `mrs`, in the ODP core's folder. */
void odp_qp_debugfs_init(void)
{
	odp_debugfs_qps = debugfs_create_file("qps", 0444,
					      odp_core_debugfs_dir(), NULL,
					      &odp_qps_fops);
}

void odp_qp_debugfs_exit(void)
{
	debugfs_remove(odp_debugfs_qps);
}
