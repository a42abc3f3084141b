// SPDX-License-Identifier: MIT
/*
 * The OOM reaper's non-blockable invalidation.
 *
 * process_mrelease(2) runs the OOM reaper's __oom_reap_task_mm() on a killed
 * process, which invalidates with mmu_notifier_invalidate_range_start_nonblock()
 * exactly as the OOM reaper does, without an OOM kill (whose stack dump would
 * look like a kernel problem to the harness).
 *
 * A killed process frees its memory itself as it exits, so the victim keeps
 * one thread parked in the retry hook (in the kernel, uninterruptible,
 * holding no lock and no pages): its mm stays up for the reap.  Nothing is
 * in flight, so the driver must take the non-blockable invalidation (not
 * refuse it as mlx5 and rxe do) and process_mrelease() must return 0.
 *
 * With the thread parked in a device access that holds its pages in flight
 * instead ("arm_inflight"), the reap cannot be taken without waiting: the
 * driver must refuse it and process_mrelease() fails with EAGAIN.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open		434
#endif
#ifndef SYS_process_mrelease
#define SYS_process_mrelease	448
#endif

#define VICTIM_PAGES	64

struct parked_read {
	struct odp_mr *mr;
	void *addr;
};

static void *parked_read(void *arg)
{
	struct parked_read *p = arg;
	char byte;

	/* Parks in the retry hook; it ends when the process dies. */
	dev_read(p->mr, p->addr, &byte, 1);
	return NULL;
}

static void hook_wait(const char *want, unsigned int timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	char st[32];

	for (;;) {
		CHECK(read_file(DEBUGFS_RETRY_HOOK, st, sizeof(st)) >= 0,
		      "cannot read %s", DEBUGFS_RETRY_HOOK);
		if (!strcmp(st, want))
			return;
		if (now_ms() > end)
			FAIL("retry_hook reads '%s' after %u ms, expected '%s'",
			     st, timeout_ms, want);
		usleep(10000);
	}
}

struct victim_plan {
	const char *arm;	/* "arm" or "arm_inflight" */
	int park_in_mr;		/* park in the mapped MR itself */
};

/* The victim: a mapped MR, and one thread parked in the retry hook. */
static void victim(struct chan *c, const struct victim_plan *plan)
{
	size_t len = VICTIM_PAGES * page_size;
	struct parked_read p;
	struct odp_mr *mr, *mr2;
	struct tctx t;
	pthread_t th;
	char *buf, *other, *copy;

	t_open(&t);
	buf = map_anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	other = map_anon(page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	mr2 = reg_mr(&t, other, page_size, ACC_RW);
	fill_pattern(buf, len, 1);
	copy = malloc(len);
	CHECK(copy, "malloc");
	EXPECT_OK(dev_read(mr, buf, copy, len));
	check_pattern(copy, len, 1, "victim device read");
	free(copy);

	CHECK(!write_file(DEBUGFS_RETRY_HOOK, plan->arm), "%s the retry hook",
	      plan->arm);
	p.mr = plan->park_in_mr ? mr : mr2;
	p.addr = plan->park_in_mr ? buf : other;
	CHECK(!pthread_create(&th, NULL, parked_read, &p), "pthread_create");
	hook_wait("parked", 8000);
	chan_send(c->c2p[1], 'r');
	for (;;)
		pause();
}

/* Kill the victim, reap it; return process_mrelease()'s errno (0: done). */
static int kill_and_reap(const struct victim_plan *plan, struct stats *d)
{
	struct stats before, after;
	int pidfd, ret, err, status;
	struct chan c;
	pid_t pid;

	if (access(DEBUGFS_RETRY_HOOK, W_OK))
		SKIP("no %s", DEBUGFS_RETRY_HOOK);
	CHECK(debugfs_stats(&before) > 0, "read %s", DEBUGFS_STATS);

	chan_init(&c);
	pid = fork_child(&c);
	if (!pid) {
		victim(&c, plan);
		_exit(T_FAIL);
	}
	CHECK(chan_recv(c.c2p[0]) == 'r', "victim not ready");
	CHECK(debugfs_mr_count_pid(pid) == 2, "victim has %d MRs, expected 2",
	      debugfs_mr_count_pid(pid));

	pidfd = syscall(SYS_pidfd_open, pid, 0);
	CHECK(pidfd >= 0, "pidfd_open: %s", strerror(errno));
	CHECK(!kill(pid, SIGKILL), "kill: %s", strerror(errno));
	ret = syscall(SYS_process_mrelease, pidfd, 0);
	err = ret ? errno : 0;
	if (err == ENOSYS)
		SKIP("process_mrelease not supported");
	CHECK(debugfs_stats(&after) > 0, "read %s", DEBUGFS_STATS);

	/* Let the parked thread go now instead of after its 10 s timeout. */
	write_file(DEBUGFS_RETRY_HOOK, "release");
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	      "victim status 0x%x, expected killed by SIGKILL", status);
	close(pidfd);
	CHECK(debugfs_mr_count_pid(pid) == 0, "the victim's MRs outlived it");

	stats_delta(&before, &after, d);
	print_stats("reap.", d);
	printf("mrelease_errno=%d\n", err);
	return err;
}

static int nonblock_reap(void)
{
	static const struct victim_plan plan = { "arm", 0 };
	struct stats d;

	/* EAGAIN would mean the driver refused the non-blockable range. */
	EXPECT_ERRNO(kill_and_reap(&plan, &d), 0);
	EXPECT_U64(D(d, NONBLOCK_INVALIDATIONS), >=, 1,
		   "non-blockable invalidations during the reap");
	EXPECT_U64(D(d, NONBLOCK_REFUSED), ==, 0,
		   "non-blockable invalidations refused");
	EXPECT_U64(D(d, PAGES_INVALIDATED), >=, VICTIM_PAGES,
		   "pages invalidated by the reap");
	return T_PASS;
}

static int nonblock_refused_inflight(void)
{
	static const struct victim_plan plan = { "arm_inflight", 1 };
	struct stats d;

	/* The reap would free pages a device access is using: refuse it. */
	EXPECT_ERRNO(kill_and_reap(&plan, &d), EAGAIN);
	EXPECT_U64(D(d, NONBLOCK_REFUSED), >=, 1,
		   "non-blockable invalidations refused");
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "nonblock_reap", nonblock_reap },
	{ "nonblock_refused_inflight", nonblock_refused_inflight },
};

TEST_MAIN(tests)
