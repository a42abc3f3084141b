# SPDX-License-Identifier: MIT
"""Counters, debugfs, many and overlapping MRs (odp_stats.c)."""

from conftest import read_stats

NAMES = ["faults", "pages_faulted", "invalidations", "pages_invalidated",
         "retries", "busy_retries", "prefetches", "nonblock_invalidations",
         "nonblock_refused", "accesses", "access_bytes", "fault_errors",
         "pages_mapped"]


def test_stats_names(run):
    """libodp, QUERY_DEVICE and debugfs stats agree on the 13 counters, nonblock_* included."""
    r = run("odp_stats", "stats_names")
    assert r["num_stats"] == len(NAMES)
    assert list(read_stats()) == NAMES


def test_stats_device_sums_mrs(run):
    """Device counters (ioctl and debugfs) move by exactly the sum of the MRs' counters."""
    r = run("odp_stats", "stats_device_sums_mrs")
    for name in NAMES:
        if name == "pages_mapped":
            continue
        assert r[f"dev1.{name}"] - r[f"dev0.{name}"] == r[f"mrsum.{name}"], name
    assert r["mrsum.faults"] > 0 and r["mrsum.invalidations"] > 0


def test_stats_debugfs_mrs(run):
    """The MR line of debugfs mrs: documented format, same numbers as the ioctl."""
    r = run("odp_stats", "stats_debugfs_mrs")
    assert r["line"].startswith("mr ")
    assert "nonblock_refused=" in r["line"]


def test_stats_monotonic_after_dereg(run):
    """Dereg drops the device pages_mapped gauge; the counters do not go down."""
    r = run("odp_stats", "stats_monotonic_after_dereg")
    assert r["before.pages_mapped"] - r["after.pages_mapped"] == 16
    for name in NAMES[:-1]:
        assert r[f"after.{name}"] >= r[f"before.{name}"], name


def test_many_mrs(run):
    """1000 MRs on one region: all register, fault, get invalidated by one madvise, dereg."""
    r = run("odp_stats", "many_mrs", timeout=300)
    assert r["n"] == 1000
    assert r["invalidations"] == 1000
    assert r["pages_invalidated"] == 1000


def test_overlapping_mrs(run):
    """Two overlapping MRs: one madvise on the overlap invalidates both, outside only one."""
    r = run("odp_stats", "overlapping_mrs")
    assert r["a_mid.pages_invalidated"] == 8 and r["b_mid.pages_invalidated"] == 8
    assert r["a_low.pages_invalidated"] == 4
    assert r["b_low.invalidations"] == 0


def test_nonblock_counters_exist(debugfs):
    """nonblock_invalidations / nonblock_refused exist (OOM-style invalidation itself is not tested)."""
    stats = debugfs.stats()
    assert "nonblock_invalidations" in stats and "nonblock_refused" in stats
