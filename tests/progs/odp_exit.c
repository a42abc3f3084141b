// SPDX-License-Identifier: MIT
/*
 * Teardown with live objects: process exit without dereg/close, close with
 * live MRs, an fd that outlives its mm, and exit/kill during device access.
 * The parent checks /sys/kernel/debug/odp/mrs; pytest checks the module's
 * refcount afterwards (it must be unloadable).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define NPAGES	8

static void need_debugfs(void)
{
	if (access(DEBUGFS_MRS, R_OK))
		FAIL("%s unreadable: %s", DEBUGFS_MRS, strerror(errno));
}

/* Poll until pid has no MR in debugfs. */
static void wait_no_mrs(pid_t pid, const char *what)
{
	uint64_t end = now_ms() + 10000;
	int n;

	while ((n = debugfs_mr_count_pid(pid)) != 0) {
		if (now_ms() > end)
			FAIL("%s: %d MRs of pid %d still in %s after 10 s", what,
			     n, pid, DEBUGFS_MRS);
		usleep(20000);
	}
}

/* In a child: open, two PDs, three MRs with mapped pages, one async prefetch. */
static char *setup_live(struct tctx *t, struct odp_mr **mrs)
{
	size_t len = NPAGES * page_size;
	struct odp_pd *pd2;
	struct odp_sge sge;
	char *buf, out[64];

	t_open(t);
	pd2 = odp_alloc_pd(t->ctx);
	CHECK(pd2, "odp_alloc_pd: %s", strerror(errno));
	buf = map_anon(3 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	memset(buf, 'L', 3 * len);
	mrs[0] = reg_mr(t, buf, len, ACC_RW);
	mrs[1] = reg_mr(t, buf + len, len, ACC_RW);
	mrs[2] = odp_reg_mr(pd2, buf + 2 * len, len, ACC_RW);
	CHECK(mrs[2], "odp_reg_mr on the second PD: %s", strerror(errno));
	EXPECT_OK(dev_read(mrs[0], buf, out, sizeof(out)));
	EXPECT_OK(dev_write(mrs[1], buf + len, "x", 1));
	sge.addr = (uintptr_t)(buf + 2 * len);
	sge.length = len;
	sge.lkey = mrs[2]->lkey;
	EXPECT_OK(odp_advise_mr(pd2, ODP_ADVISE_PREFETCH, 0, &sge, 1));
	return buf;
}

/* Exit with live MRs, no dereg, no close: the MRs go away. */
static int exit_live_mrs(void)
{
	struct chan c;
	pid_t pid;

	need_debugfs();
	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing");
	chan_init(&c);
	pid = fork_child(&c);
	if (!pid) {
		struct odp_mr *mrs[3];
		struct tctx t;

		setup_live(&t, mrs);
		chan_send(c.c2p[1], 'r');
		chan_recv(c.p2c[0]);
		_exit(0);		/* no dereg, no dealloc, no close */
	}
	chan_recv(c.c2p[0]);
	EXPECT_U64(debugfs_mr_count_pid(pid), ==, 3, "live MRs of the child in debugfs");
	chan_send(c.p2c[1], 'x');
	wait_child_ok(pid, "child exiting with live MRs");
	wait_no_mrs(pid, "after exit");
	printf("child_pid=%d mrs_after_exit=0\n", pid);
	return T_PASS;
}

/* close() of the fd with live MRs frees them while the process lives on. */
static int close_live_mrs(void)
{
	struct chan c;
	pid_t pid;

	need_debugfs();
	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing");
	chan_init(&c);
	pid = fork_child(&c);
	if (!pid) {
		struct odp_mr *mrs[3];
		struct tctx t;
		char *buf;

		buf = setup_live(&t, mrs);
		chan_send(c.c2p[1], 'r');
		chan_recv(c.p2c[0]);
		/* Bypass libodp: the kernel sees a close with everything live. */
		CHECK(close(t.ctx->cmd_fd) == 0, "close: %s", strerror(errno));
		chan_send(c.c2p[1], 'c');
		chan_recv(c.p2c[0]);
		/* The memory is untouched and still ours. */
		check_bytes(buf, NPAGES * page_size, 'L', "memory after close");
		memset(buf, 'M', 3 * NPAGES * page_size);
		_exit(0);
	}
	chan_recv(c.c2p[0]);
	EXPECT_U64(debugfs_mr_count_pid(pid), ==, 3, "live MRs of the child in debugfs");
	chan_send(c.p2c[1], 'c');
	chan_recv(c.c2p[0]);
	wait_no_mrs(pid, "after close() with live MRs, process still running");
	chan_send(c.p2c[1], 'x');
	wait_child_ok(pid, "child after close");
	return T_PASS;
}

/*
 * The registering process exits while a child it forked still holds the
 * fd: the mm is torn down first (the device must drop every page), the MRs
 * live until the last fd reference goes, the child gets EPERM.
 */
static int exit_fd_outlives_mm(void)
{
	struct chan c;
	int res[2];
	pid_t pid;
	char line[1024];
	struct stats s;
	unsigned int handle = 0;
	uint64_t end;
	char msg;

	need_debugfs();
	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing");
	chan_init(&c);
	if (pipe(res))
		FAIL("pipe: %s", strerror(errno));
	pid = fork_child(&c);
	if (!pid) {
		struct odp_mr *mrs[3];
		struct tctx t;
		pid_t gc;

		close(res[0]);
		setup_live(&t, mrs);
		gc = fork();
		if (gc < 0)
			FAIL("fork: %s", strerror(errno));
		if (!gc) {
			char out[16], r;

			/* Grandchild: wait until told, try the context, report. */
			chan_recv(c.p2c[0]);
			r = dev_read(mrs[0], mrs[0]->addr, out, sizeof(out)) == EPERM &&
			    dev_write(mrs[1], mrs[1]->addr, "y", 1) == EPERM ? 'k' : 'e';
			if (write(res[1], &r, 1) != 1)
				_exit(1);
			_exit(0);
		}
		/* Tell the parent the first MR's handle, then exit. */
		if (write(c.c2p[1], &mrs[0]->handle, sizeof(mrs[0]->handle)) !=
		    sizeof(mrs[0]->handle))
			_exit(1);
		_exit(0);
	}
	close(res[1]);
	if (read(c.c2p[0], &handle, sizeof(handle)) != sizeof(handle))
		FAIL("child did not report its MR handle");
	wait_child_ok(pid, "registering child");

	/* The mm is gone, the fd lives in the grandchild. */
	EXPECT_U64(debugfs_mr_count_pid(pid), ==, 3,
		   "MRs of the exited process while another process holds the fd");
	/* An async prefetch may hold the mm a moment longer: poll. */
	end = now_ms() + 5000;
	do {
		CHECK(!debugfs_mr_stats(handle, pid, &s, line, sizeof(line)),
		      "MR %u not in %s", handle, DEBUGFS_MRS);
		if (!s.v[ODP_STAT_PAGES_MAPPED])
			break;
		usleep(20000);
	} while (now_ms() < end);
	printf("mr_line=\"%s\"\n", line);
	EXPECT_U64(s.v[ODP_STAT_PAGES_MAPPED], ==, 0,
		   "pages_mapped of an MR whose mm was torn down");

	chan_send(c.p2c[1], 'g');
	if (read(res[0], &msg, 1) != 1)
		FAIL("grandchild died without reporting");
	CHECK(msg == 'k', "grandchild's device access through the dead mm's context "
	      "was not refused with EPERM");
	/* EOF once the grandchild has exited and its fds are closed. */
	while (read(res[0], &msg, 1) > 0)
		;
	wait_no_mrs(pid, "after the last fd reference went away");
	return T_PASS;
}

static atomic_int go_on = 1;
static struct odp_mr *loop_mr;
static char *loop_buf;

static void *access_loop(void *arg)
{
	char tmp[4096];
	long i = (long)arg;

	while (atomic_load(&go_on)) {
		if (i & 1)
			(void)dev_write(loop_mr, loop_buf + (i % NPAGES) * page_size,
					tmp, sizeof(tmp));
		else
			(void)dev_read(loop_mr, loop_buf, tmp, sizeof(tmp));
		if (i % 16 == 0)
			madvise(loop_buf, page_size, MADV_DONTNEED);
		i++;
	}
	return NULL;
}

/* Child with threads hammering the device; ends by exit or by SIGKILL. */
static void teardown_during_access(int kill_it)
{
	struct chan c;
	pid_t pid;
	int status;

	need_debugfs();
	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing");
	chan_init(&c);
	pid = fork_child(&c);
	if (!pid) {
		struct odp_mr *mrs[3];
		struct tctx t;
		pthread_t th[3];
		long i;

		loop_buf = setup_live(&t, mrs);
		loop_mr = mrs[0];
		for (i = 0; i < 3; i++)
			pthread_create(&th[i], NULL, access_loop, (void *)i);
		chan_send(c.c2p[1], 'r');
		usleep(200000);
		if (!kill_it)
			_exit(0);	/* exit_group with threads mid-ioctl */
		for (;;)
			pause();
	}
	chan_recv(c.c2p[0]);
	if (kill_it) {
		usleep(200000);
		kill(pid, SIGKILL);
	}
	if (waitpid(pid, &status, 0) != pid)
		FAIL("waitpid: %s", strerror(errno));
	if (kill_it)
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "child status 0x%x", status);
	else
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status 0x%x", status);
	wait_no_mrs(pid, kill_it ? "after SIGKILL during device access" :
				   "after exit during device access");
}

static int exit_during_access(void)
{
	teardown_during_access(0);
	return T_PASS;
}

static int kill_during_access(void)
{
	teardown_during_access(1);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "exit_live_mrs", exit_live_mrs },
	{ "close_live_mrs", close_live_mrs },
	{ "exit_fd_outlives_mm", exit_fd_outlives_mm },
	{ "exit_during_access", exit_during_access },
	{ "kill_during_access", kill_during_access },
};

TEST_MAIN(tests)
