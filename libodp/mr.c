// SPDX-License-Identifier: MIT
/*
 * Memory regions: registration and device access through the driver's
 * translation cache. Arguments go to the kernel as they are, so the errors
 * are the kernel's (Documentation/ABI.md); only NULL objects are refused
 * here.
 */
#include <stdlib.h>

#include "odp_int.h"

struct odp_mr *odp_reg_mr(struct odp_pd *pd, void *addr, size_t length,
			  int access)
{
	struct odp_abi_reg_mr cmd = { 0 };
	struct odp_mr *mr;
	int err;

	if (!pd) {
		errno = EINVAL;
		return NULL;
	}

	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return NULL;

	cmd.addr = odp_ptr(addr);
	cmd.length = length;
	cmd.pd_handle = pd->handle;
	cmd.access = (uint32_t)access;
	err = odp_cmd(pd->context, ODP_IOC_REG_MR, &cmd);
	if (err) {
		free(mr);
		errno = err;
		return NULL;
	}

	mr->context = pd->context;
	mr->pd = pd;
	mr->addr = addr;
	mr->length = length;
	mr->handle = cmd.mr_handle;
	mr->lkey = cmd.lkey;
	mr->rkey = cmd.rkey;
	mr->access = access;
	return mr;
}

/* On failure the MR stays valid, so the caller may retry. */
int odp_dereg_mr(struct odp_mr *mr)
{
	struct odp_abi_dereg_mr cmd = { 0 };
	int err;

	if (!mr)
		return odp_fail(EINVAL);

	cmd.mr_handle = mr->handle;
	err = odp_cmd(mr->context, ODP_IOC_DEREG_MR, &cmd);
	if (err)
		return err;

	free(mr);
	return 0;
}

static int mr_access(struct odp_mr *mr, uint32_t dir, uint64_t iova,
		     const void *buf, size_t length)
{
	struct odp_abi_mr_access cmd = { 0 };

	if (!mr)
		return odp_fail(EINVAL);

	cmd.lkey = mr->lkey;
	cmd.dir = dir;
	cmd.iova = iova;
	cmd.length = length;
	cmd.buf = odp_ptr(buf);
	return odp_cmd(mr->context, ODP_IOC_MR_ACCESS, &cmd);
}

int odp_mr_read(struct odp_mr *mr, uint64_t iova, void *buf, size_t length)
{
	return mr_access(mr, ODP_ABI_DIR_READ, iova, buf, length);
}

int odp_mr_write(struct odp_mr *mr, uint64_t iova, const void *buf,
		 size_t length)
{
	return mr_access(mr, ODP_ABI_DIR_WRITE, iova, buf, length);
}
