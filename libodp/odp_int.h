/* SPDX-License-Identifier: MIT */
/*
 * libodp internals shared by the files of the library. Not installed.
 *
 * Every public symbol is declared in <odp.h>; it is included here with
 * default visibility so that exactly the functions of the public header are
 * exported (the library is built with -fvisibility=hidden), and
 * libodp.map gives them their versions (LIBODP_1.0, LIBODP_1.1).
 */
#ifndef ODP_INT_H
#define ODP_INT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

#pragma GCC visibility push(default)
#include <odp.h>
#pragma GCC visibility pop

#include <uapi/odp_abi.h>

/*
 * Issue one ioctl on the context's fd. Returns 0, or the positive errno of
 * the failure (errno is left set to it by the kernel). The driver never
 * returns a positive value, so anything >= 0 is success.
 */
static inline int odp_cmd(struct odp_context *ctx, unsigned long req, void *arg)
{
	if (ioctl(ctx->cmd_fd, req, arg) >= 0)
		return 0;
	return errno;
}

/* Fail an int-returning call: set errno and return it (libibverbs style). */
static inline int odp_fail(int err)
{
	errno = err;
	return err;
}

/* User pointer as an ABI __u64. */
static inline uint64_t odp_ptr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

#endif /* ODP_INT_H */
