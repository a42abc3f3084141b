// SPDX-License-Identifier: MIT
/*
 * Bad input: each call returns the documented errno (Documentation/ABI.md)
 * and changes nothing: the MR count in /sys/kernel/debug/odp/mrs and every
 * device counter are the same before and after.  Kernel-side checks are
 * exercised with raw ioctls on the context's fd so that libodp cannot
 * filter them first.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uapi/odp_abi.h>

#include "helpers.h"

#define NPAGES	4

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? errno : 0;
}

/* ---- "changes nothing" ---------------------------------------------- */

struct snap {
	int mrs;
	struct stats dev;
};

static void snap_take(struct tctx *t, struct snap *s)
{
	s->mrs = debugfs_mr_count();
	if (s->mrs < 0)
		FAIL("%s unreadable: %s", DEBUGFS_MRS, strerror(errno));
	dev_stats(t->ctx, &s->dev);
}

static void snap_same(struct tctx *t, const struct snap *a, const char *what)
{
	struct snap b;
	unsigned int i;

	snap_take(t, &b);
	if (a->mrs != b.mrs)
		FAIL("%s changed the number of MRs in %s: %d -> %d", what,
		     DEBUGFS_MRS, a->mrs, b.mrs);
	for (i = 0; i < ODP_STAT_MAX; i++)
		if (a->dev.v[i] != b.dev.v[i])
			FAIL("%s changed device counter %s: %llu -> %llu", what,
			     stat_name(i), (unsigned long long)a->dev.v[i],
			     (unsigned long long)b.dev.v[i]);
}

/* ---- raw ioctl wrappers --------------------------------------------- */

static int raw_reg(struct tctx *t, uint64_t addr, uint64_t len, uint32_t access,
		   struct odp_abi_reg_mr *out)
{
	struct odp_abi_reg_mr a = {
		.addr = addr, .length = len, .pd_handle = t->pd->handle,
		.access = access,
	};
	int r = xioctl(t->ctx->cmd_fd, ODP_IOC_REG_MR, &a);

	if (out)
		*out = a;
	return r;
}

static int raw_dereg(int fd, uint32_t handle)
{
	struct odp_abi_dereg_mr a = { .mr_handle = handle };

	return xioctl(fd, ODP_IOC_DEREG_MR, &a);
}

static int raw_access(int fd, uint32_t lkey, uint32_t dir, uint64_t iova,
		      uint64_t len, void *buf)
{
	struct odp_abi_mr_access a = {
		.lkey = lkey, .dir = dir, .iova = iova, .length = len,
		.buf = (uintptr_t)buf,
	};

	return xioctl(fd, ODP_IOC_MR_ACCESS, &a);
}

static int raw_advise(int fd, uint32_t pd, uint32_t advice, uint32_t flags,
		      struct odp_abi_sge *sg, uint32_t n)
{
	struct odp_abi_advise_mr a = {
		.advice = advice, .flags = flags, .pd_handle = pd,
		.num_sge = n, .sg_list = (uintptr_t)sg,
	};

	return xioctl(fd, ODP_IOC_ADVISE_MR, &a);
}

/* Set up a context, a PD and a mapped, device-read MR over NPAGES. */
static char *setup(struct tctx *t, struct odp_mr **mr, int access)
{
	size_t len = NPAGES * page_size;
	char *buf, *out = malloc(len);

	t_open(t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	fill_pattern(buf, len, 70);
	if (mr) {
		*mr = reg_mr(t, buf, len, access);
		EXPECT_OK(dev_read(*mr, buf, out, len));
	}
	free(out);
	return buf;
}

#define U64(p)	((uint64_t)(uintptr_t)(p))

/* ---- registration --------------------------------------------------- */

static int bad_reg_unknown_access(void)
{
	struct tctx t;
	struct snap s;
	char *buf = setup(&t, NULL, 0);

	snap_take(&t, &s);
	EXPECT_ERRNO(raw_reg(&t, U64(buf), page_size, ACC_RW | (1 << 4), NULL), EINVAL);
	EXPECT_ERRNO(raw_reg(&t, U64(buf), page_size, ACC_RW | (1 << 5), NULL), EINVAL);
	EXPECT_ERRNO(raw_reg(&t, U64(buf), page_size, ACC_RW | (1u << 31), NULL), EINVAL);
	errno = 0;
	CHECK(!odp_reg_mr(t.pd, buf, page_size, ACC_RW | (1 << 7)) && errno == EINVAL,
	      "odp_reg_mr with access bit 7: errno %d", errno);
	snap_same(&t, &s, "registration with unknown access bits");
	t_close(&t);
	return T_PASS;
}

static int bad_reg_no_on_demand(void)
{
	struct tctx t;
	struct snap s;
	char *buf = setup(&t, NULL, 0);

	snap_take(&t, &s);
	EXPECT_ERRNO(raw_reg(&t, U64(buf), page_size, ODP_ACCESS_LOCAL_WRITE, NULL),
		     EOPNOTSUPP);
	EXPECT_ERRNO(raw_reg(&t, U64(buf), page_size, 0, NULL), EOPNOTSUPP);
	errno = 0;
	CHECK(!odp_reg_mr(t.pd, buf, page_size, ODP_ACCESS_REMOTE_READ) &&
	      errno == EOPNOTSUPP, "odp_reg_mr without ON_DEMAND: errno %d", errno);
	snap_same(&t, &s, "registration without ON_DEMAND");
	t_close(&t);
	return T_PASS;
}

static int bad_reg_remote_write_without_local_write(void)
{
	struct tctx t;
	struct snap s;
	struct odp_abi_reg_mr out;
	char *buf = setup(&t, NULL, 0);

	snap_take(&t, &s);
	EXPECT_ERRNO(raw_reg(&t, U64(buf), page_size,
			     ODP_ACCESS_ON_DEMAND | ODP_ACCESS_REMOTE_WRITE, NULL), EINVAL);
	EXPECT_ERRNO(raw_reg(&t, U64(buf), page_size,
			     ODP_ACCESS_ON_DEMAND | ODP_ACCESS_REMOTE_ATOMIC, NULL), EINVAL);
	EXPECT_ERRNO(raw_reg(&t, U64(buf), page_size,
			     ODP_ACCESS_ON_DEMAND | ODP_ACCESS_REMOTE_READ |
			     ODP_ACCESS_REMOTE_WRITE, NULL), EINVAL);
	snap_same(&t, &s, "REMOTE_WRITE/ATOMIC without LOCAL_WRITE");
	/* Control: with LOCAL_WRITE it is fine. */
	EXPECT_OK(raw_reg(&t, U64(buf), page_size,
			  ACC_RW | ODP_ACCESS_REMOTE_WRITE | ODP_ACCESS_REMOTE_ATOMIC, &out));
	EXPECT_OK(raw_dereg(t.ctx->cmd_fd, out.mr_handle));
	snap_same(&t, &s, "a registration and its dereg");
	t_close(&t);
	return T_PASS;
}

static int bad_reg_zero_length(void)
{
	struct tctx t;
	struct snap s;
	char *buf = setup(&t, NULL, 0);

	snap_take(&t, &s);
	EXPECT_ERRNO(raw_reg(&t, U64(buf), 0, ACC_RW, NULL), EINVAL);
	errno = 0;
	CHECK(!odp_reg_mr(t.pd, buf, 0, ACC_RW) && errno == EINVAL,
	      "odp_reg_mr length 0: errno %d", errno);
	snap_same(&t, &s, "length 0");
	t_close(&t);
	return T_PASS;
}

static int bad_reg_overflow(void)
{
	struct tctx t;
	struct snap s;
	char *buf = setup(&t, NULL, 0);

	snap_take(&t, &s);
	/* addr + length wraps around 2^64. */
	EXPECT_ERRNO(raw_reg(&t, U64(buf), UINT64_MAX - U64(buf) + 2 * page_size,
			     ACC_RW, NULL), EINVAL);
	EXPECT_ERRNO(raw_reg(&t, 0xfffffffffffff000ULL, 0x2000, ACC_RW, NULL), EINVAL);
	EXPECT_ERRNO(raw_reg(&t, U64(buf), UINT64_MAX, ACC_RW, NULL), EINVAL);
	/* No wrap, but far past the user address space. */
	EXPECT_ERRNO(raw_reg(&t, U64(buf), 1ULL << 63, ACC_RW, NULL), EINVAL);
	snap_same(&t, &s, "overflowing ranges");
	t_close(&t);
	return T_PASS;
}

static int bad_reg_kernel_address(void)
{
	struct tctx t;
	struct snap s;

	setup(&t, NULL, 0);
	snap_take(&t, &s);
	EXPECT_ERRNO(raw_reg(&t, 0xffff888000000000ULL, page_size, ACC_RW, NULL), EINVAL);
	EXPECT_ERRNO(raw_reg(&t, 0xffffffff81000000ULL, page_size, ACC_RO, NULL), EINVAL);
	EXPECT_ERRNO(raw_reg(&t, 0xff11000000000000ULL, page_size, ACC_RO, NULL), EINVAL);
	snap_same(&t, &s, "kernel addresses");
	t_close(&t);
	return T_PASS;
}

static int bad_reg_unmapped(void)
{
	struct tctx t;
	struct snap s;
	char *buf = setup(&t, NULL, 0);
	char *hole = map_anon(2 * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	unmap(hole, 2 * page_size);
	unmap(buf + 3 * page_size, page_size);	/* buf: pages 0-2 mapped */
	snap_take(&t, &s);
	EXPECT_ERRNO(raw_reg(&t, U64(hole), 2 * page_size, ACC_RW, NULL), EFAULT);
	EXPECT_ERRNO(raw_reg(&t, U64(buf), 4 * page_size, ACC_RW, NULL), EFAULT);
	EXPECT_ERRNO(raw_reg(&t, U64(buf) + 3 * page_size - 1, 2, ACC_RO, NULL), EFAULT);
	errno = 0;
	CHECK(!odp_reg_mr(t.pd, hole, page_size, ACC_RW) && errno == EFAULT,
	      "odp_reg_mr of an unmapped range: errno %d", errno);
	snap_same(&t, &s, "unmapped ranges");
	t_close(&t);
	return T_PASS;
}

static int bad_reg_write_on_readonly_mapping(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct snap s;
	struct odp_abi_reg_mr out;
	char *ro, *none, *mixed;

	setup(&t, NULL, 0);
	ro = map_anon(len, PROT_READ, MAP_PRIVATE);
	none = map_anon(len, PROT_NONE, MAP_PRIVATE);
	mixed = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	xmprotect(mixed + 2 * page_size, page_size, PROT_READ);
	snap_take(&t, &s);
	EXPECT_ERRNO(raw_reg(&t, U64(ro), len, ACC_RW, NULL), EACCES);
	EXPECT_ERRNO(raw_reg(&t, U64(ro), len, ACC_RW | ODP_ACCESS_REMOTE_WRITE, NULL),
		     EACCES);
	EXPECT_ERRNO(raw_reg(&t, U64(ro), len, ACC_RW | ODP_ACCESS_REMOTE_ATOMIC, NULL),
		     EACCES);
	EXPECT_ERRNO(raw_reg(&t, U64(none), len, ACC_RO, NULL), EACCES);
	EXPECT_ERRNO(raw_reg(&t, U64(none), len, ACC_RW, NULL), EACCES);
	EXPECT_ERRNO(raw_reg(&t, U64(mixed), len, ACC_RW, NULL), EACCES);
	snap_same(&t, &s, "write access on read-only mappings");
	/* Controls: read-only access to a read-only mapping is fine. */
	EXPECT_OK(raw_reg(&t, U64(ro), len, ACC_RO | ODP_ACCESS_REMOTE_READ, &out));
	EXPECT_OK(raw_dereg(t.ctx->cmd_fd, out.mr_handle));
	EXPECT_OK(raw_reg(&t, U64(mixed), len, ACC_RO, &out));
	EXPECT_OK(raw_dereg(t.ctx->cmd_fd, out.mr_handle));
	snap_same(&t, &s, "read-only registrations and their deregs");
	t_close(&t);
	return T_PASS;
}

/*
 * A range with a hole and a read-only mapping: the range is checked from
 * its start, the first problem decides (odp_reg_mr(3)).
 */
static int bad_reg_hole_and_readonly(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct snap s;
	char *a;

	setup(&t, NULL, 0);
	a = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	/* pages: 0 rw, 1 ro, 2 hole, 3 rw */
	xmprotect(a + page_size, page_size, PROT_READ);
	unmap(a + 2 * page_size, page_size);
	snap_take(&t, &s);
	EXPECT_ERRNO(raw_reg(&t, U64(a), len, ACC_RW, NULL), EACCES);
	EXPECT_ERRNO(raw_reg(&t, U64(a) + 2 * page_size, 2 * page_size, ACC_RW, NULL),
		     EFAULT);
	/* pages 1-3 read-only: the hole is the first problem */
	EXPECT_ERRNO(raw_reg(&t, U64(a) + page_size, 3 * page_size, ACC_RO, NULL),
		     EFAULT);
	/* now the hole comes first, then the read-only page */
	xmprotect(a + 3 * page_size, page_size, PROT_READ);
	EXPECT_ERRNO(raw_reg(&t, U64(a) + 2 * page_size, 2 * page_size, ACC_RW, NULL),
		     EFAULT);
	snap_same(&t, &s, "ranges with a hole and a read-only mapping");
	t_close(&t);
	return T_PASS;
}

/* odp_bind_device(3): a port the device does not have is EINVAL, an
 * unknown device ENODEV; neither binds the context. */
static int bad_bind_port(void)
{
	struct tctx t;
	int r;

	t_open(&t);
	EXPECT_ERRNO(odp_bind_device(t.ctx, "no_such_dev0", 1, NULL), ENODEV);
	r = odp_bind_device(t.ctx, "rxe0", 2, NULL);
	if (r == ENODEV)
		SKIP("no RDMA device rxe0");
	EXPECT_ERRNO(r, EINVAL);
	EXPECT_ERRNO(odp_bind_device(t.ctx, "rxe0", 255, NULL), EINVAL);
	/* still unbound: port 1 binds */
	EXPECT_OK(odp_bind_device(t.ctx, "rxe0", 1, NULL));
	t_close(&t);
	return T_PASS;
}

/* odp_create_qp(3): qp_num is the QP's number from creation on. */
static int qp_num_at_create(void)
{
	struct odp_qp_init_attr attr = { 0 };
	struct odp_qp *qp[2];
	struct odp_cq *cq;
	struct tctx t;
	int r, i;

	t_open(&t);
	r = odp_bind_device(t.ctx, "rxe0", 1, NULL);
	if (r == ENODEV)
		SKIP("no RDMA device rxe0");
	EXPECT_OK(r);
	cq = odp_create_cq(t.ctx, 16);
	CHECK(cq, "odp_create_cq: %s", strerror(errno));
	attr.send_cq = cq;
	attr.recv_cq = cq;
	attr.cap.max_send_wr = 4;
	attr.cap.max_recv_wr = 4;
	attr.qp_type = ODP_QPT_RC;
	for (i = 0; i < 2; i++) {
		qp[i] = odp_create_qp(t.pd, &attr);
		CHECK(qp[i], "odp_create_qp: %s", strerror(errno));
		CHECK(qp[i]->qp_num > 1 && qp[i]->qp_num <= 0xffffff,
		      "qp_num %u right after create", qp[i]->qp_num);
	}
	CHECK(qp[0]->qp_num != qp[1]->qp_num, "two QPs with qp_num %u",
	      qp[0]->qp_num);
	printf("qp_num=%u,%u\n", qp[0]->qp_num, qp[1]->qp_num);
	for (i = 0; i < 2; i++)
		EXPECT_OK(odp_destroy_qp(qp[i]));
	EXPECT_OK(odp_destroy_cq(cq));
	t_close(&t);
	return T_PASS;
}

/* odp_mr_read(3): buf may lie inside the MR (not over the range read). */
static int mr_access_buf_inside_mr(void)
{
	size_t len = NPAGES * page_size, half = len / 2;
	struct odp_mr *mr;
	struct tctx t;
	char *buf = setup(&t, &mr, ACC_RW);

	/* read the first half into the second, then write it back */
	EXPECT_OK(dev_read(mr, buf, buf + half, half));
	check_pattern(buf + half, half, 70, "the read into the MR's own second half");
	memset(buf, 0, half);
	EXPECT_OK(dev_write(mr, buf, buf + half, half));
	check_pattern(buf, half, 70, "the write from the MR's own second half");
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

static int bad_reg_unknown_pd(void)
{
	struct tctx t;
	struct snap s;
	struct odp_abi_reg_mr a;
	char *buf = setup(&t, NULL, 0);

	snap_take(&t, &s);
	memset(&a, 0, sizeof(a));
	a.addr = U64(buf);
	a.length = page_size;
	a.access = ACC_RW;
	a.pd_handle = t.pd->handle + 1000;
	EXPECT_ERRNO(xioctl(t.ctx->cmd_fd, ODP_IOC_REG_MR, &a), EINVAL);
	a.pd_handle = 0xffffffff;
	EXPECT_ERRNO(xioctl(t.ctx->cmd_fd, ODP_IOC_REG_MR, &a), EINVAL);
	a.pd_handle = t.pd->handle;
	a.reserved = 1;
	EXPECT_ERRNO(xioctl(t.ctx->cmd_fd, ODP_IOC_REG_MR, &a), EINVAL);
	snap_same(&t, &s, "unknown PD / reserved field");
	t_close(&t);
	return T_PASS;
}

/* ---- device access -------------------------------------------------- */

static int bad_access_out_of_bounds(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct snap s;
	struct odp_mr *mr;
	char *buf = setup(&t, &mr, ACC_RW), out[64];
	int fd = t.ctx->cmd_fd;

	snap_take(&t, &s);
	EXPECT_ERRNO(dev_read(mr, buf - 1, out, 1), EINVAL);
	EXPECT_ERRNO(dev_read(mr, buf - page_size, out, 8), EINVAL);
	EXPECT_ERRNO(dev_read(mr, buf + len, out, 1), EINVAL);
	EXPECT_ERRNO(dev_read(mr, buf + len - 8, out, 9), EINVAL);
	EXPECT_ERRNO(dev_write(mr, buf + len - 1, out, 2), EINVAL);
	EXPECT_ERRNO(raw_access(fd, mr->lkey, ODP_ABI_DIR_READ, U64(buf), 0, out), EINVAL);
	EXPECT_ERRNO(raw_access(fd, mr->lkey, ODP_ABI_DIR_READ, U64(buf) + 8,
				UINT64_MAX - 4, out), EINVAL);
	EXPECT_ERRNO(raw_access(fd, mr->lkey, ODP_ABI_DIR_READ, 0, 8, out), EINVAL);
	snap_same(&t, &s, "accesses outside the MR");
	check_pattern(buf, len, 70, "MR memory after refused accesses");
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

static int bad_access_bad_lkey(void)
{
	struct tctx t;
	struct snap s;
	struct odp_mr *mr;
	char *buf = setup(&t, &mr, ACC_RW), out[64];
	int fd = t.ctx->cmd_fd;

	snap_take(&t, &s);
	EXPECT_ERRNO(raw_access(fd, mr->lkey + 1, ODP_ABI_DIR_READ, U64(buf), 8, out), EINVAL);
	EXPECT_ERRNO(raw_access(fd, mr->lkey ^ 0x80000000u, ODP_ABI_DIR_READ, U64(buf), 8,
				out), EINVAL);
	EXPECT_ERRNO(raw_access(fd, 0, ODP_ABI_DIR_WRITE, U64(buf), 8, out), EINVAL);
	EXPECT_ERRNO(raw_access(fd, mr->lkey, 2, U64(buf), 8, out), EINVAL);	/* bad dir */
	snap_same(&t, &s, "unknown lkey / bad dir");
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* An lkey is only valid in its own context: open the device twice. */
static int bad_access_other_context_lkey(void)
{
	struct tctx t, t2;
	struct snap s;
	struct odp_mr *mr;
	char *buf = setup(&t, &mr, ACC_RW), out[64];
	struct odp_abi_sge sge = { .addr = U64(buf), .length = 8, .lkey = mr->lkey };
	struct odp_abi_query_stats q;
	uint64_t v[ODP_STAT_MAX];

	t_open(&t2);
	snap_take(&t, &s);
	EXPECT_ERRNO(raw_access(t2.ctx->cmd_fd, mr->lkey, ODP_ABI_DIR_READ, U64(buf), 8, out),
		     EINVAL);
	EXPECT_ERRNO(raw_access(t2.ctx->cmd_fd, mr->lkey, ODP_ABI_DIR_WRITE, U64(buf), 8, out),
		     EINVAL);
	EXPECT_ERRNO(raw_advise(t2.ctx->cmd_fd, t2.pd->handle, ODP_ABI_ADVISE_PREFETCH,
				ODP_ABI_ADVISE_FLAG_FLUSH, &sge, 1), EINVAL);
	memset(&q, 0, sizeof(q));
	q.mr_handle = mr->handle;
	q.num_stats = ODP_STAT_MAX;
	q.stats = U64(v);
	/* Handles of the other context are unknown here (it has no MRs). */
	EXPECT_ERRNO(xioctl(t2.ctx->cmd_fd, ODP_IOC_QUERY_STATS, &q), EINVAL);
	EXPECT_ERRNO(raw_dereg(t2.ctx->cmd_fd, mr->handle), EINVAL);
	snap_same(&t, &s, "use of another context's lkey/handle");
	EXPECT_U64(debugfs_mr_count_pid(getpid()), ==, 1, "our MRs");
	EXPECT_OK(dev_read(mr, buf, out, 8));
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t2);
	t_close(&t);
	return T_PASS;
}

/* A bad user buffer: EFAULT, MR memory unchanged (counters may move). */
static int bad_access_bad_buf(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct odp_mr *mr;
	char *buf = setup(&t, &mr, ACC_RW);
	char *hole = map_anon(page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	int mrs = debugfs_mr_count();

	unmap(hole, page_size);
	EXPECT_ERRNO(dev_read(mr, buf, NULL, 8), EFAULT);
	EXPECT_ERRNO(dev_read(mr, buf, hole, 8), EFAULT);
	EXPECT_ERRNO(dev_write(mr, buf, hole, 8), EFAULT);
	EXPECT_ERRNO(raw_access(t.ctx->cmd_fd, mr->lkey, ODP_ABI_DIR_READ, U64(buf), 8,
				(void *)0xffff888000000000ULL), EFAULT);
	check_pattern(buf, len, 70, "MR memory after EFAULT writes");
	EXPECT_U64(debugfs_mr_count(), ==, mrs, "MR count");
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

static int bad_write_readonly_mr(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct snap s;
	struct odp_mr *mr;
	char *buf = setup(&t, &mr, ACC_RO), in[64];

	memset(in, 'X', sizeof(in));
	snap_take(&t, &s);
	EXPECT_ERRNO(dev_write(mr, buf, in, sizeof(in)), EACCES);
	EXPECT_ERRNO(dev_write(mr, buf + len - 1, in, 1), EACCES);
	snap_same(&t, &s, "write through an MR without LOCAL_WRITE");
	check_pattern(buf, len, 70, "MR memory");
	EXPECT_OK(dev_read(mr, buf, in, sizeof(in)));
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* ---- object lifetime ------------------------------------------------ */

static int bad_dereg_twice(void)
{
	struct tctx t;
	struct snap s;
	struct odp_mr *mr;
	int fd;

	setup(&t, &mr, ACC_RW);
	fd = t.ctx->cmd_fd;
	EXPECT_OK(raw_dereg(fd, mr->handle));	/* libodp's mr struct leaks: fine */
	snap_take(&t, &s);
	EXPECT_ERRNO(raw_dereg(fd, mr->handle), EINVAL);
	EXPECT_ERRNO(raw_dereg(fd, 0xffffffffu), EINVAL);
	snap_same(&t, &s, "a second dereg");
	t_close(&t);
	return T_PASS;
}

static int bad_dealloc_pd_busy(void)
{
	struct tctx t;
	struct snap s;
	struct odp_mr *mr, *mr2;
	struct odp_abi_dealloc_pd d;
	char *buf = setup(&t, &mr, ACC_RW), out[8];
	int fd = t.ctx->cmd_fd;

	snap_take(&t, &s);
	memset(&d, 0, sizeof(d));
	d.pd_handle = t.pd->handle;
	EXPECT_ERRNO(xioctl(fd, ODP_IOC_DEALLOC_PD, &d), EBUSY);
	EXPECT_ERRNO(odp_dealloc_pd(t.pd), EBUSY);
	d.pd_handle = t.pd->handle + 1000;
	EXPECT_ERRNO(xioctl(fd, ODP_IOC_DEALLOC_PD, &d), EINVAL);
	snap_same(&t, &s, "dealloc of a busy / unknown PD");
	/* The PD is intact: a new MR on it works. */
	mr2 = reg_mr(&t, buf, page_size, ACC_RO);
	EXPECT_OK(dev_read(mr2, buf, out, sizeof(out)));
	EXPECT_OK(odp_dereg_mr(mr2));
	EXPECT_OK(odp_dereg_mr(mr));
	d.pd_handle = t.pd->handle;
	EXPECT_OK(xioctl(fd, ODP_IOC_DEALLOC_PD, &d));
	EXPECT_ERRNO(xioctl(fd, ODP_IOC_DEALLOC_PD, &d), EINVAL);
	t.pd = NULL;
	t_close(&t);
	return T_PASS;
}

static int bad_reserved_fields(void)
{
	struct tctx t;
	struct snap s;
	struct odp_mr *mr;
	struct odp_pd *pd2;
	struct odp_abi_alloc_pd ap = { .reserved = 1 };
	struct odp_abi_dealloc_pd dp = { .reserved = 1 };
	struct odp_abi_dereg_mr dm = { .reserved = 1 };
	int fd;

	setup(&t, &mr, ACC_RW);
	fd = t.ctx->cmd_fd;
	pd2 = odp_alloc_pd(t.ctx);		/* an idle PD: dealloc would work */
	CHECK(pd2, "odp_alloc_pd: %s", strerror(errno));
	snap_take(&t, &s);
	EXPECT_ERRNO(xioctl(fd, ODP_IOC_ALLOC_PD, &ap), EINVAL);
	dp.pd_handle = pd2->handle;
	EXPECT_ERRNO(xioctl(fd, ODP_IOC_DEALLOC_PD, &dp), EINVAL);
	dm.mr_handle = mr->handle;
	EXPECT_ERRNO(xioctl(fd, ODP_IOC_DEREG_MR, &dm), EINVAL);
	snap_same(&t, &s, "reserved fields set");
	EXPECT_OK(odp_dealloc_pd(pd2));	/* both are still there */
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* ---- advise --------------------------------------------------------- */

static int bad_advise(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct snap s;
	struct odp_mr *mr, *other;
	struct odp_pd *pd2;
	struct odp_abi_sge sg[ODP_ABI_ADVISE_MAX_SGE + 1];
	char *buf;
	int fd, i, flush;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	pd2 = odp_alloc_pd(t.ctx);
	CHECK(pd2, "odp_alloc_pd: %s", strerror(errno));
	other = odp_reg_mr(pd2, buf, len, ACC_RW);
	CHECK(other, "odp_reg_mr: %s", strerror(errno));
	fd = t.ctx->cmd_fd;
	for (i = 0; i <= ODP_ABI_ADVISE_MAX_SGE; i++) {
		sg[i].addr = U64(buf);
		sg[i].length = page_size;
		sg[i].lkey = mr->lkey;
	}
	snap_take(&t, &s);
	for (flush = 0; flush <= 1; flush++) {
		uint32_t f = flush ? ODP_ABI_ADVISE_FLAG_FLUSH : 0, pdh = t.pd->handle;
		struct odp_abi_sge one;

		EXPECT_ERRNO(raw_advise(fd, pdh, ODP_ABI_ADVISE_PREFETCH, f, sg, 0), EINVAL);
		EXPECT_ERRNO(raw_advise(fd, pdh, ODP_ABI_ADVISE_PREFETCH, f, sg,
					ODP_ABI_ADVISE_MAX_SGE + 1), EINVAL);
		EXPECT_ERRNO(raw_advise(fd, pdh, ODP_ABI_ADVISE_PREFETCH, f, sg, 100000), EINVAL);
		one = sg[0];
		one.lkey = mr->lkey + 7;
		EXPECT_ERRNO(raw_advise(fd, pdh, ODP_ABI_ADVISE_PREFETCH, f, &one, 1), EINVAL);
		one = sg[0];
		one.length = 0;
		EXPECT_ERRNO(raw_advise(fd, pdh, ODP_ABI_ADVISE_PREFETCH, f, &one, 1), EINVAL);
		one = sg[0];
		one.addr = U64(buf) + len - 8;
		one.length = 16;
		EXPECT_ERRNO(raw_advise(fd, pdh, ODP_ABI_ADVISE_PREFETCH, f, &one, 1), EINVAL);
		one = sg[0];
		one.addr = U64(buf) - page_size;
		EXPECT_ERRNO(raw_advise(fd, pdh, ODP_ABI_ADVISE_PREFETCH, f, &one, 1), EINVAL);
		one = sg[0];
		one.lkey = other->lkey;		/* MR of another PD */
		EXPECT_ERRNO(raw_advise(fd, pdh, ODP_ABI_ADVISE_PREFETCH, f, &one, 1), EINVAL);
		EXPECT_ERRNO(raw_advise(fd, pdh, 3, f, sg, 1), EINVAL);		/* advice */
		EXPECT_ERRNO(raw_advise(fd, pdh, ODP_ABI_ADVISE_PREFETCH, f | (1 << 1), sg, 1),
			     EINVAL);						/* flags */
		EXPECT_ERRNO(raw_advise(fd, pdh + 1000, ODP_ABI_ADVISE_PREFETCH, f, sg, 1),
			     EINVAL);						/* pd */
		/* One bad SGE among good ones: nothing is done. */
		sg[5].lkey = 0xdead;
		EXPECT_ERRNO(raw_advise(fd, pdh, ODP_ABI_ADVISE_PREFETCH, f, sg, 8), EINVAL);
		sg[5].lkey = mr->lkey;
	}
	snap_same(&t, &s, "bad advise requests");
	EXPECT_OK(odp_dereg_mr(other));
	EXPECT_OK(odp_dealloc_pd(pd2));
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* ---- ioctl numbers and struct sizes --------------------------------- */

static int bad_ioctl_number(void)
{
	struct tctx t;
	struct snap s;
	char arg[64] = { 0 };
	int fd;

	setup(&t, NULL, 0);
	fd = t.ctx->cmd_fd;
	snap_take(&t, &s);
	EXPECT_ERRNO(xioctl(fd, _IO(ODP_IOC_MAGIC, 0x7f), arg), ENOTTY);
	EXPECT_ERRNO(xioctl(fd, _IOWR(ODP_IOC_MAGIC, 0x40, struct odp_abi_alloc_pd), arg),
		     ENOTTY);
	EXPECT_ERRNO(xioctl(fd, _IOWR(ODP_IOC_MAGIC, 0xff, struct odp_abi_query_stats), arg),
		     ENOTTY);
	/* Right number, wrong magic. */
	EXPECT_ERRNO(xioctl(fd, _IOC(_IOC_READ, 'x', 0x00, sizeof(struct odp_abi_query_device)),
			    arg), ENOTTY);
	EXPECT_ERRNO(xioctl(fd, _IOC(_IOC_READ | _IOC_WRITE, 'x', 0x01,
				     sizeof(struct odp_abi_alloc_pd)), arg), ENOTTY);
	snap_same(&t, &s, "unknown ioctl numbers");
	t_close(&t);
	return T_PASS;
}

/*
 * A longer (newer) struct: E2BIG if the tail the kernel does not know is
 * non-zero, accepted if it is zero.  Only input is checked: QUERY_DEVICE
 * (output only) takes a longer struct whatever its tail holds.
 */
static int bad_struct_e2big(void)
{
	struct tctx t;
	struct snap s;
	struct odp_mr *mr;
	struct {
		struct odp_abi_reg_mr r;
		uint64_t tail[2];
	} rm;
	struct {
		struct odp_abi_alloc_pd a;
		uint32_t tail;
		uint32_t pad;
	} ap;
	struct {
		struct odp_abi_query_stats q;
		uint64_t tail;
	} qs;
	struct {
		struct odp_abi_advise_mr a;
		uint64_t tail;
	} ad;
	struct {
		struct odp_abi_query_device q;
		uint64_t tail;
	} qd;
	struct odp_abi_sge sge;
	uint64_t v[ODP_STAT_MAX];
	unsigned long rm_nr = _IOC(_IOC_READ | _IOC_WRITE, ODP_IOC_MAGIC, 0x03, sizeof(rm));
	unsigned long ap_nr = _IOC(_IOC_READ | _IOC_WRITE, ODP_IOC_MAGIC, 0x01, sizeof(ap));
	unsigned long qs_nr = _IOC(_IOC_READ | _IOC_WRITE, ODP_IOC_MAGIC, 0x07, sizeof(qs));
	unsigned long ad_nr = _IOC(_IOC_WRITE, ODP_IOC_MAGIC, 0x06, sizeof(ad));
	unsigned long qd_nr = _IOC(_IOC_READ, ODP_IOC_MAGIC, 0x00, sizeof(qd));
	char *buf;
	int fd;

	buf = setup(&t, &mr, ACC_RW);
	fd = t.ctx->cmd_fd;

	snap_take(&t, &s);
	memset(&rm, 0, sizeof(rm));
	rm.r.addr = U64(buf);
	rm.r.length = page_size;
	rm.r.pd_handle = t.pd->handle;
	rm.r.access = ACC_RW;
	rm.tail[1] = 1;
	EXPECT_ERRNO(xioctl(fd, rm_nr, &rm), E2BIG);
	memset(&ap, 0, sizeof(ap));
	ap.tail = 5;
	EXPECT_ERRNO(xioctl(fd, ap_nr, &ap), E2BIG);
	memset(&qs, 0, sizeof(qs));
	qs.q.mr_handle = mr->handle;
	qs.q.num_stats = ODP_STAT_MAX;
	qs.q.stats = U64(v);
	qs.tail = 1ULL << 40;
	EXPECT_ERRNO(xioctl(fd, qs_nr, &qs), E2BIG);
	sge.addr = U64(buf);
	sge.length = page_size;
	sge.lkey = mr->lkey;
	memset(&ad, 0, sizeof(ad));
	ad.a.advice = ODP_ABI_ADVISE_PREFETCH;
	ad.a.flags = ODP_ABI_ADVISE_FLAG_FLUSH;
	ad.a.pd_handle = t.pd->handle;
	ad.a.num_sge = 1;
	ad.a.sg_list = U64(&sge);
	ad.tail = 7;
	EXPECT_ERRNO(xioctl(fd, ad_nr, &ad), E2BIG);
	snap_same(&t, &s, "longer structs with a non-zero tail");

	/* Zero tails are accepted. */
	rm.tail[1] = 0;
	EXPECT_OK(xioctl(fd, rm_nr, &rm));
	CHECK(rm.tail[0] == 0 && rm.tail[1] == 0, "kernel wrote past its struct");
	EXPECT_U64(debugfs_mr_count(), ==, s.mrs + 1, "MRs after a longer REG_MR");
	EXPECT_OK(raw_dereg(fd, rm.r.mr_handle));
	qs.tail = 0;
	EXPECT_OK(xioctl(fd, qs_nr, &qs));
	EXPECT_U64(qs.q.num_stats, ==, ODP_STAT_MAX, "num_stats via a longer QUERY_STATS");
	ad.tail = 0;
	EXPECT_OK(xioctl(fd, ad_nr, &ad));
	memset(&qd, 0, sizeof(qd));
	qd.tail = 0x1234;
	EXPECT_OK(xioctl(fd, qd_nr, &qd));
	EXPECT_U64(qd.q.abi_version, ==, ODP_ABI_VERSION, "abi_version via a longer struct");
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/*
 * Version 1 of every struct is the oldest there is: a struct shorter than
 * it is not an "older struct" but a bad one (EINVAL), and nothing is
 * written to it.
 */
static int abi_struct_shorter_than_v1(void)
{
	struct tctx t;
	struct snap s;
	struct odp_mr *mr;
	struct {
		uint32_t abi_version;
		uint32_t page_size;
		uint64_t canary[4];
	} q;
	struct odp_abi_reg_mr rm;
	char *buf;
	int fd;

	buf = setup(&t, &mr, ACC_RW);
	fd = t.ctx->cmd_fd;
	snap_take(&t, &s);
	memset(&q, 0xa5, sizeof(q));
	EXPECT_ERRNO(xioctl(fd, _IOC(_IOC_READ, ODP_IOC_MAGIC, 0x00, 8), &q), EINVAL);
	CHECK(q.abi_version == 0xa5a5a5a5u && q.canary[0] == 0xa5a5a5a5a5a5a5a5ULL,
	      "a refused QUERY_DEVICE wrote to the caller's struct");
	memset(&rm, 0, sizeof(rm));
	rm.addr = U64(buf);
	rm.length = page_size;
	rm.pd_handle = t.pd->handle;
	rm.access = ACC_RW;
	EXPECT_ERRNO(xioctl(fd, _IOC(_IOC_READ | _IOC_WRITE, ODP_IOC_MAGIC, 0x03,
				     offsetof(struct odp_abi_reg_mr, mr_handle)), &rm), EINVAL);
	snap_same(&t, &s, "structs shorter than version 1");
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

static int bad_query_stats(void)
{
	struct tctx t;
	struct snap s;
	struct odp_mr *mr;
	struct odp_abi_query_stats q;
	uint64_t v[ODP_STAT_MAX];
	int fd;

	setup(&t, &mr, ACC_RW);
	fd = t.ctx->cmd_fd;
	snap_take(&t, &s);
	memset(&q, 0, sizeof(q));
	q.mr_handle = mr->handle + 1000;
	q.num_stats = ODP_STAT_MAX;
	q.stats = U64(v);
	EXPECT_ERRNO(xioctl(fd, ODP_IOC_QUERY_STATS, &q), EINVAL);
	q.mr_handle = mr->handle;
	q.stats = 0xffff888000000000ULL;
	EXPECT_ERRNO(xioctl(fd, ODP_IOC_QUERY_STATS, &q), EFAULT);
	snap_same(&t, &s, "bad QUERY_STATS");
	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "bad_reg_unknown_access", bad_reg_unknown_access },
	{ "bad_reg_no_on_demand", bad_reg_no_on_demand },
	{ "bad_reg_remote_write_without_local_write", bad_reg_remote_write_without_local_write },
	{ "bad_reg_zero_length", bad_reg_zero_length },
	{ "bad_reg_overflow", bad_reg_overflow },
	{ "bad_reg_kernel_address", bad_reg_kernel_address },
	{ "bad_reg_unmapped", bad_reg_unmapped },
	{ "bad_reg_write_on_readonly_mapping", bad_reg_write_on_readonly_mapping },
	{ "bad_reg_hole_and_readonly", bad_reg_hole_and_readonly },
	{ "bad_bind_port", bad_bind_port },
	{ "qp_num_at_create", qp_num_at_create },
	{ "mr_access_buf_inside_mr", mr_access_buf_inside_mr },
	{ "bad_reg_unknown_pd", bad_reg_unknown_pd },
	{ "bad_access_out_of_bounds", bad_access_out_of_bounds },
	{ "bad_access_bad_lkey", bad_access_bad_lkey },
	{ "bad_access_other_context_lkey", bad_access_other_context_lkey },
	{ "bad_access_bad_buf", bad_access_bad_buf },
	{ "bad_write_readonly_mr", bad_write_readonly_mr },
	{ "bad_dereg_twice", bad_dereg_twice },
	{ "bad_dealloc_pd_busy", bad_dealloc_pd_busy },
	{ "bad_reserved_fields", bad_reserved_fields },
	{ "bad_advise", bad_advise },
	{ "bad_ioctl_number", bad_ioctl_number },
	{ "bad_struct_e2big", bad_struct_e2big },
	{ "abi_struct_shorter_than_v1", abi_struct_shorter_than_v1 },
	{ "bad_query_stats", bad_query_stats },
};

TEST_MAIN(tests)
