# SPDX-License-Identifier: MIT
"""RDMA over Soft-RoCE with ODP MRs on both sides (tests/rdma/rdma_ops.c).

Each test runs one scenario of rdma_ops as a server/client pair in this VM,
loopback over rxe0: the client posts the work requests, the server is the
responder and checks its memory (requests over the control connection).
Both processes check data byte by byte and fail with what differed; here we
assert their counters again: `client.<counter>` / `server.<counter>` are the
ODP counter deltas (odp_query_mr_stats) of each side's main MR.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "rdma"))
import rdmatest  # noqa: E402
from rdmatest import (WC_LOC_LEN_ERR, WC_LOC_PROT_ERR, WC_REM_ACCESS_ERR,  # noqa: E402
                      WC_REM_INV_REQ_ERR, WC_REM_OP_ERR, WC_WR_FLUSH_ERR)

OP_ITERS = 8    # rdma_ops.c OP_ITERS

def pair(test, **kw):
    client, server = rdmatest.run_pair(test, **kw)
    return client


def _faulted_both_sides(r, iters):
    """Every iteration threw both buffers away: both MRs faulted each time."""
    assert r["iters"] == iters
    for side in ("client", "server"):
        assert r[f"{side}.faults"] >= iters, f"{side} (requester/responder) MR faults"
        assert r[f"{side}.invalidations"] >= iters - 1, f"{side} MR invalidations"
        assert r[f"{side}.fault_errors"] == 0


# ---- 1. every opcode, faults forced on both sides ----------------------------

def test_rdma_send():
    """SEND: requester's source and responder's receive buffer faulted each time."""
    _faulted_both_sides(pair("send"), OP_ITERS)


def test_rdma_send_imm():
    """SEND_WITH_IMM: the receive has WITH_IMM and the immediate, in network order."""
    _faulted_both_sides(pair("send_imm"), OP_ITERS)


def test_rdma_write():
    """RDMA_WRITE into an MR the responder keeps throwing away; no receive consumed."""
    _faulted_both_sides(pair("write"), OP_ITERS)


def test_rdma_write_imm():
    """RDMA_WRITE_WITH_IMM: the receive completes RECV_RDMA_WITH_IMM with the immediate."""
    _faulted_both_sides(pair("write_imm"), OP_ITERS)


def test_rdma_read():
    """RDMA_READ of the responder's (shared, thrown away) pages into ours."""
    _faulted_both_sides(pair("read"), OP_ITERS)


def test_rdma_cmp_swap():
    """ATOMIC_CMP_AND_SWP: swaps when the compare matches, returns the old value."""
    _faulted_both_sides(pair("cmp_swap"), OP_ITERS)


def test_rdma_fetch_add():
    """ATOMIC_FETCH_AND_ADD: 64-bit add with carry across bit 32, old value returned."""
    _faulted_both_sides(pair("fetch_add"), OP_ITERS)


# ---- 2. large, unaligned, multi-SGE, many outstanding ------------------------

# pages the server's first MR takes (large_send scatters 512 KiB elsewhere)
@pytest.mark.parametrize("test,server_pages", [
    ("large_write", 257), ("large_read", 257), ("large_send", 128)])
def test_rdma_large(test, server_pages):
    """1 MiB + 3 bytes at page offsets 5/11 and 4093: every page faulted, both sides."""
    r = pair(test)
    assert r["bytes"] == (1 << 20) + 3
    assert r["client.pages_faulted"] >= 257
    assert r["server.pages_faulted"] >= server_pages


@pytest.mark.parametrize("test", ["multi_sge_write", "multi_sge_read", "multi_sge_send"])
def test_rdma_multi_sge(test):
    """7 SGEs of 1..65537 bytes at odd addresses over two MRs; gaps untouched."""
    r = pair(test)
    assert r["client.faults"] >= 1 and r["server.faults"] >= 1


def test_rdma_many_writes():
    """128 WRITEs in one post, every third signaled: completions in post order."""
    r = pair("many_writes")
    assert r["outstanding"] == 128


def test_rdma_many_reads():
    """64 READs in one post, every fourth signaled."""
    r = pair("many_reads")
    assert r["outstanding"] == 64


def test_rdma_many_mixed():
    """96 WRITE/READ/FETCH_ADD/SEND in one post: order, opcodes, fetch-add values."""
    r = pair("many_mixed")
    assert r["outstanding"] == 96


# ---- 3. atomics from two QPs on one word -------------------------------------

def test_rdma_atomic_two_qp_fadd():
    """2 x 200 fetch-adds from two connections: sum right, old values all distinct."""
    r = pair("atomic_two_qp_fadd")
    assert r["atomics"] == 400 and r["qp0"] == 200 and r["qp1"] == 200
    assert r["server_invalidations_run"] > 0


def test_rdma_atomic_two_qp_cas():
    """2 x 100 compare-and-swap increments racing on one word: none lost."""
    r = pair("atomic_two_qp_cas")
    assert r["atomics"] == 200


# ---- 4. errors, checked like a NIC ------------------------------------------

REMOTE_ERRORS = [
    "err_rkey_write", "err_rkey_read", "err_rkey_atomic", "err_rkey_write_unsignaled",
    "err_bounds_write", "err_bounds_read", "err_bounds_atomic",
    "err_access_write", "err_access_read", "err_access_cas", "err_access_fadd",
    "err_unmapped_write", "err_unmapped_read", "err_unmapped_atomic",
    "err_other_pd_write",
]


@pytest.mark.parametrize("test", REMOTE_ERRORS)
def test_rdma_err_remote(test):
    """REM_ACCESS_ERR, the WR behind it and our receive flushed, the responder's
    QP in the error state (its receive flushed), its memory unchanged."""
    r = pair(test)
    assert r["status"] == WC_REM_ACCESS_ERR
    assert r["flushed"] == 2
    assert r["server_status"] == WC_WR_FLUSH_ERR


@pytest.mark.parametrize("test", ["err_lkey_write", "err_lkey_read", "err_lkey_bounds",
                                  "err_local_readonly"])
def test_rdma_err_local(test):
    """A bad local SGE (lkey, bounds, READ into a read-only MR): LOC_PROT_ERR."""
    r = pair(test)
    assert r["status"] == WC_LOC_PROT_ERR
    assert r["flushed"] == 2


def test_rdma_err_recv_len():
    """SEND longer than the receive: REM_INV_REQ_ERR here, LOC_LEN_ERR there."""
    r = pair("err_recv_len")
    assert r["status"] == WC_REM_INV_REQ_ERR
    assert r["server_status"] == WC_LOC_LEN_ERR


def test_rdma_err_recv_lkey():
    """SEND into a receive with a bad lkey: REM_OP_ERR here, LOC_PROT_ERR there."""
    r = pair("err_recv_lkey")
    assert r["status"] == WC_REM_OP_ERR
    assert r["server_status"] == WC_LOC_PROT_ERR


def test_rdma_last_send_consumed():
    """The receiver destroys its QP right after polling our SEND's receive:
    the SEND still completes successfully (20 connections)."""
    r = pair("last_send_consumed")
    assert r["sends"] == 20 and r["lost_acks"] == 0


def test_rdma_err_lkey_after_inflight():
    """A local error while a READ is in flight: completions stay in post order."""
    r = pair("err_lkey_after_inflight")
    assert r["inflight_read_status"] in (0, WC_WR_FLUSH_ERR)


@pytest.mark.parametrize("test", [
    "post_bad_opcode", "post_unconnected", "post_misaligned_atomic",
    "post_atomic_short_sge", "post_too_many_sge", "post_queue_full",
])
def test_rdma_post_errors(test):
    """Refused at post time (EINVAL / ENOMEM) with bad_wr at the refused WR."""
    pair(test)


def test_rdma_post_send_refill():
    """A full send queue takes the next WR right after a completion is polled."""
    r = pair("post_send_refill")
    assert r["depth"] == 16


def test_rdma_post_recv_refill():
    """A full receive queue takes the next receive right after one completed."""
    pair("post_recv_refill")


# ---- 5. invalidation races ---------------------------------------------------

def _race(test, errors_allowed):
    r = pair(test)
    assert r["mutations"] > 0
    assert r["rounds"] == 11
    assert r["strict"] > 0, "no page was checked exactly"
    if not errors_allowed:
        assert r["wr_err"] == 0
    return r


def test_rdma_race_responder_dontneed():
    """Server pages MADV_DONTNEED'd while WRITE+READ stream: never an error,
    data exact where no zap overlapped, else exact or zero."""
    r = _race("race_responder_dontneed", False)
    assert r["server.invalidations"] > 0


def test_rdma_race_responder_munmap():
    """Server pages munmapped and mapped again: REM_ACCESS_ERR or right data."""
    _race("race_responder_munmap", True)


def test_rdma_race_responder_mprotect():
    """Server pages read-only for a while: WRITEs may fail, data never lost."""
    _race("race_responder_mprotect", True)


def test_rdma_race_requester_dontneed():
    """Our source/target pages MADV_DONTNEED'd mid-stream: never an error."""
    _race("race_requester_dontneed", False)


# A local error while earlier WRs of the list are in flight: nearly every run.
def test_rdma_race_requester_munmap():
    """Our pages munmapped and mapped again mid-stream: local error or right data."""
    _race("race_requester_munmap", True)


def test_rdma_race_requester_mprotect():
    """Our source PROT_NONE / target PROT_READ for a while: local error or right data."""
    _race("race_requester_mprotect", True)


def test_rdma_race_requester_munmap_serial():
    """The same with one WR in flight at a time (the data checks, whatever the
    completion order of a list)."""
    _race("race_requester_munmap_serial", True)


def test_rdma_race_requester_mprotect_serial():
    """The same with one WR in flight at a time."""
    _race("race_requester_mprotect_serial", True)


def test_rdma_every_scenario_has_a_test():
    """Every scenario of `rdma_ops -l` is run by a test_rdma_*.py test."""
    import glob
    import re
    import subprocess
    text = ""
    for path in glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                       "test_rdma_*.py")):
        with open(path) as f:
            text += f.read()
    out = subprocess.run([rdmatest.prog("rdma_ops"), "-l"], stdout=subprocess.PIPE,
                         text=True, timeout=30, check=True).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    missing = [n for n in names if not re.search(rf'"{n}"', text)]
    assert not missing, "rdma_ops scenarios without a pytest test: " + ", ".join(missing)
