// SPDX-License-Identifier: MIT
/*
 * File-backed MRs on a file in /tmp (tmpfs in the test VM): MAP_SHARED
 * write-through both ways, truncate, hole punch, MAP_PRIVATE COW.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"

#define NPAGES	16

/* An unlinked file of len bytes in $ODP_TMPDIR or /tmp. */
static int tmp_file(size_t len)
{
	const char *dir = getenv("ODP_TMPDIR");
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/odp-file-XXXXXX", dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		FAIL("mkstemp(%s): %s", path, strerror(errno));
	unlink(path);
	if (ftruncate(fd, len))
		FAIL("ftruncate: %s", strerror(errno));
	return fd;
}

static void xpwrite(int fd, const void *buf, size_t len, off_t off)
{
	if (pwrite(fd, buf, len, off) != (ssize_t)len)
		FAIL("pwrite: %s", strerror(errno));
}

static void xpread(int fd, void *buf, size_t len, off_t off)
{
	if (pread(fd, buf, len, off) != (ssize_t)len)
		FAIL("pread: %s", strerror(errno));
}

static char *map_file(int fd, size_t len, int flags)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);

	if (p == MAP_FAILED)
		FAIL("mmap file: %s", strerror(errno));
	return p;
}

/* Device write into a MAP_SHARED file mapping: pread() sees it. */
static int file_shared_write_pread(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *in, *out;
	int fd;

	t_open(&t);
	fd = tmp_file(len);
	buf = map_file(fd, len, MAP_SHARED);
	mr = reg_mr(&t, buf, len, ACC_RW);
	mr_stats(mr, &s);
	in = malloc(len);
	out = malloc(len);

	fill_pattern(in, len, 20);
	EXPECT_OK(dev_write(mr, buf, in, len));
	mr_delta(mr, &s, &d, "write");
	EXPECT_U64(D(d, FAULTS), >=, 1, "faults");
	EXPECT_U64(D(d, PAGES_FAULTED), ==, NPAGES, "pages_faulted");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");
	EXPECT_U64(D(d, ACCESS_BYTES), ==, len, "access_bytes");

	memset(out, 0, len);
	xpread(fd, out, len, 0);
	check_pattern(out, len, 20, "pread() after the device write");
	check_pattern(buf, len, 20, "CPU view after the device write");

	EXPECT_OK(odp_dereg_mr(mr));
	unmap(buf, len);
	close(fd);
	t_close(&t);
	return T_PASS;
}

/* pwrite() into the file: the device reads the new data, same pages. */
static int file_pwrite_read(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *in, *out;
	int fd;

	t_open(&t);
	fd = tmp_file(len);
	in = malloc(len);
	out = malloc(len);
	fill_pattern(in, len, 21);
	xpwrite(fd, in, len, 0);
	buf = map_file(fd, len, MAP_SHARED);
	mr = reg_mr(&t, buf, len, ACC_RW);
	mr_stats(mr, &s);

	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 21, "device read of pwrite() data");
	mr_delta(mr, &s, &d, "read1");
	EXPECT_U64(D(d, PAGES_FAULTED), ==, NPAGES, "pages_faulted");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");

	/* Overwrite the page cache: the device's entries are still valid. */
	fill_pattern(in, len, 22);
	xpwrite(fd, in, len, 0);
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 22, "device read after a second pwrite()");
	mr_delta(mr, &s, &d, "read2");
	EXPECT_U64(D(d, INVALIDATIONS), ==, 0, "invalidations by pwrite() into mapped pages");
	EXPECT_U64(D(d, FAULTS), ==, 0, "faults of the second read");

	EXPECT_OK(odp_dereg_mr(mr));
	unmap(buf, len);
	close(fd);
	t_close(&t);
	return T_PASS;
}

/* ftruncate() shrinks the file under the MR: EFAULT past EOF, rest works. */
static int file_truncate(void)
{
	size_t len = NPAGES * page_size, half = len / 2;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *in, *out;
	int fd;

	t_open(&t);
	fd = tmp_file(len);
	in = malloc(len);
	out = malloc(len);
	fill_pattern(in, len, 23);
	xpwrite(fd, in, len, 0);
	buf = map_file(fd, len, MAP_SHARED);
	mr = reg_mr(&t, buf, len, ACC_RW);
	EXPECT_OK(dev_read(mr, buf, out, len));
	mr_stats(mr, &s);

	if (ftruncate(fd, half))
		FAIL("ftruncate: %s", strerror(errno));
	mr_delta(mr, &s, &d, "truncate");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by ftruncate()");
	EXPECT_U64(D(d, PAGES_INVALIDATED), >=, NPAGES / 2, "pages_invalidated");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES / 2, "pages_mapped");

	memset(out, 0, len);
	EXPECT_ERRNO(dev_read(mr, buf + half, out, page_size), EFAULT);
	EXPECT_ERRNO(dev_write(mr, buf + len - page_size, in, page_size), EFAULT);
	EXPECT_OK(dev_read(mr, buf, out, half));
	check_pattern(out, half, 23, "the part of the file that is left");
	mr_delta(mr, &s, &d, "after");
	EXPECT_U64(D(d, FAULT_ERRORS), >=, 1, "fault_errors");

	if (ftruncate(fd, len))
		FAIL("ftruncate: %s", strerror(errno));
	memset(out, 0xaa, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, half, 23, "first half after growing the file back");
	check_bytes(out + half, half, 0, "second half after growing the file back");

	EXPECT_OK(odp_dereg_mr(mr));
	unmap(buf, len);
	close(fd);
	t_close(&t);
	return T_PASS;
}

/* fallocate(PUNCH_HOLE) zaps the device entries of the hole. */
static int file_punch_hole(void)
{
	size_t len = NPAGES * page_size, ps = page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *in, *out;
	int fd;

	t_open(&t);
	fd = tmp_file(len);
	in = malloc(len);
	out = malloc(len);
	fill_pattern(in, len, 24);
	xpwrite(fd, in, len, 0);
	buf = map_file(fd, len, MAP_SHARED);
	mr = reg_mr(&t, buf, len, ACC_RW);
	EXPECT_OK(dev_read(mr, buf, out, len));
	mr_stats(mr, &s);

	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * ps,
		      4 * ps))
		FAIL("fallocate(PUNCH_HOLE): %s", strerror(errno));
	mr_delta(mr, &s, &d, "punch");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by the hole punch");
	EXPECT_U64(D(d, PAGES_INVALIDATED), >=, 4, "pages_invalidated");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES - 4, "pages_mapped");

	memset(out, 0xaa, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, 4 * ps, 24, "pages 0-3");
	check_bytes(out + 4 * ps, 4 * ps, 0, "pages 4-7 (the hole)");
	check_pattern_off(out + 8 * ps, 8 * ps, 24, 8 * ps, "pages 8-15");

	EXPECT_OK(odp_dereg_mr(mr));
	unmap(buf, len);
	close(fd);
	t_close(&t);
	return T_PASS;
}

/*
 * MAP_PRIVATE file mapping: the device first maps the page cache pages; a
 * device write must COW them (invalidating its own read-only entries while
 * it faults) so that the file is not modified.
 */
static int file_private_cow(void)
{
	size_t len = NPAGES * page_size;
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char *buf, *in, *out;
	int fd;

	t_open(&t);
	fd = tmp_file(len);
	in = malloc(len);
	out = malloc(len);
	fill_pattern(in, len, 25);
	xpwrite(fd, in, len, 0);
	buf = map_file(fd, len, MAP_PRIVATE);
	mr = reg_mr(&t, buf, len, ACC_RW);
	mr_stats(mr, &s);

	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 25, "device read of the file data");
	mr_delta(mr, &s, &d, "read");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");

	fill_pattern(in, len, 26);
	EXPECT_OK(dev_write(mr, buf, in, len));
	mr_delta(mr, &s, &d, "write");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by the COW of the file pages");
	EXPECT_U64(D(d, PAGES_MAPPED), ==, NPAGES, "pages_mapped");
	check_pattern(buf, len, 26, "CPU view of the private COW copy");
	xpread(fd, out, len, 0);
	check_pattern(out, len, 25, "pread(): the file must not change");
	memset(out, 0, len);
	EXPECT_OK(dev_read(mr, buf, out, len));
	check_pattern(out, len, 26, "device read of the private copy");

	EXPECT_OK(odp_dereg_mr(mr));
	unmap(buf, len);
	close(fd);
	t_close(&t);
	return T_PASS;
}

/*
 * A file on a block-backed fs ($ODP_WB_DIR; pytest mounts ext4 on a loop
 * device): after writeback (fsync) cleaned and write-protected the pages, a
 * device write must fault again (page_mkwrite) so the page is redirtied and
 * written back; an O_DIRECT read, which bypasses the page cache after
 * flushing it, then returns the second write, not the first.
 */
static int file_writeback_redirty(void)
{
	size_t len = NPAGES * page_size;
	const char *dir = getenv("ODP_WB_DIR");
	struct tctx t;
	struct stats s, d;
	struct odp_mr *mr;
	char path[512], *buf, *in, *direct;
	int fd, dfd;

	if (!dir)
		SKIP("ODP_WB_DIR not set: needs a block-backed fs (pytest mounts ext4 on loop)");
	t_open(&t);
	snprintf(path, sizeof(path), "%s/odp-wb-%d", dir, getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		FAIL("open(%s): %s", path, strerror(errno));
	if (ftruncate(fd, len))
		FAIL("ftruncate: %s", strerror(errno));
	buf = map_file(fd, len, MAP_SHARED);
	mr = reg_mr(&t, buf, len, ACC_RW);
	in = malloc(len);
	if (posix_memalign((void **)&direct, 4096, len))
		FAIL("posix_memalign");

	fill_pattern(in, len, 27);
	EXPECT_OK(dev_write(mr, buf, in, len));
	mr_stats(mr, &s);
	if (msync(buf, len, MS_SYNC) || fsync(fd))
		FAIL("msync/fsync: %s", strerror(errno));
	mr_delta(mr, &s, &d, "writeback");
	EXPECT_U64(D(d, INVALIDATIONS), >=, 1, "invalidations by writeback (page_mkclean)");
	EXPECT_U64(D(d, PAGES_INVALIDATED), >=, NPAGES, "pages_invalidated (write-protected)");

	fill_pattern(in, len, 28);
	EXPECT_OK(dev_write(mr, buf, in, len));
	mr_delta(mr, &s, &d, "redirty");
	EXPECT_U64(D(d, FAULTS), >=, 1, "faults: a write after writeback must fault to redirty");
	check_pattern(buf, len, 28, "CPU view of the second device write");

	dfd = open(path, O_RDONLY | O_DIRECT);
	if (dfd < 0)
		FAIL("open(O_DIRECT): %s", strerror(errno));
	memset(direct, 0, len);
	if (pread(dfd, direct, len, 0) != (ssize_t)len)
		FAIL("O_DIRECT pread: %s", strerror(errno));
	check_pattern(direct, len, 28,
		      "O_DIRECT read after the second device write (the first write's "
		      "data = the page was not redirtied)");
	close(dfd);

	EXPECT_OK(odp_dereg_mr(mr));
	unmap(buf, len);
	close(fd);
	unlink(path);
	t_close(&t);
	return T_PASS;
}

static const struct odp_test tests[] = {
	{ "file_shared_write_pread", file_shared_write_pread },
	{ "file_pwrite_read", file_pwrite_read },
	{ "file_truncate", file_truncate },
	{ "file_punch_hole", file_punch_hole },
	{ "file_private_cow", file_private_cow },
	{ "file_writeback_redirty", file_writeback_redirty },
};

TEST_MAIN(tests)
