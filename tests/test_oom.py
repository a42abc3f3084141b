# SPDX-License-Identifier: MIT
"""The OOM reaper's non-blockable invalidation (odp_oom.c)."""


def test_nonblock_reap(run):
    """process_mrelease() of a killed process with mapped MRs: the driver
    takes the non-blockable invalidation instead of refusing it."""
    r = run("odp_oom", "nonblock_reap", timeout=60)
    assert r["reap.nonblock_invalidations"] >= 1
    assert r["reap.nonblock_refused"] == 0
    assert r["reap.pages_invalidated"] >= 64
