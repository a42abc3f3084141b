// SPDX-License-Identifier: MIT
/* Helpers of the verbs ODP tests; see vt.h. */
#define _GNU_SOURCE
#include <ctype.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vt.h"

long page_size = 4096;
const char *cur_test = "?";

void t_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "FAIL %s (%s:%d): ", cur_test, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(T_FAIL);
}

void t_skip(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "SKIP %s: ", cur_test);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(T_SKIP);
}

int run_tests(int argc, char **argv, const struct vtest *tests, size_t n)
{
	int failed = 0, passed = 0, skipped = 0;
	size_t i;

	page_size = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (argc > 1 && !strcmp(argv[1], "-l")) {
		for (i = 0; i < n; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	if (argc > 1) {
		for (i = 0; i < n; i++) {
			if (strcmp(argv[1], tests[i].name))
				continue;
			cur_test = tests[i].name;
			printf("test=%s\n", cur_test);
			return tests[i].fn();
		}
		fprintf(stderr, "unknown test %s (use -l)\n", argv[1]);
		return 2;
	}
	for (i = 0; i < n; i++) {
		pid_t pid = fork();
		int status;

		if (pid < 0) {
			perror("fork");
			return T_FAIL;
		}
		if (!pid) {
			cur_test = tests[i].name;
			printf("test=%s\n", cur_test);
			exit(tests[i].fn());
		}
		if (waitpid(pid, &status, 0) < 0) {
			perror("waitpid");
			return T_FAIL;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == T_PASS) {
			passed++;
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == T_SKIP) {
			skipped++;
		} else {
			fprintf(stderr, "test %s failed (status 0x%x)\n",
				tests[i].name, status);
			failed++;
		}
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	if (failed)
		return T_FAIL;
	return passed ? T_PASS : T_SKIP;
}

/* ---- memory --------------------------------------------------------- */

void *map_anon(size_t len, int flags)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	if (p == MAP_FAILED)
		FAIL("mmap(%zu, 0x%x): %s", len, flags, strerror(errno));
	return p;
}

void *map_aligned(size_t len, size_t align)
{
	char *p = map_anon(len + align, 0);
	char *a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));

	if (a > p)
		unmap(p, a - p);
	if (a + len < p + len + align)
		unmap(a + len, p + len + align - (a + len));
	return a;
}

void unmap(void *addr, size_t len)
{
	if (munmap(addr, len))
		FAIL("munmap(%p, %zu): %s", addr, len, strerror(errno));
}

void xmadvise(void *addr, size_t len, int advice)
{
	if (madvise(addr, len, advice))
		FAIL("madvise(%p, %zu, %d): %s", addr, len, advice,
		     strerror(errno));
}

void xmprotect(void *addr, size_t len, int prot)
{
	if (mprotect(addr, len, prot))
		FAIL("mprotect(%p, %zu, %d): %s", addr, len, prot,
		     strerror(errno));
}

void fill_pat(void *buf, size_t len, uint32_t seed)
{
	uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = pat(seed, i);
}

/* Report the bad bytes of buf (want(i) is the expected byte) and FAIL. */
static void report_bad(const uint8_t *b, size_t len, const char *what,
		       uint8_t (*want)(const void *, size_t), const void *arg)
{
	size_t i, bad = 0, first = len, runs = 0;
	char msg[1024];
	int pos = 0;

	for (i = 0; i < len; i++) {
		if (b[i] == want(arg, i))
			continue;
		if (!bad)
			first = i;
		bad++;
		if (!i || b[i - 1] == want(arg, i - 1)) {
			size_t j = i;

			while (j < len && b[j] != want(arg, j))
				j++;
			if (runs < 6 && pos < (int)sizeof(msg) - 100)
				pos += snprintf(msg + pos, sizeof(msg) - pos,
						" [%zu,%zu) (page offset %lu, %p)",
						i, j,
						(unsigned long)(((uintptr_t)b + i) %
								page_size),
						(void *)(b + i));
			runs++;
		}
	}
	if (!bad)
		return;
	printf("bad_bytes=%zu bad_runs=%zu first_bad=%zu\n", bad, runs, first);
	FAIL("%s: %zu of %zu bytes wrong in %zu runs; byte %zu is 0x%02x, "
	     "expected 0x%02x; runs:%s%s", what, bad, len, runs, first,
	     b[first], want(arg, first), msg, runs > 6 ? " ..." : "");
}

static uint8_t want_pat(const void *arg, size_t i)
{
	return pat(*(const uint32_t *)arg, i);
}

struct pat_off {
	uint32_t seed;
	size_t off;
};

static uint8_t want_pat_off(const void *arg, size_t i)
{
	const struct pat_off *po = arg;

	return pat(po->seed, po->off + i);
}

void check_pat_off(const void *buf, size_t len, uint32_t seed, size_t off,
		   const char *what)
{
	struct pat_off po = { seed, off };
	const uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != pat(seed, off + i))
			break;
	if (i < len)
		report_bad(b, len, what, want_pat_off, &po);
}

static uint8_t want_byte(const void *arg, size_t i)
{
	(void)i;
	return *(const uint8_t *)arg;
}

void check_pat(const void *buf, size_t len, uint32_t seed, const char *what)
{
	const uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != pat(seed, i))
			break;
	if (i < len)
		report_bad(b, len, what, want_pat, &seed);
}

void check_bytes(const void *buf, size_t len, uint8_t val, const char *what)
{
	const uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != val)
			break;
	if (i < len)
		report_bad(b, len, what, want_byte, &val);
}

/* ---- device and QPs ------------------------------------------------- */

void v_open(struct vdev *d)
{
	const char *name = getenv("VERBS_DEV");
	const char *gidx = getenv("VERBS_GID");
	struct ibv_device **list;
	uint32_t rc_need = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
			   IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
			   IBV_ODP_SUPPORT_ATOMIC;
	int i, n;

	memset(d, 0, sizeof(*d));
	d->name = name && *name ? name : "rxe0";
	d->gid_index = gidx ? atoi(gidx) : 1;
	d->port = 1;
	list = ibv_get_device_list(&n);
	if (!list || !n)
		SKIP("no RDMA device");
	for (i = 0; i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), d->name))
			break;
	if (i == n)
		SKIP("no RDMA device %s", d->name);
	d->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (!d->ctx)
		FAIL("ibv_open_device(%s): %s", d->name, strerror(errno));
	if (ibv_query_device_ex(d->ctx, NULL, &d->attr))
		FAIL("ibv_query_device_ex: %s", strerror(errno));
	if (!(d->attr.odp_caps.general_caps & IBV_ODP_SUPPORT) ||
	    (d->attr.odp_caps.per_transport_caps.rc_odp_caps & rc_need) != rc_need)
		SKIP("%s has no ODP for RC (general 0x%llx, rc 0x%x)", d->name,
		     (unsigned long long)d->attr.odp_caps.general_caps,
		     d->attr.odp_caps.per_transport_caps.rc_odp_caps);
	if (ibv_query_gid(d->ctx, d->port, d->gid_index, &d->gid))
		FAIL("ibv_query_gid(%d): %s", d->gid_index, strerror(errno));
	d->pd = ibv_alloc_pd(d->ctx);
	if (!d->pd)
		FAIL("ibv_alloc_pd: %s", strerror(errno));
}

void v_close(struct vdev *d)
{
	if (d->pd && ibv_dealloc_pd(d->pd))
		FAIL("ibv_dealloc_pd: %s", strerror(errno));
	if (d->ctx && ibv_close_device(d->ctx))
		FAIL("ibv_close_device: %s", strerror(errno));
	d->pd = NULL;
	d->ctx = NULL;
}

struct ibv_mr *v_reg(struct vdev *d, void *addr, size_t len, int extra)
{
	struct ibv_mr *mr = ibv_reg_mr(d->pd, addr, len,
				       IBV_ACCESS_ON_DEMAND | ACC_ALL | extra);

	if (!mr)
		FAIL("ibv_reg_mr(%p, %zu, ON_DEMAND|0x%x): %s", addr, len,
		     ACC_ALL | extra, strerror(errno));
	return mr;
}

struct ibv_mr *v_reg_implicit(struct vdev *d)
{
	struct ibv_mr *mr;

	if (!(d->attr.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT))
		SKIP("%s has no implicit ODP", d->name);
	mr = ibv_reg_mr(d->pd, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND | ACC_ALL);
	if (!mr)
		FAIL("ibv_reg_mr(NULL, SIZE_MAX, ON_DEMAND): %s",
		     strerror(errno));
	return mr;
}

void v_dereg(struct ibv_mr *mr)
{
	int err = ibv_dereg_mr(mr);

	if (err)
		FAIL("ibv_dereg_mr: %s", strerror(err));
}

void pair_create(struct vdev *d, struct vpair *p)
{
	struct ibv_qp_init_attr ia = {
		.cap = { .max_send_wr = 64, .max_recv_wr = 64,
			 .max_send_sge = 2, .max_recv_sge = 2 },
		.qp_type = IBV_QPT_RC,
	};

	memset(p, 0, sizeof(*p));
	p->d = d;
	p->cqa = ibv_create_cq(d->ctx, 256, NULL, NULL, 0);
	p->cqb = ibv_create_cq(d->ctx, 256, NULL, NULL, 0);
	if (!p->cqa || !p->cqb)
		FAIL("ibv_create_cq: %s", strerror(errno));
	ia.send_cq = ia.recv_cq = p->cqa;
	p->a = ibv_create_qp(d->pd, &ia);
	ia.send_cq = ia.recv_cq = p->cqb;
	p->b = ibv_create_qp(d->pd, &ia);
	if (!p->a || !p->b)
		FAIL("ibv_create_qp: %s", strerror(errno));
	pair_connect(p);
}

static void qp_modify(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask,
		      const char *what)
{
	int err = ibv_modify_qp(qp, a, mask);

	if (err)
		FAIL("ibv_modify_qp(qpn 0x%x, %s): %s", qp->qp_num, what,
		     strerror(err));
}

static void drain(struct ibv_cq *cq)
{
	struct ibv_wc wc[16];

	while (ibv_poll_cq(cq, 16, wc) > 0)
		;
}

static void qp_connect(struct vpair *p, struct ibv_qp *qp, uint32_t dqpn)
{
	struct vdev *d = p->d;
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RESET;
	qp_modify(qp, &a, IBV_QP_STATE, "RESET");

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = d->port;
	a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			    IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;
	qp_modify(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
		  IBV_QP_ACCESS_FLAGS, "INIT");

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dqpn;
	a.rq_psn = 0;
	a.max_dest_rd_atomic = 16;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = d->gid;
	a.ah_attr.grh.sgid_index = d->gid_index;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = d->port;
	qp_modify(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
		  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
		  IBV_QP_MIN_RNR_TIMER, "RTR");

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.sq_psn = 0;
	a.max_rd_atomic = 16;
	qp_modify(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
		  IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC,
		  "RTS");
}

void pair_connect(struct vpair *p)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };

	/* Both down first: no packet of the old connection may hit a new one. */
	qp_modify(p->a, &a, IBV_QP_STATE, "RESET");
	qp_modify(p->b, &a, IBV_QP_STATE, "RESET");
	drain(p->cqa);
	drain(p->cqb);
	qp_connect(p, p->a, p->b->qp_num);
	qp_connect(p, p->b, p->a->qp_num);
}

void pair_destroy(struct vpair *p)
{
	if (ibv_destroy_qp(p->a) || ibv_destroy_qp(p->b))
		FAIL("ibv_destroy_qp: %s", strerror(errno));
	if (ibv_destroy_cq(p->cqa) || ibv_destroy_cq(p->cqb))
		FAIL("ibv_destroy_cq: %s", strerror(errno));
	memset(p, 0, sizeof(*p));
}

/* ---- work requests -------------------------------------------------- */

void post_op(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t wr_id,
	     struct ibv_mr *lmr, void *laddr, uint32_t len,
	     uint32_t rkey, uint64_t raddr, uint64_t cmp_add, uint64_t swap)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)laddr, .length = len, .lkey = lmr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad = NULL;
	int err;

	if (op == IBV_WR_ATOMIC_CMP_AND_SWP || op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = raddr;
		wr.wr.atomic.rkey = rkey;
		wr.wr.atomic.compare_add = cmp_add;
		wr.wr.atomic.swap = swap;
	} else if (op != IBV_WR_SEND) {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	err = ibv_post_send(qp, &wr, &bad);
	if (err)
		FAIL("ibv_post_send(opcode %d, len %u): %s", op, len,
		     strerror(err));
}

void post_recv1(struct ibv_qp *qp, uint64_t wr_id, struct ibv_mr *mr,
		void *addr, uint32_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)addr, .length = len, .lkey = mr->lkey,
	};
	struct ibv_recv_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
	}, *bad = NULL;
	int err = ibv_post_recv(qp, &wr, &bad);

	if (err)
		FAIL("ibv_post_recv(len %u): %s", len, strerror(err));
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned int timeout_ms(void)
{
	const char *s = getenv("VERBS_TIMEOUT_MS");

	return s ? (unsigned int)atoi(s) : 10000;
}

/* Up to n completions within ms; returns how many. */
static int poll_for(struct ibv_cq *cq, int n, struct ibv_wc *wc,
		    unsigned int ms)
{
	uint64_t end = now_ms() + ms;
	int got = 0, idle = 0;

	while (got < n) {
		int r = ibv_poll_cq(cq, n - got, wc + got);

		if (r < 0)
			FAIL("ibv_poll_cq: %d", r);
		if (r) {
			got += r;
			idle = 0;
			continue;
		}
		if (now_ms() > end)
			break;
		/* 2 vCPUs under TCG: leave the CPU to rxe's work. */
		if (++idle > 50)
			usleep(100);
		else
			sched_yield();
	}
	return got;
}

void wait_wcs(struct ibv_cq *cq, int n, struct ibv_wc *wc, const char *what)
{
	int got = poll_for(cq, n, wc, timeout_ms());

	if (got < n)
		FAIL("%s: %d of %d completions after %u ms", what, got, n,
		     timeout_ms());
}

void expect_wc(const struct ibv_wc *wc, enum ibv_wc_status st,
	       const char *what)
{
	if (wc->status != st)
		FAIL("%s: completion status %d (%s), expected %d (%s) "
		     "(wr_id %llu, vendor_err 0x%x)", what, wc->status,
		     ibv_wc_status_str(wc->status), st, ibv_wc_status_str(st),
		     (unsigned long long)wc->wr_id, wc->vendor_err);
}

static int op_rdma(struct vpair *p, enum ibv_wr_opcode op, struct ibv_mr *lmr,
		   void *laddr, size_t len, struct ibv_mr *rmr, void *raddr,
		   uint64_t cmp_add, uint64_t swap)
{
	struct ibv_wc wc;

	post_op(p->a, op, 1, lmr, laddr, (uint32_t)len, rmr->rkey,
		(uintptr_t)raddr, cmp_add, swap);
	wait_wcs(p->cqa, 1, &wc, "requester");
	return wc.status;
}

int op_write(struct vpair *p, struct ibv_mr *lmr, void *laddr, size_t len,
	     struct ibv_mr *rmr, void *raddr)
{
	return op_rdma(p, IBV_WR_RDMA_WRITE, lmr, laddr, len, rmr, raddr, 0, 0);
}

int op_read(struct vpair *p, struct ibv_mr *lmr, void *laddr, size_t len,
	    struct ibv_mr *rmr, void *raddr)
{
	return op_rdma(p, IBV_WR_RDMA_READ, lmr, laddr, len, rmr, raddr, 0, 0);
}

int op_atomic(struct vpair *p, enum ibv_wr_opcode op, struct ibv_mr *lmr,
	      void *laddr, struct ibv_mr *rmr, void *raddr, uint64_t cmp_add,
	      uint64_t swap)
{
	return op_rdma(p, op, lmr, laddr, 8, rmr, raddr, cmp_add, swap);
}

int op_send(struct vpair *p, struct ibv_mr *lmr, void *laddr, size_t len,
	    struct ibv_mr *rmr, void *raddr, int *recv_st)
{
	struct ibv_wc wc, rwc;
	int rst;

	post_recv1(p->b, 2, rmr, raddr, (uint32_t)len);
	post_op(p->a, IBV_WR_SEND, 1, lmr, laddr, (uint32_t)len, 0, 0, 0, 0);
	wait_wcs(p->cqa, 1, &wc, "sender");
	if (wc.status == IBV_WC_SUCCESS) {
		wait_wcs(p->cqb, 1, &rwc, "receiver");
		if (rwc.status == IBV_WC_SUCCESS && rwc.byte_len != len)
			FAIL("receive of %zu bytes completed with byte_len %u",
			     len, rwc.byte_len);
		rst = rwc.status;
	} else {
		/* The receive may or may not have completed (flushed). */
		rst = poll_for(p->cqb, 1, &rwc, 200) ? (int)rwc.status : -1;
	}
	if (recv_st)
		*recv_st = rst;
	return wc.status;
}

/* ---- rdma tool JSON ------------------------------------------------- */

#define JMAX 40
struct jobj {
	int n;
	char key[JMAX][48];
	char val[JMAX][48];
};

static const char *jget(const struct jobj *o, const char *key)
{
	int i;

	for (i = 0; i < o->n; i++)
		if (!strcmp(o->key[i], key))
			return o->val[i];
	return NULL;
}

/* Read a quoted string at *p into out (truncated); *p moves past it. */
static void jstr(const char **p, char *out, size_t size)
{
	size_t k = 0;

	(*p)++;
	while (**p && **p != '"') {
		if (**p == '\\' && (*p)[1])
			(*p)++;
		if (k + 1 < size)
			out[k++] = **p;
		(*p)++;
	}
	if (**p)
		(*p)++;
	out[k] = 0;
}

/*
 * The flat objects of `rdma -j` output (arrays of {"key":value,...}), each
 * handed to cb.  Nested values are skipped.
 */
static void json_objects(const char *s, void (*cb)(const struct jobj *, void *),
			 void *arg)
{
	struct jobj o;
	const char *p = s;

	while ((p = strchr(p, '{'))) {
		memset(&o, 0, sizeof(o));
		p++;
		for (;;) {
			char key[48], val[48];

			while (*p && (isspace((unsigned char)*p) || *p == ','))
				p++;
			if (!*p || *p == '}')
				break;
			if (*p != '"')
				return;
			jstr(&p, key, sizeof(key));
			while (*p && (isspace((unsigned char)*p) || *p == ':'))
				p++;
			if (*p == '"') {
				jstr(&p, val, sizeof(val));
			} else if (*p == '{' || *p == '[') {
				int depth = 0;

				do {
					if (*p == '{' || *p == '[')
						depth++;
					else if (*p == '}' || *p == ']')
						depth--;
					p++;
				} while (*p && depth);
				continue;
			} else {
				size_t k = 0;

				while (*p && *p != ',' && *p != '}' &&
				       !isspace((unsigned char)*p)) {
					if (k + 1 < sizeof(val))
						val[k++] = *p;
					p++;
				}
				val[k] = 0;
			}
			if (o.n < JMAX) {
				strcpy(o.key[o.n], key);
				strcpy(o.val[o.n], val);
				o.n++;
			}
		}
		if (*p == '}')
			p++;
		cb(&o, arg);
	}
}

/* The whole output of a shell command (FAIL if it fails). */
static char *run_cmd(const char *cmd)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	FILE *f = popen(cmd, "r");
	int st;

	if (!f || !buf)
		FAIL("popen(%s): %s", cmd, strerror(errno));
	for (;;) {
		size_t r;

		if (len + 4096 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				FAIL("realloc");
		}
		r = fread(buf + len, 1, cap - len - 1, f);
		if (!r)
			break;
		len += r;
	}
	buf[len] = 0;
	st = pclose(f);
	if (st)
		FAIL("`%s` failed (status 0x%x): %s", cmd, st, buf);
	return buf;
}

static const char *const stat_names[ST_MAX] = {
	[ST_PAGE_FAULTS] = "page_faults",
	[ST_PAGE_FAULTS_HANDLED] = "page_faults_handled",
	[ST_PAGE_INVALIDATIONS] = "page_invalidations",
	[ST_PAGE_INVALIDATION_EVENTS] = "page_invalidation_events",
	[ST_PAGE_PREFETCH] = "page_prefetch",
	[ST_FAULT_RETRIES] = "fault_retries",
	[ST_FAULT_ERRORS] = "fault_errors",
	[ST_PAGES_MAPPED] = "pages_mapped",
};

struct stat_query {
	const char *dev;
	int n;
	struct ibv_mr *const *mrs;
	long mrn[64];		/* from res show mr */
	struct mrstat *out;
	int found[64];
};

static void stat_cb(const struct jobj *o, void *arg)
{
	struct stat_query *q = arg;
	const char *ifname = jget(o, "ifname"), *mrn = jget(o, "mrn");
	const char *lkey = jget(o, "lkey"), *pid = jget(o, "pid");
	int i, k;

	if (!ifname || strcmp(ifname, q->dev) || !mrn)
		return;
	if (lkey) {		/* rdma res show mr: which mrn is ours */
		if (!pid || atol(pid) != (long)getpid())
			return;
		for (i = 0; i < q->n; i++)
			if (strtoul(lkey, NULL, 16) == q->mrs[i]->lkey)
				q->mrn[i] = atol(mrn);
		return;
	}
	for (i = 0; i < q->n; i++) {	/* rdma stat show mr */
		if (q->mrn[i] != atol(mrn))
			continue;
		for (k = 0; k < ST_MAX; k++) {
			const char *v = jget(o, stat_names[k]);

			q->out[i].v[k] = v ? atoll(v) : -1;
		}
		q->found[i] = 1;
	}
}

int no_mr_stats;

void mr_stats(int n, struct ibv_mr *const *mrs, struct mrstat *out)
{
	struct stat_query q = { .n = n, .mrs = mrs, .out = out };
	const char *env = getenv("VERBS_NO_MR_STATS");
	int expect_none = env && *env && strcmp(env, "0");
	char *text;
	int i;

	if (n > 64)
		FAIL("mr_stats: %d MRs", n);
	q.dev = ibv_get_device_name(mrs[0]->context->device);
	for (i = 0; i < n; i++)
		q.mrn[i] = -1;
	/* res first: it names the mrn of each of our lkeys. */
	text = run_cmd("rdma -j res show mr; rdma -j stat show mr");
	json_objects(text, stat_cb, &q);
	for (i = 0; i < n; i++) {
		if (q.mrn[i] < 0)
			FAIL("MR lkey 0x%x of pid %d not in `rdma res show mr`:\n%s",
			     mrs[i]->lkey, (int)getpid(), text);
		if (expect_none) {
			if (q.found[i] && out[i].v[ST_PAGE_FAULTS] >= 0)
				FAIL("VERBS_NO_MR_STATS is set, yet mrn %ld "
				     "(lkey 0x%x) has ODP counters in `rdma stat "
				     "show mr`:\n%s", q.mrn[i], mrs[i]->lkey,
				     text);
			memset(&out[i], 0xff, sizeof(out[i]));	/* all -1 */
			no_mr_stats = 1;
			continue;
		}
		if (!q.found[i])
			FAIL("mrn %ld (lkey 0x%x) not in `rdma stat show mr`:\n%s",
			     q.mrn[i], mrs[i]->lkey, text);
		if (out[i].v[ST_PAGE_FAULTS] < 0 ||
		    out[i].v[ST_PAGE_INVALIDATIONS] < 0)
			FAIL("mrn %ld (lkey 0x%x): no ODP counters in "
			     "`rdma stat show mr`:\n%s", q.mrn[i],
			     mrs[i]->lkey, text);
	}
	free(text);
}

struct mrstat stat_delta(const char *tag, const struct mrstat *before,
			 const struct mrstat *after)
{
	struct mrstat d;
	int k;

	if (no_mr_stats) {
		memset(&d, 0, sizeof(d));
		printf("%s.counters=none\n", tag);
		return d;
	}
	for (k = 0; k < ST_MAX; k++) {
		d.v[k] = k == ST_PAGES_MAPPED ? after->v[k] :
			 after->v[k] - before->v[k];
		printf("%s%s.%s=%lld", k ? " " : "", tag, stat_names[k],
		       (long long)d.v[k]);
	}
	printf("\n");
	return d;
}

struct count_query {
	const char *dev;
	pid_t pid;
	int count;
};

static void count_cb(const struct jobj *o, void *arg)
{
	struct count_query *q = arg;
	const char *ifname = jget(o, "ifname"), *pid = jget(o, "pid");

	if (!ifname || strcmp(ifname, q->dev))
		return;
	if (q->pid < 0 || (pid && atol(pid) == (long)q->pid))
		q->count++;
}

static int rdma_res_count(const char *what, const char *dev, pid_t pid)
{
	struct count_query q = { .dev = dev, .pid = pid };
	char cmd[64], *text;

	snprintf(cmd, sizeof(cmd), "rdma -j res show %s", what);
	text = run_cmd(cmd);
	json_objects(text, count_cb, &q);
	free(text);
	return q.count;
}

int rdma_mr_count(const char *dev, pid_t pid)
{
	return rdma_res_count("mr", dev, pid);
}

int rdma_qp_count(const char *dev, pid_t pid)
{
	return rdma_res_count("qp", dev, pid);
}

/* ---- misc ------------------------------------------------------------ */

static int read_small(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t r;

	if (!f)
		return -1;
	r = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[r] = 0;
	return 0;
}

int thp_enabled(void)
{
	char buf[128];

	if (read_small("/sys/kernel/mm/transparent_hugepage/enabled", buf,
		       sizeof(buf)))
		return 0;
	return !strstr(buf, "[never]");
}

long hugetlb_free(void)
{
	char buf[64];

	if (read_small("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
		       buf, sizeof(buf)))
		return 0;
	return atol(buf);
}

long anon_huge_bytes(void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int in = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

int numa_nodes(void)
{
	char path[64];
	int n = 0;

	for (;;) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", n);
		if (access(path, F_OK))
			return n;
		n++;
	}
}
