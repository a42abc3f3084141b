// SPDX-License-Identifier: MIT
/*
 * bench_bw: RDMA WRITE / READ / SEND bandwidth and message rate over libodp,
 * the way perftest's ib_write_bw / ib_read_bw / ib_send_bw measure them
 * (examples/odp_write_bw has WRITE only; this has all three, same loop).
 *
 *   server: bench_bw -o write|read|send [options]
 *   client: bench_bw -o write|read|send [options] SERVER-IPv4
 *
 * Both sides register one ODP MR of `size` bytes and make it resident
 * before the test (a store per page, then a synchronous prefetch), so this
 * is the resident-pages case.  The client posts `iters` operations, keeping
 * at most tx-depth outstanding and asking for a completion every cq-mod of
 * them (and for the last, and whenever the window is full); the time runs
 * from the first post to the last completion.  SEND: the server keeps
 * rx-depth receives posted into its buffer and reposts each one as it
 * completes; it tells the client when all `iters` arrived.
 *
 * Control messages travel on the same connection with SENDs (server ->
 * client: its address and rkey; then "done").  Data completions and
 * control completions use separate CQs (send CQ / receive CQ).
 *
 * The client prints one line of JSON:
 *   {"tool":"bench_bw","op":"read","size":65536,"iters":500,"sec":..,
 *    "mib_s":..,"mpps":..}
 * Exit status: 0 on success, 1 on any failure.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <getopt.h>
#include <netdb.h>

#include <odp.h>

#include "common.h"

#define STALL_SEC	30
#define CTRL_SLOTS	4
#define CTRL_SIZE	64
#define WRID_CTRL	(~0ULL)

enum msg_type { MSG_MR = 1, MSG_DONE };

struct msg {
	uint32_t	type;
	uint32_t	rkey;
	uint64_t	addr;
	uint64_t	size;
};

enum bw_op { OP_WRITE, OP_READ, OP_SEND };
static const char *const op_name[] = { "write", "read", "send" };

static struct {
	enum bw_op	op;
	int		port;
	const char	*ib_devname;
	size_t		size;
	int		iters;
	int		tx_depth;
	int		rx_depth;
	int		cq_mod;
	const char	*servername;
} opt = {
	.port		= 18515,
	.size		= 65536,
	.iters		= 1000,
	.tx_depth	= 128,
	.rx_depth	= 512,
	.cq_mod		= 16,
};

static struct {
	struct odp_context	*ctx;
	struct odp_pd		*pd;
	struct odp_cq		*scq, *rcq;
	struct odp_qp		*qp;
	char			*buf;
	size_t			buf_len;
	struct odp_mr		*mr;
	char			*ctrl;
	struct odp_mr		*ctrl_mr;
	int			next_slot;
} bw;

static void fail(const char *what, int err)
{
	die("bench_bw: %s: %s", what, strerror(err));
}

/*
 * Stall detection without a clock read per empty poll (the guest's
 * clocksource may be an emulated HPET, and perftest's loops read no clock
 * either): the clock is read once every 4096 empty polls.
 */
struct stall {
	unsigned long	idle;
	double		since;
};

static void stall_reset(struct stall *s)
{
	s->idle = 0;
}

static int stalled(struct stall *s, int limit)
{
	if (++s->idle % 4096)
		return 0;
	if (s->idle == 4096) {
		s->since = now_ns();
		return 0;
	}
	return limit && now_ns() - s->since > limit * 1e9;
}

/* One successful completion; limit 0: wait as long as it takes. */
static void poll_one(struct odp_cq *cq, struct odp_wc *wc, int limit,
		     const char *what)
{
	struct stall st = { 0 };
	int ne;

	while (!(ne = odp_poll_cq(cq, 1, wc)))
		if (stalled(&st, limit))
			die("bench_bw: %s: no completion for %d s", what, limit);
	if (ne < 0)
		fail("odp_poll_cq", -ne);
	if (wc->status != ODP_WC_SUCCESS)
		die("bench_bw: %s: wr_id %lld: %s", what, (long long)wc->wr_id,
		    odp_wc_status_str(wc->status));
}

static void post_ctrl_recv(int slot)
{
	struct odp_sge sge = {
		.addr = (uintptr_t)(bw.ctrl + slot * CTRL_SIZE),
		.length = CTRL_SIZE, .lkey = bw.ctrl_mr->lkey,
	};
	struct odp_recv_wr wr = { .wr_id = WRID_CTRL, .sg_list = &sge,
				  .num_sge = 1 }, *bad;
	int err = odp_post_recv(bw.qp, &wr, &bad);

	if (err)
		fail("odp_post_recv", err);
}

static void send_msg(const struct msg *m)
{
	struct msg *out = (struct msg *)(bw.ctrl + CTRL_SLOTS * CTRL_SIZE);
	struct odp_sge sge = {
		.addr = (uintptr_t)out, .length = sizeof(*out),
		.lkey = bw.ctrl_mr->lkey,
	};
	struct odp_send_wr wr = {
		.wr_id = WRID_CTRL, .sg_list = &sge, .num_sge = 1,
		.opcode = ODP_WR_SEND, .send_flags = ODP_SEND_SIGNALED,
	}, *bad;
	struct odp_wc wc;
	int err;

	out->type = htonl(m->type);
	out->rkey = htonl(m->rkey);
	out->addr = htobe64(m->addr);
	out->size = htobe64(m->size);
	err = odp_post_send(bw.qp, &wr, &bad);
	if (err)
		fail("odp_post_send", err);
	poll_one(bw.scq, &wc, STALL_SEC, m->type == MSG_MR ? "send MR" : "send DONE");
	if (wc.wr_id != WRID_CTRL)
		die("bench_bw: unexpected send completion %llu",
		    (unsigned long long)wc.wr_id);
}

static void recv_msg(struct msg *m, enum msg_type type, int limit)
{
	const struct msg *in;
	struct odp_wc wc;
	int slot = bw.next_slot;

	poll_one(bw.rcq, &wc, limit, type == MSG_MR ? "receive MR" : "receive DONE");
	if (wc.opcode != ODP_WC_RECV || wc.byte_len != sizeof(*in))
		die("bench_bw: opcode %d (%u bytes), expected a control message",
		    wc.opcode, wc.byte_len);
	in = (const struct msg *)(bw.ctrl + slot * CTRL_SIZE);
	m->type = ntohl(in->type);
	m->rkey = ntohl(in->rkey);
	m->addr = be64toh(in->addr);
	m->size = be64toh(in->size);
	if (m->type != type)
		die("bench_bw: message %u, expected %u", m->type, type);
	post_ctrl_recv(slot);
	bw.next_slot = (slot + 1) % CTRL_SLOTS;
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
	if (n)
		die("bench_bw: %s: %s", host, gai_strerror(n));
	sin->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
}

static void setup(void)
{
	struct odp_device **list, *dev = NULL;
	struct odp_qp_init_attr attr = { 0 };
	char name[ODP_IBDEV_NAME_MAX];
	size_t ps = page_size();
	int n, err, server_send = !opt.servername && opt.op == OP_SEND;
	int rq = server_send ? opt.rx_depth : CTRL_SLOTS;

	list = odp_get_device_list(&n);
	if (!list)
		fail("odp_get_device_list", errno);
	for (int i = 0; i < n && !dev; i++)
		if (!opt.ib_devname ||
		    !strcmp(odp_get_device_name(list[i]), opt.ib_devname))
			dev = list[i];
	if (!dev)
		die("bench_bw: no RDMA device %s", opt.ib_devname ? opt.ib_devname : "");
	snprintf(name, sizeof(name), "%s", odp_get_device_name(dev));
	odp_free_device_list(list);
	bw.ctx = odp_open_device(NULL);
	if (!bw.ctx)
		fail("odp_open_device", errno);
	err = odp_bind_device(bw.ctx, name, 1, NULL);
	if (err)
		fail("odp_bind_device", err);
	bw.pd = odp_alloc_pd(bw.ctx);
	if (!bw.pd)
		fail("odp_alloc_pd", errno);

	/* The data buffer: resident and device-mapped before the test. */
	bw.buf_len = (opt.size + ps - 1) / ps * ps;
	bw.buf = map_mem(bw.buf_len, MEM_4K);
	memset(bw.buf, 0x33, bw.buf_len);
	bw.mr = odp_reg_mr(bw.pd, bw.buf, bw.buf_len, ODP_ACCESS_LOCAL_WRITE |
			   ODP_ACCESS_REMOTE_WRITE | ODP_ACCESS_REMOTE_READ |
			   ODP_ACCESS_ON_DEMAND);
	if (!bw.mr)
		fail("odp_reg_mr", errno);
	{
		struct odp_sge sge = { .addr = (uintptr_t)bw.buf,
				       .length = (uint32_t)bw.buf_len,
				       .lkey = bw.mr->lkey };

		err = odp_advise_mr(bw.pd, ODP_ADVISE_PREFETCH_WRITE,
				    ODP_ADVISE_FLAG_FLUSH, &sge, 1);
		if (err)
			fail("odp_advise_mr", err);
	}
	bw.ctrl = map_mem(ps, MEM_4K);
	bw.ctrl_mr = odp_reg_mr(bw.pd, bw.ctrl, ps, ODP_ACCESS_LOCAL_WRITE |
				ODP_ACCESS_ON_DEMAND);
	if (!bw.ctrl_mr)
		fail("odp_reg_mr", errno);

	bw.scq = odp_create_cq(bw.ctx, opt.tx_depth + 2);
	bw.rcq = odp_create_cq(bw.ctx, rq + 2);
	if (!bw.scq || !bw.rcq)
		fail("odp_create_cq", errno);
	attr.send_cq = bw.scq;
	attr.recv_cq = bw.rcq;
	attr.cap.max_send_wr = (uint32_t)opt.tx_depth + 1;
	attr.cap.max_recv_wr = (uint32_t)rq;
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_sge = 1;
	attr.qp_type = ODP_QPT_RC;
	bw.qp = odp_create_qp(bw.pd, &attr);
	if (!bw.qp)
		fail("odp_create_qp", errno);
	if (!server_send)
		for (int i = 0; i < CTRL_SLOTS; i++)
			post_ctrl_recv(i);
}

static void post_data_recv(uint64_t id)
{
	struct odp_sge sge = { .addr = (uintptr_t)bw.buf,
			       .length = (uint32_t)opt.size,
			       .lkey = bw.mr->lkey };
	struct odp_recv_wr wr = { .wr_id = id, .sg_list = &sge,
				  .num_sge = 1 }, *bad;
	int err = odp_post_recv(bw.qp, &wr, &bad);

	if (err)
		fail("odp_post_recv", err);
}

static void connect_qp(void)
{
	struct sockaddr_in sin;
	struct odp_listener *l;
	int err;

	sockaddr_of(opt.servername, &sin);
	if (opt.servername) {
		err = odp_connect(bw.qp, (struct sockaddr *)&sin, 0);
		if (err)
			fail("odp_connect", err);
		return;
	}
	l = odp_listen(bw.ctx, (struct sockaddr *)&sin, 1);
	if (!l)
		fail("odp_listen", errno);
	err = odp_accept(l, bw.qp, 0);
	if (err)
		fail("odp_accept", err);
	odp_destroy_listener(l);
}

static int server(void)
{
	struct msg m = { .type = MSG_MR, .addr = (uintptr_t)bw.buf,
			 .rkey = bw.mr->rkey, .size = opt.size };

	if (opt.op == OP_SEND) {
		long posted = 0, received = 0;
		struct odp_wc wc[16];
		struct stall st = { 0 };

		while (posted < opt.iters && posted < opt.rx_depth)
			post_data_recv((uint64_t)posted++);
		send_msg(&m);
		while (received < opt.iters) {
			int ne = odp_poll_cq(bw.rcq, 16, wc);

			if (ne < 0)
				fail("odp_poll_cq", -ne);
			if (!ne) {
				if (stalled(&st, received ? STALL_SEC : 0))
					die("bench_bw: server got %ld of %d", received,
					    opt.iters);
				continue;
			}
			stall_reset(&st);
			for (int i = 0; i < ne; i++) {
				if (wc[i].status != ODP_WC_SUCCESS ||
				    wc[i].opcode != ODP_WC_RECV ||
				    wc[i].byte_len != opt.size)
					die("bench_bw: receive: %s, opcode %d, %u bytes",
					    odp_wc_status_str(wc[i].status),
					    wc[i].opcode, wc[i].byte_len);
				received++;
				if (posted < opt.iters)
					post_data_recv((uint64_t)posted++);
			}
		}
		m = (struct msg){ .type = MSG_DONE };
		send_msg(&m);
	} else {
		send_msg(&m);
		/* As long as the client works. */
		recv_msg(&m, MSG_DONE, 0);
	}
	return 0;
}

static void run_ops(uint64_t raddr, uint32_t rkey)
{
	struct odp_sge sge = { .addr = (uintptr_t)bw.buf,
			       .length = (uint32_t)opt.size,
			       .lkey = bw.mr->lkey };
	struct odp_send_wr wr = {
		.sg_list = &sge, .num_sge = 1,
		.opcode = opt.op == OP_WRITE ? ODP_WR_RDMA_WRITE :
			  opt.op == OP_READ ? ODP_WR_RDMA_READ : ODP_WR_SEND,
		.wr.rdma = { .remote_addr = raddr, .rkey = rkey },
	}, *bad;
	enum odp_wc_opcode expect = opt.op == OP_WRITE ? ODP_WC_RDMA_WRITE :
				    opt.op == OP_READ ? ODP_WC_RDMA_READ :
				    ODP_WC_SEND;
	long posted = 0, completed = 0;
	struct odp_wc wc[16];
	struct stall st = { 0 };

	while (completed < opt.iters) {
		while (posted < opt.iters && posted - completed < opt.tx_depth) {
			int sig = (posted + 1) % opt.cq_mod == 0 ||
				  posted + 1 == opt.iters ||
				  posted + 1 - completed == opt.tx_depth;
			int err;

			wr.wr_id = (uint64_t)posted;
			wr.send_flags = sig ? ODP_SEND_SIGNALED : 0;
			err = odp_post_send(bw.qp, &wr, &bad);
			if (err)
				fail("odp_post_send", err);
			posted++;
		}
		int ne = odp_poll_cq(bw.scq, 16, wc);

		if (ne < 0)
			fail("odp_poll_cq", -ne);
		if (!ne) {
			if (stalled(&st, STALL_SEC))
				die("bench_bw: stalled: posted %ld completed %ld",
				    posted, completed);
			continue;
		}
		stall_reset(&st);
		for (int i = 0; i < ne; i++) {
			if (wc[i].status != ODP_WC_SUCCESS || wc[i].opcode != expect)
				die("bench_bw: wr_id %lld: %s, opcode %d",
				    (long long)wc[i].wr_id,
				    odp_wc_status_str(wc[i].status), wc[i].opcode);
			completed = (long)wc[i].wr_id + 1;
		}
	}
}

static int client(void)
{
	struct msg mr, m;
	double t0, sec;

	recv_msg(&mr, MSG_MR, STALL_SEC);
	if (mr.size != opt.size)
		die("bench_bw: server has %llu bytes, we use %zu",
		    (unsigned long long)mr.size, opt.size);
	t0 = now_ns();
	run_ops(mr.addr, mr.rkey);
	sec = (now_ns() - t0) / 1e9;
	if (opt.op == OP_SEND) {
		recv_msg(&m, MSG_DONE, STALL_SEC);
	} else {
		m = (struct msg){ .type = MSG_DONE };
		send_msg(&m);
	}
	printf("{\"tool\":\"bench_bw\",\"op\":\"%s\",\"size\":%zu,\"iters\":%d,"
	       "\"tx_depth\":%d,\"cq_mod\":%d,\"sec\":%.6f,\"mib_s\":%.4f,"
	       "\"mpps\":%.8f}\n", op_name[opt.op], opt.size, opt.iters,
	       opt.tx_depth, opt.cq_mod, sec,
	       (double)opt.size * opt.iters / sec / MIB, opt.iters / sec / 1e6);
	return 0;
}

static void teardown(void)
{
	if (odp_destroy_qp(bw.qp) || odp_destroy_cq(bw.scq) ||
	    odp_destroy_cq(bw.rcq) || odp_dereg_mr(bw.mr) ||
	    odp_dereg_mr(bw.ctrl_mr) || odp_dealloc_pd(bw.pd) ||
	    odp_close_device(bw.ctx))
		fail("teardown", errno);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_bw -o write|read|send [-d dev] [-p port] [-s size] "
		"[-n iters] [-t tx-depth] [-r rx-depth] [-Q cq-mod] [server-ipv4]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	int c, ret;

	while ((c = getopt(argc, argv, "o:d:p:s:n:t:r:Q:h")) != -1) {
		switch (c) {
		case 'o':
			if (!strcmp(optarg, "write")) opt.op = OP_WRITE;
			else if (!strcmp(optarg, "read")) opt.op = OP_READ;
			else if (!strcmp(optarg, "send")) opt.op = OP_SEND;
			else usage();
			break;
		case 'd': opt.ib_devname = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 's': opt.size = strtoul(optarg, NULL, 0); break;
		case 'n': opt.iters = atoi(optarg); break;
		case 't': opt.tx_depth = atoi(optarg); break;
		case 'r': opt.rx_depth = atoi(optarg); break;
		case 'Q': opt.cq_mod = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind == argc - 1)
		opt.servername = argv[optind];
	else if (optind < argc)
		usage();
	if (!opt.size || opt.size > UINT32_MAX || opt.iters < 1 ||
	    opt.tx_depth < 1 || opt.tx_depth > 4095 || opt.cq_mod < 1 ||
	    opt.rx_depth < 1 || opt.rx_depth > 4094)
		usage();

	setup();
	connect_qp();
	ret = opt.servername ? client() : server();
	/*
	 * The peer's odp answers our last message before it reports it, but
	 * destroying our QP at once can drop that answer on the wire: the
	 * peer's last work request would then complete with WR_FLUSH_ERR.
	 * Give it a moment (measured part is over).
	 */
	usleep(200 * 1000);
	if (!ret)
		teardown();
	return ret;
}
