// SPDX-License-Identifier: MIT
/* Protection domains. */
#include <stdlib.h>

#include "odp_int.h"

struct odp_pd *odp_alloc_pd(struct odp_context *context)
{
	struct odp_abi_alloc_pd cmd = { 0 };
	struct odp_pd *pd;
	int err;

	if (!context) {
		errno = EINVAL;
		return NULL;
	}

	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return NULL;

	err = odp_cmd(context, ODP_IOC_ALLOC_PD, &cmd);
	if (err) {
		free(pd);
		errno = err;
		return NULL;
	}

	pd->context = context;
	pd->handle = cmd.pd_handle;
	return pd;
}

/* On failure (EBUSY: MRs still registered) the PD stays valid. */
int odp_dealloc_pd(struct odp_pd *pd)
{
	struct odp_abi_dealloc_pd cmd = { 0 };
	int err;

	if (!pd)
		return odp_fail(EINVAL);

	cmd.pd_handle = pd->handle;
	err = odp_cmd(pd->context, ODP_IOC_DEALLOC_PD, &cmd);
	if (err)
		return err;

	free(pd);
	return 0;
}
