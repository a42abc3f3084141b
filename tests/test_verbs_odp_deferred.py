# SPDX-License-Identifier: MIT
"""Our rxe with odp_fault=deferred: responder faults in a worker, RNR NAKs.

In deferred mode (driver/rxe/README.md) the responder of an RC QP does not
fault ODP pages in the QP's task: a request whose pages are not in the ODP
core's cache is answered with an RNR NAK while a worker faults them in, and
the requester's retry finds them.  These tests switch the module parameter
(/sys/module/rdma_rxe/parameters/odp_fault, back to what it was after) and
run tests/verbs/verbs_odp cases through that path:

- data: WRITE / READ / SEND / CAS / FETCH_ADD with both sides' pages dropped
  (MADV_DONTNEED) before every iteration, unaligned multi-page transfers,
  and 1 MiB messages whose target's tail was dropped (an RNR NAK in the
  middle of a message, several per message); every byte is checked by
  verbs_odp, and the rxe port counters must show the faults were deferred
  (odp_deferred_faults, send_rnr_err);
- errors: a WRITE / READ into an unmapped remote page still completes
  REM_ACCESS_ERR (the worker's failed fault is remembered for the retry;
  the QPs use rnr_retry=7, so a forgotten failure would NAK forever and the
  program's 10 s completion timeout would fail the test), and a read-only
  page refuses a WRITE.
"""

import os

import pytest

from test_verbs_odp import IBDEV, no_rxe_mr_leak, vrun  # noqa: F401 (fixture)

PARAM = "/sys/module/rdma_rxe/parameters/odp_fault"
COUNTERS = f"/sys/class/infiniband/{IBDEV}/ports/1/hw_counters"


def counter(name):
    with open(os.path.join(COUNTERS, name)) as f:
        return int(f.read())


def counters():
    return {n: counter(n) for n in ("odp_deferred_faults", "odp_deferred_fault_errors",
                                    "send_rnr_err", "rcvd_rnr_err",
                                    "retry_rnr_exceeded_err")}


@pytest.fixture(autouse=True)
def deferred():
    """odp_fault=deferred for the test, the previous mode after it."""
    if not os.path.exists(PARAM):
        # odp_core is loaded for odp.ko too: only our rxe must have PARAM.
        if os.environ.get("ODP_RXE") == "ours":
            pytest.fail(f"our rxe is loaded but has no {PARAM}", pytrace=False)
        pytest.skip("not our rxe (no odp_fault parameter)")
    with open(PARAM) as f:
        old = f.read().strip()
    with open(PARAM, "w") as f:
        f.write("deferred")
    with open(PARAM) as f:
        assert f.read().strip() == "deferred"
    try:
        yield
    finally:
        with open(PARAM, "w") as f:
            f.write(old)


def run_deferred(test):
    """vrun(test); the counter deltas; the NAKs never ran out."""
    before = counters()
    r = vrun(test)
    after = counters()
    d = {k: after[k] - before[k] for k in before}
    print(test, d)
    assert d["retry_rnr_exceeded_err"] == 0, d
    return r, d


def test_param_values():
    """The parameter takes inline and deferred, nothing else."""
    for v in ("inline", "deferred"):
        with open(PARAM, "w") as f:
            f.write(v)
        with open(PARAM) as f:
            assert f.read().strip() == v
    with pytest.raises(OSError):
        with open(PARAM, "w") as f:
            f.write("sometimes")


@pytest.mark.parametrize("test", ["dontneed_write", "dontneed_read", "dontneed_send",
                                  "dontneed_cas", "dontneed_fadd"])
def test_deferred_dontneed(test):
    """Both sides dropped before every iteration: data right, faults deferred."""
    r, d = run_deferred(test)
    pages, iters = r["pages"], r["iters"]
    for side in ("a", "b"):
        assert r[f"{side}.page_faults"] >= iters * pages
    # the responder's pages were all dropped: every iteration deferred at
    # least once and NAKed the request (and the requester saw the NAK)
    assert d["odp_deferred_faults"] >= iters, d
    assert d["send_rnr_err"] >= d["odp_deferred_faults"] > 0, d
    assert d["rcvd_rnr_err"] >= d["odp_deferred_faults"], d
    assert d["odp_deferred_fault_errors"] == 0, d


@pytest.mark.parametrize("test", ["unaligned_write", "unaligned_read", "unaligned_send"])
def test_deferred_unaligned(test):
    """8 KiB..1 MiB at odd offsets into untouched and mapped targets."""
    r, d = run_deferred(test)
    assert r["transfers"] == 22
    assert d["odp_deferred_faults"] > 0 and d["odp_deferred_fault_errors"] == 0, d


@pytest.mark.parametrize("test", ["dropped_tail_write", "dropped_tail_send"])
def test_deferred_midmessage(test):
    """RNR NAKs in the middle of 1 MiB messages; the retry completes them."""
    r, d = run_deferred(test)
    assert r["iters"] == 4
    # iteration 0 drops everything: > 1 MiB needs several 256 KiB fault-aheads;
    # iterations 1-3 NAK at the first packet into the dropped tail
    assert d["odp_deferred_faults"] >= 4 + 3, d
    assert d["odp_deferred_fault_errors"] == 0, d


@pytest.mark.parametrize("test", ["munmap_remote_write", "munmap_remote_read",
                                  "mprotect_remote_write"])
def test_deferred_access_error(test):
    """An unmapped (or read-only) remote page: REM_ACCESS_ERR, not RNR forever."""
    r, d = run_deferred(test)
    assert d["odp_deferred_fault_errors"] >= 1, d


def test_deferred_storm():
    """16 QPs writing and reading dropped pages at once."""
    r, d = run_deferred("storm_16qp")
    assert d["odp_deferred_faults"] >= 16, d
    assert d["odp_deferred_fault_errors"] == 0, d
