# SPDX-License-Identifier: MIT
"""odp_advise_mr() prefetch variants (odp_prefetch.c)."""

NPAGES = 16


def _check_prefetch(r, pages):
    assert r["prefetch.prefetches"] == 1
    assert r["prefetch.pages_mapped"] == pages


def test_prefetch_read_flush(run):
    """PREFETCH + FLUSH maps every page; the next read faults nothing."""
    r = run("odp_prefetch", "prefetch_read_flush")
    _check_prefetch(r, NPAGES)
    assert r["prefetch.pages_faulted"] == NPAGES
    assert r["prefetch.accesses"] == 0
    assert r["read.faults"] == 0


def test_prefetch_read_async(run):
    """PREFETCH without FLUSH: queued; pages_mapped rises; the read faults nothing."""
    r = run("odp_prefetch", "prefetch_read_async")
    _check_prefetch(r, NPAGES)
    assert r["read.faults"] == 0


def test_prefetch_write_flush(run):
    """PREFETCH_WRITE + FLUSH: the next device write faults nothing."""
    r = run("odp_prefetch", "prefetch_write_flush")
    _check_prefetch(r, NPAGES)
    assert r["write.faults"] == 0
    assert r["write.invalidations"] == 0


def test_prefetch_write_async(run):
    """PREFETCH_WRITE without FLUSH: queued; then a device write faults nothing."""
    r = run("odp_prefetch", "prefetch_write_async")
    _check_prefetch(r, NPAGES)
    assert r["write.faults"] == 0


def test_prefetch_no_fault_flush(run):
    """PREFETCH_NO_FAULT + FLUSH maps only the resident half, faults nothing."""
    r = run("odp_prefetch", "prefetch_no_fault_flush")
    _check_prefetch(r, NPAGES // 2)
    assert r["read_resident.faults"] == 0
    assert r["read_rest.pages_faulted"] == NPAGES // 2


def test_prefetch_no_fault_async(run):
    """PREFETCH_NO_FAULT without FLUSH: the same, queued."""
    r = run("odp_prefetch", "prefetch_no_fault_async")
    _check_prefetch(r, NPAGES // 2)
    assert r["read_resident.faults"] == 0


def test_prefetch_partial_range(run):
    """An SGE over 4 of 16 pages maps those 4."""
    r = run("odp_prefetch", "prefetch_partial_range")
    assert r["prefetch.pages_mapped"] == 4
    assert r["read.faults"] == 0


def test_prefetch_multi_sge(run):
    """Three SGEs over three MRs in one request."""
    r = run("odp_prefetch", "prefetch_multi_sge")
    for i in range(3):
        assert r[f"mr{i}.pages_mapped"] == i + 1
        assert r[f"mr{i}.prefetches"] >= 1


def test_prefetch_flush_efault(run):
    """FLUSH returns the fault error (EFAULT for an unmapped page)."""
    r = run("odp_prefetch", "prefetch_flush_efault")
    assert r["prefetch.fault_errors"] >= 1


def test_prefetch_async_error_counted(run):
    """Without FLUSH the same error is only counted in fault_errors."""
    r = run("odp_prefetch", "prefetch_async_error_counted")
    assert r["after.fault_errors"] >= 1


def test_prefetch_write_mprotect_eperm(run):
    """PREFETCH_WRITE + FLUSH of a read-only mapping: EPERM."""
    run("odp_prefetch", "prefetch_write_mprotect_eperm")


def test_prefetch_write_readonly_mr(run):
    """PREFETCH_WRITE on an MR without LOCAL_WRITE: EACCES, nothing mapped."""
    r = run("odp_prefetch", "prefetch_write_readonly_mr")
    assert r["refused.prefetches"] == 0
    assert r["refused.pages_mapped"] == 0
    assert r["read_prefetch.pages_mapped"] == NPAGES
