/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the fuzzers: a seeded RNG, clocks, and the kernel log
 * watcher (the oracle: a WARN/BUG/oops/lockdep/KASAN line fails the run).
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* splitmix64: seeds, and derives independent streams (thread, session). */
static inline uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

struct rng {
	uint64_t s;
};

static inline void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	r->s = splitmix64(seed ^ splitmix64(stream + 1));
	if (!r->s)
		r->s = 1;
}

static inline uint64_t rnd64(struct rng *r)
{
	/* xorshift64* */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

static inline uint32_t rnd32(struct rng *r)
{
	return rnd64(r) >> 32;
}

/* Uniform in [0, n); 0 for n == 0. */
static inline uint64_t rnd_below(struct rng *r, uint64_t n)
{
	return n ? rnd64(r) % n : 0;
}

/* True with probability pct percent. */
static inline int chance(struct rng *r, unsigned int pct)
{
	return rnd_below(r, 100) < pct;
}

static inline void rnd_fill(struct rng *r, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len >= 8) {
		uint64_t v = rnd64(r);

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	while (len--)
		*p++ = rnd64(r);
}

static const uint64_t fuzz_boundary64[] = {
	0, 1, 2, 3, 7, 8, 63, 64, 255, 256, 4095, 4096, 4097, 8191, 16383, 16384,
	16385, 65535, 65536, 1ULL << 20, 1ULL << 30, 0x7fffffffULL, 0x80000000ULL,
	0xffffffffULL, 0x100000000ULL, 1ULL << 40, 0x7ffffffff000ULL,
	0x7fffffffffffULL, 0x800000000000ULL, 0xffff800000000000ULL,
	0xffffffff80000000ULL, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
	0xfffffffffffff000ULL, 0xfffffffffffffff8ULL, 0xffffffffffffffffULL,
};

static inline uint64_t rnd_boundary(struct rng *r)
{
	uint64_t v = fuzz_boundary64[rnd_below(r, sizeof(fuzz_boundary64) /
					       sizeof(fuzz_boundary64[0]))];

	switch (rnd_below(r, 6)) {
	case 0:
		return v - 1;
	case 1:
		return v + 1;
	default:
		return v;
	}
}

static inline uint32_t rnd_boundary32(struct rng *r)
{
	static const uint32_t v32[] = {
		0, 1, 2, 8, 16, 17, 32, 64, 65, 255, 256, 1024, 1025, 4096, 4097,
		65535, 65536, 65537, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
	};

	if (chance(r, 20))
		return rnd32(r);
	return v32[rnd_below(r, sizeof(v32) / sizeof(v32[0]))];
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static inline uint64_t now_ms(void)
{
	return now_ns() / 1000000;
}

/* ---- the kernel log ---------------------------------------------------- */

/* The same families of reports as tests/vm/run and tests/conftest.py. */
static const char *const fuzz_kernel_problems[] = {
	"WARNING:", "BUG:", "kernel BUG", "Oops", "general protection fault",
	"list_add corruption", "list_del corruption", "refcount_t:",
	"possible circular locking", "possible recursive locking", "lockdep",
	"KASAN", "UBSAN", "hung task", "blocked for more than", "Call Trace",
	"Kernel panic", "soft lockup", "hard LOCKUP", "detected stall",
};

/* Open /dev/kmsg at its end; -1 if it cannot be read (not root). */
static inline int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/*
 * Read the new kernel log records; print those that report a problem (and
 * the few before them) with @prefix.  Returns how many problem lines.
 */
static inline int kmsg_check(int fd, const char *prefix)
{
	static char ctx[8][512];
	static unsigned int nctx;
	char rec[8192];
	int bad = 0;

	if (fd < 0)
		return 0;
	for (;;) {
		ssize_t n = read(fd, rec, sizeof(rec) - 1);
		char *msg, *nl;
		size_t i;

		if (n < 0) {
			if (errno == EPIPE || errno == EINTR)
				continue;
			break;
		}
		if (n == 0)
			break;
		rec[n] = 0;
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		nl = strchr(msg, '\n');
		if (nl)
			*nl = 0;
		for (i = 0; i < sizeof(fuzz_kernel_problems) /
				sizeof(fuzz_kernel_problems[0]); i++)
			if (strstr(msg, fuzz_kernel_problems[i]))
				break;
		if (i < sizeof(fuzz_kernel_problems) / sizeof(fuzz_kernel_problems[0])) {
			if (!bad) {
				unsigned int k, m = nctx < 8 ? nctx : 8;

				for (k = 0; k < m; k++)
					fprintf(stderr, "%skernel: %s\n", prefix,
						ctx[(nctx - m + k) % 8]);
			}
			fprintf(stderr, "%sKERNEL PROBLEM: %s\n", prefix, msg);
			bad++;
		} else if (bad && bad < 60) {
			fprintf(stderr, "%skernel: %s\n", prefix, msg);
		}
		snprintf(ctx[nctx++ % 8], sizeof(ctx[0]), "%.500s", msg);
	}
	return bad;
}

#endif /* FUZZ_COMMON_H */
