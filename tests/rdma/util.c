// SPDX-License-Identifier: MIT
/* Transport-independent helpers of the RDMA tests; see rdma.h. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "rdma.h"

long page_size = 4096;
const char *cur_test = "?";
const char *cur_side = "?";
void (*fail_hook)(const char *text);

const char *const stat_names[NSTATS] = {
	"faults", "pages_faulted", "invalidations", "pages_invalidated",
	"retries", "busy_retries", "prefetches", "nonblock_invalidations",
	"nonblock_refused", "accesses", "access_bytes", "fault_errors",
	"pages_mapped",
};

void t_fail(const char *file, int line, const char *fmt, ...)
{
	static int failing;
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "FAIL %s %s (%s:%d): %s\n", cur_test, cur_side,
		file, line, text);
	printf("result=fail\n");
	fflush(stdout);
	if (fail_hook && !failing++)
		fail_hook(text);
	exit(T_FAIL);
}

void t_skip(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "SKIP %s %s: ", cur_test, cur_side);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	printf("result=skip\n");
	exit(T_SKIP);
}

void fill_pattern(void *buf, size_t len, uint32_t seed)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		b[i] = pattern_byte(seed, i);
}

long diff_pattern(const void *buf, size_t len, uint32_t seed)
{
	const uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		if (b[i] != pattern_byte(seed, i))
			return (long)i;
	return -1;
}

long diff_bytes(const void *buf, size_t len, uint8_t val)
{
	const uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		if (b[i] != val)
			return (long)i;
	return -1;
}

void check_pattern(const void *buf, size_t len, uint32_t seed,
		   const char *what)
{
	long i = diff_pattern(buf, len, seed);

	if (i >= 0)
		FAIL("%s: byte %ld of %zu is 0x%02x, expected 0x%02x (pattern "
		     "seed %u)%s", what, i, len, ((const uint8_t *)buf)[i],
		     pattern_byte(seed, (size_t)i), seed,
		     ((const uint8_t *)buf)[i] ? "" : ", a zero byte");
}

void check_bytes(const void *buf, size_t len, uint8_t val, const char *what)
{
	long i = diff_bytes(buf, len, val);

	if (i >= 0)
		FAIL("%s: byte %ld of %zu is 0x%02x, expected 0x%02x", what, i,
		     len, ((const uint8_t *)buf)[i], val);
}

void map_create(struct mapping *m, size_t len, int kind)
{
	int flags = kind == MAP_KIND_PRIVATE ? MAP_PRIVATE : MAP_SHARED;

	m->len = (len + page_size - 1) / page_size * page_size;
	m->kind = kind;
	m->fd = -1;
	if (kind == MAP_KIND_MEMFD) {
		m->fd = memfd_create("rdma_ops", MFD_CLOEXEC);
		if (m->fd < 0)
			FAIL("memfd_create: %s", strerror(errno));
		if (ftruncate(m->fd, (off_t)m->len))
			FAIL("ftruncate(memfd, %zu): %s", m->len, strerror(errno));
	} else {
		flags |= MAP_ANONYMOUS;
	}
	m->addr = mmap(NULL, m->len, PROT_READ | PROT_WRITE, flags, m->fd, 0);
	if (m->addr == MAP_FAILED)
		FAIL("mmap(%zu, kind %d): %s", m->len, kind, strerror(errno));
}

void map_destroy(struct mapping *m)
{
	if (m->addr && m->addr != MAP_FAILED)
		munmap(m->addr, m->len);
	if (m->fd >= 0)
		close(m->fd);
	m->addr = NULL;
	m->fd = -1;
}

void map_remap(struct mapping *m, size_t off, size_t len)
{
	int flags = MAP_FIXED |
		    (m->kind == MAP_KIND_PRIVATE ? MAP_PRIVATE : MAP_SHARED);
	void *p;

	if (m->kind != MAP_KIND_MEMFD)
		flags |= MAP_ANONYMOUS;
	if (munmap(m->addr + off, len))
		FAIL("munmap: %s", strerror(errno));
	p = mmap(m->addr + off, len, PROT_READ | PROT_WRITE, flags, m->fd,
		 m->kind == MAP_KIND_MEMFD ? (off_t)off : 0);
	if (p != m->addr + off)
		FAIL("mmap(MAP_FIXED) again: %s", strerror(errno));
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sleep_us(unsigned int us)
{
	struct timespec ts = {
		.tv_sec = us / 1000000,
		.tv_nsec = (long)(us % 1000000) * 1000,
	};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void stats_delta(const struct stats *a, const struct stats *b,
		 struct stats *d)
{
	for (int i = 0; i < NSTATS; i++)
		d->v[i] = b->v[i] - a->v[i];
	d->v[ST_PAGES_MAPPED] = b->v[ST_PAGES_MAPPED];
}

void print_stats(const char *tag, const struct stats *s)
{
	for (int i = 0; i < NSTATS; i++)
		printf("%s%s.%s=%llu", i ? " " : "", tag, stat_names[i],
		       (unsigned long long)s->v[i]);
	printf("\n");
}
