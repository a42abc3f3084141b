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
#include <linux/overflow.h>
#include <linux/sched/mm.h>
#include <linux/workqueue.h>
#include <rdma/restrack.h>

#include "rxe.h"
#include "rxe_loc.h"
#include "core/odp_core.h"

/* Every ODP counter of every rxe device, for the module's lifetime. */
static atomic64_t rxe_odp_sums[ODP_UMEM_STAT_MAX];

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
 * Like an ODP NIC, registration neither checks nor touches the range: the
 * cost does not depend on the length, and a page that is not mapped when
 * the device needs it fails that access (a remote or local access error).
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
						rxe_odp_sums);
	else
		umem = odp_umem_create(current->mm, ALIGN_DOWN(start, PAGE_SIZE),
				       PAGE_ALIGN(end), memcg, rxe_odp_sums);
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

/* Copy between @addr and the MR at @iova (range checked by the caller). */
int rxe_odp_mr_copy(struct rxe_mr *mr, u64 iova, void *addr,
		    unsigned int length, enum rxe_mr_copy_dir dir)
{
	return odp_umem_copy(mr->odp, rxe_odp_va(mr, iova), addr, length,
			     dir == RXE_TO_MR_OBJ);
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

		err = odp_umem_fault(mr->odp, pf->range[i].start,
				     pf->range[i].end, pf->flags);
		odp_umem_count(mr->odp, ODP_UMEM_STAT_PREFETCHES, 1);
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

/* Named as mlx5 names them, for `rdma stat show mr`. */
static const struct {
	const char		*name;
	enum odp_umem_stat	stat;
} rxe_odp_stat_names[] = {
	{ "page_faults",		ODP_UMEM_STAT_PAGES_FAULTED },
	{ "page_faults_handled",	ODP_UMEM_STAT_FAULTS },
	{ "page_invalidations",		ODP_UMEM_STAT_PAGES_INVALIDATED },
	{ "page_invalidation_events",	ODP_UMEM_STAT_INVALIDATIONS },
	{ "page_prefetch",		ODP_UMEM_STAT_PREFETCHES },
	{ "fault_retries",		ODP_UMEM_STAT_RETRIES },
	{ "fault_errors",		ODP_UMEM_STAT_FAULT_ERRORS },
	{ "nonblock_invalidations",	ODP_UMEM_STAT_NONBLOCK_INVALIDATIONS },
	{ "nonblock_refused",		ODP_UMEM_STAT_NONBLOCK_REFUSED },
	{ "pages_mapped",		ODP_UMEM_STAT_PAGES_MAPPED },
};

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
	for (i = 0; i < ARRAY_SIZE(rxe_odp_stat_names); i++)
		if (rdma_nl_stat_hwcounter_entry(msg, rxe_odp_stat_names[i].name,
						 values[rxe_odp_stat_names[i].stat]))
			goto err;
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
