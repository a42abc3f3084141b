# SPDX-License-Identifier: MIT
"""Device access racing invalidation (odp_race.c): never stale data."""


def test_race_dontneed(run):
    """Readers + a writer vs. MADV_DONTNEED + CPU rewrite of the same pages."""
    r = run("odp_race", "race_dontneed", timeout=180)
    assert r["steps"] >= 100
    assert r["race.invalidations"] >= r["steps"]
    assert r["read_efault"] == 0
    assert r["strict_checks"] > 0


def test_race_munmap_mmap(run):
    """Readers + writer + async prefetch vs. munmap/mmap(MAP_FIXED)/MADV_DONTNEED."""
    r = run("odp_race", "race_munmap_mmap", timeout=180)
    assert r["steps"] >= 100
    assert r["race.invalidations"] >= r["steps"]
    assert r["prefetches"] > 0
    assert r["strict_checks"] > 0
