# SPDX-License-Identifier: MIT
"""The OOM reaper's non-blockable invalidation (odp_oom.c)."""


def test_nonblock_reap(run, no_numa_balancing):
    """process_mrelease() of a killed process with mapped MRs: the driver
    takes the non-blockable invalidation instead of refusing it."""
    r = run("odp_oom", "nonblock_reap", timeout=60)
    assert r["reap.nonblock_invalidations"] >= 1
    assert r["reap.nonblock_refused"] == 0
    assert r["reap.pages_invalidated"] >= 64


def test_nonblock_refused_inflight(run, no_numa_balancing):
    """The same reap while a device access holds pages of the MR in flight:
    the driver refuses it (it cannot wait) and process_mrelease() gets
    EAGAIN; the pages are freed later by the exit, after the access."""
    r = run("odp_oom", "nonblock_refused_inflight", timeout=60)
    assert r["mrelease_errno"] == 11  # EAGAIN
    assert r["reap.nonblock_refused"] >= 1
