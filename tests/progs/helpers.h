/* SPDX-License-Identifier: MIT */
/*
 * Shared boilerplate of the odp test programs.
 *
 * Every program holds a table of named tests.  `prog NAME` runs one test in
 * the calling process, `prog` runs them all (each in a forked child), `prog
 * -l` lists them.  Exit status, liburing-style: 0 pass, 1 fail, 77 skip.
 * A failing check prints exactly what differed on stderr.  Counters are
 * printed on stdout as `tag.name=value` tokens so that pytest can assert on
 * them as well (tests/conftest.py parses them).
 */
#ifndef ODP_TEST_HELPERS_H
#define ODP_TEST_HELPERS_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <odp.h>

#define T_PASS	0
#define T_FAIL	1
#define T_SKIP	77

#define DEBUGFS_DIR		"/sys/kernel/debug/odp"
#define DEBUGFS_STATS		DEBUGFS_DIR "/stats"
#define DEBUGFS_MRS		DEBUGFS_DIR "/mrs"
#define DEBUGFS_RETRY_HOOK	DEBUGFS_DIR "/retry_hook"

struct odp_test {
	const char *name;
	int (*fn)(void);
};

/* main() of every program. */
int run_tests(int argc, char **argv, const struct odp_test *tests, size_t n);
#define TEST_MAIN(table)						\
	int main(int argc, char **argv)					\
	{								\
		return run_tests(argc, argv, table,			\
				 sizeof(table) / sizeof(table[0]));	\
	}

/* ---- failure / skip reporting -------------------------------------- */

__attribute__((noreturn, format(printf, 3, 4)))
void t_fail(const char *file, int line, const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2)))
void t_skip(const char *fmt, ...);

#define FAIL(...)	t_fail(__FILE__, __LINE__, __VA_ARGS__)
#define SKIP(...)	t_skip(__VA_ARGS__)

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "check `%s` failed:\n", #cond);	\
			FAIL(__VA_ARGS__);				\
		}							\
	} while (0)

/* Compare two unsigned 64-bit values: EXPECT_U64(got, ==, want, "what"). */
#define EXPECT_U64(got, op, want, what)					\
	do {								\
		uint64_t _g = (uint64_t)(got), _w = (uint64_t)(want);	\
		if (!(_g op _w))					\
			FAIL("%s: got %llu, expected " #op " %llu",	\
			     (what), (unsigned long long)_g,		\
			     (unsigned long long)_w);			\
	} while (0)

/* A call returning 0 or a positive errno (libodp int functions). */
#define EXPECT_OK(call)							\
	do {								\
		int _r = (call);					\
		if (_r)							\
			FAIL("`" #call "` returned %d (%s), expected 0",	\
			     _r, strerror(_r));				\
	} while (0)

#define EXPECT_ERRNO(call, want)					\
	do {								\
		int _r = (call);					\
		if (_r != (want))					\
			FAIL("`" #call "` returned %d (%s), expected %d (%s)", \
			     _r, _r ? strerror(_r) : "success", (want),	\
			     strerror(want));				\
	} while (0)

/* ---- environment ---------------------------------------------------- */

extern long page_size;

/* Open /dev/odp (skip if missing) and allocate a PD. */
struct tctx {
	struct odp_context *ctx;
	struct odp_pd *pd;
	struct odp_device_attr attr;
};
void t_open(struct tctx *t);
void t_close(struct tctx *t);
/* A context bound to port 1 of @ibdev; SKIP without /dev/odp or @ibdev. */
struct odp_context *open_bound_device(const char *ibdev);

/* mmap wrappers that FAIL on error. */
void *map_anon(size_t len, int prot, int flags);
/* Anonymous private mapping aligned to `align` (a power of two). */
void *map_anon_aligned(size_t len, size_t align, int flags);
void unmap(void *addr, size_t len);
void xmadvise(void *addr, size_t len, int advice);
void xmprotect(void *addr, size_t len, int prot);

struct odp_mr *reg_mr(struct tctx *t, void *addr, size_t len, int access);
#define ACC_RW	(ODP_ACCESS_ON_DEMAND | ODP_ACCESS_LOCAL_WRITE)
#define ACC_RO	(ODP_ACCESS_ON_DEMAND)

/* Device access at a virtual address (iova == address). */
int dev_read(struct odp_mr *mr, const void *addr, void *buf, size_t len);
int dev_write(struct odp_mr *mr, void *addr, const void *buf, size_t len);

/* ---- patterned buffers ---------------------------------------------- */

/* Byte at offset off of the pattern with the given seed (never 0). */
static inline uint8_t pattern_byte(uint32_t seed, size_t off)
{
	uint32_t x = seed * 2654435761u + (uint32_t)off * 40503u +
		     (uint32_t)(off >> 12) * 977u;
	x ^= x >> 13;
	return (uint8_t)(x % 255u) + 1;
}
void fill_pattern(void *buf, size_t len, uint32_t seed);
/* FAIL with the first differing offset unless buf holds the pattern. */
void check_pattern(const void *buf, size_t len, uint32_t seed,
		   const char *what);
/* The same for the slice of the pattern starting at offset off. */
void check_pattern_off(const void *buf, size_t len, uint32_t seed, size_t off,
		       const char *what);
/* FAIL unless every byte of buf is val. */
void check_bytes(const void *buf, size_t len, uint8_t val, const char *what);

/* ---- counters ------------------------------------------------------- */

struct stats {
	uint64_t v[ODP_STAT_MAX];
};
void mr_stats(struct odp_mr *mr, struct stats *s);
void dev_stats(struct odp_context *ctx, struct stats *s);
/* d = b - a for counters; d.pages_mapped = b.pages_mapped (the gauge). */
void stats_delta(const struct stats *a, const struct stats *b,
		 struct stats *d);
/* Print `tag.name=value` for every counter of s, one line. */
void print_stats(const char *tag, const struct stats *s);
/* Delta of one MR since *before; prints it under tag and updates *before. */
void mr_delta(struct odp_mr *mr, struct stats *before, struct stats *d,
	      const char *tag);
#define D(d, name)	((d).v[ODP_STAT_##name])
const char *stat_name(unsigned int i);

/* ---- debugfs -------------------------------------------------------- */

/* Number of lines in DEBUGFS_MRS (-1 if unreadable). */
int debugfs_mr_count(void);
/* Number of lines of DEBUGFS_MRS whose pid is pid. */
int debugfs_mr_count_pid(pid_t pid);
/* Counters from DEBUGFS_STATS; returns how many were parsed. */
int debugfs_stats(struct stats *s);
/* Counters of one MR from DEBUGFS_MRS by handle and pid; 0 if found. */
int debugfs_mr_stats(uint32_t handle, pid_t pid, struct stats *s, char *line,
		     size_t linesz);
/* Read a small debugfs/sysfs file into buf (trailing newline stripped). */
int read_file(const char *path, char *buf, size_t size);
int write_file(const char *path, const char *s);

/* ---- misc ----------------------------------------------------------- */

uint64_t now_ms(void);
uint64_t now_us(void);
/* Poll until the MR's counter idx reaches at least want; FAIL on timeout. */
void wait_mr_stat(struct odp_mr *mr, unsigned int idx, uint64_t want,
		  unsigned int timeout_ms, struct stats *out);
/* Pipe-based parent/child handshake. */
struct chan {
	int p2c[2];
	int c2p[2];
};
void chan_init(struct chan *c);
/*
 * fork() for a test's helper child: the child dies with the parent
 * (PR_SET_PDEATHSIG) and each side closes the pipe ends it does not use, so
 * a failing parent never leaves a child (holding the fd) behind.
 */
pid_t fork_child(struct chan *c);
void chan_send(int fd, char msg);
/* Read one message; FAIL on EOF or after 60 s. */
char chan_recv(int fd);
/* Wait for child pid; FAIL unless it exited with status 0. */
void wait_child_ok(pid_t pid, const char *what);
/* Whether the kernel has THP / hugetlb / 2 NUMA nodes available. */
int thp_available(void);
long hugetlb_free_pages(void);
int numa_node_count(void);
/* kB of AnonHugePages of the VMA containing addr (from /proc/self/smaps). */
long smaps_anon_huge_kb(const void *addr);

#endif /* ODP_TEST_HELPERS_H */
