// SPDX-License-Identifier: MIT
/*
 * The read_begin/read_retry collision, made deterministic with
 * /sys/kernel/debug/odp/retry_hook (Documentation/ABI.md): a fault parks
 * after hmm_range_fault() and before checking mmu_interval_read_retry();
 * the test invalidates the range meanwhile, then releases it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"

static void hook_state(char *buf, size_t size)
{
	if (read_file(DEBUGFS_RETRY_HOOK, buf, size) < 0)
		FAIL("read %s: %s", DEBUGFS_RETRY_HOOK, strerror(errno));
}

static void hook_write(const char *cmd)
{
	int r = write_file(DEBUGFS_RETRY_HOOK, cmd);

	if (r)
		FAIL("write '%s' to %s: %s", cmd, DEBUGFS_RETRY_HOOK, strerror(-r));
}

static void hook_expect(const char *want)
{
	char st[64];

	hook_state(st, sizeof(st));
	CHECK(!strcmp(st, want), "retry_hook reads '%s', expected '%s'", st, want);
}

/* Wait until the hook reads `parked`; FAIL after timeout_ms. */
static void hook_wait_parked(unsigned int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	char st[64];

	for (;;) {
		hook_state(st, sizeof(st));
		if (!strcmp(st, "parked"))
			return;
		if (now_ms() > end)
			FAIL("retry_hook still '%s' %u ms after arm + device access, "
			     "expected 'parked'", st, timeout_ms);
		usleep(5000);
	}
}

static void need_hook(void)
{
	char st[64];

	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing");
	if (access(DEBUGFS_RETRY_HOOK, W_OK))
		FAIL("%s: %s", DEBUGFS_RETRY_HOOK, strerror(errno));
	hook_state(st, sizeof(st));
	printf("hook_initial=%s\n", st);
	if (!strcmp(st, "armed"))	/* left over by a failed run */
		hook_write("disarm");
}

struct access_arg {
	struct odp_mr *mr;
	char *addr;
	char *buf;
	size_t len;
	int write;
	int ret;
	uint64_t ms;
};

static void *access_thread(void *p)
{
	struct access_arg *a = p;
	uint64_t t0 = now_ms();

	a->ret = a->write ? dev_write(a->mr, a->addr, a->buf, a->len) :
			    dev_read(a->mr, a->addr, a->buf, a->len);
	a->ms = now_ms() - t0;
	return NULL;
}

/*
 * One device access parked by the hook: an MR over @npages pages of 'A',
 * the access (a read, or a write of 'W') of its first page started in a
 * thread and parked before read_retry.  The caller invalidates, releases
 * (or lets the hook time out) and joins.
 */
struct parked {
	struct tctx t;
	char *buf;
	struct odp_mr *mr;
	struct stats s;
	struct access_arg a;
	pthread_t th;
};

static void park_access(struct parked *p, size_t npages, int write)
{
	size_t ps = page_size;

	memset(p, 0, sizeof(*p));
	need_hook();
	t_open(&p->t);
	p->buf = map_anon(npages * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	memset(p->buf, 'A', npages * ps);
	p->mr = reg_mr(&p->t, p->buf, npages * ps, ACC_RW);
	mr_stats(p->mr, &p->s);

	p->a.mr = p->mr;
	p->a.addr = p->buf;
	p->a.buf = malloc(ps);
	CHECK(p->a.buf, "malloc");
	p->a.len = ps;
	p->a.write = write;
	memset(p->a.buf, write ? 'W' : 0, ps);
	hook_write("arm");
	hook_expect("armed");
	CHECK(!pthread_create(&p->th, NULL, access_thread, &p->a),
	      "pthread_create");
	hook_wait_parked(8000);
}

static void parked_done(struct parked *p)
{
	free(p->a.buf);
	EXPECT_OK(odp_dereg_mr(p->mr));
	t_close(&p->t);
}

/* A parked read, the page replaced meanwhile: the read returns the new data. */
static int retry_hook_read(void)
{
	size_t ps = page_size;
	struct parked p;
	struct stats d;
	char st[64];

	park_access(&p, 1, 0);
	xmadvise(p.buf, ps, MADV_DONTNEED);
	memset(p.buf, 'B', ps);
	hook_write("release");
	pthread_join(p.th, NULL);
	hook_state(st, sizeof(st));
	printf("hook_after=%s access_ms=%llu\n", st, (unsigned long long)p.a.ms);
	CHECK(!strcmp(st, "released") || !strcmp(st, "idle"),
	      "retry_hook reads '%s' after release", st);

	EXPECT_ERRNO(p.a.ret, 0);
	check_bytes(p.a.buf, ps, 'B',
		    "parked device read after MADV_DONTNEED + memset('B') (an 'A' is the old page)");
	mr_delta(p.mr, &p.s, &d, "retry");
	EXPECT_U64(D(d, RETRIES), >=, 1, "retries");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations");
	EXPECT_U64(D(d, ACCESSES), ==, 1, "accesses");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, 1, "pages_mapped");
	parked_done(&p);
	return T_PASS;
}

/* A parked write, the page zapped meanwhile: the write lands in the new page. */
static int retry_hook_write(void)
{
	size_t ps = page_size;
	struct parked p;
	struct stats d;
	char *out;

	park_access(&p, 1, 1);
	xmadvise(p.buf, ps, MADV_DONTNEED);
	hook_write("release");
	pthread_join(p.th, NULL);

	EXPECT_ERRNO(p.a.ret, 0);
	check_bytes(p.buf, ps, 'W',
		    "CPU view after a parked device write across MADV_DONTNEED "
		    "(zeros = the write went to the freed page)");
	out = malloc(ps);
	CHECK(out, "malloc");
	EXPECT_OK(dev_read(p.mr, p.buf, out, ps));
	check_bytes(out, ps, 'W', "device read back");
	free(out);
	mr_delta(p.mr, &p.s, &d, "retry");
	EXPECT_U64(D(d, RETRIES), >=, 1, "retries");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations");
	parked_done(&p);
	return T_PASS;
}

/* arm + disarm: the next fault does not park, nothing retries. */
static int retry_hook_disarm(void)
{
	size_t ps = page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	uint64_t t0, ms;
	char *buf, *out;

	need_hook();
	t_open(&t);
	buf = map_anon(ps, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	memset(buf, 'A', ps);
	mr = reg_mr(&t, buf, ps, ACC_RW);
	out = malloc(ps);
	mr_stats(mr, &s);

	hook_write("arm");
	hook_expect("armed");
	hook_write("disarm");
	hook_expect("idle");
	t0 = now_ms();
	EXPECT_OK(dev_read(mr, buf, out, ps));
	ms = now_ms() - t0;
	printf("access_ms=%llu\n", (unsigned long long)ms);
	check_bytes(out, ps, 'A', "device read");
	CHECK(ms < 5000, "a read after disarm took %llu ms (parked?)",
	      (unsigned long long)ms);
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, RETRIES), ==, 0, "retries");
	hook_expect("idle");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* A parked fault nobody releases lets itself go after 10 s, no retry. */
static int retry_hook_timeout(void)
{
	size_t ps = page_size;
	struct parked p;
	struct stats d;
	char st[64];

	park_access(&p, 1, 0);
	pthread_join(p.th, NULL);
	hook_state(st, sizeof(st));
	printf("hook_after=%s access_ms=%llu\n", st, (unsigned long long)p.a.ms);

	EXPECT_ERRNO(p.a.ret, 0);
	check_bytes(p.a.buf, ps, 'A', "device read after the self-release");
	CHECK(p.a.ms >= 5000 && p.a.ms < 30000,
	      "a parked fault came back after %llu ms, expected about 10 s",
	      (unsigned long long)p.a.ms);
	mr_delta(p.mr, &p.s, &d, "timeout");
	EXPECT_U64(D(d, RETRIES), ==, 0, "retries (nothing invalidated)");
	parked_done(&p);
	return T_PASS;
}

/*
 * A walk that waits long for the mm (here: parked 1.5 s, past the HMM
 * timeout; in life: mmap_lock queued behind a writer during a long
 * migrate_pages()) and then meets one invalidation of another page of the
 * MR retries and succeeds: one invalidation after a slow walk is not a
 * livelock (it used to fail with EBUSY).
 */
static int retry_hook_slow_walk(void)
{
	size_t ps = page_size;
	struct parked p;
	struct stats d;

	park_access(&p, 2, 0);
	usleep(1500 * 1000);
	/* The other page: the walk's result stays right, the MR's seq moves. */
	xmadvise(p.buf + ps, ps, MADV_DONTNEED);
	hook_write("release");
	pthread_join(p.th, NULL);
	printf("access_ms=%llu\n", (unsigned long long)p.a.ms);

	EXPECT_ERRNO(p.a.ret, 0);
	check_bytes(p.a.buf, ps, 'A', "device read after a slow walk and a retry");
	mr_delta(p.mr, &p.s, &d, "slow");
	EXPECT_U64(D(d, RETRIES), >=, 1, "retries");
	EXPECT_U64(D(d, FAULT_ERRORS), ==, 0, "fault_errors");
	parked_done(&p);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "retry_hook_read", retry_hook_read },
	{ "retry_hook_write", retry_hook_write },
	{ "retry_hook_disarm", retry_hook_disarm },
	{ "retry_hook_timeout", retry_hook_timeout },
	{ "retry_hook_slow_walk", retry_hook_slow_walk },
};

TEST_MAIN(tests)
