// SPDX-License-Identifier: MIT
/*
 * Kernel memory and RDMA resources that a process makes the driver allocate
 * are charged to its cgroup, so that cgroup limits hold.
 *
 * memcg_*: an unprivileged process (uid 65534) in a child cgroup with
 * memory.max = 64 MiB creates objects through /dev/odp.  Max-size CQs (a
 * multi-MiB ring each) until a create fails: the machine's MemAvailable must
 * not fall by much more than the limit, the cgroup's memory.peak must show
 * the rings, and the creation must stop with ENOMEM: not with the cgroup's
 * OOM killer, nor with an allocation-failure splat in the kernel log (both
 * fail the test).  MRs and QPs: memory.current must grow by most of the slab
 * memory they take.
 *
 * rdmacg_*: a child cgroup with rdma.max "rxe0 hca_handle=1 hca_object=2".
 * Binding a context to rxe0 charges one hca_handle; each QP and each
 * listener one hca_object; going over fails with EAGAIN, destroying gives
 * the charge back.
 *
 * The test process (root) makes the cgroup, forks the child that joins it
 * and drops to uid/gid 65534, and reads the cgroup's files while the child's
 * objects are alive.  Every wait is bounded; the cgroup is removed at exit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uapi/odp_abi.h>

#include "helpers.h"

#define CG_ROOT		"/sys/fs/cgroup"
#define IBDEV		"rxe0"
#define LISTEN_ADDR	"10.99.0.1"
#define NOBODY		65534

#define MiB		(1024ULL * 1024)
#define MEM_LIMIT	(64 * MiB)
/* MemAvailable may fall by at most this (the limit plus slack)... */
#define AVAIL_DROP_MAX	(96 * MiB)
/* ...and the cgroup must have been charged at least this. */
#define PEAK_MIN	(32 * MiB)
/* HEAD runs away: stop creating once MemAvailable fell by this. */
#define AVAIL_DROP_STOP	(3 * MEM_LIMIT)
#define MAX_CQE		65536
#define MAX_CQS		400

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? errno : 0;
}

/* ---- cgroup --------------------------------------------------------- */

static char cg_dir[256];
static pid_t cg_child;

static void cg_path(char *buf, size_t size, const char *file)
{
	snprintf(buf, size, "%s/%s", cg_dir, file);
}

static int cg_read(const char *file, char *buf, size_t size)
{
	char p[320];

	cg_path(p, sizeof(p), file);
	return read_file(p, buf, size);
}

static unsigned long long cg_read_u64(const char *file)
{
	char buf[64];

	if (cg_read(file, buf, sizeof(buf)) < 0)
		FAIL("read %s/%s: %s", cg_dir, file, strerror(errno));
	return strtoull(buf, NULL, 0);
}

static void cg_write(const char *file, const char *val)
{
	char p[320];
	int r;

	cg_path(p, sizeof(p), file);
	r = write_file(p, val);
	if (r)
		FAIL("write '%s' to %s: %s", val, p, strerror(-r));
}

/* "key value" line of a flat-keyed file such as memory.events. */
static unsigned long long cg_read_key(const char *file, const char *key)
{
	char buf[4096], *p;
	size_t klen = strlen(key);

	if (cg_read(file, buf, sizeof(buf)) < 0)
		return 0;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, klen) && p[klen] == ' ')
			return strtoull(p + klen + 1, NULL, 0);
	return 0;
}

/* rdma.max of cg_dir was set (cg_cleanup() lifts it before rmdir). */
static int rdma_limited;

static void cg_cleanup(void)
{
	int i, status;

	if (cg_child > 0) {
		kill(cg_child, SIGKILL);
		for (i = 0; i < 1000 && waitpid(cg_child, &status, WNOHANG) == 0; i++)
			usleep(10000);
		cg_child = 0;
	}
	if (cg_dir[0]) {
		/*
		 * Lift rdma.max first: that frees the (cgroup, device) pool
		 * it made.  Linux 6.12 keeps a pool with limits and no usage
		 * on the device's list after rmdir frees the cgroup, and
		 * unregistering the device (rdma link del) later hits
		 * "list_del corruption" in rdmacg_unregister_device() - a
		 * kernel bug, not the driver's; the suite must not trip it.
		 */
		if (rdma_limited) {
			char p[320];

			rdma_limited = 0;
			cg_path(p, sizeof(p), "rdma.max");
			write_file(p, IBDEV " hca_handle=max hca_object=max");
		}
		for (i = 0; i < 200 && rmdir(cg_dir) && errno == EBUSY; i++)
			usleep(10000);
		cg_dir[0] = 0;
	}
}

/* A fresh child cgroup of the root with controller ctl enabled. */
static void cg_create(const char *name, const char *ctl)
{
	char buf[256], want[32];
	int r;

	if (geteuid())
		SKIP("needs root (cgroup setup)");
	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing (odp.ko not loaded)");
	if (read_file(CG_ROOT "/cgroup.controllers", buf, sizeof(buf)) < 0)
		SKIP("no cgroup2 at %s", CG_ROOT);
	if (!strstr(buf, ctl))
		SKIP("cgroup controller %s not available (%s)", ctl, buf);
	snprintf(want, sizeof(want), "+%s", ctl);
	r = write_file(CG_ROOT "/cgroup.subtree_control", want);
	if (r)
		FAIL("enable %s in %s/cgroup.subtree_control: %s", ctl, CG_ROOT,
		     strerror(-r));
	snprintf(cg_dir, sizeof(cg_dir), "%s/odp-%s-%d", CG_ROOT, name, getpid());
	if (mkdir(cg_dir, 0755))
		FAIL("mkdir %s: %s", cg_dir, strerror(errno));
	atexit(cg_cleanup);
}

/* ---- parent / child ------------------------------------------------- */

/* Shared between the test process and the child (MAP_SHARED). */
struct shared {
	volatile int phase;	/* set by the child */
	volatile int go;	/* set by the parent */
	int err;		/* errno that stopped the child's loop */
	int capped;		/* HEAD: stopped by us, not by the driver */
	unsigned long count;
	unsigned long long avail_drop;	/* max MemAvailable drop seen, bytes */
	char msg[256];		/* the child's failure */
};

static struct shared *sh;

static void shared_map(void)
{
	sh = mmap(NULL, (size_t)page_size, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		FAIL("mmap: %s", strerror(errno));
	memset(sh, 0, (size_t)page_size);
}

static unsigned long long mem_available(void)
{
	char line[128];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		FAIL("/proc/meminfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

/* Slab of /proc/meminfo (all slab caches of the machine), bytes. */
static unsigned long long meminfo_slab(void)
{
	char line[128];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		FAIL("/proc/meminfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static void child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void child_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sh->msg, sizeof(sh->msg), fmt, ap);
	va_end(ap);
	__atomic_store_n(&sh->phase, 99, __ATOMIC_RELEASE);
	_exit(T_FAIL);
}

static void child_phase(int phase)
{
	__atomic_store_n(&sh->phase, phase, __ATOMIC_RELEASE);
}

/* The child waits (bounded) for the parent's go >= n. */
static void child_wait_go(int n)
{
	uint64_t end = now_ms() + 120000;

	while (__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE) < n) {
		if (now_ms() > end)
			child_fail("no word from the test process for 120 s");
		usleep(2000);
	}
}

/*
 * Fork the child: it joins the cgroup, drops to uid/gid 65534 and runs fn,
 * which reports through sh.
 */
static void start_child(void (*fn)(void), int drop)
{
	pid_t parent = getpid();
	char pid[32], procs[320];
	int r;

	fflush(stdout);
	cg_child = fork();
	if (cg_child < 0)
		FAIL("fork: %s", strerror(errno));
	if (cg_child)
		return;

	snprintf(pid, sizeof(pid), "%d", getpid());
	cg_path(procs, sizeof(procs), "cgroup.procs");
	cg_dir[0] = 0;		/* the test process cleans up, not the child */
	r = write_file(procs, pid);
	if (r)
		child_fail("join %s: %s", procs, strerror(-r));
	if (drop && (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		     setresuid(NOBODY, NOBODY, NOBODY)))
		child_fail("drop to uid %d: %s", NOBODY, strerror(errno));
	/* After the credential change, which clears it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	alarm(300);
	fn();
	_exit(0);
}

/*
 * Wait until the child reached phase, exited, or ms passed.  Returns 1 if it
 * reached phase, 0 if it exited (*status set), -1 on timeout.
 */
static int parent_wait(int phase, unsigned int ms, int *status)
{
	uint64_t end = now_ms() + ms;
	int p;

	for (;;) {
		p = __atomic_load_n(&sh->phase, __ATOMIC_ACQUIRE);
		if (p == 99)
			FAIL("child: %s", sh->msg);
		if (p >= phase)
			return 1;
		if (waitpid(cg_child, status, WNOHANG) == cg_child) {
			cg_child = 0;
			return 0;
		}
		if (now_ms() > end)
			return -1;
		usleep(2000);
	}
}

static void parent_go(int n)
{
	__atomic_store_n(&sh->go, n, __ATOMIC_RELEASE);
}

/* Let the child finish; FAIL unless it exits 0 within 60 s. */
static void child_finish(int n)
{
	uint64_t end = now_ms() + 60000;
	int status;

	parent_go(n);
	while (waitpid(cg_child, &status, WNOHANG) == 0) {
		if (now_ms() > end)
			FAIL("the child did not exit within 60 s");
		usleep(5000);
	}
	cg_child = 0;
	if (sh->phase == 99)
		FAIL("child: %s", sh->msg);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		FAIL("the child ended with status 0x%x", status);
}

static int child_open(void)
{
	int fd = open("/dev/odp", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		child_fail("open /dev/odp as uid %d: %s", getuid(), strerror(errno));
	return fd;
}

static void child_bind(int fd)
{
	struct odp_abi_bind_device a = { .name = IBDEV, .port_num = 1 };
	int r = xioctl(fd, ODP_IOC_BIND_DEVICE, &a);

	if (r)
		child_fail("BIND_DEVICE %s: %s", IBDEV, strerror(r));
}

static uint32_t child_pd(int fd)
{
	struct odp_abi_alloc_pd a = { 0 };
	int r = xioctl(fd, ODP_IOC_ALLOC_PD, &a);

	if (r)
		child_fail("ALLOC_PD: %s", strerror(r));
	return a.pd_handle;
}

static uint32_t child_cq(int fd, uint32_t cqe)
{
	struct odp_abi_create_cq a = { .cqe = cqe };
	int r = xioctl(fd, ODP_IOC_CREATE_CQ, &a);

	if (r)
		child_fail("CREATE_CQ(%u): %s", cqe, strerror(r));
	return a.cq_handle;
}

static int create_qp(int fd, uint32_t pd, uint32_t cq, uint32_t *handle)
{
	struct odp_abi_create_qp a = {
		.pd_handle = pd, .send_cq = cq, .recv_cq = cq,
		.max_send_wr = 1, .max_recv_wr = 1,
		.max_send_sge = 1, .max_recv_sge = 1,
	};
	int r = xioctl(fd, ODP_IOC_CREATE_QP, &a);

	if (!r && handle)
		*handle = a.qp_handle;
	return r;
}

static int destroy(int fd, unsigned long req, uint32_t handle)
{
	uint32_t a[2] = { handle, 0 };

	return xioctl(fd, req, a);
}

/* ---- memcg: CQ rings until the limit -------------------------------- */

static unsigned long long avail_base;

static void cq_child(void)
{
	int fd = child_open();
	unsigned long long drop;
	unsigned long i;
	int r = 0;

	child_phase(1);
	for (i = 0; i < MAX_CQS; i++) {
		struct odp_abi_create_cq a = { .cqe = MAX_CQE };

		r = xioctl(fd, ODP_IOC_CREATE_CQ, &a);
		if (r)
			break;
		sh->count = i + 1;
		drop = avail_base - mem_available();
		if ((long long)drop > (long long)sh->avail_drop)
			sh->avail_drop = drop;
		if ((long long)drop > (long long)AVAIL_DROP_STOP) {
			sh->capped = 1;
			break;
		}
	}
	sh->err = r;
	child_phase(2);
	child_wait_go(1);
	close(fd);
}

static int memcg_cq(void)
{
	unsigned long long peak, cur, drop_now, oom_kills;
	char limit[32];
	int status = 0, w;

	cg_create("memcg-cq", "memory");
	snprintf(limit, sizeof(limit), "%llu", MEM_LIMIT);
	cg_write("memory.max", limit);
	cg_write("memory.swap.max", "0");
	shared_map();
	avail_base = mem_available();

	start_child(cq_child, 1);
	w = parent_wait(2, 240000, &status);
	if (w < 0)
		FAIL("the child created %lu CQs and was not done after 240 s",
		     sh->count);
	drop_now = avail_base - mem_available();
	if ((long long)drop_now > (long long)sh->avail_drop)
		sh->avail_drop = drop_now;
	cur = cg_read_u64("memory.current");
	peak = cg_read_u64("memory.peak");
	oom_kills = cg_read_key("memory.events", "oom_kill");
	printf("cqs=%lu cq_errno=%d capped=%d child_killed=%d oom_kill=%llu "
	       "avail_drop_mib=%llu memcg_peak_mib=%llu memcg_current_mib=%llu\n",
	       sh->count, sh->err, sh->capped,
	       w == 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0, oom_kills,
	       (unsigned long long)((long long)sh->avail_drop > 0 ? sh->avail_drop / MiB : 0),
	       peak / MiB, cur / MiB);

	if (sh->capped)
		FAIL("an unprivileged process in a cgroup with memory.max 64 MiB "
		     "created %lu CQs of %d entries, MemAvailable fell by %llu MiB "
		     "and nothing failed; the cgroup's memory.peak is %llu MiB: "
		     "the CQ rings are not charged to it", sh->count, MAX_CQE,
		     sh->avail_drop / MiB, peak / MiB);
	if ((long long)sh->avail_drop > (long long)AVAIL_DROP_MAX)
		FAIL("MemAvailable fell by %llu MiB (limit 64 MiB, bound %llu MiB)",
		     sh->avail_drop / MiB, AVAIL_DROP_MAX / MiB);
	if (peak < PEAK_MIN)
		FAIL("the cgroup's memory.peak is %llu MiB after %lu CQs: the rings "
		     "were not charged to it (expected > %llu MiB)", peak / MiB,
		     sh->count, PEAK_MIN / MiB);
	if (w == 0)
		FAIL("the child was ended (status 0x%x, the cgroup's oom_kill count "
		     "%llu) after %lu CQs instead of getting ENOMEM: a create over "
		     "memory.max must fail, not invoke the OOM killer (the ring "
		     "allocation wants __GFP_RETRY_MAYFAIL or __GFP_NORETRY, and "
		     "__GFP_NOWARN)", status, oom_kills, sh->count);
	if (sh->count >= MAX_CQS)
		FAIL("%d CQs created, none failed", MAX_CQS);
	if (sh->err != ENOMEM)
		FAIL("creating CQ %lu failed with %d (%s), expected ENOMEM",
		     sh->count + 1, sh->err, strerror(sh->err));
	child_finish(1);
	return T_PASS;
}

/* ---- memcg: charge per MR / per QP ---------------------------------- */

static unsigned long acct_count(const char *env, unsigned long def)
{
	const char *s = getenv(env);
	long v = s ? strtol(s, NULL, 0) : 0;

	return v > 0 ? (unsigned long)v : def;
}

static unsigned long n_objs;

static void mr_child(void)
{
	int fd = child_open();
	uint32_t pd = child_pd(fd);
	char *page = mmap(NULL, (size_t)page_size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long i;
	int r = 0;

	if (page == MAP_FAILED)
		child_fail("mmap: %s", strerror(errno));
	memset(page, 1, (size_t)page_size);
	child_phase(1);
	child_wait_go(1);
	for (i = 0; i < n_objs; i++) {
		struct odp_abi_reg_mr a = {
			.addr = (uintptr_t)page, .length = (uint64_t)page_size,
			.pd_handle = pd,
			.access = ODP_ABI_ACCESS_ON_DEMAND | ODP_ABI_ACCESS_LOCAL_WRITE,
		};

		r = xioctl(fd, ODP_IOC_REG_MR, &a);
		if (r)
			break;
	}
	sh->count = i;
	sh->err = r;
	child_phase(2);
	child_wait_go(2);
	close(fd);
}

static void qp_child(void)
{
	int fd = child_open();
	uint32_t pd, cq;
	unsigned long i;
	int r = 0;

	child_bind(fd);
	pd = child_pd(fd);
	cq = child_cq(fd, 16);
	child_phase(1);
	child_wait_go(1);
	for (i = 0; i < n_objs; i++) {
		r = create_qp(fd, pd, cq, NULL);
		if (r)
			break;
	}
	sh->count = i;
	sh->err = r;
	child_phase(2);
	child_wait_go(2);
	close(fd);
}

/*
 * n objects made by the child in the cgroup: memory.current must grow by at
 * least half of what the machine's slab grew by, and by min_each per object.
 */
static int memcg_objects(const char *what, void (*fn)(void), unsigned long n,
			 unsigned long min_each)
{
	unsigned long long cur0, cur1, slab0, slab1, charged, slab;
	char limit[32], name[32];
	int status;

	snprintf(name, sizeof(name), "memcg-%s", what);
	cg_create(name, "memory");
	snprintf(limit, sizeof(limit), "%llu", MEM_LIMIT);
	cg_write("memory.max", limit);
	shared_map();
	n_objs = n;

	start_child(fn, 1);
	if (parent_wait(1, 60000, &status) != 1)
		FAIL("the child did not get ready (status 0x%x)", status);
	cur0 = cg_read_u64("memory.current");
	slab0 = meminfo_slab();
	parent_go(1);
	if (parent_wait(2, 240000, &status) != 1)
		FAIL("the child did not finish %lu %ss (status 0x%x, %lu done)",
		     n, what, status, sh->count);
	cur1 = cg_read_u64("memory.current");
	slab1 = meminfo_slab();
	charged = cur1 > cur0 ? cur1 - cur0 : 0;
	slab = slab1 > slab0 ? slab1 - slab0 : 0;
	printf("%ss=%lu %s_errno=%d charged_kib=%llu slab_kib=%llu "
	       "charged_per_obj=%llu slab_per_obj=%llu\n", what, sh->count, what,
	       sh->err, charged / 1024, slab / 1024, charged / n, slab / n);
	if (sh->err || sh->count != n)
		FAIL("creating %s %lu failed: %s", what, sh->count + 1,
		     strerror(sh->err));
	if (charged < min_each * n || charged * 2 < slab)
		FAIL("%lu %ss took %llu KiB of slab but the creator's cgroup was "
		     "charged %llu KiB (%llu bytes per %s, expected >= %lu and >= "
		     "half the slab growth): the driver's allocations are not "
		     "accounted", n, what, slab / 1024, charged / 1024,
		     charged / n, what, min_each);
	child_finish(2);
	return T_PASS;
}

static int memcg_mr(void)
{
	return memcg_objects("mr", mr_child, acct_count("ODP_ACCT_MRS", 20000), 128);
}

static int memcg_qp(void)
{
	return memcg_objects("qp", qp_child, acct_count("ODP_ACCT_QPS", 4000), 128);
}

/* ---- rdma cgroup ---------------------------------------------------- */

/* hca_handle and hca_object of IBDEV in the cgroup's rdma.current. */
static void rdma_current(const char *dir, int *handles, int *objects)
{
	char p[320], buf[1024], *line;

	*handles = *objects = 0;
	snprintf(p, sizeof(p), "%s/rdma.current", dir);
	if (read_file(p, buf, sizeof(buf)) < 0)
		child_fail("read %s: %s", p, strerror(errno));
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char *s;

		if (strncmp(line, IBDEV " ", strlen(IBDEV) + 1))
			continue;
		s = strstr(line, "hca_handle=");
		if (s)
			*handles = atoi(s + strlen("hca_handle="));
		s = strstr(line, "hca_object=");
		if (s)
			*objects = atoi(s + strlen("hca_object="));
	}
}

static char child_cg[256];

static void show_rdma(const char *when)
{
	int h, o;

	rdma_current(child_cg, &h, &o);
	printf("%s: rdma.current hca_handle=%d hca_object=%d\n", when, h, o);
}

static void expect_rdma(int handles, int objects, const char *when)
{
	int h, o;

	rdma_current(child_cg, &h, &o);
	printf("%s: rdma.current hca_handle=%d hca_object=%d\n", when, h, o);
	if (h != handles || o != objects)
		child_fail("%s: rdma.current of the cgroup says hca_handle=%d "
			   "hca_object=%d, expected %d and %d", when, h, o,
			   handles, objects);
}

static void rdma_bind_child(void)
{
	struct odp_abi_bind_device a = { .name = IBDEV, .port_num = 1 };
	int fd1, fd2, r;

	expect_rdma(0, 0, "start");
	fd1 = child_open();
	child_bind(fd1);
	fd2 = child_open();
	r = xioctl(fd2, ODP_IOC_BIND_DEVICE, &a);
	printf("second_bind_errno=%d\n", r);
	if (r != EAGAIN) {
		show_rdma("after two binds");
		child_fail("a second context's BIND_DEVICE in a cgroup with "
			   "rdma.max hca_handle=1 returned %d (%s), expected EAGAIN",
			   r, r ? strerror(r) : "success");
	}
	expect_rdma(1, 0, "after the first bind");
	close(fd1);
	expect_rdma(0, 0, "after closing the bound context");
	r = xioctl(fd2, ODP_IOC_BIND_DEVICE, &a);
	if (r)
		child_fail("BIND_DEVICE after the first context was closed: %s",
			   strerror(r));
	expect_rdma(1, 0, "after the second bind");
	close(fd2);
	expect_rdma(0, 0, "after closing both");
}

static int listen_any(int fd, uint32_t *handle)
{
	struct odp_abi_listen a = { .port = 0, .backlog = 1 };
	int r;

	inet_pton(AF_INET, LISTEN_ADDR, &a.addr);
	r = xioctl(fd, ODP_IOC_LISTEN, &a);
	if (!r)
		*handle = a.listen_handle;
	return r;
}

static void rdma_objects_child(void)
{
	uint32_t pd, cq, qp1, qp2, qp3, ln1, ln2;
	int fd, r;

	fd = child_open();
	child_bind(fd);
	pd = child_pd(fd);
	cq = child_cq(fd, 16);
	show_rdma("bound, with a PD and a CQ");

	if ((r = create_qp(fd, pd, cq, &qp1)))
		child_fail("first QP: %s", strerror(r));
	show_rdma("one QP");
	if ((r = listen_any(fd, &ln1)))
		child_fail("first listener: %s", strerror(r));
	show_rdma("one QP and one listener");

	r = create_qp(fd, pd, cq, &qp2);
	printf("third_object_qp_errno=%d\n", r);
	if (r != EAGAIN)
		child_fail("a QP over rdma.max hca_object=2 (one QP and one listener "
			   "exist) returned %d (%s), expected EAGAIN", r,
			   r ? strerror(r) : "success");
	r = listen_any(fd, &ln2);
	printf("third_object_listen_errno=%d\n", r);
	if (r != EAGAIN)
		child_fail("a listener over rdma.max hca_object=2 returned %d (%s), "
			   "expected EAGAIN", r, r ? strerror(r) : "success");
	expect_rdma(1, 2, "one QP, one listener, after the refused creates");

	if ((r = destroy(fd, ODP_IOC_DESTROY_QP, qp1)))
		child_fail("DESTROY_QP: %s", strerror(r));
	expect_rdma(1, 1, "QP destroyed");
	if ((r = create_qp(fd, pd, cq, &qp2)))
		child_fail("a QP after one was destroyed: %s", strerror(r));
	if ((r = destroy(fd, ODP_IOC_DESTROY_LISTEN, ln1)))
		child_fail("DESTROY_LISTEN: %s", strerror(r));
	expect_rdma(1, 1, "listener destroyed");
	if ((r = create_qp(fd, pd, cq, &qp3)))
		child_fail("a QP after the listener was destroyed: %s", strerror(r));
	expect_rdma(1, 2, "two QPs");
	close(fd);	/* everything goes with the context */
	expect_rdma(0, 0, "context closed");
}

static int rdmacg_run(const char *name, void (*fn)(void))
{
	char val[64];

	cg_create(name, "rdma");
	snprintf(val, sizeof(val), "%s hca_handle=1 hca_object=2", IBDEV);
	cg_write("rdma.max", val);
	rdma_limited = 1;
	snprintf(child_cg, sizeof(child_cg), "%s", cg_dir);
	shared_map();
	start_child(fn, 1);
	/* The child does it all; wait for its end (bounded). */
	child_finish(0);
	return T_PASS;
}

static int rdmacg_bind(void)
{
	return rdmacg_run("rdmacg-bind", rdma_bind_child);
}

static int rdmacg_objects(void)
{
	return rdmacg_run("rdmacg-obj", rdma_objects_child);
}

static const struct odp_test tests[] = {
	{ "memcg_cq", memcg_cq },
	{ "memcg_mr", memcg_mr },
	{ "memcg_qp", memcg_qp },
	{ "rdmacg_bind", rdmacg_bind },
	{ "rdmacg_objects", rdmacg_objects },
};

TEST_MAIN(tests)
