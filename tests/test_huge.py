# SPDX-License-Identifier: MIT
"""THP and hugetlb under an MR (odp_huge.c); skipped where unavailable."""

HPAGE_ENTRIES = 512	# 2 MiB / 4 KiB


def test_thp_fault_invalidate(run):
    """THP: fault, write, MADV_DONTNEED of one page (PMD split), of all."""
    r = run("odp_huge", "thp_fault_invalidate")
    assert r["anon_huge_kb"] >= 2048
    assert r["read.pages_faulted"] == HPAGE_ENTRIES
    assert r["read.pages_mapped"] == HPAGE_ENTRIES
    assert r["dontneed_one.invalidations"] >= 1
    assert r["dontneed_one.pages_mapped"] <= HPAGE_ENTRIES - 1
    assert r["reread.pages_mapped"] == HPAGE_ENTRIES
    assert r["dontneed_all.pages_mapped"] == 0


def test_thp_device_first_touch(run):
    """The device is first to touch an aligned MADV_HUGEPAGE region."""
    r = run("odp_huge", "thp_device_first_touch")
    assert r["write.pages_faulted"] == HPAGE_ENTRIES
    assert r["read.faults"] == 0


def test_hugetlb_anon(run):
    """MAP_HUGETLB: fault, write, read, MADV_DONTNEED of one huge page."""
    r = run("odp_huge", "hugetlb_anon")
    assert r["write.pages_mapped"] == 2 * HPAGE_ENTRIES
    assert r["read.faults"] == 0
    assert r["dontneed.invalidations"] >= 1
    assert r["dontneed.pages_invalidated"] == HPAGE_ENTRIES
    assert r["dontneed.pages_mapped"] == HPAGE_ENTRIES


def test_hugetlbfs_file(run):
    """A hugetlbfs file: device write -> pread(); hole punch -> zeros."""
    r = run("odp_huge", "hugetlbfs_file")
    assert r["write.pages_mapped"] == 2 * HPAGE_ENTRIES
    assert r["punch.invalidations"] >= 1
    assert r["punch.pages_mapped"] == HPAGE_ENTRIES
