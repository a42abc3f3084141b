// SPDX-License-Identifier: MIT
/* The device context: open /dev/odp, check the ABI, query, close. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "odp_int.h"

#define ODP_DEFAULT_PATH	"/dev/" ODP_DEVICE_NAME

static int query_device(struct odp_context *ctx,
			struct odp_abi_query_device *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	return odp_cmd(ctx, ODP_IOC_QUERY_DEVICE, cmd);
}

struct odp_context *odp_open_device(const char *path)
{
	struct odp_abi_query_device cmd;
	struct odp_context *ctx;
	int err;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return NULL;

	ctx->cmd_fd = open(path ? path : ODP_DEFAULT_PATH, O_RDWR | O_CLOEXEC);
	if (ctx->cmd_fd < 0) {
		err = errno;
		goto err_free;
	}

	err = query_device(ctx, &cmd);
	if (err)
		goto err_close;
	if (cmd.abi_version != ODP_ABI_VERSION) {
		err = EPROTONOSUPPORT;
		goto err_close;
	}
	ctx->abi_version = cmd.abi_version;
	return ctx;

err_close:
	close(ctx->cmd_fd);
err_free:
	free(ctx);
	errno = err;
	return NULL;
}

/*
 * Linux releases the descriptor even when close() reports an error, so the
 * context is freed in every case and must not be used again: unlike the
 * other destroy calls this one cannot be retried.
 */
int odp_close_device(struct odp_context *context)
{
	int err = 0;

	if (!context)
		return odp_fail(EINVAL);
	if (close(context->cmd_fd))
		err = errno;
	free(context);
	return err ? odp_fail(err) : 0;
}

int odp_query_device(struct odp_context *context, struct odp_device_attr *attr)
{
	struct odp_abi_query_device cmd;
	int err;

	if (!context || !attr)
		return odp_fail(EINVAL);

	err = query_device(context, &cmd);
	if (err)
		return err;

	memset(attr, 0, sizeof(*attr));
	attr->abi_version = cmd.abi_version;
	attr->page_size = cmd.page_size;
	attr->max_mr_size = cmd.max_mr_size;
	attr->num_stats = cmd.num_stats;
	attr->access_flags = cmd.access_flags;
	return 0;
}
