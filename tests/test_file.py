# SPDX-License-Identifier: MIT
"""File-backed MRs on a tmpfs file (tests/progs/odp_file.c), and one on
ext4 over a loop device for writeback."""

import os
import subprocess
import tempfile

import pytest

NPAGES = 16


def _sh(*cmd, timeout=60):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


@pytest.fixture
def ext4_dir():
    """An ext4 file system on a loop device backed by a file in /tmp."""
    top = tempfile.mkdtemp(prefix="odp-ext4-", dir="/tmp")
    img, mnt = os.path.join(top, "img"), os.path.join(top, "mnt")
    os.mkdir(mnt)
    r = _sh("modprobe", "-a", "loop", "ext4")
    if r.returncode:
        pytest.skip(f"modprobe loop ext4: {r.stdout.strip()}")
    with open(img, "wb") as f:
        f.truncate(32 << 20)
    r = _sh("mkfs.ext4", "-q", "-F", img)
    if r.returncode:
        pytest.skip(f"mkfs.ext4: {r.stdout.strip()}")
    r = _sh("mount", "-o", "loop", img, mnt)
    if r.returncode:
        pytest.skip(f"mount -o loop: {r.stdout.strip()}")
    try:
        yield mnt
    finally:
        _sh("umount", mnt)
        os.unlink(img)
        os.rmdir(mnt)
        os.rmdir(top)


def test_file_shared_write_pread(run):
    """Device write into a MAP_SHARED file mapping; pread() sees it."""
    r = run("odp_file", "file_shared_write_pread")
    assert r["write.faults"] >= 1
    assert r["write.pages_faulted"] == NPAGES
    assert r["write.pages_mapped"] == NPAGES
    assert r["write.access_bytes"] == NPAGES * 4096


def test_file_pwrite_read(run):
    """pwrite() into the file; the device reads the new data (same pages)."""
    r = run("odp_file", "file_pwrite_read")
    assert r["read1.pages_faulted"] == NPAGES
    assert r["read2.invalidations"] == 0
    assert r["read2.faults"] == 0


def test_file_truncate(run):
    """ftruncate() under the MR: EFAULT past EOF, the rest works."""
    r = run("odp_file", "file_truncate")
    assert r["truncate.invalidations"] >= 1
    assert r["truncate.pages_mapped"] == NPAGES // 2
    assert r["after.fault_errors"] >= 1


def test_file_punch_hole(run):
    """fallocate(PUNCH_HOLE) zaps the hole's entries; it reads zero."""
    r = run("odp_file", "file_punch_hole")
    assert r["punch.invalidations"] >= 1
    assert r["punch.pages_mapped"] == NPAGES - 4


def test_file_private_cow(run):
    """MAP_PRIVATE file: a device write COWs; the file is unchanged."""
    r = run("odp_file", "file_private_cow")
    assert r["write.invalidations"] >= 1
    assert r["write.pages_mapped"] == NPAGES


def test_file_writeback_redirty(run, ext4_dir):
    """ext4: after fsync write-protected the pages, a device write faults, redirties, reaches the disk."""
    r = run("odp_file", "file_writeback_redirty", env={"ODP_WB_DIR": ext4_dir})
    assert r["writeback.invalidations"] >= 1
    assert r["writeback.pages_invalidated"] >= NPAGES
    assert r["redirty.faults"] >= 1
