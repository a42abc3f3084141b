// SPDX-License-Identifier: MIT
/* Prefetch, like ibv_advise_mr(). */
#include "odp_int.h"

int odp_advise_mr(struct odp_pd *pd, enum odp_advice advice, uint32_t flags,
		  struct odp_sge *sg_list, uint32_t num_sge)
{
	struct odp_abi_sge sge[ODP_ABI_ADVISE_MAX_SGE];
	struct odp_abi_advise_mr cmd = { 0 };
	uint32_t i;

	if (!pd || (num_sge && !sg_list))
		return odp_fail(EINVAL);
	/* The kernel's answer too; refused here only to bound the copy. */
	if (num_sge > ODP_ABI_ADVISE_MAX_SGE)
		return odp_fail(EINVAL);

	/* Same layout (see abi_check.c), but the ABI struct is the contract. */
	for (i = 0; i < num_sge; i++) {
		sge[i].addr = sg_list[i].addr;
		sge[i].length = sg_list[i].length;
		sge[i].lkey = sg_list[i].lkey;
	}

	cmd.advice = (uint32_t)advice;
	cmd.flags = flags;
	cmd.pd_handle = pd->handle;
	cmd.num_sge = num_sge;	/* 0 is left to the kernel (EINVAL) */
	cmd.sg_list = odp_ptr(sge);
	return odp_cmd(pd->context, ODP_IOC_ADVISE_MR, &cmd);
}
