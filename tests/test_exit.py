# SPDX-License-Identifier: MIT
"""Teardown with live objects (odp_exit.c).

After each test no MR of the test's processes is left in debugfs, and the
module's reference count is back to 0: nothing pins odp.ko, so the rmmod the
VM runner does at the end can succeed.
"""

from conftest import module_refcnt, read_mrs, wait_for


def assert_module_idle():
    if module_refcnt() is None:
        return
    wait_for(lambda: module_refcnt() == 0, timeout=10)
    refcnt = module_refcnt()
    assert refcnt == 0, f"odp module refcount {refcnt} with no process using it"


def test_exit_live_mrs(run):
    """Exit without dereg/dealloc/close: the MRs disappear from debugfs."""
    r = run("odp_exit", "exit_live_mrs")
    pid = r["child_pid"]
    assert [mr for mr in read_mrs() if mr["pid"] == pid] == []
    assert_module_idle()


def test_close_live_mrs(run):
    """close() of the fd with live MRs frees them while the process lives on."""
    run("odp_exit", "close_live_mrs")
    assert_module_idle()


def test_exit_fd_outlives_mm(run):
    """The mm dies first (device drops all pages); MRs go with the last fd."""
    r = run("odp_exit", "exit_fd_outlives_mm")
    assert "pages_mapped=0" in r["mr_line"]
    assert_module_idle()


def test_exit_during_access(run):
    """exit_group() while threads are inside device accesses."""
    run("odp_exit", "exit_during_access")
    assert_module_idle()


def test_kill_during_access(run):
    """SIGKILL while threads are inside device accesses."""
    run("odp_exit", "kill_during_access")
    assert_module_idle()
