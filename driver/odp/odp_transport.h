/* SPDX-License-Identifier: GPL-2.0 */
/*
 * odp transport: CQs, QPs and connections over a kernel RC QP of an RDMA
 * device, and the messages the peer's odp executes on its ODP MRs.
 *
 * Lock order, outermost first (Documentation/locking.md):
 *   odp_ctx.lock -> odp_device.lock -> odp_qp.detach_lock -> odp_qp.lock ->
 *   odp_qp.wq_lock -> odp_cq.lock
 *   odp_cq.poll_lock -> odp_cq.lock
 * odp_qp.lock may be taken in rdma_cm event handlers: never call
 * rdma_destroy_id() (which waits for handlers) while holding it.
 */
#ifndef ODP_TRANSPORT_H
#define ODP_TRANSPORT_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <rdma/ib_verbs.h>
#include <rdma/rdma_cm.h>

#include "odp_verbs.h"

struct odp_device {
	struct ib_device	*ibdev;		/* valid until removed */
	struct ib_pd		*pd;		/* for wire buffers */
	struct kref		ref;
	struct list_head	node;		/* on odp_devices */
	/* Protects removed, qps, listeners and ctxs. */
	struct mutex		lock;
	bool			removed;
	struct list_head	qps;		/* of struct odp_qp */
	struct list_head	listeners;	/* of struct odp_listener */
	struct list_head	ctxs;		/* bound odp_ctx, charged */
};

struct odp_cq {
	struct odp_uobj		uobj;		/* usecnt: QPs on it */
	u32			cqe;		/* capacity, constant */
	/*
	 * Serialises pollers, which copy entries out to user space before
	 * they take them off the ring: held across copy_to_user(), so only
	 * pollers of this CQ ever wait for it; never taken by producers.
	 */
	struct mutex		poll_lock;
	/* Protects the ring. Taken from QP work; never sleeps. */
	spinlock_t		lock;
	struct odp_abi_wc	*ring;
	u32			head;		/* oldest entry */
	u32			count;
	bool			overflow;	/* a completion was lost */
};

/* What an rdma_cm_id's context points at. */
enum odp_cm_owner_type {
	ODP_CM_LISTENER,
	ODP_CM_QP,
};

struct odp_listener {
	enum odp_cm_owner_type	type;		/* ODP_CM_LISTENER; first */
	struct odp_uobj		uobj;
	struct odp_device	*dev;		/* a reference */
	struct ib_rdmacg_object	cg_obj;		/* charged while on dev */
	struct list_head	dev_node;	/* on dev->listeners */
	struct rdma_cm_id	*cm_id;		/* NULL once detached */
	/* Protects pending and detached. */
	spinlock_t		lock;
	struct list_head	pending;	/* of struct odp_conn_req */
	bool			detached;
	wait_queue_head_t	wait;		/* for pending or detached */
	u32			backlog;
	u32			num_pending;
};

/* A connection request nobody has accepted yet. */
struct odp_conn_req {
	struct list_head	node;
	struct rdma_cm_id	*cm_id;
};

enum odp_qp_state {
	ODP_QPS_RESET,		/* created, not connected */
	ODP_QPS_CONNECTING,
	ODP_QPS_RTS,		/* connected */
	ODP_QPS_ERROR,		/* WRs complete with WR_FLUSH_ERR */
};

/*
 * Why a QP went to the error state: the first cause counts.  For debugfs,
 * where whoever sees only flushed completions looks for the reason.
 */
enum odp_qp_error_cause {
	ODP_QP_ERR_NONE,
	ODP_QP_ERR_WR,		/* a WR failed, here or at the peer */
	ODP_QP_ERR_CONNECT,	/* connecting or accepting failed */
	ODP_QP_ERR_DETACHED,	/* destroyed, or its device went away */
	ODP_QP_ERR_PEER_GONE,	/* the peer disconnected */
	ODP_QP_ERR_WIRE_SEND,	/* the kernel QP failed a send (detail: status) */
	ODP_QP_ERR_WIRE_RECV,	/* the kernel QP failed a receive (detail: status) */
	ODP_QP_ERR_WIRE_POST,	/* posting to the kernel QP failed (detail: errno) */
	ODP_QP_ERR_BAD_MSG,	/* the peer broke the protocol */
	ODP_QP_ERR_NOMEM,	/* no memory for a message */
	ODP_QP_ERR_ASYNC,	/* a fatal event of the kernel QP (detail: event) */
};

/* A posted send WR. */
struct odp_swqe {
	struct list_head	node;
	u64			wr_id;
	u32			opcode;		/* ODP_ABI_WR_* */
	bool			signaled;
	u32			imm;
	u64			remote_addr;
	u32			rkey;
	u64			compare_add;
	u64			swap;
	u32			length;		/* sum of the SGEs */
	u32			done;		/* bytes sent, or read back */
	bool			checked;	/* SGEs checked as a whole */
	u32			num_sge;
	struct odp_abi_sge	sge[] __counted_by(num_sge);
};

/* A posted receive WR. */
struct odp_rwqe {
	struct list_head	node;
	u64			wr_id;
	u32			length;		/* sum of the SGEs */
	u32			received;	/* bytes so far */
	u32			num_sge;
	struct odp_abi_sge	sge[] __counted_by(num_sge);
};

struct odp_qp;

/* A wire buffer, DMA-mapped, for one message either way. */
struct odp_wire_buf {
	struct ib_cqe		cqe;
	struct odp_qp		*qp;
	struct list_head	node;		/* on qp->rx_done */
	void			*data;
	u64			dma;
	u32			len;		/* bytes received or to send */
};

struct odp_qp {
	enum odp_cm_owner_type	type;		/* ODP_CM_QP; first */
	struct odp_uobj		uobj;
	/* The owner; valid while the work item may run (until destroyed). */
	struct odp_ctx		*ctx;
	u32			qp_num;		/* ours, constant; not the kernel QP's */
	struct list_head	all_node;	/* on odp_all_qps, for debugfs */
	/* Each a use until destroyed and a reference until freed. */
	struct odp_pd		*pd;
	struct odp_cq		*send_cq;
	struct odp_cq		*recv_cq;
	u32			max_send_wr;
	u32			max_recv_wr;
	u32			max_send_sge;
	u32			max_recv_sge;
	bool			sq_sig_all;

	/*
	 * Serialises odp_qp_detach() with itself, with rdma_accept() and with
	 * connect from publishing cm_id to rdma_resolve_addr()'s return; not
	 * taken by cm handlers.
	 */
	struct mutex		detach_lock;
	/*
	 * Protects detached and the setting up of cm_id, ib_cq and rx_bufs
	 * (in connect, accept and cm handlers).  Once detached is set they
	 * only change in odp_qp_detach().
	 */
	struct mutex		lock;
	bool			detached;
	struct odp_device	*dev;		/* a reference, until detached */
	struct ib_rdmacg_object	cg_obj;		/* charged while on dev */
	struct list_head	dev_node;	/* on dev->qps */
	struct odp_listener	*accepting_on;	/* an accept waits there */
	struct rdma_cm_id	*cm_id;
	struct ib_cq		*ib_cq;
	struct odp_wire_buf	*rx_bufs;	/* ODP_WIRE_RX_DEPTH of them */
	u32			wire_qpn;	/* the kernel QP's number, or 0 */
	struct completion	connected;	/* established or failed */
	bool			conn_settled;	/* under wq_lock */
	int			conn_status;	/* under wq_lock, then constant */

	/*
	 * Protects state (with error_cause and error_detail), the queues and
	 * counts below, the credit counts req_sent and peer_consumed,
	 * conn_settled/conn_status, and clearing dev.  Taken _bh (the kernel
	 * CQ's callbacks run in softirq), only by the accessors in
	 * odp_queue.c: no other file takes it or touches these fields (but
	 * for destroyed, read once without it by the work item, and
	 * conn_status, read after the connected completion).  The work item
	 * is queued under it (odp_qp_kick()).
	 */
	spinlock_t		wq_lock;
	enum odp_qp_state	state;
	enum odp_qp_error_cause	error_cause;	/* set with state ERROR */
	int			error_detail;
	struct list_head	sq;		/* posted, not all sent */
	struct list_head	sq_sent;	/* sent, awaiting response */
	struct list_head	rq;		/* posted receives */
	u32			sq_count;	/* sq + sq_sent */
	u32			rq_count;
	/*
	 * Received messages to process: the peer's requests, handled in
	 * order and stalled by a missing receive WR, and the responses to
	 * ours, never stalled, so that the two directions are independent.
	 */
	struct list_head	rx_req;
	struct list_head	rx_resp;
	u32			rx_req_count;	/* on rx_req */
	bool			disconnected;	/* peer left: error once rx is done */
	bool			destroyed;	/* no more work, no more completions */
	/* Wire sends not completed (send slots), lock-free. */
	atomic_t		tx_outstanding;
	/* Receive buffers on the kernel QP, for debugfs only. */
	atomic_t		rx_posted;
	wait_queue_head_t	tx_wq;		/* woken when the last completes */
	/* Only the work item touches read_resp_done to resp_wr. */
	u32			read_resp_done;	/* of the READ at rx head */

	/* Request credits (see odp_qp_work.c). */
	u32			req_sent;	/* our request messages; wq_lock */
	u32			peer_consumed;	/* of those, done by the peer; wq_lock */
	u32			req_consumed;	/* peer's requests we are done with */
	u32			req_advertised;	/* req_consumed the peer was told */
	u32			credit_msgs;	/* CREDIT messages sent, for debugfs */
	/* The peer's data request under way (first message checked). */
	struct odp_resp_wr {
		bool		active;
		u8		op;
		u32		rkey;
		u64		addr;	/* where the next message must land */
		u32		left;	/* bytes still to come */
		u32		total;
	} resp_wr;

	struct work_struct	work;		/* odp_qp_work() */
	unsigned long		work_ran;	/* jiffies, for debugfs only */
};

/* Wire format: a header and up to ODP_WIRE_MAX_PAYLOAD bytes of payload. */
enum odp_wire_op {
	ODP_WIRE_SEND = 1,
	ODP_WIRE_SEND_IMM,
	ODP_WIRE_WRITE,
	ODP_WIRE_WRITE_IMM,
	ODP_WIRE_READ_REQ,
	ODP_WIRE_CMP_SWAP,
	ODP_WIRE_FETCH_ADD,
	ODP_WIRE_ACK,		/* status: success or the error of the WR */
	ODP_WIRE_READ_RESP,
	ODP_WIRE_ATOMIC_RESP,
	ODP_WIRE_CREDIT,	/* only carries hdr->consumed */
};

#define ODP_WIRE_FIRST		BIT(0)
#define ODP_WIRE_LAST		BIT(1)

struct odp_wire_hdr {
	u8		op;		/* enum odp_wire_op */
	u8		status;		/* enum odp_abi_wc_status, in ACK */
	u8		flags;		/* ODP_WIRE_FIRST / LAST */
	u8		reserved;	/* 0 */
	__be32		imm;		/* as posted: already network order */
	__be32		rkey;
	__be32		length;		/* payload bytes of this message */
	__be64		addr;		/* remote address of this payload */
	__be64		compare_add;	/* atomics; ATOMIC_RESP: old value */
	__be64		swap;
	__be32		total;		/* bytes of the whole WR (READ: to read) */
	__be32		consumed;	/* the sender's req_consumed */
};

#define ODP_WIRE_BUF_SIZE	16384
#define ODP_WIRE_MAX_PAYLOAD	(ODP_WIRE_BUF_SIZE - sizeof(struct odp_wire_hdr))
#define ODP_WIRE_RX_DEPTH	32
#define ODP_WIRE_TX_DEPTH	32
/*
 * Request messages a side may have sent that the peer has not consumed:
 * at most half of the peer's receive buffers hold requests, so responses
 * (never stalled) always find one (see odp_qp_work.c).
 */
#define ODP_WIRE_REQ_CREDITS	(ODP_WIRE_RX_DEPTH / 2)

/* odp_dev.c */
int odp_dev_init(void);
void odp_dev_exit(void);
struct odp_device *odp_device_get_by_name(const char *name);
void odp_device_put(struct odp_device *dev);
int odp_bind_device(struct odp_ctx *ctx, struct odp_abi_bind_device *cmd);
int odp_rdmacg_charge(struct ib_rdmacg_object *obj, struct ib_device *ibdev,
		      enum rdmacg_resource_type type);
void odp_rdmacg_uncharge(struct ib_rdmacg_object *obj, struct ib_device *ibdev,
			 enum rdmacg_resource_type type);
void odp_device_unbind(struct odp_ctx *ctx);

/* odp_cq.c */
struct odp_uobj *odp_cq_create(struct odp_ctx *ctx,
			       struct odp_abi_create_cq *cmd);
int odp_cq_poll(struct odp_ctx *ctx, struct odp_abi_poll_cq *cmd);
void odp_cq_push(struct odp_cq *cq, const struct odp_abi_wc *wc);

/* odp_qp.c */
struct odp_uobj *odp_qp_create(struct odp_ctx *ctx,
			       struct odp_abi_create_qp *cmd);
struct odp_qp *odp_qp_get(struct odp_ctx *ctx, u32 handle);
void odp_qp_put(struct odp_qp *qp);
int odp_post_send(struct odp_ctx *ctx, struct odp_abi_post *cmd);
int odp_post_recv(struct odp_ctx *ctx, struct odp_abi_post *cmd);
void odp_qps_detach_device(struct odp_device *dev);
void odp_qp_complete_send(struct odp_qp *qp, struct odp_swqe *wqe, u32 status);
void odp_qp_complete_recv(struct odp_qp *qp, struct odp_rwqe *wqe, u32 status,
			  u32 opcode, u32 imm, bool with_imm);

/* odp_cm.c */
struct odp_uobj *odp_listen(struct odp_ctx *ctx, struct odp_abi_listen *cmd);
int odp_accept(struct odp_ctx *ctx, struct odp_abi_accept *cmd);
int odp_connect(struct odp_ctx *ctx, struct odp_abi_connect *cmd);
void odp_listeners_detach_device(struct odp_device *dev);
void odp_qp_detach(struct odp_qp *qp);

/* odp_qp_debugfs.c */
void odp_qp_debugfs_add(struct odp_qp *qp);
void odp_qp_debugfs_del(struct odp_qp *qp);
void odp_qp_debugfs_init(void);
void odp_qp_debugfs_exit(void);

/* odp_queue.c: the only code that takes odp_qp.wq_lock */
void odp_qp_queues_init(struct odp_qp *qp);
void odp_qp_queues_free(struct odp_qp *qp);
enum odp_qp_state odp_qp_state(struct odp_qp *qp);
void odp_qp_kick(struct odp_qp *qp);
void odp_qp_mark_destroyed(struct odp_qp *qp);
void odp_qp_set_error(struct odp_qp *qp, enum odp_qp_error_cause cause,
		      int detail);
int odp_qp_start_connecting(struct odp_qp *qp, struct odp_device *dev);
void odp_qp_established(struct odp_qp *qp);
void odp_qp_set_disconnected(struct odp_qp *qp);
bool odp_qp_peer_gone(struct odp_qp *qp);
void odp_qp_conn_done(struct odp_qp *qp, int status);
void odp_qp_clear_dev(struct odp_qp *qp);
int odp_sq_post(struct odp_qp *qp, struct odp_swqe *wqe);
struct odp_swqe *odp_sq_head(struct odp_qp *qp);
void odp_sq_mark_sent(struct odp_qp *qp, struct odp_swqe *wqe);
bool odp_sq_all_answered(struct odp_qp *qp);
struct odp_swqe *odp_sq_answered_wr(struct odp_qp *qp, bool error);
void odp_sq_remove(struct odp_qp *qp, struct odp_swqe *wqe);
struct odp_swqe *odp_sq_pop(struct odp_qp *qp);
void odp_sq_slot_free(struct odp_qp *qp);
int odp_rq_post(struct odp_qp *qp, struct odp_rwqe *wqe);
struct odp_rwqe *odp_rq_head(struct odp_qp *qp);
void odp_rq_remove(struct odp_qp *qp, struct odp_rwqe *wqe);
struct odp_rwqe *odp_rq_pop(struct odp_qp *qp);
void odp_rq_slot_free(struct odp_qp *qp);
bool odp_rx_enqueue(struct odp_qp *qp, struct odp_wire_buf *rx);
struct odp_wire_buf *odp_rx_req_head(struct odp_qp *qp);
struct odp_wire_buf *odp_rx_resp_head(struct odp_qp *qp);
void odp_rx_dequeue(struct odp_qp *qp, struct odp_wire_buf *rx, bool request);
void odp_rx_forget(struct odp_qp *qp);
bool odp_credits_left(struct odp_qp *qp);
void odp_credit_take(struct odp_qp *qp);

/* The queues at one instant, for debugfs. */
struct odp_qp_queue_view {
	enum odp_qp_state	state;
	u32			sq_count;
	u32			rq_count;
	u32			rx_req;
	u32			rx_resp;
	u32			req_sent;
	u32			peer_consumed;
	bool			disconnected;
	enum odp_qp_error_cause	error_cause;
	int			error_detail;
};

void odp_qp_queue_view(struct odp_qp *qp, struct odp_qp_queue_view *view);

/* odp_wire.c */
int odp_wire_setup(struct odp_qp *qp);
void odp_wire_teardown(struct odp_qp *qp);
bool odp_tx_reserve(struct odp_qp *qp);
void odp_tx_unreserve(struct odp_qp *qp);
void odp_tx_linger(struct odp_qp *qp);
struct odp_wire_buf *odp_tx_alloc(struct odp_qp *qp);
void odp_tx_free(struct odp_wire_buf *tx);
int odp_tx_post(struct odp_qp *qp, struct odp_wire_buf *tx);
int odp_rx_post(struct odp_qp *qp, struct odp_wire_buf *rx);

/* odp_qp_work.c */
void odp_qp_work(struct work_struct *work);

static inline struct odp_wire_hdr *odp_wire_hdr(struct odp_wire_buf *buf)
{
	return buf->data;
}

static inline void *odp_wire_payload(struct odp_wire_buf *buf)
{
	return buf->data + sizeof(struct odp_wire_hdr);
}

/* Responses never wait for a receive WR; requests are handled in order. */
static inline bool odp_wire_op_is_response(u8 op)
{
	return op == ODP_WIRE_ACK || op == ODP_WIRE_READ_RESP ||
	       op == ODP_WIRE_ATOMIC_RESP || op == ODP_WIRE_CREDIT;
}

/* What handling a received message came to. */
enum odp_rx_result {
	ODP_RX_DONE,		/* consumed: repost the buffer */
	ODP_RX_STALL,		/* wait: no receive WR or no send slot */
	ODP_RX_ERROR,		/* the QP went to the error state */
};

/* odp_requester.c */
bool odp_requester_step(struct odp_qp *qp);
enum odp_rx_result odp_requester_response(struct odp_qp *qp,
					  struct odp_wire_buf *rx);

/* odp_responder.c */
enum odp_rx_result odp_responder_request(struct odp_qp *qp,
					 struct odp_wire_buf *rx);

#endif /* ODP_TRANSPORT_H */
