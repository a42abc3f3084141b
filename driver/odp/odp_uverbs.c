// SPDX-License-Identifier: GPL-2.0
/*
 * odp: ioctl dispatch.  Copy in, check, call the object layer, copy out.
 * See Documentation/ABI.md for how argument structs grow.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "odp_verbs.h"
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

static struct odp_uobj *odp_alloc_pd(struct odp_ctx *ctx,
				     union odp_ioctl_arg *arg)
{
	return odp_pd_alloc(ctx, &arg->alloc_pd);
}

static int odp_dealloc_pd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->dealloc_pd.reserved)
		return -EINVAL;
	return odp_uobj_destroy(ctx, ODP_UOBJ_PD, arg->dealloc_pd.pd_handle);
}

static struct odp_uobj *odp_reg_mr(struct odp_ctx *ctx,
				   union odp_ioctl_arg *arg)
{
	return odp_mr_register(ctx, &arg->reg_mr);
}

static int odp_dereg_mr(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->dereg_mr.reserved)
		return -EINVAL;
	return odp_uobj_destroy(ctx, ODP_UOBJ_MR, arg->dereg_mr.mr_handle);
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

	bounce = kvmalloc(min_t(u64, left, ODP_BOUNCE_SIZE), GFP_KERNEL_ACCOUNT);
	if (!bounce)
		return -ENOMEM;

	while (left && !ret) {
		size_t n = min_t(u64, left, ODP_BOUNCE_SIZE);

		if (write && copy_from_user(bounce, ubuf, n)) {
			ret = -EFAULT;
			break;
		}
		ret = odp_umem_copy(mr->umem, iova, bounce, n, write);
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

	if (cmd->dir > ODP_ABI_DIR_WRITE)
		return -EINVAL;
	mr = odp_mr_lookup(ctx, cmd->lkey, NULL,
			   cmd->dir == ODP_ABI_DIR_WRITE ?
			   ODP_ABI_ACCESS_LOCAL_WRITE : 0,
			   cmd->iova, cmd->length, &ret);
	if (!mr)
		return ret;
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

	/* Device-wide counts would tell one user what others do. */
	if (cmd->mr_handle == ODP_ABI_STATS_DEVICE && !capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (cmd->mr_handle != ODP_ABI_STATS_DEVICE) {
		mr = odp_mr_get_by_handle(ctx, cmd->mr_handle);
		if (!mr)
			return -EINVAL;
	}
	n = min_t(u32, cmd->num_stats, ODP_ABI_STAT_MAX);
	if (mr) {
		odp_umem_read_stats(mr->umem, values, n);
		odp_mr_put(mr);
	} else {
		for (i = 0; i < n; i++)
			values[i] = atomic64_read(&odp_dev_stats[i]);
	}

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

static struct odp_uobj *odp_create_cq(struct odp_ctx *ctx,
				      union odp_ioctl_arg *arg)
{
	return odp_cq_create(ctx, &arg->create_cq);
}

static int odp_destroy_cq(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->destroy_cq.reserved)
		return -EINVAL;
	return odp_uobj_destroy(ctx, ODP_UOBJ_CQ, arg->destroy_cq.cq_handle);
}

static int odp_poll_cq(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	return odp_cq_poll(ctx, &arg->poll_cq);
}

static struct odp_uobj *odp_create_qp(struct odp_ctx *ctx,
				      union odp_ioctl_arg *arg)
{
	return odp_qp_create(ctx, &arg->create_qp);
}

static int odp_destroy_qp(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->destroy_qp.reserved)
		return -EINVAL;
	return odp_uobj_destroy(ctx, ODP_UOBJ_QP, arg->destroy_qp.qp_handle);
}

static struct odp_uobj *odp_listen_cmd(struct odp_ctx *ctx,
				       union odp_ioctl_arg *arg)
{
	return odp_listen(ctx, &arg->listen);
}

static int odp_destroy_listen(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->destroy_listen.reserved)
		return -EINVAL;
	return odp_uobj_destroy(ctx, ODP_UOBJ_LISTENER,
				arg->destroy_listen.listen_handle);
}

static int odp_accept_cmd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	return odp_accept(ctx, &arg->accept);
}

static int odp_connect_cmd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	return odp_connect(ctx, &arg->connect);
}

static int odp_post_send_cmd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->post.reserved)
		return -EINVAL;
	return odp_post_send(ctx, &arg->post);
}

static int odp_post_recv_cmd(struct odp_ctx *ctx, union odp_ioctl_arg *arg)
{
	if (arg->post.reserved)
		return -EINVAL;
	return odp_post_recv(ctx, &arg->post);
}

/*
 * A command either acts on what exists (fn) or builds a new object
 * (create), which becomes visible only once its handle reached the caller.
 */
struct odp_ioctl_handler {
	unsigned int	cmd;
	int		(*fn)(struct odp_ctx *ctx, union odp_ioctl_arg *arg);
	struct odp_uobj	*(*create)(struct odp_ctx *ctx, union odp_ioctl_arg *arg);
	/* Copy the result out on failure too (bad_wr of posts). */
	bool		out_on_error;
};

static const struct odp_ioctl_handler odp_ioctls[] = {
	[_IOC_NR(ODP_IOC_QUERY_DEVICE)] = {
		.cmd = ODP_IOC_QUERY_DEVICE, .fn = odp_query_device,
	},
	[_IOC_NR(ODP_IOC_ALLOC_PD)] = {
		.cmd = ODP_IOC_ALLOC_PD, .create = odp_alloc_pd,
	},
	[_IOC_NR(ODP_IOC_DEALLOC_PD)] = {
		.cmd = ODP_IOC_DEALLOC_PD, .fn = odp_dealloc_pd,
	},
	[_IOC_NR(ODP_IOC_REG_MR)] = {
		.cmd = ODP_IOC_REG_MR, .create = odp_reg_mr,
	},
	[_IOC_NR(ODP_IOC_DEREG_MR)] = {
		.cmd = ODP_IOC_DEREG_MR, .fn = odp_dereg_mr,
	},
	[_IOC_NR(ODP_IOC_MR_ACCESS)] = {
		.cmd = ODP_IOC_MR_ACCESS, .fn = odp_mr_access,
	},
	[_IOC_NR(ODP_IOC_ADVISE_MR)] = {
		.cmd = ODP_IOC_ADVISE_MR, .fn = odp_advise_mr,
	},
	[_IOC_NR(ODP_IOC_QUERY_STATS)] = {
		.cmd = ODP_IOC_QUERY_STATS, .fn = odp_query_stats,
	},
	[_IOC_NR(ODP_IOC_BIND_DEVICE)] = {
		.cmd = ODP_IOC_BIND_DEVICE, .fn = odp_bind_device_cmd,
	},
	[_IOC_NR(ODP_IOC_CREATE_CQ)] = {
		.cmd = ODP_IOC_CREATE_CQ, .create = odp_create_cq,
	},
	[_IOC_NR(ODP_IOC_DESTROY_CQ)] = {
		.cmd = ODP_IOC_DESTROY_CQ, .fn = odp_destroy_cq,
	},
	[_IOC_NR(ODP_IOC_POLL_CQ)] = {
		.cmd = ODP_IOC_POLL_CQ, .fn = odp_poll_cq,
		.out_on_error = true,
	},
	[_IOC_NR(ODP_IOC_CREATE_QP)] = {
		.cmd = ODP_IOC_CREATE_QP, .create = odp_create_qp,
	},
	[_IOC_NR(ODP_IOC_DESTROY_QP)] = {
		.cmd = ODP_IOC_DESTROY_QP, .fn = odp_destroy_qp,
	},
	[_IOC_NR(ODP_IOC_LISTEN)] = {
		.cmd = ODP_IOC_LISTEN, .create = odp_listen_cmd,
	},
	[_IOC_NR(ODP_IOC_DESTROY_LISTEN)] = {
		.cmd = ODP_IOC_DESTROY_LISTEN, .fn = odp_destroy_listen,
	},
	[_IOC_NR(ODP_IOC_ACCEPT)] = {
		.cmd = ODP_IOC_ACCEPT, .fn = odp_accept_cmd,
	},
	[_IOC_NR(ODP_IOC_CONNECT)] = {
		.cmd = ODP_IOC_CONNECT, .fn = odp_connect_cmd,
	},
	[_IOC_NR(ODP_IOC_POST_SEND)] = {
		.cmd = ODP_IOC_POST_SEND, .fn = odp_post_send_cmd,
		.out_on_error = true,
	},
	[_IOC_NR(ODP_IOC_POST_RECV)] = {
		.cmd = ODP_IOC_POST_RECV, .fn = odp_post_recv_cmd,
		.out_on_error = true,
	},
};

/* Build, copy the result out, and only then publish (or throw away). */
static int odp_ioctl_create(struct odp_ctx *ctx,
			    const struct odp_ioctl_handler *h,
			    union odp_ioctl_arg *buf, void __user *uarg,
			    size_t len)
{
	struct odp_uobj *uobj = h->create(ctx, buf);

	if (IS_ERR(uobj))
		return PTR_ERR(uobj);
	if (copy_to_user(uarg, buf, len)) {
		odp_uobj_abort(ctx, uobj);
		return -EFAULT;
	}
	odp_uobj_commit(ctx, uobj);
	return 0;
}

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
	h = &odp_ioctls[array_index_nospec(nr, ARRAY_SIZE(odp_ioctls))];
	if (!h->cmd || _IOC_DIR(cmd) != _IOC_DIR(h->cmd))
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

	if (h->create)
		return odp_ioctl_create(ctx, h, &buf, uarg, min(usize, ksize));

	ret = h->fn(ctx, &buf);
	if (ret && !h->out_on_error)
		return ret;
	if ((_IOC_DIR(cmd) & _IOC_READ) &&
	    copy_to_user(uarg, &buf, min(usize, ksize)))
		return -EFAULT;
	return ret;
}
