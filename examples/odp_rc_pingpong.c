// SPDX-License-Identifier: MIT
/*
 * odp_rc_pingpong: ibv_rc_pingpong over libodp.
 *
 * Two processes bounce a message of `size` bytes back and forth `iters`
 * times over an RC QP with SEND/RECV; every buffer is an ODP MR, so the
 * pages are faulted in by the device, not pinned. The connection is set up
 * by IPv4 address and port (no TCP side channel: the kernel's rdma_cm does
 * it).
 *
 *   server: odp_rc_pingpong [options]
 *   client: odp_rc_pingpong [options] SERVER-IPv4
 *
 * --odp-fault throws both buffers away with madvise(MADV_DONTNEED) before
 * every message this side sends, so every message faults again on both
 * ends (a fault storm); --prefetch asks for the pages with odp_advise_mr()
 * instead (at the start, or after every madvise with --odp-fault).
 * -c checks every byte received.
 *
 * Exit status: 0 on success, 1 on any failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <odp.h>

enum {
	PINGPONG_RECV_WRID = 1,
	PINGPONG_SEND_WRID = 2,
};

/* No completion for this long: the transport is stuck; say where. */
#define STALL_SEC	15

static struct {
	int		port;
	const char	*ib_devname;
	int		ib_port;
	size_t		size;
	int		rx_depth;
	int		iters;
	int		check;
	int		odp_fault;
	int		prefetch;
	const char	*bind;
	const char	*servername;
} opt = {
	.port		= 18515,
	.ib_port	= 1,
	.size		= 4096,
	.rx_depth	= 500,
	.iters		= 1000,
};

struct pingpong {
	struct odp_context	*ctx;
	struct odp_pd		*pd;
	struct odp_mr		*mr;
	struct odp_cq		*cq;
	struct odp_qp		*qp;
	char			*buf;		/* send slot, then recv slot */
	size_t			slot;		/* size, page-rounded */
	char			*send_buf;
	char			*recv_buf;
	int			routs;		/* receives posted */
	int			pending;	/* PINGPONG_*_WRID not done */
	int			scnt, rcnt;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "odp_rc_pingpong: %s: %s\n", what, strerror(err));
	exit(1);
}

/* Byte i of message n from the client (salt 1) or the server (salt 2). */
static unsigned char pattern(int n, size_t i, int salt)
{
	return (unsigned char)(n * 7 + i * 13 + salt);
}

static int post_recv(struct pingpong *pp, int n)
{
	struct odp_sge sge = {
		.addr	= (uintptr_t)pp->recv_buf,
		.length	= (uint32_t)opt.size,
		.lkey	= pp->mr->lkey,
	};
	struct odp_recv_wr wr[64], *bad;
	int i, posted = 0;

	/* Chains of up to 64, all into the one receive slot. */
	while (posted < n) {
		int k = n - posted < 64 ? n - posted : 64;

		for (i = 0; i < k; i++) {
			wr[i] = (struct odp_recv_wr) {
				.wr_id		= PINGPONG_RECV_WRID,
				.next		= i + 1 < k ? &wr[i + 1] : NULL,
				.sg_list	= &sge,
				.num_sge	= 1,
			};
		}
		if (odp_post_recv(pp->qp, wr, &bad))
			return posted + (int)(bad - wr);
		posted += k;
	}
	return posted;
}

static void prefetch(struct pingpong *pp)
{
	struct odp_sge sge = {
		.addr	= (uintptr_t)pp->buf,
		.length	= (uint32_t)(2 * pp->slot),
		.lkey	= pp->mr->lkey,
	};
	int err;

	err = odp_advise_mr(pp->pd, ODP_ADVISE_PREFETCH_WRITE,
			    ODP_ADVISE_FLAG_FLUSH, &sge, 1);
	if (err)
		die("odp_advise_mr", err);
}

/*
 * Start message scnt. Nothing is arriving now (the peer sends its next
 * message only after it has this one), so both slots may be thrown away.
 */
static int post_send(struct pingpong *pp, int salt)
{
	struct odp_sge sge = {
		.addr	= (uintptr_t)pp->send_buf,
		.length	= (uint32_t)opt.size,
		.lkey	= pp->mr->lkey,
	};
	struct odp_send_wr wr = {
		.wr_id		= PINGPONG_SEND_WRID,
		.sg_list	= &sge,
		.num_sge	= 1,
		.opcode		= ODP_WR_SEND,
		.send_flags	= ODP_SEND_SIGNALED,
	}, *bad;

	if (opt.odp_fault) {
		if (madvise(pp->buf, 2 * pp->slot, MADV_DONTNEED))
			die("madvise", errno);
		if (opt.prefetch)
			prefetch(pp);
	}
	if (opt.check)
		for (size_t i = 0; i < opt.size; i++)
			pp->send_buf[i] = (char)pattern(pp->scnt, i, salt);
	return odp_post_send(pp->qp, &wr, &bad);
}

static int check_recv(struct pingpong *pp, const struct odp_wc *wc, int salt)
{
	if (wc->byte_len != opt.size) {
		fprintf(stderr, "message %d: %u bytes, expected %zu\n",
			pp->rcnt, wc->byte_len, opt.size);
		return 1;
	}
	for (size_t i = 0; opt.check && i < opt.size; i++) {
		if ((unsigned char)pp->recv_buf[i] != pattern(pp->rcnt, i, salt)) {
			fprintf(stderr, "message %d: byte %zu is 0x%02x, expected 0x%02x\n",
				pp->rcnt, i, (unsigned char)pp->recv_buf[i],
				pattern(pp->rcnt, i, salt));
			return 1;
		}
	}
	return 0;
}

static void usage(const char *argv0)
{
	printf("Usage:\n");
	printf("  %s [options]             start a server and wait for connection\n", argv0);
	printf("  %s [options] <host>      connect to server at <host> (IPv4)\n", argv0);
	printf("\nOptions:\n");
	printf("  -p, --port=<port>      listen on/connect to port <port> (default 18515)\n");
	printf("  -d, --ib-dev=<dev>     use IB device <dev> (default first device found)\n");
	printf("  -i, --ib-port=<port>   use port <port> of IB device (default 1)\n");
	printf("  -s, --size=<size>      size of message to exchange (default 4096)\n");
	printf("  -r, --rx-depth=<dep>   number of receives to post at a time (default 500)\n");
	printf("  -n, --iters=<iters>    number of exchanges (default 1000)\n");
	printf("  -c, --chk              validate received buffer\n");
	printf("  -b, --bind=<addr>      server: listen on <addr> (default any)\n");
	printf("      --odp-fault        madvise(MADV_DONTNEED) the buffers before every send\n");
	printf("      --prefetch         prefetch the buffers with odp_advise_mr()\n");
}

static void parse(int argc, char **argv)
{
	enum { OPT_ODP_FAULT = 256, OPT_PREFETCH };
	static const struct option long_options[] = {
		{ "port",	1, NULL, 'p' },
		{ "ib-dev",	1, NULL, 'd' },
		{ "ib-port",	1, NULL, 'i' },
		{ "size",	1, NULL, 's' },
		{ "rx-depth",	1, NULL, 'r' },
		{ "iters",	1, NULL, 'n' },
		{ "chk",	0, NULL, 'c' },
		{ "bind",	1, NULL, 'b' },
		{ "odp-fault",	0, NULL, OPT_ODP_FAULT },
		{ "prefetch",	0, NULL, OPT_PREFETCH },
		{ "help",	0, NULL, 'h' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "p:d:i:s:r:n:cb:h", long_options,
				NULL)) != -1) {
		switch (c) {
		case 'p': opt.port = atoi(optarg); break;
		case 'd': opt.ib_devname = optarg; break;
		case 'i': opt.ib_port = atoi(optarg); break;
		case 's': opt.size = strtoul(optarg, NULL, 0); break;
		case 'r': opt.rx_depth = atoi(optarg); break;
		case 'n': opt.iters = atoi(optarg); break;
		case 'c': opt.check = 1; break;
		case 'b': opt.bind = optarg; break;
		case OPT_ODP_FAULT: opt.odp_fault = 1; break;
		case OPT_PREFETCH: opt.prefetch = 1; break;
		case 'h': usage(argv[0]); exit(0);
		default: usage(argv[0]); exit(1);
		}
	}
	if (optind == argc - 1)
		opt.servername = argv[optind];
	else if (optind < argc) {
		usage(argv[0]);
		exit(1);
	}
	if (opt.port <= 0 || opt.port > 65535 || opt.ib_port < 1 ||
	    opt.ib_port > 255 || !opt.size || opt.size > UINT32_MAX ||
	    opt.rx_depth < 1 || opt.iters < 1) {
		usage(argv[0]);
		exit(1);
	}
}

/* An IPv4 address (or host name) and the port. */
static void sockaddr_of(const char *host, struct sockaddr_in *sin)
{
	struct addrinfo hints = { .ai_family = AF_INET }, *res;
	int n;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)opt.port);
	if (!host) {
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		return;
	}
	n = getaddrinfo(host, NULL, &hints, &res);
	if (n) {
		fprintf(stderr, "odp_rc_pingpong: %s: %s\n", host, gai_strerror(n));
		exit(1);
	}
	sin->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
}

static void open_device(struct pingpong *pp)
{
	struct odp_device **list, *dev = NULL;
	struct odp_port_attr pattr;
	char name[ODP_IBDEV_NAME_MAX];
	int n, err;

	list = odp_get_device_list(&n);
	if (!list)
		die("odp_get_device_list", errno);
	for (int i = 0; i < n && !dev; i++)
		if (!opt.ib_devname ||
		    !strcmp(odp_get_device_name(list[i]), opt.ib_devname))
			dev = list[i];
	if (!dev) {
		fprintf(stderr, "odp_rc_pingpong: IB device %s not found\n",
			opt.ib_devname ? opt.ib_devname : "(any)");
		exit(1);
	}
	snprintf(name, sizeof(name), "%s", odp_get_device_name(dev));
	odp_free_device_list(list);

	pp->ctx = odp_open_device(NULL);
	if (!pp->ctx)
		die("odp_open_device", errno);
	err = odp_bind_device(pp->ctx, name, (uint8_t)opt.ib_port, &pattr);
	if (err)
		die("odp_bind_device", err);
	if (pattr.state != ODP_PORT_ACTIVE)
		fprintf(stderr, "odp_rc_pingpong: %s port %d is not active (%d)\n",
			name, opt.ib_port, pattr.state);
}

static void setup(struct pingpong *pp)
{
	struct odp_qp_init_attr attr = { 0 };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	open_device(pp);
	pp->pd = odp_alloc_pd(pp->ctx);
	if (!pp->pd)
		die("odp_alloc_pd", errno);

	pp->slot = (opt.size + page - 1) / page * page;
	pp->buf = mmap(NULL, 2 * pp->slot, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pp->buf == MAP_FAILED)
		die("mmap", errno);
	pp->send_buf = pp->buf;
	pp->recv_buf = pp->buf + pp->slot;
	pp->mr = odp_reg_mr(pp->pd, pp->buf, 2 * pp->slot,
			    ODP_ACCESS_LOCAL_WRITE | ODP_ACCESS_ON_DEMAND);
	if (!pp->mr)
		die("odp_reg_mr", errno);
	if (opt.prefetch)
		prefetch(pp);

	pp->cq = odp_create_cq(pp->ctx, opt.rx_depth + 1);
	if (!pp->cq)
		die("odp_create_cq", errno);

	attr.send_cq = pp->cq;
	attr.recv_cq = pp->cq;
	attr.cap.max_send_wr = 1;
	attr.cap.max_recv_wr = (uint32_t)opt.rx_depth;
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_sge = 1;
	attr.qp_type = ODP_QPT_RC;
	pp->qp = odp_create_qp(pp->pd, &attr);
	if (!pp->qp)
		die("odp_create_qp", errno);

	/* Receives may wait on a QP that is not connected yet. */
	pp->routs = post_recv(pp, opt.rx_depth);
	if (pp->routs < opt.rx_depth) {
		fprintf(stderr, "odp_rc_pingpong: couldn't post receive (%d): %s\n",
			pp->routs, strerror(errno));
		exit(1);
	}
}

static void connect_qp(struct pingpong *pp)
{
	struct odp_listener *l;
	struct sockaddr_in sin;
	int err;

	if (opt.servername) {
		sockaddr_of(opt.servername, &sin);
		err = odp_connect(pp->qp, (struct sockaddr *)&sin, 0);
		if (err)
			die("odp_connect", err);
		printf("  connected to %s:%d\n", inet_ntoa(sin.sin_addr), opt.port);
		return;
	}

	sockaddr_of(opt.bind, &sin);
	l = odp_listen(pp->ctx, (struct sockaddr *)&sin, 1);
	if (!l)
		die("odp_listen", errno);
	err = odp_accept(l, pp->qp, 0);
	if (err)
		die("odp_accept", err);
	err = odp_destroy_listener(l);
	if (err)
		die("odp_destroy_listener", err);
	printf("  accepted a connection on %s:%d\n", inet_ntoa(sin.sin_addr),
	       opt.port);
}

static void teardown(struct pingpong *pp)
{
	int err;

	if ((err = odp_destroy_qp(pp->qp)))
		die("odp_destroy_qp", err);
	if ((err = odp_destroy_cq(pp->cq)))
		die("odp_destroy_cq", err);
	if ((err = odp_dereg_mr(pp->mr)))
		die("odp_dereg_mr", err);
	if ((err = odp_dealloc_pd(pp->pd)))
		die("odp_dealloc_pd", err);
	if ((err = odp_close_device(pp->ctx)))
		die("odp_close_device", err);
	munmap(pp->buf, 2 * pp->slot);
}

static void print_stats(struct pingpong *pp)
{
	uint64_t v[ODP_STAT_MAX] = { 0 };

	if (odp_query_mr_stats(pp->mr, v, ODP_STAT_MAX) < 0)
		die("odp_query_mr_stats", errno);
	printf("odp: faults %llu pages_faulted %llu invalidations %llu "
	       "pages_invalidated %llu prefetches %llu\n",
	       (unsigned long long)v[ODP_STAT_FAULTS],
	       (unsigned long long)v[ODP_STAT_PAGES_FAULTED],
	       (unsigned long long)v[ODP_STAT_INVALIDATIONS],
	       (unsigned long long)v[ODP_STAT_PAGES_INVALIDATED],
	       (unsigned long long)v[ODP_STAT_PREFETCHES]);
}

int main(int argc, char **argv)
{
	struct pingpong pp = { 0 };
	int salt, peer_salt, err;
	double start, last, usec;
	long long bytes;

	parse(argc, argv);
	salt = opt.servername ? 1 : 2;
	peer_salt = 3 - salt;

	setup(&pp);
	connect_qp(&pp);

	start = last = now();
	pp.pending = PINGPONG_RECV_WRID;
	if (opt.servername) {
		err = post_send(&pp, salt);
		if (err)
			die("couldn't post send", err);
		pp.pending |= PINGPONG_SEND_WRID;
	}

	while (pp.rcnt < opt.iters || pp.scnt < opt.iters) {
		struct odp_wc wc[2];
		int ne, i;

		ne = odp_poll_cq(pp.cq, 2, wc);
		if (ne < 0)
			die("poll CQ failed", -ne);
		if (!ne) {
			if (now() - last > STALL_SEC) {
				fprintf(stderr, "odp_rc_pingpong: no completion for %d s "
					"(sent %d, received %d, pending %d)\n",
					STALL_SEC, pp.scnt, pp.rcnt, pp.pending);
				return 1;
			}
			continue;
		}
		last = now();

		/*
		 * A peer that is done disconnects, which flushes the receives
		 * still posted here; past the last iteration those flushes
		 * are not errors, so stop reading the batch there.
		 */
		for (i = 0; i < ne && (pp.rcnt < opt.iters ||
				       pp.scnt < opt.iters); i++) {
			if (wc[i].status != ODP_WC_SUCCESS) {
				fprintf(stderr, "Failed status %s (%d) for wr_id %d\n",
					odp_wc_status_str(wc[i].status),
					wc[i].status, (int)wc[i].wr_id);
				return 1;
			}
			switch ((int)wc[i].wr_id) {
			case PINGPONG_SEND_WRID:
				++pp.scnt;
				break;
			case PINGPONG_RECV_WRID:
				if (check_recv(&pp, &wc[i], peer_salt))
					return 1;
				if (--pp.routs <= 1) {
					pp.routs += post_recv(&pp, opt.rx_depth - pp.routs);
					if (pp.routs < opt.rx_depth) {
						fprintf(stderr, "Couldn't post receive (%d)\n",
							pp.routs);
						return 1;
					}
				}
				++pp.rcnt;
				break;
			default:
				fprintf(stderr, "Completion for unknown wr_id %d\n",
					(int)wc[i].wr_id);
				return 1;
			}
			pp.pending &= ~(int)wc[i].wr_id;
			if (pp.scnt < opt.iters && !pp.pending) {
				err = post_send(&pp, salt);
				if (err)
					die("couldn't post send", err);
				pp.pending = PINGPONG_RECV_WRID | PINGPONG_SEND_WRID;
			}
		}
	}

	usec = (now() - start) * 1e6;
	bytes = (long long)opt.size * opt.iters * 2;
	printf("%lld bytes in %.2f seconds = %.2f Mbit/sec\n",
	       bytes, usec / 1000000., bytes * 8. / usec);
	printf("%d iters in %.2f seconds = %.2f usec/iter\n",
	       opt.iters, usec / 1000000., usec / opt.iters);
	print_stats(&pp);
	teardown(&pp);
	return 0;
}
