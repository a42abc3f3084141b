// SPDX-License-Identifier: MIT
/* Huge pages under an MR: THP (anonymous) and hugetlb (anonymous and file). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "helpers.h"

#define HPAGE		(2UL << 20)
#define HUGETLBFS_MAGIC_	0x958458f6
#define HUGETLBFS_DIR	"/dev/hugepages"

static void need_thp(void)
{
	if (!thp_available())
		SKIP("THP unavailable (transparent_hugepage/enabled is never or missing)");
}

static uint64_t entries(struct tctx *t, size_t len)
{
	return len / (t->attr.page_size ? t->attr.page_size : page_size);
}

/* A THP the CPU faulted in: device fault, write, split, zap. */
static int thp_fault_invalidate(void)
{
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out, *in;
	size_t ps = page_size;
	long kb;

	need_thp();
	t_open(&t);
	buf = map_anon_aligned(HPAGE, HPAGE, 0);
	xmadvise(buf, HPAGE, MADV_HUGEPAGE);
	fill_pattern(buf, HPAGE, 40);
	kb = smaps_anon_huge_kb(buf);
	printf("anon_huge_kb=%ld\n", kb);
	if (kb < 2048)
		SKIP("the kernel gave no THP for an aligned MADV_HUGEPAGE region (AnonHugePages %ld kB)", kb);

	mr = reg_mr(&t, buf, HPAGE, ACC_RW);
	out = malloc(HPAGE);
	in = malloc(HPAGE);
	mr_stats(mr, &s);
	EXPECT_OK(dev_read(mr, buf, out, HPAGE));
	check_pattern(out, HPAGE, 40, "device read of a THP");
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, FAULTS), >=, 1, "faults");
	EXPECT_U64(D(d, PAGES_FAULTED), ==, entries(&t, HPAGE), "pages_faulted of a 2 MiB THP");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, entries(&t, HPAGE), "pages_mapped");

	fill_pattern(in, HPAGE, 41);
	EXPECT_OK(dev_write(mr, buf, in, HPAGE));
	check_pattern(buf, HPAGE, 41, "CPU view after the device write into the THP");
	mr_stats(mr, &s);

	/* Zapping one 4 KiB page splits the PMD. */
	xmadvise(buf + 5 * ps, ps, MADV_DONTNEED);
	mr_delta(mr, &s, &d, "dontneed_one");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by MADV_DONTNEED of one page of the THP");
	EXPECT_U64(D(d, PAGES_INVALIDATED), >=, 1, "pages_invalidated");
	EXPECT_U64(D(d, PAGES_MAPPED), <=, entries(&t, HPAGE) - 1, "pages_mapped");
	memset(out, 0xaa, HPAGE);
	EXPECT_OK(dev_read(mr, buf, out, HPAGE));
	check_pattern(out, 5 * ps, 41, "pages 0-4");
	check_bytes(out + 5 * ps, ps, 0, "page 5 (zapped)");
	check_pattern_off(out + 6 * ps, HPAGE - 6 * ps, 41, 6 * ps, "pages 6-511");
	mr_delta(mr, &s, &d, "reread");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, entries(&t, HPAGE), "pages_mapped");

	xmadvise(buf, HPAGE, MADV_DONTNEED);
	mr_delta(mr, &s, &d, "dontneed_all");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, entries(&t, HPAGE), "pages_invalidated");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, 0, "pages_mapped");
	memset(out, 0xaa, HPAGE);
	EXPECT_OK(dev_read(mr, buf, out, HPAGE));
	check_bytes(out, HPAGE, 0, "device read after MADV_DONTNEED of the THP");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

/* The device is the first to touch an aligned MADV_HUGEPAGE region. */
static int thp_device_first_touch(void)
{
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out, *in;

	need_thp();
	t_open(&t);
	buf = map_anon_aligned(HPAGE, HPAGE, 0);
	xmadvise(buf, HPAGE, MADV_HUGEPAGE);
	mr = reg_mr(&t, buf, HPAGE, ACC_RW);
	out = malloc(HPAGE);
	in = malloc(HPAGE);
	mr_stats(mr, &s);

	fill_pattern(in, HPAGE, 42);
	EXPECT_OK(dev_write(mr, buf, in, HPAGE));
	mr_delta(mr, &s, &d, "write");
	printf("anon_huge_kb=%ld\n", smaps_anon_huge_kb(buf));
	EXPECT_U64(D(d, PAGES_FAULTED), ==, entries(&t, HPAGE), "pages_faulted");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, entries(&t, HPAGE), "pages_mapped");
	check_pattern(buf, HPAGE, 42, "CPU view after the device wrote an untouched THP region");

	memset(out, 0, HPAGE);
	EXPECT_OK(dev_read(mr, buf, out, HPAGE));
	check_pattern(out, HPAGE, 42, "device read back");
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults of the read after the write");

	EXPECT_OK(odp_dereg_mr(mr));
	t_close(&t);
	return T_PASS;
}

static void need_hugetlb(long n)
{
	long free_pages = hugetlb_free_pages();

	printf("hugetlb_free=%ld\n", free_pages);
	if (free_pages < n)
		SKIP("%ld free 2 MiB hugetlb pages, need %ld", free_pages, n);
}

/* MAP_HUGETLB anonymous memory: fault, write, read, zap. */
static int hugetlb_anon(void)
{
	size_t len = 2 * HPAGE;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *out, *in;

	need_hugetlb(2);
	t_open(&t);
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (buf == MAP_FAILED)
		SKIP("mmap(MAP_HUGETLB): %s", strerror(errno));
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	in = malloc(len);
	mr_stats(mr, &s);
	EXPECT_U64(s.v[ODP_STAT_PAGES_MAPPED], ==, 0, "pages_mapped after registration");

	fill_pattern(in, len, 43);
	EXPECT_OK(dev_write(mr, buf, in, len));
	mr_delta(mr, &s, &d, "write");
	EXPECT_U64(D(d, FAULTS), >=, 1, "faults");
	EXPECT_U64(D(d, PAGES_FAULTED), ==, entries(&t, len), "pages_faulted");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, entries(&t, len), "pages_mapped");
	check_pattern(buf, len, 43, "CPU view after the device write");

	memset(buf + HPAGE + 12345, 0x99, 1000);
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, HPAGE + 12345, 43, "device read before the CPU-written bytes");
	check_bytes(out + HPAGE + 12345, 1000, 0x99, "bytes written by the CPU");
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults of the read");
	EXPECT_U64(D(d, INVALIDATIONS), ==, 0, "invalidations");

	xmadvise(buf, HPAGE, MADV_DONTNEED);
	mr_delta(mr, &s, &d, "dontneed");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by MADV_DONTNEED of a huge page");
	EXPECT_U64(D(d, PAGES_INVALIDATED), ==, entries(&t, HPAGE), "pages_invalidated");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, entries(&t, HPAGE), "pages_mapped");
	memset(out, 0xaa, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_bytes(out, HPAGE, 0, "the zapped huge page");
	check_pattern_off(out + HPAGE, 12345, 43, HPAGE, "the second huge page");

	EXPECT_OK(odp_dereg_mr(mr));
	unmap(buf, len);
	t_close(&t);
	return T_PASS;
}

/* A file in hugetlbfs: device write -> pread, hole punch -> zeros. */
static int hugetlbfs_file(void)
{
	size_t len = 2 * HPAGE;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	struct statfs sfs;
	char path[256], *buf, *out, *in;
	int fd;

	need_hugetlb(2);
	if (statfs(HUGETLBFS_DIR, &sfs) || sfs.f_type != HUGETLBFS_MAGIC_)
		SKIP("%s is not a hugetlbfs mount", HUGETLBFS_DIR);
	t_open(&t);
	snprintf(path, sizeof(path), HUGETLBFS_DIR "/odp-test-%d", getpid());
	fd = open(path, O_CREAT | O_RDWR | O_EXCL, 0600);
	if (fd < 0)
		FAIL("open(%s): %s", path, strerror(errno));
	unlink(path);
	if (ftruncate(fd, len))
		FAIL("ftruncate: %s", strerror(errno));
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (buf == MAP_FAILED)
		SKIP("mmap of a hugetlbfs file: %s", strerror(errno));
	mr = reg_mr(&t, buf, len, ACC_RW);
	out = malloc(len);
	in = malloc(len);
	mr_stats(mr, &s);

	fill_pattern(in, len, 44);
	EXPECT_OK(dev_write(mr, buf, in, len));
	mr_delta(mr, &s, &d, "write");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, entries(&t, len), "pages_mapped");
	if (pread(fd, out, len, 0) != (ssize_t)len)
		FAIL("pread: %s", strerror(errno));
	check_pattern(out, len, 44, "pread() after the device write");

	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, HPAGE, HPAGE))
		FAIL("fallocate(PUNCH_HOLE): %s", strerror(errno));
	mr_delta(mr, &s, &d, "punch");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by the hole punch");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, entries(&t, HPAGE), "pages_mapped");
	memset(out, 0xaa, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, HPAGE, 44, "first huge page");
	check_bytes(out + HPAGE, HPAGE, 0, "punched huge page");

	EXPECT_OK(odp_dereg_mr(mr));
	unmap(buf, len);
	close(fd);
	t_close(&t);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "thp_fault_invalidate", thp_fault_invalidate },
	{ "thp_device_first_touch", thp_device_first_touch },
	{ "hugetlb_anon", hugetlb_anon },
	{ "hugetlbfs_file", hugetlbfs_file },
};

TEST_MAIN(tests)
