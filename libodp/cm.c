// SPDX-License-Identifier: MIT
/*
 * Connections: the kernel runs rdma_cm for the QP; here an IPv4 socket
 * address becomes the ABI's address and port (both stay in network order)
 * and the calls block in the kernel until it is done.
 */
#include <stdlib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "odp_int.h"

/* IPv4 only. Returns 0 or the errno. */
static int ipv4_of(const struct sockaddr *sa, uint32_t *addr, uint32_t *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

	if (!sa)
		return EINVAL;
	if (sa->sa_family != AF_INET)
		return EAFNOSUPPORT;
	*addr = sin->sin_addr.s_addr;
	*port = sin->sin_port;
	return 0;
}

/*
 * timeout_ms 0 is the kernel's default (5 s). A QP whose connect failed is
 * not connected: destroy it, and try again with a new one.
 */
int odp_connect(struct odp_qp *qp, const struct sockaddr *dst, int timeout_ms)
{
	struct odp_abi_connect cmd = { 0 };
	int err;

	if (!qp || timeout_ms < 0)
		return odp_fail(EINVAL);
	err = ipv4_of(dst, &cmd.addr, &cmd.port);
	if (err)
		return odp_fail(err);

	cmd.qp_handle = qp->handle;
	cmd.timeout_ms = (uint32_t)timeout_ms;
	return odp_cmd(qp->context, ODP_IOC_CONNECT, &cmd);
}

struct odp_listener *odp_listen(struct odp_context *context,
				const struct sockaddr *src, int backlog)
{
	struct odp_abi_listen cmd = { 0 };
	struct odp_listener *l;
	int err;

	if (!context || backlog < 0) {
		errno = EINVAL;
		return NULL;
	}
	err = ipv4_of(src, &cmd.addr, &cmd.port);
	if (err) {
		errno = err;
		return NULL;
	}

	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;

	cmd.backlog = (uint32_t)backlog;
	err = odp_cmd(context, ODP_IOC_LISTEN, &cmd);
	if (err) {
		free(l);
		errno = err;
		return NULL;
	}

	l->context = context;
	l->handle = cmd.listen_handle;
	return l;
}

/* timeout_ms 0 waits until a request comes or a signal interrupts (EINTR). */
int odp_accept(struct odp_listener *listener, struct odp_qp *qp,
	       int timeout_ms)
{
	struct odp_abi_accept cmd = { 0 };

	if (!listener || !qp || timeout_ms < 0 ||
	    listener->context != qp->context)
		return odp_fail(EINVAL);

	cmd.listen_handle = listener->handle;
	cmd.qp_handle = qp->handle;
	cmd.timeout_ms = (uint32_t)timeout_ms;
	return odp_cmd(qp->context, ODP_IOC_ACCEPT, &cmd);
}

int odp_destroy_listener(struct odp_listener *listener)
{
	struct odp_abi_destroy_listen cmd = { 0 };
	int err;

	if (!listener)
		return odp_fail(EINVAL);

	cmd.listen_handle = listener->handle;
	err = odp_cmd(listener->context, ODP_IOC_DESTROY_LISTEN, &cmd);
	if (err)
		return err;

	free(listener);
	return 0;
}
