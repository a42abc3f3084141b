# SPDX-License-Identifier: MIT
"""NUMA migration of registered pages (odp_migrate.c); needs 2 nodes."""

NPAGES = 16


def test_migrate_numa(run):
    """move_pages() to the other node: invalidated, right data, writes land there."""
    r = run("odp_migrate", "migrate_numa")
    assert r["from_node"] != r["to_node"]
    assert r["migrate.invalidations"] >= 1
    assert r["migrate.pages_invalidated"] >= NPAGES
    assert r["migrate.pages_mapped"] == 0
    assert r["read.pages_faulted"] >= NPAGES
    assert r["read.pages_mapped"] == NPAGES
    assert r["back.invalidations"] >= 1
