# SPDX-License-Identifier: MIT
"""The read_begin/read_retry collision via debugfs retry_hook (odp_retry.c)."""

import os

from conftest import DEBUGFS


def hook_state():
    with open(os.path.join(DEBUGFS, "retry_hook")) as f:
        return f.read().strip()


def test_retry_hook_read(run):
    """Parked read, page replaced by MADV_DONTNEED + memset('B'): reads 'B', retries >= 1."""
    r = run("odp_retry", "retry_hook_read", timeout=60)
    assert r["retry.retries"] >= 1
    assert r["retry.invalidations"] >= 1
    assert r["hook_after"] in ("released", "idle")
    assert hook_state() in ("idle", "released")


def test_retry_hook_write(run):
    """Parked write, page zapped: the write lands in the new page, retries >= 1."""
    r = run("odp_retry", "retry_hook_write", timeout=60)
    assert r["retry.retries"] >= 1


def test_retry_hook_disarm(run):
    """arm + disarm: the next fault does not park and nothing retries."""
    r = run("odp_retry", "retry_hook_disarm", timeout=60)
    assert r["read.retries"] == 0
    assert hook_state() == "idle"


def test_retry_hook_timeout(run):
    """A parked fault nobody releases lets itself go after about 10 s."""
    r = run("odp_retry", "retry_hook_timeout", timeout=90)
    assert 5000 <= r["access_ms"] < 30000
    assert r["timeout.retries"] == 0
    assert hook_state() in ("idle", "released")


def test_retry_hook_slow_walk(run):
    """A walk parked past the HMM timeout, then one invalidation of another page: retried, not EBUSY."""
    r = run("odp_retry", "retry_hook_slow_walk", timeout=60)
    assert r["access_ms"] >= 1500
    assert r["slow.retries"] >= 1
    assert r["slow.fault_errors"] == 0
