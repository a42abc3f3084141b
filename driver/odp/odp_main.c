// SPDX-License-Identifier: GPL-2.0
/*
 * odp: module init/exit and the /dev/odp character device.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sched/mm.h>

#include "odp_verbs.h"
#include "odp_transport.h"

static int odp_open(struct inode *inode, struct file *filp)
{
	struct odp_ctx *ctx;

	ctx = odp_ctx_create();
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);
	filp->private_data = ctx;
	return nonseekable_open(inode, filp);
}

static int odp_release(struct inode *inode, struct file *filp)
{
	odp_ctx_destroy(filp->private_data);
	return 0;
}

static const struct file_operations odp_fops = {
	.owner		= THIS_MODULE,
	.open		= odp_open,
	.release	= odp_release,
	.unlocked_ioctl	= odp_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static struct miscdevice odp_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= ODP_DEVICE_NAME,
	.fops	= &odp_fops,
	.mode	= 0666,
};

static int __init odp_init(void)
{
	int ret;

	ret = odp_prefetch_init();
	if (ret)
		return ret;
	odp_debugfs_init();
	odp_qp_debugfs_init();
	ret = odp_dev_init();
	if (ret)
		goto err_debugfs;
	ret = misc_register(&odp_miscdev);
	if (ret)
		goto err_dev;
	return 0;

err_dev:
	odp_dev_exit();
err_debugfs:
	odp_qp_debugfs_exit();
	odp_debugfs_exit();
	odp_prefetch_exit();
	return ret;
}

static void __exit odp_exit(void)
{
	misc_deregister(&odp_miscdev);
	odp_dev_exit();
	/* Asynchronous prefetches may still hold MRs of closed files. */
	odp_prefetch_exit();
	odp_qp_debugfs_exit();
	odp_debugfs_exit();
}

module_init(odp_init);
module_exit(odp_exit);

MODULE_DESCRIPTION("On-demand paging memory regions for RDMA");
MODULE_LICENSE("GPL");
