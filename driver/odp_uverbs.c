// SPDX-License-Identifier: GPL-2.0
/*
 * odp: ioctl dispatch.  Copy in, check, call the object layer, copy out.
 * See Documentation/ABI.md for how argument structs grow.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "odp.h"
#include "odp_transport.h"

/* Bytes one device access moves through the kernel bounce buffer. */
#define ODP_BOUNCE_SIZE		(256 * 1024)

union odp_ioctl_arg {
	struct odp_abi_query_device	query_device;
	struct odp_abi_alloc_pd		alloc_pd;
	struct odp_abi_dealloc_pd	dealloc_pd;
	struct odp_abi_reg_mr		reg_mr;
	struct odp_abi_dereg_mr		dereg_mr;
	struct odp_abi_mr_access	mr_access;
	struct odp_abi_advise_mr	advise_mr;
	struct odp_abi_query_stats	query_stats;
	struct odp_abi_bind_device	bind_device;
	struct odp_abi_create_cq	create_cq;
	struct odp_abi_destroy_cq	destroy_cq;
	struct odp_abi_poll_cq		poll_cq;
	struct odp_abi_create_qp	create_qp;
	struct odp_abi_destroy_qp	destroy_qp;
	struct odp_abi_listen		listen;
	struct odp_abi_destroy_listen	destroy_listen;
	struct odp_abi_accept		accept;
	struct odp_abi_connect		connect;
	struct odp_abi_post		post;
};

static int odp_query_device(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	struct odp_abi_query_device *cmd = &arg->query_device;

	cmd->abi_version = ODP_ABI_VERSION;
	cmd->page_size = PAGE_SIZE;
	cmd->max_mr_size = TASK_SIZE;
	cmd->num_stats = ODP_ABI_STAT_MAX;
	cmd->access_flags = ODP_ABI_ACCESS_SUPPORTED;
	return 0;
}

static int odp_alloc_pd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->alloc_pd.reserved)
		return -EINVAL;
	return odp_pd_alloc(ctx, &arg->alloc_pd.pd_handle);
}

static int odp_dealloc_pd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->dealloc_pd.reserved)
		return -EINVAL;
	return odp_pd_dealloc(ctx, arg->dealloc_pd.pd_handle);
}

static int odp_reg_mr(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	return odp_mr_register(ctx, &arg->reg_mr);
}

static int odp_dereg_mr(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->dereg_mr.reserved)
		return -EINVAL;
	return odp_mr_deregister(ctx, arg->dereg_mr.mr_handle);
}

static int odp_check_mr_access(struct odp_mr *mr,
			       const struct odp_abi_mr_access *cmd)
{
	if (cmd->dir > ODP_ABI_DIR_WRITE ||
	    !odp_mr_contains(mr, cmd->iova, cmd->length))
		return -EINVAL;
	if (cmd->dir == ODP_ABI_DIR_WRITE &&
	    !(mr->access & ODP_ABI_ACCESS_LOCAL_WRITE))
		return -EACCES;
	return 0;
}

/*
 * The device moves the data through a kernel buffer, so that no user page of
 * the caller is faulted while MR pages are held in flight (that fault could
 * need an invalidation of those very pages).
 */
static int odp_mr_access_user(struct odp_mr *mr,
			      const struct odp_abi_mr_access *cmd)
{
	void __user *ubuf = u64_to_user_ptr(cmd->buf);
	bool write = cmd->dir == ODP_ABI_DIR_WRITE;
	u64 iova = cmd->iova, left = cmd->length;
	void *bounce;
	int ret = 0;

	bounce = kvmalloc(min_t(u64, left, ODP_BOUNCE_SIZE), GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;

	while (left && !ret) {
		size_t n = min_t(u64, left, ODP_BOUNCE_SIZE);

		if (write && copy_from_user(bounce, ubuf, n)) {
			ret = -EFAULT;
			break;
		}
		ret = odp_mr_access_kernel(mr, iova, bounce, n, write);
		if (!ret && !write && copy_to_user(ubuf, bounce, n))
			ret = -EFAULT;
		iova += n;
		ubuf += n;
		left -= n;
	}
	kvfree(bounce);
	return ret;
}

static int odp_mr_access(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	struct odp_abi_mr_access *cmd = &arg->mr_access;
	struct odp_mr *mr;
	int ret;

	mr = odp_mr_get_by_lkey(ctx, cmd->lkey);
	if (!mr)
		return -EINVAL;
	ret = odp_check_mr_access(mr, cmd);
	if (!ret)
		ret = odp_mr_access_user(mr, cmd);
	odp_mr_put(mr);
	return ret;
}

static int odp_advise_mr(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	return odp_advise(ctx, &arg->advise_mr);
}

static int odp_query_stats(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	struct odp_abi_query_stats *cmd = &arg->query_stats;
	u64 values[ODP_ABI_STAT_MAX];
	struct odp_mr *mr = NULL;
	u32 i, n;

	if (cmd->mr_handle != ODP_ABI_STATS_DEVICE) {
		mr = odp_mr_get_by_handle(ctx, cmd->mr_handle);
		if (!mr)
			return -EINVAL;
	}
	n = min_t(u32, cmd->num_stats, ODP_ABI_STAT_MAX);
	for (i = 0; i < n; i++)
		values[i] = atomic64_read(mr ? &mr->stats[i] : &odp_dev_stats[i]);
	if (mr)
		odp_mr_put(mr);

	if (copy_to_user(u64_to_user_ptr(cmd->stats), values,
			 n * sizeof(values[0])))
		return -EFAULT;
	cmd->num_stats = n;
	return 0;
}

static int odp_bind_device_cmd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	return odp_bind_device(ctx, &arg->bind_device);
}

static int odp_create_cq(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	return odp_cq_create(ctx, &arg->create_cq);
}

static int odp_destroy_cq(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->destroy_cq.reserved)
		return -EINVAL;
	return odp_cq_destroy(ctx, arg->destroy_cq.cq_handle);
}

static int odp_poll_cq(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	return odp_cq_poll(ctx, &arg->poll_cq);
}

static int odp_create_qp(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	return odp_qp_create(ctx, &arg->create_qp);
}

static int odp_destroy_qp(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->destroy_qp.reserved)
		return -EINVAL;
	return odp_qp_destroy(ctx, arg->destroy_qp.qp_handle);
}

static int odp_listen_cmd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	return odp_listen(ctx, &arg->listen);
}

static int odp_destroy_listen(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->destroy_listen.reserved)
		return -EINVAL;
	return odp_listener_destroy(ctx, arg->destroy_listen.listen_handle);
}

static int odp_accept_cmd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	return odp_accept(ctx, &arg->accept);
}

static int odp_connect_cmd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	return odp_connect(ctx, &arg->connect);
}

/* Posting takes ctx->lock: the QP cannot be destroyed meanwhile. */
static int odp_post_send_cmd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	int ret;

	if (arg->post.reserved)
		return -EINVAL;
	mutex_lock(&ctx->lock);
	ret = odp_post_send(ctx, &arg->post);
	mutex_unlock(&ctx->lock);
	return ret;
}

static int odp_post_recv_cmd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	int ret;

	if (arg->post.reserved)
		return -EINVAL;
	mutex_lock(&ctx->lock);
	ret = odp_post_recv(ctx, &arg->post);
	mutex_unlock(&ctx->lock);
	return ret;
}

/* Undo a create whose result could not be copied out: no orphans. */
static void odp_undo_alloc_pd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	odp_pd_dealloc(ctx, arg->alloc_pd.pd_handle);
}

static void odp_undo_reg_mr(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	odp_mr_deregister(ctx, arg->reg_mr.mr_handle);
}

static void odp_undo_create_cq(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	odp_cq_destroy(ctx, arg->create_cq.cq_handle);
}

static void odp_undo_create_qp(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	odp_qp_destroy(ctx, arg->create_qp.qp_handle);
}

static void odp_undo_listen(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	odp_listener_destroy(ctx, arg->listen.listen_handle);
}

struct odp_ioctl_handler {
	unsigned int	cmd;
	int		(*fn)(struct odp_ctx *ctx, union odp_ioctl_arg *arg);
	void		(*undo)(struct odp_ctx *ctx, union odp_ioctl_arg *arg);
	/* Copy the result out on failure too (bad_wr of posts). */
	bool		out_on_error;
};

static const struct odp_ioctl_handler odp_ioctls[] = {
	[_IOC_NR(ODP_IOC_QUERY_DEVICE)] = { ODP_IOC_QUERY_DEVICE, odp_query_device, NULL },
	[_IOC_NR(ODP_IOC_ALLOC_PD)] = { ODP_IOC_ALLOC_PD, odp_alloc_pd, odp_undo_alloc_pd },
	[_IOC_NR(ODP_IOC_DEALLOC_PD)] = { ODP_IOC_DEALLOC_PD, odp_dealloc_pd, NULL },
	[_IOC_NR(ODP_IOC_REG_MR)] = { ODP_IOC_REG_MR, odp_reg_mr, odp_undo_reg_mr },
	[_IOC_NR(ODP_IOC_DEREG_MR)] = { ODP_IOC_DEREG_MR, odp_dereg_mr, NULL },
	[_IOC_NR(ODP_IOC_MR_ACCESS)] = { ODP_IOC_MR_ACCESS, odp_mr_access, NULL },
	[_IOC_NR(ODP_IOC_ADVISE_MR)] = { ODP_IOC_ADVISE_MR, odp_advise_mr, NULL },
	[_IOC_NR(ODP_IOC_QUERY_STATS)] = { ODP_IOC_QUERY_STATS, odp_query_stats, NULL },
	[_IOC_NR(ODP_IOC_BIND_DEVICE)] = { ODP_IOC_BIND_DEVICE, odp_bind_device_cmd, NULL },
	[_IOC_NR(ODP_IOC_CREATE_CQ)] = { ODP_IOC_CREATE_CQ, odp_create_cq, odp_undo_create_cq },
	[_IOC_NR(ODP_IOC_DESTROY_CQ)] = { ODP_IOC_DESTROY_CQ, odp_destroy_cq, NULL },
	[_IOC_NR(ODP_IOC_POLL_CQ)] = { ODP_IOC_POLL_CQ, odp_poll_cq, NULL, true },
	[_IOC_NR(ODP_IOC_CREATE_QP)] = { ODP_IOC_CREATE_QP, odp_create_qp, odp_undo_create_qp },
	[_IOC_NR(ODP_IOC_DESTROY_QP)] = { ODP_IOC_DESTROY_QP, odp_destroy_qp, NULL },
	[_IOC_NR(ODP_IOC_LISTEN)] = { ODP_IOC_LISTEN, odp_listen_cmd, odp_undo_listen },
	[_IOC_NR(ODP_IOC_DESTROY_LISTEN)] = { ODP_IOC_DESTROY_LISTEN, odp_destroy_listen, NULL },
	[_IOC_NR(ODP_IOC_ACCEPT)] = { ODP_IOC_ACCEPT, odp_accept_cmd, NULL },
	[_IOC_NR(ODP_IOC_CONNECT)] = { ODP_IOC_CONNECT, odp_connect_cmd, NULL },
	[_IOC_NR(ODP_IOC_POST_SEND)] = { ODP_IOC_POST_SEND, odp_post_send_cmd, NULL, true },
	[_IOC_NR(ODP_IOC_POST_RECV)] = { ODP_IOC_POST_RECV, odp_post_recv_cmd, NULL, true },
};

long odp_ioctl(struct file *filp, unsigned int cmd, unsigned long arg)
{
	struct odp_ctx *ctx = filp->private_data;
	void __user *uarg = (void __user *)arg;
	const struct odp_ioctl_handler *h;
	size_t usize = _IOC_SIZE(cmd), ksize;
	union odp_ioctl_arg buf;
	unsigned int nr;
	int ret;

	nr = _IOC_NR(cmd);
	if (_IOC_TYPE(cmd) != ODP_IOC_MAGIC || nr >= ARRAY_SIZE(odp_ioctls))
		return -ENOTTY;
	h = &odp_ioctls[nr];
	if (!h->fn || _IOC_DIR(cmd) != _IOC_DIR(h->cmd))
		return -ENOTTY;
	/* Version 1 of every struct is the oldest there is. */
	ksize = _IOC_SIZE(h->cmd);
	if (usize < ksize)
		return -EINVAL;

	/* Objects belong to the address space that opened the file. */
	if (current->mm != ctx->mm)
		return -EPERM;

	memset(&buf, 0, sizeof(buf));
	if (_IOC_DIR(cmd) & _IOC_WRITE) {
		ret = copy_struct_from_user(&buf, ksize, uarg, usize);
		if (ret)
			return ret;
	}

	ret = h->fn(ctx, &buf);
	if (ret && !h->out_on_error)
		return ret;

	if ((_IOC_DIR(cmd) & _IOC_READ) &&
	    copy_to_user(uarg, &buf, min(usize, ksize))) {
		if (!ret && h->undo)
			h->undo(ctx, &buf);
		return -EFAULT;
	}
	return ret;
}
