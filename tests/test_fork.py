# SPDX-License-Identifier: MIT
"""fork(): COW, MAP_SHARED, and contexts bound to their mm (odp_fork.c)."""

NPAGES = 16


def test_fork_cow_child_write(run):
    """The child writes its COW copy: the parent's device view keeps the parent's data."""
    r = run("odp_fork", "fork_cow_child_write")
    assert r["fork.invalidations"] >= 1
    assert r["after.pages_mapped"] == NPAGES


def test_fork_cow_parent_cpu_write(run):
    """The parent's CPU write after fork breaks COW: the device follows the new page."""
    r = run("odp_fork", "fork_cow_parent_cpu_write")
    assert r["cpu_write.invalidations"] >= 1


def test_fork_cow_parent_device_write(run):
    """The parent's device write after fork breaks COW: the child keeps its data."""
    r = run("odp_fork", "fork_cow_parent_device_write")
    assert r["dev_write.faults"] >= 1


def test_fork_child_eperm(run):
    """A child using the inherited fd gets EPERM everywhere; the parent is unaffected."""
    r = run("odp_fork", "fork_child_eperm")
    assert r["after.accesses"] == 1
    assert r["after.prefetches"] == 0


def test_fork_shared_anon(run):
    """MAP_SHARED anonymous: the child's write is visible through the parent's MR."""
    r = run("odp_fork", "fork_shared_anon")
    assert r["child_write.pages_mapped"] == NPAGES
