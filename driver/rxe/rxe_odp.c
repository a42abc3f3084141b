// SPDX-License-Identifier: GPL-2.0
/*
 * rxe ODP: on-demand paging memory regions for Soft-RoCE, through the
 * project's ODP core (odp_core.ko, driver/core/odp_core.h).
 *
 * An ODP MR pins nothing.  It is a umem of the core: the core inserts the
 * MR's interval notifier, faults pages in on access (hmm_range_fault() with
 * the read_begin/read_retry loop), zaps its translations on invalidation
 * and waits for the accesses in flight.  Every rxe path that touches MR
 * memory - requester gather, responder scatter, READ responses, atomics,
 * atomic write - comes here for ODP MRs (rxe_mr.c checks mr->odp).  Faults
 * run in the QP's task, which runs on rxe's unbound workqueue in 6.12 and
 * may sleep; the core holds no MR-wide lock while it faults, so a fault
 * stalls neither the other QPs nor other accesses to the same MR.
 *
 * Implicit ODP: ibv_reg_mr(pd, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND)
 * covers the whole address space; the core builds a child umem per aligned
 * chunk on first access and frees it when it maps nothing any more.
 */
#include <linux/memcontrol.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/workqueue.h>
#include <rdma/restrack.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "core/odp_core.h"

/* The virtual address that @iova of the MR stands for. */
static u64 rxe_odp_va(struct rxe_mr *mr, u64 iova)
{
	return mr->odp_va + (iova - mr->ibmr.iova);
}

static bool rxe_odp_is_implicit(u64 start, u64 length)
{
	return !start && length == U64_MAX;
}

/**
 * rxe_odp_mr_init_user - register an ODP MR
 * @rxe: the device
 * @start: the virtual address of the first byte (0 for implicit ODP)
 * @length: bytes (U64_MAX for implicit ODP)
 * @iova: the address the device is given for @start
 * @access: IB_ACCESS_* flags, IB_ACCESS_ON_DEMAND among them
 * @mr: the MR, initialised but not valid yet
 *
 * Like an ODP NIC, registration neither checks nor touches the range: what
 * it allocates beyond the MR is the translation cache's directory, 8 bytes
 * per GiB of the range, and a page that is not mapped when the
 * device needs it fails that access (a remote or local access error).
 */
int rxe_odp_mr_init_user(struct rxe_dev *rxe, u64 start, u64 length, u64 iova,
			 int access, struct rxe_mr *mr)
{
	struct mem_cgroup *memcg;
	struct odp_umem *umem;
	u64 end;

	if (!current->mm)
		return -EINVAL;
	if (rxe_odp_is_implicit(start, length)) {
		if (iova)
			return -EINVAL;
	} else if (!length || check_add_overflow(start, length, &end) ||
		   end > TASK_SIZE) {
		return -EINVAL;
	}

	rxe_mr_init(access, mr);
	/* The translation cache is the registering process's memory. */
	memcg = get_mem_cgroup_from_mm(current->mm);
	if (rxe_odp_is_implicit(start, length))
		umem = odp_umem_create_implicit(current->mm, memcg,
						rxe->odp_sums);
	else
		umem = odp_umem_create(current->mm, ALIGN_DOWN(start, PAGE_SIZE),
				       PAGE_ALIGN(end), memcg, rxe->odp_sums);
	mem_cgroup_put(memcg);
	if (IS_ERR(umem))
		return PTR_ERR(umem);

	mr->odp = umem;
	mr->odp_va = start;
	mr->ibmr.type = IB_MR_TYPE_USER;
	mr->state = RXE_MR_STATE_VALID;
	return 0;
}

/* The MR is being destroyed and no reference is left: end and free. */
void rxe_odp_mr_cleanup(struct rxe_mr *mr)
{
	odp_umem_kill(mr->odp);
	odp_umem_free(mr->odp);
	mr->odp = NULL;
}

/*
 * Copy between @addr and the MR at @iova (range checked by the caller); a
 * fault takes the @ahead bytes after it along (the rest of the message).
 */
int rxe_odp_mr_copy(struct rxe_mr *mr, u64 iova, void *addr,
		    unsigned int length, enum rxe_mr_copy_dir dir, u64 ahead)
{
	return odp_umem_copy_ahead(mr->odp, rxe_odp_va(mr, iova), addr, length,
				   dir == RXE_TO_MR_OBJ, ahead);
}

/* An 8-byte atomic of a responder; returns a RESPST_* state or 0. */
int rxe_odp_mr_atomic_op(struct rxe_mr *mr, u64 iova, int opcode,
			 u64 compare, u64 swap_add, u64 *orig_val)
{
	u64 va = rxe_odp_va(mr, iova);
	int err;

	if (va & 7)
		return RESPST_ERR_MISALIGNED_ATOMIC;
	if (opcode == IB_OPCODE_RC_COMPARE_SWAP)
		err = odp_umem_atomic(mr->odp, va, ODP_UMEM_CMP_SWAP, compare,
				      swap_add, orig_val);
	else
		err = odp_umem_atomic(mr->odp, va, ODP_UMEM_FETCH_ADD,
				      swap_add, 0, orig_val);
	return err ? RESPST_ERR_RKEY_VIOLATION : 0;
}

/* ATOMIC WRITE: the 8 bytes land after every earlier write (release). */
int rxe_odp_mr_atomic_write(struct rxe_mr *mr, u64 iova, u64 value)
{
	u64 va = rxe_odp_va(mr, iova);

	if (va & 7)
		return RESPST_ERR_MISALIGNED_ATOMIC;
	if (odp_umem_atomic(mr->odp, va, ODP_UMEM_WRITE, value, 0, NULL))
		return RESPST_ERR_RKEY_VIOLATION;
	return 0;
}

/* A prefetch that runs after advise_mr returned; holds its MRs. */
struct rxe_odp_prefetch {
	struct work_struct	work;
	unsigned int		flags;		/* ODP_UMEM_FAULT_* */
	u32			num;
	struct {
		struct rxe_mr	*mr;		/* a reference */
		u64		start;		/* page-aligned VAs */
		u64		end;
	} range[] __counted_by(num);
};

static void rxe_odp_prefetch_free(struct rxe_odp_prefetch *pf)
{
	u32 i;

	for (i = 0; i < pf->num; i++)
		if (pf->range[i].mr)
			rxe_put(pf->range[i].mr);
	kfree(pf);
}

/* Fault every range in; the first error is returned, all are tried. */
static int rxe_odp_prefetch_run(struct rxe_odp_prefetch *pf)
{
	int ret = 0;
	u32 i;

	for (i = 0; i < pf->num; i++) {
		struct rxe_mr *mr = pf->range[i].mr;
		int err;

		err = odp_umem_prefetch(mr->odp, pf->range[i].start,
					pf->range[i].end, pf->flags);
		if (err && !ret)
			ret = err;
	}
	return ret;
}

static void rxe_odp_prefetch_work(struct work_struct *work)
{
	struct rxe_odp_prefetch *pf =
		container_of(work, struct rxe_odp_prefetch, work);
	struct mem_cgroup *old;

	/* Errors show as fault_errors; nobody waits for them. */
	old = set_active_memcg(odp_umem_memcg(pf->range[0].mr->odp));
	rxe_odp_prefetch_run(pf);
	set_active_memcg(old);
	rxe_odp_prefetch_free(pf);
}

static unsigned int rxe_odp_advice_flags(enum ib_uverbs_advise_mr_advice a)
{
	switch (a) {
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE:
		return ODP_UMEM_FAULT_WRITE;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT:
		return ODP_UMEM_FAULT_NO_FAULT;
	default:
		return 0;
	}
}

/* Resolve one SGE: an ODP MR of @pd holding it, with the rights advised. */
static int rxe_odp_prefetch_sge(struct rxe_pd *pd, const struct ib_sge *sge,
				enum ib_uverbs_advise_mr_advice advice,
				struct rxe_odp_prefetch *pf, u32 i)
{
	int access = advice == IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE ?
		     IB_ACCESS_LOCAL_WRITE : 0;
	struct rxe_mr *mr;
	u64 va;

	mr = lookup_mr(pd, access, sge->lkey, RXE_LOOKUP_LOCAL);
	if (!mr)
		return -ENOENT;
	pf->range[i].mr = mr;
	if (!mr->odp || !sge->length ||
	    mr_check_range(mr, sge->addr, sge->length))
		return -EINVAL;
	va = rxe_odp_va(mr, sge->addr);
	pf->range[i].start = ALIGN_DOWN(va, PAGE_SIZE);
	pf->range[i].end = PAGE_ALIGN(va + sge->length);
	return 0;
}

/**
 * rxe_ib_advise_mr - the advise_mr verb: prefetch ODP MR ranges
 * @ibpd: the PD the SGEs' MRs must be on
 * @advice: PREFETCH, PREFETCH_WRITE or PREFETCH_NO_FAULT
 * @flags: IB_UVERBS_ADVISE_MR_FLAG_FLUSH to return only once done
 * @sg_list: the ranges, by lkey
 * @num_sge: how many
 * @attrs: unused
 *
 * Return: 0, -EINVAL / -ENOENT for a bad SGE (nothing is done then), or
 * with FLUSH the first fault error.
 */
int rxe_ib_advise_mr(struct ib_pd *ibpd, enum ib_uverbs_advise_mr_advice advice,
		     u32 flags, struct ib_sge *sg_list, u32 num_sge,
		     struct uverbs_attr_bundle *attrs)
{
	struct rxe_pd *pd = to_rpd(ibpd);
	struct rxe_odp_prefetch *pf;
	int ret = 0;
	u32 i;

	if (advice > IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT ||
	    flags & ~IB_UVERBS_ADVISE_MR_FLAG_FLUSH || !num_sge)
		return -EINVAL;

	pf = kzalloc(struct_size(pf, range, num_sge), GFP_KERNEL_ACCOUNT);
	if (!pf)
		return -ENOMEM;
	pf->num = num_sge;
	pf->flags = rxe_odp_advice_flags(advice);
	for (i = 0; i < num_sge && !ret; i++)
		ret = rxe_odp_prefetch_sge(pd, &sg_list[i], advice, pf, i);
	if (ret) {
		rxe_odp_prefetch_free(pf);
		return ret;
	}

	if (!(flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH)) {
		INIT_WORK(&pf->work, rxe_odp_prefetch_work);
		queue_work(system_unbound_wq, &pf->work);
		return 0;
	}
	ret = rxe_odp_prefetch_run(pf);
	rxe_odp_prefetch_free(pf);
	return ret;
}

/*
 * ODP counters, per MR and per device.
 *
 * Every count of an ODP MR's umem goes to the MR and to its device's
 * totals (rxe->odp_sums, given to the core at registration): per CPU, so
 * that MRs counting on different CPUs share no cache line, and summed when
 * read.  The device's totals live as long as the device, so they keep
 * what its deregistered MRs counted: they are port hw counters of the
 * device (`rdma statistic show link rxe0/1`, sysfs ports/1/hw_counters/),
 * named as the MR's (rxe_hw_counters.c names both, mlx5's names where mlx5
 * has one).  pages_mapped is a gauge: what the live MRs map now.
 */
static const struct {
	enum rxe_counters	cnt;	/* RXE_CNT_ODP_FIRST.. */
	enum odp_umem_stat	stat;
} rxe_odp_counters[] = {
	{ RXE_CNT_ODP_PAGE_FAULTS,		ODP_UMEM_STAT_PAGES_FAULTED },
	{ RXE_CNT_ODP_PAGE_FAULTS_HANDLED,	ODP_UMEM_STAT_FAULTS },
	{ RXE_CNT_ODP_PAGE_INVALIDATIONS,	ODP_UMEM_STAT_PAGES_INVALIDATED },
	{ RXE_CNT_ODP_PAGE_INVALIDATION_EVENTS,	ODP_UMEM_STAT_INVALIDATIONS },
	{ RXE_CNT_ODP_PAGE_PREFETCH,		ODP_UMEM_STAT_PREFETCHES },
	{ RXE_CNT_ODP_FAULT_RETRIES,		ODP_UMEM_STAT_RETRIES },
	{ RXE_CNT_ODP_FAULT_BUSY_RETRIES,	ODP_UMEM_STAT_BUSY_RETRIES },
	{ RXE_CNT_ODP_FAULT_ERRORS,		ODP_UMEM_STAT_FAULT_ERRORS },
	{ RXE_CNT_ODP_NONBLOCK_INVALIDATIONS,	ODP_UMEM_STAT_NONBLOCK_INVALIDATIONS },
	{ RXE_CNT_ODP_NONBLOCK_REFUSED,		ODP_UMEM_STAT_NONBLOCK_REFUSED },
	{ RXE_CNT_ODP_PAGES_MAPPED,		ODP_UMEM_STAT_PAGES_MAPPED },
	{ RXE_CNT_ODP_DEVICE_ACCESSES,		ODP_UMEM_STAT_ACCESSES },
	{ RXE_CNT_ODP_DEVICE_ACCESS_BYTES,	ODP_UMEM_STAT_ACCESS_BYTES },
};

static_assert(ARRAY_SIZE(rxe_odp_counters) == RXE_NUM_OF_ODP_COUNTERS);

/* The device's ODP totals start at 0 with the device; freed with it. */
int rxe_odp_dev_init(struct rxe_dev *rxe)
{
	rxe->odp_sums = alloc_percpu(struct odp_umem_sums);
	return rxe->odp_sums ? 0 : -ENOMEM;
}

/* Called once the device's MRs are all gone: nothing counts any more. */
void rxe_odp_dev_cleanup(struct rxe_dev *rxe)
{
	free_percpu(rxe->odp_sums);
	rxe->odp_sums = NULL;
}

/* The device's ODP hw counters, from RXE_CNT_ODP_FIRST on, into @values. */
void rxe_odp_read_counters(struct rxe_dev *rxe, u64 *values)
{
	u64 sums[ODP_UMEM_STAT_MAX];
	unsigned int i;

	odp_umem_sums_read(rxe->odp_sums, sums, ODP_UMEM_STAT_MAX);
	for (i = 0; i < ARRAY_SIZE(rxe_odp_counters); i++)
		values[rxe_odp_counters[i].cnt - RXE_CNT_ODP_FIRST] =
			sums[rxe_odp_counters[i].stat];
}

/* The ODP counters of one MR, for rdma's netlink stat and restrack. */
int rxe_odp_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr)
{
	struct rxe_mr *mr = to_rmr(ibmr);
	u64 values[ODP_UMEM_STAT_MAX];
	struct nlattr *table;
	unsigned int i;

	if (!mr->odp)
		return 0;
	odp_umem_read_stats(mr->odp, values, ODP_UMEM_STAT_MAX);

	table = nla_nest_start(msg, RDMA_NLDEV_ATTR_STAT_HWCOUNTERS);
	if (!table)
		return -EMSGSIZE;
	for (i = 0; i < ARRAY_SIZE(rxe_odp_counters); i++) {
		const char *name = rxe_counter_name(rxe_odp_counters[i].cnt);

		if (rdma_nl_stat_hwcounter_entry(msg, name,
						 values[rxe_odp_counters[i].stat]))
			goto err;
	}
	nla_nest_end(msg, table);
	return 0;
err:
	nla_nest_cancel(msg, table);
	return -EMSGSIZE;
}

/* What the device reports: ODP for every transport rxe has. */
void rxe_odp_init_device_attr(struct rxe_dev *rxe)
{
	struct ib_odp_caps *caps = &rxe->attr.odp_caps;
	u32 rc = IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
		 IB_ODP_SUPPORT_WRITE | IB_ODP_SUPPORT_READ |
		 IB_ODP_SUPPORT_ATOMIC | IB_ODP_SUPPORT_SRQ_RECV;

	rxe->attr.kernel_cap_flags |= IBK_ON_DEMAND_PAGING;
	caps->general_caps = IB_ODP_SUPPORT | IB_ODP_SUPPORT_IMPLICIT;
	caps->per_transport_caps.rc_odp_caps = rc;
	caps->per_transport_caps.uc_odp_caps = IB_ODP_SUPPORT_SEND |
					       IB_ODP_SUPPORT_RECV |
					       IB_ODP_SUPPORT_WRITE;
	caps->per_transport_caps.ud_odp_caps = IB_ODP_SUPPORT_SEND |
					       IB_ODP_SUPPORT_RECV;
}

/*
 * Deferred faults (odp_fault=deferred).
 *
 * By default a responder's access to ODP pages that are not in the core's
 * cache faults them in inline, in the QP's task.  In deferred mode the
 * responder of an RC QP only asks the core whether the pages of a request
 * (packet) are cached (ODP_UMEM_FAULT_CHECK, which never faults); if not,
 * it hands the fault to a worker (rxe_odp_wq, holding the QP and the MRs)
 * and answers the packet with an RNR NAK, as an ODP NIC does.  Nothing of
 * the request has been executed then: the requester retries from its
 * first unacknowledged PSN after the QP's min_rnr_timer, the responder
 * acks the packets it already has as duplicates and executes the NAKed
 * one, now cached.  The worker's outcome is kept per QP for the request's
 * PSN (qp->resp.odp): a fault that failed (a page not mapped, no write
 * permission) fails that request's retry with the access error an inline
 * fault gives, instead of NAKing it forever.
 *
 * What is checked: an RDMA WRITE packet's payload range (the rest of the
 * message is faulted ahead, errors ignored); an RDMA READ's whole range,
 * once, before its first response; an atomic's or atomic write's 8 bytes;
 * a SEND packet's part of the receive WQE (and ahead of it).  Not deferred:
 * UC/UD QPs (they have no retry: a NAK would be a loss), the first packet
 * of a SEND or WRITE with immediate into an SRQ (the SRQ WQE is consumed
 * before execute), the requester's own gather and its READ/atomic
 * response scatter (local accesses: no peer to retry them), and a page
 * invalidated between the check and the copy (it faults inline).
 */
static bool rxe_odp_defer __read_mostly;
static struct workqueue_struct *rxe_odp_wq;

static int rxe_odp_fault_set(const char *val, const struct kernel_param *kp)
{
	if (sysfs_streq(val, "inline"))
		WRITE_ONCE(rxe_odp_defer, false);
	else if (sysfs_streq(val, "deferred"))
		WRITE_ONCE(rxe_odp_defer, true);
	else
		return -EINVAL;
	return 0;
}

static int rxe_odp_fault_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n",
			  READ_ONCE(rxe_odp_defer) ? "deferred" : "inline");
}

static const struct kernel_param_ops rxe_odp_fault_ops = {
	.set	= rxe_odp_fault_set,
	.get	= rxe_odp_fault_get,
};
module_param_cb(odp_fault, &rxe_odp_fault_ops, NULL, 0644);
MODULE_PARM_DESC(odp_fault,
		 "where a responder's ODP fault runs: inline (in the QP's task, default) or deferred (a worker, the requester retries after an RNR NAK)");

/* How far beyond the packet a deferred fault faults ahead. */
#define RXE_ODP_AHEAD		SZ_256K

/* One deferred fault: the ranges of one request, for its PSN. */
struct rxe_odp_fault {
	struct work_struct	work;
	struct rxe_qp		*qp;		/* a reference */
	u32			psn;
	u32			used;
	u32			cap;
	struct {
		struct rxe_mr	*mr;		/* a reference */
		u64		start;		/* page-aligned VAs */
		u64		end;
		unsigned int	flags;		/* ODP_UMEM_FAULT_* */
		bool		must;		/* else ahead: errors ignored */
	} range[] __counted_by(cap);
};

int rxe_odp_init(void)
{
	rxe_odp_wq = alloc_workqueue("rxe_odp_fault", WQ_UNBOUND, 0);
	return rxe_odp_wq ? 0 : -ENOMEM;
}

void rxe_odp_exit(void)
{
	destroy_workqueue(rxe_odp_wq);
}

void rxe_odp_qp_init(struct rxe_qp *qp)
{
	spin_lock_init(&qp->resp.odp.lock);
	qp->resp.odp.valid = false;
}

/* The QP is reset: what a worker finds out is of no request any more. */
void rxe_odp_qp_reset(struct rxe_qp *qp)
{
	spin_lock_bh(&qp->resp.odp.lock);
	qp->resp.odp.valid = false;
	spin_unlock_bh(&qp->resp.odp.lock);
}

/* Is the MR range in the core's cache?  Only a clear "no" defers. */
static bool rxe_odp_missing(struct rxe_mr *mr, u64 iova, u64 len, bool write)
{
	u64 va = rxe_odp_va(mr, iova);

	return odp_umem_fault(mr->odp, ALIGN_DOWN(va, PAGE_SIZE),
			      PAGE_ALIGN(va + len), ODP_UMEM_FAULT_CHECK |
			      (write ? ODP_UMEM_FAULT_WRITE : 0)) == -EAGAIN;
}

static void rxe_odp_add(struct rxe_odp_fault *f, struct rxe_mr *mr, u64 iova,
			u64 len, bool write, bool must)
{
	u64 va = rxe_odp_va(mr, iova);
	u32 i = f->used;

	if (!len || i == f->cap)
		return;
	rxe_get(mr);
	f->range[i].mr = mr;
	f->range[i].start = ALIGN_DOWN(va, PAGE_SIZE);
	f->range[i].end = PAGE_ALIGN(va + len);
	f->range[i].flags = write ? ODP_UMEM_FAULT_WRITE : 0;
	f->range[i].must = must;
	f->used++;
}

static void rxe_odp_fault_free(struct rxe_odp_fault *f)
{
	u32 i;

	for (i = 0; i < f->used; i++)
		rxe_put(f->range[i].mr);
	rxe_put(f->qp);
	kfree(f);
}

static int rxe_odp_fault_range(struct rxe_odp_fault *f, u32 i)
{
	struct odp_umem *umem = f->range[i].mr->odp;
	struct mem_cgroup *old;
	int err;

	old = set_active_memcg(odp_umem_memcg(umem));
	err = odp_umem_fault(umem, f->range[i].start, f->range[i].end,
			     f->range[i].flags);
	set_active_memcg(old);
	return err;
}

static void rxe_odp_fault_work(struct work_struct *work)
{
	struct rxe_odp_fault *f = container_of(work, struct rxe_odp_fault, work);
	struct rxe_qp *qp = f->qp;
	int err = 0;
	u32 i;

	for (i = 0; i < f->used && !err; i++)
		if (f->range[i].must)
			err = rxe_odp_fault_range(f, i);
	/* Kept being invalidated: not the request's fault, let it retry. */
	if (err == -EBUSY)
		err = 0;

	spin_lock_bh(&qp->resp.odp.lock);
	if (qp->resp.odp.valid && qp->resp.odp.psn == f->psn &&
	    qp->resp.odp.busy) {
		qp->resp.odp.busy = false;
		qp->resp.odp.failed = err != 0;
	}
	spin_unlock_bh(&qp->resp.odp.lock);
	if (err)
		rxe_counter_inc(to_rdev(qp->ibqp.device),
				RXE_CNT_ODP_DEFERRED_ERR);

	for (i = 0; i < f->used && !err; i++)
		if (!f->range[i].must)
			rxe_odp_fault_range(f, i);
	rxe_odp_fault_free(f);
}

/*
 * The request at @psn found pages missing (@miss) or not.  Returns 0 to
 * execute it, RESPST_ERR_RNR to NAK it (*@queue: and hand its fault to a
 * worker), or @fail when the worker's fault for this request failed.
 */
static enum resp_states rxe_odp_decide(struct rxe_qp *qp, u32 psn, bool miss,
				       enum resp_states fail, bool *queue)
{
	enum resp_states state = 0;

	*queue = false;
	if (!miss && !READ_ONCE(qp->resp.odp.valid))
		return 0;

	spin_lock_bh(&qp->resp.odp.lock);
	if (qp->resp.odp.valid && qp->resp.odp.psn == psn) {
		if (qp->resp.odp.busy) {
			state = miss ? RESPST_ERR_RNR : 0;
			goto out;
		}
		qp->resp.odp.valid = false;
		if (miss && qp->resp.odp.failed) {
			state = fail;
			goto out;
		}
	}
	if (miss) {
		qp->resp.odp.valid = true;
		qp->resp.odp.psn = psn;
		qp->resp.odp.busy = true;
		qp->resp.odp.failed = false;
		*queue = true;
		state = RESPST_ERR_RNR;
	}
out:
	spin_unlock_bh(&qp->resp.odp.lock);
	return state;
}

static struct rxe_odp_fault *rxe_odp_fault_alloc(struct rxe_qp *qp, u32 psn,
						 u32 cap)
{
	struct rxe_odp_fault *f;

	/* The QP's task must not sleep for it (6.1 runs it in a tasklet). */
	f = kzalloc(struct_size(f, range, cap), GFP_ATOMIC | __GFP_NOWARN);
	if (!f)
		return NULL;
	f->cap = cap;
	f->psn = psn;
	if (!rxe_get(qp)) {
		kfree(f);
		return NULL;
	}
	f->qp = qp;
	INIT_WORK(&f->work, rxe_odp_fault_work);
	return f;
}

/* Queue @f, or give up on it (the retry will try again). */
static void rxe_odp_fault_queue(struct rxe_qp *qp, struct rxe_odp_fault *f)
{
	if (!f) {
		rxe_odp_qp_reset(qp);
		return;
	}
	rxe_counter_inc(to_rdev(qp->ibqp.device), RXE_CNT_ODP_DEFERRED);
	queue_work(rxe_odp_wq, &f->work);
}

/* One MR range of an RDMA WRITE packet, READ or atomic: defer its fault. */
static enum resp_states rxe_odp_defer_mr(struct rxe_qp *qp, struct rxe_mr *mr,
					 u32 psn, u64 iova, u64 len, u64 ahead,
					 bool write)
{
	struct rxe_odp_fault *f;
	enum resp_states state;
	bool queue;

	state = rxe_odp_decide(qp, psn, rxe_odp_missing(mr, iova, len, write),
			       RESPST_ERR_RKEY_VIOLATION, &queue);
	if (!queue)
		return state;
	f = rxe_odp_fault_alloc(qp, psn, 2);
	if (f) {
		rxe_odp_add(f, mr, iova, len, write, true);
		rxe_odp_add(f, mr, iova + len, ahead, write, false);
	}
	rxe_odp_fault_queue(qp, f);
	return state;
}

/*
 * Walk the receive WQE from where it stands: @len bytes the packet needs,
 * then up to @ahead more.  Without @f, say whether a needed ODP page is
 * missing; with @f, collect the ODP ranges.  A bad SGE is left to
 * copy_data() to report.
 */
static bool rxe_odp_recv_walk(struct rxe_qp *qp, u32 len, u32 ahead,
			      struct rxe_odp_fault *f)
{
	struct rxe_dma_info *dma = &qp->resp.wqe->dma;
	u32 i = dma->cur_sge, off = dma->sge_offset;
	u64 total = min_t(u64, (u64)len + ahead, dma->resid), done = 0;

	while (done < total && i < dma->num_sge) {
		struct rxe_sge *sge = &dma->sge[i];
		struct rxe_mr *mr;
		u64 n, need;

		if (off >= sge->length) {
			i++;
			off = 0;
			continue;
		}
		n = min_t(u64, sge->length - off, total - done);
		need = done < len ? min_t(u64, n, len - done) : 0;
		mr = lookup_mr(qp->pd, IB_ACCESS_LOCAL_WRITE, sge->lkey,
			       RXE_LOOKUP_LOCAL);
		if (mr && mr->odp && !mr_check_range(mr, sge->addr + off, n)) {
			if (!f && need &&
			    rxe_odp_missing(mr, sge->addr + off, need, true)) {
				rxe_put(mr);
				return true;
			}
			if (f) {
				rxe_odp_add(f, mr, sge->addr + off, need, true,
					    true);
				rxe_odp_add(f, mr, sge->addr + off + need,
					    n - need, true, false);
			}
		}
		if (mr)
			rxe_put(mr);
		done += n;
		off += n;
	}
	return false;
}

/* A SEND packet: the part of the receive WQE it fills. */
static enum resp_states rxe_odp_defer_recv(struct rxe_qp *qp,
					   struct rxe_pkt_info *pkt)
{
	u32 len = payload_size(pkt);
	struct rxe_odp_fault *f;
	enum resp_states state;
	bool queue;

	if (!qp->resp.wqe || !len || len > qp->resp.wqe->dma.resid)
		return 0;
	state = rxe_odp_decide(qp, pkt->psn,
			       rxe_odp_recv_walk(qp, len, 0, NULL),
			       RESPST_ERR_LOC_PROT, &queue);
	if (!queue)
		return state;
	/* num_sge was checked against the queue's max_sge when it was read */
	f = rxe_odp_fault_alloc(qp, pkt->psn, 2 * qp->resp.wqe->dma.num_sge);
	if (f)
		rxe_odp_recv_walk(qp, len, RXE_ODP_AHEAD, f);
	rxe_odp_fault_queue(qp, f);
	return state;
}

/**
 * rxe_odp_resp_execute - defer the ODP fault of a request about to execute
 * @qp: the responder's QP
 * @pkt: the request packet; nothing of it has been executed yet
 *
 * Return: 0 to execute it (inline mode, no ODP page missing, or not
 * deferrable), RESPST_ERR_RNR to NAK it while a worker faults, or the
 * access error the fault of this request ended in.
 */
enum resp_states rxe_odp_resp_execute(struct rxe_qp *qp,
				      struct rxe_pkt_info *pkt)
{
	struct rxe_mr *mr = qp->resp.mr;
	u64 iova = qp->resp.va + qp->resp.offset;

	if (!READ_ONCE(rxe_odp_defer) || qp_type(qp) != IB_QPT_RC)
		return 0;

	if (pkt->mask & RXE_SEND_MASK) {
		/* An SRQ WQE is consumed before this: NAKing would lose it. */
		if (qp->srq && (pkt->mask & RXE_RWR_MASK))
			return 0;
		return rxe_odp_defer_recv(qp, pkt);
	}
	if (!mr || !mr->odp)
		return 0;
	if (pkt->mask & RXE_WRITE_MASK) {
		u32 len = payload_size(pkt);

		if (qp->srq && (pkt->mask & RXE_RWR_MASK))
			return 0;
		if (!len || len > qp->resp.resid)
			return 0;
		return rxe_odp_defer_mr(qp, mr, pkt->psn, iova, len,
					min_t(u32, qp->resp.resid - len,
					      RXE_ODP_AHEAD), true);
	}
	if (pkt->mask & RXE_READ_MASK)
		return qp->resp.resid ?
		       rxe_odp_defer_mr(qp, mr, pkt->psn, iova, qp->resp.resid,
					0, false) : 0;
	if (pkt->mask & (RXE_ATOMIC_MASK | RXE_ATOMIC_WRITE_MASK))
		return rxe_odp_defer_mr(qp, mr, pkt->psn, iova, sizeof(u64), 0,
					true);
	return 0;
}

/**
 * rxe_odp_resp_read_replay - defer the fault of a replayed RDMA READ
 * @qp: the responder's QP
 * @mr: the READ's MR
 * @res: the READ's responder resource, about to send its first response
 * @psn: the retried request's PSN
 *
 * Return: as rxe_odp_resp_execute().
 */
enum resp_states rxe_odp_resp_read_replay(struct rxe_qp *qp,
					  struct rxe_mr *mr,
					  struct resp_res *res, u32 psn)
{
	if (!READ_ONCE(rxe_odp_defer) || qp_type(qp) != IB_QPT_RC ||
	    !mr->odp || !res->read.resid)
		return 0;
	return rxe_odp_defer_mr(qp, mr, psn, res->read.va, res->read.resid, 0,
				false);
}
