// SPDX-License-Identifier: MIT
/*
 * odp_write_bw: ib_write_bw over libodp.
 *
 * The client RDMA-writes `size` bytes `iters` times into an ODP MR of the
 * server, keeping up to tx-depth writes outstanding and asking for a
 * completion every cq-mod of them; the remote MR's pages are faulted in by
 * the server's side, as an ODP NIC's responder would. The server tells the
 * client its buffer's address and rkey with a SEND on the connection itself.
 *
 *   server: odp_write_bw [options]
 *   client: odp_write_bw [options] SERVER-IPv4
 *
 * The conversation:
 *   server -> client  SEND  MSG_MR {addr, rkey, size}
 *   client -> server  RDMA WRITE x iters                  (measured)
 *   client -> server  SEND  MSG_DONE
 *   server -> client  SEND  MSG_READY                     (server is quiet now)
 *   client -> server  RDMA WRITE WITH IMM, a known pattern (server checks it)
 *
 * --odp-fault: the client throws its source buffer away with
 * madvise(MADV_DONTNEED) before every write, and the server throws its
 * target buffer away over and over until MSG_DONE (a fault storm on both
 * sides: the bulk data is not checked, the last write is). --prefetch:
 * odp_advise_mr() at the start, and after every madvise with --odp-fault.
 *
 * Exit status: 0 on success, 1 on any failure.
 */
#include <arpa/inet.h>
#include <endian.h>
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

#define STALL_SEC	15		/* no completion this long: stuck */
#define CTRL_SLOTS	4		/* receives for control messages */
#define CTRL_SIZE	64
#define CHECK_IMM	0x0dd0c0deU	/* the last write's immediate */
#define WRID_CTRL	(~0ULL)		/* control SENDs and receives */

enum msg_type { MSG_MR = 1, MSG_DONE, MSG_READY };

/* A control message; big-endian on the wire. */
struct msg {
	uint32_t	type;
	uint32_t	rkey;
	uint64_t	addr;
	uint64_t	size;
};

static struct {
	int		port;
	const char	*ib_devname;
	int		ib_port;
	size_t		size;
	int		iters;
	int		tx_depth;
	int		cq_mod;
	int		odp_fault;
	int		prefetch;
	const char	*bind;
	const char	*servername;
} opt = {
	.port		= 18515,
	.ib_port	= 1,
	.size		= 65536,
	.iters		= 5000,
	.tx_depth	= 128,
	.cq_mod		= 16,
};

struct bw {
	struct odp_context	*ctx;
	struct odp_pd		*pd;
	struct odp_cq		*cq;
	struct odp_qp		*qp;
	char			*buf;		/* data: source or target */
	size_t			buf_len;
	struct odp_mr		*mr;
	char			*ctrl;		/* CTRL_SLOTS receive slots + 1 send */
	struct odp_mr		*ctrl_mr;
	int			next_slot;	/* receive slot of the next message */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "odp_write_bw: %s: %s\n", what, strerror(err));
	exit(1);
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 31 + 5);
}

static void prefetch(struct bw *bw, enum odp_advice advice)
{
	struct odp_sge sge = {
		.addr	= (uintptr_t)bw->buf,
		.length	= (uint32_t)bw->buf_len,
		.lkey	= bw->mr->lkey,
	};
	int err;

	err = odp_advise_mr(bw->pd, advice, ODP_ADVISE_FLAG_FLUSH, &sge, 1);
	if (err)
		die("odp_advise_mr", err);
}

/* Throw the data buffer away (and maybe prefetch it again). */
static void fault_storm(struct bw *bw, enum odp_advice advice)
{
	if (madvise(bw->buf, bw->buf_len, MADV_DONTNEED))
		die("madvise", errno);
	if (opt.prefetch)
		prefetch(bw, advice);
}

static void post_ctrl_recv(struct bw *bw, int slot)
{
	struct odp_sge sge = {
		.addr	= (uintptr_t)(bw->ctrl + slot * CTRL_SIZE),
		.length	= CTRL_SIZE,
		.lkey	= bw->ctrl_mr->lkey,
	};
	struct odp_recv_wr wr = {
		.wr_id		= WRID_CTRL,
		.sg_list	= &sge,
		.num_sge	= 1,
	}, *bad;
	int err;

	err = odp_post_recv(bw->qp, &wr, &bad);
	if (err)
		die("odp_post_recv", err);
}

/*
 * One completion, successful; if idle is given it runs while there is none.
 * After limit seconds (0: none) the stall is reported, not waited out.
 */
static void poll_one(struct bw *bw, struct odp_wc *wc,
		     void (*idle)(struct bw *), int limit)
{
	double start = now();
	int ne;

	while (!(ne = odp_poll_cq(bw->cq, 1, wc))) {
		if (idle)
			idle(bw);
		if (limit && now() - start > limit) {
			fprintf(stderr, "odp_write_bw: no completion for %d s\n",
				limit);
			exit(1);
		}
	}
	if (ne < 0)
		die("odp_poll_cq", -ne);
	if (wc->status != ODP_WC_SUCCESS) {
		fprintf(stderr, "Failed status %s (%d) for wr_id %lld, opcode %d\n",
			odp_wc_status_str(wc->status), wc->status,
			(long long)wc->wr_id, wc->opcode);
		exit(1);
	}
}

static void send_msg(struct bw *bw, const struct msg *m)
{
	struct msg *out = (struct msg *)(bw->ctrl + CTRL_SLOTS * CTRL_SIZE);
	struct odp_sge sge = {
		.addr	= (uintptr_t)out,
		.length	= sizeof(*out),
		.lkey	= bw->ctrl_mr->lkey,
	};
	struct odp_send_wr wr = {
		.wr_id		= WRID_CTRL,
		.sg_list	= &sge,
		.num_sge	= 1,
		.opcode		= ODP_WR_SEND,
		.send_flags	= ODP_SEND_SIGNALED,
	}, *bad;
	struct odp_wc wc;
	int err;

	out->type = htonl(m->type);
	out->rkey = htonl(m->rkey);
	out->addr = htobe64(m->addr);
	out->size = htobe64(m->size);
	err = odp_post_send(bw->qp, &wr, &bad);
	if (err)
		die("odp_post_send", err);
	poll_one(bw, &wc, NULL, STALL_SEC);
	if (wc.opcode != ODP_WC_SEND) {
		fprintf(stderr, "odp_write_bw: opcode %d, expected SEND\n",
			wc.opcode);
		exit(1);
	}
}

/* The next control message; its receive slot is posted again. */
static void recv_msg(struct bw *bw, struct msg *m, enum msg_type type,
		     void (*idle)(struct bw *), int limit)
{
	const struct msg *in;
	struct odp_wc wc;
	int slot = bw->next_slot;

	poll_one(bw, &wc, idle, limit);
	if (wc.opcode != ODP_WC_RECV || wc.byte_len != sizeof(*in)) {
		fprintf(stderr, "odp_write_bw: opcode %d (%u bytes), expected "
			"a control message\n", wc.opcode, wc.byte_len);
		exit(1);
	}
	in = (const struct msg *)(bw->ctrl + slot * CTRL_SIZE);
	m->type = ntohl(in->type);
	m->rkey = ntohl(in->rkey);
	m->addr = be64toh(in->addr);
	m->size = be64toh(in->size);
	if (m->type != type) {
		fprintf(stderr, "odp_write_bw: message %u, expected %u\n",
			m->type, (unsigned int)type);
		exit(1);
	}
	post_ctrl_recv(bw, slot);
	bw->next_slot = (slot + 1) % CTRL_SLOTS;
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
	printf("  -s, --size=<size>      bytes per write (default 65536)\n");
	printf("  -n, --iters=<iters>    number of writes (default 5000)\n");
	printf("  -t, --tx-depth=<dep>   writes outstanding at most (default 128)\n");
	printf("  -Q, --cq-mod=<n>       ask for a completion every <n> writes (default 16)\n");
	printf("  -b, --bind=<addr>      server: listen on <addr> (default any)\n");
	printf("      --odp-fault        madvise(MADV_DONTNEED) the buffers: see above\n");
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
		{ "iters",	1, NULL, 'n' },
		{ "tx-depth",	1, NULL, 't' },
		{ "cq-mod",	1, NULL, 'Q' },
		{ "bind",	1, NULL, 'b' },
		{ "odp-fault",	0, NULL, OPT_ODP_FAULT },
		{ "prefetch",	0, NULL, OPT_PREFETCH },
		{ "help",	0, NULL, 'h' },
		{ 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "p:d:i:s:n:t:Q:b:h", long_options,
				NULL)) != -1) {
		switch (c) {
		case 'p': opt.port = atoi(optarg); break;
		case 'd': opt.ib_devname = optarg; break;
		case 'i': opt.ib_port = atoi(optarg); break;
		case 's': opt.size = strtoul(optarg, NULL, 0); break;
		case 'n': opt.iters = atoi(optarg); break;
		case 't': opt.tx_depth = atoi(optarg); break;
		case 'Q': opt.cq_mod = atoi(optarg); break;
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
	    opt.iters < 1 || opt.tx_depth < 1 || opt.tx_depth > 4096 ||
	    opt.cq_mod < 1) {
		usage(argv[0]);
		exit(1);
	}
}

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
		fprintf(stderr, "odp_write_bw: %s: %s\n", host, gai_strerror(n));
		exit(1);
	}
	sin->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
}

static void open_device(struct bw *bw)
{
	struct odp_device **list, *dev = NULL;
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
		fprintf(stderr, "odp_write_bw: IB device %s not found\n",
			opt.ib_devname ? opt.ib_devname : "(any)");
		exit(1);
	}
	snprintf(name, sizeof(name), "%s", odp_get_device_name(dev));
	odp_free_device_list(list);

	bw->ctx = odp_open_device(NULL);
	if (!bw->ctx)
		die("odp_open_device", errno);
	err = odp_bind_device(bw->ctx, name, (uint8_t)opt.ib_port, NULL);
	if (err)
		die("odp_bind_device", err);
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap", errno);
	return p;
}

static void setup(struct bw *bw)
{
	struct odp_qp_init_attr attr = { 0 };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int access = ODP_ACCESS_LOCAL_WRITE | ODP_ACCESS_ON_DEMAND;

	open_device(bw);
	bw->pd = odp_alloc_pd(bw->ctx);
	if (!bw->pd)
		die("odp_alloc_pd", errno);

	/* The server's buffer is the target of the client's writes. */
	if (!opt.servername)
		access |= ODP_ACCESS_REMOTE_WRITE;
	bw->buf_len = (opt.size + page - 1) / page * page;
	bw->buf = map(bw->buf_len);
	bw->mr = odp_reg_mr(bw->pd, bw->buf, bw->buf_len, access);
	if (!bw->mr)
		die("odp_reg_mr", errno);
	if (opt.prefetch)
		prefetch(bw, opt.servername ? ODP_ADVISE_PREFETCH :
					      ODP_ADVISE_PREFETCH_WRITE);

	bw->ctrl = map(page);
	bw->ctrl_mr = odp_reg_mr(bw->pd, bw->ctrl, page,
				 ODP_ACCESS_LOCAL_WRITE | ODP_ACCESS_ON_DEMAND);
	if (!bw->ctrl_mr)
		die("odp_reg_mr", errno);

	bw->cq = odp_create_cq(bw->ctx, opt.tx_depth + CTRL_SLOTS + 1);
	if (!bw->cq)
		die("odp_create_cq", errno);
	attr.send_cq = bw->cq;
	attr.recv_cq = bw->cq;
	attr.cap.max_send_wr = (uint32_t)opt.tx_depth;
	attr.cap.max_recv_wr = CTRL_SLOTS;
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_sge = 1;
	attr.qp_type = ODP_QPT_RC;
	bw->qp = odp_create_qp(bw->pd, &attr);
	if (!bw->qp)
		die("odp_create_qp", errno);
	for (int i = 0; i < CTRL_SLOTS; i++)
		post_ctrl_recv(bw, i);
}

static void connect_qp(struct bw *bw)
{
	struct odp_listener *l;
	struct sockaddr_in sin;
	int err;

	if (opt.servername) {
		sockaddr_of(opt.servername, &sin);
		err = odp_connect(bw->qp, (struct sockaddr *)&sin, 0);
		if (err)
			die("odp_connect", err);
		return;
	}
	sockaddr_of(opt.bind, &sin);
	l = odp_listen(bw->ctx, (struct sockaddr *)&sin, 1);
	if (!l)
		die("odp_listen", errno);
	err = odp_accept(l, bw->qp, 0);
	if (err)
		die("odp_accept", err);
	err = odp_destroy_listener(l);
	if (err)
		die("odp_destroy_listener", err);
}

static void print_stats(const char *who, struct odp_mr *mr)
{
	uint64_t v[ODP_STAT_MAX] = { 0 };

	if (odp_query_mr_stats(mr, v, ODP_STAT_MAX) < 0)
		die("odp_query_mr_stats", errno);
	printf("odp %s: faults %llu pages_faulted %llu invalidations %llu "
	       "pages_invalidated %llu prefetches %llu\n", who,
	       (unsigned long long)v[ODP_STAT_FAULTS],
	       (unsigned long long)v[ODP_STAT_PAGES_FAULTED],
	       (unsigned long long)v[ODP_STAT_INVALIDATIONS],
	       (unsigned long long)v[ODP_STAT_PAGES_INVALIDATED],
	       (unsigned long long)v[ODP_STAT_PREFETCHES]);
}

static void teardown(struct bw *bw)
{
	int err;

	if ((err = odp_destroy_qp(bw->qp)))
		die("odp_destroy_qp", err);
	if ((err = odp_destroy_cq(bw->cq)))
		die("odp_destroy_cq", err);
	if ((err = odp_dereg_mr(bw->mr)) || (err = odp_dereg_mr(bw->ctrl_mr)))
		die("odp_dereg_mr", err);
	if ((err = odp_dealloc_pd(bw->pd)))
		die("odp_dealloc_pd", err);
	if ((err = odp_close_device(bw->ctx)))
		die("odp_close_device", err);
	munmap(bw->buf, bw->buf_len);
	munmap(bw->ctrl, (size_t)sysconf(_SC_PAGESIZE));
}

/* The server's idle loop while the client writes: the fault storm. */
static void storm_target(struct bw *bw)
{
	fault_storm(bw, ODP_ADVISE_PREFETCH_WRITE);
}

static int server(struct bw *bw)
{
	struct msg m = { .type = MSG_MR, .addr = (uintptr_t)bw->buf,
			 .rkey = bw->mr->rkey, .size = opt.size };
	struct odp_wc wc;

	send_msg(bw, &m);
	/* As long as the client writes: no stall limit. */
	recv_msg(bw, &m, MSG_DONE, opt.odp_fault ? storm_target : NULL, 0);
	m = (struct msg) { .type = MSG_READY };
	send_msg(bw, &m);

	/* The checked write: it consumes a control receive. */
	poll_one(bw, &wc, NULL, STALL_SEC);
	if (wc.opcode != ODP_WC_RECV_RDMA_WITH_IMM ||
	    !(wc.wc_flags & ODP_WC_WITH_IMM) || wc.imm_data != htonl(CHECK_IMM) ||
	    wc.byte_len != opt.size) {
		fprintf(stderr, "odp_write_bw: opcode %d flags %#x imm %#x len %u, "
			"expected the write with immediate\n", wc.opcode,
			wc.wc_flags, ntohl(wc.imm_data), wc.byte_len);
		return 1;
	}
	for (size_t i = 0; i < opt.size; i++) {
		if ((unsigned char)bw->buf[i] != pattern(i)) {
			fprintf(stderr, "odp_write_bw: byte %zu is 0x%02x, expected 0x%02x\n",
				i, (unsigned char)bw->buf[i], pattern(i));
			return 1;
		}
	}
	printf("server: %zu bytes written with immediate 0x%08x checked\n",
	       opt.size, CHECK_IMM);
	print_stats("server", bw->mr);
	return 0;
}

static void write_all(struct bw *bw, uint64_t raddr, uint32_t rkey)
{
	struct odp_sge sge = {
		.addr	= (uintptr_t)bw->buf,
		.length	= (uint32_t)opt.size,
		.lkey	= bw->mr->lkey,
	};
	struct odp_send_wr wr = {
		.sg_list	= &sge,
		.num_sge	= 1,
		.opcode		= ODP_WR_RDMA_WRITE,
		.wr.rdma	= { .remote_addr = raddr, .rkey = rkey },
	}, *bad;
	long posted = 0, completed = 0;
	struct odp_wc wc[16];
	double last = now();
	int err, ne, i;

	while (completed < opt.iters) {
		while (posted < opt.iters && posted - completed < opt.tx_depth) {
			/* Signal every cq_mod, the last, and a full window. */
			int sig = (posted + 1) % opt.cq_mod == 0 ||
				  posted + 1 == opt.iters ||
				  posted + 1 - completed == opt.tx_depth;

			if (opt.odp_fault)
				fault_storm(bw, ODP_ADVISE_PREFETCH);
			wr.wr_id = (uint64_t)posted;
			wr.send_flags = sig ? ODP_SEND_SIGNALED : 0;
			err = odp_post_send(bw->qp, &wr, &bad);
			if (err)
				die("odp_post_send", err);
			posted++;
		}

		ne = odp_poll_cq(bw->cq, 16, wc);
		if (ne < 0)
			die("odp_poll_cq", -ne);
		if (!ne) {
			if (now() - last > STALL_SEC) {
				fprintf(stderr, "odp_write_bw: no completion for %d s "
					"(posted %ld, completed %ld)\n",
					STALL_SEC, posted, completed);
				exit(1);
			}
			continue;
		}
		last = now();
		for (i = 0; i < ne; i++) {
			if (wc[i].status != ODP_WC_SUCCESS) {
				fprintf(stderr, "Failed status %s (%d) for wr_id %lld\n",
					odp_wc_status_str(wc[i].status),
					wc[i].status, (long long)wc[i].wr_id);
				exit(1);
			}
			if (wc[i].opcode != ODP_WC_RDMA_WRITE) {
				fprintf(stderr, "odp_write_bw: opcode %d, expected RDMA WRITE\n",
					wc[i].opcode);
				exit(1);
			}
			/* In order: this one and every one before it. */
			completed = (long)wc[i].wr_id + 1;
		}
	}
}

/* The last write, of a known pattern, with an immediate: the server checks it. */
static void write_checked(struct bw *bw, uint64_t raddr, uint32_t rkey)
{
	struct odp_sge sge = {
		.addr	= (uintptr_t)bw->buf,
		.length	= (uint32_t)opt.size,
		.lkey	= bw->mr->lkey,
	};
	struct odp_send_wr wr = {
		.wr_id		= WRID_CTRL,
		.sg_list	= &sge,
		.num_sge	= 1,
		.opcode		= ODP_WR_RDMA_WRITE_WITH_IMM,
		.send_flags	= ODP_SEND_SIGNALED,
		.imm_data	= htonl(CHECK_IMM),
		.wr.rdma	= { .remote_addr = raddr, .rkey = rkey },
	}, *bad;
	struct odp_wc wc;
	int err;

	for (size_t i = 0; i < opt.size; i++)
		bw->buf[i] = (char)pattern(i);
	err = odp_post_send(bw->qp, &wr, &bad);
	if (err)
		die("odp_post_send", err);
	poll_one(bw, &wc, NULL, STALL_SEC);
	if (wc.opcode != ODP_WC_RDMA_WRITE) {
		fprintf(stderr, "odp_write_bw: opcode %d, expected RDMA WRITE\n",
			wc.opcode);
		exit(1);
	}
}

static int client(struct bw *bw)
{
	struct msg mr, m;
	double start, sec;

	recv_msg(bw, &mr, MSG_MR, NULL, STALL_SEC);
	if (mr.size != opt.size) {
		fprintf(stderr, "odp_write_bw: the server has %llu bytes, we write %zu\n",
			(unsigned long long)mr.size, opt.size);
		return 1;
	}

	/* Not the pattern the server checks: that comes with the last write. */
	for (size_t i = 0; i < opt.size; i++)
		bw->buf[i] = (char)~pattern(i);
	start = now();
	write_all(bw, mr.addr, mr.rkey);
	sec = now() - start;

	printf("---------------------------------------------------------------------------------------\n");
	printf(" #bytes     #iterations    BW average[MB/sec]   MsgRate[Mpps]\n");
	printf(" %-10zu %-14d %-20.2f %-.6f\n", opt.size, opt.iters,
	       (double)opt.size * opt.iters / sec / (1 << 20),
	       opt.iters / sec / 1e6);
	printf("---------------------------------------------------------------------------------------\n");

	m = (struct msg) { .type = MSG_DONE };
	send_msg(bw, &m);
	recv_msg(bw, &m, MSG_READY, NULL, STALL_SEC);
	write_checked(bw, mr.addr, mr.rkey);
	print_stats("client", bw->mr);
	return 0;
}

int main(int argc, char **argv)
{
	struct bw bw = { 0 };
	int ret;

	parse(argc, argv);
	setup(&bw);
	connect_qp(&bw);
	ret = opt.servername ? client(&bw) : server(&bw);
	if (!ret)
		teardown(&bw);
	return ret;
}
