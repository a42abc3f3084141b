// SPDX-License-Identifier: GPL-2.0
/*
 * odp: the RDMA devices we run over, as a client of the RDMA core.
 *
 * Every ib_device gets an odp_device with one kernel PD.  Contexts bind to
 * one by name (ODP_IOC_BIND_DEVICE); QPs and listeners on it are on its
 * lists, so that removing the device (rdma link del, driver unload) can
 * take each of them to the error state and release the device's resources
 * before the RDMA core lets the device go.
 */
#include <linux/cgroup_rdma.h>
#include <linux/slab.h>
#include <rdma/ib_verbs.h>

#include "odp_verbs.h"
#include "odp_transport.h"

static DEFINE_MUTEX(odp_devices_lock);	/* protects odp_devices */
static LIST_HEAD(odp_devices);

static struct ib_client odp_ib_client;

static int odp_ib_add(struct ib_device *ibdev)
{
	struct odp_device *dev;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	kref_init(&dev->ref);
	mutex_init(&dev->lock);
	INIT_LIST_HEAD(&dev->qps);
	INIT_LIST_HEAD(&dev->listeners);
	INIT_LIST_HEAD(&dev->ctxs);
	dev->ibdev = ibdev;
	dev->pd = ib_alloc_pd(ibdev, 0);
	if (IS_ERR(dev->pd)) {
		int ret = PTR_ERR(dev->pd);

		kfree(dev);
		return ret;
	}

	mutex_lock(&odp_devices_lock);
	list_add_tail(&dev->node, &odp_devices);
	mutex_unlock(&odp_devices_lock);
	ib_set_client_data(ibdev, &odp_ib_client, dev);
	return 0;
}

static void odp_device_release(struct kref *ref)
{
	kfree(container_of(ref, struct odp_device, ref));
}

void odp_device_put(struct odp_device *dev)
{
	kref_put(&dev->ref, odp_device_release);
}

/* Bound contexts give their hca_handle charges back while the device is. */
static void odp_ctxs_unbind_device(struct odp_device *dev)
{
	struct odp_ctx *ctx, *tmp;

	mutex_lock(&dev->lock);
	list_for_each_entry_safe(ctx, tmp, &dev->ctxs, dev_node) {
		list_del_init(&ctx->dev_node);
		odp_rdmacg_uncharge(&ctx->cg_obj, dev->ibdev,
				    RDMACG_RESOURCE_HCA_HANDLE);
	}
	mutex_unlock(&dev->lock);
}

/* The context goes: its binding's charge too, unless the device took it. */
void odp_device_unbind(struct odp_ctx *ctx)
{
	struct odp_device *dev = ctx->dev;

	mutex_lock(&dev->lock);
	if (!list_empty(&ctx->dev_node)) {
		list_del_init(&ctx->dev_node);
		odp_rdmacg_uncharge(&ctx->cg_obj, dev->ibdev,
				    RDMACG_RESOURCE_HCA_HANDLE);
	}
	mutex_unlock(&dev->lock);
}

/*
 * The device is going away.  Detach every QP and listener (their objects
 * stay, in the error state, until their owners destroy them), then free
 * the PD.  Bound contexts keep only the odp_device shell.
 */
static void odp_ib_remove(struct ib_device *ibdev, void *client_data)
{
	struct odp_device *dev = client_data;

	mutex_lock(&odp_devices_lock);
	list_del(&dev->node);
	mutex_unlock(&odp_devices_lock);

	mutex_lock(&dev->lock);
	dev->removed = true;
	mutex_unlock(&dev->lock);

	odp_listeners_detach_device(dev);
	odp_qps_detach_device(dev);
	odp_ctxs_unbind_device(dev);

	ib_dealloc_pd(dev->pd);
	dev->pd = NULL;
	odp_device_put(dev);
}

static struct ib_client odp_ib_client = {
	.name	= "odp",
	.add	= odp_ib_add,
	.remove	= odp_ib_remove,
};

/* A reference to the device called @name, or NULL. */
struct odp_device *odp_device_get_by_name(const char *name)
{
	struct odp_device *dev, *found = NULL;

	mutex_lock(&odp_devices_lock);
	list_for_each_entry(dev, &odp_devices, node) {
		if (!strcmp(dev_name(&dev->ibdev->dev), name)) {
			kref_get(&dev->ref);
			found = dev;
			break;
		}
	}
	mutex_unlock(&odp_devices_lock);
	return found;
}

/*
 * Check @port of @dev for @ctx and charge the binding (ctx->lock held).
 * Our reference keeps only the odp_device: the ib_device stays while
 * dev->lock is held and removed is false (removal sets it first).
 */
static int odp_device_bind_locked(struct odp_ctx *ctx, struct odp_device *dev,
				  u32 port, struct ib_port_attr *attr)
{
	int ret;

	mutex_lock(&dev->lock);
	if (dev->removed || !rdma_dev_access_netns(dev->ibdev, ctx->net))
		ret = -ENODEV;
	else if (!rdma_is_port_valid(dev->ibdev, port))
		ret = -EINVAL;
	else
		ret = ib_query_port(dev->ibdev, port, attr);
	if (!ret)
		ret = odp_rdmacg_charge(&ctx->cg_obj, dev->ibdev,
					RDMACG_RESOURCE_HCA_HANDLE);
	if (!ret)
		list_add_tail(&ctx->dev_node, &dev->ctxs);
	mutex_unlock(&dev->lock);
	return ret;
}

int odp_bind_device(struct odp_ctx *ctx, struct odp_abi_bind_device *cmd)
{
	struct ib_port_attr attr;
	struct odp_device *dev;
	u32 port = cmd->port_num ? cmd->port_num : 1;
	int ret;

	if (cmd->reserved ||
	    strnlen(cmd->name, sizeof(cmd->name)) == sizeof(cmd->name))
		return -EINVAL;

	dev = odp_device_get_by_name(cmd->name);
	if (!dev)
		return -ENODEV;
	mutex_lock(&ctx->lock);
	if (ctx->dev) {
		ret = -EBUSY;
	} else {
		ret = odp_device_bind_locked(ctx, dev, port, &attr);
		if (!ret) {
			ctx->dev = dev;
			ctx->port = port;
		}
	}
	mutex_unlock(&ctx->lock);
	if (ret)
		goto err_put;

	cmd->port_num = port;
	cmd->port_state = attr.state;
	cmd->max_msg_size = attr.max_msg_sz;
	return 0;

err_put:
	odp_device_put(dev);
	return ret;
}

/*
 * An RDMA object the device holds for a user (a kernel QP and CQ, a
 * listening id) counts against the user's rdma cgroup, as uverbs' objects
 * do.  rdma_cm and kernel verbs charge nothing themselves.
 */
int odp_rdmacg_charge(struct ib_rdmacg_object *obj, struct ib_device *ibdev,
		      enum rdmacg_resource_type type)
{
#ifdef CONFIG_CGROUP_RDMA
	return rdmacg_try_charge(&obj->cg, &ibdev->cg_device, type);
#else
	return 0;
#endif
}

void odp_rdmacg_uncharge(struct ib_rdmacg_object *obj, struct ib_device *ibdev,
			 enum rdmacg_resource_type type)
{
#ifdef CONFIG_CGROUP_RDMA
	rdmacg_uncharge(obj->cg, &ibdev->cg_device, type);
#endif
}

int odp_dev_init(void)
{
	return ib_register_client(&odp_ib_client);
}

void odp_dev_exit(void)
{
	ib_unregister_client(&odp_ib_client);
}
