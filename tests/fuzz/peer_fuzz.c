// SPDX-License-Identifier: MIT
/*
 * peer_fuzz: a hostile RDMA peer for odp.ko's wire protocol.
 *
 *   peer_fuzz [-s SEED] [-t SECONDS] [-n SESSIONS] [-r SESSION] [-p PORT]
 *             [-a ADDR] [-d DEV] [-v]
 *   peer_fuzz -R consumed_order [-p PORT]     (one fixed scenario, see below)
 *
 * The process forks.  The child, the "target", is a libodp program: it
 * listens with odp_listen() on ADDR:PORT (default 10.99.0.1), registers ODP
 * MRs with and without remote rights (one on another PD, one deregistered
 * again so its key is stale), and per session posts receives (some into an
 * MR without local write) and a few requests of its own, accepts one
 * connection, and waits.  The parent, the "peer", connects with librdmacm
 * and libibverbs (RC, RDMA_PS_TCP, pinned MRs, the connection parameters
 * odp.ko uses) and sends raw wire messages (struct odp_wire_hdr + payload,
 * IBV_WR_SEND): first a few valid requests whose results it checks, then
 * malformed ones: any op value, truncated headers, lengths beyond the
 * message, oversized messages, FIRST/LAST out of order, addresses and
 * totals that overflow or leave the MR, keys of MRs without the rights, of
 * another PD or stale, reserved bits, credit violations, bad credit counts,
 * responses to requests never made and wrong responses to those made,
 * reordered segments, bursts, and disconnects in the middle of a request.
 *
 * Oracles, per session: the target's QP ends in the error state with every
 * work request completed exactly once (a probe send and receive posted
 * afterwards complete with WR_FLUSH_ERR); every byte of the target's MR
 * memory outside the ranges the peer was allowed to write (the remote
 * write MR, the receive buffers, the target's own READ/atomic buffers) is
 * unchanged; valid requests before the first malformed one succeed and
 * READ returns what WRITE wrote; and the kernel log has no report.  The
 * target exits 0 only if all its checks passed.  Session k's messages come
 * from the seed's stream k: `-s SEED -r k` replays that session alone.
 * With PEER_FUZZ_SELFTEST set, the target itself changes a byte of MR B in
 * session 0, and the run must fail (the memory oracle works).
 *
 * -R consumed_order: the target posts an RDMA READ and no receive; the peer
 * sends a SEND (its credit count stamped before it saw the READ) and then
 * the READ's response; the target posts a receive once the READ completed.
 * An RC responder must deliver the SEND into that receive.  Exit 0 if it
 * did.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <rdma/rdma_cma.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "odp.h"
#include "fuzz_common.h"

/* ---- the wire format (driver/odp_transport.h) ----------------------------- */

struct wire_hdr {
	uint8_t		op;
	uint8_t		status;
	uint8_t		flags;
	uint8_t		reserved;
	uint32_t	imm;
	uint32_t	rkey;		/* big endian, as every field below */
	uint32_t	length;
	uint64_t	addr;
	uint64_t	compare_add;
	uint64_t	swap;
	uint32_t	total;
	uint32_t	consumed;
};
_Static_assert(sizeof(struct wire_hdr) == 48, "wire header layout");

enum {
	W_SEND = 1, W_SEND_IMM, W_WRITE, W_WRITE_IMM, W_READ_REQ, W_CMP_SWAP,
	W_FETCH_ADD, W_ACK, W_READ_RESP, W_ATOMIC_RESP, W_CREDIT,
};
#define W_FIRST		1
#define W_LAST		2
#define WIRE_BUF	16384
#define HDR		((uint32_t)sizeof(struct wire_hdr))
#define MAX_PAYLOAD	(WIRE_BUF - HDR)
#define REQ_CREDITS	16

static bool op_is_request(uint8_t op)
{
	return op != W_ACK && op != W_READ_RESP && op != W_ATOMIC_RESP && op != W_CREDIT;
}

/* ---- the control channel between peer and target --------------------------- */

enum { MR_A, MR_B, MR_C, MR_D, MR_E, MR_R, MR_T, NMR };
static const char *const mr_name[NMR] = { "A", "B", "C", "D", "E", "R", "T" };
/* A: all remote rights; B: remote read only; C: local write only; D: all, other
 * PD; E: all, deregistered before the peer connects; R: receive buffers;
 * T: the target's own requests' local buffers. */

struct mr_info {
	uint64_t addr, len;
	uint32_t key, access;
};

#define MAX_RECV	48
#define MAX_TREQ	6

struct recv_info {
	uint32_t len;		/* sum of the SGEs */
	uint32_t bad;		/* an SGE the SEND may not write (no local write) */
};

struct treq_info {
	uint32_t opcode;	/* ODP_WR_* */
	uint32_t len;
};

enum end_mode { END_DISCONNECT, END_ABRUPT, END_TARGET_DESTROYS, END_QP_ERROR, END_MAX };
static const char *const end_name[END_MAX] = {
	"disconnect", "abrupt", "target_destroys", "qp_error" };

enum ctl_type { C_HELLO = 1, C_START, C_INFO, C_DONE, C_RESULT, C_QUIT };

struct ctl {
	uint32_t type;
	uint32_t session;
	uint32_t ok;
	uint32_t end_mode;
	/* C_HELLO: the peer's MR for the target's requests */
	struct mr_info peer_mr;
	/* C_INFO */
	struct mr_info mr[NMR];
	uint32_t nrecv;
	struct recv_info recv[MAX_RECV];
	uint32_t ntreq;
	struct treq_info treq[MAX_TREQ];
	uint32_t scenario;	/* -R */
	/* C_RESULT */
	uint32_t completions, flushed, errors, recv_ok, send_ok;
	char why[512];
};

static int ctl_send(int fd, struct ctl *m)
{
	return send(fd, m, sizeof(*m), MSG_NOSIGNAL) == sizeof(*m) ? 0 : -1;
}

/* Receive one message; -1 on timeout (ms, -1 forever) or EOF. */
static int ctl_recv(int fd, struct ctl *m, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		return -1;
	return recv(fd, m, sizeof(*m), 0) == sizeof(*m) ? 0 : -1;
}

/* ---- options and counters ---------------------------------------------------- */

static uint64_t g_seed;
static uint64_t g_seconds = 60, g_max_sessions, g_replay = UINT64_MAX;
static unsigned int g_port = 19875;
static const char *g_addr = "10.99.0.1";
static const char *g_dev = "rxe0";
static int g_verbose;
static const char *g_scenario;

#define SCEN_NONE		0
#define SCEN_CONSUMED_ORDER	1

/* ---- the target (libodp) -------------------------------------------------------- */

#define ARENA_LEN	(2u << 20)

struct target {
	struct odp_context *ctx;
	struct odp_pd *pd, *pd2;
	struct odp_listener *ln;
	uint8_t *arena, *shadow;
	struct odp_mr *mr[NMR];
	uint64_t off[NMR], len[NMR];
	uint32_t access[NMR];
	/* ranges the peer may change this session */
	struct { uint64_t off, len; } allow[MAX_RECV * 4 + MAX_TREQ + 4];
	unsigned int nallow;
	int failures;
};

static void t_allow(struct target *t, uint64_t addr, uint64_t len)
{
	if (t->nallow < sizeof(t->allow) / sizeof(t->allow[0])) {
		t->allow[t->nallow].off = addr - (uintptr_t)t->arena;
		t->allow[t->nallow].len = len;
		t->nallow++;
	}
}

static int t_setup(struct target *t)
{
	/* Byte-granular, unaligned MRs, with guard bytes around each. */
	static const uint64_t len[NMR] = {
		[MR_A] = 192 * 1024 + 3, [MR_B] = 64 * 1024 + 5, [MR_C] = 32 * 1024 + 1,
		[MR_D] = 32 * 1024, [MR_E] = 32 * 1024 + 7, [MR_R] = 256 * 1024,
		[MR_T] = 128 * 1024,
	};
	static const uint32_t rw = ODP_ACCESS_ON_DEMAND | ODP_ACCESS_LOCAL_WRITE;
	const uint32_t all = rw | ODP_ACCESS_REMOTE_WRITE | ODP_ACCESS_REMOTE_READ |
			     ODP_ACCESS_REMOTE_ATOMIC;
	const uint32_t access[NMR] = {
		[MR_A] = all, [MR_B] = ODP_ACCESS_ON_DEMAND | ODP_ACCESS_REMOTE_READ,
		[MR_C] = rw, [MR_D] = all, [MR_E] = all, [MR_R] = rw, [MR_T] = rw,
	};
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(g_port) };
	uint64_t off = 4096 + 24;
	int err;

	t->ctx = odp_open_device(NULL);
	if (!t->ctx) {
		fprintf(stderr, "target: odp_open_device: %s\n", strerror(errno));
		return -1;
	}
	for (int i = 0; i < 200; i++) {
		err = odp_bind_device(t->ctx, g_dev, 1, NULL);
		if (err != ENODEV)
			break;
		usleep(100000);
	}
	if (err) {
		fprintf(stderr, "target: bind %s: %s\n", g_dev, strerror(err));
		return -1;
	}
	t->pd = odp_alloc_pd(t->ctx);
	t->pd2 = odp_alloc_pd(t->ctx);
	t->arena = mmap(NULL, ARENA_LEN, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->shadow = malloc(ARENA_LEN);
	if (!t->pd || !t->pd2 || t->arena == MAP_FAILED || !t->shadow)
		return -1;
	for (uint32_t i = 0; i < ARENA_LEN; i++)
		t->arena[i] = (uint8_t)(i * 31 + (i >> 12) + 7);
	memcpy(t->shadow, t->arena, ARENA_LEN);
	for (int i = 0; i < NMR; i++) {
		t->off[i] = off;
		t->len[i] = len[i];
		t->access[i] = access[i];
		off = (off + len[i] + 4096 + 64) & ~7ULL;
		if (i == MR_E)
			continue;	/* per session */
		t->mr[i] = odp_reg_mr(i == MR_D ? t->pd2 : t->pd, t->arena + t->off[i],
				      t->len[i], access[i]);
		if (!t->mr[i]) {
			fprintf(stderr, "target: reg MR %s: %s\n", mr_name[i], strerror(errno));
			return -1;
		}
	}
	if (off > ARENA_LEN)
		return -1;
	inet_pton(AF_INET, g_addr, &sin.sin_addr);
	t->ln = odp_listen(t->ctx, (struct sockaddr *)&sin, 8);
	if (!t->ln) {
		fprintf(stderr, "target: odp_listen %s:%u: %s\n", g_addr, g_port, strerror(errno));
		return -1;
	}
	return 0;
}

/* Every byte outside the allowed ranges is as it was. */
static int t_check_memory(struct target *t, char *why, size_t whylen)
{
	static uint8_t mask[ARENA_LEN];
	int bad = 0;

	memset(mask, 0, sizeof(mask));
	for (unsigned int i = 0; i < t->nallow; i++) {
		uint64_t o = t->allow[i].off, l = t->allow[i].len;

		if (o < ARENA_LEN)
			memset(mask + o, 1, l < ARENA_LEN - o ? l : ARENA_LEN - o);
	}
	for (uint32_t i = 0; i < ARENA_LEN; i++) {
		if (!mask[i] && t->arena[i] != t->shadow[i]) {
			const char *in = "guard";
			uint64_t rel = 0;

			for (int m = 0; m < NMR; m++)
				if (i >= t->off[m] && i < t->off[m] + t->len[m]) {
					in = mr_name[m];
					rel = i - t->off[m];
				}
			if (!bad)
				snprintf(why, whylen,
					 "memory the peer may not write changed: arena+%u (%s%s+%llu) %#x -> %#x",
					 i, strcmp(in, "guard") ? "MR " : "", in,
					 (unsigned long long)rel, t->shadow[i], t->arena[i]);
			bad++;
		}
	}
	memcpy(t->shadow, t->arena, ARENA_LEN);
	return bad;
}

struct t_wr {
	uint64_t wr_id;
	bool recv;
	int completions;
};

static int t_session(struct target *t, int ctl, uint32_t session, uint32_t scenario)
{
	struct odp_qp_init_attr qa = { 0 };
	struct odp_cq *scq = NULL, *rcq = NULL;
	struct odp_qp *qp = NULL;
	struct t_wr wrs[MAX_RECV + MAX_TREQ + 4];
	unsigned int nwrs = 0, left;
	struct ctl info = { .type = C_INFO, .session = session, .ok = 1 };
	struct ctl res = { .type = C_RESULT, .session = session, .ok = 1 };
	struct ctl done;
	struct rng r;
	bool got_done = false, destroyed = false, info_sent = false;
	uint64_t deadline;
	int err;

	rng_seed(&r, g_seed, 2 * (uint64_t)session + 1);
	t->nallow = 0;
	/* The remote-write MR, and (for READ/atomic targets) parts of T. */
	t_allow(t, (uintptr_t)t->arena + t->off[MR_A], t->len[MR_A]);

	t->mr[MR_E] = odp_reg_mr(t->pd, t->arena + t->off[MR_E], t->len[MR_E], t->access[MR_E]);
	scq = odp_create_cq(t->ctx, 512);
	rcq = odp_create_cq(t->ctx, 512);
	if (!scq || !rcq || !t->mr[MR_E])
		goto setup_failed;
	qa.send_cq = scq;
	qa.recv_cq = rcq;
	qa.cap.max_send_wr = 64;
	qa.cap.max_recv_wr = 128;
	qa.cap.max_send_sge = 4;
	qa.cap.max_recv_sge = 4;
	qa.qp_type = ODP_QPT_RC;
	qa.sq_sig_all = 1;
	qp = odp_create_qp(t->pd, &qa);
	if (!qp)
		goto setup_failed;

	info.nrecv = scenario ? 0 : chance(&r, 20) ? 0 : rnd_below(&r, MAX_RECV + 1);
	for (unsigned int i = 0; i < info.nrecv; i++) {
		struct odp_sge sg[3];
		struct odp_recv_wr wr = { .wr_id = ((uint64_t)session << 32) | nwrs,
					  .sg_list = sg };
		unsigned int ns = 1 + rnd_below(&r, 3);

		wr.num_sge = ns;
		for (unsigned int k = 0; k < ns; k++) {
			uint32_t l = chance(&r, 50) ? 1 + rnd_below(&r, 256) :
						      1 + rnd_below(&r, 24 * 1024);
			uint64_t o = rnd_below(&r, t->len[MR_R] - l);

			sg[k].addr = (uintptr_t)t->arena + t->off[MR_R] + o;
			sg[k].length = l;
			sg[k].lkey = t->mr[MR_R]->lkey;
			if (chance(&r, 5)) {	/* B: no local write */
				sg[k].addr = (uintptr_t)t->arena + t->off[MR_B];
				sg[k].length = l < t->len[MR_B] ? l : t->len[MR_B];
				sg[k].lkey = t->mr[MR_B]->lkey;
				info.recv[i].bad = 1;
			} else {
				t_allow(t, sg[k].addr, l);
			}
			info.recv[i].len += sg[k].length;
		}
		err = odp_post_recv(qp, &wr, NULL);
		if (err) {
			snprintf(res.why, sizeof(res.why), "post_recv: %s", strerror(err));
			goto fail;
		}
		wrs[nwrs++] = (struct t_wr){ .wr_id = wr.wr_id, .recv = true };
	}
	info.ntreq = scenario == SCEN_CONSUMED_ORDER ? 1 :
		     chance(&r, 50) ? 0 : 1 + rnd_below(&r, MAX_TREQ);
	for (unsigned int i = 0; i < info.ntreq; i++) {
		static const uint32_t ops[] = {
			ODP_WR_RDMA_READ, ODP_WR_RDMA_WRITE, ODP_WR_SEND, ODP_WR_SEND_WITH_IMM,
			ODP_WR_RDMA_WRITE_WITH_IMM, ODP_WR_ATOMIC_CMP_AND_SWP,
			ODP_WR_ATOMIC_FETCH_AND_ADD,
		};
		info.treq[i].opcode = scenario ? ODP_WR_RDMA_READ : ops[rnd_below(&r, 7)];
		info.treq[i].len = info.treq[i].opcode >= ODP_WR_ATOMIC_CMP_AND_SWP ||
				   scenario ? 8 :
				   chance(&r, 50) ? rnd_below(&r, 64) : rnd_below(&r, 40000);
	}
	for (int i = 0; i < NMR; i++) {
		info.mr[i].addr = (uintptr_t)t->arena + t->off[i];
		info.mr[i].len = t->len[i];
		info.mr[i].key = t->mr[i]->rkey;
		info.mr[i].access = t->access[i];
	}
	info.scenario = scenario;
	if (ctl_send(ctl, &info))
		return -1;
	info_sent = true;
	/* E's key goes stale before the peer can use it. */
	odp_dereg_mr(t->mr[MR_E]);
	t->mr[MR_E] = NULL;

	err = odp_accept(t->ln, qp, 15000);
	if (err) {
		/* The peer says whether it connected. */
		if (ctl_recv(ctl, &done, 30000) || done.type != C_DONE)
			return -1;
		got_done = true;
		if (done.ok) {
			snprintf(res.why, sizeof(res.why),
				 "accept: %s although the peer connected", strerror(err));
			goto fail;
		}
		goto finish;
	}

	/* The target's own requests to the peer's MR. */
	for (unsigned int i = 0; i < info.ntreq; i++) {
		struct odp_sge sg;
		struct odp_send_wr wr = { .wr_id = ((uint64_t)session << 32) | nwrs,
					  .sg_list = &sg, .num_sge = 1,
					  .opcode = info.treq[i].opcode,
					  .send_flags = ODP_SEND_SIGNALED };
		uint32_t l = info.treq[i].len;
		uint64_t o = rnd_below(&r, t->len[MR_T] - l) & ~7ULL;

		sg.addr = (uintptr_t)t->arena + t->off[MR_T] + o;
		sg.length = l;
		sg.lkey = t->mr[MR_T]->lkey;
		wr.num_sge = l ? 1 : 0;
		wr.imm_data = htonl(i);
		wr.wr.rdma.remote_addr = 0x10000 + rnd_below(&r, 4096) * 8;	/* peer ignores */
		wr.wr.rdma.rkey = 0x1234;
		if (wr.opcode >= ODP_WR_ATOMIC_CMP_AND_SWP) {
			wr.wr.atomic.remote_addr = 0x10000;
			wr.wr.atomic.rkey = 0x1234;
			wr.wr.atomic.compare_add = rnd64(&r);
			wr.wr.atomic.swap = rnd64(&r);
		}
		if (wr.opcode == ODP_WR_RDMA_READ || wr.opcode >= ODP_WR_ATOMIC_CMP_AND_SWP)
			t_allow(t, sg.addr, l);
		err = odp_post_send(qp, &wr, NULL);
		if (err) {
			snprintf(res.why, sizeof(res.why), "post_send: %s", strerror(err));
			goto fail;
		}
		wrs[nwrs++] = (struct t_wr){ .wr_id = wr.wr_id };
	}

	/* Poll until the peer is done, then until every WR completed. */
	deadline = now_ms() + 120000;
	left = nwrs;
	for (;;) {
		struct odp_wc wc[16];
		int n = 0;

		if (!got_done && !ctl_recv(ctl, &done, 0)) {
			if (done.type != C_DONE)
				return -1;
			got_done = true;
			deadline = now_ms() + 20000;
			if (done.end_mode == END_TARGET_DESTROYS) {
				odp_destroy_qp(qp);
				qp = NULL;
				destroyed = true;
				break;
			}
		}
		for (int c = 0; c < 2; c++) {
			n = odp_poll_cq(c ? rcq : scq, 16, wc);
			if (n < 0) {
				snprintf(res.why, sizeof(res.why), "poll_cq: %s", strerror(-n));
				goto fail;
			}
			for (int k = 0; k < n; k++) {
				uint32_t idx = wc[k].wr_id & 0xffffffff;

				res.completions++;
				if (wc[k].status == ODP_WC_WR_FLUSH_ERR)
					res.flushed++;
				else if (wc[k].status)
					res.errors++;
				else if (wc[k].opcode & ODP_WC_RECV)
					res.recv_ok++;
				else
					res.send_ok++;
				if (wc[k].wr_id >> 32 != session || idx >= nwrs ||
				    wrs[idx].recv != !!(wc[k].opcode & ODP_WC_RECV)) {
					snprintf(res.why, sizeof(res.why),
						 "completion for an unknown WR: wr_id %#llx opcode %d status %d",
						 (unsigned long long)wc[k].wr_id, wc[k].opcode,
						 wc[k].status);
					goto fail;
				}
				if (wrs[idx].completions++) {
					snprintf(res.why, sizeof(res.why),
						 "WR %u completed twice (status %d)", idx,
						 wc[k].status);
					goto fail;
				}
				/* RECV_RDMA_WITH_IMM: byte_len is the WRITE's, not bounded by it. */
				if (wrs[idx].recv && !wc[k].status && wc[k].opcode == ODP_WC_RECV &&
				    wc[k].byte_len > info.recv[idx].len) {
					snprintf(res.why, sizeof(res.why),
						 "receive %u: byte_len %u > its length %u", idx,
						 wc[k].byte_len, info.recv[idx].len);
					goto fail;
				}
				left--;
				/* -R consumed_order: the receive comes once the READ is done. */
				if (scenario == SCEN_CONSUMED_ORDER && !wrs[idx].recv &&
				    nwrs < MAX_RECV) {
					struct odp_sge sg = {
						.addr = (uintptr_t)t->arena + t->off[MR_R],
						.length = 64, .lkey = t->mr[MR_R]->lkey };
					struct odp_recv_wr rw = {
						.wr_id = ((uint64_t)session << 32) | nwrs,
						.sg_list = &sg, .num_sge = 1 };

					info.recv[nwrs].len = 64;
					t_allow(t, sg.addr, 64);
					if (odp_post_recv(qp, &rw, NULL) == 0) {
						wrs[nwrs++] = (struct t_wr){ .wr_id = rw.wr_id,
									     .recv = true };
						left++;
					}
				}
			}
		}
		if (got_done && !left)
			break;
		if (now_ms() > deadline) {
			snprintf(res.why, sizeof(res.why),
				 "%u of %u WRs not completed %s", left, nwrs,
				 got_done ? "20 s after the peer left" : "in 120 s");
			goto fail;
		}
		if (!n)
			usleep(1000);
	}
	if (!destroyed) {
		/*
		 * The QP goes to the error state once it has handled what the
		 * peer sent before leaving: a SEND still waiting for a receive
		 * may take a probe receive first (and fail it, 8 bytes being too
		 * short); then a later probe receive must flush.  The probe send
		 * cannot succeed, the peer being gone.
		 */
		struct odp_sge sg = { .addr = (uintptr_t)t->arena + t->off[MR_T], .length = 8,
				      .lkey = t->mr[MR_T]->lkey };
		struct odp_send_wr sw = { .wr_id = 1, .sg_list = &sg, .num_sge = 1,
					  .opcode = ODP_WR_SEND, .send_flags = ODP_SEND_SIGNALED };
		struct odp_recv_wr rw = { .wr_id = 2, .sg_list = &sg, .num_sge = 1 };
		bool send_done = false, recv_flushed = false;
		unsigned int probes = 1;

		t_allow(t, sg.addr, 8);
		if (odp_post_send(qp, &sw, NULL) || odp_post_recv(qp, &rw, NULL)) {
			snprintf(res.why, sizeof(res.why), "posting the probes failed");
			goto fail;
		}
		deadline = now_ms() + 10000;
		while (!(send_done && recv_flushed) && now_ms() < deadline) {
			struct odp_wc wc;

			if (odp_poll_cq(scq, 1, &wc) == 1) {
				if (wc.wr_id != 1 || send_done || wc.status == ODP_WC_SUCCESS) {
					snprintf(res.why, sizeof(res.why),
						 "probe send: wr_id %llu status %d after the peer left",
						 (unsigned long long)wc.wr_id, wc.status);
					goto fail;
				}
				send_done = true;
			}
			if (odp_poll_cq(rcq, 1, &wc) == 1) {
				if (wc.wr_id != 1 + probes) {
					snprintf(res.why, sizeof(res.why),
						 "probe recv: wr_id %llu, want %u", (unsigned long long)wc.wr_id,
						 1 + probes);
					goto fail;
				}
				if (wc.status == ODP_WC_WR_FLUSH_ERR) {
					recv_flushed = true;
				} else if (probes < 64) {
					rw.wr_id = 1 + ++probes;
					if (odp_post_recv(qp, &rw, NULL)) {
						snprintf(res.why, sizeof(res.why), "posting a probe failed");
						goto fail;
					}
				}
			}
			usleep(1000);
		}
		if (!send_done || !recv_flushed) {
			snprintf(res.why, sizeof(res.why),
				 "QP not in error 10 s after the peer left: probe send %s, %u probe receives, none flushed",
				 send_done ? "failed" : "pending", probes);
			goto fail;
		}
	}
	if (scenario == SCEN_CONSUMED_ORDER && res.recv_ok != 1) {
		snprintf(res.why, sizeof(res.why),
			 "the SEND was not delivered into the receive posted after the READ completed (recv_ok=%u flushed=%u errors=%u)",
			 res.recv_ok, res.flushed, res.errors);
		goto fail;
	}
	goto finish;

setup_failed:
	snprintf(res.why, sizeof(res.why), "session setup: %s", strerror(errno));
fail:
	res.ok = 0;
	if (!info_sent) {
		info.ok = 0;
		if (ctl_send(ctl, &info))
			return -1;
	}
finish:
	if (qp)
		odp_destroy_qp(qp);
	if (scq)
		odp_destroy_cq(scq);
	if (rcq)
		odp_destroy_cq(rcq);
	if (t->mr[MR_E]) {
		odp_dereg_mr(t->mr[MR_E]);
		t->mr[MR_E] = NULL;
	}
	/* PEER_FUZZ_SELFTEST: a byte the peer may not write changes; must be caught. */
	if (session == 0 && getenv("PEER_FUZZ_SELFTEST"))
		t->arena[t->off[MR_B] + 5] ^= 0xff;
	/* After the QP is gone nothing writes: compare now. */
	if (t_check_memory(t, res.ok ? res.why : res.why + strlen(res.why),
			   res.ok ? sizeof(res.why) : sizeof(res.why) - strlen(res.why)))
		res.ok = 0;
	if (!res.ok)
		t->failures++;
	if (!got_done) {
		if (ctl_recv(ctl, &done, 60000) || done.type != C_DONE)
			return -1;
	}
	return ctl_send(ctl, &res);
}

static int target_main(int ctl)
{
	struct target t = { 0 };
	struct ctl m;

	if (t_setup(&t)) {
		m = (struct ctl){ .type = C_HELLO, .ok = 0 };
		ctl_send(ctl, &m);
		return 2;
	}
	m = (struct ctl){ .type = C_HELLO, .ok = 1 };
	if (ctl_send(ctl, &m))
		return 2;
	for (;;) {
		if (ctl_recv(ctl, &m, -1))
			return 2;
		if (m.type == C_QUIT)
			break;
		if (m.type != C_START)
			return 2;
		if (t_session(&t, ctl, m.session, m.scenario))
			return 2;
	}
	odp_destroy_listener(t.ln);
	for (int i = 0; i < NMR; i++)
		if (t.mr[i])
			odp_dereg_mr(t.mr[i]);
	odp_dealloc_pd(t.pd);
	odp_dealloc_pd(t.pd2);
	odp_close_device(t.ctx);
	return t.failures ? 1 : 0;
}

/* ---- the peer (librdmacm + libibverbs, pinned) ------------------------------------ */

#define NSLOT		64
#define SLOT		20480	/* room for oversized messages */
#define NRECV		128
#define PEER_MR_LEN	65536

static struct {
	struct ibv_context *verbs;
	struct ibv_pd *pd;
	uint8_t *sbuf, *rbuf, *pmem;
	struct ibv_mr *smr, *rmr, *pmr;
} P;

struct pending {	/* a request of the target, to answer */
	struct wire_hdr h;
};

struct conn {
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct ibv_cq *cq;
	bool connected, broken, disconnected;
	uint32_t outstanding;	/* sends posted, not completed */
	uint64_t posted;	/* sends posted, ever (slot index) */
	uint32_t sent_req;	/* request messages sent */
	uint32_t tgt_consumed;	/* of those, the target is done with */
	uint32_t got_req;	/* the target's request messages received */
	/* responses to our requests, in order */
	struct wire_hdr resp[256];
	uint8_t *resp_data;	/* READ_RESP payloads, concatenated */
	uint32_t resp_data_len;
	unsigned int nresp;
	/* the target's requests (last messages), not answered yet */
	struct pending req[64];
	unsigned int nreq, req_head;
	uint32_t rx_msgs;
};

/* Counters of the whole run. */
enum kind {
	K_VALID_WRITE, K_VALID_READ, K_VALID_ATOMIC, K_VALID_SEND, K_ANSWER,
	K_OP_ANY, K_TRUNC, K_LEN_GT, K_OVERSIZE, K_CONT_NO_FIRST, K_FIRST_TWICE,
	K_LAST_MISSING, K_FLAGS, K_ZERO_NONLAST, K_LEN_NE_LEFT, K_ADDR_OOB,
	K_TOTAL_OVF, K_RKEY, K_RESERVED, K_CREDIT_BURST, K_CONSUMED_BAD,
	K_RESP_UNSOLICITED, K_RESP_WRONG, K_READ_BIG, K_ATOMIC_BAD, K_SEND_BAD,
	K_RANDOM, K_REORDER, K_ZERO_LEN, K_MID_REQUEST, K_MAX
};
static const char *const kind_name[K_MAX] = {
	"valid_write", "valid_read", "valid_atomic", "valid_send", "answer",
	"op_any", "truncated", "length_beyond_msg", "oversize", "cont_without_first",
	"first_twice", "last_missing", "flags_reserved_bits", "zero_len_not_last",
	"len_ne_left", "addr_out_of_mr", "total_overflow", "rkey_bad", "reserved_set",
	"credit_burst", "consumed_bad", "resp_unsolicited", "resp_wrong", "read_big",
	"atomic_bad", "send_bad", "random_bytes", "reorder", "zero_length",
	"mid_request",
};
static uint64_t g_kind[K_MAX], g_msgs, g_end[END_MAX], g_ops_seen[4];
static uint64_t g_tgt_completions, g_tgt_flushed, g_tgt_errors, g_tgt_recv_ok,
		g_tgt_send_ok;

/* What the session sent, for a report. */
static char g_log[64 * 1024];
static size_t g_loglen;

static void slog(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (g_loglen >= sizeof(g_log) - 200)
		return;
	va_start(ap, fmt);
	n = vsnprintf(g_log + g_loglen, sizeof(g_log) - g_loglen, fmt, ap);
	va_end(ap);
	if (n > 0)
		g_loglen += n;
	if (g_loglen < sizeof(g_log) - 1)
		g_log[g_loglen++] = '\n';
	g_log[g_loglen] = 0;
}

static int peer_resources(struct ibv_context *verbs)
{
	if (P.verbs)
		return P.verbs == verbs ? 0 : -1;
	P.verbs = verbs;
	P.pd = ibv_alloc_pd(verbs);
	P.sbuf = calloc(NSLOT, SLOT);
	P.rbuf = calloc(NRECV, WIRE_BUF);
	P.pmem = calloc(1, PEER_MR_LEN);
	if (!P.pd || !P.sbuf || !P.rbuf || !P.pmem)
		return -1;
	P.smr = ibv_reg_mr(P.pd, P.sbuf, NSLOT * SLOT, 0);
	P.rmr = ibv_reg_mr(P.pd, P.rbuf, NRECV * WIRE_BUF, IBV_ACCESS_LOCAL_WRITE);
	P.pmr = ibv_reg_mr(P.pd, P.pmem, PEER_MR_LEN, IBV_ACCESS_LOCAL_WRITE |
			   IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	return P.smr && P.rmr && P.pmr ? 0 : -1;
}

static int cm_wait(struct conn *c, enum rdma_cm_event_type want, int timeout_ms)
{
	struct pollfd p = { .fd = c->ec->fd, .events = POLLIN };
	struct rdma_cm_event *ev;
	int type, r;

	r = poll(&p, 1, timeout_ms);
	if (r != 1)
		return -1;
	if (rdma_get_cm_event(c->ec, &ev))
		return -1;
	type = ev->event;
	rdma_ack_cm_event(ev);
	if (type == RDMA_CM_EVENT_DISCONNECTED)
		c->disconnected = true;
	if (g_verbose && type != (int)want)
		fprintf(stderr, "peer: cm event %s, want %s\n", rdma_event_str(type),
			rdma_event_str(want));
	return type == (int)want ? 0 : -1;
}

static int post_recv_slot(struct conn *c, unsigned int i)
{
	struct ibv_sge sge = { .addr = (uintptr_t)P.rbuf + (uint64_t)i * WIRE_BUF,
			       .length = WIRE_BUF, .lkey = P.rmr->lkey };
	struct ibv_recv_wr wr = { .wr_id = i, .sg_list = &sge, .num_sge = 1 }, *bad;

	return ibv_post_recv(c->id->qp, &wr, &bad);
}

static void conn_destroy(struct conn *c)
{
	if (c->id) {
		if (c->id->qp)
			rdma_destroy_qp(c->id);
		if (c->cq)
			ibv_destroy_cq(c->cq);
		rdma_destroy_id(c->id);
	}
	if (c->ec)
		rdma_destroy_event_channel(c->ec);
	free(c->resp_data);
	memset(c, 0, sizeof(*c));
}

static int conn_open(struct conn *c)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(g_port) };
	struct ibv_qp_init_attr qa = { 0 };
	/* As odp_conn_param() in driver/odp_cm.c; no private data. */
	struct rdma_conn_param cp = { .retry_count = 7, .rnr_retry_count = 7 };

	memset(c, 0, sizeof(*c));
	c->resp_data = malloc(1 << 20);
	inet_pton(AF_INET, g_addr, &dst.sin_addr);
	c->ec = rdma_create_event_channel();
	if (!c->ec || !c->resp_data)
		return -1;
	if (rdma_create_id(c->ec, &c->id, NULL, RDMA_PS_TCP))
		return -1;
	if (rdma_resolve_addr(c->id, NULL, (struct sockaddr *)&dst, 2000) ||
	    cm_wait(c, RDMA_CM_EVENT_ADDR_RESOLVED, 5000))
		return -1;
	if (rdma_resolve_route(c->id, 2000) || cm_wait(c, RDMA_CM_EVENT_ROUTE_RESOLVED, 5000))
		return -1;
	if (peer_resources(c->id->verbs))
		return -1;
	c->cq = ibv_create_cq(c->id->verbs, NSLOT + NRECV + 8, NULL, NULL, 0);
	if (!c->cq)
		return -1;
	qa.send_cq = c->cq;
	qa.recv_cq = c->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = NSLOT;
	qa.cap.max_recv_wr = NRECV;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	qa.sq_sig_all = 1;
	if (rdma_create_qp(c->id, P.pd, &qa))
		return -1;
	for (unsigned int i = 0; i < NRECV; i++)
		if (post_recv_slot(c, i))
			return -1;
	if (rdma_connect(c->id, &cp) || cm_wait(c, RDMA_CM_EVENT_ESTABLISHED, 10000))
		return -1;
	c->connected = true;
	return 0;
}

/* A message the target sent us. */
static void on_rx(struct conn *c, const uint8_t *buf, uint32_t len)
{
	struct wire_hdr h;

	c->rx_msgs++;
	if (len < HDR) {
		slog("  rx: %u-byte message from the target (shorter than a header)", len);
		return;
	}
	memcpy(&h, buf, HDR);
	if (ntohl(h.consumed) - c->tgt_consumed <= c->sent_req - c->tgt_consumed)
		c->tgt_consumed = ntohl(h.consumed);
	if (op_is_request(h.op)) {
		c->got_req++;
		/* Answer WRITE/SEND at their last message; READ and atomics now. */
		if ((h.flags & W_LAST) && c->nreq - c->req_head < 64)
			c->req[c->nreq++ % 64].h = h;
		return;
	}
	if (h.op == W_CREDIT)
		return;
	if (c->nresp < 256)
		c->resp[c->nresp++] = h;
	if (h.op == W_READ_RESP) {
		uint32_t l = ntohl(h.length);

		if (l <= len - HDR && c->resp_data_len + l <= (1 << 20)) {
			memcpy(c->resp_data + c->resp_data_len, buf + HDR, l);
			c->resp_data_len += l;
		}
	}
}

/* Poll the CQ once; returns completions handled, -1 on a broken link. */
static int conn_poll(struct conn *c)
{
	struct ibv_wc wc[32];
	int n = ibv_poll_cq(c->cq, 32, wc);

	for (int i = 0; i < n; i++) {
		if (wc[i].opcode & IBV_WC_RECV) {
			if (wc[i].status == IBV_WC_SUCCESS) {
				on_rx(c, P.rbuf + wc[i].wr_id * WIRE_BUF, wc[i].byte_len);
				if (post_recv_slot(c, wc[i].wr_id))
					c->broken = true;
			} else {
				c->broken = true;
			}
		} else {
			c->outstanding--;
			if (wc[i].status != IBV_WC_SUCCESS) {
				if (!c->broken)
					slog("  send completion: %s", ibv_wc_status_str(wc[i].status));
				c->broken = true;
			}
		}
	}
	return n;
}

/* Poll for @ms milliseconds or until @pred holds. */
static bool conn_wait(struct conn *c, int ms, bool (*pred)(struct conn *, void *), void *arg)
{
	uint64_t end = now_ms() + ms;

	for (;;) {
		if (pred && pred(c, arg))
			return true;
		if (now_ms() >= end)
			return false;
		if (conn_poll(c) <= 0)
			usleep(200);
	}
}

static bool pred_room(struct conn *c, void *arg)
{
	(void)arg;
	return c->outstanding < NSLOT || c->broken;
}

static bool pred_credit(struct conn *c, void *arg)
{
	(void)arg;
	return c->sent_req - c->tgt_consumed < REQ_CREDITS || c->broken;
}

/* Post one message (hdr + payload) as an IBV_WR_SEND of @len bytes. */
static int send_raw(struct conn *c, const void *msg, uint32_t len)
{
	struct ibv_sge sge;
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED }, *bad;
	uint8_t *slot;

	if (!conn_wait(c, 3000, pred_room, NULL) || c->broken)
		return -1;
	slot = P.sbuf + (c->posted % NSLOT) * SLOT;
	if (len > SLOT)
		len = SLOT;
	memcpy(slot, msg, len);
	sge.addr = (uintptr_t)slot;
	sge.length = len;
	sge.lkey = P.smr->lkey;
	wr.wr_id = c->posted;
	if (ibv_post_send(c->id->qp, &wr, &bad))
		return -1;
	c->posted++;
	c->outstanding++;
	g_msgs++;
	if (len >= HDR && op_is_request(((const struct wire_hdr *)msg)->op))
		c->sent_req++;
	return 0;
}

struct msg {
	struct wire_hdr h;
	uint8_t payload[SLOT - sizeof(struct wire_hdr)];
};

static void hdr_set(struct msg *m, struct conn *c, uint8_t op, uint8_t flags, uint32_t rkey,
		    uint64_t addr, uint32_t length, uint32_t total)
{
	memset(&m->h, 0, sizeof(m->h));
	m->h.op = op;
	m->h.flags = flags;
	m->h.rkey = htonl(rkey);
	m->h.addr = htobe64(addr);
	m->h.length = htonl(length);
	m->h.total = htonl(total);
	m->h.consumed = htonl(c->got_req);
}

/* Send the message with its payload bytes (length field may lie: @paylen rules). */
static int send_msg(struct conn *c, struct msg *m, uint32_t paylen, const char *what)
{
	slog("  %s: op=%u status=%u flags=%#x rsv=%u rkey=%#x addr=%#llx len=%u total=%u consumed=%u cmp=%#llx msglen=%u",
	     what, m->h.op, m->h.status, m->h.flags, m->h.reserved, ntohl(m->h.rkey),
	     (unsigned long long)be64toh(m->h.addr), ntohl(m->h.length), ntohl(m->h.total),
	     ntohl(m->h.consumed), (unsigned long long)be64toh(m->h.compare_add), HDR + paylen);
	return send_raw(c, m, HDR + paylen);
}

static bool pred_resp(struct conn *c, void *arg)
{
	return c->nresp > *(unsigned int *)arg || c->broken;
}

/* Wait for response number @idx; NULL on timeout. */
static struct wire_hdr *wait_resp(struct conn *c, unsigned int idx, int ms)
{
	if (!conn_wait(c, ms, pred_resp, &idx))
		return NULL;
	return c->nresp > idx ? &c->resp[idx] : NULL;
}

/* ---- the session ------------------------------------------------------------------- */

struct session {
	struct rng r;
	struct ctl info;
	struct conn c;
	unsigned int next_recv;	/* the target's receive a SEND lands in */
	bool hostile;		/* a malformed message went out */
	int sweep_op;		/* op value of the first op_any message, or -1 */
	int violations;
	char why[512];
};

static void s_violation(struct session *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->violations) {
		va_start(ap, fmt);
		vsnprintf(s->why, sizeof(s->why), fmt, ap);
		va_end(ap);
	}
	s->violations++;
}

static const struct mr_info *mr(struct session *s, int i)
{
	return &s->info.mr[i];
}

/* A valid multi-message WRITE of @len bytes at @off into A; returns its data. */
static int v_write(struct session *s, uint64_t off, uint32_t len, uint8_t *data, bool imm)
{
	struct conn *c = &s->c;
	static struct msg m;
	uint32_t done = 0;
	unsigned int want = c->nresp;
	struct wire_hdr *ack;

	rnd_fill(&s->r, data, len);
	do {
		uint32_t seg = len - done < MAX_PAYLOAD ? len - done : MAX_PAYLOAD;
		uint8_t fl = (done ? 0 : W_FIRST) | (done + seg == len ? W_LAST : 0);

		if (!conn_wait(c, 5000, pred_credit, NULL))
			return -1;
		hdr_set(&m, c, imm ? W_WRITE_IMM : W_WRITE, fl, mr(s, MR_A)->key,
			mr(s, MR_A)->addr + off + done, seg, len);
		memcpy(m.payload, data + done, seg);
		if (send_msg(c, &m, seg, "valid write"))
			return -1;
		done += seg;
	} while (done < len);
	ack = wait_resp(c, want, 10000);
	if (!ack)
		return -1;
	return ack->op == W_ACK && !ack->status ? 0 : -2;
}

static int v_read(struct session *s, int which, uint64_t off, uint32_t len, uint8_t *out)
{
	struct conn *c = &s->c;
	static struct msg m;
	unsigned int want = c->nresp;
	uint32_t base = c->resp_data_len;

	if (!conn_wait(c, 5000, pred_credit, NULL))
		return -1;
	hdr_set(&m, c, W_READ_REQ, W_FIRST | W_LAST, mr(s, which)->key,
		mr(s, which)->addr + off, 0, len);
	if (send_msg(c, &m, 0, "valid read"))
		return -1;
	for (;;) {
		struct wire_hdr *h = wait_resp(c, want, 10000);

		if (!h)
			return -1;
		if (h->op != W_READ_RESP || h->status)
			return -2;
		want++;
		if (h->flags & W_LAST)
			break;
	}
	if (c->resp_data_len - base != len)
		return -3;
	memcpy(out, c->resp_data + base, len);
	return 0;
}

/* Answer the target's pending requests, correctly or not. */
static void answer_requests(struct session *s, bool hostile)
{
	struct conn *c = &s->c;
	static struct msg m;

	while (c->req_head < c->nreq && !c->broken) {
		struct wire_hdr *q = &c->req[c->req_head++ % 64].h;
		uint32_t total = ntohl(q->total);
		bool bad = hostile && chance(&s->r, 50);

		g_kind[bad ? K_RESP_WRONG : K_ANSWER]++;
		if (q->op == W_READ_REQ) {
			uint32_t done = 0, n;

			if (bad)
				total = chance(&s->r, 50) ? total + 1 + rnd_below(&s->r, 64) :
							    rnd_below(&s->r, total + 1);
			do {
				n = total - done < MAX_PAYLOAD ? total - done : MAX_PAYLOAD;
				hdr_set(&m, c, W_READ_RESP,
					(done ? 0 : W_FIRST) | (done + n == total ? W_LAST : 0),
					0, 0, n, 0);
				if (bad && chance(&s->r, 30))
					m.h.flags ^= W_LAST;
				if (bad && chance(&s->r, 20))
					m.h.op = chance(&s->r, 50) ? W_ACK : W_ATOMIC_RESP;
				rnd_fill(&s->r, m.payload, n < 64 ? n : 64);
				if (send_msg(c, &m, n, bad ? "bad read_resp" : "read_resp"))
					return;
				done += n;
			} while (done < total);
		} else {
			uint8_t op = q->op == W_CMP_SWAP || q->op == W_FETCH_ADD ?
				     W_ATOMIC_RESP : W_ACK;

			hdr_set(&m, c, op, W_FIRST | W_LAST, 0, 0, 0, 0);
			m.h.compare_add = htobe64(rnd64(&s->r));
			if (bad) {
				switch (rnd_below(&s->r, 4)) {
				case 0:
					m.h.op = W_READ_RESP;
					m.h.length = htonl(8);
					break;
				case 1:
					m.h.status = rnd_below(&s->r, 256);
					break;
				case 2:
					m.h.op = op == W_ACK ? W_ATOMIC_RESP : W_ACK;
					break;
				default:	/* answered twice */
					send_msg(c, &m, 0, "answer (twice)");
				}
			}
			if (send_msg(c, &m, bad ? 8 : 0, bad ? "bad answer" : "answer"))
				return;
		}
	}
}

/* One malformed (or stressing) step. */
static void hostile_step(struct session *s, enum kind k)
{
	struct conn *c = &s->c;
	static struct msg m;
	const struct mr_info *a = mr(s, MR_A);
	struct rng *r = &s->r;
	uint32_t len = 1 + rnd_below(r, 512);
	uint64_t off = rnd_below(r, a->len - len);

	g_kind[k]++;
	slog(" step %s", kind_name[k]);
	s->hostile = true;
	rnd_fill(r, m.payload, 1024);
	switch (k) {
	case K_OP_ANY:
		/* s->sweep_op: the session's turn of the sweep over all 256 values. */
		hdr_set(&m, c, s->sweep_op >= 0 ? (uint8_t)s->sweep_op : rnd_below(r, 256),
			W_FIRST | W_LAST, a->key, a->addr + off, len, len);
		s->sweep_op = -1;
		g_ops_seen[m.h.op / 64] |= 1ULL << (m.h.op % 64);
		if (chance(r, 30))
			m.h.flags = rnd_below(r, 4);
		send_msg(c, &m, len, "op_any");
		break;
	case K_TRUNC:
		hdr_set(&m, c, W_WRITE, W_FIRST | W_LAST, a->key, a->addr + off, 0, 0);
		slog("  truncated: %u bytes of a WRITE header", len % HDR);
		send_raw(c, &m, len % HDR);
		break;
	case K_LEN_GT:
		hdr_set(&m, c, chance(r, 50) ? W_WRITE : W_SEND, W_FIRST | W_LAST, a->key,
			a->addr + off, len + 1 + rnd_below(r, chance(r, 50) ? 64 : 1 << 20), len);
		send_msg(c, &m, len, "length beyond the message");
		break;
	case K_OVERSIZE: {
		uint32_t pl = WIRE_BUF - HDR + 1 + rnd_below(r, SLOT - WIRE_BUF);

		hdr_set(&m, c, W_WRITE, W_FIRST | W_LAST, a->key, a->addr, pl, pl);
		send_msg(c, &m, pl, "oversize");
		break;
	}
	case K_CONT_NO_FIRST:
		hdr_set(&m, c, chance(r, 50) ? W_WRITE : W_SEND, chance(r, 50) ? 0 : W_LAST,
			a->key, a->addr + off, len, len);
		send_msg(c, &m, len, "continuation without FIRST");
		break;
	case K_FIRST_TWICE:
		hdr_set(&m, c, W_WRITE, W_FIRST, a->key, a->addr + off, len / 2 + 1, len + 2);
		send_msg(c, &m, len / 2 + 1, "first");
		hdr_set(&m, c, W_WRITE, W_FIRST | (chance(r, 50) ? W_LAST : 0), a->key,
			a->addr + off + len / 2 + 1, len / 2 + 1, len + 2);
		send_msg(c, &m, len / 2 + 1, "first again");
		break;
	case K_LAST_MISSING: {
		static const uint8_t next[] = { W_READ_REQ, W_SEND, W_WRITE_IMM, W_CMP_SWAP,
						W_SEND_IMM, W_WRITE };

		hdr_set(&m, c, W_WRITE, W_FIRST, a->key, a->addr + off, len / 2 + 1, len + 2);
		send_msg(c, &m, len / 2 + 1, "first, no last");
		hdr_set(&m, c, next[rnd_below(r, 6)], W_FIRST | W_LAST, a->key,
			a->addr + (off & ~7ULL), 0, 8);
		send_msg(c, &m, 0, "another request before the last");
		break;
	}
	case K_FLAGS:
		hdr_set(&m, c, W_WRITE, (4 << rnd_below(r, 6)) |
			rnd_below(r, 4), a->key, a->addr + off, len, len);
		send_msg(c, &m, len, "reserved flag bits");
		break;
	case K_ZERO_NONLAST:
		hdr_set(&m, c, chance(r, 50) ? W_WRITE : W_SEND, W_FIRST, a->key, a->addr + off,
			0, len);
		send_msg(c, &m, 0, "zero length, not last");
		break;
	case K_LEN_NE_LEFT:
		switch (rnd_below(r, 3)) {
		case 0:
			hdr_set(&m, c, W_WRITE, W_FIRST | W_LAST, a->key, a->addr + off, len,
				len + 1 + rnd_below(r, 100));
			break;
		case 1:
			hdr_set(&m, c, W_WRITE, W_FIRST, a->key, a->addr + off, len, len - 1);
			break;
		default:
			hdr_set(&m, c, W_WRITE, W_FIRST, a->key, a->addr + off, len / 2 + 1, len + 10);
			send_msg(c, &m, len / 2 + 1, "first");
			hdr_set(&m, c, W_WRITE, W_LAST, a->key, a->addr + off + len / 2 + 1,
				len / 2 + 1, len + 10);
		}
		send_msg(c, &m, ntohl(m.h.length), "length != what is left");
		break;
	case K_ADDR_OOB: {
		static const uint8_t ops[] = { W_WRITE, W_READ_REQ, W_CMP_SWAP, W_FETCH_ADD,
					       W_WRITE_IMM };
		uint8_t op = ops[rnd_below(r, 5)];
		uint64_t addr;
		bool atomic = op == W_CMP_SWAP || op == W_FETCH_ADD;

		if (atomic)
			len = 8;
		switch (rnd_below(r, 6)) {
		case 0: addr = a->addr - 1 - rnd_below(r, 64); break;
		case 1: addr = a->addr + a->len - len + 1 + rnd_below(r, len); break;
		case 2: addr = a->addr + a->len + rnd_below(r, 4096); break;
		case 3: addr = UINT64_MAX - rnd_below(r, 16); break;
		case 4: addr = 0; break;
		default: addr = mr(s, MR_B)->addr + rnd_below(r, 64); break;	/* other MR */
		}
		if (atomic)
			addr &= ~7ULL;
		hdr_set(&m, c, op, W_FIRST | W_LAST, a->key, addr,
			op == W_READ_REQ || atomic ? 0 : len, len);
		send_msg(c, &m, op == W_READ_REQ || atomic ? 0 : len, "address outside the MR");
		break;
	}
	case K_TOTAL_OVF: {
		uint32_t tot = chance(r, 50) ? UINT32_MAX - rnd_below(r, 16) :
					       0x80000000U + rnd_below(r, 16);
		uint8_t op = chance(r, 50) ? W_READ_REQ : W_WRITE;

		hdr_set(&m, c, op, op == W_WRITE ? W_FIRST : W_FIRST | W_LAST, a->key,
			a->addr + off, op == W_WRITE ? len : 0, tot);
		send_msg(c, &m, op == W_WRITE ? len : 0, "total overflows");
		break;
	}
	case K_RKEY: {
		static const uint8_t ops[] = { W_WRITE, W_READ_REQ, W_CMP_SWAP, W_FETCH_ADD,
					       W_WRITE_IMM };
		uint8_t op = ops[rnd_below(r, 5)];
		int which = rnd_below(r, 8);
		const struct mr_info *t = mr(s, which < 7 ? which : MR_A);
		uint32_t key;
		bool atomic = op == W_CMP_SWAP || op == W_FETCH_ADD;

		if (which == MR_A)
			key = t->key ^ (1 + rnd_below(r, 255));	/* wrong low byte */
		else if (which == 7)
			key = chance(r, 50) ? 0 : rnd32(r);
		else
			key = t->key;
		if (which == MR_B && op == W_READ_REQ)
			op = W_WRITE;	/* B may be read */
		if (atomic)
			len = 8;
		off = rnd_below(r, t->len > len ? t->len - len : 1) & ~7ULL;
		hdr_set(&m, c, op, W_FIRST | W_LAST, key, t->addr + off,
			op == W_READ_REQ || atomic ? 0 : len, len);
		slog("  (key of MR %s)", which < 7 ? mr_name[which] : "none");
		send_msg(c, &m, op == W_READ_REQ || atomic ? 0 : len, "rkey without the right");
		break;
	}
	case K_RESERVED:
		hdr_set(&m, c, W_WRITE, W_FIRST | W_LAST, a->key, a->addr + off, len, len);
		m.h.reserved = 1 + rnd_below(r, 255);
		send_msg(c, &m, len, "reserved set");
		break;
	case K_CREDIT_BURST: {
		unsigned int n = REQ_CREDITS + 1 + rnd_below(r, 24);
		uint8_t op = chance(r, 50) ? W_SEND : chance(r, 50) ? W_SEND_IMM : W_READ_REQ;

		slog("  burst of %u %s", n, op == W_READ_REQ ? "READs" : "SENDs");
		for (unsigned int i = 0; i < n && !c->broken; i++) {
			hdr_set(&m, c, op, W_FIRST | W_LAST, a->key, a->addr + off,
				op == W_READ_REQ ? 0 : 1, 1);
			if (send_raw(c, &m, HDR + (op == W_READ_REQ ? 0 : 1)))
				break;
		}
		break;
	}
	case K_CONSUMED_BAD:
		hdr_set(&m, c, chance(r, 50) ? W_WRITE : W_CREDIT, W_FIRST | W_LAST, a->key,
			a->addr + off, len, len);
		m.h.consumed = htonl(chance(r, 50) ? c->got_req + 1 + rnd_below(r, 100) :
				     c->got_req - 1 - rnd_below(r, 3));
		send_msg(c, &m, len, "consumed beyond what the target sent");
		break;
	case K_RESP_UNSOLICITED: {
		static const uint8_t ops[] = { W_ACK, W_READ_RESP, W_ATOMIC_RESP, W_CREDIT };
		static const uint8_t st[] = { 0, 1, 5, 9, 10, 11, 12, 255 };

		hdr_set(&m, c, ops[rnd_below(r, 4)], rnd_below(r, 4), 0, 0, len, len);
		m.h.status = chance(r, 70) ? st[rnd_below(r, 8)] : rnd_below(r, 256);
		send_msg(c, &m, len, "unsolicited response");
		break;
	}
	case K_RESP_WRONG:
		answer_requests(s, true);
		break;
	case K_READ_BIG: {
		const struct mr_info *t = mr(s, chance(r, 50) ? MR_A : MR_B);

		hdr_set(&m, c, W_READ_REQ, W_FIRST | W_LAST, t->key, t->addr, 0, t->len);
		send_msg(c, &m, 0, "read of a whole MR");
		break;
	}
	case K_ATOMIC_BAD:
		hdr_set(&m, c, chance(r, 50) ? W_CMP_SWAP : W_FETCH_ADD, W_FIRST | W_LAST, a->key,
			a->addr + (off & ~7ULL), 0, 8);
		switch (rnd_below(r, 4)) {
		case 0: m.h.addr = htobe64(a->addr + (off | (1 + rnd_below(r, 7)))); break;
		case 1: m.h.total = htonl(chance(r, 50) ? 4 : 16); break;
		case 2: m.h.length = htonl(8); break;
		default: m.h.flags = W_FIRST; break;
		}
		send_msg(c, &m, ntohl(m.h.length) <= 8 ? ntohl(m.h.length) : 0, "bad atomic");
		break;
	case K_SEND_BAD: {
		unsigned int i = s->next_recv;
		uint32_t rl = i < s->info.nrecv ? s->info.recv[i].len : 0;
		uint32_t tot = rl + 1 + rnd_below(r, 4096);

		/* Longer than the receive, or a receive with a bad SGE, or none. */
		if (chance(r, 50)) {
			uint32_t pl = tot < MAX_PAYLOAD ? tot : MAX_PAYLOAD;

			hdr_set(&m, c, chance(r, 50) ? W_SEND : W_SEND_IMM,
				W_FIRST | (pl == tot ? W_LAST : 0), 0, 0, pl, tot);
			send_msg(c, &m, pl, "send longer than the receive");
		} else {
			hdr_set(&m, c, W_WRITE_IMM, W_FIRST | W_LAST, a->key, a->addr + off, len, len);
			send_msg(c, &m, len, "write_imm");
			hdr_set(&m, c, W_SEND, W_FIRST | W_LAST, 0, 0, len, len);
			send_msg(c, &m, len, "send");
		}
		s->next_recv++;
		break;
	}
	case K_RANDOM: {
		uint32_t l = chance(r, 50) ? rnd_below(r, 256) : rnd_below(r, WIRE_BUF + 1);

		rnd_fill(r, &m, l);
		if (chance(r, 50) && l)
			m.h.op = 1 + rnd_below(r, 11);
		slog("  random: %u bytes, op %u", l, l ? m.h.op : 0);
		send_raw(c, &m, l);
		break;
	}
	case K_REORDER: {
		/* A 3-message WRITE, its messages swapped, repeated or dropped. */
		uint32_t seg = 1 + rnd_below(r, 100), tot = 3 * seg;
		int order[4] = { 0, 1, 2, -1 };

		switch (rnd_below(r, 4)) {
		case 0: order[0] = 1; order[1] = 0; break;
		case 1: order[1] = 2; order[2] = 1; break;
		case 2: order[2] = 1; order[3] = 2; break;	/* 0 1 1 2 */
		default: order[1] = 2; order[2] = -1; break;	/* 0 2 */
		}
		for (int i = 0; i < 4 && order[i] >= 0; i++) {
			int j = order[i];

			hdr_set(&m, c, W_WRITE, (j == 0 ? W_FIRST : 0) | (j == 2 ? W_LAST : 0),
				a->key, a->addr + off + j * seg, seg, tot);
			send_msg(c, &m, seg, "reordered segment");
		}
		break;
	}
	case K_ZERO_LEN: {
		static const uint8_t ops[] = { W_WRITE, W_READ_REQ, W_SEND, W_WRITE_IMM };
		uint8_t op = ops[rnd_below(r, 4)];

		/* Valid in IB: zero-length requests check no key. */
		hdr_set(&m, c, op, W_FIRST | W_LAST, chance(r, 50) ? a->key : rnd32(r),
			chance(r, 50) ? a->addr : rnd64(r), 0, 0);
		send_msg(c, &m, 0, "zero length");
		if (op == W_SEND || op == W_WRITE_IMM)
			s->next_recv++;
		break;
	}
	case K_MID_REQUEST: {
		uint32_t tot = MAX_PAYLOAD * 2 + 100;

		hdr_set(&m, c, chance(r, 50) ? W_WRITE : W_SEND, W_FIRST, a->key, a->addr, 1000,
			tot);
		send_msg(c, &m, 1000, "first of a long request, then the end");
		break;
	}
	default:
		break;
	}
}

/* Before anything malformed: valid requests, checked. */
static void valid_step(struct session *s)
{
	static uint8_t wbuf[128 * 1024], rbuf[128 * 1024];
	const struct mr_info *a = mr(s, MR_A);
	struct conn *c = &s->c;
	struct rng *r = &s->r;
	uint32_t len = chance(r, 60) ? 1 + rnd_below(r, 256) : 1 + rnd_below(r, 40000);
	uint64_t off = rnd_below(r, a->len - len);
	int ret;

	switch (rnd_below(r, 4)) {
	case 0:
	case 1:
		g_kind[K_VALID_WRITE]++;
		slog(" step valid write+read off=%llu len=%u", (unsigned long long)off, len);
		ret = v_write(s, off, len, wbuf, false);
		if (!ret)
			ret = v_read(s, MR_A, off, len, rbuf);
		if (!ret && memcmp(wbuf, rbuf, len))
			s_violation(s, "READ after WRITE of %u bytes at A+%llu returned other data",
				    len, (unsigned long long)off);
		else if (ret)
			s_violation(s, "valid WRITE/READ of %u bytes at A+%llu failed (%d)%s",
				    len, (unsigned long long)off, ret,
				    c->broken ? ", link broken" : "");
		break;
	case 2: {
		static struct msg m;
		unsigned int want = c->nresp;
		struct wire_hdr *h;
		uint64_t aoff = off & ~7ULL;

		g_kind[K_VALID_ATOMIC]++;
		slog(" step valid atomic off=%llu", (unsigned long long)aoff);
		if (!conn_wait(c, 5000, pred_credit, NULL))
			break;
		hdr_set(&m, c, chance(r, 50) ? W_CMP_SWAP : W_FETCH_ADD, W_FIRST | W_LAST, a->key,
			a->addr + aoff, 0, 8);
		m.h.compare_add = htobe64(rnd64(r));
		m.h.swap = htobe64(rnd64(r));
		if (send_msg(c, &m, 0, "valid atomic"))
			break;
		h = wait_resp(c, want, 10000);
		if (!h || h->op != W_ATOMIC_RESP || h->status)
			s_violation(s, "valid atomic at A+%llu failed (%s op %u status %u)",
				    (unsigned long long)aoff, h ? "response" : "no response",
				    h ? h->op : 0, h ? h->status : 0);
		break;
	}
	default: {
		/* A SEND into the next receive, if it can take it. */
		static struct msg m;
		unsigned int i = s->next_recv, want = c->nresp;
		uint8_t op = chance(r, 50) ? W_SEND : W_SEND_IMM;	/* the same in every segment */
		struct wire_hdr *h;
		uint32_t l, done = 0;

		if (i >= s->info.nrecv || s->info.recv[i].bad)
			return;
		g_kind[K_VALID_SEND]++;
		l = rnd_below(r, s->info.recv[i].len + 1);
		slog(" step valid send of %u bytes into receive %u", l, i);
		s->next_recv++;
		do {
			uint32_t seg = l - done < MAX_PAYLOAD ? l - done : MAX_PAYLOAD;

			if (!conn_wait(c, 5000, pred_credit, NULL))
				return;
			/* As odp's requester: a segment's addr advances by what went before. */
			hdr_set(&m, c, op, (done ? 0 : W_FIRST) | (done + seg == l ? W_LAST : 0), 0,
				done, seg, l);
			rnd_fill(r, m.payload, seg < 64 ? seg : 64);
			if (send_msg(c, &m, seg, "valid send"))
				return;
			done += seg;
		} while (done < l);
		h = wait_resp(c, want, 10000);
		if (!h || h->op != W_ACK || h->status)
			s_violation(s, "valid SEND of %u bytes into receive %u failed (%s op %u status %u)",
				    l, i, h ? "response" : "no response", h ? h->op : 0,
				    h ? h->status : 0);
	}
	}
	answer_requests(s, false);
}

static bool pred_false(struct conn *c, void *arg)
{
	(void)c;
	(void)arg;
	return false;
}

static bool pred_req(struct conn *c, void *arg)
{
	(void)arg;
	return c->nreq > c->req_head || c->broken;
}

/* -R consumed_order: SEND stamped before the READ, then the READ's answer. */
static void scenario_consumed_order(struct session *s)
{
	struct conn *c = &s->c;
	static struct msg m;
	unsigned int want = c->nresp;
	struct wire_hdr *q, *h;

	if (!conn_wait(c, 10000, pred_req, NULL) || c->broken) {
		s_violation(s, "the target's READ did not arrive");
		return;
	}
	q = &c->req[c->req_head++ % 64].h;
	hdr_set(&m, c, W_SEND, W_FIRST | W_LAST, 0, 0, 16, 16);
	m.h.consumed = htonl(c->got_req - 1);	/* sent before the READ was seen */
	memset(m.payload, 0xab, 16);
	send_msg(c, &m, 16, "send (consumed before the READ)");
	hdr_set(&m, c, W_READ_RESP, W_FIRST | W_LAST, 0, 0, ntohl(q->total), 0);
	memset(m.payload, 0xcd, ntohl(q->total));
	send_msg(c, &m, ntohl(q->total), "read_resp");
	h = wait_resp(c, want, 10000);
	if (!h || h->op != W_ACK || h->status)
		s_violation(s, "the SEND was not acknowledged (%s op %u status %u)",
			    h ? "response" : "no response", h ? h->op : 0, h ? h->status : 0);
}

static int run_session(int ctl, uint64_t session, uint32_t scenario, int *target_failed)
{
	struct session *s = calloc(1, sizeof(*s));
	struct ctl start = { .type = C_START, .session = session, .scenario = scenario };
	struct ctl done = { .type = C_DONE, .session = session };
	struct ctl res;
	enum end_mode end;
	unsigned int nvalid, nhostile;
	int ret = 0;

	g_loglen = 0;
	g_log[0] = 0;
	rng_seed(&s->r, g_seed, 2 * session);
	end = rnd_below(&s->r, END_MAX);
	nvalid = chance(&s->r, 30) ? 0 : rnd_below(&s->r, 4);
	nhostile = chance(&s->r, 10) ? 0 : 1 + rnd_below(&s->r, 3);
	if (scenario) {
		end = END_DISCONNECT;
		nvalid = nhostile = 0;
	}
	slog("session %llu: end=%s valid=%u hostile=%u", (unsigned long long)session,
	     end_name[end], nvalid, nhostile);
	if (ctl_send(ctl, &start) || ctl_recv(ctl, &s->info, 60000) || s->info.type != C_INFO)
		return -1;
	if (!s->info.ok) {
		/* The target could not set the session up: it reports why. */
		done.ok = 0;
		ctl_send(ctl, &done);
		goto result;
	}
	slog(" target: %u receives, %u requests of its own", s->info.nrecv, s->info.ntreq);
	if (conn_open(&s->c)) {
		slog(" connect failed: %s", strerror(errno));
		conn_destroy(&s->c);
		done.ok = 0;
		ctl_send(ctl, &done);
		s_violation(s, "could not connect to the target's listener");
		goto result;
	}
	done.ok = 1;

	if (scenario == SCEN_CONSUMED_ORDER)
		scenario_consumed_order(s);
	for (unsigned int i = 0; i < nvalid && !s->c.broken; i++)
		valid_step(s);
	/* Every op value in turn: even session 2k's first malformed message has op k % 256. */
	s->sweep_op = !(session & 1) && nhostile ? (int)((session / 2) & 255) : -1;
	for (unsigned int i = 0; i < nhostile && !s->c.broken; i++) {
		enum kind k = K_OP_ANY + rnd_below(&s->r, K_MAX - K_OP_ANY);

		if (s->sweep_op >= 0)
			k = K_OP_ANY;
		if (k == K_MID_REQUEST && end == END_TARGET_DESTROYS)
			k = K_RANDOM;
		hostile_step(s, k);
		conn_wait(&s->c, rnd_below(&s->r, 100), pred_false, NULL);
	}
	if (!nhostile && !scenario)
		answer_requests(s, false);
	/* Let the target react a little, then leave as chosen. */
	conn_wait(&s->c, 20 + rnd_below(&s->r, 200), pred_false, NULL);
	g_end[end]++;
	slog(" end: %s (broken=%d outstanding=%u rx=%u)", end_name[end], s->c.broken,
	     s->c.outstanding, s->c.rx_msgs);
	done.end_mode = end;
	switch (end) {
	case END_DISCONNECT:
		rdma_disconnect(s->c.id);
		cm_wait(&s->c, RDMA_CM_EVENT_DISCONNECTED, 1000);
		conn_destroy(&s->c);
		break;
	case END_ABRUPT:
		conn_destroy(&s->c);
		break;
	case END_QP_ERROR: {
		struct ibv_qp_attr qa = { .qp_state = IBV_QPS_ERR };

		ibv_modify_qp(s->c.id->qp, &qa, IBV_QP_STATE);
		usleep(20000);
		conn_destroy(&s->c);
		break;
	}
	case END_TARGET_DESTROYS:
		/* The target destroys its QP while we are still connected. */
		break;
	default:
		break;
	}
	if (ctl_send(ctl, &done))
		return -1;
result:
	if (ctl_recv(ctl, &res, 180000) || res.type != C_RESULT) {
		fprintf(stderr, "peer: no result from the target for session %llu\n",
			(unsigned long long)session);
		ret = -1;
	} else {
		g_tgt_completions += res.completions;
		g_tgt_flushed += res.flushed;
		g_tgt_errors += res.errors;
		g_tgt_recv_ok += res.recv_ok;
		g_tgt_send_ok += res.send_ok;
		if (!res.ok) {
			*target_failed = 1;
			s_violation(s, "target: %s", res.why);
		}
	}
	if (s->c.id) {
		answer_requests(s, false);
		rdma_disconnect(s->c.id);
		conn_destroy(&s->c);
	}
	if (s->violations) {
		fprintf(stderr, "VIOLATION (seed=%llu session %llu): %s\n"
			"reproduce: tests/fuzz/peer_fuzz -s %llu -r %llu%s\n"
			"--- what the peer did ---\n%s",
			(unsigned long long)g_seed, (unsigned long long)session, s->why,
			(unsigned long long)g_seed, (unsigned long long)session,
			scenario ? " -R consumed_order" : "", g_log);
		ret = ret ? ret : 1;
	} else if (g_verbose) {
		fprintf(stderr, "%s", g_log);
	}
	free(s);
	return ret;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: peer_fuzz [-s SEED] [-t SECONDS] [-n SESSIONS] [-r SESSION] [-p PORT]\n"
		"                 [-a ADDR] [-d DEV] [-v] [-R consumed_order]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t start, sessions = 0, session;
	int sv[2], opt, status, kfd, violations = 0, target_failed = 0, infra = 0;
	uint32_t scenario = SCEN_NONE;
	struct ctl hello;
	pid_t pid;

	g_seed = now_ns() ^ ((uint64_t)getpid() << 32);
	while ((opt = getopt(argc, argv, "s:t:n:r:p:a:d:R:vh")) != -1) {
		switch (opt) {
		case 's': g_seed = strtoull(optarg, NULL, 0); break;
		case 't': g_seconds = strtoull(optarg, NULL, 0); break;
		case 'n': g_max_sessions = strtoull(optarg, NULL, 0); break;
		case 'r': g_replay = strtoull(optarg, NULL, 0); break;
		case 'p': g_port = atoi(optarg); break;
		case 'a': g_addr = optarg; break;
		case 'd': g_dev = optarg; break;
		case 'R': g_scenario = optarg; break;
		case 'v': g_verbose = 1; break;
		default: usage();
		}
	}
	if (g_scenario) {
		if (strcmp(g_scenario, "consumed_order"))
			usage();
		scenario = SCEN_CONSUMED_ORDER;
		g_replay = 0;
	}
	printf("seed=%llu\n", (unsigned long long)g_seed);
	printf("time_limit=%llu sessions_limit=%llu%s\n", (unsigned long long)g_seconds,
	       (unsigned long long)g_max_sessions, g_replay != UINT64_MAX ? " (replay)" : "");
	fflush(stdout);
	if (access("/dev/odp", R_OK | W_OK)) {
		fprintf(stderr, "/dev/odp: %s (odp.ko not loaded?)\n", strerror(errno));
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv))
		return 2;
	/* Fork before any verbs or libodp state exists. */
	pid = fork();
	if (pid < 0)
		return 2;
	if (!pid) {
		close(sv[0]);
		_exit(target_main(sv[1]));
	}
	close(sv[1]);
	kfd = kmsg_open();
	if (ctl_recv(sv[0], &hello, 60000) || hello.type != C_HELLO || !hello.ok) {
		fprintf(stderr, "peer: the target did not start\n");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 2;
	}

	start = now_ms();
	for (session = g_replay != UINT64_MAX ? g_replay : 0;; session++) {
		int r;

		if (g_replay != UINT64_MAX && session != g_replay)
			break;
		if (g_max_sessions && sessions >= g_max_sessions)
			break;
		if (now_ms() - start >= g_seconds * 1000)
			break;
		r = run_session(sv[0], session, scenario, &target_failed);
		sessions++;
		if (r < 0) {
			infra = 1;
			break;
		}
		if (r > 0)
			violations++;
		if (kmsg_check(kfd, "peer_fuzz: ")) {
			fprintf(stderr, "VIOLATION (seed=%llu session %llu): kernel report (above)\n"
				"reproduce: tests/fuzz/peer_fuzz -s %llu -r %llu\n"
				"--- what the peer did ---\n%s",
				(unsigned long long)g_seed, (unsigned long long)session,
				(unsigned long long)g_seed, (unsigned long long)session, g_log);
			violations++;
			break;
		}
		/* A found problem ends the run in fixed-scenario and replay modes. */
		if (violations && violations >= 20)
			break;
	}
	{
		struct ctl quit = { .type = C_QUIT };

		ctl_send(sv[0], &quit);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    (WEXITSTATUS(status) && !target_failed)) {
		fprintf(stderr, "VIOLATION: the target did not exit cleanly (status %#x)\n", status);
		violations++;
	}
	usleep(200000);
	if (kmsg_check(kfd, "peer_fuzz: ")) {
		fprintf(stderr, "VIOLATION: kernel report at the end (above)\n");
		violations++;
	}
	printf("seed=%llu sessions=%llu messages=%llu elapsed_s=%.1f\n",
	       (unsigned long long)g_seed, (unsigned long long)sessions,
	       (unsigned long long)g_msgs, (now_ms() - start) / 1000.0);
	for (int k = 0; k < K_MAX; k++)
		printf("count.%s=%llu\n", kind_name[k], (unsigned long long)g_kind[k]);
	for (int e = 0; e < END_MAX; e++)
		printf("end.%s=%llu\n", end_name[e], (unsigned long long)g_end[e]);
	printf("target.completions=%llu target.flushed=%llu target.errors=%llu target.recv_ok=%llu target.send_ok=%llu\n",
	       (unsigned long long)g_tgt_completions, (unsigned long long)g_tgt_flushed,
	       (unsigned long long)g_tgt_errors, (unsigned long long)g_tgt_recv_ok,
	       (unsigned long long)g_tgt_send_ok);
	printf("op_values_covered=%d\n", __builtin_popcountll(g_ops_seen[0]) +
	       __builtin_popcountll(g_ops_seen[1]) + __builtin_popcountll(g_ops_seen[2]) +
	       __builtin_popcountll(g_ops_seen[3]));
	printf("violations=%d\n", violations);
	fflush(stdout);
	if (infra)
		return 2;
	return violations ? 1 : 0;
}
