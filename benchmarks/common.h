/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the benchmark programs: a monotonic clock, fatal
 * errors, fresh anonymous memory, comma-separated size lists, and the output
 * format.
 *
 * Output: JSON Lines on stdout, one object per sample, e.g.
 *   {"bench":"reg","impl":"odp","state":"touched","size":4096,"op":"reg","rep":0,"ns":1234.5}
 * The driver (run.py) groups the samples and computes medians, spreads and
 * ratios; the programs only measure.  Progress and errors go to stderr.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define KIB	(1024UL)
#define MIB	(1024UL * KIB)
#define GIB	(1024UL * MIB)
#define THP_SIZE (2 * MIB)

static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static inline size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

enum mem_kind {
	MEM_4K,		/* MADV_NOHUGEPAGE: 4 KiB pages only */
	MEM_THP,	/* 2 MiB aligned, MADV_HUGEPAGE */
	MEM_DEFAULT,	/* whatever the system's THP policy says */
};

/*
 * Fresh, untouched anonymous memory.  MAP_NORESERVE: no commit accounting,
 * so a VM with 3 GiB can map (and ODP-register) 4 GiB it never touches.
 * MEM_THP maps 2 MiB more and returns a 2 MiB aligned address; unmap_mem()
 * needs the same kind to find the real mapping.
 */
static inline void *map_mem(size_t len, enum mem_kind kind)
{
	size_t extra = kind == MEM_THP ? THP_SIZE : 0;
	char *p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		die("mmap %zu: %s", len, strerror(errno));
	a = p;
	if (kind == MEM_THP) {
		a = (char *)(((uintptr_t)p + THP_SIZE - 1) & ~(THP_SIZE - 1));
		/* Trim so the mapping is exactly [a, a + len). */
		if (a > p)
			munmap(p, (size_t)(a - p));
		if (a + len < p + len + extra)
			munmap(a + len, (size_t)(p + len + extra - (a + len)));
	}
	if (kind == MEM_4K && madvise(a, len, MADV_NOHUGEPAGE))
		die("madvise(MADV_NOHUGEPAGE): %s", strerror(errno));
	if (kind == MEM_THP && madvise(a, len, MADV_HUGEPAGE))
		die("madvise(MADV_HUGEPAGE): %s", strerror(errno));
	return a;
}

static inline void unmap_mem(void *p, size_t len)
{
	if (munmap(p, len))
		die("munmap: %s", strerror(errno));
}

/* One store per page: the CPU's own first touch. */
static inline void touch_pages(void *p, size_t len)
{
	volatile char *c = p;
	size_t ps = page_size();

	for (size_t off = 0; off < len; off += ps)
		c[off] = 1;
}

/* One load per page (maps the shared zero page on fresh anonymous memory). */
static inline unsigned long read_pages(const void *p, size_t len)
{
	const volatile char *c = p;
	size_t ps = page_size();
	unsigned long sum = 0;

	for (size_t off = 0; off < len; off += ps)
		sum += (unsigned long)c[off];
	return sum;
}

/* "4096,64K,1M,4G" -> sizes; returns the count (at most max). */
static inline int parse_sizes(const char *s, unsigned long *out, int max)
{
	int n = 0;

	while (*s && n < max) {
		char *end;
		unsigned long v = strtoul(s, &end, 0);

		switch (*end) {
		case 'k': case 'K': v *= KIB; end++; break;
		case 'm': case 'M': v *= MIB; end++; break;
		case 'g': case 'G': v *= GIB; end++; break;
		}
		if (end == s || (*end && *end != ','))
			die("bad size list: %s", s);
		out[n++] = v;
		s = *end ? end + 1 : end;
	}
	return n;
}

/*
 * A sample: the fixed keys plus free-form extra "key":value pairs, given as
 * a preformatted JSON fragment (may be "").
 */
static inline void sample(const char *bench, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void sample(const char *bench, const char *fmt, ...)
{
	va_list ap;

	printf("{\"bench\":\"%s\",", bench);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("}\n");
	fflush(stdout);
}

#endif /* BENCH_COMMON_H */
