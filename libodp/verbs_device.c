// SPDX-License-Identifier: MIT
/*
 * RDMA devices: the list from sysfs, and binding a context to one of them.
 * No libibverbs: a device is a name under /sys/class/infiniband, which is
 * all ODP_IOC_BIND_DEVICE needs.
 */
#define _GNU_SOURCE		/* strverscmp() */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "odp_int.h"

#define IBDEV_CLASS	"/sys/class/infiniband"

_Static_assert(ODP_IBDEV_NAME_MAX == ODP_ABI_IBDEV_NAME_MAX,
	       "device name sizes differ");

static int by_name(const void *a, const void *b)
{
	const struct odp_device *const *x = a, *const *y = b;

	return strverscmp((*x)->name, (*y)->name);	/* rxe2 before rxe10 */
}

/* The names in the class directory (no "." entries), at most max of them. */
static int read_names(DIR *dir, char (*names)[ODP_IBDEV_NAME_MAX], int max)
{
	struct dirent *d;
	int n = 0;

	errno = 0;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.' ||
		    strlen(d->d_name) >= ODP_IBDEV_NAME_MAX)
			continue;	/* too long to bind anyway */
		if (names && n < max)
			strcpy(names[n], d->d_name);
		n++;
	}
	return errno ? -1 : n;
}

/*
 * One allocation: the NULL-terminated array of pointers, then the devices.
 * odp_free_device_list() is a single free().
 */
struct odp_device **odp_get_device_list(int *num_devices)
{
	char (*names)[ODP_IBDEV_NAME_MAX] = NULL;
	struct odp_device **list, *devs;
	int n, i, err;
	DIR *dir;

	dir = opendir(IBDEV_CLASS);
	if (!dir) {
		/* ibv_get_device_list(): no RDMA core in the kernel. */
		errno = errno == ENOENT ? ENOSYS : errno;
		return NULL;
	}

	/* Count, then read again: devices may come and go in between. */
	n = read_names(dir, NULL, 0);
	if (n < 0)
		goto err_dir;
	names = calloc(n ? n : 1, sizeof(*names));
	if (!names)
		goto err_dir;
	rewinddir(dir);
	i = read_names(dir, names, n);
	if (i < 0)
		goto err_dir;
	n = i < n ? i : n;

	list = calloc(1, (n + 1) * sizeof(*list) + n * sizeof(*devs));
	if (!list)
		goto err_dir;
	devs = (struct odp_device *)(list + n + 1);
	for (i = 0; i < n; i++) {
		strcpy(devs[i].name, names[i]);
		snprintf(devs[i].ibdev_path, sizeof(devs[i].ibdev_path),
			 IBDEV_CLASS "/%s", names[i]);
		list[i] = &devs[i];
	}
	list[n] = NULL;
	qsort(list, n, sizeof(*list), by_name);

	free(names);
	closedir(dir);
	if (num_devices)
		*num_devices = n;
	return list;

err_dir:
	err = errno;
	free(names);
	closedir(dir);
	errno = err;
	return NULL;
}

void odp_free_device_list(struct odp_device **list)
{
	free(list);
}

const char *odp_get_device_name(struct odp_device *device)
{
	if (!device) {
		errno = EINVAL;
		return NULL;
	}
	return device->name;
}

int odp_bind_device(struct odp_context *context, const char *ibdev_name,
		    uint8_t port_num, struct odp_port_attr *port_attr)
{
	struct odp_abi_bind_device cmd = { 0 };
	int err;

	if (!context || !ibdev_name ||
	    strlen(ibdev_name) >= sizeof(cmd.name))
		return odp_fail(EINVAL);

	strcpy(cmd.name, ibdev_name);
	cmd.port_num = port_num;
	err = odp_cmd(context, ODP_IOC_BIND_DEVICE, &cmd);
	if (err)
		return err;

	if (port_attr) {
		memset(port_attr, 0, sizeof(*port_attr));
		port_attr->state = (enum odp_port_state)cmd.port_state;
		port_attr->max_msg_sz = cmd.max_msg_size;
	}
	return 0;
}

struct odp_context *odp_open_ib_device(struct odp_device *device)
{
	struct odp_context *ctx;
	int err;

	if (!device) {
		errno = EINVAL;
		return NULL;
	}

	ctx = odp_open_device(NULL);
	if (!ctx)
		return NULL;
	err = odp_bind_device(ctx, device->name, 1, NULL);
	if (err) {
		odp_close_device(ctx);
		errno = err;
		return NULL;
	}
	return ctx;
}
