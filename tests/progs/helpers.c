// SPDX-License-Identifier: MIT
/* Shared boilerplate of the odp test programs; see helpers.h. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

long page_size = 4096;
static const char *cur_test = "?";

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
	printf("skip_reason=%s\n", cur_test);
	exit(T_SKIP);
}

int run_tests(int argc, char **argv, const struct odp_test *tests, size_t n)
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
	/* Everything, each test in its own child. */
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

/* ---- environment ---------------------------------------------------- */

void t_open(struct tctx *t)
{
	memset(t, 0, sizeof(*t));
	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing (odp.ko not loaded)");
	t->ctx = odp_open_device(NULL);
	if (!t->ctx)
		FAIL("odp_open_device: %s", strerror(errno));
	EXPECT_OK(odp_query_device(t->ctx, &t->attr));
	t->pd = odp_alloc_pd(t->ctx);
	if (!t->pd)
		FAIL("odp_alloc_pd: %s", strerror(errno));
}

struct odp_context *open_bound_device(const char *ibdev)
{
	struct odp_context *ctx;
	int r;

	if (access("/dev/odp", F_OK))
		SKIP("/dev/odp missing (odp.ko not loaded)");
	ctx = odp_open_device(NULL);
	if (!ctx)
		FAIL("odp_open_device: %s", strerror(errno));
	r = odp_bind_device(ctx, ibdev, 1, NULL);
	if (r == ENODEV)
		SKIP("no RDMA device %s", ibdev);
	if (r)
		FAIL("odp_bind_device(%s): %s", ibdev, strerror(r));
	return ctx;
}

void t_close(struct tctx *t)
{
	if (t->pd)
		EXPECT_OK(odp_dealloc_pd(t->pd));
	if (t->ctx)
		EXPECT_OK(odp_close_device(t->ctx));
	t->pd = NULL;
	t->ctx = NULL;
}

void *map_anon(size_t len, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, MAP_ANONYMOUS | flags, -1, 0);

	if (p == MAP_FAILED)
		FAIL("mmap(%zu, flags 0x%x): %s", len, flags, strerror(errno));
	return p;
}

void *map_anon_aligned(size_t len, size_t align, int flags)
{
	size_t total = len + align;
	char *p = map_anon(total, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | flags);
	uintptr_t a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);

	if (a > (uintptr_t)p)
		unmap(p, a - (uintptr_t)p);
	if ((uintptr_t)p + total > a + len)
		unmap((void *)(a + len), (uintptr_t)p + total - (a + len));
	return (void *)a;
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

struct odp_mr *reg_mr(struct tctx *t, void *addr, size_t len, int access)
{
	struct odp_mr *mr = odp_reg_mr(t->pd, addr, len, access);

	if (!mr)
		FAIL("odp_reg_mr(%p, %zu, 0x%x): %s", addr, len, access,
		     strerror(errno));
	return mr;
}

int dev_read(struct odp_mr *mr, const void *addr, void *buf, size_t len)
{
	return odp_mr_read(mr, (uint64_t)(uintptr_t)addr, buf, len);
}

int dev_write(struct odp_mr *mr, void *addr, const void *buf, size_t len)
{
	return odp_mr_write(mr, (uint64_t)(uintptr_t)addr, buf, len);
}

/* ---- patterned buffers ---------------------------------------------- */

void fill_pattern(void *buf, size_t len, uint32_t seed)
{
	uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = pattern_byte(seed, i);
}

void check_pattern_off(const void *buf, size_t len, uint32_t seed, size_t off,
		       const char *what)
{
	const uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != pattern_byte(seed, off + i))
			FAIL("%s: byte %zu (page %zu) is 0x%02x, expected 0x%02x "
			     "(pattern seed %u)%s", what, i, i / page_size, b[i],
			     pattern_byte(seed, off + i), seed,
			     b[i] == 0 ? ", got a zero byte" : "");
}

void check_pattern(const void *buf, size_t len, uint32_t seed,
		   const char *what)
{
	check_pattern_off(buf, len, seed, 0, what);
}

void check_bytes(const void *buf, size_t len, uint8_t val, const char *what)
{
	const uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != val)
			FAIL("%s: byte %zu (page %zu) is 0x%02x, expected 0x%02x",
			     what, i, i / page_size, b[i], val);
}

/* ---- counters ------------------------------------------------------- */

static const char *const fallback_names[ODP_STAT_MAX] = {
	"faults", "pages_faulted", "invalidations", "pages_invalidated",
	"retries", "busy_retries", "prefetches", "nonblock_invalidations",
	"nonblock_refused", "accesses", "access_bytes", "fault_errors",
	"pages_mapped",
};

const char *stat_name(unsigned int i)
{
	const char *n = odp_stat_name(i);

	if (n)
		return n;
	return i < ODP_STAT_MAX ? fallback_names[i] : "?";
}

void mr_stats(struct odp_mr *mr, struct stats *s)
{
	int n;

	memset(s, 0, sizeof(*s));
	n = odp_query_mr_stats(mr, s->v, ODP_STAT_MAX);
	if (n != ODP_STAT_MAX)
		FAIL("odp_query_mr_stats(lkey 0x%x) returned %d (%s), expected %d",
		     mr->lkey, n, n < 0 ? strerror(errno) : "short",
		     ODP_STAT_MAX);
}

void dev_stats(struct odp_context *ctx, struct stats *s)
{
	int n;

	memset(s, 0, sizeof(*s));
	n = odp_query_device_stats(ctx, s->v, ODP_STAT_MAX);
	if (n != ODP_STAT_MAX)
		FAIL("odp_query_device_stats returned %d (%s), expected %d", n,
		     n < 0 ? strerror(errno) : "short", ODP_STAT_MAX);
}

void stats_delta(const struct stats *a, const struct stats *b,
		 struct stats *d)
{
	unsigned int i;

	for (i = 0; i < ODP_STAT_MAX; i++)
		d->v[i] = b->v[i] - a->v[i];
	d->v[ODP_STAT_PAGES_MAPPED] = b->v[ODP_STAT_PAGES_MAPPED];
}

void print_stats(const char *tag, const struct stats *s)
{
	unsigned int i;

	for (i = 0; i < ODP_STAT_MAX; i++)
		printf("%s%s%s=%llu", i ? " " : "", tag, stat_name(i),
		       (unsigned long long)s->v[i]);
	printf("\n");
}

void mr_delta(struct odp_mr *mr, struct stats *before, struct stats *d,
	      const char *tag)
{
	struct stats now;
	char prefix[64];

	mr_stats(mr, &now);
	stats_delta(before, &now, d);
	snprintf(prefix, sizeof(prefix), "%s.", tag);
	print_stats(prefix, d);
	*before = now;
}

/* ---- debugfs -------------------------------------------------------- */

int read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		buf[--n] = 0;
	return (int)n;
}

int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	close(fd);
	return 0;
}

static FILE *open_mrs(void)
{
	return fopen(DEBUGFS_MRS, "r");
}

int debugfs_mr_count(void)
{
	FILE *f = open_mrs();
	char *line = NULL;
	size_t cap = 0;
	int n = 0;

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0)
		if (!strncmp(line, "mr ", 3))
			n++;
	free(line);
	fclose(f);
	return n;
}

int debugfs_mr_count_pid(pid_t pid)
{
	FILE *f = open_mrs();
	char *line = NULL;
	size_t cap = 0;
	int n = 0;

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		unsigned int h;
		int p;

		if (sscanf(line, "mr %u pid %d", &h, &p) == 2 && p == pid)
			n++;
	}
	free(line);
	fclose(f);
	return n;
}

/* Parse ` name=value` tokens of a line into s. */
static void parse_counters(const char *line, struct stats *s)
{
	unsigned int i;

	for (i = 0; i < ODP_STAT_MAX; i++) {
		char key[64];
		const char *p;

		snprintf(key, sizeof(key), " %s=", stat_name(i));
		p = strstr(line, key);
		if (p)
			s->v[i] = strtoull(p + strlen(key), NULL, 0);
	}
}

int debugfs_mr_stats(uint32_t handle, pid_t pid, struct stats *s, char *out,
		     size_t outsz)
{
	FILE *f = open_mrs();
	char *line = NULL;
	size_t cap = 0;
	int ret = -1;

	memset(s, 0, sizeof(*s));
	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		unsigned int h;
		int p;

		if (sscanf(line, "mr %u pid %d", &h, &p) == 2 && h == handle &&
		    p == pid) {
			parse_counters(line, s);
			if (out) {
				snprintf(out, outsz, "%s", line);
				out[strcspn(out, "\n")] = 0;
			}
			ret = 0;
			break;
		}
	}
	free(line);
	fclose(f);
	return ret;
}

int debugfs_stats(struct stats *s)
{
	FILE *f = fopen(DEBUGFS_STATS, "r");
	char name[64];
	unsigned long long v;
	int n = 0;

	memset(s, 0, sizeof(*s));
	if (!f)
		return -1;
	while (fscanf(f, "%63s %llu", name, &v) == 2) {
		unsigned int i;

		for (i = 0; i < ODP_STAT_MAX; i++)
			if (!strcmp(name, stat_name(i))) {
				s->v[i] = v;
				n++;
			}
	}
	fclose(f);
	return n;
}

/* ---- misc ----------------------------------------------------------- */

uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t now_ms(void)
{
	return now_us() / 1000;
}

void wait_mr_stat(struct odp_mr *mr, unsigned int idx, uint64_t want,
		  unsigned int timeout_ms, struct stats *out)
{
	uint64_t end = now_ms() + timeout_ms;

	for (;;) {
		mr_stats(mr, out);
		if (out->v[idx] >= want)
			return;
		if (now_ms() > end)
			FAIL("%s stayed at %llu for %u ms, expected >= %llu",
			     stat_name(idx), (unsigned long long)out->v[idx],
			     timeout_ms, (unsigned long long)want);
		usleep(10000);
	}
}

void chan_init(struct chan *c)
{
	if (pipe(c->p2c) || pipe(c->c2p))
		FAIL("pipe: %s", strerror(errno));
}

void chan_send(int fd, char msg)
{
	if (write(fd, &msg, 1) != 1)
		FAIL("pipe write: %s", strerror(errno));
}

pid_t fork_child(struct chan *c)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		close(c->p2c[1]);
		close(c->c2p[0]);
	} else {
		close(c->p2c[0]);
		close(c->c2p[1]);
	}
	return pid;
}

char chan_recv(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char msg;
	ssize_t n;
	int r;

	do {
		r = poll(&pfd, 1, 60000);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		FAIL("pipe read: nothing from the other side for 60 s");
	do {
		n = read(fd, &msg, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		FAIL("pipe read: %s", n < 0 ? strerror(errno) : "EOF");
	return msg;
}

void wait_child_ok(pid_t pid, const char *what)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		FAIL("waitpid(%s): %s", what, strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("%s: child status 0x%x (exit %d, signal %d)", what, status,
		     WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		     WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int thp_available(void)
{
	char buf[256];

	if (read_file("/sys/kernel/mm/transparent_hugepage/enabled", buf,
		      sizeof(buf)) < 0)
		return 0;
	return strstr(buf, "[always]") || strstr(buf, "[madvise]");
}

long hugetlb_free_pages(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long free_pages = 0, size_kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Free: %ld", &free_pages);
		sscanf(line, "Hugepagesize: %ld", &size_kb);
	}
	fclose(f);
	return size_kb == 2048 ? free_pages : 0;
}

int numa_node_count(void)
{
	DIR *d = opendir("/sys/devices/system/node");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 1;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "node", 4) && isdigit(e->d_name[4]))
			n++;
	closedir(d);
	return n ? n : 1;
}

long smaps_anon_huge_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}
